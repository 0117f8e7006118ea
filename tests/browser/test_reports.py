"""An anonymous report in headless Chromium at 390x844: file it through
/report (with a photo), see that nothing leads away from the receipt page
until "我已保存" is ticked, follow it up with the receipt as a person types
it, an analyst answers on the handler pages, and the reporter sees the
answer. Screenshots of each step.

The analyst logs in through the browser login form (/login).
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

RECEIPT = re.compile(r"^[0-9A-HJKMNP-TV-Y]{5}(-[0-9A-HJKMNP-TV-Y]{5}){3}$")


def png(side=24):
    """A small RGB PNG, written with zlib alone."""
    raw = b"".join(b"\x00" + b"".join(bytes((x * 9 % 256, y * 9 % 256, 80)) for x in range(side)) for y in range(side))

    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", struct.pack(">IIBBBBB", side, side, 8, 2, 0, 0, 0))
        + chunk(b"IDAT", zlib.compress(raw))
        + chunk(b"IEND", b"")
    )


class Reports(Browser):
    def submit(self, button_id):
        """Clicks a submit button and waits for the next document."""
        self.click_and_wait(f"#{button_id}")
    def follow(self, typed):
        d = self.driver
        d.get(self.base + "/report/follow")
        box = d.find_element(By.ID, "receipt")
        box.clear()
        box.send_keys(typed)
        self.submit("open")

    def run(self):
        d = self.driver

        # The form.
        d.get(self.base + "/report")
        self.check("form: heading", "匿名举报" in self.text())
        self.check("form: no name or phone field", not d.find_elements(By.CSS_SELECTOR, "input[name=name],input[name=phone],input[type=tel]"))
        self.page_checks("reports-01-form")
        Select(d.find_element(By.ID, "category")).select_by_value("expired_food")
        description = "冷柜里的酸奶已过期三天仍在销售 <b>粗体</b>"
        d.find_element(By.ID, "description").send_keys(description)
        d.find_element(By.ID, "location").send_keys("B 区 12 号摊位")
        photo = Path(tempfile.mkdtemp(prefix="shian-report-")) / "photo.png"
        photo.write_bytes(png())
        d.find_element(By.ID, "photo").send_keys(str(photo))
        self.submit("submit")

        # The receipt page: the receipt, and nothing onward until it is saved.
        receipt = "-".join(s.text for s in d.find_elements(By.CSS_SELECTOR, "#receipt span"))
        self.check("receipt: grouped 4x5 with check symbol", bool(RECEIPT.match(receipt)), receipt)
        self.check("receipt: says save it now", "请立即保存此回执码" in self.text())
        href = d.find_element(By.ID, "download").get_attribute("href") or ""
        self.check("receipt: a text-file download holding it", href.startswith("data:text/plain") and receipt in href, href[:80])
        self.check("receipt: footer links hidden", not any(a.is_displayed() for a in d.find_elements(By.CSS_SELECTOR, "footer a")))
        self.check("receipt: header link hidden", not d.find_element(By.CSS_SELECTOR, "header a").is_displayed())
        onward = [a for a in d.find_elements(By.TAG_NAME, "a") if a.is_displayed() and a.get_attribute("id") != "download"]
        self.check("receipt: no link onward", not onward, ", ".join(a.get_attribute("href") or "" for a in onward))
        self.page_checks("reports-02-receipt")
        d.find_element(By.ID, "continue").click()
        still = d.find_elements(By.ID, "receipt")
        missing = d.execute_script("return document.getElementById('saved').validity.valueMissing")
        self.check("receipt: continue is blocked until 我已保存 is ticked", bool(still) and missing, d.current_url)
        d.find_element(By.ID, "saved").click()
        self.submit("continue")
        self.check("receipt: then onward to the follow-up page", "/report/follow" in d.current_url, d.current_url)

        # Follow-up with the receipt typed in lower case without hyphens.
        self.follow(receipt.replace("-", "").lower())
        body = self.text()
        self.check("follow: status shown", "已收到，待处理" in body, body[:200])
        self.check("follow: own text, escaped", "<b>粗体</b>" in body)
        self.check("follow: photo attached", "已附 1 张照片" in body)
        self.page_checks("reports-03-follow")
        # A typo in the receipt is caught by the check symbol.
        typo = receipt[:-1] + ("7" if receipt[-1] != "7" else "8")
        self.follow(typo)
        self.check("follow: a typo is told apart", "校验位不符" in self.text(), self.text()[:200])
        self.page_checks("reports-04-typo", status_page=True)

        # An analyst opens the handler pages, logs in through the form, and
        # is brought back to the list.
        self.log_in_at("handler", "/handler/reports?status=received", "analyst", "demo-analyst-pass")
        self.check("handler: the list", "举报处理" in self.text())
        self.page_checks("reports-05-handler-list")
        # Newest first: the one just filed.
        links = d.find_elements(By.CSS_SELECTOR, "#reports a")
        self.check("handler: the report is listed", bool(links))
        links[0].click()
        WebDriverWait(d, 30).until(lambda drv: drv.find_elements(By.ID, "reply"))
        self.check("handler: the report's text", "冷柜里的酸奶已过期三天仍在销售" in self.text())
        answer = "已收到，已安排检查人员核查。"
        d.find_element(By.ID, "reply").send_keys(answer)
        self.submit("send-reply")
        self.check("handler: the answer is listed", answer in self.text())
        self.check("handler: acknowledged by the reply", "已受理" in self.text())
        self.page_checks("reports-06-handler-report")
        d.delete_cookie("shian_session")

        # The reporter sees the answer and replies.
        self.follow(receipt)
        body = self.text()
        self.check("follow: the analyst's answer", answer in body, body[:300])
        d.find_element(By.ID, "answer").send_keys("谢谢，下午三点也有人在卖。")
        self.submit("send")
        self.check("follow: own reply listed", "下午三点也有人在卖" in self.text())
        self.page_checks("reports-07-answered")


if __name__ == "__main__":
    sys.exit(main(Reports))
