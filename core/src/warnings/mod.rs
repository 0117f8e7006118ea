//! The warnings engine (预警): pure functions from facts to warnings.
//!
//! The server fills the plain fact structs below from its store — for every
//! merchant in a full pass, or for the merchants a push touched — and
//! [`evaluate`] answers the [`Candidate`]s those facts raise. Whether a
//! candidate is a new warning, the same one seen again or one an analyst
//! has resolved is the server's business (identity is kind + subject); the
//! rules of when to raise are here, once, with their thresholds in
//! versioned configuration ([`Thresholds`]).
//!
//! Families, one module each: [`licence`] (licence expiring, expired and
//! trading), [`ledger`] (the ledger rules' own warnings, summed per
//! merchant), [`price`] (a price far below the market's, by median and
//! MAD), [`sampling`] (pass rate by a binomial test, not sampled, sampled
//! too often), [`complaints`] (frequent complaints, hot topics by a Poisson
//! test).

pub mod complaints;
pub mod entry;
pub mod holds;
pub mod kinds;
pub mod ledger;
pub mod licence;
pub mod price;
pub mod sampling;
pub mod self_checks;
pub mod staff;
pub mod stats;
pub mod thresholds;

use std::collections::{BTreeMap, HashMap};

use chrono::{DateTime, FixedOffset, NaiveDate, Offset, TimeZone, Utc};
use serde::{Deserialize, Serialize};

use crate::category::Category;
use crate::quantity::BaseUnit;

pub use kinds::{Kind, Severity, Subject, SubjectType};
pub use thresholds::Thresholds;

/// What an evidence link points at.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LinkType {
    Entry,
    Sample,
    Complaint,
    Inspection,
    Merchant,
    /// A market's entry check (入场查验).
    EntryCheck,
}

/// One record that raised a warning.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Link {
    #[serde(rename = "type")]
    pub kind: LinkType,
    pub id: String,
}

impl Link {
    pub fn new(kind: LinkType, id: impl Into<String>) -> Link {
        Link {
            kind,
            id: id.into(),
        }
    }
}

/// The figures (named numbers) and the records behind a warning.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct Evidence {
    pub figures: BTreeMap<String, f64>,
    pub links: Vec<Link>,
}

/// A warning the facts raise.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Candidate {
    pub kind: Kind,
    pub subject: Subject,
    pub severity: Severity,
    /// zh-CN, for the list.
    pub title: String,
    pub evidence: Evidence,
    /// The newest fact behind it: a warning an analyst resolved is raised
    /// again only by facts newer than the resolution.
    pub latest: DateTime<Utc>,
}

/// A timed record (an entry, a complaint).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fact {
    pub id: String,
    pub at: DateTime<Utc>,
}

/// A warning core's ledger rules gave an accepted entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LedgerWarningFact {
    /// The rule's code (`sale_exceeds_stock`, `sold_after_expiry`, …).
    pub code: String,
    pub entry_id: String,
    pub at: DateTime<Utc>,
}

/// A registered merchant and the facts about it alone.
#[derive(Debug, Clone, PartialEq)]
pub struct MerchantFacts {
    pub id: String,
    pub name: String,
    pub market_id: Option<String>,
    pub registered_at: DateTime<Utc>,
    pub licence_expiry: Option<NaiveDate>,
    /// Purchases and sales recorded on or after the licence's expiry date
    /// (any order; the server may pass only the newest few).
    pub trading_after_expiry: Vec<Fact>,
    /// Ledger warnings in the ledger window.
    pub ledger_warnings: Vec<LedgerWarningFact>,
    /// When it was last sampled (a new sampling, not a lab confirmation).
    pub last_sampled_at: Option<DateTime<Utc>>,
    /// Complaints that weigh (as in the risk grade) in the complaints window.
    pub complaints: Vec<Fact>,
}

/// Buying or selling: wholesale and retail prices are compared apart.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Side {
    Purchase,
    Sale,
}

