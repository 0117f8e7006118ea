//! Time as the market's day counts it (Asia/Shanghai) and as a device
//! sent it: plain chrono, no SQL, shared by both backends.

use chrono::{DateTime, FixedOffset, NaiveDate, Offset, TimeZone, Utc};

/// Asia/Shanghai.
pub fn cst() -> FixedOffset {
    // +08:00 always exists.
    FixedOffset::east_opt(8 * 3600).unwrap_or_else(|| Utc.fix())
}

/// The local date (Asia/Shanghai) of a time.
pub fn local_date(t: DateTime<Utc>) -> NaiveDate {
    t.with_timezone(&cst()).date_naive()
}

/// Midnight of a local date (Asia/Shanghai), as UTC.
pub fn local_midnight(d: NaiveDate) -> DateTime<Utc> {
    d.and_hms_opt(0, 0, 0)
        .and_then(|n| cst().from_local_datetime(&n).single())
        .map_or_else(
            || d.and_time(chrono::NaiveTime::MIN).and_utc(),
            |t| t.with_timezone(&Utc),
        )
}

/// A device time as sent (RFC 3339 with its offset).
pub fn device_time(s: &str) -> Option<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(s)
        .ok()
        .map(|t| t.with_timezone(&Utc))
}
