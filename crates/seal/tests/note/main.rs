//! Tests of `scout_audit_seal::note`: one binary, a module per concern.
#![allow(clippy::unwrap_used)]

mod checkpoint;
mod go_vectors;
