//! The bytes a fact is logged as. A leaf must come out the same from the
//! fact as accepted and from the fact read back years later from either
//! database: PostgreSQL's `jsonb` reorders keys and rewrites numbers, and
//! SQLite keeps the text as sent. So a fact is logged as RFC 8785 canonical
//! JSON (keys sorted by UTF-16 code units, numbers in ECMAScript's shortest
//! form, no whitespace), behind a line naming the format, its kind and id:
//!
//! ```text
//! shian-fact/1
//! ledger.purchase
//! 01a2…entry id
//! {"certificates":[…],"merchant_id":"…",…}
//! ```

use serde_json::Value;

/// The first line of every leaf; a new layout gets a new one.
pub const FACT_FORMAT: &str = "shian-fact/1";

/// Why a fact cannot be logged.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FactError {
    #[error("事实的{what}不能为空或含换行 (a fact's {what} must be one non-empty line)")]
    BadLine { what: &'static str },
    #[error("事实内容无法规范化 (the fact's body cannot be canonicalised): {0}")]
    Canonical(String),
}

fn one_line(text: &str, what: &'static str) -> Result<(), FactError> {
    if text.is_empty() || text.contains(['\n', '\r']) {
        return Err(FactError::BadLine { what });
    }
    Ok(())
}

/// The leaf data of the fact of `kind` (`ledger.purchase`, `inspection`, …)
/// with id `id` and body `body`.
pub fn fact_leaf(kind: &str, id: &str, body: &Value) -> Result<Vec<u8>, FactError> {
    one_line(kind, "kind")?;
    one_line(id, "id")?;
    let canonical =
        serde_json_canonicalizer::to_vec(body).map_err(|e| FactError::Canonical(e.to_string()))?;
    let mut leaf =
        Vec::with_capacity(FACT_FORMAT.len() + kind.len() + id.len() + canonical.len() + 3);
    for line in [FACT_FORMAT, kind, id] {
        leaf.extend_from_slice(line.as_bytes());
        leaf.push(b'\n');
    }
    leaf.extend_from_slice(&canonical);
    Ok(leaf)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::evidence::LogHash;
    use serde_json::json;

    #[test]
    fn key_order_whitespace_and_number_spelling_do_not_change_the_leaf() {
        let sent: Value = serde_json::from_str(
            r#"{ "quantity": {"value": "5", "unit": "kg"}, "merchant_id": "m1", "n": 1.0e2 }"#,
        )
        .unwrap();
        // What jsonb gives back: keys reordered, 1.0e2 as 100.
        let read_back: Value = serde_json::from_str(
            r#"{"merchant_id":"m1","n":100,"quantity":{"unit":"kg","value":"5"}}"#,
        )
        .unwrap();
        let a = fact_leaf("ledger.purchase", "e1", &sent).unwrap();
        let b = fact_leaf("ledger.purchase", "e1", &read_back).unwrap();
        assert_eq!(a, b);
        assert_eq!(
            String::from_utf8(a).unwrap(),
            "shian-fact/1\nledger.purchase\ne1\n{\"merchant_id\":\"m1\",\"n\":100,\"quantity\":{\"unit\":\"kg\",\"value\":\"5\"}}"
        );
    }

    #[test]
    fn any_change_to_the_fact_changes_its_leaf_hash() {
        let body = json!({"merchant_id": "m1", "quantity": {"value": "5", "unit": "kg"}});
        let leaf = LogHash::of_leaf(&fact_leaf("ledger.sale", "e1", &body).unwrap());
        let changed = json!({"merchant_id": "m1", "quantity": {"value": "50", "unit": "kg"}});
        for other in [
            fact_leaf("ledger.sale", "e1", &changed).unwrap(),
            fact_leaf("ledger.purchase", "e1", &body).unwrap(),
            fact_leaf("ledger.sale", "e2", &body).unwrap(),
        ] {
            assert_ne!(LogHash::of_leaf(&other), leaf);
        }
    }

    #[test]
    fn a_kind_or_id_that_could_forge_another_line_is_refused() {
        let body = json!({});
        assert_eq!(
            fact_leaf("ledger.sale\ne2", "e1", &body),
            Err(FactError::BadLine { what: "kind" })
        );
        assert_eq!(
            fact_leaf("ledger.sale", "", &body),
            Err(FactError::BadLine { what: "id" })
        );
    }
}
