//! The sequential reader: every record of a store in log order (archives
//! by the layout's order, then the live file), streamed, with malformed
//! lines counted and located, never fatal unless asked.
//!
//! **Snapshot.** The directory listing and the opening of the live file
//! happen under a shared lock, so no rotation falls between them: a reader
//! sees each record once. Segments are opened lazily; a sealed `.jsonl`
//! compressed meanwhile is read from its `.gz`, an archive deleted by
//! retention meanwhile is reported as vanished.

use std::fmt;
use std::io::{self, BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use flate2::bufread::MultiGzDecoder;
use scout_audit_core::{Filter, Record};

use crate::error::{Error, Result};
use crate::fs::{Fs, ReadFile, RealFs};
use crate::layout::{Layout, Listing, Segment, SegmentKind};
use crate::lines::{Item, LineReader, Pos};

/// How many problems a report keeps with their locations (all are counted).
pub const MAX_LOCATED: usize = 1000;

/// What is wrong at a place in a segment.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ProblemKind {
    /// A line that is not a record.
    Malformed(String),
    /// A line longer than the reader's limit.
    TooLong(u64),
    /// The segment ends in bytes that are not a record and no `\n` (in the
    /// live file also a write in progress).
    TornTail(u64),
    /// A torn fragment with a record glued after it (the record was kept).
    TornFragment,
    /// A gzip archive is damaged (not gzip, truncated, bad checksum); the
    /// records before the damage were read.
    Gzip(String),
    /// A segment could not be read.
    Io(String),
    /// An archive was deleted (by retention) between listing and reading.
    Vanished,
}

/// A located problem.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Problem {
    /// The file.
    pub path: PathBuf,
    /// 1-based line number (0 when the problem is not a line).
    pub line: u64,
    /// Byte offset in the (decompressed) file.
    pub offset: u64,
    /// What is wrong.
    pub kind: ProblemKind,
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let p = self.path.display();
        match &self.kind {
            ProblemKind::Malformed(m) => write!(
                f,
                "{p}:{} (byte {}): malformed line: {m}",
                self.line, self.offset
            ),
            ProblemKind::TooLong(n) => write!(
                f,
                "{p}:{} (byte {}): line of {n} bytes is longer than the line bound ({} bytes)",
                self.line,
                self.offset,
                crate::lines::MAX_LINE
            ),
            ProblemKind::TornTail(n) => write!(
                f,
                "{p}:{} (byte {}): torn tail of {n} bytes",
                self.line, self.offset
            ),
            ProblemKind::TornFragment => write!(
                f,
                "{p}:{} (byte {}): torn fragment before a record",
                self.line, self.offset
            ),
            ProblemKind::Gzip(m) => write!(f, "{p}: damaged gzip after {} bytes: {m}", self.offset),
            ProblemKind::Io(m) => write!(f, "{p}: {m}"),
            ProblemKind::Vanished => write!(f, "{p}: deleted while reading (retention)"),
        }
    }
}

/// Counts of what a read met. Every problem is counted; the first
/// [`MAX_LOCATED`] are kept with their locations.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ReadReport {
    /// Records read (before filtering).
    pub records: u64,
    /// Records that matched the filter.
    pub matched: u64,
    /// Segments opened.
    pub segments: u64,
    /// Bytes read (decompressed).
    pub bytes: u64,
    /// Malformed lines (not JSON objects, or too long).
    pub malformed: u64,
    /// Torn tails.
    pub torn_tails: u64,
    /// Torn fragments with a record glued after them.
    pub torn_fragments: u64,
    /// Damaged archives or unreadable segments.
    pub damaged_segments: u64,
    /// Archives deleted while reading.
    pub vanished: u64,
    /// The first problems, located.
    pub problems: Vec<Problem>,
}

impl ReadReport {
    /// All problems counted.
    pub fn problem_count(&self) -> u64 {
        self.malformed
            + self.torn_tails
            + self.torn_fragments
            + self.damaged_segments
            + self.vanished
    }

    /// Counts a problem, keeping its location while fewer than
    /// [`MAX_LOCATED`] are kept.
    pub fn add_problem(&mut self, p: Problem) {
        self.add(p);
    }

