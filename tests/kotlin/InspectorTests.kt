// The inspector's flow through the Kotlin binding: download the district, work
// offline with core's checklist rules (two inspectors), sync; the server
// re-checks the record with the same code.
package cn.shian.tests

import cn.shian.core.AnswerInput
import cn.shian.core.ChecklistRecord
import cn.shian.core.InspectionInput
import cn.shian.core.ShianException
import cn.shian.shell.common.Json
import cn.shian.shell.common.nowRfc3339
import cn.shian.shell.common.rfc3339
import cn.shian.shell.inspector.InspectorViewModel
import java.time.OffsetDateTime

const val TEMPLATE = "food_sales_daily"

/** Every item answered; the first `failGeneral` yes/no general items and `failKey` key items fail. */
fun answersFor(cl: ChecklistRecord, failGeneral: Int = 0, failKey: Int = 0, fridge: Double = 4.0, photo: String = "a".repeat(64)): List<AnswerInput> {
    var g = failGeneral
    var k = failKey
    return cl.items.map { item ->
        var ok = true
        if (item.kind == "general" && item.answerType == "yes_no" && g > 0) { ok = false; g-- }
        else if (item.kind == "key" && k > 0) { ok = false; k-- }
        val value = if (item.answerType == "number") (if ((item.max ?: 0.0) > 0) fridge else -20.0) else null
        AnswerInput(item.id, ok, false, if (ok) null else "现场发现问题", value, if (item.answerType == "photo") listOf(photo) else emptyList())
    }
}

fun inspectionInput(merchantId: String, inspectors: List<String>, answers: List<AnswerInput>, result: String): InspectionInput {
    val end = OffsetDateTime.now().minusMinutes(1)
    return InspectionInput(null, merchantId, TEMPLATE, 1u, inspectors, answers, result, rfc3339(end.minusMinutes(40)), rfc3339(end), 24.48, 118.09)
}

object InspectorTests : Suite("inspector") {
    init {
        test("offline_evaluation_follows_the_rules") {
            withTempDir { dir ->
                openStore(dir, "insp").use { st ->
                    val cl = st.checklist(TEMPLATE, null)
                    expectEquals(30, cl.items.size, "items")
                    fun eval(a: List<AnswerInput>) = st.evaluateAnswers(TEMPLATE, 1u, a, nowRfc3339())
                    expectEquals("compliant", eval(answersFor(cl)).result, "all fine")
                    val basic = eval(answersFor(cl, failGeneral = 8))
                    expectEquals(Triple("basically_compliant", 8u, "rectify_by_deadline"), Triple(basic.result, basic.failedGeneral, basic.followUp), "8 general")
                    expectTrue(basic.deadline != null, "a deadline")
                    expectEquals("non_compliant", eval(answersFor(cl, failGeneral = 9)).result, "9 general")
                    expectEquals("non_compliant", eval(answersFor(cl, failKey = 1)).result, "1 key")
                    val warm = eval(answersFor(cl, fridge = 12.0))
                    expectTrue(warm.violations.single().outOfLimits, "a warm fridge fails even if ticked")
                    val e = expectThrows<ShianException.Validation> { st.recordInspection(inspectionInput("m-1", listOf("only-me"), answersFor(cl), "compliant")) }
                    expectEquals("too_few_inspectors" to "inspectors", e.code to e.field, "two inspectors needed")
                    val mismatch = expectThrows<ShianException.Validation> { st.recordInspection(inspectionInput("m-1", listOf("a", "b"), answersFor(cl, failKey = 1), "compliant")) }
                    expectEquals("result_mismatch", mismatch.code, "result must be the computed one")
                    expectEquals(0, st.pendingOps(10u).size, "nothing queued")
                }
            }
        }

        test("download_district_inspect_offline_sync") {
            val s = SharedServer.server
            val region = "350211" // 集美区: this suite's own district
            val market = s.createMarket("集美农贸市场", region)
            val shop = s.createMerchant(market, "集美冻品行")
            val u1 = SharedServer.name("li")
            val u2 = SharedServer.name("chen")
            val ids = listOf(s.createUser(u1, "insp-pass-1", "inspector", region = region), s.createUser(u2, "insp-pass-1", "inspector", region = region))
            s.json("POST", "/v1/draws", mapOf("name" to "集美双随机", "seed" to "kt-$u1", "region_codes" to listOf(region), "count" to 1, "inspectors" to ids), s.adminToken())
            withTempDir { dir ->
                openStore(dir, "li", s.url, u1, "insp-pass-1", "phone-$u1").use { phone ->
                    val vm = InspectorViewModel(phone)
                    expectTrue(vm.download(), "download: ${vm.state.error}")
                    expectEquals(listOf(shop["id"]), vm.state.district.map { it.merchantId }, "district")
                    val task = vm.state.tasks.single()
                    expectEquals(ids.sorted(), task.inspectors.sorted(), "task inspectors")
                    expectTrue(phone.inbox("checklist").any { Json.obj(it)["id"] == TEMPLATE }, "checklists arrived")

                    // Offline from here: the phone evaluates and queues.
                    vm.start(task)
                    val items = vm.state.current!!.checklist.items
                    var failed = 0
                    for (item in items) {
                        when (item.answerType) {
                            "number" -> vm.answer(item.id, true, value = if ((item.max ?: 0.0) > 0) 3.0 else -19.0)
                            "photo" -> vm.attachPhoto(item.id, "photo ${item.id} $u1".toByteArray())
                            else -> if (item.kind == "general" && failed < 3) { failed++; vm.answer(item.id, false, note = "问题") } else vm.answer(item.id, true)
                        }
                        if (vm.state.current!!.answered < items.size) expectTrue(vm.state.current!!.live == null, "no result before every item is answered")
                    }
                    expectEquals("basically_compliant", vm.state.current!!.live?.result, "live result")
                    val out = vm.submit() ?: fail("submit: ${vm.state.error}")
                    expectEquals("inspection.record", phone.pendingOps(10u).single().kind, "queued")

                    // First sync before the photo is up: parked, retryable.
                    vm.sync()
                    val parked = phone.parkedOps().single()
                    expectEquals(Triple(out.inspectionId, "unknown_attachment", true), Triple(parked.opId, parked.reasonCode, parked.retryable), "parked")
                    val token = s.login(u1, "insp-pass-1")["token"] as String
                    expectEquals(1, vm.uploadPhotos { sha, bytes, type ->
                        val (st, body) = s.request("PUT", "/v1/attachments/$sha", token = token, bytes = bytes, contentType = type)
                        if (st !in 200..299) fail("upload: $st $body")
                    }, "uploaded")
                    expectTrue(vm.sync(), "sync: ${vm.state.error}")
                    expectEquals(Pair(0L, 0L), Pair(vm.state.sync!!.pending, vm.state.sync!!.parked), "all pushed")
                }
                // The second inspector sees the result on the district feed.
                openStore(dir, "chen", s.url, u2, "insp-pass-1", "phone-$u2").use { partner ->
                    partner.syncNow()
                    val results = partner.inbox("inspection.record").map { Json.obj(it) }
                    expectEquals(listOf("basically_compliant"), results.map { it["result"] }, "partner sees it")
                    expectEquals(3, (results[0]["violations"] as List<*>).size, "violations")
                }
            }
        }
    }
}
