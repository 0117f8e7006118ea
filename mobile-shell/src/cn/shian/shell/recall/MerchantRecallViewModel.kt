// The merchant's recall screens (召回通知): the notices pulled at the last sync
// (a red card per recall, its deadline and the shop's batches in it), and the
// confirmation of what is still held, returned and destroyed of each batch.
// Confirming works offline: core checks the count against what the shop received
// (more is refused on the spot) and queues `recall.confirm` in the outbox; the
// next sync sends it and brings back the count the server counts.
package cn.shian.shell.recall

import cn.shian.core.QuantityValue
import cn.shian.core.RecallConfirmInput
import cn.shian.core.RecallNoticeRecord
import cn.shian.core.ShianStore
import cn.shian.core.SyncReportRecord
import cn.shian.shell.common.StateHolder
import cn.shian.shell.common.UserError
import cn.shian.shell.common.attempt
import cn.shian.shell.common.userError

class MerchantRecallViewModel(
    private val store: ShianStore,
    private val merchantId: String,
) : StateHolder<MerchantRecallViewModel.State>(State()) {

    data class State(
        val notices: List<RecallNoticeRecord> = emptyList(),
        /** Op ids of confirmations queued and not yet answered by the server. */
        val queued: List<String> = emptyList(),
        val lastSync: SyncReportRecord? = null,
        val error: UserError? = null,
    ) {
        /** Active recalls with a batch of this shop not confirmed yet. */
        val toConfirm: List<RecallNoticeRecord>
            get() = notices.filter { n -> n.status == "active" && n.batches.any { it.state == "pending" } }
    }

    /** Pushes what waits, pulls the notices. */
    fun sync(): Boolean {
        val r = attempt { store.syncNow() }
        r.onSuccess { rep -> update { it.copy(lastSync = rep, error = null) } }
            .onFailure { e -> update { it.copy(error = r.userError) } }
        load()
        return r.isSuccess
    }

    /** Reads the notices from the local store (offline). */
    fun load() {
        val r = attempt { store.recallNotices() to store.pendingOps(1000u) }
        r.onSuccess { (notices, pending) ->
            update { s ->
                s.copy(
                    notices = notices,
                    queued = pending.filter { it.kind == "recall.confirm" }.map { it.opId },
                )
            }
        }.onFailure { update { s -> s.copy(error = r.userError) } }
    }

    /**
     * Confirms one batch of a recall: quantities as typed (`"12.5"` in [unit]).
     * Returns whether it was queued; a refusal (e.g. `exceeds_received`) is in `state.error`.
     */
    fun confirm(recallId: String, traceCode: String, held: String, returned: String, destroyed: String, unit: String = "kg"): Boolean {
        val q = { v: String -> QuantityValue(v.trim().ifEmpty { "0" }, unit) }
        val r = attempt {
            store.confirmRecall(RecallConfirmInput(recallId, merchantId, traceCode, q(held), q(returned), q(destroyed), null, null))
        }
        r.onSuccess { id -> update { it.copy(queued = it.queued + id, error = null) } }
            .onFailure { update { s -> s.copy(error = r.userError) } }
        return r.isSuccess
    }
}
