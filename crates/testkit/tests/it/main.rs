//! Tests of the proof tools themselves: that the standard workloads cover
//! what they claim, and (in builds with `--cfg scout_audit_mutant`) that
//! the power-loss campaign catches a store with a missing fsync.
#![allow(clippy::unwrap_used)]

mod mutants;
mod sealcrash;
mod tamper;
mod workloads;
