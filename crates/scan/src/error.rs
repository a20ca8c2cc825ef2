//! The one error type of the scanner.

use std::io;
use std::path::PathBuf;

/// What can go wrong in a scan. Messages are lowercase and name the path
/// (and line and offset) involved.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// An input cannot be used (missing, no match for a glob, ...).
    #[error("{}: {reason}", path.display())]
    Input {
        /// The input as given.
        path: PathBuf,
        /// Why it cannot be read.
        reason: String,
    },
    /// A file-system call failed.
    #[error("cannot {op} {}: {source}", path.display())]
    Io {
        /// What was being done.
        op: &'static str,
        /// The file or directory.
        path: PathBuf,
        /// The cause.
        #[source]
        source: io::Error,
    },
    /// The store could not be listed or opened.
    #[error(transparent)]
    Store(#[from] scout_audit_store_file::Error),
    /// In strict mode: the first malformed line, damaged archive or other
    /// problem met, with its location.
    #[error("{}:{line} (byte {offset}): {reason}", path.display())]
    Malformed {
        /// The file.
        path: PathBuf,
        /// 1-based line number (0 when the problem is not a line).
        line: u64,
        /// Byte offset in the (decompressed) file.
        offset: u64,
        /// What is wrong.
        reason: String,
    },
    /// The thread pool could not be started.
    #[error("cannot start {threads} scan threads: {message}")]
    Threads {
        /// Threads asked for.
        threads: usize,
        /// Why not.
        message: String,
    },
}

/// The scanner's result type.
pub type Result<T, E = Error> = std::result::Result<T, E>;