    /// Adds the counts and problems of a read of what comes after this
    /// one (problems stay in log order; the first [`MAX_LOCATED`] are kept).
    pub fn merge(&mut self, later: ReadReport) {
        self.records += later.records;
        self.matched += later.matched;
        self.segments += later.segments;
        self.bytes += later.bytes;
        self.malformed += later.malformed;
        self.torn_tails += later.torn_tails;
        self.torn_fragments += later.torn_fragments;
        self.damaged_segments += later.damaged_segments;
        self.vanished += later.vanished;
        let room = MAX_LOCATED.saturating_sub(self.problems.len());
        self.problems.extend(later.problems.into_iter().take(room));
    }

    fn add(&mut self, p: Problem) {
        match p.kind {
            ProblemKind::Malformed(_) | ProblemKind::TooLong(_) => self.malformed += 1,
            ProblemKind::TornTail(_) => self.torn_tails += 1,
            ProblemKind::TornFragment => self.torn_fragments += 1,
            ProblemKind::Gzip(_) | ProblemKind::Io(_) => self.damaged_segments += 1,
            ProblemKind::Vanished => self.vanished += 1,
        }
        if self.problems.len() < MAX_LOCATED {
            self.problems.push(p);
        }
    }
}

/// One input of a reader.
#[derive(Debug)]
pub struct Source {
    /// The file.
    pub path: PathBuf,
    /// Whether it is gzip.
    pub gzip: bool,
    /// The segment it is, for a store's sealed segment or archive.
    pub segment: Option<Segment>,
    /// The live file, opened when the snapshot was taken.
    live: Option<Box<dyn ReadFile>>,
}

impl Source {
    /// A store's sealed segment or archive.
    pub fn sealed(seg: Segment) -> Source {
        Source {
            path: seg.path.clone(),
            gzip: seg.is_gzip(),
            segment: Some(seg),
            live: None,
        }
    }

    /// The opened live file, for a source that is one.
    pub(crate) fn into_live(self) -> Option<Box<dyn ReadFile>> {
        self.live
    }

    /// Whether this is the store's live file (and it was not taken yet).
    pub fn is_live(&self) -> bool {
        self.live.is_some()
    }

    /// Takes the live file opened when the snapshot was taken, for a
    /// reader of its own (another engine); `None` for other sources.
    pub fn take_live(&mut self) -> Option<Box<dyn ReadFile>> {
        self.live.take()
    }
}

/// Capacity of the buffers of [`gzip_reader`], and of the plain reads.
pub const READ_BUFFER: usize = 256 << 10;

/// Opens an archive again from its start (for [`gzip_reader`]'s salvage).
pub type Reopen<'a> = Box<dyn Fn() -> io::Result<Box<dyn io::Read + Send + 'a>> + Send + 'a>;

/// The decompressed bytes of a gzip file (any number of members), as every
/// reader of archives reads them: every byte decompressed before damage is
/// delivered, whatever the sizes of the reads, so the sequential reader,
/// the scanner and the indexer see the same records of a damaged archive.
///
/// A decoder that meets corrupt data in the middle of a `read` returns the
/// error and drops what that same call had already decompressed, up to a
/// whole buffer of records. On the first error this reader decompresses
/// the archive again from its start (`reopen`), skips what it delivered,
/// and goes on one byte per call, so the error comes exactly where the
/// damage is.
pub fn gzip_reader<'a, R: io::Read + Send + 'a>(
    first: R,
    reopen: Reopen<'a>,
) -> BufReader<Salvage<'a>> {
    let first: Box<dyn io::Read + Send + 'a> = Box::new(first);
    BufReader::with_capacity(
        READ_BUFFER,
        Salvage {
            inner: MultiGzDecoder::new(BufReader::with_capacity(READ_BUFFER, first)),
            reopen,
            delivered: 0,
            salvaging: false,
        },
    )
}

/// See [`gzip_reader`].
pub struct Salvage<'a> {
    inner: MultiGzDecoder<BufReader<Box<dyn io::Read + Send + 'a>>>,
    reopen: Reopen<'a>,
    /// Decompressed bytes returned so far.
    delivered: u64,
    /// Whether the second, byte-by-byte pass is under way.
    salvaging: bool,
}

