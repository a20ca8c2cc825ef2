//! The Merkle tree of RFC 6962 §2.1 / RFC 9162 §2.1 over SHA-256.
//!
//! A leaf is `SHA-256(0x00 || line)`, an inner node `SHA-256(0x01 || left
//! || right)`, the empty tree's root `SHA-256("")`; a tree of `n > 1`
//! leaves splits at the largest power of two smaller than `n`.
//!
//! - [`root`]: the root of a list of leaf hashes (the definition).
//! - [`Tree`]: the same root kept incrementally from O(log n) hashes (the
//!   right edge's perfect subtrees), with [`Tree::encode`] /
//!   [`Tree::decode`] so a writer can persist and resume it.
//! - [`inclusion_proof`] / [`verify_inclusion`] (RFC 9162 §2.1.3) and
//!   [`consistency_proof`] / [`verify_consistency`] (§2.1.4).
//!
//! Proofs list their hashes in the RFC's order, from the leaf (or the old
//! tree's edge) up to the root: the order of Go's
//! `golang.org/x/mod/sumdb/tlog` (`ProveRecord` / `CheckRecord`,
//! `ProveTree` / `CheckTree`) and of Certificate Transparency, so `tlog`
//! checks the proofs this module prints and the other way round. As in
//! `tlog`, a consistency proof needs `0 < m <= n`: the empty tree proves
//! nothing.
//!
//! An inclusion proof binds a leaf to a root, and binds the index and the
//! size only as far as they shape the path: a proof for leaf 0 of a tree
//! of 5 also checks as leaf 0 of a tree of 6 against the same root. The
//! root is trusted with its size (a signed checkpoint), never alone.

use sha2::{Digest, Sha256};

use crate::Error;

/// A SHA-256 hash: a leaf, an inner node or a root.
pub type Hash = [u8; 32];

/// The most hashes a proof over a tree of up to `u64::MAX` leaves can
/// hold: 64 levels, plus the old root a consistency proof may restate.
const MAX_PROOF: usize = 65;

/// The length of an encoded [`Tree`]'s header: a version byte and the
/// size as 8 bytes big-endian.
const STATE_HEADER: usize = 9;

/// The version byte [`Tree::encode`] writes first.
const STATE_VERSION: u8 = 1;

/// The hash of one record: `SHA-256(0x00 || line)`, `line` as stored.
#[must_use]
pub fn leaf_hash(line: &[u8]) -> Hash {
    let mut h = Sha256::new();
    h.update([0u8]);
    h.update(line);
    h.finalize().into()
}

/// The hash of an inner node: `SHA-256(0x01 || left || right)`.
#[must_use]
pub fn node_hash(left: &Hash, right: &Hash) -> Hash {
    let mut h = Sha256::new();
    h.update([1u8]);
    h.update(left);
    h.update(right);
    h.finalize().into()
}

/// The root of the empty tree: `SHA-256("")`.
#[must_use]
pub fn empty_root() -> Hash {
    Sha256::digest([]).into()
}

/// The largest power of two smaller than `n`, for `n >= 2`.
fn split(n: usize) -> usize {
    debug_assert!(n >= 2);
    1 << (usize::BITS - 1 - (n - 1).leading_zeros())
}

/// The root of the tree whose leaves are `leaves`, in order (RFC 9162
/// §2.1.1's MTH).
#[must_use]
pub fn root(leaves: &[Hash]) -> Hash {
    match leaves.len() {
        0 => empty_root(),
        1 => leaves[0],
        n => {
            let (left, right) = leaves.split_at(split(n));
            node_hash(&root(left), &root(right))
        }
    }
}

/// A Merkle tree grown one leaf at a time, holding only the roots of the
/// perfect subtrees along its right edge (one per bit set in its size),
/// the largest (leftmost) first.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Tree {
    size: u64,
    edge: Vec<Hash>,
}

