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
use crate::{Error, Filter, Record};

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

    /// Navigation accuracy over the matching records.
    fn accuracy(&self, filter: &Filter) -> Result<AccuracyMetrics, Error> {
        let mut a = Accuracy::default();
        for r in self.scan(filter)? {
            a.add(r?.event());
        }
        Ok(a.finish())
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