impl io::Read for Salvage<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if buf.is_empty() {
            return Ok(0);
        }
        if self.salvaging {
            return self.inner.read(&mut buf[..1]);
        }
        match self.inner.read(buf) {
            Ok(n) => {
                self.delivered += n as u64;
                Ok(n)
            }
            Err(e) => {
                self.salvaging = true;
                let f = (self.reopen)()?;
                self.inner = MultiGzDecoder::new(BufReader::with_capacity(READ_BUFFER, f));
                let skipped =
                    io::copy(&mut (&mut self.inner).take(self.delivered), &mut io::sink())?;
                if skipped < self.delivered {
                    // The archive changed under us: report the first error.
                    return Err(e);
                }
                self.inner.read(&mut buf[..1])
            }
        }
    }
}

/// A [`Reopen`] through a file system.
pub fn reopen_with<'a>(fs: &'a dyn Fs, path: PathBuf) -> Reopen<'a> {
    Box::new(move || Ok(Box::new(fs.open_read(&path)?) as Box<dyn io::Read + Send>))
}

/// A [`Reopen`] through a shared file system (for readers that outlive the call).
pub fn reopen_shared(fs: Arc<dyn Fs>, path: PathBuf) -> Reopen<'static> {
    Box::new(move || Ok(Box::new(fs.open_read(&path)?) as Box<dyn io::Read + Send>))
}

/// The segments of a store at one moment.
#[derive(Debug)]
pub struct Snapshot {
    /// The inputs, in log order.
    pub sources: Vec<Source>,
    /// The directory listing they came from (taken under the lock).
    pub listing: Listing,
}

impl Snapshot {
    /// Lists the store and opens its live file under the shared lock (when
    /// a lock file exists; reading never creates one).
    ///
    /// Without a lock file no writer of ours has started: a writer creates
    /// it before it renames anything. But one may start while this lists
    /// unlocked, and a listing that runs while a name changes can miss the
    /// segment in both names; so when a lock file has appeared by the end
    /// of an unlocked listing, the listing is taken again, under the lock.
    pub fn take(fs: &dyn Fs, layout: &Layout) -> Result<Snapshot> {
        check_dir(fs, layout)?;
        let lock_path = layout.lock();
        loop {
            let (lock, absent) = match fs.open_lock(&lock_path, false) {
                Ok(l) => (Some(l), false),
                Err(e) if e.kind() == io::ErrorKind::NotFound => (None, true),
                // An unreadable lock file (another user's store): read unlocked.
                Err(e) if e.kind() == io::ErrorKind::PermissionDenied => (None, false),
                Err(e) => return Err(Error::io("open lock file", &lock_path, e)),
            };
            if let Some(l) = &lock {
                l.lock_shared()
                    .map_err(|e| Error::io("lock", &lock_path, e))?;
            }
            let r = Snapshot::take_unlocked(fs, layout);
            if let Some(l) = &lock {
                let _ = l.unlock();
            }
            if absent && fs.stat(&lock_path).is_ok() {
                continue;
            }
            return r;
        }
    }

    fn take_unlocked(fs: &dyn Fs, layout: &Layout) -> Result<Snapshot> {
        let live_path = layout.live();
        if let Ok(m) = fs.stat(&live_path)
            && m.is_dir
        {
            return Err(Error::InvalidPath {
                path: live_path,
                reason: "is a directory".into(),
            });
        }
        let listing = layout
            .list(fs)
            .map_err(|e| Error::io("list", layout.dir(), e))?;
        let mut sources: Vec<Source> = listing
            .readable
            .iter()
            .cloned()
            .map(Source::sealed)
            .collect();
        match fs.open_read(&live_path) {
            Ok(f) => sources.push(Source {
                path: live_path,
                gzip: false,
                segment: None,
                live: Some(f),
            }),
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(e) => return Err(Error::io("open", &live_path, e)),
        }
        Ok(Snapshot { sources, listing })
    }
}

/// The store's directory, if it exists, must be a directory.
pub(crate) fn check_dir(fs: &dyn Fs, layout: &Layout) -> Result<()> {
    match fs.stat(layout.dir()) {
        Ok(m) if !m.is_dir => Err(Error::InvalidPath {
            path: layout.dir().to_path_buf(),
            reason: "is not a directory".into(),
        }),
        _ => Ok(()),
    }
}

type Lines = LineReader<Box<dyn BufRead + Send>>;

