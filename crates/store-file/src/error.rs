//! The one error type of the file store.

use std::io;
use std::path::PathBuf;

use scout_audit_core::SessionId;

/// What can go wrong in the file store. Messages are lowercase, name the
/// path (and line or offset) involved, and have no trailing period.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A file-system call failed.
    #[error("cannot {op} {}: {source}", path.display())]
    Io {
        /// What was being done: `"append to"`, `"fsync"`, `"rename"`, ...
        op: &'static str,
        /// The file or directory.
        path: PathBuf,
        /// The cause (`ENOSPC`, `EACCES`, ...).
        #[source]
        source: io::Error,
    },
    /// The store path cannot be used (a directory, no file name, ...).
    #[error("invalid store path {}: {reason}", path.display())]
    InvalidPath {
        /// The path given.
        path: PathBuf,
        /// Why it cannot be used.
        reason: String,
    },
    /// This process already has a writer open on this store for this session.
    #[error("the store {} is already open in this process for session {session}; share the FileStore (it is Clone and Sync) instead of opening it twice", path.display())]
    AlreadyOpen {
        /// The live file's path.
        path: PathBuf,
        /// The writer session.
        session: SessionId,
    },
    /// An earlier write or fsync failed: the writer refuses further events.
    #[error("the writer is poisoned by an earlier failure ({cause}); reopen the store to recover")]
    Poisoned {
        /// The failure that poisoned it.
        cause: String,
    },
    /// The store was closed.
    #[error("the store is closed")]
    Closed,
    /// The event cannot be written.
    #[error("invalid event: {0}")]
    InvalidEvent(String),
    /// A malformed line, in strict mode.
    #[error("{}:{line} (byte {offset}): {reason}", path.display())]
    Malformed {
        /// The segment file.
        path: PathBuf,
        /// 1-based line number within the (decompressed) segment.
        line: u64,
        /// Byte offset of the line within the (decompressed) segment.
        offset: u64,
        /// What is wrong with it.
        reason: String,
    },
    /// Two files that should hold the same records do not; neither was
    /// deleted.
    #[error("conflict at {}: {reason}", path.display())]
    Conflict {
        /// The file that differs.
        path: PathBuf,
        /// What differs, and what was kept.
        reason: String,
    },
    /// An exact sum of costs has no `f64` value: it is beyond the range of
    /// doubles (some cost is absurd) or a cost was not finite.
    #[error("total cost of the selected records in {} cannot be given: {source}", path.display())]
    SumOverflow {
        /// The store.
        path: PathBuf,
        /// Why.
        #[source]
        source: scout_audit_core::agg::SumOverflow,
    },
    /// A background task (compression, retention) failed; no data was lost,
    /// and the next open retries.
    #[error("background {task} failed: {message}")]
    Background {
        /// `"compression"` or `"retention"`.
        task: &'static str,
        /// What went wrong.
        message: String,
    },
}

impl Error {
    pub(crate) fn io(op: &'static str, path: impl Into<PathBuf>, source: io::Error) -> Error {
        Error::Io {
            op,
            path: path.into(),
            source,
        }
    }
}

/// A `Result` with the store's [`enum@Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

impl From<Error> for scout_audit_core::Error {
    fn from(e: Error) -> Self {
        match e {
            Error::Poisoned { cause } => scout_audit_core::Error::Poisoned(cause),
            Error::Closed => scout_audit_core::Error::Closed,
            Error::InvalidEvent(m) => scout_audit_core::Error::InvalidEvent(m),
            Error::Io { op, path, source } => scout_audit_core::Error::Io { op, path, source },
            other => scout_audit_core::Error::Backend(Box::new(other)),
        }
    }
}
