//! The recomputation behind `verify --key`: the store's leaves, hashed on
//! workers ([`super::hashing`]), grown into the tree in order, each seal's
//! root and end checked at its size, and the first departure located to
//! a block of at most 64 lines when the seal-nodes file allows it.

use std::io;
use std::path::Path;
use std::sync::Arc;

use scout_audit_seal::merkle::Tree;

use super::hashing::{
    Hashed, Listed, Source, Workers, hash_leaves, source, walk_segment, walked_segments,
};
use super::leaves::End;
use super::locate::{Locator, Pos, Unlocated};
use super::nodes::{Blocks, join, read_nodes, split_blocks};
use super::retire::ProvenRetire;
use super::{Tampering, seal_err};
use crate::fs::Fs;
use crate::layout::Layout;
use crate::{Error, Result};

/// A seal as verified: its size, root, end and time.
pub(super) struct Proven {
    pub(super) size: u64,
    pub(super) root: [u8; 32],
    pub(super) end: End,
    pub(super) time: u64,
    /// The tree's frontier at the seal (its root is the signed root).
    pub(super) frontier: Tree,
}

/// The walk's state between two leaves (a clone is the state to return
/// to when a segment must be walked again).
#[derive(Clone)]
struct Walk<'a> {
    seals: &'a [Proven],
    layout: &'a Layout,
    /// The tree of the complete blocks' hashes (each of 64 leaves).
    blocks: Tree,
    /// The leaves of the block being filled.
    tail: Blocks,
    /// Leaves retired before the walk's first (0 without a retire).
    base: u64,
    /// Leaves pushed (64 × the blocks' tree's size + the tail's).
    size: u64,
    /// The next seal to check.
    next: usize,
    found: Option<Tampering>,
    /// The first line after the last seal that holds (decision 72).
    from: Option<Pos>,
    /// The last line read.
    last: Option<Pos>,
    locator: Locator,
}

/// Recomputes the tree from the segments and checks each seal's root and
/// end at its size. Returns the leaves counted and the first departure,
/// located to its block of lines when the seal-nodes file vouched for by
/// the failing seal allows it, else at the first line after the last
/// seal that still holds (decision 72).
///
/// After a `retire`, it starts from the retire's tree at the segment after
/// it, and locates by seal only: the blocks before the retire cannot be
/// recomputed to authenticate the seal-nodes file (decision 105).
pub(super) fn recompute_with(
    fs: &dyn Fs,
    layout: &Layout,
    seals: &[Proven],
    retire: Option<&ProvenRetire>,
    workers: Workers,
) -> Result<(u64, Option<Tampering>)> {
    let (mut w, from) = Walk::start(fs, layout, seals, retire)?;
    let walked = hash_leaves(fs, layout, from, workers, &mut |src, chunk| {
        w.chunk(src, chunk)
    });
    w.finish(walked)
}

impl<'a> Walk<'a> {
    /// The walk before its first leaf, and the segment it starts at.
    fn start(
        fs: &dyn Fs,
        layout: &'a Layout,
        seals: &'a [Proven],
        retire: Option<&ProvenRetire>,
    ) -> Result<(Self, u64)> {
        let (start_tree, start) = super::retire::start(retire);
        let base = start_tree.size();
        let (blocks, tail) = split_blocks(&start_tree).map_err(|e| seal_err(layout.dir(), e))?;
        let max_blocks = seals
            .last()
            .map_or(0, |s| s.size >> super::nodes::BLOCK_BITS);
        let nodes = match retire {
            None => read_nodes(fs, layout, max_blocks)?,
            Some(_) => None,
        };
        let w = Walk {
            seals,
            layout,
            blocks,
            tail,
            base,
            size: base,
            next: seals.partition_point(|s| s.size <= base),
            found: None,
            from: None,
            last: None,
            locator: Locator::new(nodes),
        };
        Ok((w, start.segment))
    }

    /// The leaves counted and the first departure, once every leaf was
    /// given or the reading failed with `walked`'s error.
    fn finish(mut self, walked: Result<()>) -> Result<(u64, Option<Tampering>)> {
        let w = &mut self;
        if let Err(e) = walked {
            let Some(t) = unreadable(&e) else {
                return Err(e);
            };
            return Ok((w.size, w.found.take().or(Some(t))));
        }
        if w.found.is_none()
            && let Some(s) = w.seals.get(w.next)
        {
            if w.from.is_none() {
                w.from.clone_from(&w.last);
            }
            let last = w.last.clone();
            let what = format!(
                "the store holds {} lines, fewer than the {} sealed: lines or segments were removed",
                w.size, s.size
            );
            w.found = Some(w.depart(s, last.as_ref(), Some(what)));
        }
        Ok((w.size, w.found.take()))
    }
}

