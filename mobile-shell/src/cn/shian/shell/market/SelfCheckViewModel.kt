// The food-safety officer's self-inspection screens on the market's tablet
// (日管控、周排查、月调度): the templates the tablet knows (built in and synced),
// a check answered item by item and evaluated offline by core (the server
// re-runs the same rules), a finding with its follow-up date for each failed
// item, and the market's open and overdue follow-ups with a way to close one.
// Recording and closing work offline: both are queued in the outbox and sent
// by the next sync, which also brings the other tablets' checks and closings.
package cn.shian.shell.market

import cn.shian.core.AnswerInput
import cn.shian.core.FollowUpRecord
import cn.shian.core.SelfCheckFindingInput
import cn.shian.core.SelfCheckInput
import cn.shian.core.SelfCheckOutcome
import cn.shian.core.SelfCheckTemplateRecord
import cn.shian.core.ShianStore
import cn.shian.core.SyncReportRecord
import cn.shian.shell.common.StateHolder
import cn.shian.shell.common.UserError
import cn.shian.shell.common.attempt
import cn.shian.shell.common.userError

class SelfCheckViewModel(
    private val store: ShianStore,
    private val marketId: String,
) : StateHolder<SelfCheckViewModel.State>(State()) {

    data class State(
        val templates: List<SelfCheckTemplateRecord> = emptyList(),
        /** The market's follow-ups as synced, overdue first. */
        val followUps: List<FollowUpRecord> = emptyList(),
        /** Op ids of checks and closings queued and not yet sent. */
        val queued: List<String> = emptyList(),
        val lastCheck: SelfCheckOutcome? = null,
        val lastSync: SyncReportRecord? = null,
        val error: UserError? = null,
    ) {
        val open: List<FollowUpRecord> get() = followUps.filter { it.status != "closed" }
        val overdue: List<FollowUpRecord> get() = followUps.filter { it.status == "overdue" }

        /** The latest template of a cadence (`daily`, `weekly`, `monthly`). */
        fun template(cadence: String): SelfCheckTemplateRecord? =
            templates.filter { it.cadence == cadence }.maxByOrNull { it.template.version }
    }

    private val kinds = setOf("market.self_check", "market.follow_up_closed")

    /** Reads templates, follow-ups and the queue from the local store (offline). */
    fun load() {
        val r = attempt { Triple(store.selfCheckTemplates(), store.selfCheckFollowUps(), store.pendingOps(1000u)) }
        r.onSuccess { (templates, followUps, pending) ->
            update { s ->
                s.copy(
                    templates = templates,
                    followUps = followUps,
                    queued = pending.filter { it.kind in kinds }.map { it.opId },
                )
            }
        }.onFailure { update { s -> s.copy(error = r.userError) } }
    }

    /** Pushes what waits, pulls the market's checks and closings. */
    fun sync(): Boolean {
        val r = attempt { store.syncNow() }
        r.onSuccess { rep -> update { it.copy(lastSync = rep, error = null) } }
            .onFailure { update { s -> s.copy(error = r.userError) } }
        load()
        return r.isSuccess
    }

    /** Every item of a template answered 是 (numbers at their limit, a photo where one is asked): the form's start. */
    fun allPassing(t: SelfCheckTemplateRecord, photo: String): List<AnswerInput> =
        t.template.items.map { i ->
            when (i.answerType) {
                "number" -> AnswerInput(i.id, true, false, null, i.min ?: i.max ?: 0.0, emptyList())
                "photo" -> AnswerInput(i.id, true, false, null, null, listOf(photo))
                else -> AnswerInput(i.id, true, false, null, null, emptyList())
            }
        }

    /**
     * Evaluates and queues a check of [cadence] done now, for the period it falls in.
     * Returns whether it was queued; a refusal (e.g. `finding_missing`) is in `state.error`.
     */
    fun record(cadence: String, answers: List<AnswerInput>, findings: List<SelfCheckFindingInput>): Boolean {
        val t = state.template(cadence)
        if (t == null) {
            update { it.copy(error = UserError(UserError.Kind.VALIDATION, "unknown_template", "cadence", "没有该周期的自查模板")) }
            return false
        }
        val r = attempt {
            store.recordSelfCheck(SelfCheckInput(null, marketId, t.template.id, t.template.version, null, answers, findings, null))
        }
        r.onSuccess { out -> update { it.copy(lastCheck = out, queued = it.queued + out.checkId, error = null) } }
            .onFailure { update { s -> s.copy(error = r.userError) } }
        return r.isSuccess
    }

    /** Closes a follow-up offline with what was done; queued for the next sync. */
    fun close(findingId: String, note: String, photos: List<String> = emptyList()): Boolean {
        val r = attempt { store.closeFollowUp(findingId, note, photos, null) }
        r.onSuccess { id -> update { it.copy(queued = it.queued + id, error = null) } }
            .onFailure { update { s -> s.copy(error = r.userError) } }
        return r.isSuccess
    }
}
