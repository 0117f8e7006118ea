"""The market operator's entry-check page (/market/entries, 入场查验) on a
phone-sized screen (390x844, the operator's handheld at the gate):
operator1 logs in through /login and is brought to its market's page;
the last 30 days are charted (one bar per day, some refusals among
them), a past day lists its checks with their decisions, the refusals
are listed with their reasons, the purchases without a check are
listed, and a bad date is a 400 page. Screenshots of each.
"""

from datetime import datetime, timedelta, timezone

from selenium.webdriver.common.by import By

from harness import Browser, main

CST = timezone(timedelta(hours=8))


class MarketEntries(Browser):
    def run(self):
        d = self.driver
        d.get(self.base + "/market/entries")
        self.check("login: asked first", "/login?next=" in d.current_url, d.current_url)
        d.find_element(By.ID, "username").send_keys("operator1")
        d.find_element(By.ID, "password").send_keys("demo-operator1-pass")
        self.click_and_wait("form[action='/login'] button[type=submit]")
        self.check("login: back on the entries page", "/market/entries" in d.current_url, d.current_url)
        nav = d.find_element(By.CSS_SELECTOR, "nav.console a.current").text
        self.check("nav: 入场查验 is current", nav == "入场查验", nav)

        days = d.find_elements(By.CSS_SELECTOR, "#entry-chart g.day")
        self.check("chart: thirty days", len(days) == 30, str(len(days)))
        refused = [
            r for r in d.find_elements(By.CSS_SELECTOR, "#entry-chart rect.refused")
            if float(r.get_attribute("height") or 0) > 0
        ]
        self.check("chart: some days with refusals", bool(refused), str(len(refused)))
        reasons = [td.text for td in d.find_elements(By.CSS_SELECTOR, "#entry-refusals td.warn")]
        self.check("refusals: listed with their reasons", bool(reasons) and all(reasons), str(reasons[:3]))
        self.page_checks("market-entries-01-today")

        # Yesterday: a full day of checks, and its purchases without one.
        yesterday = (datetime.now(CST) - timedelta(days=1)).date().isoformat()
        d.get(f"{self.base}/market/entries?date={yesterday}")
        picked = d.find_element(By.ID, "date-pick").get_attribute("value")
        self.check("date picker: shows the day", picked == yesterday, picked)
        rows = d.find_elements(By.CSS_SELECTOR, "#entry-checks tbody tr")
        accepted = int(d.find_element(By.ID, "count-accepted").text)
        refused_n = int(d.find_element(By.ID, "count-refused").text)
        self.check("day: its checks listed", len(rows) == accepted + refused_n and rows, f"{len(rows)} vs {accepted}+{refused_n}")
        unchecked = int(d.find_element(By.ID, "count-unchecked").text)
        listed = d.find_elements(By.CSS_SELECTOR, "#entry-unchecked tbody tr")
        self.check("day: purchases without a check listed", len(listed) == unchecked, f"{len(listed)} vs {unchecked}")
        self.page_checks("market-entries-02-yesterday")

        # A month of days: somewhere a purchase was left unchecked.
        found = unchecked > 0
        for back in range(2, 30):
            if found:
                break
            day = (datetime.now(CST) - timedelta(days=back)).date().isoformat()
            d.get(f"{self.base}/market/entries?date={day}")
            found = int(d.find_element(By.ID, "count-unchecked").text) > 0
        self.check("month: some purchases without a check", found)
        if found:
            self.page_checks("market-entries-03-unchecked")

        d.get(f"{self.base}/market/entries?date=2026-13-40")
        self.check("bad date: a 400 page", "日期有误" in self.text(), self.text()[:200])
        self.page_checks("market-entries-04-bad-date", status_page=True)


if __name__ == "__main__":
    raise SystemExit(main(MarketEntries))