/// The walk fed by another read of the segments (the plain verify's,
/// [`LeafSink`]): the leaves of each segment that read
/// hashed are walked as they come; a segment it did not read, or did not
/// hash whole, is walked again from the state before it by the walk's own
/// read ([`walk_segment`]). So the walk sees exactly the leaves, and
/// meets exactly the errors, of [`recompute_with`].
pub(super) struct Fed<'a> {
    fs: &'a dyn Fs,
    walk: Walk<'a>,
    /// The segments the walk reads, in order.
    segments: Vec<Listed>,
    /// How the walk's reading stopped: an error ends it, as it ends
    /// [`hash_leaves`].
    walked: Result<()>,
    /// For each source of the other read, the segment it is, if any (the
    /// segments so named increase).
    map: Vec<Option<usize>>,
    /// The next segment to walk.
    next: usize,
    /// The walk before the segment being fed.
    saved: Option<Walk<'a>>,
}

impl<'a> Fed<'a> {
    /// A walk over the segments of `layout` as [`recompute_with`] would
    /// start it.
    pub(super) fn new(
        fs: &'a dyn Fs,
        layout: &'a Layout,
        seals: &'a [Proven],
        retire: Option<&ProvenRetire>,
    ) -> Result<Self> {
        let (walk, from) = Walk::start(fs, layout, seals, retire)?;
        let (segments, walked) = match walked_segments(fs, layout, from) {
            Ok(s) => (s, Ok(())),
            Err(e) => (Vec::new(), Err(e)),
        };
        Ok(Self {
            fs,
            walk,
            segments,
            walked,
            map: Vec::new(),
            next: 0,
            saved: None,
        })
    }

    /// Walks, with the walk's own read, the segments before segment `to`.
    fn catch_up(&mut self, to: usize) {
        while self.next < to {
            if let (Ok(()), Some(s)) = (&self.walked, self.segments.get(self.next)) {
                let w = &mut self.walk;
                self.walked = walk_segment(self.fs, s, &mut |src, chunk| w.chunk(src, chunk));
            }
            self.next += 1;
        }
    }

    /// What [`recompute_with`] returns.
    pub(super) fn finish(mut self) -> Result<(u64, Option<Tampering>)> {
        self.catch_up(self.segments.len());
        self.walk.finish(self.walked)
    }

    /// The segment source `job` is, when it is fed.
    fn fed(&self, job: usize) -> Option<usize> {
        self.map.get(job).copied().flatten()
    }
}

/// What takes the leaves the plain verify's read hashes, for `verify
/// --key`'s walk ([`Fed`]): one read of each segment for both
/// checks. Its calls come in log order, on the merging thread.
pub(crate) trait LeafSink {
    /// Which sources of the snapshot (their paths, in log order) to hash;
    /// called once, before any other call.
    fn plan(&mut self, paths: &[&Path]) -> Vec<bool>;
    /// Source `job` is next: its leaves, if hashed, follow.
    fn begin(&mut self, job: usize);
    /// The next leaves of source `job`.
    fn leaves(&mut self, job: usize, chunk: &[Hashed]);
    /// Source `job` is read; `complete`: every leaf of it was given.
    fn end(&mut self, job: usize, complete: bool);
}

impl LeafSink for Fed<'_> {
    fn plan(&mut self, paths: &[&Path]) -> Vec<bool> {
        let mut from = 0;
        self.map = paths
            .iter()
            .map(|p| {
                let k = from + self.segments.get(from..)?.iter().position(|s| s.2 == *p)?;
                from = k + 1;
                Some(k)
            })
            .collect();
        if self.walked.is_err() {
            self.map.iter_mut().for_each(|m| *m = None);
        }
        self.map.iter().map(Option::is_some).collect()
    }

    fn begin(&mut self, job: usize) {
        if let Some(k) = self.fed(job) {
            self.catch_up(k);
            self.saved = self.walked.is_ok().then(|| self.walk.clone());
        }
    }

    fn leaves(&mut self, job: usize, chunk: &[Hashed]) {
        let Some(k) = self.fed(job) else { return };
        if let (Ok(()), Some(s)) = (&self.walked, self.segments.get(k)) {
            self.walked = self.walk.chunk(&source(s), chunk);
        }
    }

    fn end(&mut self, job: usize, complete: bool) {
        let Some(k) = self.fed(job) else { return };
        match self.saved.take() {
            Some(w) if !complete => {
                // Walked again from where the segment started (the walk
                // was then unbroken), by the walk's own read: its leaves,
                // its error.
                self.walk = w;
                self.walked = Ok(());
                self.catch_up(k + 1);
            }
            _ => self.next = k + 1,
        }
    }
}

