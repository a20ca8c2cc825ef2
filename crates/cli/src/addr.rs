//! Store addresses: `--path` (and `SCOUT_AUDIT_PATH`) name a file store by
//! its live file, or `sqlite:PATH`, or `postgres://…`.

use std::path::PathBuf;
use std::sync::Arc;

use anyhow::{Context, Result, bail};
use scout_audit_core::{Durability, ReadStore, Store};
use scout_audit_store_file::FileReadStore;
use scout_audit_store_postgres::PgStore;
use scout_audit_store_sqlite::SqliteStore;

use crate::Cli;

/// Where a store is.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum StoreAddr {
    /// A file store, by its live file.
    File(PathBuf),
    /// A SQLite database file (`sqlite:PATH`).
    Sqlite(PathBuf),
    /// A PostgreSQL database (`postgres://…` or `postgresql://…`).
    Postgres(String),
}

impl StoreAddr {
    /// Parses an address; anything that is not `sqlite:` or a PostgreSQL
    /// URL is a file store path.
    pub fn parse(s: &str) -> StoreAddr {
        if let Some(p) = s.strip_prefix("sqlite:") {
            StoreAddr::Sqlite(PathBuf::from(p))
        } else if s.starts_with("postgres://") || s.starts_with("postgresql://") {
            StoreAddr::Postgres(s.to_owned())
        } else {
            StoreAddr::File(PathBuf::from(s))
        }
    }

    /// The address as text, a PostgreSQL password hidden (in the URL's user
    /// info or its `password` parameter): the only way the CLI prints an
    /// address.
    pub fn describe(&self) -> String {
        match self {
            StoreAddr::File(p) => p.display().to_string(),
            StoreAddr::Sqlite(p) => format!("sqlite:{}", p.display()),
            StoreAddr::Postgres(u) => scout_audit_store_postgres::redact(u),
        }
    }
}

impl Cli {
    /// The store address: --path, else $SCOUT_AUDIT_PATH, else the default.
    pub fn store_addr(&self) -> Result<StoreAddr> {
        if let Some(p) = &self.path {
            return Ok(StoreAddr::parse(p));
        }
        if let Some(p) = std::env::var_os("SCOUT_AUDIT_PATH").filter(|p| !p.is_empty()) {
            return Ok(StoreAddr::parse(&p.to_string_lossy()));
        }
        scout_audit_store_file::default_path()
            .map(StoreAddr::File)
            .context("no store path: pass --path or set SCOUT_AUDIT_PATH (HOME is not set)")
    }

    /// The live file of a file store; an error naming `what` for other stores.
    pub fn store_path_for(&self, what: &str) -> Result<PathBuf> {
        match self.store_addr()? {
            StoreAddr::File(p) => Ok(p),
            other => bail!("{what} needs a file store, not {}", other.describe()),
        }
    }

    /// Opens a writer (with its read side) on any store, with the command
    /// line's settings.
    pub fn open_store(&self, addr: &StoreAddr, durability: Durability) -> Result<Arc<dyn Store>> {
        let interval = (!self.fsync_interval.is_zero()).then_some(self.fsync_interval);
        Ok(match addr {
            StoreAddr::File(p) => Arc::new(self.builder(p.clone(), durability).open()?),
            StoreAddr::Sqlite(p) => Arc::new(
                SqliteStore::builder(p)
                    .durability(durability)
                    .sync_policy(self.fsync_lines, interval)
                    .max_delay(self.max_delay)
                    .open()?,
            ),
            StoreAddr::Postgres(u) => Arc::new(
                PgStore::builder(u)
                    .durability(durability)
                    .sync_policy(self.fsync_lines, interval)
                    .max_delay(self.max_delay)
                    .open()?,
            ),
        })
    }

    /// Opens the query side of any store. Never writes into a file store.
    pub fn open_read(&self, addr: &StoreAddr) -> Result<Box<dyn ReadStore>> {
        Ok(match addr {
            StoreAddr::File(p) => Box::new(FileReadStore::open(p)?),
            StoreAddr::Sqlite(p) => {
                if !p.exists() {
                    bail!("no SQLite store at {}", p.display());
                }
                Box::new(SqliteStore::open(p)?)
            }
            StoreAddr::Postgres(u) => Box::new(PgStore::open(u)?),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses() {
        assert_eq!(
            StoreAddr::parse("/x/audit.jsonl"),
            StoreAddr::File("/x/audit.jsonl".into())
        );
        assert_eq!(
            StoreAddr::parse("sqlite:/x/a.db"),
            StoreAddr::Sqlite("/x/a.db".into())
        );
        assert_eq!(
            StoreAddr::parse("postgres://u:pw@h/db"),
            StoreAddr::Postgres("postgres://u:pw@h/db".into())
        );
        assert_eq!(
            StoreAddr::parse("postgres://u:pw@h/db").describe(),
            "postgres://u:***@h/db"
        );
        assert_eq!(
            StoreAddr::parse("postgresql://h/db").describe(),
            "postgresql://h/db"
        );
        assert_eq!(
            StoreAddr::parse("postgres://u@h/db?password=pw&sslmode=disable").describe(),
            "postgres://u@h/db?password=***&sslmode=disable"
        );
    }
}
