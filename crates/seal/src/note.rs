//! Signed notes (C2SP signed-note, as Go's `golang.org/x/mod/sumdb/note`)
//! with Ed25519 keys, the tlog checkpoint body (C2SP tlog-checkpoint), and
//! the forward-secure chain of epoch keys (decision 68).
//!
//! - [`keys`]: [`Signer`] and [`Verifier`], their key texts and key IDs.
//! - [`signed`]: [`sign`] and [`open`] a note.
//! - [`checkpoint`]: [`Checkpoint`], a tree's origin, size and root as text.
//! - [`epoch`]: [`EpochChain`], the evolving signing key, and
//!   [`verify_chain`], its certificates checked back to the verification key; [`certified_epoch`] reads the
//!   epoch a certificate names, to pool certificates from several files.

pub mod checkpoint;
pub mod epoch;
pub mod keys;
pub mod signed;

pub use checkpoint::Checkpoint;
pub use epoch::{Epoch, EpochChain, certified_epoch, verify_chain};
pub use keys::{Signer, Verifier};
pub use signed::{Opened, Signature, open, sign};
