//! The engine: plans which sources to read (pruning, index answers), reads
//! them in parallel (maps split into chunks at line boundaries, streams of
//! gzip and live files one per task), folds every chunk and merges the
//! folds in log order.

use std::fs::{File, OpenOptions};
use std::io::{self, BufRead, BufReader};
use std::ops::{ControlFlow, Range};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use rayon::prelude::*;
use scout_audit_core::writer::lock_ignoring_poison;
use scout_audit_core::{Decoded, Filter, Timestamp, decode_line};
use scout_audit_store_file::fs::{ReadFile, RealFs, open_input, open_regular};
use scout_audit_store_file::index::{IndexCheck, Summary, inspect_index, inspect_index_for_vouch};
use scout_audit_store_file::lines::{
    LineReader, MAX_LINE, RawLine, bom_len, over_bound, too_long_len,
};
use scout_audit_store_file::reader::{
    Problem, ProblemKind, READ_BUFFER, ReadReport, Reopen, gzip_reader, reopen_shared,
};

use crate::error::{Error, Result};
use crate::fields::{self, Fast, Fields, Want};
use crate::fold::{Fold, Matched};
use crate::live;
use crate::mmap::Map;
use crate::order::Ordered;
use crate::prefilter::Prefilter;
use crate::source::{Kind, Source};

/// How much a scan may skip on the strength of what it knows without
/// reading (docs/scan.md, "Pruning").
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Pruning {
    /// Read everything.
    Off,
    /// Skip or answer archives from a valid index only (exact).
    Index,
    /// As `Index`, and an archive without index is skipped when the
    /// query's `since` is after its seal second: its records were logged
    /// before it was sealed. The default.
    SealTime,
}

/// What a scan met besides its answer.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ScanReport {
    /// Counts and located problems of what was read, as the sequential
    /// reader gives them (`records`: records parsed).
    pub read: ReadReport,
    /// Sources skipped without reading (outside the time bounds).
    pub pruned: u64,
    /// Archives answered from their index without decompressing; their
    /// problem counts are in `read`, without locations.
    pub from_index: u64,
    /// Lines the prefilter proved irrelevant without parsing them.
    pub prefiltered: u64,
    /// Index files not used because they do not match their archive (cut
    /// short, edited, of another archive, or made from other bytes than
    /// it has now): their archives were read instead. In log order.
    pub index_mismatches: Vec<PathBuf>,
    /// Index files of another format version, not used (their archives
    /// were read instead; `scout-audit index` rewrites them).
    pub outdated_indexes: u64,
    /// Archives hashed whole to check their index, because the identity
    /// it recorded (device, inode, length, mtime, ctime) was missing, did
    /// not match, or was recorded within 2 s of the archive's last change
    /// (docs/format.md, "Archive indexes"); `scout-audit index` refreshes
    /// what it can.
    pub indexes_hashed: u64,
    /// Index files of a sealed store's archives that match their archive
    /// but no seal vouched for (one forged with its digests recomputed,
    /// or one written after the last seal): not used, their archives read
    /// instead (docs/scan.md, "Which indexes are trusted"). In log order.
    pub unvouched_indexes: Vec<PathBuf>,
}

impl ScanReport {
    fn merge(&mut self, later: ScanReport) {
        self.read.merge(later.read);
        self.pruned += later.pruned;
        self.from_index += later.from_index;
        self.prefiltered += later.prefiltered;
        self.index_mismatches.extend(later.index_mismatches);
        self.outdated_indexes += later.outdated_indexes;
        self.indexes_hashed += later.indexes_hashed;
        self.unvouched_indexes.extend(later.unvouched_indexes);
    }
}

/// Progress of a running scan, for a progress bar: bytes of input done out
/// of the total (compressed bytes for archives).
#[derive(Debug, Default)]
pub struct Progress {
    done: AtomicU64,
    total: AtomicU64,
}

impl Progress {
    /// A new counter.
    pub fn new() -> Arc<Progress> {
        Arc::new(Progress::default())
    }
    /// Bytes done so far.
    pub fn done(&self) -> u64 {
        self.done.load(Ordering::Relaxed)
    }
    /// Bytes in all (known once the scan started).
    pub fn total(&self) -> u64 {
        self.total.load(Ordering::Relaxed)
    }
    fn add(&self, n: u64) {
        self.done.fetch_add(n, Ordering::Relaxed);
    }
    pub(crate) fn set_total(&self, n: u64) {
        self.total.store(n, Ordering::Relaxed);
    }
}

/// What every chunk of a query shares.
pub(crate) struct Ctx<'a, F> {
    pub filter: &'a Filter,
    pub want: Want,
    pub prefilter: Option<&'a Prefilter>,
    pub proto: &'a F,
    pub strict: bool,
    pub pruning: Pruning,
    pub progress: Option<&'a Progress>,
}

