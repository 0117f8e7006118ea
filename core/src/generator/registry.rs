//! The registry a scale starts from: markets, merchants with valid codes,
//! outside suppliers and off-platform buyers, and the pools the trading
//! simulation draws buyers from.

use chrono::{Duration, NaiveDate};
use rand::Rng;
use rand_chacha::ChaCha8Rng;

use super::catalogue::{origins, Catalogue};
use super::config::{GenConfig, Layout};
use super::names::{self, XIAMEN};
use crate::category::Category;
use crate::codes;

/// A market (or, in a city, a farmers' market or business district that a
/// supervision grid covers).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GenMarket {
    pub id: String,
    pub name: String,
    /// GB/T 2260 code of the district.
    pub region_code: String,
    pub address: String,
}

/// A generated food business.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GenMerchant {
    pub id: String,
    pub market_id: String,
    /// A shop name such as 「老陈冻品行」.
    pub name: String,
    /// 统一社会信用代码 with both check characters valid (GB 32100, GB 11714).
    pub uscc: String,
    /// 食品经营许可证: JY + 14 digits.
    pub licence_no: String,
    /// A few are planted near the licence warnings' horizons or lapsed
    /// (`GroundTruth` says which).
    pub licence_expiry: NaiveDate,
    pub region_code: String,
    /// `wholesale`, `retail`, `catering` or `supermarket`.
    pub business_type: &'static str,
    pub categories: Vec<Category>,
    pub stall: String,
}

/// A merchant's place in the chain.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Role {
    /// 一级批发: buys from outside suppliers.
    FirstHop,
    /// 二级批发: buys from first-hop dealers.
    Wholesale,
    Retail,
    Supermarket,
    /// Restaurants and canteens: buy, never sell on.
    Catering,
}

impl Role {
    pub const COUNT: usize = 5;

    pub fn business_type(self) -> &'static str {
        match self {
            Role::FirstHop | Role::Wholesale => "wholesale",
            Role::Retail => "retail",
            Role::Supermarket => "supermarket",
            Role::Catering => "catering",
        }
    }
}

/// What the simulation knows of a merchant beyond its registry entry.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Profile {
    pub role: Role,
    pub smuggler: bool,
    pub careless: bool,
    /// The licence lapsed on this day and the shop closed: no movement
    /// after it (the near miss of unlicensed trading; see `plants`).
    pub closes_on: Option<NaiveDate>,
    /// Sells part of its goods at about 60 % of the market price (the near
    /// miss of the price warning).
    pub discounter: bool,
    /// Keeps a clean ledger (no entry slips, papers kept): the low-risk
    /// merchants the sampling-frequency warning is about.
    pub clean: bool,
}

/// An outside supplier (farm, slaughterhouse, importer).
#[derive(Debug, Clone)]
pub(crate) struct OutsideSupplier {
    pub name: String,
    pub uscc: String,
    pub region_code: &'static str,
}

pub(crate) struct World {
    pub markets: Vec<GenMarket>,
    pub merchants: Vec<GenMerchant>,
    pub profiles: Vec<Profile>,
    /// Merchant indexes per role and category: `pools[role][category]`.
    pub pools: Vec<Vec<Vec<u32>>>,
    /// First-hop dealers with cumulative delivery weights (a few big
    /// dealers receive most lots).
    pub first_hop: Vec<(f64, u32)>,
    /// Outside suppliers per category.
    pub suppliers: Vec<Vec<OutsideSupplier>>,
    pub outside_buyers: Vec<String>,
    pub shadow_suppliers: Vec<String>,
}

/// Characters of the organisation-code body that are also valid USCC
/// characters (GB 32100 leaves out I, O, S, V and Z).
const USCC_BODY: &[u8] = b"0123456789ABCDEFGHJKLMNPQRTUWXY";

