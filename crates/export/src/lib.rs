//! scout-audit-export: a scout-audit log as hive-partitioned Parquet
//! (`DIR/date=YYYY-MM-DD/part-RUN.parquet`), incrementally, for engines
//! beyond one machine (DuckDB, Spark, Trino, ...). `scout-audit export`
//! is this crate on the command line (docs/export.md).
//!
//! - [`export`]: the records of any [`ReadStore`] matching a filter, into
//!   one part file per date partition.
//! - [`export_segments`]: a file store's segments (or any [`Inputs`]) in
//!   parallel on scoped workers, in groups of consecutive sources (each
//!   worker takes the next group), each group into its own parts: one per
//!   date, across the group's sources.
//! - [`export_from`]: the records a callback hands over.
//! - [`ExportSummary`]: what a run wrote; [`Error`]: what went wrong.
//!
//! **Schema** ([`SCHEMA`], docs/export.md): typed columns for the known
//! fields, JSON text for `files`, `config` and every other field
//! (`extra`). A known field with an unexpected type goes to `extra` as
//! written, so nothing is lost.
//!
//! **Incremental.** `DIR/_scout_audit_export.json` records, per writer
//! (a session and a `writer` stamp, or a session's unstamped records), the
//! highest `seq` exported, and for records without `seq` (the Python
//! original's) the latest `ts`. One writer's records continue one seq in
//! log order, so a mark per writer skips only what was exported; several
//! processes logging under one session id stamp their records, each its
//! own writer, and are never taken for one another. A run exports only
//! records beyond those marks, writes its parts under a new run number,
//! and then replaces the manifest atomically; parts of a run that never
//! reached the manifest (an interrupted export) are deleted by the next
//! run before it starts, so an interrupted export is simply redone.
//!
//! **Whose files.** An export touches only its own files: it writes into
//! an empty or missing directory (saving its manifest there before its
//! first part), or one holding its manifest with nothing but `date=`
//! directories of part files beside it, and refuses any other (another
//! tool's data set). It deletes only regular files named as the parts of
//! the one run that can have been interrupted (the manifest's committed
//! runs + 1). Parts and the manifest are created exclusively without
//! following links, mode 0600, in directories of mode 0700, as the file
//! store's files are.
//!
//! ```
//! use scout_audit_core::{Decoded, decode_line};
//! # let dir = tempfile::tempdir()?;
//! let out = dir.path().join("export");
//! let line = br#"{"ts":"2026-01-02T03:04:05+00:00","event":"nav","session_id":"s","seq":0}"#;
//! let Decoded::Record(r) = decode_line(line) else { unreachable!() };
//! let first = scout_audit_export::export_from(&out, |emit| emit(r.clone()))?;
//! assert_eq!((first.records, first.files, first.run), (1, 1, 1));
//! assert!(out.join("date=2026-01-02/part-000001.parquet").is_file());
//! // Again: the manifest says it was exported.
//! let again = scout_audit_export::export_from(&out, |emit| emit(r.clone()))?;
//! assert_eq!((again.records, again.already, again.run), (0, 1, 2));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

mod columns;
mod dir;
mod error;
mod line;
mod manifest;
mod props;
mod run;
mod store;

use std::ops::ControlFlow;
use std::path::Path;

use scout_audit_core::writer::lock_ignoring_poison;
use scout_audit_core::{Filter, ReadStore, Record, Skipped};
use scout_audit_scan::{Inputs, Scan};
use scout_audit_store_file::ReadReport;
use std::sync::Mutex;

pub use error::{Error, Result};
pub use store::export_store;

use run::{Done, Run, Writer};

