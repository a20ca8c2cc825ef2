//! Fault injection over every write, fsync and directory fsync of a
//! workload: each one in turn fails with `EIO`, `ENOSPC` (which stays
//! full) or, for writes, a short write, and the store must keep its
//! promises (docs/durability.md, "Poisoning"):
//!
//! 1. the failing call returns a clear error naming the operation;
//! 2. the failing batch is never acknowledged durable (nor anything after);
//! 3. the writer is poisoned: its next call fails with `Poisoned`, naming
//!    the first failure (a failed background compression does not poison);
//! 4. nothing acknowledged earlier is lost: after the process dies, a
//!    reopen (the fault healed) recovers, and every acknowledged event that
//!    reached the kernel is read back ([`Loss::Process`]); after a power
//!    loss instead, every durable one ([`Loss::Power`]).

use std::collections::BTreeMap;

use scout_audit_store_file::Error;

use crate::campaign::read_store;
use crate::history::{Findings, History, Loss, Violation, check, event_for};
use crate::rng::Rng;
use crate::sim::{EIO, ENOSPC, Fault, FaultKind, OpClass, SimFs, SimState};
use crate::workload::{Run, Step, Workload, fresh_store_path, record, recover_and_probe};

/// What a fault matrix did and found.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Report {
    /// Faults injected (each a separate run).
    pub cases: u64,
    /// By operation class and fault: how many cases.
    pub by_kind: BTreeMap<String, u64>,
    /// Cases where a writer call failed and the writer was poisoned.
    pub poisoned: u64,
    /// Cases where opening the store failed.
    pub open_failed: u64,
    /// Cases where background compression failed (no poisoning).
    pub compression_failed: u64,
    /// Reopens after the fault, each checked (process crash and power loss).
    pub recoveries: u64,
    /// Violations found.
    pub found: Findings,
}

impl Report {
    fn violation(&mut self, label: &str, v: &Violation) {
        self.found.add(label, v);
    }

    /// Adds another report's counts.
    pub fn merge(&mut self, o: &Report) {
        self.cases += o.cases;
        for (k, v) in &o.by_kind {
            *self.by_kind.entry(k.clone()).or_default() += v;
        }
        self.poisoned += o.poisoned;
        self.open_failed += o.open_failed;
        self.compression_failed += o.compression_failed;
        self.recoveries += o.recoveries;
        self.found.merge(&o.found);
    }
}

/// The faults each class of operation gets.
fn faults_for(class: OpClass) -> Vec<(FaultKind, &'static str)> {
    let mut v = vec![
        (FaultKind::Errno(EIO), "EIO"),
        (FaultKind::Errno(ENOSPC), "ENOSPC"),
    ];
    if class == OpClass::Write {
        v.push((FaultKind::Short, "short write"));
    }
    v
}

/// Injects every fault at every write, fsync and directory fsync of `w`.
pub fn run_matrix(w: &Workload) -> Report {
    let mut report = Report::default();
    // A clean run, to count the operations of each class.
    let recording = match record(w) {
        Ok((_, rec)) => rec,
        Err(e) => {
            report.violation(
                &w.name,
                &Violation {
                    kind: "workload-failed",
                    detail: e,
                },
            );
            return report;
        }
    };
    let mut counts: BTreeMap<OpClass, u64> = BTreeMap::new();
    for r in recording {
        *counts.entry(r.class).or_default() += 1;
    }
    for class in [OpClass::Write, OpClass::Fsync, OpClass::DirFsync] {
        for nth in 0..counts.get(&class).copied().unwrap_or(0) {
            for (kind, name) in faults_for(class) {
                let fault = Fault {
                    class,
                    nth,
                    kind,
                    // A full disk stays full; EIO and short writes are one-off.
                    sticky: kind == FaultKind::Errno(ENOSPC),
                };
                report.cases += 1;
                *report
                    .by_kind
                    .entry(format!("{class:?} {name}"))
                    .or_default() += 1;
                let label = format!("{}: {name} on {class:?} #{nth}", w.name);
                one_case(w, fault, &label, &mut report);
            }
        }
    }
    report
}

/// One case: `w` run with `fault` injected, checked as the module docs
/// say (steps 1 to 4).
fn one_case(w: &Workload, fault: Fault, label: &str, report: &mut Report) {
    let fs = SimFs::default();
    let path = fresh_store_path();
    fs.inject(fault);
    let mut run = Run::new(fs.clone(), &path, w);
    let mut failed = None;
    for step in w.steps.iter().copied().chain(close_steps(w)) {
        if let Err(e) = run.step(step) {
            failed = Some((step, e));
            break;
        }
    }
    let Some((step, err)) = failed else {
        report.violation(
            label,
            &Violation {
                kind: "fault-not-reached",
                detail: "the workload ran to its end".into(),
            },
        );
        return;
    };
    // 1. A clear error naming the operation.
    check_clear_error(step, &err, label, report);
    // 2. Nothing that failed is acknowledged durable.
    check_failed_not_durable(&run.history, label, report);
    // 3. Poisoned (a failed compression does not poison; a failed open
    // leaves no writer; a failed close consumed it).
    check_poisoned(&fs, &mut run, step, &err, fault, label, report);
    // 4. Nothing earlier lost: the process dies (its writers are dropped
    // unclosed), a new process reopens.
    let dead = run.abandon();
    let state = fs.state();
    drop(dead);
    recover_and_check(
        &path,
        state.clone(),
        &run.history,
        Loss::Process,
        label,
        report,
    );
    for seed in 0..2 {
        let (image, _) = state.crash(&mut Rng::new(seed));
        recover_and_check(&path, image, &run.history, Loss::Power, label, report);
    }
}

