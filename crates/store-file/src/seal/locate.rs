//! Locating a departure to a block of at most 64 lines: verify recomputes
//! the hash of every complete block of the store's leaves and compares it
//! with the seal-nodes file ([`super::nodes`]), which it trusts only when
//! the tree of its blocks ends in the failing seal's frontier.

use std::fmt;
use std::sync::Arc;

use scout_audit_seal::merkle::{Hash, Tree};

use super::nodes::{BLOCK_BITS, Nodes, block_edge};

/// One line of the store: its segment, its 1-based line number there and
/// its bytes (`start..end`, `end` past its `\n`; in an archive, offsets
/// in the decompressed lines).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LinePos {
    /// The segment's file name.
    pub segment: String,
    /// The 1-based line number in that segment.
    pub line: u64,
    /// The offset of the line's first byte.
    pub start: u64,
    /// The offset just past the line's `\n`.
    pub end: u64,
}

/// The lines of the store where a departure lies, first to last, both
/// included: at most 64 lines, which may cross from one segment into the
/// next.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Span {
    /// The first line of the range.
    pub first: LinePos,
    /// The last line of the range.
    pub last: LinePos,
}

impl fmt::Display for Span {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (a, b) = (&self.first, &self.last);
        if a.segment == b.segment {
            write!(
                f,
                "lines {}-{} of {} (bytes {}-{})",
                a.line, b.line, a.segment, a.start, b.end
            )
        } else {
            write!(
                f,
                "from line {} of {} (byte {}) to line {} of {} (byte {})",
                a.line, a.segment, a.start, b.line, b.segment, b.end
            )
        }
    }
}

/// A line as the walk sees it (the name shared, not copied a line).
#[derive(Clone, Debug)]
pub(super) struct Pos {
    pub(super) segment: Arc<str>,
    pub(super) line: u64,
    pub(super) start: u64,
    pub(super) end: u64,
}

impl Pos {
    pub(super) fn public(&self) -> LinePos {
        LinePos {
            segment: self.segment.to_string(),
            line: self.line,
            start: self.start,
            end: self.end,
        }
    }
}

/// Why a departure could not be located to a block.
#[derive(Debug, PartialEq, Eq)]
pub(super) enum Unlocated {
    /// No seal-nodes file, or one not covering the failing seal.
    NoNodes,
    /// A seal-nodes file that does not match the seals.
    Mismatch,
}

/// The recomputed blocks, compared with the seal-nodes file as they
/// complete. A clone shares the file's blocks.
#[derive(Clone)]
pub(super) struct Locator {
    /// The seal-nodes file's blocks, up to the last seal's.
    nodes: Option<Arc<Nodes>>,
    /// Blocks completed so far.
    count: u64,
    /// The tree of the recomputed blocks before the file's first.
    pre: Tree,
    /// Where the block being filled starts.
    start: Option<Pos>,
    /// The first block that differs from the file's, and its lines.
    first_diff: Option<(u64, Pos, Pos)>,
}

impl Locator {
    pub(super) fn new(nodes: Option<Nodes>) -> Self {
        Self {
            nodes: nodes.map(Arc::new),
            count: 0,
            pre: Tree::new(),
            start: None,
            first_diff: None,
        }
    }

    /// A block starts at `pos`.
    pub(super) fn block_starts(&mut self, pos: &Pos) {
        if self.nodes.is_some() {
            self.start = Some(pos.clone());
        }
    }

    /// The block being filled completed, with hash `block`, at `pos`.
    pub(super) fn block_done(&mut self, block: Hash, pos: &Pos) -> std::result::Result<(), String> {
        let Some(nodes) = &self.nodes else {
            return Ok(());
        };
        let j = self.count;
        self.count = self.count.saturating_add(1);
        if j < nodes.first {
            self.pre.push(block).map_err(|e| e.to_string())?;
        }
        if self.first_diff.is_none()
            && let Some(held) = nodes.get(j)
            && *held != block
            && let Some(start) = self.start.take()
        {
            self.first_diff = Some((j, start, pos.clone()));
        }
        Ok(())
    }

    /// The lines where the store departs from the seal of frontier
    /// `sealed` (whose root the store's lines do not give), `last` being
    /// the last line read and `filled` the leaves read of the block being
    /// filled.
    pub(super) fn locate(
        &self,
        sealed: &Tree,
        last: Option<&Pos>,
        filled: u64,
    ) -> std::result::Result<(Span, u64), Unlocated> {
        let nodes = self.nodes.as_ref().ok_or(Unlocated::NoNodes)?;
        let m = sealed.size() >> BLOCK_BITS;
        if nodes.first >= m || self.pre.size() != nodes.first {
            return Err(Unlocated::NoNodes);
        }
        let mut auth = self.pre.clone();
        for j in nodes.first..m {
            let held = nodes.get(j).ok_or(Unlocated::NoNodes)?;
            auth.push(*held).map_err(|_| Unlocated::Mismatch)?;
        }
        if auth.encode().get(9..) != Some(&block_edge(sealed)[..]) {
            return Err(Unlocated::Mismatch);
        }
        if let Some((j, a, b)) = &self.first_diff
            && *j < m
        {
            return Ok((span(a, b), j << BLOCK_BITS));
        }
        // Every complete block read is as sealed: the departure is in the
        // block being filled, the seal's last and partial one or the one
        // the store ends in (lines removed from it or after it).
        match (&self.start, last) {
            (Some(a), Some(b)) if self.count <= m && filled > 0 => {
                Ok((span(a, b), self.count << BLOCK_BITS))
            }
            _ => Err(Unlocated::NoNodes),
        }
    }
}

fn span(a: &Pos, b: &Pos) -> Span {
    Span {
        first: a.public(),
        last: b.public(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(segment: &str, line: u64, start: u64, end: u64) -> LinePos {
        LinePos {
            segment: segment.to_owned(),
            line,
            start,
            end,
        }
    }

    #[test]
    fn a_span_says_its_lines_and_bytes_in_one_segment_or_across_two() {
        let one = Span {
            first: at("a.jsonl.gz", 289, 61_234, 61_400),
            last: at("a.jsonl.gz", 352, 74_800, 75_000),
        };
        assert_eq!(
            one.to_string(),
            "lines 289-352 of a.jsonl.gz (bytes 61234-75000)"
        );
        let two = Span {
            first: at("a.jsonl.gz", 3990, 900, 950),
            last: at("audit.jsonl", 53, 5000, 5100),
        };
        assert_eq!(
            two.to_string(),
            "from line 3990 of a.jsonl.gz (byte 900) to line 53 of audit.jsonl (byte 5100)"
        );
    }
}
