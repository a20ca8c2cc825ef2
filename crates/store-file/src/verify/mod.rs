//! `verify`: a read-only check of every segment of a store.
//!
//! [`verify`] checks the segments in parallel, one worker a core, each
//! segment read once (`segment.rs`): the same decompressed bytes give the
//! read's problems, the segment's runs of seqs and, for an archive with an
//! index, the summary compared with it. The results are merged in log
//! order (`parallel.rs`, `seqs.rs`), so the report is exactly the one the
//! sequential reference ([`verify_sequential`]) gives.

mod fast;
mod parallel;
mod segment;
mod seqs;
mod sequential;

use std::path::PathBuf;

use crate::lines::Pos;
use crate::reader::{Problem, ReadReport};

mod keyed;

pub use keyed::verify_keyed;
pub use parallel::{verify, verify_with};
pub use sequential::verify_sequential;

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
#[derive(Clone, Debug, Default, PartialEq, Eq)]
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
