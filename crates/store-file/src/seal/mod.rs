//! Sealing a file store (issue "Tamper evidence"): signed Merkle
//! checkpoints of every line of the store, appended to the seal log, and
//! their verification against the verification key.
//!
//! Files (names in [`crate::layout`]): `<stem>.seal-key`, the sealing
//! state (the current epoch's secret, the store id, the epoch length;
//! mode 0600, replaced only by an atomic rename) and `<stem>.seal-log`,
//! one JSON object a line: `init`, then `cert` (an epoch's key certified
//! by the one before) and `seal` (a signed checkpoint: size, root, the
//! tree state and where the sealed prefix ends). A leaf is a line of the
//! store as stored, without its `\n`, in layout order; a torn tail is not
//! a leaf until its `\n` lands.
//!
//! [`init`] sets a store up, [`seal_now`] seals what is durable (under
//! the store's exclusive lock, so two sealers never fork), and
//! [`verify_sealed`] recomputes the tree from the segments and checks
//! every seal, naming where the store departs from what was sealed.
//! On a sealed store, retention deletes only archives whose lines are all
//! sealed, after a signed `retire` entry ([`retire_now`]) says so.

mod anchor;
mod consistency;
mod hashing;
mod leaves;
mod locate;
mod log;
mod nodes;
mod proof;
mod retire;
mod sealer;
mod state;
mod status;
mod torn;
mod verify;
mod vouch;
mod walk;

use std::path::Path;

use scout_audit_core::Clock;

use crate::Error;

pub use anchor::{
    Anchored, CheckpointFile, MAX_CHECKPOINT_FILE, Opened, latest_checkpoint, verify_checkpoints,
};
pub use consistency::{
    CONSISTENCY_HEAD, CheckedConsistency, ConsistencyProof, check_consistency, prove_consistency,
};
pub use hashing::Workers;
pub(crate) use hashing::{Hashed, LeafChunker};
pub use locate::{LinePos, Span};
pub(crate) use log::starts_with_init;
pub use proof::{Checked, Proof, RecordKey, check_proof, prove};
pub use retire::{RetirePlan, retire_now};
pub(crate) use retire::{is_sealed, retire_locked};
pub use sealer::{SealCache, init, seal_now, seal_with};
pub use status::{SealStatus, seal_status};
pub(crate) use verify::verify_sealed_fed;
pub use verify::{verify_sealed, verify_sealed_with};
pub use vouch::Vouches;
pub(crate) use walk::LeafSink;

/// What one [`seal_now`] did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SealSummary {
    /// The epoch whose key signed the seal.
    pub epoch: u64,
    /// Leaves sealed in all (the checkpoint's size).
    pub size: u64,
    /// Leaves this seal added.
    pub new_leaves: u64,
    /// Whether the key evolved to a new epoch first.
    pub evolved: bool,
}

/// Tampering found by [`verify_sealed`], and where.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Tampering {
    /// What is wrong.
    pub what: String,
    /// The segment file where the store departs from the seals, if known.
    pub segment: Option<String>,
    /// The 1-based line in that segment, if known.
    pub line: Option<u64>,
    /// The lines (at most 64) where the store first departs, when the
    /// seal-nodes file locates it (then `segment` and `line` are its
    /// first); `None` for stores without it, where `line` is the first
    /// line after the last seal that holds (decision 72).
    pub span: Option<Box<Span>>,
}

/// What [`verify_sealed`] proved, or the tampering it found.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SealReport {
    /// Seals checked.
    pub seals: u64,
    /// Epochs whose certificates verified (epoch 0 included).
    pub epochs: u64,
    /// Leaves proven as sealed (the last seal's size).
    pub sealed_leaves: u64,
    /// Complete lines after the last seal.
    pub unsealed: u64,
    /// Unix time of the last seal, if any (the unsealed lines' age is
    /// at most now minus this).
    pub last_seal_time: Option<u64>,
    /// The tampering found; `None` when everything sealed is as sealed.
    pub tampering: Option<Tampering>,
    /// Archive indexes present that match the digest a seal vouched for.
    pub indexes_vouched: u64,
    /// Archive indexes present that no seal vouched for yet (queries do
    /// not use them; the next seal vouches for those of sealed archives).
    pub indexes_unvouched: u64,
    /// What could not be checked, and why (not tampering): the sealing
    /// state unreadable to this user.
    pub notes: Vec<String>,
    /// What retention removed, as the last `retire` entry signed it;
    /// `None` when retention removed nothing under seal.
    pub retired: Option<Retired>,
}

/// Lines removed by retention under seal, as the last `retire` entry of
/// the seal log signed them (verify starts after them).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Retired {
    /// Leaves removed: the first `lines` of the tree.
    pub lines: u64,
    /// Archives removed in all.
    pub archives: u64,
    /// The last segment number removed.
    pub segment: u64,
    /// The epoch whose key signed the retire.
    pub epoch: u64,
    /// Unix time the retire was signed.
    pub time: u64,
}

fn seal_err(path: &Path, reason: impl Into<String>) -> Error {
    Error::Seal {
        path: path.to_path_buf(),
        reason: reason.into(),
    }
}

fn now_secs(clock: &dyn Clock) -> u64 {
    u64::try_from(clock.now().unix_secs()).unwrap_or(0)
}
