//! Timestamps: the exact instant of a record, Python's text form, and a
//! lenient parser.
//!
//! The Python original writes `datetime.now(timezone.utc).isoformat()`:
//! `2026-11-27T05:21:16.123456+00:00`, and `2026-11-27T05:21:16+00:00` when
//! the microsecond is zero. [`Timestamp::write_python`] produces exactly that.
//! [`Timestamp::parse`] accepts that and more (see its docs), and compares
//! instants, never strings.

use std::fmt;
use std::str::FromStr;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// An instant in UTC with nanosecond resolution, between the years 1 and 9999
/// (the range of Python's `datetime`).
///
/// Ordering is the ordering of instants, whatever offset the text had.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Timestamp {
    /// Seconds since 1970-01-01T00:00:00Z; may be negative.
    secs: i64,
    /// Nanoseconds within the second, `0..1_000_000_000`.
    nanos: u32,
}

/// Why a timestamp text was rejected.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("invalid timestamp {text:?}: {reason}")]
pub struct TimestampError {
    text: String,
    reason: &'static str,
}

impl TimestampError {
    fn new(text: &[u8], reason: &'static str) -> Self {
        let shown: String = String::from_utf8_lossy(text).chars().take(64).collect();
        TimestampError {
            text: shown,
            reason,
        }
    }
}

const NANOS_PER_SEC: u32 = 1_000_000_000;
/// Seconds from 0001-01-01T00:00:00Z to the epoch (negative).
const MIN_SECS: i64 = -62_135_596_800;
/// Seconds from the epoch to 9999-12-31T23:59:59Z.
const MAX_SECS: i64 = 253_402_300_799;

impl Timestamp {
    /// The earliest representable instant, 0001-01-01T00:00:00Z.
    pub const MIN: Timestamp = Timestamp {
        secs: MIN_SECS,
        nanos: 0,
    };
    /// The latest representable instant, 9999-12-31T23:59:59.999999999Z.
    pub const MAX: Timestamp = Timestamp {
        secs: MAX_SECS,
        nanos: NANOS_PER_SEC - 1,
    };
    /// 1970-01-01T00:00:00Z.
    pub const UNIX_EPOCH: Timestamp = Timestamp { secs: 0, nanos: 0 };

    /// The instant `secs` seconds and `nanos` nanoseconds after the epoch,
    /// or `None` outside the years 1 to 9999 or with `nanos >= 1e9`.
    pub fn from_unix(secs: i64, nanos: u32) -> Option<Timestamp> {
        if nanos >= NANOS_PER_SEC || !(MIN_SECS..=MAX_SECS).contains(&secs) {
            return None;
        }
        Some(Timestamp { secs, nanos })
    }

    /// The instant `micros` microseconds after the epoch (clamped to the
    /// representable range).
    pub fn from_unix_micros(micros: i64) -> Timestamp {
        let secs = micros.div_euclid(1_000_000);
        let sub = micros.rem_euclid(1_000_000) as u32;
        Timestamp::from_unix(secs, sub * 1000).unwrap_or(if secs < 0 {
            Timestamp::MIN
        } else {
            Timestamp::MAX
        })
    }

    /// The current time, truncated to microseconds as Python's `datetime` is.
    pub fn now() -> Timestamp {
        Timestamp::from_system_time(SystemTime::now())
    }

    /// Converts a `SystemTime`, truncated to microseconds.
    pub fn from_system_time(t: SystemTime) -> Timestamp {
        match t.duration_since(UNIX_EPOCH) {
            Ok(d) => Timestamp::from_unix_micros(i64::try_from(d.as_micros()).unwrap_or(i64::MAX)),
            Err(e) => {
                let d = e.duration();
                Timestamp::from_unix_micros(-(i64::try_from(d.as_micros()).unwrap_or(i64::MAX)))
            }
        }
    }

    /// Seconds since the epoch (floor).
    pub fn unix_secs(self) -> i64 {
        self.secs
    }

    /// Nanoseconds within the second.
    pub fn subsec_nanos(self) -> u32 {
        self.nanos
    }

