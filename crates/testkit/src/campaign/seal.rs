//! The sealing checks of the power-loss campaign, for crash states of a
//! store set up with `seal::init` (the workload's `SealInit` had returned):
//!
//! 1. on the damaged disk, the seal log's complete lines are a prefix of
//!    the lines the workload wrote (nothing rewritten, no fork), and every
//!    torn seal-log tail an earlier state held is still held: at the end
//!    of the log or in a `.seal-log.torn-<n>` file (a crash inside the
//!    cutting of a torn tail loses no byte);
//! 2. after the writer's recovery, `verify_sealed` with the true key finds
//!    no tampering and at least the last acknowledged seal's size;
//! 3. `seal_now` succeeds (it settles an interrupted evolve and cuts a torn
//!    seal-log line), rewrites none of the log's complete lines, leaves no
//!    temporary sealing state, and moves a torn tail into a torn file;
//! 4. `verify_sealed` then finds no tampering, nothing unsealed, and every
//!    acknowledged seal still there (its size at most the leaves).
//!
//! Half of the states are sealed before the writer's recovery runs (a
//! `seal` from cron after a reboot, before any writer), half after.

use std::time::Duration;

use scout_audit_core::ManualClock;
use scout_audit_seal::note::Verifier;
use scout_audit_store_file::Layout;
use scout_audit_store_file::seal::{self, SealReport};

use crate::history::Violation;
use crate::sim::{SimFs, SimState};
use crate::workload::{Sealing, start_time};

/// What a crash state of a sealed store must keep, and the world it came
/// from.
#[derive(Clone, Debug)]
pub struct SealExpect {
    /// The verification key.
    pub key: Verifier,
    /// The size of the last seal acknowledged before the crash (0: none).
    pub acked: u64,
    /// The seal log as the world that crashed left it in the end: every
    /// complete line the crashed log holds must be a prefix of its lines.
    pub world_log: Vec<u8>,
    /// Torn seal-log tails earlier states held, each of which this state
    /// must still hold (at the log's end or in a torn file).
    pub torn: Vec<Vec<u8>>,
}

impl SealExpect {
    /// What the crash point `ops` of a workload whose sealing was
    /// `sealing` must keep; `None` before `seal::init` returned.
    pub fn at(
        sealing: Option<&Sealing>,
        ops: u64,
        world: &SimState,
        layout: &Layout,
    ) -> Option<SealExpect> {
        let s = sealing?;
        if !s.set_up_by(ops) {
            return None;
        }
        Some(SealExpect {
            key: Verifier::parse(&s.key).ok()?,
            acked: s.acked_by(ops),
            world_log: world.read(&layout.seal_log()).unwrap_or_default(),
            torn: Vec::new(),
        })
    }
}

/// What the sealing checks counted.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SealCounts {
    /// Crash states checked with sealing.
    pub states: u64,
    /// `verify_sealed` runs (each must find no tampering).
    pub verify_runs: u64,
    /// Of the violations, reports of tampering on an untampered store.
    pub false_alarms: u64,
    /// `seal_now` runs after a crash that sealed something.
    pub seals: u64,
    /// Of those, seals that evolved the key first.
    pub evolves: u64,
    /// States whose seal log had a torn tail.
    pub torn_tails: u64,
    /// States holding a temporary sealing state (an interrupted evolve).
    pub interrupted_evolves: u64,
    /// States sealed before the writer's recovery.
    pub sealed_before_recovery: u64,
}

impl SealCounts {
    /// Adds another's counts.
    pub fn merge(&mut self, o: &SealCounts) {
        self.states += o.states;
        self.verify_runs += o.verify_runs;
        self.false_alarms += o.false_alarms;
        self.seals += o.seals;
        self.evolves += o.evolves;
        self.torn_tails += o.torn_tails;
        self.interrupted_evolves += o.interrupted_evolves;
        self.sealed_before_recovery += o.sealed_before_recovery;
    }
}

/// The seal log's bytes split where its torn suffix starts, as the store
/// reads it: at the first line that is unterminated or not a JSON object
/// (what a power loss makes of the last append). Returns the entries'
/// lines and the torn suffix.
pub(super) fn split_log(log: &[u8]) -> (&[u8], &[u8]) {
    let mut cut = 0;
    for line in log.split_inclusive(|&b| b == b'\n') {
        let whole = line.strip_suffix(b"\n");
        let entry = whole.is_some_and(|l| {
            serde_json::from_slice::<serde_json::Map<String, serde_json::Value>>(l).is_ok()
        });
        if !entry {
            break;
        }
        cut += line.len();
    }
    log.split_at(cut)
}

/// Whether `tail` is held in `image`: at the seal log's end, or as the
/// whole of a torn file.
fn holds_torn(image: &SimState, layout: &Layout, tail: &[u8]) -> bool {
    let log = image.read(&layout.seal_log()).unwrap_or_default();
    if split_log(&log).1 == tail {
        return true;
    }
    let dir = image.list(layout.dir()).len() as u64;
    (1..=dir + 1).any(|n| image.read(&layout.seal_log_torn(n)).as_deref() == Some(tail))
}

