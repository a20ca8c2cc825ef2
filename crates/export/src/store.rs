//! [`export_store`]: a file store exported from its stored lines. Each
//! segment is read as the sequential reader reads it (store-file's
//! snapshot, line splitter and problem kinds), and each line goes
//! through the fast path ([`crate::line`]) straight into the columns, or,
//! when that path is not sure, through `decode_line` and the record's
//! columns: the same rows, without a `Record` per line.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use scout_audit_core::{Decoded, Filter, Skipped, decode_line};
use scout_audit_scan::Inputs;
use scout_audit_store_file::ReadReport;
use scout_audit_store_file::fs::{Fs, RealFs};
use scout_audit_store_file::layout::{Layout, SegmentKind};
use scout_audit_store_file::lines::{LineReader, Pos, RawLine};
use scout_audit_store_file::reader::{
    Problem, ProblemKind, READ_BUFFER, Snapshot, Source, gzip_reader, reopen_shared,
};

use crate::error::{Error, Result};
use crate::run::{Run, Writer};
use crate::{ExportSummary, export_segments, line, parallel};

type Lines = LineReader<Box<dyn BufRead + Send>>;

/// Exports the records of the file store whose live file is `store`
/// matching `filter` into `dir`, on `threads` workers, each group of
/// consecutive segments into its own part files, one per date
/// (`part-RUN-NNNNN.parquet`, NNNNN the place in log order of the segment
/// where the part was opened), as [`export_segments`] does with
/// `Inputs::store(store)`, and with the same files, rows and report. With
/// the empty filter (a whole export) the stored lines are read without
/// building a record each; a filter goes through the scanner (which may
/// skip whole archives by their index).
pub fn export_store(
    dir: &Path,
    store: &Path,
    filter: &Filter,
    threads: usize,
) -> Result<(ExportSummary, Skipped)> {
    // The scanner's listing checks the store as every read does (the same
    // errors for a path that is not a store).
    let inputs = Inputs::store(store)?;
    if *filter != Filter::default() || fast_path_off() {
        return export_segments(dir, inputs, filter, threads);
    }
    drop(inputs);
    let layout = Layout::new(store).map_err(|reason| Error::StorePath {
        path: store.to_path_buf(),
        reason,
    })?;
    let fs: Arc<dyn Fs> = Arc::new(RealFs);
    let snap = Snapshot::take(&*fs, &layout)?;
    let run = Run::begin(dir)?;
    parallel(&run, snap.sources, threads, |w, src| {
        export_lines(w, src, &fs, &layout)
    })
}

/// Whether `SCOUT_AUDIT_EXPORT_SLOW` asks for the record path (to measure
/// one path against the other on the same binary).
fn fast_path_off() -> bool {
    std::env::var_os("SCOUT_AUDIT_EXPORT_SLOW").is_some_and(|v| v == "1")
}

/// Exports one segment of a run from its lines into `w`: what was read.
fn export_lines(
    w: &mut Writer<'_>,
    mut src: Source,
    fs: &Arc<dyn Fs>,
    layout: &Layout,
) -> Result<ReadReport> {
    let mut read = ReadReport::default();
    match open_source(fs, layout, &mut src) {
        Err(p) => read.add_problem(p),
        Ok((mut lines, path, gzip)) => {
            read.segments += 1;
            read_lines(&mut lines, &path, gzip, w, &mut read)?;
        }
    }
    Ok(read)
}

