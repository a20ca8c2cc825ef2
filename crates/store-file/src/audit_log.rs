//! [`AuditLog`]: the Python original's API over a [`FileStore`].

use std::path::{Path, PathBuf};

use scout_audit_core::agg::{self, Accuracy, AccuracyMetrics, ExactSum, LastN};
use scout_audit_core::{Event, Filter, Receipt, Record, Timestamp};

use crate::error::{Error, Result};
use crate::reader::Reader;
use crate::writer::FileStore;

/// The store path the Python original used: `SCOUT_AUDIT_PATH` if set,
/// else `~/.scout/audit.jsonl`. `None` without a home directory.
pub fn default_path() -> Option<PathBuf> {
    if let Some(p) = std::env::var_os("SCOUT_AUDIT_PATH").filter(|p| !p.is_empty()) {
        return Some(PathBuf::from(p));
    }
    let home = std::env::var_os("HOME").filter(|h| !h.is_empty())?;
    Some(Path::new(&home).join(".scout").join("audit.jsonl"))
}

/// The Python `AuditLog` API: `log`, `query`, `hourly_spend`,
/// `last_events`, `accuracy_metrics`, `flush`, `close`. Reads cover the
/// archives as well as the live file, and stream. Dropping it flushes and
/// closes the store.
///
/// ```
/// use scout_audit_core::{Event, Filter};
/// use scout_audit_store_file::AuditLog;
/// # let dir = tempfile::tempdir().unwrap();
/// let log = AuditLog::open(dir.path().join("audit.jsonl"))?;
/// log.log(Event::new("nav").cost(0.012).model("m1"))?;
/// log.log(Event::new("validation_fail").reason("bad path"))?;
/// assert_eq!(log.query(&Filter::new().event("nav"))?.count(), 1);
/// assert_eq!(log.accuracy_metrics(None)?.accuracy_pct, 0.0);
/// log.close()?;
/// # Ok::<(), scout_audit_store_file::Error>(())
/// ```
#[derive(Clone, Debug)]
pub struct AuditLog {
    store: FileStore,
}

impl AuditLog {
    /// Opens the log at `path` with the default settings.
    pub fn open(path: impl AsRef<Path>) -> Result<AuditLog> {
        Ok(AuditLog {
            store: FileStore::open(path)?,
        })
    }

    /// Opens the log at [`default_path`].
    pub fn open_default() -> Result<AuditLog> {
        let p = default_path().ok_or_else(|| Error::InvalidPath {
            path: PathBuf::from("~/.scout/audit.jsonl"),
            reason: "no home directory (set SCOUT_AUDIT_PATH)".into(),
        })?;
        AuditLog::open(p)
    }

    /// Wraps an open store (see [`FileStore::builder`] for the settings).
    pub fn with_store(store: FileStore) -> AuditLog {
        AuditLog { store }
    }

    /// The store underneath.
    pub fn store(&self) -> &FileStore {
        &self.store
    }

    /// Logs an event; returns once it is durable at the store's level.
    pub fn log(&self, event: Event) -> Result<Receipt> {
        self.store.append(event)
    }

    /// Streams the records matching `filter`, in log order (Python's
    /// `query(since, event_type)` is `Filter::new().since(..).event(..)`).
    /// Buffered events of this writer are written first, so a query sees
    /// every event logged before it.
    pub fn query(&self, filter: &Filter) -> Result<Reader> {
        self.store.write_buffered()?;
        Ok(
            Reader::open_store(self.store.file_system(), self.store.layout().clone())?
                .filter(filter.clone()),
        )
    }

    /// Sum of `cost` over records with `ts >= now - hours`; `0.0` when
    /// `hours <= 0`. Exact (see [`ExactSum`]); [`Error::SumOverflow`] when
    /// the exact sum is beyond the range of `f64`, never a wrong number.
    pub fn hourly_spend(&self, hours: f64) -> Result<f64> {
        let Some(cutoff) = agg::spend_cutoff(self.store.clock().now(), hours) else {
            return Ok(0.0);
        };
        let mut sum = ExactSum::new();
        for r in self.query(&Filter::new().since(cutoff))? {
            sum.add(r?.cost().unwrap_or(0.0));
        }
        sum.value().map_err(|source| Error::SumOverflow {
            path: self.store.layout().dir().to_path_buf(),
            source,
        })
    }

    /// The last `n` records of `event_type` (any type when `None`), oldest
    /// first. Holds at most `n` records in memory.
    pub fn last_events(&self, n: usize, event_type: Option<&str>) -> Result<Vec<Record>> {
        let mut f = Filter::new();
        if let Some(e) = event_type {
            f = f.event(e);
        }
        let mut last = LastN::new(n);
        for r in self.query(&f)? {
            last.push(r?);
        }
        Ok(last.into_vec())
    }

    /// Navigation accuracy over records with `ts >= since` (all records
    /// when `None`).
    pub fn accuracy_metrics(&self, since: Option<Timestamp>) -> Result<AccuracyMetrics> {
        let mut acc = Accuracy::default();
        let f = Filter::new().with_since(since);
        for r in self.query(&f)? {
            acc.add(r?.event());
        }
        Ok(acc.finish())
    }

    /// Makes every event logged so far survive power loss.
    pub fn flush(&self) -> Result<()> {
        self.store.sync()
    }

    /// Flushes and closes the store.
    pub fn close(&self) -> Result<()> {
        self.store.close()
    }
}
