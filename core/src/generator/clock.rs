//! Simulated time: whole seconds since the Unix epoch, shown in
//! Asia/Shanghai (+08:00), with the opening hours of each kind of trade.

use chrono::{DateTime, FixedOffset, NaiveDate, NaiveTime};
use rand::Rng;
use rand_chacha::ChaCha8Rng;

const OFFSET_SECS: i64 = 8 * 3600;
pub(crate) const DAY: i64 = 86_400;
pub(crate) const HOUR: i64 = 3_600;
pub(crate) const MINUTE: i64 = 60;

const CST: FixedOffset = match FixedOffset::east_opt(OFFSET_SECS as i32) {
    Some(o) => o,
    None => panic!("+08:00 is a valid offset"),
};

/// Local midnight of a date, as a timestamp.
pub(crate) fn midnight(date: NaiveDate) -> i64 {
    date.and_time(NaiveTime::MIN).and_utc().timestamp() - OFFSET_SECS
}

/// Local midnight of the day of `t`.
pub(crate) fn day_start(t: i64) -> i64 {
    t - (t + OFFSET_SECS).rem_euclid(DAY)
}

/// The local (Shanghai) calendar day of a timestamp.
pub(crate) fn local_date(t: i64) -> NaiveDate {
    to_datetime(t).date_naive()
}

pub(crate) fn to_datetime(t: i64) -> DateTime<FixedOffset> {
    DateTime::from_timestamp(t, 0)
        .unwrap_or(DateTime::UNIX_EPOCH)
        .with_timezone(&CST)
}

pub(crate) fn millis(t: i64) -> u64 {
    u64::try_from(t).unwrap_or(0).saturating_mul(1000)
}

/// Opening hours, as seconds after local midnight.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Hours {
    pub open: i64,
    pub close: i64,
}

impl Hours {
    pub const fn new(open_h: i64, close_h: i64) -> Self {
        Self {
            open: open_h * HOUR,
            close: close_h * HOUR,
        }
    }

    /// `t` if it falls within the hours, else a moment in the first hour of
    /// the next opening.
    pub fn fit(self, t: i64, rng: &mut ChaCha8Rng) -> i64 {
        let day = day_start(t);
        let tod = t - day;
        if tod >= self.open && tod < self.close {
            return t;
        }
        let next = if tod < self.open { day } else { day + DAY };
        next + self.open + rng.random_range(0..HOUR.min(self.close - self.open).max(1))
    }

    /// A random moment after `t` within the hours of its day or, when they
    /// are over, of the next day.
    pub fn later_same_or_next_day(self, t: i64, rng: &mut ChaCha8Rng) -> i64 {
        let day = day_start(t);
        let from = (t + 1).max(day + self.open);
        let to = day + self.close;
        if from < to {
            rng.random_range(from..to)
        } else {
            self.on_day(day + DAY, rng)
        }
    }

    /// A random moment within the hours of the day starting at `midnight`.
    pub fn on_day(self, midnight: i64, rng: &mut ChaCha8Rng) -> i64 {
        midnight + rng.random_range(self.open..self.close.max(self.open + 1))
    }
}

/// Wholesale markets trade before dawn.
pub(crate) const WHOLESALE: Hours = Hours::new(2, 11);
/// Deliveries from outside reach the markets overnight.
pub(crate) const DELIVERY: Hours = Hours::new(0, 6);
/// A stall or supermarket writes its day's retail sales at closing time
/// (one 零售 line per batch a day, as ledgers do).
pub(crate) const CLOSING: Hours = Hours::new(18, 22);
