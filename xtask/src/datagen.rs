//! `cargo xtask gen`: deterministic, realistic scout-audit data.
//!
//! [`generate`] writes, from a seed and a few sizes, either a store
//! ([`Shape::Store`]: sealed gzip archives named as docs/format.md says and the
//! live file, newest records last) or one plain JSONL file
//! ([`Shape::Plain`]). The same [`GenOptions`] give byte-identical files on
//! every run and every machine (the one exception is `end` set to now).
//!
//! ```no_run
//! use xtask::datagen::{GenOptions, MIB, generate};
//!
//! let mut opts = GenOptions::new("/tmp/scout/audit.jsonl");
//! opts.archive_bytes = 100 * MIB;
//! let summary = generate(&opts)?;
//! println!("{summary}");
//! # Ok::<(), anyhow::Error>(())
//! ```
//!
//! What the data looks like:
//!
//! - Records are the project's own encoding
//!   ([`scout_audit_core::Event::encode_into`]), or,
//!   with [`GenOptions::python_style`], what the Python original's
//!   `json.dumps` wrote: `", "` and `": "` separators, non-ASCII escaped,
//!   no `seq`.
//! - Event types follow [`EVENT_MIX`]; sessions (uuid4-looking ids) live a
//!   few hundred records, up to three write at once, and each numbers its
//!   records from 0 without gaps (`seq`). Costs come from token counts and
//!   model prices, rounded to 6 significant digits, in `0.0001..=0.2`.
//! - Timestamps grow strictly, spread evenly (by bytes written) over the
//!   `days` ending at `end`, with random microseconds.
//! - With [`GenOptions::malformed`] > 0, that fraction of lines is replaced
//!   by damage of the kinds in [`Damage`]. A damaged line never advances a
//!   session's `seq`: the valid records stay contiguous, and a damaged line
//!   is never a duplicate of a valid one.
//!
//! Archive naming follows docs/format.md (`<stem>-YYYYMMDDTHHMMSSZ-NNNNNN.jsonl.gz`,
//! see [`archive_name`]), through store-file's `Layout`. The seal time of an archive is the second after
//! its last line's timestamp; every later line is stamped at or after it,
//! so an archive's name bounds its records and name order is time order.

use scout_audit_store_file::Layout as StoreLayout;
use scout_audit_store_file::layout::{Segment, SegmentKind};
use std::collections::VecDeque;
use std::fmt;
use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::sync::mpsc::{self, Receiver, SyncSender};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use anyhow::{Context, bail, ensure};
use flate2::Compression;
use flate2::write::GzEncoder;
use scout_audit_core::{Timestamp, types};

mod python;
mod records;

use records::{Gen, Item};

/// Bytes in a MiB.
pub const MIB: u64 = 1 << 20;

/// How much of a file is gathered in memory before it is written (or
/// handed to the compressor).
const CHUNK: usize = 256 * 1024;

/// How many archives may still be compressing in the background while the
/// next one is written. Compression is the bottleneck (about 100 MiB/s on
/// one core, against 230 MiB/s for generating), so the writer runs ahead
/// and two archives compress at once, keeping two cores busy.
const MAX_CLOSING: usize = 1;

/// How many full chunks may wait for one archive's compressing thread
/// (4 MiB). Compression is slower than generating, so the deeper this
/// queue, the further the writer runs ahead and the longer two archives
/// compress at once: 2 chunks give 1 GiB in ~9 s on two cores, 16 in ~7 s.
/// Memory stays bounded whatever the segment size.
const QUEUE_CHUNKS: usize = 16;

/// The event types written and their weights (percent of records).
pub const EVENT_MIX: [(&str, u32); 6] = [
    (types::NAV, 45),
    (types::LLM_CALL, 25),
    (types::BRIEF, 10),
    (types::VALIDATION_FAIL, 8),
    (types::CASCADE, 8),
    (types::BUDGET_EXCEEDED, 4),
];

/// Models, their weight, and their price in dollars per million input and
/// output tokens.
pub const MODELS: [(&str, u32, f64, f64); 4] = [
    ("claude-sonnet-4", 35, 3.0, 15.0),
    ("claude-haiku-4", 30, 0.8, 4.0),
    ("gpt-4.1-mini", 20, 0.4, 1.6),
    ("llama-3.1-70b", 15, 0.6, 0.6),
];

/// The smallest and largest cost written.
pub const COST_RANGE: (f64, f64) = (0.0001, 0.2);