/// The fold and report of a contiguous part of one source. Problem line
/// numbers are relative to the part's first line until merged.
pub(crate) struct Part<F> {
    pub fold: F,
    pub report: ScanReport,
    /// Raw lines in the part.
    pub lines: u64,
}

impl<F: Fold> Part<F> {
    fn empty(proto: &F) -> Part<F> {
        Part {
            fold: proto.clone(),
            report: ScanReport::default(),
            lines: 0,
        }
    }

    fn merge(&mut self, mut later: Part<F>) {
        for p in &mut later.report.read.problems {
            if p.line > 0 {
                p.line += self.lines;
            }
        }
        self.lines += later.lines;
        self.fold.merge(later.fold);
        self.report.merge(later.report);
    }

    fn problem(&mut self, path: &Path, line: u64, offset: u64, kind: ProblemKind) {
        self.report.read.add_problem(Problem {
            path: path.to_path_buf(),
            line,
            offset,
            kind,
        });
    }
}

/// Folds the lines of `bytes` (whole lines; the last may lack its `\n`
/// when `bytes` ends the file), which start at `offset` of the file.
pub(crate) fn scan_lines<F: Fold>(
    ctx: &Ctx<'_, F>,
    path: &Path,
    bytes: &[u8],
    offset: u64,
) -> Part<F> {
    let mut part = Part::empty(ctx.proto);
    let mut start = 0;
    let mut it = memchr::memchr_iter(b'\n', bytes);
    loop {
        let (line, terminated) = match it.next() {
            Some(nl) => (&bytes[start..nl], true),
            None if start < bytes.len() => (&bytes[start..], false),
            None => break,
        };
        let at = offset + start as u64;
        start += line.len() + 1;
        part.lines += 1;
        let n = part.lines;
        if ctx.strict && part.report.read.problem_count() > 0 {
            // The scan fails at its first problem; nothing after it counts.
            continue;
        }
        one_line(ctx, &mut part, path, line, terminated, n, at);
    }
    part
}

fn one_line<F: Fold>(
    ctx: &Ctx<'_, F>,
    part: &mut Part<F>,
    path: &Path,
    line: &[u8],
    terminated: bool,
    n: u64,
    at: u64,
) {
    if over_bound(line.len(), MAX_LINE) {
        let len = too_long_len(line.len() as u64, terminated);
        part.problem(path, n, at, ProblemKind::TooLong(len));
        return;
    }
    if line.is_empty() {
        return;
    }
    if let Some(p) = ctx.prefilter
        && p.rejects(line)
    {
        part.report.prefiltered += 1;
        return;
    }
    match fields::parse(line, ctx.want) {
        Fast::Blank => {}
        Fast::Record(f) => matched(ctx, part, &f, line, None),
        Fast::Slow => match decode_line(line) {
            Decoded::Blank => {}
            Decoded::Record(r) => {
                let f = Fields::of_record(&r, ctx.want);
                matched(ctx, part, &f, line, Some(&r));
            }
            Decoded::Glued { at: cut, record } => {
                part.problem(path, n, at, ProblemKind::TornFragment);
                let f = Fields::of_record(&record, ctx.want);
                matched(ctx, part, &f, &line[cut..], Some(&record));
            }
            Decoded::Malformed(m) => {
                let kind = if terminated {
                    ProblemKind::Malformed(m.to_string())
                } else {
                    ProblemKind::TornTail(line.len() as u64)
                };
                part.problem(path, n, at, kind);
            }
        },
    }
}

fn matched<F: Fold>(
    ctx: &Ctx<'_, F>,
    part: &mut Part<F>,
    f: &Fields<'_>,
    line: &[u8],
    record: Option<&scout_audit_core::Record>,
) {
    part.report.read.records += 1;
    if ctx
        .filter
        .matches_parts(f.ts, f.event(), f.session_id(), f.model())
    {
        part.report.read.matched += 1;
        part.fold.add(&Matched {
            fields: f,
            line,
            record,
        });
    }
}

/// Folds a file read through a buffer, split by store-file's one line
/// splitter ([`LineReader`]): lines whole in the buffer are parsed where
/// they lie, as the mapped path parses them.
fn scan_stream<F: Fold, R: BufRead>(ctx: &Ctx<'_, F>, path: &Path, r: R, gzip: bool) -> Part<F> {
    scan_stream_from(ctx, path, r, gzip, 0)
}

