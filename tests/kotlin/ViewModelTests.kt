// The mobile-shell view models on the JVM over the real library: merchant,
// inspector (offline parts), consumer scan and whistleblower report.
package cn.shian.tests

import cn.shian.core.BuyerInput
import cn.shian.core.PrintInfo
import cn.shian.shell.common.ShianHttp
import cn.shian.shell.common.UserError
import cn.shian.shell.consumer.ConsumerScanViewModel
import cn.shian.shell.inspector.InspectorViewModel
import cn.shian.shell.merchant.MerchantLedgerViewModel
import cn.shian.shell.merchant.MerchantLedgerViewModel.PurchaseForm
import cn.shian.shell.whistleblower.WhistleblowerViewModel
import java.io.File
import java.time.LocalDate

private const val M = "0190a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5b"

object MerchantViewModelTests : Suite("vm.merchant") {
    init {
        test("records_show_stock_warnings_and_field_errors") {
            withTempDir { dir ->
                openStore(dir, "m").use { st ->
                    val vm = MerchantLedgerViewModel(st, M)
                    val seen = mutableListOf<MerchantLedgerViewModel.State>()
                    vm.observe { seen += it }.use {
                        val fish = vm.recordPurchase(PurchaseForm("带鱼", "aquatic", "100", supplierName = "养殖场", certificates = listOf("origin" to "O-1")))
                        expectTrue(fish != null, "recorded: ${vm.state.error}")
                        vm.recordPurchase(PurchaseForm("猪肉", "livestock_meat", "20", supplierName = "屠宰场"))
                        expectEquals(listOf("missing_certificate"), vm.state.warnings.map { it.warning.code }, "warnings")
                        vm.recordSale(fish!!.traceCode!!, "40", buyer = BuyerInput.Merchant("0190a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5c"))
                        expectTrue(vm.state.issuedVoucher != null, "a voucher to show as QR")
                        expectEquals(listOf("20", "60"), vm.state.stock.map { it.held.value }.sorted(), "stock")
                        expectEquals(3L, vm.state.sync?.pending, "pending")
                        expectEquals(null, vm.recordPurchase(PurchaseForm("带鱼", "aquatic", "-3", supplierName = "养殖场")), "refused")
                        expectEquals(UserError.Kind.VALIDATION to "quantity.value", vm.state.error?.kind to vm.state.error?.field, "field to highlight")
                        expectEquals(null, vm.recordPurchase(PurchaseForm("带鱼", "aquatic", "3")), "no supplier")
                        expectEquals("supplier", vm.state.error?.field, "supplier field")
                    }
                    expectTrue(seen.size > 5, "observers were told: ${seen.size}")
                }
            }
        }

        test("a_mistyped_voucher_is_caught_offline") {
            withTempDir { dir ->
                openStore(dir, "m").use { st ->
                    val vm = MerchantLedgerViewModel(st, M)
                    expectTrue(!vm.scanVoucher("0123-4567-89AB-CDEF"), "refused")
                    expectEquals("voucher_code", vm.state.error?.field, "field")
                    expectEquals(null, vm.receiveGoods("seller", PurchaseForm("带鱼", "aquatic", "3")), "no voucher scanned")
                }
            }
        }

        test("sync_offline_is_a_retryable_error") {
            withTempDir { dir ->
                openStore(dir, "m").use { st ->
                    val vm = MerchantLedgerViewModel(st, M)
                    vm.recordPurchase(PurchaseForm("带鱼", "aquatic", "1", supplierName = "养殖场", certificates = listOf("origin" to "O")))
                    expectTrue(!vm.syncNow(), "offline")
                    expectEquals(true, vm.state.error?.retryable, "retryable")
                    expectEquals(1L, vm.state.sync?.consecutiveFailures, "failures counted")
                }
            }
        }
    }
}

