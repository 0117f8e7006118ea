//! The reporter's receipt (回执码): the only key to a report, shown once.
//!
//! Twenty symbols of core's code alphabet (Crockford's base 32 without `Z`:
//! 31 symbols, so no `I L O U`, read aloud and typed without doubt), in four
//! groups of five for typing on a phone: `7K3M9-QX2HD-4RT8W-B1C0E`. Nineteen
//! are drawn from the operating system's RNG (19 · log2 31 ≈ 94 bits, above
//! the 80 asked and SecureDrop's 7-word ~90); the twentieth is a check
//! symbol making Σ (i+1)·vᵢ ≡ 0 (mod 31), so a single wrong symbol or two
//! swapped ones is told apart from a wrong receipt (422
//! `receipt_check_mismatch`) without a lookup. Typed input is folded as
//! codes are ([`shian_core::codes::normalize`]: full width, lower case,
//! spaces, hyphens) with `O`→`0` and `I`/`L`→`1`.
//!
//! Stored only as argon2id under a server-wide secret salt
//! ([`crate::keys::receipt_salt`]): GlobaLeaks' approach. A per-report
//! random salt would make the hash unsearchable (a lookup would hash the
//! typed receipt once per stored report); a fixed salt makes the hash a
//! deterministic key, found through a unique index in one argon2 run, while
//! the slow hash and the salt kept outside the database mean a copy of the
//! database does not give the receipts back nor let guesses be tested
//! offline at speed.

use argon2::{Algorithm, Argon2, Params, Version};
use rand::rngs::OsRng;
use rand::TryRngCore;
use shian_core::codes::{normalize, CODE_ALPHABET};

/// Symbols in a receipt, the last one being the check.
pub const RECEIPT_LEN: usize = 20;
/// Symbols per group as shown.
pub const GROUP_LEN: usize = 5;
/// What the server accepts before folding (a receipt with separators and
/// full-width characters is longer than 20 bytes).
pub const MAX_TYPED_CHARS: usize = 64;

/// argon2id cost: 19 MiB, two passes, one lane (OWASP's first
/// recommendation for argon2id; tens of ms per hash on this machine's
/// optimised dependencies), 32 bytes out.
const ARGON2_MEMORY_KIB: u32 = 19 * 1024;
const ARGON2_PASSES: u32 = 2;
const HASH_LEN: usize = 32;

/// Why a typed receipt is not one.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ReceiptError {
    #[error("回执码应为 20 位字母数字（4 组，每组 5 位）(a receipt is 20 letters and digits)")]
    Malformed,
    #[error("回执码校验位不符，请检查是否输错 (check character mismatch: a typo)")]
    CheckMismatch,
}

impl ReceiptError {
    pub fn code(&self) -> &'static str {
        match self {
            ReceiptError::Malformed => "invalid_receipt",
            ReceiptError::CheckMismatch => "receipt_check_mismatch",
        }
    }
}

/// Why a receipt could not be made or hashed (the OS RNG or argon2
/// failing: a 500).
#[derive(Debug, thiserror::Error)]
pub enum HashError {
    #[error("os rng: {0}")]
    Rng(String),
    #[error("argon2: {0}")]
    Argon2(String),
    #[error("hashing task: {0}")]
    Task(String),
}

fn value(c: u8) -> Option<u32> {
    CODE_ALPHABET.iter().position(|&x| x == c).map(|p| p as u32)
}

/// The check symbol for the first 19 symbols.
fn check(data: &[u8]) -> Option<u8> {
    let mut sum = 0u32;
    for (i, c) in data.iter().enumerate() {
        sum = (sum + (i as u32 + 1) * value(*c)?) % 31;
    }
    // 20 · x ≡ −sum (mod 31); 20⁻¹ ≡ 14 (mod 31) since 280 = 9·31 + 1.
    let x = (31 - sum) % 31 * 14 % 31;
    Some(CODE_ALPHABET[x as usize])
}

/// A new receipt, canonical (ungrouped, upper case).
pub fn new_receipt() -> Result<String, HashError> {
    let mut out = Vec::with_capacity(RECEIPT_LEN);
    let mut buf = [0u8; 64];
    while out.len() < RECEIPT_LEN - 1 {
        OsRng
            .try_fill_bytes(&mut buf)
            .map_err(|e| HashError::Rng(e.to_string()))?;
        // Rejection sampling: 248 = 8 · 31, so bytes below it map to the
        // 31 symbols uniformly.
        for b in buf.iter().filter(|b| **b < 248) {
            if out.len() < RECEIPT_LEN - 1 {
                out.push(CODE_ALPHABET[usize::from(*b % 31)]);
            }
        }
    }
    // Every symbol is in the alphabet, so the check exists.
    let c = check(&out).ok_or_else(|| HashError::Rng("symbol outside the alphabet".into()))?;
    out.push(c);
    Ok(String::from_utf8_lossy(&out).into_owned())
}

