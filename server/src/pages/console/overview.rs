//! `/console`: the overview: how many merchants and markets are registered,
//! how the merchants' risk grades are spread (A–D bars, graded as
//! `GET /v1/risk/merchants` grades them: `crate::field::risk::graded`), and
//! the inspections of the last twelve months with their pass rate (bars
//! and a line, from the store's `inspection_stats` by month, as
//! `GET /v1/stats/inspections?group_by=month` answers). The warnings have
//! their own page (`/console/alerts`); what the overview shows of them is
//! what the risk facts hold today: the ledger warnings of the risk period
//! by kind (the ledger rules' codes), summed over the merchants.
//!
//! An inspection passes when its result is 符合 or 基本符合 (基本符合 means
//! minor findings put right on the spot or by a deadline; only 不符合 fails
//! the visit), so the pass rate is (符合 + 基本符合) / inspections.

use askama::Template;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use axum::routing::get;
use axum::Router;
use chrono::{Datelike, Months, NaiveDate, NaiveTime, TimeZone, Utc};
use shian_core::inspection::{LedgerWarningKind, RiskGrade};

use super::{error_page, html, Analyst};
use crate::store::field::{StatsGroup, StatsRow};
use crate::AppState;

pub fn router() -> Router<AppState> {
    Router::new().route("/console", get(page))
}

/// Width of the longest bar of the grade chart, in SVG units.
const BAR_MAX: f64 = 460.0;

/// The fill of a grade: green to red, the public sign's colours.
pub(super) fn grade_colour(g: RiskGrade) -> &'static str {
    match g {
        RiskGrade::A => "#1b7f3b",
        RiskGrade::B => "#7aa516",
        RiskGrade::C => "#d98a00",
        RiskGrade::D => "#b00020",
    }
}

/// One bar of the grade chart.
struct GradeBar {
    grade: &'static str,
    count: usize,
    /// Share of all merchants, in whole percent.
    percent: u32,
    colour: &'static str,
    y: u32,
    width: f64,
}

/// How many months the inspection chart shows, this one included.
const MONTHS: u32 = 12;

/// The inspection chart's plot area, in SVG units (the axes' labels sit
/// outside it).
const PLOT_LEFT: f64 = 48.0;
const PLOT_TOP: f64 = 16.0;
const PLOT_WIDTH: f64 = 660.0;
const PLOT_HEIGHT: f64 = 200.0;

/// One month of the inspection chart: a bar for the count, a point of the
/// pass-rate line.
struct MonthBar {
    key: String,
    label: String,
    /// `11月`, under the bar.
    short: String,
    count: u64,
    passed: u64,
    /// Whole percent, `None` without inspections.
    pass_rate: Option<u32>,
    x: f64,
    width: f64,
    y: f64,
    height: f64,
    /// The centre of the bar, where its label and line point are.
    mid: f64,
    /// The pass-rate point's height, when there is one.
    rate_y: Option<f64>,
}

/// The inspection chart: its months, the count axis' top, and the pass-rate
/// line as SVG polyline points.
struct MonthChart {
    months: Vec<MonthBar>,
    count_max: u64,
    line: String,
    inspections: u64,
}

#[derive(Template)]
#[template(path = "console/overview.html")]
struct OverviewPage {
    nav: &'static str,
    csrf: String,
    merchants: usize,
    markets: u64,
    grades: Vec<GradeBar>,
    chart: MonthChart,
    /// Ledger warnings of the risk period, and how many merchants have any.
    ledger_warnings: u64,
    merchants_warned: usize,
    /// The same warnings by kind.
    ledger_kinds: Vec<KindBar>,
}

/// One kind of ledger warning: how many, at how many merchants.
struct KindBar {
    code: &'static str,
    what: &'static str,
    count: u64,
    merchants: usize,
    y: u32,
    width: f64,
}

/// Bars of the ledger warnings by kind (`[count, merchants]` per kind in
/// `LedgerWarningKind::ALL` order), the longest `BAR_MAX` wide.
fn kind_bars(per_kind: [(u64, usize); 7]) -> Vec<KindBar> {
    let most = per_kind.iter().map(|k| k.0).max().unwrap_or(0).max(1);
    LedgerWarningKind::ALL
        .into_iter()
        .zip(per_kind)
        .enumerate()
        .map(|(i, (k, (count, merchants)))| KindBar {
            code: k.as_str(),
            what: super::merchant::ledger_kind_zh(k),
            count,
            merchants,
            y: 6 + 30 * i as u32,
            width: (count as f64 / most as f64 * BAR_MAX).round(),
        })
        .collect()
}

