//! Risk grades A/B/C/D (风险分级) per the 2016 rules.
//!
//! 《食品生产经营风险分级管理办法（试行）》 (食药监食监一〔2016〕115号, in force
//! 2016-12-01; regulation.md §1): a static score (静态风险因素, ≤ 40: business
//! type, food categories, scale) plus a dynamic score (动态风险因素, ≤ 60: how
//! the operator actually behaves) gives 0–100; ≤ 30 is A, ≤ 45 B, ≤ 60 C, above
//! 60 D (upper bounds inclusive). The grade sets the minimum inspections a year:
//! A ≥ 1, B 1–2, C 2–3, D 3–4; the policy minimum here is the upper bound of
//! each range (1/2/3/4), set in config.
//!
//! Within one static factor the highest applicable tier counts (就高不就低);
//! factors add up. New operators without a dynamic history get a dynamic score
//! scaled from the static one (the 2016 rules scale the static score for them).
//!
//! Every weight, tier, cap and cut-off is in `core/data/rules/risk-v3.json`
//! (v1 weighed every ledger warning alike, as a raw count; v2 weighs each
//! kind as a rate, see [`LedgerRates`]; v3 adds open warnings of the kinds
//! no other factor counts, [`MerchantFacts::open_alerts`]; all three load).
//! [`RiskGrader`] compiles that file into flat integer tables (scores in tenths
//! of a point, so `30.1` is exact) so grading 840,000 merchants (Fuzhou scale,
//! seed 004) takes milliseconds: [`MerchantFacts`] and [`RiskAssessment`] are
//! `Copy` and grading allocates nothing.

use std::sync::OnceLock;

use serde::{Deserialize, Serialize};

use super::error::{config_error, InspectionError};
use crate::category::Category;

/// Risk grade; A is the lowest risk.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum RiskGrade {
    A,
    B,
    C,
    D,
}

impl RiskGrade {
    /// All grades, lowest risk first.
    pub const ALL: [RiskGrade; 4] = [RiskGrade::A, RiskGrade::B, RiskGrade::C, RiskGrade::D];

    /// `"A"` … `"D"`.
    pub fn as_str(self) -> &'static str {
        match self {
            RiskGrade::A => "A",
            RiskGrade::B => "B",
            RiskGrade::C => "C",
            RiskGrade::D => "D",
        }
    }

    fn index(self) -> usize {
        self as usize
    }
}

/// Main business type (主体业态); each has its own static table.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum BusinessType {
    /// 食品销售 (market stalls, supermarkets, wholesalers).
    #[default]
    FoodSales,
    /// 餐饮服务 (restaurants, canteens, central kitchens).
    Catering,
}

/// A set of ledger [`Category`] values as a bit set (serialised as a list).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(from = "Vec<Category>", into = "Vec<Category>")]
pub struct CategorySet(pub u32);

impl CategorySet {
    fn bit(c: Category) -> u32 {
        1u32.checked_shl(c as u32).unwrap_or(0)
    }
    pub fn insert(&mut self, c: Category) {
        self.0 |= Self::bit(c);
    }
    pub fn contains(self, c: Category) -> bool {
        self.0 & Self::bit(c) != 0
    }
    fn intersects(self, mask: u32) -> bool {
        self.0 & mask != 0
    }
}

impl From<Vec<Category>> for CategorySet {
    fn from(v: Vec<Category>) -> Self {
        v.into_iter().collect()
    }
}
impl From<CategorySet> for Vec<Category> {
    fn from(s: CategorySet) -> Self {
        Category::ALL
            .into_iter()
            .filter(|c| s.contains(*c))
            .collect()
    }
}
impl FromIterator<Category> for CategorySet {
    fn from_iter<I: IntoIterator<Item = Category>>(it: I) -> Self {
        let mut s = CategorySet::default();
        for c in it {
            s.insert(c);
        }
        s
    }
}

/// Yes/no static facts about a merchant.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FactFlag {
    /// 散装食品 (not ready to eat).
    BulkFood,
    /// 散装熟食等直接入口散装食品.
    BulkReadyToEat,
    /// 保健食品.
    HealthFood,
    /// 婴幼儿配方食品、特殊医学用途配方食品.
    SpecialFood,
    /// 裱花蛋糕.
    DecoratedCakes,
    /// 食盐.
    Salt,
    /// 冷食类 (cold dishes).
    ColdDishes,
    /// 生食类 (raw seafood etc.).
    RawFood,
    /// 自制饮品.
    SelfMadeDrinks,
    /// 学校、托幼机构食堂.
    SchoolCanteen,
    /// 其他单位食堂、养老机构食堂.
    CollectiveCanteen,
    /// 集体用餐配送单位.
    GroupMealDelivery,
    /// 中央厨房.
    CentralKitchen,
}

const ALL_FLAGS: [FactFlag; 13] = [
    FactFlag::BulkFood,
    FactFlag::BulkReadyToEat,
    FactFlag::HealthFood,
    FactFlag::SpecialFood,
    FactFlag::DecoratedCakes,
    FactFlag::Salt,
    FactFlag::ColdDishes,
    FactFlag::RawFood,
    FactFlag::SelfMadeDrinks,
    FactFlag::SchoolCanteen,
    FactFlag::CollectiveCanteen,
    FactFlag::GroupMealDelivery,
    FactFlag::CentralKitchen,
];

/// A set of [`FactFlag`] as a bit set (serialised as a list).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(from = "Vec<FactFlag>", into = "Vec<FactFlag>")]
pub struct FlagSet(pub u32);

