"""Field inspection through the Python binding: the phone evaluates a checklist
offline with core's rules, records the inspection in the outbox, and the
server accepts it on sync (re-checking it with the same code)."""

import hashlib
import json
import unittest
import urllib.request
from datetime import datetime, timedelta, timezone

import shian
from harness import ShianServer
from ledger_helpers import TempDirMixin, open_store

T = "food_sales_daily"
PHOTO = b"\xff\xd8\xff\xe0 cold store, 2024-05-20 09:12"
PHOTO_SHA = hashlib.sha256(PHOTO).hexdigest()


def answers_for(checklist, fail_general=0, fail_key=0, fridge=4.0, photo=PHOTO_SHA):
    """Every item answered: compliant except the first `fail_*` items of each kind."""
    out = []
    for item in checklist.items:
        compliant = True
        if item.kind == "general" and item.answer_type == "yes_no" and fail_general > 0:
            compliant, fail_general = False, fail_general - 1
        elif item.kind == "key" and fail_key > 0:
            compliant, fail_key = False, fail_key - 1
        value = None
        if item.answer_type == "number":
            value = fridge if item.max is not None and item.max > 0 else -20.0
        photos = [photo] if item.answer_type == "photo" else []
        out.append(shian.AnswerInput(item_id=item.id, compliant=compliant, not_applicable=False,
                                     note=None if compliant else "现场发现问题", value=value, photos=photos))
    return out


def times():
    end = datetime.now(timezone.utc) - timedelta(minutes=1)
    return (end - timedelta(minutes=40)).isoformat(), end.isoformat()


def inspection(merchant_id, inspectors, answers, result, inspection_id=None):
    started, finished = times()
    return shian.InspectionInput(inspection_id=inspection_id, merchant_id=merchant_id, template_id=T, template_version=1,
                                 inspectors=list(inspectors), answers=answers, result=result,
                                 started_at=started, finished_at=finished, lat=24.48, lng=118.09)


class OfflineInspectionTest(TempDirMixin, unittest.TestCase):
    def setUp(self):
        super().setUp()
        self.store = open_store(self.tmp, "insp")
        self.checklist = self.store.checklist(T, None)

    def evaluate(self, answers):
        return self.store.evaluate_answers(T, 1, answers, times()[1])

    def test_builtin_checklists_are_there_offline(self):
        ids = {(c.id, c.version) for c in self.store.checklists()}
        self.assertIn((T, 1), ids)
        self.assertEqual(len(self.checklist.items), 30)
        fridge = next(i for i in self.checklist.items if i.answer_type == "number" and i.max == 8)
        self.assertEqual((fridge.min, fridge.unit, fridge.limits_zh), (0.0, "℃", "0～8 ℃"))
        with self.assertRaises(shian.ShianError.NotFound):
            self.store.checklist("no_such_template", None)

    def test_results_follow_the_rules(self):
        ok = self.evaluate(answers_for(self.checklist))
        self.assertEqual((ok.result, ok.result_zh, ok.follow_up, ok.violations), ("compliant", "符合", "none", []))
        basic = self.evaluate(answers_for(self.checklist, fail_general=8))
        self.assertEqual((basic.result, basic.failed_general, basic.follow_up), ("basically_compliant", 8, "rectify_by_deadline"))
        self.assertRegex(basic.deadline, r"^\d{4}-\d{2}-\d{2}$")
        self.assertEqual(len(basic.violations), 8)
        self.assertTrue(all(v.basis.startswith("《") for v in basic.violations))
        bad = self.evaluate(answers_for(self.checklist, fail_general=9))
        self.assertEqual(bad.result, "non_compliant")
        key = self.evaluate(answers_for(self.checklist, fail_key=1))
        self.assertEqual((key.result, key.failed_key, key.follow_up), ("non_compliant", 1, "stop_and_investigate"))

    def test_a_warm_fridge_fails_even_if_ticked(self):
        out = self.evaluate(answers_for(self.checklist, fridge=12.0))
        self.assertEqual(out.result, "basically_compliant")
        (v,) = out.violations
        self.assertTrue(v.out_of_limits)
        self.assertEqual((v.value, v.limits), (12.0, "0～8 ℃"))

    def test_incomplete_answers_are_typed_errors(self):
        answers = answers_for(self.checklist)
        with self.assertRaises(shian.ShianError.Validation) as ctx:
            self.evaluate(answers[:-1])
        self.assertEqual((ctx.exception.code, ctx.exception.field), ("missing_answer", "answers"))
        answers[6].photos = []
        with self.assertRaises(shian.ShianError.Validation) as ctx:
            self.evaluate(answers)
        self.assertEqual(ctx.exception.code, "missing_photo")

    def test_record_checks_then_enqueues(self):
        answers = answers_for(self.checklist, fail_general=1)
        with self.assertRaises(shian.ShianError.Validation) as ctx:
            self.store.record_inspection(inspection("m-1", ["insp-1"], answers, "basically_compliant"))
        self.assertEqual((ctx.exception.code, ctx.exception.field), ("too_few_inspectors", "inspectors"))
        with self.assertRaises(shian.ShianError.Validation) as ctx:
            self.store.record_inspection(inspection("m-1", ["insp-1", "insp-2"], answers, "compliant"))
        self.assertEqual((ctx.exception.code, ctx.exception.field), ("result_mismatch", "result"))
        self.assertEqual(self.store.pending_ops(10), [], "a refused record is not queued")

        out = self.store.record_inspection(inspection("m-1", ["insp-1", "insp-2"], answers, "basically_compliant"))
        (op,) = self.store.pending_ops(10)
        self.assertEqual((op.kind, op.op_id), ("inspection.record", out.inspection_id))
        payload = json.loads(op.payload_json)
        self.assertEqual((payload["inspection_id"], payload["result"], len(payload["answers"])),
                         (out.inspection_id, "basically_compliant", 30))

    def test_printable_record(self):
        answers = answers_for(self.checklist, fail_key=1)
        info = shian.PrintInfo(authority="厦门市思明区市场监督管理局", merchant_name="<老王>海鲜档", merchant_licence=None,
                               merchant_address=None, representative="王某", inspector_names=["李明", "陈红"],
                               record_url="https://shian.example.cn/r/1", qr_svg=None)
        html = self.store.render_inspection_record_html(
            inspection("m-1", ["insp-1", "insp-2"], answers, "non_compliant"), info)
        self.assertIn("监督检查结果记录表", html)
        self.assertIn("&lt;老王&gt;海鲜档", html)
        self.assertNotIn("<老王>", html)
        self.assertNotIn("<script", html)


