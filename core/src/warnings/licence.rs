//! Licence warnings: expiring in 30 and in 7 days (the notices before the
//! renewal deadline), and expired while the ledger shows trading (无证经营).

use chrono::{DateTime, Duration, Utc};

use super::{
    figures, local_date, local_midnight, merchant_subject, newest_links, Candidate, Evidence, Kind,
    LinkType, MerchantFacts, Thresholds,
};

pub fn detect(t: &Thresholds, m: &MerchantFacts, now: DateTime<Utc>) -> Vec<Candidate> {
    let Some(expiry) = m.licence_expiry else {
        return Vec::new();
    };
    let today = local_date(now);
    let days_left = (expiry - today).num_days();
    let subject = || merchant_subject(&m.id, &m.name, m.market_id.as_deref());
    let mut out = Vec::new();
    // One notice at a time: the first from `notice_days` down to the day
    // after `urgent_days`, then the urgent one alone (a licence seven days
    // from its end is one warning, not two).
    for (kind, days, after) in [
        (
            Kind::LicenceExpiring30d,
            t.licence.notice_days,
            t.licence.urgent_days + 1,
        ),
        (Kind::LicenceExpiring7d, t.licence.urgent_days, 0),
    ] {
        if (after..=days).contains(&days_left) {
            out.push(Candidate {
                kind,
                subject: subject(),
                severity: t.severity(kind),
                title: format!("食品经营许可证将于{expiry}到期（剩{days_left}天）"),
                evidence: Evidence {
                    figures: figures([
                        ("days_left", days_left as f64),
                        ("notice_days", days as f64),
                    ]),
                    links: vec![super::Link::new(LinkType::Merchant, &m.id)],
                },
                // The fact is the notice day having come.
                latest: local_midnight(expiry - Duration::days(days)),
            });
        }
    }
    let after: Vec<_> = m
        .trading_after_expiry
        .iter()
        .filter(|f| local_date(f.at) > expiry)
        .collect();
    if days_left < 0 && !after.is_empty() {
        let kind = Kind::LicenceExpiredTrading;
        let latest = after.iter().map(|f| f.at).max().unwrap_or(now);
        out.push(Candidate {
            kind,
            subject: subject(),
            severity: t.severity(kind),
            title: format!(
                "食品经营许可证已于{expiry}过期，之后仍有{}笔台账记录",
                after.len()
            ),
            evidence: Evidence {
                figures: figures([
                    ("days_expired", (-days_left) as f64),
                    ("entries_after_expiry", after.len() as f64),
                ]),
                links: newest_links(
                    LinkType::Entry,
                    after.iter().map(|f| (f.id.as_str(), f.at)),
                    t.max_links,
                ),
            },
            latest,
        });
    }
    out
}

#[cfg(test)]
mod tests {
    use super::super::testing::*;
    use super::*;

    #[test]
    fn expiring_in_30_days_fires_and_31_stays_quiet() {
        let t = Thresholds::builtin();
        let now = at(2026, 12, 1);
        let mut m = merchant("m1");
        m.licence_expiry = Some(day(2026, 12, 31));
        let c = detect(t, &m, now);
        assert_eq!(kinds(&c), vec![Kind::LicenceExpiring30d]);
        assert_eq!(c[0].evidence.figures["days_left"], 30.0);
        m.licence_expiry = Some(day(2027, 1, 1));
        assert!(detect(t, &m, now).is_empty(), "31 days left is a near miss");
    }

    #[test]
    fn expiring_in_7_days_fires_the_urgent_notice_alone_and_8_only_the_first() {
        let t = Thresholds::builtin();
        let now = at(2026, 12, 1);
        let mut m = merchant("m1");
        m.licence_expiry = Some(day(2026, 12, 8));
        // One licence, one notice at a time: the urgent one replaces the
        // first rather than standing beside it.
        assert_eq!(kinds(&detect(t, &m, now)), vec![Kind::LicenceExpiring7d]);
        m.licence_expiry = Some(day(2026, 12, 9));
        assert_eq!(kinds(&detect(t, &m, now)), vec![Kind::LicenceExpiring30d]);
    }

    #[test]
    fn expired_and_trading_fires_but_trading_on_the_last_day_does_not() {
        let t = Thresholds::builtin();
        let now = at(2026, 12, 1);
        let mut m = merchant("m1");
        m.licence_expiry = Some(day(2026, 11, 20));
        // Trading on the expiry day itself is still licensed.
        m.trading_after_expiry = vec![fact("e0", at(2026, 11, 20))];
        assert!(detect(t, &m, now).is_empty());
        m.trading_after_expiry.push(fact("e1", at(2026, 11, 21)));
        let c = detect(t, &m, now);
        assert_eq!(kinds(&c), vec![Kind::LicenceExpiredTrading]);
        assert_eq!(
            c[0].evidence.links,
            vec![super::super::Link::new(LinkType::Entry, "e1")]
        );
        assert_eq!(c[0].latest, at(2026, 11, 21));
    }

    #[test]
    fn the_same_facts_raise_the_same_candidate() {
        let t = Thresholds::builtin();
        let mut m = merchant("m1");
        m.licence_expiry = Some(day(2026, 12, 20));
        assert_eq!(
            detect(t, &m, at(2026, 12, 1)),
            detect(t, &m, at(2026, 12, 1))
        );
        // A day later it is the same warning (same latest), fewer days left.
        let (a, b) = (
            detect(t, &m, at(2026, 12, 1)),
            detect(t, &m, at(2026, 12, 2)),
        );
        assert_eq!(a[0].latest, b[0].latest);
    }
}
