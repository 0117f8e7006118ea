"""The market operator's overview (/market) and staff list (/market/staff)
in headless Chromium at a tablet's landscape viewport (1024x768, the
market's tablet): operator1 logs in through /login and is brought back to
/market; the stall map is drawn with every stall coloured by its open
warnings; the list of licences and health certificates expiring within 30
days is sorted by date; /market/staff lists the workers and filters the
expired and the expiring; an operator asking for another market's id gets
the 403 page; the analyst opens the same overview with ?market_id=.
"""

import base64
import json
from urllib.parse import parse_qs, urlparse

from selenium.webdriver.common.by import By

from harness import Browser, main

WIDTH, HEIGHT = 1024, 768
COLOURS = {"#1b7f3b", "#7aa516", "#d98a00", "#b00020"}


class MarketOverview(Browser):
    def __init__(self, *args):
        super().__init__(*args)
        self.driver.execute_cdp_cmd(
            "Emulation.setDeviceMetricsOverride",
            {"width": WIDTH, "height": HEIGHT, "deviceScaleFactor": 1, "mobile": False},
        )

    def shot(self, name):
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

    def tablet_checks(self, name, status_page=False):
        d = self.driver
        lang = d.find_element(By.TAG_NAME, "html").get_attribute("lang")
        self.check(f"{name}: lang zh-CN", lang == "zh-CN", lang)
        width = d.execute_script("return document.documentElement.scrollWidth")
        self.check(f"{name}: no sideways scrolling at {WIDTH} px", width <= WIDTH, str(width))
        errors = [
            e
            for e in d.get_log("browser")
            if e.get("level") == "SEVERE"
            and not (status_page and e.get("source") == "network")
        ]
        self.check(f"{name}: no console errors", not errors, json.dumps(errors, ensure_ascii=False))
        self.shot(name)

    def login(self, username, password, path):
        d = self.driver
        d.delete_all_cookies()
        d.get(self.base + path)
        self.check(f"{username}: asked to log in", "/login?next=" in d.current_url, d.current_url)
        d.find_element(By.ID, "username").send_keys(username)
        d.find_element(By.ID, "password").send_keys(password)
        self.click_and_wait("form[action='/login'] button[type=submit]")

    def run(self):
        d = self.driver
        self.login("operator1", "demo-operator1-pass", "/market")
        self.check("operator1: back on /market", urlparse(d.current_url).path == "/market", d.current_url)
        brand = d.find_element(By.CSS_SELECTOR, "a.brand").get_attribute("href")
        market_id = parse_qs(urlparse(brand).query).get("market_id", [""])[0]
        self.check("overview: names its market", bool(market_id), brand)

        # The stall map: every merchant a stall, coloured by open warnings.
        stalls = d.find_elements(By.CSS_SELECTOR, "#warning-map a.stall")
        self.check("map: stalls drawn", len(stalls) > 10, str(len(stalls)))
        fills = {s.find_element(By.TAG_NAME, "rect").get_attribute("fill") for s in stalls}
        self.check("map: coloured by the warnings scale", fills <= COLOURS and len(fills) >= 2, str(fills))
        warned = [s for s in stalls if int(s.get_attribute("data-warnings")) > 0]
        quiet = [s for s in stalls if int(s.get_attribute("data-warnings")) == 0]
        self.check("map: stalls with and without open warnings", bool(warned) and bool(quiet))
        self.check(
            "map: a stall without warnings is green",
            all(s.find_element(By.TAG_NAME, "rect").get_attribute("fill") == "#1b7f3b" for s in quiet),
        )
        figures = d.find_element(By.ID, "today-figures").text
        self.check("figures: today's", "未结预警" in figures and "健康证已过期" in figures, figures)

        # The expiring list: licences and certificates, sorted by date.
        rows = d.find_elements(By.CSS_SELECTOR, "#expiring tbody tr")
        dates = [r.get_attribute("data-date") for r in rows]
        kinds = {r.get_attribute("data-kind") for r in rows}
        self.check("expiring: listed", len(rows) > 0, str(len(rows)))
        self.check("expiring: sorted by date", dates == sorted(dates), str(dates[:10]))
        self.check("expiring: certificates among them", "健康证" in kinds, str(kinds))
        self.tablet_checks("market-01-overview")

        # The staff list and its filters.
        d.find_element(By.CSS_SELECTOR, "nav.console a[href^='/market/staff']").click()
        self.check("staff: nav opens /market/staff", urlparse(d.current_url).path == "/market/staff", d.current_url)
        statuses = {r.get_attribute("data-status") for r in d.find_elements(By.CSS_SELECTOR, "tr.worker")}
        self.check("staff: valid and expired workers", {"valid", "expired"} <= statuses, str(statuses))
        self.check("staff: the merchant that recorded nobody", bool(d.find_elements(By.CSS_SELECTOR, "#nobody li")))
        self.tablet_checks("market-02-staff")
        for f, allowed in [("expired", {"expired", "missing"}), ("expiring", {"expiring"})]:
            d.get(f"{self.base}/market/staff?market_id={market_id}&filter={f}")
            got = {r.get_attribute("data-status") for r in d.find_elements(By.CSS_SELECTOR, "tr.worker")}
            self.check(f"staff: filter {f}", bool(got) and got <= allowed, str(got))
        self.tablet_checks("market-03-staff-expiring")

        # Another market's id: the 403 page, nothing of it shown.
        d.get(f"{self.base}/market?market_id=another-market")
        body = self.text()
        self.check("operator: another market is refused", "无权访问" in body, body[:200])
        self.check("operator: no map on the refusal", not d.find_elements(By.ID, "warning-map"))
        self.tablet_checks("market-04-refused", status_page=True)

        # The analyst opens the same overview by its id.
        self.login("analyst", "demo-analyst-pass", f"/market?market_id={market_id}")
        self.check("analyst: on the market's overview", "market_id=" + market_id in d.current_url, d.current_url)
        stalls = d.find_elements(By.CSS_SELECTOR, "#warning-map a.stall")
        self.check("analyst: sees the map", len(stalls) > 10, str(len(stalls)))
        self.tablet_checks("market-05-analyst")


if __name__ == "__main__":
    main(MarketOverview)
