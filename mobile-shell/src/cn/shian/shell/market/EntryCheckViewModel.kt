// The market operator's entry-check screen (入场查验) on the tablet at the gate:
// the seller, the goods, the quantity, the certificates seen and a rapid test if
// one was done, then 准入 or 拒收 (a refusal needs its reason). Works offline: core
// judges the check first by the ledger's own certificate rule (meat without its
// quarantine certificate cannot be accepted; a failed rapid test cannot be
// accepted) and names the field at fault, then queues `market.entry_check`; the
// next sync sends it and pulls back the market's checks with the purchase each
// links to. Today's list is read from the local store.
package cn.shian.shell.market

import cn.shian.core.CertificateInput
import cn.shian.core.EntryCheckInput
import cn.shian.core.EntryCheckRecord
import cn.shian.core.QuantityValue
import cn.shian.core.RapidTestInput
import cn.shian.core.ShianStore
import cn.shian.core.SyncReportRecord
import cn.shian.shell.common.StateHolder
import cn.shian.shell.common.UserError
import cn.shian.shell.common.attempt
import cn.shian.shell.common.userError

class EntryCheckViewModel(
    private val store: ShianStore,
    private val marketId: String,
) : StateHolder<EntryCheckViewModel.State>(State()) {

    data class State(
        /** Today's checks on this tablet, newest first (synced or waiting). */
        val today: List<EntryCheckRecord> = emptyList(),
        val lastSync: SyncReportRecord? = null,
        val error: UserError? = null,
    ) {
        val accepted: Int get() = today.count { it.decision == "accepted" }
        val refused: Int get() = today.count { it.decision == "refused" }
        /** Checks not yet acknowledged by the server. */
        val waiting: Int get() = today.count { !it.synced }
    }

    /** What the operator typed. Quantity as typed (`"120.5"` in [unit]). */
    data class CheckForm(
        val merchantId: String,
        val productName: String,
        val category: String,
        val quantity: String,
        val unit: String = "kg",
        /** (kind, number) of each certificate seen. */
        val certificates: List<Pair<String, String>> = emptyList(),
        /** (item, `pass`|`fail`, reading). */
        val rapidTest: Triple<String, String, String?>? = null,
        val refusedBecause: String? = null,
    )

    /** Reads today's checks from the local store (offline). */
    fun load() {
        val r = attempt { store.entryChecksToday() }
        r.onSuccess { list -> update { it.copy(today = list) } }
            .onFailure { update { s -> s.copy(error = r.userError) } }
    }

    /**
     * Records an accepted check (`refusedBecause` null) or a refusal with its reason.
     * Returns the check id, or null with the refusal (and its field) in `state.error`.
     */
    fun record(form: CheckForm): String? {
        val input = EntryCheckInput(
            checkId = null,
            marketId = marketId,
            merchantId = form.merchantId,
            productName = form.productName,
            category = form.category,
            quantity = QuantityValue(form.quantity.trim(), form.unit),
            certificatesSeen = form.certificates.map { (k, n) -> CertificateInput(k, n) },
            rapidTest = form.rapidTest?.let { (item, result, value) -> RapidTestInput(item, result, value) },
            decision = if (form.refusedBecause == null) "accepted" else "refused",
            reason = form.refusedBecause,
            at = null,
        )
        val r = attempt { store.recordEntryCheck(input) }
        r.onSuccess { update { it.copy(error = null) } }
            .onFailure { update { s -> s.copy(error = r.userError) } }
        load()
        return r.getOrNull()
    }

    /** Pushes the queued checks and pulls the market's (with their links). */
    fun sync(): Boolean {
        val r = attempt { store.syncNow() }
        r.onSuccess { rep -> update { it.copy(lastSync = rep, error = null) } }
            .onFailure { update { s -> s.copy(error = r.userError) } }
        load()
        return r.isSuccess
    }
}
