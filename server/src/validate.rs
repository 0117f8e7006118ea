//! Input validators of the registry.
//!
//! The identifier rules (USCC with both check characters, licence numbers,
//! GB/T 2260 regions, Shian codes, ids) are core's, re-exported here so that
//! the phone and the server refuse exactly the same input (DESIGN.md: one
//! implementation of each rule). What follows them (names, dates as
//! spreadsheets write them, category names in Chinese, region coverage) is
//! the server's own.

use chrono::NaiveDate;
use shian_core::category::Category;

pub use shian_core::codes::{
    new_code, normalize, org_check_char, parse_code, uscc_check_char, validate_id,
    validate_licence, validate_region_code, validate_uscc, Uscc, CODE_ALPHABET, CODE_LEN,
};
pub use shian_core::error::FieldError;

// ---------------------------------------------------------------------------
// Server-only validators
// ---------------------------------------------------------------------------

/// Longest name accepted (characters, not bytes).
pub const MAX_NAME_CHARS: usize = 100;

/// A display name: trimmed, non-empty, at most 100 characters, no control
/// characters (they break CSV exports and printed records). Anything else,
/// including quotes and SQL-looking text, is stored verbatim.
pub fn validate_name(input: &str, field: &str) -> Result<String, FieldError> {
    let name = input.trim();
    if name.is_empty() {
        return Err(FieldError::new(
            field,
            "required",
            "名称不能为空 (must not be empty)",
        ));
    }
    if name.chars().count() > MAX_NAME_CHARS {
        return Err(FieldError::new(
            field,
            "too_long",
            format!("名称不能超过 {MAX_NAME_CHARS} 个字符 (at most {MAX_NAME_CHARS} characters)"),
        ));
    }
    if name.chars().any(char::is_control) {
        return Err(FieldError::new(
            field,
            "invalid_characters",
            "名称含控制字符 (control characters not allowed)",
        ));
    }
    Ok(name.to_owned())
}

/// An optional free-text field (stall, address, contact): trimmed, empty → None,
/// at most `max` characters, no control characters.
pub fn validate_optional_text(
    input: Option<&str>,
    field: &str,
    max: usize,
) -> Result<Option<String>, FieldError> {
    let Some(text) = input.map(str::trim).filter(|s| !s.is_empty()) else {
        return Ok(None);
    };
    if text.chars().count() > max {
        return Err(FieldError::new(
            field,
            "too_long",
            format!("不能超过 {max} 个字符 (at most {max} characters)"),
        ));
    }
    if text.chars().any(char::is_control) {
        return Err(FieldError::new(
            field,
            "invalid_characters",
            "含控制字符 (control characters not allowed)",
        ));
    }
    Ok(Some(text.to_owned()))
}

/// A calendar date as people and spreadsheets write it: `2026-03-31`,
/// `2026/3/31`, `2026.3.31`, `2026年3月31日` or `20260331`.
pub fn parse_date(input: &str, field: &str) -> Result<NaiveDate, FieldError> {
    let s = input.trim();
    let err = || {
        FieldError::new(
            field,
            "invalid_date",
            "日期格式应为 YYYY-MM-DD (date must be YYYY-MM-DD)",
        )
    };
    if s.len() == 8 && s.bytes().all(|b| b.is_ascii_digit()) {
        return NaiveDate::parse_from_str(s, "%Y%m%d").map_err(|_| err());
    }
    let unified: String = s
        .chars()
        .filter(|c| *c != '日')
        .map(|c| {
            if matches!(c, '/' | '.' | '年' | '月') {
                '-'
            } else {
                c
            }
        })
        .collect();
    NaiveDate::parse_from_str(&unified, "%Y-%m-%d").map_err(|_| err())
}

/// One food category by English code (`aquatic`) or Chinese name (`水产品`;
/// for `速冻/冷冻食品` either half) → the English code.
pub fn parse_category(input: &str, field: &str) -> Result<&'static str, FieldError> {
    let s = input.trim();
    Category::ALL
        .into_iter()
        .find(|c| s.eq_ignore_ascii_case(c.as_str()) || s == c.zh() || c.zh().split('/').any(|part| part == s))
        .map(Category::as_str)
        .ok_or_else(|| {
            FieldError::new(
                field,
                "invalid_category",
                format!("未知的食品类别「{s}」(unknown category; use e.g. livestock_meat/畜肉, aquatic/水产品)"),
            )
        })
}