    /// Microseconds since the epoch (floor).
    pub fn unix_micros(self) -> i64 {
        self.secs * 1_000_000 + i64::from(self.nanos / 1000)
    }

    /// This instant moved back by `d`, saturating at [`Timestamp::MIN`].
    pub fn saturating_sub(self, d: Duration) -> Timestamp {
        let total = i128::from(self.secs) * 1_000_000_000 + i128::from(self.nanos)
            - i128::try_from(d.as_nanos()).unwrap_or(i128::MAX / 2);
        Timestamp::from_total_nanos(total)
    }

    /// This instant moved forward by `d`, saturating at [`Timestamp::MAX`].
    pub fn saturating_add(self, d: Duration) -> Timestamp {
        let total = i128::from(self.secs) * 1_000_000_000
            + i128::from(self.nanos)
            + i128::try_from(d.as_nanos()).unwrap_or(i128::MAX / 2);
        Timestamp::from_total_nanos(total)
    }

    fn from_total_nanos(total: i128) -> Timestamp {
        let secs = total.div_euclid(1_000_000_000);
        let nanos = total.rem_euclid(1_000_000_000) as u32;
        match i64::try_from(secs)
            .ok()
            .and_then(|s| Timestamp::from_unix(s, nanos))
        {
            Some(t) => t,
            None if total < 0 => Timestamp::MIN,
            None => Timestamp::MAX,
        }
    }

    /// The time since `earlier`, or zero if `earlier` is later.
    pub fn duration_since(self, earlier: Timestamp) -> Duration {
        if self <= earlier {
            return Duration::ZERO;
        }
        let total = (i128::from(self.secs) - i128::from(earlier.secs)) * 1_000_000_000
            + i128::from(self.nanos)
            - i128::from(earlier.nanos);
        let secs = u64::try_from(total / 1_000_000_000).unwrap_or(u64::MAX);
        Duration::new(secs, (total % 1_000_000_000) as u32)
    }

    /// The UTC calendar fields: (year, month, day, hour, minute, second).
    pub fn civil(self) -> (i32, u32, u32, u32, u32, u32) {
        let days = self.secs.div_euclid(86_400);
        let sod = self.secs.rem_euclid(86_400) as u32;
        let (y, m, d) = civil_from_days(days);
        (y, m, d, sod / 3600, sod / 60 % 60, sod % 60)
    }

    /// The start of the UTC hour holding this instant.
    pub fn floor_hour(self) -> Timestamp {
        Timestamp {
            secs: self.secs - self.secs.rem_euclid(3600),
            nanos: 0,
        }
    }

    /// The start of the UTC day holding this instant.
    pub fn floor_day(self) -> Timestamp {
        Timestamp {
            secs: self.secs - self.secs.rem_euclid(86_400),
            nanos: 0,
        }
    }

    /// Midnight UTC of the given date, or `None` if the date does not exist.
    pub fn from_date(year: i32, month: u32, day: u32) -> Option<Timestamp> {
        if !(1..=9999).contains(&year) || !(1..=12).contains(&month) {
            return None;
        }
        if day == 0 || day > days_in_month(year, month) {
            return None;
        }
        Timestamp::from_unix(days_from_civil(year, month, day) * 86_400, 0)
    }