/// The Parquet schema of an export, version 1.
pub const SCHEMA: &str = "message scout_audit_event {
  OPTIONAL INT64 ts (TIMESTAMP(MICROS,true));
  OPTIONAL BYTE_ARRAY event (STRING);
  OPTIONAL BYTE_ARRAY session_id (STRING);
  OPTIONAL INT64 seq;
  OPTIONAL DOUBLE cost;
  OPTIONAL BYTE_ARRAY model (STRING);
  OPTIONAL INT64 input_t;
  OPTIONAL INT64 output_t;
  OPTIONAL BYTE_ARRAY files (STRING);
  OPTIONAL BYTE_ARRAY reason (STRING);
  OPTIONAL DOUBLE confidence;
  OPTIONAL DOUBLE duration_ms;
  OPTIONAL BYTE_ARRAY config (STRING);
  OPTIONAL BYTE_ARRAY extra (STRING);
}";

/// What a run exported.
#[derive(Debug, Default)]
pub struct ExportSummary {
    /// Records written.
    pub records: u64,
    /// Records skipped: exported by an earlier run.
    pub already: u64,
    /// Part files written.
    pub files: u64,
    /// The run number.
    pub run: u64,
}

/// Exports the records of `store` matching `filter` into `dir`.
pub fn export(store: &dyn ReadStore, filter: &Filter, dir: &Path) -> Result<ExportSummary> {
    export_from(dir, |emit| {
        for r in store.scan(filter)? {
            emit(r?)?;
        }
        Ok(())
    })
}

/// Exports the records `feed` hands to its callback into `dir`, in one
/// part file per date partition (`part-RUN.parquet`).
pub fn export_from(
    dir: &Path,
    feed: impl FnOnce(&mut dyn FnMut(Record) -> Result<()>) -> Result<()>,
) -> Result<ExportSummary> {
    let run = Run::begin(dir)?;
    let mut w = run.writer();
    feed(&mut |r| w.add(&r))?;
    let done = w.finish()?;
    let mut marks = run.before_marks();
    marks.absorb(&done.marks);
    run.commit(marks)?;
    Ok(ExportSummary {
        records: done.records,
        already: done.already,
        files: done.files,
        run: run.number,
    })
}

/// Exports the records of `inputs` (a file store's segments and live
/// file, or any files) matching `filter` into `dir`, on `threads`
/// workers, in groups of consecutive sources ([`groups`]), each group
/// into its own part files, one per date (`part-RUN-NNNNN.parquet`, NNNNN
/// the place in log order of the source where the part was opened). The
/// summary, and what the scan skipped (its first example the first in log
/// order).
pub fn export_segments(
    dir: &Path,
    inputs: Inputs,
    filter: &Filter,
    threads: usize,
) -> Result<(ExportSummary, Skipped)> {
    let run = Run::begin(dir)?;
    parallel(&run, inputs.split(), threads, |w, ins| {
        export_source(w, ins, filter)
    })
}

/// How many groups of consecutive sources `threads` workers share: two a
/// worker, so that a worker slowed down by the machine leaves at most
/// about half of its share to the others, while a date split between two
/// groups costs one more part file.
const GROUPS_PER_THREAD: usize = 2;

/// `sources` (in log order, numbered) cut into at most
/// `GROUPS_PER_THREAD × threads` groups of consecutive sources, of sizes
/// differing by at most one, in log order.
fn groups<S>(sources: Vec<S>, threads: usize) -> Vec<Vec<(usize, S)>> {
    let n = sources.len();
    if n == 0 {
        return Vec::new();
    }
    let count = (threads.max(1) * GROUPS_PER_THREAD).min(n).max(1);
    let mut out: Vec<Vec<(usize, S)>> = (0..count).map(|_| Vec::new()).collect();
    for (i, s) in sources.into_iter().enumerate() {
        // Group g holds sources [g * n / count, (g + 1) * n / count).
        out[i * count / n].push((i, s));
    }
    out
}