/// A unified social credit code with both check characters computed:
/// `9` (market regulator), `1` company / `2` sole trader, the region, the
/// organisation code body and its GB 11714 check, then the GB 32100 check.
pub(crate) fn make_uscc(rng: &mut ChaCha8Rng, company: bool, region: &str) -> String {
    let mut b: Vec<u8> = Vec::with_capacity(18);
    b.extend_from_slice(if company { b"91" } else { b"92" });
    b.extend_from_slice(region.as_bytes());
    b.extend_from_slice(b"MA");
    for _ in 0..6 {
        b.push(USCC_BODY[rng.random_range(0..USCC_BODY.len())]);
    }
    b.push(codes::org_check_char(&b[8..16]).unwrap_or(b'0'));
    b.push(codes::uscc_check_char(&b[..17]).unwrap_or(b'0'));
    String::from_utf8_lossy(&b).into_owned()
}

fn weighted<T: Copy>(rng: &mut ChaCha8Rng, items: &[(T, u32)]) -> Option<T> {
    let total: u32 = items.iter().map(|x| x.1).sum();
    if total == 0 {
        return None;
    }
    let mut r = rng.random_range(0..total);
    for (item, w) in items {
        if r < *w {
            return Some(*item);
        }
        r -= w;
    }
    None
}

/// How many categories a merchant of a role deals in.
fn category_count(rng: &mut ChaCha8Rng, role: Role) -> usize {
    match role {
        Role::FirstHop | Role::Wholesale | Role::Retail => {
            if rng.random_bool(0.7) {
                1
            } else {
                2
            }
        }
        Role::Supermarket => rng.random_range(6..=10),
        Role::Catering => rng.random_range(4..=8),
    }
}

fn pick_categories(rng: &mut ChaCha8Rng, role: Role, weights: &[(Category, u32)]) -> Vec<Category> {
    let want = category_count(rng, role).min(weights.len());
    let mut left = weights.to_vec();
    let mut out = Vec::with_capacity(want);
    while out.len() < want {
        let Some(c) = weighted(rng, &left) else { break };
        out.push(c);
        left.retain(|x| x.0 != c);
    }
    out.sort();
    out
}

/// Where a role sits: its market kind in a city.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum MarketKind {
    Wholesale,
    Farmers,
    District,
}

impl MarketKind {
    fn of(role: Role) -> Self {
        match role {
            Role::FirstHop | Role::Wholesale => MarketKind::Wholesale,
            Role::Retail => MarketKind::Farmers,
            Role::Supermarket | Role::Catering => MarketKind::District,
        }
    }

    /// Merchants per market of this kind.
    fn size(self) -> usize {
        match self {
            MarketKind::Wholesale => 800,
            MarketKind::Farmers => 150,
            MarketKind::District => 300,
        }
    }

    fn suffixes(self) -> &'static [&'static str] {
        match self {
            MarketKind::Wholesale => &["农副产品批发市场", "冻品批发市场", "水产品批发市场"],
            MarketKind::Farmers => &[
                "农贸市场",
                "菜市场",
                "综合市场",
                "第二农贸市场",
                "生鲜市场",
                "便民市场",
                "第三农贸市场",
                "第四农贸市场",
            ],
            MarketKind::District => &["商圈", "美食街", "商业街", "生活广场"],
        }
    }
}

