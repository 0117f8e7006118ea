"""The console's recall pages in headless Chromium: the analyst logs in,
starts a recall from the demo's failed lab test (its recall proposal), and
sees the progress per holder with the deadlines and the export buttons; a
recall by trace code refused for a mistyped code says why. Screenshots of
each page."""

from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import Select

from harness import Browser, main


class ConsoleRecalls(Browser):
    def run(self):
        d = self.driver
        self.log_in_at("recalls", "/console/recalls", "analyst", "demo-analyst-pass")
        body = self.text()
        self.check("recalls: heading and the start forms", "启动召回" in body and "按追溯码启动" in body, body[:300])
        forms = d.find_elements(By.ID, "start-from-proposal")
        self.check("recalls: the demo's failed test is offered", len(forms) == 1, body[:400])
        self.page_checks("console-recalls-01-list")

        # A mistyped trace code: a page saying why, nothing started.
        box = d.find_element(By.CSS_SELECTOR, "#start-from-code input[name=trace_code]")
        box.send_keys("0000000000000000")
        d.find_element(By.CSS_SELECTOR, "#start-from-code input[name=reason]").send_keys("测试")
        self.click_and_wait("#start-from-code button[type=submit]")
        self.check("recalls: a bad code is explained", "无法完成" in self.text(), self.text()[:300])
        self.page_checks("console-recalls-02-refused", status_page=True)

        # From the failed lab test, level 1.
        d.get(self.base + "/console/recalls")
        if not forms:
            return
        Select(d.find_element(By.CSS_SELECTOR, "#start-from-proposal select[name=level]")).select_by_value("1")
        self.click_and_wait("#start-from-proposal button[type=submit]")
        self.check("recall: on its page", "/console/recalls/" in d.current_url, d.current_url)
        body = self.text()
        self.check("recall: level and deadlines", "一级召回" in body and "启动期限" in body and "完成期限" in body, body[:400])
        rows = d.find_elements(By.CSS_SELECTOR, "#recall-holders tbody tr")
        self.check("recall: every holder listed", len(rows) > 1, str(len(rows)))
        self.check("recall: none confirmed yet", all("pending" in r.get_attribute("class") for r in rows))
        self.check("recall: confirmed 0 of all", f"0 / {len(rows)}" in body, body[:400])
        exports = d.find_elements(By.CSS_SELECTOR, "form[action='/console/exports'] input[name=what][value=recall]")
        self.check("recall: export buttons", len(exports) == 2, str(len(exports)))
        self.page_checks("console-recalls-03-progress")

        d.get(self.base + "/console/recalls")
        self.check("recalls: listed", len(d.find_elements(By.CSS_SELECTOR, "#recall-list tbody tr")) >= 1)
        self.check("recalls: the proposal is used", not d.find_elements(By.ID, "start-from-proposal"))
        self.page_checks("console-recalls-04-listed")


if __name__ == "__main__":
    main(ConsoleRecalls)
