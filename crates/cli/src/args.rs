//! Parsing of time, duration and size arguments.

use std::time::Duration;

use scout_audit_core::Timestamp;

/// A time argument: `2h` (that long before now), `2026-11-27` (midnight
/// UTC), an RFC 3339 timestamp, or `now`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TimeArg {
    /// That long before "now".
    Ago(Duration),
    /// An instant.
    At(Timestamp),
}

impl TimeArg {
    /// Parses a time argument.
    pub fn parse(s: &str) -> Result<TimeArg, String> {
        let s = s.trim();
        if s == "now" {
            return Ok(TimeArg::Ago(Duration::ZERO));
        }
        if let Ok(d) = parse_duration(s)
            && s.bytes().next().is_some_and(|b| b.is_ascii_digit())
            && s.bytes().last().is_some_and(|b| b.is_ascii_alphabetic())
        {
            return Ok(TimeArg::Ago(d));
        }
        if s.len() == 10
            && let [y, m, d] = s.split('-').collect::<Vec<_>>()[..]
            && let (Ok(y), Ok(m), Ok(d)) = (y.parse(), m.parse(), d.parse())
        {
            return Timestamp::from_date(y, m, d)
                .map(TimeArg::At)
                .ok_or_else(|| format!("{s:?} is not a date"));
        }
        Timestamp::parse(s).map(TimeArg::At).map_err(|_| {
            format!("{s:?} is not a time: use 2h, 30d, 2026-11-27 or 2026-11-27T05:00:00Z")
        })
    }

    /// The instant, given "now".
    pub fn resolve(self, now: Timestamp) -> Timestamp {
        match self {
            TimeArg::Ago(d) => now.saturating_sub(d),
            TimeArg::At(t) => t,
        }
    }
}

/// Parses `1.5s`, `250ms`, `30m`, `2h`, `90d`, `1w`, or a number of seconds.
pub fn parse_duration(s: &str) -> Result<Duration, String> {
    let s = s.trim();
    let split = s
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(s.len());
    let (num, unit) = s.split_at(split);
    let n: f64 = num
        .parse()
        .map_err(|_| format!("{s:?} is not a duration: use 250ms, 10s, 30m, 2h, 90d or 1w"))?;
    let secs = match unit.trim() {
        "" | "s" | "sec" | "secs" => n,
        "ms" => n / 1000.0,
        "m" | "min" | "mins" => n * 60.0,
        "h" | "hour" | "hours" => n * 3600.0,
        "d" | "day" | "days" => n * 86_400.0,
        "w" | "week" | "weeks" => n * 604_800.0,
        other => {
            return Err(format!(
                "unknown unit {other:?} in {s:?} (use ms, s, m, h, d or w)"
            ));
        }
    };
    Duration::try_from_secs_f64(secs).map_err(|_| format!("{s:?} is out of range"))
}

/// Parses `1048576`, `512K`, `10M`, `1G` (binary multiples; `MiB`, `KB` accepted).
pub fn parse_size(s: &str) -> Result<u64, String> {
    let s = s.trim();
    let split = s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len());
    let (num, unit) = s.split_at(split);
    let n: u64 = num
        .parse()
        .map_err(|_| format!("{s:?} is not a size: use 1048576, 512K, 10M or 1G"))?;
    let mult: u64 = match unit.trim().to_ascii_uppercase().as_str() {
        "" | "B" => 1,
        "K" | "KB" | "KIB" => 1 << 10,
        "M" | "MB" | "MIB" => 1 << 20,
        "G" | "GB" | "GIB" => 1 << 30,
        other => return Err(format!("unknown size unit {other:?} in {s:?}")),
    };
    n.checked_mul(mult)
        .ok_or_else(|| format!("{s:?} is too large"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times() {
        let now = Timestamp::parse("2026-11-27T12:00:00Z").unwrap();
        let check = |s: &str, want: &str| {
            assert_eq!(
                TimeArg::parse(s).unwrap().resolve(now),
                Timestamp::parse(want).unwrap(),
                "{s}"
            )
        };
        check("2h", "2026-11-27T10:00:00Z");
        check("90d", "2026-08-29T12:00:00Z");
        check("1.5h", "2026-11-27T10:30:00Z");
        check("now", "2026-11-27T12:00:00Z");
        check("2026-11-01", "2026-11-01T00:00:00Z");
        check("2026-11-01T05:00:00+02:00", "2026-11-01T03:00:00Z");
        for bad in ["yesterday", "2026-02-30", "-2h", "2h ago", ""] {
            assert!(TimeArg::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn durations_and_sizes() {
        assert_eq!(parse_duration("250ms").unwrap(), Duration::from_millis(250));
        assert_eq!(parse_duration("1.5").unwrap(), Duration::from_millis(1500));
        assert_eq!(parse_duration("0").unwrap(), Duration::ZERO);
        assert!(parse_duration("3 fortnights").is_err());
        assert_eq!(parse_size("10M").unwrap(), 10 << 20);
        assert_eq!(parse_size("512KiB").unwrap(), 512 << 10);
        assert_eq!(parse_size("77").unwrap(), 77);
        assert!(parse_size("1.5G").is_err());
        assert!(parse_size("99999999999G").is_err());
    }
}