/// [`scan_stream`] of a reader that starts at `offset` of its file, at
/// the start of a line.
fn scan_stream_from<F: Fold, R: BufRead>(
    ctx: &Ctx<'_, F>,
    path: &Path,
    r: R,
    gzip: bool,
    offset: u64,
) -> Part<F> {
    let mut part = Part::empty(ctx.proto);
    let mut lines = LineReader::resume(r, offset);
    let failed = loop {
        let raw = match lines.next_raw() {
            Ok(Some(raw)) => raw,
            Ok(None) => break None,
            Err(e) => break Some(e),
        };
        part.lines += 1;
        if ctx.strict && part.report.read.problem_count() > 0 {
            // The scan fails at its first problem; nothing after it counts.
            continue;
        }
        match raw {
            RawLine::Complete(line, pos) => {
                one_line(ctx, &mut part, path, line, true, pos.line, pos.offset);
            }
            RawLine::Unterminated(line, pos) => {
                one_line(ctx, &mut part, path, line, false, pos.line, pos.offset);
            }
            RawLine::TooLong(len, pos) => {
                part.problem(path, pos.line, pos.offset, ProblemKind::TooLong(len));
            }
        }
    };
    let bytes = lines.offset();
    if let Some(e) = failed {
        part.problem(path, 0, bytes, read_failure(gzip, &e));
    }
    part.report.read.bytes = bytes;
    part
}

/// What a read that failed part way met: a damaged archive, or an IO error.
fn read_failure(gzip: bool, e: &io::Error) -> ProblemKind {
    if gzip {
        ProblemKind::Gzip(e.to_string())
    } else {
        ProblemKind::Io(format!("read failed: {e}"))
    }
}

/// Chunks of a map, split after a `\n` near every `size` bytes.
pub(crate) fn chunks(bytes: &[u8], from: usize, size: usize) -> Vec<Range<usize>> {
    let mut out = Vec::new();
    let mut start = from;
    while start < bytes.len() {
        let guess = start.saturating_add(size);
        let end = if guess >= bytes.len() {
            bytes.len()
        } else {
            match memchr::memchr(b'\n', &bytes[guess..]) {
                Some(i) => guess + i + 1,
                None => bytes.len(),
            }
        };
        out.push(start..end);
        start = end;
    }
    out
}

/// Bytes per chunk of a mapped file.
pub(crate) const CHUNK: usize = 8 << 20;

fn scan_mapped<F: Fold>(ctx: &Ctx<'_, F>, path: &Path, file: &File) -> Option<Part<F>> {
    let len = file.metadata().ok()?.len();
    if len == 0 {
        return Some(Part::empty(ctx.proto));
    }
    let map = Map::open(file).ok()?;
    let bytes = map.bytes();
    let ranges = chunks(bytes, bom_len(bytes), CHUNK);
    let parts: Vec<Part<F>> = ranges
        .par_iter()
        .map(|r| {
            map.will_need(r);
            let p = scan_lines(ctx, path, &bytes[r.clone()], r.start as u64);
            map.release(r);
            if let Some(pr) = ctx.progress {
                pr.add(r.len() as u64);
            }
            p
        })
        .collect();
    let mut part = Part::empty(ctx.proto);
    for p in parts {
        part.merge(p);
    }
    part.report.read.bytes = bytes.len() as u64;
    Some(part)
}

/// Bytes per chunk of a live file read in parallel; a live file of at
/// most two chunks is read in sequence.
pub(crate) const LIVE_CHUNK: u64 = CHUNK as u64;

/// Folds a store's live file (decision 190): the complete lines it held
/// when the scan reached it in chunks of about `chunk` bytes, each read
/// whole (under a lock on the one handle) and parsed on the pool as a
/// map's chunk is; then the rest (lines appended since, a torn tail)
/// through the line splitter from where the chunks end. Read in sequence
/// from its start, as before, when it is small or a chunk cannot be read
/// (truncated since it was split): the answer is the same either way.
fn scan_live<F: Fold>(
    ctx: &Ctx<'_, F>,
    path: &Path,
    mut file: Box<dyn ReadFile>,
    chunk: u64,
    max_line: u64,
) -> Part<F> {
    let split = file
        .meta()
        .ok()
        .filter(|m| m.len > chunk.saturating_mul(2))
        .and_then(|m| {
            live::split(&mut *file, m.len, chunk, max_line)
                .ok()
                .flatten()
        });
    let Some(split) = split else {
        return stream_live(ctx, path, file, 0);
    };
    let shared = Mutex::new(file);
    let parts: Option<Vec<Part<F>>> = split
        .ranges
        .par_iter()
        .map(|r| {
            let bytes = live::read_range(&mut **lock_ignoring_poison(&shared), r).ok()?;
            Some(scan_lines(ctx, path, &bytes, r.start))
        })
        .collect();
    let file = shared.into_inner().unwrap_or_else(PoisonError::into_inner);
    let Some(parts) = parts else {
        return stream_live(ctx, path, file, 0);
    };
    let mut part = Part::empty(ctx.proto);
    for p in parts {
        part.merge(p);
    }
    let rest = stream_live(ctx, path, file, split.rest);
    let bytes = rest.report.read.bytes;
    part.merge(rest);
    part.report.read.bytes = bytes;
    part
}

