//! `/console/map` (风险地图): a market's stalls drawn from their stall
//! numbers, each coloured by its merchant's risk grade and marked when it
//! has open (new or assigned) alerts, each a link to the merchant's
//! console page; without `market_id`, every market as a tile coloured by
//! its share of C and D merchants, grouped by district.
//!
//! Stall numbers are free text in the registry; the generator
//! (`core/src/generator/registry.rs`) and registrars write them as a zone
//! and a number: `A区12号`, `交易区C7号`, `3号冷库205`, `12号摊位`, `A-01`.
//! [`stall_place`] reads the last number as the stall's number and what
//! comes before it as its zone; each zone is one block of the map, its
//! stalls in number order, [`COLS`] to a row (a market hall's rows).

use std::collections::{BTreeMap, HashMap};

use askama::Template;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use axum::routing::get;
use axum::Router;
use serde::Deserialize;
use shian_core::inspection::RiskGrade;

use super::overview::grade_colour;
use super::{error_page, html, notice, Analyst};
use crate::store::MerchantFilter;
use crate::AppState;

pub fn router() -> Router<AppState> {
    Router::new().route("/console/map", get(page))
}

/// Stalls per row of a zone's block.
pub(crate) const COLS: usize = 16;
/// A stall's cell and the space between cells, in SVG units.
pub(crate) const CELL_W: u32 = 46;
const CELL_H: u32 = 34;
pub(crate) const GAP: u32 = 4;
/// The zone's heading above its block.
const ZONE_HEAD: u32 = 26;
/// The most stalls drawn for one market (a wholesale hall has hundreds).
const MAX_STALLS: u32 = 5000;
/// The most markets shown as tiles.
const MAX_MARKETS: u32 = 1000;
/// District tiles per row, and their size.
const TILE_COLS: usize = 4;
const TILE_W: u32 = 230;
const TILE_H: u32 = 96;

/// Where a stall is: its zone and its number in the zone, read from the
/// stall text (see the module doc). No number: the whole text is the zone.
pub(crate) fn stall_place(stall: &str) -> (String, Option<u32>) {
    let s = stall.trim();
    let bytes = s.as_bytes();
    let Some(end) = bytes.iter().rposition(u8::is_ascii_digit).map(|i| i + 1) else {
        return (if s.is_empty() { "未标注摊位" } else { s }.to_owned(), None);
    };
    let start = bytes[..end]
        .iter()
        .rposition(|b| !b.is_ascii_digit())
        .map_or(0, |i| i + 1);
    let number = s[start..end].parse::<u32>().ok();
    let seps: &[char] = &['-', '_', ' ', '—', '－', '·'];
    let zone = s[..start].trim_end_matches(seps);
    let zone = if zone.is_empty() {
        s[end..].trim_start_matches('号').trim_matches(seps)
    } else {
        zone
    };
    let zone = if zone.is_empty() { "摊位" } else { zone };
    (zone.to_owned(), number)
}

/// A zone's place in the map's order: its leading number, then its name.
type ZoneKey = (u32, String);

/// Zones in a natural order: `2号冷库` before `10号冷库`, then by text.
fn zone_key(zone: &str) -> ZoneKey {
    let digits: String = zone.chars().take_while(char::is_ascii_digit).collect();
    (digits.parse().unwrap_or(0), zone.to_owned())
}

/// One stall on the map (the market's overview colours its own).
pub(crate) struct Stall {
    pub(crate) merchant_id: String,
    pub(crate) name: String,
    /// The stall as registered.
    pub(crate) stall: String,
    /// The number drawn in the cell.
    pub(crate) label: String,
    pub(crate) grade: &'static str,
    pub(crate) colour: &'static str,
    pub(crate) warnings: u16,
    pub(crate) x: u32,
    pub(crate) y: u32,
}

/// One zone's block.
pub(crate) struct Zone {
    pub(crate) name: String,
    pub(crate) y: u32,
    pub(crate) stalls: Vec<Stall>,
}

