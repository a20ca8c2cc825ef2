//! Test-only mutants: deliberately broken variants of the store, active
//! only in a build with `--cfg scout_audit_mutant` (set by `.ci/run` in a
//! target directory of its own), to prove the crash campaigns catch the
//! bug class they exist for. One mutant is active at a time, chosen at run
//! time, so one build serves them all. Without the cfg, the names exist
//! (the writer's rotation, `writer/rotate.rs`, refers to them) and none
//! is ever active.

#[cfg(scout_audit_mutant)]
use std::sync::Mutex;

/// Rotation skips the directory fsync after creating the new live file
/// (step 4 of docs/durability.md, "Rotation").
pub const SKIP_NEW_LIVE_DIR_FSYNC: &str = "skip-new-live-dir-fsync";
/// Rotation skips the fsync of the live file before sealing it (step 1).
pub const SKIP_SEAL_FSYNC: &str = "skip-seal-fsync";

/// Every mutant of durability (the power-loss campaign must catch each).
pub const ALL: [&str; 2] = [SKIP_NEW_LIVE_DIR_FSYNC, SKIP_SEAL_FSYNC];

/// Verify reads a seal's checkpoint without checking its signature
/// (`seal/verify.rs`, `check_seal`).
pub const SEAL_SKIP_SIGNATURE: &str = "seal-skip-signature";
/// Every mutant of sealing (the tamper campaign must catch each).
pub const SEALING: [&str; 1] = [SEAL_SKIP_SIGNATURE];

/// A signed note's text without checking any signature: what verify
/// reads under [`SEAL_SKIP_SIGNATURE`].
pub(crate) fn unsigned_text(note: &str) -> String {
    note.split_once("\n\n")
        .map_or_else(String::new, |(text, _)| format!("{text}\n"))
}

#[cfg(scout_audit_mutant)]
static ACTIVE: Mutex<Option<&'static str>> = Mutex::new(None);

/// Activates one mutant (`None`: the store as written).
#[cfg(scout_audit_mutant)]
pub fn activate(m: Option<&'static str>) {
    *scout_audit_core::writer::lock_ignoring_poison(&ACTIVE) = m;
}

/// Whether `m` is the active mutant (never, without the cfg).
#[inline(always)]
pub(crate) fn active(m: &str) -> bool {
    #[cfg(scout_audit_mutant)]
    {
        *scout_audit_core::writer::lock_ignoring_poison(&ACTIVE) == Some(m)
    }
    #[cfg(not(scout_audit_mutant))]
    {
        let _ = m;
        false
    }
}