/// One priced purchase or sale in the price window.
#[derive(Debug, Clone, PartialEq)]
pub struct PriceObservation {
    pub entry_id: String,
    pub merchant_id: String,
    pub market_id: String,
    /// The product as booked (a sale: its batch's purchase); grouped by
    /// [`product_key`].
    pub product: String,
    pub category: Category,
    pub unit: BaseUnit,
    pub side: Side,
    /// Per base unit, as booked.
    pub price_fen: i64,
    pub at: DateTime<Utc>,
}

/// One sample record in the pass-rate window.
#[derive(Debug, Clone, PartialEq)]
pub struct SampleObservation {
    pub id: String,
    pub merchant_id: String,
    pub market_id: Option<String>,
    /// The category of the sampled batch when the sample names one, else
    /// the merchant's main category (as for a complaint).
    pub category: Option<Category>,
    pub at: DateTime<Utc>,
    /// Counts as a failure (core's sample rules: a lab-confirmed failure).
    pub failed: bool,
    /// A lab result confirming a rapid test: the same sampling again.
    pub confirmation: bool,
}

/// One complaint that weighs, in the hot-topic windows.
#[derive(Debug, Clone, PartialEq)]
pub struct ComplaintObservation {
    pub id: String,
    pub merchant_id: String,
    /// The food category it is about (the merchant's main category when
    /// the complaint names none).
    pub category: Option<Category>,
    /// The product it is about, as booked, when known.
    pub product: Option<String>,
    pub at: DateTime<Utc>,
}

/// Everything one evaluation reads.
#[derive(Debug, Clone, Default)]
pub struct Facts {
    /// The merchants to judge on their own facts.
    pub merchants: Vec<MerchantFacts>,
    /// Every priced entry in the price window of the markets and
    /// categories concerned (the baselines).
    pub prices: Vec<PriceObservation>,
    /// Every sample in the pass-rate window (the baselines).
    pub samples: Vec<SampleObservation>,
    /// Every complaint that weighs in the hot-topic windows.
    pub complaints: Vec<ComplaintObservation>,
    /// Names of merchants (for subjects of price and pass-rate warnings).
    pub merchant_names: HashMap<String, (String, Option<String>)>,
    pub market_names: HashMap<String, String>,
}

/// Which subjects an evaluation answers for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope<'a> {
    /// Every subject (the full pass).
    All,
    /// One merchant, its market and the categories it was sampled or
    /// complained about in (after a push or a field or complaint write).
    Merchant(&'a str),
}

/// The candidates the facts raise, as of `now`.
pub fn evaluate(
    t: &Thresholds,
    facts: &Facts,
    now: DateTime<Utc>,
    scope: Scope<'_>,
) -> Vec<Candidate> {
    let mut out = Vec::new();
    for m in &facts.merchants {
        if let Scope::Merchant(id) = scope {
            if m.id != id {
                continue;
            }
        }
        out.extend(licence::detect(t, m, now));
        out.extend(ledger::detect(t, m));
        out.extend(sampling::not_sampled(t, m, now));
        out.extend(complaints::frequent(t, m, now));
    }
    out.extend(price::detect(t, facts, now, scope));
    out.extend(sampling::detect(t, facts, now, scope));
    out.extend(complaints::hot_topics(t, facts, now, scope));
    out
}

/// The form of a product name that groups prices and complaints: the name
/// as booked with full-width characters folded (core's `codes::fold_width`,
/// as typed codes are) and runs of spaces made one, so `冻牛腱`, `冻牛腱　`
/// and `冻牛腱 ` are one product, while different names stay apart (no
/// guessing that 牛腱 and 冻牛腱 are the same goods).
pub fn product_key(name: &str) -> String {
    crate::codes::fold_width(name)
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
}

/// Whether `product_key(name) == key`, without building the name's key: a
/// pass judging one merchant compares its few products with every entry of
/// its market, and most names differ from a key at their first character.
pub(crate) fn folds_to(name: &str, key: &str) -> bool {
    let mut want = key.chars();
    let (mut started, mut space) = (false, false);
    for c in name.chars().map(crate::codes::fold_char) {
        if c.is_whitespace() {
            space = started;
            continue;
        }
        if std::mem::take(&mut space) && want.next() != Some(' ') {
            return false;
        }
        started = true;
        if want.next() != Some(c) {
            return false;
        }
    }
    want.next().is_none()
}