/// A located record.
#[derive(Debug)]
pub struct Located {
    /// The record.
    pub record: Record,
    /// Index of its source in the snapshot.
    pub source: usize,
    /// Its line and offset.
    pub pos: Pos,
}

/// Streams the records of a snapshot (see the module docs). An iterator of
/// `Result<Record>`: problems are counted in [`Reader::report`]; with
/// [`Reader::strict`], the first one is returned as an error and the
/// iteration ends.
pub struct Reader {
    fs: Arc<dyn Fs>,
    layout: Option<Layout>,
    sources: Vec<Source>,
    next_source: usize,
    current: Option<(usize, Lines)>,
    filter: Filter,
    strict: bool,
    report: ReadReport,
    done: bool,
}

impl fmt::Debug for Reader {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Reader")
            .field("sources", &self.sources.len())
            .field("next_source", &self.next_source)
            .field("report", &self.report)
            .finish_non_exhaustive()
    }
}

impl Reader {
    /// Reads the store whose live file is `path`, on the real file system.
    pub fn open(path: impl AsRef<Path>) -> Result<Reader> {
        let layout = Layout::new(path.as_ref()).map_err(|reason| Error::InvalidPath {
            path: path.as_ref().to_path_buf(),
            reason,
        })?;
        Reader::open_store(Arc::new(RealFs), layout)
    }

    /// Reads a store through a given file system.
    pub fn open_store(fs: Arc<dyn Fs>, layout: Layout) -> Result<Reader> {
        let snap = Snapshot::take(&*fs, &layout)?;
        Ok(Reader::from_snapshot(fs, Some(layout), snap))
    }

    /// Reads plain files (`.gz` names are read as gzip), in the order given.
    pub fn open_files(paths: impl IntoIterator<Item = PathBuf>) -> Reader {
        let sources = paths
            .into_iter()
            .map(|p| Source {
                gzip: crate::layout::is_gzip_path(&p),
                path: p,
                segment: None,
                live: None,
            })
            .collect();
        Reader::from_snapshot(
            Arc::new(RealFs),
            None,
            Snapshot {
                sources,
                listing: Listing::default(),
            },
        )
    }

    /// Reads a snapshot.
    pub fn from_snapshot(fs: Arc<dyn Fs>, layout: Option<Layout>, snap: Snapshot) -> Reader {
        Reader {
            fs,
            layout,
            sources: snap.sources,
            next_source: 0,
            current: None,
            filter: Filter::new(),
            strict: false,
            report: ReadReport::default(),
            done: false,
        }
    }

    /// Only records matching `filter`.
    pub fn filter(mut self, filter: Filter) -> Self {
        self.filter = filter;
        self
    }

    /// Ends with an error at the first problem instead of counting it.
    pub fn strict(mut self, strict: bool) -> Self {
        self.strict = strict;
        self
    }

    /// What the read met so far.
    pub fn report(&self) -> &ReadReport {
        &self.report
    }

    /// The inputs.
    pub fn sources(&self) -> &[Source] {
        &self.sources
    }

    /// Reads the rest, folding each matching record; returns the report.
    pub fn for_each_record(mut self, mut f: impl FnMut(Record)) -> Result<ReadReport> {
        for r in self.by_ref() {
            f(r?);
        }
        Ok(self.report)
    }

    fn problem(&mut self, p: Problem) -> Option<Error> {
        let err = self.strict.then(|| match &p.kind {
            ProblemKind::Malformed(m) => Error::Malformed {
                path: p.path.clone(),
                line: p.line,
                offset: p.offset,
                reason: m.clone(),
            },
            _ => Error::Malformed {
                path: p.path.clone(),
                line: p.line,
                offset: p.offset,
                reason: p.to_string(),
            },
        });
        self.report.add(p);
        err
    }