/// `XXXXX-XXXXX-XXXXX-XXXXX` of a canonical receipt.
pub fn grouped(canonical: &str) -> String {
    let mut s = String::with_capacity(RECEIPT_LEN + 3);
    for (i, c) in canonical.chars().enumerate() {
        if i > 0 && i % GROUP_LEN == 0 {
            s.push('-');
        }
        s.push(c);
    }
    s
}

/// The canonical receipt of what a person typed.
pub fn parse(typed: &str) -> Result<String, ReceiptError> {
    if typed.chars().count() > MAX_TYPED_CHARS {
        return Err(ReceiptError::Malformed);
    }
    let folded: Vec<u8> = normalize(typed)
        .bytes()
        .map(|c| match c {
            b'O' => b'0',
            b'I' | b'L' => b'1',
            c => c,
        })
        .collect();
    if folded.len() != RECEIPT_LEN || folded.iter().any(|c| value(*c).is_none()) {
        return Err(ReceiptError::Malformed);
    }
    if check(&folded[..RECEIPT_LEN - 1]) != Some(folded[RECEIPT_LEN - 1]) {
        return Err(ReceiptError::CheckMismatch);
    }
    Ok(String::from_utf8_lossy(&folded).into_owned())
}

/// Hashes canonical receipts under the server's secret salt.
pub struct ReceiptHasher {
    salt: Vec<u8>,
}

impl std::fmt::Debug for ReceiptHasher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ReceiptHasher(..)")
    }
}

impl ReceiptHasher {
    pub fn new(salt: Vec<u8>) -> ReceiptHasher {
        ReceiptHasher { salt }
    }

    /// A hasher with a random salt held in memory (tests, benchmarks).
    pub fn ephemeral() -> ReceiptHasher {
        ReceiptHasher::new(rand::random::<[u8; 32]>().to_vec())
    }

    /// argon2id of the canonical receipt; slow on purpose, so call
    /// [`ReceiptHasher::hash_async`] from handlers.
    pub fn hash(&self, canonical: &str) -> Result<Vec<u8>, HashError> {
        let params = Params::new(ARGON2_MEMORY_KIB, ARGON2_PASSES, 1, Some(HASH_LEN))
            .map_err(|e| HashError::Argon2(e.to_string()))?;
        let mut out = vec![0u8; HASH_LEN];
        Argon2::new(Algorithm::Argon2id, Version::V0x13, params)
            .hash_password_into(canonical.as_bytes(), &self.salt, &mut out)
            .map_err(|e| HashError::Argon2(e.to_string()))?;
        Ok(out)
    }

    /// [`ReceiptHasher::hash`] on the blocking pool.
    pub async fn hash_async(
        self: &std::sync::Arc<Self>,
        canonical: String,
    ) -> Result<Vec<u8>, HashError> {
        let me = self.clone();
        tokio::task::spawn_blocking(move || me.hash(&canonical))
            .await
            .map_err(|e| HashError::Task(e.to_string()))?
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_new_receipt_parses_back_in_every_typed_form() {
        for _ in 0..200 {
            let r = new_receipt().unwrap();
            assert_eq!(r.len(), RECEIPT_LEN);
            assert_eq!(parse(&r), Ok(r.clone()));
            let g = grouped(&r);
            assert_eq!(g.len(), 23);
            assert_eq!(parse(&g.to_lowercase()), Ok(r.clone()));
            let wide: String = g
                .chars()
                .map(|c| char::from_u32(c as u32 + 0xFEE0).unwrap())
                .collect();
            assert_eq!(parse(&wide), Ok(r.clone()));
            assert_eq!(parse(&g.replace('-', " ")), Ok(r.clone()));
        }
    }

    #[test]
    fn every_single_substitution_and_adjacent_swap_is_caught() {
        let r = new_receipt().unwrap().into_bytes();
        for i in 0..RECEIPT_LEN {
            for &c in CODE_ALPHABET {
                if c != r[i] {
                    let mut t = r.clone();
                    t[i] = c;
                    assert_eq!(
                        parse(std::str::from_utf8(&t).unwrap()),
                        Err(ReceiptError::CheckMismatch)
                    );
                }
            }
            if i + 1 < RECEIPT_LEN && r[i] != r[i + 1] {
                let mut t = r.clone();
                t.swap(i, i + 1);
                assert_eq!(
                    parse(std::str::from_utf8(&t).unwrap()),
                    Err(ReceiptError::CheckMismatch)
                );
            }
        }
        assert_eq!(parse("too-short"), Err(ReceiptError::Malformed));
        assert_eq!(
            parse("ZZZZZ-ZZZZZ-ZZZZZ-ZZZZZ"),
            Err(ReceiptError::Malformed)
        );
    }

    #[test]
    fn the_hash_depends_on_the_salt_and_is_stable() {
        let a = ReceiptHasher::new(vec![1; 32]);
        let b = ReceiptHasher::new(vec![2; 32]);
        let r = new_receipt().unwrap();
        assert_eq!(a.hash(&r).unwrap(), a.hash(&r).unwrap());
        assert_ne!(a.hash(&r).unwrap(), b.hash(&r).unwrap());
    }
}
