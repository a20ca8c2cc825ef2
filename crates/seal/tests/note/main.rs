//! Tests of `scout_audit_seal::note`: one binary, a module per concern.
#![allow(clippy::unwrap_used)]

mod checkpoint;
mod epoch;
mod go_vectors;
mod props;
