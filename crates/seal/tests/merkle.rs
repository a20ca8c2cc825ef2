//! The Merkle tree against published vectors, and its proofs under
//! random trees and hostile input.
//!
//! Vectors: the RFC 6962 reference data of Certificate Transparency, as
//! kept in `github.com/transparency-dev/merkle`: leaf inputs, node and
//! root hashes from `testonly/constants.go` (`LeafInputs`, `NodeHashes`,
//! `RootHashes`, `CompactTrees`); inclusion and consistency proofs from
//! `proof/verify_test.go` (`inclusionProofs`, `consistencyProofs`, whose
//! leaf numbers there are 1-based). The same data is in
//! `google/certificate-transparency`'s `merkle_tree_test.cc`.

#![allow(clippy::unwrap_used)]

use proptest::prelude::*;
use scout_audit_seal::Error;
use scout_audit_seal::merkle::{
    Hash, Tree, consistency_proof, empty_root, inclusion_proof, leaf_hash, node_hash, root,
    verify_consistency, verify_inclusion,
};

fn h(hex: &str) -> Hash {
    let bytes = bytes(hex);
    let mut out = [0u8; 32];
    out.copy_from_slice(&bytes);
    out
}

fn bytes(hex: &str) -> Vec<u8> {
    (0..hex.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&hex[i..i + 2], 16).unwrap())
        .collect()
}

/// `LeafInputs()` of transparency-dev/merkle `testonly/constants.go`.
const LEAVES: [&str; 8] = [
    "",
    "00",
    "10",
    "2021",
    "3031",
    "40414243",
    "5051525354555657",
    "606162636465666768696a6b6c6d6e6f",
];

/// `RootHashes()` of the same file: the root of the first `i` leaves.
const ROOTS: [&str; 9] = [
    "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
    "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
    "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
    "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
    "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
    "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
    "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
    "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
    "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
];

/// `NodeHashes()[0]` of the same file: the leaf hashes.
const LEAF_HASHES: [&str; 8] = [
    "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
    "96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
    "0298d122906dcfc10892cb53a73992fc5b9f493ea4c9badb27b791b4127a7fe7",
    "07506a85fd9dd2f120eb694f86011e5bb4662e5c415a62917033d4a9624487e7",
    "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
    "4271a26be0d8a84f0bd54c8c302e7cb3a3b5d1fa6780a40bcce2873477dab658",
    "b08693ec2e721597130641e8211e7eedccb4c26413963eee6c1e2ed16ffb1a5f",
    "46f6ffadd3d06a09ff3c5860d2755c8b9819db7df44251788c7d8e3180de8eb1",
];

/// `inclusionProofs` of transparency-dev/merkle `proof/verify_test.go`,
/// with the leaf made 0-based: (index, size, proof).
const INCLUSION: [(u64, u64, &[&str]); 5] = [
    (0, 1, &[]),
    (
        0,
        8,
        &[
            "96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
            "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4",
        ],
    ),
    (
        5,
        8,
        &[
            "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
            "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
            "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
        ],
    ),
    (
        2,
        3,
        &["fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125"],
    ),
    (
        1,
        5,
        &[
            "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
            "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
        ],
    ),
];

/// `consistencyProofs` of the same file: (m, n, proof).
const CONSISTENCY: [(u64, u64, &[&str]); 5] = [
    (1, 1, &[]),
    (
        1,
        8,
        &[
            "96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
            "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4",
        ],
    ),
    (
        6,
        8,
        &[
            "0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a",
            "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
            "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
        ],
    ),
    (
        2,
        5,
        &[
            "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
        ],
    ),
    (
        6,
        7,
        &[
            "0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a",
            "b08693ec2e721597130641e8211e7eedccb4c26413963eee6c1e2ed16ffb1a5f",
            "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
        ],
    ),
];

fn vector_leaves() -> Vec<Hash> {
    LEAVES.iter().map(|l| leaf_hash(&bytes(l))).collect()
}