/// The shape of what [`generate`] writes, chosen by `--layout`: a store
/// or one plain file. (Not store-file's `Layout`, which names the files of
/// a store; a [`Shape::Store`] is named through it.)
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Shape {
    /// A store: gzip archives of `segment_bytes` each, then the live file.
    Store,
    /// One plain JSONL file at `out` holding everything, in time order.
    Plain,
}

impl FromStr for Shape {
    type Err = String;

    fn from_str(s: &str) -> Result<Shape, String> {
        match s {
            "store" => Ok(Shape::Store),
            "plain" => Ok(Shape::Plain),
            _ => Err(format!("unknown layout {s:?} (expected store or plain)")),
        }
    }
}

impl fmt::Display for Shape {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Shape::Store => "store",
            Shape::Plain => "plain",
        })
    }
}

/// What to generate. [`GenOptions::new`] gives the defaults of
/// `cargo xtask gen`.
#[derive(Clone, Debug)]
pub struct GenOptions {
    /// The live file of the store (or the plain file). Its directory is
    /// created with mode 0700, files with 0600.
    pub out: PathBuf,
    /// Size of the live file, in bytes (store layout). Default 1 MiB.
    pub live_bytes: u64,
    /// Total uncompressed bytes in the gzip archives. Default 10 MiB.
    pub archive_bytes: u64,
    /// Uncompressed size of each archive (the store's rotation size). The
    /// last archive holds what remains of `archive_bytes`. Default 10 MiB.
    pub segment_bytes: u64,
    /// The records cover this many days ending at `end`. Default 30.
    pub days: f64,
    /// The end of the time span. Default 2026-11-27T00:00:00Z.
    pub end: Timestamp,
    /// Fraction of lines replaced by damage, `0.0..=1.0`. Default 0.
    pub malformed: f64,
    /// The seed of everything random. Default 1.
    pub seed: u64,
    /// Store or plain file. Default store.
    pub shape: Shape,
    /// Lines as the Python original wrote them. Default false.
    pub python_style: bool,
    /// Replace the files of an existing store at `out` (the live file and
    /// its archives) instead of refusing.
    pub force: bool,
}

impl GenOptions {
    /// The default end of the time span, 2026-11-27T00:00:00Z.
    pub fn default_end() -> Timestamp {
        Timestamp::from_date(2026, 11, 27).unwrap_or(Timestamp::UNIX_EPOCH)
    }

    /// The defaults, writing to `out`.
    pub fn new(out: impl Into<PathBuf>) -> GenOptions {
        GenOptions {
            out: out.into(),
            live_bytes: MIB,
            archive_bytes: 10 * MIB,
            segment_bytes: 10 * MIB,
            days: 30.0,
            end: GenOptions::default_end(),
            malformed: 0.0,
            seed: 1,
            shape: Shape::Store,
            python_style: false,
            force: false,
        }
    }

    fn check(&self) -> anyhow::Result<()> {
        ensure!(
            self.days.is_finite() && self.days > 0.0,
            "--days must be a positive number, not {}",
            self.days
        );
        ensure!(
            (0.0..=1.0).contains(&self.malformed),
            "--malformed must be a fraction between 0 and 1, not {}",
            self.malformed
        );
        if self.shape == Shape::Store && self.archive_bytes > 0 {
            ensure!(
                self.segment_bytes >= 1024,
                "--segment-mib must be at least 1 KiB, not {} bytes",
                self.segment_bytes
            );
        }
        ensure!(
            self.out.file_name().is_some(),
            "--out must name a file, not {}",
            self.out.display()
        );
        Ok(())
    }
}

/// The kinds of damage lines, as logs get them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Damage {
    /// A record cut short (a crash mid-write), then `\n`.
    Truncated,
    /// Valid JSON that is not an object: `42`, `null`, `[1, 2, 3]`, ...
    NonObject,
    /// A run of NUL bytes (power loss) or random bytes; never blank, never
    /// holding `{`.
    Garbage,
    /// A record with bytes that are not UTF-8 inside a string.
    InvalidUtf8,
    /// A record whose `ts` is missing, `null`, a number or unparseable
    /// text (and without `seq`).
    BadTs,
}

impl Damage {
    /// All kinds, with the weights they are drawn with.
    pub const MIX: [(Damage, u32); 5] = [
        (Damage::Truncated, 30),
        (Damage::NonObject, 15),
        (Damage::Garbage, 20),
        (Damage::InvalidUtf8, 15),
        (Damage::BadTs, 20),
    ];
}

