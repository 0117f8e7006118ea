"""A market day through the Python binding against a real shian-server on loopback.

Merchant A (a seafood stall) records purchases and sales with no network,
then syncs; merchant B (a restaurant) receives A's goods by scanning A's
voucher and syncs; the server's ledger links B's batch to A's sale; refused
events are parked with their reason; sync status, pending and parked lists
say what happened.
"""

import gc
import time
import unittest

import shian
from harness import ShianServer
from ledger_helpers import TempDirMixin, external, open_store, purchase, sale


class MarketDayTest(TempDirMixin, unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.server = ShianServer.start()
        market = cls.server.create_market()
        cls.a, cls.a_user, cls.a_pass = cls.server.merchant_account(market, "老王海鲜档", "wang", stall="A-12")
        cls.b, cls.b_user, cls.b_pass = cls.server.merchant_account(market, "鹭江饭店", "lujiang")

    @classmethod
    def tearDownClass(cls):
        cls.server.stop()

    def online(self, name, user, password, device_id=None):
        return open_store(self.tmp, name, self.server.url, user, password, device_id)

    def test_a_whole_day(self):
        a_id, b_id = self.a["id"], self.b["id"]

        # 05:00, the cold store has no signal: A's tablet records offline.
        a = open_store(self.tmp, "a", username=self.a_user, password=self.a_pass, device_id="tablet-a")
        fish = a.record_purchase(purchase(a_id, "冰鲜带鱼", "aquatic", "120", certificates=[("origin", "闽连江产地2024-118")],
                                          unit_price_fen=2600))
        self.assertIsNotNone(fish.trace_code)
        self.assertEqual(fish.warnings, [])
        self.assertEqual(shian.verify_code(fish.trace_code), fish.trace_code)
        pork = a.record_purchase(purchase(a_id, "冷鲜猪肉", "livestock_meat", "50"))
        self.assertEqual([w.code for w in pork.warnings], ["missing_certificate"], "meat without quarantine certificate")
        to_b = a.record_sale(sale(a_id, fish.trace_code, "30", buyer=shian.BuyerInput.MERCHANT(merchant_id=b_id)))
        self.assertIsNotNone(to_b.voucher_code, "a sale to a platform merchant issues a voucher")
        a.record_sale(sale(a_id, fish.trace_code, "10.5"))
        oversold = a.record_sale(sale(a_id, pork.trace_code, "60"))
        self.assertEqual([w.code for w in oversold.warnings], ["sale_exceeds_stock"], "来源不明 shows as a warning")
        self.assertEqual({w.warning.code for w in a.warnings(a_id, 10)}, {"missing_certificate", "sale_exceeds_stock"})

        self.assertEqual(len(a.pending_ops(100)), 5)
        with self.assertRaises(shian.ShianError.Network):
            a.sync_now()
        status = a.sync_status()
        self.assertEqual((status.pending, status.parked, status.consecutive_failures), (5, 0, 1))
        self.assertIsNotNone(status.last_error)
        self.assertIsNone(status.last_success_at)

        # Offline forward trace of the fish: 30 kg on its way to B, 10.5 kg retail, 79.5 kg held.
        fwd = a.trace_forward(fish.trace_code.lower())
        self.assertEqual(fwd.trace_code, fish.trace_code)
        self.assertEqual(fwd.holders, [])
        self.assertEqual([(t.voucher_code, t.buyer_merchant_id, t.quantity.value) for t in fwd.in_transit],
                         [(to_b.voucher_code, b_id, "30")])
        self.assertEqual((fwd.retail_sold.value, fwd.held.value, fwd.held.unit), ("10.5", "79.5", "kg"))
        self.assertTrue(fwd.balanced)
        stock = {b.trace_code: (b.product_name, b.held.value) for b in a.batches(a_id, 50)}
        self.assertEqual(stock, {fish.trace_code: ("冰鲜带鱼", "79.5"), pork.trace_code: ("冷鲜猪肉", "-10")})

        # 08:00, back in signal: the app is restarted (the store file survives) and syncs.
        del a
        gc.collect()
        a = self.online("a", self.a_user, self.a_pass, device_id="tablet-a")
        self.assertEqual(a.sync_status().pending, 5, "the outbox survived the restart")
        report = a.sync_now()
        self.assertEqual((report.accepted, report.duplicate, report.rejected), (5, 0, 0))
        status = a.sync_status()
        self.assertEqual((status.pending, status.parked, status.consecutive_failures), (0, 0, 0))
        self.assertIsNotNone(status.last_success_at)
        self.assertIsNone(status.last_error)
        self.assertNotEqual(status.cursor, "")
        self.assertIn(a_id, [d.merchant_id for d in a.directory()], "the merchant's own card arrived by pull")
        again = a.sync_now()
        self.assertEqual((again.accepted, again.rejected), (0, 0), "nothing is pushed twice")

        # B's kitchen scans the voucher on A's delivery note (typed in lower case with dashes).
        scanned = to_b.voucher_code.lower()
        scanned = scanned[:4] + "-" + scanned[4:8] + "-" + scanned[8:]
        self.assertEqual(shian.verify_code(scanned), to_b.voucher_code)
        b = self.online("b", self.b_user, self.b_pass, device_id="phone-b")
        received = b.record_purchase(purchase(
            b_id, "冰鲜带鱼", "aquatic", "30", supplier=shian.SupplierInput.MERCHANT(merchant_id=a_id),
            voucher_code=scanned, certificates=[("origin", "闽连江产地2024-118")]))
        self.assertEqual(received.warnings, [])
        b.record_sale(sale(b_id, received.trace_code, "4.2", buyer=shian.BuyerInput.NAMED(name="鹭江饭店后厨")))
        report = b.sync_now()
        self.assertEqual((report.accepted, report.rejected), (2, 0))
        self.assertEqual(b.parked_ops(), [])

        # B's device alone knows only its side: the chain stops at A's voucher.
        back = b.trace_backward(received.trace_code)
        self.assertEqual(back.chain[0].trace_code, received.trace_code)
        self.assertEqual(back.chain[0].voucher_code, to_b.voucher_code)
        self.assertEqual(back.chain[0].supplier_merchant_id, a_id)
        self.assertEqual(back.end, "voucher_not_found")

        # The server's ledger agrees with A's device: same trace code, the
        # voucher's 30 kg left A's batch and entered B's batch. Asked of the
        # server's own trace endpoint, as a regulator would.
        self.server.create_user("day-analyst", "analyst-pass-1", "analyst")
        token = self.server.login("day-analyst", "analyst-pass-1")["token"]
        full = self.server.request("GET", f"/v1/trace/{fish.trace_code}/forward", token=token)
        self.assertEqual((full["root"]["merchant_id"], full["root"]["received"]), (a_id, {"value": "120", "unit": "kg"}))
        self.assertEqual([(h["merchant_id"], h["merchant_name"], h["trace_code"], h["received"]["value"], h["named_sold"]["value"],
                           h["depth"]) for h in full["holders"]],
                         [(b_id, "鹭江饭店", received.trace_code, "30", "4.2", 1)])
        self.assertEqual(full["in_transit"], [], "the voucher was scanned")
        self.assertEqual((full["root"]["merchant_name"], full["retail_sold"]["value"], full["held"]["value"]),
                         ("老王海鲜档", "10.5", "105.3"))
        self.assertFalse(full["truncated"] or full["cycle"])
        # ... and agrees with A's device on A's own batch.
        self.assertEqual((full["root"]["held"]["value"], full["root"]["sold_to_merchants"]["value"]), (fwd.held.value, "30"))

    def test_refused_events_are_parked_with_their_reason(self):
        a = self.online("a2", self.a_user, self.a_pass, device_id="tablet-a2")
        a_id = self.a["id"]
        ok = a.record_purchase(purchase(a_id, "花蛤", "aquatic", "20", certificates=[("commitment", "CN-1")]))
        ghost = a.record_purchase(purchase(a_id, "鲈鱼", "aquatic", "8", certificates=[("origin", "X-1")],
                                           supplier=shian.SupplierInput.MERCHANT(merchant_id="no-such-merchant")))
        # An entry recorded on this device for another merchant: outside the account's scope.
        foreign = a.record_purchase(purchase(self.b["id"], "鲍鱼", "aquatic", "2", certificates=[("origin", "X-2")]))
        report = a.sync_now()
        self.assertEqual((report.accepted, report.rejected), (1, 2))
        parked = {p.op_id: p for p in a.parked_ops()}
        self.assertEqual(set(parked), {ghost.entry_id, foreign.entry_id})
        self.assertEqual(parked[ghost.entry_id].reason_code, "unknown_merchant")
        self.assertEqual(parked[foreign.entry_id].reason_code, "out_of_scope")
        self.assertFalse(parked[ghost.entry_id].retryable)
        self.assertTrue(parked[ghost.entry_id].message)
        status = a.sync_status()
        self.assertEqual((status.pending, status.parked), (0, 2))
        self.assertEqual(a.pending_ops(10), [])
        # Parked events stay visible and are not pushed again as pending.
        report = a.sync_now()
        self.assertEqual((report.accepted, report.rejected), (0, 0))
        self.assertEqual(len(a.parked_ops()), 2)
        self.assertNotIn(ok.entry_id, parked)

    def test_wrong_password_is_an_auth_error(self):
        a = self.online("a3", self.a_user, "not-the-password", device_id="tablet-a3")
        a.record_purchase(purchase(self.a["id"], "花蛤", "aquatic", "1", certificates=[("origin", "Y")]))
        with self.assertRaises(shian.ShianError.Auth):
            a.sync_now()
        self.assertEqual(a.sync_status().pending, 1, "nothing is lost when the login fails")

    def test_background_sync_drains_the_outbox(self):
        a = self.online("a4", self.a_user, self.a_pass, device_id="tablet-a4")
        a.start_background_sync(60_000)
        self.assertTrue(a.sync_status().background)
        a.record_purchase(purchase(self.a["id"], "梭子蟹", "aquatic", "6", certificates=[("origin", "Z")]))
        a.wake_background_sync()
        deadline = time.monotonic() + 30
        while a.sync_status().pending > 0 and time.monotonic() < deadline:
            time.sleep(0.05)
        self.assertEqual(a.sync_status().pending, 0)
        a.stop_background_sync()
        self.assertFalse(a.sync_status().background)
        self.assertIsNotNone(a.sync_status().last_success_at)


if __name__ == "__main__":
    unittest.main()
