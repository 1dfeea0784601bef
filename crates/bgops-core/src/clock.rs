//! Time as the domain sees it: a millisecond timestamp and an injectable clock, so retry and
//! TTL logic can be tested exactly, without sleeping.

use std::fmt;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;

/// `0000-01-01T00:00:00Z` in milliseconds: the earliest instant the Web API form can write.
const FIRST_SHOWN: i64 = -62_167_219_200_000;
/// `9999-12-31T23:59:59.999Z` in milliseconds: the latest instant the Web API form can write.
const LAST_SHOWN: i64 = 253_402_300_799_999;

/// A point in time, in milliseconds since the Unix epoch (UTC).
///
/// Stored as an integer so that every backend compares and indexes it the same way.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Timestamp(pub i64);

impl Timestamp {
    /// The timestamp `d` later than `self` (saturating).
    pub fn plus(self, d: Duration) -> Timestamp {
        let ms = i64::try_from(d.as_millis()).unwrap_or(i64::MAX);
        Timestamp(self.0.saturating_add(ms))
    }

    /// Milliseconds since the epoch.
    pub fn millis(self) -> i64 {
        self.0
    }

    /// The Web API form of SPEC §2: UTC, `YYYY-MM-DDTHH:MM:SSZ`, no fractional seconds.
    pub fn to_dataverse(self) -> String {
        let secs = self.0.div_euclid(1000);
        match OffsetDateTime::from_unix_timestamp(secs) {
            Ok(t) => format!(
                "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}Z",
                t.year(),
                u8::from(t.month()),
                t.day(),
                t.hour(),
                t.minute(),
                t.second()
            ),
            Err(_) => "9999-12-31T23:59:59Z".to_owned(),
        }
    }

    /// Parses an RFC 3339 / ISO 8601 date-time (with offset or `Z`), as clients send them.
    /// An instant outside years 0000–9999 in UTC (`0000-01-01T00:00:00+01:00` is one) is
    /// refused: [`Timestamp::to_dataverse`] could not show it, so it would not read back.
    pub fn parse_rfc3339(s: &str) -> Option<Timestamp> {
        let t = OffsetDateTime::parse(s, &Rfc3339).ok()?;
        let ms = i64::try_from(t.unix_timestamp_nanos() / 1_000_000).ok()?;
        (FIRST_SHOWN..=LAST_SHOWN)
            .contains(&ms)
            .then_some(Timestamp(ms))
    }
}

impl fmt::Display for Timestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_dataverse())
    }
}

/// The source of "now" for every decision that depends on time.
pub trait Clock: Send + Sync + 'static {
    /// The current time.
    fn now(&self) -> Timestamp;
}

/// The real wall clock.
#[derive(Clone, Copy, Debug, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> Timestamp {
        let ms = OffsetDateTime::now_utc().unix_timestamp_nanos() / 1_000_000;
        Timestamp(i64::try_from(ms).unwrap_or(i64::MAX))
    }
}

/// A clock that only moves when told to: for tests of retry and TTL logic.
#[derive(Clone, Debug, Default)]
pub struct ManualClock(Arc<AtomicI64>);

impl ManualClock {
    /// A clock standing at `start`.
    pub fn new(start: Timestamp) -> Self {
        Self(Arc::new(AtomicI64::new(start.0)))
    }

    /// Moves the clock forward by `d`.
    pub fn advance(&self, d: Duration) {
        let ms = i64::try_from(d.as_millis()).unwrap_or(i64::MAX);
        self.0.fetch_add(ms, Ordering::SeqCst);
    }

    /// Sets the clock to `t`.
    pub fn set(&self, t: Timestamp) {
        self.0.store(t.0, Ordering::SeqCst);
    }
}

impl Clock for ManualClock {
    fn now(&self) -> Timestamp {
        Timestamp(self.0.load(Ordering::SeqCst))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_without_fraction() {
        assert_eq!(Timestamp(0).to_dataverse(), "1970-01-01T00:00:00Z");
        assert_eq!(
            Timestamp(1_700_000_000_999).to_dataverse(),
            "2023-11-14T22:13:20Z"
        );
    }

    #[test]
    fn parses_rfc3339() {
        assert_eq!(
            Timestamp::parse_rfc3339("2023-11-14T22:13:20Z"),
            Some(Timestamp(1_700_000_000_000))
        );
        assert_eq!(
            Timestamp::parse_rfc3339("2023-11-14T23:13:20+01:00"),
            Some(Timestamp(1_700_000_000_000))
        );
        assert_eq!(Timestamp::parse_rfc3339("yesterday"), None);
    }

    /// Found by `fuzz/fuzz_targets/header_values.rs`: with an offset, a date-time in year 0000
    /// is an instant of year -1 in UTC, written back as `-001-12-31T00:01:00Z`; a DateTime
    /// parameter stored that way reached its plug-in as a String.
    #[test]
    fn refuses_instants_the_web_api_form_cannot_show() {
        assert_eq!(Timestamp::parse_rfc3339("0000-01-01T00:00:00+23:59"), None);
        assert_eq!(Timestamp::parse_rfc3339("9999-12-31T23:59:59-00:01"), None);
        for s in [
            "0000-01-01T00:00:00Z",
            "0000-01-01T00:00:00-01:00",
            "9999-12-31T23:59:59.999Z",
            "9999-12-31T23:59:59+23:59",
        ] {
            let t = Timestamp::parse_rfc3339(s).expect(s);
            let second = Timestamp(t.0.div_euclid(1000) * 1000);
            assert_eq!(
                Timestamp::parse_rfc3339(&t.to_dataverse()),
                Some(second),
                "{s}"
            );
        }
    }

    #[test]
    fn manual_clock_moves_only_when_told() {
        let c = ManualClock::new(Timestamp(1000));
        assert_eq!(c.now(), Timestamp(1000));
        c.advance(Duration::from_secs(2));
        assert_eq!(c.now(), Timestamp(3000));
    }
}