/// What a stall needs from the registry and the grades.
pub(crate) struct StallIn {
    pub(crate) merchant_id: String,
    pub(crate) name: String,
    pub(crate) stall: Option<String>,
    pub(crate) grade: Option<RiskGrade>,
    pub(crate) warnings: u16,
}

/// Lays the stalls out, zone by zone; returns the zones and the drawing's
/// height.
pub(crate) fn layout(stalls: Vec<StallIn>) -> (Vec<Zone>, u32) {
    let mut by_zone: BTreeMap<ZoneKey, Vec<(Option<u32>, StallIn)>> = BTreeMap::new();
    for s in stalls {
        let (zone, n) = stall_place(s.stall.as_deref().unwrap_or(""));
        by_zone.entry(zone_key(&zone)).or_default().push((n, s));
    }
    let mut y = 0;
    let mut zones = Vec::new();
    for ((_, name), mut list) in by_zone {
        list.sort_by(|(a, sa), (b, sb)| {
            (a.is_none(), a, &sa.merchant_id).cmp(&(b.is_none(), b, &sb.merchant_id))
        });
        let top = y + ZONE_HEAD;
        let rows = list.len().div_ceil(COLS) as u32;
        let stalls = list
            .into_iter()
            .enumerate()
            .map(|(i, (n, s))| {
                let (col, row) = ((i % COLS) as u32, (i / COLS) as u32);
                let grade = s.grade.map_or("?", RiskGrade::as_str);
                Stall {
                    label: n.map_or_else(|| "?".to_owned(), |n| n.to_string()),
                    stall: s.stall.unwrap_or_default(),
                    merchant_id: s.merchant_id,
                    name: s.name,
                    grade,
                    colour: s.grade.map_or("#999999", grade_colour),
                    warnings: s.warnings,
                    x: col * (CELL_W + GAP),
                    y: top + row * (CELL_H + GAP),
                }
            })
            .collect();
        zones.push(Zone { name, y, stalls });
        y = top + rows * (CELL_H + GAP) + 8;
    }
    (zones, y.max(CELL_H))
}

/// A market tile of the district view.
struct Tile {
    market_id: String,
    name: String,
    merchants: usize,
    /// C and D merchants.
    risky: usize,
    /// Their share, whole percent.
    percent: u32,
    colour: &'static str,
    x: u32,
    y: u32,
}

/// One district's tiles.
struct District {
    region_code: String,
    y: u32,
    tiles: Vec<Tile>,
}

/// The colour of a share of C/D merchants: the grade colours, so a tile
/// reads like a stall (a display scale, not a rule: under 5 % green, under
/// 15 % yellow-green, under 30 % orange, else red).
fn share_colour(percent: u32) -> &'static str {
    grade_colour(match percent {
        0..5 => RiskGrade::A,
        5..15 => RiskGrade::B,
        15..30 => RiskGrade::C,
        _ => RiskGrade::D,
    })
}

#[derive(Template)]
#[template(path = "console/market_map.html")]
struct MarketMap {
    nav: &'static str,
    csrf: String,
    market_id: String,
    market_name: String,
    address: String,
    markets: Vec<(String, String)>,
    zones: Vec<Zone>,
    width: u32,
    height: u32,
    merchants: u64,
    drawn: usize,
    counts: Vec<(&'static str, &'static str, usize)>,
    warned: usize,
}

#[derive(Template)]
#[template(path = "console/district_map.html")]
struct DistrictMap {
    nav: &'static str,
    csrf: String,
    districts: Vec<District>,
    width: u32,
    height: u32,
    unassigned: usize,
}

#[derive(Debug, Default, Deserialize)]
struct MapQuery {
    #[serde(default)]
    market_id: String,
}

