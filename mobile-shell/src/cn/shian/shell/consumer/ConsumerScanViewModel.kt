// The consumer's scan (一店一码 / 一品一码): a shop QR (`…/s/{shop_code}`), a
// product QR (`…/t/{trace_code}`) or a bare code. The check character is
// verified offline first, so a damaged or forged-looking code is caught with no
// signal; then the public JSON (`GET /v1/public/shops/{code}`,
// `GET /v1/public/trace/{code}`) is fetched if the server offers it. Where it
// does not (those endpoints are not on the server yet), or there is no signal,
// the screen shows the verified code only and says why.
//
// A signed shop code (`…/s/{shop_code}?sig=…`) is also checked against the
// server's trust list (`/.well-known/shian-keys.json`, fetched once, or the
// list the app passes in): genuine, forged, expired, revoked or unknown key,
// verified in core with no further network (`verifyCodeWithTrustList`).
package cn.shian.shell.consumer

import cn.shian.core.CodeOutcome
import cn.shian.core.verifyCode
import cn.shian.core.verifyCodeWithTrustList
import cn.shian.shell.common.HttpResult
import cn.shian.shell.common.Json
import cn.shian.shell.common.ShianHttp
import cn.shian.shell.common.StateHolder
import cn.shian.shell.common.UserError
import cn.shian.shell.common.attempt
import cn.shian.shell.common.userError
import java.io.IOException

class ConsumerScanViewModel(
    /** The public server; null: offline-only verification. */
    private val http: ShianHttp?,
    /** The trust list JSON; null: fetched from `http` on the first signed scan. */
    private var trustListJson: String? = null,
) : StateHolder<ConsumerScanViewModel.State>(State()) {

    enum class Kind { SHOP, TRACE, CODE }

    data class State(
        val raw: String? = null,
        val kind: Kind? = null,
        /** The canonical code, once its check character is verified. */
        val code: String? = null,
        val verified: Boolean = false,
        /** The public JSON for the code, when the server answered it. */
        val info: Map<String, Any?>? = null,
        /** Why only the verified code is shown (no signal, no public page). */
        val note: String? = null,
        val error: UserError? = null,
        /** A signed shop code's verdict; null when unsigned or no trust list. */
        val signature: CodeOutcome? = null,
        /** What the screen says about the signature. */
        val signatureDetail: String? = null,
    )

    /** Handles one scan. Returns whether the code verified. */
    fun scan(raw: String): Boolean {
        val (kind, candidate) = classify(raw.trim())
        val r = attempt { verifyCode(candidate) }
        val code = r.getOrNull()
        if (code == null) {
            val e = r.userError ?: UserError.validation("code", "invalid_code", "无法识别的码")
            update { State(raw = raw, kind = kind, error = e.copy(text = "此码无效或已损坏：${e.text}")) }
            return false
        }
        update { State(raw = raw, kind = kind, code = code, verified = true, note = if (http == null) "离线：仅校验了码的校验位 (offline: check character verified)" else null) }
        if (kind == Kind.SHOP && raw.contains("sig=")) checkSignature(raw.trim())
        if (http != null) lookup(kind, code)
        return true
    }

    private fun checkSignature(url: String) {
        val list = trustListJson ?: http?.let { h ->
            runCatching { h.get("/.well-known/shian-keys.json") }.getOrNull()?.takeIf { it.ok }?.text
        }?.also { trustListJson = it }
        if (list == null) {
            update { it.copy(signatureDetail = "未能取得信任列表，未验证签名 (no trust list: signature not checked)") }
            return
        }
        val r = attempt { verifyCodeWithTrustList(list, url) }
        val checked = r.getOrNull()
        update {
            if (checked == null) it.copy(signatureDetail = r.userError?.text)
            else it.copy(signature = checked.outcome, signatureDetail = checked.detail)
        }
    }

    private fun lookup(kind: Kind, code: String) {
        val paths = when (kind) {
            Kind.SHOP -> listOf("/v1/public/shops/$code")
            Kind.TRACE -> listOf("/v1/public/trace/$code")
            Kind.CODE -> listOf("/v1/public/trace/$code", "/v1/public/shops/$code")
        }
        var last: HttpResult? = null
        for (p in paths) {
            val res = try {
                http!!.get(p)
            } catch (e: IOException) {
                update { it.copy(note = "无网络：仅校验了码的校验位 (no signal: check character verified only)") }
                return
            }
            if (res.ok) {
                @Suppress("UNCHECKED_CAST")
                val info = runCatching { Json.parse(res.text) as? Map<String, Any?> }.getOrNull()
                update { it.copy(info = info, kind = if (kind == Kind.CODE) (if (p.contains("/shops/")) Kind.SHOP else Kind.TRACE) else kind, note = null) }
                return
            }
            last = res
        }
        val why = when (last?.status) {
            404 -> "服务器暂无该码的公开信息 (HTTP 404${last.errorCode?.let { ": $it" } ?: ""}); 已离线校验"
            else -> "公开信息暂不可用 (HTTP ${last?.status}); 已离线校验"
        }
        update { it.copy(note = why) }
    }

    companion object {
        /** Splits a scanned text into what it points at and the code in it. */
        fun classify(text: String): Pair<Kind, String> {
            val path = text.substringAfter("://", text).substringAfter('/', "").substringBefore('?').substringBefore('#')
            val parts = path.split('/').filter { it.isNotEmpty() }
            return when {
                parts.size >= 2 && parts[parts.size - 2] == "s" -> Kind.SHOP to parts.last()
                parts.size >= 2 && parts[parts.size - 2] == "t" -> Kind.TRACE to parts.last()
                else -> Kind.CODE to text
            }
        }
    }
}
