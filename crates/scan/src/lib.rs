//! scout-audit-scan: the parallel scanner (memory-mapped sealed segments,
//! gzip archives decoded in parallel, map-reduce aggregates).
//!
//! Until the scan issue lands, every read goes through the sequential
//! reader of `scout-audit-store-file`; this crate holds the skeleton and the
//! contract it will implement: the same answers as the sequential reader
//! for every query, with [`scout_audit_core::decode_line`] as the one
//! definition of a line.

pub use scout_audit_core::{Filter, Record};
