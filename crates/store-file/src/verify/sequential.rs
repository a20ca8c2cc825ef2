//! The sequential `verify`: one thread reads every record through the
//! [`Reader`], then the indexed archives are read again to check their
//! indexes. The reference the parallel [`super::verify`] is tested
//! against, and the pieces both share (the files listed, an index's
//! verdict).

use scout_audit_core::agg::{SeqBreak, SeqTracker};
use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use super::{SeqGap, VerifyReport};
use crate::compress::archive_matches;
use crate::error::Result;
use crate::fs::Fs;
use crate::index::{IndexCheck, Summary, check_index_hashing, summarize_archive};
use crate::layout::{Layout, Listing, Segment, SegmentKind};
use crate::lock::{Attempt, LockGuard};
use crate::reader::{Reader, Snapshot};

/// Checks every segment of the store: reads all of it, counts and locates
/// malformed lines, torn tails and fragments and damaged archives, finds
/// breaks in each writer's `seq` (per session and `writer` stamp), lists
/// leftover temporary files, and checks every archive's index against the
/// archive: its digests, then the summary of the archive's records, field
/// by field. Writes nothing.
///
/// The sequential reference (one thread, the archives read again for
/// their indexes): what [`super::verify`] did before it read each segment
/// once on every core, kept for the differential tests.
#[doc(hidden)]
pub fn verify_sequential(fs: Arc<dyn Fs>, layout: &Layout) -> Result<VerifyReport> {
    // The listing of the snapshot: taken under the shared lock, so no name
    // changes while it runs.
    let snap = Snapshot::take(&*fs, layout)?;
    let listing = snap.listing.clone();
    let mut report = VerifyReport {
        quarantine: listing.quarantine.clone(),
        ..VerifyReport::default()
    };
    list_files(&*fs, layout, &listing, &mut report)?;
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

/// What the listing alone tells: leftover temporary files, sealed
/// segments not yet compressed, and archives that differ from the sealed
/// `.jsonl` of the same segment.
pub(super) fn list_files(
    fs: &dyn Fs,
    layout: &Layout,
    listing: &Listing,
    report: &mut VerifyReport,
) -> Result<()> {
    for seg in &listing.all {
        match seg.kind {
            SegmentKind::Temp => {
                let sealed = layout.sealed_path(seg);
                // A temp whose sealed segment is locked is being compressed now.
                let busy = matches!(LockGuard::try_segment(fs, &sealed), Ok(Attempt::Busy));
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
                if paired && !archive_matches(fs, &gz, &seg.path)? {
                    report.conflicts.push(gz);
                }
            }
            SegmentKind::Archive => {}
        }
    }
    Ok(())
}

/// Checks the index of every archive that has one (docs/format.md,
/// "Archive indexes"): an index is a problem unless it is valid and equal,
/// field by field, to the summary of its archive read again. The archives
/// are checked on one thread a core, the verdicts kept in archive order.
fn check_indexes(
    fs: &dyn Fs,
    layout: &Layout,
    listing: &Listing,
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
pub(super) enum Verdict {
    /// The index matches (or there is none).
    Fine,
    /// An index of another format version.
    Outdated(PathBuf, u64),
    /// An index that does not match, and why.
    Problem(PathBuf, String),
}

fn index_verdict(fs: &dyn Fs, layout: &Layout, seg: &Segment) -> Result<Verdict> {
    index_verdict_with(fs, layout, seg, || summarize_archive(fs, &seg.path))
}

/// The verdict on `seg`'s index, the archive's summary given by `actual`
/// (`Ok(None)`: the archive is damaged), asked for only when the index is
/// valid.
pub(super) fn index_verdict_with(
    fs: &dyn Fs,
    layout: &Layout,
    seg: &Segment,
    actual: impl FnOnce() -> Result<Option<Summary>>,
) -> Result<Verdict> {
    let path = layout.index_path(seg);
    let why = match check_index_hashing(fs, &seg.path, &path) {
        IndexCheck::Missing => return Ok(Verdict::Fine),
        IndexCheck::OtherVersion(v) => return Ok(Verdict::Outdated(path, v)),
        IndexCheck::Mismatch(why) => why,
        IndexCheck::Valid(idx) => match actual()? {
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
