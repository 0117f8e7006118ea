//! Trace and voucher codes packed into a `u128` (16 symbols × 5 bits), and
//! the hash the tables use. A packed code is a fifth of a `String` and
//! compares in one instruction.

use crate::codes::{CODE_ALPHABET, CODE_LEN};

const NO_VALUE: u8 = u8::MAX;

/// Symbol → value (0..31); everything else is `NO_VALUE`.
const VALUES: [u8; 128] = {
    let mut t = [NO_VALUE; 128];
    let mut i = 0;
    while i < CODE_ALPHABET.len() {
        t[CODE_ALPHABET[i] as usize] = i as u8;
        i += 1;
    }
    t
};

/// Packs a canonical code; `None` for anything that is not one (which can
/// then not be in the graph).
pub(super) fn pack(code: &str) -> Option<u128> {
    let bytes = code.as_bytes();
    if bytes.len() != CODE_LEN {
        return None;
    }
    bytes
        .iter()
        .try_fold(0u128, |acc, &c| match VALUES.get(usize::from(c)) {
            Some(&v) if v != NO_VALUE => Some(acc << 5 | u128::from(v)),
            _ => None,
        })
}

pub(super) fn unpack(packed: u128) -> String {
    let mut buf = [b'0'; CODE_LEN];
    for (i, c) in buf.iter_mut().rev().enumerate() {
        // Masked to 5 bits, and only packed values (< 31) are stored.
        let v = (packed >> (5 * i)) as usize & 0x1f;
        *c = CODE_ALPHABET.get(v).copied().unwrap_or(b'0');
    }
    // The alphabet is ASCII, so this is never lossy.
    String::from_utf8_lossy(&buf).into_owned()
}

/// A well-mixed 64-bit hash of a packed code or an entry id (murmur3's
/// finaliser over both halves). Codes are random, but UUIDv7 entry ids share
/// their timestamp bits, so both halves are folded in.
pub(super) fn hash(v: u128) -> u64 {
    // Truncations are the point: the low and high halves.
    let mut k = (v as u64) ^ ((v >> 64) as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15);
    k ^= k >> 33;
    k = k.wrapping_mul(0xff51_afd7_ed55_8ccd);
    k ^= k >> 33;
    k = k.wrapping_mul(0xc4ce_b9fe_1a85_ec53);
    k ^ (k >> 33)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_round_trip_and_junk_is_refused() {
        let mut rng = rand::rng();
        for _ in 0..100 {
            let c = crate::codes::new_code(&mut rng);
            assert_eq!(unpack(pack(&c).unwrap()), c);
        }
        assert_eq!(pack("short"), None);
        assert_eq!(
            pack("0123456789abcdef"),
            None,
            "lower case is not canonical"
        );
        assert_eq!(pack("0123456789ABCDEZ"), None, "Z is not in the alphabet");
        assert_eq!(pack("0123456789ABCDE€"), None);
    }
}
