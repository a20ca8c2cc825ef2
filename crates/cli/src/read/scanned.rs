//! [`Scanned`]: the read backend of a file store and of input files, on
//! the parallel scanner (`scout_audit_scan`), with the progress bar.

use std::io::Write;
use std::ops::ControlFlow;
use std::path::PathBuf;
use std::sync::Arc;

use anyhow::{Result, bail};
use scout_audit_core::agg::{AccuracyMetrics, GroupBy, Sessions};
use scout_audit_core::overview::Overview;
use scout_audit_core::{Filter, Record, Timestamp};
use scout_audit_scan::{Answer, Inputs, Pruning, Scan, ScanReport, Spend, Status};
use scout_audit_store_file::Layout;
use scout_audit_store_file::fs::{Fs, RealFs};

use super::backend::{
    FileStats, OutdatedIndex, ReadBackend, StatsAnswer, StoreHealth, TopFiles, Verified,
    VerifySummary,
};
use super::print::report_indexes;
use super::records::{ChunkWriter, FormatRender};
use crate::Cli;
use crate::output::Format;
use crate::progress::with_progress;

/// The scanner over the command's inputs, else over the store at
/// `--path`. Each query lists the inputs afresh (a store's snapshot is
/// taken when the query starts).
pub struct Scanned<'a> {
    cli: &'a Cli,
    /// The positional inputs; empty: the store.
    given: &'a [PathBuf],
}

impl<'a> Scanned<'a> {
    /// The scanner over `given`, or the store when it is empty.
    pub fn new(cli: &'a Cli, given: &'a [PathBuf]) -> Self {
        Scanned { cli, given }
    }

    /// The inputs: the positional ones, else the store.
    fn inputs(&self) -> Result<Inputs> {
        if self.given.is_empty() {
            Ok(Inputs::store(self.cli.store_path()?)?)
        } else {
            Ok(Inputs::paths(self.given)?)
        }
    }

    /// A scan of `inputs` with the command line's settings.
    fn configure(&self, inputs: Inputs) -> Scan {
        Scan::new(inputs)
            .threads(self.cli.threads)
            .pruning(if self.cli.no_prune {
                Pruning::Off
            } else {
                Pruning::SealTime
            })
    }

    /// A scan of the inputs with the command line's settings.
    fn scan(&self, filter: Filter) -> Result<Scan> {
        Ok(self.configure(self.inputs()?).filter(filter))
    }

    /// What the store's directory holds, for `stats` (listed after the scan).
    fn store_files(&self) -> Result<StoreFiles> {
        let path = self.cli.store_path()?;
        let layout = Layout::new(&path)
            .map_err(|r| anyhow::anyhow!("invalid store path {}: {r}", path.display()))?;
        let fs: Arc<dyn Fs> = Arc::new(RealFs);
        let listing = layout.list(&*fs)?;
        let mut disk: u64 = listing
            .readable
            .iter()
            .map(|s| fs.stat(&s.path).map(|m| m.len).unwrap_or(0))
            .sum();
        let live = fs.stat(&layout.live()).map(|m| m.len).ok();
        disk += live.unwrap_or(0);
        let archives = listing.archives().count();
        Ok(StoreFiles {
            path: layout.live().display().to_string(),
            archives,
            sealed: listing.readable.len() - archives,
            live: live.is_some(),
            bytes_on_disk: disk,
            quarantine_files: listing.quarantine.len(),
        })
    }
}

/// The segments of a store or the input files, as `stats` counts them.
struct StoreFiles {
    path: String,
    archives: usize,
    sealed: usize,
    live: bool,
    bytes_on_disk: u64,
    quarantine_files: usize,
}