async fn page(
    State(state): State<AppState>,
    analyst: Analyst,
    q: Result<Query<MapQuery>, axum::extract::rejection::QueryRejection>,
) -> Response {
    let market_id = q.map(|Query(q)| q.market_id).unwrap_or_default();
    let market_id = market_id.trim();
    if market_id.is_empty() {
        district(state, analyst).await
    } else {
        market(state, analyst, market_id).await
    }
}

/// Every merchant's market and grade, by merchant id.
async fn grades(
    state: &AppState,
) -> Result<HashMap<String, (Option<String>, RiskGrade)>, Response> {
    let graded = crate::field::risk::graded(state)
        .await
        .map_err(error_page)?;
    Ok(graded
        .into_iter()
        .map(|(r, a)| (r.merchant_id, (r.market_id, a.grade)))
        .collect())
}

async fn market(state: AppState, analyst: Analyst, market_id: &str) -> Response {
    let market = match state.store.market(market_id.to_owned()).await {
        Ok(Some(m)) => m,
        Ok(None) => {
            return notice(
                StatusCode::NOT_FOUND,
                "查无此市场",
                "没有这个市场。请从风险地图的市场列表中选择。",
            )
        }
        Err(e) => return error_page(e.into()),
    };
    let page = match state
        .store
        .list_merchants(MerchantFilter {
            market_id: Some(market.id.clone()),
            limit: MAX_STALLS,
            ..MerchantFilter::default()
        })
        .await
    {
        Ok(p) => p,
        Err(e) => return error_page(e.into()),
    };
    let markets = match state.store.list_markets(MAX_MARKETS, 0).await {
        Ok(p) => p.items.into_iter().map(|m| (m.id, m.name)).collect(),
        Err(e) => return error_page(e.into()),
    };
    let grades = match grades(&state).await {
        Ok(g) => g,
        Err(res) => return res,
    };
    let open = match crate::alerts::open_per_merchant(&state, &market.id).await {
        Ok((per, _)) => per,
        Err(e) => return error_page(e.into()),
    };
    let stalls: Vec<StallIn> = page
        .items
        .into_iter()
        .map(|m| {
            let g = grades.get(&m.id);
            StallIn {
                grade: g.map(|(_, g)| *g),
                warnings: open.get(&m.id).copied().unwrap_or(0),
                merchant_id: m.id,
                name: m.name,
                stall: m.stall,
            }
        })
        .collect();
    let counts = RiskGrade::ALL
        .into_iter()
        .map(|g| {
            let n = stalls.iter().filter(|s| s.grade == Some(g)).count();
            (g.as_str(), grade_colour(g), n)
        })
        .collect();
    let warned = stalls.iter().filter(|s| s.warnings > 0).count();
    let drawn = stalls.len();
    let (zones, height) = layout(stalls);
    html(
        StatusCode::OK,
        &MarketMap {
            nav: "map",
            csrf: analyst.csrf,
            market_id: market.id,
            market_name: market.name,
            address: market.address.unwrap_or_default(),
            markets,
            zones,
            width: COLS as u32 * (CELL_W + GAP),
            height,
            merchants: page.total,
            drawn,
            counts,
            warned,
        },
    )
}

