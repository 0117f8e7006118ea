"""The tamper-evident log's checks through the Python binding (issue 16).

The proofs here are built by an implementation of RFC 9162's tree written
in this file from the RFC's definitions (hashlib only), not by Shian, so
the binding's verifier is held to the RFC rather than to itself: an honest
audit path and consistency proof verify; a changed fact, another index, a
truncated proof, another tree's proof, a fork and a rollback do not. The
checkpoint opener is asked about notes no trusted key signed, with the
trust list of a real server on loopback.
"""

import hashlib
import json
import unittest

import shian
from harness import ShianServer


def leaf_hash(data: bytes) -> bytes:
    return hashlib.sha256(b"\x00" + data).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    return hashlib.sha256(b"\x01" + left + right).digest()


def split(n: int) -> int:
    """The largest power of two below n (RFC 9162 §2.1.1's k)."""
    k = 1
    while k * 2 < n:
        k *= 2
    return k


def mth(leaves):
    if not leaves:
        return hashlib.sha256(b"").digest()
    if len(leaves) == 1:
        return leaves[0]
    k = split(len(leaves))
    return node_hash(mth(leaves[:k]), mth(leaves[k:]))


def audit_path(m, leaves):
    if len(leaves) == 1:
        return []
    k = split(len(leaves))
    if m < k:
        return audit_path(m, leaves[:k]) + [mth(leaves[k:])]
    return audit_path(m - k, leaves[k:]) + [mth(leaves[:k])]


def subproof(m, leaves, whole):
    if m == len(leaves):
        return [] if whole else [mth(leaves)]
    k = split(len(leaves))
    if m <= k:
        return subproof(m, leaves[:k], whole) + [mth(leaves[k:])]
    return subproof(m - k, leaves[k:], False) + [mth(leaves[:k])]


def fact_leaf(kind, fact_id, body) -> bytes:
    """Shian's leaf layout; for bodies of strings only, sorted compact JSON is
    RFC 8785's canonical form."""
    canonical = json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return f"shian-fact/1\n{kind}\n{fact_id}\n{canonical}".encode()


def facts(n):
    return [("ledger.purchase", f"entry-{i}",
             {"merchant_id": "m1", "product": {"name": "冻猪蹄"}, "quantity": {"value": str(i + 1), "unit": "kg"}})
            for i in range(n)]


def checkpoint(origin, leaves):
    return shian.LogCheckpoint(origin=origin, size=len(leaves), root=mth(leaves).hex(), kid="", witnesses=[])


ORIGIN = "shian.test/log/350203"