/// The first day of the month `back` months before `today`'s.
fn month_start(today: NaiveDate, back: u32) -> NaiveDate {
    let first = today.with_day(1).unwrap_or(today);
    first.checked_sub_months(Months::new(back)).unwrap_or(first)
}

/// A round top for the count axis: 1, 2 or 5 times a power of ten, at least
/// the largest count.
fn nice_max(n: u64) -> u64 {
    let mut step = 1u64;
    loop {
        for m in [1, 2, 5] {
            if step.saturating_mul(m) >= n {
                return step.saturating_mul(m).max(1);
            }
        }
        step = step.saturating_mul(10);
    }
}

/// Lays out the last [`MONTHS`] months ending with `today`'s, a month with
/// no row drawn as an empty one (a gap in inspections must show).
fn month_chart(today: NaiveDate, rows: &[StatsRow]) -> MonthChart {
    let keys: Vec<NaiveDate> = (0..MONTHS)
        .rev()
        .map(|back| month_start(today, back))
        .collect();
    let count_max = nice_max(rows.iter().map(|r| r.count).max().unwrap_or(0));
    let slot = PLOT_WIDTH / MONTHS as f64;
    let mut line = Vec::new();
    let months = keys
        .iter()
        .enumerate()
        .map(|(i, d)| {
            let key = format!("{:04}-{:02}", d.year(), d.month());
            let row = rows.iter().find(|r| r.key == key);
            let count = row.map_or(0, |r| r.count);
            let passed = row.map_or(0, |r| r.compliant + r.basically_compliant);
            let pass_rate = (passed * 100).checked_div(count).map(|p| p as u32);
            let height = (count as f64 / count_max as f64 * PLOT_HEIGHT).round();
            let x = PLOT_LEFT + slot * i as f64 + slot * 0.2;
            let mid = PLOT_LEFT + slot * (i as f64 + 0.5);
            let rate_y = (count > 0).then(|| {
                let exact = passed as f64 / count as f64;
                ((PLOT_TOP + PLOT_HEIGHT * (1.0 - exact)) * 10.0).round() / 10.0
            });
            if let Some(y) = rate_y {
                line.push(format!("{mid:.1},{y:.1}"));
            }
            MonthBar {
                label: format!("{}年{}月", d.year(), d.month()),
                short: format!("{}月", d.month()),
                key,
                count,
                passed,
                pass_rate,
                x: (x * 10.0).round() / 10.0,
                width: (slot * 0.6 * 10.0).round() / 10.0,
                y: PLOT_TOP + PLOT_HEIGHT - height,
                height,
                mid: (mid * 10.0).round() / 10.0,
                rate_y,
            }
        })
        .collect::<Vec<_>>();
    MonthChart {
        inspections: months.iter().map(|m| m.count).sum(),
        months,
        count_max,
        line: line.join(" "),
    }
}

/// Bars of the grade distribution, the longest `BAR_MAX` wide.
fn grade_bars(counts: [usize; 4]) -> Vec<GradeBar> {
    let total: usize = counts.iter().sum();
    let most = counts.iter().copied().max().unwrap_or(0).max(1);
    RiskGrade::ALL
        .into_iter()
        .zip(counts)
        .enumerate()
        .map(|(i, (g, n))| GradeBar {
            grade: g.as_str(),
            count: n,
            percent: (n * 100).checked_div(total).unwrap_or(0) as u32,
            colour: grade_colour(g),
            y: 10 + 40 * i as u32,
            width: (n as f64 / most as f64 * BAR_MAX).round(),
        })
        .collect()
}