impl Tree {
    /// The empty tree.
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }

    /// The number of leaves pushed so far.
    #[must_use]
    pub fn size(&self) -> u64 {
        self.size
    }

    /// Appends a leaf hash (see [`leaf_hash`]).
    ///
    /// # Errors
    ///
    /// [`Error::TreeFull`] if the tree already holds `u64::MAX` leaves.
    pub fn push(&mut self, leaf: Hash) -> Result<(), Error> {
        let size = self.size.checked_add(1).ok_or(Error::TreeFull)?;
        let mut hash = leaf;
        let mut bits = self.size;
        while bits & 1 == 1 {
            // One hash per set bit: the loop runs while the edge has one.
            let Some(left) = self.edge.pop() else {
                return Err(Error::TreeState("fewer hashes than its size needs"));
            };
            hash = node_hash(&left, &hash);
            bits >>= 1;
        }
        self.edge.push(hash);
        self.size = size;
        Ok(())
    }

    /// The root of the leaves pushed so far; equal to [`root`] of them.
    #[must_use]
    pub fn root(&self) -> Hash {
        let mut hashes = self.edge.iter().rev();
        let Some(&last) = hashes.next() else {
            return empty_root();
        };
        hashes.fold(last, |right, left| node_hash(left, &right))
    }

    /// The state as bytes: version 1, the size as 8 bytes big-endian,
    /// then the edge's hashes, largest subtree first.
    #[must_use]
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(STATE_HEADER + 32 * self.edge.len());
        out.push(STATE_VERSION);
        out.extend_from_slice(&self.size.to_be_bytes());
        for h in &self.edge {
            out.extend_from_slice(h);
        }
        out
    }

    /// Reads back what [`Tree::encode`] wrote.
    ///
    /// # Errors
    ///
    /// [`Error::TreeState`] if the bytes are not a version 1 state or hold
    /// a number of hashes other than the one their size needs.
    pub fn decode(bytes: &[u8]) -> Result<Self, Error> {
        let Some((&version, rest)) = bytes.split_first() else {
            return Err(Error::TreeState("empty"));
        };
        if version != STATE_VERSION {
            return Err(Error::TreeState("unknown version"));
        }
        let Some((size, hashes)) = rest.split_first_chunk::<8>() else {
            return Err(Error::TreeState("shorter than its header"));
        };
        let size = u64::from_be_bytes(*size);
        let chunks = hashes.chunks_exact(32);
        if !chunks.remainder().is_empty() || chunks.len() != size.count_ones() as usize {
            return Err(Error::TreeState("hash count does not match its size"));
        }
        let mut edge = Vec::with_capacity(chunks.len());
        for chunk in chunks {
            let mut h = [0u8; 32];
            h.copy_from_slice(chunk);
            edge.push(h);
        }
        Ok(Self { size, edge })
    }
}

/// Converts a tree size or index to a slice position.
fn position(x: u64) -> Result<usize, Error> {
    usize::try_from(x).map_err(|_| Error::TreeTooLarge(x))
}

/// The inclusion proof of leaf `index` in the tree of all of `leaves`
/// (RFC 9162 §2.1.3.1's PATH), the leaf's sibling first.
///
/// # Errors
///
/// [`Error::LeafIndex`] if `index` is not below the number of leaves.
pub fn inclusion_proof(index: u64, leaves: &[Hash]) -> Result<Vec<Hash>, Error> {
    let size = leaves.len() as u64;
    if index >= size {
        return Err(Error::LeafIndex { index, size });
    }
    let mut proof = Vec::new();
    path(position(index)?, leaves, &mut proof);
    Ok(proof)
}

/// PATH(m, leaves), appended to `proof`; `m < leaves.len()`.
fn path(m: usize, leaves: &[Hash], proof: &mut Vec<Hash>) {
    if leaves.len() < 2 {
        return;
    }
    let (left, right) = leaves.split_at(split(leaves.len()));
    if m < left.len() {
        path(m, left, proof);
        proof.push(root(right));
    } else {
        path(m - left.len(), right, proof);
        proof.push(root(left));
    }
}

/// Checks that `leaf` is leaf `index` of the tree of `size` leaves whose
/// root is `root`, by the proof [`inclusion_proof`] (or `tlog`) made (RFC
/// 9162 §2.1.3.2).
///
/// # Errors
///
/// [`Error::LeafIndex`] if `index >= size`, [`Error::ProofLength`] if the
/// proof has more or fewer hashes than the path needs,
/// [`Error::ProofMismatch`] if it leads to another root.
pub fn verify_inclusion(
    index: u64,
    size: u64,
    leaf: &Hash,
    proof: &[Hash],
    root: &Hash,
) -> Result<(), Error> {
    if index >= size {
        return Err(Error::LeafIndex { index, size });
    }
    let wrong_length = Error::ProofLength {
        kind: "inclusion",
        len: proof.len(),
    };
    if proof.len() > MAX_PROOF {
        return Err(wrong_length);
    }
    let (mut f, mut s) = (index, size - 1);
    let mut r = *leaf;
    for p in proof {
        if s == 0 {
            return Err(wrong_length);
        }
        if f & 1 == 1 || f == s {
            r = node_hash(p, &r);
            while f & 1 == 0 && f != 0 {
                f >>= 1;
                s >>= 1;
            }
        } else {
            r = node_hash(&r, p);
        }
        f >>= 1;
        s >>= 1;
    }
    if s != 0 {
        return Err(wrong_length);
    }
    if r != *root {
        return Err(Error::ProofMismatch("inclusion"));
    }
    Ok(())
}