class EvidenceTest(unittest.TestCase):
    def setUp(self):
        self.facts = facts(23)
        self.leaves = [leaf_hash(fact_leaf(*f)) for f in self.facts]

    def included(self, fact, index, head, proof):
        kind, fact_id, body = fact
        return shian.verify_fact_inclusion(kind, fact_id, json.dumps(body, ensure_ascii=False), index, head,
                                           [h.hex() for h in proof])

    def test_an_honest_audit_path_proves_each_fact_and_a_lie_does_not(self):
        for size in (1, 2, 7, 8, 9, 23):
            leaves = self.leaves[:size]
            head = checkpoint(ORIGIN, leaves)
            for m in range(size):
                self.assertTrue(self.included(self.facts[m], m, head, audit_path(m, leaves)), (size, m))
        head = checkpoint(ORIGIN, self.leaves)
        path = audit_path(5, self.leaves)
        kind, fact_id, body = self.facts[5]
        # Key order and spacing of the body are not the fact: still proven.
        spaced = json.dumps(dict(reversed(list(body.items()))), indent=2, ensure_ascii=False)
        self.assertTrue(shian.verify_fact_inclusion(kind, fact_id, spaced, 5, head, [h.hex() for h in path]))
        altered = dict(body, quantity={"value": "500", "unit": "kg"})
        self.assertFalse(self.included((kind, fact_id, altered), 5, head, path), "a changed quantity")
        self.assertFalse(self.included(self.facts[5], 6, head, path), "another index")
        self.assertFalse(self.included(self.facts[5], 5, head, path[:-1]), "a truncated proof")
        self.assertFalse(self.included(self.facts[5], 5, head, path + [path[0]]), "a padded proof")
        self.assertFalse(self.included(self.facts[5], 5, head, audit_path(5, self.leaves[:20])),
                         "a proof for another tree size")
        self.assertFalse(self.included(self.facts[5], 23, head, path), "beyond the tree")

    def test_a_device_follows_a_growing_log_and_refuses_a_rewritten_forked_or_older_one(self):
        held = checkpoint(ORIGIN, self.leaves[:9])
        first = shian.judge_checkpoint(None, held, [])
        self.assertEqual(first.outcome, shian.CheckpointOutcome.FIRST)
        self.assertTrue(first.accepted)
        self.assertEqual(shian.judge_checkpoint(held, held, []).outcome, shian.CheckpointOutcome.SAME)
        grown = checkpoint(ORIGIN, self.leaves)
        proof = [h.hex() for h in subproof(9, self.leaves, True)]
        v = shian.judge_checkpoint(held, grown, proof)
        self.assertEqual((v.outcome, v.accepted), (shian.CheckpointOutcome.EXTENDED, True))

        # Entry 3 rewritten in the database, the tree rebuilt over it.
        rewritten = list(self.leaves)
        rewritten[3] = leaf_hash(fact_leaf("ledger.purchase", "entry-3", {"merchant_id": "m1"}))
        v = shian.judge_checkpoint(held, checkpoint(ORIGIN, rewritten),
                                   [h.hex() for h in subproof(9, rewritten, True)])
        self.assertEqual((v.outcome, v.accepted), (shian.CheckpointOutcome.INCONSISTENT, False))
        self.assertIn("改写", v.detail)
        # Entry 3 dropped: every later leaf moves up one.
        dropped = self.leaves[:3] + self.leaves[4:]
        v = shian.judge_checkpoint(held, checkpoint(ORIGIN, dropped),
                                   [h.hex() for h in subproof(9, dropped, True)])
        self.assertEqual(v.outcome, shian.CheckpointOutcome.INCONSISTENT)
        fork = checkpoint(ORIGIN, rewritten[:9])
        self.assertEqual(shian.judge_checkpoint(held, fork, []).outcome, shian.CheckpointOutcome.FORKED)
        self.assertEqual(shian.judge_checkpoint(grown, held, []).outcome, shian.CheckpointOutcome.OLDER)
        other = checkpoint("shian.test/log/350206", self.leaves)
        self.assertEqual(shian.judge_checkpoint(held, other, proof).outcome, shian.CheckpointOutcome.OTHER_LOG)

    def test_bad_hashes_are_a_validation_error_naming_the_field(self):
        head = checkpoint(ORIGIN, self.leaves)
        for bad in ("", "zz", "A" * 64, "0" * 63):
            with self.assertRaises(shian.ShianError.Validation) as e:
                shian.judge_checkpoint(None, head, [bad])
            self.assertEqual(e.exception.field, "proof[0]")
            self.assertEqual(e.exception.code, "invalid_hash")

    def test_a_checkpoint_no_trusted_key_signed_is_refused(self):
        server = ShianServer.start()
        try:
            trust = json.dumps(server.request("GET", "/.well-known/shian-keys.json"))
        finally:
            server.stop()
        root = hashlib.sha256(b"").digest()
        import base64
        body = f"{ORIGIN}\n0\n{base64.b64encode(root).decode()}\n"
        unsigned = body + "\n"
        stranger = body + "\n— " + ORIGIN + " " + base64.b64encode(b"\x01\x02\x03\x04" + b"\x00" * 64).decode() + "\n"
        for note, code in ((unsigned, "checkpoint_malformed"), (stranger, "checkpoint_unknown_key"),
                           ("not a checkpoint", "checkpoint_malformed")):
            with self.assertRaises(shian.ShianError.Validation) as e:
                shian.open_checkpoint(trust, note)
            self.assertEqual(e.exception.code, code, note)


if __name__ == "__main__":
    unittest.main()