    fn open_source(&mut self, i: usize) -> std::result::Result<Lines, Problem> {
        let src = &mut self.sources[i];
        if let Some(f) = src.live.take() {
            return Ok(LineReader::new(Box::new(BufReader::with_capacity(
                READ_BUFFER,
                f,
            ))));
        }
        let (path, gzip) = (src.path.clone(), src.gzip);
        let opened = match self.fs.open_read(&path) {
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                // A sealed segment compressed since the listing: its .gz.
                match (&self.layout, &src.segment) {
                    (Some(layout), Some(seg)) if seg.kind == SegmentKind::Sealed => {
                        let gz = layout.archive_path(seg);
                        self.fs.open_read(&gz).map(|f| (f, true, gz))
                    }
                    _ => Err(e),
                }
            }
            other => other.map(|f| (f, gzip, path.clone())),
        };
        match opened {
            Ok((f, gz, p)) => {
                self.sources[i].path = p.clone();
                self.sources[i].gzip = gz;
                let r: Box<dyn BufRead + Send> = if gz {
                    Box::new(gzip_reader(f, reopen_shared(Arc::clone(&self.fs), p)))
                } else {
                    Box::new(BufReader::with_capacity(READ_BUFFER, f))
                };
                Ok(LineReader::new(r))
            }
            Err(e) if e.kind() == io::ErrorKind::NotFound => Err(Problem {
                path,
                line: 0,
                offset: 0,
                kind: ProblemKind::Vanished,
            }),
            Err(e) => Err(Problem {
                path,
                line: 0,
                offset: 0,
                kind: ProblemKind::Io(format!("cannot open: {e}")),
            }),
        }
    }

    /// The next record (matching or not), with where it is. `None` at the end.
    pub fn next_located(&mut self) -> Option<Result<Located>> {
        loop {
            if self.done {
                return None;
            }
            let Some((i, lines)) = &mut self.current else {
                if let Err(e) = self.open_next()? {
                    self.done = true;
                    return Some(Err(e));
                }
                continue;
            };
            let i = *i;
            let before = lines.offset();
            let mut fragments = Vec::new();
            let item = lines.next_item(&mut |p| fragments.push(p));
            let after = lines.offset();
            self.report.bytes += after - before;
            let path = self.sources[i].path.clone();
            for p in fragments {
                let prob = Problem {
                    path: path.clone(),
                    line: p.line,
                    offset: p.offset,
                    kind: ProblemKind::TornFragment,
                };
                if let Some(e) = self.problem(prob) {
                    self.done = true;
                    return Some(Err(e));
                }
            }
            let (pos, kind) = match item {
                Ok(None) => {
                    self.current = None;
                    continue;
                }
                Ok(Some(Item::Record(record, pos))) => {
                    self.report.records += 1;
                    return Some(Ok(Located {
                        record,
                        source: i,
                        pos,
                    }));
                }
                Ok(Some(Item::Malformed(m, pos))) => (pos, ProblemKind::Malformed(m.to_string())),
                Ok(Some(Item::TooLong(n, pos))) => (pos, ProblemKind::TooLong(n)),
                Ok(Some(Item::TornTail(n, pos))) => (pos, ProblemKind::TornTail(n)),
                Err(e) => {
                    self.current = None;
                    let kind = if self.sources[i].gzip {
                        ProblemKind::Gzip(e.to_string())
                    } else {
                        ProblemKind::Io(format!("read failed: {e}"))
                    };
                    // Not a line: the offset the read failed at.
                    (
                        Pos {
                            line: 0,
                            offset: after,
                        },
                        kind,
                    )
                }
            };
            let prob = Problem {
                path,
                line: pos.line,
                offset: pos.offset,
                kind,
            };
            if let Some(e) = self.problem(prob) {
                self.done = true;
                return Some(Err(e));
            }
        }
    }

    /// Opens the next source as the current one; `None` when none is left
    /// (the read is done), `Some(Err)` when a strict read fails on a
    /// source that cannot be opened.
    fn open_next(&mut self) -> Option<std::result::Result<(), Error>> {
        if self.next_source >= self.sources.len() {
            self.done = true;
            return None;
        }
        let i = self.next_source;
        self.next_source += 1;
        match self.open_source(i) {
            Ok(l) => {
                self.report.segments += 1;
                self.current = Some((i, l));
            }
            Err(p) => {
                if let Some(e) = self.problem(p) {
                    return Some(Err(e));
                }
            }
        }
        Some(Ok(()))
    }
}

impl Iterator for Reader {
    type Item = Result<Record>;

    fn next(&mut self) -> Option<Result<Record>> {
        loop {
            match self.next_located()? {
                Ok(l) => {
                    if self.filter.matches(&l.record) {
                        self.report.matched += 1;
                        return Some(Ok(l.record));
                    }
                }
                Err(e) => return Some(Err(e)),
            }
        }
    }
}
