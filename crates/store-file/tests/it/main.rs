//! Integration tests of the file store: one binary, a module per concern.
#![allow(clippy::unwrap_used)]

mod support;

mod autoseal;
mod basics;
mod concurrency;
mod consistency;
mod faults;
mod hostile;
mod index;
mod locate;
mod model;
mod onepass;
mod powerloss;
mod proofs;
mod pverify;
mod python_compat;
mod reading;
mod recovery;
mod retention;
mod retire;
mod rotation;
mod seal;
mod vouch;
