//! The seal-nodes file (`<stem>.seal-nodes`): the hash of every complete,
//! aligned block of [`BLOCK`] leaves of the tree, appended by the sealer
//! and fsync'd before the seal that covers it, so that verify can name the
//! block (at most 64 lines) where the store first departs from its seals.
//!
//! Format: a 16-byte header, the magic `SASNODE1` and the number of the
//! first block it holds as 8 bytes big-endian, then one 32-byte hash per
//! block, in order. Block `j` is the Merkle node over leaves `64j ..
//! 64j+63`: an aligned perfect subtree of the RFC 6962 tree, so the blocks
//! and a seal's frontier determine that seal's root.
//!
//! The file proves nothing alone. Verify trusts it only when the tree of
//! its blocks (with the recomputed blocks before its first) ends in the
//! failing seal's frontier; otherwise the departure is located by seal, as
//! before the file existed (decision 92).

use std::io::Read;

use scout_audit_seal::merkle::{Hash, Tree};

use super::seal_err;
use crate::fs::{Fs, regular_or_absent, sync_dir};
use crate::layout::Layout;
use crate::{Error, Result};

/// Leaves per block, as a power of two.
pub(super) const BLOCK_BITS: u32 = 6;
/// Leaves per block.
pub(super) const BLOCK: u64 = 1 << BLOCK_BITS;
/// The file's magic, its format version included.
const MAGIC: &[u8; 8] = b"SASNODE1";
/// The header's length: the magic and the first block's number.
const HEADER: u64 = 16;
/// The length of one block's hash.
const NODE: u64 = 32;
/// The length of an encoded [`Tree`]'s header (version, size).
const STATE_HEADER: usize = 9;

/// The block being filled, as a small tree of its first leaves.
#[derive(Clone, Debug)]
pub(super) struct Blocks {
    /// The leaves of the current block so far (fewer than [`BLOCK`]).
    tail: Tree,
}

impl Blocks {
    /// No leaf yet.
    #[cfg(test)]
    pub(super) fn new() -> Self {
        Self { tail: Tree::new() }
    }

    /// Resumes after the leaves of `tree`: the current block's subtrees
    /// are the frontier's hashes for the bits of its size below [`BLOCK`].
    pub(super) fn resume(tree: &Tree) -> std::result::Result<Self, String> {
        let low = tree.size() % BLOCK;
        let bytes = tree.encode();
        let hashes = bytes.get(STATE_HEADER..).unwrap_or(&[]);
        let keep = (low.count_ones() as usize).saturating_mul(32);
        let start = hashes
            .len()
            .checked_sub(keep)
            .ok_or("a tree state shorter than its size")?;
        let mut state = vec![1u8];
        state.extend_from_slice(&low.to_be_bytes());
        state.extend_from_slice(&hashes[start..]);
        let tail = Tree::decode(&state).map_err(|e| e.to_string())?;
        Ok(Self { tail })
    }

    /// Leaves in the current block.
    pub(super) fn filled(&self) -> u64 {
        self.tail.size()
    }

    /// Adds a leaf; the block's hash when it completes one.
    pub(super) fn push(&mut self, leaf: Hash) -> std::result::Result<Option<Hash>, String> {
        self.tail.push(leaf).map_err(|e| e.to_string())?;
        if self.tail.size() < BLOCK {
            return Ok(None);
        }
        let block = self.tail.root();
        self.tail = Tree::new();
        Ok(Some(block))
    }
}

/// A tree of leaves split as the walk keeps it: the tree of its complete
/// blocks' hashes (the frontier's nodes of 64 leaves and more) and the
/// block being filled (the nodes below 64).
pub(super) fn split_blocks(tree: &Tree) -> std::result::Result<(Tree, Blocks), String> {
    let blocks = tree.size() >> BLOCK_BITS;
    let bytes = tree.encode();
    let hashes = bytes.get(STATE_HEADER..).unwrap_or(&[]);
    let keep = (blocks.count_ones() as usize).saturating_mul(32);
    let high = hashes
        .get(..keep)
        .ok_or("a tree state shorter than its size")?;
    let mut enc = bytes
        .get(..STATE_HEADER)
        .ok_or("a tree state without its header")?
        .to_vec();
    enc[1..9].copy_from_slice(&blocks.to_be_bytes());
    enc.extend_from_slice(high);
    let block_tree = Tree::decode(&enc).map_err(|e| e.to_string())?;
    Ok((block_tree, Blocks::resume(tree)?))
}

