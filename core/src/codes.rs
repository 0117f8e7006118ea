//! Identifiers and their check characters: unified social credit codes
//! (GB 32100-2015 with the organisation code check of GB 11714), food licence
//! numbers, GB/T 2260 region codes, GTINs, and Shian's own trace and voucher
//! codes.
//!
//! Input typed by people arrives with full-width characters (Chinese input
//! methods), lower case and stray spaces; [`normalize`] folds those before a
//! code is checked, so `９１３１…` and `91 31…` mean the same code, while a
//! wrong check character is always refused.

use rand::Rng;
use serde::{Deserialize, Serialize};

use crate::error::FieldError;

/// Folds full-width ASCII (U+FF01..U+FF5E) and the ideographic space to their
/// ASCII forms and trims.
pub fn fold_width(input: &str) -> String {
    input
        .chars()
        .map(fold_char)
        .collect::<String>()
        .trim()
        .to_owned()
}

/// One character of [`fold_width`].
pub(crate) fn fold_char(c: char) -> char {
    match c {
        '\u{FF01}'..='\u{FF5E}' => char::from_u32(c as u32 - 0xFEE0).unwrap_or(c),
        '\u{3000}' => ' ',
        other => other,
    }
}

/// [`fold_width`], then drops spaces and hyphens and upper-cases: the
/// canonical form of a code typed by a person.
pub fn normalize(input: &str) -> String {
    fold_width(input)
        .chars()
        .filter(|c| !(c.is_whitespace() || *c == '-'))
        .map(|c| c.to_ascii_uppercase())
        .collect()
}

// ---------------------------------------------------------------------------
// Unified social credit code (统一社会信用代码)
// ---------------------------------------------------------------------------

/// The 31 characters of GB 32100-2015 (no I, O, S, V, Z), in value order.
const USCC_CHARSET: &[u8; 31] = b"0123456789ABCDEFGHJKLMNPQRTUWXY";
/// Weights 3^(i-1) mod 31 for positions 1..=17 (GB 32100-2015, 附录 B).
const USCC_WEIGHTS: [u32; 17] = [
    1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28,
];
/// Weights of the organisation code (GB 11714-1997) over its 8 body characters.
const ORG_WEIGHTS: [u32; 8] = [3, 7, 9, 10, 5, 8, 4, 2];

/// A validated unified social credit code.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Uscc {
    pub code: String,
    /// True when a check character did not match and the caller acknowledged
    /// it (lawful early codes, e.g. Fujian's 2015 pilot, fail the check).
    pub check_mismatch_acknowledged: bool,
}

fn uscc_value(c: u8) -> Option<u32> {
    USCC_CHARSET.iter().position(|&x| x == c).map(|p| p as u32)
}

/// Organisation code character values: digits 0-9, then A=10 … Z=35 on the
/// full Latin alphabet (GB 11714 — note J=19 here, unlike the USCC charset).
fn org_value(c: u8) -> Option<u32> {
    match c {
        b'0'..=b'9' => Some(u32::from(c - b'0')),
        b'A'..=b'Z' => Some(u32::from(c - b'A') + 10),
        _ => None,
    }
}

/// The check character (position 18) for the first 17 characters.
pub fn uscc_check_char(first17: &[u8]) -> Option<u8> {
    let mut sum = 0u32;
    for (c, w) in first17.iter().zip(USCC_WEIGHTS) {
        sum += uscc_value(*c)? * w;
    }
    let check = (31 - sum % 31) % 31;
    Some(USCC_CHARSET[check as usize])
}

/// The organisation code check character (position 17) over positions 9..=16.
pub fn org_check_char(body8: &[u8]) -> Option<u8> {
    let mut sum = 0u32;
    for (c, w) in body8.iter().zip(ORG_WEIGHTS) {
        sum += org_value(*c)? * w;
    }
    Some(match 11 - sum % 11 {
        10 => b'X',
        11 => b'0',
        n => b'0' + n as u8,
    })
}