/// Folds a live file through the line splitter from `offset` (the start
/// of a line; its lines are numbered from 1 there).
fn stream_live<F: Fold>(
    ctx: &Ctx<'_, F>,
    path: &Path,
    mut file: Box<dyn ReadFile>,
    offset: u64,
) -> Part<F> {
    if let Err(e) = file.seek_to(offset) {
        let mut p = Part::empty(ctx.proto);
        p.problem(path, 0, offset, read_failure(false, &e));
        return p;
    }
    let reader = BufReader::with_capacity(READ_BUFFER, file);
    scan_stream_from(ctx, path, reader, false, offset)
}

/// What to do with a source before reading it.
enum Plan<F> {
    /// Pruned: none of its records can match.
    Skip,
    /// Answered from its index, without reading it.
    Answered { fold: F, report: ScanReport },
    /// Read it.
    Read,
}

/// What to do with `src`, and what its index file said if it could not
/// be used (in the report's index counts). An index is used only when
/// [`inspect_index`] finds it valid: its own digest, and its archive's
/// length and SHA-256, hashed unless the archive's identity recorded in
/// the index is trusted (docs/format.md, "Archive indexes"); and, on a
/// sealed store, when a seal vouched for it (`Source::vouches`).
fn plan<F: Fold>(ctx: &Ctx<'_, F>, src: &Source, use_index_answers: bool) -> (Plan<F>, ScanReport) {
    let mut notes = ScanReport::default();
    // Strict scans read everything: Scan::ctx sets Pruning::Off for them.
    if ctx.pruning == Pruning::Off {
        return (Plan::Read, notes);
    }
    let f = ctx.filter;
    if let Some(idx_path) = &src.index {
        let ins = match src.vouches {
            Some(_) => inspect_index_for_vouch(&RealFs, &src.path, idx_path),
            None => inspect_index(&RealFs, &src.path, idx_path),
        };
        let name = src.path.file_name().and_then(|n| n.to_str()).unwrap_or("");
        let vouched = src
            .vouches
            .as_ref()
            .is_none_or(|v| v.vouches(name, ins.vouch_digest.as_ref()));
        notes.indexes_hashed += u64::from(ins.hashed);
        match ins.check {
            // On a sealed store, only an index a seal vouched for.
            IndexCheck::Valid(idx) if vouched => {
                return (plan_indexed(ctx, &idx.summary, use_index_answers), notes);
            }
            IndexCheck::Valid(_) => notes.unvouched_indexes.push(idx_path.clone()),
            IndexCheck::Missing => {}
            IndexCheck::OtherVersion(_) => notes.outdated_indexes += 1,
            _ => notes.index_mismatches.push(idx_path.clone()),
        }
    }
    if ctx.pruning == Pruning::SealTime
        && let (Some(seal), Some(since)) = (src.seal, f.since_bound())
        && let Some(end) = Timestamp::from_unix(seal.unix_secs().saturating_add(1), 0)
        && since >= end
    {
        return (Plan::Skip, notes);
    }
    (Plan::Read, notes)
}

/// The plan of an archive with a valid index of summary `s`.
fn plan_indexed<F: Fold>(ctx: &Ctx<'_, F>, s: &Summary, use_index_answers: bool) -> Plan<F> {
    let f = ctx.filter;
    let inside = match (s.first_ts, s.last_ts) {
        (Some(first), Some(last)) => {
            if f.has_time_bounds() && !f.overlaps(first, last) {
                return Plan::Skip;
            }
            f.since_bound().is_none_or(|x| x <= first) && f.until_bound().is_none_or(|u| last < u)
        }
        // No record with a ts: none matches time bounds.
        _ if f.has_time_bounds() => return Plan::Skip,
        _ => true,
    };
    if use_index_answers
        && inside
        && let Some(fold) = ctx.proto.answer_from_index(s, f)
    {
        let read = ReadReport {
            records: s.records,
            segments: 1,
            malformed: s.malformed,
            torn_tails: s.torn_tails,
            torn_fragments: s.torn_fragments,
            ..ReadReport::default()
        };
        return Plan::Answered {
            fold,
            report: ScanReport {
                read,
                from_index: 1,
                ..ScanReport::default()
            },
        };
    }
    Plan::Read
}

