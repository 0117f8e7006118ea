"""A merchant prints the stall sign and a consumer scans it, in a real
browser: headless Chromium at a phone's viewport (390x844) logs in as the
demo merchant through the login form, opens the shop's A4 stall sign,
fetches the sign's PNG QR code with the browser's session, DECODES it
(zxing-cpp, the decoder phones' scanner apps build on), opens the decoded
address and checks the shop page; then a GS1 Digital Link of a demo
product resolves to its batch's trace page.

Run by scripts/test-browser.sh (BASE_URL TRACE_CODE SCREENSHOT_DIR).
"""

import io
import json
import sys
import urllib.request

import zxingcpp
from PIL import Image
from selenium.webdriver.common.by import By

from harness import Browser, main

USER, PASSWORD = "merchant1", "demo-merchant1-pass"
# 速冻水饺 in the demo catalogue: GTIN-12 692000100001 with its check digit.
DEMO_GTIN13 = "6920001000011"


def decode_qr(png_bytes):
    """The texts of the QR codes in a PNG, as a scanner reads them."""
    img = Image.open(io.BytesIO(png_bytes)).convert("L")
    return [b.text for b in zxingcpp.read_barcodes(img, formats=zxingcpp.BarcodeFormat.QRCode)]


class StallSign(Browser):
    def api_login(self):
        req = urllib.request.Request(
            f"{self.base}/v1/auth/login",
            data=json.dumps({"username": USER, "password": PASSWORD}).encode(),
            headers={"content-type": "application/json"},
        )
        with urllib.request.urlopen(req, timeout=10) as r:
            return json.load(r)

    def submit(self, form_selector):
        """Submits a form and waits for the next document."""
        self.click_and_wait(f"{form_selector} button[type=submit]")
    def fetch(self, path, cookie=None, token=None):
        headers = {}
        if cookie:
            headers["cookie"] = cookie
        if token:
            headers["authorization"] = f"Bearer {token}"
        req = urllib.request.Request(self.base + path, headers=headers)
        with urllib.request.urlopen(req, timeout=10) as r:
            return r.headers.get("content-type", ""), r.read()

    def run(self):
        d = self.driver
        login = self.api_login()
        merchant_id = login["scope"]["merchant_id"]
        sign = f"/signs/{merchant_id}"

        # From the landing page's link, not logged in: the login form first.
        d.get(self.base + "/")
        self.click_and_wait("a[href='/signs']")
        self.check("sign: asks to log in first", "/login?next=" in d.current_url, d.current_url)
        self.check("login: no token in the address", "token" not in d.current_url, d.current_url)
        self.page_checks("10-login")
        d.find_element(By.ID, "username").send_keys(USER)
        d.find_element(By.ID, "password").send_keys(PASSWORD)
        self.submit("form[action='/login']")
        self.check("login: on the merchant's own sign", d.current_url == self.base + sign, d.current_url)
        self.check("login: no token in the address", "eyJ" not in d.current_url, d.current_url)
        cookies = {c["name"]: c for c in d.get_cookies()}
        session = cookies.get("shian_session")
        self.check("login: a session cookie", session is not None, json.dumps(list(cookies)))
        if session is None:
            return
        self.check("cookie: HttpOnly", session.get("httpOnly") is True, json.dumps(session))
        self.check("cookie: SameSite=Strict", session.get("sameSite") == "Strict", json.dumps(session))
        self.check(
            "cookie: not readable by scripts",
            "shian_session" not in d.execute_script("return document.cookie"),
        )

        # The sign: what the A4 page must carry.
        body = self.text()
        self.check("sign: 扫码查看食品安全信息", "扫码查看食品安全信息" in body)
        self.check("sign: licence", "食品经营许可证" in body)
        self.check("sign: risk grade", "风险等级" in body)
        self.check("sign: the QR code inline", bool(d.find_elements(By.CSS_SELECTOR, ".sign .qr svg")))
        a4 = d.execute_script(
            "return [...document.styleSheets].some(s => [...s.cssRules].some("
            "r => r.cssText.includes('@page') && r.cssText.toLowerCase().includes('size: a4')))"
        )
        self.check("sign: @page size A4 for printing", bool(a4))
        self.page_checks("11-sign")
        d.execute_cdp_cmd("Emulation.setEmulatedMedia", {"media": "print"})
        self.shot("12-sign-print")
        d.execute_cdp_cmd("Emulation.setEmulatedMedia", {"media": ""})

        # The PNG beside the sign, with the browser's session; and the API's.
        png_link = d.find_elements(By.CSS_SELECTOR, f'a[href="{sign}/qr.png"]')
        self.check("sign: links its PNG", bool(png_link))
        cookie = f"shian_session={session['value']}"
        ctype, png = self.fetch(f"{sign}/qr.png", cookie=cookie)
        self.check("png: image/png", ctype == "image/png", ctype)
        width = Image.open(io.BytesIO(png)).width
        self.check("png: prints at 4 cm (>= 600 px)", width >= 600, str(width))
        texts = decode_qr(png)
        self.check("png: one QR code decoded", len(texts) == 1, repr(texts))
        if len(texts) != 1:
            return
        url = texts[0]
        _, api_png = self.fetch(f"/v1/merchants/{merchant_id}/qr.png", token=login["token"])
        self.check("png: the API's PNG holds the same address", decode_qr(api_png) == [url])
        self.check("png: opens a shop page", url.startswith(self.base + "/s/"), url)

        # What a consumer's phone opens from it.
        d.get(url)
        body = self.text()
        self.check("shop: lands on the decoded address", d.current_url == url, d.current_url)
        self.check("shop: licence section", "食品经营许可证编号" in body)
        self.check("shop: risk grade", bool(d.find_elements(By.CLASS_NAME, "grade")))
        self.check("shop: its suppliers", "进货来源" in body and bool(d.find_elements(By.CSS_SELECTOR, "ul.suppliers li")))
        self.check("shop: inspections and tests sections", "最近的检查" in body and "最近的检测" in body)
        self.page_checks("13-shop-from-qr")

        # GS1 Digital Link: the product's GTIN lists its batches; GTIN + lot
        # opens the batch's trace page.
        gtin14 = "0" + DEMO_GTIN13
        d.get(f"{self.base}/01/{gtin14}")
        links = d.find_elements(By.CSS_SELECTOR, "a[href^='/t/']")
        self.check("gs1: the GTIN lists batches", bool(links), self.text()[:200])
        self.page_checks("14-gs1-gtin")
        if not links:
            return
        lot = links[0].get_attribute("href").rsplit("/", 1)[1]
        d.get(f"{self.base}/01/{gtin14}/10/{lot}")
        self.check("gs1: GTIN + lot opens the trace page", d.current_url == f"{self.base}/t/{lot}", d.current_url)
        body = self.text()
        self.check("gs1: the product's category", "类别" in body)
        self.page_checks("15-gs1-trace")
        bad = gtin14[:-1] + str((int(gtin14[-1]) + 1) % 10)
        d.get(f"{self.base}/01/{bad}/10/{lot}")
        self.check("gs1: a wrong check digit is a typo", "校验位不符" in self.text())
        self.page_checks("16-gs1-typo", status_page=True)

        # Logging out ends the session.
        d.get(self.base + sign)
        self.submit("form[action='/logout']")
        d.get(self.base + sign)
        self.check("logout: the sign asks to log in again", "/login?next=" in d.current_url, d.current_url)


if __name__ == "__main__":
    sys.exit(main(StallSign))