/// Validates a unified social credit code. Form errors are always refused; a
/// check-character mismatch is refused unless `acknowledge_mismatch` is set.
pub fn validate_uscc(
    input: &str,
    field: &str,
    acknowledge_mismatch: bool,
) -> Result<Uscc, FieldError> {
    let code = normalize(input);
    let bytes = code.as_bytes();
    if bytes.len() != 18 {
        return Err(FieldError::new(
            field,
            "invalid_uscc",
            format!(
                "统一社会信用代码应为 18 位，实际 {} 位 (USCC must have 18 characters)",
                code.chars().count()
            ),
        ));
    }
    if let Some(bad) = bytes.iter().find(|c| uscc_value(**c).is_none()) {
        return Err(FieldError::new(
            field,
            "invalid_uscc",
            format!(
                "统一社会信用代码含非法字符 '{}' (I、O、S、V、Z 不使用)",
                *bad as char
            ),
        ));
    }
    if !bytes[2..8].iter().all(u8::is_ascii_digit) {
        return Err(FieldError::new(
            field,
            "invalid_uscc",
            "统一社会信用代码第 3–8 位应为行政区划代码 (digits)",
        ));
    }
    let org_ok = org_check_char(&bytes[8..16]) == Some(bytes[16]);
    let full_ok = uscc_check_char(&bytes[..17]) == Some(bytes[17]);
    if !(acknowledge_mismatch || org_ok && full_ok) {
        return Err(FieldError::new(
            field,
            "uscc_check_mismatch",
            "统一社会信用代码校验位不符；如确认为早期合法代码，请明确确认 (check character mismatch; acknowledge to accept)",
        ));
    }
    Ok(Uscc {
        code,
        check_mismatch_acknowledged: !(org_ok && full_ok),
    })
}

// ---------------------------------------------------------------------------
// Licences, regions, GTIN
// ---------------------------------------------------------------------------

/// Food business (`JY`) or production (`SC`) licence number: two letters and
/// 14 digits. No public check-digit algorithm exists, so only the form is
/// checked (research/regulation.md §6).
pub fn validate_licence(input: &str, field: &str) -> Result<String, FieldError> {
    let code = normalize(input);
    let ok = code.len() == 16
        && (code.starts_with("JY") || code.starts_with("SC"))
        && code.as_bytes()[2..].iter().all(u8::is_ascii_digit);
    if ok {
        Ok(code)
    } else {
        Err(FieldError::new(
            field,
            "invalid_licence",
            "许可证编号应为 JY 或 SC 加 14 位数字 (JY/SC + 14 digits)",
        ))
    }
}

/// Province prefixes of GB/T 2260 (including 71 Taiwan, 81 Hong Kong, 82 Macao).
const PROVINCES: [u8; 34] = [
    11, 12, 13, 14, 15, 21, 22, 23, 31, 32, 33, 34, 35, 36, 37, 41, 42, 43, 44, 45, 46, 50, 51, 52,
    53, 54, 61, 62, 63, 64, 65, 71, 81, 82,
];

/// A GB/T 2260 six-digit division code with a known province prefix.
pub fn validate_region_code(input: &str, field: &str) -> Result<String, FieldError> {
    let code = normalize(input);
    let b = code.as_bytes();
    let digits = b.len() == 6 && b.iter().all(u8::is_ascii_digit);
    let province = digits && PROVINCES.contains(&((b[0] - b'0') * 10 + (b[1] - b'0')));
    if province {
        Ok(code)
    } else {
        Err(FieldError::new(
            field,
            "invalid_region_code",
            "行政区划代码应为 GB/T 2260 六位数字 (six-digit GB/T 2260 code)",
        ))
    }
}

/// A GTIN-8/12/13/14 with its mod-10 check digit (GS1 General Specifications).
pub fn validate_gtin(input: &str, field: &str) -> Result<String, FieldError> {
    let code = normalize(input);
    let b = code.as_bytes();
    if !matches!(b.len(), 8 | 12 | 13 | 14) || !b.iter().all(u8::is_ascii_digit) {
        return Err(FieldError::new(
            field,
            "invalid_gtin",
            "GTIN 应为 8、12、13 或 14 位数字",
        ));
    }
    let (data, check) = b.split_at(b.len() - 1);
    let sum: u32 = data
        .iter()
        .rev()
        .enumerate()
        .map(|(i, d)| u32::from(d - b'0') * if i % 2 == 0 { 3 } else { 1 })
        .sum();
    if (10 - sum % 10) % 10 == u32::from(check[0] - b'0') {
        Ok(code)
    } else {
        Err(FieldError::new(
            field,
            "invalid_gtin",
            "GTIN 校验位错误 (check digit mismatch)",
        ))
    }
}

// ---------------------------------------------------------------------------
// Trace and voucher codes
// ---------------------------------------------------------------------------

