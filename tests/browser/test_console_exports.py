"""The console's export jobs in headless Chromium: an analyst logs in
through the browser login, starts a spreadsheet export of the demo's
showcase trace, watches the progress page reach done (the page's own poll
of /console/exports/{job}.json), and downloads the file; the job is then
listed with its download link. Screenshots of each step.
"""

import sys

from selenium.common.exceptions import WebDriverException
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import Select, WebDriverWait

from harness import Browser, main

# Reads the download in the page (same origin, the session cookie) and
# answers its status, headers and first bytes.
FETCH = """
const done = arguments[arguments.length - 1];
fetch(arguments[0], {credentials: "same-origin"})
  .then(r => r.arrayBuffer().then(b => done({
      status: r.status,
      type: r.headers.get("content-type"),
      disposition: r.headers.get("content-disposition"),
      size: b.byteLength,
      head: Array.from(new Uint8Array(b.slice(0, 4)))})))
  .catch(e => done({error: String(e)}));
"""


class ConsoleExports(Browser):
    def run(self):
        d = self.driver
        self.log_in_at("exports", "/console/exports", "analyst", "demo-analyst-pass")
        self.check("exports: heading", "导出" in self.text())
        self.page_checks("console-exports-01-list")

        Select(d.find_element(By.ID, "what")).select_by_value("trace")
        d.find_element(By.ID, "id").send_keys(self.trace_code)
        Select(d.find_element(By.ID, "direction")).select_by_value("forward")
        Select(d.find_element(By.ID, "format")).select_by_value("xlsx")
        self.click_and_wait("#start")
        self.check("job: on its progress page", "/console/exports/" in d.current_url, d.current_url)
        self.check("job: a progress bar", bool(d.find_elements(By.ID, "export-progress")))
        job_url = d.current_url
        WebDriverWait(d, 60, ignored_exceptions=[WebDriverException]).until(
            lambda drv: drv.find_element(By.ID, "job").get_attribute("data-status") != "running"
        )
        status = d.find_element(By.ID, "job").get_attribute("data-status")
        self.check("job: done", status == "done", status + " " + self.text()[:300])
        bar = d.find_element(By.ID, "export-progress")
        value, top = bar.get_attribute("value"), bar.get_attribute("max")
        self.check("job: the bar is full", value == top and int(value) > 0, f"{value}/{top}")
        link = d.find_element(By.ID, "download")
        self.check("job: the download link shows", link.is_displayed())
        self.page_checks("console-exports-02-done")

        got = d.execute_async_script(FETCH, link.get_attribute("href"))
        self.check("download: 200", got.get("status") == 200, str(got))
        self.check(
            "download: a spreadsheet",
            got.get("type") == "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
            str(got),
        )
        self.check("download: a zip file", got.get("head") == [0x50, 0x4B, 0x03, 0x04], str(got))
        self.check("download: a Chinese file name", "filename*=UTF-8''" in (got.get("disposition") or ""), str(got))

        d.get(self.base + "/console/exports")
        rows = d.find_elements(By.CSS_SELECTOR, "#jobs tbody tr")
        self.check("list: the job is listed", len(rows) == 1, str(len(rows)))
        self.check(
            "list: with its download link",
            bool(d.find_elements(By.CSS_SELECTOR, "#jobs a[href$='/file']")),
        )
        self.check("list: and its progress page", bool(d.find_elements(By.CSS_SELECTOR, f"#jobs a[href='{job_url[len(self.base):]}']")))
        self.page_checks("console-exports-03-listed")


if __name__ == "__main__":
    sys.exit(main(ConsoleExports))
