// The mobile-shell's scripted day (cn.shian.shell.demo.ScriptedDay) against a real server.
package cn.shian.tests

import cn.shian.shell.demo.Account
import cn.shian.shell.demo.DayConfig
import cn.shian.shell.demo.ScriptedDay

object ScriptedDayTests : Suite("demo") {
    init {
        test("scripted_day_plays_through") {
            val s = SharedServer.server
            val region = "350212" // 同安区: its own district
            val market = s.createMarket("同安冷链市场", region)
            val a = s.merchantAccount(market, "同安海鲜档", SharedServer.name("sa"))
            val b = s.merchantAccount(market, "同安饭店", SharedServer.name("sb"))
            val inspectors = listOf(SharedServer.name("si"), SharedServer.name("si")).map { u ->
                s.createUser(u, "insp-pass-1", "inspector", region = region); Account(u, "insp-pass-1")
            }
            withTempDir { dir ->
                val lines = mutableListOf<String>()
                val r = ScriptedDay.run(DayConfig(s.url, Account(a.second, a.third), Account(b.second, b.third), inspectors, dir, say = { lines += it }))
                expectTrue(r.offlineSyncFailedRetryably, "the offline sync failed retryably")
                expectEquals(4L, r.aPushed, "A pushed its day")
                expectEquals(listOf("missing_certificate"), r.warnings, "warnings")
                expectEquals(2L, r.bPushed, "B pushed the receipt and a sale")
                expectTrue(r.consumerVerified, "consumer verified the code")
                expectEquals(null, r.inspectionSkipped, "inspection ran")
                expectEquals("basically_compliant", r.inspection?.result, "inspection result")
                expectTrue(r.inspectionSynced, "inspection synced")
                expectTrue(r.reportReceipt?.matches(Regex("^[0-9A-HJKMNP-TV-Y]{5}(-[0-9A-HJKMNP-TV-Y]{5}){3}$")) == true, "report filed with a receipt: ${r.reportReceipt} ${r.reportNote}")
                expectTrue(lines.size >= 10, "narrated: ${lines.size}")
            }
        }
    }
}
