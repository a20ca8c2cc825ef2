//! Aggregates of design §5 as pure folds.
//!
//! Each aggregate is a small accumulator with `add` and `merge`, so the
//! sequential reader folds it record by record and the parallel scanner
//! folds chunks and merges them. Sums of `cost` are exact
//! ([`ExactSum`]): the answer does not depend on the order of the records
//! or on how the work was split, so every engine gives the same bits.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::time::Duration;

use serde::Serialize;

use crate::event::types;
use crate::{Record, Timestamp};

/// An exactly rounded sum of `f64`s (Shewchuk's algorithm, the one
/// Python's `math.fsum` uses): the result is the sum of the exact values
/// rounded once, whatever the order of `add` and `merge` calls.
/// Non-finite values are ignored.
///
/// Two sums are equal when they hold the same exact sum and give the same
/// value (bits, so the sign of a zero too), however their partials differ.
#[derive(Clone, Debug, Default)]
pub struct ExactSum {
    /// Non-overlapping partial sums, increasing in magnitude; their exact
    /// sum is the exact sum of everything added.
    partials: Vec<f64>,
}

impl ExactSum {
    /// The empty sum (0.0).
    pub fn new() -> ExactSum {
        ExactSum::default()
    }

    /// Adds one value (non-finite values are skipped).
    pub fn add(&mut self, x: f64) {
        if !x.is_finite() {
            return;
        }
        let mut x = x;
        let mut i = 0;
        for j in 0..self.partials.len() {
            let mut y = self.partials[j];
            if x.abs() < y.abs() {
                std::mem::swap(&mut x, &mut y);
            }
            let hi = x + y;
            let lo = y - (hi - x);
            if lo != 0.0 {
                self.partials[i] = lo;
                i += 1;
            }
            x = hi;
        }
        self.partials.truncate(i);
        if x.is_finite() {
            self.partials.push(x);
        }
    }

    /// Adds everything another sum holds.
    pub fn merge(&mut self, other: &ExactSum) {
        for &p in &other.partials {
            self.add(p);
        }
    }

    /// The partial sums (non-overlapping, increasing in magnitude) whose
    /// exact sum is everything added: what an index stores so that a sum
    /// can be continued exactly elsewhere (add them back one by one).
    pub fn partials(&self) -> &[f64] {
        &self.partials
    }

    /// The correctly rounded total.
    pub fn value(&self) -> f64 {
        let p = &self.partials;
        let mut n = p.len();
        if n == 0 {
            return 0.0;
        }
        n -= 1;
        let mut hi = p[n];
        let mut lo = 0.0;
        while n > 0 {
            let x = hi;
            n -= 1;
            let y = p[n];
            hi = x + y;
            let yr = hi - x;
            lo = y - yr;
            if lo != 0.0 {
                break;
            }
        }
        // Half-even rounding across partials, as in CPython's fsum.
        if n > 0 && ((lo < 0.0 && p[n - 1] < 0.0) || (lo > 0.0 && p[n - 1] > 0.0)) {
            let y = lo * 2.0;
            let x = hi + y;
            let yr = x - hi;
            if y == yr {
                hi = x;
            }
        }
        hi
    }
}

impl PartialEq for ExactSum {
    fn eq(&self, other: &ExactSum) -> bool {
        if self.value().to_bits() != other.value().to_bits() {
            return false;
        }
        let mut diff = self.clone();
        for &p in &other.partials {
            diff.add(-p);
        }
        // Non-overlapping partials that are not all zero never sum to zero.
        diff.partials.iter().all(|&p| p == 0.0)
    }
}

impl Extend<f64> for ExactSum {
    fn extend<I: IntoIterator<Item = f64>>(&mut self, iter: I) {
        for x in iter {
            self.add(x);
        }
    }
}

/// Python's `round(x, 2)`: the double nearest to `x` rounded to two
/// decimals, exact ties to even.
pub fn round2(x: f64) -> f64 {
    if !x.is_finite() {
        return x;
    }
    // Rust's fixed-precision formatting rounds the exact binary value,
    // ties to even, as Python's dtoa does.
    format!("{x:.2}").parse().unwrap_or(x)
}

