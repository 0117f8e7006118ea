"""The exports through the real server: the CSV round-trips through Python's
`csv` module and the XLSX opens with openpyxl and holds the same rows.

A merchant and a product are named with quotes, commas, a line separator and
Chinese text. The ledger refuses control characters in names, so a line
feed cannot reach an export through it; U+2028 (LINE SEPARATOR) is the
line break a name may hold, and the server's unit test
(`exports::csv::tests`) holds a real CR LF.
"""

import csv
import io
import unittest
import urllib.request
import uuid
from datetime import datetime, timedelta, timezone

import openpyxl

from harness import ShianServer

CST = timezone(timedelta(hours=8))
MERCHANT_NAME = '李记"鲜"肉, 第三档口'
PRODUCT = '冷鲜"猪"肉, 后腿\u2028(二号冷库)'
BUYER = '厦门"阳光"小学, 食堂'


def at(minutes_ago):
    return (datetime.now(CST) - timedelta(minutes=minutes_ago)).isoformat(timespec="milliseconds")


def download(server, path, token):
    req = urllib.request.Request(server.url + path, headers={"Authorization": "Bearer " + token})
    with urllib.request.urlopen(req, timeout=30) as resp:
        return resp.headers, resp.read()


class ExportTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.s = ShianServer.start()
        s = cls.s
        market = s.create_market()
        m, user, pw = s.merchant_account(market, MERCHANT_NAME, "lijixianrou")
        cls.merchant_id = m["id"]
        cls.token = s.login(user, pw)["token"]
        s.create_user("analyst1", "analyst-pass-1", "analyst")
        cls.analyst = s.login("analyst1", "analyst-pass-1")["token"]

        def push(ops):
            body = {"device_id": "py-export-phone", "ops": [
                {"op_id": str(uuid.uuid4()), "kind": kind, "at": at(0), "payload": payload}
                for kind, payload in ops]}
            out = s.request("POST", "/v1/sync/push", body, cls.token)
            for r in out["results"]:
                assert r["status"] == "accepted", r
            return out["results"]

        purchase = push([("ledger.purchase", {
            "entry_id": str(uuid.uuid4()), "merchant_id": cls.merchant_id,
            "product": {"name": PRODUCT, "category": "livestock_meat"},
            "quantity": {"value": "50", "unit": "kg"},
            "supplier": {"name": '漳州"绿野"养殖场, 合作社', "region_code": "350602"},
            "certificates": [{"kind": "quarantine", "number": "DQ-350602-0001"}],
            "production_date": "2026-11-28", "expiry_date": "2026-12-20",
            "unit_price_fen": 2600, "received_at": at(240)})])
        code = purchase[0]["result"]["trace_code"]
        cls.trace_code = code
        push([
            ("ledger.sale", {"entry_id": str(uuid.uuid4()), "merchant_id": cls.merchant_id,
                             "trace_code": code, "quantity": {"value": "12.5", "unit": "kg"},
                             "buyer": {"name": BUYER}, "unit_price_fen": 3200, "sold_at": at(180)}),
            ("ledger.sale", {"entry_id": str(uuid.uuid4()), "merchant_id": cls.merchant_id,
                             "trace_code": code, "quantity": {"value": "0.75", "unit": "kg"},
                             "buyer": {"retail": True}, "sold_at": at(120)}),
            ("ledger.dispose", {"entry_id": str(uuid.uuid4()), "merchant_id": cls.merchant_id,
                                "trace_code": code, "quantity": {"value": "2", "unit": "kg"},
                                "method": "destroyed", "reason": "冷链断链, 温度超标", "at": at(60)}),
        ])

    @classmethod
    def tearDownClass(cls):
        cls.s.stop()

    def csv_rows(self, path, token):
        headers, body = download(self.s, path, token)
        self.assertTrue(headers["Content-Type"].startswith("text/csv"))
        self.assertTrue(body.startswith(b"\xef\xbb\xbf"), "UTF-8 BOM")
        text = body.decode("utf-8-sig")
        return list(csv.reader(io.StringIO(text, newline="")))

    def test_csv_round_trips_quotes_commas_line_breaks_and_chinese(self):
        rows = self.csv_rows(f"/v1/merchants/{self.merchant_id}/export?format=csv", self.token)
        header, data = rows[0], rows[1:]
        col = {h.split("/")[-1]: i for i, h in enumerate(header)}
        self.assertEqual(len(data), 4, data)
        self.assertEqual([r[col["event"]] for r in data],
                         ["purchase", "sale_named", "sale_retail", "destroyed"])
        for r in data:
            self.assertEqual(r[col["product"]], PRODUCT)
            self.assertEqual(r[col["holder"]], MERCHANT_NAME)
            self.assertEqual(r[col["trace_code"]], self.trace_code)
            self.assertEqual(len(r), len(header))
        self.assertEqual(data[0][col["counterparty"]], '漳州"绿野"养殖场, 合作社')
        self.assertEqual(data[0][col["certificates"]], "quarantine:DQ-350602-0001")
        self.assertEqual(data[1][col["counterparty"]], BUYER)
        self.assertEqual(data[1][col["quantity"]], "12.5")
        self.assertEqual(data[2][col["quantity"]], "0.75")
        self.assertEqual(data[3][col["reason"]], "冷链断链, 温度超标")
        # The trace's export is the same ledger here (one holder).
        trace = self.csv_rows(f"/v1/traces/{self.trace_code}/export?format=csv", self.analyst)
        self.assertEqual(trace, rows)

    def test_xlsx_opens_with_openpyxl_and_holds_the_same_rows(self):
        rows = self.csv_rows(f"/v1/merchants/{self.merchant_id}/export?format=csv", self.analyst)
        headers, body = download(self.s, f"/v1/merchants/{self.merchant_id}/export?format=xlsx",
                                 self.analyst)
        self.assertIn("filename*=UTF-8''", headers["Content-Disposition"])
        book = openpyxl.load_workbook(io.BytesIO(body))
        sheet = book.worksheets[0]
        self.assertEqual(sheet.freeze_panes, "A2", "the header row is frozen")
        self.assertIsNotNone(sheet.auto_filter.ref, "the header has filters")
        cells = [list(r) for r in sheet.iter_rows(values_only=True)]
        self.assertEqual([str(c) for c in cells[0]], rows[0], "the same header")
        self.assertEqual(len(cells), len(rows))
        col = {h.split("/")[-1]: i for i, h in enumerate(rows[0])}
        for x, c in zip(cells[1:], rows[1:]):
            # Times and dates are real dates in the workbook.
            self.assertIsInstance(x[col["time"]], datetime)
            when = datetime.fromisoformat(c[col["time"]]).replace(tzinfo=None)
            self.assertLess(abs((x[col["time"]] - when).total_seconds()), 1)
            self.assertEqual(x[col["expiry_date"]].date().isoformat(), c[col["expiry_date"]])
            self.assertEqual(x[col["quantity"]], float(c[col["quantity"]]))
            for name in ("event", "holder", "counterparty", "trace_code", "product", "category",
                         "unit", "certificates", "reason", "entry_id"):
                self.assertEqual(x[col[name]] or "", c[col[name]], name)


if __name__ == "__main__":
    unittest.main()