/// Reads one source whole into a part (fold mode).
fn run_source<F: Fold>(ctx: &Ctx<'_, F>, src: Source) -> Part<F> {
    let skipped = |report: ScanReport| Part {
        fold: ctx.proto.clone(),
        report,
        lines: 0,
    };
    let (plan, notes) = plan(ctx, &src, true);
    match plan {
        Plan::Skip => {
            if let Some(p) = ctx.progress {
                p.add(src.size);
            }
            let mut report = ScanReport {
                pruned: 1,
                ..ScanReport::default()
            };
            report.merge(notes);
            return skipped(report);
        }
        Plan::Answered { fold, mut report } => {
            if let Some(p) = ctx.progress {
                p.add(src.size);
            }
            report.merge(notes);
            return Part {
                fold,
                report,
                lines: 0,
            };
        }
        Plan::Read => {}
    }
    let size = src.size;
    let mut part = match open(src) {
        Err(problem) => {
            let mut p = Part::empty(ctx.proto);
            p.report.read.add_problem(problem);
            return p;
        }
        Ok(Opened::Map { file, path }) => match scan_mapped(ctx, &path, &file) {
            Some(p) => p,
            None => {
                let reader = BufReader::with_capacity(READ_BUFFER, file);
                let p = scan_stream(ctx, &path, reader, false);
                if let Some(pr) = ctx.progress {
                    pr.add(size);
                }
                p
            }
        },
        Ok(Opened::Live { file, path, size }) => {
            let p = scan_live(ctx, &path, file, LIVE_CHUNK, MAX_LINE as u64);
            if let Some(pr) = ctx.progress {
                pr.add(size);
            }
            p
        }
        Ok(Opened::Stream {
            reader,
            gzip,
            path,
            size,
        }) => {
            let p = scan_stream(ctx, &path, reader, gzip);
            if let Some(pr) = ctx.progress {
                pr.add(size);
            }
            p
        }
    };
    part.report.read.segments += 1;
    part.report.merge(notes);
    part
}

/// A source opened for reading.
enum Opened {
    /// A plain file nobody truncates, to map (read through a buffer when
    /// mapping fails).
    Map { file: File, path: PathBuf },
    /// A store's live file: its prefix read in parallel chunks, the rest
    /// through a buffer (decision 190).
    Live {
        file: Box<dyn ReadFile>,
        path: PathBuf,
        /// Its size on disk when listed (for progress).
        size: u64,
    },
    /// A file read through a buffer.
    Stream {
        reader: Box<dyn BufRead + Send>,
        /// Whether it is a gzip archive.
        gzip: bool,
        /// The file read: the source's, or the archive read instead.
        path: PathBuf,
        /// The source's size on disk when listed (for progress).
        size: u64,
    },
}

fn open(src: Source) -> std::result::Result<Opened, Problem> {
    let problem = |path: &Path, e: io::Error| Problem {
        path: path.to_path_buf(),
        line: 0,
        offset: 0,
        kind: if e.kind() == io::ErrorKind::NotFound {
            ProblemKind::Vanished
        } else {
            ProblemKind::Io(format!("cannot open: {e}"))
        },
    };
    let open_file = |path: &Path| {
        if src.store_name {
            open_regular(path, OpenOptions::new().read(true))
        } else {
            open_input(path)
        }
    };
    match src.kind {
        Kind::Live(file) => Ok(Opened::Live {
            file,
            path: src.path,
            size: src.size,
        }),
        Kind::Gzip => match open_file(&src.path) {
            Ok(f) => Ok(Opened::Stream {
                reader: Box::new(gzip_reader(f, reopen(&src.path))),
                gzip: true,
                path: src.path,
                size: src.size,
            }),
            Err(e) => Err(problem(&src.path, e)),
        },
        Kind::Mapped | Kind::Buffered => match open_file(&src.path) {
            Ok(file) if matches!(src.kind, Kind::Mapped) => Ok(Opened::Map {
                file,
                path: src.path,
            }),
            Ok(f) => Ok(Opened::Stream {
                reader: Box::new(BufReader::with_capacity(READ_BUFFER, f)),
                gzip: false,
                path: src.path,
                size: src.size,
            }),
            Err(e) if e.kind() == io::ErrorKind::NotFound && src.archive_instead.is_some() => {
                // Compressed since the listing: its archive holds the same records.
                let gz = src.archive_instead.unwrap_or_default();
                match open_file(&gz) {
                    Ok(f) => Ok(Opened::Stream {
                        reader: Box::new(gzip_reader(f, reopen(&gz))),
                        gzip: true,
                        path: gz,
                        size: src.size,
                    }),
                    Err(e) => Err(problem(&src.path, e)),
                }
            }
            Err(e) => Err(problem(&src.path, e)),
        },
    }
}

/// Builds the thread pool of a scan.
pub(crate) fn pool(threads: Option<usize>) -> Result<rayon::ThreadPool> {
    let n = threads
        .filter(|&n| n > 0)
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()));
    rayon::ThreadPoolBuilder::new()
        .num_threads(n)
        .thread_name(|i| format!("scout-scan-{i}"))
        .build()
        .map_err(|e| Error::Threads {
            threads: n,
            message: e.to_string(),
        })
}

/// The error of a strict scan: its first problem.
pub(crate) fn strict_error(report: &ScanReport) -> Option<Error> {
    let p = report.read.problems.first()?;
    let reason = match &p.kind {
        ProblemKind::Malformed(m) => m.clone(),
        _ => p.to_string(),
    };
    Some(Error::Malformed {
        path: p.path.clone(),
        line: p.line,
        offset: p.offset,
        reason,
    })
}