/// The proof that the tree of the first `m` of `leaves` is a prefix of the
/// tree of the first `n` (RFC 9162 §2.1.4.1's PROOF); empty if `m == n`.
///
/// # Errors
///
/// [`Error::TreeSizes`] unless `0 < m <= n`, [`Error::TooFewLeaves`] if
/// `n` is more than the number of leaves.
pub fn consistency_proof(m: u64, n: u64, leaves: &[Hash]) -> Result<Vec<Hash>, Error> {
    if m == 0 || m > n {
        return Err(Error::TreeSizes { old: m, new: n });
    }
    let have = leaves.len() as u64;
    if n > have {
        return Err(Error::TooFewLeaves { size: n, have });
    }
    let mut proof = Vec::new();
    subproof(position(m)?, &leaves[..position(n)?], true, &mut proof);
    Ok(proof)
}

/// SUBPROOF(m, leaves, whole), appended to `proof`; `0 < m <= leaves.len()`.
fn subproof(m: usize, leaves: &[Hash], whole: bool, proof: &mut Vec<Hash>) {
    if m == leaves.len() {
        if !whole {
            proof.push(root(leaves));
        }
        return;
    }
    let (left, right) = leaves.split_at(split(leaves.len()));
    if m <= left.len() {
        subproof(m, left, whole, proof);
        proof.push(root(right));
    } else {
        subproof(m - left.len(), right, false, proof);
        proof.push(root(left));
    }
}

/// Checks that the tree of size `m` and root `root_m` is a prefix of the
/// tree of size `n` and root `root_n`, by the proof [`consistency_proof`]
/// (or `tlog`) made (RFC 9162 §2.1.4.2).
///
/// # Errors
///
/// [`Error::TreeSizes`] unless `0 < m <= n`, [`Error::ProofLength`] if the
/// proof has more or fewer hashes than the sizes need,
/// [`Error::ProofMismatch`] if it leads to other roots.
pub fn verify_consistency(
    m: u64,
    n: u64,
    root_m: &Hash,
    root_n: &Hash,
    proof: &[Hash],
) -> Result<(), Error> {
    if m == 0 || m > n {
        return Err(Error::TreeSizes { old: m, new: n });
    }
    let wrong_length = Error::ProofLength {
        kind: "consistency",
        len: proof.len(),
    };
    if m == n {
        if !proof.is_empty() {
            return Err(wrong_length);
        }
        if root_m != root_n {
            return Err(Error::ProofMismatch("consistency"));
        }
        return Ok(());
    }
    let Some((&first, rest)) = proof.split_first() else {
        return Err(wrong_length);
    };
    if proof.len() > MAX_PROOF {
        return Err(wrong_length);
    }
    // A power-of-two old tree is a subtree of the new one: its root is the
    // proof's implicit first hash.
    let (start, rest) = if m.is_power_of_two() {
        (*root_m, proof)
    } else {
        (first, rest)
    };
    let (mut f, mut s) = (m - 1, n - 1);
    while f & 1 == 1 {
        f >>= 1;
        s >>= 1;
    }
    let (mut fr, mut sr) = (start, start);
    for c in rest {
        if s == 0 {
            return Err(wrong_length);
        }
        if f & 1 == 1 || f == s {
            fr = node_hash(c, &fr);
            sr = node_hash(c, &sr);
            while f & 1 == 0 && f != 0 {
                f >>= 1;
                s >>= 1;
            }
        } else {
            sr = node_hash(&sr, c);
        }
        f >>= 1;
        s >>= 1;
    }
    if s != 0 {
        return Err(wrong_length);
    }
    if fr != *root_m || sr != *root_n {
        return Err(Error::ProofMismatch("consistency"));
    }
    Ok(())
}
