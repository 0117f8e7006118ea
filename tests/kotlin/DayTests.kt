// A market day through the Kotlin binding against a real shian-server: merchant
// A records offline and syncs later, merchant B receives by scanning A's
// voucher, the server's ledger (traced by core's engine) links the two, refused
// events are parked, bad input comes back as typed exceptions.
package cn.shian.tests

import cn.shian.core.AdjustInput
import cn.shian.core.BuyerInput
import cn.shian.core.DisposeInput
import cn.shian.core.DisposeMethod
import cn.shian.core.ShianException
import cn.shian.core.ShianStore
import cn.shian.core.SupplierInput
import cn.shian.core.VoidInput
import cn.shian.core.verifyCode
import cn.shian.shell.common.externalSupplier
import cn.shian.shell.common.purchaseInput
import cn.shian.shell.common.qty
import cn.shian.shell.common.saleInput
import cn.shian.shell.common.storeConfig
import java.io.File

private const val OFFLINE = "http://127.0.0.1:1"

// The default device id names the account too: the suites share one server,
// and a device is registered to the first account that syncs it.
fun openStore(dir: File, name: String, url: String = OFFLINE, user: String = "nobody", pass: String = "x", device: String = "dev-$name-$user"): ShianStore =
    ShianStore.open(storeConfig(File(dir, "$name.db").path, url, device, user, pass))

private fun farm() = externalSupplier("福建连江海产养殖场", regionCode = "350122")

