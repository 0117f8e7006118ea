// A tiny HTTP client over HttpURLConnection (present on the JVM and on Android,
// unlike java.net.http) for the few calls the shell makes itself: the consumer's
// public lookups, the whistleblower's report, photo uploads. Ledger and
// inspection data go through the core's sync, never through here.
package cn.shian.shell.common

import java.io.IOException
import java.net.HttpURLConnection
import java.net.URL

data class HttpResult(val status: Int, val body: ByteArray, val contentType: String?) {
    val text: String get() = body.toString(Charsets.UTF_8)
    val ok: Boolean get() = status in 200..299

    /** The parsed JSON body, or null if it is not JSON. */
    fun json(): Any? = runCatching { Json.parse(text) }.getOrNull()

    /** The `{"error":{"code"}}` of an error answer. */
    @Suppress("UNCHECKED_CAST")
    val errorCode: String? get() = ((json() as? Map<String, Any?>)?.get("error") as? Map<String, Any?>)?.get("code") as? String
}

class ShianHttp(baseUrl: String, private val timeoutMs: Int = 10_000) {
    val baseUrl: String = baseUrl.trimEnd('/')

    /** Sends a request; an unreachable server is an [IOException]. */
    fun request(
        method: String,
        path: String,
        body: ByteArray? = null,
        contentType: String? = null,
        token: String? = null,
    ): HttpResult {
        val c = URL(baseUrl + path).openConnection() as HttpURLConnection
        try {
            c.requestMethod = method
            c.connectTimeout = timeoutMs
            c.readTimeout = timeoutMs
            c.setRequestProperty("Accept", "application/json")
            if (token != null) c.setRequestProperty("Authorization", "Bearer $token")
            if (body != null) {
                c.doOutput = true
                c.setRequestProperty("Content-Type", contentType ?: "application/json")
                c.setFixedLengthStreamingMode(body.size)
                c.outputStream.use { it.write(body) }
            }
            val status = c.responseCode
            val stream = if (status >= 400) c.errorStream else c.inputStream
            val bytes = stream?.use { it.readBytes() } ?: ByteArray(0)
            return HttpResult(status, bytes, c.contentType)
        } finally {
            c.disconnect()
        }
    }

    fun postJson(path: String, value: Any?, token: String? = null): HttpResult =
        request("POST", path, Json.write(value).toByteArray(), "application/json", token)

    fun get(path: String, token: String? = null): HttpResult = request("GET", path, token = token)

    /** `POST /v1/auth/login`. */
    fun login(username: String, password: String): Login {
        val r = postJson("/v1/auth/login", mapOf("username" to username, "password" to password))
        if (!r.ok) throw IOException("login of $username failed: HTTP ${r.status} ${r.text}")
        val o = Json.obj(r.text)
        val scope = o.obj("scope") ?: emptyMap()
        return Login(
            token = o.str("token") ?: throw IOException("login: no token"),
            role = o.str("role") ?: "",
            subjectId = o.str("subject_id") ?: "",
            merchantId = scope.str("merchant_id"),
            regions = scope.strings("regions"),
        )
    }
}

/** Who logged in: the merchant id of a merchant, the regions of an inspector. */
data class Login(val token: String, val role: String, val subjectId: String, val merchantId: String?, val regions: List<String>)
