"""The market's self-inspection page (/market/self-checks, issue 14) in
headless Chromium at a phone's viewport: officer1 logs in through /login
and is brought back to the page; the month calendar marks the demo's days
done (green) and missed (red) over this month and the last, each ISO week's
周排查 beside it; the overdue follow-up is listed first; a close without
the anti-forgery token is refused with nothing changed; the close form
closes one follow-up, which leaves the list.
"""

import sys

from selenium.webdriver.common.by import By

from harness import Browser, main


class SelfChecks(Browser):
    def statuses(self, css):
        return [e.get_attribute("data-status") for e in self.driver.find_elements(By.CSS_SELECTOR, css)]

    def run(self):
        d = self.driver
        d.get(self.base + "/market/self-checks")
        self.check("login: asked first", "/login?next=" in d.current_url, d.current_url)
        d.find_element(By.ID, "username").send_keys("officer1")
        d.find_element(By.ID, "password").send_keys("demo-officer1-pass")
        self.click_and_wait("form[action='/login'] button[type=submit]")
        self.check("login: back on the page", "/market/self-checks" in d.current_url, d.current_url)
        nav = [a.text for a in d.find_elements(By.CSS_SELECTOR, "nav.console a")]
        self.check("nav: 自查 is current", "自查" in nav, str(nav))

        # This month and the last: the demo's month of daily checks with
        # three days missed.
        rows = d.find_elements(By.CSS_SELECTOR, "#calendar tbody tr")
        self.check("calendar: a row per ISO week", 4 <= len(rows) <= 6, str(len(rows)))
        this = self.statuses("#calendar td.day")
        self.check("calendar: seven days a week", len(this) == 7 * len(rows), str(len(this)))
        weeks = self.statuses("#calendar td.week")
        self.page_checks("market-self-checks-01-this-month")
        self.click_and_wait("main p a")
        self.check("previous month: opened", "month=" in d.current_url, d.current_url)
        last = self.statuses("#calendar td.day")
        weeks += self.statuses("#calendar td.week")
        self.page_checks("market-self-checks-02-last-month")
        both = this + last
        self.check("calendar: days done in green", both.count("done") >= 20, str(both.count("done")))
        self.check("calendar: the three missed days in red", both.count("missed") >= 3, str(both.count("missed")))
        self.check("calendar: weeks reviewed", "done" in weeks, str(weeks))
        self.check("calendar: future days grey", "pending" in this or "other" in this, str(this))

        # The follow-ups: overdue first, with a close form.
        d.get(self.base + "/market/self-checks")
        rows = d.find_elements(By.CSS_SELECTOR, "#follow-ups .follow-up")
        self.check("follow-ups: the overdue and the open one", len(rows) == 2, str(len(rows)))
        self.check("follow-ups: overdue first", bool(rows) and "已逾期" in rows[0].text, rows[0].text if rows else "")
        finding = rows[0].get_attribute("data-finding") if rows else ""
        market = d.find_element(By.CSS_SELECTOR, "#follow-ups input[name=market_id]").get_attribute("value")

        # A POST without the token is refused and closes nothing.
        status = d.execute_script(
            "const r = await fetch('/market/self-checks/close', {method: 'POST',"
            " headers: {'Content-Type': 'application/x-www-form-urlencoded'},"
            " body: new URLSearchParams({market_id: arguments[0], finding_id: arguments[1], note: '伪造'})});"
            " return r.status;",
            market,
            finding,
        )
        self.check("close without the token: refused", status == 403, str(status))
        d.get(self.base + "/market/self-checks")
        self.check(
            "close without the token: nothing changed",
            len(d.find_elements(By.CSS_SELECTOR, "#follow-ups .follow-up")) == 2,
        )
        d.get_log("browser")  # the refused fetch's 403 is expected

        # The form closes it.
        box = d.find_element(By.CSS_SELECTOR, f".follow-up[data-finding='{finding}'] input[name=note]")
        box.send_keys("已签订协议并复查")
        self.click_and_wait(f".follow-up[data-finding='{finding}'] button[type=submit]")
        self.check("close: done", "done=closed" in d.current_url and "已关闭" in self.text(), d.current_url)
        left = [r.get_attribute("data-finding") for r in d.find_elements(By.CSS_SELECTOR, "#follow-ups .follow-up")]
        self.check("close: the follow-up left the list", finding not in left and len(left) == 1, str(left))
        self.page_checks("market-self-checks-03-closed")


sys.exit(main(SelfChecks))
