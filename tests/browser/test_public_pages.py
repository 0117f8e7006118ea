"""What a consumer sees in a real browser: headless Chromium at a phone's
viewport (390x844) drives the public pages of a running demo server.

Run by scripts/test-browser.sh, which starts the server and passes its base
URL and a trace code the demo holds. Each check counts once; the last line
is "checks: N passed, N failed" and the exit status is non-zero on any failure.
Screenshots of every page go to the directory given (kept as artefacts).

Usage: test_public_pages.py BASE_URL TRACE_CODE SCREENSHOT_DIR
"""

import sys

from selenium.webdriver.common.by import By

from harness import Browser, main


class PublicPages(Browser):
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
        self.check("landing: links the whistleblowing form", bool(d.find_elements(By.CSS_SELECTOR, 'a[href="/report"]')))
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


if __name__ == "__main__":
    sys.exit(main(PublicPages))
