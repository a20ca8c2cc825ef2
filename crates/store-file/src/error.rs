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
    /// Something the store did not make is at a name the store uses (a
    /// symbolic link, a directory, a FIFO, another tool's file): it is left
    /// alone and nothing is written through it.
    #[error("{} {what}; the store does not touch what it did not create", path.display())]
    Foreign {
        /// The name the store uses.
        path: PathBuf,
        /// What is there ("is a symbolic link to /x (not followed)").
        what: String,
    },
    /// The store directory can be written by other users, who could plant
    /// links and files in it; refused unless allowed explicitly.
    #[error("the store directory {} has mode {mode:04o}: group or others can write it, and could plant links or files in it; make it private (chmod go-w) or allow a shared directory explicitly (--allow-shared-dir)", path.display())]
    SharedDir {
        /// The directory.
        path: PathBuf,
        /// Its permission bits.
        mode: u32,
    },
    /// The live file holds bytes but no record, and the store was never
    /// opened here: not an audit log, so it is not modified.
    #[error("{} holds {len} bytes and no audit record: not an audit log; refusing to modify it", path.display())]
    NotALog {
        /// The file.
        path: PathBuf,
        /// Its length.
        len: u64,
    },
    /// Segment numbers are exhausted: rotation cannot name a new segment
    /// without reusing one.
    #[error("cannot rotate {}: the next segment number after {last} (of {}) would overflow; move the archives away to continue", path.display(), name)]
    SegmentNumbersExhausted {
        /// The live file.
        path: PathBuf,
        /// The highest segment number in use.
        last: u64,
        /// The segment holding it.
        name: String,
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
    /// The line of an event or imported record would be longer than the
    /// line bound ([`scout_audit_core::MAX_LINE`]); nothing of the call was
    /// written.
    #[error("the line is {len} bytes, over the line bound of {max} bytes; nothing was written")]
    LineTooLong {
        /// The line's length in bytes, without its `\n`.
        len: u64,
        /// The bound.
        max: u64,
    },
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
    /// Sealing cannot go on: the sealing state or seal log is missing,
    /// unreadable or not as sealing left it.
    #[error("sealing {}: {reason}", path.display())]
    Seal {
        /// The file involved.
        path: PathBuf,
        /// What was wrong.
        reason: String,
    },
    /// A background task (compression, retention) failed; no data was lost,
    /// and the next open retries.
    #[error("background {task} failed: {message}")]
    Background {
        /// `"compression"`, `"index"` or `"retention"`.
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

/// The line bound's check ([`scout_audit_core::check_line_len`]) as the
/// store's error.
pub(crate) fn check_line_len(len: usize) -> Result<()> {
    if len > scout_audit_core::MAX_LINE {
        return Err(Error::LineTooLong {
            len: len as u64,
            max: scout_audit_core::MAX_LINE as u64,
        });
    }
    Ok(())
}

/// A `Result` with the store's [`enum@Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

impl From<Error> for scout_audit_core::Error {
    fn from(e: Error) -> Self {
        match e {
            Error::Poisoned { cause } => scout_audit_core::Error::Poisoned(cause),
            Error::Closed => scout_audit_core::Error::Closed,
            Error::InvalidEvent(m) => scout_audit_core::Error::InvalidEvent(m),
            Error::LineTooLong { len, max } => scout_audit_core::Error::LineTooLong { len, max },
            Error::Io { op, path, source } => scout_audit_core::Error::Io { op, path, source },
            other => scout_audit_core::Error::Backend(Box::new(other)),
        }
    }
}