fn hashes(list: &[&str]) -> Vec<Hash> {
    list.iter().map(|x| h(x)).collect()
}

#[test]
fn leaf_hashes_and_roots_are_the_reference_ones() {
    let leaves = vector_leaves();
    assert_eq!(leaves, hashes(&LEAF_HASHES));
    assert_eq!(empty_root(), h(ROOTS[0]));
    let mut tree = Tree::new();
    for n in 0..=8 {
        assert_eq!(root(&leaves[..n]), h(ROOTS[n]), "root of {n}");
        assert_eq!(tree.root(), h(ROOTS[n]), "tree of {n}");
        assert_eq!(tree.size(), n as u64);
        assert_eq!(Tree::decode(&tree.encode()).unwrap(), tree);
        if n < 8 {
            tree.push(leaves[n]).unwrap();
        }
    }
    // NodeHashes()[1][0]: the node over the first two leaves.
    assert_eq!(
        node_hash(&leaves[0], &leaves[1]),
        h("fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125")
    );
}

#[test]
fn tree_state_is_the_reference_compact_range() {
    // CompactTrees()[7]: nh[2][0], nh[1][2], nh[0][6].
    let mut tree = Tree::new();
    for l in &vector_leaves()[..7] {
        tree.push(*l).unwrap();
    }
    let mut want = vec![1u8, 0, 0, 0, 0, 0, 0, 0, 7];
    for x in [
        ROOTS[4],
        "0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a",
        LEAF_HASHES[6],
    ] {
        want.extend_from_slice(&h(x));
    }
    assert_eq!(tree.encode(), want);
}

#[test]
fn inclusion_proofs_are_the_reference_ones() {
    let leaves = vector_leaves();
    for (index, size, proof) in INCLUSION {
        let want = hashes(proof);
        let n = size as usize;
        assert_eq!(
            inclusion_proof(index, &leaves[..n]).unwrap(),
            want,
            "{index} of {size}"
        );
        let leaf = leaves[index as usize];
        verify_inclusion(index, size, &leaf, &want, &h(ROOTS[n])).unwrap();
    }
}

#[test]
fn consistency_proofs_are_the_reference_ones() {
    let leaves = vector_leaves();
    for (m, n, proof) in CONSISTENCY {
        let want = hashes(proof);
        assert_eq!(
            consistency_proof(m, n, &leaves).unwrap(),
            want,
            "{m} to {n}"
        );
        let (rm, rn) = (h(ROOTS[m as usize]), h(ROOTS[n as usize]));
        verify_consistency(m, n, &rm, &rn, &want).unwrap();
    }
}

#[test]
fn hostile_inclusion_input_is_an_error() {
    let leaves = vector_leaves();
    let r = h(ROOTS[8]);
    let proof = inclusion_proof(5, &leaves).unwrap();
    let leaf = leaves[5];
    assert!(matches!(
        inclusion_proof(8, &leaves),
        Err(Error::LeafIndex { index: 8, size: 8 })
    ));
    assert!(matches!(
        inclusion_proof(u64::MAX, &leaves),
        Err(Error::LeafIndex { .. })
    ));
    assert!(matches!(
        inclusion_proof(0, &[]),
        Err(Error::LeafIndex { .. })
    ));
    assert!(matches!(
        verify_inclusion(8, 8, &leaf, &proof, &r),
        Err(Error::LeafIndex { .. })
    ));
    assert!(matches!(
        verify_inclusion(0, 0, &leaf, &[], &r),
        Err(Error::LeafIndex { .. })
    ));
    let mut long = proof.clone();
    long.push(r);
    assert!(matches!(
        verify_inclusion(5, 8, &leaf, &long, &r),
        Err(Error::ProofLength { .. })
    ));
    assert!(matches!(
        verify_inclusion(5, 8, &leaf, &proof[..2], &r),
        Err(Error::ProofLength { .. })
    ));
    let huge = vec![r; 100_000];
    assert!(matches!(
        verify_inclusion(5, 8, &leaf, &huge, &r),
        Err(Error::ProofLength { .. })
    ));
    // Sizes near u64::MAX: checked, never overflowed.
    for (index, size) in [
        (u64::MAX - 1, u64::MAX),
        (0, u64::MAX),
        (u64::MAX, u64::MAX),
    ] {
        assert!(verify_inclusion(index, size, &leaf, &proof, &r).is_err());
        let full = vec![r; 64];
        assert!(verify_inclusion(index, size, &leaf, &full, &r).is_err());
    }
}

