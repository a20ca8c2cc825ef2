//! Store addresses and options, and opening a writer on any store as the
//! CLI does (crates/cli/src/addr.rs): a file store's live file,
//! `sqlite:PATH`, or `postgres://…`.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use scout_audit_core::{Durability, SessionId, Store};
use scout_audit_store_file::FileStore;
use scout_audit_store_file::options::{
    Compression, FsyncPolicy, Retention, RotateSize, SealInterval, SharedDir,
};
use scout_audit_store_postgres::PgStore;
use scout_audit_store_sqlite::SqliteStore;

use crate::errors::{Failure, Kind, Result};

/// Where a store is (the CLI's `StoreAddr`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Addr {
    /// A file store, by its live file.
    File(PathBuf),
    /// A SQLite database file (`sqlite:PATH`).
    Sqlite(PathBuf),
    /// A PostgreSQL database (`postgres://…` or `postgresql://…`).
    Postgres(String),
}

impl Addr {
    /// Parses an address; anything that is not `sqlite:` or a PostgreSQL
    /// URL is a file store path.
    pub fn parse(s: &str) -> Addr {
        if let Some(p) = s.strip_prefix("sqlite:") {
            Addr::Sqlite(PathBuf::from(p))
        } else if s.starts_with("postgres://") || s.starts_with("postgresql://") {
            Addr::Postgres(s.to_owned())
        } else {
            Addr::File(PathBuf::from(s))
        }
    }

    /// The address as text, a PostgreSQL password hidden.
    pub fn describe(&self) -> String {
        match self {
            Addr::File(p) => p.display().to_string(),
            Addr::Sqlite(p) => format!("sqlite:{}", p.display()),
            Addr::Postgres(u) => scout_audit_store_postgres::redact(u),
        }
    }
}

/// The store options, named like the CLI's global options (docs/cli.md)
/// and with the same defaults.
#[derive(Clone, Debug)]
pub struct Options {
    /// `durability=`: `buffered`, `process` or `sync`.
    pub durability: Durability,
    /// `rotate_size=` in bytes (0: never).
    pub rotate_size: u64,
    /// `fsync_lines=` (0: no line bound).
    pub fsync_lines: u64,
    /// `fsync_interval=` (zero: never).
    pub fsync_interval: Duration,
    /// `max_delay=`: for `buffered`, the longest an event waits in memory.
    pub max_delay: Duration,
    /// `keep_archives=`.
    pub keep_archives: Option<usize>,
    /// `keep_age=`.
    pub keep_age: Option<Duration>,
    /// `keep_bytes=`.
    pub keep_bytes: Option<u64>,
    /// `no_compress=`.
    pub no_compress: bool,
    /// `seal_interval=` (zero: only `seal()` seals).
    pub seal_interval: Duration,
    /// `allow_shared_dir=`.
    pub allow_shared_dir: bool,
    /// `threads=`: threads of the scans (`None`: one per core).
    pub threads: Option<usize>,
}

/// A duration from seconds given by Python: finite and not negative.
pub fn seconds(name: &str, s: f64) -> Result<Duration> {
    Duration::try_from_secs_f64(s).map_err(|_| {
        Failure::new(
            Kind::Argument,
            format!("{name} must be a finite, non-negative number of seconds, not {s}"),
        )
    })
}

/// An open writer.
#[derive(Clone)]
pub enum Writer {
    /// A file store (its own type: rotate, typed errors, the scanner).
    File(FileStore),
    /// A table store.
    Table(Arc<dyn Store>),
}

/// Opens a writer on `addr`; `session`: the writer session (`None`: the
/// process's, as the CLI).
pub fn open(addr: &Addr, o: &Options, session: Option<SessionId>) -> Result<Writer> {
    let interval = (!o.fsync_interval.is_zero()).then_some(o.fsync_interval);
    Ok(match addr {
        Addr::File(p) => {
            let mut b = FileStore::builder(p)
                .shared_dir(if o.allow_shared_dir {
                    SharedDir::Allow
                } else {
                    SharedDir::Refuse
                })
                .durability(o.durability)
                .fsync_policy(FsyncPolicy::new(o.fsync_lines, interval))
                .max_delay(o.max_delay)
                .rotate_size(RotateSize::bytes(o.rotate_size))
                .retention(Retention {
                    max_archives: o.keep_archives,
                    max_age: o.keep_age,
                    max_bytes: o.keep_bytes,
                })
                .compression(if o.no_compress {
                    Compression::Off
                } else {
                    Compression::Background
                })
                .seal_interval(SealInterval::every(o.seal_interval));
            if let Some(s) = session {
                b = b.session(s);
            }
            Writer::File(b.open()?)
        }
        Addr::Sqlite(p) => {
            let mut b = SqliteStore::builder(p)
                .durability(o.durability)
                .sync_policy(o.fsync_lines, interval)
                .max_delay(o.max_delay);
            if let Some(s) = session {
                b = b.session(s);
            }
            Writer::Table(Arc::new(b.open()?))
        }
        Addr::Postgres(u) => {
            let mut b = PgStore::builder(u)
                .durability(o.durability)
                .sync_policy(o.fsync_lines, interval)
                .max_delay(o.max_delay);
            if let Some(s) = session {
                b = b.session(s);
            }
            Writer::Table(Arc::new(b.open()?))
        }
    })
}
