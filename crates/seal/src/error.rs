//! The crate's one error type.

/// Why a proof, note, checkpoint or key was refused.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The operating system gave no randomness for a new key.
    #[error("no randomness for a new key: {0}")]
    Random(String),
    // --- the Merkle tree (src/merkle.rs) ---
    /// A leaf index at or past the end of its tree.
    #[error("leaf index {index} is not below the tree size {size}")]
    LeafIndex {
        /// The leaf index asked for.
        index: u64,
        /// The tree's size.
        size: u64,
    },
    /// Tree sizes a consistency proof cannot join (it needs `0 < old <= new`).
    #[error(
        "no consistency proof from a tree of {old} leaves to one of {new}: it needs 0 < old <= new"
    )]
    TreeSizes {
        /// The older tree's size.
        old: u64,
        /// The newer tree's size.
        new: u64,
    },
    /// A proof asked of a tree larger than the leaf hashes given.
    #[error("a tree of {size} leaves asked of only {have} leaf hashes")]
    TooFewLeaves {
        /// The tree size asked for.
        size: u64,
        /// The number of leaf hashes given.
        have: u64,
    },
    /// A tree size or index this machine cannot address in memory.
    #[error("tree size or index {0} does not fit this machine's memory")]
    TreeTooLarge(u64),
    /// A proof with more or fewer hashes than its sizes need.
    #[error("the {kind} proof's {len} hashes are not the number its sizes need")]
    ProofLength {
        /// `inclusion` or `consistency`.
        kind: &'static str,
        /// The number of hashes the proof holds.
        len: usize,
    },
    /// A proof that does not lead to the root (or roots) it was checked against.
    #[error("the {0} proof does not lead to the given root")]
    ProofMismatch(&'static str),
    /// A tree that already holds `u64::MAX` leaves.
    #[error("the tree is full: it holds u64::MAX leaves")]
    TreeFull,
    /// A persisted tree state that cannot be read back.
    #[error("the tree state is malformed: {0}")]
    TreeState(&'static str),
    // --- notes, checkpoints and epoch keys (src/note) ---
    /// A verifier or signer key text was not what the format says.
    #[error("malformed key: {0}")]
    MalformedKey(&'static str),
    /// A key text's 8 hex digits are not the key ID of its name and key.
    #[error("key id {got:08x} does not match the key (its id is {want:08x})")]
    KeyIdMismatch {
        /// The key ID the text gave.
        got: u32,
        /// The key ID of the text's name and key.
        want: u32,
    },
    /// A note (or a text to sign) was not what the format says.
    #[error("malformed note: {0}")]
    MalformedNote(&'static str),
    /// A note longer than the bound this crate reads.
    #[error("note of {len} bytes is over the {max}-byte bound")]
    NoteTooLarge {
        /// The note's length.
        len: usize,
        /// The bound.
        max: usize,
    },
    /// A signature by a known key that does not verify.
    #[error("invalid signature for key {name}+{key_id:08x}")]
    InvalidSignature {
        /// The signature line's key name.
        name: String,
        /// The signature's key ID.
        key_id: u32,
    },
    /// Two verifiers given for one key name and key ID.
    #[error("ambiguous key {name}+{key_id:08x}")]
    AmbiguousKey {
        /// The key name.
        name: String,
        /// The key ID.
        key_id: u32,
    },
    /// A note none of whose signatures is by a known key.
    #[error("note has no verified signature")]
    UnverifiedNote,
    /// A checkpoint body was not what the format says.
    #[error("malformed checkpoint: {0}")]
    MalformedCheckpoint(&'static str),
    /// An epoch certificate that does not continue the chain.
    #[error("epoch {epoch} certificate: {reason}")]
    Chain {
        /// The epoch the certificate should certify.
        epoch: u64,
        /// What was wrong.
        reason: String,
    },
    /// An epoch chain state text was not what the format says.
    #[error("malformed epoch state: {0}")]
    MalformedState(&'static str),
}