impl Walk<'_> {
    fn chunk(&mut self, src: &Source, chunk: &[Hashed]) -> Result<()> {
        for h in chunk {
            let pos = Pos {
                segment: Arc::clone(&src.name),
                line: h.line,
                start: h.start,
                end: h.end,
            };
            self.leaf(h, &pos, src.number)?;
            self.last = Some(pos);
        }
        Ok(())
    }

    fn leaf(&mut self, h: &Hashed, pos: &Pos, number: u64) -> Result<()> {
        let bad = |e: String| seal_err(self.layout.dir(), e);
        let boundary = self
            .next
            .checked_sub(1)
            .and_then(|i| self.seals.get(i))
            .map_or(self.base, |s| s.size.max(self.base));
        if self.size == boundary {
            self.from = Some(pos.clone());
        }
        if self.tail.filled() == 0 {
            self.locator.block_starts(pos);
        }
        if let Some(block) = self.tail.push(h.hash).map_err(bad)? {
            self.blocks.push(block).map_err(|e| bad(e.to_string()))?;
            self.locator.block_done(block, pos).map_err(bad)?;
        }
        self.size = self.size.saturating_add(1);
        if self.found.is_none()
            && let Some(s) = self.seals.get(self.next)
            && s.size == self.size
        {
            let tree = join(&self.blocks, &self.tail).map_err(bad)?;
            let end = End {
                segment: number,
                offset: h.end,
            };
            if s.root != tree.root() || s.end != end {
                self.found = Some(self.depart(s, Some(pos), None));
            }
            self.next += 1;
        }
        Ok(())
    }

    /// The departure from seal `s`, located as well as can be; `what`
    /// replaces the usual text.
    fn depart(&mut self, s: &Proven, last: Option<&Pos>, what: Option<String>) -> Tampering {
        let from = self.from.take();
        let mut t = departure(s, from.as_ref().map(|p| (p.segment.to_string(), p.line)));
        if let Some(what) = what {
            t.what = what;
        }
        match self
            .locator
            .locate(&s.frontier, last, self.tail.filled())
        {
            Ok((mut span, first_leaf)) => {
                // The lines before the last seal that holds are proven:
                // the departure starts at or after the first line after it.
                let proven = self
                    .next
                    .checked_sub(1)
                    .and_then(|i| self.seals.get(i))
                    .map_or(0, |p| p.size);
                if let Some(f) = &from
                    && proven > first_leaf
                {
                    span.first = f.public();
                }
                t.segment = Some(span.first.segment.clone());
                t.line = Some(span.first.line);
                t.span = Some(Box::new(span));
            }
            Err(Unlocated::Mismatch) => t.what.push_str(
                "; the seal-nodes file does not match the seals, so the departure is located by seal",
            ),
            Err(Unlocated::NoNodes) => {}
        }
        t
    }
}

pub(super) fn departure(s: &Proven, from: Option<(String, u64)>) -> Tampering {
    let (segment, line) = from.map_or((None, None), |(s, l)| (Some(s), Some(l)));
    Tampering {
        what: format!(
            "the lines sealed up to size {} differ from the seal: edited, inserted, removed or reordered",
            s.size
        ),
        segment,
        line,
        span: None,
    }
}

/// A segment whose data cannot be read as lines (a corrupt archive, a
/// line over the bound, shorter than a seal says) as tampering; `None`
/// for failures of the system (permissions, IO), which stay errors.
pub(super) fn unreadable(e: &Error) -> Option<Tampering> {
    let (path, why) = match e {
        Error::Seal { path, reason } => (path, reason.clone()),
        Error::Io { path, source, .. }
            if matches!(
                source.kind(),
                io::ErrorKind::InvalidData
                    | io::ErrorKind::InvalidInput
                    | io::ErrorKind::UnexpectedEof
            ) =>
        {
            (path, format!("cannot be read: {source}"))
        }
        _ => return None,
    };
    let name = path
        .file_name()
        .and_then(|n| n.to_str())
        .unwrap_or("")
        .to_owned();
    Some(Tampering {
        what: format!("the segment {name} {why}"),
        segment: Some(name),
        line: None,
        span: None,
    })
}