/// Crockford's base-32 alphabet without `Z`: 31 symbols, a prime count, so a
/// weighted sum mod 31 catches every single wrong character and every swap of
/// two characters (the weights 1..=16 differ mod 31), where Crockford's own
/// mod-37 check would need the non-URL-safe symbols `*~$=`.
pub const CODE_ALPHABET: &[u8; 31] = b"0123456789ABCDEFGHJKMNPQRSTVWXY";
/// Characters in a trace or voucher code, the last one being the check.
pub const CODE_LEN: usize = 16;

fn code_value(c: u8) -> Option<u32> {
    CODE_ALPHABET.iter().position(|&x| x == c).map(|p| p as u32)
}

/// The check symbol making Σ (i+1)·vᵢ ≡ 0 (mod 31) over all 16 positions.
fn code_check(data: &[u8]) -> Option<u8> {
    let mut sum = 0u32;
    for (i, c) in data.iter().enumerate() {
        sum = (sum + (i as u32 + 1) * code_value(*c)?) % 31;
    }
    // 16 · x ≡ −sum (mod 31); 16⁻¹ ≡ 2 (mod 31) since 32 ≡ 1.
    let x = ((31 - sum) % 31 * 2) % 31;
    Some(CODE_ALPHABET[x as usize])
}

/// Makes a new unguessable code (15 random symbols ≈ 74 bits, plus the check).
pub fn new_code<R: Rng + ?Sized>(rng: &mut R) -> String {
    let mut data: Vec<u8> = (0..CODE_LEN - 1)
        .map(|_| CODE_ALPHABET[rng.random_range(0..31)])
        .collect();
    // The alphabet is ASCII and every symbol has a value, so the check exists.
    let check = code_check(&data).unwrap_or(b'0');
    data.push(check);
    String::from_utf8_lossy(&data).into_owned()
}

/// Validates and canonicalises a trace or voucher code typed, scanned or
/// pasted by a person: full width, lower case, `-` and spaces are folded,
/// and Crockford's look-alikes `O`→`0`, `I`/`L`→`1` are accepted.
pub fn parse_code(input: &str, field: &str) -> Result<String, FieldError> {
    let folded: Vec<u8> = normalize(input)
        .bytes()
        .map(|c| match c {
            b'O' => b'0',
            b'I' | b'L' => b'1',
            c => c,
        })
        .collect();
    if folded.len() != CODE_LEN || folded.iter().any(|c| code_value(*c).is_none()) {
        return Err(FieldError::new(
            field,
            "invalid_code",
            format!("追溯码/凭证码应为 {CODE_LEN} 位字母数字 (a {CODE_LEN}-character code)"),
        ));
    }
    if code_check(&folded[..CODE_LEN - 1]) != Some(folded[CODE_LEN - 1]) {
        return Err(FieldError::new(
            field,
            "code_check_mismatch",
            "追溯码校验位不符，请检查是否输错 (check character mismatch)",
        ));
    }
    Ok(String::from_utf8_lossy(&folded).into_owned())
}

