"""The console's warnings page in headless Chromium: the analyst logs in
through the browser login (/login, as test_reports.py does), sees the
warnings the demo's full pass raised, filters them by kind and status,
assigns one to themself, resolves it with a note, and finds it among the
resolved ones. Screenshots of each step.
"""

import sys

from selenium.common.exceptions import WebDriverException
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys
from selenium.webdriver.support.ui import Select, WebDriverWait

from harness import Browser, main


class ConsoleAlerts(Browser):
    def articles(self):
        return self.driver.find_elements(By.CSS_SELECTOR, "article.alert")

    def run(self):
        d = self.driver

        self.log_in_at("alerts", "/console/alerts", "analyst", "demo-analyst-pass")
        self.check("alerts: heading", "预警" in d.find_element(By.TAG_NAME, "h1").text)
        first = self.articles()
        self.check("alerts: the demo raised warnings", len(first) > 0, self.text()[:300])
        if not first:
            return
        self.check("alerts: each shows its evidence", all(a.find_elements(By.CSS_SELECTOR, "details summary") for a in first))
        self.page_checks("console-alerts-01-list")

        # Filter by the first alert's kind, new ones only.
        kind = first[0].get_attribute("data-kind")
        Select(d.find_element(By.ID, "f-kind")).select_by_value(kind)
        Select(d.find_element(By.ID, "f-status")).select_by_value("new")
        self.click_and_wait("#f-apply")
        shown = self.articles()
        self.check("filter: in the URL", f"kind={kind}" in d.current_url and "status=new" in d.current_url, d.current_url)
        self.check("filter: only that kind", shown and all(a.get_attribute("data-kind") == kind for a in shown), kind)
        self.check("filter: only new ones", all(a.get_attribute("data-status") == "new" for a in shown))
        shown[0].find_element(By.CSS_SELECTOR, "details summary").click()
        self.page_checks("console-alerts-02-filtered")

        # Assign the first to me, then resolve it with a note.
        target = shown[0].get_attribute("id")
        self.click_and_wait(f"#{target} button.assign")
        self.check("assign: done banner", "已指派" in d.find_element(By.ID, "done").text)
        self.check("assign: filters kept", f"kind={kind}" in d.current_url, d.current_url)
        d.get(self.base + f"/console/alerts?kind={kind}&status=assigned")
        mine = d.find_elements(By.ID, target)
        self.check("assign: listed as assigned", bool(mine) and mine[0].get_attribute("data-status") == "assigned")
        note = "已现场核查，责令补齐票证 <b>不是粗体</b>"
        box = d.find_element(By.CSS_SELECTOR, f"#{target} form.resolve input[name=note]")
        box.send_keys(note)
        # Submitted with Enter in the note field: under the harness's phone
        # emulation a selenium click on this form's button did not submit it
        # (requestSubmit() and Enter do; cause not found, see the report).
        d.execute_script("window.__shianOldPage = true")
        box.send_keys(Keys.ENTER)
        WebDriverWait(d, 30, ignored_exceptions=[WebDriverException]).until(
            lambda drv: drv.execute_script(
                "return window.__shianOldPage === undefined && document.readyState === 'complete'"
            )
        )
        self.check("resolve: done banner", "已处理" in d.find_element(By.ID, "done").text)
        d.get(self.base + f"/console/alerts?kind={kind}&status=resolved")
        done = d.find_elements(By.ID, target)
        self.check("resolve: among the resolved", bool(done) and done[0].get_attribute("data-status") == "resolved")
        self.check("resolve: the note shown as text", bool(done) and note in done[0].text, done[0].text if done else "")
        self.check("resolve: no markup from the note", not d.find_elements(By.CSS_SELECTOR, f"#{target} .note b"))
        self.check("resolve: no forms left on it", bool(done) and not done[0].find_elements(By.TAG_NAME, "form"))
        self.page_checks("console-alerts-03-resolved")


if __name__ == "__main__":
    sys.exit(main(ConsoleAlerts))