impl FlagSet {
    fn bit(f: FactFlag) -> u32 {
        1u32.checked_shl(f as u32).unwrap_or(0)
    }
    pub fn insert(&mut self, f: FactFlag) {
        self.0 |= Self::bit(f);
    }
    pub fn contains(self, f: FactFlag) -> bool {
        self.0 & Self::bit(f) != 0
    }
}
impl From<Vec<FactFlag>> for FlagSet {
    fn from(v: Vec<FactFlag>) -> Self {
        v.into_iter().collect()
    }
}
impl From<FlagSet> for Vec<FactFlag> {
    fn from(s: FlagSet) -> Self {
        ALL_FLAGS.into_iter().filter(|f| s.contains(*f)).collect()
    }
}
impl FromIterator<FactFlag> for FlagSet {
    fn from_iter<I: IntoIterator<Item = FactFlag>>(it: I) -> Self {
        let mut s = FlagSet::default();
        for f in it {
            s.insert(f);
        }
        s
    }
}

/// Numeric static facts a tier can test.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum NumFact {
    AreaM2,
    PrepackagedLines,
    OnSiteLines,
    Suppliers,
    RentedCounters,
    DailyMeals,
}

/// What is known about one merchant. Dynamic counts cover the rules'
/// `dynamic.period_days` (365) before the grading date; the caller counts them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct MerchantFacts {
    pub business_type: BusinessType,
    /// 经营场所面积, m².
    pub area_m2: u32,
    /// 预包装食品单品数.
    pub prepackaged_lines: u32,
    /// 现场制售品种数.
    pub on_site_lines: u32,
    /// 供货者数量.
    pub suppliers: u32,
    /// 出租柜台/摊位数 (market operators).
    pub rented_counters: u32,
    /// 日供餐人次 (catering).
    pub daily_meals: u32,
    pub flags: FlagSet,
    pub categories: CategorySet,
    /// Opened recently, no dynamic history yet.
    pub new_operator: bool,
    pub inspections_non_compliant: u16,
    pub inspections_basically_compliant: u16,
    pub inspections_compliant: u16,
    /// Lab-confirmed failures only (a rapid positive is not one).
    pub confirmed_test_failures: u16,
    /// Consumer complaints received in the period that weigh: undecided,
    /// accepted, or closed as founded (`crate::complaints::counts_in_risk_grade`).
    pub complaints: u16,
    /// Every ledger warning in the period, alike (what the v1 rules weigh).
    pub ledger_warnings: u16,
    /// The ledger in the period by kind (what the v2 rules weigh).
    pub ledger: LedgerFacts,
    /// Inspections done so far this calendar year (for `inspections_due`).
    pub inspections_this_year: u16,
    /// Open warnings of the kinds no other factor counts
    /// (`crate::warnings::Kind::weighs_in_risk_grade`: licence expired and
    /// trading, price far below the market, abnormal pass rate); what v3's
    /// `dynamic.open_alert` weighs.
    pub open_alerts: u16,
}

/// The ledger warnings the v2 rules weigh: the `code`s core's ledger rules
/// give (`core/src/rules.rs`). `voucher_not_yet_known` is not one: it says
/// the seller has not synced yet, nothing about the buyer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LedgerWarningKind {
    /// 销售超过结存：货物来源不明.
    SaleExceedsStock,
    /// 销售超过保质期的食品.
    SoldAfterExpiry,
    /// 进货缺少合格证明（索证索票）.
    MissingCertificate,
    /// 进货时已超过保质期.
    ExpiredOnReceipt,
    /// 处置数量超过结存.
    DisposeExceedsStock,
    /// 盘点调整后库存为负.
    NegativeStock,
    /// 收货数量与上市凭证不一致.
    VoucherQuantityMismatch,
}

impl LedgerWarningKind {
    pub const ALL: [LedgerWarningKind; 7] = [
        LedgerWarningKind::SaleExceedsStock,
        LedgerWarningKind::SoldAfterExpiry,
        LedgerWarningKind::MissingCertificate,
        LedgerWarningKind::ExpiredOnReceipt,
        LedgerWarningKind::DisposeExceedsStock,
        LedgerWarningKind::NegativeStock,
        LedgerWarningKind::VoucherQuantityMismatch,
    ];

    /// The warning code, as stored with the warning.
    pub fn as_str(self) -> &'static str {
        match self {
            LedgerWarningKind::SaleExceedsStock => "sale_exceeds_stock",
            LedgerWarningKind::SoldAfterExpiry => "sold_after_expiry",
            LedgerWarningKind::MissingCertificate => "missing_certificate",
            LedgerWarningKind::ExpiredOnReceipt => "expired_on_receipt",
            LedgerWarningKind::DisposeExceedsStock => "dispose_exceeds_stock",
            LedgerWarningKind::NegativeStock => "negative_stock",
            LedgerWarningKind::VoucherQuantityMismatch => "voucher_quantity_mismatch",
        }
    }

    /// The kind of a stored warning code; `None` for codes no rule weighs.
    pub fn from_code(code: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.as_str() == code)
    }

    fn index(self) -> usize {
        self as usize
    }
}

/// A merchant's ledger over the rules' period: entries made (the base of a
/// rate) and warnings raised, per [`LedgerWarningKind`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct LedgerFacts {
    /// Every entry (purchases, sales, adjustments, disposals, voids).
    pub entries: u32,
    pub purchases: u32,
    pub sales: u32,
    /// Per kind, in [`LedgerWarningKind::ALL`] order.
    pub warnings: [u16; 7],
}

impl LedgerFacts {
    pub fn warnings(&self, kind: LedgerWarningKind) -> u16 {
        self.warnings[kind.index()]
    }

    pub fn set_warnings(&mut self, kind: LedgerWarningKind, n: u16) {
        self.warnings[kind.index()] = n;
    }

    fn base(&self, base: LedgerBase) -> u32 {
        match base {
            LedgerBase::Entries => self.entries,
            LedgerBase::Purchases => self.purchases,
            LedgerBase::Sales => self.sales,
        }
    }
}

impl MerchantFacts {
    fn num(&self, f: NumFact) -> u32 {
        match f {
            NumFact::AreaM2 => self.area_m2,
            NumFact::PrepackagedLines => self.prepackaged_lines,
            NumFact::OnSiteLines => self.on_site_lines,
            NumFact::Suppliers => self.suppliers,
            NumFact::RentedCounters => self.rented_counters,
            NumFact::DailyMeals => self.daily_meals,
        }
    }
}

