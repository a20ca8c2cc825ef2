//! Integration tests of the scanner: one binary, a module per concern.
#![allow(clippy::unwrap_used)]

mod differential;
mod fast_path;
mod indexes;
mod inputs;
mod records_out;
mod top;
mod vouch;
