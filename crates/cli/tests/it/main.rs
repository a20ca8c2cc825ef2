//! End-to-end tests of the `scout-audit` binary: one test binary, a module
//! per concern, each test on its own store in a temp dir (with a private
//! HOME, so the real default store is never touched).
#![allow(clippy::unwrap_used)]

mod support;

mod backends;
mod consistency;
mod faults;
mod hostile;
mod hostile_suite;
mod indexes;
mod inputs;
mod keys;
mod log_flags;
mod log_stdin;
mod periods;
mod processes;
mod proofs;
mod query;
mod report;
mod seal;
mod sessions;
mod spend;
mod stats;
mod status;
mod store_options;
mod tail;
mod top;
mod verify;
mod vouch;