/// Step 1: the error says what failed ("cannot …") and why (the errno's
/// text, or "short write").
fn check_clear_error(step: Step, err: &str, label: &str, report: &mut Report) {
    let clear = err.starts_with("cannot ") || err.starts_with("reopen") || err.contains("cannot ");
    let named = err.contains("Input/output error")
        || err.contains("No space left on device")
        || err.contains("short write");
    if !clear || !named {
        report.violation(
            label,
            &Violation {
                kind: "unclear-error",
                detail: format!("{step:?} failed with {err:?}"),
            },
        );
    }
}

/// Step 2: no event that was not acknowledged is reported durable.
fn check_failed_not_durable(history: &History, label: &str, report: &mut Report) {
    let summary = history.summary();
    for (session, ss) in &summary.sessions {
        for (n, seq) in &ss.attempted {
            let Some(seq) = seq else { continue };
            if !ss.acked.contains_key(seq) && ss.is_durable(*seq) {
                report.violation(
                    label,
                    &Violation {
                        kind: "failed-event-durable",
                        detail: format!(
                            "{session} seq {seq} (n={n}) failed yet is reported durable"
                        ),
                    },
                );
            }
        }
    }
}

/// Step 3: after a writer call failed at `step`, the writer is poisoned
/// (naming the failure), and its session, reopened once the fault healed,
/// continues; a failed compression poisons nothing.
fn check_poisoned(
    fs: &SimFs,
    run: &mut Run,
    step: Step,
    err: &str,
    fault: Fault,
    label: &str,
    report: &mut Report,
) {
    match step {
        Step::Compress => {
            report.compression_failed += 1;
            if !fault.sticky
                && run.writer(0).is_some()
                && let Err(e) = run.step(Step::Log(0, 1))
            {
                report.violation(
                    label,
                    &Violation {
                        kind: "poisoned-by-compression",
                        detail: e,
                    },
                );
            }
        }
        Step::Open(_) | Step::Reopen(_) => report.open_failed += 1,
        Step::Close(_) => {}
        Step::Log(wr, _)
        | Step::Batch(wr, _)
        | Step::Flush(wr)
        | Step::WriteBuffered(wr)
        | Step::Rotate(wr) => {
            fs.heal();
            match run.writer(wr).map(|s| s.append(event_for(u64::MAX))) {
                Some(Err(Error::Poisoned { cause })) if err.contains(&cause) => {
                    report.poisoned += 1
                }
                other => report.violation(
                    label,
                    &Violation {
                        kind: "not-poisoned",
                        detail: format!("after {err:?}, the next append gave {other:?}"),
                    },
                ),
            }
            // The same session, reopened in this process once the disk is
            // healed, continues: its next event follows what is on disk
            // (checked below: no hole, nothing lost, nothing twice).
            let reopened = run
                .reopen_after_failure(wr)
                .and_then(|()| run.step(Step::Log(wr, 2)));
            if let Err(e) = reopened {
                report.violation(
                    label,
                    &Violation {
                        kind: "reopen-failed",
                        detail: format!("same session, after the fault healed: {e}"),
                    },
                );
            }
        }
        Step::Tick | Step::SealInit(_) | Step::Seal => {}
    }
}

/// Closes every writer the workload leaves open.
fn close_steps(w: &Workload) -> impl Iterator<Item = Step> {
    (0..w.writers.len()).map(Step::Close)
}

fn recover_and_check(
    path: &std::path::Path,
    state: SimState,
    hist: &History,
    loss: Loss,
    label: &str,
    report: &mut Report,
) {
    report.recoveries += 1;
    let fs = SimFs::new(state);
    let mut h = hist.clone();
    let id = crate::campaign::unique();
    let label = format!("{label}, reopened after a {loss:?} crash");
    if let Err(e) = recover_and_probe(
        &fs,
        path,
        &format!("after-fault-{id}-{loss:?}"),
        &mut h,
        (1 << 41) + id,
    ) {
        report.violation(
            &label,
            &Violation {
                kind: "reopen-failed",
                detail: e,
            },
        );
        return;
    }
    let layout = match scout_audit_store_file::Layout::new(path) {
        Ok(l) => l,
        Err(e) => {
            report.violation(
                &label,
                &Violation {
                    kind: "bad-path",
                    detail: e,
                },
            );
            return;
        }
    };
    match read_store(std::sync::Arc::new(fs), &layout) {
        Ok((recs, rep)) => {
            for v in check(&h.summary(), &recs, loss, rep.problem_count() > 0) {
                report.violation(&label, &v);
            }
        }
        Err(e) => report.violation(
            &label,
            &Violation {
                kind: "reader-failed",
                detail: e,
            },
        ),
    }
}
