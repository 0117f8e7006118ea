//! The `inspection.record` event and the printable record (监督检查结果记录表).
//!
//! An inspection is legal evidence, so the event is checked strictly before it
//! is stored: at least two distinct officers (Order 23: the inspected party may
//! refuse fewer than two; regulation.md §2, §3), the pushing officer among them,
//! a template the receiver knows in that exact version, plausible times, and a
//! result that equals what the rules compute from the answers (the server
//! re-runs [`evaluate`] and rejects a disagreement with `result_mismatch`).
//! Whether the merchant is in the inspector's district needs the registry and
//! is checked by the server, not here.

use chrono::{DateTime, FixedOffset, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::checklist::{Template, TemplateRegistry};
use super::error::InspectionError;
use super::evaluate::{evaluate, Answer, Evaluation, FollowUp, InspectionResult, InspectionRules};
use super::{check_id, china_offset, not_in_future, parse_timestamp, parse_uuid};

/// Most inspectors on one record.
pub const MAX_INSPECTORS: usize = 10;

/// Where the inspection took place (WGS-84 degrees).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Location {
    pub lat: f64,
    pub lng: f64,
}

/// The event payload as it arrives on the wire (`inspection.record`).
/// Timestamps and the id are strings here so that a bad one is reported with
/// its field rather than as a JSON error.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct InspectionRecordPayload {
    pub inspection_id: String,
    pub merchant_id: String,
    pub template_id: String,
    pub template_version: u32,
    pub inspectors: Vec<String>,
    pub answers: Vec<Answer>,
    pub result: InspectionResult,
    pub started_at: String,
    pub finished_at: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub location: Option<Location>,
}

/// A validated inspection record.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct InspectionRecord {
    pub inspection_id: Uuid,
    pub merchant_id: String,
    pub template_id: String,
    pub template_version: u32,
    pub inspectors: Vec<String>,
    pub answers: Vec<Answer>,
    pub result: InspectionResult,
    pub started_at: DateTime<FixedOffset>,
    pub finished_at: DateTime<FixedOffset>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub location: Option<Location>,
}

/// A record together with its evaluation (violations, follow-up): what the
/// server stores and what the outcome of the push carries.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CheckedInspection {
    pub record: InspectionRecord,
    pub evaluation: Evaluation,
}

/// What the check needs from its surroundings.
#[derive(Debug, Clone, Copy)]
pub struct RecordContext<'a> {
    /// The authenticated inspector pushing the event; `None` when re-checking a
    /// stored record (no pusher).
    pub pushing_inspector: Option<&'a str>,
    /// The receiver's clock.
    pub now: DateTime<Utc>,
    pub templates: &'a TemplateRegistry,
    pub rules: &'a InspectionRules,
}

/// Parses and checks an `inspection.record` payload from JSON.
pub fn parse_inspection_record(
    json: &str,
    ctx: &RecordContext<'_>,
) -> Result<CheckedInspection, InspectionError> {
    let payload: InspectionRecordPayload =
        serde_json::from_str(json).map_err(|e| InspectionError::InvalidJson {
            message: e.to_string(),
        })?;
    check_inspection_record(payload, ctx)
}

