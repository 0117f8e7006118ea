// The market's self-inspection flow of mobile-shell on the JVM over the real
// library and server: the officer's tablet knows the three templates offline,
// a daily check with a failed item is refused without its finding and queued
// with it, syncs, and its finding comes back as an open follow-up; closing it
// offline and syncing closes it on the server too. Another market's operator
// cannot read this market's follow-ups.
package cn.shian.tests

import cn.shian.core.SelfCheckFindingInput
import cn.shian.shell.market.SelfCheckViewModel
import java.time.LocalDate
import java.time.ZoneId
import java.util.concurrent.TimeUnit

/** `shian-server admin create-user --role market_operator --market-id …`. */
private fun createOperator(s: TestServer, username: String, password: String, marketId: String) {
    val cmd = listOf(
        TestServer.bin, "admin", "create-user", "--db", s.db, "--username", username, "--password", password,
        "--role", "market_operator", "--market-id", marketId,
    )
    val p = ProcessBuilder(cmd).redirectErrorStream(true).start()
    val out = p.inputStream.bufferedReader().readText()
    if (!p.waitFor(60, TimeUnit.SECONDS) || p.exitValue() != 0) fail("create-user $username failed: $out")
}

object SelfCheckTests : Suite("vm.self_check") {
    private const val PHOTO = "5d41402abc4b2a76b9719d911017c592a1b2c3d4e5f60718293a4b5c6d7e8f90"

    init {
        test("officer_records_a_daily_check_offline_and_closes_its_follow_up") {
            val s = SharedServer.server
            val market = s.createMarket("海鲜批发市场")
            val other = s.createMarket("别的市场")
            val officer = SharedServer.name("officer")
            createOperator(s, officer, "officer-pass-1", market)
            val stranger = SharedServer.name("otherop")
            createOperator(s, stranger, "other-pass-1", other)
            withTempDir { dir ->
                openStore(dir, "tablet", s.url, officer, "officer-pass-1").use { st ->
                    val vm = SelfCheckViewModel(st, market)
                    vm.load()
                    expectEquals(setOf("daily", "weekly", "monthly"), vm.state.templates.map { it.cadence }.toSet(), "templates offline")
                    val daily = vm.state.template("daily")!!
                    expectEquals("食品安全员", daily.performerZh, "performer")

                    // Item 1.1 (entry checks) failed: its finding is required.
                    val answers = vm.allPassing(daily, PHOTO).map { if (it.itemId == "1.1") it.copy(compliant = false) else it }
                    expectTrue(!vm.record("daily", answers, emptyList()), "refused without its finding")
                    expectEquals("finding_missing", vm.state.error?.code, "code")
                    expectEquals(emptyList<String>(), vm.state.queued, "nothing queued")
                    val by = LocalDate.now(ZoneId.of("Asia/Shanghai")).plusDays(2).toString()
                    val finding = SelfCheckFindingInput("1.1", "两户未留存合格证", by)
                    expectTrue(vm.record("daily", answers, listOf(finding)), "recorded: ${vm.state.error}")
                    val out = vm.state.lastCheck!!
                    expectEquals("non_compliant", out.result, "key item failed")
                    expectEquals(listOf("${out.checkId}:1.1"), out.findingIds, "finding id known offline")
                    expectEquals(1, vm.state.queued.size, "queued offline")

                    expectTrue(vm.sync(), "synced: ${vm.state.error}")
                    expectEquals(emptyList<String>(), vm.state.queued, "sent")
                    val open = vm.state.open.single()
                    expectEquals("${out.checkId}:1.1" to "open", open.findingId to open.status, "follow-up pulled")

                    expectTrue(!vm.close(open.findingId, " "), "a blank note is refused")
                    expectEquals("missing_field", vm.state.error?.code, "code")
                    expectTrue(vm.close(open.findingId, "已补齐合格证", listOf(PHOTO)), "closed: ${vm.state.error}")
                    expectTrue(vm.sync(), "synced again: ${vm.state.error}")
                    expectEquals("closed", vm.state.followUps.single().status, "closed after sync")
                    expectTrue(!vm.close(open.findingId, "再关一次"), "closing twice refused offline")
                    expectEquals("follow_up_already_closed", vm.state.error?.code, "code")
                }
            }
            val token = s.login(officer, "officer-pass-1")["token"] as String
            val closed = s.json("GET", "/v1/markets/$market/follow-ups?status=closed", null, token)
            expectEquals(1, (closed["items"] as List<*>).size, "closed on the server")
            val cal = s.json("GET", "/v1/markets/$market/self-checks?cadence=daily", null, token)
            expectTrue((cal["periods"] as List<*>).any { (it as Map<*, *>)["status"] == "done" }, "today done: $cal")
            val strangerToken = s.login(stranger, "other-pass-1")["token"] as String
            expectEquals(403, s.request("GET", "/v1/markets/$market/follow-ups", null, strangerToken).first, "another market's operator")
        }
    }
}
