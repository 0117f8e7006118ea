// The recall flows of mobile-shell on the JVM over the real library and server:
// the merchant sees the notice and confirms offline (an over-count refused on
// the spot), the confirmation syncs; the district's inspector sees who has not
// confirmed.
package cn.shian.tests

import cn.shian.core.BuyerInput
import cn.shian.shell.merchant.MerchantLedgerViewModel
import cn.shian.shell.merchant.MerchantLedgerViewModel.PurchaseForm
import cn.shian.shell.recall.InspectorRecallViewModel
import cn.shian.shell.recall.MerchantRecallViewModel

object RecallTests : Suite("vm.recall") {
    init {
        test("merchant_confirms_a_recall_offline_and_the_inspector_sees_who_has_not") {
            val s = SharedServer.server
            val market = s.createMarket()
            val (aId, aUser, aPass) = s.merchantAccount(market, "进口食品行", SharedServer.name("rseller"))
            val (bId, bUser, bPass) = s.merchantAccount(market, "巷口便利店", SharedServer.name("rbuyer"))
            val analyst = SharedServer.name("ranalyst")
            s.createUser(analyst, "analyst-pass-1", "analyst")
            val insp = SharedServer.name("rinsp")
            s.createUser(insp, "insp-pass-1", "inspector", region = "350203")
            withTempDir { dir ->
                openStore(dir, "a", s.url, aUser, aPass).use { stA ->
                    openStore(dir, "b", s.url, bUser, bPass).use { stB ->
                        val a = MerchantLedgerViewModel(stA, aId)
                        val bought = a.recordPurchase(PurchaseForm("进口奶酪", "dairy", "30", supplierName = "进口商", certificates = listOf("origin" to "CIQ-1")))
                        val root = bought!!.traceCode!!
                        a.recordSale(root, "10", buyer = BuyerInput.Merchant(bId))
                        val voucher = a.state.issuedVoucher!!
                        expectTrue(a.syncNow(), "A synced: ${a.state.error}")
                        val b = MerchantLedgerViewModel(stB, bId)
                        expectTrue(b.scanVoucher(voucher), "voucher")
                        val got = b.receiveGoods(aId, PurchaseForm("进口奶酪", "dairy", "10", certificates = listOf("origin" to "CIQ-1")))
                        val code = got!!.traceCode!!
                        expectTrue(b.syncNow(), "B synced: ${b.state.error}")

                        val token = s.login(analyst, "analyst-pass-1")["token"] as String
                        val recall = s.json("POST", "/v1/recalls", mapOf("trace_code" to root, "level" to 1, "reason" to "检出李斯特菌"), token)
                        val recallId = recall["id"] as String

                        val vm = MerchantRecallViewModel(stB, bId)
                        expectTrue(vm.sync(), "notice pulled: ${vm.state.error}")
                        val notice = vm.state.toConfirm.single()
                        expectEquals(recallId, notice.recallId, "recall")
                        expectEquals("一级召回", notice.levelZh, "level")
                        expectEquals(listOf(code to "10"), notice.batches.map { it.traceCode to it.received.value }, "batches")
                        // 11 kg of 10 received: refused on the phone, nothing queued.
                        expectTrue(!vm.confirm(recallId, code, "8", "0", "3"), "over-count refused")
                        expectEquals("exceeds_received", vm.state.error?.code, "code")
                        expectEquals(emptyList<String>(), vm.state.queued, "nothing queued")
                        expectTrue(vm.confirm(recallId, code, "0", "4", "6"), "confirmed: ${vm.state.error}")
                        expectEquals(1, vm.state.queued.size, "queued offline")
                        expectTrue(vm.sync(), "synced")
                        expectEquals(emptyList<String>(), vm.state.queued, "sent")
                        expectEquals(0, vm.state.toConfirm.size, "nothing left to confirm")
                        val batch = vm.state.notices.first { it.recallId == recallId }.batches.single()
                        expectEquals("confirmed" to "6", batch.state to batch.destroyed?.value, "the count that counts")

                        openStore(dir, "insp", s.url, insp, "insp-pass-1").use { stI ->
                            val iv = InspectorRecallViewModel(stI)
                            expectTrue(iv.sync(), "inspector synced: ${iv.state.error}")
                            val pending = iv.state.notConfirmed.filter { it.recallId == recallId }
                            expectEquals(listOf(aId to root), pending.map { it.merchantId to it.traceCode }, "only the seller has not confirmed")
                        }
                    }
                }
            }
        }
    }
}
