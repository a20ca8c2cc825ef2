//! The crate's one error type.

/// Why a proof, note, checkpoint or key was refused.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The operating system gave no randomness for a new key.
    #[error("no randomness for a new key: {0}")]
    Random(String),
}