async fn page(State(state): State<AppState>, analyst: Analyst) -> Response {
    let graded = match crate::field::risk::graded(&state).await {
        Ok(g) => g,
        Err(e) => return error_page(e),
    };
    let markets = match state.store.list_markets(1, 0).await {
        Ok(p) => p.total,
        Err(e) => return error_page(e.into()),
    };
    let today = crate::pages::render::local_today();
    let from = Utc.from_utc_datetime(&month_start(today, MONTHS - 1).and_time(NaiveTime::MIN))
        - chrono::Duration::hours(8);
    let rows = match state
        .store
        .inspection_stats(StatsGroup::Month, Some(from), None)
        .await
    {
        Ok(r) => r,
        Err(e) => return error_page(e.into()),
    };
    let ledger_warnings = graded
        .iter()
        .map(|(r, _)| u64::from(r.facts.ledger_warnings))
        .sum();
    let merchants_warned = graded
        .iter()
        .filter(|(r, _)| r.facts.ledger_warnings > 0)
        .count();
    let mut per_kind = [(0u64, 0usize); 7];
    for (r, _) in &graded {
        for (slot, k) in per_kind.iter_mut().zip(LedgerWarningKind::ALL) {
            let n = r.facts.ledger.warnings(k);
            if n > 0 {
                slot.0 += u64::from(n);
                slot.1 += 1;
            }
        }
    }
    let mut counts = [0usize; 4];
    for (_, a) in &graded {
        if let Some(i) = RiskGrade::ALL.iter().position(|g| *g == a.grade) {
            counts[i] += 1;
        }
    }
    html(
        StatusCode::OK,
        &OverviewPage {
            nav: "overview",
            csrf: analyst.csrf,
            merchants: graded.len(),
            markets,
            grades: grade_bars(counts),
            chart: month_chart(today, &rows),
            ledger_warnings,
            merchants_warned,
            ledger_kinds: kind_bars(per_kind),
        },
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_longest_bar_is_full_width_and_shares_add_up() {
        let bars = grade_bars([50, 30, 15, 5]);
        assert_eq!(bars[0].width, BAR_MAX);
        assert_eq!(bars[3].width, (5.0 / 50.0 * BAR_MAX).round());
        assert_eq!(bars.iter().map(|b| b.percent).sum::<u32>(), 100);
        let empty = grade_bars([0; 4]);
        assert!(empty.iter().all(|b| b.width == 0.0 && b.percent == 0));
    }

    fn row(key: &str, compliant: u64, basically: u64, non: u64) -> StatsRow {
        StatsRow {
            key: key.into(),
            label: key.into(),
            count: compliant + basically + non,
            compliant,
            basically_compliant: basically,
            non_compliant: non,
        }
    }

    #[test]
    fn the_chart_has_twelve_months_with_gaps_and_pass_rates() {
        let today = NaiveDate::from_ymd_opt(2026, 3, 15).unwrap();
        let c = month_chart(today, &[row("2025-04", 3, 0, 1), row("2026-03", 5, 3, 2)]);
        assert_eq!(c.months.len(), 12);
        assert_eq!(c.months[0].key, "2025-04");
        assert_eq!(c.months[11].key, "2026-03");
        assert_eq!(c.months[11].label, "2026年3月");
        assert_eq!(c.months[0].pass_rate, Some(75));
        assert_eq!(c.months[11].pass_rate, Some(80));
        assert_eq!(c.months[11].passed, 8);
        assert_eq!(c.months[5].count, 0);
        assert_eq!(c.months[5].pass_rate, None);
        assert_eq!(c.count_max, 10);
        assert_eq!(c.months[11].height, PLOT_HEIGHT);
        assert_eq!(c.inspections, 14);
        // The line joins only the months with inspections.
        assert_eq!(c.line.split(' ').count(), 2);
    }

    #[test]
    fn ledger_kinds_are_charted_in_the_rules_order() {
        let bars = kind_bars([(10, 3), (5, 2), (0, 0), (0, 0), (0, 0), (0, 0), (1, 1)]);
        assert_eq!(bars.len(), 7);
        assert_eq!(bars[0].code, "sale_exceeds_stock");
        assert_eq!(bars[0].width, BAR_MAX);
        assert_eq!(bars[1].width, BAR_MAX / 2.0);
        assert_eq!((bars[6].count, bars[6].merchants), (1, 1));
        assert_eq!(bars[2].width, 0.0);
    }

    #[test]
    fn the_count_axis_ends_on_a_round_number() {
        assert_eq!(nice_max(0), 1);
        assert_eq!(nice_max(1), 1);
        assert_eq!(nice_max(3), 5);
        assert_eq!(nice_max(7), 10);
        assert_eq!(nice_max(11), 20);
        assert_eq!(nice_max(480), 500);
        assert_eq!(nice_max(501), 1000);
    }
}