/// Exports `sources` (in log order) on `threads` workers, in groups of
/// consecutive sources ([`groups`]), each group with one writer and each
/// source by `one` (given the group's writer, named after the source), then commits the run: the summary, and what the reads
/// skipped (its first example the first in log order).
fn parallel<S: Send>(
    run: &Run,
    sources: Vec<S>,
    threads: usize,
    one: impl Fn(&mut Writer<'_>, S) -> Result<ReadReport> + Sync,
) -> Result<(ExportSummary, Skipped)> {
    // The groups in log order, each taken once by whichever worker is free.
    let queue = Mutex::new(groups(sources, threads).into_iter().enumerate());
    let group = |g: Vec<(usize, S)>| -> Result<SourceDone> {
        let mut w = run.writer();
        let mut read = ReadReport::default();
        for (i, src) in g {
            w.at_source(i);
            read.merge(one(&mut w, src)?);
        }
        Ok(SourceDone {
            done: w.finish()?,
            read,
        })
    };
    // One scoped thread per worker, each taking the next group until none
    // is left (decision 66). Not rayon's workers: each source's scan runs
    // on a rayon pool of its own, and a rayon worker waiting on another
    // pool spins and steals before it sleeps, which on two cores took
    // CPU from the scans (5% slower, measured on 1 GiB).
    let per_thread: Vec<Vec<(usize, Result<SourceDone>)>> = std::thread::scope(|sc| {
        let workers: Vec<_> = (0..threads.max(1))
            .map(|_| {
                sc.spawn(|| {
                    let mut mine = Vec::new();
                    loop {
                        let next = lock_ignoring_poison(&queue).next();
                        let Some((i, g)) = next else { break };
                        mine.push((i, group(g)));
                    }
                    mine
                })
            })
            .collect();
        workers
            .into_iter()
            .map(|w| w.join().unwrap_or_else(|p| std::panic::resume_unwind(p)))
            .collect()
    });
    let mut results: Vec<(usize, Result<SourceDone>)> = per_thread.into_iter().flatten().collect();
    results.sort_by_key(|(i, _)| *i);
    let mut total = ExportSummary {
        run: run.number,
        ..ExportSummary::default()
    };
    let mut skipped = Skipped::default();
    let mut marks = run.before_marks();
    for (_, r) in results {
        let SourceDone { done, read } = r?;
        total.records += done.records;
        total.already += done.already;
        total.files += done.files;
        marks.absorb(&done.marks);
        skipped.count += read.problem_count();
        if skipped.examples.is_empty()
            && let Some(p) = read.problems.first()
        {
            skipped.examples.push(p.to_string());
        }
    }
    run.commit(marks)?;
    Ok((total, skipped))
}

/// What exporting one source wrote, and what its scan met.
pub(crate) struct SourceDone {
    pub done: Done,
    pub read: ReadReport,
}

/// Exports one source of a run into `w` (one thread: the pool is over
/// groups of sources): what its scan read.
fn export_source(w: &mut Writer<'_>, ins: Inputs, filter: &Filter) -> Result<ReadReport> {
    let scan = Scan::new(ins).threads(Some(1)).filter(filter.clone());
    let mut failed = None;
    let report = scan.for_each_record(|rec| match w.add(&rec) {
        Ok(()) => ControlFlow::Continue(()),
        Err(e) => {
            failed = Some(e);
            ControlFlow::Break(())
        }
    })?;
    if let Some(e) = failed {
        return Err(e);
    }
    Ok(report.read)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sizes(n: usize, threads: usize) -> Vec<Vec<usize>> {
        groups((0..n).collect(), threads)
            .into_iter()
            .map(|g| {
                g.into_iter()
                    .map(|(i, s)| {
                        assert_eq!(i, s);
                        i
                    })
                    .collect()
            })
            .collect()
    }

    #[test]
    fn groups_are_consecutive_sources_of_even_sizes() {
        assert_eq!(sizes(0, 2), Vec::<Vec<usize>>::new());
        assert_eq!(sizes(3, 2), [vec![0], vec![1], vec![2]]);
        assert_eq!(sizes(3, 1), [vec![0, 1], vec![2]]);
        assert_eq!(sizes(7, 2), [vec![0, 1], vec![2, 3], vec![4, 5], vec![6]]);
        assert_eq!(sizes(2, 0), [vec![0], vec![1]]);
        assert_eq!(sizes(9, 1), [vec![0, 1, 2, 3, 4], vec![5, 6, 7, 8]]);
    }
}
