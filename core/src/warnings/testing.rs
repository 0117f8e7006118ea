//! Helpers for the detectors' tests.

use chrono::{DateTime, NaiveDate, Utc};

use super::{Candidate, Fact, Kind, MerchantFacts};

pub fn day(y: i32, m: u32, d: u32) -> NaiveDate {
    NaiveDate::from_ymd_opt(y, m, d).unwrap()
}

/// Noon in China on that day.
pub fn at(y: i32, m: u32, d: u32) -> DateTime<Utc> {
    day(y, m, d).and_hms_opt(4, 0, 0).unwrap().and_utc()
}

pub fn merchant(id: &str) -> MerchantFacts {
    MerchantFacts {
        id: id.into(),
        name: format!("{id} 商户"),
        market_id: Some("mk1".into()),
        registered_at: at(2020, 1, 1),
        licence_expiry: None,
        trading_after_expiry: Vec::new(),
        ledger_warnings: Vec::new(),
        last_sampled_at: None,
        complaints: Vec::new(),
    }
}

pub fn fact(id: &str, at: DateTime<Utc>) -> Fact {
    Fact { id: id.into(), at }
}

pub fn kinds(c: &[Candidate]) -> Vec<Kind> {
    c.iter().map(|c| c.kind).collect()
}
