//! The one interface every read command runs on, whatever the store:
//! [`ReadBackend`] and its answers. `scanned.rs` and `table.rs` implement
//! it; `open` (in the module's root) picks one. Commands compute an
//! answer through it, then print the answer (`print.rs`); none of them
//! asks which backend it has.

use std::io::{self, Write};
use std::ops::ControlFlow;
use std::path::PathBuf;

use anyhow::Result;
use scout_audit_core::agg::{AccuracyMetrics, EventCounts, FileCounts, GroupBy, Sessions};
use scout_audit_core::overview::Overview;
use scout_audit_core::{Filter, Record, Timestamp};
use scout_audit_scan::{Answer, ScanReport, Spend, Status};
use scout_audit_store_file::ReadReport;
use scout_audit_store_file::seal::SealStatus;

use crate::output::{Format, RecordPrinter};

/// What a read command reads through. Each answer comes with the scan's
/// report (what was skipped, which indexes were not used); a table
/// backend's report is empty.
pub trait ReadBackend {
    /// Hands the records matching `filter` to `emit`, in log order, until
    /// it returns `Break`. `strict`: fail on the first malformed line
    /// (after handing over the records before it).
    fn for_each_record(
        &self,
        filter: Filter,
        strict: bool,
        emit: &mut dyn FnMut(Record) -> ControlFlow<()>,
    ) -> Result<ScanReport>;

    /// Writes at most `limit` records matching `filter` to `out` in
    /// `format`, in log order: the bytes of [`RecordPrinter`] printing
    /// them one by one (which this default does). A failed write is
    /// returned as its `io::Error`.
    fn write_records(
        &self,
        filter: Filter,
        strict: bool,
        limit: u64,
        format: Format,
        out: &mut dyn Write,
    ) -> Result<ScanReport> {
        let mut p = RecordPrinter::new(&mut *out, format);
        let mut n: u64 = 0;
        let mut failed: Option<io::Error> = None;
        let r = if limit == 0 {
            Ok(ScanReport::default())
        } else {
            self.for_each_record(filter, strict, &mut |r| {
                if let Err(e) = p.print(&r) {
                    failed = Some(e);
                    return ControlFlow::Break(());
                }
                n += 1;
                if n >= limit {
                    ControlFlow::Break(())
                } else {
                    ControlFlow::Continue(())
                }
            })
        };
        if let Some(e) = failed {
            return Err(e.into());
        }
        r
    }

    /// How many records match.
    fn count(&self, filter: Filter, strict: bool) -> Result<Answer<u64>>;

    /// The last `n` matching records, oldest first.
    fn last(&self, filter: Filter, n: usize) -> Result<Answer<Vec<Record>>>;

    /// Writes the last `n` matching records, oldest first, to `out` in
    /// `format`: the bytes of [`RecordPrinter`] printing them (which this
    /// default does).
    fn write_last(
        &self,
        filter: Filter,
        n: usize,
        format: Format,
        out: &mut dyn Write,
    ) -> Result<ScanReport> {
        let answer = self.last(filter, n)?;
        let mut p = RecordPrinter::new(out, format);
        for r in &answer.value {
            p.print(r)?;
        }
        Ok(answer.report)
    }

    /// The exact cost of the matching records, grouped when `by` is given.
    fn spend(&self, filter: Filter, by: Option<GroupBy>) -> Result<Answer<Spend>>;

    /// Navigation accuracy over the matching records.
    fn accuracy(&self, filter: Filter) -> Result<Answer<AccuracyMetrics>>;

    /// Per-session figures of the matching records (`sessions`).
    fn sessions(&self, filter: Filter) -> Result<Answer<Sessions>>;

    /// Every figure of `report` over the matching records (core's
    /// `Overview`). By default a fold over [`ReadBackend::for_each_record`];
    /// the scanner folds on every core.
    fn overview(&self, filter: Filter) -> Result<Answer<Overview>> {
        let mut o = Overview::default();
        let report = self.for_each_record(filter, false, &mut |r| {
            o.add(&r);
            ControlFlow::Continue(())
        })?;
        Ok(Answer { value: o, report })
    }

    /// What a report tells of the store's files and sealing: `None` for a
    /// store without files (a table store).
    fn health(&self) -> Result<Option<StoreHealth>> {
        Ok(None)
    }

