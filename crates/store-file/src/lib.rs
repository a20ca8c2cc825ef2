//! scout-audit-store-file: the embedded default backend of scout-audit, a
//! rotating, fsync'd JSONL log with gzip archives.
//!
//! - [`FileStore`]: the writer, a [`scout_audit_core::Sink`]: the three
//!   durability levels, the fsync policy with a background timer, group
//!   commit, rotation under `flock`, background compression, recovery,
//!   retention, multi-process safety. Settings in [`options`].
//! - [`AuditLog`]: the Python original's API over a `FileStore`.
//! - [`Reader`]: the sequential reader over archives and live file, with
//!   the layout's de-duplication rule; malformed lines counted and located.
//! - [`index`]: the sidecar index of an archive (summaries for pruning
//!   and answering without decompressing), written when it is sealed.
//! - [`seal`]: tamper evidence: signed Merkle checkpoints of the store's
//!   lines in a seal log, and their verification.
//! - [`layout`]: segment names and order, the one definition; [`recovery`]
//!   and [`verify`]: what open does, and the read-only check.
//!
//! The contracts are docs/format.md and docs/durability.md.
//!
//! ```
//! use scout_audit_core::{Durability, Event, Filter};
//! use scout_audit_store_file::{AuditLog, FileStore, options::RotateSize};
//! # let dir = tempfile::tempdir().unwrap();
//! let store = FileStore::builder(dir.path().join("audit.jsonl"))
//!     .durability(Durability::Sync)
//!     .rotate_size(RotateSize::bytes(1 << 20))
//!     .open()?;
//! let log = AuditLog::with_store(store);
//! let receipt = log.log(Event::new("llm_call").cost(0.02).model("m1").input_t(900))?;
//! assert_eq!(receipt.seq, 0);
//! let spend = log.hourly_spend(1.0)?;
//! assert_eq!(spend, 0.02);
//! log.close()?;
//! # Ok::<(), scout_audit_store_file::Error>(())
//! ```

mod audit_log;
pub mod compress;
mod error;
pub mod follow;
pub mod fs;
pub mod index;
pub mod layout;
pub mod lines;
pub mod lock;
pub mod mutant;
pub mod options;
pub mod read_store;
pub mod reader;
pub mod recovery;
pub mod seal;
pub mod tail;
pub mod verify;
mod writer;

pub use audit_log::{AuditLog, default_path};
pub use error::{Error, Result};
pub use layout::Layout;
pub use read_store::FileReadStore;
pub use reader::{ReadReport, Reader};
pub use writer::{Builder, FileStore};
