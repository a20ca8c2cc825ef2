//! The crate's one error type.

/// Why a proof, note, checkpoint or key was refused.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The operating system gave no randomness for a new key.
    #[error("no randomness for a new key: {0}")]
    Random(String),
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
