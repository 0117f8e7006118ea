//! `/console`: the overview: how many merchants and markets are registered
//! and how the merchants' risk grades are spread (A–D bars), graded as
//! `GET /v1/risk/merchants` grades them (`crate::field::risk::graded`).

use askama::Template;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use axum::routing::get;
use axum::Router;
use shian_core::inspection::RiskGrade;

use super::{error_page, html, Analyst};
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

#[derive(Template)]
#[template(path = "console/overview.html")]
struct OverviewPage {
    nav: &'static str,
    csrf: String,
    merchants: usize,
    markets: u64,
    grades: Vec<GradeBar>,
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
}