/// Folds every source (in parallel), merged in log order.
pub(crate) fn fold_all<F: Fold>(ctx: &Ctx<'_, F>, sources: Vec<Source>) -> Part<F> {
    let parts: Vec<Part<F>> = sources
        .into_par_iter()
        .map(|s| run_source(ctx, s))
        .collect();
    let mut all = Part::empty(ctx.proto);
    for mut p in parts {
        // Line numbers are per file: a new source restarts them.
        p.lines = 0;
        all.lines = 0;
        all.merge(p);
    }
    all
}

/// Folds sources from the newest back, `batch` at a time, until `enough`
/// says the fold of what was read answers the query (tail -n).
pub(crate) fn fold_backwards<F: Fold>(
    ctx: &Ctx<'_, F>,
    mut sources: Vec<Source>,
    batch: usize,
    enough: impl Fn(&F) -> bool,
) -> Part<F> {
    let mut acc = Part::empty(ctx.proto);
    while !sources.is_empty() {
        let from = sources.len().saturating_sub(batch.max(1));
        let group: Vec<Source> = sources.drain(from..).collect();
        let mut older = fold_all(ctx, group);
        older.lines = 0;
        acc.lines = 0;
        older.merge(acc);
        acc = older;
        if enough(&acc.fold) || (ctx.strict && acc.report.read.problem_count() > 0) {
            break;
        }
    }
    acc
}

/// Streams the folds of every source's chunks (each a [`Part`] of
/// consecutive lines) in log order to `emit`, up to `window` chunks
/// parsed at once; stops when `emit` breaks.
pub(crate) fn stream_records<F: Fold>(
    ctx: &Ctx<'_, F>,
    pool: &rayon::ThreadPool,
    sources: Vec<Source>,
    window: usize,
    emit: &mut dyn FnMut(F) -> ControlFlow<()>,
) -> ScanReport {
    let mut report = ScanReport::default();
    // Plans (which hash archives with an index) are made a pool's width of
    // sources at a time, in parallel, ahead of the reading.
    let width = pool.current_num_threads().max(1);
    let mut sources = sources.into_iter();
    let mut planned = Vec::new().into_iter();
    loop {
        let Some(Planned { src, skip, notes }) = planned.next() else {
            let group: Vec<Source> = sources.by_ref().take(width).collect();
            if group.is_empty() {
                break;
            }
            let plans: Vec<Planned> = pool.install(|| {
                group
                    .into_par_iter()
                    .map(|src| {
                        let (plan, notes) = plan(ctx, &src, false);
                        Planned {
                            skip: matches!(plan, Plan::Skip),
                            src,
                            notes,
                        }
                    })
                    .collect()
            });
            planned = plans.into_iter();
            continue;
        };
        report.merge(notes);
        // Progress by whole sources: a record stream has no chunk totals.
        let size = src.size;
        let done = |ctx: &Ctx<'_, F>| {
            if let Some(p) = ctx.progress {
                p.add(size);
            }
        };
        if skip {
            report.pruned += 1;
            done(ctx);
            continue;
        }
        let mut state = StreamState {
            report: ScanReport::default(),
            lines: 0,
            stopped: false,
        };
        stream_source(ctx, pool, src, window, &mut state, emit);
        state.report.read.segments += 1;
        done(ctx);
        let stopped = state.stopped;
        report.merge(state.report);
        if stopped {
            return report;
        }
    }
    report
}

/// Streams one source's record chunks in order into `state` and `emit`.
fn stream_source<F: Fold>(
    ctx: &Ctx<'_, F>,
    pool: &rayon::ThreadPool,
    src: Source,
    window: usize,
    state: &mut StreamState,
    emit: &mut dyn FnMut(F) -> ControlFlow<()>,
) {
    match open(src) {
        Err(p) => state.report.read.add_problem(p),
        Ok(Opened::Map { file, path }) => {
            stream_mapped(ctx, pool, &path, file, window, state, emit);
        }
        // A record stream reads the live file in sequence: its window of
        // parsed chunks already keeps the pool busy (decision 190).
        Ok(Opened::Live { file, path, .. }) => {
            let input = StreamInput {
                path: &path,
                reader: BufReader::with_capacity(READ_BUFFER, file),
                gzip: false,
            };
            stream_file(ctx, pool, input, window, state, emit);
        }
        Ok(Opened::Stream {
            reader, gzip, path, ..
        }) => {
            let input = StreamInput {
                path: &path,
                reader,
                gzip,
            };
            stream_file(ctx, pool, input, window, state, emit);
        }
    }
}

