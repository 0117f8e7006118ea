"""Small builders for the binding's records, so tests read like the day they play."""

import os
import tempfile

import shian


def qty(value, unit="kg"):
    return shian.QuantityValue(value=value, unit=unit)


def external(name="福建连江海产养殖场", uscc=None, region_code="350122"):
    return shian.SupplierInput.EXTERNAL(name=name, uscc=uscc, region_code=region_code)


def purchase(merchant_id, name, category, value, unit="kg", supplier=None, voucher_code=None,
             certificates=(), expiry_date=None, unit_price_fen=None, received_at=None, entry_id=None):
    return shian.PurchaseInput(
        entry_id=entry_id,
        merchant_id=merchant_id,
        product=shian.ProductInput(name=name, category=category, gtin=None),
        quantity=qty(value, unit),
        supplier=supplier if supplier is not None else external(),
        voucher_code=voucher_code,
        trace_code=None,
        certificates=[shian.CertificateInput(kind=k, number=n) for k, n in certificates],
        production_date=None,
        expiry_date=expiry_date,
        unit_price_fen=unit_price_fen,
        received_at=received_at,
    )


def sale(merchant_id, trace_code, value, unit="kg", buyer=None, unit_price_fen=None):
    return shian.SaleInput(
        entry_id=None,
        merchant_id=merchant_id,
        trace_code=trace_code,
        quantity=qty(value, unit),
        buyer=buyer if buyer is not None else shian.BuyerInput.RETAIL(),
        voucher_code=None,
        unit_price_fen=unit_price_fen,
        sold_at=None,
    )


def open_store(folder, name, server_url="http://127.0.0.1:9", username="nobody", password="x", device_id=None):
    """A store file `name.db` in `folder`. The default URL is a closed port: offline."""
    return shian.ShianStore.open(shian.StoreConfig(
        path=os.path.join(folder, name + ".db"),
        server_url=server_url,
        device_id=device_id or ("dev-" + name),
        username=username,
        password=password,
    ))


class TempDirMixin:
    def setUp(self):
        super().setUp()
        self._tmp = tempfile.TemporaryDirectory(prefix="shian-py-store-")
        self.tmp = self._tmp.name

    def tearDown(self):
        self._tmp.cleanup()
        super().tearDown()
