// The market operator's entry-check flow of mobile-shell on the JVM over the real
// library and server: checks recorded offline on the tablet (a bad quantity named
// on the spot, meat accepted without its quarantine certificate refused by core's
// rule, a refusal kept with its reason), synced, and listed by the server.
package cn.shian.tests

import cn.shian.shell.market.EntryCheckViewModel
import cn.shian.shell.market.EntryCheckViewModel.CheckForm
import java.util.concurrent.TimeUnit

/** A market-operator login for [marketId] by the admin CLI: (username, password). */
private fun operatorAccount(s: TestServer, marketId: String): Pair<String, String> {
    val user = SharedServer.name("gate")
    val pass = "operator-pass-1"
    val cmd = listOf(
        TestServer.bin, "admin", "create-user", "--db", s.db, "--username", user, "--password", pass,
        "--role", "market_operator", "--market-id", marketId,
    )
    val p = ProcessBuilder(cmd).redirectErrorStream(true).start()
    val out = p.inputStream.bufferedReader().readText()
    if (!p.waitFor(60, TimeUnit.SECONDS) || p.exitValue() != 0) fail("create-user $user failed: $out")
    return user to pass
}

object EntryCheckTests : Suite("vm.market_entry") {
    init {
        test("checks_recorded_offline_with_a_refusal_sync_and_the_server_lists_them") {
            val s = SharedServer.server
            val market = s.createMarket()
            val seller = s.createMerchant(market, "鲜肉铺")["id"] as String
            val (user, pass) = operatorAccount(s, market)
            withTempDir { dir ->
                openStore(dir, "tablet", s.url, user, pass).use { st ->
                    val vm = EntryCheckViewModel(st, market)
                    val meat = CheckForm(seller, "冷鲜猪肉", "livestock_meat", "120.5", certificates = listOf("quarantine" to "3502-001"))

                    // A bad quantity: named on the tablet, nothing queued.
                    expectEquals(null, vm.record(meat.copy(quantity = "十二")), "bad quantity refused")
                    expectEquals("quantity.value", vm.state.error?.field, "the field at fault")
                    // Meat without its quarantine certificate cannot be accepted.
                    expectEquals(null, vm.record(meat.copy(certificates = emptyList())), "accepted without certificate")
                    expectEquals("missing_certificate" to "certificates_seen", vm.state.error?.code to vm.state.error?.field, "the ledger's rule")
                    expectEquals(0, vm.state.today.size, "nothing queued")

                    // Offline: one accepted, one refused with its reason.
                    val ok = vm.record(meat)
                    expectTrue(ok != null, "accepted: ${vm.state.error}")
                    val refused = vm.record(meat.copy(certificates = emptyList(), refusedBecause = "无动物检疫合格证明"))
                    expectTrue(refused != null, "refused: ${vm.state.error}")
                    expectEquals(2 to 2, vm.state.today.size to vm.state.waiting, "both on the tablet, waiting")
                    expectEquals(1 to 1, vm.state.accepted to vm.state.refused, "counts")

                    expectTrue(vm.sync(), "synced: ${vm.state.error}")
                    expectEquals(0, vm.state.waiting, "both acknowledged")
                    expectEquals(setOf(ok, refused), vm.state.today.map { it.checkId }.toSet(), "pulled back")
                    val back = vm.state.today.first { it.checkId == refused }
                    expectEquals("refused" to "无动物检疫合格证明", back.decision to back.reason, "the refusal and its reason")
                    expectEquals("鲜肉铺", back.merchantName, "the seller's name from the server")

                    val token = s.login(user, pass)["token"] as String
                    val listed = s.json("GET", "/v1/markets/$market/entry-checks", token = token)
                    expectEquals(2L, (listed["total"] as Number).toLong(), "the server lists both")
                    @Suppress("UNCHECKED_CAST")
                    val checks = listed["checks"] as List<Map<String, Any?>>
                    val r = checks.first { it["check_id"] == refused }
                    expectEquals("无动物检疫合格证明", r["reason"], "the server keeps the reason")
                }
            }
        }
    }
}
