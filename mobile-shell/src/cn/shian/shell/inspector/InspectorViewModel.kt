// The field inspector's screens (监管人员): download the district (merchants,
// tasks, checklists) while in signal, inspect offline with the checklist, see
// the result computed on the spot by core's rules (自动评定) as answers come in,
// submit (the record goes to the outbox), upload photos and sync when back in
// signal.
package cn.shian.shell.inspector

import cn.shian.core.AnswerInput
import cn.shian.core.ChecklistRecord
import cn.shian.core.DirectoryEntry
import cn.shian.core.InspectionInput
import cn.shian.core.InspectionOutcome
import cn.shian.core.PrintInfo
import cn.shian.core.ShianStore
import cn.shian.core.SyncReportRecord
import cn.shian.core.SyncStatusRecord
import cn.shian.shell.common.Json
import cn.shian.shell.common.StateHolder
import cn.shian.shell.common.UserError
import cn.shian.shell.common.attempt
import cn.shian.shell.common.nowRfc3339
import cn.shian.shell.common.str
import cn.shian.shell.common.strings
import cn.shian.shell.common.userError
import java.security.MessageDigest

/** Uploads a photo (content-addressed by its SHA-256) to the server. */
fun interface PhotoUploader {
    fun upload(sha256: String, bytes: ByteArray, contentType: String)
}