/// The answer of `accuracy_metrics`, with the Python original's key names.
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
pub struct AccuracyMetrics {
    /// Records with `event == "nav"`.
    pub total_nav: u64,
    /// Records with `event == "validation_fail"`.
    pub validation_fail_count: u64,
    /// `round(100 * (total_nav - fails) / total_nav, 2)`, `100.0` without
    /// `nav` records; not clamped, as in the original (more failures than
    /// navigations give a negative value).
    pub accuracy_pct: f64,
}

/// The fold behind [`AccuracyMetrics`].
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Accuracy {
    total_nav: u64,
    fails: u64,
}

impl Accuracy {
    /// Counts one record of this event type.
    pub fn add(&mut self, event: Option<&str>) {
        match event {
            Some(types::NAV) => self.total_nav += 1,
            Some(types::VALIDATION_FAIL) => self.fails += 1,
            _ => {}
        }
    }

    /// The fold of `nav` navigations and `fails` validation failures.
    pub fn from_counts(nav: u64, fails: u64) -> Accuracy {
        Accuracy {
            total_nav: nav,
            fails,
        }
    }

    /// Counts `nav` navigations and `fails` validation failures at once.
    pub fn add_counts(&mut self, nav: u64, fails: u64) {
        self.total_nav += nav;
        self.fails += fails;
    }

    /// Adds another fold's counts.
    pub fn merge(&mut self, other: &Accuracy) {
        self.total_nav += other.total_nav;
        self.fails += other.fails;
    }

    /// The metrics, computed as the original does.
    pub fn finish(&self) -> AccuracyMetrics {
        let accuracy_pct = if self.total_nav == 0 {
            100.0
        } else {
            // (a - b) / a * 100.0 in the original's order of operations.
            let a = self.total_nav as f64;
            let b = self.fails as f64;
            round2((a - b) / a * 100.0)
        };
        AccuracyMetrics {
            total_nav: self.total_nav,
            validation_fail_count: self.fails,
            accuracy_pct,
        }
    }
}

/// How to group spend.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum GroupBy {
    /// UTC hour of `ts`, keyed `2026-11-27T05:00:00+00:00`.
    Hour,
    /// UTC day of `ts`, keyed `2026-11-27`.
    Day,
    /// `model`.
    Model,
    /// `session_id`.
    Session,
}

impl GroupBy {
    /// The group of a record, `None` when it has no value for the key.
    pub fn key(
        self,
        ts: Option<Timestamp>,
        model: Option<&str>,
        session: Option<&str>,
    ) -> Option<String> {
        match self {
            GroupBy::Hour => ts.map(|t| t.floor_hour().to_python_string()),
            GroupBy::Day => ts.map(|t| {
                let (y, m, d, ..) = t.civil();
                format!("{y:04}-{m:02}-{d:02}")
            }),
            GroupBy::Model => model.map(str::to_owned),
            GroupBy::Session => session.map(str::to_owned),
        }
    }
}

/// Records and cost in one group.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct SpendGroup {
    /// Records in the group.
    pub records: u64,
    /// Their exact cost sum (a missing cost counts 0).
    pub cost: ExactSum,
    /// Sum of `input_t`.
    pub input_t: u64,
    /// Sum of `output_t`.
    pub output_t: u64,
}

/// Spend grouped by a key, groups in key order (`None`, records without a
/// value for the key, first).
#[derive(Clone, Debug, PartialEq)]
pub struct SpendBy {
    /// `None`: everything in one group, keyed `None`.
    by: Option<GroupBy>,
    groups: BTreeMap<Option<String>, SpendGroup>,
}

impl SpendBy {
    /// An empty fold for this grouping.
    pub fn new(by: GroupBy) -> SpendBy {
        SpendBy {
            by: Some(by),
            groups: BTreeMap::new(),
        }
    }

    /// An empty fold with a single group (key `None`).
    pub fn ungrouped() -> SpendBy {
        SpendBy {
            by: None,
            groups: BTreeMap::new(),
        }
    }

    /// Adds one record.
    pub fn add(&mut self, r: &Record) {
        self.add_parts(
            r.ts(),
            r.model(),
            r.session_id(),
            r.cost(),
            r.input_t(),
            r.output_t(),
        );
    }

