// The staff register of mobile-shell on the JVM over the real library and
// server: the merchant records workers offline (a certificate expiring before
// it was issued refused on the spot with its field, nothing queued), removes
// one, syncs, and the register comes back from the server; the district's
// inspector pulls the roster and gets the checklist's health-certificate item
// pre-filled from it (an expired certificate fails it, named in the note).
package cn.shian.tests

import cn.shian.shell.inspector.InspectorViewModel
import cn.shian.shell.merchant.StaffViewModel
import cn.shian.shell.merchant.StaffViewModel.WorkerForm

object StaffTests : Suite("vm.staff") {
    init {
        test("merchant_records_staff_offline_syncs_and_the_inspector_sees_them_in_the_checklist") {
            val s = SharedServer.server
            val market = s.createMarket()
            val (mId, mUser, mPass) = s.merchantAccount(market, "老王熟食店", SharedServer.name("staff"))
            val insp = SharedServer.name("sinsp")
            s.createUser(insp, "insp-pass-1", "inspector", region = "350203")
            withTempDir { dir ->
                openStore(dir, "m", s.url, mUser, mPass).use { st ->
                    val vm = StaffViewModel(st, mId)
                    vm.load()
                    expectEquals(0, vm.state.workers.size, "empty register")
                    val wang = vm.save(WorkerForm("王建国", "负责人", "JK3502030001", "2026-06-01", "2027-06-01"))
                    expectTrue(wang != null, "saved: ${vm.state.error}")
                    val li = vm.save(WorkerForm("李秀英", "从业人员", "JK3502030002", "2024-12-01", "2025-11-30"))
                    expectTrue(li != null, "saved: ${vm.state.error}")
                    val zhao = vm.save(WorkerForm("赵国庆", "配送"))
                    // Refused on the phone: the field at fault, nothing queued.
                    expectEquals(null, vm.save(WorkerForm("孙海燕", "配送", "JK3502030003", "2026-06-01", "2026-05-01")), "refused")
                    expectEquals("expiry_before_issue", vm.state.error?.code, "code")
                    expectEquals("payload.expires_on", vm.state.error?.field, "field")
                    expectEquals(3, vm.state.queued.size, "three queued offline")
                    expectEquals(listOf("李秀英", "王建国", "赵国庆"), vm.state.workers.map { it.name }, "shown at once")
                    expectEquals(listOf("李秀英", "赵国庆"), vm.state.notAllowed.map { it.name }, "expired and missing")
                    expectEquals("王*", vm.state.workers.first { it.name == "王建国" }.publicName, "what the public sees")
                    expectTrue(vm.remove(zhao!!), "removed: ${vm.state.error}")
                    expectEquals(listOf("李秀英", "王建国"), vm.state.workers.map { it.name }, "removal shown at once")

                    expectTrue(vm.sync(), "synced: ${vm.state.error}")
                    expectEquals(emptyList<String>(), vm.state.queued, "sent")
                    expectEquals(listOf("李秀英" to "expired", "王建国" to "valid"), vm.state.workers.map { it.name to it.status }, "the server's register")
                }
                openStore(dir, "insp", s.url, insp, "insp-pass-1").use { st ->
                    st.syncNow()
                    val answer = st.healthItemPrefill(mId, "food_sales_daily", 1u)!!
                    expectEquals("6.2", answer.itemId, "the Art. 45 item")
                    expectTrue(!answer.compliant, "an expired certificate fails the item")
                    expectTrue(answer.note!!.contains("李秀英") && answer.note!!.contains("已于 2025-11-30 过期"), "evidence: ${answer.note}")
                    // The inspector's screen starts with that item answered.
                    val ivm = InspectorViewModel(st)
                    expectTrue(ivm.startFor(mId, "老王熟食店", listOf(insp, "another-inspector")), "started: ${ivm.state.error}")
                    val shown = ivm.state.current!!.answers["6.2"]
                    expectEquals(answer, shown, "the health item pre-filled on the inspector's screen")
                    expectEquals(1, ivm.state.current!!.answered, "only that item")
                }
            }
        }
    }
}