object DayTests : Suite("day") {
    init {
        test("a_whole_day_offline_then_synced_and_scanned") {
            val s = SharedServer.server
            val market = s.createMarket()
            val (aId, aUser, aPass) = s.merchantAccount(market, "老王海鲜档", SharedServer.name("wang"))
            val (bId, bUser, bPass) = s.merchantAccount(market, "鹭江饭店", SharedServer.name("lujiang"))
            withTempDir { dir ->
                // Offline at 05:00.
                val fishCode: String
                val voucher: String
                openStore(dir, "a", user = aUser, pass = aPass, device = "tablet-$aUser").use { a ->
                    val fish = a.recordPurchase(purchaseInput(aId, "冰鲜带鱼", "aquatic", qty("120"), farm(), certificates = listOf("origin" to "O-118")))
                    fishCode = fish.traceCode!!
                    expectEquals(emptyList(), fish.warnings, "warnings")
                    val pork = a.recordPurchase(purchaseInput(aId, "冷鲜猪肉", "livestock_meat", qty("50"), farm()))
                    expectEquals(listOf("missing_certificate"), pork.warnings.map { it.code }, "meat needs a quarantine certificate")
                    val toB = a.recordSale(saleInput(aId, fishCode, qty("30"), BuyerInput.Merchant(bId)))
                    voucher = toB.voucherCode ?: fail("no voucher")
                    a.recordSale(saleInput(aId, fishCode, qty("10.5")))
                    expectEquals(4, a.pendingOps(100u).size, "pending")
                    expectThrows<ShianException.Network> { a.syncNow() }
                    val st = a.syncStatus()
                    expectEquals(Triple(4L, 0L, 1L), Triple(st.pending, st.parked, st.consecutiveFailures), "status after a failed sync")
                    val fwd = a.traceForward(fishCode)
                    expectEquals(listOf(voucher), fwd.inTransit.map { it.voucherCode }, "in transit")
                    expectEquals("79.5", fwd.held.value, "held")
                    expectEquals("79.5", a.batches(aId, 10u).first { it.traceCode == fishCode }.held.value, "stock")
                }
                // Online at 08:00, after a restart.
                openStore(dir, "a", s.url, aUser, aPass, "tablet-$aUser").use { a ->
                    expectEquals(4L, a.syncStatus().pending, "the outbox survived the restart")
                    val r = a.syncNow()
                    expectEquals(Pair(4UL, 0UL), Pair(r.accepted, r.rejected), "pushed")
                    val st = a.syncStatus()
                    expectEquals(Triple(0L, 0L, 0L), Triple(st.pending, st.parked, st.consecutiveFailures), "status after sync")
                    expectTrue(st.lastSuccessAt != null, "last success recorded")
                    expectTrue(a.directory().any { it.merchantId == aId && it.name == "老王海鲜档" }, "own card pulled")
                }
                // B scans the voucher.
                val bBatch: String
                openStore(dir, "b", s.url, bUser, bPass, "phone-$bUser").use { b ->
                    val typed = voucher.lowercase().chunked(4).joinToString(" ")
                    expectEquals(voucher, verifyCode(typed), "scanned code canonicalised")
                    val got = b.recordPurchase(purchaseInput(bId, "冰鲜带鱼", "aquatic", qty("30"), SupplierInput.Merchant(aId),
                        voucherCode = typed, certificates = listOf("origin" to "O-118")))
                    bBatch = got.traceCode!!
                    b.recordSale(saleInput(bId, bBatch, qty("4.2"), BuyerInput.Named("后厨")))
                    val r = b.syncNow()
                    expectEquals(Pair(2UL, 0UL), Pair(r.accepted, r.rejected), "B pushed")
                    val back = b.traceBackward(bBatch)
                    expectEquals(voucher, back.chain[0].voucherCode, "B's batch points at A's voucher")
                    expectEquals("voucher_not_found", back.end, "B's device holds only its side")
                }
                // The server's own trace endpoint, asked as a regulator would.
                val analyst = SharedServer.name("analyst")
                s.createUser(analyst, "analyst-pass-1", "analyst")
                val token = s.login(analyst, "analyst-pass-1")["token"] as String
                val full = s.json("GET", "/v1/trace/$fishCode/forward", token = token)
                fun value(m: Map<*, *>, key: String) = (m[key] as Map<*, *>)["value"]
                val holders = (full["holders"] as List<*>).map { it as Map<*, *> }
                expectEquals(listOf(Triple(bId, bBatch, "30")), holders.map { Triple(it["merchant_id"], it["trace_code"], value(it, "received")) }, "holders")
                expectEquals("鹭江饭店", holders[0]["merchant_name"], "holder name")
                expectEquals(emptyList<Any?>(), full["in_transit"], "voucher redeemed")
                expectEquals(Pair("10.5", "105.3"), Pair(value(full, "retail_sold"), value(full, "held")), "balance")
                expectTrue(full["truncated"] == false && full["cycle"] == false, "balanced")
            }
        }

        test("refused_events_are_parked_with_their_reason") {
            val s = SharedServer.server
            val market = s.createMarket()
            val (aId, aUser, aPass) = s.merchantAccount(market, "海鲜档", SharedServer.name("m"))
            withTempDir { dir ->
                openStore(dir, "a", s.url, aUser, aPass, "t-$aUser").use { a ->
                    a.recordPurchase(purchaseInput(aId, "花蛤", "aquatic", qty("20"), farm(), certificates = listOf("commitment" to "C-1")))
                    val ghost = a.recordPurchase(purchaseInput(aId, "鲈鱼", "aquatic", qty("8"), SupplierInput.Merchant("no-such-merchant"), certificates = listOf("origin" to "X")))
                    val r = a.syncNow()
                    expectEquals(Pair(1UL, 1UL), Pair(r.accepted, r.rejected), "one accepted, one refused")
                    val parked = a.parkedOps()
                    expectEquals(listOf(ghost.entryId to "unknown_merchant"), parked.map { it.opId to it.reasonCode }, "parked")
                    expectEquals(1L, a.syncStatus().parked, "status counts it")
                }
            }
        }

        test("wrong_password_is_auth") {
            val s = SharedServer.server
            val (aId, aUser, _) = s.merchantAccount(s.createMarket(), "档口", SharedServer.name("m"))
            withTempDir { dir ->
                openStore(dir, "a", s.url, aUser, "wrong", "t-$aUser").use { a ->
                    a.recordPurchase(purchaseInput(aId, "花蛤", "aquatic", qty("1"), farm(), certificates = listOf("origin" to "X")))
                    expectThrows<ShianException.Auth> { a.syncNow() }
                    expectEquals(1L, a.syncStatus().pending, "kept")
                }
            }
        }

        test("bad_input_is_typed") {
            val m = "0190a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5b"
            withTempDir { dir ->
                openStore(dir, "m").use { st ->
                    fun validation(code: String, field: String, body: () -> Unit) {
                        val e = expectThrows<ShianException.Validation>(body)
                        expectEquals(code to field, e.code to e.field, "code and field")
                    }
                    validation("negative_quantity", "quantity.value") { st.recordPurchase(purchaseInput(m, "带鱼", "aquatic", qty("-5"), farm())) }
                    validation("unknown_unit", "quantity.unit") { st.recordPurchase(purchaseInput(m, "带鱼", "aquatic", qty("5", "pound"), farm())) }
                    validation("invalid_enum", "product.category") { st.recordPurchase(purchaseInput(m, "带鱼", "seafood", qty("5"), farm())) }
                    val batch = st.recordPurchase(purchaseInput(m, "带鱼", "aquatic", qty("40"), farm(), certificates = listOf("origin" to "O")))
                    val code = batch.traceCode!!
                    val wrong = code.dropLast(1) + (if (code.last() == '1') '2' else '1')
                    validation("code_check_mismatch", "trace_code") { st.recordSale(saleInput(m, wrong, qty("1"))) }
                    validation("code_check_mismatch", "code") { verifyCode(wrong) }
                    val other = "0190a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5c"
                    expectEquals("not_your_batch", expectThrows<ShianException.Forbidden> { st.recordSale(saleInput(other, code, qty("1"))) }.code, "forbidden")
                    val void = VoidInput(null, m, batch.entryId, "录错", null)
                    st.recordVoid(void)
                    expectEquals("already_voided", expectThrows<ShianException.Conflict> { st.recordVoid(void) }.code, "conflict")
                    expectThrows<ShianException.NotFound> { st.traceForward(code) }
                    val b2 = st.recordPurchase(purchaseInput(m, "虾", "aquatic", qty("10"), farm(), certificates = listOf("origin" to "O")))
                    st.recordDispose(DisposeInput(null, m, b2.traceCode!!, qty("2"), DisposeMethod.RETURNED, "退货", null))
                    val adj = st.recordAdjust(AdjustInput(null, m, b2.traceCode!!, qty("-9"), "盘点", null))
                    expectEquals(listOf("negative_stock"), adj.warnings.map { it.code }, "adjust warning")
                    expectEquals(listOf("-1"), st.batches(m, 10u).map { it.held.value }, "stock after dispose and adjust")
                }
            }
        }
    }
}
