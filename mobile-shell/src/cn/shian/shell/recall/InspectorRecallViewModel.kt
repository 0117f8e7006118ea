// The inspector's recall screen (召回督办): for the district's active recalls,
// which holders have not confirmed, overdue ones first, from the
// `recall.progress` the district's phones pull.
package cn.shian.shell.recall

import cn.shian.core.RecallNoticeRecord
import cn.shian.core.RecallPendingRecord
import cn.shian.core.ShianStore
import cn.shian.shell.common.StateHolder
import cn.shian.shell.common.UserError
import cn.shian.shell.common.attempt
import cn.shian.shell.common.userError

class InspectorRecallViewModel(
    private val store: ShianStore,
) : StateHolder<InspectorRecallViewModel.State>(State()) {

    data class State(
        val recalls: List<RecallNoticeRecord> = emptyList(),
        /** Holders that have not confirmed, overdue first. */
        val notConfirmed: List<RecallPendingRecord> = emptyList(),
        val error: UserError? = null,
    )

    fun sync(): Boolean {
        val r = attempt { store.syncNow() }
        r.onFailure { update { s -> s.copy(error = r.userError) } }
        load()
        return r.isSuccess
    }

    /** Reads the district's recalls from the local store (offline). */
    fun load() {
        val r = attempt { store.recallProgress() to store.recallPendingHolders() }
        r.onSuccess { (recalls, pending) ->
            update { it.copy(recalls = recalls, notConfirmed = pending.sortedByDescending { p -> p.overdue }, error = null) }
        }.onFailure { update { s -> s.copy(error = r.userError) } }
    }
}
