// The operator's hold screen on the market's tablet (暂扣): the holds of the
// market as last pulled, placing a hold on a merchant's batch and releasing one,
// both offline (core checks the fields and queues `market.hold` /
// `market.hold_release`; the next sync sends them and brings back the changes).
// A refusal by the server (another market's merchant, a batch the merchant does
// not hold, a batch already held) comes back among the parked ops with its reason.
package cn.shian.shell.market

import cn.shian.core.HoldInput
import cn.shian.core.HoldRecord
import cn.shian.core.ParkedOpRecord
import cn.shian.core.ShianStore
import cn.shian.core.SyncReportRecord
import cn.shian.shell.common.StateHolder
import cn.shian.shell.common.UserError
import cn.shian.shell.common.attempt
import cn.shian.shell.common.userError

class HoldViewModel(
    private val store: ShianStore,
    private val marketId: String,
) : StateHolder<HoldViewModel.State>(State()) {

    data class State(
        /** The market's holds as pulled, newest first (each as it stands now). */
        val holds: List<HoldRecord> = emptyList(),
        /** Hold ops the server refused, with the reason. */
        val refused: List<ParkedOpRecord> = emptyList(),
        val lastSync: SyncReportRecord? = null,
        val error: UserError? = null,
    ) {
        val inForce: List<HoldRecord> get() = holds.filter { it.status == "active" }
    }

    /** Pushes what waits, pulls the market's holds. */
    fun sync(): Boolean {
        val r = attempt { store.syncNow() }
        r.onSuccess { rep -> update { it.copy(lastSync = rep, error = null) } }
            .onFailure { update { s -> s.copy(error = r.userError) } }
        load()
        return r.isSuccess
    }

    /** Reads the holds from the local store (offline). */
    fun load() {
        val r = attempt { store.holds() to store.parkedOps() }
        r.onSuccess { (holds, parked) ->
            update { s ->
                s.copy(
                    holds = holds.filter { it.marketId == marketId },
                    refused = parked.filter { it.kind.startsWith("market.hold") },
                )
            }
        }.onFailure { update { s -> s.copy(error = r.userError) } }
    }

    /**
     * Holds a merchant's batch (reason `unknown_origin`, `rapid_test_failed`, `recall`
     * or `other`). Returns the hold id, or null with the refusal in `state.error`.
     */
    fun place(merchantId: String, traceCode: String, reason: String, note: String? = null): String? {
        val r = attempt { store.placeHold(HoldInput(null, marketId, merchantId, traceCode.trim(), reason, note?.trim()?.ifEmpty { null }, null)) }
        r.onSuccess { update { s -> s.copy(error = null) } }
            .onFailure { update { s -> s.copy(error = r.userError) } }
        return r.getOrNull()
    }

    /** Releases a hold; the reason is required. */
    fun release(holdId: String, note: String): Boolean {
        val r = attempt { store.releaseHold(holdId, note) }
        r.onSuccess { update { s -> s.copy(error = null) } }
            .onFailure { update { s -> s.copy(error = r.userError) } }
        return r.isSuccess
    }
}