/// Checks an `inspection.record` payload; on success returns the typed record
/// with its evaluation. The first rule broken is reported.
pub fn check_inspection_record(
    p: InspectionRecordPayload,
    ctx: &RecordContext<'_>,
) -> Result<CheckedInspection, InspectionError> {
    let inspection_id = parse_uuid("inspection_id", &p.inspection_id)?;
    check_id("merchant_id", &p.merchant_id)?;
    check_id("template_id", &p.template_id)?;
    check_inspectors(&p.inspectors, ctx)?;

    let started_at = parse_timestamp("started_at", &p.started_at)?;
    let finished_at = parse_timestamp("finished_at", &p.finished_at)?;
    not_in_future(
        "started_at",
        started_at,
        ctx.now,
        ctx.rules.max_future_skew_seconds,
    )?;
    not_in_future(
        "finished_at",
        finished_at,
        ctx.now,
        ctx.rules.max_future_skew_seconds,
    )?;
    if finished_at < started_at {
        return Err(InspectionError::FinishedBeforeStarted);
    }
    if let Some(loc) = p.location {
        if !(loc.lat.is_finite() && (-90.0..=90.0).contains(&loc.lat)) {
            return Err(InspectionError::InvalidField {
                field: "location.lat".into(),
                reason: "纬度须在 −90 到 90 之间".into(),
            });
        }
        if !(loc.lng.is_finite() && (-180.0..=180.0).contains(&loc.lng)) {
            return Err(InspectionError::InvalidField {
                field: "location.lng".into(),
                reason: "经度须在 −180 到 180 之间".into(),
            });
        }
    }

    let template = ctx
        .templates
        .get(&p.template_id, p.template_version)
        .ok_or_else(|| {
            let id_known = ctx.templates.list().iter().any(|t| t.id == p.template_id);
            InspectionError::UnknownTemplate {
                field: if id_known {
                    "template_version"
                } else {
                    "template_id"
                }
                .into(),
                template_id: p.template_id.clone(),
                version: p.template_version,
            }
        })?;

    let evaluation = evaluate(template, &p.answers, finished_at, ctx.rules)?;
    if evaluation.result != p.result {
        return Err(InspectionError::ResultMismatch {
            given: p.result.label_zh().into(),
            computed: evaluation.result.label_zh().into(),
        });
    }

    Ok(CheckedInspection {
        record: InspectionRecord {
            inspection_id,
            merchant_id: p.merchant_id,
            template_id: p.template_id,
            template_version: p.template_version,
            inspectors: p.inspectors,
            answers: p.answers,
            result: p.result,
            started_at,
            finished_at,
            location: p.location,
        },
        evaluation,
    })
}

fn check_inspectors(inspectors: &[String], ctx: &RecordContext<'_>) -> Result<(), InspectionError> {
    if inspectors.len() > MAX_INSPECTORS {
        return Err(InspectionError::InvalidField {
            field: "inspectors".into(),
            reason: format!("检查人员不能超过 {MAX_INSPECTORS} 人"),
        });
    }
    for (i, who) in inspectors.iter().enumerate() {
        check_id(&format!("inspectors[{i}]"), who)?;
        if inspectors[..i].contains(who) {
            return Err(InspectionError::DuplicateInspector {
                field: format!("inspectors[{i}]"),
                inspector: who.clone(),
            });
        }
    }
    if inspectors.len() < ctx.rules.min_inspectors {
        return Err(InspectionError::TooFewInspectors {
            required: ctx.rules.min_inspectors,
            found: inspectors.len(),
        });
    }
    if let Some(pusher) = ctx.pushing_inspector {
        if !inspectors.iter().any(|i| i == pusher) {
            return Err(InspectionError::InspectorNotListed {
                inspector: pusher.to_string(),
            });
        }
    }
    Ok(())
}

/// What the printed record shows besides the record itself.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct RecordPrintInfo {
    /// The inspecting authority, e.g. `××市市场监督管理局`.
    #[serde(default)]
    pub authority: Option<String>,
    pub merchant_name: String,
    /// 食品经营许可证编号.
    #[serde(default)]
    pub merchant_licence: Option<String>,
    #[serde(default)]
    pub merchant_address: Option<String>,
    /// The merchant's representative present (经营者/负责人).
    #[serde(default)]
    pub representative: Option<String>,
    /// Names in the order of `record.inspectors`; missing names fall back to
    /// the ids.
    #[serde(default)]
    pub inspector_names: Vec<String>,
    /// The record online (printed and encoded in the QR).
    pub record_url: String,
    /// An inline `<svg>` QR of `record_url`, made by the caller's QR encoder.
    /// It is embedded as-is only if it looks like a plain SVG (no scripts,
    /// event handlers, links or foreign objects); otherwise it is left out.
    #[serde(default)]
    pub qr_svg: Option<String>,
}

