//! Signed notes (C2SP signed-note, as Go's `golang.org/x/mod/sumdb/note`)
//! with Ed25519 keys, and the tlog checkpoint body (C2SP tlog-checkpoint).
//!
//! - [`keys`]: [`Signer`] and [`Verifier`], their key texts and key IDs.
//! - [`signed`]: [`sign`] and [`open`] a note.
//! - [`checkpoint`]: [`Checkpoint`], a tree's origin, size and root as text.

pub mod checkpoint;
pub mod keys;
pub mod signed;

pub use checkpoint::Checkpoint;
pub use keys::{Signer, Verifier};
pub use signed::{Opened, Signature, open, sign};
