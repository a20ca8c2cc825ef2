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
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Hashed {
    pub(crate) hash: Hash,
    pub(crate) line: u64,
    pub(crate) start: u64,
    pub(crate) end: u64,
}

/// The segment a chunk comes from.
pub(super) struct Source {
    /// The segment's number (the live file's is the next one).
    pub(super) number: u64,
    /// Its file name.
    pub(super) name: Arc<str>,
}

/// A segment holding leaves: its number, the segment (none for the live
/// file) and its path.
pub(super) type Listed = (u64, Option<Segment>, PathBuf);

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
    let segments = walked_segments(fs, layout, from)?;
    if workers.0 == 0 {
        for s in &segments {
            walk_segment(fs, s, f)?;
        }
        return Ok(());
    }
    in_parallel(fs, &segments, workers.0, f)
}

/// The segments the walk reads from segment `from` on, in layout order.
pub(super) fn walked_segments(fs: &dyn Fs, layout: &Layout, from: u64) -> Result<Vec<Listed>> {
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
    Ok(segments)
}

/// Reads one segment on the calling thread and hands its chunks to `f`:
/// the sequential walk's step.
pub(super) fn walk_segment(
    fs: &dyn Fs,
    s: &Listed,
    f: &mut dyn FnMut(&Source, &[Hashed]) -> Result<()>,
) -> Result<()> {
    let src = source(s);
    let mut failed = None;
    read_segment(fs, s, &mut |chunk| match f(&src, &chunk) {
        Ok(()) => true,
        Err(e) => {
            failed = Some(e);
            false
        }
    })?;
    match failed {
        Some(e) => Err(e),
        None => Ok(()),
    }
}

pub(super) fn source(s: &Listed) -> Source {
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

/// A segment's leaves hashed from lines another read gives (the plain
/// verify's, `verify::segment`), in chunks of [`CHUNK`]: the same
/// [`Hashed`] that [`read_segment`] makes of the same bytes. A line the
/// other read splits differently from [`next_line`] (over the bound), a
/// skip that is not a first line's BOM, or a read error make it give up
/// ([`LeafChunker::complete`] is then false) and the walk reads the
/// segment itself.
pub(crate) struct LeafChunker<'a> {
    emit: &'a mut dyn FnMut(Vec<Hashed>) -> bool,
    chunk: Vec<Hashed>,
    /// Complete lines hashed.
    line: u64,
    /// Bytes of the segment's lines hashed (past the last one's `\n`).
    offset: u64,
    /// Whether every line so far was hashed as the walk would.
    ok: bool,
}

impl<'a> LeafChunker<'a> {
    /// A chunker that hands its chunks to `emit` (which says whether it
    /// still listens).
    pub(crate) fn new(emit: &'a mut dyn FnMut(Vec<Hashed>) -> bool) -> Self {
        Self {
            emit,
            chunk: Vec::new(),
            line: 0,
            offset: 0,
            ok: true,
        }
    }

    /// A line of the segment, without its `\n`, that starts at byte `at`
    /// (the read may have skipped a BOM before the first line); `complete`
    /// when its `\n` was read.
    pub(crate) fn line(&mut self, bytes: &[u8], at: u64, complete: bool) {
        if !self.ok {
            return;
        }
        let skipped = at.checked_sub(self.offset);
        let len = (bytes.len() as u64).saturating_add(skipped.unwrap_or(0));
        // next_line fails on a line of MAX_LEAF_LINE bytes without `\n`:
        // such lines (and any near the bound) are left to the walk.
        if len.saturating_add(1) >= MAX_LEAF_LINE {
            return self.give_up();
        }
        if !complete {
            return;
        }
        let hash = match skipped {
            Some(0) => leaf_hash(bytes),
            Some(3) if self.line == 0 => {
                let mut first = Vec::with_capacity(bytes.len() + 3);
                first.extend_from_slice(b"\xef\xbb\xbf");
                first.extend_from_slice(bytes);
                leaf_hash(&first)
            }
            _ => return self.give_up(),
        };
        let start = self.offset;
        self.offset = start.saturating_add(len + 1);
        self.line = self.line.saturating_add(1);
        if self.chunk.capacity() == 0 {
            self.chunk.reserve_exact(CHUNK);
        }
        self.chunk.push(Hashed {
            hash,
            line: self.line,
            start,
            end: self.offset,
        });
        if self.chunk.len() == CHUNK {
            let full = std::mem::take(&mut self.chunk);
            self.ok = (self.emit)(full);
        }
    }

