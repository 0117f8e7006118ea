// The tamper-evident log's checks through the generated binding on the JVM
// (issue 16). The tree is built here from RFC 9162's definitions with
// java.security.MessageDigest, not by Shian: an honest audit path proves a
// fact; a changed fact or a truncated proof does not; a device follows a
// growing log and refuses a rewritten or forked one.
package cn.shian.tests

import cn.shian.core.CheckpointOutcome
import cn.shian.core.LogCheckpoint
import cn.shian.core.ShianException
import cn.shian.core.judgeCheckpoint
import cn.shian.core.verifyFactInclusion
import java.security.MessageDigest

private fun sha256(vararg parts: ByteArray): ByteArray {
    val md = MessageDigest.getInstance("SHA-256")
    parts.forEach { md.update(it) }
    return md.digest()
}

private fun leafHash(data: ByteArray) = sha256(byteArrayOf(0), data)
private fun nodeHash(l: ByteArray, r: ByteArray) = sha256(byteArrayOf(1), l, r)
private fun hex(b: ByteArray) = b.joinToString("") { "%02x".format(it) }

private fun split(n: Int): Int { var k = 1; while (k * 2 < n) k *= 2; return k }

private fun mth(leaves: List<ByteArray>): ByteArray = when (leaves.size) {
    0 -> sha256()
    1 -> leaves[0]
    else -> { val k = split(leaves.size); nodeHash(mth(leaves.subList(0, k)), mth(leaves.subList(k, leaves.size))) }
}

private fun path(m: Int, leaves: List<ByteArray>): List<ByteArray> {
    if (leaves.size == 1) return emptyList()
    val k = split(leaves.size)
    return if (m < k) path(m, leaves.subList(0, k)) + mth(leaves.subList(k, leaves.size))
    else path(m - k, leaves.subList(k, leaves.size)) + mth(leaves.subList(0, k))
}

private fun subproof(m: Int, leaves: List<ByteArray>, whole: Boolean): List<ByteArray> {
    if (m == leaves.size) return if (whole) emptyList() else listOf(mth(leaves))
    val k = split(leaves.size)
    return if (m <= k) subproof(m, leaves.subList(0, k), whole) + mth(leaves.subList(k, leaves.size))
    else subproof(m - k, leaves.subList(k, leaves.size), false) + mth(leaves.subList(0, k))
}

/** A purchase body in RFC 8785 form (sorted keys, strings only). */
private fun body(i: Int, qty: String = "${i + 1}") =
    """{"merchant_id":"m1","product":{"name":"冻猪蹄"},"quantity":{"unit":"kg","value":"$qty"}}"""

private fun leaf(i: Int, qty: String = "${i + 1}") =
    leafHash("shian-fact/1\nledger.purchase\nentry-$i\n${body(i, qty)}".toByteArray())

private const val ORIGIN = "shian.test/log/350203"

private fun head(leaves: List<ByteArray>) =
    LogCheckpoint(ORIGIN, leaves.size.toULong(), hex(mth(leaves)), "", emptyList())

object EvidenceTests : Suite("evidence") {
    init {
        val leaves = (0 until 21).map { leaf(it) }

        test("an_honest_audit_path_proves_a_fact_and_a_lie_does_not") {
            val head = head(leaves)
            for (m in listOf(0, 7, 13, 20)) {
                val proof = path(m, leaves).map(::hex)
                expectTrue(verifyFactInclusion("ledger.purchase", "entry-$m", body(m), m.toULong(), head, proof), "leaf $m")
            }
            val proof = path(7, leaves).map(::hex)
            // Another key order is the same fact.
            val reordered = """{"quantity":{"value":"8","unit":"kg"},"product":{"name":"冻猪蹄"},"merchant_id":"m1"}"""
            expectTrue(verifyFactInclusion("ledger.purchase", "entry-7", reordered, 7uL, head, proof), "reordered")
            expectTrue(!verifyFactInclusion("ledger.purchase", "entry-7", body(7, "80"), 7uL, head, proof), "changed quantity")
            expectTrue(!verifyFactInclusion("ledger.purchase", "entry-7", body(7), 7uL, head, proof.dropLast(1)), "truncated")
            expectTrue(!verifyFactInclusion("ledger.purchase", "entry-7", body(7), 8uL, head, proof), "another index")
            val e = expectThrows<ShianException.Validation> {
                verifyFactInclusion("ledger.purchase", "entry-7", body(7), 7uL, head, listOf("xyz"))
            }
            expectEquals("invalid_hash", e.code, "code")
            expectEquals("proof[0]", e.field, "field")
        }

        test("a_device_follows_a_growing_log_and_refuses_a_rewritten_or_forked_one") {
            val held = head(leaves.subList(0, 8))
            val grown = judgeCheckpoint(held, head(leaves), subproof(8, leaves, true).map(::hex))
            expectEquals(CheckpointOutcome.EXTENDED, grown.outcome, "extended")
            expectTrue(grown.accepted, "accepted")
            val rewritten = leaves.toMutableList().also { it[2] = leaf(2, "200") }
            val lie = judgeCheckpoint(held, head(rewritten), subproof(8, rewritten, true).map(::hex))
            expectEquals(CheckpointOutcome.INCONSISTENT, lie.outcome, "rewritten")
            expectTrue(!lie.accepted, "refused")
            expectEquals(CheckpointOutcome.FORKED, judgeCheckpoint(held, head(rewritten.subList(0, 8)), emptyList()).outcome, "fork")
            expectEquals(CheckpointOutcome.OLDER, judgeCheckpoint(head(leaves), held, emptyList()).outcome, "rollback")
        }
    }
}
