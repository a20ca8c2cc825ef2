//! The byte-level prefilter: rejects, before any JSON parse, lines that
//! cannot hold a record the query wants.
//!
//! **Invariant:** [`Prefilter::rejects`] is true only for lines on which
//! [`scout_audit_core::decode_line`] yields no record (whole or glued after
//! a torn fragment) that the query's filter and fold could use. Rejected
//! lines are not parsed, so a malformed one among them is not counted
//! (docs/scan.md, "Malformed lines").
//!
//! Two tests, both exact for any JSON white space and escaped strings:
//!
//! - **Time.** When the line starts with `{"ts": "…"` (any white space) and
//!   that string has no escape, its instant decides, unless another key
//!   could also be `ts`: a later `"ts"` (a duplicate key, or a record glued
//!   after a fragment, which always starts `{"ts"`) or any `\u` escape
//!   (`"t\u0073"` is the key `ts` too). Without those, the first `ts` is the
//!   record's only one.
//! - **Values.** When the query needs `event` (or `model`, `session_id`) to
//!   be one of a few strings, a record can only match if one of them
//!   appears in the line as a JSON string literal (`"nav"`) or the line
//!   has a backslash (an escaped spelling such as `"n\u0061v"`).

use memchr::memmem::Finder;
use scout_audit_core::{Filter, Timestamp};

/// A compiled prefilter for one query.
#[derive(Debug)]
pub(crate) struct Prefilter {
    /// The query's time bounds, if any.
    time: Option<Filter>,
    /// Groups of JSON string literals; a line must contain one literal of
    /// every group (or a backslash).
    groups: Vec<Vec<Finder<'static>>>,
    ts_key: Finder<'static>,
    u_escape: Finder<'static>,
}

/// `"value"` as JSON writes a string without escapes; `None` when the value
/// needs escapes (then it cannot be searched for literally).
fn literal(value: &str) -> Option<Vec<u8>> {
    if value.bytes().any(|b| b == b'"' || b == b'\\' || b < 0x20) {
        return None;
    }
    let mut v = Vec::with_capacity(value.len() + 2);
    v.push(b'"');
    v.extend_from_slice(value.as_bytes());
    v.push(b'"');
    Some(v)
}

impl Prefilter {
    /// The prefilter of a query: its filter's time bounds, and groups of
    /// values of which one must appear (`event` in `filter.events()` or
    /// in `events` the fold needs, `model`, `session_id`). `None` when it
    /// could reject nothing.
    pub(crate) fn new(filter: &Filter, fold_events: Option<&[&str]>) -> Option<Prefilter> {
        let mut groups = Vec::new();
        let mut add = |values: Vec<&str>| {
            let lits: Option<Vec<Vec<u8>>> = values.iter().map(|v| literal(v)).collect();
            if let Some(lits) = lits
                && !lits.is_empty()
            {
                groups.push(lits.iter().map(|l| Finder::new(l).into_owned()).collect());
            }
        };
        if !filter.events().is_empty() {
            add(filter.events().iter().map(String::as_str).collect());
        }
        if let Some(events) = fold_events {
            add(events.to_vec());
        }
        if let Some(m) = filter.model_name() {
            add(vec![m]);
        }
        if let Some(s) = filter.session_id() {
            add(vec![s]);
        }
        let time = filter.has_time_bounds().then(|| {
            Filter::new()
                .with_since(filter.since_bound())
                .with_until(filter.until_bound())
        });
        if time.is_none() && groups.is_empty() {
            return None;
        }
        Some(Prefilter {
            time,
            groups,
            ts_key: Finder::new(b"\"ts\"").into_owned(),
            u_escape: Finder::new(b"\\u").into_owned(),
        })
    }

    /// Whether the line cannot hold a wanted record (see the module docs).
    pub(crate) fn rejects(&self, line: &[u8]) -> bool {
        if let Some(t) = &self.time
            && let Some((ts, rest)) = first_ts(line)
        {
            let ts = Timestamp::parse_bytes(ts).ok();
            if !t.matches_time(ts)
                && self.ts_key.find(rest).is_none()
                && self.u_escape.find(rest).is_none()
            {
                return true;
            }
        }
        if !self.groups.is_empty() && memchr::memchr(b'\\', line).is_none() {
            for g in &self.groups {
                if g.iter().all(|f| f.find(line).is_none()) {
                    return true;
                }
            }
        }
        false
    }
}