/// China's offset: dates on licences and in rules are local dates.
pub(crate) fn china() -> FixedOffset {
    FixedOffset::east_opt(8 * 3600).unwrap_or_else(|| Utc.fix())
}

/// The local date of a time in China.
pub(crate) fn local_date(t: DateTime<Utc>) -> NaiveDate {
    t.with_timezone(&china()).date_naive()
}

/// Midnight of a local date in China, as UTC.
pub(crate) fn local_midnight(d: NaiveDate) -> DateTime<Utc> {
    d.and_hms_opt(0, 0, 0)
        .and_then(|d| china().from_local_datetime(&d).single())
        .map_or_else(
            || d.and_time(chrono::NaiveTime::MIN).and_utc(),
            |d| d.with_timezone(&Utc),
        )
}

/// The subject of a merchant's warning.
pub(crate) fn merchant_subject(id: &str, name: &str, market_id: Option<&str>) -> Subject {
    Subject {
        kind: SubjectType::Merchant,
        id: id.to_owned(),
        market_id: market_id.map(str::to_owned),
        name: name.to_owned(),
    }
}

/// The newest `max` links of timed records, newest first.
pub(crate) fn newest_links<'a>(
    kind: LinkType,
    records: impl Iterator<Item = (&'a str, DateTime<Utc>)>,
    max: usize,
) -> Vec<Link> {
    let mut v: Vec<(&str, DateTime<Utc>)> = records.collect();
    v.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(b.0)));
    v.into_iter()
        .take(max)
        .map(|(id, _)| Link::new(kind, id))
        .collect()
}

/// Figures from name–value pairs.
pub(crate) fn figures<const N: usize>(pairs: [(&str, f64); N]) -> BTreeMap<String, f64> {
    pairs.into_iter().map(|(k, v)| (k.to_owned(), v)).collect()
}

#[cfg(test)]
pub(crate) mod testing;

#[cfg(test)]
mod tests {
    use std::collections::HashSet;

    use super::testing::*;
    use super::*;

    #[test]
    fn one_candidate_per_kind_and_subject_and_the_same_for_the_same_facts() {
        let t = Thresholds::builtin();
        let now = at(2026, 12, 1);
        let mut m = merchant("m1");
        m.licence_expiry = Some(day(2026, 11, 1));
        m.trading_after_expiry = (0..5)
            .map(|i| fact(&format!("e{i}"), at(2026, 11, 10 + i)))
            .collect();
        m.ledger_warnings = (0..5)
            .map(|i| LedgerWarningFact {
                code: ["sale_exceeds_stock", "missing_certificate"][i % 2].into(),
                entry_id: format!("w{i}"),
                at: at(2026, 11, 20),
            })
            .collect();
        m.complaints = (0..5)
            .map(|i| fact(&format!("c{i}"), at(2026, 11, 20 + i)))
            .collect();
        let mut other = merchant("m2");
        other.last_sampled_at = Some(at(2026, 6, 1));
        let facts = Facts {
            merchants: vec![m, other],
            ..Facts::default()
        };
        let all = evaluate(t, &facts, now, Scope::All);
        let ids: HashSet<_> = all
            .iter()
            .map(|c| (c.kind, c.subject.kind, c.subject.id.clone()))
            .collect();
        assert_eq!(ids.len(), all.len(), "no duplicates: {all:#?}");
        let mut kinds: Vec<_> = all.iter().map(|c| c.kind).collect();
        kinds.sort();
        assert_eq!(
            kinds,
            vec![
                Kind::LicenceExpiredTrading,
                Kind::SalesBeyondPurchases,
                Kind::MissingCertificate,
                // Registered in 2020, never sampled.
                Kind::NotSampled,
                Kind::ComplaintsFrequent
            ]
        );
        assert_eq!(all, evaluate(t, &facts, now, Scope::All));
        assert_eq!(all, evaluate(t, &facts, now, Scope::Merchant("m1")));
        assert!(evaluate(t, &facts, now, Scope::Merchant("m2")).is_empty());
    }
}
