//! [`Error`]: what can go wrong in an export, naming the path.

use std::io;
use std::path::PathBuf;

/// An export's errors. Messages name the path that went wrong; the
/// cause, when there is one, is the error's source.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A file system call failed (the path is in the message of the
    /// variant that wraps it, where known).
    #[error(transparent)]
    Io(#[from] io::Error),
    /// Writing Parquet failed.
    #[error(transparent)]
    Parquet(#[from] parquet::errors::ParquetError),
    /// Reading the store failed.
    #[error(transparent)]
    Store(#[from] scout_audit_core::Error),
    /// Scanning the file store failed.
    #[error(transparent)]
    Scan(#[from] scout_audit_scan::Error),
    /// Listing the file store failed.
    #[error(transparent)]
    FileStore(#[from] scout_audit_store_file::Error),
    /// The store's path cannot be a file store's live file.
    #[error("{}: {reason}", path.display())]
    StorePath {
        /// The path given.
        path: PathBuf,
        /// Why it is not a store.
        reason: String,
    },
    /// A file or directory could not be created, read, listed, renamed
    /// or removed.
    #[error("cannot {what} {}", path.display())]
    File {
        /// What was tried: `create`, `read`, `list`, `rename`, `remove`.
        what: &'static str,
        /// The path.
        path: PathBuf,
        /// Why.
        #[source]
        source: io::Error,
    },
    /// The manifest could not be replaced.
    #[error("cannot replace the export manifest")]
    ReplaceManifest(#[source] io::Error),
    /// The manifest is not JSON.
    #[error("{} is not JSON", path.display())]
    ManifestNotJson {
        /// The manifest.
        path: PathBuf,
        /// Why.
        #[source]
        source: serde_json::Error,
    },
    /// The manifest has a version this code does not know.
    #[error("{}: unknown manifest version {version}", path.display())]
    ManifestVersion {
        /// The manifest.
        path: PathBuf,
        /// Its `version`, as written.
        version: String,
    },
    /// The directory holds something no export makes, beside a manifest.
    #[error(
        "{} holds {}, which no export makes: refusing to write into it or delete anything in it",
        dir.display(), entry.display()
    )]
    ForeignEntry {
        /// The export directory.
        dir: PathBuf,
        /// The first entry that is not an export's.
        entry: PathBuf,
    },
    /// The directory is not empty and has no manifest: not an export.
    #[error(
        "{} is not empty and is not a scout-audit export (no {manifest}; {} is not ours): refusing to write into it or delete anything in it",
        dir.display(), entry.display()
    )]
    NotAnExport {
        /// The export directory.
        dir: PathBuf,
        /// The manifest's file name.
        manifest: &'static str,
        /// The first entry found.
        entry: PathBuf,
    },
    /// Something other than a regular file is where an export's file is.
    #[error("{} {why}; export does not touch what it did not create", path.display())]
    NotRegular {
        /// The path.
        path: PathBuf,
        /// What is there instead.
        why: String,
    },
    /// A partition's directory is not a directory of ours (a link).
    #[error("{} {why}; export does not write through it", path.display())]
    NotADirectory {
        /// The partition's directory.
        path: PathBuf,
        /// What is there instead.
        why: String,
    },
    /// The Parquet writer gave fewer columns than the schema has.
    #[error("schema has fewer columns")]
    FewerColumns,
}

/// An export's result.
pub type Result<T, E = Error> = std::result::Result<T, E>;
