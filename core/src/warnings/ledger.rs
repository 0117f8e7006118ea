//! The ledger's own warnings, summed per merchant: core's ledger rules
//! (`crate::rules`) judge each entry as it arrives and give it a warning
//! (a sale beyond the batch's stock, a sale after its expiry date, a
//! purchase without its certificates); a regulator needs one warning per
//! merchant and kind, with the entries as evidence, not one per entry.

use std::collections::BTreeMap;

use super::{
    figures, merchant_subject, newest_links, Candidate, Evidence, Kind, LinkType, MerchantFacts,
    Thresholds,
};

/// The warning kind a ledger rule's code sums into.
pub fn kind_of(code: &str) -> Option<Kind> {
    match code {
        "sale_exceeds_stock" => Some(Kind::SalesBeyondPurchases),
        "sold_after_expiry" => Some(Kind::ExpiredStockOnSale),
        "missing_certificate" => Some(Kind::MissingCertificate),
        _ => None,
    }
}

/// The ledger rule codes that raise warnings here.
pub const CODES: [&str; 3] = [
    "sale_exceeds_stock",
    "sold_after_expiry",
    "missing_certificate",
];

/// One candidate per kind whose count in the window (the server passes the
/// window's warnings) reaches the minimum.
pub fn detect(t: &Thresholds, m: &MerchantFacts) -> Vec<Candidate> {
    let mut by_kind: BTreeMap<Kind, Vec<&super::LedgerWarningFact>> = BTreeMap::new();
    for w in &m.ledger_warnings {
        if let Some(k) = kind_of(&w.code) {
            by_kind.entry(k).or_default().push(w);
        }
    }
    by_kind
        .into_iter()
        .filter(|(_, ws)| ws.len() as u32 >= t.ledger.min_count.max(1))
        .map(|(kind, ws)| {
            let latest = ws.iter().map(|w| w.at).max().unwrap_or(m.registered_at);
            let what = match kind {
                Kind::SalesBeyondPurchases => "笔销售超过进货结存（来源不明）",
                Kind::ExpiredStockOnSale => "笔销售超过保质期",
                _ => "笔进货缺少检疫或合格证明",
            };
            Candidate {
                kind,
                subject: merchant_subject(&m.id, &m.name, m.market_id.as_deref()),
                severity: t.severity(kind),
                title: format!("近{}天{}{}", t.ledger.window_days, ws.len(), what),
                evidence: Evidence {
                    figures: figures([
                        ("count", ws.len() as f64),
                        ("window_days", t.ledger.window_days as f64),
                    ]),
                    links: newest_links(
                        LinkType::Entry,
                        ws.iter().map(|w| (w.entry_id.as_str(), w.at)),
                        t.max_links,
                    ),
                },
                latest,
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::super::testing::*;
    use super::super::LedgerWarningFact;
    use super::*;

    fn warning(code: &str, entry: &str) -> LedgerWarningFact {
        LedgerWarningFact {
            code: code.into(),
            entry_id: entry.into(),
            at: at(2026, 11, 30),
        }
    }

    #[test]
    fn each_ledger_kind_fires_on_its_warning() {
        let t = Thresholds::builtin();
        for (code, kind) in [
            ("sale_exceeds_stock", Kind::SalesBeyondPurchases),
            ("sold_after_expiry", Kind::ExpiredStockOnSale),
            ("missing_certificate", Kind::MissingCertificate),
        ] {
            let mut m = merchant("m1");
            m.ledger_warnings = vec![warning(code, "e1"), warning(code, "e2")];
            let c = detect(t, &m);
            assert_eq!(kinds(&c), vec![kind], "{code}");
            assert_eq!(c[0].evidence.figures["count"], 2.0);
            assert_eq!(c[0].evidence.links.len(), 2);
        }
    }

    #[test]
    fn warnings_that_say_nothing_of_the_merchant_stay_quiet() {
        // The near misses: a voucher not yet synced says the seller is
        // late; a negative stock after a count is a bookkeeping matter.
        let t = Thresholds::builtin();
        let mut m = merchant("m1");
        m.ledger_warnings = vec![
            warning("voucher_not_yet_known", "e1"),
            warning("negative_stock", "e2"),
        ];
        assert!(detect(t, &m).is_empty());
    }

    #[test]
    fn many_warnings_make_one_candidate_per_kind_with_capped_links() {
        let t = Thresholds::builtin();
        let mut m = merchant("m1");
        m.ledger_warnings = (0..50)
            .map(|i| warning("sale_exceeds_stock", &format!("e{i}")))
            .collect();
        let c = detect(t, &m);
        assert_eq!(c.len(), 1);
        assert_eq!(c[0].evidence.links.len(), t.max_links);
    }
}