/// Streams one plain file through a map, its chunks parsed on the pool
/// and handed over in order, at most `window` in flight; through a buffer
/// when it cannot be mapped.
fn stream_mapped<F: Fold>(
    ctx: &Ctx<'_, F>,
    pool: &rayon::ThreadPool,
    path: &Path,
    file: File,
    window: usize,
    state: &mut StreamState,
    emit: &mut dyn FnMut(F) -> ControlFlow<()>,
) {
    let map = file
        .metadata()
        .ok()
        .filter(|m| m.len() > 0)
        .and_then(|_| Map::open(&file).ok());
    let Some(map) = map else {
        let input = StreamInput {
            path,
            reader: BufReader::with_capacity(READ_BUFFER, file),
            gzip: false,
        };
        return stream_file(ctx, pool, input, window, state, emit);
    };
    let bytes = map.bytes();
    let ranges = chunks(bytes, bom_len(bytes), CHUNK / 4);
    let map = &map;
    let mut hand = |p: Part<F>| state.emit(ctx, p, emit);
    pool.in_place_scope(|s| {
        let mut jobs = Ordered::new(s, window);
        for r in ranges {
            let job = move || {
                map.will_need(&r);
                let p = scan_lines(ctx, path, &bytes[r.clone()], r.start as u64);
                map.release(&r);
                p
            };
            if jobs.submit(job, &mut hand).is_break() {
                return;
            }
        }
        let _ = jobs.finish(&mut hand);
    });
    state.report.read.bytes = bytes.len() as u64;
}

/// A source of the record stream, planned ahead of its reading.
struct Planned {
    src: Source,
    /// Whether the plan skips it (pruned).
    skip: bool,
    /// What its index said, for the report.
    notes: ScanReport,
}

struct StreamState {
    report: ScanReport,
    lines: u64,
    stopped: bool,
}

impl StreamState {
    /// Emits the fold of the next part in order; `Break` when the stream
    /// must stop (`emit` broke, or a strict scan met a problem).
    fn emit<F: Fold>(
        &mut self,
        ctx: &Ctx<'_, F>,
        mut p: Part<F>,
        emit: &mut dyn FnMut(F) -> ControlFlow<()>,
    ) -> ControlFlow<()> {
        if self.stopped {
            return ControlFlow::Break(());
        }
        for pr in &mut p.report.read.problems {
            if pr.line > 0 {
                pr.line += self.lines;
            }
        }
        self.lines += p.lines;
        let problem = p.report.read.problem_count() > 0;
        if emit(p.fold).is_break() {
            self.stopped = true;
        }
        self.report.merge(p.report);
        if ctx.strict && problem {
            self.stopped = true;
        }
        if self.stopped {
            ControlFlow::Break(())
        } else {
            ControlFlow::Continue(())
        }
    }
}

/// A run of a streamed file's lines, parsed as one task.
enum Block {
    /// Whole lines copied one after another (the last may lack its `\n`
    /// at the end of the file), the first at offset `at`.
    Lines { bytes: Vec<u8>, at: u64 },
    /// One line over [`MAX_LINE`]: its length with its `\n`, and offset.
    TooLong { len: u64, at: u64 },
}

/// Bytes of lines a [`Block`] gathers before the next begins.
const BLOCK: usize = 1 << 20;

impl Block {
    /// Appends a line (and its `\n` when `terminated`) to the block being
    /// filled, or to a new one when it is full (or a `TooLong`): the full
    /// one is returned, to be parsed.
    fn push_line(
        pending: &mut Option<Block>,
        line: &[u8],
        terminated: bool,
        at: u64,
    ) -> Option<Block> {
        let len = line.len() + usize::from(terminated);
        let fits =
            matches!(pending, Some(Block::Lines { bytes, .. }) if bytes.len() + len <= BLOCK);
        let full = if fits {
            None
        } else {
            pending.replace(Block::Lines {
                bytes: Vec::with_capacity(BLOCK.max(len)),
                at,
            })
        };
        if let Some(Block::Lines { bytes, .. }) = pending {
            bytes.extend_from_slice(line);
            if terminated {
                bytes.push(b'\n');
            }
        }
        full
    }

    /// Folds the block (line numbers relative to its first line).
    fn scan<F: Fold>(&self, ctx: &Ctx<'_, F>, path: &Path) -> Part<F> {
        match self {
            Block::Lines { bytes, at } => scan_lines(ctx, path, bytes, *at),
            Block::TooLong { len, at } => {
                let mut p = Part::empty(ctx.proto);
                p.lines = 1;
                p.problem(path, 1, *at, ProblemKind::TooLong(*len));
                p
            }
        }
    }
}

/// A file read through a buffer, as the record stream reads it.
struct StreamInput<'a, R> {
    path: &'a Path,
    reader: R,
    /// Whether it is a gzip archive (a failed read is damage, not IO).
    gzip: bool,
}

