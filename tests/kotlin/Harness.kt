// A real shian-server on loopback for the Kotlin tests: started from
// $SHIAN_SERVER_BIN (built by scripts/test-kotlin.sh) on a free port with a
// database in a temporary folder; users by the admin CLI, markets and merchants
// over HTTP (java.net.http).
package cn.shian.tests

import cn.shian.shell.common.Json
import java.io.File
import java.net.ServerSocket
import java.net.URI
import java.net.http.HttpClient
import java.net.http.HttpRequest
import java.net.http.HttpResponse
import java.nio.file.Files
import java.time.Duration
import java.util.concurrent.TimeUnit
import kotlin.random.Random

class TestServer private constructor(val dir: File) : AutoCloseable {
    val db = File(dir, "server.db").path
    val port = ServerSocket(0).use { it.localPort }
    val url = "http://127.0.0.1:$port"
    private var proc: Process? = null
    private val http = HttpClient.newBuilder().connectTimeout(Duration.ofSeconds(5)).build()
    private var adminToken: String? = null

    companion object {
        val bin: String get() = System.getenv("SHIAN_SERVER_BIN") ?: fail("SHIAN_SERVER_BIN is not set")

        fun start(): TestServer {
            val s = TestServer(Files.createTempDirectory("shian-kt-").toFile())
            s.createUser("admin", "admin-pass-1", "admin")
            val log = File(s.dir, "server.log")
            val pb = ProcessBuilder(bin, "serve", "--db", s.db, "--addr", "127.0.0.1:${s.port}")
                .redirectErrorStream(true)
                .redirectOutput(log)
            pb.environment()["SHIAN_LOG"] = System.getenv("SHIAN_LOG") ?: "warn"
            s.proc = pb.start()
            val deadline = System.nanoTime() + 30_000_000_000L
            while (true) {
                val up = runCatching { s.request("GET", "/healthz").first == 200 }.getOrDefault(false)
                if (up) break
                if (!s.proc!!.isAlive || System.nanoTime() > deadline) {
                    s.close()
                    fail("shian-server did not start: ${log.takeIf { it.exists() }?.readText()?.takeLast(2000)}")
                }
                Thread.sleep(50)
            }
            return s
        }
    }

    override fun close() {
        proc?.let { p ->
            p.destroy()
            if (!p.waitFor(10, TimeUnit.SECONDS)) p.destroyForcibly().waitFor()
        }
        dir.deleteRecursively()
    }

    /** `shian-server admin create-user`; returns the user id. */
    fun createUser(username: String, password: String, role: String, merchantId: String? = null, region: String? = null): String {
        val cmd = mutableListOf(bin, "admin", "create-user", "--db", db, "--username", username, "--password", password, "--role", role)
        merchantId?.let { cmd += listOf("--merchant-id", it) }
        region?.let { cmd += listOf("--region", it) }
        val p = ProcessBuilder(cmd).redirectErrorStream(true).start()
        val out = p.inputStream.bufferedReader().readText()
        if (!p.waitFor(60, TimeUnit.SECONDS) || p.exitValue() != 0) fail("create-user $username failed: $out")
        // "created user U (role) id ID"
        return out.trim().substringAfterLast(" id ").trim()
    }

    /** (status, body text). */
    fun request(method: String, path: String, body: Any? = null, token: String? = null, bytes: ByteArray? = null, contentType: String = "application/json"): Pair<Int, String> {
        val b = HttpRequest.newBuilder(URI.create(url + path)).timeout(Duration.ofSeconds(15))
        token?.let { b.header("Authorization", "Bearer $it") }
        val payload = bytes ?: body?.let { Json.write(it).toByteArray() }
        if (payload != null) b.header("Content-Type", contentType)
        b.method(method, if (payload == null) HttpRequest.BodyPublishers.noBody() else HttpRequest.BodyPublishers.ofByteArray(payload))
        val res = http.send(b.build(), HttpResponse.BodyHandlers.ofString())
        return res.statusCode() to res.body()
    }

    fun json(method: String, path: String, body: Any? = null, token: String? = null): Map<String, Any?> {
        val (status, text) = request(method, path, body, token)
        if (status !in 200..299) fail("$method $path: HTTP $status $text")
        return Json.obj(text)
    }

    fun login(username: String, password: String): Map<String, Any?> =
        json("POST", "/v1/auth/login", mapOf("username" to username, "password" to password))

    fun adminToken(): String = adminToken ?: (login("admin", "admin-pass-1")["token"] as String).also { adminToken = it }

    fun createMarket(name: String = "厦门第一农贸市场", region: String = "350203"): String =
        json("POST", "/v1/markets", mapOf("name" to name, "region_code" to region), adminToken())["id"] as String

    fun createMerchant(marketId: String, name: String, categories: List<String> = listOf("aquatic", "livestock_meat")): Map<String, Any?> {
        val stem = "9235020" + (1..9).map { Random.nextInt(10) }.joinToString("")
        return json(
            "POST", "/v1/merchants",
            mapOf(
                "market_id" to marketId, "name" to name, "uscc" to uscc(stem),
                "licence_no" to "JY1" + (1..13).map { Random.nextInt(10) }.joinToString(""),
                "licence_expiry" to "2030-12-31", "categories" to categories,
            ),
            adminToken(),
        )
    }

    /** A registered merchant with a login: (merchant id, username, password). */
    fun merchantAccount(marketId: String, name: String, username: String, password: String = "merchant-pass-1"): Triple<String, String, String> {
        val id = createMerchant(marketId, name)["id"] as String
        createUser(username, password, "merchant", merchantId = id)
        return Triple(id, username, password)
    }
}

private const val USCC_CHARSET = "0123456789ABCDEFGHJKLMNPQRTUWXY"
private val USCC_WEIGHTS = intArrayOf(1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28)
private val ORG_WEIGHTS = intArrayOf(3, 7, 9, 10, 5, 8, 4, 2)

/** A USCC with both check characters (GB 11714, then GB 32100) from 16 characters. */
fun uscc(stem16: String): String {
    fun orgValue(c: Char) = if (c.isDigit()) c - '0' else c - 'A' + 10
    val s = (0 until 8).sumOf { orgValue(stem16[8 + it]) * ORG_WEIGHTS[it] }
    val org = when (val x = 11 - s % 11) { 10 -> "X"; 11 -> "0"; else -> x.toString() }
    val first17 = stem16 + org
    val total = first17.indices.sumOf { USCC_CHARSET.indexOf(first17[it]) * USCC_WEIGHTS[it] }
    return first17 + USCC_CHARSET[(31 - total % 31) % 31]
}

/** A temporary folder for store files, deleted after [body]. */
inline fun <T> withTempDir(body: (File) -> T): T {
    val d = Files.createTempDirectory("shian-kt-store-").toFile()
    try {
        return body(d)
    } finally {
        d.deleteRecursively()
    }
}

/** One server for the whole run, started on first use and stopped at exit. */
object SharedServer {
    val server: TestServer by lazy {
        TestServer.start().also { s -> Runtime.getRuntime().addShutdownHook(Thread { s.close() }) }
    }
    private val counter = java.util.concurrent.atomic.AtomicInteger()

    /** A username not used before in this run. */
    fun name(prefix: String) = "$prefix${counter.incrementAndGet()}"
}
