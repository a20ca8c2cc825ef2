//! scout-audit-testkit: the tools that prove the store's durability
//! contract (docs/durability.md), shared by store-file's tests, `cargo
//! xtask crash` and the fuzz targets. Not published.
//!
//! - [`sim::SimFs`]: a simulated file system under the store's `Fs` seam
//!   that keeps unsynced writes and directory operations pending and, at a
//!   crash, keeps, drops, keeps a subset of or garbles them.
//! - [`fault::FaultFs`]: the real file system failing chosen calls (`EIO`,
//!   `ENOSPC`, short writes); [`faults`]: every write, fsync and directory
//!   fsync of a workload failed in turn on the simulated one.
//! - [`workload`]: deterministic store workloads over a `SimFs`, and random
//!   ones; [`history`]: what was attempted, acknowledged and made durable,
//!   and the invariant checker; [`campaign`]: every crash point of a
//!   workload, damaged, recovered and checked.
//! - [`model`]: the model test (a store against an in-memory model), for
//!   proptest and fuzzing.
//! - [`rng`]: the small deterministic PRNG every campaign uses.
//! - [`forge`]: index forgeries (costs edited, seals recomputed) for the
//!   tests that prove an index never changes an answer.
//! - [`hostile`]: symlinks, directories, FIFOs and foreign files planted at
//!   the names the store uses, and snapshots that prove nothing outside the
//!   store changed (the hostile-filesystem suite in the CLI's tests).
//! - [`tamper`]: the tamper campaign: sealed stores, one random tampering
//!   each, and `verify --key` (`verify_keyed`, one read) must report and locate it; untampered ones
//!   must verify clean.
//!
//! ```
//! use scout_audit_testkit::campaign::{self, Options};
//! use scout_audit_testkit::workload::Workload;
//!
//! let w = &Workload::standard()[0];
//! let report = campaign::run(w, &Options { seeds: 1, recovery_points: 0, seed: 7 });
//! assert_eq!(report.found.count, 0, "{:?}", report.found.examples);
//! assert!(report.states > 50);
//! ```

pub mod campaign;
pub mod fault;
pub mod faults;
pub mod forge;
pub mod history;
pub mod hostile;
pub mod model;
pub mod rng;
pub mod sim;
pub mod tamper;
pub mod workload;
