//! `verify`: a read-only check of every segment of a store.

use scout_audit_core::agg::{SeqBreak, SeqTracker};
use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use crate::compress::archive_matches;
use crate::error::Result;
use crate::fs::Fs;
use crate::index::{IndexCheck, check_index_hashing, summarize_archive};
use crate::layout::{Layout, SegmentKind};
use crate::lines::Pos;
use crate::lock::{Attempt, LockGuard};
use crate::reader::{Problem, ReadReport, Reader, Snapshot};

/// A break in one writer's `seq` (one session, one `writer` stamp or none).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SeqGap {
    /// The session.
    pub session: String,
    /// The record's `writer` stamp, if it has one.
    pub writer: Option<String>,
    /// The `seq` expected next.
    pub expected: u64,
    /// The `seq` found.
    pub found: u64,
    /// Where the unexpected record is.
    pub path: PathBuf,
    /// Its line and offset.
    pub pos: Pos,
}

/// What `verify` found.
#[derive(Clone, Debug, Default)]
pub struct VerifyReport {
    /// Everything the read met: malformed lines, torn tails and fragments,
    /// damaged archives (with locations).
    pub read: ReadReport,
    /// Per session, each place where `seq` does not follow the previous
    /// record of that session (a hole, a repeat or a step back), the
    /// first 1000 kept.
    pub seq_gaps: Vec<SeqGap>,
    /// All breaks in `seq` counted.
    pub seq_gap_count: u64,
    /// Breaks in the seq of unstamped records of a session that several
    /// writers used (an explicit session id logged by several processes
    /// before writers stamped their records): notes, not problems; the
    /// first 1000 kept.
    pub shared_seq: Vec<SeqGap>,
    /// All such breaks counted.
    pub shared_seq_count: u64,
    /// Leftover `.gz.tmp` files that no process is compressing.
    pub leftover_temps: Vec<PathBuf>,
    /// Archives that differ from the sealed `.jsonl` of the same segment
    /// (readers read the `.jsonl`; the archive's records are not read).
    pub conflicts: Vec<PathBuf>,
    /// Sealed segments not yet compressed (not a problem: the next writer
    /// to open compresses them).
    pub uncompressed: Vec<PathBuf>,
    /// Quarantined torn tails from earlier recoveries (information).
    pub quarantine: Vec<PathBuf>,
    /// Indexes that do not match their archive, and how (unusable:
    /// edited, cut short, made from other bytes; or consistent but
    /// summarising other records than the archive holds, field by field).
    pub index_problems: Vec<(PathBuf, String)>,
    /// Indexes of another format version (not used by readers; `scout-audit
    /// index` rewrites them), with that version (information).
    pub outdated_indexes: Vec<(PathBuf, u64)>,
    /// Sessions seen.
    pub sessions: u64,
}

impl VerifyReport {
    /// How many problems: located read problems, seq gaps, leftover
    /// temporary files, conflicting archives and indexes that do not
    /// match their archive.
    pub fn problem_count(&self) -> u64 {
        self.read.problem_count()
            + self.seq_gap_count
            + self.leftover_temps.len() as u64
            + self.conflicts.len() as u64
            + self.index_problems.len() as u64
    }

    /// Whether anything is wrong.
    pub fn is_ok(&self) -> bool {
        self.problem_count() == 0
    }

    /// The problems as lines of text, first the located ones.
    pub fn problem_lines(&self) -> Vec<String> {
        let mut out: Vec<String> = self.read.problems.iter().map(Problem::to_string).collect();
        for g in &self.seq_gaps {
            out.push(format!(
                "{}:{} (byte {}): {}",
                g.path.display(),
                g.pos.line,
                g.pos.offset,
                seq_break_text(&g.session, g.writer.as_deref(), g.found, g.expected)
            ));
        }
        for t in &self.leftover_temps {
            out.push(format!("{}: leftover temporary file", t.display()));
        }
        for c in &self.conflicts {
            out.push(format!(
                "{}: differs from the sealed segment of the same name; its records are not read",
                c.display()
            ));
        }
        for (p, why) in &self.index_problems {
            out.push(format!(
                "{}: index does not match its archive: {why}",
                p.display()
            ));
        }
        out
    }

    /// The notes about [`VerifyReport::shared_seq`], as lines of text.
    pub fn note_lines(&self) -> Vec<String> {
        let mut out: Vec<String> = self
            .shared_seq
            .iter()
            .map(|g| {
                format!(
                    "note: {}:{} (byte {}): {} (unstamped records of a session several writers used)",
                    g.path.display(),
                    g.pos.line,
                    g.pos.offset,
                    seq_break_text(&g.session, None, g.found, g.expected)
                )
            })
            .collect();
        if self.shared_seq_count > self.shared_seq.len() as u64 {
            out.push(format!(
                "note: ... and {} more such breaks",
                self.shared_seq_count - self.shared_seq.len() as u64
            ));
        }
        out
    }
}

/// How a break in seq is told, the same on every backend:
/// `session S: seq N where M was expected`, with `(writer W)` after the
/// session for stamped records.
pub fn seq_break_text(session: &str, writer: Option<&str>, found: u64, expected: u64) -> String {
    match writer {
        Some(w) => {
            format!("session {session} (writer {w}): seq {found} where {expected} was expected")
        }
        None => format!("session {session}: seq {found} where {expected} was expected"),
    }
}

