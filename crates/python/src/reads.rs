//! The reads, on any store, with the GIL released by the caller: a file
//! store through the parallel scanner (as the CLI reads it), a table store
//! through its `ReadStore`. Answers are plain Rust values; `native.rs`
//! turns them into Python.

use std::ops::ControlFlow;
use std::sync::Arc;

use scout_audit_core::agg::{AccuracyMetrics, GroupBy};
use scout_audit_core::{Durability, Filter, Record, SHARED_SEQ_NOTE, Timestamp};
use scout_audit_scan::{Inputs, Pruning, Scan};
use scout_audit_store_file::fs::RealFs;
use scout_audit_store_file::verify::seq_break_text;

use crate::errors::{Failure, Kind, Result};
use crate::open::Writer;

/// Which records a read selects (the CLI's `--since`, `--until`,
/// `--event`, `--session`, `--model`).
#[derive(Clone, Debug, Default)]
pub struct Select {
    /// Records at or after this instant.
    pub since: Option<Timestamp>,
    /// Records before this instant.
    pub until: Option<Timestamp>,
    /// Only these event types (none: any).
    pub events: Vec<String>,
    /// Only this session.
    pub session: Option<String>,
    /// Only this model.
    pub model: Option<String>,
}

impl Select {
    /// The core filter.
    pub fn filter(&self) -> Filter {
        let mut f = Filter::new().with_since(self.since).with_until(self.until);
        for e in &self.events {
            f = f.event(e.clone());
        }
        if let Some(s) = &self.session {
            f = f.session(s.clone());
        }
        if let Some(m) = &self.model {
            f = f.model(m.clone());
        }
        f
    }
}

/// Makes what a `buffered` writer holds visible to reads (the original's
/// reads saw every line logged before them).
fn settle(w: &Writer) -> Result<()> {
    match w {
        Writer::File(s) if s.durability_level() == Durability::Buffered => Ok(s.write_buffered()?),
        Writer::Table(t) if t.durability() == Durability::Buffered => Ok(t.flush()?),
        _ => Ok(()),
    }
}

/// A scan of a file store with the CLI's defaults (seal-time pruning).
fn scan(
    s: &scout_audit_store_file::FileStore,
    sel: &Select,
    threads: Option<usize>,
) -> Result<Scan> {
    Ok(Scan::new(Inputs::store(s.path())?)
        .filter(sel.filter())
        .threads(threads)
        .pruning(Pruning::SealTime))
}

/// Hands the matching records to `emit` in log order until it breaks.
pub fn for_each(
    w: &Writer,
    sel: &Select,
    threads: Option<usize>,
    mut emit: impl FnMut(Record) -> ControlFlow<()>,
) -> Result<()> {
    settle(w)?;
    match w {
        Writer::File(s) => {
            scan(s, sel, threads)?.for_each_record(emit)?;
        }
        Writer::Table(t) => {
            for r in t.scan(&sel.filter())? {
                if emit(r?).is_break() {
                    break;
                }
            }
        }
    }
    Ok(())
}

/// At most `limit` matching records, in log order.
pub fn records(
    w: &Writer,
    sel: &Select,
    limit: Option<u64>,
    threads: Option<usize>,
) -> Result<Vec<Record>> {
    let mut out = Vec::new();
    let limit = limit.unwrap_or(u64::MAX);
    if limit == 0 {
        return Ok(out);
    }
    for_each(w, sel, threads, |r| {
        out.push(r);
        if out.len() as u64 >= limit {
            ControlFlow::Break(())
        } else {
            ControlFlow::Continue(())
        }
    })?;
    Ok(out)
}

/// The last `n` matching records, oldest first.
pub fn last(w: &Writer, sel: &Select, n: usize, threads: Option<usize>) -> Result<Vec<Record>> {
    settle(w)?;
    match w {
        Writer::File(s) => Ok(scan(s, sel, threads)?.last(n)?.value),
        Writer::Table(t) => Ok(t.last(&sel.filter(), n)?),
    }
}

/// One group of `spend`: key, records, exact cost, input and output
/// tokens.
pub type Group = (Option<String>, u64, f64, u64, u64);

/// `spend`'s answer: the exact total, the records, and the groups (key,
/// records, exact cost, input and output tokens) when grouped.
#[derive(Debug)]
pub struct SpendOut {
    /// The exact sum of `cost`, correctly rounded.
    pub total: f64,
    /// Matching records.
    pub records: u64,
    /// The groups, in key order, when asked for.
    pub groups: Option<Vec<Group>>,
}