/// The grade of one merchant.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct RiskAssessment {
    pub grade: RiskGrade,
    /// static + dynamic, 0–100, one decimal.
    pub score: f64,
    pub static_score: f64,
    pub dynamic_score: f64,
    /// The policy minimum for the grade (A 1, B 2, C 3, D 4).
    pub inspections_per_year: u8,
    /// Still due this year: `inspections_per_year − inspections_this_year`, ≥ 0.
    pub inspections_due: u8,
}

// ---------------------------------------------------------------- config

/// One tier of a static factor: exactly one condition, and its score.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StaticTier {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fact: Option<NumFact>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub at_least: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub flag: Option<FactFlag>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub any_category: Option<Vec<Category>>,
    pub score: f64,
}

/// A static risk factor (one row of the 静态风险因素量化分值表).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StaticFactor {
    pub id: String,
    pub name_zh: String,
    pub max: f64,
    pub tiers: Vec<StaticTier>,
}

/// Static tables per business type.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StaticTables {
    pub food_sales: Vec<StaticFactor>,
    pub catering: Vec<StaticFactor>,
}

/// Points per event, capped per component.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct DynamicComponent {
    pub points: f64,
    pub cap: f64,
}

/// Dynamic scoring.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DynamicRules {
    /// The window the caller counts events in.
    pub period_days: u32,
    pub inspection_non_compliant: DynamicComponent,
    pub inspection_basically_compliant: DynamicComponent,
    pub confirmed_test_failure: DynamicComponent,
    pub complaint: DynamicComponent,
    /// v1: every ledger warning alike, points per warning. Exactly one of
    /// `ledger_warning` and `ledger` is given.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ledger_warning: Option<DynamicComponent>,
    /// v2: per kind of warning, as a rate.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ledger: Option<LedgerRates>,
    /// v3: per open warning the other factors do not count.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub open_alert: Option<DynamicComponent>,
}

/// Which entries a warning kind is counted against.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LedgerBase {
    Entries,
    Purchases,
    Sales,
}

/// The weight of one kind of ledger warning.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LedgerWeight {
    pub code: LedgerWarningKind,
    /// The warning is counted per 100 of these entries.
    pub per: LedgerBase,
    /// Points per warning per 100 `per` entries (per percent).
    pub points_per_percent: f64,
    /// Most points this kind can add.
    pub cap: f64,
    /// The provision the warning enforces.
    #[serde(default)]
    pub basis_zh: String,
}

/// Ledger warnings as rates (v2).
///
/// A warning counts as a rate, warnings per 100 entries of its base (sales
/// for a sale beyond stock, purchases for a missing certificate), not as a
/// raw count: a wholesaler with 5,000 sales and 20 sales beyond stock keeps
/// a better ledger than a stall with 40 sales and 10, and a raw count would
/// grade them the other way round. Small ledgers would make a rate jumpy
/// (one slip in two sales is 50 %), so the base is at least `min_base`:
/// below it each warning weighs as if the merchant had made `min_base`
/// entries. Each kind is capped, and all ledger points together at `cap`
/// (v2: the whole dynamic score, so persistently selling goods of unknown
/// origin or past their date is D on the ledger alone).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LedgerRates {
    pub min_base: u32,
    pub cap: f64,
    pub kinds: Vec<LedgerWeight>,
}

/// A grade's cut-off and inspection frequency.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GradeBand {
    pub grade: RiskGrade,
    /// Highest score (inclusive) of the grade; `None` for D.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_score: Option<f64>,
    pub min_inspections_per_year: u8,
    #[serde(default)]
    pub frequency_zh: String,
}

/// The versioned risk rules (`risk-v1.json`, `risk-v2.json`, `risk-v3.json`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RiskRules {
    /// `"risk"`.
    pub id: String,
    pub version: u32,
    #[serde(default)]
    pub source: String,
    /// 40.
    pub static_max: f64,
    /// 60.
    pub dynamic_max: f64,
    /// Dynamic points per static point for a new operator (1.5: the total is the
    /// static score scaled from 40 to 100).
    pub new_operator_dynamic_per_static_point: f64,
    pub static_tables: StaticTables,
    pub dynamic: DynamicRules,
    pub grades: Vec<GradeBand>,
}

impl RiskRules {
    /// Parses a rules file (validated when compiled into a [`RiskGrader`]).
    pub fn from_json(json: &str) -> Result<Self, InspectionError> {
        serde_json::from_str(json).map_err(|e| config_error("risk", "", e.to_string()))
    }
}

// ---------------------------------------------------------------- compiled

#[derive(Debug, Clone, Copy)]
enum Cond {
    AtLeast(NumFact, u32),
    Flag(u32),
    AnyCategory(u32),
}

#[derive(Debug, Clone, Copy)]
struct CTier {
    cond: Cond,
    score: u32,
}

#[derive(Debug, Clone)]
struct CFactor {
    max: u32,
    tiers: Vec<CTier>,
}

/// Ledger weights in tenths of a point.
#[derive(Debug, Clone, Copy)]
enum CLedger {
    /// v1: (points, cap) per warning.
    Count(u32, u32),
    /// v2: per kind (base, points per percent, cap), the smallest base, the
    /// cap of all ledger points.
    Rates {
        kinds: [Option<(LedgerBase, u32, u32)>; 7],
        min_base: u32,
        cap: u32,
    },
}

/// The compiled grader: integer tables in tenths of a point.
#[derive(Debug, Clone)]
pub struct RiskGrader {
    rules: RiskRules,
    food_sales: Vec<CFactor>,
    catering: Vec<CFactor>,
    static_max: u32,
    dynamic_max: u32,
    new_operator_milli: u32,
    /// (points, cap) for: non-compliant, basically compliant, test failure,
    /// complaint.
    dynamic: [(u32, u32); 4],
    ledger: CLedger,
    /// (points, cap) per open warning (v3; zero before).
    open_alert: (u32, u32),
    /// Inclusive maxima of A, B, C.
    cutoffs: [u32; 3],
    per_year: [u8; 4],
}