/// Checks every segment of the store: reads all of it, counts and locates
/// malformed lines, torn tails and fragments and damaged archives, finds
/// breaks in each writer's `seq` (per session and `writer` stamp), lists
/// leftover temporary files, and checks every archive's index against the
/// archive: its digests, then the summary of the archive's records, field
/// by field. Writes nothing.
pub fn verify(fs: Arc<dyn Fs>, layout: &Layout) -> Result<VerifyReport> {
    // The listing of the snapshot: taken under the shared lock, so no name
    // changes while it runs.
    let snap = Snapshot::take(&*fs, layout)?;
    let listing = snap.listing.clone();
    let mut report = VerifyReport {
        quarantine: listing.quarantine.clone(),
        ..VerifyReport::default()
    };
    for seg in &listing.all {
        match seg.kind {
            SegmentKind::Temp => {
                let sealed = layout.sealed_path(seg);
                // A temp whose sealed segment is locked is being compressed now.
                let busy = matches!(LockGuard::try_segment(&*fs, &sealed), Ok(Attempt::Busy));
                if !busy {
                    report.leftover_temps.push(seg.path.clone());
                }
            }
            SegmentKind::Sealed => {
                report.uncompressed.push(seg.path.clone());
                let gz = layout.archive_path(seg);
                let paired = listing
                    .all
                    .iter()
                    .any(|s| s.key == seg.key && s.kind == SegmentKind::Archive);
                if paired && !archive_matches(&*fs, &gz, &seg.path)? {
                    report.conflicts.push(gz);
                }
            }
            SegmentKind::Archive => {}
        }
    }
    let mut reader = Reader::from_snapshot(fs.clone(), Some(layout.clone()), snap);
    let mut seqs = SeqTracker::default();
    while let Some(item) = reader.next_located() {
        let l = item?;
        let (Some(session), Some(seq)) = (l.record.session_id(), l.record.seq()) else {
            continue;
        };
        let writer = l.record.writer();
        let (list, count, expected) = match seqs.observe(session, writer, seq) {
            None => continue,
            Some(SeqBreak::Gap(e)) => (&mut report.seq_gaps, &mut report.seq_gap_count, e),
            Some(SeqBreak::Shared(e)) => (&mut report.shared_seq, &mut report.shared_seq_count, e),
        };
        *count += 1;
        if list.len() < crate::reader::MAX_LOCATED {
            list.push(SeqGap {
                session: session.to_owned(),
                writer: writer.map(str::to_owned),
                expected,
                found: seq,
                path: reader.sources()[l.source].path.clone(),
                pos: l.pos,
            });
        }
    }
    report.sessions = seqs.sessions();
    report.read = reader.report().clone();
    check_indexes(&*fs, layout, &listing, &mut report)?;
    Ok(report)
}

/// Checks the index of every archive that has one (docs/format.md,
/// "Archive indexes"): an index is a problem unless it is valid and equal,
/// field by field, to the summary of its archive read again. The archives
/// are checked on one thread a core, the verdicts kept in archive order.
fn check_indexes(
    fs: &dyn Fs,
    layout: &Layout,
    listing: &crate::layout::Listing,
    report: &mut VerifyReport,
) -> Result<()> {
    let archives: Vec<_> = listing
        .archives()
        .filter(|s| listing.has_index(s))
        .collect();
    let verdicts: Vec<Mutex<Option<Result<Verdict>>>> =
        archives.iter().map(|_| Mutex::new(None)).collect();
    let next = AtomicUsize::new(0);
    let workers = std::thread::available_parallelism().map_or(1, usize::from);
    std::thread::scope(|scope| {
        for _ in 0..workers.min(archives.len()) {
            scope.spawn(|| {
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    let (Some(seg), Some(slot)) = (archives.get(i), verdicts.get(i)) else {
                        break;
                    };
                    let v = index_verdict(fs, layout, seg);
                    *slot.lock().unwrap_or_else(|e| e.into_inner()) = Some(v);
                }
            });
        }
    });
    for v in verdicts {
        if let Some(v) = v.into_inner().unwrap_or_else(|e| e.into_inner()) {
            match v? {
                Verdict::Fine => {}
                Verdict::Outdated(path, v) => report.outdated_indexes.push((path, v)),
                Verdict::Problem(path, why) => report.index_problems.push((path, why)),
            }
        }
    }
    Ok(())
}

/// What checking one archive's index found.
enum Verdict {
    Fine,
    Outdated(PathBuf, u64),
    Problem(PathBuf, String),
}

fn index_verdict(fs: &dyn Fs, layout: &Layout, seg: &crate::layout::Segment) -> Result<Verdict> {
    let path = layout.index_path(seg);
    let why = match check_index_hashing(fs, &seg.path, &path) {
        IndexCheck::Missing => return Ok(Verdict::Fine),
        IndexCheck::OtherVersion(v) => return Ok(Verdict::Outdated(path, v)),
        IndexCheck::Mismatch(why) => why,
        IndexCheck::Valid(idx) => match summarize_archive(fs, &seg.path)? {
            // A damaged archive (reported by the read) has no index.
            None => "the archive is damaged; no index should describe it".to_owned(),
            Some(actual) => {
                let diffs = idx.summary.differences(&actual);
                if diffs.is_empty() {
                    return Ok(Verdict::Fine);
                }
                format!(
                    "it summarises other records than the archive holds (`scout-audit index --rebuild` writes it again): {}",
                    diffs.join("; ")
                )
            }
        },
    };
    Ok(Verdict::Problem(path, why))
}