object InspectorViewModelTests : Suite("vm.inspector") {
    init {
        test("live_result_and_submit_offline") {
            withTempDir { dir ->
                openStore(dir, "i").use { st ->
                    val vm = InspectorViewModel(st)
                    vm.startFor("m-1", "海鲜档", listOf("insp-1", "insp-2"))
                    val items = vm.state.current!!.checklist.items
                    val key = items.first { it.kind == "key" }
                    for (item in items) {
                        when (item.answerType) {
                            "number" -> vm.answer(item.id, true, value = if ((item.max ?: 0.0) > 0) 2.0 else -25.0)
                            "photo" -> vm.attachPhoto(item.id, byteArrayOf(1, 2, 3))
                            else -> vm.answer(item.id, true)
                        }
                    }
                    expectEquals("compliant", vm.state.current!!.live?.result, "all fine")
                    vm.answer(key.id, false, note = "无许可证")
                    val live = vm.state.current!!.live!!
                    expectEquals("non_compliant" to "stop_and_investigate", live.result to live.followUp, "a key item fails it")
                    expectEquals(listOf(key.id), live.violations.map { it.itemId }, "violations")
                    val html = vm.printPreview(PrintInfo("某市场监管局", "海鲜档", null, null, null, listOf("李", "陈"), "https://x/r", null))
                    expectTrue(html!!.contains("不符合"), "printed result")
                    val out = vm.submit() ?: fail("submit: ${vm.state.error}")
                    expectEquals(null, vm.state.current, "cleared")
                    expectEquals(listOf(out.inspectionId), st.pendingOps(10u).map { it.opId }, "queued")
                    expectEquals(1, vm.state.pendingPhotos.size, "photo waits for upload")
                }
            }
        }

        test("a_missing_value_is_reported_not_guessed") {
            withTempDir { dir ->
                openStore(dir, "i").use { st ->
                    val vm = InspectorViewModel(st)
                    vm.startFor("m-1", "海鲜档", listOf("a", "b"))
                    for (item in vm.state.current!!.checklist.items) {
                        if (item.answerType == "photo") vm.attachPhoto(item.id, byteArrayOf(9)) else vm.answer(item.id, true)
                    }
                    expectEquals(null, vm.state.current!!.live, "no result")
                    expectEquals("missing_value", vm.state.current!!.liveError?.code, "why")
                    expectEquals(null, vm.submit(), "cannot submit")
                }
            }
        }
    }
}

object ConsumerScanViewModelTests : Suite("vm.consumer") {
    init {
        test("shop_and_trace_urls_are_classified") {
            expectEquals(ConsumerScanViewModel.Kind.SHOP to "ABC", ConsumerScanViewModel.classify("https://shian.example.cn/s/ABC"), "shop")
            expectEquals(ConsumerScanViewModel.Kind.TRACE to "XYZ", ConsumerScanViewModel.classify("https://shian.example.cn/t/XYZ?from=wx"), "trace")
            expectEquals(ConsumerScanViewModel.Kind.CODE to "ABCD", ConsumerScanViewModel.classify("ABCD"), "bare")
        }

        test("verifies_offline_and_falls_back_to_the_code") {
            withTempDir { dir ->
                val code = openStore(dir, "m").use { it.recordPurchase(cn.shian.shell.common.purchaseInput(M, "带鱼", "aquatic", cn.shian.shell.common.qty("1"), cn.shian.shell.common.externalSupplier("场"))).traceCode!! }
                val offline = ConsumerScanViewModel(null)
                expectTrue(offline.scan("https://shian.example.cn/t/${code.lowercase()}"), "verified: ${offline.state.error}")
                expectEquals(code, offline.state.code, "canonical")
                expectTrue(!offline.scan("https://shian.example.cn/t/${code.dropLast(1)}${if (code.last() == '1') '2' else '1'}"), "damaged")
                expectEquals(UserError.Kind.VALIDATION, offline.state.error?.kind, "error kind")
                // Against the real server: no public endpoint yet, so the verified code only, with the reason.
                val online = ConsumerScanViewModel(ShianHttp(SharedServer.server.url))
                expectTrue(online.scan("${SharedServer.server.url}/s/$code"), "verified")
                expectEquals(null, online.state.info, "no public info")
                expectTrue(online.state.note!!.contains("404"), "note says why: ${online.state.note}")
            }
        }

        test("a_signed_shop_code_is_told_from_a_forged_one") {
            val server = SharedServer.server
            val market = server.createMarket()
            val shop = server.createMerchant(market, SharedServer.name("签名店"))
            val id = shop["id"] as String
            val shopCode = shop["shop_code"] as String
            val url = server.json("GET", "/v1/merchants/$id/signed-code", token = server.adminToken())["url"] as String
            val vm = ConsumerScanViewModel(ShianHttp(server.url))
            expectTrue(vm.scan(url), "verified")
            expectEquals(cn.shian.core.CodeOutcome.GENUINE, vm.state.signature, "genuine: ${vm.state.signatureDetail}")
            // Another valid shop code under the same signature: forged, offline, with the list already fetched.
            val other = server.createMerchant(market, SharedServer.name("别家"))["shop_code"] as String
            expectTrue(vm.scan(url.replace(shopCode, other)), "the code itself is well formed")
            expectEquals(cn.shian.core.CodeOutcome.FORGED, vm.state.signature, "forged")
            // An unsigned shop URL has no verdict.
            vm.scan("${server.url}/s/$shopCode")
            expectEquals(null, vm.state.signature, "unsigned")
        }
    }
}

