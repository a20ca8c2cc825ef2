//! [`Table`]: the read backend of a table store (SQLite, PostgreSQL), on
//! its `ReadStore`: filters and aggregates pushed down to SQL where the
//! store does, `ReadStore`'s default folds over its records elsewhere
//! (`stats`, `check_seqs`).

use std::ops::ControlFlow;

use anyhow::Result;
use scout_audit_core::agg::{AccuracyMetrics, GroupBy, Sessions};
use scout_audit_core::{Filter, ReadStore, Record, SHARED_SEQ_NOTE, SeqBreakAt};
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

    /// A fold over the records the filter selects (pushed down to SQL).
    fn sessions(&self, filter: Filter) -> Result<Answer<Sessions>> {
        let mut s = Sessions::default();
        for r in self.store.scan(&filter)? {
            s.add(&r?);
        }
        Ok(answer(s))
    }

    /// One pass over the records; a table store has no files to count.
    fn stats(&self, _top_files: Option<usize>) -> Result<StatsAnswer> {
        let st = self.store.stats(&Filter::new())?;
        Ok(StatsAnswer {
            path: self.addr.clone(),
            records: st.records,
            events: st.events,
            without_ts: st.without_ts,
            sessions: st.sessions,
            first_ts: st.first_ts,
            last_ts: st.last_ts,
            files: None,
        })
    }

    /// Every writer's `seq` contiguous (per session and `writer` stamp).
    fn verify(&self) -> Result<Verified> {
        let check = self.store.check_seqs()?;
        let text = |b: &SeqBreakAt, writer: Option<&str>| {
            seq_break_text(&b.session, writer, b.seq, b.expected)
        };
        let problems: Vec<String> = check
            .gaps
            .iter()
            .map(|b| text(b, b.writer.as_deref()))
            .collect();
        let mut notes: Vec<String> = check
            .shared
            .iter()
            .map(|b| format!("note: {} {SHARED_SEQ_NOTE}", text(b, None)))
            .collect();
        let unlisted = check.shared_count.saturating_sub(check.shared.len() as u64);
        if unlisted > 0 {
            notes.push(format!("note: ... and {unlisted} more such breaks"));
        }
        Ok(Verified {
            problem_count: check.gap_count,
            ok: check.gap_count == 0,
            problems,
            quarantine: Vec::new(),
            uncompressed: Vec::new(),
            notes,
            outdated_indexes: Vec::new(),
            summary: VerifySummary::Table {
                records: check.records,
                sessions: check.sessions,
                addr: self.addr.clone(),
            },
        })
    }
}