class InspectorDayTest(TempDirMixin, unittest.TestCase):
    """Two inspectors of 湖里区 (350206) download their district, inspect offline, sync."""

    @classmethod
    def setUpClass(cls):
        s = cls.server = ShianServer.start()
        market = s.create_market("湖里冷链市场", "350206")
        cls.shop = s.create_merchant(market, "海天冻品行")
        s.create_merchant(s.create_market("思明农贸市场", "350203"), "别区商户")  # not in the district
        cls.insp = [s.create_user(u, "insp-pass-1", "inspector", region="350206") for u in ("li", "chen")]
        cls.draw = s.request("POST", "/v1/draws", {"name": "5月双随机", "seed": "2024-05-20 公示", "region_codes": ["350206"],
                                                   "count": 1, "inspectors": cls.insp}, s.admin_token())

    @classmethod
    def tearDownClass(cls):
        cls.server.stop()

    def test_download_inspect_offline_sync(self):
        phone = open_store(self.tmp, "li", self.server.url, "li", "insp-pass-1", "phone-li")
        report = phone.sync_now()
        self.assertGreater(report.pulled, 0)
        district = {d.merchant_id: d for d in phone.directory()}
        self.assertEqual(set(district), {self.shop["id"]}, "only the merchants of the district")
        self.assertEqual(json.loads(district[self.shop["id"]].payload_json)["shop_code"], self.shop["shop_code"])
        (task,) = [json.loads(t) for t in phone.inbox("task")]
        self.assertEqual((task["merchant_id"], sorted(task["inspectors"])), (self.shop["id"], sorted(self.insp)))
        self.assertIn(T, [json.loads(c)["id"] for c in phone.inbox("checklist")])

        # In the cold store, offline: the answers give the result on the spot.
        checklist = phone.checklist(T, 1)
        answers = answers_for(checklist, fail_general=2)
        live = phone.evaluate_answers(T, 1, answers, times()[1])
        self.assertEqual(live.result, "basically_compliant")
        rec = phone.record_inspection(inspection(task["merchant_id"], task["inspectors"], answers, live.result))
        self.assertEqual(rec.result, live.result)

        # The photo is not uploaded yet: the server parks the record as retryable.
        report = phone.sync_now()
        self.assertEqual((report.accepted, report.rejected), (0, 1))
        (parked,) = phone.parked_ops()
        self.assertEqual((parked.op_id, parked.reason_code, parked.retryable), (rec.inspection_id, "unknown_attachment", True))

        token = self.server.login("li", "insp-pass-1")["token"]
        req = urllib.request.Request(
            self.server.url + "/v1/attachments/" + PHOTO_SHA, data=PHOTO, method="PUT",
            headers={"Authorization": "Bearer " + token, "Content-Type": "image/jpeg"})
        urllib.request.urlopen(req, timeout=15).read()

        report = phone.sync_now()
        self.assertEqual((report.accepted, report.rejected), (1, 0))
        self.assertEqual(phone.parked_ops(), [])
        self.assertEqual(phone.sync_status().pending, 0)
        # The district's feed carries the result back (the second inspector sees it too).
        partner = open_store(self.tmp, "chen", self.server.url, "chen", "insp-pass-1", "phone-chen")
        partner.sync_now()
        results = [json.loads(r) for r in partner.inbox("inspection.record")]
        self.assertEqual([(r["inspection_id"], r["result"]) for r in results], [(rec.inspection_id, "basically_compliant")])
        self.assertEqual(len(results[0]["violations"]), 2)


if __name__ == "__main__":
    unittest.main()
