// A scripted day at a market, played through the view models against a running
// server: merchant A records offline and syncs when back in signal, merchant B
// receives A's goods by scanning A's voucher, a consumer scans A's product code,
// an inspector downloads the district and inspects offline, a whistleblower
// drafts a report.
//
//   java -Djna.library.path=<dir of libshian_ffi.so> -cp app.jar:jna.jar \
//        cn.shian.shell.demo.ScriptedDay http://127.0.0.1:8080 \
//        [--merchant-a USER:PASS] [--merchant-b USER:PASS] [--inspectors U1:P1,U2:P2] [--work DIR]
//
// The default accounts are those `shian-server serve --demo` prints.
package cn.shian.shell.demo

import cn.shian.core.BuyerInput
import cn.shian.core.InspectionOutcome
import cn.shian.core.ShianStore
import cn.shian.shell.common.ShianHttp
import cn.shian.shell.common.storeConfig
import cn.shian.shell.consumer.ConsumerScanViewModel
import cn.shian.shell.inspector.HttpPhotoUploader
import cn.shian.shell.inspector.InspectorViewModel
import cn.shian.shell.merchant.MerchantLedgerViewModel
import cn.shian.shell.whistleblower.WhistleblowerViewModel
import java.io.File
import java.nio.file.Files
import kotlin.system.exitProcess

data class Account(val username: String, val password: String) {
    companion object {
        fun parse(s: String): Account = s.split(':', limit = 2).let { Account(it[0], it.getOrElse(1) { "" }) }
    }
}

data class DayConfig(
    val serverUrl: String,
    val merchantA: Account = Account("merchant1", "demo-merchant1-pass"),
    val merchantB: Account = Account("merchant2", "demo-merchant2-pass"),
    val inspectors: List<Account> = listOf(Account("inspector1", "demo-inspector1-pass"), Account("inspector2", "demo-inspector2-pass")),
    val workDir: File = Files.createTempDirectory("shian-day-").toFile(),
    /** Where a device is sent while "offline": a closed port. */
    val offlineUrl: String = "http://127.0.0.1:1",
    val say: (String) -> Unit = ::println,
)

/** What happened, for the tests and the summary. */
data class DayReport(
    val steps: MutableList<String> = mutableListOf(),
    var offlineSyncFailedRetryably: Boolean = false,
    var aPushed: Long = 0,
    var voucher: String? = null,
    var fishTraceCode: String? = null,
    var warnings: List<String> = emptyList(),
    var bReceivedTraceCode: String? = null,
    var bPushed: Long = 0,
    var consumerVerified: Boolean = false,
    var consumerNote: String? = null,
    var inspection: InspectionOutcome? = null,
    var inspectionSynced: Boolean = false,
    var inspectionSkipped: String? = null,
    /** The receipt the server answered the whistleblower's report with. */
    var reportReceipt: String? = null,
    var reportNote: String? = null,
)

object ScriptedDay {
    @JvmStatic
    fun main(args: Array<String>) {
        if (args.isEmpty() || args[0].startsWith("-")) {
            System.err.println("usage: ScriptedDay SERVER_URL [--merchant-a U:P] [--merchant-b U:P] [--inspectors U1:P1,U2:P2] [--work DIR]")
            exitProcess(2)
        }
        var c = DayConfig(serverUrl = args[0])
        var i = 1
        while (i < args.size) {
            val v = args.getOrNull(i + 1) ?: break
            c = when (args[i]) {
                "--merchant-a" -> c.copy(merchantA = Account.parse(v))
                "--merchant-b" -> c.copy(merchantB = Account.parse(v))
                "--inspectors" -> c.copy(inspectors = v.split(',').map(Account::parse))
                "--work" -> c.copy(workDir = File(v).also { it.mkdirs() })
                else -> { System.err.println("unknown option ${args[i]}"); exitProcess(2) }
            }
            i += 2
        }
        val r = run(c)
        println("\n${r.steps.size} steps played; stores in ${c.workDir}")
        exitProcess(if (r.aPushed > 0 && r.bPushed > 0) 0 else 1)
    }

