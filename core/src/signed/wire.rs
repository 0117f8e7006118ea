//! The byte layout shared by the signed formats, and their text form.
//!
//! Every field has a fixed width except the product name, so a truncated
//! or padded payload is caught by its length before any signature is
//! checked. The text form is a fixed-width decimal number: a QR code holds
//! digits in its numeric mode at 3⅓ bits each, the densest mode there is
//! (base64 in byte mode costs 8 bits per 6, base45 in alphanumeric mode
//! 5.5 per 5⅓), and `qrcode`'s segment optimiser picks that mode by
//! itself for a run of digits inside a URL.

use chrono::NaiveDate;

use crate::codes::{CODE_ALPHABET, CODE_LEN};

/// Day 0 of the two-byte dates: 2020-01-01. Two bytes reach 2199.
pub(crate) fn epoch() -> NaiveDate {
    // A constant date that exists.
    NaiveDate::from_ymd_opt(2020, 1, 1).unwrap_or(NaiveDate::MIN)
}

/// The two-byte "no date" (an optional expiry left open).
pub(crate) const NO_DAY: u16 = u16::MAX;

/// Days since [`epoch`]; `None` outside 2020-01-01 .. 2199-06-05.
pub(crate) fn day_number(d: NaiveDate) -> Option<u16> {
    let n = (d - epoch()).num_days();
    u16::try_from(n).ok().filter(|n| *n != NO_DAY)
}

pub(crate) fn day_from(n: u16) -> Option<NaiveDate> {
    if n == NO_DAY {
        return None;
    }
    epoch().checked_add_days(chrono::Days::new(u64::from(n)))
}

/// Bytes a packed 16-symbol code takes: 31¹⁶ < 2⁸⁰.
pub(crate) const PACKED_CODE_LEN: usize = 10;

/// Packs a canonical 16-symbol trace / voucher / shop code into 10 bytes.
pub(crate) fn pack_code(code: &str) -> Option<[u8; PACKED_CODE_LEN]> {
    if code.len() != CODE_LEN {
        return None;
    }
    let mut n: u128 = 0;
    for c in code.bytes() {
        let v = CODE_ALPHABET.iter().position(|&x| x == c)? as u128;
        n = n * 31 + v;
    }
    let bytes = n.to_be_bytes();
    let mut out = [0u8; PACKED_CODE_LEN];
    out.copy_from_slice(&bytes[16 - PACKED_CODE_LEN..]);
    Some(out)
}

/// The inverse of [`pack_code`]; `None` for a number no code packs to.
pub(crate) fn unpack_code(bytes: &[u8]) -> Option<String> {
    let mut full = [0u8; 16];
    full[16 - PACKED_CODE_LEN..].copy_from_slice(bytes.get(..PACKED_CODE_LEN)?);
    let mut n = u128::from_be_bytes(full);
    let mut out = [0u8; CODE_LEN];
    for slot in out.iter_mut().rev() {
        *slot = CODE_ALPHABET[(n % 31) as usize];
        n /= 31;
    }
    (n == 0).then(|| String::from_utf8_lossy(&out).into_owned())
}

/// Appends fields in order.
#[derive(Default)]
pub(crate) struct Writer(pub Vec<u8>);

impl Writer {
    pub fn bytes(&mut self, b: &[u8]) -> &mut Self {
        self.0.extend_from_slice(b);
        self
    }
    pub fn u16(&mut self, v: u16) -> &mut Self {
        self.bytes(&v.to_be_bytes())
    }
    pub fn u8(&mut self, v: u8) -> &mut Self {
        self.0.push(v);
        self
    }
    /// LEB128: a quantity of 12 kg (12,000 g) takes two bytes, not eight.
    pub fn varint(&mut self, mut v: u64) -> &mut Self {
        loop {
            let b = (v & 0x7f) as u8;
            v >>= 7;
            if v == 0 {
                self.0.push(b);
                return self;
            }
            self.0.push(b | 0x80);
        }
    }
}

