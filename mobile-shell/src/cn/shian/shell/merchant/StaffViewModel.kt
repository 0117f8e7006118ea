// The merchant's staff register (从业人员健康证): each food-handling worker with
// the health certificate's number and dates, and whether it is valid, expiring
// within 30 days or expired (core's rule: valid through the expiry day, Beijing
// time). Recording and removing work offline: core checks the record on the
// spot (an expiry before the issue date is refused with its field) and queues
// `staff.upsert` / `staff.remove`; the register shows the change at once and
// the next sync sends it. The public shop page shows only the surname's
// initial (`publicName`), the role and the validity.
package cn.shian.shell.merchant

import cn.shian.core.ShianStore
import cn.shian.core.SyncReportRecord
import cn.shian.core.WorkerInput
import cn.shian.core.WorkerRecord
import cn.shian.core.newId
import cn.shian.shell.common.StateHolder
import cn.shian.shell.common.UserError
import cn.shian.shell.common.attempt
import cn.shian.shell.common.userError

class StaffViewModel(
    private val store: ShianStore,
    private val merchantId: String,
) : StateHolder<StaffViewModel.State>(State()) {

    data class State(
        val workers: List<WorkerRecord> = emptyList(),
        /** Op ids of staff changes queued and not yet answered by the server. */
        val queued: List<String> = emptyList(),
        val lastSync: SyncReportRecord? = null,
        val error: UserError? = null,
    ) {
        /** Workers whose certificate is expired or missing: not to handle food. */
        val notAllowed: List<WorkerRecord> get() = workers.filter { it.status == "expired" || it.status == "missing" }
        val expiring: List<WorkerRecord> get() = workers.filter { it.status == "expiring" }
    }

    /** A worker as typed on the form (dates YYYY-MM-DD; blank is none). */
    data class WorkerForm(
        val name: String,
        val role: String = "从业人员",
        val certificateNo: String = "",
        val issuedOn: String = "",
        val expiresOn: String = "",
        val photo: String? = null,
        /** The worker edited; `null` adds one. */
        val staffId: String? = null,
    )

    /** Reads the register from the local store (offline). */
    fun load() {
        val r = attempt { store.staffRoster(merchantId) to store.pendingOps(1000u) }
        r.onSuccess { (workers, pending) ->
            update { s ->
                s.copy(
                    workers = workers,
                    queued = pending.filter { it.kind == "staff.upsert" || it.kind == "staff.remove" }.map { it.opId },
                )
            }
        }.onFailure { update { s -> s.copy(error = r.userError) } }
    }

    /** Pushes what waits, pulls the register back. */
    fun sync(): Boolean {
        val r = attempt { store.syncNow() }
        r.onSuccess { rep -> update { it.copy(lastSync = rep, error = null) } }
            .onFailure { update { s -> s.copy(error = r.userError) } }
        load()
        return r.isSuccess
    }

    /** Records a worker offline; returns its staff id, or null (the refusal in `state.error`). */
    fun save(form: WorkerForm): String? {
        val blank = { v: String -> v.trim().ifEmpty { null } }
        val staffId = form.staffId ?: newId()
        val r = attempt {
            store.recordWorker(
                WorkerInput(
                    staffId, merchantId, form.name, form.role,
                    blank(form.certificateNo), blank(form.issuedOn), blank(form.expiresOn), form.photo, null,
                ),
            )
        }
        r.onSuccess { update { it.copy(error = null) } }.onFailure { update { s -> s.copy(error = r.userError) } }
        load()
        return if (r.isSuccess) staffId else null
    }

    /** Removes a worker (left the shop) offline. */
    fun remove(staffId: String): Boolean {
        val r = attempt { store.removeWorker(merchantId, staffId, null) }
        r.onSuccess { update { it.copy(error = null) } }.onFailure { update { s -> s.copy(error = r.userError) } }
        load()
        return r.isSuccess
    }
}
