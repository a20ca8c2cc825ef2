//! The parallel `verify`: the snapshot's segments checked on workers, one
//! segment a worker at a time, read once each ([`super::segment`]), and
//! their outcomes merged in log order on the calling thread. A worker
//! starts a segment only while fewer than [`WINDOW`] outcomes wait to be
//! merged, so memory stays bounded by the workers' count, not by the
//! store's size.

use std::io::{self, BufRead, BufReader};
use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex, mpsc};

use scout_audit_core::agg::SeqBreak;

use super::segment::{self, Outcome};
use super::seqs::{Found, Merge};
use super::sequential::{Verdict, list_files};
use super::{SeqGap, VerifyReport};
use crate::error::{Error, Result};
use crate::fs::Fs;
use crate::layout::{Layout, Segment};
use crate::lines::{Item, LineReader};
use crate::reader::{MAX_LOCATED, Snapshot, Source, gzip_reader, reopen_with};
use crate::seal::{Hashed, LeafSink, Workers};

/// Outcomes at most waiting to be merged, per worker.
const WINDOW: usize = 2;

/// Checks every segment of the store: reads all of it, counts and locates
/// malformed lines, torn tails and fragments and damaged archives, finds
/// breaks in each writer's `seq` (per session and `writer` stamp), lists
/// leftover temporary files, and checks every archive's index against the
/// archive: its digests, then the summary of the archive's records, field
/// by field. Writes nothing.
///
/// The segments are read on one worker a core (at most 8), each once;
/// the report is exactly the sequential one ([`super::verify_sequential`]).
pub fn verify(fs: Arc<dyn Fs>, layout: &Layout) -> Result<VerifyReport> {
    verify_with(fs, layout, Workers::auto())
}

/// [`verify`] on `workers` threads ([`Workers::SEQUENTIAL`]: the calling
/// thread reads each segment in turn). The report does not depend on the
/// workers.
pub fn verify_with(fs: Arc<dyn Fs>, layout: &Layout, workers: Workers) -> Result<VerifyReport> {
    verify_inner(fs, layout, workers, None)
}

/// [`verify_with`], the lines of the sources `sink` asks for hashed as
/// leaves on the same read and handed to it in log order (`verify
/// --key`'s single read). The report is [`verify_with`]'s.
pub(crate) fn verify_fed(
    fs: Arc<dyn Fs>,
    layout: &Layout,
    workers: Workers,
    sink: &mut dyn LeafSink,
) -> Result<VerifyReport> {
    verify_inner(fs, layout, workers, Some(sink))
}

fn verify_inner(
    fs: Arc<dyn Fs>,
    layout: &Layout,
    workers: Workers,
    mut sink: Option<&mut dyn LeafSink>,
) -> Result<VerifyReport> {
    // The listing of the snapshot: taken under the shared lock, so no name
    // changes while it runs.
    let snap = Snapshot::take(&*fs, layout)?;
    let listing = snap.listing;
    let mut report = VerifyReport {
        quarantine: listing.quarantine.clone(),
        ..VerifyReport::default()
    };
    list_files(&*fs, layout, &listing, &mut report)?;
    let hash = match sink.as_deref_mut() {
        Some(s) => s.plan(
            &snap
                .sources
                .iter()
                .map(|s| s.path.as_path())
                .collect::<Vec<_>>(),
        ),
        None => Vec::new(),
    };
    let jobs: Vec<Job> = snap
        .sources
        .into_iter()
        .enumerate()
        .map(|(i, src)| Job {
            indexed: segment::indexed(&listing, &src).cloned(),
            src: Mutex::new(Some(src)),
            hash: hash.get(i).copied().unwrap_or(false),
        })
        .collect();
    let mut merge = Merge::default();
    let mut begun = None;
    in_order(&fs, layout, &jobs, workers.count(), &mut |i, m| {
        if let Some(s) = sink.as_deref_mut()
            && begun != Some(i)
        {
            begun = Some(i);
            s.begin(i);
        }
        match m {
            Message::Leaves(chunk) => {
                if let Some(s) = sink.as_deref_mut() {
                    s.leaves(i, &chunk);
                }
                Ok(())
            }
            Message::Done(o) => {
                if let Some(s) = sink.as_deref_mut() {
                    s.end(i, o.leaves);
                }
                absorb(&*fs, &mut report, &mut merge, *o)
            }
        }
    })?;
    report.sessions = merge.sessions();
    Ok(report)
}

