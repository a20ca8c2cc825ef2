//! Signed notes (C2SP signed-note, as Go's `golang.org/x/mod/sumdb/note`)
//! with Ed25519 keys.
//!
//! - [`keys`]: [`Signer`] and [`Verifier`], their key texts and key IDs.
//! - [`signed`]: [`sign`] and [`open`] a note.

pub mod keys;
pub mod signed;

pub use keys::{Signer, Verifier};
pub use signed::{Opened, Signature, open, sign};