#[test]
fn hostile_consistency_input_is_an_error() {
    let leaves = vector_leaves();
    let (r3, r8) = (h(ROOTS[3]), h(ROOTS[8]));
    let proof = consistency_proof(3, 8, &leaves).unwrap();
    let sizes = |r: Result<Vec<Hash>, Error>| matches!(r, Err(Error::TreeSizes { .. }));
    assert!(sizes(consistency_proof(0, 8, &leaves)));
    assert!(sizes(consistency_proof(5, 4, &leaves)));
    assert!(matches!(
        consistency_proof(3, 9, &leaves),
        Err(Error::TooFewLeaves { size: 9, have: 8 })
    ));
    assert!(sizes(
        verify_consistency(0, 8, &r3, &r8, &proof).map(|()| Vec::new())
    ));
    assert!(sizes(
        verify_consistency(8, 3, &r3, &r8, &proof).map(|()| Vec::new())
    ));
    assert!(matches!(
        verify_consistency(3, 8, &r3, &r8, &[]),
        Err(Error::ProofLength { .. })
    ));
    assert!(matches!(
        verify_consistency(8, 8, &r8, &r8, &proof),
        Err(Error::ProofLength { .. })
    ));
    assert!(matches!(
        verify_consistency(8, 8, &r3, &r8, &[]),
        Err(Error::ProofMismatch(_))
    ));
    verify_consistency(8, 8, &r8, &r8, &[]).unwrap();
    let mut long = proof.clone();
    long.push(r8);
    assert!(matches!(
        verify_consistency(3, 8, &r3, &r8, &long),
        Err(Error::ProofLength { .. })
    ));
    assert!(verify_consistency(3, 8, &r3, &r8, &proof[..proof.len() - 1]).is_err());
    let huge = vec![r8; 100_000];
    assert!(matches!(
        verify_consistency(3, 8, &r3, &r8, &huge),
        Err(Error::ProofLength { .. })
    ));
    for (m, n) in [
        (u64::MAX - 1, u64::MAX),
        (1, u64::MAX),
        (u64::MAX, u64::MAX),
    ] {
        assert!(verify_consistency(m, n, &r3, &r8, &proof).is_err());
        assert!(verify_consistency(m, n, &r3, &r8, &vec![r8; 65]).is_err());
    }
}

#[test]
fn malformed_tree_state_is_refused() {
    let mut tree = Tree::new();
    for l in vector_leaves() {
        tree.push(l).unwrap();
    }
    let good = tree.encode();
    let state = |r: Result<Tree, Error>| matches!(r, Err(Error::TreeState(_)));
    assert!(state(Tree::decode(&[])));
    assert!(state(Tree::decode(&good[..5])));
    assert!(state(Tree::decode(&good[..good.len() - 1])));
    let mut extra = good.clone();
    extra.extend_from_slice(&[0; 32]);
    assert!(state(Tree::decode(&extra)));
    let mut version = good.clone();
    version[0] = 2;
    assert!(state(Tree::decode(&version)));
    // Size 7 needs three hashes, not the one size 8 has.
    let mut size = good.clone();
    size[8] = 7;
    assert!(state(Tree::decode(&size)));
    // A full tree refuses another leaf instead of wrapping its size.
    let mut full = vec![1u8];
    full.extend_from_slice(&u64::MAX.to_be_bytes());
    full.extend(std::iter::repeat_n(0u8, 64 * 32));
    let mut full = Tree::decode(&full).unwrap();
    assert!(matches!(full.push([0; 32]), Err(Error::TreeFull)));
    assert_eq!(full.size(), u64::MAX);
}