/// Score → tenths, validated as finite and within `0..=limit`.
fn tenths(field: &str, x: f64, limit: f64) -> Result<u32, InspectionError> {
    if !x.is_finite() || x < 0.0 || x > limit {
        return Err(config_error(
            "risk",
            field,
            format!("须为 0–{limit} 之间的数"),
        ));
    }
    Ok((x * 10.0).round() as u32)
}

fn compile_table(
    name: &str,
    factors: &[StaticFactor],
    static_max: f64,
) -> Result<Vec<CFactor>, InspectionError> {
    if factors.is_empty() {
        return Err(config_error(
            "risk",
            format!("static_tables.{name}"),
            "静态因素表不能为空",
        ));
    }
    let mut out = Vec::with_capacity(factors.len());
    for (fi, f) in factors.iter().enumerate() {
        let path = format!("static_tables.{name}[{fi}]");
        if f.id.trim().is_empty() || factors[..fi].iter().any(|g| g.id == f.id) {
            return Err(config_error(
                "risk",
                format!("{path}.id"),
                "因素编号为空或重复",
            ));
        }
        let max = tenths(&format!("{path}.max"), f.max, static_max)?;
        let mut tiers = Vec::with_capacity(f.tiers.len());
        for (ti, t) in f.tiers.iter().enumerate() {
            let tpath = format!("{path}.tiers[{ti}]");
            let score = tenths(&format!("{tpath}.score"), t.score, f.max)?;
            let cond = match (t.fact, t.at_least, t.flag, &t.any_category) {
                (Some(fact), Some(n), None, None) => Cond::AtLeast(fact, n),
                (None, None, Some(flag), None) => Cond::Flag(FlagSet::bit(flag)),
                (None, None, None, Some(cats)) if !cats.is_empty() => {
                    Cond::AnyCategory(cats.iter().copied().collect::<CategorySet>().0)
                }
                _ => {
                    return Err(config_error(
                        "risk",
                        tpath,
                        "每档须且只须有一个条件：fact+at_least、flag 或 any_category",
                    ))
                }
            };
            tiers.push(CTier { cond, score });
        }
        out.push(CFactor { max, tiers });
    }
    Ok(out)
}

fn compile_ledger(l: &LedgerRates, dynamic_max: f64) -> Result<CLedger, InspectionError> {
    if l.min_base == 0 {
        return Err(config_error("risk", "dynamic.ledger.min_base", "须 ≥ 1"));
    }
    let mut kinds = [None; 7];
    for (i, k) in l.kinds.iter().enumerate() {
        let path = format!("dynamic.ledger.kinds[{i}]");
        let slot = &mut kinds[k.code.index()];
        if slot.is_some() {
            return Err(config_error("risk", format!("{path}.code"), "警告类型重复"));
        }
        *slot = Some((
            k.per,
            tenths(
                &format!("{path}.points_per_percent"),
                k.points_per_percent,
                dynamic_max,
            )?,
            tenths(&format!("{path}.cap"), k.cap, dynamic_max)?,
        ));
    }
    Ok(CLedger::Rates {
        kinds,
        min_base: l.min_base,
        cap: tenths("dynamic.ledger.cap", l.cap, dynamic_max)?,
    })
}

impl RiskGrader {
    /// Validates and compiles rules.
    pub fn new(rules: RiskRules) -> Result<Self, InspectionError> {
        if rules.id != "risk" || rules.version == 0 {
            return Err(config_error("risk", "id", "须为 risk，版本号从 1 开始"));
        }
        let static_max = tenths("static_max", rules.static_max, 100.0)?;
        let dynamic_max = tenths("dynamic_max", rules.dynamic_max, 100.0)?;
        if static_max + dynamic_max > 1000 {
            return Err(config_error(
                "risk",
                "static_max",
                "静态与动态满分之和不能超过 100",
            ));
        }
        let m = rules.new_operator_dynamic_per_static_point;
        if !m.is_finite() || !(0.0..=10.0).contains(&m) {
            return Err(config_error(
                "risk",
                "new_operator_dynamic_per_static_point",
                "须为 0–10",
            ));
        }
        let food_sales = compile_table(
            "food_sales",
            &rules.static_tables.food_sales,
            rules.static_max,
        )?;
        let catering = compile_table("catering", &rules.static_tables.catering, rules.static_max)?;
        let d = &rules.dynamic;
        let comp = |name: &str, c: DynamicComponent| -> Result<(u32, u32), InspectionError> {
            Ok((
                tenths(
                    &format!("dynamic.{name}.points"),
                    c.points,
                    rules.dynamic_max,
                )?,
                tenths(&format!("dynamic.{name}.cap"), c.cap, rules.dynamic_max)?,
            ))
        };
        let dynamic = [
            comp("inspection_non_compliant", d.inspection_non_compliant)?,
            comp(
                "inspection_basically_compliant",
                d.inspection_basically_compliant,
            )?,
            comp("confirmed_test_failure", d.confirmed_test_failure)?,
            comp("complaint", d.complaint)?,
        ];
        let open_alert = match d.open_alert {
            Some(c) => comp("open_alert", c)?,
            None => (0, 0),
        };
        let ledger = match (d.ledger_warning, &d.ledger) {
            (Some(c), None) => {
                let (points, cap) = comp("ledger_warning", c)?;
                CLedger::Count(points, cap)
            }
            (None, Some(l)) => compile_ledger(l, rules.dynamic_max)?,
            _ => {
                return Err(config_error(
                    "risk",
                    "dynamic.ledger",
                    "须且只须有 ledger_warning（v1）或 ledger（v2）之一",
                ))
            }
        };
        if rules.grades.len() != 4
            || rules
                .grades
                .iter()
                .zip(RiskGrade::ALL)
                .any(|(b, g)| b.grade != g)
        {
            return Err(config_error("risk", "grades", "须依次列出 A、B、C、D 四级"));
        }
        let mut cutoffs = [0u32; 3];
        let mut per_year = [0u8; 4];
        let mut prev: Option<u32> = None;
        for (i, b) in rules.grades.iter().enumerate() {
            per_year[i] = b.min_inspections_per_year;
            if b.min_inspections_per_year == 0 || (i > 0 && per_year[i] < per_year[i - 1]) {
                return Err(config_error(
                    "risk",
                    format!("grades[{i}].min_inspections_per_year"),
                    "须 ≥ 1 且随风险等级不减",
                ));
            }
            match (i, b.max_score) {
                (3, None) => {}
                (3, Some(_)) => {
                    return Err(config_error("risk", "grades[3].max_score", "D 级无上限"))
                }
                (_, Some(x)) => {
                    let t = tenths(&format!("grades[{i}].max_score"), x, 100.0)?;
                    if prev.is_some_and(|p| t <= p) {
                        return Err(config_error(
                            "risk",
                            format!("grades[{i}].max_score"),
                            "分界须递增",
                        ));
                    }
                    cutoffs[i] = t;
                    prev = Some(t);
                }
                (_, None) => {
                    return Err(config_error(
                        "risk",
                        format!("grades[{i}].max_score"),
                        "A–C 级须有上限",
                    ))
                }
            }
        }
        Ok(Self {
            new_operator_milli: (m * 1000.0).round() as u32,
            rules,
            food_sales,
            catering,
            static_max,
            dynamic_max,
            dynamic,
            ledger,
            open_alert,
            cutoffs,
            per_year,
        })
    }