fn skip_ws(b: &[u8], mut i: usize) -> usize {
    while let Some(b' ' | b'\t' | b'\r' | b'\n') = b.get(i) {
        i += 1;
    }
    i
}

/// The raw value of a first key `ts` holding a string without escapes, and
/// the rest of the line from its closing quote on.
fn first_ts(b: &[u8]) -> Option<(&[u8], &[u8])> {
    let mut i = skip_ws(b, 0);
    if b.get(i) != Some(&b'{') {
        return None;
    }
    i = skip_ws(b, i + 1);
    if b.get(i..i + 4) != Some(b"\"ts\"") {
        return None;
    }
    i = skip_ws(b, i + 4);
    if b.get(i) != Some(&b':') {
        return None;
    }
    i = skip_ws(b, i + 1);
    if b.get(i) != Some(&b'"') {
        return None;
    }
    let start = i + 1;
    let len = memchr::memchr2(b'"', b'\\', b.get(start..)?)?;
    let end = start + len;
    if b[end] != b'"' {
        return None;
    }
    // The rest starts at the closing quote: a record glued after a
    // fragment cut inside this very string (`{"ts":"2026-01-0{"ts":…`)
    // begins with the quote that closed it, and the search for a later
    // `"ts"` must see that quote.
    Some((&b[start..end], &b[end..]))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(s: &str) -> Timestamp {
        Timestamp::parse(s).unwrap()
    }

    #[test]
    fn time_and_values() {
        let f = Filter::new().since(t("2026-01-02T00:00:00Z")).event("nav");
        let p = Prefilter::new(&f, None).unwrap();
        let old = r#"{"ts":"2026-01-01T00:00:00Z","event":"nav"}"#;
        let new = r#"{"ts": "2026-01-03T00:00:00+01:00", "event": "nav"}"#;
        let brief = r#"{"ts":"2026-01-03T00:00:00Z","event":"brief"}"#;
        assert!(p.rejects(old.as_bytes()));
        assert!(!p.rejects(new.as_bytes()));
        assert!(p.rejects(brief.as_bytes()));
        // Escapes, duplicate keys and glued records are never rejected.
        for keep in [
            r#"{"ts":"2026-01-01T00:00:00Z","event":"n\u0061v"}"#,
            r#"{"ts":"2026-01-01T00:00:00Z","event":"nav","ts":"2026-01-03T00:00:00Z"}"#,
            r#"{"ts":"2026-01-01T00:00:00Z","t\u0073":"2026-01-03T00:00:00Z","event":"nav"}"#,
            r#"{"ts":"2026-01-01T00:00:00Z","ev{"ts":"2026-01-03T00:00:00Z","event":"nav"}"#,
            // A fragment cut inside the first ts: the glued record's
            // opening quote closes the fragment's string.
            r#"{"ts":"2026-01-0{"ts":"2026-01-03T00:00:00Z","event":"nav"}"#,
            r#"{"ts":"2026-01-01T00:00:00Z{"ts":"2026-01-03T00:00:00Z","event":"nav"}"#,
            r#"{"event":"nav","ts":"2026-01-03T00:00:00Z"}"#,
        ] {
            assert!(!p.rejects(keep.as_bytes()), "{keep}");
        }
        // Lines that are not records are rejected or not: either way they
        // hold no record.
        assert!(p.rejects(b"garbage"));
        // No time bound and no values: nothing to reject.
        assert!(Prefilter::new(&Filter::new(), None).is_none());
        let q = Prefilter::new(&Filter::new(), Some(&["nav", "validation_fail"])).unwrap();
        assert!(!q.rejects(br#"{"event":"validation_fail"}"#));
        assert!(q.rejects(br#"{"event":"brief"}"#));
        // A value that JSON escapes cannot be searched for: no group.
        let e = Prefilter::new(&Filter::new().event("a\"b"), None);
        assert!(e.is_none());
    }
}
