//! `status`: the spend since two instants and the accuracy since the
//! later-starting day, from one scan (the CLI's status line), where three
//! queries would read the live file three times.

use scout_audit_core::agg::{Accuracy, AccuracyMetrics, ExactSum, SumOverflow};
use scout_audit_core::event::types;
use scout_audit_core::{Filter, Timestamp};
use scout_audit_store_file::index::Summary;

use crate::fields::Want;
use crate::fold::{Fold, Matched, buckets};

/// The answer of [`crate::Scan::status`].
#[derive(Clone, Debug, PartialEq)]
pub struct Status {
    /// The exact cost of the records at or after `hour_since`.
    pub hour: Result<f64, SumOverflow>,
    /// The exact cost of the records at or after `day_since`.
    pub day: Result<f64, SumOverflow>,
    /// `accuracy_metrics` of the records at or after `day_since`.
    pub accuracy: AccuracyMetrics,
}

/// The fold: two windows' exact costs and one's accuracy.
#[derive(Clone, Debug)]
pub(crate) struct StatusFold {
    pub hour_since: Timestamp,
    pub day_since: Timestamp,
    pub hour: ExactSum,
    pub day: ExactSum,
    pub acc: Accuracy,
}

impl StatusFold {
    /// An empty fold of these windows.
    pub fn new(hour_since: Timestamp, day_since: Timestamp) -> StatusFold {
        StatusFold {
            hour_since,
            day_since,
            hour: ExactSum::new(),
            day: ExactSum::new(),
            acc: Accuracy::default(),
        }
    }

    /// The filter of the scan: from the earlier window's start.
    pub fn filter(&self) -> Filter {
        Filter::new().since(self.hour_since.min(self.day_since))
    }

    /// What the scan answers.
    pub fn finish(&self) -> Status {
        Status {
            hour: self.hour.value(),
            day: self.day.value(),
            accuracy: self.acc.finish(),
        }
    }
}

/// Whether the hour bucket starting at `start` (seconds) is wholly at or
/// after `since` (`Some(true)`), wholly before it (`Some(false)`), or
/// split by it (`None`).
fn bucket_after(start: i64, since: Timestamp) -> Option<bool> {
    let at = Timestamp::from_unix(start, 0)?;
    if at >= since {
        return Some(true);
    }
    let end = Timestamp::from_unix(start.checked_add(3600)?, 0)?;
    (end <= since).then_some(false)
}

impl Fold for StatusFold {
    fn want(&self) -> Want {
        Want {
            ts: true,
            event: true,
            cost: true,
            ..Want::default()
        }
    }
    fn add(&mut self, m: &Matched<'_, '_>) {
        let f = m.fields;
        let Some(ts) = f.ts else { return };
        let cost = f.cost.unwrap_or(0.0);
        if ts >= self.hour_since {
            self.hour.add(cost);
        }
        if ts >= self.day_since {
            self.day.add(cost);
            self.acc.add(f.event());
        }
    }
    fn merge(&mut self, later: Self) {
        self.hour.merge(&later.hour);
        self.day.merge(&later.day);
        self.acc.merge(&later.acc);
    }
    /// From the hour buckets, when neither window's start splits one.
    fn answer_from_index(&self, s: &Summary, filter: &Filter) -> Option<Self> {
        let mut out = StatusFold::new(self.hour_since, self.day_since);
        for (hour, event, t) in buckets(s, filter)? {
            let start = hour?;
            if bucket_after(start, self.hour_since)? {
                t.add_cost_to(&mut out.hour);
            }
            if bucket_after(start, self.day_since)? {
                t.add_cost_to(&mut out.day);
                match event {
                    Some(types::NAV) => out.acc.add_counts(t.records, 0),
                    Some(types::VALIDATION_FAIL) => out.acc.add_counts(0, t.records),
                    _ => {}
                }
            }
        }
        Some(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_bucket_is_after_before_or_split() {
        let t = |s: &str| Timestamp::parse(s).unwrap();
        let h11 = t("2026-03-01T11:00:00Z").unix_secs();
        for (since, want) in [
            ("2026-03-01T11:00:00Z", Some(true)),
            ("2026-03-01T10:59:59.999999Z", Some(true)),
            ("2026-03-01T12:00:00Z", Some(false)),
            ("2026-03-01T11:00:00.000001Z", None),
            ("2026-03-01T11:59:59Z", None),
        ] {
            assert_eq!(bucket_after(h11, t(since)), want, "{since}");
        }
        // Out of the range of timestamps: no answer, never a panic.
        assert_eq!(bucket_after(i64::MAX, t("2026-03-01T11:00:00Z")), None);
    }
}
