//! [`ReadStore`]: the query side of a backend.
//!
//! Every backend answers the queries (docs/format.md, "Queries") through this trait. Only
//! [`ReadStore::scan`] is required; the aggregates have default
//! implementations as folds over it (with the exact sums of [`crate::agg`]),
//! so a new backend is correct from its first line, and a backend that can
//! do better (a SQL `WHERE` and `GROUP BY`, a parallel scanner) overrides
//! them. Overrides must give the same answers bit for bit: the conformance
//! suite checks every backend against the file store.

use std::collections::HashSet;

use crate::agg::SpendBy;
use crate::agg::{Accuracy, AccuracyMetrics, EventCounts, GroupBy, LastN, SeqBreak, SeqTracker};
use crate::{Error, Filter, Record, Timestamp, types};

/// Records streamed in log order.
pub type RecordStream<'a> = Box<dyn Iterator<Item = Result<Record, Error>> + 'a>;

/// Problems a read met and skipped: malformed lines, damaged segments.
/// Backends that store rows (SQL) have none.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Skipped {
    /// How many things were skipped.
    pub count: u64,
    /// The first few, located (`file:line (byte N): what`).
    pub examples: Vec<String>,
}

/// What `stats` tells of the records of a store ([`ReadStore::stats`]).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct RecordStats {
    /// Records read.
    pub records: u64,
    /// Records per event type.
    pub events: EventCounts,
    /// The earliest `ts`.
    pub first_ts: Option<Timestamp>,
    /// The latest `ts`.
    pub last_ts: Option<Timestamp>,
    /// Records without a parseable `ts`.
    pub without_ts: u64,
    /// Distinct `session_id`s.
    pub sessions: u64,
}

/// A record whose `seq` is not the one its writer's previous record
/// announced ([`ReadStore::check_seqs`]).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SeqBreakAt {
    /// The record's session.
    pub session: String,
    /// The record's `writer` stamp.
    pub writer: Option<String>,
    /// The record's `seq`.
    pub seq: u64,
    /// The `seq` expected instead.
    pub expected: u64,
}

/// The `seq` check of a whole store ([`ReadStore::check_seqs`]).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SeqCheck {
    /// Records read.
    pub records: u64,
    /// Distinct sessions with a `seq`.
    pub sessions: u64,
    /// Problems: a gap, a repeat or a step back in one writer's records;
    /// the first [`MAX_LISTED_BREAKS`].
    pub gaps: Vec<SeqBreakAt>,
    /// How many gaps there are in all (a hostile store can hold one a
    /// record, so only the first ones are listed).
    pub gap_count: u64,
    /// Not problems: breaks among the unstamped records of a session that
    /// several writers used; the first [`MAX_LISTED_BREAKS`].
    pub shared: Vec<SeqBreakAt>,
    /// How many such breaks there are in all.
    pub shared_count: u64,
}

/// The most `seq` breaks of each kind a [`SeqCheck`] lists with their
/// place; the rest are counted.
pub const MAX_LISTED_BREAKS: usize = 1000;

/// What the notes about shared-session breaks end with, one text for
/// every backend.
pub const SHARED_SEQ_NOTE: &str = "(unstamped records of a session several writers used)";

/// A backend that both writes and answers queries.
pub trait Store: crate::Sink + ReadStore {}

impl<T: crate::Sink + ReadStore> Store for T {}

/// The query side of a backend. Implementations are shared between threads.
pub trait ReadStore: Send + Sync {
    /// The records matching `filter`, in log order (the order they were
    /// written in; per writer session, `seq` order). Streamed: memory does
    /// not grow with the result.
    fn scan(&self, filter: &Filter) -> Result<RecordStream<'_>, Error>;

    /// What the last read skipped (malformed lines, damaged segments).
    fn skipped(&self) -> Skipped {
        Skipped::default()
    }

    /// How many records match.
    fn count(&self, filter: &Filter) -> Result<u64, Error> {
        let mut n = 0;
        for r in self.scan(filter)? {
            r?;
            n += 1;
        }
        Ok(n)
    }

    /// Cost, records and tokens of the matching records, grouped (`None`:
    /// one group with key `None`).
    fn spend(&self, filter: &Filter, by: Option<GroupBy>) -> Result<SpendBy, Error> {
        let mut s = by.map_or_else(SpendBy::ungrouped, SpendBy::new);
        for r in self.scan(filter)? {
            s.add(&r?);
        }
        Ok(s)
    }