/// One segment to check.
struct Job {
    /// The source, taken by the worker that checks it.
    src: Mutex<Option<Source>>,
    /// The archive whose index is checked with its read, if it is one.
    indexed: Option<Segment>,
    /// Whether its lines are hashed as leaves for `verify --key`.
    hash: bool,
}

/// What the merge receives of a segment, in order: its leaves' chunks
/// (when hashed), then its outcome.
enum Message {
    Leaves(Vec<Hashed>),
    Done(Box<Outcome>),
}

/// Leaves' chunks (of 4,096) waiting to be walked, at most, over all the
/// segments in the window: 256 chunks of 56-byte leaves, 56 MiB.
const LEAF_CHUNKS: usize = 256;

fn run(
    fs: &Arc<dyn Fs>,
    layout: &Layout,
    job: &Job,
    leaves: &mut dyn FnMut(Vec<Hashed>) -> bool,
) -> Result<Outcome> {
    let src = job.src.lock().unwrap_or_else(|e| e.into_inner()).take();
    let src = src.ok_or_else(|| Error::Io {
        op: "verify",
        path: layout.dir().to_path_buf(),
        source: io::Error::other("a segment was taken twice"),
    })?;
    let leaves = if job.hash { Some(leaves) } else { None };
    segment::check(fs, layout, src, job.indexed.as_ref(), leaves)
}

/// How far the merge is, for the workers' window.
struct Progress {
    /// Outcomes merged, or `usize::MAX` once the merge stopped.
    merged: Mutex<usize>,
    turn: Condvar,
}

impl Progress {
    fn set(&self, n: usize) {
        *self.merged.lock().unwrap_or_else(|e| e.into_inner()) = n;
        self.turn.notify_all();
    }

    /// Waits until segment `i` is within the window; `false` when the
    /// merge stopped.
    fn wait_for(&self, i: usize, window: usize) -> bool {
        let mut m = self.merged.lock().unwrap_or_else(|e| e.into_inner());
        while *m != usize::MAX && i >= m.saturating_add(window) {
            m = self.turn.wait(m).unwrap_or_else(|e| e.into_inner());
        }
        *m != usize::MAX
    }
}

/// Stops the workers when the merge ends, however it ends.
struct Stop<'a>(&'a Progress);

impl Drop for Stop<'_> {
    fn drop(&mut self) {
        self.0.set(usize::MAX);
    }
}