/// Escapes text for HTML element content and quoted attributes.
pub fn html_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 8);
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            _ => out.push(c),
        }
    }
    out
}

/// A conservative check that a caller-supplied SVG is inert.
fn svg_is_inert(svg: &str) -> bool {
    let t = svg.trim();
    let lower = t.to_ascii_lowercase();
    if !(lower.starts_with("<svg") || lower.starts_with("<?xml")) || !lower.ends_with("</svg>") {
        return false;
    }
    for banned in [
        "<script",
        "javascript:",
        "<foreignobject",
        "href",
        "<iframe",
        "<!entity",
        "url(",
    ] {
        if lower.contains(banned) {
            return false;
        }
    }
    // No event-handler attributes: whitespace, "on", letters, optional spaces, "=".
    let b = lower.as_bytes();
    let mut i = 0;
    while i + 2 < b.len() {
        if b[i].is_ascii_whitespace() && b[i + 1] == b'o' && b[i + 2] == b'n' {
            let mut j = i + 3;
            while j < b.len() && b[j].is_ascii_alphabetic() {
                j += 1;
            }
            while j < b.len() && b[j].is_ascii_whitespace() {
                j += 1;
            }
            if j > i + 3 && j < b.len() && b[j] == b'=' {
                return false;
            }
        }
        i += 1;
    }
    true
}

fn fmt_time(t: DateTime<FixedOffset>) -> String {
    t.with_timezone(&china_offset())
        .format("%Y年%m月%d日 %H:%M")
        .to_string()
}

const STYLE: &str = "\
@page{size:A4;margin:14mm}\
*{box-sizing:border-box}\
body{margin:0;color:#000;background:#fff;font:14px/1.55 \"Noto Sans CJK SC\",\"Source Han Sans SC\",\"PingFang SC\",\"Microsoft YaHei\",\"SimSun\",sans-serif}\
.sheet{max-width:190mm;margin:0 auto;padding:8mm 0}\
.authority{text-align:center;font-size:15px}\
h1{text-align:center;font-size:22px;margin:4px 0 2px;letter-spacing:2px}\
.sub{text-align:center;font-size:12px;color:#333;margin-bottom:8px}\
table{width:100%;border-collapse:collapse;margin:6px 0;page-break-inside:auto}\
th,td{border:1px solid #000;padding:4px 6px;vertical-align:top;text-align:left}\
th{background:#f2f2f2;font-weight:600;white-space:nowrap}\
tr{page-break-inside:avoid}\
.k{width:7.5em}\
.box{display:inline-block;margin-right:1.4em;white-space:nowrap}\
.on{font-weight:700}\
.key{font-weight:700}\
.basis{font-size:12px}\
.follow{margin-top:4px}\
.sign td{height:3.2em}\
.foot{display:flex;gap:12px;align-items:center;margin-top:10px;font-size:12px;word-break:break-all}\
.qr svg{width:30mm;height:30mm}\
.muted{color:#444}\
@media print{.sheet{padding:0}th{-webkit-print-color-adjust:exact;print-color-adjust:exact}}";

