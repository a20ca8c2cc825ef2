//! One segment checked by one worker, read once: the read's problems
//! (located exactly as the sequential [`crate::reader::Reader`] locates
//! them: this is its loop over one source, with the line splitter's
//! rules), the runs of seqs to merge, and for an indexed archive the
//! summary of the very lines read, compared with its index.
//!
//! A line is decoded by [`super::fast`] when it can, else by
//! `decode_line`, exactly as [`LineReader::next_item`] classifies it.

use std::io::{self, BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use scout_audit_core::{Decoded, decode_line};

use super::fast::{self, Fields};
use super::seqs::Runs;
use super::sequential::{Verdict, index_verdict_with};
use crate::error::Result;
use crate::fs::{Fs, ReadFile};
use crate::index::{Summary, summarize_archive};
use crate::layout::{Layout, Listing, Segment, SegmentKind};
use crate::lines::{LineReader, Pos, RawLine};
use crate::reader::{
    Problem, ProblemKind, READ_BUFFER, ReadReport, Source, gzip_reader, reopen_shared,
};
use crate::seal::{Hashed, LeafChunker};

/// What checking one segment found.
pub(super) struct Outcome {
    /// The read's counts and problems.
    pub(super) report: ReadReport,
    /// The path read (a sealed segment compressed since the listing is
    /// read from its archive).
    pub(super) path: PathBuf,
    /// The seqs met.
    pub(super) runs: Runs,
    /// The verdict on its index, for an archive that has one.
    pub(super) verdict: Option<Verdict>,
    /// Whether its leaves were hashed, every one handed over (only when
    /// asked to, and the path listed was the one read).
    pub(super) leaves: bool,
}

/// What the lines of a segment add up to.
struct Tally {
    report: ReadReport,
    runs: Runs,
    /// The summary of an indexed archive's records.
    summary: Option<Summary>,
}

impl Tally {
    fn record(&mut self, f: &Fields<'_>, pos: Pos) {
        self.report.records += 1;
        if let Some(s) = &mut self.summary {
            s.add_record(
                f.ts,
                f.event.as_deref(),
                f.model.as_deref(),
                f.cost,
                f.input_t,
                f.output_t,
            );
        }
        if let (Some(session), Some(seq)) = (&f.session, f.seq) {
            self.runs.observe(session, f.writer.as_deref(), seq, pos);
        }
    }
}

/// Reads `src` (one source of the store's snapshot) once; `indexed`: the
/// archive it is, when it has an index to check against what was read;
/// `leaves`: where the leaves of its lines go in chunks, when `verify
/// --key` walks them (it says whether it still listens).
pub(super) fn check(
    fs: &Arc<dyn Fs>,
    layout: &Layout,
    mut src: Source,
    indexed: Option<&Segment>,
    leaves: Option<&mut dyn FnMut(Vec<Hashed>) -> bool>,
) -> Result<Outcome> {
    let listed = src.path.clone();
    let mut chunker = leaves.map(LeafChunker::new);
    let mut t = Tally {
        report: ReadReport::default(),
        runs: Runs::default(),
        summary: indexed.map(|_| Summary::default()),
    };
    let path = match open(fs, layout, &mut src) {
        Ok((r, path)) => {
            t.report.segments += 1;
            if path != listed
                && let Some(c) = &mut chunker
            {
                c.give_up();
            }
            read_lines(
                LineReader::new(r),
                &path,
                src.gzip,
                &mut t,
                chunker.as_mut(),
            );
            path
        }
        Err(p) => {
            let path = p.path.clone();
            t.report.add_problem(p);
            if let Some(c) = &mut chunker {
                c.give_up();
            }
            path
        }
    };
    let leaves = chunker.is_some_and(LeafChunker::complete);
    let verdict = match indexed {
        None => None,
        Some(seg) => Some(index_verdict_with(&**fs, layout, seg, || {
            summary_of(&**fs, seg, &t.report, t.summary.take())
        })?),
    };
    Ok(Outcome {
        report: t.report,
        path,
        runs: t.runs,
        verdict,
        leaves,
    })
}

type Lines = Box<dyn BufRead + Send>;

/// Opens a source as `Reader` does: the live file opened with the
/// snapshot, or the segment, or (a sealed segment compressed since the
/// listing) its archive. The path opened, and `src.gzip` set to match.
fn open(
    fs: &Arc<dyn Fs>,
    layout: &Layout,
    src: &mut Source,
) -> std::result::Result<(Lines, PathBuf), Problem> {
    if let Some(f) = src.take_live() {
        return Ok((
            Box::new(BufReader::with_capacity(READ_BUFFER, f)),
            src.path.clone(),
        ));
    }
    let path = src.path.clone();
    let opened: io::Result<(Box<dyn ReadFile>, bool, PathBuf)> = match fs.open_read(&path) {
        Err(e) if e.kind() == io::ErrorKind::NotFound => match &src.segment {
            Some(seg) if seg.kind == SegmentKind::Sealed => {
                let gz = layout.archive_path(seg);
                fs.open_read(&gz).map(|f| (f, true, gz))
            }
            _ => Err(e),
        },
        other => other.map(|f| (f, src.gzip, path.clone())),
    };
    match opened {
        Ok((f, gz, p)) => {
            src.gzip = gz;
            let r: Lines = if gz {
                Box::new(gzip_reader(f, reopen_shared(Arc::clone(fs), p.clone())))
            } else {
                Box::new(BufReader::with_capacity(READ_BUFFER, f))
            };
            Ok((r, p))
        }
        Err(e) => {
            let kind = if e.kind() == io::ErrorKind::NotFound {
                ProblemKind::Vanished
            } else {
                ProblemKind::Io(format!("cannot open: {e}"))
            };
            Err(Problem {
                path,
                line: 0,
                offset: 0,
                kind,
            })
        }
    }
}

/// The lines of an opened segment, classified as `LineReader::next_item`
/// classifies them, into the tally; each line's leaf to `leaves`.
fn read_lines(
    mut lines: LineReader<Lines>,
    path: &Path,
    gzip: bool,
    t: &mut Tally,
    mut leaves: Option<&mut LeafChunker<'_>>,
) {
    let problem = |t: &mut Tally, pos: Pos, kind| {
        t.report.add_problem(Problem {
            path: path.to_path_buf(),
            line: pos.line,
            offset: pos.offset,
            kind,
        });
    };
    loop {
        let (bytes, pos, terminated) = match lines.next_raw() {
            Ok(None) => break,
            Ok(Some(RawLine::Complete(b, p))) => (b, p, true),
            Ok(Some(RawLine::Unterminated(b, p))) => (b, p, false),
            Ok(Some(RawLine::TooLong(n, p))) => {
                if let Some(c) = leaves.as_deref_mut() {
                    c.give_up();
                }
                problem(t, p, ProblemKind::TooLong(n));
                continue;
            }
            Err(e) => {
                if let Some(c) = leaves.as_deref_mut() {
                    c.give_up();
                }
                let kind = if gzip {
                    ProblemKind::Gzip(e.to_string())
                } else {
                    ProblemKind::Io(format!("read failed: {e}"))
                };
                t.report.bytes = lines.offset();
                let at = Pos {
                    line: 0,
                    offset: t.report.bytes,
                };
                problem(t, at, kind);
                return;
            }
        };
        if let Some(c) = leaves.as_deref_mut() {
            c.line(bytes, pos.offset, terminated);
        }
        if let Some(f) = fast::parse(bytes) {
            t.record(&f, pos);
            continue;
        }
        match decode_line(bytes) {
            Decoded::Blank => {}
            Decoded::Record(r) => t.record(&Fields::of_record(&r), pos),
            Decoded::Glued { at, record } => {
                problem(t, pos, ProblemKind::TornFragment);
                let p = Pos {
                    line: pos.line,
                    offset: pos.offset + at as u64,
                };
                t.record(&Fields::of_record(&record), p);
            }
            Decoded::Malformed(m) if terminated => {
                problem(t, pos, ProblemKind::Malformed(m.to_string()));
            }
            Decoded::Malformed(_) => {
                problem(t, pos, ProblemKind::TornTail(bytes.len() as u64));
            }
        }
    }
    t.report.bytes = lines.offset();
}

/// The archive's summary from the read: what [`Summary::of_lines`] gives
/// over the same lines; `None` when the archive is damaged. When the read
/// could not even open it, the archive is summarised on its own, as the
/// sequential verify does (its error is verify's).
fn summary_of(
    fs: &dyn Fs,
    seg: &Segment,
    report: &ReadReport,
    summary: Option<Summary>,
) -> Result<Option<Summary>> {
    if report.segments == 0 {
        return summarize_archive(fs, &seg.path);
    }
    if report.damaged_segments > 0 {
        return Ok(None);
    }
    let Some(mut s) = summary else {
        return Ok(None);
    };
    s.bytes = report.bytes;
    s.malformed = report.malformed;
    s.torn_tails = report.torn_tails;
    s.torn_fragments = report.torn_fragments;
    Ok(Some(s))
}

/// The archive whose index is checked with `src`'s read: `src` is an
/// archive with an index beside it.
pub(super) fn indexed<'a>(listing: &'a Listing, src: &Source) -> Option<&'a Segment> {
    let seg = src.segment.as_ref()?;
    if seg.kind != SegmentKind::Archive || !listing.has_index(seg) {
        return None;
    }
    listing.archives().find(|a| a.path == seg.path)
}
