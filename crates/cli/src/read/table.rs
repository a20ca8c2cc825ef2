//! [`Table`]: the read backend of a table store (SQLite, PostgreSQL), on
//! its `ReadStore`: filters and aggregates pushed down to SQL where the
//! store does, folds over its records elsewhere.

use std::collections::HashSet;
use std::ops::ControlFlow;

use anyhow::Result;
use scout_audit_core::agg::{AccuracyMetrics, EventCounts, GroupBy, SeqBreak, SeqTracker};
use scout_audit_core::{Filter, ReadStore, Record, Timestamp};
use scout_audit_scan::{Answer, ScanReport, Spend};
use scout_audit_store_file::verify::seq_break_text;

use super::backend::{ReadBackend, StatsAnswer, Verified, VerifySummary};

/// A table store's `ReadStore` and its address (as `stats` and `verify`
/// print it).
pub struct Table {
    store: Box<dyn ReadStore>,
    /// `StoreAddr::describe` of the store (no password).
    addr: String,
}

impl Table {
    /// The backend of `store`, found at `addr`.
    pub fn new(store: Box<dyn ReadStore>, addr: String) -> Self {
        Table { store, addr }
    }
}

/// A table store's answer: nothing skipped, no index.
fn answer<T>(value: T) -> Answer<T> {
    Answer {
        value,
        report: ScanReport::default(),
    }
}

impl ReadBackend for Table {
    fn for_each_record(
        &self,
        filter: Filter,
        _strict: bool,
        emit: &mut dyn FnMut(Record) -> ControlFlow<()>,
    ) -> Result<ScanReport> {
        for r in self.store.scan(&filter)? {
            if emit(r?).is_break() {
                break;
            }
        }
        Ok(ScanReport::default())
    }

    fn count(&self, filter: Filter, _strict: bool) -> Result<Answer<u64>> {
        Ok(answer(self.store.count(&filter)?))
    }

    fn last(&self, filter: Filter, n: usize) -> Result<Answer<Vec<Record>>> {
        Ok(answer(self.store.last(&filter, n)?))
    }

    fn spend(&self, filter: Filter, by: Option<GroupBy>) -> Result<Answer<Spend>> {
        // One query: the grouped answer holds the totals too.
        let s = self.store.spend(&filter, by)?;
        Ok(answer(Spend {
            total: s.total(),
            records: s.records(),
            groups: by.map(|_| s),
        }))
    }

    fn accuracy(&self, filter: Filter) -> Result<Answer<AccuracyMetrics>> {
        Ok(answer(self.store.accuracy(&filter)?))
    }

    /// One pass over the records; a table store has no files to count.
    fn stats(&self, _top_files: Option<usize>) -> Result<StatsAnswer> {
        let mut counts = EventCounts::default();
        let (mut first, mut last, mut without_ts) = (None::<Timestamp>, None::<Timestamp>, 0u64);
        let mut sessions = HashSet::new();
        let mut records = 0u64;
        for r in self.store.scan(&Filter::new())? {
            let r = r?;
            records += 1;
            counts.add(r.event());
            match r.ts() {
                Some(ts) => {
                    first = Some(first.map_or(ts, |f| f.min(ts)));
                    last = Some(last.map_or(ts, |l| l.max(ts)));
                }
                None => without_ts += 1,
            }
            if let Some(s) = r.session_id()
                && !sessions.contains(s)
            {
                sessions.insert(s.to_owned());
            }
        }
        Ok(StatsAnswer {
            path: self.addr.clone(),
            records,
            events: counts,
            without_ts,
            sessions: sessions.len() as u64,
            first_ts: first,
            last_ts: last,
            files: None,
        })
    }

    /// Every writer's `seq` contiguous (per session and `writer` stamp).
    fn verify(&self) -> Result<Verified> {
        let mut seqs = SeqTracker::default();
        let (mut records, mut gaps, mut notes) = (0u64, Vec::new(), Vec::new());
        for r in self.store.scan(&Filter::new())? {
            let r = r?;
            records += 1;
            let (Some(s), Some(q)) = (r.session_id(), r.seq()) else {
                continue;
            };
            match seqs.observe(s, r.writer(), q) {
                None => {}
                Some(SeqBreak::Gap(e)) => gaps.push(seq_break_text(s, r.writer(), q, e)),
                Some(SeqBreak::Shared(e)) => notes.push(format!(
                    "note: {} (unstamped records of a session several writers used)",
                    seq_break_text(s, None, q, e)
                )),
            }
        }
        Ok(Verified {
            problem_count: gaps.len() as u64,
            ok: gaps.is_empty(),
            problems: gaps,
            quarantine: Vec::new(),
            uncompressed: Vec::new(),
            notes,
            outdated_indexes: Vec::new(),
            summary: VerifySummary::Table {
                records,
                sessions: seqs.sessions(),
                addr: self.addr.clone(),
            },
        })
    }
}