    /// Navigation accuracy over the matching records, from
    /// [`ReadStore::event_counts`] (where a backend pushes counting down,
    /// accuracy follows).
    fn accuracy(&self, filter: &Filter) -> Result<AccuracyMetrics, Error> {
        let c = self.event_counts(filter)?;
        Ok(Accuracy::from_counts(c.get(types::NAV), c.get(types::VALIDATION_FAIL)).finish())
    }

    /// Records per event type.
    fn event_counts(&self, filter: &Filter) -> Result<EventCounts, Error> {
        let mut c = EventCounts::default();
        for r in self.scan(filter)? {
            c.add(r?.event());
        }
        Ok(c)
    }

    /// The last `n` matching records, oldest first.
    fn last(&self, filter: &Filter, n: usize) -> Result<Vec<Record>, Error> {
        let mut l = LastN::new(n);
        for r in self.scan(filter)? {
            l.push(r?);
        }
        Ok(l.into_vec())
    }

    /// What `stats` tells of the matching records: one pass over them.
    fn stats(&self, filter: &Filter) -> Result<RecordStats, Error> {
        let mut st = RecordStats::default();
        let mut sessions = HashSet::new();
        for r in self.scan(filter)? {
            let r = r?;
            st.records += 1;
            st.events.add(r.event());
            match r.ts() {
                Some(ts) => {
                    st.first_ts = Some(st.first_ts.map_or(ts, |f| f.min(ts)));
                    st.last_ts = Some(st.last_ts.map_or(ts, |l| l.max(ts)));
                }
                None => st.without_ts += 1,
            }
            if let Some(s) = r.session_id()
                && !sessions.contains(s)
            {
                sessions.insert(s.to_owned());
            }
        }
        st.sessions = sessions.len() as u64;
        Ok(st)
    }

    /// Every writer's `seq` checked to be contiguous, per session and
    /// `writer` stamp, over all the records in log order.
    fn check_seqs(&self) -> Result<SeqCheck, Error> {
        let mut seqs = SeqTracker::default();
        let mut check = SeqCheck::default();
        for r in self.scan(&Filter::new())? {
            let r = r?;
            check.records += 1;
            let (Some(s), Some(q)) = (r.session_id(), r.seq()) else {
                continue;
            };
            let at = |expected| SeqBreakAt {
                session: s.to_owned(),
                writer: r.writer().map(str::to_owned),
                seq: q,
                expected,
            };
            let (list, count, expected) = match seqs.observe(s, r.writer(), q) {
                None => continue,
                Some(SeqBreak::Gap(e)) => (&mut check.gaps, &mut check.gap_count, e),
                Some(SeqBreak::Shared(e)) => (&mut check.shared, &mut check.shared_count, e),
            };
            *count = count.saturating_add(1);
            if list.len() < MAX_LISTED_BREAKS {
                list.push(at(expected));
            }
        }
        check.sessions = seqs.sessions();
        Ok(check)
    }
}

/// Streams records a page at a time by keyset pagination, for backends
/// that store rows under an increasing integer key: `fetch(after, limit)`
/// returns up to `limit` `(key, record)` pairs with `key > after`, in key
/// order. Memory holds one page; the first error ends the stream.
pub fn keyset_pages<'a, F>(limit: i64, fetch: F) -> RecordStream<'a>
where
    F: FnMut(i64, i64) -> Result<Vec<(i64, Record)>, Error> + 'a,
{
    Box::new(KeysetPages {
        fetch,
        limit,
        after: i64::MIN,
        page: Vec::new().into_iter(),
        done: false,
    })
}

struct KeysetPages<F> {
    fetch: F,
    limit: i64,
    after: i64,
    page: std::vec::IntoIter<(i64, Record)>,
    done: bool,
}