/// Checks every job on `workers` threads, calling `f` with each job's
/// number and messages, the jobs in order. The first error (of a check
/// or of `f`) ends it.
fn in_order(
    fs: &Arc<dyn Fs>,
    layout: &Layout,
    jobs: &[Job],
    workers: usize,
    f: &mut dyn FnMut(usize, Message) -> Result<()>,
) -> Result<()> {
    if workers == 0 {
        for (i, job) in jobs.iter().enumerate() {
            let o = run(fs, layout, job, &mut |c| f(i, Message::Leaves(c)).is_ok())?;
            f(i, Message::Done(Box::new(o)))?;
        }
        return Ok(());
    }
    let window = workers.saturating_mul(WINDOW);
    // A segment's chunks beyond these wait in its worker, which then
    // stops reading until the merge reaches the segment.
    let queued = (LEAF_CHUNKS / window.max(1)).max(2);
    let (senders, receivers): (Vec<_>, Vec<_>) = jobs
        .iter()
        .map(|_| {
            let (tx, rx) = mpsc::sync_channel::<Result<Message>>(queued);
            (Mutex::new(Some(tx)), rx)
        })
        .unzip();
    let next = AtomicUsize::new(0);
    let progress = Progress {
        merged: Mutex::new(0),
        turn: Condvar::new(),
    };
    std::thread::scope(|scope| {
        for _ in 0..workers.min(jobs.len()) {
            scope.spawn(|| {
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    let (Some(job), Some(slot)) = (jobs.get(i), senders.get(i)) else {
                        return;
                    };
                    if !progress.wait_for(i, window) {
                        return;
                    }
                    let tx = slot.lock().unwrap_or_else(|e| e.into_inner()).take();
                    let Some(tx) = tx else { return };
                    let mut listening = true;
                    let o = run(fs, layout, job, &mut |c| {
                        listening = tx.send(Ok(Message::Leaves(c))).is_ok();
                        listening
                    });
                    if !listening || tx.send(o.map(|o| Message::Done(Box::new(o)))).is_err() {
                        return;
                    }
                }
            });
        }
        let stop = Stop(&progress);
        for (i, rx) in receivers.into_iter().enumerate() {
            loop {
                let m = rx.recv().map_err(|_| Error::Io {
                    op: "verify",
                    path: layout.dir().to_path_buf(),
                    source: io::Error::other("a verify worker stopped"),
                })??;
                let done = matches!(m, Message::Done(_));
                f(i, m)?;
                if done {
                    break;
                }
            }
            stop.0.set(i + 1);
        }
        Ok(())
    })
}

/// Merges one segment's outcome into the report, in log order.
fn absorb(fs: &dyn Fs, report: &mut VerifyReport, merge: &mut Merge, o: Outcome) -> Result<()> {
    if o.runs.overflowed() {
        reread_seqs(fs, &o, report, merge)?;
    } else {
        merge.runs(&o.runs, &mut |f| note_break(report, &o.path, f));
    }
    report.read.merge(o.report);
    match o.verdict {
        None | Some(Verdict::Fine) => {}
        Some(Verdict::Outdated(path, v)) => report.outdated_indexes.push((path, v)),
        Some(Verdict::Problem(path, why)) => report.index_problems.push((path, why)),
    }
    Ok(())
}

/// Counts a break in seq, keeping it while fewer than [`MAX_LOCATED`] of
/// its kind are kept.
fn note_break(report: &mut VerifyReport, path: &Path, f: Found<'_>) {
    let (list, count, expected) = match f.brk {
        SeqBreak::Gap(e) => (&mut report.seq_gaps, &mut report.seq_gap_count, e),
        SeqBreak::Shared(e) => (&mut report.shared_seq, &mut report.shared_seq_count, e),
    };
    *count += 1;
    if list.len() < MAX_LOCATED {
        list.push(SeqGap {
            session: f.session.to_owned(),
            writer: f.writer.map(str::to_owned),
            expected,
            found: f.seq,
            path: path.to_path_buf(),
            pos: f.pos,
        });
    }
}

/// A segment with more runs than a worker keeps: its records' seqs read
/// again, one by one, up to where its read ended.
fn reread_seqs(
    fs: &dyn Fs,
    o: &Outcome,
    report: &mut VerifyReport,
    merge: &mut Merge,
) -> Result<()> {
    let path = &o.path;
    let f = fs.open_read(path).map_err(|e| Error::io("open", path, e))?;
    let r: Box<dyn BufRead + Send + '_> = if crate::layout::is_gzip_path(path) {
        Box::new(gzip_reader(f, reopen_with(fs, path.clone())))
    } else {
        Box::new(BufReader::new(f))
    };
    let mut lines = LineReader::new(r);
    while let Ok(Some(item)) = lines.next_item(&mut |_| {}) {
        let Item::Record(rec, pos) = item else {
            continue;
        };
        if pos.offset >= o.report.bytes {
            break;
        }
        let (Some(session), Some(seq)) = (rec.session_id(), rec.seq()) else {
            continue;
        };
        let writer = rec.writer();
        if let Some(brk) = merge.observe(session, writer, seq) {
            let found = Found {
                session,
                writer,
                seq,
                pos,
                brk,
            };
            note_break(report, path, found);
        }
    }
    Ok(())
}
