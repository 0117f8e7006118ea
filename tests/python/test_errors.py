"""Bad input comes through the Python binding as typed exceptions with code and field.

No server: every check here runs on the device, offline.
"""

import os
import unittest

import shian
from ledger_helpers import TempDirMixin, open_store, purchase, qty, sale

M = "0190a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5b"  # a merchant id (any id-shaped string works offline)
OTHER = "0190a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5c"


def flip_check(code: str) -> str:
    """The same code with its check character changed."""
    last = "1" if code[-1] != "1" else "2"
    return code[:-1] + last


class ValidationTest(TempDirMixin, unittest.TestCase):
    def setUp(self):
        super().setUp()
        self.store = open_store(self.tmp, "m")

    def assertValidation(self, call, code, field):
        with self.assertRaises(shian.ShianError.Validation) as ctx:
            call()
        self.assertEqual((ctx.exception.code, ctx.exception.field), (code, field), str(ctx.exception))
        self.assertTrue(ctx.exception.message)
        return ctx.exception

    def test_negative_quantity(self):
        self.assertValidation(lambda: self.store.record_purchase(purchase(M, "带鱼", "aquatic", "-5")),
                              "negative_quantity", "quantity.value")

    def test_zero_and_malformed_and_absurd_quantities(self):
        self.assertValidation(lambda: self.store.record_purchase(purchase(M, "带鱼", "aquatic", "0")),
                              "zero_quantity", "quantity.value")
        self.assertValidation(lambda: self.store.record_purchase(purchase(M, "带鱼", "aquatic", "12,5")),
                              "invalid_number", "quantity.value")
        self.assertValidation(lambda: self.store.record_purchase(purchase(M, "带鱼", "aquatic", "1e9", "t")),
                              "invalid_number", "quantity.value")
        self.assertValidation(lambda: self.store.record_purchase(purchase(M, "带鱼", "aquatic", "999999999", "t")),
                              "absurd_quantity", "quantity.value")

    def test_unknown_unit_and_category(self):
        self.assertValidation(lambda: self.store.record_purchase(purchase(M, "带鱼", "aquatic", "5", "pound")),
                              "unknown_unit", "quantity.unit")
        self.assertValidation(lambda: self.store.record_purchase(purchase(M, "带鱼", "seafood", "5")),
                              "invalid_enum", "product.category")

    def test_bad_check_characters(self):
        good = self.store.record_purchase(purchase(M, "带鱼", "aquatic", "5")).trace_code
        e = self.assertValidation(lambda: shian.verify_code(flip_check(good)), "code_check_mismatch", "code")
        self.assertIn("校验", e.message)
        self.assertValidation(lambda: shian.verify_code("ABC"), "invalid_code", "code")
        self.assertValidation(lambda: self.store.record_sale(sale(M, flip_check(good), "1")),
                              "code_check_mismatch", "trace_code")
        self.assertValidation(lambda: self.store.trace_forward(flip_check(good)), "code_check_mismatch", "trace_code")
        self.assertValidation(lambda: self.store.record_purchase(purchase(
            M, "带鱼", "aquatic", "5", supplier=shian.SupplierInput.MERCHANT(merchant_id=OTHER),
            voucher_code=flip_check(good))), "code_check_mismatch", "voucher_code")
        self.assertValidation(lambda: shian.validate_uscc("91310110666007217A", False), "uscc_check_mismatch", "uscc")
        self.assertEqual(shian.validate_uscc("91310110666007217t", False), "91310110666007217T")

    def test_bad_gtin_region_and_dates(self):
        p = purchase(M, "牛奶", "dairy", "12", "box")
        p.product.gtin = "5391234567893"
        self.assertValidation(lambda: self.store.record_purchase(p), "invalid_gtin", "product.gtin")
        p = purchase(M, "带鱼", "aquatic", "5", supplier=shian.SupplierInput.EXTERNAL(name="某场", uscc=None, region_code="990000"))
        self.assertValidation(lambda: self.store.record_purchase(p), "invalid_region_code", "supplier.region_code")
        p = purchase(M, "带鱼", "aquatic", "5", received_at="2099-01-01T00:00:00+08:00")
        self.assertValidation(lambda: self.store.record_purchase(p), "future_time", "received_at")
        p = purchase(M, "带鱼", "aquatic", "5", received_at="yesterday")
        with self.assertRaises(shian.ShianError.Validation) as ctx:
            self.store.record_purchase(p)
        self.assertEqual(ctx.exception.field, "received_at")

    def test_record_json_takes_the_wire_shape(self):
        self.assertValidation(lambda: self.store.record_json("ledger.purchase", "{not json"), "invalid_json", "payload")
        self.assertValidation(lambda: self.store.record_json("ledger.teleport", "{}"), "unknown_kind", "kind")
        out = self.store.record_json("ledger.purchase", """{
            "entry_id": "%s", "merchant_id": "%s",
            "product": {"name": "鸡蛋", "category": "egg"}, "quantity": {"value": "30", "unit": "box"},
            "supplier": {"name": "某蛋鸡场"}, "certificates": [{"kind": "commitment", "number": "C-9"}],
            "received_at": "2024-05-20T06:00:00+08:00"}""" % (shian.new_id(), M))
        self.assertEqual(out.kind, "ledger.purchase")
        self.assertEqual(out.warnings, [])

    def test_the_device_id_is_checked_at_open(self):
        with self.assertRaises(shian.ShianError.Validation) as ctx:
            open_store(self.tmp, "x", device_id="my phone!")
        self.assertEqual(ctx.exception.field, "device_id")

    def test_a_store_that_cannot_be_opened_is_a_storage_error(self):
        with self.assertRaises(shian.ShianError.Storage):
            open_store(os.path.join(self.tmp, "no", "such", "folder"), "x")


