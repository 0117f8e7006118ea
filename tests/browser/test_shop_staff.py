"""The shop page's 从业人员健康证 section in headless Chromium at a phone's
viewport: the demo's showcase seller (merchant1) has a valid and an
expired certificate; the page shows each worker as `王* · 从业人员 · 有效期至
…` or a red 健康证已过期, and neither the rendered page nor its HTML source
holds a worker's full name or certificate number (read from the merchant's
own register through the API).
"""

import json
import urllib.request

from selenium.webdriver.common.by import By

from harness import Browser, main


class ShopStaff(Browser):
    def api(self, path, token=None, body=None):
        req = urllib.request.Request(self.base + path, method="POST" if body else "GET")
        if token:
            req.add_header("Authorization", f"Bearer {token}")
        data = None
        if body is not None:
            req.add_header("Content-Type", "application/json")
            data = json.dumps(body).encode()
        with urllib.request.urlopen(req, data=data, timeout=10) as r:
            return json.load(r)

    def run(self):
        d = self.driver
        login = self.api("/v1/auth/login", body={"username": "merchant1", "password": "demo-merchant1-pass"})
        token = login["token"]
        merchant_id = login["scope"]["merchant_id"]
        shop = self.api(f"/v1/merchants/{merchant_id}", token)["shop_code"]
        staff = self.api(f"/v1/merchants/{merchant_id}/staff", token)["staff"]
        self.check("register: the demo recorded workers", len(staff) >= 2, str(len(staff)))

        d.get(f"{self.base}/s/{shop}")
        rows = [li.text for li in d.find_elements(By.CSS_SELECTOR, "ul.staff li.worker")]
        self.check("shop: one line per worker", len(rows) == len(staff), str(rows))
        for w in staff:
            initial = w["name"][0] + "*"
            if w["status"] in ("valid", "expiring"):
                line = f"{initial} · {w['role']} · 有效期至 {w['expires_on']}"
            else:
                line = f"{initial} · {w['role']} · 健康证已过期"
            self.check(f"shop: shows {line}", line in rows, str(rows))
        red = d.find_elements(By.CSS_SELECTOR, "ul.staff strong.expired")
        self.check("shop: the expired one in red", bool(red) and "健康证已过期" in red[0].text)
        text = self.text()
        source = d.page_source
        for w in staff:
            for secret in [w["name"], w["certificate_no"]]:
                if secret:
                    self.check(f"shop: never shows {secret[0]}… in full", secret not in text and secret not in source)
        self.page_checks("shop-staff-01")


if __name__ == "__main__":
    main(ShopStaff)
