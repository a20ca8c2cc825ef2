//! The export library's tests: the ownership rules of the export
//! directory (docs/export.md, "Whose files"), incremental runs, and the
//! fast path against the record path.
#![allow(clippy::unwrap_used)]

mod fast;
mod ownership;
mod sources;
