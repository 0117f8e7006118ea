"""A pulled change the device cannot apply, through the Python binding against
a real shian-server on loopback: it is counted in the sync status, listed
with its reason, survives a restart and applies once what blocked it is gone.

Merchant A has two devices. The phone voids a purchase on the server while
the tablet, offline, sells from it. The tablet's sync pushes the sale (the
server refuses it: the batch is voided) and pulls the void, which the tablet
cannot apply: its own sale still draws on the batch.
"""

import gc
import json
import unittest

import shian
from harness import ShianServer
from ledger_helpers import TempDirMixin, open_store, purchase, sale


class UnappliedPullTest(TempDirMixin, unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.server = ShianServer.start()
        market = cls.server.create_market()
        cls.a, cls.user, cls.password = cls.server.merchant_account(market, "老王冻品档", "wang-frozen")

    @classmethod
    def tearDownClass(cls):
        cls.server.stop()

    def device(self, name):
        return open_store(self.tmp, name, self.server.url, self.user, self.password, device_id=name)

    def void(self, entry_id, reason):
        return shian.VoidInput(entry_id=None, merchant_id=self.a["id"], voided_entry_id=entry_id,
                               reason=reason, at=None)

    def test_a_pulled_event_the_device_cannot_apply_shows_in_status_and_survives_a_restart(self):
        a_id = self.a["id"]
        tablet, phone = self.device("tablet"), self.device("phone")
        chicken = tablet.record_purchase(purchase(a_id, "冻鸡腿", "frozen", "20"))
        tablet.sync_now()
        phone.sync_now()
        phone.record_void(self.void(chicken.entry_id, "录错了"))
        phone.sync_now()

        sold = tablet.record_sale(sale(a_id, chicken.trace_code, "5"))
        report = tablet.sync_now()
        self.assertEqual(report.rejected, 1, "the server refuses a sale of a voided batch")
        status = tablet.sync_status()
        self.assertEqual((status.parked, status.unapplied), (1, 1))
        (kept,) = tablet.unapplied_changes()
        self.assertEqual((kept.kind, kept.reason_code, kept.field),
                         ("ledger.void", "batch_has_movements", "voided_entry_id"))
        self.assertEqual(json.loads(kept.payload_json)["voided_entry_id"], chicken.entry_id)
        self.assertTrue(kept.message)
        self.assertEqual(kept.core_version, shian.core_version())
        self.assertEqual(kept.attempts, 1)
        self.assertEqual(tablet.retry_unapplied(), 0, "nothing has changed yet")
        self.assertEqual(tablet.unapplied_changes()[0].attempts, 2)

        # The app is restarted: the kept change is still there.
        del tablet
        gc.collect()
        tablet = self.device("tablet")
        self.assertEqual(tablet.sync_status().unapplied, 1)
        self.assertEqual([u.seq for u in tablet.unapplied_changes()], [kept.seq])

        # The user voids the refused sale; the server's void now applies here.
        tablet.record_void(self.void(sold.entry_id, "批次已作废"))
        self.assertEqual(tablet.retry_unapplied(), 1)
        self.assertEqual(tablet.unapplied_changes(), [])
        self.assertEqual(tablet.sync_status().unapplied, 0)
        self.assertEqual(tablet.batches(a_id, 10), [], "the voided batch is no longer in stock")


if __name__ == "__main__":
    unittest.main()