/// Categories, deduplicated in the given order.
pub fn parse_categories<'a>(
    items: impl IntoIterator<Item = &'a str>,
    field: &str,
) -> Result<Vec<String>, FieldError> {
    let mut out: Vec<String> = Vec::new();
    for (i, item) in items.into_iter().enumerate() {
        if item.trim().is_empty() {
            continue;
        }
        let c = parse_category(item, &format!("{field}[{i}]"))?;
        if !out.iter().any(|x| x == c) {
            out.push(c.to_owned());
        }
    }
    Ok(out)
}

/// Does an inspector's region `scope` (GB/T 2260) cover `code`? A province
/// code (`350000`) covers its cities and counties, a city (`350200`) its
/// counties, a county only itself.
pub fn region_covers(scope: &str, code: &str) -> bool {
    let prefix = if scope.ends_with("0000") {
        &scope[..2]
    } else if scope.ends_with("00") {
        &scope[..4]
    } else {
        scope
    };
    scope.len() == 6 && code.len() == 6 && code.starts_with(prefix)
}

/// Completes a USCC from its first 16 characters by computing both check
/// characters: for demo data and tests, which need codes that validate.
pub fn complete_uscc(first16: &str) -> Option<String> {
    let b = first16.as_bytes();
    if b.len() != 16 {
        return None;
    }
    let org = org_check_char(&b[8..16])?;
    let mut first17 = b.to_vec();
    first17.push(org);
    // The organisation check may be `X`, valid in the USCC charset too.
    let full = uscc_check_char(&first17)?;
    first17.push(full);
    String::from_utf8(first17).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uscc_known_good_and_bad() {
        // A published code (Alibaba (China) Co., Ltd.): both checks hold.
        assert!(validate_uscc("91330100799655058B", "uscc", false).is_ok());
        let e = validate_uscc("91330100799655058C", "uscc", false).unwrap_err();
        assert_eq!(e.code, "uscc_check_mismatch");
        assert!(
            validate_uscc("91330100799655058C", "uscc", true)
                .unwrap()
                .check_mismatch_acknowledged
        );
        assert_eq!(
            validate_uscc("9133010079965505", "uscc", false)
                .unwrap_err()
                .code,
            "invalid_uscc"
        );
        // Lower case and full width fold to the same code.
        assert_eq!(
            validate_uscc("91330100799655058b", "uscc", false)
                .unwrap()
                .code,
            "91330100799655058B"
        );
        assert_eq!(
            validate_uscc("９１３３０１００７９９６５５０５８Ｂ", "uscc", false)
                .unwrap()
                .code,
            "91330100799655058B"
        );
    }

    #[test]
    fn complete_uscc_validates() {
        let code = complete_uscc("9235020300000001").unwrap();
        assert!(validate_uscc(&code, "uscc", false).is_ok(), "{code}");
    }

    #[test]
    fn codes_roundtrip() {
        let mut rng = rand::rng();
        for _ in 0..100 {
            let c = new_code(&mut rng);
            assert_eq!(parse_code(&c, "c").unwrap(), c);
        }
    }

    #[test]
    fn dates_and_categories() {
        let d = NaiveDate::from_ymd_opt(2026, 3, 1).unwrap();
        for s in [
            "2026-03-01",
            "2026/3/1",
            "2026年3月1日",
            "20260301",
            "2026.3.1",
        ] {
            assert_eq!(parse_date(s, "d").unwrap(), d, "{s}");
        }
        assert!(parse_date("2026-02-30", "d").is_err());
        assert_eq!(parse_category("畜肉", "c").unwrap(), "livestock_meat");
        assert_eq!(parse_category("冷冻食品", "c").unwrap(), "frozen");
        assert!(parse_category("drugs", "c").is_err());
    }

    #[test]
    fn regions() {
        assert!(region_covers("350000", "350203"));
        assert!(region_covers("350200", "350203"));
        assert!(region_covers("350203", "350203"));
        assert!(!region_covers("350203", "350206"));
        assert!(!region_covers("350200", "350100"));
    }

    #[test]
    fn names() {
        assert!(validate_name("  ", "n").is_err());
        assert!(validate_name(&"名".repeat(101), "n").is_err());
        assert_eq!(
            validate_name("Robert'); DROP TABLE merchants;--", "n").unwrap(),
            "Robert'); DROP TABLE merchants;--"
        );
    }
}
