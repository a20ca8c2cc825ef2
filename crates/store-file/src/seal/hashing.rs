//! Hashing the store's leaves on worker threads for `verify --key`: each
//! segment is read (decompressed) and its lines hashed by one worker, and
//! the hashes reach the caller in layout order, in chunks. A worker blocks
//! once its segment has [`IN_FLIGHT`] chunks waiting, so memory stays
//! bounded by the workers' count, whatever the store's size.

use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, mpsc};

use scout_audit_seal::merkle::{Hash, leaf_hash};

use super::leaves::{MAX_LEAF_LINE, leaf_segments, open_segment};
use super::log::next_line;
use super::seal_err;
use crate::Result;
use crate::fs::Fs;
use crate::layout::{Layout, Segment};

/// Lines hashed per chunk handed over.
const CHUNK: usize = 4096;
/// Chunks a segment may have waiting before its worker blocks.
const IN_FLIGHT: usize = 2;
/// The most workers [`Workers::auto`] picks.
const MAX_WORKERS: usize = 8;

/// How many threads hash the segments while verifying.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Workers(usize);

impl Workers {
    /// No worker: the calling thread reads and hashes every segment in
    /// turn (the reference the parallel path is tested against).
    pub const SEQUENTIAL: Workers = Workers(0);

    /// `n` worker threads (0 is [`Workers::SEQUENTIAL`]).
    #[must_use]
    pub fn new(n: usize) -> Self {
        Self(n)
    }

    /// How many worker threads (0: the calling thread does the work).
    #[must_use]
    pub fn count(self) -> usize {
        self.0
    }

    /// One worker per available core, at most 8.
    #[must_use]
    pub fn auto() -> Self {
        let n = std::thread::available_parallelism().map_or(1, usize::from);
        Self(n.min(MAX_WORKERS))
    }
}

/// One line as hashed: its leaf hash, its 1-based line number in its
/// segment, and its bytes' range there (`end` is past its `\n`; in an
/// archive, offsets of the decompressed lines).
#[derive(Clone, Copy, Debug)]
pub(super) struct Hashed {
    pub(super) hash: Hash,
    pub(super) line: u64,
    pub(super) start: u64,
    pub(super) end: u64,
}

/// The segment a chunk comes from.
pub(super) struct Source {
    /// The segment's number (the live file's is the next one).
    pub(super) number: u64,
    /// Its file name.
    pub(super) name: Arc<str>,
}

type Listed = (u64, Option<Segment>, PathBuf);

/// Calls `f` with every complete line's hash, in layout order, a chunk at
/// a time. A segment that cannot be read ends the walk with its error,
/// after the lines read before it, as a sequential read would.
pub(super) fn hash_leaves(
    fs: &dyn Fs,
    layout: &Layout,
    from: u64,
    workers: Workers,
    f: &mut dyn FnMut(&Source, &[Hashed]) -> Result<()>,
) -> Result<()> {
    let mut segments = leaf_segments(fs, layout)?;
    // Segments before `from` were retired (some may remain after a crash
    // between the retire and the deletion); the first one after must be
    // `from` itself.
    segments.retain(|s| s.0 >= from);
    if let Some(first) = segments.first()
        && from > 0
        && first.0 > from
    {
        return Err(seal_err(
            &first.2,
            format!("follows the sealed segment {from}, which is missing"),
        ));
    }
    if workers.0 == 0 {
        for s in &segments {
            let src = source(s);
            let mut failed = None;
            read_segment(fs, s, &mut |chunk| match f(&src, &chunk) {
                Ok(()) => true,
                Err(e) => {
                    failed = Some(e);
                    false
                }
            })?;
            if let Some(e) = failed {
                return Err(e);
            }
        }
        return Ok(());
    }
    in_parallel(fs, &segments, workers.0, f)
}

fn source(s: &Listed) -> Source {
    let name = s.2.file_name().and_then(|n| n.to_str()).unwrap_or("");
    Source {
        number: s.0,
        name: Arc::from(name),
    }
}

type Message = Result<Vec<Hashed>>;

fn in_parallel(
    fs: &dyn Fs,
    segments: &[Listed],
    workers: usize,
    f: &mut dyn FnMut(&Source, &[Hashed]) -> Result<()>,
) -> Result<()> {
    let (senders, receivers): (Vec<_>, Vec<_>) = segments
        .iter()
        .map(|_| {
            let (tx, rx) = mpsc::sync_channel::<Message>(IN_FLIGHT);
            (Mutex::new(Some(tx)), rx)
        })
        .unzip();
    let next = AtomicUsize::new(0);
    std::thread::scope(|scope| {
        for _ in 0..workers.min(segments.len()) {
            scope.spawn(|| work(fs, segments, &senders, &next));
        }
        // Dropping the receivers on an early return makes every worker's
        // next send fail, so the workers stop and the scope ends.
        for (s, rx) in segments.iter().zip(receivers) {
            let src = source(s);
            for message in rx {
                f(&src, &message?)?;
            }
        }
        Ok(())
    })
}

/// A worker: takes the next segment not taken, sends its chunks to that
/// segment's channel, until none is left or the caller stopped listening.
fn work(
    fs: &dyn Fs,
    segments: &[Listed],
    senders: &[Mutex<Option<mpsc::SyncSender<Message>>>],
    next: &AtomicUsize,
) {
    loop {
        let i = next.fetch_add(1, Ordering::Relaxed);
        let (Some(s), Some(slot)) = (segments.get(i), senders.get(i)) else {
            return;
        };
        let taken = slot.lock().unwrap_or_else(|e| e.into_inner()).take();
        let Some(tx) = taken else { return };
        let mut listening = true;
        let read = read_segment(fs, s, &mut |chunk| {
            listening = tx.send(Ok(chunk)).is_ok();
            listening
        });
        if let Err(e) = read {
            listening = tx.send(Err(e)).is_ok();
        }
        if !listening {
            return;
        }
    }
}

/// Reads one segment's complete lines, hashing them, and hands them to
/// `emit` in chunks; stops early when `emit` says `false`.
fn read_segment(fs: &dyn Fs, s: &Listed, emit: &mut dyn FnMut(Vec<Hashed>) -> bool) -> Result<()> {
    let (_, seg, path) = s;
    let mut r = open_segment(fs, seg.as_ref(), path)?;
    let (mut buf, mut chunk) = (Vec::new(), Vec::with_capacity(CHUNK));
    let (mut line, mut offset) = (0u64, 0u64);
    while next_line(&mut r, &mut buf, MAX_LEAF_LINE, path)? {
        if buf.last() != Some(&b'\n') {
            break;
        }
        let start = offset;
        offset = offset.saturating_add(buf.len() as u64);
        line = line.saturating_add(1);
        chunk.push(Hashed {
            hash: leaf_hash(&buf[..buf.len() - 1]),
            line,
            start,
            end: offset,
        });
        if chunk.len() == CHUNK && !emit(std::mem::replace(&mut chunk, Vec::with_capacity(CHUNK))) {
            return Ok(());
        }
    }
    if !chunk.is_empty() {
        emit(chunk);
    }
    Ok(())
}