fn random_leaves(n: usize) -> Vec<Hash> {
    (0..n as u64).map(|i| leaf_hash(&i.to_le_bytes())).collect()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn tree_equals_root(n in 0usize..3000) {
        let leaves = random_leaves(n);
        let mut tree = Tree::new();
        for l in &leaves {
            tree.push(*l).unwrap();
        }
        prop_assert_eq!(tree.root(), root(&leaves));
        let back = Tree::decode(&tree.encode()).unwrap();
        prop_assert_eq!(back.root(), tree.root());
    }

    #[test]
    fn inclusion_proves_and_tampering_fails(
        n in 1usize..3000, at in any::<prop::sample::Index>(), byte in 0usize..32, other in any::<u64>(),
    ) {
        let leaves = random_leaves(n);
        let (size, index) = (n as u64, at.index(n) as u64);
        let r = root(&leaves);
        let leaf = leaves[index as usize];
        let proof = inclusion_proof(index, &leaves).unwrap();
        verify_inclusion(index, size, &leaf, &proof, &r).unwrap();
        let mut bad_root = r;
        bad_root[byte] ^= 1;
        prop_assert!(verify_inclusion(index, size, &leaf, &proof, &bad_root).is_err());
        let mut bad_leaf = leaf;
        bad_leaf[byte] ^= 0x80;
        prop_assert!(verify_inclusion(index, size, &bad_leaf, &proof, &r).is_err());
        for i in 0..proof.len() {
            let mut bad = proof.clone();
            bad[i][byte] ^= 4;
            prop_assert!(verify_inclusion(index, size, &leaf, &bad, &r).is_err());
        }
        let other_index = other % size;
        if other_index != index {
            prop_assert!(verify_inclusion(other_index, size, &leaf, &proof, &r).is_err());
        }
        // A size whose path has another length (the module's doc says why
        // not every other size).
        prop_assert!(verify_inclusion(index, size * 2, &leaf, &proof, &r).is_err());
        prop_assert!(verify_inclusion(index, size / 2, &leaf, &proof, &r).is_err());
    }

    #[test]
    fn consistency_proves_and_tampering_fails(
        n in 1usize..3000, at in any::<prop::sample::Index>(), byte in 0usize..32, other in any::<u64>(),
    ) {
        let leaves = random_leaves(n);
        let (n, m) = (n as u64, at.index(n) as u64 + 1);
        let (rm, rn) = (root(&leaves[..m as usize]), root(&leaves));
        let proof = consistency_proof(m, n, &leaves).unwrap();
        verify_consistency(m, n, &rm, &rn, &proof).unwrap();
        prop_assert_eq!(proof.is_empty(), m == n);
        let mut bad = rm;
        bad[byte] ^= 1;
        prop_assert!(verify_consistency(m, n, &bad, &rn, &proof).is_err());
        let mut bad = rn;
        bad[byte] ^= 1;
        prop_assert!(verify_consistency(m, n, &rm, &bad, &proof).is_err());
        for i in 0..proof.len() {
            let mut bad = proof.clone();
            bad[i][byte] ^= 16;
            prop_assert!(verify_consistency(m, n, &rm, &rn, &bad).is_err());
        }
        let other_m = other % n + 1;
        if other_m != m {
            prop_assert!(verify_consistency(other_m, n, &rm, &rn, &proof).is_err());
        }
        prop_assert!(verify_consistency(m, n * 2, &rm, &rn, &proof).is_err());
    }
}

/// A second checker with the shape of Go's `tlog.CheckRecord` /
/// `tlog.CheckTree` (golang.org/x/mod/sumdb/tlog/tlog.go: recursive over
/// `[lo, hi)`, splitting at the largest power of two below `hi - lo`, each
/// level's hash the proof's LAST one), written here from that description
/// so our proofs are checked by the other algorithm too.
mod tlog_shape {
    use scout_audit_seal::merkle::{Hash, node_hash};

