//! [`Filter`]: which records a query wants, with the semantics of
//! docs/format.md (instants, `since` inclusive, `until` exclusive).

use crate::{Record, Timestamp};

/// A conjunction of conditions on a record. The empty filter matches
/// everything, records without a parseable `ts` included.
///
/// ```
/// use scout_audit_core::{Filter, Timestamp};
/// let since = Timestamp::parse("2026-11-01T00:00:00Z").unwrap();
/// let f = Filter::new().since(since).event("nav").model("m1");
/// assert!(f.has_time_bounds());
/// ```
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Filter {
    since: Option<Timestamp>,
    until: Option<Timestamp>,
    /// Event types to accept; empty means any.
    events: Vec<String>,
    session: Option<String>,
    model: Option<String>,
}

impl Filter {
    /// The filter that matches every record.
    pub fn new() -> Filter {
        Filter::default()
    }

    /// Only records with `ts >= since` (inclusive).
    pub fn since(mut self, since: Timestamp) -> Self {
        self.since = Some(since);
        self
    }

    /// Only records with `ts < until` (exclusive).
    pub fn until(mut self, until: Timestamp) -> Self {
        self.until = Some(until);
        self
    }

    /// Sets or clears the lower bound.
    pub fn with_since(mut self, since: Option<Timestamp>) -> Self {
        self.since = since;
        self
    }

    /// Sets or clears the upper bound.
    pub fn with_until(mut self, until: Option<Timestamp>) -> Self {
        self.until = until;
        self
    }

    /// Only records of this event type; call again to accept several.
    pub fn event(mut self, event: impl Into<String>) -> Self {
        self.events.push(event.into());
        self
    }

    /// Only records of this session.
    pub fn session(mut self, session: impl Into<String>) -> Self {
        self.session = Some(session.into());
        self
    }

    /// Only records of this model.
    pub fn model(mut self, model: impl Into<String>) -> Self {
        self.model = Some(model.into());
        self
    }

    /// The inclusive lower bound, if any.
    pub fn since_bound(&self) -> Option<Timestamp> {
        self.since
    }

    /// The exclusive upper bound, if any.
    pub fn until_bound(&self) -> Option<Timestamp> {
        self.until
    }

    /// The accepted event types (empty: any).
    pub fn events(&self) -> &[String] {
        &self.events
    }

    /// The required session, if any.
    pub fn session_id(&self) -> Option<&str> {
        self.session.as_deref()
    }

    /// The required model, if any.
    pub fn model_name(&self) -> Option<&str> {
        self.model.as_deref()
    }

    /// Whether a time bound is set (then records need a parseable `ts`).
    pub fn has_time_bounds(&self) -> bool {
        self.since.is_some() || self.until.is_some()
    }

    /// Whether the filter matches a record.
    pub fn matches(&self, r: &Record) -> bool {
        self.matches_parts(r.ts(), r.event(), r.session_id(), r.model())
    }

    /// Whether the filter matches a record with these fields: the one
    /// definition, for parsers that do not build a [`Record`].
    pub fn matches_parts(
        &self,
        ts: Option<Timestamp>,
        event: Option<&str>,
        session: Option<&str>,
        model: Option<&str>,
    ) -> bool {
        self.matches_time(ts)
            && (self.events.is_empty() || event.is_some_and(|e| self.events.iter().any(|x| x == e)))
            && self.session.as_deref().is_none_or(|s| session == Some(s))
            && self.model.as_deref().is_none_or(|m| model == Some(m))
    }

    /// Whether `ts` is within the time bounds (always true without bounds;
    /// never true for a missing `ts` with bounds).
    pub fn matches_time(&self, ts: Option<Timestamp>) -> bool {
        if !self.has_time_bounds() {
            return true;
        }
        let Some(ts) = ts else { return false };
        self.since.is_none_or(|s| ts >= s) && self.until.is_none_or(|u| ts < u)
    }

    /// Whether records with `ts` in `[first, last]` can match the time
    /// bounds (for skipping whole segments).
    pub fn overlaps(&self, first: Timestamp, last: Timestamp) -> bool {
        self.since.is_none_or(|s| last >= s) && self.until.is_none_or(|u| first < u)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::{Decoded, decode_line};

    fn rec(s: &str) -> Record {
        match decode_line(s.as_bytes()) {
            Decoded::Record(r) => r,
            o => panic!("{o:?}"),
        }
    }

    fn t(s: &str) -> Timestamp {
        Timestamp::parse(s).unwrap()
    }

    #[test]
    fn since_inclusive_until_exclusive_as_instants() {
        let r = rec(r#"{"ts":"2026-01-01T01:00:00+01:00","event":"nav"}"#);
        assert!(Filter::new().since(t("2026-01-01T00:00:00Z")).matches(&r));
        assert!(
            !Filter::new()
                .since(t("2026-01-01T00:00:00.000001Z"))
                .matches(&r)
        );
        assert!(!Filter::new().until(t("2026-01-01T00:00:00Z")).matches(&r));
        assert!(
            Filter::new()
                .until(t("2026-01-01T00:00:00.000001Z"))
                .matches(&r)
        );
    }

    #[test]
    fn records_without_ts_never_match_time_bounds() {
        let r = rec(r#"{"event":"nav","ts":"soon"}"#);
        assert!(Filter::new().matches(&r));
        assert!(Filter::new().event("nav").matches(&r));
        assert!(!Filter::new().since(Timestamp::MIN).matches(&r));
        assert!(!Filter::new().until(Timestamp::MAX).matches(&r));
    }

    #[test]
    fn field_conditions() {
        let r = rec(r#"{"ts":"2026-01-01T00:00:00Z","event":"nav","session_id":"s1","model":"m"}"#);
        assert!(Filter::new().event("brief").event("nav").matches(&r));
        assert!(!Filter::new().event("brief").matches(&r));
        assert!(Filter::new().session("s1").model("m").matches(&r));
        assert!(!Filter::new().session("s2").matches(&r));
        assert!(!Filter::new().model("n").matches(&r));
        let no_model = rec(r#"{"event":"nav"}"#);
        assert!(!Filter::new().model("m").matches(&no_model));
    }

    #[test]
    fn overlap_for_pruning() {
        let f = Filter::new()
            .since(t("2026-01-02T00:00:00Z"))
            .until(t("2026-01-03T00:00:00Z"));
        assert!(!f.overlaps(t("2026-01-01T00:00:00Z"), t("2026-01-01T23:59:59Z")));
        assert!(f.overlaps(t("2026-01-01T00:00:00Z"), t("2026-01-02T00:00:00Z")));
        assert!(!f.overlaps(t("2026-01-03T00:00:00Z"), t("2026-01-04T00:00:00Z")));
        assert!(f.overlaps(t("2026-01-02T12:00:00Z"), t("2026-01-02T13:00:00Z")));
    }
}
