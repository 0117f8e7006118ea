"""Recalls through the Python binding and the real server: a merchant's
phones pull the recall notice, confirm offline, and the server counts the
latest count whatever order the phones sync in; a confirmation beyond what
was received is refused on the phone when the notice is there, and by the
server (kept among the parked ops with its reason) when it is not; the
district's inspector sees who has not confirmed."""

import unittest
from datetime import datetime, timedelta, timezone

import shian
from harness import ShianServer
from ledger_helpers import TempDirMixin, open_store, purchase, qty, sale

CN = timezone(timedelta(hours=8))


def at(minutes_ago):
    return (datetime.now(CN) - timedelta(minutes=minutes_ago)).isoformat()


class RecallTest(TempDirMixin, unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.server = ShianServer.start()
        market = cls.server.create_market()
        cls.a, cls.a_user, cls.a_pass = cls.server.merchant_account(market, "进口食品行", "seller", categories=("dairy",))
        cls.b, cls.b_user, cls.b_pass = cls.server.merchant_account(market, "巷口便利店", "buyer", categories=("dairy",))
        cls.server.create_user("analyst", "analyst-pass-1", "analyst")
        cls.server.create_user("insp", "insp-pass-1", "inspector", region="350203")
        cls.analyst = cls.server.login("analyst", "analyst-pass-1")["token"]

    @classmethod
    def tearDownClass(cls):
        cls.server.stop()

    def phone(self, name, user, password):
        return open_store(self.tmp, name, self.server.url, user, password, device_id=name)

    def batch_sold_to_b(self, kg_to_b="20"):
        """A buys 50 kg and sells `kg_to_b` to B with a voucher; B receives it. Returns (A's code, B's code)."""
        a = self.phone("a-" + shian.new_id()[-12:], self.a_user, self.a_pass)
        bought = a.record_purchase(purchase(self.a["id"], "进口奶酪", "dairy", "50",
                                            certificates=[("origin", "CIQ-2026-1")]))
        to_b = a.record_sale(sale(self.a["id"], bought.trace_code, kg_to_b,
                                  buyer=shian.BuyerInput.MERCHANT(merchant_id=self.b["id"])))
        a.sync_now()
        b = self.phone("b-recv-" + bought.trace_code, self.b_user, self.b_pass)
        got = b.record_purchase(purchase(self.b["id"], "进口奶酪", "dairy", kg_to_b,
                                         supplier=shian.SupplierInput.MERCHANT(merchant_id=self.a["id"]),
                                         voucher_code=to_b.voucher_code, certificates=[("origin", "CIQ-2026-1")]))
        self.assertEqual(b.sync_now().rejected, 0)
        return bought.trace_code, got.trace_code

    def start_recall(self, code, level=2):
        return self.server.request("POST", "/v1/recalls", {"trace_code": code, "level": level, "reason": "检出李斯特菌"},
                                   self.analyst)

    def confirm(self, phone, recall_id, code, held, returned, destroyed, minutes_ago):
        return phone.confirm_recall(shian.RecallConfirmInput(
            recall_id=recall_id, merchant_id=self.b["id"], trace_code=code,
            held=qty(held), returned=qty(returned), destroyed=qty(destroyed), at=at(minutes_ago), op_id=None))

    def holder(self, recall_id, code):
        r = self.server.request("GET", f"/v1/recalls/{recall_id}", token=self.analyst)
        return next(h for h in r["holders"] if h["trace_code"] == code)

    def test_two_phones_confirm_offline_and_either_order_counts_the_same(self):
        finals = []
        for order in (("p1", "p2"), ("p2", "p1")):
            root, code = self.batch_sold_to_b()
            recall = self.start_recall(root)
            phones = {n: self.phone(f"b-{n}-{root}", self.b_user, self.b_pass) for n in ("p1", "p2")}
            for p in phones.values():
                p.sync_now()
                notices = [n for n in p.recall_notices() if n.recall_id == recall["id"]]
                self.assertEqual(len(notices), 1)
                n = notices[0]
                self.assertEqual((n.level, n.level_zh, n.status, n.reminder), (2, "二级召回", "active", False))
                self.assertEqual([(b.trace_code, b.received.value, b.state) for b in n.batches], [(code, "20", "pending")])
            # Both count offline: p1 an hour ago (all 20 kg still on the shelf),
            # p2 half an hour ago (8 kg returned, 12 kg destroyed).
            self.confirm(phones["p1"], recall["id"], code, "20", "0", "0", 60)
            self.confirm(phones["p2"], recall["id"], code, "0", "8", "12", 30)
            for name in order:
                report = phones[name].sync_now()
                self.assertEqual((report.accepted, report.rejected), (1, 0), name)
            h = self.holder(recall["id"], code)
            self.assertEqual(h["state"], "confirmed")
            self.assertEqual(h["confirmations"], 2)
            finals.append((h["held"], h["returned"], h["destroyed"]))
            # The phones pull the count that counts.
            p1 = phones["p1"]
            p1.sync_now()
            mine = next(n for n in p1.recall_notices() if n.recall_id == recall["id"])
            b = mine.batches[0]
            self.assertEqual((b.state, b.held.value, b.returned.value, b.destroyed.value), ("confirmed", "0", "8", "12"))
        self.assertEqual(finals[0], finals[1])
        self.assertEqual(finals[0], ({"value": "0", "unit": "kg"}, {"value": "8", "unit": "kg"}, {"value": "12", "unit": "kg"}))

    def test_an_over_confirmation_is_refused_on_the_phone_or_by_the_server_and_kept(self):
        root, code = self.batch_sold_to_b("10")
        # A phone that has not pulled the notice queues it unchecked ...
        blind = self.phone("b-blind-" + root, self.b_user, self.b_pass)
        recall = self.start_recall(root, level=1)
        self.confirm(blind, recall["id"], code, "8", "0", "3", 5)
        self.assertEqual([o.kind for o in blind.pending_ops(10)], ["recall.confirm"])
        # ... and the server refuses it: 11 kg of 10; the phone keeps it with the reason.
        report = blind.sync_now()
        self.assertEqual((report.accepted, report.rejected), (0, 1))
        parked = blind.parked_ops()
        self.assertEqual([(p.kind, p.reason_code) for p in parked], [("recall.confirm", "exceeds_received")])
        self.assertIn("10", parked[0].message)
        self.assertEqual(self.holder(recall["id"], code)["state"], "pending")
        # Now it has the notice: the same count is refused on the phone, nothing queued.
        with self.assertRaises(shian.ShianError.Validation) as e:
            self.confirm(blind, recall["id"], code, "8", "0", "3", 1)
        self.assertEqual(e.exception.code, "exceeds_received")
        self.assertEqual(blind.pending_ops(10), [])

    def test_the_inspector_sees_who_has_not_confirmed(self):
        root, code = self.batch_sold_to_b("5")
        recall = self.start_recall(root, level=3)
        b = self.phone("b-done-" + root, self.b_user, self.b_pass)
        b.sync_now()
        self.confirm(b, recall["id"], code, "0", "5", "0", 2)
        b.sync_now()
        insp = self.phone("insp-" + root, "insp", "insp-pass-1")
        insp.sync_now()
        pending = [p for p in insp.recall_pending_holders() if p.recall_id == recall["id"]]
        self.assertEqual([(p.merchant_id, p.trace_code, p.received.value) for p in pending],
                         [(self.a["id"], root, "50")], "only the seller has not answered")
        progress = next(r for r in insp.recall_progress() if r.recall_id == recall["id"])
        self.assertEqual(progress.level_zh, "三级召回")
        self.assertEqual({(x.merchant_id, x.state) for x in progress.batches},
                         {(self.a["id"], "pending"), (self.b["id"], "confirmed")})


if __name__ == "__main__":
    unittest.main()