    /// Appends the Python form: `YYYY-MM-DDTHH:MM:SS[.ffffff]+00:00`, the
    /// fraction (microseconds, six digits) left out when it is zero, exactly
    /// as `datetime.isoformat()` does. Sub-microsecond digits are truncated.
    pub fn write_python(self, out: &mut Vec<u8>) {
        let (y, mo, d, h, mi, s) = self.civil();
        let mut buf = [0u8; 32];
        let mut n = 0;
        let put = |v: u32, width: usize, buf: &mut [u8; 32], n: &mut usize| {
            let mut v = v;
            for i in (0..width).rev() {
                buf[*n + i] = b'0' + (v % 10) as u8;
                v /= 10;
            }
            *n += width;
        };
        put(y as u32, 4, &mut buf, &mut n);
        buf[n] = b'-';
        n += 1;
        put(mo, 2, &mut buf, &mut n);
        buf[n] = b'-';
        n += 1;
        put(d, 2, &mut buf, &mut n);
        buf[n] = b'T';
        n += 1;
        put(h, 2, &mut buf, &mut n);
        buf[n] = b':';
        n += 1;
        put(mi, 2, &mut buf, &mut n);
        buf[n] = b':';
        n += 1;
        put(s, 2, &mut buf, &mut n);
        let micros = self.nanos / 1000;
        if micros != 0 {
            buf[n] = b'.';
            n += 1;
            put(micros, 6, &mut buf, &mut n);
        }
        out.extend_from_slice(&buf[..n]);
        out.extend_from_slice(b"+00:00");
    }

    /// The Python form as a `String` (see [`Timestamp::write_python`]).
    pub fn to_python_string(self) -> String {
        let mut v = Vec::with_capacity(32);
        self.write_python(&mut v);
        // write_python emits ASCII only.
        String::from_utf8_lossy(&v).into_owned()
    }

    /// Parses a timestamp leniently. Accepted:
    ///
    /// - `YYYY-MM-DD`, then `T`, `t` or a space, then `HH:MM:SS`;
    /// - an optional fraction of 1 to 9 digits after `.` or `,`;
    /// - an offset `Z`, `z`, `±HH:MM`, `±HHMM`, `±HH` or `±HH:MM:SS`, or none
    ///   at all, which is read as UTC (Python's naive `utcnow()` logs);
    /// - surrounding ASCII whitespace.
    ///
    /// Everything else (a date alone, a leap second, day 31 of April, ...)
    /// is an error.
    pub fn parse(text: &str) -> Result<Timestamp, TimestampError> {
        Timestamp::parse_bytes(text.as_bytes())
    }

    /// [`Timestamp::parse`] over bytes, for parsers that have not checked
    /// UTF-8 (a valid timestamp is ASCII).
    pub fn parse_bytes(text: &[u8]) -> Result<Timestamp, TimestampError> {
        if let Some(t) = parse_canonical(text) {
            return Ok(t);
        }
        Timestamp::parse_general(text)
    }

    /// The general parser behind [`Timestamp::parse_bytes`]: one pass
    /// over the text, field by field (each step below), then the range
    /// checks.
    fn parse_general(text: &[u8]) -> Result<Timestamp, TimestampError> {
        let err = |reason: &'static str| TimestampError::new(text, reason);
        let t = text.trim_ascii();
        let mut p = Cursor { b: t, i: 0 };
        let (year, month, day) = p.date().map_err(err)?;
        let (hour, minute, second) = p.time_of_day().map_err(err)?;
        let nanos = p.fraction().map_err(err)?;
        let offset_secs = p.offset().map_err(err)?;
        if p.i != t.len() {
            return Err(err("trailing characters"));
        }
        if !(1..=12).contains(&month) {
            return Err(err("month out of range"));
        }
        if year < 1 || day == 0 || day > days_in_month(year, month) {
            return Err(err("day out of range"));
        }
        if hour > 23 || minute > 59 || second > 59 {
            return Err(err("time of day out of range"));
        }
        let secs = days_from_civil(year, month, day) * 86_400
            + i64::from(hour * 3600 + minute * 60 + second)
            - offset_secs;
        Timestamp::from_unix(secs, nanos).ok_or_else(|| err("outside the years 1 to 9999"))
    }
}

