"""Signed shop codes and vouchers through the Python binding, against a real
shian-server on loopback (issue 12, item 1).

A seller's tablet makes its key, enrols and gets a certificate, and signs a
voucher offline; a buyer's phone pulls the trust list once and from then on
tells genuine, forged, truncated, revoked and unknown-key codes apart with
no network; a voucher scanned twice says it was already received; after a
key rotation by the CLI old shop codes still verify and new ones use the new
key.
"""

import json
import subprocess
import unittest

import shian
from harness import SERVER_BIN, ShianServer
from ledger_helpers import TempDirMixin, open_store, purchase, sale


class SignedCodesTest(TempDirMixin, unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.server = ShianServer.start()
        market = cls.server.create_market()
        cls.seller, cls.s_user, cls.s_pass = cls.server.merchant_account(market, "老王海鲜档", "wang-signed")
        cls.buyer, cls.b_user, cls.b_pass = cls.server.merchant_account(market, "鹭江饭店", "lujiang-signed")

    @classmethod
    def tearDownClass(cls):
        cls.server.stop()

    def signed_url(self, token):
        return self.server.request("GET", f"/v1/merchants/{self.seller['id']}/signed-code", token=token)

    def test_scan_verify_offline_revoke_and_rotate(self):
        seller_token = self.server.login(self.s_user, self.s_pass)["token"]
        admin = self.server.admin_token()

        # The seller's tablet: key made on the device, certified at enrolment.
        tablet = open_store(self.tmp, "tablet", self.server.url, self.s_user, self.s_pass, "tablet-wang")
        public_key = tablet.device_public_key()
        self.assertEqual(tablet.device_public_key(), public_key, "made once")
        enrolled = self.server.request("POST", "/v1/devices", {"name": "摊位平板", "public_key": public_key},
                                       token=seller_token)
        cert = tablet.install_device_certificate(enrolled["certificate"]["certificate"])
        self.assertEqual(cert.shop_code, self.seller["shop_code"])

        # Offline: a purchase, a sale to the buyer, and its signed voucher.
        fish = tablet.record_purchase(purchase(self.seller["id"], "冰鲜带鱼", "aquatic", "120",
                                               certificates=[("origin", "闽连江产地2024-118")]))
        to_b = tablet.record_sale(sale(self.seller["id"], fish.trace_code, "30",
                                       buyer=shian.BuyerInput.MERCHANT(merchant_id=self.buyer["id"])))
        voucher = tablet.issue_voucher(shian.VoucherInput(
            voucher_code=to_b.voucher_code, product="冰鲜带鱼",
            quantity=shian.QuantityValue(value="30", unit="kg"), issued_on=None))
        self.assertTrue(voucher.startswith("SV1:"))

        # The buyer's phone: one pull brings the trust list.
        phone = open_store(self.tmp, "phone", self.server.url, self.b_user, self.b_pass, "phone-lujiang")
        with self.assertRaises(shian.ShianError.NotFound):
            phone.verify_scanned_code(voucher)
        phone.sync_now()
        self.assertIsNotNone(phone.trust_list_json())

        # Offline from here: the same file opened with no server reachable.
        del phone
        offline = open_store(self.tmp, "phone", device_id="phone-lujiang")

        shop_url = self.signed_url(seller_token)["url"]
        got = offline.verify_scanned_code(shop_url)
        self.assertEqual((got.kind, got.outcome), (shian.CodeKind.SHOP, shian.CodeOutcome.GENUINE))
        self.assertEqual(got.shop.shop_code, self.seller["shop_code"])

        forged = shop_url.replace(self.seller["shop_code"], self.buyer["shop_code"])
        self.assertEqual(offline.verify_scanned_code(forged).outcome, shian.CodeOutcome.FORGED)
        truncated = offline.verify_scanned_code(shop_url[:-3])
        self.assertEqual((truncated.outcome, truncated.shop), (shian.CodeOutcome.MALFORMED, None))
        self.assertEqual(offline.verify_scanned_code("hello").kind, shian.CodeKind.UNRECOGNISED)

        first = offline.receive_voucher(voucher)
        self.assertEqual((first.kind, first.outcome), (shian.CodeKind.VOUCHER, shian.CodeOutcome.GENUINE))
        self.assertEqual((first.voucher.voucher_code, first.voucher.product, first.voucher.seller_shop_code),
                         (to_b.voucher_code, "冰鲜带鱼", self.seller["shop_code"]))
        self.assertEqual((first.voucher.quantity.value, first.voucher.quantity.unit), ("30", "kg"))
        self.assertIsNone(first.already_received_at)
        again = offline.receive_voucher(voucher)
        self.assertEqual(again.outcome, shian.CodeOutcome.GENUINE)
        self.assertIsNotNone(again.already_received_at, "the replayed voucher is caught")
        self.assertEqual(offline.verify_scanned_code(voucher[:-10]).outcome, shian.CodeOutcome.MALFORMED)
        del offline

        # An admin revokes the tablet: after the next pull its vouchers fail.
        self.server.request("POST", f"/v1/devices/{enrolled['device_id']}/revoke", {}, token=admin)
        phone = open_store(self.tmp, "phone", self.server.url, self.b_user, self.b_pass, "phone-lujiang")
        phone.sync_now()
        revoked = phone.verify_scanned_code(voucher)
        self.assertEqual((revoked.outcome, revoked.part, revoked.revoked_id),
                         (shian.CodeOutcome.REVOKED, "device_certificate", enrolled["certificate"]["cert_id"]))

        # Rotation by the CLI: old codes verify, new ones use the new key.
        old_kid = self.signed_url(seller_token)["kid"]
        out = subprocess.run([SERVER_BIN, "keys", "rotate", "--db", self.server.db],
                             capture_output=True, text=True, timeout=60)
        self.assertEqual(out.returncode, 0, out.stderr)
        new = self.signed_url(seller_token)
        self.assertNotEqual(new["kid"], old_kid)
        # Before the pull the new key is unknown to the phone…
        self.assertEqual(phone.verify_scanned_code(new["url"]).outcome, shian.CodeOutcome.UNKNOWN_KEY)
        phone.sync_now()
        # …after it, both verify, each by its own key.
        self.assertEqual([(c.outcome, c.kid) for c in map(phone.verify_scanned_code, [shop_url, new["url"]])],
                         [(shian.CodeOutcome.GENUINE, old_kid), (shian.CodeOutcome.GENUINE, new["kid"])])

        # Without a store: the well-known list as JSON.
        well_known = self.server.request("GET", "/.well-known/shian-keys.json")
        got = shian.verify_code_with_trust_list(json.dumps(well_known), new["url"])
        self.assertEqual(got.outcome, shian.CodeOutcome.GENUINE)
        empty = shian.verify_code_with_trust_list(json.dumps({"keys": []}), new["url"])
        self.assertEqual(empty.outcome, shian.CodeOutcome.UNKNOWN_KEY)
        with self.assertRaises(shian.ShianError.Validation):
            shian.verify_code_with_trust_list("not json", new["url"])


if __name__ == "__main__":
    unittest.main()