impl World {
    pub fn build(config: &GenConfig, catalogue: &Catalogue, rng: &mut ChaCha8Rng) -> World {
        let weights: Vec<(Category, u32)> = config
            .category_weights
            .iter()
            .copied()
            .filter(|(c, w)| *w > 0 && !catalogue.by_category[*c as usize].is_empty())
            .collect();
        let mix = [
            (
                Role::FirstHop,
                scaled(config.mix.wholesale, config.first_hop_share),
            ),
            (
                Role::Wholesale,
                scaled(config.mix.wholesale, 1.0 - config.first_hop_share),
            ),
            (Role::Retail, config.mix.retail * 1000),
            (Role::Supermarket, config.mix.supermarket * 1000),
            (Role::Catering, config.mix.catering * 1000),
        ];
        let districts: Vec<(usize, u32)> = XIAMEN
            .iter()
            .enumerate()
            .map(|(i, d)| (i, d.weight))
            .collect();

        // Roles and districts first, so that markets can be sized to fit.
        let n = config.merchants as usize;
        let mut placed: Vec<(Role, usize)> = Vec::with_capacity(n);
        for _ in 0..n {
            let role = weighted(rng, &mix).unwrap_or(Role::Retail);
            let district = match config.layout {
                Layout::ColdStoreMarket => COLD_STORE_DISTRICT,
                Layout::City => weighted(rng, &districts).unwrap_or(0),
            };
            placed.push((role, district));
        }

        let mut markets = Vec::new();
        // Market indexes per (district, kind).
        let mut market_of: Vec<[Vec<usize>; 3]> = (0..XIAMEN.len())
            .map(|_| [Vec::new(), Vec::new(), Vec::new()])
            .collect();
        match config.layout {
            Layout::ColdStoreMarket => {
                markets.push(GenMarket {
                    id: market_id(0),
                    name: "万吨冻库冻品交易市场".to_owned(),
                    region_code: XIAMEN[COLD_STORE_DISTRICT].code.to_owned(),
                    address: "厦门市海沧区港南路88号".to_owned(),
                });
            }
            Layout::City => {
                for (d, district) in XIAMEN.iter().enumerate() {
                    for (k, kind) in [
                        MarketKind::Wholesale,
                        MarketKind::Farmers,
                        MarketKind::District,
                    ]
                    .into_iter()
                    .enumerate()
                    {
                        let members = placed
                            .iter()
                            .filter(|(r, pd)| *pd == d && MarketKind::of(*r) == kind)
                            .count();
                        for ordinal in 0..members.div_ceil(kind.size()) {
                            market_of[d][k].push(markets.len());
                            let street = district.streets[ordinal % district.streets.len()];
                            let round = ordinal / district.streets.len();
                            let suffixes = kind.suffixes();
                            let name = match suffixes.get(round) {
                                Some(s) => format!("{street}{s}"),
                                None => format!("{street}{}{}号", suffixes[0], round + 1),
                            };
                            let road = names::pick(rng, district.roads);
                            markets.push(GenMarket {
                                id: market_id(markets.len()),
                                name: format!("厦门市{}{name}", district.name),
                                region_code: district.code.to_owned(),
                                address: format!(
                                    "厦门市{}{road}{}号",
                                    district.name,
                                    rng.random_range(1..400)
                                ),
                            });
                        }
                    }
                }
            }
        }

        let mut merchants = Vec::with_capacity(n);
        let mut profiles = Vec::with_capacity(n);
        let mut pools = vec![vec![Vec::new(); Category::ALL.len()]; Role::COUNT];
        let mut first_hop = Vec::new();
        let mut total_weight = 0.0;
        for (i, (role, d)) in placed.into_iter().enumerate() {
            let district = &XIAMEN[d];
            let market = match config.layout {
                Layout::ColdStoreMarket => 0,
                Layout::City => {
                    let list = &market_of[d][MarketKind::of(role) as usize];
                    list.get(rng.random_range(0..list.len().max(1)))
                        .copied()
                        .unwrap_or(0)
                }
            };
            let categories = pick_categories(rng, role, &weights);
            let main = categories.first().copied().unwrap_or(Category::Other);
            let street = names::pick(rng, district.streets);
            let name = match role {
                Role::FirstHop | Role::Wholesale => names::wholesaler(rng, main),
                Role::Retail => names::stall_shop(rng, main),
                Role::Supermarket => names::supermarket(rng, street),
                Role::Catering => names::eatery(rng, street),
            };
            let stall = stall(rng, config.layout, role, district.roads);
            let company =
                matches!(role, Role::FirstHop | Role::Supermarket) || rng.random_bool(0.2);
            let uscc = make_uscc(rng, company, district.code);
            // JY + 主体业态 (1 sales, 2 catering) + region + serial + check.
            let kind_digit = if role == Role::Catering { 2 } else { 1 };
            let licence_no = format!(
                "JY{kind_digit}{}{:06}{}",
                district.code,
                i % 1_000_000,
                rng.random_range(0..10)
            );
            // A licence runs five years. Those near the warnings' horizons are
            // planted (`plants`), with their ground truth: every other one
            // runs at least 45 days past the end of the run.
            let days_left = rng.random_range(45..5 * 365);
            let licence_expiry = config.end_date + Duration::days(days_left);
            let smuggler = role == Role::FirstHop
                && categories
                    .iter()
                    .any(|c| matches!(c, Category::ImportedColdChain | Category::LivestockMeat))
                && rng.random_bool(config.shares.smuggler.clamp(0.0, 1.0));
            for c in &categories {
                pools[role as usize][*c as usize].push(i as u32);
            }
            if role == Role::FirstHop {
                // Heavy-tailed sizes: weight 1..~7.
                total_weight += 1.0 / rng.random_range(0.02f64..1.0).sqrt();
                first_hop.push((total_weight, i as u32));
            }
            merchants.push(GenMerchant {
                id: format!("m{i:06}"),
                market_id: markets
                    .get(market)
                    .map(|m| m.id.clone())
                    .unwrap_or_default(),
                name,
                uscc,
                licence_no,
                licence_expiry,
                region_code: district.code.to_owned(),
                business_type: role.business_type(),
                categories,
                stall,
            });
            let careless = rng.random_bool(config.shares.careless.clamp(0.0, 1.0));
            profiles.push(Profile {
                role,
                smuggler,
                careless,
                closes_on: None,
                discounter: false,
                clean: false,
            });
        }

        // Outside suppliers: a dozen per category in a market, more in a city.
        let per_category = if config.layout == Layout::City {
            60
        } else {
            12
        };
        let suppliers = Category::ALL
            .iter()
            .map(|c| {
                (0..per_category)
                    .map(|_| {
                        let places = origins(*c);
                        let (code, place) = places[rng.random_range(0..places.len())];
                        OutsideSupplier {
                            name: names::supplier(rng, place, *c),
                            uscc: make_uscc(rng, true, code),
                            region_code: code,
                        }
                    })
                    .collect()
            })
            .collect();
        let outside_buyers = (0..200).map(|_| names::outside_buyer(rng)).collect();
        let shadow_suppliers = (0..20).map(|_| names::shadow_supplier(rng)).collect();
        World {
            markets,
            merchants,
            profiles,
            pools,
            first_hop,
            suppliers,
            outside_buyers,
            shadow_suppliers,
        }
    }
}