/// Validates a server- or device-made id (merchant ids, user ids): 1..=64
/// characters of `[A-Za-z0-9_-]`, so it is safe in URLs and logs.
pub fn validate_id(input: &str, field: &str) -> Result<String, FieldError> {
    let ok = !input.is_empty()
        && input.len() <= 64
        && input
            .bytes()
            .all(|c| c.is_ascii_alphanumeric() || c == b'_' || c == b'-');
    if ok {
        Ok(input.to_owned())
    } else {
        Err(FieldError::new(
            field,
            "invalid_id",
            "标识应为 1–64 位字母、数字、下划线或连字符",
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    #[test]
    fn uscc_worked_examples_validate() {
        assert_eq!(
            validate_uscc("91310110666007217T", "f", false)
                .unwrap()
                .code,
            "91310110666007217T"
        );
        assert!(validate_uscc("91330101589882738D", "f", false).is_ok());
    }

    #[test]
    fn uscc_wrong_check_characters_are_refused() {
        let e = validate_uscc("91310110666007217A", "uscc", false).unwrap_err();
        assert_eq!(
            (e.code.as_str(), e.field.as_str()),
            ("uscc_check_mismatch", "uscc")
        );
        // organisation check (position 17) wrong, position 18 recomputed to match
        let mut b = b"91310110666007218".to_vec();
        let c = uscc_check_char(&b).unwrap();
        b.push(c);
        let code = String::from_utf8(b).unwrap();
        assert_eq!(
            validate_uscc(&code, "f", false).unwrap_err().code,
            "uscc_check_mismatch"
        );
    }

    #[test]
    fn uscc_mismatch_can_be_acknowledged() {
        let u = validate_uscc("91350100M0001TGQXM", "f", true).unwrap();
        assert!(u.check_mismatch_acknowledged);
        assert_eq!(
            validate_uscc("91350100M0001TGQXM", "f", false)
                .unwrap_err()
                .code,
            "uscc_check_mismatch"
        );
    }

    #[test]
    fn uscc_lowercase_and_full_width_are_folded() {
        assert_eq!(
            validate_uscc("91310110666007217t", "f", false)
                .unwrap()
                .code,
            "91310110666007217T"
        );
        assert_eq!(
            validate_uscc("９１３１０１１０６６６００７２１７Ｔ", "f", false)
                .unwrap()
                .code,
            "91310110666007217T"
        );
    }

    #[test]
    fn uscc_form_errors() {
        assert_eq!(
            validate_uscc("91310110666007217", "f", true)
                .unwrap_err()
                .code,
            "invalid_uscc"
        );
        assert_eq!(
            validate_uscc("91310110666007217TT", "f", true)
                .unwrap_err()
                .code,
            "invalid_uscc"
        );
        assert_eq!(
            validate_uscc("9131011066600721IT", "f", true)
                .unwrap_err()
                .code,
            "invalid_uscc"
        );
        assert_eq!(
            validate_uscc("91A10110666007217T", "f", true)
                .unwrap_err()
                .code,
            "invalid_uscc"
        );
        assert_eq!(
            validate_uscc("", "f", true).unwrap_err().code,
            "invalid_uscc"
        );
    }

    #[test]
    fn licence_and_region_and_gtin() {
        assert_eq!(
            validate_licence("jy13502030012345", "l").unwrap(),
            "JY13502030012345"
        );
        assert!(validate_licence("SC10435020300123", "l").is_ok());
        assert!(validate_licence("JY1350203001234", "l").is_err());
        assert!(validate_licence("XY13502030012345", "l").is_err());
        assert!(validate_region_code("350203", "r").is_ok());
        assert!(validate_region_code("990203", "r").is_err());
        assert!(validate_region_code("35020", "r").is_err());
        assert!(validate_gtin("09506000134352", "g").is_ok());
        assert!(validate_gtin("5391234567892", "g").is_ok());
        assert!(validate_gtin("5391234567893", "g").is_err());
        assert!(validate_gtin("539123456789x", "g").is_err());
    }

    #[test]
    fn codes_round_trip_and_fold_typing_variants() {
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(7);
        for _ in 0..200 {
            let c = new_code(&mut rng);
            assert_eq!(parse_code(&c, "t").unwrap(), c);
            assert_eq!(parse_code(&c.to_lowercase(), "t").unwrap(), c);
            let spaced = format!("{}-{} {}", &c[..4], &c[4..8], &c[8..]);
            assert_eq!(parse_code(&spaced, "t").unwrap(), c);
            let wide: String = c
                .chars()
                .map(|ch| char::from_u32(ch as u32 + 0xFEE0).unwrap())
                .collect();
            assert_eq!(parse_code(&wide, "t").unwrap(), c);
        }
    }

    #[test]
    fn every_single_substitution_and_every_swap_is_caught() {
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(11);
        for _ in 0..50 {
            let c = new_code(&mut rng).into_bytes();
            for i in 0..CODE_LEN {
                for &s in CODE_ALPHABET.iter().filter(|&&s| s != c[i]) {
                    let mut m = c.clone();
                    m[i] = s;
                    assert!(parse_code(std::str::from_utf8(&m).unwrap(), "t").is_err());
                }
                for j in i + 1..CODE_LEN {
                    if c[i] != c[j] {
                        let mut m = c.clone();
                        m.swap(i, j);
                        assert_eq!(
                            parse_code(std::str::from_utf8(&m).unwrap(), "t")
                                .unwrap_err()
                                .code,
                            "code_check_mismatch"
                        );
                    }
                }
            }
        }
    }

    #[test]
    fn bad_codes_are_refused() {
        assert_eq!(parse_code("ABC", "t").unwrap_err().code, "invalid_code");
        assert_eq!(
            parse_code("0123456789ABCDEZ", "t").unwrap_err().code,
            "invalid_code"
        );
        assert_eq!(
            parse_code("0123456789ABCDE!", "t").unwrap_err().code,
            "invalid_code"
        );
        assert!(validate_id("m-1_a", "id").is_ok());
        assert!(validate_id("m 1", "id").is_err());
        assert!(validate_id(&"x".repeat(65), "id").is_err());
    }
}
