//! Tamper evidence for scout-audit (docs/integrity.md, once sealing is
//! wired into the file store): the pieces, each pure and tested alone.
//!
//! - [`merkle`]: the RFC 6962 / RFC 9162 Merkle tree over a log's lines
//!   (SHA-256; a leaf is a line as stored), with inclusion and consistency
//!   proofs.
//! - [`note`]: signed notes (C2SP signed-note) with Ed25519 keys, the
//!   tlog checkpoint body (C2SP tlog-checkpoint), and the forward-secure
//!   chain of epoch keys, each certified by the one before it.
//!
//! No IO and no hand-made cryptography: SHA-256 is `sha2`'s, signatures
//! `ed25519-dalek`'s, randomness the operating system's (`getrandom`).

mod error;
pub mod merkle;
pub mod note;

pub use error::Error;