/// The tree of `blocks` complete blocks (a tree whose leaves are block
/// hashes) followed by the leaves of `tail`: the store's tree, whose root
/// is the one a seal of its size signs.
pub(super) fn join(blocks: &Tree, tail: &Blocks) -> std::result::Result<Tree, String> {
    let size = blocks
        .size()
        .checked_mul(BLOCK)
        .and_then(|n| n.checked_add(tail.filled()))
        .ok_or("a tree over u64::MAX leaves")?;
    let mut state = vec![1u8];
    state.extend_from_slice(&size.to_be_bytes());
    for t in [blocks, &tail.tail] {
        state.extend_from_slice(t.encode().get(STATE_HEADER..).unwrap_or(&[]));
    }
    Tree::decode(&state).map_err(|e| e.to_string())
}

/// The hashes of the frontier of `tree` above the last partial block:
/// the edge of the tree of its complete blocks, largest first.
pub(super) fn block_edge(tree: &Tree) -> Vec<u8> {
    let high = (tree.size() >> BLOCK_BITS).count_ones() as usize;
    let bytes = tree.encode();
    let hashes = bytes.get(STATE_HEADER..).unwrap_or(&[]);
    hashes
        .get(..high.saturating_mul(32))
        .unwrap_or(&[])
        .to_vec()
}

/// The blocks a seal-nodes file holds, from block `first` on.
pub(super) struct Nodes {
    /// The number of the first block held.
    pub(super) first: u64,
    /// The blocks held, in order (at most the number asked for).
    pub(super) hashes: Vec<Hash>,
}

impl Nodes {
    /// Block `j`, if the file holds it.
    pub(super) fn get(&self, j: u64) -> Option<&Hash> {
        let i = usize::try_from(j.checked_sub(self.first)?).ok()?;
        self.hashes.get(i)
    }
}

/// Reads at most `max_blocks` blocks of the seal-nodes file; `None` when
/// there is none, when something other than a regular file is at its
/// name (not followed), or when its header is not ours.
pub(super) fn read_nodes(fs: &dyn Fs, layout: &Layout, max_blocks: u64) -> Result<Option<Nodes>> {
    let path = layout.seal_nodes();
    match regular_or_absent(fs, &path) {
        Ok(true) => {}
        Ok(false) | Err(Error::Foreign { .. }) => return Ok(None),
        Err(e) => return Err(e),
    }
    let f = fs
        .open_read(&path)
        .map_err(|e| Error::io("open", &path, e))?;
    let mut r = f.take(max_blocks.saturating_mul(NODE).saturating_add(HEADER));
    let mut head = [0u8; HEADER as usize];
    if r.read_exact(&mut head).is_err() || &head[..8] != MAGIC {
        return Ok(None);
    }
    let mut first = [0u8; 8];
    first.copy_from_slice(&head[8..]);
    let mut bytes = Vec::new();
    r.read_to_end(&mut bytes)
        .map_err(|e| Error::io("read", &path, e))?;
    let hashes = bytes
        .chunks_exact(NODE as usize)
        .map(|c| {
            let mut h = [0u8; 32];
            h.copy_from_slice(c);
            h
        })
        .collect();
    Ok(Some(Nodes {
        first: u64::from_be_bytes(first),
        hashes,
    }))
}

