//! xtask: scout-audit's development tasks, run as `cargo xtask <task>`
//! (an alias in `.cargo/config.toml`).
//!
//! The tasks live in modules so that one task can call another (a benchmark
//! generates its data with [`datagen::generate`], say); `main.rs` only parses
//! the command line and dispatches. (`gen` is a reserved word in Rust 2024,
//! hence the module name `datagen`.)
//!
//! - [`datagen`] (`cargo xtask gen`): deterministic, realistic audit data, as a store (gzip archives
//!   and a live file) or one plain JSONL file.
//! - [`bench`] (`cargo xtask bench`): the `log()` throughput table against the
//!   Python reference.
//! - [`backends`] (`cargo xtask bench --backends`): the backends table.
//! - [`export_check`] (`cargo xtask export-check`): Parquet export answers
//!   like scout-audit, in DuckDB and Spark.
//! - [`peers`] (`cargo xtask bench --peers`): the scanner against DuckDB
//!   and jq on 1 GiB, plain and as a gzip store.
//! - [`pybench`] (`cargo xtask bench --python`): the Python package
//!   against the Python original (issue 12's Speed table).
//! - [`fuzz`] (`cargo xtask fuzz`): every cargo-fuzz target for a while.
//! - [`crash`] (`cargo xtask crash`): the kill -9 campaign against real
//!   writer processes, and the long mode of the simulated power-loss one.
//! - [`tamper`] (`cargo xtask tamper`): the long mode of the tamper
//!   campaign (sealed stores tampered with, verify must catch each).
//! - [`interop`] (`cargo xtask interop`): Go's sumdb/note and sumdb/tlog
//!   check a sealed store's checkpoint and inclusion proofs.
//! - [`tidy`] (`cargo xtask tidy`): the checks that keep the code as
//!   docs/architecture.md describes it, with their allow-list.
//! - [`util`]: the helpers the tasks share (medians, running commands).
//! - [`rng`]: the small PRNG every task uses, so a seed means the same
//!   data on every machine (from `scout-audit-testkit`).

pub mod backends;
pub mod bench;
pub mod crash;
pub mod datagen;
pub mod export_check;
pub mod fuzz;
pub mod interop;
pub mod peers;
pub mod pybench;
pub mod tamper;
pub mod tidy;
pub mod util;
/// The PRNG, shared with the crash campaigns (it lives in the testkit).
pub use scout_audit_testkit::rng;
