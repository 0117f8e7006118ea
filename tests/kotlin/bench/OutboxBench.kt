// Device-side benchmark through the Kotlin binding (JNA) with the mobile or release
// library: an event written to the outbox, opening a store that holds 100,000
// events, local forward and backward traces. Not a test: it asserts nothing and
// prints a markdown table. Run it with scripts/bench-kotlin.sh.
//
// Arguments: [--writes N] [--events N] [--traces N] [--opens N] [--dir DIR]
package cn.shian.bench

import cn.shian.core.BuyerInput
import cn.shian.core.ShianStore
import cn.shian.core.SupplierInput
import cn.shian.shell.common.externalSupplier
import cn.shian.shell.common.purchaseInput
import cn.shian.shell.common.qty
import cn.shian.shell.common.rfc3339
import cn.shian.shell.common.saleInput
import cn.shian.shell.common.storeConfig
import java.io.File
import java.nio.file.Files
import java.time.OffsetDateTime
import java.time.ZoneOffset
import java.time.temporal.ChronoUnit
import kotlin.random.Random

object OutboxBench {
    private data class Row(val what: String, val n: Int, val nanos: LongArray)

    private fun pct(sorted: LongArray, p: Double): Long = sorted[((sorted.size - 1) * p).toInt()]
    private fun ms(n: Long) = "%.3f ms".format(n / 1e6)

    private fun open(path: File, device: String = "bench"): ShianStore =
        ShianStore.open(storeConfig(path.path, "http://127.0.0.1:1", device, "bench", "x"))

    @JvmStatic
    fun main(args: Array<String>) {
        fun arg(name: String, default: Int) = args.indexOf(name).takeIf { it >= 0 }?.let { args[it + 1].toInt() } ?: default
        val writes = arg("--writes", 20_000)
        val events = arg("--events", 100_000)
        val traces = arg("--traces", 10_000)
        val opens = arg("--opens", 20)
        val keep = args.indexOf("--dir").takeIf { it >= 0 }?.let { File(args[it + 1]).also { d -> d.mkdirs() } }
        val dir = keep ?: Files.createTempDirectory("shian-bench-").toFile()
        val rows = mutableListOf<Row>()
        val rnd = Random(20240520)
        val merchant = "0190a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5b"
        val farm = externalSupplier("福建连江海产养殖场", regionCode = "350122")
        // Events are dated in the past, as a day's ledger would be.
        val t0 = OffsetDateTime.now(ZoneOffset.ofHours(8)).minusDays(1).truncatedTo(ChronoUnit.SECONDS)
        var tick = 0L
        fun at() = rfc3339(t0.plusNanos(1_000_000L * tick++))

        // 1. One event to the outbox: record_purchase on a fresh store.
        open(File(dir, "writes.db")).use { s ->
            repeat(2_000) { s.recordPurchase(purchaseInput(merchant, "带鱼", "aquatic", qty("12.5"), farm, certificates = listOf("origin" to "O-$it"), receivedAt = at())) }
            val p = LongArray(writes)
            val codes = ArrayList<String>(writes)
            for (i in 0 until writes) {
                val input = purchaseInput(merchant, "冰鲜带鱼", "aquatic", qty("${100 + i % 50}.5"), farm, certificates = listOf("origin" to "闽连江产地-$i"), unitPriceFen = 2600, receivedAt = at())
                val t = System.nanoTime()
                val out = s.recordPurchase(input)
                p[i] = System.nanoTime() - t
                codes += out.traceCode!!
            }
            rows += Row("`record_purchase` → outbox (one transaction each)", writes, p)
            val q = LongArray(writes)
            for (i in 0 until writes) {
                val input = saleInput(merchant, codes[i], qty("2"), if (i % 4 == 0) BuyerInput.Merchant("0190a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5c") else BuyerInput.Retail, soldAt = at())
                val t = System.nanoTime()
                s.recordSale(input)
                q[i] = System.nanoTime() - t
            }
            rows += Row("`record_sale` → outbox (¼ to merchants, with voucher)", writes, q)
        }

        // 2. A store holding `events` events: roots bought from a farm, each sold
        // to 5 merchants (vouchers) who receive it by scanning, each of those
        // selling 3 times at retail: 26 events per root.
        val big = File(dir, "big.db")
        val roots = ArrayList<String>()
        val leaves = ArrayList<String>()
        val tBuild = System.nanoTime()
        open(big).use { s ->
            var n = 0
            var r = 0
            while (n < events) {
                val root = s.recordPurchase(purchaseInput(merchant, "冻牛肉", "frozen", qty("1000"), farm, receivedAt = at())).traceCode!!
                roots += root; n++
                for (k in 0 until 5) {
                    if (n >= events) break
                    val buyer = "m-%05d-%d".format(r % 997, k)
                    val v = s.recordSale(saleInput(merchant, root, qty("150"), BuyerInput.Merchant(buyer), soldAt = at())).voucherCode!!
                    val got = s.recordPurchase(purchaseInput(buyer, "冻牛肉", "frozen", qty("150"), SupplierInput.Merchant(merchant), voucherCode = v, receivedAt = at())).traceCode!!
                    n += 2
                    leaves += got
                    for (j in 0 until 3) {
                        if (n >= events) break
                        s.recordSale(saleInput(buyer, got, qty("10"), soldAt = at())); n++
                    }
                }
                r++
            }
        }
        val buildS = (System.nanoTime() - tBuild) / 1e9
        val o = LongArray(opens)
        val st = LongArray(opens)
        var pending = 0L
        for (i in 0 until opens) {
            val t = System.nanoTime()
            val s = open(big)
            val t1 = System.nanoTime()
            pending = s.syncStatus().pending
            st[i] = System.nanoTime() - t1
            o[i] = t1 - t
            s.close()
        }
        rows += Row("open a store holding ${"%,d".format(pending)} events (`ShianStore.open`)", opens, o)
        rows += Row("then the first `sync_status` (counts the outbox)", opens, st)

        // 3. Traces on the device's own data.
        open(big).use { s ->
            repeat(500) { s.traceForward(roots[rnd.nextInt(roots.size)]) }
            val f = LongArray(traces)
            var holders = 0L
            for (i in 0 until traces) {
                val code = roots[rnd.nextInt(roots.size)]
                val t = System.nanoTime()
                val tr = s.traceForward(code)
                f[i] = System.nanoTime() - t
                holders += tr.holders.size
            }
            val avg = holders.toDouble() / traces
            rows += Row("`trace_forward` (root → %.1f holders, %.0f movements)".format(avg, avg * 4), traces, f)
            val b = LongArray(traces)
            for (i in 0 until traces) {
                val code = leaves[rnd.nextInt(leaves.size)]
                val t = System.nanoTime()
                s.traceBackward(code)
                b[i] = System.nanoTime() - t
            }
            rows += Row("`trace_backward` (2 steps to the origin)", traces, b)
        }

        println()
        println("| measurement | n | median | p99 | mean |")
        println("|---|---:|---:|---:|---:|")
        for (r in rows) {
            val s = r.nanos.sortedArray()
            println("| ${r.what} | ${"%,d".format(r.n)} | ${ms(pct(s, 0.5))} | ${ms(pct(s, 0.99))} | ${ms(s.average().toLong())} |")
        }
        println()
        println("Building the ${"%,d".format(events)}-event store through the binding took %.1f s (%.0f events/s).".format(buildS, events / buildS))
        println("The ${"%,d".format(pending)}-event store file: ${"%.1f".format(big.length() / 1e6)} MB.")
        if (keep == null) dir.deleteRecursively()
    }
}