class RuleErrorTest(TempDirMixin, unittest.TestCase):
    def setUp(self):
        super().setUp()
        self.store = open_store(self.tmp, "m")
        self.batch = self.store.record_purchase(purchase(M, "带鱼", "aquatic", "40", certificates=[("origin", "O-1")]))

    def test_voiding_twice_is_a_conflict(self):
        void = shian.VoidInput(entry_id=None, merchant_id=M, voided_entry_id=self.batch.entry_id, reason="录错数量", at=None)
        self.assertEqual(self.store.record_void(void).kind, "ledger.void")
        with self.assertRaises(shian.ShianError.Conflict) as ctx:
            self.store.record_void(void)
        self.assertEqual(ctx.exception.code, "already_voided")

    def test_the_same_entry_id_twice_is_a_conflict(self):
        p = purchase(M, "花蛤", "aquatic", "3", certificates=[("origin", "O-2")], entry_id=shian.new_id())
        self.store.record_purchase(p)
        with self.assertRaises(shian.ShianError.Conflict) as ctx:
            self.store.record_purchase(p)
        self.assertEqual(ctx.exception.code, "entry_exists")
        self.assertEqual(self.store.counts().outbox_pending, 2, "nothing half-written")

    def test_another_merchants_batch_is_forbidden(self):
        with self.assertRaises(shian.ShianError.Forbidden) as ctx:
            self.store.record_sale(sale(OTHER, self.batch.trace_code, "1"))
        self.assertEqual(ctx.exception.code, "not_your_batch")

    def test_an_unknown_batch_is_not_found_for_a_trace(self):
        # A valid code that this store does not hold: made by a second store.
        elsewhere = open_store(self.tmp, "elsewhere").record_purchase(purchase(M, "虾", "aquatic", "1")).trace_code
        with self.assertRaises(shian.ShianError.NotFound):
            self.store.trace_forward(elsewhere)

    def test_dispose_adjust_and_warnings(self):
        code = self.batch.trace_code
        d = self.store.record_dispose(shian.DisposeInput(entry_id=None, merchant_id=M, trace_code=code, quantity=qty("5"),
                                                          method=shian.DisposeMethod.DESTROYED, reason="变质", at=None))
        self.assertEqual(d.kind, "ledger.dispose")
        adj = self.store.record_adjust(shian.AdjustInput(entry_id=None, merchant_id=M, trace_code=code,
                                                          delta=qty("-40"), reason="盘点", at=None))
        self.assertEqual([w.code for w in adj.warnings], ["negative_stock"])
        fwd = self.store.trace_forward(code)
        self.assertEqual((fwd.root.destroyed.value, fwd.root.adjusted.value, fwd.held.value), ("5", "-40", "-5"))
        self.assertTrue(fwd.balanced)
        (b,) = self.store.batches(M, 10)
        self.assertEqual((b.trace_code, b.category, b.received.value, b.held.value), (code, "aquatic", "40", "-5"))
        self.assertEqual(self.store.batches(OTHER, 10), [])
        counts = self.store.counts()
        self.assertEqual((counts.entries, counts.batches, counts.movements, counts.outbox_pending), (3, 1, 2, 3))


if __name__ == "__main__":
    unittest.main()