impl<F> Iterator for KeysetPages<F>
where
    F: FnMut(i64, i64) -> Result<Vec<(i64, Record)>, Error>,
{
    type Item = Result<Record, Error>;

    fn next(&mut self) -> Option<Self::Item> {
        loop {
            if let Some((_, r)) = self.page.next() {
                return Some(Ok(r));
            }
            if self.done {
                return None;
            }
            match (self.fetch)(self.after, self.limit) {
                Ok(rows) => {
                    self.done = i64::try_from(rows.len()).map_or(true, |n| n < self.limit);
                    if let Some((key, _)) = rows.last() {
                        self.after = *key;
                    }
                    self.page = rows.into_iter();
                }
                Err(e) => {
                    self.done = true;
                    return Some(Err(e));
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rec(n: i64) -> Record {
        match crate::decode_line(format!(r#"{{"event":"e{n}"}}"#).as_bytes()) {
            crate::Decoded::Record(r) => r,
            other => panic!("{other:?}"),
        }
    }

    /// A store of records held in memory: only `scan`, every other
    /// method its default.
    struct Held(Vec<Record>);

    impl ReadStore for Held {
        fn scan(&self, filter: &Filter) -> Result<RecordStream<'_>, Error> {
            let f = filter.clone();
            Ok(Box::new(
                self.0
                    .clone()
                    .into_iter()
                    .filter(move |r| f.matches(r))
                    .map(Ok),
            ))
        }
    }

    fn line(text: &str) -> Record {
        match crate::decode_line(text.as_bytes()) {
            crate::Decoded::Record(r) => r,
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn default_stats_and_seq_check_fold_over_scan() {
        let store = Held(vec![
            line(r#"{"ts":"2026-01-02T00:00:00Z","event":"nav","session_id":"a","seq":0}"#),
            line(r#"{"ts":"2026-01-01T00:00:00Z","event":"nav","session_id":"a","seq":2}"#),
            line(r#"{"session_id":"b","seq":0,"writer":"w"}"#),
            line(r#"{"event":"brief"}"#),
        ]);
        let st = store.stats(&Filter::new()).unwrap();
        assert_eq!(st.records, 4);
        assert_eq!(st.events.get("nav"), 2);
        assert_eq!(st.events.untyped, 1);
        assert_eq!((st.without_ts, st.sessions), (2, 2));
        assert_eq!(
            st.first_ts.unwrap().to_python_string(),
            "2026-01-01T00:00:00+00:00"
        );
        assert_eq!(
            st.last_ts.unwrap().to_python_string(),
            "2026-01-02T00:00:00+00:00"
        );
        let c = store.check_seqs().unwrap();
        assert_eq!((c.records, c.sessions), (4, 2));
        assert_eq!(
            c.gaps,
            [SeqBreakAt {
                session: "a".into(),
                writer: None,
                seq: 2,
                expected: 1
            }]
        );
        assert!(c.shared.is_empty());
        assert_eq!((c.gap_count, c.shared_count), (1, 0));
    }

    #[test]
    fn a_store_of_gaps_lists_the_first_ones_and_counts_them_all() {
        // Every record a step back: a hostile store makes one break a line.
        let n = MAX_LISTED_BREAKS as u64 + 500;
        let store = Held(
            (0..=n)
                .map(|i| {
                    line(&format!(
                        r#"{{"session_id":"a","writer":"w","seq":{}}}"#,
                        (i % 2) * 7
                    ))
                })
                .collect(),
        );
        let c = store.check_seqs().unwrap();
        assert_eq!(c.records, n + 1);
        assert_eq!(c.gap_count, n);
        assert_eq!(c.gaps.len(), MAX_LISTED_BREAKS);
        assert_eq!((c.gaps[0].seq, c.gaps[0].expected), (7, 1));
    }

    #[test]
    fn keyset_pages_walks_every_page_once_and_stops_at_an_error() {
        let keys: Vec<i64> = vec![3, 5, 8, 13, 21, 34, 55];
        let mut calls = Vec::new();
        let got: Vec<String> = keyset_pages(3, |after, limit| {
            calls.push(after);
            Ok(keys
                .iter()
                .filter(|k| **k > after)
                .take(usize::try_from(limit).unwrap())
                .map(|k| (*k, rec(*k)))
                .collect())
        })
        .map(|r| r.unwrap().event().unwrap().to_owned())
        .collect();
        assert_eq!(got, ["e3", "e5", "e8", "e13", "e21", "e34", "e55"]);
        // Pages of 3, 3, 1: the short page ends the stream.
        assert_eq!(calls, [i64::MIN, 8, 34]);

        let mut n = 0;
        let mut s = keyset_pages(2, |after, _| {
            n += 1;
            if n == 1 {
                Ok(vec![(1, rec(1)), (2, rec(2))])
            } else {
                assert_eq!(after, 2);
                Err(Error::Backend("gone".into()))
            }
        });
        assert!(s.next().unwrap().is_ok());
        assert!(s.next().unwrap().is_ok());
        assert!(matches!(s.next(), Some(Err(Error::Backend(_)))));
        assert!(s.next().is_none());
    }
}