class InspectorViewModel(
    private val store: ShianStore,
    private val defaultTemplate: String = "food_sales_daily",
) : StateHolder<InspectorViewModel.State>(State()) {

    /** A drawn inspection assigned to this inspector (from the `task` feed). */
    data class Task(
        val taskId: String,
        val merchantId: String,
        val merchantName: String,
        val grade: String?,
        val inspectors: List<String>,
        val drawName: String?,
    )

    /** The inspection being filled in. */
    data class Current(
        val merchantId: String,
        val merchantName: String,
        val inspectors: List<String>,
        val checklist: ChecklistRecord,
        val startedAt: String,
        val answers: Map<String, AnswerInput> = emptyMap(),
        /** The result of the answers so far, once every item is answered. */
        val live: InspectionOutcome? = null,
        /** Why the answers cannot be evaluated yet (e.g. a number item without its value). */
        val liveError: UserError? = null,
    ) {
        val answered: Int get() = answers.size
        val total: Int get() = checklist.items.size
        val complete: Boolean get() = answered == total
    }

    data class State(
        val tasks: List<Task> = emptyList(),
        val district: List<DirectoryEntry> = emptyList(),
        val current: Current? = null,
        val submitted: List<InspectionOutcome> = emptyList(),
        /** Photos taken and not uploaded yet, by SHA-256. */
        val pendingPhotos: Set<String> = emptySet(),
        val sync: SyncStatusRecord? = null,
        val lastSync: SyncReportRecord? = null,
        val error: UserError? = null,
    )

    private val photoBytes = java.util.concurrent.ConcurrentHashMap<String, Pair<ByteArray, String>>()

    /** Downloads the district (merchants, tasks, checklists) and pushes what waits. */
    fun download(): Boolean = sync()

    fun sync(): Boolean {
        val r = attempt { store.syncNow() }
        r.onSuccess { rep -> update { it.copy(lastSync = rep, error = null) } }.onFailure { fail(r.userError) }
        loadLocal()
        return r.isSuccess
    }

    /** Reads tasks, district and sync state from the store (offline). */
    fun loadLocal() {
        val r = attempt { Triple(store.inbox("task"), store.directory(), store.syncStatus()) }
        r.onSuccess { (tasks, district, sync) ->
            update { it.copy(tasks = tasks.mapNotNull(::parseTask), district = district, sync = sync) }
        }.onFailure { fail(r.userError) }
    }

    /** Starts the inspection of a task with the latest version of its checklist. */
    fun start(task: Task, templateId: String = defaultTemplate): Boolean =
        startFor(task.merchantId, task.merchantName, task.inspectors, templateId)

    /**
     * Starts an inspection of a merchant (at least two inspectors, by user id).
     * When the merchant keeps a staff register (as last pulled), the
     * checklist's health-certificate item (《食品安全法》第四十五条) comes
     * pre-filled from it: failed, with the expired or missing certificates
     * named, when any is. Without a register on the phone the inspector
     * checks the certificates on the spot. Either way it is an answer the
     * inspector may change.
     */
    fun startFor(merchantId: String, merchantName: String, inspectors: List<String>, templateId: String = defaultTemplate): Boolean {
        val r = attempt {
            val cl = store.checklist(templateId, null)
            val health = if (store.staffRoster(merchantId).isEmpty()) null else store.healthItemPrefill(merchantId, cl.id, cl.version)
            cl to health
        }
        r.onSuccess { (cl, health) ->
            val answers = health?.let { mapOf(it.itemId to it) } ?: emptyMap()
            update { it.copy(current = Current(merchantId, merchantName, inspectors, cl, nowRfc3339(), answers), error = null) }
        }.onFailure { fail(r.userError) }
        return r.isSuccess
    }

    /** Answers one item; the live result is recomputed once every item has an answer. */
    fun answer(itemId: String, compliant: Boolean, value: Double? = null, note: String? = null, notApplicable: Boolean = false) {
        val cur = state.current ?: return fail(UserError.validation("item_id", "no_inspection", "请先开始检查"))
        val photos = cur.answers[itemId]?.photos ?: emptyList()
        setAnswer(AnswerInput(itemId, compliant, notApplicable, note?.ifBlank { null }, value, photos))
    }

    /** Attaches a photo to an item; it is uploaded with [uploadPhotos]. Returns its SHA-256. */
    fun attachPhoto(itemId: String, bytes: ByteArray, contentType: String = "image/jpeg"): String {
        val sha = sha256Hex(bytes)
        photoBytes[sha] = bytes to contentType
        val cur = state.current
        val old = cur?.answers?.get(itemId) ?: AnswerInput(itemId, true, false, null, null, emptyList())
        update { it.copy(pendingPhotos = it.pendingPhotos + sha) }
        setAnswer(old.copy(photos = (old.photos + sha).distinct()))
        return sha
    }

    private fun setAnswer(a: AnswerInput) {
        val cur = state.current ?: return
        val next = evaluate(cur.copy(answers = cur.answers + (a.itemId to a)))
        update { it.copy(current = next) }
    }

    private fun evaluate(cur: Current): Current {
        if (!cur.complete) return cur.copy(live = null, liveError = null)
        val ordered = cur.checklist.items.mapNotNull { cur.answers[it.id] }
        val r = attempt { store.evaluateAnswers(cur.checklist.id, cur.checklist.version, ordered, nowRfc3339()) }
        return cur.copy(live = r.getOrNull(), liveError = r.userError)
    }

    /** Checks the record as the server will and puts it in the outbox. */
    fun submit(): InspectionOutcome? {
        val cur = state.current ?: return null.also { fail(UserError.validation("inspection", "no_inspection", "请先开始检查")) }
        val live = cur.live ?: return null.also {
            fail(cur.liveError ?: UserError.validation("answers", "missing_answer", "还有 ${cur.total - cur.answered} 项未检查"))
        }
        val r = attempt { store.recordInspection(input(cur, live.result, nowRfc3339())) }
        r.onSuccess { out -> update { it.copy(current = null, submitted = it.submitted + out, error = null) } }
            .onFailure { fail(r.userError) }
        loadLocal()
        return r.getOrNull()
    }

    /** The printable record of the current inspection (HTML). */
    fun printPreview(info: PrintInfo): String? {
        val cur = state.current ?: return null
        val live = cur.live ?: return null
        val r = attempt { store.renderInspectionRecordHtml(input(cur, live.result, nowRfc3339()), info) }
        r.onFailure { fail(r.userError) }
        return r.getOrNull()
    }

    /** Uploads the photos taken so far; those that fail stay pending. Returns how many went up. */
    fun uploadPhotos(uploader: PhotoUploader): Int {
        var done = 0
        for (sha in state.pendingPhotos) {
            val (bytes, type) = photoBytes[sha] ?: continue
            val ok = runCatching { uploader.upload(sha, bytes, type) }
            if (ok.isSuccess) {
                done++
                photoBytes.remove(sha)
                update { it.copy(pendingPhotos = it.pendingPhotos - sha) }
            } else {
                fail(UserError.network("照片上传失败，稍后重试 (${ok.exceptionOrNull()?.message})"))
            }
        }
        return done
    }

    private fun input(cur: Current, result: String, finishedAt: String) = InspectionInput(
        inspectionId = null,
        merchantId = cur.merchantId,
        templateId = cur.checklist.id,
        templateVersion = cur.checklist.version,
        inspectors = cur.inspectors,
        answers = cur.checklist.items.mapNotNull { cur.answers[it.id] },
        result = result,
        startedAt = cur.startedAt,
        finishedAt = finishedAt,
        lat = null,
        lng = null,
    )

    private fun parseTask(json: String): Task? = runCatching {
        val o = Json.obj(json)
        Task(
            taskId = o.str("task_id")!!,
            merchantId = o.str("merchant_id")!!,
            merchantName = o.str("merchant_name") ?: o.str("merchant_id")!!,
            grade = o.str("grade"),
            inspectors = o.strings("inspectors"),
            drawName = o.str("draw_name"),
        )
    }.getOrNull()

    private fun fail(e: UserError?) {
        if (e != null) update { it.copy(error = e) }
    }

    companion object {
        fun sha256Hex(bytes: ByteArray): String =
            MessageDigest.getInstance("SHA-256").digest(bytes).joinToString("") { "%02x".format(it) }
    }
}

/** Uploads photos with `PUT /v1/attachments/{sha256}` and the inspector's token. */
class HttpPhotoUploader(
    private val http: cn.shian.shell.common.ShianHttp,
    private val username: String,
    private val password: String,
) : PhotoUploader {
    private var token: String? = null

    override fun upload(sha256: String, bytes: ByteArray, contentType: String) {
        val t = token ?: http.login(username, password).token.also { token = it }
        val res = http.request("PUT", "/v1/attachments/$sha256", bytes, contentType, t)
        if (!res.ok) throw java.io.IOException("upload $sha256: HTTP ${res.status} ${res.errorCode ?: ""}")
    }
}