/// The fast path of parsing: only the forms writers produce,
/// `YYYY-MM-DDTHH:MM:SS[.f…]` then `+00:00` or `Z`, with every field in
/// range; `None` for anything else (the general parser then decides).
/// Tested to agree with the general parser.
fn parse_canonical(b: &[u8]) -> Option<Timestamp> {
    if b.len() < 20
        || b[4] != b'-'
        || b[7] != b'-'
        || b[10] != b'T'
        || b[13] != b':'
        || b[16] != b':'
    {
        return None;
    }
    let num = |r: std::ops::Range<usize>| -> Option<u32> {
        let mut v = 0u32;
        for &c in &b[r] {
            if !c.is_ascii_digit() {
                return None;
            }
            v = v * 10 + u32::from(c - b'0');
        }
        Some(v)
    };
    let (year, month, day) = (num(0..4)?, num(5..7)?, num(8..10)?);
    let (hour, minute, second) = (num(11..13)?, num(14..16)?, num(17..19)?);
    let mut i = 19;
    let mut nanos = 0u32;
    if b[i] == b'.' {
        i += 1;
        let start = i;
        while i < b.len() && b[i].is_ascii_digit() {
            nanos = nanos.wrapping_mul(10).wrapping_add(u32::from(b[i] - b'0'));
            i += 1;
        }
        let len = i - start;
        if len == 0 || len > 9 {
            return None;
        }
        nanos *= 10u32.pow((9 - len) as u32);
    }
    if &b[i..] != b"Z" && &b[i..] != b"+00:00" {
        return None;
    }
    if hour > 23 || minute > 59 || second > 59 {
        return None;
    }
    let midnight = Timestamp::from_date(year as i32, month, day)?;
    Timestamp::from_unix(
        midnight.secs + i64::from(hour * 3600 + minute * 60 + second),
        nanos,
    )
}

struct Cursor<'a> {
    b: &'a [u8],
    i: usize,
}

impl Cursor<'_> {
    fn peek(&self) -> Option<u8> {
        self.b.get(self.i).copied()
    }
    fn next(&mut self) -> Option<u8> {
        let c = self.peek()?;
        self.i += 1;
        Some(c)
    }
    fn expect(&mut self, c: u8) -> Option<()> {
        (self.next()? == c).then_some(())
    }
    fn digits(&mut self, n: usize) -> Option<u32> {
        let s = self.b.get(self.i..self.i + n)?;
        let mut v = 0u32;
        for &c in s {
            if !c.is_ascii_digit() {
                return None;
            }
            v = v * 10 + u32::from(c - b'0');
        }
        self.i += n;
        Some(v)
    }

    /// `YYYY-MM-DD`: (year, month, day), not yet range-checked; `Err`
    /// says what was expected.
    fn date(&mut self) -> Result<(i32, u32, u32), &'static str> {
        let year = self.digits(4).ok_or("expected a four-digit year")? as i32;
        self.expect(b'-').ok_or("expected '-' after the year")?;
        let month = self.digits(2).ok_or("expected a two-digit month")?;
        self.expect(b'-').ok_or("expected '-' after the month")?;
        let day = self.digits(2).ok_or("expected a two-digit day")?;
        Ok((year, month, day))
    }

    /// `THH:MM:SS` (`T`, `t` or a space first): (hour, minute, second),
    /// not yet range-checked.
    fn time_of_day(&mut self) -> Result<(u32, u32, u32), &'static str> {
        match self.next() {
            Some(b'T' | b't' | b' ') => {}
            _ => return Err("expected 'T' between date and time"),
        }
        let hour = self.digits(2).ok_or("expected a two-digit hour")?;
        self.expect(b':').ok_or("expected ':' after the hour")?;
        let minute = self.digits(2).ok_or("expected two-digit minutes")?;
        self.expect(b':').ok_or("expected ':' after the minutes")?;
        let second = self.digits(2).ok_or("expected two-digit seconds")?;
        Ok((hour, minute, second))
    }

    /// An optional fraction of a second (`.` or `,`, then 1 to 9 digits),
    /// in nanoseconds; 0 without one.
    fn fraction(&mut self) -> Result<u32, &'static str> {
        let mut nanos = 0u32;
        if matches!(self.peek(), Some(b'.' | b',')) {
            self.i += 1;
            let start = self.i;
            while let Some(c) = self.peek() {
                if !c.is_ascii_digit() {
                    break;
                }
                self.i += 1;
            }
            let len = self.i - start;
            if len == 0 || len > 9 {
                return Err("expected 1 to 9 fraction digits");
            }
            for &c in &self.b[start..self.i] {
                nanos = nanos * 10 + u32::from(c - b'0');
            }
            nanos *= 10u32.pow((9 - len) as u32);
        }
        Ok(nanos)
    }

    /// The UTC offset in seconds east: none (UTC), `Z`, or `±HH`, `±HHMM`,
    /// `±HH:MM` or `±HH:MM:SS`.
    fn offset(&mut self) -> Result<i64, &'static str> {
        match self.next() {
            None => Ok(0),
            Some(b'Z' | b'z') => Ok(0),
            Some(sign @ (b'+' | b'-')) => {
                let oh = self.digits(2).ok_or("expected two-digit offset hours")?;
                let mut om = 0;
                let mut os = 0;
                if self.peek() == Some(b':') {
                    self.i += 1;
                    om = self.digits(2).ok_or("expected two-digit offset minutes")?;
                    if self.peek() == Some(b':') {
                        self.i += 1;
                        os = self.digits(2).ok_or("expected two-digit offset seconds")?;
                    }
                } else if self.peek().is_some_and(|c| c.is_ascii_digit()) {
                    om = self.digits(2).ok_or("expected two-digit offset minutes")?;
                }
                if oh > 23 || om > 59 || os > 59 {
                    return Err("offset out of range");
                }
                let v = i64::from(oh * 3600 + om * 60 + os);
                Ok(if sign == b'+' { v } else { -v })
            }
            Some(_) => Err("unexpected character after the time"),
        }
    }
}