    fun run(c: DayConfig): DayReport {
        val r = DayReport()
        fun step(s: String) { r.steps += s; c.say(s) }
        val http = ShianHttp(c.serverUrl)
        val aId = http.login(c.merchantA.username, c.merchantA.password).merchantId ?: error("${c.merchantA.username} is not a merchant")
        val bId = http.login(c.merchantB.username, c.merchantB.password).merchantId ?: error("${c.merchantB.username} is not a merchant")
        fun store(name: String, url: String, acc: Account) =
            ShianStore.open(storeConfig(File(c.workDir, "$name.db").path, url, "demo-$name-${c.workDir.name.takeLast(8)}".replace(Regex("[^A-Za-z0-9_-]"), "-"), acc.username, acc.password))

        // 05:00 — merchant A in the cold store, no signal.
        step("05:00 经营户A离线进货/销货 merchant A records offline")
        store("merchant-a", c.offlineUrl, c.merchantA).use { s ->
            val a = MerchantLedgerViewModel(s, aId)
            val fish = a.recordPurchase(MerchantLedgerViewModel.PurchaseForm("冰鲜带鱼", "aquatic", "120", supplierName = "福建连江海产养殖场", supplierRegion = "350122", certificates = listOf("origin" to "闽连江产地2024-118"), unitPriceFen = 2600))
                ?: error("purchase failed: ${a.state.error}")
            r.fishTraceCode = fish.traceCode
            a.recordPurchase(MerchantLedgerViewModel.PurchaseForm("冷鲜猪肉", "livestock_meat", "50", supplierName = "同安定点屠宰场"))
            val sale = a.recordSale(fish.traceCode!!, "30", buyer = BuyerInput.Merchant(bId), unitPriceFen = 3200) ?: error("sale failed: ${a.state.error}")
            r.voucher = sale.voucherCode
            a.recordSale(fish.traceCode!!, "10.5")
            r.warnings = a.state.warnings.map { it.warning.code }
            step("  进货 2 批, 销货 2 笔; 凭证 voucher ${sale.voucherCode}; 预警 warnings ${r.warnings}; 库存 stock " +
                a.state.stock.joinToString { "${it.productName} ${it.held.value}${it.held.unit}" })
            val ok = a.syncNow()
            r.offlineSyncFailedRetryably = !ok && a.state.error?.retryable == true
            step("  同步 sync: ${if (ok) "ok" else "失败 failed (${a.state.error?.kind}, retryable=${a.state.error?.retryable})"}; 待上传 pending ${a.state.sync?.pending}")
        }

        // 08:00 — back in signal: the app restarts and syncs.
        step("08:00 经营户A恢复网络并同步 merchant A back online")
        store("merchant-a", c.serverUrl, c.merchantA).use { s ->
            val a = MerchantLedgerViewModel(s, aId)
            a.refresh()
            val ok = a.syncNow()
            r.aPushed = (a.state.lastSync?.accepted ?: 0u).toLong()
            step("  同步 sync: ${if (ok) "ok" else a.state.error}; 已接受 accepted ${a.state.lastSync?.accepted}, 拒绝 rejected ${a.state.lastSync?.rejected}; 待上传 pending ${a.state.sync?.pending}")
        }

        // 09:00 — merchant B receives the fish by scanning A's voucher.
        step("09:00 经营户B扫码收货 merchant B scans A's voucher")
        store("merchant-b", c.serverUrl, c.merchantB).use { s ->
            val b = MerchantLedgerViewModel(s, bId)
            val typed = r.voucher!!.lowercase().chunked(4).joinToString("-")
            check(b.scanVoucher(typed)) { "voucher did not verify: ${b.state.error}" }
            val got = b.receiveGoods(aId, MerchantLedgerViewModel.PurchaseForm("冰鲜带鱼", "aquatic", "30", certificates = listOf("origin" to "闽连江产地2024-118")))
                ?: error("receipt failed: ${b.state.error}")
            r.bReceivedTraceCode = got.traceCode
            b.recordSale(got.traceCode!!, "4.2", buyer = BuyerInput.Named("鹭江饭店后厨"))
            val ok = b.syncNow()
            r.bPushed = (b.state.lastSync?.accepted ?: 0u).toLong()
            step("  收货批次 batch ${got.traceCode} ← 凭证 ${r.voucher}; 同步 sync ${if (ok) "ok" else b.state.error}, 已接受 accepted ${r.bPushed}")
        }

        // 11:00 — a consumer scans the product code on A's price tag.
        step("11:00 消费者扫码 consumer scans the product QR")
        val consumer = ConsumerScanViewModel(http)
        r.consumerVerified = consumer.scan("${c.serverUrl}/t/${r.fishTraceCode}")
        r.consumerNote = consumer.state.note
        step("  校验 verified=${r.consumerVerified} ${consumer.state.code}; ${consumer.state.info?.let { "公开信息 public info ${it.keys}" } ?: consumer.state.note}")

        // 14:00 — an inspector downloads the district, inspects offline, syncs.
        step("14:00 监管人员下载辖区并离线检查 inspector downloads the district")
        if (c.inspectors.size < 2) {
            r.inspectionSkipped = "two inspector accounts are needed"
        } else {
            val ids = c.inspectors.map { http.login(it.username, it.password).subjectId }
            store("inspector", c.serverUrl, c.inspectors[0]).use { s ->
                val vm = InspectorViewModel(s)
                vm.download()
                val task = vm.state.tasks.firstOrNull()
                val target = task?.let { Triple(it.merchantId, it.merchantName, it.inspectors) }
                    ?: vm.state.district.firstOrNull()?.let { Triple(it.merchantId, it.name, ids) }
                step("  辖区 district ${vm.state.district.size} 户, 任务 tasks ${vm.state.tasks.size}")
                if (target == null) {
                    r.inspectionSkipped = "no merchant in the inspector's district"
                    step("  跳过 skipped: ${r.inspectionSkipped}")
                    return@use
                }
                vm.startFor(target.first, target.second, target.third)
                val items = vm.state.current!!.checklist.items
                var failures = 2
                for (item in items) {
                    when (item.answerType) {
                        "number" -> vm.answer(item.id, true, value = item.max?.let { if (it > 0) it / 2 else it - 2.0 } ?: ((item.min ?: 0.0) + 1.0))
                        "photo" -> vm.attachPhoto(item.id, "现场照片 ${item.id} ${System.nanoTime()}".toByteArray())
                        else -> if (item.kind == "general" && failures > 0) {
                            failures--
                            vm.answer(item.id, false, note = "现场发现问题，责令整改")
                        } else vm.answer(item.id, true)
                    }
                }
                val live = vm.state.current?.live
                step("  现场评定 live result: ${live?.resultZh} (${live?.violations?.size} 项不符合), ${live?.followUpZh} ${live?.deadline ?: ""}")
                r.inspection = vm.submit()
                val up = vm.uploadPhotos(HttpPhotoUploader(http, c.inspectors[0].username, c.inspectors[0].password))
                r.inspectionSynced = vm.sync() && vm.state.sync?.pending == 0L && vm.state.sync?.parked == 0L
                step("  提交 submitted ${r.inspection?.inspectionId}; 照片上传 photos $up; 同步 synced=${r.inspectionSynced} ${vm.state.error ?: ""}")
            }
        }

        // 20:00 — a whistleblower files a report.
        step("20:00 吹哨人举报 whistleblower files a report")
        val wb = WhistleblowerViewModel(http, File(c.workDir, "report-drafts.json"))
        wb.edit { it.copy(category = WhistleblowerViewModel.Category.UNKNOWN_ORIGIN, description = "夜间有无标签冻品从后门卸货，疑似走私牛肉", place = "冷链市场 B 区后门", shopCode = r.fishTraceCode) }
        val receipt = wb.submit()
        r.reportReceipt = receipt
        r.reportNote = wb.state.note
        step("  ${receipt?.let { "回执码 receipt $it" } ?: wb.state.note}")
        return r
    }
}