/// Streams one buffered file: its lines, split by store-file's one line
/// splitter ([`LineReader`]) on the caller's thread, are copied into
/// blocks of about a MiB, each parsed on the pool as soon as it is full,
/// at most `window` in flight, handed over in order.
fn stream_file<F: Fold, R: BufRead>(
    ctx: &Ctx<'_, F>,
    pool: &rayon::ThreadPool,
    input: StreamInput<'_, R>,
    window: usize,
    state: &mut StreamState,
    emit: &mut dyn FnMut(F) -> ControlFlow<()>,
) {
    let path = input.path;
    let mut lines = LineReader::new(input.reader);
    let mut hand = |p: Part<F>| state.emit(ctx, p, emit);
    let (stop, failed) = pool.in_place_scope(|s| {
        let mut jobs = Ordered::new(s, window);
        let mut pending: Option<Block> = None;
        let mut stop = false;
        let failed = loop {
            let raw = match lines.next_raw() {
                Ok(Some(raw)) => raw,
                Ok(None) => break None,
                Err(e) => break Some(e),
            };
            if stop {
                // The bytes read are reported whole, as when nothing stops.
                continue;
            }
            let full = match raw {
                RawLine::Complete(line, pos) => {
                    Block::push_line(&mut pending, line, true, pos.offset)
                }
                RawLine::Unterminated(line, pos) => {
                    Block::push_line(&mut pending, line, false, pos.offset)
                }
                RawLine::TooLong(len, pos) => pending.replace(Block::TooLong {
                    len,
                    at: pos.offset,
                }),
            };
            if let Some(b) = full {
                stop = jobs.submit(move || b.scan(ctx, path), &mut hand).is_break();
            }
        };
        if !stop && let Some(b) = pending.take() {
            stop = jobs.submit(move || b.scan(ctx, path), &mut hand).is_break();
        }
        if !stop {
            stop = jobs.finish(&mut hand).is_break();
        }
        (stop, failed)
    });
    let bytes = lines.offset();
    if !stop && let Some(e) = failed {
        state.report.read.add_problem(Problem {
            path: path.to_path_buf(),
            line: 0,
            offset: bytes,
            kind: read_failure(input.gzip, &e),
        });
    }
    state.report.read.bytes = bytes;
}

/// Opens an archive again (for the gzip reader's salvage of damage).
fn reopen(path: &std::path::Path) -> Reopen<'static> {
    reopen_shared(
        std::sync::Arc::new(scout_audit_store_file::fs::RealFs),
        path.to_path_buf(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chunks_end_after_newlines() {
        let b = b"aaaa\nbb\ncccccc\nd";
        let c = chunks(b, 0, 3);
        assert_eq!(c, vec![0..5, 5..15, 15..16]);
        assert_eq!(chunks(b, 0, 100), vec![0..16]);
        assert_eq!(chunks(b"", 0, 3), Vec::<Range<usize>>::new());
    }

    /// A live file read in chunks of every size, with the newline search
    /// bounded or not, gives the records, the located problems, the line
    /// count and the bytes of one read in sequence (decision 190): a BOM,
    /// garbage, a blank line, CRLF, a torn fragment, a torn tail.
    #[test]
    fn a_live_file_in_chunks_reads_as_in_sequence() {
        use crate::fold::Collect;
        use scout_audit_store_file::fs::Fs;
        let pad = "x".repeat(40);
        let text = format!(
            "\u{feff}{{\"ts\":\"2026-01-01T00:00:01Z\",\"event\":\"nav\",\"cost\":0.5}}\n\
             not json\n\n{{\"event\":\"llm_call\",\"cost\":1.25}}\r\n\
             {{\"event\":\"nav\",\"pad\":\"{pad}\"}}\n{{\"ev{{\"ts\":\"2026-01-01T00:00:02Z\",\"event\":\"brief\"}}\n\
             {{\"event\":\"nav\"}}\n{{\"event\":\"tor"
        );
        let d = tempfile::tempdir().unwrap();
        let path = d.path().join("audit.jsonl");
        std::fs::write(&path, &text).unwrap();
        let filter = Filter::new();
        let proto = Collect::default();
        let ctx = Ctx {
            filter: &filter,
            want: proto.want(),
            prefilter: None,
            proto: &proto,
            strict: false,
            pruning: Pruning::Off,
            progress: None,
        };
        let open = || RealFs.open_read(&path).unwrap();
        let seq = scan_stream(&ctx, &path, BufReader::new(open()), false);
        assert_eq!(seq.fold.0.len(), 5);
        assert_eq!(seq.report.read.problems.len(), 3);
        for chunk in 1..=text.len() as u64 {
            for max_line in [8, 50, 1 << 20] {
                let got = scan_live(&ctx, &path, open(), chunk, max_line);
                let what = format!("chunk {chunk}, max_line {max_line}");
                assert_eq!(got.fold.0, seq.fold.0, "{what}");
                assert_eq!(got.report, seq.report, "{what}");
                assert_eq!(got.lines, seq.lines, "{what}");
            }
        }
    }
}
