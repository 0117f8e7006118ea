"""A consumer rates a shop and files a complaint from its page, in a real
browser: headless Chromium at a phone's viewport (390x844) against the demo
server, with no JavaScript of the page's own (the forms are plain HTML).
The rating aggregate on the page counts one more afterwards; the complaint
page says what was received and by when the district must decide. A photo
goes with the complaint through the form's file input.

Run by scripts/test-browser.sh. Usage: test_feedback.py BASE_URL TRACE_CODE SCREENSHOT_DIR
"""

import re
import struct
import sys
import tempfile
import zlib
from pathlib import Path

from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import Select, WebDriverWait

from harness import Browser, main

COMPLAINT = "买的冻虾解冻后有异味，<b>怀疑</b>已经变质"


def png(side=24):
    """A small grey PNG, written with the standard library alone."""

    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    raw = b"".join(b"\x00" + b"\x80\x80\x80" * side for _ in range(side))
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", struct.pack(">IIBBBBB", side, side, 8, 2, 0, 0, 0))
        + chunk(b"IDAT", zlib.compress(raw))
        + chunk(b"IEND", b"")
    )


class Feedback(Browser):
    def submit(self, form_id):
        """Submits a form and waits for the next document."""
        self.click_and_wait(f"#{form_id} button[type=submit]")
    def total(self):
        """The number of ratings the page reports (0 when none)."""
        m = re.search(r"共 (\d+) 条评价", self.text())
        return int(m.group(1)) if m else 0

    def run(self):
        d = self.driver
        shop_code = self.public_trace()["chain"][0]["shop_code"]
        d.get(f"{self.base}/s/{shop_code}")
        before = self.total()
        self.check("shop: a rating form", bool(d.find_elements(By.ID, "rate")))
        self.check("shop: a complaint form", bool(d.find_elements(By.ID, "complaint")))
        self.page_checks("10-shop-before-feedback")

        # Rate: hygiene good, freshness fair, price honesty poor.
        for name, value in [("hygiene", "good"), ("freshness", "fair"), ("price_honesty", "poor")]:
            d.find_element(By.CSS_SELECTOR, f"#rate input[name={name}][value={value}]").click()
        self.submit("rate")
        self.check("rate: back on the shop page", f"/s/{shop_code}?rated=1" in d.current_url, d.current_url)
        after = self.total()
        self.check("rate: the aggregate counts one more", after == before + 1, f"{before} -> {after}")
        rows = {
            r.find_element(By.TAG_NAME, "th").text: [int(td.text) for td in r.find_elements(By.TAG_NAME, "td")]
            for r in d.find_elements(By.CSS_SELECTOR, "table.ratings tr")
            if r.find_elements(By.TAG_NAME, "td")
        }
        self.check(
            "rate: each dimension sums to the total",
            set(rows) == {"卫生", "新鲜", "价格诚信"} and all(sum(v) == after for v in rows.values()),
            str(rows),
        )
        self.page_checks("11-shop-after-rating")

        # Complain, with a photo, from the same page.
        with tempfile.TemporaryDirectory(prefix="shian-photo-") as tmp:
            photo = Path(tmp) / "photo.png"
            photo.write_bytes(png())
            Select(d.find_element(By.ID, "category")).select_by_value("expired_or_spoiled")
            product = d.find_element(By.ID, "product")
            self.check("complaint: an optional product field of at most 100 characters",
                       product.get_attribute("maxlength") == "100" and not product.get_attribute("required"))
            product.send_keys("冻牛腱")
            d.find_element(By.ID, "text").send_keys(COMPLAINT)
            d.find_element(By.ID, "photo").send_keys(str(photo))
            self.shot("12-complaint-filled")
            self.submit("complaint")
        body = self.text()
        self.check("complaint: received", "投诉已收到" in body, body[:200])
        self.check("complaint: its text shown as typed (escaped)", COMPLAINT in body, body[:400])
        self.check("complaint: no markup from the text", not d.find_elements(By.CSS_SELECTOR, "main dd b"))
        self.check("complaint: the 7-working-day deadline", re.search(r"\d{4}-\d{2}-\d{2}（7 个工作日内）", body) is not None, body[:400])
        self.page_checks("13-complaint-received")
        d.find_element(By.LINK_TEXT, "返回店铺页面").click()
        WebDriverWait(d, 30).until(lambda drv: f"/s/{shop_code}" in drv.current_url)
        self.check("complaint: the text is not on the shop page", "怀疑" not in self.text())


if __name__ == "__main__":
    sys.exit(main(Feedback))