/// How many damaged lines of each kind were written.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct MalformedCounts {
    /// [`Damage::Truncated`] lines.
    pub truncated: u64,
    /// [`Damage::NonObject`] lines.
    pub non_object: u64,
    /// [`Damage::Garbage`] lines.
    pub garbage: u64,
    /// [`Damage::InvalidUtf8`] lines.
    pub invalid_utf8: u64,
    /// [`Damage::BadTs`] lines.
    pub bad_ts: u64,
}

impl MalformedCounts {
    /// All damaged lines.
    pub fn total(&self) -> u64 {
        self.truncated + self.non_object + self.garbage + self.invalid_utf8 + self.bad_ts
    }

    fn add(&mut self, d: Damage) {
        *match d {
            Damage::Truncated => &mut self.truncated,
            Damage::NonObject => &mut self.non_object,
            Damage::Garbage => &mut self.garbage,
            Damage::InvalidUtf8 => &mut self.invalid_utf8,
            Damage::BadTs => &mut self.bad_ts,
        } += 1;
    }
}

/// What a written file is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FileKind {
    /// A sealed gzip archive.
    Archive {
        /// Its segment number, from 1.
        segment: u64,
        /// Its seal time (in its name).
        sealed: Timestamp,
    },
    /// The live file of a store.
    Live,
    /// The one file of [`Shape::Plain`].
    Plain,
}

/// One file written.
#[derive(Clone, Debug)]
pub struct FileSummary {
    /// Where it is.
    pub path: PathBuf,
    /// What it is.
    pub kind: FileKind,
    /// Lines, valid or not.
    pub lines: u64,
    /// Valid records among the lines.
    pub records: u64,
    /// Damaged lines among the lines.
    pub malformed: u64,
    /// Uncompressed size.
    pub bytes: u64,
    /// Size on disk (compressed for archives).
    pub disk_bytes: u64,
    /// Time of the first valid record.
    pub first: Option<Timestamp>,
    /// Time of the last valid record.
    pub last: Option<Timestamp>,
}

/// What [`generate`] wrote.
#[derive(Clone, Debug)]
pub struct GenSummary {
    /// The files, oldest first (archives by segment number, then the live
    /// file).
    pub files: Vec<FileSummary>,
    /// Valid records.
    pub records: u64,
    /// Damaged lines, by kind.
    pub malformed: MalformedCounts,
    /// Uncompressed bytes.
    pub bytes: u64,
    /// Bytes on disk.
    pub disk_bytes: u64,
    /// Time of the first valid record.
    pub first: Option<Timestamp>,
    /// Time of the last valid record.
    pub last: Option<Timestamp>,
    /// Wall time taken.
    pub elapsed: Duration,
}

impl GenSummary {
    /// The totals of `files`, written in `elapsed`.
    fn of(files: Vec<FileSummary>, malformed: MalformedCounts, elapsed: Duration) -> GenSummary {
        let first = files.iter().find_map(|s| s.first);
        let last = files.iter().rev().find_map(|s| s.last);
        GenSummary {
            records: files.iter().map(|s| s.records).sum(),
            malformed,
            bytes: files.iter().map(|s| s.bytes).sum(),
            disk_bytes: files.iter().map(|s| s.disk_bytes).sum(),
            first,
            last,
            files,
            elapsed,
        }
    }
}