    /// The built-in rules (`core/data/rules/risk-v3.json`), compiled once.
    /// Errors only if the embedded file is broken (the test
    /// `builtin_rules_compile` proves it is not); the server checks at
    /// start-up.
    pub fn builtin() -> Result<&'static RiskGrader, InspectionError> {
        static GRADER: OnceLock<Result<RiskGrader, InspectionError>> = OnceLock::new();
        GRADER
            .get_or_init(|| RiskGrader::version(3))
            .as_ref()
            .map_err(Clone::clone)
    }

    /// A shipped version of the rules, compiled: 1 (ledger warnings as a
    /// raw count), 2 (per kind, as rates) or 3 (and open warnings). Kept so
    /// a grade stored with its rules version can be recomputed.
    pub fn version(version: u32) -> Result<RiskGrader, InspectionError> {
        let text = match version {
            1 => include_str!("../../data/rules/risk-v1.json"),
            2 => include_str!("../../data/rules/risk-v2.json"),
            3 => include_str!("../../data/rules/risk-v3.json"),
            _ => {
                return Err(config_error(
                    "risk",
                    "version",
                    format!("没有第 {version} 版风险分级规则"),
                ))
            }
        };
        RiskGrader::new(RiskRules::from_json(text)?)
    }

    /// The rules this grader was compiled from.
    pub fn rules(&self) -> &RiskRules {
        &self.rules
    }

    /// Static score in tenths (就高不就低 within a factor, capped per factor and
    /// in total).
    fn static_tenths(&self, f: &MerchantFacts) -> u32 {
        let table = match f.business_type {
            BusinessType::FoodSales => &self.food_sales,
            BusinessType::Catering => &self.catering,
        };
        let mut sum = 0u32;
        for factor in table {
            let mut best = 0u32;
            for t in &factor.tiers {
                if t.score > best {
                    let holds = match t.cond {
                        Cond::AtLeast(fact, n) => f.num(fact) >= n,
                        Cond::Flag(mask) => f.flags.0 & mask != 0,
                        Cond::AnyCategory(mask) => f.categories.intersects(mask),
                    };
                    if holds {
                        best = t.score;
                    }
                }
            }
            sum += best.min(factor.max);
        }
        sum.min(self.static_max)
    }

    fn dynamic_tenths(&self, f: &MerchantFacts, static_t: u32) -> u32 {
        let counts = [
            f.inspections_non_compliant,
            f.inspections_basically_compliant,
            f.confirmed_test_failures,
            f.complaints,
        ];
        let (points, cap) = self.open_alert;
        let mut events =
            self.ledger_tenths(f) + points.saturating_mul(u32::from(f.open_alerts)).min(cap);
        for (&(points, cap), &n) in self.dynamic.iter().zip(counts.iter()) {
            events += points.saturating_mul(u32::from(n)).min(cap);
        }
        let d = if f.new_operator {
            events.max(static_t.saturating_mul(self.new_operator_milli) / 1000)
        } else {
            events
        };
        d.min(self.dynamic_max)
    }

    /// Ledger points in tenths (see [`LedgerRates`] for why a rate).
    fn ledger_tenths(&self, f: &MerchantFacts) -> u32 {
        match self.ledger {
            CLedger::Count(points, cap) => {
                points.saturating_mul(u32::from(f.ledger_warnings)).min(cap)
            }
            CLedger::Rates {
                kinds,
                min_base,
                cap,
            } => {
                let mut sum = 0u32;
                for (k, n) in kinds.iter().zip(f.ledger.warnings) {
                    let Some((base, per_percent, kind_cap)) = *k else {
                        continue;
                    };
                    let base = f.ledger.base(base).max(min_base);
                    let t = u64::from(per_percent) * u64::from(n) * 100 / u64::from(base);
                    sum += u32::try_from(t).unwrap_or(u32::MAX).min(kind_cap);
                }
                sum.min(cap)
            }
        }
    }

    /// The grade for a score in tenths of a point (≤ 300 A, ≤ 450 B, ≤ 600 C,
    /// else D with the built-in rules).
    pub fn grade_for_tenths(&self, score_tenths: u32) -> RiskGrade {
        if score_tenths <= self.cutoffs[0] {
            RiskGrade::A
        } else if score_tenths <= self.cutoffs[1] {
            RiskGrade::B
        } else if score_tenths <= self.cutoffs[2] {
            RiskGrade::C
        } else {
            RiskGrade::D
        }
    }

    /// Grades one merchant. No allocation.
    pub fn grade(&self, f: &MerchantFacts) -> RiskAssessment {
        let s = self.static_tenths(f);
        let d = self.dynamic_tenths(f, s);
        let total = s + d;
        let grade = self.grade_for_tenths(total);
        let per_year = self.per_year[grade.index()];
        let done = u8::try_from(f.inspections_this_year).unwrap_or(u8::MAX);
        RiskAssessment {
            grade,
            score: f64::from(total) / 10.0,
            static_score: f64::from(s) / 10.0,
            dynamic_score: f64::from(d) / 10.0,
            inspections_per_year: per_year,
            inspections_due: per_year.saturating_sub(done),
        }
    }

    /// Grades many merchants into `out` (cleared first; one allocation at most).
    pub fn grade_all(&self, facts: &[MerchantFacts], out: &mut Vec<RiskAssessment>) {
        out.clear();
        out.reserve(facts.len());
        out.extend(facts.iter().map(|f| self.grade(f)));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn grader() -> &'static RiskGrader {
        match RiskGrader::builtin() {
            Ok(g) => g,
            Err(e) => panic!("{e}"),
        }
    }

    fn v1() -> RiskGrader {
        RiskGrader::version(1).unwrap()
    }

    #[test]
    fn builtin_rules_compile() {
        assert_eq!(grader().rules().version, 3);
        assert!(grader().rules().dynamic.ledger.is_some());
        assert!(grader().rules().dynamic.open_alert.is_some());
        let v1 = v1();
        assert_eq!(v1.rules().version, 1);
        assert!(v1.rules().dynamic.ledger_warning.is_some());
        let v2 = RiskGrader::version(2).unwrap();
        assert!(v2.rules().dynamic.open_alert.is_none());
        assert_eq!(
            RiskGrader::version(4).err().map(|e| e.code()),
            Some("invalid_config")
        );
    }

    #[test]
    fn v3_weighs_open_warnings_and_v2_does_not() {
        let v2 = RiskGrader::version(2).unwrap();
        let quiet = meat_stall();
        let flagged = MerchantFacts {
            open_alerts: 1,
            ..meat_stall()
        };
        assert_eq!(v2.grade(&quiet), v2.grade(&flagged));
        let (a, b) = (grader().grade(&quiet), grader().grade(&flagged));
        assert_eq!(b.dynamic_score - a.dynamic_score, 10.0);
        // Capped at 20 points however many are open.
        let many = MerchantFacts {
            open_alerts: 9,
            ..meat_stall()
        };
        assert_eq!(grader().grade(&many).dynamic_score - a.dynamic_score, 20.0);
        assert_eq!(
            a,
            v2.grade(&quiet),
            "v3 grades the same without open warnings"
        );
    }

    /// A food-sales stall in meat: static 4 + 1 + 1 = 6, inspected before.
    fn meat_stall() -> MerchantFacts {
        MerchantFacts {
            area_m2: 20,
            suppliers: 3,
            categories: [Category::LivestockMeat].into_iter().collect(),
            inspections_compliant: 1,
            ..MerchantFacts::default()
        }
    }

    fn ledger(sales: u32, purchases: u32, warnings: &[(LedgerWarningKind, u16)]) -> LedgerFacts {
        let mut l = LedgerFacts {
            entries: sales + purchases,
            purchases,
            sales,
            ..LedgerFacts::default()
        };
        for &(k, n) in warnings {
            l.set_warnings(k, n);
        }
        l
    }

    fn weight(g: &RiskGrader, k: LedgerWarningKind) -> LedgerWeight {
        let l = g.rules().dynamic.ledger.as_ref().unwrap();
        l.kinds.iter().find(|w| w.code == k).unwrap().clone()
    }

    #[test]
    fn ledger_warnings_grade_worse_than_a_clean_ledger() {
        use LedgerWarningKind::*;
        let g = grader();
        let clean = meat_stall();
        let mut bad = meat_stall();
        bad.ledger = ledger(
            200,
            100,
            &[
                (SaleExceedsStock, 30),
                (SoldAfterExpiry, 10),
                (MissingCertificate, 40),
            ],
        );
        let (c, b) = (g.grade(&clean), g.grade(&bad));
        assert_eq!(
            (c.static_score, c.dynamic_score, c.grade),
            (6.0, 0.0, RiskGrade::A)
        );
        assert!(b.dynamic_score > 0.0 && b.score > c.score, "{b:?}");
        assert!(b.grade > c.grade, "{b:?}");
        // The v1 count of the same warnings does not move a grade: 80
        // warnings, 1 point each, capped at 10.
        let mut v1_facts = bad;
        v1_facts.ledger_warnings = 80;
        assert_eq!(v1().grade(&v1_facts).grade, RiskGrade::A);
    }

    #[test]
    fn ledger_points_are_rates_with_a_floor() {
        use LedgerWarningKind::*;
        let g = grader();
        let w = weight(g, SaleExceedsStock);
        assert_eq!(w.per, LedgerBase::Sales);
        let points = |sales: u32, n: u16| {
            let mut f = meat_stall();
            f.ledger = ledger(sales, 10, &[(SaleExceedsStock, n)]);
            g.grade(&f).dynamic_score
        };
        // 2 in 200 sales is 1 %: the weight per percent.
        assert_eq!(points(200, 2), w.points_per_percent);
        // A wholesaler's 20 in 5,000 weighs less than a stall's 10 in 40.
        assert!(points(5000, 20) < points(40, 10));
        // One slip in two sales counts as one in `min_base`, not as 50 %.
        let min_base = g.rules().dynamic.ledger.as_ref().unwrap().min_base;
        assert_eq!(
            points(2, 1),
            (w.points_per_percent * 100.0 / f64::from(min_base)).min(w.cap)
        );
        // v2 weighs the kinds, not v1's raw total.
        let mut f = meat_stall();
        f.ledger_warnings = 500;
        assert_eq!(g.grade(&f).dynamic_score, 0.0, "v2 ignores the raw total");
    }

    #[test]
    fn ledger_caps_hold() {
        let g = grader();
        let rates = g.rules().dynamic.ledger.clone().unwrap();
        for k in LedgerWarningKind::ALL {
            let mut f = meat_stall();
            f.ledger = ledger(10, 10, &[(k, u16::MAX)]);
            assert_eq!(
                g.grade(&f).dynamic_score,
                weight(g, k).cap.min(rates.cap),
                "{k:?}"
            );
        }
        let mut f = meat_stall();
        f.ledger = ledger(10, 10, &LedgerWarningKind::ALL.map(|k| (k, u16::MAX)));
        assert_eq!(g.grade(&f).dynamic_score, rates.cap);
        f.inspections_non_compliant = 100;
        f.confirmed_test_failures = 100;
        assert_eq!(g.grade(&f).dynamic_score, 60.0, "dynamic_max holds");
    }

    #[test]
    fn ledger_weights_come_from_the_config() {
        use LedgerWarningKind::*;
        let mut f = meat_stall();
        f.ledger = ledger(
            1000,
            1000,
            &[(SaleExceedsStock, 10), (MissingCertificate, 20)],
        );
        let base = grader().rules().clone();
        let score = |r: &RiskRules| RiskGrader::new(r.clone()).unwrap().grade(&f).dynamic_score;
        let both = score(&base);
        let mut r = base.clone();
        let l = r.dynamic.ledger.as_mut().unwrap();
        l.kinds.retain(|w| w.code != MissingCertificate);
        let sales_only = score(&r);
        assert!(sales_only > 0.0 && sales_only < both);
        let l = r.dynamic.ledger.as_mut().unwrap();
        l.kinds[0].points_per_percent *= 2.0;
        l.kinds[0].cap = 60.0;
        l.cap = 60.0;
        assert_eq!(l.kinds[0].code, SaleExceedsStock);
        assert_eq!(score(&r), 2.0 * sales_only);
        let l = r.dynamic.ledger.as_mut().unwrap();
        l.kinds[0].cap = 1.0;
        assert_eq!(score(&r), 1.0);

        // Exactly one of v1's count and v2's rates; kinds once each.
        let mut r = base.clone();
        r.dynamic.ledger_warning = Some(DynamicComponent {
            points: 1.0,
            cap: 10.0,
        });
        assert!(RiskGrader::new(r.clone()).is_err());
        r.dynamic.ledger = None;
        assert!(RiskGrader::new(r.clone()).is_ok());
        r.dynamic.ledger_warning = None;
        assert!(RiskGrader::new(r).is_err());
        let mut r = base.clone();
        let l = r.dynamic.ledger.as_mut().unwrap();
        l.kinds.push(l.kinds[0].clone());
        assert!(RiskGrader::new(r).is_err());
        let mut r = base;
        r.dynamic.ledger.as_mut().unwrap().min_base = 0;
        assert!(RiskGrader::new(r).is_err());
    }

    #[test]
    fn warning_codes_map_to_kinds() {
        for k in LedgerWarningKind::ALL {
            assert_eq!(LedgerWarningKind::from_code(k.as_str()), Some(k));
            assert_eq!(
                serde_json::to_value(k).unwrap(),
                serde_json::json!(k.as_str())
            );
        }
        assert_eq!(LedgerWarningKind::from_code("voucher_not_yet_known"), None);
    }

    /// A stall with a static score of exactly 30: every food-sales factor at
    /// its maximum except prepackaged (0), farm imported (0), salt (1 → 0),
    /// rented counters (0): 40 − 3 − 2 − 1 − 4 = 30.
    fn stall_30() -> MerchantFacts {
        MerchantFacts {
            area_m2: 1000,
            on_site_lines: 10,
            suppliers: 100,
            flags: [
                FactFlag::BulkReadyToEat,
                FactFlag::SpecialFood,
                FactFlag::DecoratedCakes,
            ]
            .into_iter()
            .collect(),
            categories: [Category::Aquatic].into_iter().collect(),
            ..MerchantFacts::default()
        }
    }

    #[test]
    fn grade_boundaries() {
        let g = grader();
        assert_eq!(g.grade_for_tenths(0), RiskGrade::A);
        assert_eq!(g.grade_for_tenths(300), RiskGrade::A);
        assert_eq!(g.grade_for_tenths(301), RiskGrade::B);
        assert_eq!(g.grade_for_tenths(450), RiskGrade::B);
        assert_eq!(g.grade_for_tenths(451), RiskGrade::C);
        assert_eq!(g.grade_for_tenths(600), RiskGrade::C);
        assert_eq!(g.grade_for_tenths(601), RiskGrade::D);
        assert_eq!(g.grade_for_tenths(610), RiskGrade::D);
    }

    #[test]
    fn static_30_is_a_and_one_warning_makes_b() {
        let g = grader();
        let a = g.grade(&stall_30());
        assert_eq!(
            (a.static_score, a.dynamic_score, a.score, a.grade),
            (30.0, 0.0, 30.0, RiskGrade::A)
        );
        assert_eq!((a.inspections_per_year, a.inspections_due), (1, 1));

        // A fractional weight gives 30.5: B (v1 weighs each warning alike).
        let mut rules = v1().rules().clone();
        rules.dynamic.ledger_warning = Some(DynamicComponent {
            points: 0.5,
            cap: 10.0,
        });
        let g2 = RiskGrader::new(rules);
        let Ok(g2) = g2 else { panic!("{g2:?}") };
        let mut f = stall_30();
        f.ledger_warnings = 1;
        let b = g2.grade(&f);
        assert_eq!((b.score, b.grade), (30.5, RiskGrade::B));
    }

    #[test]
    fn totals_at_45_60_61() {
        let g = &v1();
        let mut f = stall_30();
        f.inspections_basically_compliant = 3; // 15 (cap 15)
        let r = g.grade(&f);
        assert_eq!(
            (r.score, r.grade, r.inspections_per_year),
            (45.0, RiskGrade::B, 2)
        );
        f.inspections_non_compliant = 1; // +15 → 60
        let r = g.grade(&f);
        assert_eq!(
            (r.score, r.grade, r.inspections_per_year),
            (60.0, RiskGrade::C, 3)
        );
        f.ledger_warnings = 1; // +1 → 61
        f.inspections_this_year = 1;
        let r = g.grade(&f);
        assert_eq!(
            (r.score, r.grade, r.inspections_per_year, r.inspections_due),
            (61.0, RiskGrade::D, 4, 3)
        );
    }

    #[test]
    fn highest_tier_counts_and_caps_hold() {
        let g = grader();
        let mut f = MerchantFacts {
            flags: [FactFlag::BulkFood, FactFlag::BulkReadyToEat]
                .into_iter()
                .collect(),
            categories: [Category::Vegetable, Category::LivestockMeat]
                .into_iter()
                .collect(),
            ..MerchantFacts::default()
        };
        // bulk: max(3, 5) = 5, farm: max(2, 4) = 4 (就高不就低, not 3 + 5, 2 + 4).
        assert_eq!(g.grade(&f).static_score, 9.0);
        f.confirmed_test_failures = 100;
        f.complaints = 100;
        f.inspections_non_compliant = 100;
        f.inspections_basically_compliant = 100;
        f.ledger_warnings = 100;
        f.ledger = LedgerFacts {
            warnings: [u16::MAX; 7],
            ..LedgerFacts::default()
        };
        let r = g.grade(&f);
        assert_eq!(r.dynamic_score, 60.0);
        assert_eq!(r.grade, RiskGrade::D);
        let max = MerchantFacts {
            area_m2: u32::MAX,
            prepackaged_lines: u32::MAX,
            on_site_lines: u32::MAX,
            suppliers: u32::MAX,
            rented_counters: u32::MAX,
            flags: FlagSet(u32::MAX),
            categories: CategorySet(u32::MAX),
            ..MerchantFacts::default()
        };
        assert_eq!(g.grade(&max).static_score, 40.0);
    }

    #[test]
    fn new_operator_scales_static() {
        let g = grader();
        let mut f = MerchantFacts {
            area_m2: 50,
            suppliers: 5,
            ..MerchantFacts::default()
        }; // 1 + 1 = 2
        f.new_operator = true;
        let r = g.grade(&f);
        assert_eq!((r.static_score, r.dynamic_score, r.score), (2.0, 3.0, 5.0));
    }

    #[test]
    fn catering_table_applies() {
        let g = grader();
        let f = MerchantFacts {
            business_type: BusinessType::Catering,
            area_m2: 600,
            daily_meals: 1200,
            flags: [FactFlag::SchoolCanteen, FactFlag::ColdDishes]
                .into_iter()
                .collect(),
            categories: [Category::Poultry].into_iter().collect(),
            suppliers: 30,
            ..MerchantFacts::default()
        };
        // 6 + 6 + 8 + 8 + 3 + 2 = 33
        let r = g.grade(&f);
        assert_eq!((r.static_score, r.grade), (33.0, RiskGrade::B));
    }

    #[test]
    fn facts_serde_uses_lists() {
        let f = stall_30();
        let v = serde_json::to_value(f).unwrap_or_default();
        assert_eq!(
            v["flags"],
            serde_json::json!(["bulk_ready_to_eat", "special_food", "decorated_cakes"])
        );
        assert_eq!(v["categories"], serde_json::json!(["aquatic"]));
        let back: Result<MerchantFacts, _> = serde_json::from_value(v);
        assert_eq!(back.ok(), Some(f));
        let partial: Result<MerchantFacts, _> =
            serde_json::from_str("{\"business_type\":\"catering\"}");
        assert_eq!(
            partial.map(|f| f.business_type).ok(),
            Some(BusinessType::Catering)
        );
    }

    #[test]
    fn config_is_validated() {
        let base = grader().rules().clone();
        let mut r = base.clone();
        r.grades.swap(0, 1);
        assert!(RiskGrader::new(r).is_err());
        let mut r = base.clone();
        r.static_tables.food_sales[0].tiers[0].score = 99.0;
        assert!(RiskGrader::new(r).is_err());
        let mut r = base.clone();
        r.static_tables.food_sales[0].tiers[0].flag = Some(FactFlag::Salt);
        assert!(RiskGrader::new(r).is_err());
        let mut r = base.clone();
        r.grades[1].max_score = Some(20.0);
        assert!(RiskGrader::new(r).is_err());
        let mut r = base;
        r.dynamic.complaint.cap = f64::NAN;
        assert_eq!(
            RiskGrader::new(r).err().map(|e| e.code()),
            Some("invalid_config")
        );
    }

    #[test]
    fn grade_all_many() {
        let g = grader();
        let facts: Vec<MerchantFacts> = (0..10_000u32)
            .map(|i| MerchantFacts {
                area_m2: i % 2000,
                suppliers: i % 120,
                complaints: (i % 7) as u16,
                inspections_non_compliant: (i % 5 == 0) as u16,
                business_type: if i % 3 == 0 {
                    BusinessType::Catering
                } else {
                    BusinessType::FoodSales
                },
                ..MerchantFacts::default()
            })
            .collect();
        let mut out = Vec::new();
        g.grade_all(&facts, &mut out);
        assert_eq!(out.len(), facts.len());
        assert!(out
            .iter()
            .all(|r| r.score == r.static_score + r.dynamic_score
                || (r.score - r.static_score - r.dynamic_score).abs() < 1e-9));
    }
}
