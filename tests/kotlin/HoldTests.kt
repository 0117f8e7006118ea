// Holds (暂扣) in mobile-shell on the JVM over the real library and server: the
// operator places a hold from its tablet; a merchant phone that was offline and
// had sold from the batch syncs (the sale is kept, with a held_batch_sold
// warning for the regulator), pulls the hold, and its next sale of the batch is
// refused on the phone with the reason; the release lets it sell again.
package cn.shian.tests

import cn.shian.shell.market.HoldViewModel
import cn.shian.shell.merchant.MerchantLedgerViewModel
import cn.shian.shell.merchant.MerchantLedgerViewModel.PurchaseForm
import java.util.concurrent.TimeUnit

/** `admin create-user --role market_operator --market-id`. */
private fun createOperator(s: TestServer, username: String, password: String, marketId: String) {
    val cmd = listOf(
        TestServer.bin, "admin", "create-user", "--db", s.db, "--username", username, "--password", password,
        "--role", "market_operator", "--market-id", marketId,
    )
    val p = ProcessBuilder(cmd).redirectErrorStream(true).start()
    val out = p.inputStream.bufferedReader().readText()
    if (!p.waitFor(60, TimeUnit.SECONDS) || p.exitValue() != 0) fail("create-user $username failed: $out")
}

object HoldTests : Suite("vm.hold") {
    init {
        test("a_hold_reaches_an_offline_phone_which_then_refuses_the_sale") {
            val s = SharedServer.server
            val market = s.createMarket()
            val (mId, mUser, mPass) = s.merchantAccount(market, "隆鑫冻品行", SharedServer.name("hseller"))
            val op = SharedServer.name("hop")
            createOperator(s, op, "operator-pass-1", market)
            withTempDir { dir ->
                openStore(dir, "m", s.url, mUser, mPass).use { phone ->
                    openStore(dir, "tab", s.url, op, "operator-pass-1").use { tablet ->
                        val m = MerchantLedgerViewModel(phone, mId)
                        val bought = m.recordPurchase(
                            PurchaseForm("进口冻牛肉", "livestock_meat", "50", supplierName = "个人供货", certificates = listOf("quarantine" to "Q-1")),
                        )
                        val code = bought!!.traceCode!!
                        expectTrue(m.syncNow(), "the batch synced: ${m.state.error}")

                        // Offline from here: a sale the phone cannot know is held.
                        expectTrue(m.recordSale(code, "5") != null, "sold offline: ${m.state.error}")

                        // The operator holds the batch from its tablet.
                        val hv = HoldViewModel(tablet, market)
                        expectTrue(hv.place(mId, "not-a-code", "unknown_origin") == null, "a bad code refused on the tablet")
                        expectEquals("payload.trace_code", hv.state.error?.field, "its field")
                        val holdId = hv.place(mId, code, "unknown_origin", "无入境检验检疫证明")
                            ?: fail("hold queued: ${hv.state.error}")
                        expectTrue(hv.sync(), "tablet synced: ${hv.state.error}")
                        expectEquals(emptyList<String>(), hv.state.refused.map { it.reasonCode }, "nothing refused")
                        expectEquals(listOf(holdId), hv.state.inForce.map { it.holdId }, "the market's holds pulled back")

                        // The phone syncs: the earlier sale is kept, warned; the hold comes down.
                        expectTrue(m.syncNow(), "phone synced: ${m.state.error}")
                        expectEquals(0, m.state.parked.size, "the sale made before the hold is not refused")
                        val admin = s.adminToken()
                        val alerts = s.json("GET", "/v1/alerts?kind=held_batch_sold", token = admin)["alerts"] as List<*>
                        expectEquals(1, alerts.size, "held_batch_sold raised")
                        expectTrue(code in m.state.heldCodes, "the phone holds the hold")

                        // Now the phone refuses the sale itself, with the reason.
                        expectTrue(m.recordSale(code, "1") == null, "sale of a held batch refused")
                        expectTrue(m.state.saleRefusedByHold, "refused by the hold: ${m.state.error}")
                        expectTrue(m.state.error!!.text.contains("来源不明") && m.state.error!!.text.contains(holdId), "reason: ${m.state.error}")

                        // Released: the batch sells again.
                        expectTrue(hv.release(holdId, "补齐检疫证明"), "release queued: ${hv.state.error}")
                        expectTrue(hv.sync(), "tablet synced")
                        expectEquals(0, hv.state.inForce.size, "released")
                        expectTrue(m.syncNow(), "phone synced")
                        expectTrue(code !in m.state.heldCodes, "the release pulled")
                        expectTrue(m.recordSale(code, "1") != null, "sells again: ${m.state.error}")
                    }
                }
            }
        }
    }
}
