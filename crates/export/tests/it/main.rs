//! The export library's tests: the ownership rules of the export
//! directory (docs/export.md, "Whose files") and incremental runs.
#![allow(clippy::unwrap_used)]

mod ownership;
mod sources;