    /// Adds one record given by its typed fields: the one definition, for
    /// parsers that do not build a [`Record`].
    pub fn add_parts(
        &mut self,
        ts: Option<Timestamp>,
        model: Option<&str>,
        session: Option<&str>,
        cost: Option<f64>,
        input_t: Option<u64>,
        output_t: Option<u64>,
    ) {
        let key = self.by.and_then(|b| b.key(ts, model, session));
        let g = self.groups.entry(key).or_default();
        g.records += 1;
        if let Some(c) = cost {
            g.cost.add(c);
        }
        g.input_t = g.input_t.saturating_add(input_t.unwrap_or(0));
        g.output_t = g.output_t.saturating_add(output_t.unwrap_or(0));
    }

    /// Records over all groups.
    pub fn records(&self) -> u64 {
        self.groups.values().map(|g| g.records).sum()
    }

    /// Adds a whole group at once (from a summary such as an archive
    /// index): the same as adding its records one by one.
    pub fn add_group(&mut self, key: Option<String>, group: &SpendGroup) {
        let mine = self.groups.entry(key).or_default();
        mine.records += group.records;
        mine.cost.merge(&group.cost);
        mine.input_t = mine.input_t.saturating_add(group.input_t);
        mine.output_t = mine.output_t.saturating_add(group.output_t);
    }

    /// The grouping (`None`: one group).
    pub fn by(&self) -> Option<GroupBy> {
        self.by
    }

    /// Adds another fold of the same grouping.
    pub fn merge(&mut self, other: &SpendBy) {
        for (k, g) in &other.groups {
            self.add_group(k.clone(), g);
        }
    }

    /// The groups in key order.
    pub fn groups(&self) -> impl Iterator<Item = (Option<&str>, &SpendGroup)> {
        self.groups.iter().map(|(k, g)| (k.as_deref(), g))
    }

    /// The exact total over all groups.
    pub fn total(&self) -> f64 {
        let mut s = ExactSum::new();
        for g in self.groups.values() {
            s.merge(&g.cost);
        }
        s.value()
    }
}

/// Records per event type, in name order.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct EventCounts {
    counts: BTreeMap<String, u64>,
    /// Records whose `event` is missing or not a string.
    pub untyped: u64,
}

impl EventCounts {
    /// Counts one record.
    pub fn add(&mut self, event: Option<&str>) {
        self.add_n(event, 1);
    }

    /// Counts `n` records of one event type.
    pub fn add_n(&mut self, event: Option<&str>, n: u64) {
        match event {
            Some(e) => match self.counts.get_mut(e) {
                Some(c) => *c += n,
                None => {
                    self.counts.insert(e.to_owned(), n);
                }
            },
            None => self.untyped += n,
        }
    }

    /// Adds another fold.
    pub fn merge(&mut self, other: &EventCounts) {
        for (k, n) in &other.counts {
            *self.counts.entry(k.clone()).or_default() += n;
        }
        self.untyped += other.untyped;
    }

    /// `(event, count)` in name order.
    pub fn iter(&self) -> impl Iterator<Item = (&str, u64)> {
        self.counts.iter().map(|(k, n)| (k.as_str(), *n))
    }

    /// The count of one event type.
    pub fn get(&self, event: &str) -> u64 {
        self.counts.get(event).copied().unwrap_or(0)
    }

    /// All records counted.
    pub fn total(&self) -> u64 {
        self.counts.values().sum::<u64>() + self.untyped
    }
}

/// The last `n` items pushed, oldest first.
#[derive(Clone, Debug)]
pub struct LastN<T> {
    n: usize,
    /// At most `n` items, oldest at the front.
    items: VecDeque<T>,
}

impl<T> LastN<T> {
    /// Keeps the last `n` items (`n == 0` keeps none).
    pub fn new(n: usize) -> LastN<T> {
        LastN {
            n,
            items: VecDeque::with_capacity(n.min(4096)),
        }
    }

    /// Pushes one item, dropping the oldest when full.
    pub fn push(&mut self, item: T) {
        if self.n == 0 {
            return;
        }
        if self.items.len() == self.n {
            self.items.pop_front();
        }
        self.items.push_back(item);
    }

    /// The items, oldest first.
    pub fn into_vec(self) -> Vec<T> {
        self.items.into()
    }
}