/// Renders the printable zh-CN record (监督检查结果记录表) as one self-contained
/// HTML page: inline CSS, no scripts, no external resources, every
/// user-supplied string escaped. Modelled on table 2 of 食药监食监一〔2016〕58号
/// (被检查单位, 检查内容, 检查结果, 结果处理, signatures), plus the list of
/// violations with their provisions and a QR to the online record.
pub fn render_record_html(
    template: &Template,
    checked: &CheckedInspection,
    info: &RecordPrintInfo,
) -> String {
    let r = &checked.record;
    let ev = &checked.evaluation;
    let e = html_escape;
    let mut h = String::with_capacity(8 * 1024 + ev.violations.len() * 512);

    h.push_str("<!DOCTYPE html><html lang=\"zh-CN\"><head><meta charset=\"utf-8\">");
    h.push_str("<meta name=\"viewport\" content=\"width=device-width,initial-scale=1\">");
    h.push_str("<title>监督检查结果记录表</title><style>");
    h.push_str(STYLE);
    h.push_str("</style></head><body><main class=\"sheet\">");
    if let Some(a) = info.authority.as_deref().filter(|a| !a.trim().is_empty()) {
        h.push_str(&format!("<div class=\"authority\">{}</div>", e(a)));
    }
    h.push_str("<h1>监督检查结果记录表</h1>");
    h.push_str(&format!(
        "<div class=\"sub\">依据《{}》（{} 第 {} 版）　记录编号：{}</div>",
        e(&template.title),
        e(&template.id),
        template.version,
        r.inspection_id
    ));

    let dash = "—".to_string();
    let names: Vec<String> = r
        .inspectors
        .iter()
        .enumerate()
        .map(
            |(i, id)| match info.inspector_names.get(i).filter(|n| !n.trim().is_empty()) {
                Some(n) => e(n),
                None => e(id),
            },
        )
        .collect();

    h.push_str("<table>");
    row(&mut h, "被检查单位", &e(&info.merchant_name));
    row(
        &mut h,
        "地址",
        &info
            .merchant_address
            .as_deref()
            .map(e)
            .unwrap_or_else(|| dash.clone()),
    );
    row(
        &mut h,
        "许可证编号",
        &info
            .merchant_licence
            .as_deref()
            .map(e)
            .unwrap_or_else(|| dash.clone()),
    );
    row(
        &mut h,
        "经营者（负责人）",
        &info
            .representative
            .as_deref()
            .map(e)
            .unwrap_or_else(|| dash.clone()),
    );
    row(
        &mut h,
        "检查时间",
        &format!(
            "{} 至 {}（北京时间）",
            fmt_time(r.started_at),
            fmt_time(r.finished_at)
        ),
    );
    row(&mut h, "检查人员", &names.join("、"));
    let (key, general) = template.counts();
    row(
        &mut h,
        "检查内容",
        &format!(
            "依据《{}》对你单位进行了监督检查，检查表共 {} 项（重点项 {} 项、一般项 {} 项），实际检查 {} 项，合理缺项 {} 项；发现问题：重点项 {} 项、一般项 {} 项。",
            e(&template.title),
            template.items.len(),
            key,
            general,
            ev.checked_items,
            ev.not_applicable_items,
            ev.failed_key,
            ev.failed_general
        ),
    );
    let boxes = |choices: &[(&str, bool)]| -> String {
        choices
            .iter()
            .map(|(label, on)| {
                if *on {
                    format!("<span class=\"box on\">☑ {label}</span>")
                } else {
                    format!("<span class=\"box\">☐ {label}</span>")
                }
            })
            .collect()
    };
    row(
        &mut h,
        "检查结果",
        &boxes(&[
            ("符合", ev.result == InspectionResult::Compliant),
            (
                "基本符合",
                ev.result == InspectionResult::BasicallyCompliant,
            ),
            ("不符合", ev.result == InspectionResult::NonCompliant),
        ]),
    );
    let mut handling = boxes(&[
        ("通过", matches!(ev.follow_up, FollowUp::None)),
        (
            "书面限期整改",
            matches!(ev.follow_up, FollowUp::RectifyByDeadline { .. }),
        ),
        (
            "立即停止食品经营活动",
            matches!(ev.follow_up, FollowUp::StopAndInvestigate { .. }),
        ),
    ]);
    match &ev.follow_up {
        FollowUp::None => {}
        FollowUp::RectifyByDeadline { deadline, text, basis } => handling.push_str(&format!(
            "<div class=\"follow\"><b>整改期限：{}</b><br>{}<br><span class=\"basis\">依据：{}</span></div>",
            deadline.format("%Y年%m月%d日"),
            e(text),
            e(basis)
        )),
        FollowUp::StopAndInvestigate { text, basis } => handling.push_str(&format!(
            "<div class=\"follow\"><b>{}</b><br><span class=\"basis\">依据：{}</span></div>",
            e(text),
            e(basis)
        )),
    }
    row(&mut h, "结果处理", &handling);
    h.push_str("</table>");

    if !ev.violations.is_empty() {
        h.push_str("<table><thead><tr><th>序号</th><th>检查项</th><th>类别</th><th>检查内容</th><th>问题说明</th><th>违反的规定</th></tr></thead><tbody>");
        for (i, v) in ev.violations.iter().enumerate() {
            let mut problem = v.note.as_deref().map(e).unwrap_or_default();
            if let Some(val) = v.value {
                if !problem.is_empty() {
                    problem.push('；');
                }
                problem.push_str(&format!("实测 {}", val));
                if let Some(l) = &v.limits {
                    problem.push_str(&format!("（要求 {}）", e(l)));
                }
            }
            if problem.is_empty() {
                problem = "不符合".into();
            }
            let kind = if v.kind == super::checklist::ItemKind::Key {
                format!("<span class=\"key\">*{}</span>", v.kind.label_zh())
            } else {
                v.kind.label_zh().to_string()
            };
            h.push_str(&format!(
                "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td class=\"basis\">{}</td></tr>",
                i + 1,
                e(&v.item_id),
                kind,
                e(&v.text),
                problem,
                e(&v.basis)
            ));
        }
        h.push_str("</tbody></table>");
    }

    h.push_str("<table class=\"sign\"><tr><th class=\"k\">检查人员（签字）</th><td>");
    h.push_str(&names.join("　　"));
    h.push_str("</td><th class=\"k\">日期</th><td>");
    h.push_str(
        &r.finished_at
            .with_timezone(&china_offset())
            .format("%Y年%m月%d日")
            .to_string(),
    );
    h.push_str("</td></tr><tr><th class=\"k\">被检查单位（签字）</th><td>");
    if let Some(rep) = info.representative.as_deref() {
        h.push_str(&format!("<span class=\"muted\">{}</span>", e(rep)));
    }
    h.push_str("</td><th class=\"k\">日期</th><td></td></tr></table>");

    h.push_str("<div class=\"foot\">");
    if let Some(svg) = info.qr_svg.as_deref().filter(|s| svg_is_inert(s)) {
        h.push_str("<div class=\"qr\">");
        h.push_str(svg.trim());
        h.push_str("</div>");
    }
    h.push_str(&format!(
        "<div>扫码或访问查看在线记录：<br>{}<br><span class=\"muted\">本记录由检查终端依据检查规则第 {} 版自动评定生成；检查结果记录表应在经营场所醒目位置张贴公示至下次检查。</span></div>",
        e(&info.record_url),
        ev.rules_version
    ));
    h.push_str("</div></main></body></html>");
    h
}

