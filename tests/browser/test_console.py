"""The regulator's console in headless Chromium at a tablet's landscape
viewport (1024x768; the console is desktop-first and must stay usable on a
tablet): an analyst logs in through /login and is brought back to /console,
then every console page renders with no console errors and no sideways
scrolling, with a screenshot each: the overview's charts, the district map,
a market's stall map whose stall link is followed to the merchant page,
search by USCC and by trace code (which opens the trace view), both trace
directions with their export buttons, the draws page, a draw run from its
form, and a POST without the anti-forgery token refused with nothing
changed.
"""

import base64
import json
import sys

from selenium.webdriver.common.by import By

from harness import Browser, main

WIDTH, HEIGHT = 1024, 768

class Console(Browser):
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

    def console_checks(self, name, status_page=False):
        """lang, no sideways scrolling at the tablet's width, no console
        errors (a refusal page logs its own 4xx once: expected), a shot."""
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

    def search(self, q):
        d = self.driver
        d.get(self.base + "/console/search")
        box = d.find_element(By.ID, "q")
        box.clear()
        box.send_keys(q)
        self.click_and_wait("form[role=search] button[type=submit]")

    def run(self):
        d = self.driver

        # The login form brings the analyst back to the console.
        self.log_in_at("login", "/console", "analyst", "demo-analyst-pass")

        # Overview: the grade bars and the month chart.
        bars = d.find_elements(By.CSS_SELECTOR, "#grade-chart rect.bar")
        self.check("overview: four grade bars", len(bars) == 4, str(len(bars)))
        months = d.find_elements(By.CSS_SELECTOR, "#month-chart rect.month")
        self.check("overview: twelve months charted", len(months) == 12, str(len(months)))
        kinds = d.find_elements(By.CSS_SELECTOR, "#kind-chart rect.kind")
        self.check("overview: ledger warnings by kind", len(kinds) == 7, str(len(kinds)))
        nav = [a.text for a in d.find_elements(By.CSS_SELECTOR, "nav.console a")]
        self.check("overview: the nav", nav[:3] == ["总览", "预警", "风险地图"] and "双随机抽查" in nav, str(nav))
        self.console_checks("console-01-overview")

        # District map → a market → a stall → its merchant.
        d.get(self.base + "/console/map")
        tiles = d.find_elements(By.CSS_SELECTOR, "#district-map a.market")
        self.check("district map: market tiles", bool(tiles), str(len(tiles)))
        self.console_checks("console-02-district-map")
        self.click_and_wait("#district-map a.market text")
        self.check("market map: opened from its tile", "/console/map?market_id=" in d.current_url, d.current_url)
        stalls = d.find_elements(By.CSS_SELECTOR, "#stall-map a.stall")
        graded = [s for s in stalls if s.get_attribute("data-grade") in ("A", "B", "C", "D")]
        self.check("market map: stalls drawn, each graded", bool(stalls) and len(graded) == len(stalls), f"{len(graded)}/{len(stalls)}")
        self.console_checks("console-03-market-map")
        first = stalls[0].get_attribute("data-merchant")
        self.click_and_wait("#stall-map a.stall text")
        self.check("stall link: the merchant page", d.current_url == f"{self.base}/console/merchants/{first}", d.current_url)
        grade = d.find_elements(By.CSS_SELECTOR, "#risk-grade .grade")
        self.check("merchant: its grade", bool(grade) and grade[0].text in ("A", "B", "C", "D"))
        self.check("merchant: ledger warnings by kind", len(d.find_elements(By.CSS_SELECTOR, "#ledger-warnings tbody tr")) == 7)
        uscc = d.find_element(By.ID, "uscc").text.strip()
        self.check("merchant: its USCC", len(uscc) == 18, uscc)
        self.console_checks("console-04-merchant")

        # Search by USCC: that one merchant; by trace code: the trace view.
        self.search(uscc)
        hits = d.find_elements(By.CSS_SELECTOR, "#hits a.hit")
        self.check(
            "search by USCC: the merchant",
            len(hits) == 1 and hits[0].get_attribute("href").endswith(f"/console/merchants/{first}"),
            str([h.get_attribute("href") for h in hits]),
        )
        self.console_checks("console-05-search-uscc")
        self.search(self.trace_code)
        self.check("search by trace code: the trace view", "/console/trace?code=" + self.trace_code in d.current_url, d.current_url)
        rows = d.find_elements(By.CSS_SELECTOR, "#chain tbody tr")
        self.check("trace backward: a row per hop up to the origin", len(rows) >= 2, str(len(rows)))
        self.check("trace backward: the origin named", "追溯到源头" in d.find_element(By.ID, "chain-end").text)
        formats = [b.get_attribute("value") for b in d.find_elements(By.CSS_SELECTOR, "form.export button[name=format]")]
        self.check("trace: export buttons", formats == ["csv", "xlsx", "epcis"], str(formats))
        self.console_checks("console-06-trace-backward")
        origin = rows[-1].find_elements(By.TAG_NAME, "td")[2].text.strip()
        d.get(f"{self.base}/console/trace?code={origin}&direction=forward")
        rows = d.find_elements(By.CSS_SELECTOR, "#chain tbody tr")
        self.check("trace forward: the origin and its holders", len(rows) >= 3, str(len(rows)))
        direction = d.find_elements(By.CSS_SELECTOR, "form.export input[name=direction]")
        self.check("trace forward: exports the forward trace", bool(direction) and direction[0].get_attribute("value") == "forward")
        self.console_checks("console-07-trace-forward")

        # Draws: a POST without the token is refused and stores nothing.
        d.get(self.base + "/console/draws")
        before = len(d.find_elements(By.CSS_SELECTOR, "#draws tbody tr"))
        self.console_checks("console-08-draws")
        d.find_element(By.ID, "d-name").send_keys("无令牌的抽查")
        d.find_element(By.ID, "d-seed").send_keys("no-token")
        d.find_element(By.NAME, "count").send_keys("2")
        for box in d.find_elements(By.CSS_SELECTOR, "input[name=inspector]")[:2]:
            box.click()
        d.execute_script("document.querySelector('#draw-form input[name=csrf]').remove()")
        self.click_and_wait("#draw-form button[type=submit]")
        self.check("csrf: a POST without the token is refused", "未做任何更改" in self.text(), self.text()[:200])
        self.console_checks("console-09-csrf-refused", status_page=True)
        d.get(self.base + "/console/draws")
        after = len(d.find_elements(By.CSS_SELECTOR, "#draws tbody tr"))
        self.check("csrf: nothing was stored", after == before, f"{before} -> {after}")

        # A draw run from the form: its tasks and its publication.
        d.find_element(By.ID, "d-name").send_keys("十二月双随机抽查")
        d.find_element(By.ID, "d-seed").send_keys("2026-12-01 福彩3D 387")
        d.find_element(By.NAME, "count").send_keys("3")
        for box in d.find_elements(By.CSS_SELECTOR, "input[name=inspector]")[:2]:
            box.click()
        self.click_and_wait("#draw-form button[type=submit]")
        self.check("draw: its page", "/console/draws/" in d.current_url, d.current_url)
        tasks = d.find_elements(By.CSS_SELECTOR, "#tasks tbody tr")
        self.check("draw: three merchants drawn", len(tasks) == 3, str(len(tasks)))
        link = d.find_element(By.ID, "publication").get_attribute("href")
        self.check("draw: its publication linked", "/v1/public/draws/" in link, link)
        self.console_checks("console-10-draw")

if __name__ == "__main__":
    sys.exit(main(Console))