/// The exact spend of the matching records, grouped when `by` is given.
pub fn spend(
    w: &Writer,
    sel: &Select,
    by: Option<GroupBy>,
    threads: Option<usize>,
) -> Result<SpendOut> {
    settle(w)?;
    let (total, records, groups) = match w {
        Writer::File(s) => {
            let a = scan(s, sel, threads)?.spend(by)?.value;
            (a.total, a.records, a.groups)
        }
        Writer::Table(t) => {
            let s = t.spend(&sel.filter(), by)?;
            (s.total(), s.records(), by.map(|_| s))
        }
    };
    let groups = match groups {
        None => None,
        Some(g) => {
            let mut out = Vec::new();
            for (k, grp) in g.groups() {
                let cost = grp.cost.value()?;
                out.push((
                    k.map(str::to_owned),
                    grp.records,
                    cost,
                    grp.input_t,
                    grp.output_t,
                ));
            }
            Some(out)
        }
    };
    Ok(SpendOut {
        total: total?,
        records,
        groups,
    })
}

/// Navigation accuracy over the matching records.
pub fn accuracy(w: &Writer, sel: &Select, threads: Option<usize>) -> Result<AccuracyMetrics> {
    settle(w)?;
    match w {
        Writer::File(s) => Ok(scan(s, sel, threads)?.accuracy()?.value),
        Writer::Table(t) => Ok(t.accuracy(&sel.filter())?),
    }
}

/// `stats`'s answer.
#[derive(Debug, Default)]
pub struct StatsOut {
    /// Records read.
    pub records: u64,
    /// Records per event type.
    pub events: Vec<(String, u64)>,
    /// Records without an `event` string.
    pub untyped: u64,
    /// The earliest `ts`.
    pub first_ts: Option<Timestamp>,
    /// The latest `ts`.
    pub last_ts: Option<Timestamp>,
    /// Records without a parseable `ts`.
    pub without_ts: u64,
    /// Distinct sessions.
    pub sessions: u64,
    /// Malformed lines, torn tails and fragments, damaged segments skipped.
    pub skipped: u64,
}

/// What `stats` tells of the whole store, in one pass.
pub fn stats(w: &Writer, threads: Option<usize>) -> Result<StatsOut> {
    settle(w)?;
    let (st, records, skipped) = match w {
        Writer::File(s) => {
            let a = scan(s, &Select::default(), threads)?.stats()?;
            let r = &a.report.read;
            let skipped = r.malformed + r.torn_tails + r.torn_fragments + r.damaged_segments;
            (a.value, r.records, skipped)
        }
        Writer::Table(t) => {
            let st = t.stats(&Filter::new())?;
            let out = scout_audit_scan::Stats {
                events: st.events,
                first_ts: st.first_ts,
                last_ts: st.last_ts,
                without_ts: st.without_ts,
                sessions: st.sessions,
            };
            (out, st.records, 0)
        }
    };
    Ok(StatsOut {
        records,
        events: st.events.iter().map(|(e, n)| (e.to_owned(), n)).collect(),
        untyped: st.events.untyped,
        first_ts: st.first_ts,
        last_ts: st.last_ts,
        without_ts: st.without_ts,
        sessions: st.sessions,
        skipped,
    })
}

/// `verify`'s answer.
#[derive(Debug, Default)]
pub struct VerifyOut {
    /// Whether the store passed.
    pub ok: bool,
    /// How many problems.
    pub problem_count: u64,
    /// The problems, one line each (as the CLI prints them).
    pub problems: Vec<String>,
    /// Notes that are not problems.
    pub notes: Vec<String>,
    /// Records read.
    pub records: u64,
    /// Distinct sessions.
    pub sessions: u64,
}

/// The read-only check of the whole store (the CLI's `verify`).
pub fn verify(w: &Writer) -> Result<VerifyOut> {
    settle(w)?;
    match w {
        Writer::File(s) => {
            let rep = scout_audit_store_file::verify::verify(Arc::new(RealFs), s.layout())?;
            Ok(VerifyOut {
                ok: rep.is_ok(),
                problem_count: rep.problem_count(),
                problems: rep.problem_lines(),
                notes: rep.note_lines(),
                records: rep.read.records,
                sessions: rep.sessions,
            })
        }
        Writer::Table(t) => {
            let check = t.check_seqs()?;
            let problems = check
                .gaps
                .iter()
                .map(|b| seq_break_text(&b.session, b.writer.as_deref(), b.seq, b.expected))
                .collect();
            let notes = check
                .shared
                .iter()
                .map(|b| {
                    let t = seq_break_text(&b.session, None, b.seq, b.expected);
                    format!("note: {t} {SHARED_SEQ_NOTE}")
                })
                .collect();
            Ok(VerifyOut {
                ok: check.gap_count == 0,
                problem_count: check.gap_count,
                problems,
                notes,
                records: check.records,
                sessions: check.sessions,
            })
        }
    }
}

/// A group-by name (`spend(by=...)`).
pub fn group_by(name: &str) -> Result<GroupBy> {
    match name {
        "hour" => Ok(GroupBy::Hour),
        "day" => Ok(GroupBy::Day),
        "model" => Ok(GroupBy::Model),
        "session" => Ok(GroupBy::Session),
        other => Err(Failure::new(
            Kind::Argument,
            format!("by must be \"hour\", \"day\", \"model\" or \"session\", not {other:?}"),
        )),
    }
}
