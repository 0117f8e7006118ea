"""The shared harness of the browser tests: headless Debian Chromium driven
by selenium at a phone's viewport (390x844), a count of named checks, full-page
screenshots kept as artefacts, and the checks every page must pass (lang
zh-CN, no sideways scrolling, no console errors).

scripts/test-browser.sh starts one demo server and runs every
tests/browser/test_*.py against it with the same arguments:
BASE_URL TRACE_CODE SCREENSHOT_DIR. A test module subclasses `Browser`,
writes `run()`, and ends with `sys.exit(main(TheClass))`; its last line is
"checks: N passed, N failed" and its exit status is non-zero on any failure.
"""

import base64
import json
import sys
import tempfile
import traceback
import urllib.request
from pathlib import Path

from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.common.exceptions import WebDriverException
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import WebDriverWait

WIDTH, HEIGHT = 390, 844
CHROMEDRIVER = "/usr/bin/chromedriver"
CHROMIUM = "/usr/bin/chromium"
# No network beyond the test server, no background work that could write
# to the console or slow the run.
FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    f"--window-size={WIDTH},{HEIGHT}",
]


class Browser:
    def __init__(self, base, trace_code, shots):
        self.base = base.rstrip("/")
        self.trace_code = trace_code
        self.shots = Path(shots)
        self.shots.mkdir(parents=True, exist_ok=True)
        self.passed = 0
        self.failed = 0
        self.profile = tempfile.TemporaryDirectory(prefix="shian-chromium-")
        options = webdriver.ChromeOptions()
        options.binary_location = CHROMIUM
        for flag in FLAGS:
            options.add_argument(flag)
        options.add_argument(f"--user-data-dir={self.profile.name}")
        options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
        self.driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
        # The viewport exactly, as a phone reports it.
        self.driver.execute_cdp_cmd(
            "Emulation.setDeviceMetricsOverride",
            {"width": WIDTH, "height": HEIGHT, "deviceScaleFactor": 1, "mobile": True},
        )

    def check(self, name, ok, detail=""):
        if ok:
            self.passed += 1
            print(f"ok   {name}")
        else:
            self.failed += 1
            print(f"FAIL {name} {detail}")

    def text(self):
        return self.driver.find_element(By.TAG_NAME, "body").text

    def shot(self, name):
        """The whole page, not only the first screen."""
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

    def page_checks(self, name, status_page=False):
        """What every page must do for a person on a phone. An error page
        (`status_page`) logs its own 4xx status as a network error: that one
        entry is expected, any other is not."""
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

    def public_trace(self):
        with urllib.request.urlopen(f"{self.base}/v1/public/trace/{self.trace_code}", timeout=10) as r:
            return json.load(r)

    def click_and_wait(self, css):
        """Clicks the element `css` selects, then waits for the next page: a
        click returns before the browser has navigated. The old document
        carries a marker the new one lacks; while the browser is between
        documents, a script call may fail, which only means "not yet"."""
        d = self.driver
        d.execute_script("window.__shianOldPage = true")
        d.find_element(By.CSS_SELECTOR, css).click()
        # The bound is only there so a hang fails instead of waiting forever.
        WebDriverWait(d, 30, ignored_exceptions=[WebDriverException]).until(
            lambda drv: drv.execute_script(
                "return window.__shianOldPage === undefined && document.readyState === 'complete'"
            )
        )

    def log_in_at(self, label, path, username, password):
        """Opens `path`, which must ask for the login first, logs in through
        the form, and checks the browser is brought back to `path`."""
        d = self.driver
        d.get(self.base + path)
        self.check(f"{label}: asks to log in first", "/login?next=" in d.current_url, d.current_url)
        d.find_element(By.ID, "username").send_keys(username)
        d.find_element(By.ID, "password").send_keys(password)
        self.click_and_wait("form[action='/login'] button[type=submit]")
        self.check(f"{label}: back on {path} after the login", d.current_url == self.base + path, d.current_url)

    def type_code(self, code):
        """Types into the page's code box and submits it."""
        box = self.driver.find_element(By.ID, "code")
        box.clear()
        box.send_keys(code)
        self.click_and_wait("button[type=submit]")

    def close(self):
        self.driver.quit()
        self.profile.cleanup()



def main(flow):
    """Runs `flow` (a `Browser` subclass) with the command line's arguments
    and prints the closing count line."""
    base, trace_code, shots = sys.argv[1:4]
    try:
        run = flow(base, trace_code, shots)
    except Exception:
        traceback.print_exc()
        print("checks: 0 passed, 1 failed")
        return 1
    try:
        run.run()
    except Exception:
        traceback.print_exc()
        run.failed += 1
    finally:
        run.close()
    print(f"checks: {run.passed} passed, {run.failed} failed")
    return 0 if run.failed == 0 else 1