/// How often each file appears in the `files` of records ("top files").
#[derive(Clone, Debug, Default, PartialEq)]
pub struct FileCounts {
    counts: BTreeMap<String, u64>,
}

impl FileCounts {
    /// Counts the files of one record (each occurrence counts).
    pub fn add<'a>(&mut self, files: impl IntoIterator<Item = &'a str>) {
        for f in files {
            match self.counts.get_mut(f) {
                Some(n) => *n += 1,
                None => {
                    self.counts.insert(f.to_owned(), 1);
                }
            }
        }
    }

    /// Adds another fold.
    pub fn merge(&mut self, other: &FileCounts) {
        for (k, n) in &other.counts {
            *self.counts.entry(k.clone()).or_default() += n;
        }
    }

    /// The `k` most frequent files, most frequent first, ties in name order.
    pub fn top(&self, k: usize) -> Vec<(&str, u64)> {
        let mut v: Vec<(&str, u64)> = self.counts.iter().map(|(f, n)| (f.as_str(), *n)).collect();
        v.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(b.0)));
        v.truncate(k);
        v
    }

    /// Distinct files counted.
    pub fn len(&self) -> usize {
        self.counts.len()
    }

    /// Whether no file was counted.
    pub fn is_empty(&self) -> bool {
        self.counts.is_empty()
    }
}

/// `hourly_spend(hours)`: the exact sum of `cost` over records with
/// `ts >= now - hours`; `0.0` when `hours <= 0`; a missing cost counts 0.
pub fn hourly_spend<'a>(
    records: impl IntoIterator<Item = &'a Record>,
    now: Timestamp,
    hours: f64,
) -> f64 {
    let Some(cutoff) = spend_cutoff(now, hours) else {
        return 0.0;
    };
    let mut sum = ExactSum::new();
    for r in records {
        if r.ts().is_some_and(|t| t >= cutoff) {
            sum.add(r.cost().unwrap_or(0.0));
        }
    }
    sum.value()
}

/// The `since` of `hourly_spend(hours)` at `now`; `None` when `hours <= 0`
/// (or is not a number), which means the answer is `0.0`.
pub fn spend_cutoff(now: Timestamp, hours: f64) -> Option<Timestamp> {
    if hours.is_nan() || hours <= 0.0 {
        return None;
    }
    let secs = hours * 3600.0;
    let d = Duration::try_from_secs_f64(secs).unwrap_or(Duration::MAX);
    Some(now.saturating_sub(d))
}

/// `last_events(n, event_type)`: the last `n` records of that type (any
/// type when `None`), oldest first.
pub fn last_events(
    records: impl IntoIterator<Item = Record>,
    n: usize,
    event_type: Option<&str>,
) -> Vec<Record> {
    let mut last = LastN::new(n);
    for r in records {
        if event_type.is_none_or(|e| r.event() == Some(e)) {
            last.push(r);
        }
    }
    last.into_vec()
}

/// `accuracy_metrics(since)` over records with `ts >= since` (all records
/// when `since` is `None`).
pub fn accuracy_metrics<'a>(
    records: impl IntoIterator<Item = &'a Record>,
    since: Option<Timestamp>,
) -> AccuracyMetrics {
    let mut acc = Accuracy::default();
    for r in records {
        if since.is_none_or(|s| r.ts().is_some_and(|t| t >= s)) {
            acc.add(r.event());
        }
    }
    acc.finish()
}

/// A break in `seq` met by [`SeqTracker::observe`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SeqBreak {
    /// A problem: the seq that was expected instead (a gap, a repeat or a
    /// step back in one writer's records).
    Gap(u64),
    /// Not a problem: an unstamped record of a session that several
    /// writers used (its unstamped records repeated or stepped back their
    /// seq: records of an explicit session id written before writers
    /// stamped them), with the seq that was expected.
    Shared(u64),
}

/// The `seq` each writer is expected to continue with, in log order: what
/// `verify` checks on every backend. A writer's records are those of one
/// session with one `writer` stamp (or none): each continues its own seq.
#[derive(Clone, Debug, Default)]
pub struct SeqTracker {
    next: HashMap<(String, Option<String>), u64>,
    /// Sessions whose unstamped records show several writers.
    shared: std::collections::HashSet<String>,
    sessions: std::collections::HashSet<String>,
}