async fn district(state: AppState, analyst: Analyst) -> Response {
    let markets = match state.store.list_markets(MAX_MARKETS, 0).await {
        Ok(p) => p.items,
        Err(e) => return error_page(e.into()),
    };
    let grades = match grades(&state).await {
        Ok(g) => g,
        Err(res) => return res,
    };
    let mut per_market: HashMap<&str, (usize, usize)> = HashMap::new();
    let mut unassigned = 0;
    for (market, grade) in grades.values() {
        match market {
            Some(m) => {
                let e = per_market.entry(m.as_str()).or_default();
                e.0 += 1;
                if matches!(grade, RiskGrade::C | RiskGrade::D) {
                    e.1 += 1;
                }
            }
            None => unassigned += 1,
        }
    }
    let mut by_region: BTreeMap<String, Vec<Tile>> = BTreeMap::new();
    for m in markets {
        let (merchants, risky) = per_market.get(m.id.as_str()).copied().unwrap_or((0, 0));
        let percent = (risky * 100).checked_div(merchants).unwrap_or(0) as u32;
        by_region.entry(m.region_code).or_default().push(Tile {
            market_id: m.id,
            name: m.name,
            merchants,
            risky,
            percent,
            colour: if merchants == 0 {
                "#999999"
            } else {
                share_colour(percent)
            },
            x: 0,
            y: 0,
        });
    }
    let mut y = 0;
    let mut districts = Vec::new();
    for (region_code, mut tiles) in by_region {
        tiles.sort_by(|a, b| b.percent.cmp(&a.percent).then(a.name.cmp(&b.name)));
        let top = y + ZONE_HEAD;
        for (i, t) in tiles.iter_mut().enumerate() {
            t.x = (i % TILE_COLS) as u32 * (TILE_W + GAP * 2);
            t.y = top + (i / TILE_COLS) as u32 * (TILE_H + GAP * 2);
        }
        let rows = tiles.len().div_ceil(TILE_COLS) as u32;
        districts.push(District {
            region_code,
            y,
            tiles,
        });
        y = top + rows * (TILE_H + GAP * 2) + 8;
    }
    html(
        StatusCode::OK,
        &DistrictMap {
            nav: "map",
            csrf: analyst.csrf,
            districts,
            width: TILE_COLS as u32 * (TILE_W + GAP * 2),
            height: y.max(TILE_H),
            unassigned,
        },
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stall_numbers_are_read_as_zone_and_number() {
        for (stall, zone, n) in [
            ("A区12号", "A区", Some(12)),
            ("交易区C7号", "交易区C", Some(7)),
            ("3号冷库205", "3号冷库", Some(205)),
            ("12号摊位", "摊位", Some(12)),
            ("A-01", "A", Some(1)),
            ("B-02", "B", Some(2)),
            ("湖滨南路318号", "湖滨南路", Some(318)),
            ("17", "摊位", Some(17)),
            ("门口", "门口", None),
            ("  ", "未标注摊位", None),
        ] {
            assert_eq!(stall_place(stall), (zone.to_owned(), n), "{stall}");
        }
    }

    fn s(id: &str, stall: &str) -> StallIn {
        StallIn {
            merchant_id: id.into(),
            name: id.into(),
            stall: Some(stall.into()),
            grade: Some(RiskGrade::B),
            warnings: 0,
        }
    }

    #[test]
    fn zones_are_blocks_of_stalls_in_number_order() {
        let mut list: Vec<StallIn> = (1..=20)
            .rev()
            .map(|n| s(&format!("m{n}"), &format!("A区{n}号")))
            .collect();
        list.push(s("c1", "10号冷库101"));
        list.push(s("c2", "2号冷库101"));
        let (zones, height) = layout(list);
        let names: Vec<&str> = zones.iter().map(|z| z.name.as_str()).collect();
        assert_eq!(names, ["A区", "2号冷库", "10号冷库"]);
        let a = &zones[0];
        assert_eq!(a.stalls[0].label, "1");
        assert_eq!((a.stalls[0].x, a.stalls[0].y), (0, ZONE_HEAD));
        // The 17th stall starts the second row.
        assert_eq!(a.stalls[16].label, "17");
        assert_eq!(
            (a.stalls[16].x, a.stalls[16].y),
            (0, ZONE_HEAD + CELL_H + GAP)
        );
        assert!(zones[1].y > a.stalls[19].y);
        assert!(height > zones[2].stalls[0].y);
    }

    #[test]
    fn the_share_scale_follows_the_grade_colours() {
        assert_eq!(share_colour(0), grade_colour(RiskGrade::A));
        assert_eq!(share_colour(10), grade_colour(RiskGrade::B));
        assert_eq!(share_colour(29), grade_colour(RiskGrade::C));
        assert_eq!(share_colour(30), grade_colour(RiskGrade::D));
    }
}
