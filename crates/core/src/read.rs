//! [`ReadStore`]: the query side of a backend.
//!
//! Every backend answers the queries of design §5 through this trait. Only
//! [`ReadStore::scan`] is required; the aggregates have default
//! implementations as folds over it (with the exact sums of [`crate::agg`]),
//! so a new backend is correct from its first line, and a backend that can
//! do better (a SQL `WHERE` and `GROUP BY`, a parallel scanner) overrides
//! them. Overrides must give the same answers bit for bit: the conformance
//! suite checks every backend against the file store.

use crate::agg::{Accuracy, AccuracyMetrics, EventCounts, GroupBy, LastN, SpendBy};
use crate::{Error, Filter, Record, types};

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