/// Appends `blocks`, whose first is block `first_new`, to the seal-nodes
/// file and fsyncs it, before the seal that covers them is appended.
///
/// A new file starts at `first_new` (a store sealed before the file
/// existed gets locations from then on). Blocks past `first_new` left by
/// a sealer that died before its seal, and a torn last block, are cut
/// first. A file that is not ours (a link, another header) or that misses
/// blocks before `first_new` is left as it is and not written: verify
/// then locates by seal. IO failures are errors.
pub(super) fn append_nodes(
    fs: &dyn Fs,
    layout: &Layout,
    first_new: u64,
    blocks: &[Hash],
) -> Result<()> {
    let path = layout.seal_nodes();
    let exists = match regular_or_absent(fs, &path) {
        Ok(v) => v,
        Err(Error::Foreign { .. }) => return Ok(()),
        Err(e) => return Err(e),
    };
    let len = if exists {
        fs.lstat(&path)
            .map_err(|e| Error::io("stat", &path, e))?
            .len
    } else {
        0
    };
    let mut out = Vec::with_capacity(blocks.len().saturating_mul(32).saturating_add(16));
    if len < HEADER {
        // None yet, or a header torn by a crash at its creation.
        if blocks.is_empty() {
            return Ok(());
        }
        out.extend_from_slice(MAGIC);
        out.extend_from_slice(&first_new.to_be_bytes());
        if exists {
            cut(fs, &path, 0)?;
        }
    } else {
        let Some(keep) = kept_length(fs, layout, len, first_new)? else {
            return Ok(());
        };
        if keep != len {
            cut(fs, &path, keep)?;
        }
    }
    for b in blocks {
        out.extend_from_slice(b);
    }
    if out.is_empty() {
        return Ok(());
    }
    let f = fs
        .open_append(&path)
        .map_err(|e| Error::io("append to", &path, e))?;
    f.write_once(&out)
        .map_err(|e| Error::io("append to", &path, e))?;
    f.sync_all().map_err(|e| Error::io("fsync", &path, e))?;
    if !exists {
        sync_dir(fs, layout.dir())?;
    }
    Ok(())
}

/// The length to keep of an existing file of `len` bytes so that it ends
/// just before block `first_new`; `None` when it is not ours or misses
/// blocks before `first_new`.
fn kept_length(fs: &dyn Fs, layout: &Layout, len: u64, first_new: u64) -> Result<Option<u64>> {
    let Some(nodes) = read_nodes(fs, layout, 0)? else {
        return Ok(None);
    };
    let held = (len - HEADER) / NODE;
    let Some(wanted) = first_new.checked_sub(nodes.first) else {
        return Ok(None);
    };
    if held < wanted {
        return Ok(None);
    }
    Ok(wanted.checked_mul(NODE).and_then(|b| b.checked_add(HEADER)))
}

fn cut(fs: &dyn Fs, path: &std::path::Path, len: u64) -> Result<()> {
    fs.truncate(path, len)
        .map_err(|e| Error::io("truncate", path, e))
}

/// The leaves after the last seal's frontier as the sealer keeps them: the
/// tree of the complete blocks' hashes, the block being filled, and the
/// blocks this seal completes, for [`append_nodes`]. A leaf is hashed into
/// its block only, and the tree takes the block's hash when it completes
/// (an aligned block's root is the tree's node over its 64 leaves), so the
/// nodes below 64 leaves are hashed once, not once for the tree and again
/// for the seal-nodes file (decision 107).
#[derive(Debug)]
pub(super) struct NewBlocks {
    /// The tree whose leaves are the complete blocks' hashes, from the
    /// store's first block on.
    of_blocks: Tree,
    /// The block being filled (fewer than [`BLOCK`] leaves).
    blocks: Blocks,
    /// The number of the first block this seal completes.
    first: u64,
    /// The blocks completed since the last seal, block `first` first.
    done: Vec<Hash>,
}

impl NewBlocks {
    /// Starts after the leaves of `tree` (the last seal's frontier).
    pub(super) fn after(layout: &Layout, tree: &Tree) -> Result<Self> {
        let (of_blocks, blocks) =
            split_blocks(tree).map_err(|e| seal_err(&layout.seal_nodes(), e))?;
        Ok(Self {
            of_blocks,
            blocks,
            first: tree.size() >> BLOCK_BITS,
            done: Vec::new(),
        })
    }

    /// Adds the next leaf's hash.
    pub(super) fn push(&mut self, layout: &Layout, leaf: Hash) -> Result<()> {
        let full = self
            .blocks
            .push(leaf)
            .map_err(|e| seal_err(&layout.seal_nodes(), e))?;
        if let Some(b) = full {
            self.of_blocks
                .push(b)
                .map_err(|e| seal_err(&layout.seal_nodes(), e.to_string()))?;
            self.done.push(b);
        }
        Ok(())
    }

