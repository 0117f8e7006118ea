// The merchant's ledger screen (经营户台账): purchases with their certificates,
// sales, receiving goods by scanning the seller's voucher, the warnings the rules
// raise, and the sync state. Everything is recorded on the device first (offline
// is normal at a stall) and pushed by sync.
package cn.shian.shell.merchant

import cn.shian.core.BatchRecord
import cn.shian.core.BuyerInput
import cn.shian.core.HoldRecord
import cn.shian.core.MerchantWarning
import cn.shian.core.ParkedOpRecord
import cn.shian.core.RecordOutcome
import cn.shian.core.ShianStore
import cn.shian.core.SupplierInput
import cn.shian.core.SyncReportRecord
import cn.shian.core.SyncStatusRecord
import cn.shian.core.VoidInput
import cn.shian.core.verifyCode
import cn.shian.shell.common.StateHolder
import cn.shian.shell.common.UserError
import cn.shian.shell.common.attempt
import cn.shian.shell.common.purchaseInput
import cn.shian.shell.common.qty
import cn.shian.shell.common.saleInput
import cn.shian.shell.common.userError

class MerchantLedgerViewModel(
    private val store: ShianStore,
    val merchantId: String,
) : StateHolder<MerchantLedgerViewModel.State>(State()) {

    /** The purchase form as typed: strings, checked by the core on save. */
    data class PurchaseForm(
        val productName: String,
        val category: String,
        val quantity: String,
        val unit: String = "kg",
        /** An off-platform supplier by name ... */
        val supplierName: String? = null,
        val supplierUscc: String? = null,
        val supplierRegion: String? = null,
        /** ... or a platform merchant (with the voucher scanned from its delivery note). */
        val supplierMerchantId: String? = null,
        /** (kind, number): `quarantine`, `origin`, `commitment`, `import_inspection`, `test_report`. */
        val certificates: List<Pair<String, String>> = emptyList(),
        val gtin: String? = null,
        val expiryDate: String? = null,
        val unitPriceFen: Long? = null,
    )

    data class State(
        /** This merchant's batches on the device, newest first, with what each still holds. */
        val stock: List<BatchRecord> = emptyList(),
        val warnings: List<MerchantWarning> = emptyList(),
        val sync: SyncStatusRecord? = null,
        val parked: List<ParkedOpRecord> = emptyList(),
        /** A voucher scanned and verified offline, waiting for the goods to be received. */
        val scannedVoucher: String? = null,
        val lastOutcome: RecordOutcome? = null,
        /** The voucher the last sale to a merchant issued: shown as a QR to the buyer. */
        val issuedVoucher: String? = null,
        val lastSync: SyncReportRecord? = null,
        /** The last failure; `field` says which input to highlight. */
        val error: UserError? = null,
        /** The market's holds (暂扣) on this shop's batches, as pulled. */
        val holds: List<HoldRecord> = emptyList(),
    ) {
        /** Batches the market holds now: their sale is refused on the device. */
        val heldCodes: Set<String> get() = holds.filter { it.status == "active" }.map { it.traceCode }.toSet()

        /** The last sale was refused because its batch is held (the reason is `error.text`). */
        val saleRefusedByHold: Boolean get() = error?.code == "batch_held"
    }

    /** Reloads stock, warnings and sync state from the store. */
    fun refresh() {
        val r = attempt {
            Triple(store.batches(merchantId, 500u), store.warnings(merchantId, 100u), store.syncStatus()) to (store.parkedOps() to store.holds())
        }
        r.onSuccess { (t, more) ->
            val (parked, holds) = more
            update { it.copy(stock = t.first, warnings = t.second, sync = t.third, parked = parked, holds = holds.filter { h -> h.merchantId == merchantId }) }
        }.onFailure { fail(r.userError) }
    }

    /** Records a purchase (进货); the form's voucher is the scanned one, if any. */
    fun recordPurchase(form: PurchaseForm): RecordOutcome? {
        val supplier = when {
            !form.supplierMerchantId.isNullOrBlank() -> SupplierInput.Merchant(form.supplierMerchantId)
            !form.supplierName.isNullOrBlank() -> SupplierInput.External(form.supplierName, form.supplierUscc?.ifBlank { null }, form.supplierRegion?.ifBlank { null })
            else -> return failed(UserError.validation("supplier", "missing_field", "请填写供货方 (supplier required)"))
        }
        val voucher = state.scannedVoucher.takeIf { supplier is SupplierInput.Merchant }
        val input = purchaseInput(
            merchantId = merchantId,
            productName = form.productName,
            category = form.category,
            quantity = qty(form.quantity, form.unit),
            supplier = supplier,
            voucherCode = voucher,
            certificates = form.certificates,
            gtin = form.gtin?.ifBlank { null },
            expiryDate = form.expiryDate?.ifBlank { null },
            unitPriceFen = form.unitPriceFen,
        )
        return recorded(attempt { store.recordPurchase(input) }) { s, out ->
            s.copy(scannedVoucher = if (voucher != null) null else s.scannedVoucher, issuedVoucher = null, lastOutcome = out)
        }
    }

    /**
     * Scans the voucher (上市凭证) on a delivery note: the check character is
     * verified offline, so a mistyped or damaged code is caught at once.
     */
    fun scanVoucher(raw: String): Boolean {
        val r = attempt { verifyCode(raw) }
        r.onSuccess { code -> update { it.copy(scannedVoucher = code, error = null) } }
            .onFailure { fail(r.userError?.copy(field = "voucher_code")) }
        return r.isSuccess
    }

    /** Receives goods from a platform merchant against the scanned voucher. */
    fun receiveGoods(sellerMerchantId: String, form: PurchaseForm): RecordOutcome? {
        if (state.scannedVoucher == null) {
            return failed(UserError.validation("voucher_code", "missing_field", "请先扫描上市凭证 (scan the voucher first)"))
        }
        return recordPurchase(form.copy(supplierMerchantId = sellerMerchantId, supplierName = null))
    }

    /** Records a sale (销货) out of one batch. */
    fun recordSale(traceCode: String, quantity: String, unit: String = "kg", buyer: BuyerInput = BuyerInput.Retail, unitPriceFen: Long? = null): RecordOutcome? {
        val input = saleInput(merchantId, traceCode, qty(quantity, unit), buyer, unitPriceFen)
        return recorded(attempt { store.recordSale(input) }) { s, out -> s.copy(lastOutcome = out, issuedVoucher = out.voucherCode) }
    }

    /** Voids an entry recorded by mistake (a correction event; nothing is deleted). */
    fun voidEntry(entryId: String, reason: String): RecordOutcome? =
        recorded(attempt { store.recordVoid(VoidInput(null, merchantId, entryId, reason, null)) }) { s, out -> s.copy(lastOutcome = out) }

    /** Pushes and pulls now. A network failure is retryable; nothing recorded is lost. */
    fun syncNow(): Boolean {
        val r = attempt { store.syncNow() }
        r.onSuccess { report -> update { it.copy(lastSync = report, error = null) } }.onFailure { fail(r.userError) }
        refresh()
        return r.isSuccess
    }

    fun startBackgroundSync(intervalMs: Long) {
        attempt { store.startBackgroundSync(intervalMs.toULong()) }.let { r -> r.onFailure { fail(r.userError) } }
        refresh()
    }

    fun stopBackgroundSync() {
        attempt { store.stopBackgroundSync() }
        refresh()
    }

    private fun recorded(r: Result<RecordOutcome>, change: (State, RecordOutcome) -> State): RecordOutcome? {
        r.onSuccess { out ->
            update { change(it, out).copy(error = null) }
            // A worker, if running, pushes the new event at once.
            attempt { store.wakeBackgroundSync() }
            refresh()
        }.onFailure { fail(r.userError) }
        return r.getOrNull()
    }

    private fun failed(e: UserError): Nothing? {
        fail(e)
        return null
    }

    private fun fail(e: UserError?) {
        if (e != null) update { it.copy(error = e) }
    }
}