    /// `status`: the cost since `hour_since`, the cost and accuracy since
    /// `day_since`. By default three queries; the scanner does it in one.
    fn status(&self, hour_since: Timestamp, day_since: Timestamp) -> Result<Answer<Status>> {
        let hour = self.spend(Filter::new().since(hour_since), None)?;
        let day = self.spend(Filter::new().since(day_since), None)?;
        let accuracy = self.accuracy(Filter::new().since(day_since))?;
        Ok(Answer {
            value: Status {
                hour: hour.value.total,
                day: day.value.total,
                accuracy: accuracy.value,
            },
            report: if hour_since < day_since {
                hour.report
            } else {
                day.report
            },
        })
    }

    /// What `stats` reports, in one pass over the records (with the
    /// `top_files` most frequent files when asked, where the backend knows
    /// them). Warnings about indexes are on stderr when this returns.
    fn stats(&self, top_files: Option<usize>) -> Result<StatsAnswer>;

    /// The read-only check of the whole store.
    fn verify(&self) -> Result<Verified>;
}

/// The store's files and sealing, as a report shows them.
#[derive(Debug)]
pub struct StoreHealth {
    /// Archives (`.gz`).
    pub archives: usize,
    /// Sealed plain segments.
    pub sealed: usize,
    /// Whether the store has a live file.
    pub live: bool,
    /// Bytes of the segments on disk (compressed for archives).
    pub bytes_on_disk: u64,
    /// Files in the store's quarantine (torn tails of recoveries).
    pub quarantine_files: usize,
    /// The seal log's account, unverified; `None`: the store is not sealed.
    pub seal: Option<SealStatus>,
}

/// `stats`'s answer.
#[derive(Debug)]
pub struct StatsAnswer {
    /// What was read, as printed: the live file, the inputs joined by
    /// spaces, or the table store's address.
    pub path: String,
    /// Records read.
    pub records: u64,
    /// Records per event type.
    pub events: EventCounts,
    /// Records without a parseable `ts`.
    pub without_ts: u64,
    /// Distinct `session_id`s.
    pub sessions: u64,
    /// The earliest `ts`.
    pub first_ts: Option<Timestamp>,
    /// The latest `ts`.
    pub last_ts: Option<Timestamp>,
    /// Segments, bytes and problems: what a file store or input files
    /// have and a table store has not (`None` there).
    pub files: Option<FileStats>,
}

/// What `stats` tells of files (a file store, or inputs).
#[derive(Debug)]
pub struct FileStats {
    /// Archives (`.gz`) among the segments read.
    pub archives: usize,
    /// Sealed plain segments (or plain input files).
    pub sealed: usize,
    /// Whether the store has a live file (never for inputs).
    pub live: bool,
    /// Bytes of the segments on disk (compressed for archives).
    pub bytes_on_disk: u64,
    /// The scan's counts and located problems (`bytes`: as read).
    pub read: ReadReport,
    /// Files in the store's quarantine (torn tails of recoveries).
    pub quarantine_files: usize,
    /// `--top-files N`: the counts, of which N are printed.
    pub top_files: Option<TopFiles>,
}

/// `--top-files N`'s answer.
#[derive(Debug)]
pub struct TopFiles {
    /// How many to print.
    pub n: usize,
    /// How often each file appears in the records' `files`.
    pub counts: FileCounts,
}

/// `verify`'s answer.
#[derive(Debug)]
pub struct Verified {
    /// Problems, one line each (all counted; `--max-problems` printed).
    pub problems: Vec<String>,
    /// Torn tails quarantined by earlier recoveries.
    pub quarantine: Vec<PathBuf>,
    /// Sealed segments not yet compressed.
    pub uncompressed: Vec<PathBuf>,
    /// Notes (breaks of `seq` that are not problems), one line each.
    pub notes: Vec<String>,
    /// Indexes of another format version, not used.
    pub outdated_indexes: Vec<OutdatedIndex>,
    /// How many problems (a file store counts some the lines group).
    pub problem_count: u64,
    /// Whether the store passed.
    pub ok: bool,
    /// The summary line's counts.
    pub summary: VerifySummary,
}

/// An index of another format version.
#[derive(Debug)]
pub struct OutdatedIndex {
    /// The index file.
    pub path: PathBuf,
    /// Its format version.
    pub version: u64,
}

/// What `verify`'s last line counts.
#[derive(Debug)]
pub enum VerifySummary {
    /// A file store: records, sessions, segments and bytes read.
    Files {
        /// Records read.
        records: u64,
        /// Distinct sessions.
        sessions: u64,
        /// Segments read.
        segments: u64,
        /// Bytes read.
        bytes: u64,
    },
    /// A table store: records and sessions of the store at `addr`. Notes
    /// beyond `--max-problems` are counted in one line.
    Table {
        /// Records read.
        records: u64,
        /// Distinct sessions.
        sessions: u64,
        /// The store's address, as printed.
        addr: String,
    },
}