impl fmt::Display for GenSummary {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let archives: Vec<&FileSummary> = self
            .files
            .iter()
            .filter(|s| matches!(s.kind, FileKind::Archive { .. }))
            .collect();
        let name = |s: &FileSummary| {
            s.path
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default()
        };
        match self.files.last() {
            Some(last) if last.kind == FileKind::Plain => {
                write!(f, "wrote 1 plain JSONL file, {}", last.path.display())?;
            }
            Some(live) => {
                write!(
                    f,
                    "wrote {} file{} beside {}: ",
                    self.files.len(),
                    if self.files.len() == 1 { "" } else { "s" },
                    live.path.display()
                )?;
                if let (Some(a), Some(b)) = (archives.first(), archives.last()) {
                    let raw: u64 = archives.iter().map(|s| s.bytes).sum();
                    let disk: u64 = archives.iter().map(|s| s.disk_bytes).sum();
                    write!(
                        f,
                        "{} gzip archive{} ({}, {} compressed to {}) and ",
                        archives.len(),
                        if archives.len() == 1 { "" } else { "s" },
                        if archives.len() == 1 {
                            name(a)
                        } else {
                            format!("{} to {}", name(a), name(b))
                        },
                        mib(raw),
                        mib(disk),
                    )?;
                }
                write!(f, "the live file ({})", mib(live.bytes))?;
            }
            None => write!(f, "wrote no file")?,
        }
        let m = &self.malformed;
        write!(
            f,
            "; {} records and {} malformed lines",
            thousands(self.records),
            thousands(m.total())
        )?;
        if m.total() > 0 {
            write!(
                f,
                " ({} truncated, {} not objects, {} garbage, {} invalid UTF-8, {} bad ts)",
                m.truncated, m.non_object, m.garbage, m.invalid_utf8, m.bad_ts
            )?;
        }
        write!(
            f,
            "; {} uncompressed, {} on disk",
            mib(self.bytes),
            mib(self.disk_bytes)
        )?;
        if let (Some(a), Some(b)) = (self.first, self.last) {
            let days = b.duration_since(a).as_secs_f64() / 86_400.0;
            write!(f, "; records from {a} to {b} ({days:.1} days)")?;
        }
        let secs = self.elapsed.as_secs_f64();
        write!(
            f,
            "; took {secs:.2} s ({:.0} MiB/s uncompressed).",
            self.bytes as f64 / MIB as f64 / secs.max(1e-9)
        )
    }
}

fn mib(bytes: u64) -> String {
    if bytes >= MIB {
        format!("{:.1} MiB", bytes as f64 / MIB as f64)
    } else {
        format!("{:.1} KiB", bytes as f64 / 1024.0)
    }
}