fn row(h: &mut String, label: &str, value_html: &str) {
    h.push_str("<tr><th class=\"k\">");
    h.push_str(label);
    h.push_str("</th><td>");
    h.push_str(value_html);
    h.push_str("</td></tr>");
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::inspection::evaluate::tests::{all_ok, at, rules, sales};

    fn registry() -> &'static TemplateRegistry {
        match TemplateRegistry::builtin() {
            Ok(r) => r,
            Err(e) => panic!("{e}"),
        }
    }

    fn payload() -> InspectionRecordPayload {
        InspectionRecordPayload {
            inspection_id: "01900000-0000-7000-8000-000000000001".into(),
            merchant_id: "m-1".into(),
            template_id: "food_sales_daily".into(),
            template_version: 1,
            inspectors: vec!["u-a".into(), "u-b".into()],
            answers: all_ok(sales()),
            result: InspectionResult::Compliant,
            started_at: "2024-05-20T09:00:00+08:00".into(),
            finished_at: "2024-05-20T10:00:00+08:00".into(),
            location: Some(Location {
                lat: 24.48,
                lng: 118.09,
            }),
        }
    }

    fn ctx() -> RecordContext<'static> {
        RecordContext {
            pushing_inspector: Some("u-a"),
            now: at("2024-05-20T10:02:00+08:00").with_timezone(&Utc),
            templates: registry(),
            rules: rules(),
        }
    }

    fn code(p: InspectionRecordPayload) -> Option<(&'static str, Option<String>)> {
        check_inspection_record(p, &ctx())
            .err()
            .map(|e| (e.code(), e.field().map(str::to_string)))
    }

    #[test]
    fn valid_record_passes_and_round_trips() {
        let checked = check_inspection_record(payload(), &ctx());
        let Ok(checked) = checked else {
            panic!("{checked:?}")
        };
        assert_eq!(checked.evaluation.result, InspectionResult::Compliant);
        let json = serde_json::to_string(&payload()).unwrap_or_default();
        assert!(parse_inspection_record(&json, &ctx()).is_ok());
        assert_eq!(
            parse_inspection_record("{\"x\":1}", &ctx())
                .err()
                .map(|e| e.code()),
            Some("invalid_json")
        );
    }

    #[test]
    fn result_mismatch() {
        let mut p = payload();
        p.answers[1].compliant = false; // a general item
        assert_eq!(code(p.clone()).map(|c| c.0), Some("result_mismatch"));
        p.result = InspectionResult::BasicallyCompliant;
        assert_eq!(code(p), None);
    }

    #[test]
    fn inspector_rules() {
        let mut p = payload();
        p.inspectors = vec!["u-a".into()];
        assert_eq!(
            code(p),
            Some(("too_few_inspectors", Some("inspectors".into())))
        );
        let mut p = payload();
        p.inspectors = vec!["u-a".into(), "u-a".into()];
        assert_eq!(
            code(p),
            Some(("duplicate_inspector", Some("inspectors[1]".into())))
        );
        let mut p = payload();
        p.inspectors = vec!["u-b".into(), "u-c".into()];
        assert_eq!(
            code(p),
            Some(("inspector_not_listed", Some("inspectors".into())))
        );
        let mut p = payload();
        p.inspectors = vec!["u-a".into(), " ".into()];
        assert_eq!(
            code(p),
            Some(("missing_field", Some("inspectors[1]".into())))
        );
        // Re-checking a stored record has no pusher.
        let mut c = ctx();
        c.pushing_inspector = None;
        let mut p = payload();
        p.inspectors = vec!["u-b".into(), "u-c".into()];
        assert!(check_inspection_record(p, &c).is_ok());
    }

    #[test]
    fn unknown_template_or_version() {
        let mut p = payload();
        p.template_version = 2;
        assert_eq!(
            code(p),
            Some(("unknown_template", Some("template_version".into())))
        );
        let mut p = payload();
        p.template_id = "nope".into();
        assert_eq!(
            code(p),
            Some(("unknown_template", Some("template_id".into())))
        );
    }

    #[test]
    fn answers_checked_through_the_record() {
        let mut p = payload();
        p.answers.pop();
        assert_eq!(code(p).map(|c| c.0), Some("missing_answer"));
        let mut p = payload();
        p.answers[3].item_id = "x".into();
        assert_eq!(
            code(p),
            Some(("unknown_item", Some("answers[3].item_id".into())))
        );
    }

    #[test]
    fn timestamp_rules() {
        let mut p = payload();
        p.finished_at = "2024-05-20T10:07:01+08:00".into(); // now + 5 min 1 s
        assert_eq!(
            code(p),
            Some(("timestamp_in_future", Some("finished_at".into())))
        );
        let mut p = payload();
        p.finished_at = "2024-05-20T10:07:00+08:00".into(); // exactly now + 5 min
        assert_eq!(code(p), None);
        let mut p = payload();
        p.started_at = "2024-05-20 09:00".into();
        assert_eq!(
            code(p),
            Some(("invalid_timestamp", Some("started_at".into())))
        );
        let mut p = payload();
        p.finished_at = "2024-05-20T10:00:00".into(); // no offset
        assert_eq!(
            code(p),
            Some(("invalid_timestamp", Some("finished_at".into())))
        );
        let mut p = payload();
        p.finished_at = "2024-05-20T08:59:59+08:00".into();
        assert_eq!(
            code(p),
            Some(("finished_before_started", Some("finished_at".into())))
        );
        let mut p = payload();
        p.finished_at = "2024-05-20T01:00:00Z".into(); // 09:00 CST == started_at: allowed
        assert_eq!(code(p), None);
    }

    #[test]
    fn id_and_location_rules() {
        let mut p = payload();
        p.inspection_id = "not-a-uuid".into();
        assert_eq!(
            code(p),
            Some(("invalid_uuid", Some("inspection_id".into())))
        );
        let mut p = payload();
        p.merchant_id = "".into();
        assert_eq!(code(p), Some(("missing_field", Some("merchant_id".into()))));
        let mut p = payload();
        p.location = Some(Location {
            lat: 91.0,
            lng: 0.0,
        });
        assert_eq!(
            code(p),
            Some(("invalid_field", Some("location.lat".into())))
        );
    }

    #[test]
    fn html_record_escapes_and_shows_the_result() {
        let mut p = payload();
        p.answers[1].compliant = false;
        p.answers[1].note = Some("<script>alert(1)</script> 许可证未公示".into());
        p.result = InspectionResult::BasicallyCompliant;
        let checked = check_inspection_record(p, &ctx());
        let Ok(checked) = checked else {
            panic!("{checked:?}")
        };
        let info = RecordPrintInfo {
            authority: Some("厦门市市场监督管理局".into()),
            merchant_name: "张三冻品<行>".into(),
            merchant_licence: Some("JY13502030000012".into()),
            merchant_address: Some("\"A\" & 'B' 冷库 3 号".into()),
            representative: Some("张三".into()),
            inspector_names: vec!["李四".into(), "王五".into()],
            record_url: "https://example.org/r?a=1&b=\"2\"".into(),
            qr_svg: Some("<svg xmlns=\"http://www.w3.org/2000/svg\" viewBox=\"0 0 1 1\"><path d=\"M0 0h1v1H0z\"/></svg>".into()),
        };
        let html = render_record_html(sales(), &checked, &info);
        assert!(html.starts_with("<!DOCTYPE html>"));
        assert!(!html.contains("<script"));
        assert!(html.contains("&lt;script&gt;alert(1)&lt;/script&gt;"));
        assert!(html.contains("张三冻品&lt;行&gt;"));
        assert!(html.contains("&quot;A&quot; &amp; &#39;B&#39;"));
        assert!(html.contains("a=1&amp;b=&quot;2&quot;"));
        assert!(html.contains("☑ 基本符合"));
        assert!(html.contains("整改期限：2024年06月04日"));
        assert!(html.contains("李四、王五"));
        assert!(html.contains("<path d=\"M0 0h1v1H0z\"/>"));
        assert!(html.contains("《食品经营许可管理办法》第二十六条"));
        if let Ok(path) = std::env::var("SHIAN_DUMP_RECORD_HTML") {
            let _ = std::fs::write(path, &html);
        }

        let mut bad = info.clone();
        bad.qr_svg = Some("<svg onload=\"alert(1)\"></svg>".into());
        assert!(!render_record_html(sales(), &checked, &bad).contains("onload"));
        bad.qr_svg = Some("<svg><a href=\"javascript:x\"/></svg>".into());
        assert!(!render_record_html(sales(), &checked, &bad).contains("javascript"));
        bad.qr_svg = Some("<img src=x>".into());
        assert!(!render_record_html(sales(), &checked, &bad).contains("<img"));
    }

    #[test]
    fn svg_check() {
        assert!(svg_is_inert(
            "<svg viewBox=\"0 0 2 2\"><rect width=\"1\" height=\"1\"/></svg>"
        ));
        assert!(!svg_is_inert("<svg><script>x</script></svg>"));
        assert!(!svg_is_inert("<svg\nonclick = 'x'></svg>"));
        // "on" inside an ordinary attribute value is fine.
        assert!(svg_is_inert(
            "<svg><text font-family=\"x\"> one two</text></svg>"
        ));
    }
}
