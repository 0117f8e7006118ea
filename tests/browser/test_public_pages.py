"""What a consumer sees in a real browser: headless Chromium at a phone's
viewport (390x844) drives the public pages of a running demo server.

Run by scripts/test-browser.sh, which starts the server and passes its base
URL and a trace code the demo holds. Each check counts once; the last line
is "checks: N passed, N failed" and the exit status is non-zero on any failure.
Screenshots of every page go to the directory given (kept as artefacts).

Usage: test_public_pages.py BASE_URL TRACE_CODE SCREENSHOT_DIR
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


class Run:
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

    def type_code(self, code):
        """Types into the page's code box and submits, then waits for the
        next page: a click returns before the browser has navigated. The old
        document carries a marker the new one lacks; while the browser is
        between documents, a script call may fail, which only means "not
        yet"."""
        d = self.driver
        d.execute_script("window.__shianOldPage = true")
        box = d.find_element(By.ID, "code")
        box.clear()
        box.send_keys(code)
        d.find_element(By.CSS_SELECTOR, "button[type=submit]").click()
        # The bound is only there so a hang fails instead of waiting forever.
        WebDriverWait(d, 30, ignored_exceptions=[WebDriverException]).until(
            lambda drv: drv.execute_script(
                "return window.__shianOldPage === undefined && document.readyState === 'complete'"
            )
        )

    def run(self):
        d = self.driver
        twin = self.public_trace()
        holder = twin["chain"][0]
        shop_code = holder["shop_code"]

        # The landing page says what this is; the consumer types a shop code
        # as printed, in groups of four and in lower case.
        d.get(self.base + "/")
        body = self.text()
        self.check("landing: says what this server is", "食安 Shian 食品安全监管平台" in body)
        self.check("landing: a code form", bool(d.find_elements(By.ID, "code")))
        self.check("landing: whistleblowing marked as coming", "即将上线" in body)
        self.page_checks("01-landing")
        typed = " ".join(shop_code[i : i + 4] for i in range(0, 16, 4)).lower()
        self.type_code(typed)

        # The shop page.
        self.check("form: lands on the shop page", d.current_url == f"{self.base}/s/{shop_code}", d.current_url)
        body = self.text()
        self.check("shop: its name", holder["merchant_name"] in body, holder["merchant_name"])
        self.check("shop: licence section", "食品经营许可证编号" in body)
        self.check("shop: risk grade", bool(d.find_elements(By.CLASS_NAME, "grade")))
        self.page_checks("02-shop")

        # The product page, from the demo's showcase trace.
        d.get(f"{self.base}/t/{self.trace_code}")
        body = self.text()
        self.check("product: its name", twin["product_name"] in body)
        self.check("product: its trace code", self.trace_code in body)
        steps = d.find_elements(By.CLASS_NAME, "step")
        # One box per holder plus the line where the chain ends.
        self.check("product: the chain of custody", len(steps) == len(twin["chain"]) + 1, f"{len(steps)} boxes")
        red = d.find_elements(By.CSS_SELECTOR, ".banner.red")
        self.check(
            "product: red banner exactly when a finding names the batch",
            bool(red) == bool(twin["findings"]),
            f"banner {bool(red)}, findings {len(twin['findings'])}",
        )
        if twin["chain_end"] == "origin" and twin["origin_supplier"]:
            self.check("product: the origin supplier", twin["origin_supplier"] in body)
        self.page_checks("03-product")
        # The holder's name on the chain opens its shop page.
        link = d.find_elements(By.CSS_SELECTOR, f'a[href="/s/{shop_code}"]')
        self.check("product: links the holder's shop", bool(link))

        # A typo and an unknown code get a page a person understands.
        d.get(self.base + "/")
        wrong = shop_code[:3] + ("8" if shop_code[3] == "7" else "7") + shop_code[4:]
        self.type_code(wrong)
        self.check("typo: 输入有误，请核对", "输入有误，请核对" in self.text())
        self.page_checks("04-mistyped", status_page=True)
        self.type_code("0000000000000000")
        body = self.text()
        self.check("unknown: 查无此码", "查无此码" in body, body[:200])
        self.page_checks("05-unknown", status_page=True)

    def close(self):
        self.driver.quit()
        self.profile.cleanup()


def main():
    base, trace_code, shots = sys.argv[1:4]
    try:
        run = Run(base, trace_code, shots)
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


if __name__ == "__main__":
    sys.exit(main())