/// Opens a segment as the sequential reader does (a sealed `.jsonl`
/// compressed since the listing is read from its archive): its lines, the
/// path read, and whether it is gzip.
fn open_source(
    fs: &Arc<dyn Fs>,
    layout: &Layout,
    src: &mut Source,
) -> std::result::Result<(Lines, PathBuf, bool), Problem> {
    if let Some(f) = src.take_live() {
        let r: Box<dyn BufRead + Send> = Box::new(BufReader::with_capacity(READ_BUFFER, f));
        return Ok((LineReader::new(r), src.path.clone(), false));
    }
    let (path, gzip) = (src.path.clone(), src.gzip);
    let opened = match fs.open_read(&path) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => match &src.segment {
            Some(seg) if seg.kind == SegmentKind::Sealed => {
                let gz = layout.archive_path(seg);
                fs.open_read(&gz).map(|f| (f, true, gz))
            }
            _ => Err(e),
        },
        other => other.map(|f| (f, gzip, path.clone())),
    };
    match opened {
        Ok((f, gz, p)) => {
            let r: Box<dyn BufRead + Send> = if gz {
                Box::new(gzip_reader(f, reopen_shared(Arc::clone(fs), p.clone())))
            } else {
                Box::new(BufReader::with_capacity(READ_BUFFER, f))
            };
            Ok((LineReader::new(r), p, gz))
        }
        Err(e) => Err(Problem {
            path,
            line: 0,
            offset: 0,
            kind: if e.kind() == std::io::ErrorKind::NotFound {
                ProblemKind::Vanished
            } else {
                ProblemKind::Io(format!("cannot open: {e}"))
            },
        }),
    }
}

/// Every line of a segment into `w`; what is not a record counted in
/// `read` as the sequential reader counts it.
fn read_lines(
    lines: &mut Lines,
    path: &Path,
    gzip: bool,
    w: &mut Writer<'_>,
    read: &mut ReadReport,
) -> Result<()> {
    let problem = |read: &mut ReadReport, pos: Pos, kind| {
        read.add_problem(Problem {
            path: path.to_path_buf(),
            line: pos.line,
            offset: pos.offset,
            kind,
        });
    };
    loop {
        let before = lines.offset();
        let raw = match lines.next_raw() {
            Ok(Some(raw)) => raw,
            Ok(None) => return Ok(()),
            Err(e) => {
                let kind = if gzip {
                    ProblemKind::Gzip(e.to_string())
                } else {
                    ProblemKind::Io(format!("read failed: {e}"))
                };
                let at = lines.offset();
                read.bytes += at - before;
                // Not a line: the offset the read failed at.
                problem(
                    read,
                    Pos {
                        line: 0,
                        offset: at,
                    },
                    kind,
                );
                return Ok(());
            }
        };
        let (bytes, pos, terminated) = match raw {
            RawLine::Complete(b, p) => (b, p, true),
            RawLine::Unterminated(b, p) => (b, p, false),
            RawLine::TooLong(n, p) => {
                problem(read, p, ProblemKind::TooLong(n));
                read.bytes += lines.offset() - before;
                continue;
            }
        };
        if let Some(row) = line::parse(bytes) {
            read.records += 1;
            read.matched += 1;
            w.add_row(&row)?;
        } else if let Some(kind) = slow_line(bytes, terminated, w, read)? {
            problem(read, pos, kind);
        }
        read.bytes += lines.offset() - before;
    }
}

/// A line the fast path left to `decode_line`, as the sequential reader
/// takes it: a record into `w`, or the problem to report at its place.
fn slow_line(
    bytes: &[u8],
    terminated: bool,
    w: &mut Writer<'_>,
    read: &mut ReadReport,
) -> Result<Option<ProblemKind>> {
    let (record, problem) = match decode_line(bytes) {
        Decoded::Blank => return Ok(None),
        Decoded::Record(r) => (r, None),
        Decoded::Glued { record, .. } => (record, Some(ProblemKind::TornFragment)),
        Decoded::Malformed(m) if terminated => {
            return Ok(Some(ProblemKind::Malformed(m.to_string())));
        }
        Decoded::Malformed(_) => return Ok(Some(ProblemKind::TornTail(bytes.len() as u64))),
    };
    // A glued record's fragment is reported before the record is taken
    // (the sequential reader's order); the report is per source, so
    // counting it first or after changes nothing but that order.
    read.records += 1;
    read.matched += 1;
    w.add(&record)?;
    Ok(problem)
}