impl ReadBackend for Scanned<'_> {
    fn for_each_record(
        &self,
        filter: Filter,
        strict: bool,
        emit: &mut dyn FnMut(Record) -> ControlFlow<()>,
    ) -> Result<ScanReport> {
        let scan = self.scan(filter)?.strict(strict);
        Ok(with_progress(scan, |s| s.for_each_record(emit))?)
    }

    fn write_records(
        &self,
        filter: Filter,
        strict: bool,
        limit: u64,
        format: Format,
        out: &mut dyn Write,
    ) -> Result<ScanReport> {
        if limit == 0 {
            return Ok(ScanReport::default());
        }
        let scan = self.scan(filter)?.strict(strict);
        let mut w = ChunkWriter::new(out, format, limit);
        let r = with_progress(scan, |s| {
            s.for_each_rendered(&FormatRender(format), |c| w.write(c))
        });
        if let Some(e) = w.failed {
            return Err(e.into());
        }
        Ok(r?)
    }

    fn write_last(
        &self,
        filter: Filter,
        n: usize,
        format: Format,
        out: &mut dyn Write,
    ) -> Result<ScanReport> {
        let scan = self.scan(filter)?;
        let answer = with_progress(scan, |s| s.last_rendered(n, &FormatRender(format)))?;
        let mut w = ChunkWriter::new(out, format, u64::MAX);
        let _ = w.write(&answer.value);
        if let Some(e) = w.failed {
            return Err(e.into());
        }
        Ok(answer.report)
    }

    fn count(&self, filter: Filter, strict: bool) -> Result<Answer<u64>> {
        let scan = self.scan(filter)?.strict(strict);
        Ok(with_progress(scan, |s| s.count())?)
    }

    fn last(&self, filter: Filter, n: usize) -> Result<Answer<Vec<Record>>> {
        Ok(with_progress(self.scan(filter)?, |s| s.last(n))?)
    }

    fn spend(&self, filter: Filter, by: Option<GroupBy>) -> Result<Answer<Spend>> {
        Ok(with_progress(self.scan(filter)?, |s| s.spend(by))?)
    }

    fn accuracy(&self, filter: Filter) -> Result<Answer<AccuracyMetrics>> {
        Ok(with_progress(self.scan(filter)?, |s| s.accuracy())?)
    }

    fn sessions(&self, filter: Filter) -> Result<Answer<Sessions>> {
        Ok(with_progress(self.scan(filter)?, |s| s.sessions())?)
    }

    /// One scan from the earlier window's start (decision 155).
    fn status(&self, hour_since: Timestamp, day_since: Timestamp) -> Result<Answer<Status>> {
        let scan = self.scan(Filter::new())?;
        Ok(with_progress(scan, |s| s.status(hour_since, day_since))?)
    }

    fn overview(&self, filter: Filter) -> Result<Answer<Overview>> {
        Ok(with_progress(self.scan(filter)?, |s| s.overview())?)
    }

    /// The store's files and the seal log's account (input files: none).
    fn health(&self) -> Result<Option<StoreHealth>> {
        if !self.given.is_empty() {
            return Ok(None);
        }
        let files = self.store_files()?;
        let path = self.cli.store_path()?;
        let layout = Layout::new(&path)
            .map_err(|r| anyhow::anyhow!("invalid store path {}: {r}", path.display()))?;
        let seal = scout_audit_store_file::seal::seal_status(&RealFs, &layout)?;
        Ok(Some(StoreHealth {
            archives: files.archives,
            sealed: files.sealed,
            live: files.live,
            bytes_on_disk: files.bytes_on_disk,
            quarantine_files: files.quarantine_files,
            seal,
        }))
    }

    fn stats(&self, top_files: Option<usize>) -> Result<StatsAnswer> {
        let ins = self.inputs()?;
        // What the inputs are on disk, before the scan reads them.
        let gz = ins
            .files()
            .filter(|p| scout_audit_store_file::layout::is_gzip_path(p))
            .count();
        let plain = ins.files().count() - gz;
        let in_bytes = ins.total_bytes();
        // One pass, also for the files' counts.
        let (answer, top_files) = match top_files {
            None => (with_progress(self.configure(ins), |s| s.stats())?, None),
            Some(n) => {
                let both = with_progress(self.configure(ins), |s| s.stats_with_files())?;
                let answer = Answer {
                    value: both.value.stats,
                    report: both.report,
                };
                let top = TopFiles {
                    n,
                    counts: both.value.files,
                };
                (answer, Some(top))
            }
        };
        report_indexes(&answer.report);
        let files = if self.given.is_empty() {
            self.store_files()?
        } else {
            let text: Vec<String> = self.given.iter().map(|p| p.display().to_string()).collect();
            StoreFiles {
                path: text.join(" "),
                archives: gz,
                sealed: plain,
                live: false,
                bytes_on_disk: in_bytes,
                quarantine_files: 0,
            }
        };
        let st = answer.value;
        let read = answer.report.read;
        Ok(StatsAnswer {
            path: files.path,
            records: read.records,
            events: st.events,
            without_ts: st.without_ts,
            sessions: st.sessions,
            first_ts: st.first_ts,
            last_ts: st.last_ts,
            files: Some(FileStats {
                archives: files.archives,
                sealed: files.sealed,
                live: files.live,
                bytes_on_disk: files.bytes_on_disk,
                read,
                quarantine_files: files.quarantine_files,
                top_files,
            }),
        })
    }

    fn verify(&self) -> Result<Verified> {
        let path = self.cli.store_path()?;
        let layout = Layout::new(&path)
            .map_err(|r| anyhow::anyhow!("invalid store path {}: {r}", path.display()))?;
        if !layout.dir().exists() {
            bail!(
                "no store at {}: the directory does not exist",
                path.display()
            );
        }
        let rep = scout_audit_store_file::verify::verify(Arc::new(RealFs), &layout)?;
        Ok(verified(rep))
    }
}

/// What the CLI prints of a file store's verify report.
pub(crate) fn verified(rep: scout_audit_store_file::verify::VerifyReport) -> Verified {
    Verified {
        problems: rep.problem_lines(),
        notes: rep.note_lines(),
        problem_count: rep.problem_count(),
        ok: rep.is_ok(),
        summary: VerifySummary::Files {
            records: rep.read.records,
            sessions: rep.sessions,
            segments: rep.read.segments,
            bytes: rep.read.bytes,
        },
        outdated_indexes: rep
            .outdated_indexes
            .into_iter()
            .map(|(path, version)| OutdatedIndex { path, version })
            .collect(),
        quarantine: rep.quarantine,
        uncompressed: rep.uncompressed,
    }
}

/// `verify --key` on a file store in one read of each segment
/// (`verify::verify_keyed`): the plain answer and the sealed report, each
/// as `verify` and the sealed check apart give them. `None` when there
/// is no store directory (the checks apart say so).
pub(crate) fn verify_keyed(
    cli: &Cli,
    key: &scout_audit_seal::note::Verifier,
) -> Option<(
    Result<Verified>,
    Result<scout_audit_store_file::seal::SealReport>,
)> {
    let path = cli.store_path().ok()?;
    let layout = Layout::new(&path).ok()?;
    if !layout.dir().exists() {
        return None;
    }
    let (plain, sealed) = scout_audit_store_file::verify::verify_keyed(
        Arc::new(RealFs),
        &layout,
        key,
        scout_audit_store_file::seal::Workers::auto(),
    );
    Some((
        plain.map(verified).map_err(Into::into),
        sealed.map_err(Into::into),
    ))
}
