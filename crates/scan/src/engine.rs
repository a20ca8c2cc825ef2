//! The engine: plans which sources to read (pruning, index answers), reads
//! them in parallel (maps split into chunks at line boundaries, streams of
//! gzip and live files one per task), folds every chunk and merges the
//! folds in log order.

use std::fs::File;
use std::io::{self, BufRead, BufReader};
use std::ops::{ControlFlow, Range};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use rayon::prelude::*;
use scout_audit_core::{Decoded, Filter, Timestamp, decode_line};
use scout_audit_store_file::fs::{RealFs, open_input};
use scout_audit_store_file::index::{IndexCheck, Summary, inspect_index};
use scout_audit_store_file::lines::MAX_LINE;
use scout_audit_store_file::reader::{
    Problem, ProblemKind, READ_BUFFER, ReadReport, Reopen, gzip_reader, reopen_shared,
};

use crate::error::{Error, Result};
use crate::fields::{self, Fast, Fields, Want};
use crate::fold::{Collect, Fold, Matched};
use crate::mmap::Map;
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

const BOM: &[u8] = b"\xEF\xBB\xBF";

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
    if line.len() > MAX_LINE {
        let len = line.len() as u64 + u64::from(terminated);
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

/// A piece of a streamed file.
pub(crate) enum Piece<'a> {
    /// Whole lines (the last may lack its `\n` at the end of the file),
    /// starting at this offset.
    Lines(&'a [u8], u64),
    /// One line longer than [`MAX_LINE`]: its length with its `\n`, and
    /// offset.
    TooLong(u64, u64),
}

/// Reads a file through a buffer, handing whole lines to `on` piece by
/// piece, with the sequential reader's rules (a BOM at the start, lines
/// over [`MAX_LINE`] held in no buffer). Returns the bytes read, and the
/// error that ended the read early, if any.
pub(crate) fn read_pieces<R: BufRead>(
    r: &mut R,
    on: &mut dyn FnMut(Piece<'_>),
) -> (u64, Option<io::Error>) {
    let mut offset: u64 = 0;
    let mut carry: Vec<u8> = Vec::new();
    let mut carry_at: u64 = 0;
    // Length so far of a line over the limit being skipped.
    let mut long: Option<u64> = None;
    let mut first = true;
    loop {
        let avail = match r.fill_buf() {
            Ok(b) => b,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return (offset, Some(e)),
        };
        if first {
            first = false;
            if avail.starts_with(BOM) {
                r.consume(BOM.len());
                offset += BOM.len() as u64;
                continue;
            }
        }
        if avail.is_empty() {
            if let Some(n) = long {
                on(Piece::TooLong(n, carry_at));
            } else if !carry.is_empty() {
                on(Piece::Lines(&carry, carry_at));
            }
            return (offset, None);
        }
        let n = avail.len();
        let mut body = 0;
        if let Some(last) = memchr::memrchr(b'\n', avail) {
            if long.is_some() || !carry.is_empty() {
                // Finish the line begun in an earlier buffer.
                let nl = memchr::memchr(b'\n', avail).unwrap_or(last);
                let total = long.unwrap_or(carry.len() as u64) + nl as u64;
                if long.is_some() || total > MAX_LINE as u64 {
                    on(Piece::TooLong(total + 1, carry_at));
                } else {
                    carry.extend_from_slice(&avail[..=nl]);
                    on(Piece::Lines(&carry, carry_at));
                }
                carry.clear();
                long = None;
                body = nl + 1;
            }
            if body <= last {
                on(Piece::Lines(&avail[body..=last], offset + body as u64));
            }
            body = last + 1;
        }
        let rest = &avail[body..];
        if !rest.is_empty() {
            if carry.is_empty() && long.is_none() {
                // A line begins here.
                carry_at = offset + body as u64;
            }
            match &mut long {
                Some(len) => *len += rest.len() as u64,
                None if carry.len() + rest.len() > MAX_LINE => {
                    long = Some((carry.len() + rest.len()) as u64);
                    carry.clear();
                }
                None => carry.extend_from_slice(rest),
            }
        }
        r.consume(n);
        offset += n as u64;
    }
}

/// Folds a file read through a buffer.
fn scan_stream<F: Fold, R: BufRead>(
    ctx: &Ctx<'_, F>,
    path: &Path,
    mut r: R,
    gzip: bool,
) -> Part<F> {
    let mut part = Part::empty(ctx.proto);
    let (bytes, err) = read_pieces(&mut r, &mut |piece| match piece {
        Piece::Lines(b, at) => {
            let p = scan_lines(ctx, path, b, at);
            part.merge(p);
        }
        Piece::TooLong(len, at) => {
            part.lines += 1;
            let n = part.lines;
            part.problem(path, n, at, ProblemKind::TooLong(len));
        }
    });
    if let Some(e) = err {
        let kind = if gzip {
            ProblemKind::Gzip(e.to_string())
        } else {
            ProblemKind::Io(format!("read failed: {e}"))
        };
        part.problem(path, 0, bytes, kind);
    }
    part.report.read.bytes = bytes;
    part
}

/// Chunks of a map, split after a `\n` near every `size` bytes.
fn chunks(bytes: &[u8], from: usize, size: usize) -> Vec<Range<usize>> {
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
const CHUNK: usize = 8 << 20;

fn scan_mapped<F: Fold>(ctx: &Ctx<'_, F>, path: &Path, file: &File) -> Option<Part<F>> {
    let len = file.metadata().ok()?.len();
    if len == 0 {
        return Some(Part::empty(ctx.proto));
    }
    let map = Map::open(file).ok()?;
    let bytes = map.bytes();
    let from = if bytes.starts_with(BOM) { BOM.len() } else { 0 };
    let ranges = chunks(bytes, from, CHUNK);
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

/// What to do with a source before reading it.
enum Plan<F> {
    Skip,
    Answered(F, ScanReport),
    Read,
}

/// What to do with `src`, and what its index file said if it could not
/// be used (in the report's index counts). An index is used only when
/// [`inspect_index`] finds it valid: its own digest, and its archive's
/// length and SHA-256, hashed unless the archive's identity recorded in
/// the index is trusted (docs/format.md, "Archive indexes").
fn plan<F: Fold>(ctx: &Ctx<'_, F>, src: &Source, use_index_answers: bool) -> (Plan<F>, ScanReport) {
    let mut notes = ScanReport::default();
    // Strict scans read everything: Scan::ctx sets Pruning::Off for them.
    if ctx.pruning == Pruning::Off {
        return (Plan::Read, notes);
    }
    let f = ctx.filter;
    if let Some(idx_path) = &src.index {
        let ins = inspect_index(&RealFs, &src.path, idx_path);
        notes.indexes_hashed += u64::from(ins.hashed);
        match ins.check {
            IndexCheck::Valid(idx) => {
                return (plan_indexed(ctx, &idx.summary, use_index_answers), notes);
            }
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
        return Plan::Answered(
            fold,
            ScanReport {
                read,
                from_index: 1,
                ..ScanReport::default()
            },
        );
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
        Plan::Answered(fold, mut report) => {
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
        Ok(Opened::Map(file, path2)) => match scan_mapped(ctx, &path2, &file) {
            Some(p) => p,
            None => {
                let p = scan_stream(
                    ctx,
                    &path2,
                    BufReader::with_capacity(READ_BUFFER, file),
                    false,
                );
                if let Some(pr) = ctx.progress {
                    pr.add(size);
                }
                p
            }
        },
        Ok(Opened::Stream(r, gzip, path2, size)) => {
            let p = scan_stream(ctx, &path2, r, gzip);
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

enum Opened {
    Map(File, std::path::PathBuf),
    Stream(Box<dyn BufRead + Send>, bool, std::path::PathBuf, u64),
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
    match src.kind {
        Kind::Live(f) => Ok(Opened::Stream(
            Box::new(BufReader::with_capacity(READ_BUFFER, f)),
            false,
            src.path,
            src.size,
        )),
        Kind::Gzip => match open_input(&src.path) {
            Ok(f) => Ok(Opened::Stream(
                Box::new(gzip_reader(f, reopen(&src.path))),
                true,
                src.path,
                src.size,
            )),
            Err(e) => Err(problem(&src.path, e)),
        },
        Kind::Mapped | Kind::Buffered => match open_input(&src.path) {
            Ok(f) if matches!(src.kind, Kind::Mapped) => Ok(Opened::Map(f, src.path)),
            Ok(f) => Ok(Opened::Stream(
                Box::new(BufReader::with_capacity(READ_BUFFER, f)),
                false,
                src.path,
                src.size,
            )),
            Err(e) if e.kind() == io::ErrorKind::NotFound && src.archive_instead.is_some() => {
                // Compressed since the listing: its archive holds the same records.
                let gz = src.archive_instead.unwrap_or_default();
                match open_input(&gz) {
                    Ok(f) => Ok(Opened::Stream(
                        Box::new(gzip_reader(f, reopen(&gz))),
                        true,
                        gz,
                        src.size,
                    )),
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

/// Streams the matching records of every source in log order to `emit`,
/// parsing up to `window` chunks at once; stops when `emit` breaks.
pub(crate) fn stream_records(
    ctx: &Ctx<'_, Collect>,
    pool: &rayon::ThreadPool,
    sources: Vec<Source>,
    window: usize,
    emit: &mut dyn FnMut(scout_audit_core::Record) -> ControlFlow<()>,
) -> ScanReport {
    let mut report = ScanReport::default();
    // Plans (which hash archives with an index) are made a pool's width of
    // sources at a time, in parallel, ahead of the reading.
    let width = pool.current_num_threads().max(1);
    let mut sources = sources.into_iter();
    let mut planned = Vec::new().into_iter();
    loop {
        let Some((src, skip, notes)) = planned.next() else {
            let group: Vec<Source> = sources.by_ref().take(width).collect();
            if group.is_empty() {
                break;
            }
            let plans: Vec<(Source, bool, ScanReport)> = pool.install(|| {
                group
                    .into_par_iter()
                    .map(|src| {
                        let (plan, notes) = plan(ctx, &src, false);
                        (src, matches!(plan, Plan::Skip), notes)
                    })
                    .collect()
            });
            planned = plans.into_iter();
            continue;
        };
        report.merge(notes);
        // Progress by whole sources: a record stream has no chunk totals.
        let size = src.size;
        let done = |ctx: &Ctx<'_, Collect>| {
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
        match open(src) {
            Err(p) => state.report.read.add_problem(p),
            Ok(Opened::Map(file, path)) => {
                let map = file
                    .metadata()
                    .ok()
                    .filter(|m| m.len() > 0)
                    .and_then(|_| Map::open(&file).ok());
                match map {
                    Some(map) => {
                        let bytes = map.bytes();
                        let from = if bytes.starts_with(BOM) { BOM.len() } else { 0 };
                        let ranges = chunks(bytes, from, CHUNK / 4);
                        for group in ranges.chunks(window.max(1)) {
                            let parts: Vec<Part<Collect>> = pool.install(|| {
                                group
                                    .par_iter()
                                    .map(|r| {
                                        let p = scan_lines(
                                            ctx,
                                            &path,
                                            &bytes[r.clone()],
                                            r.start as u64,
                                        );
                                        map.release(r);
                                        p
                                    })
                                    .collect()
                            });
                            if state.emit(ctx, parts, emit) {
                                break;
                            }
                        }
                        state.report.read.bytes = bytes.len() as u64;
                    }
                    None => {
                        let r = BufReader::with_capacity(READ_BUFFER, file);
                        stream_file(ctx, pool, &path, r, false, window, &mut state, emit);
                    }
                }
            }
            Ok(Opened::Stream(r, gzip, path, _)) => {
                stream_file(ctx, pool, &path, r, gzip, window, &mut state, emit)
            }
        }
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

struct StreamState {
    report: ScanReport,
    lines: u64,
    stopped: bool,
}

impl StreamState {
    /// Emits the records of parts in order; true when the stream must stop.
    fn emit(
        &mut self,
        ctx: &Ctx<'_, Collect>,
        parts: Vec<Part<Collect>>,
        emit: &mut dyn FnMut(scout_audit_core::Record) -> ControlFlow<()>,
    ) -> bool {
        for mut p in parts {
            for pr in &mut p.report.read.problems {
                if pr.line > 0 {
                    pr.line += self.lines;
                }
            }
            self.lines += p.lines;
            let problem = p.report.read.problem_count() > 0;
            for r in p.fold.0.drain(..) {
                if emit(r).is_break() {
                    self.stopped = true;
                    break;
                }
            }
            self.report.merge(p.report);
            if self.stopped || (ctx.strict && problem) {
                self.stopped = true;
                return true;
            }
        }
        false
    }
}

/// Streams one buffered file: pieces are copied into blocks of about a
/// MiB, `window` blocks parsed at once.
#[allow(clippy::too_many_arguments)]
fn stream_file<R: BufRead>(
    ctx: &Ctx<'_, Collect>,
    pool: &rayon::ThreadPool,
    path: &Path,
    mut r: R,
    gzip: bool,
    window: usize,
    state: &mut StreamState,
    emit: &mut dyn FnMut(scout_audit_core::Record) -> ControlFlow<()>,
) {
    enum Block {
        Lines(Vec<u8>, u64),
        TooLong(u64, u64),
    }
    const BLOCK: usize = 1 << 20;
    let mut pending: Vec<Block> = Vec::new();
    let mut flush = |pending: &mut Vec<Block>, state: &mut StreamState| -> bool {
        let parts: Vec<Part<Collect>> = pool.install(|| {
            pending
                .par_iter()
                .map(|b| match b {
                    Block::Lines(bytes, at) => scan_lines(ctx, path, bytes, *at),
                    Block::TooLong(len, at) => {
                        let mut p = Part::empty(ctx.proto);
                        p.lines = 1;
                        p.problem(path, 1, *at, ProblemKind::TooLong(*len));
                        p
                    }
                })
                .collect()
        });
        pending.clear();
        state.emit(ctx, parts, emit)
    };
    let mut stop = false;
    let (bytes, err) = read_pieces(&mut r, &mut |piece| {
        if stop {
            return;
        }
        match piece {
            Piece::Lines(b, at) => match pending.last_mut() {
                Some(Block::Lines(v, _)) if v.len() + b.len() <= BLOCK => v.extend_from_slice(b),
                _ => pending.push(Block::Lines(b.to_vec(), at)),
            },
            Piece::TooLong(len, at) => pending.push(Block::TooLong(len, at)),
        }
        if pending.len() > window.max(1) {
            stop = flush(&mut pending, state);
        }
    });
    if !stop && !pending.is_empty() {
        stop = flush(&mut pending, state);
    }
    if !stop && let Some(e) = err {
        let kind = if gzip {
            ProblemKind::Gzip(e.to_string())
        } else {
            ProblemKind::Io(format!("read failed: {e}"))
        };
        state.report.read.add_problem(Problem {
            path: path.to_path_buf(),
            line: 0,
            offset: bytes,
            kind,
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
}
