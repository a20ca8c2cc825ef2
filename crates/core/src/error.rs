//! The error a [`crate::Sink`] returns.

use std::path::PathBuf;

/// What went wrong when logging through a sink. Backends keep their own
/// richer error types for their own APIs and map them onto these kinds.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The event cannot be written (a typed field of the wrong type, ...).
    #[error("invalid event: {0}")]
    InvalidEvent(String),
    /// An earlier write or fsync failed; the writer refuses everything
    /// after it, because what reached the disk is unknown. Reopening the
    /// store recovers.
    #[error("the writer is poisoned by an earlier failure ({0}); reopen the store to recover")]
    Poisoned(String),
    /// The event's (or imported record's) line would be longer than the
    /// line bound ([`crate::MAX_LINE`]): readers would skip it, so no sink
    /// writes or acknowledges it. Nothing of the call was stored.
    #[error("the line is {len} bytes, over the line bound of {max} bytes; nothing was written")]
    LineTooLong {
        /// The line's length in bytes, without its `\n`.
        len: u64,
        /// The bound, [`crate::MAX_LINE`].
        max: u64,
    },
    /// The sink was closed.
    #[error("the sink is closed")]
    Closed,
    /// An IO error, with what was being done and to which path.
    #[error("{op} {}: {source}", path.display())]
    Io {
        /// What was being done, such as `"append to"`.
        op: &'static str,
        /// The file or directory.
        path: PathBuf,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// Any other backend failure.
    #[error(transparent)]
    Backend(Box<dyn std::error::Error + Send + Sync + 'static>),
}