fn thousands(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// The name of a sealed archive of the store `layout` describes:
/// `<stem>-YYYYMMDDTHHMMSSZ-NNNNNN.jsonl.gz` (docs/format.md), from the store's
/// one definition of the layout. `None` if the layout cannot name that
/// seal time (beyond the years it writes).
pub fn archive_name(layout: &StoreLayout, sealed: Timestamp, segment: u64) -> Option<String> {
    let sealed = sealed_segment(layout, sealed.unix_secs(), segment)?;
    let path = layout.archive_path(&sealed);
    Some(path.file_name()?.to_str()?.to_owned())
}

/// The seal time and segment number of an archive name made by
/// [`archive_name`], or `None` if `name` is not one.
pub fn parse_archive_name(layout: &StoreLayout, name: &str) -> Option<(Timestamp, u64)> {
    let seg = layout.parse_segment(name)?;
    if seg.kind != SegmentKind::Archive {
        return None;
    }
    Some((seg.seal_time(), seg.number?))
}

/// Segment `number` of the store, sealed at `seal_secs`, as the layout
/// reads its name back: what the layout's archive and temporary names are
/// derived from. `None` if the layout cannot name that second.
fn sealed_segment(layout: &StoreLayout, seal_secs: i64, number: u64) -> Option<Segment> {
    layout.parse_segment(&layout.sealed_name(seal_secs, number))
}

/// Writes the data `opts` describe and says what was written.
///
/// Refuses to overwrite an existing store (the live file or any segment of
/// it) unless `opts.force` is set, in which case those files are removed
/// first. An archive is written under the layout's temporary name
/// (`.gz.tmp`, sealed at the epoch: its seal time is known only once its
/// last line is) and renamed to its archive name once sealed.
pub fn generate(opts: &GenOptions) -> anyhow::Result<GenSummary> {
    let started = Instant::now();
    opts.check()?;
    let targets = plan(opts);
    let total: u64 = targets.iter().map(|t| t.cap).sum();
    let span_us = span_for(opts, total)?;
    let layout = prepare_dir(opts)?;

    let mut lines = LineStream {
        records: Gen::new(opts, total.max(1), span_us),
        line: Vec::with_capacity(4096),
        pending: None,
    };
    let mut files = Vec::with_capacity(targets.len());
    let mut closing: VecDeque<Closing> = VecDeque::new();
    for t in &targets {
        closing.push_back(write_target(t, &layout, &opts.out, &mut lines)?);
        // Archives still compressing, besides the one being written next.
        while closing.len() > MAX_CLOSING {
            if let Some(c) = closing.pop_front() {
                files.push(c.complete()?);
            }
        }
    }
    for c in closing {
        files.push(c.complete()?);
    }
    sync_dir(layout.dir())?;
    Ok(GenSummary::of(
        files,
        lines.records.counts,
        started.elapsed(),
    ))
}

/// The time span in microseconds, checked to leave every line of `total`
/// bytes its own microsecond.
fn span_for(opts: &GenOptions, total: u64) -> anyhow::Result<i64> {
    let span_us = (opts.days * 86_400e6) as i64;
    ensure!(
        span_us as f64 >= total as f64 / 100.0,
        "{} days are too short for {} of records (timestamps must grow by at least 1 µs); use more --days",
        opts.days,
        mib(total)
    );
    Ok(span_us)
}

/// Creates the output's directory and clears (or refuses) what a run would
/// mix with; returns the layout of the store at `opts.out`.
fn prepare_dir(opts: &GenOptions) -> anyhow::Result<StoreLayout> {
    let dir = match opts.out.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    create_dir(&dir)?;
    let file_name = opts
        .out
        .file_name()
        .and_then(|n| n.to_str())
        .context("--out must be a UTF-8 file name")?;
    let layout = StoreLayout::new(&opts.out).map_err(anyhow::Error::msg)?;
    clear_old_files(opts, &layout, file_name)?;
    Ok(layout)
}

/// The generated lines, in order, and the one that did not fit the last
/// file (already encoded in `line`), which opens the next.
struct LineStream {
    records: Gen,
    /// The encoding of the newest item, `\n` included.
    line: Vec<u8>,
    /// An item made and encoded but not written: the file it was made for
    /// was full.
    pending: Option<Item>,
}

impl LineStream {
    /// Writes lines into `w` while they fit in `cap` bytes (an archive
    /// takes its first line whatever its size, so every archive has one).
    fn fill(&mut self, w: &mut FileWriter, cap: u64, is_archive: bool) -> anyhow::Result<()> {
        loop {
            let item = match self.pending.take() {
                Some(item) => item,
                None => {
                    let item = self.records.next_item();
                    self.records.encode(&item, &mut self.line);
                    item
                }
            };
            let len = self.line.len() as u64;
            if w.summary.bytes + len > cap && !(is_archive && w.summary.lines == 0) {
                self.pending = Some(item);
                return Ok(());
            }
            w.push(&self.line, &item)?;
            self.records.commit(&item, len);
        }
    }

    /// Seals the archive just filled: the second after its last line,
    /// before every later line (the pending one is restamped if need be).
    fn seal(&mut self) -> Timestamp {
        let sealed_us = (self.records.prev_us.div_euclid(1_000_000) + 1) * 1_000_000;
        self.records
            .seal(sealed_us, self.pending.as_mut(), &mut self.line);
        Timestamp::from_unix_micros(sealed_us)
    }
}

/// Writes the file `t` plans, up to handing it to [`Closing::complete`].
fn write_target(
    t: &Target,
    layout: &StoreLayout,
    out: &Path,
    lines: &mut LineStream,
) -> anyhow::Result<Closing> {
    let path = match t.kind {
        FileKind::Archive { segment, .. } => {
            let provisional = sealed_segment(layout, 0, segment)
                .with_context(|| format!("the store layout cannot name segment {segment}"))?;
            layout.temp_path(&provisional)
        }
        FileKind::Live | FileKind::Plain => out.to_path_buf(),
    };
    let is_archive = matches!(t.kind, FileKind::Archive { .. });
    let mut w = FileWriter::create(&path, t.kind)?;
    // A file of no bytes (an empty live file) is created and left empty.
    if t.cap > 0 {
        lines.fill(&mut w, t.cap, is_archive)?;
    }
    let mut done = w.close()?;
    if let FileKind::Archive { segment, .. } = t.kind {
        let sealed = lines.seal();
        let named = sealed_segment(layout, sealed.unix_secs(), segment)
            .with_context(|| format!("the store layout cannot name a seal time of {sealed}"))?;
        done.rename_to = Some(layout.archive_path(&named));
        done.summary.kind = FileKind::Archive { segment, sealed };
    }
    Ok(done)
}

/// One file to write and how many bytes it may hold.
struct Target {
    kind: FileKind,
    cap: u64,
}

fn plan(opts: &GenOptions) -> Vec<Target> {
    match opts.shape {
        Shape::Plain => vec![Target {
            kind: FileKind::Plain,
            cap: opts.archive_bytes + opts.live_bytes,
        }],
        Shape::Store => {
            let mut targets = Vec::new();
            let mut left = opts.archive_bytes;
            let mut segment = 0;
            while left > 0 {
                segment += 1;
                let cap = left.min(opts.segment_bytes);
                left -= cap;
                targets.push(Target {
                    kind: FileKind::Archive {
                        segment,
                        sealed: Timestamp::UNIX_EPOCH,
                    },
                    cap,
                });
            }
            targets.push(Target {
                kind: FileKind::Live,
                cap: opts.live_bytes,
            });
            targets
        }
    }
}

fn create_dir(dir: &Path) -> anyhow::Result<()> {
    let mut b = fs::DirBuilder::new();
    b.recursive(true);
    #[cfg(unix)]
    std::os::unix::fs::DirBuilderExt::mode(&mut b, 0o700);
    b.create(dir)
        .with_context(|| format!("create directory {}", dir.display()))
}

fn sync_dir(dir: &Path) -> anyhow::Result<()> {
    #[cfg(unix)]
    File::open(dir)
        .and_then(|d| d.sync_all())
        .with_context(|| format!("fsync directory {}", dir.display()))?;
    #[cfg(not(unix))]
    let _ = dir;
    Ok(())
}

/// Removes (with `force`) or refuses the files a run would mix with: the
/// output file and, for a store, every segment file the store's layout
/// reads as its own (archives, sealed uncompressed segments, temporaries,
/// and the Python original's archives).
fn clear_old_files(opts: &GenOptions, layout: &StoreLayout, file_name: &str) -> anyhow::Result<()> {
    let dir = layout.dir();
    let mut old = Vec::new();
    let entries = fs::read_dir(dir).with_context(|| format!("read directory {}", dir.display()))?;
    for entry in entries {
        let entry = entry.with_context(|| format!("read directory {}", dir.display()))?;
        let name = entry.file_name();
        let Some(name) = name.to_str() else { continue };
        let ours = name == file_name
            || (opts.shape == Shape::Store && layout.parse_segment(name).is_some());
        if ours {
            old.push(entry.path());
        }
    }
    old.sort();
    if old.is_empty() {
        return Ok(());
    }
    if !opts.force {
        bail!(
            "{} already holds {} file{} of this store (such as {}); pass --force to replace them",
            dir.display(),
            old.len(),
            if old.len() == 1 { "" } else { "s" },
            old[0].display()
        );
    }
    for p in old {
        fs::remove_file(&p).with_context(|| format!("remove {}", p.display()))?;
    }
    Ok(())
}

/// Where the bytes of one generated file go: straight into the file, or
/// through a compressing thread. (Not core's `Sink`, which acknowledges
/// events.)
enum Output {
    Plain(File),
    Gz(Compressor),
}

/// A gzip stream (one member, default level) compressed by a helper
/// thread, so compressing an archive overlaps with generating its lines:
/// on two cores a store of archives takes about half the time.
struct Compressor {
    /// Full chunks to compress; at most [`QUEUE_CHUNKS`] wait. `None` once
    /// finishing.
    tx: Option<SyncSender<Vec<u8>>>,
    /// Compressed chunks coming back, to be refilled.
    free: Receiver<Vec<u8>>,
    /// The thread; it returns the file once the stream is finished.
    /// `None` once joined.
    thread: Option<JoinHandle<io::Result<File>>>,
}

impl Compressor {
    fn new(file: File) -> Compressor {
        let (tx, rx) = mpsc::sync_channel::<Vec<u8>>(QUEUE_CHUNKS);
        let (free_tx, free) = mpsc::channel();
        let thread = thread::spawn(move || {
            let mut z = GzEncoder::new(file, Compression::default());
            for chunk in rx {
                z.write_all(&chunk)?;
                // The writer may be gone already; the buffer is then dropped.
                let _ = free_tx.send(chunk);
            }
            z.finish()
        });
        Compressor {
            tx: Some(tx),
            free,
            thread: Some(thread),
        }
    }

    /// Hands `chunk` over and leaves an empty buffer in its place.
    fn send(&mut self, chunk: &mut Vec<u8>) -> io::Result<()> {
        let mut next = self
            .free
            .try_recv()
            .unwrap_or_else(|_| Vec::with_capacity(CHUNK + 8192));
        next.clear();
        let full = std::mem::replace(chunk, next);
        let sent = self.tx.as_ref().map(|tx| tx.send(full));
        match sent {
            Some(Ok(())) => Ok(()),
            // The thread stopped: it met an error, which joining returns.
            _ => self.join().map(drop),
        }
    }

    /// Ends the stream and returns the file.
    fn join(&mut self) -> io::Result<File> {
        self.tx = None;
        match self.thread.take().map(JoinHandle::join) {
            Some(Ok(r)) => r,
            Some(Err(_)) => Err(io::Error::other("the compressing thread panicked")),
            None => Err(io::Error::other("the compressing thread has already ended")),
        }
    }
}

/// A file being written: lines gathered in `chunk`, then written whole.
struct FileWriter {
    path: PathBuf,
    output: Output,
    /// Lines not yet handed to `output`; flushed when it reaches [`CHUNK`].
    chunk: Vec<u8>,
    /// Counts so far; `disk_bytes` is set by `finish`.
    summary: FileSummary,
}

impl FileWriter {
    fn create(path: &Path, kind: FileKind) -> anyhow::Result<FileWriter> {
        let mut o = OpenOptions::new();
        o.write(true).create(true).truncate(true);
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::mode(&mut o, 0o600);
        let file = o
            .open(path)
            .with_context(|| format!("create {}", path.display()))?;
        let output = match kind {
            FileKind::Archive { .. } => Output::Gz(Compressor::new(file)),
            FileKind::Live | FileKind::Plain => Output::Plain(file),
        };
        Ok(FileWriter {
            path: path.to_path_buf(),
            output,
            chunk: Vec::with_capacity(CHUNK + 8192),
            summary: FileSummary {
                path: path.to_path_buf(),
                kind,
                lines: 0,
                records: 0,
                malformed: 0,
                bytes: 0,
                disk_bytes: 0,
                first: None,
                last: None,
            },
        })
    }

    fn push(&mut self, line: &[u8], item: &Item) -> anyhow::Result<()> {
        self.chunk.extend_from_slice(line);
        let s = &mut self.summary;
        s.lines += 1;
        s.bytes += line.len() as u64;
        match item.damage {
            None => {
                let ts = Timestamp::from_unix_micros(item.ts_us);
                s.records += 1;
                s.first.get_or_insert(ts);
                s.last = Some(ts);
            }
            Some(_) => s.malformed += 1,
        }
        if self.chunk.len() >= CHUNK {
            self.flush_chunk()?;
        }
        Ok(())
    }

    fn flush_chunk(&mut self) -> anyhow::Result<()> {
        let r = match &mut self.output {
            Output::Plain(f) => f.write_all(&self.chunk),
            Output::Gz(z) => z.send(&mut self.chunk),
        };
        r.with_context(|| format!("write {}", self.path.display()))?;
        self.chunk.clear();
        Ok(())
    }

    /// Writes what is left and ends the stream; [`Closing::complete`]
    /// waits for the compression to end.
    fn close(mut self) -> anyhow::Result<Closing> {
        self.flush_chunk()?;
        if let Output::Gz(z) = &mut self.output {
            z.tx = None;
        }
        Ok(Closing {
            path: self.path,
            output: self.output,
            summary: self.summary,
            rename_to: None,
        })
    }
}

/// A file whose every line is written, maybe still being compressed.
struct Closing {
    path: PathBuf,
    output: Output,
    summary: FileSummary,
    /// Its final name, for an archive (written under a `.tmp` name).
    rename_to: Option<PathBuf>,
}

impl Closing {
    /// Waits for the file to be complete, fsyncs it and gives it its name.
    fn complete(self) -> anyhow::Result<FileSummary> {
        let Closing {
            path,
            output,
            mut summary,
            rename_to,
        } = self;
        let file = match output {
            Output::Plain(f) => f,
            Output::Gz(mut z) => z
                .join()
                .with_context(|| format!("write {}", path.display()))?,
        };
        file.sync_all()
            .with_context(|| format!("fsync {}", path.display()))?;
        summary.disk_bytes = file
            .metadata()
            .with_context(|| format!("stat {}", path.display()))?
            .len();
        if let Some(to) = rename_to {
            fs::rename(&path, &to)
                .with_context(|| format!("rename {} to {}", path.display(), to.display()))?;
            summary.path = to;
        }
        Ok(summary)
    }
}

#[cfg(test)]
mod tests;