fn is_leap(y: i32) -> bool {
    (y % 4 == 0 && y % 100 != 0) || y % 400 == 0
}

fn days_in_month(y: i32, m: u32) -> u32 {
    match m {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        2 if is_leap(y) => 29,
        _ => 28,
    }
}

/// Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's
/// `days_from_civil`).
fn days_from_civil(y: i32, m: u32, d: u32) -> i64 {
    let y = i64::from(y) - i64::from(m <= 2);
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let m = i64::from(m);
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + i64::from(d) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// The inverse of [`days_from_civil`].
fn civil_from_days(z: i64) -> (i32, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    ((y + i64::from(m <= 2)) as i32, m, d)
}

impl fmt::Display for Timestamp {
    /// The Python form, see [`Timestamp::write_python`].
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_python_string())
    }
}

impl fmt::Debug for Timestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (y, mo, d, h, mi, s) = self.civil();
        write!(
            f,
            "{y:04}-{mo:02}-{d:02}T{h:02}:{mi:02}:{s:02}.{:09}Z",
            self.nanos
        )
    }
}

impl FromStr for Timestamp {
    type Err = TimestampError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Timestamp::parse(s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::{DateTime, NaiveDate, Utc};
    use proptest::prelude::*;

    fn check_parse(text: &str, expected: &str) {
        let got = Timestamp::parse(text).unwrap_or_else(|e| panic!("{text}: {e}"));
        assert_eq!(format!("{got:?}"), expected, "{text}");
    }

    #[test]
    fn parses_python_and_lenient_forms() {
        check_parse(
            "2026-11-27T05:21:16.123456+00:00",
            "2026-11-27T05:21:16.123456000Z",
        );
        check_parse(
            "2026-11-27T05:21:16+00:00",
            "2026-11-27T05:21:16.000000000Z",
        );
        check_parse("2026-11-27T05:21:16Z", "2026-11-27T05:21:16.000000000Z");
        check_parse("2026-11-27t05:21:16.5z", "2026-11-27T05:21:16.500000000Z");
        check_parse(
            "2026-11-27 05:21:16.123456789",
            "2026-11-27T05:21:16.123456789Z",
        );
        check_parse(
            "2026-11-27T05:21:16.1+02:00",
            "2026-11-27T03:21:16.100000000Z",
        );
        check_parse("2026-11-27T01:21:16-0530", "2026-11-27T06:51:16.000000000Z");
        check_parse("2026-11-27T01:21:16-05", "2026-11-27T06:21:16.000000000Z");
        check_parse(
            "2026-01-01T00:30:00+01:00",
            "2025-12-31T23:30:00.000000000Z",
        );
        check_parse(
            " 2024-02-29T00:00:00,25+00:00\n",
            "2024-02-29T00:00:00.250000000Z",
        );
        check_parse(
            "0001-01-01T00:00:00+00:00",
            "0001-01-01T00:00:00.000000000Z",
        );
        check_parse(
            "9999-12-31T23:59:59.999999999Z",
            "9999-12-31T23:59:59.999999999Z",
        );
    }

    #[test]
    fn rejects_what_is_not_a_timestamp() {
        for bad in [
            "",
            "2026-11-27",
            "2026-11-27T05:21",
            "2026-13-01T00:00:00Z",
            "2026-04-31T00:00:00Z",
            "2023-02-29T00:00:00Z",
            "2026-11-27T24:00:00Z",
            "2026-11-27T23:59:60Z",
            "2026-11-27T05:21:16.Z",
            "2026-11-27T05:21:16.1234567890Z",
            "2026-11-27T05:21:16+24:00",
            "2026-11-27T05:21:16+00:00x",
            "26-11-27T05:21:16Z",
            "0000-01-01T00:00:00Z",
            "0001-01-01T00:00:00+01:00",
            "２026-11-27T05:21:16Z",
        ] {
            assert!(Timestamp::parse(bad).is_err(), "accepted {bad:?}");
        }
        let e = Timestamp::parse("2026-04-31T00:00:00Z").unwrap_err();
        assert_eq!(
            e.to_string(),
            "invalid timestamp \"2026-04-31T00:00:00Z\": day out of range"
        );
    }

    #[test]
    fn writes_python_isoformat() {
        let t = Timestamp::parse("2026-11-27T05:21:16.123456+00:00").unwrap();
        assert_eq!(t.to_python_string(), "2026-11-27T05:21:16.123456+00:00");
        let t = Timestamp::parse("2026-11-27T05:21:16+00:00").unwrap();
        assert_eq!(t.to_python_string(), "2026-11-27T05:21:16+00:00");
        let t = Timestamp::parse("2026-11-27T05:21:16.000001Z").unwrap();
        assert_eq!(t.to_python_string(), "2026-11-27T05:21:16.000001+00:00");
        // Sub-microsecond digits are truncated, as Python cannot hold them.
        let t = Timestamp::parse("2026-11-27T05:21:16.0000009Z").unwrap();
        assert_eq!(t.to_python_string(), "2026-11-27T05:21:16+00:00");
    }

    #[test]
    fn instants_not_strings_are_compared() {
        let a = Timestamp::parse("2026-01-01T01:00:00+01:00").unwrap();
        let b = Timestamp::parse("2026-01-01T00:00:00Z").unwrap();
        assert_eq!(a, b);
        let c = Timestamp::parse("2026-01-01T00:00:00.5+00:00").unwrap();
        assert!(c > b);
    }

    #[test]
    fn arithmetic_saturates() {
        let t = Timestamp::parse("2026-01-01T00:00:00Z").unwrap();
        assert_eq!(
            t.saturating_sub(Duration::from_secs(3600))
                .to_python_string(),
            "2025-12-31T23:00:00+00:00"
        );
        assert_eq!(
            Timestamp::MIN.saturating_sub(Duration::from_secs(1)),
            Timestamp::MIN
        );
        assert_eq!(
            Timestamp::MAX.saturating_add(Duration::from_secs(1)),
            Timestamp::MAX
        );
        assert_eq!(
            t.duration_since(t.saturating_sub(Duration::from_millis(1500))),
            Duration::from_millis(1500)
        );
        assert_eq!(t.floor_day(), t);
        assert_eq!(
            Timestamp::parse("2026-01-01T05:59:59.9Z")
                .unwrap()
                .floor_hour(),
            Timestamp::parse("2026-01-01T05:00:00Z").unwrap()
        );
    }

    #[test]
    fn canonical_fast_path_agrees_with_the_general_parser() {
        for s in [
            "2026-11-27T05:21:16.123456+00:00",
            "2026-11-27T05:21:16+00:00",
            "2026-11-27T05:21:16Z",
            "2026-11-27T05:21:16.1Z",
            "2026-11-27T05:21:16.123456789Z",
            "2026-11-27T05:21:16.1234567890Z",
            "2026-11-27T05:21:16.Z",
            "2024-02-29T00:00:00Z",
            "2023-02-29T00:00:00Z",
            "0000-01-01T00:00:00Z",
            "9999-12-31T23:59:59.999999999Z",
            "2026-11-27T24:00:00Z",
            "2026-11-27T23:60:00Z",
            "2026-11-27T23:59:60Z",
            "2026-13-01T00:00:00Z",
            "2026-11-27T05:21:16+00:01",
            "2026-11-27T05:21:16+00:00 ",
            "2026-11-27t05:21:16Z",
            "2026-1-27T05:21:16Z",
        ] {
            let fast = parse_canonical(s.as_bytes());
            let general = Timestamp::parse_general(s.as_bytes()).ok();
            if let Some(f) = fast {
                assert_eq!(Some(f), general, "{s}");
            }
        }
        assert!(parse_canonical(b"2026-11-27T05:21:16.123456+00:00").is_some());
    }

    proptest! {
        #[test]
        fn canonical_fast_path_agrees(
            y in 0u32..10000, mo in 0u32..14, d in 0u32..33, h in 0u32..26, mi in 0u32..62,
            sec in 0u32..62, frac in proptest::option::of("[0-9]{0,11}"), z in any::<bool>(),
        ) {
            let mut s = format!("{y:04}-{mo:02}-{d:02}T{h:02}:{mi:02}:{sec:02}");
            if let Some(f) = frac {
                s.push('.');
                s.push_str(&f);
            }
            s.push_str(if z { "Z" } else { "+00:00" });
            let general = Timestamp::parse_general(s.as_bytes()).ok();
            // The fast path may decline a form it does not handle (parse
            // then falls back, checked below); what it answers is exact.
            if let Some(f) = parse_canonical(s.as_bytes()) {
                prop_assert_eq!(Some(f), general, "{}", s);
            }
            prop_assert_eq!(Timestamp::parse(&s).ok(), general);
        }
    }

    proptest! {
        #[test]
        fn agrees_with_chrono(secs in MIN_SECS..=MAX_SECS, micros in 0u32..1_000_000) {
            let t = Timestamp::from_unix(secs, micros * 1000).unwrap();
            let c = DateTime::<Utc>::from_timestamp(secs, micros * 1000).unwrap();
            // Python's isoformat: six fraction digits, or none.
            let expected = if micros == 0 {
                c.format("%Y-%m-%dT%H:%M:%S+00:00").to_string()
            } else {
                c.format("%Y-%m-%dT%H:%M:%S%.6f+00:00").to_string()
            };
            prop_assert_eq!(t.to_python_string(), expected.clone());
            prop_assert_eq!(Timestamp::parse(&expected).unwrap(), t);
            let (y, m, d, ..) = t.civil();
            let nd = NaiveDate::from_ymd_opt(y, m, d).unwrap();
            prop_assert_eq!(nd, c.date_naive());
        }

        #[test]
        fn offsets_are_applied(secs in 0i64..4_000_000_000, off_min in -1439i32..1440) {
            let c = DateTime::<Utc>::from_timestamp(secs, 0).unwrap();
            let tz = chrono::FixedOffset::east_opt(off_min * 60).unwrap();
            let text = c.with_timezone(&tz).to_rfc3339();
            prop_assert_eq!(Timestamp::parse(&text).unwrap().unix_secs(), secs);
        }

        #[test]
        fn parse_never_panics(s in "\\PC{0,40}") {
            let _ = Timestamp::parse(&s);
        }
    }
}
