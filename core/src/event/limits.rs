//! What the wire format accepts: the lengths and counts a parsed event may
//! have, fixed per wire version.
//!
//! Why separate from [`crate::rules::LedgerRules`]: the rules are policy and
//! change (a market tightens a limit), but a stored event was accepted
//! under the rules of its day. Parsing with today's rules made the server
//! unable to read back — and so to start over — a ledger recorded before a
//! limit was tightened. Parsing checks only these fixed limits; the rules'
//! own limits are checked when a new event is judged
//! ([`crate::rules::check`]), and must lie within these.

/// The limits of one wire version.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WireLimits {
    /// Product and supplier names, buyer names (characters).
    pub max_name_chars: usize,
    /// Reasons of voids, adjustments and disposals (characters).
    pub max_reason_chars: usize,
    /// A certificate's number (characters).
    pub max_certificate_number_chars: usize,
    /// Certificates of one purchase.
    pub max_certificates: usize,
    /// A purchase's unit price, in fen.
    pub max_unit_price_fen: i64,
}

/// Wire version 1: the limits the ledger was accepted under since its
/// first release (the built-in rules of `ledger-2023.1` had the same).
pub const WIRE_V1: WireLimits = WireLimits {
    max_name_chars: 100,
    max_reason_chars: 500,
    max_certificate_number_chars: 64,
    max_certificates: 20,
    max_unit_price_fen: 10_000_000_000,
};