impl SeqTracker {
    /// Records `seq` of `session` written by `writer` (the record's stamp);
    /// the break, when this seq is not the next one of that writer. A
    /// writer's first seq is taken as it is.
    pub fn observe(&mut self, session: &str, writer: Option<&str>, seq: u64) -> Option<SeqBreak> {
        if !self.sessions.contains(session) {
            self.sessions.insert(session.to_owned());
        }
        let key = (session.to_owned(), writer.map(str::to_owned));
        let expected = match self.next.get_mut(&key) {
            None => {
                self.next.insert(key, seq.saturating_add(1));
                return None;
            }
            Some(e) => e,
        };
        let want = *expected;
        *expected = seq.saturating_add(1);
        if seq == want {
            return None;
        }
        if writer.is_none() && (seq < want || self.shared.contains(session)) {
            self.shared.insert(session.to_owned());
            return Some(SeqBreak::Shared(want));
        }
        Some(SeqBreak::Gap(want))
    }

    /// Sessions seen.
    pub fn sessions(&self) -> u64 {
        self.sessions.len() as u64
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::{Decoded, decode_line};
    use proptest::prelude::*;

    fn rec(s: &str) -> Record {
        match decode_line(s.as_bytes()) {
            Decoded::Record(r) => r,
            o => panic!("{o:?}"),
        }
    }

    #[test]
    fn seq_tracker_reports_what_was_expected() {
        let mut t = SeqTracker::default();
        let w = Some("00000000000000aa");
        assert_eq!(t.observe("a", w, 5), None, "a first seq is taken as it is");
        assert_eq!(t.observe("a", w, 6), None);
        assert_eq!(t.observe("b", w, 0), None);
        assert_eq!(t.observe("a", w, 8), Some(SeqBreak::Gap(7)), "gap");
        assert_eq!(t.observe("a", w, 9), None, "continues after the gap");
        assert_eq!(t.observe("a", w, 9), Some(SeqBreak::Gap(10)), "repeat");
        assert_eq!(t.observe("b", w, 1), None);
        assert_eq!(t.sessions(), 2);
    }

    #[test]
    fn seq_tracker_checks_each_writer_of_a_session() {
        let mut t = SeqTracker::default();
        // Three processes logged under session X: each starts at 0.
        for w in ["w1", "w2", "w3"] {
            assert_eq!(t.observe("X", Some(w), 0), None);
        }
        assert_eq!(t.observe("X", Some("w2"), 1), None);
        assert_eq!(t.observe("X", Some("w1"), 2), Some(SeqBreak::Gap(1)));
        // Unstamped records (an old store) of a session several writers
        // used: a note from the first step back on, not a problem.
        assert_eq!(t.observe("old", None, 0), None);
        assert_eq!(t.observe("old", None, 1), None);
        assert_eq!(t.observe("old", None, 3), Some(SeqBreak::Gap(2)));
        assert_eq!(t.observe("old", None, 0), Some(SeqBreak::Shared(4)));
        assert_eq!(t.observe("old", None, 2), Some(SeqBreak::Shared(1)));
        assert_eq!(t.sessions(), 2);
    }

    #[test]
    fn exact_sum_is_exact() {
        let mut s = ExactSum::new();
        s.extend([0.1; 10]);
        assert_eq!(s.value(), 1.0);
        let mut s = ExactSum::new();
        s.extend([1e100, 1.0, -1e100, 1e-100]);
        assert_eq!(s.value(), 1.0);
        // Python: math.fsum([1e-16, 1, 1e16]) == 1.0000000000000002e16
        let mut s = ExactSum::new();
        s.extend([1e-16, 1.0, 1e16]);
        assert_eq!(s.value(), 1.0000000000000002e16);
        let mut s = ExactSum::new();
        s.extend([f64::NAN, f64::INFINITY, 2.5]);
        assert_eq!(s.value(), 2.5);
        assert_eq!(ExactSum::new().value(), 0.0);
    }

    proptest! {
        #[test]
        fn exact_sum_ignores_order_and_splits(
            xs in proptest::collection::vec(-1e6f64..1e6, 0..200),
            split in 0usize..200,
        ) {
            let mut whole = ExactSum::new();
            whole.extend(xs.iter().copied());
            let mut rev = ExactSum::new();
            rev.extend(xs.iter().rev().copied());
            let k = split.min(xs.len());
            let mut a = ExactSum::new();
            a.extend(xs[..k].iter().copied());
            let mut b = ExactSum::new();
            b.extend(xs[k..].iter().copied());
            b.merge(&a);
            prop_assert_eq!(whole.value().to_bits(), rev.value().to_bits());
            prop_assert_eq!(whole.value().to_bits(), b.value().to_bits());
        }
    }

    #[test]
    fn round2_matches_python() {
        for (x, want) in [
            (0.125, 0.12),
            (0.375, 0.38),
            (2.675, 2.67),
            (1.005, 1.0),
            (66.665, 66.67),
            (99.995, 100.0),
            (-12.345, -12.35),
        ] {
            assert_eq!(round2(x), want, "{x}");
        }
    }

    #[test]
    fn accuracy_as_the_original() {
        let mut a = Accuracy::default();
        assert_eq!(a.finish().accuracy_pct, 100.0);
        a.add(Some("validation_fail"));
        assert_eq!(
            a.finish(),
            AccuracyMetrics {
                total_nav: 0,
                validation_fail_count: 1,
                accuracy_pct: 100.0
            }
        );
        for _ in 0..3 {
            a.add(Some("nav"));
        }
        a.add(Some("brief"));
        a.add(None);
        // (3 - 1) / 3 * 100 = 66.666.. -> 66.67
        assert_eq!(a.finish().accuracy_pct, 66.67);
        let mut b = Accuracy::default();
        for _ in 0..5 {
            b.add(Some("validation_fail"));
        }
        b.merge(&a);
        // Not clamped: (3 - 6) / 3 * 100 = -100.
        assert_eq!(b.finish().accuracy_pct, -100.0);
    }

    #[test]
    fn python_api_semantics() {
        let recs: Vec<Record> = [
            r#"{"ts":"2026-01-01T09:00:00+00:00","event":"nav","cost":1.5}"#,
            r#"{"ts":"2026-01-01T10:00:00+00:00","event":"nav","cost":0.25}"#,
            r#"{"ts":"2026-01-01T10:30:00+00:00","event":"brief"}"#,
            r#"{"ts":"2026-01-01T10:45:00+00:00","event":"validation_fail","cost":null}"#,
            r#"{"ts":"bad","event":"nav","cost":100}"#,
        ]
        .into_iter()
        .map(rec)
        .collect();
        let now = Timestamp::parse("2026-01-01T11:00:00Z").unwrap();
        assert_eq!(hourly_spend(&recs, now, 1.0), 0.25);
        assert_eq!(hourly_spend(&recs, now, 2.0), 1.75);
        assert_eq!(hourly_spend(&recs, now, 0.0), 0.0);
        assert_eq!(hourly_spend(&recs, now, -3.0), 0.0);
        let last = last_events(recs.clone(), 2, Some("nav"));
        assert_eq!(last.len(), 2);
        assert_eq!(last[0].ts(), Timestamp::parse("2026-01-01T10:00:00Z").ok());
        assert_eq!(last[1].ts(), None);
        assert_eq!(last_events(recs.clone(), 0, None), vec![]);
        assert_eq!(last_events(recs.clone(), 100, None).len(), 5);
        let m = accuracy_metrics(&recs, Timestamp::parse("2026-01-01T09:30:00Z").ok());
        assert_eq!(
            (m.total_nav, m.validation_fail_count, m.accuracy_pct),
            (1, 1, 0.0)
        );
        let m = accuracy_metrics(&recs, None);
        assert_eq!((m.total_nav, m.validation_fail_count), (3, 1));
    }

    #[test]
    fn spend_by_groups() {
        let recs: Vec<Record> = [
            r#"{"ts":"2026-01-01T09:10:00+00:00","model":"a","cost":1.0,"input_t":3}"#,
            r#"{"ts":"2026-01-01T09:50:00+00:00","model":"b","cost":2.0,"output_t":4}"#,
            r#"{"ts":"2026-01-02T00:00:00+00:00","model":"a","cost":4.0}"#,
            r#"{"event":"x","cost":8.0}"#,
        ]
        .into_iter()
        .map(rec)
        .collect();
        let mut by_model = SpendBy::new(GroupBy::Model);
        let mut by_day = SpendBy::new(GroupBy::Day);
        let mut by_hour = SpendBy::new(GroupBy::Hour);
        for r in &recs {
            by_model.add(r);
            by_day.add(r);
            by_hour.add(r);
        }
        let m: Vec<_> = by_model
            .groups()
            .map(|(k, g)| (k, g.records, g.cost.value()))
            .collect();
        assert_eq!(
            m,
            vec![(None, 1, 8.0), (Some("a"), 2, 5.0), (Some("b"), 1, 2.0)]
        );
        let d: Vec<_> = by_day.groups().map(|(k, g)| (k, g.cost.value())).collect();
        assert_eq!(
            d,
            vec![
                (None, 8.0),
                (Some("2026-01-01"), 3.0),
                (Some("2026-01-02"), 4.0)
            ]
        );
        let h: Vec<_> = by_hour
            .groups()
            .map(|(k, g)| (k, g.input_t, g.output_t))
            .collect();
        assert_eq!(
            h,
            vec![
                (None, 0, 0),
                (Some("2026-01-01T09:00:00+00:00"), 3, 4),
                (Some("2026-01-02T00:00:00+00:00"), 0, 0)
            ]
        );
        assert_eq!(by_model.total(), 15.0);
        let mut merged = SpendBy::new(GroupBy::Model);
        merged.merge(&by_model);
        merged.merge(&by_model);
        assert_eq!(merged.total(), 30.0);
    }

    #[test]
    fn parts_groups_and_files() {
        let r = rec(r#"{"ts":"2026-01-01T09:10:00+00:00","model":"a","cost":1.5,"input_t":3}"#);
        let mut a = SpendBy::new(GroupBy::Hour);
        a.add(&r);
        let mut b = SpendBy::new(GroupBy::Hour);
        b.add_parts(r.ts(), Some("a"), None, Some(1.5), Some(3), None);
        assert_eq!(a, b);
        let (k, g) = a
            .groups()
            .next()
            .map(|(k, g)| (k.map(str::to_owned), g.clone()))
            .unwrap();
        let mut c = SpendBy::new(GroupBy::Hour);
        c.add_group(k.clone(), &g);
        c.add_group(k, &g);
        assert_eq!(c.total(), 3.0);
        assert_eq!(c.groups().next().unwrap().1.input_t, 6);
        let mut s = ExactSum::new();
        s.extend([1e100, 1.0, -1e100]);
        let mut t = ExactSum::new();
        t.extend(s.partials().iter().copied());
        assert_eq!(t.value(), 1.0);
        assert_eq!(t, s);
        // Equal values of different exact sums are not equal sums.
        let mut u = ExactSum::new();
        u.extend([1.0, 1e-30]);
        assert_eq!(u.value(), 1.0);
        assert_ne!(u, s);
        let mut z = ExactSum::new();
        z.add(-0.0);
        assert_ne!(z, ExactSum::new());
        let mut f = FileCounts::default();
        f.add(["b", "a", "b"]);
        let mut g2 = FileCounts::default();
        g2.add(["a", "c"]);
        f.merge(&g2);
        assert_eq!(f.top(2), vec![("a", 2), ("b", 2)]);
        assert_eq!((f.len(), f.is_empty()), (3, false));
        let mut e = EventCounts::default();
        e.add_n(Some("nav"), 3);
        e.add_n(None, 2);
        assert_eq!((e.get("nav"), e.untyped), (3, 2));
        let mut acc = Accuracy::default();
        acc.add_counts(4, 1);
        assert_eq!(acc.finish().accuracy_pct, 75.0);
    }

    #[test]
    fn counts_and_last_n() {
        let mut c = EventCounts::default();
        for e in [Some("nav"), Some("nav"), None, Some("brief")] {
            c.add(e);
        }
        let mut d = EventCounts::default();
        d.merge(&c);
        d.merge(&c);
        assert_eq!(d.iter().collect::<Vec<_>>(), vec![("brief", 2), ("nav", 4)]);
        assert_eq!((d.untyped, d.total(), d.get("zzz")), (2, 8, 0));
        let mut l = LastN::new(3);
        for i in 0..10 {
            l.push(i);
        }
        assert_eq!(l.into_vec(), vec![7, 8, 9]);
    }
}