/// 海沧区: the frozen market sits by the port's cold stores.
const COLD_STORE_DISTRICT: usize = 2;

fn scaled(weight: u32, share: f64) -> u32 {
    (f64::from(weight) * 1000.0 * share.clamp(0.0, 1.0)).round() as u32
}

fn market_id(i: usize) -> String {
    format!("mk{i:04}")
}

fn stall(rng: &mut ChaCha8Rng, layout: Layout, role: Role, roads: &[&str]) -> String {
    let zone = char::from(b'A' + rng.random_range(0..8u8));
    match (layout, role) {
        (Layout::ColdStoreMarket, Role::Retail) => {
            format!("交易区{zone}{}号", rng.random_range(1..120))
        }
        (Layout::ColdStoreMarket, _) => {
            format!(
                "{}号冷库{}",
                rng.random_range(1..13),
                rng.random_range(1..6) * 100 + rng.random_range(1..30)
            )
        }
        (Layout::City, Role::FirstHop | Role::Wholesale) => {
            format!("{zone}区{}号", rng.random_range(1..200))
        }
        (Layout::City, Role::Retail) => format!("{}号摊位", rng.random_range(1..160)),
        (Layout::City, _) => {
            let road = names::pick(rng, roads);
            format!("{road}{}号", rng.random_range(1..600))
        }
    }
}
