// The whistleblower's report (吹哨人): anonymous by construction — the form has
// no name, phone or account field, and nothing about the device is sent. The
// report is validated on the phone (a shop code's check character offline
// included) and kept as a local draft until it is submitted to
// `POST /v1/reports`; the photos follow to `POST /v1/reports/{receipt}/photos`
// (the server strips their metadata). The receipt the server answers is the
// only key to the report: it is held in memory for the one screen that shows
// it, never written to the drafts file, and forgotten once the reporter says
// it is saved ([receiptSaved]). Without signal, or when the server refuses,
// the draft stays and the note says why.
package cn.shian.shell.whistleblower

import cn.shian.core.verifyCode
import cn.shian.shell.common.Json
import cn.shian.shell.common.ShianHttp
import cn.shian.shell.common.StateHolder
import cn.shian.shell.common.UserError
import cn.shian.shell.common.CHINA
import cn.shian.shell.common.attempt
import cn.shian.shell.common.str
import cn.shian.shell.common.userError
import java.io.File
import java.io.IOException
import java.time.LocalDate
import java.time.format.DateTimeParseException
import java.util.UUID

class WhistleblowerViewModel(
    private val http: ShianHttp?,
    /** Where drafts survive an app restart; null: memory only. */
    private val draftsFile: File? = null,
    private val today: () -> LocalDate = { LocalDate.now(CHINA) },
    /** The bytes of a photo kept on the phone, by its SHA-256; null: not found. */
    private val photoBytes: (String) -> ByteArray? = { null },
) : StateHolder<WhistleblowerViewModel.State>(State()) {

    enum class Category(val code: String, val zh: String) {
        EXPIRED("expired_food", "过期变质食品"),
        UNKNOWN_ORIGIN("unknown_origin", "来源不明/走私冻品"),
        HYGIENE("hygiene", "卫生条件差"),
        FALSE_LABEL("false_label", "标签虚假/篡改日期"),
        ILLEGAL_ADDITIVE("illegal_additive", "违法添加"),
        NO_LICENCE("no_licence", "无证经营"),
        OTHER("other", "其他"),
    }

    data class Draft(
        val id: String = UUID.randomUUID().toString(),
        val category: Category? = null,
        val description: String = "",
        /** The shop's code (from its QR), optional. */
        val shopCode: String? = null,
        /** Where, in words (market, stall number). */
        val place: String? = null,
        /** `YYYY-MM-DD`. */
        val occurredOn: String? = null,
        /** SHA-256 of photos kept on the phone. */
        val photos: List<String> = emptyList(),
    )

    data class State(
        val draft: Draft = Draft(),
        /** field -> message, from the last validation. */
        val fieldErrors: Map<String, String> = emptyMap(),
        val drafts: List<Draft> = emptyList(),
        /** The receipt code to follow the report up with; shown once. */
        val receipt: String? = null,
        /** Photos of the submitted report the server took. */
        val photosSent: Int = 0,
        val note: String? = null,
        val error: UserError? = null,
    )

    init {
        loadDrafts()
    }

    fun edit(change: (Draft) -> Draft) = update { it.copy(draft = change(it.draft), fieldErrors = emptyMap(), error = null) }

    /** Checks the draft on the phone; returns whether it may be sent. */
    fun validate(): Boolean {
        val d = state.draft
        val errors = linkedMapOf<String, String>()
        if (d.category == null) errors["category"] = "请选择问题类型"
        val len = d.description.trim().codePointCount(0, d.description.trim().length)
        if (len < 10) errors["description"] = "请至少用 10 个字描述问题"
        if (len > 2000) errors["description"] = "描述不能超过 2000 字"
        var shop = d.shopCode?.trim()?.ifEmpty { null }
        if (shop != null) {
            val r = attempt { verifyCode(shop!!) }
            if (r.isSuccess) shop = r.getOrNull() else errors["shop_code"] = r.userError?.text ?: "店铺码无效"
        }
        d.occurredOn?.trim()?.ifEmpty { null }?.let { s ->
            try {
                if (LocalDate.parse(s).isAfter(today())) errors["occurred_on"] = "日期不能晚于今天"
            } catch (e: DateTimeParseException) {
                errors["occurred_on"] = "日期格式应为 YYYY-MM-DD"
            }
        }
        if ((d.place?.length ?: 0) > 200) errors["place"] = "地点不能超过 200 字"
        val first = errors.entries.firstOrNull()
        update {
            it.copy(
                draft = if (shop != null) it.draft.copy(shopCode = shop) else it.draft,
                fieldErrors = errors,
                error = first?.let { (f, m) -> UserError.validation(f, "invalid_field", m) },
            )
        }
        return errors.isEmpty()
    }

    /** Keeps the draft on the phone (validated or not). */
    fun saveDraft() {
        update { s -> s.copy(drafts = s.drafts.filter { it.id != s.draft.id } + s.draft) }
        persist()
    }

    /**
     * Sends the report, then its photos. Without signal the draft is kept and
     * the note says why; a refusal names the field. Returns the receipt when
     * one was issued (also in [State.receipt] until [receiptSaved]).
     */
    fun submit(): String? {
        if (!validate()) return null
        saveDraft()
        val d = state.draft
        if (http == null) {
            update { it.copy(note = "离线：举报已保存为草稿 (offline: kept as a draft)") }
            return null
        }
        val body = linkedMapOf<String, Any?>(
            "category" to d.category?.code,
            "description" to d.description.trim(),
            "merchant_ref" to d.shopCode,
            "location" to d.place?.trim()?.ifEmpty { null },
            "occurred_at" to d.occurredOn?.trim()?.ifEmpty { null },
        )
        val res = try {
            http.postJson("/v1/reports", body)
        } catch (e: IOException) {
            update { it.copy(note = "无网络：举报已保存为草稿，稍后再发 (no signal: kept as a draft)") }
            return null
        }
        val receipt = if (res.ok) runCatching { Json.obj(res.text).str("receipt") }.getOrNull() else null
        if (receipt == null) {
            val field = runCatching { (Json.obj(res.text)["error"] as? Map<*, *>)?.get("field") as? String }.getOrNull()
            val message = runCatching { (Json.obj(res.text)["error"] as? Map<*, *>)?.get("message") as? String }.getOrNull()
            val note = when (res.status) {
                429 -> "提交过于频繁，请稍后再试：举报已保存为草稿 (rate limited)"
                else -> "提交失败 (HTTP ${res.status} ${res.errorCode ?: ""})：举报已保存为草稿"
            }
            update {
                it.copy(
                    note = note,
                    fieldErrors = if (field != null && message != null) mapOf(field to message) else emptyMap(),
                    error = UserError(UserError.Kind.VALIDATION, res.errorCode, field, message ?: res.text.take(200)),
                )
            }
            return null
        }
        // The report is filed: the draft goes, whatever happens to the photos.
        update { s -> s.copy(receipt = receipt, drafts = s.drafts.filter { it.id != d.id }, draft = Draft(), note = "已提交；请立即记下回执码，它只显示这一次 (keep the receipt code now: it is shown once)") }
        persist()
        var sent = 0
        for (hash in d.photos) {
            val bytes = photoBytes(hash) ?: continue
            val r = try {
                http.request("POST", "/v1/reports/${receipt.replace("-", "")}/photos", bytes, "application/octet-stream")
            } catch (e: IOException) {
                null
            }
            if (r?.ok == true) sent++
        }
        if (sent < d.photos.size) {
            update { it.copy(note = "已提交；${d.photos.size - sent} 张照片未能上传，可凭回执码在网页补充 (some photos were not sent)") }
        }
        update { it.copy(photosSent = sent) }
        return receipt
    }

    /** The reporter has saved the receipt: it leaves the screen and memory. */
    fun receiptSaved() = update { it.copy(receipt = null) }

    private fun persist() {
        val f = draftsFile ?: return
        val list = state.drafts.map {
            mapOf(
                "id" to it.id, "category" to it.category?.name, "description" to it.description, "shop_code" to it.shopCode,
                "place" to it.place, "occurred_on" to it.occurredOn, "photos" to it.photos,
            )
        }
        f.parentFile?.mkdirs()
        val tmp = File(f.path + ".tmp")
        tmp.writeText(Json.write(list))
        if (!tmp.renameTo(f)) { f.delete(); tmp.renameTo(f) }
    }

    @Suppress("UNCHECKED_CAST")
    private fun loadDrafts() {
        val f = draftsFile ?: return
        if (!f.exists()) return
        val list = runCatching { Json.parse(f.readText()) as List<Map<String, Any?>> }.getOrNull() ?: return
        val drafts = list.map { o ->
            Draft(
                id = o.str("id") ?: UUID.randomUUID().toString(),
                category = o.str("category")?.let { c -> Category.values().firstOrNull { it.name == c } },
                description = o.str("description") ?: "",
                shopCode = o.str("shop_code"),
                place = o.str("place"),
                occurredOn = o.str("occurred_on"),
                photos = (o["photos"] as? List<Any?>)?.filterIsInstance<String>() ?: emptyList(),
            )
        }
        update { it.copy(drafts = drafts) }
    }
}