    /// The read met something the walk must see for itself (a line over
    /// the bound, a read error): no more leaves.
    pub(crate) fn give_up(&mut self) {
        self.ok = false;
        self.chunk = Vec::new();
    }

    /// Hands over the last chunk; whether every leaf was handed over.
    pub(crate) fn complete(mut self) -> bool {
        if self.ok && !self.chunk.is_empty() {
            let last = std::mem::take(&mut self.chunk);
            self.ok = (self.emit)(last);
        }
        self.ok
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fs::RealFs;
    use crate::lines::{LineReader, RawLine};

    /// The leaves the walk's own read makes of `bytes`, or its error.
    fn walked(bytes: &[u8]) -> std::result::Result<Vec<Hashed>, String> {
        let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
        let path = dir.path().join("audit.jsonl");
        std::fs::write(&path, bytes).map_err(|e| e.to_string())?;
        let mut out = Vec::new();
        read_segment(&RealFs, &(1, None, path), &mut |c| {
            out.extend(c);
            true
        })
        .map_err(|e| e.to_string())?;
        Ok(out)
    }

    /// The leaves a chunker makes of the lines the plain verify's reader
    /// gives of `bytes` (bound `max`), with the chunk sizes seen, and
    /// whether it handed every leaf over.
    fn chunked(bytes: &[u8], max: usize) -> (Vec<Hashed>, Vec<usize>, bool) {
        let (mut out, mut sizes) = (Vec::new(), Vec::new());
        let mut emit = |c: Vec<Hashed>| {
            sizes.push(c.len());
            out.extend(c);
            true
        };
        let mut c = LeafChunker::new(&mut emit);
        let mut lines = LineReader::with_limit(bytes, max);
        loop {
            match lines.next_raw() {
                Ok(None) => break,
                Ok(Some(RawLine::Complete(b, p))) => c.line(b, p.offset, true),
                Ok(Some(RawLine::Unterminated(b, p))) => c.line(b, p.offset, false),
                Ok(Some(RawLine::TooLong(..))) | Err(_) => c.give_up(),
            }
        }
        let complete = c.complete();
        (out, sizes, complete)
    }

    #[test]
    fn a_chunker_over_the_plain_read_gives_the_walks_leaves() {
        let many: Vec<u8> = (0..5000)
            .flat_map(|i| format!("{{\"n\":{i}}}\n").into_bytes())
            .collect();
        let cases: Vec<Vec<u8>> = vec![
            b"".to_vec(),
            b"\n".to_vec(),
            b"a\n\nbc\r\n".to_vec(),
            b"a\nunterminated".to_vec(),
            b"\xef\xbb\xbf{\"a\":1}\n{\"b\":2}\n".to_vec(),
            b"\xef\xbb\xbf\n\xef\xbb\xbf\n".to_vec(),
            b"\xef\xbb\xbfunterminated".to_vec(),
            many,
        ];
        for input in &cases {
            let (got, sizes, complete) = chunked(input, scout_audit_core::MAX_LINE);
            assert!(complete, "{input:?}");
            assert_eq!(Ok(got), walked(input));
            assert!(sizes.iter().all(|&n| n > 0 && n <= CHUNK), "{sizes:?}");
        }
        assert_eq!(
            chunked(&cases[7], scout_audit_core::MAX_LINE).1,
            [4096, 904]
        );
        // A line over the plain read's bound: the chunker gives up, and
        // hands nothing over after it.
        let (got, _, complete) = chunked(b"a\nbbbbbbbb\nc\n", 4);
        assert!(!complete);
        assert!(got.is_empty());
    }
}