    /// The number of leaves: the last seal's and those pushed since.
    pub(super) fn size(&self) -> u64 {
        (self.of_blocks.size() << BLOCK_BITS).saturating_add(self.blocks.filled())
    }

    /// The tree of all those leaves, whose root a seal of their number signs.
    pub(super) fn tree(&self, layout: &Layout) -> Result<Tree> {
        join(&self.of_blocks, &self.blocks).map_err(|e| seal_err(&layout.seal_nodes(), e))
    }

    /// Appends the completed blocks to the seal-nodes file (fsync'd).
    pub(super) fn write(&self, fs: &dyn Fs, layout: &Layout) -> Result<()> {
        append_nodes(fs, layout, self.first, &self.done)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use scout_audit_seal::merkle::{leaf_hash, root};

    #[test]
    fn blocks_resumed_mid_block_give_the_blocks_of_the_whole_tree() {
        let leaves: Vec<Hash> = (0..200u32).map(|i| leaf_hash(&i.to_be_bytes())).collect();
        for cut in [0usize, 1, 63, 64, 65, 100, 128, 199] {
            let mut tree = Tree::new();
            for l in &leaves[..cut] {
                tree.push(*l).unwrap();
            }
            let mut blocks = Blocks::resume(&tree).unwrap();
            assert_eq!(blocks.filled(), cut as u64 % BLOCK);
            let mut done = Vec::new();
            for l in &leaves[cut..] {
                if let Some(b) = blocks.push(*l).unwrap() {
                    done.push(b);
                }
            }
            let want: Vec<Hash> = leaves.chunks_exact(64).skip(cut / 64).map(root).collect();
            assert_eq!(done, want, "cut at {cut}");
        }
    }

    #[test]
    fn the_block_edge_is_the_tree_of_the_blocks() {
        let leaves: Vec<Hash> = (0..300u32).map(|i| leaf_hash(&i.to_be_bytes())).collect();
        let mut tree = Tree::new();
        for l in &leaves {
            tree.push(*l).unwrap();
        }
        let mut of_blocks = Tree::new();
        for c in leaves.chunks_exact(64) {
            of_blocks.push(root(c)).unwrap();
        }
        assert_eq!(block_edge(&tree), block_edge_of(&of_blocks));
    }

    #[test]
    fn joined_blocks_and_tail_are_the_tree_of_the_leaves() {
        let leaves: Vec<Hash> = (0..200u32).map(|i| leaf_hash(&i.to_be_bytes())).collect();
        let (mut of_blocks, mut tail, mut tree) = (Tree::new(), Blocks::new(), Tree::new());
        for l in &leaves {
            if let Some(b) = tail.push(*l).unwrap() {
                of_blocks.push(b).unwrap();
            }
            tree.push(*l).unwrap();
            assert_eq!(join(&of_blocks, &tail).unwrap(), tree);
        }
    }

    fn block_edge_of(t: &Tree) -> Vec<u8> {
        t.encode()[STATE_HEADER..].to_vec()
    }
    #[test]
    fn new_blocks_give_the_tree_of_the_leaves_and_the_blocks_after_any_seal() {
        let layout = Layout::new(std::path::Path::new("/nonexistent/audit.jsonl")).unwrap();
        let leaves: Vec<Hash> = (0..300u32).map(|i| leaf_hash(&i.to_be_bytes())).collect();
        for cut in [0usize, 1, 63, 64, 65, 127, 128, 200] {
            let mut sealed = Tree::new();
            for l in &leaves[..cut] {
                sealed.push(*l).unwrap();
            }
            let mut new = NewBlocks::after(&layout, &sealed).unwrap();
            assert_eq!(new.first, cut as u64 / 64);
            let mut tree = sealed.clone();
            for l in &leaves[cut..] {
                new.push(&layout, *l).unwrap();
                tree.push(*l).unwrap();
                assert_eq!(new.size(), tree.size());
                assert_eq!(new.tree(&layout).unwrap(), tree, "cut at {cut}");
            }
            let want: Vec<Hash> = leaves.chunks_exact(64).skip(cut / 64).map(root).collect();
            assert_eq!(new.done, want, "cut at {cut}");
        }
    }
}