    fn split(n: u64) -> u64 {
        1 << (63 - (n - 1).leading_zeros())
    }

    /// The root a record proof implies for leaf `n` of `[lo, hi)`.
    pub fn run_record(p: &[Hash], lo: u64, hi: u64, n: u64, leaf: Hash) -> Option<Hash> {
        if lo + 1 == hi {
            return p.is_empty().then_some(leaf);
        }
        let (last, rest) = p.split_last()?;
        let k = split(hi - lo);
        if n < lo + k {
            Some(node_hash(&run_record(rest, lo, lo + k, n, leaf)?, last))
        } else {
            Some(node_hash(last, &run_record(rest, lo + k, hi, n, leaf)?))
        }
    }

    /// The (old, new) roots a tree proof implies for `[lo, hi)`, the old
    /// tree being the first `n` leaves.
    pub fn run_tree(p: &[Hash], lo: u64, hi: u64, n: u64, old: Hash) -> Option<(Hash, Hash)> {
        if n == hi {
            return match (lo, p) {
                (0, []) => Some((old, old)),
                (0, _) => None,
                (_, [h]) => Some((*h, *h)),
                _ => None,
            };
        }
        let (last, rest) = p.split_last()?;
        let k = split(hi - lo);
        if n <= lo + k {
            let (o, t) = run_tree(rest, lo, lo + k, n, old)?;
            Some((o, node_hash(&t, last)))
        } else {
            let (o, t) = run_tree(rest, lo + k, hi, n, old)?;
            Some((node_hash(last, &o), node_hash(last, &t)))
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn proofs_have_tlogs_shape(
        n in 1usize..2000, at in any::<prop::sample::Index>(), byte in 0usize..32, flip in any::<prop::sample::Index>(),
    ) {
        let leaves = random_leaves(n);
        let (size, i) = (n as u64, at.index(n) as u64);
        let r = root(&leaves);
        let leaf = leaves[i as usize];
        let mut proof = inclusion_proof(i, &leaves).unwrap();
        prop_assert_eq!(tlog_shape::run_record(&proof, 0, size, i, leaf), Some(r));
        let m = i + 1;
        let rm = root(&leaves[..m as usize]);
        let mut tree = consistency_proof(m, size, &leaves).unwrap();
        prop_assert_eq!(tlog_shape::run_tree(&tree, 0, size, m, rm), Some((rm, r)));
        // Both checkers refuse the same changed proof.
        if !proof.is_empty() {
            let k = flip.index(proof.len());
            proof[k][byte] ^= 1;
            prop_assert_ne!(tlog_shape::run_record(&proof, 0, size, i, leaf), Some(r));
            prop_assert!(verify_inclusion(i, size, &leaf, &proof, &r).is_err());
        }
        if !tree.is_empty() {
            let k = flip.index(tree.len());
            tree[k][byte] ^= 1;
            prop_assert_ne!(tlog_shape::run_tree(&tree, 0, size, m, rm), Some((rm, r)));
            prop_assert!(verify_consistency(m, size, &rm, &r, &tree).is_err());
        }
    }
}

#[test]
fn an_inclusion_proof_binds_size_only_through_the_path() {
    // What the module's doc warns: leaf 0's path in a tree of 5 has the
    // shape of its path in a tree of 6, so the proof checks against the
    // root of 5 under either size; the root must come with its size.
    let leaves = vector_leaves();
    let r5 = h(ROOTS[5]);
    let proof = inclusion_proof(0, &leaves[..5]).unwrap();
    verify_inclusion(0, 5, &leaves[0], &proof, &r5).unwrap();
    verify_inclusion(0, 6, &leaves[0], &proof, &r5).unwrap();
    assert!(verify_inclusion(0, 6, &leaves[0], &proof, &h(ROOTS[6])).is_err());
}
