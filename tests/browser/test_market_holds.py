"""The market's holds page (暂扣, /market/holds) in headless Chromium at a
tablet's landscape viewport: the demo's operator1 logs in and finds the
demo's hold on a smuggled-beef batch among the holds in force (batch,
merchant, quantity, days held), releases it with a note, holds the same
batch again from the place-hold form, is refused a second hold of it with
the reason, and a POST without the anti-forgery token is refused with
nothing changed. A screenshot of each page.
"""

import base64
import json

from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import Select

from harness import Browser, main

WIDTH, HEIGHT = 1024, 768


class MarketHolds(Browser):
    def __init__(self, *args):
        super().__init__(*args)
        self.driver.execute_cdp_cmd(
            "Emulation.setDeviceMetricsOverride",
            {"width": WIDTH, "height": HEIGHT, "deviceScaleFactor": 1, "mobile": False},
        )

    def shot(self, name):
        """The whole page at the tablet's width."""
        d = self.driver
        height = d.execute_script("return document.documentElement.scrollHeight")
        png = d.execute_cdp_cmd(
            "Page.captureScreenshot",
            {
                "format": "png",
                "captureBeyondViewport": True,
                "clip": {"x": 0, "y": 0, "width": WIDTH, "height": height, "scale": 1},
            },
        )
        (self.shots / f"{name}.png").write_bytes(base64.b64decode(png["data"]))

    def checks(self, name, status_page=False):
        d = self.driver
        lang = d.find_element(By.TAG_NAME, "html").get_attribute("lang")
        self.check(f"{name}: lang zh-CN", lang == "zh-CN", lang)
        width = d.execute_script("return document.documentElement.scrollWidth")
        self.check(f"{name}: no sideways scrolling at {WIDTH} px", width <= WIDTH, str(width))
        errors = [
            e
            for e in d.get_log("browser")
            if e.get("level") == "SEVERE"
            and not (
                status_page
                and e.get("source") == "network"
                and e.get("message", "").startswith(d.current_url + " ")
            )
        ]
        self.check(f"{name}: no console errors", not errors, json.dumps(errors, ensure_ascii=False))
        self.shot(name)

    def active_rows(self):
        return self.driver.find_elements(By.CSS_SELECTOR, "#active-holds tbody tr")

    def run(self):
        d = self.driver
        d.get(self.base + "/market/holds")
        self.check("login: asked first", "/login?next=" in d.current_url, d.current_url)
        d.find_element(By.ID, "username").send_keys("operator1")
        d.find_element(By.ID, "password").send_keys("demo-operator1-pass")
        self.click_and_wait("form[action='/login'] button[type=submit]")
        self.check("login: back on the holds page", "/market/holds" in d.current_url, d.current_url)
        nav = [a.text for a in d.find_elements(By.CSS_SELECTOR, "nav.console a")]
        self.check("nav: 暂扣 is there and current", "暂扣" in nav, str(nav))

        rows = self.active_rows()
        self.check("the demo's hold is in force", len(rows) >= 1, str(len(rows)))
        if not rows:
            return
        first = rows[0]
        cells = first.find_elements(By.TAG_NAME, "td")
        code = first.find_element(By.CSS_SELECTOR, "span.code").text.strip()
        merchant = cells[1].text.strip()
        self.check("a beef batch of unknown origin", "牛" in cells[0].text and "来源不明" in cells[2].text, cells[0].text + " / " + cells[2].text)
        self.check("its quantity on hand", "千克" in cells[3].text or "箱" in cells[3].text or "件" in cells[3].text, cells[3].text)
        self.check("its days held", cells[4].text.strip().isdigit(), cells[4].text)
        self.checks("market-holds-01-in-force")
        before = len(rows)

        # A POST without the anti-forgery token: refused, nothing changed.
        d.execute_script("document.querySelector('form.release input[name=csrf]').remove()")
        first.find_element(By.NAME, "note").send_keys("复检合格")
        self.click_and_wait("form.release button[type=submit]")
        self.check("csrf: a POST without the token is refused", "未做任何更改" in self.text(), self.text()[:200])
        self.checks("market-holds-02-csrf-refused", status_page=True)
        d.get(self.base + "/market/holds")
        self.check("csrf: nothing was released", len(self.active_rows()) == before, str(len(self.active_rows())))

        # Release it with a note.
        self.active_rows()[0].find_element(By.NAME, "note").send_keys("复检合格，补齐检疫证明")
        self.click_and_wait("form.release button[type=submit]")
        self.check("release: done", "已解除暂扣" in self.text(), self.text()[:200])
        self.check("release: one fewer in force", len(self.active_rows()) == before - 1, str(len(self.active_rows())))
        ended = d.find_element(By.ID, "ended-holds").text
        self.check("release: listed as ended with its note", code in ended and "补齐检疫证明" in ended, ended[:300])
        self.checks("market-holds-03-released")

        # Hold the same batch again from the form.
        Select(d.find_element(By.NAME, "merchant_id")).select_by_visible_text(merchant)
        d.find_element(By.NAME, "trace_code").send_keys(code)
        Select(d.find_element(By.NAME, "reason")).select_by_value("unknown_origin")
        d.find_element(By.NAME, "note").send_keys("无入境货物检验检疫证明")
        self.click_and_wait("#place-hold button[type=submit]")
        self.check("place: done", "已暂扣" in self.text(), self.text()[:200])
        codes = [r.find_element(By.CSS_SELECTOR, "span.code").text for r in self.active_rows()]
        self.check("place: in force again", code in codes, str(codes))
        self.checks("market-holds-04-placed")

        # A second hold of the same batch: refused with the reason.
        Select(d.find_element(By.NAME, "merchant_id")).select_by_visible_text(merchant)
        d.find_element(By.NAME, "trace_code").send_keys(code)
        self.click_and_wait("#place-hold button[type=submit]")
        self.check("place twice: refused with the reason", "已被暂扣" in self.text(), self.text()[:200])
        self.checks("market-holds-05-refused", status_page=True)


if __name__ == "__main__":
    main(MarketHolds)