/// Step 1 (module docs): the damaged disk's seal log and torn tails.
/// Returns the image's own torn tail (empty if none).
pub(super) fn check_image(
    image: &SimState,
    layout: &Layout,
    want: &SealExpect,
    counts: &mut SealCounts,
    out: &mut Vec<Violation>,
) -> Vec<u8> {
    counts.states += 1;
    let log = image.read(&layout.seal_log()).unwrap_or_default();
    let (complete, torn) = split_log(&log);
    if !want.world_log.starts_with(complete) {
        out.push(Violation {
            kind: "seal-log-rewritten",
            detail: format!(
                "the seal log's {} complete bytes are not a prefix of the {} the workload wrote",
                complete.len(),
                want.world_log.len()
            ),
        });
    }
    if !torn.is_empty() {
        counts.torn_tails += 1;
    }
    if image.read(&layout.seal_key_temp()).is_some() {
        counts.interrupted_evolves += 1;
    }
    for t in &want.torn {
        if !holds_torn(image, layout, t) {
            out.push(Violation {
                kind: "seal-torn-tail-lost",
                detail: format!(
                    "a torn seal-log tail of {} bytes is neither at the log's end nor in a torn file",
                    t.len()
                ),
            });
        }
    }
    torn.to_vec()
}

/// The clock a seal after a crash uses: at the workload's start (the
/// epoch usually not over) or 100 s on (it is), as `late` says.
pub(super) fn clock(late: bool) -> ManualClock {
    let c = ManualClock::new(start_time());
    if late {
        c.advance(Duration::from_secs(100));
    }
    c
}

/// Verifies the store with the true key: no tampering, at least `acked`
/// sealed, and (when `all_sealed`) nothing unsealed.
pub(super) fn verify(
    fs: &SimFs,
    layout: &Layout,
    want: &SealExpect,
    when: &str,
    all_sealed: bool,
    counts: &mut SealCounts,
    out: &mut Vec<Violation>,
) -> Option<SealReport> {
    counts.verify_runs += 1;
    let r = match seal::verify_sealed(fs, layout, &want.key) {
        Ok(r) => r,
        Err(e) => {
            out.push(Violation {
                kind: "seal-verify-failed",
                detail: format!("{when}: {e}"),
            });
            return None;
        }
    };
    if let Some(t) = &r.tampering {
        counts.false_alarms += 1;
        out.push(Violation {
            kind: "seal-false-alarm",
            detail: format!("{when}: {t:?}"),
        });
    } else if r.sealed_leaves < want.acked {
        out.push(Violation {
            kind: "seal-lost",
            detail: format!(
                "{when}: {} leaves sealed, but a seal of size {} was acknowledged",
                r.sealed_leaves, want.acked
            ),
        });
    } else if all_sealed && r.unsealed != 0 {
        out.push(Violation {
            kind: "seal-incomplete",
            detail: format!("{when}: {} lines unsealed after seal_now", r.unsealed),
        });
    }
    Some(r)
}

/// A seal after the crash, as step 3 (module docs) checks it: returns the
/// size it sealed to and the operation count after it, when it sealed.
pub(super) fn seal_after_crash(
    fs: &SimFs,
    layout: &Layout,
    late: bool,
    counts: &mut SealCounts,
    out: &mut Vec<Violation>,
) -> Option<(u64, u64)> {
    let before = fs.state();
    let log_before = before.read(&layout.seal_log()).unwrap_or_default();
    let (complete, torn) = split_log(&log_before);
    let done = match seal::seal_now(fs, layout, &clock(late)) {
        Ok(d) => d,
        Err(e) => {
            out.push(Violation {
                kind: "seal-failed",
                detail: format!("seal_now after the crash: {e}"),
            });
            return None;
        }
    };
    let after = fs.state();
    let log_after = after.read(&layout.seal_log()).unwrap_or_default();
    if !log_after.starts_with(complete) {
        out.push(Violation {
            kind: "seal-log-rewritten",
            detail: "seal_now after the crash changed a complete line of the seal log".into(),
        });
    }
    if after.read(&layout.seal_key_temp()).is_some() {
        out.push(Violation {
            kind: "seal-temp-left",
            detail: "seal_now left the temporary sealing state".into(),
        });
    }
    if !torn.is_empty() && !holds_torn(&after, layout, torn) {
        out.push(Violation {
            kind: "seal-torn-tail-lost",
            detail: format!(
                "seal_now cut a torn tail of {} bytes and kept it nowhere",
                torn.len()
            ),
        });
    }
    let d = done?;
    counts.seals += 1;
    counts.evolves += u64::from(d.evolved);
    Some((d.size, after.ops()))
}

/// A disk after `seal_now` and verify, as the next world a crash inside
/// it comes from.
pub(super) fn next_world(fs: &SimFs, layout: &Layout) -> Vec<u8> {
    fs.state().read(&layout.seal_log()).unwrap_or_default()
}