/// Reads fields in order; every read fails on a short input.
pub(crate) struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    pub fn new(buf: &'a [u8]) -> Self {
        Reader { buf, pos: 0 }
    }
    pub fn pos(&self) -> usize {
        self.pos
    }
    pub fn take(&mut self, n: usize) -> Option<&'a [u8]> {
        let end = self.pos.checked_add(n)?;
        let s = self.buf.get(self.pos..end)?;
        self.pos = end;
        Some(s)
    }
    pub fn array<const N: usize>(&mut self) -> Option<[u8; N]> {
        self.take(N)?.try_into().ok()
    }
    pub fn u8(&mut self) -> Option<u8> {
        Some(self.take(1)?[0])
    }
    pub fn u16(&mut self) -> Option<u16> {
        Some(u16::from_be_bytes(self.array()?))
    }
    /// LEB128 of at most 9 bytes (63 bits), minimal form only, so one value
    /// has one encoding and a re-encoded field cannot slip past the signature.
    pub fn varint(&mut self) -> Option<u64> {
        let mut v: u64 = 0;
        for i in 0..9 {
            let b = self.u8()?;
            v |= u64::from(b & 0x7f) << (7 * i);
            if b & 0x80 == 0 {
                if b == 0 && i > 0 {
                    return None;
                }
                return Some(v);
            }
        }
        None
    }
    pub fn rest(&self) -> usize {
        self.buf.len() - self.pos
    }
}

/// Decimal digits that hold any `len` bytes: the least `d` with
/// 10^d ≥ 256^len.
pub fn digits_for(len: usize) -> usize {
    // 8·log10(2) = 2.408…; the integer form avoids a float edge at exact
    // powers (there are none for 256^len, which is never a power of ten).
    (len * 8 * 30103).div_ceil(100000)
}

/// Writes `bytes` as one big-endian number in exactly
/// [`digits_for`]`(bytes.len())` decimal digits (leading zeros kept), so
/// the length of the text tells the length of the payload.
pub fn to_digits(bytes: &[u8]) -> String {
    let width = digits_for(bytes.len());
    let mut num: Vec<u8> = bytes.to_vec();
    let mut out: Vec<u8> = Vec::with_capacity(width + 4);
    // Divide by 10⁴ per pass: remainders below 10⁴ times 256 fit a u32.
    while out.len() < width {
        let mut rem: u32 = 0;
        for b in num.iter_mut() {
            let acc = rem * 256 + u32::from(*b);
            *b = (acc / 10_000) as u8;
            rem = acc % 10_000;
        }
        for _ in 0..4 {
            out.push(b'0' + (rem % 10) as u8);
            rem /= 10;
        }
    }
    out.truncate(width);
    out.reverse();
    String::from_utf8_lossy(&out).into_owned()
}

/// Reads a number written by [`to_digits`] back into bytes: `None` when
/// the text is not digits, its width belongs to no byte length, or the
/// number does not fit that length.
pub fn from_digits(text: &str) -> Option<Vec<u8>> {
    if text.is_empty() || !text.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    // digits_for grows by 2 or 3 per byte: at most one length matches.
    let len = (1..=text.len()).find(|&n| digits_for(n) >= text.len())?;
    if digits_for(len) != text.len() {
        return None;
    }
    let mut num = vec![0u8; len];
    for chunk in text.as_bytes().chunks(4) {
        let (mul, add) = chunk.iter().fold((1u32, 0u32), |(m, a), d| {
            (m * 10, a * 10 + u32::from(d - b'0'))
        });
        let mut carry = add;
        for b in num.iter_mut().rev() {
            let acc = u32::from(*b) * mul + carry;
            *b = (acc & 0xff) as u8;
            carry = acc >> 8;
        }
        if carry != 0 {
            return None;
        }
    }
    Some(num)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn digits_round_trip_at_every_length() {
        for len in 1..300 {
            let bytes: Vec<u8> = (0..len).map(|i| (i * 37 + 11) as u8).collect();
            let text = to_digits(&bytes);
            assert_eq!(text.len(), digits_for(len));
            assert_eq!(from_digits(&text).as_deref(), Some(&bytes[..]), "len {len}");
            let max = vec![0xffu8; len];
            assert_eq!(from_digits(&to_digits(&max)), Some(max));
        }
    }

    #[test]
    fn codes_pack_to_ten_bytes() {
        let code = crate::codes::new_code(&mut rand::rng());
        let packed = pack_code(&code).unwrap();
        assert_eq!(unpack_code(&packed).as_deref(), Some(code.as_str()));
        assert!(unpack_code(&[0xff; 10]).is_none());
    }
}
