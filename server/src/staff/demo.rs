//! The demo's staff (`serve --demo`): every merchant's food-handling
//! workers with their health certificates, recorded through the store's
//! register as the merchant's device would (core's `parse_worker`, then
//! the same write as a `staff.upsert`), so the roster changes, the shop
//! pages and the warnings are the real ones. Some certificates are
//! expired, some expire within 30 days, and one merchant of the demo market
//! has recorded nobody (its `health_cert_missing` warning). The showcase
//! batch's seller (merchant1, the shop the consumer pages open) has one
//! valid and one expired certificate.
//!
//! Idempotent: a merchant that has any worker recorded is left alone, so a
//! second start adds nothing (and the dates, fixed relative to the first
//! start, then age as real certificates do).

use chrono::{Duration, NaiveDate};
use serde_json::json;
use shian_core::staff::parse_worker;

use crate::store::ledger::Showcase;
use crate::store::{MerchantFilter, Store, StoreError};

/// Given to the demo's names (the browser test holds the public page to
/// never showing one of them in full).
pub const SURNAMES: [&str; 12] = [
    "王", "李", "张", "刘", "陈", "杨", "黄", "赵", "吴", "周", "徐", "孙",
];
pub const GIVEN: [&str; 10] = [
    "建国", "秀英", "志强", "丽华", "海燕", "国庆", "桂兰", "文斌", "晓明", "春梅",
];
const ROLES: [&str; 3] = ["负责人", "从业人员", "配送"];
/// The demo's certificate numbers: `JK` + district + a sequence (the
/// browser test looks for this shape on the public page).
const CERT_PREFIX: &str = "JK";

/// What one merchant's workers are, by its place in the list.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Plan {
    AllValid,
    OneExpired,
    OneExpiring,
    Nobody,
}

fn plan(i: usize, is_showcase: bool, is_nobody: bool) -> Plan {
    if is_nobody {
        Plan::Nobody
    } else if is_showcase {
        Plan::OneExpired
    } else {
        match i % 10 {
            3 => Plan::OneExpired,
            6 | 8 => Plan::OneExpiring,
            _ => Plan::AllValid,
        }
    }
}

/// Records the demo's staff; returns how many workers were recorded
/// (0 on a second start).
pub async fn plant_staff(
    store: &dyn Store,
    showcase: Option<&Showcase>,
    market_id: Option<&str>,
) -> Result<usize, StoreError> {
    let now = crate::store::now();
    // Shanghai's date (UTC+8 all year).
    let today: NaiveDate = (now + Duration::hours(8)).date_naive();
    let mut merchants = Vec::new();
    loop {
        let page = store
            .list_merchants(MerchantFilter {
                limit: 500,
                offset: merchants.len() as u32,
                ..MerchantFilter::default()
            })
            .await?;
        let n = page.items.len();
        merchants.extend(page.items);
        if n == 0 || merchants.len() as u64 >= page.total {
            break;
        }
    }
    let show = showcase.map(|s| s.merchant_id.as_str());
    let buyer = showcase.map(|s| s.buyer_merchant_id.as_str());
    // The demo market's last merchant (by id) that is neither showcase
    // shop records nobody.
    let nobody = merchants
        .iter()
        .filter(|m| m.market_id.as_deref() == market_id && market_id.is_some())
        .filter(|m| Some(m.id.as_str()) != show && Some(m.id.as_str()) != buyer)
        .map(|m| m.id.clone())
        .next_back();
    let mut recorded = 0;
    for (i, m) in merchants.iter().enumerate() {
        if !store.staff_of(m.id.clone()).await?.is_empty() {
            continue;
        }
        let plan = plan(
            i,
            Some(m.id.as_str()) == show,
            nobody.as_deref() == Some(m.id.as_str()),
        );
        let count = match plan {
            Plan::Nobody => 0,
            Plan::OneExpired | Plan::OneExpiring => 2,
            Plan::AllValid => 1 + i % 3,
        };
        for k in 0..count {
            let n = i * 3 + k;
            let expires = match (plan, k) {
                (Plan::OneExpired, 1) => today - Duration::days(3 + (i % 20) as i64),
                (Plan::OneExpiring, 1) => today + Duration::days(2 + (i % 26) as i64),
                _ => today + Duration::days(60 + ((i * 37 + k * 11) % 280) as i64),
            };
            let issued = expires - Duration::days(365);
            let payload = json!({
                "staff_id": format!("demo-staff-{}-{k}", m.id),
                "merchant_id": m.id,
                "name": format!("{}{}", SURNAMES[n % SURNAMES.len()], GIVEN[(n / SURNAMES.len() + k) % GIVEN.len()]),
                "role": ROLES[if k == 0 { 0 } else { 1 + (n % 2) }],
                "certificate_no": format!("{CERT_PREFIX}{}{:06}", m.region_code, n),
                "issued_on": issued.to_string(),
                "expires_on": expires.to_string(),
            });
            let worker = parse_worker(&payload, "")
                .map_err(|e| StoreError::Corrupt(format!("demo worker: {e}")))?;
            store.upsert_worker(worker, "demo".into(), now).await?;
            recorded += 1;
        }
    }
    Ok(recorded)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_plans_cover_every_case() {
        assert_eq!(plan(5, false, true), Plan::Nobody);
        assert_eq!(plan(5, true, false), Plan::OneExpired);
        assert_eq!(plan(13, false, false), Plan::OneExpired);
        assert_eq!(plan(16, false, false), Plan::OneExpiring);
        assert_eq!(plan(11, false, false), Plan::AllValid);
    }
}
