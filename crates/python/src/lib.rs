//! scout-audit-python: the native half of the `scout_audit` Python
//! package (`scout_audit._native`), a drop-in replacement for the Python
//! original's `AuditLog` over the workspace's stores and scanner.
//!
//! Nothing here is a second implementation: a file store is a
//! `scout_audit_store_file::FileStore`, a table store a
//! `scout_audit_store_sqlite::SqliteStore` or a
//! `scout_audit_store_postgres::PgStore`, opened as the CLI opens them;
//! reads of a file store go through the parallel scanner
//! (`scout_audit_scan::Scan`), reads of a table store through its
//! `ReadStore`; the aggregates are core's. The pure-Python layer
//! (`python/scout_audit/__init__.py`) gives the original's signatures,
//! defaults and constants; docs/python.md is the contract.
//!
//! - [`native::Native`]: one open writer (with its read side).
//! - [`iter::RecordIter`]: `iter_query`'s bounded stream of records.
//! - [`convert`]: Python values to JSON and records back to Python.
//! - [`errors`]: the exceptions, one class per kind of failure.
//!
//! The GIL is released while writing, syncing and scanning.

pub mod convert;
pub mod errors;
pub mod iter;
pub mod native;
pub mod open;
pub mod reads;
pub mod seal;

use std::sync::OnceLock;

use pyo3::prelude::*;

/// The process that loaded the module. A writer opened in another one (a
/// child of `os.fork()`) gets a fresh random session: the process session
/// it inherited is its parent's.
pub static MODULE_PID: OnceLock<u32> = OnceLock::new();

/// The `scout_audit._native` module.
#[pymodule]
fn _native(m: &Bound<'_, PyModule>) -> PyResult<()> {
    MODULE_PID.get_or_init(std::process::id);
    m.add_class::<native::Native>()?;
    m.add_class::<iter::RecordIter>()?;
    errors::register(m)?;
    m.add("MAX_LINE", scout_audit_core::MAX_LINE)?;
    Ok(())
}