object WhistleblowerViewModelTests : Suite("vm.whistleblower") {
    init {
        test("validates_on_the_phone") {
            val vm = WhistleblowerViewModel(null, today = { LocalDate.of(2024, 5, 20) })
            expectTrue(!vm.validate(), "empty draft")
            expectEquals(setOf("category", "description"), vm.state.fieldErrors.keys, "fields")
            vm.edit { it.copy(category = WhistleblowerViewModel.Category.EXPIRED, description = "太短", shopCode = "0123456789ABCDEF", occurredOn = "2024-06-01") }
            vm.validate()
            expectEquals(setOf("description", "shop_code", "occurred_on"), vm.state.fieldErrors.keys, "fields")
            vm.edit { it.copy(description = "冷柜里的酸奶已过期三天仍在销售", shopCode = null, occurredOn = "2024-05-19") }
            expectTrue(vm.validate(), "valid: ${vm.state.fieldErrors}")
        }

        test("submits_to_the_server_and_shows_the_receipt_once") {
            withTempDir { dir ->
                val file = File(dir, "drafts.json")
                val http = ShianHttp(SharedServer.server.url)
                val photo = java.io.ByteArrayOutputStream().also { out ->
                    val img = java.awt.image.BufferedImage(16, 12, java.awt.image.BufferedImage.TYPE_INT_RGB)
                    javax.imageio.ImageIO.write(img, "png", out)
                }.toByteArray()
                val vm = WhistleblowerViewModel(http, file, photoBytes = { if (it == "p1") photo else null })
                vm.edit { it.copy(category = WhistleblowerViewModel.Category.UNKNOWN_ORIGIN, description = "夜间有无标签冻品从后门卸货", place = "B 区后门", occurredOn = LocalDate.now().minusDays(1).toString(), photos = listOf("p1")) }
                val receipt = vm.submit()
                expectTrue(receipt?.matches(Regex("^[0-9A-HJKMNP-TV-Y]{5}(-[0-9A-HJKMNP-TV-Y]{5}){3}$")) == true, "receipt: $receipt ${vm.state.note} ${vm.state.error}")
                expectEquals(receipt, vm.state.receipt, "shown")
                expectEquals(1, vm.state.photosSent, "photo sent")
                expectEquals(0, vm.state.drafts.size, "the draft is gone")
                expectTrue(!file.readText().contains(receipt!!), "the receipt is not written to the phone")
                // The server knows the report by the receipt, typed in lower case.
                val status = http.get("/v1/reports/${receipt.lowercase()}")
                expectEquals(200, status.status, status.text)
                expectTrue(status.text.contains("\"status\":\"received\"") && status.text.contains("\"photos\":1"), status.text)
                vm.receiptSaved()
                expectEquals(null, vm.state.receipt, "shown once")
            }
        }

        test("a_refusal_names_the_field_and_keeps_the_draft") {
            withTempDir { dir ->
                val vm = WhistleblowerViewModel(ShianHttp(SharedServer.server.url), File(dir, "drafts.json"))
                // Valid on the phone, refused by the server: a control character.
                vm.edit { it.copy(category = WhistleblowerViewModel.Category.HYGIENE, description = "后厨地面积水且有老鼠出没\u0007") }
                expectEquals(null, vm.submit(), "no receipt")
                expectEquals("description", vm.state.error?.field, "field: ${vm.state.error}")
                expectEquals(1, vm.state.drafts.size, "kept")
            }
        }

        test("without_signal_the_report_stays_a_draft") {
            withTempDir { dir ->
                val file = File(dir, "drafts.json")
                val vm = WhistleblowerViewModel(ShianHttp("http://127.0.0.1:1", timeoutMs = 2_000), file)
                vm.edit { it.copy(category = WhistleblowerViewModel.Category.UNKNOWN_ORIGIN, description = "夜间有无标签冻品从后门卸货", place = "B 区后门") }
                expectEquals(null, vm.submit(), "no receipt")
                expectTrue(vm.state.note!!.contains("草稿"), "note: ${vm.state.note}")
                expectEquals(1, vm.state.drafts.size, "kept")
                val again = WhistleblowerViewModel(null, file)
                expectEquals(listOf("夜间有无标签冻品从后门卸货"), again.state.drafts.map { it.description }, "survives a restart")
                expectEquals(WhistleblowerViewModel.Category.UNKNOWN_ORIGIN, again.state.drafts[0].category, "category kept")
            }
        }
    }
}
