//! The model test: proptest draws sequences of log, batch, flush, rotate,
//! compress, reopen, crash (kill -9 or power loss) and read, runs them on a
//! store over the simulated file system, and checks every read against an
//! in-memory model: the exact list of acknowledged events in log order,
//! until a crash; after a crash, the history check (nothing durable lost,
//! for kill -9 nothing acknowledged lost, nothing twice, nothing garbled,
//! each session in order), and the model continues from what survived.

use std::sync::Arc;

use proptest::prelude::*;
use scout_audit_core::{Durability, Record};
use scout_audit_store_file::Layout;
use scout_audit_testkit::campaign::read_store;
use scout_audit_testkit::history::{History, Loss, check, key_of};
use scout_audit_testkit::rng::Rng;
use scout_audit_testkit::sim::SimFs;
use scout_audit_testkit::workload::{
    Run, Step, Workload, WriterSpec, fresh_store_path, recover_and_probe,
};

#[derive(Clone, Debug)]
enum Op {
    Log(usize, u64),
    Batch(usize, u64),
    Flush(usize),
    Rotate(usize),
    Compress,
    Reopen(usize),
    Crash { seed: u64, power: bool },
    Read,
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        5 => (0..2usize, 1..4u64).prop_map(|(w, k)| Op::Log(w, k)),
        2 => (0..2usize, 1..6u64).prop_map(|(w, k)| Op::Batch(w, k)),
        1 => (0..2usize).prop_map(Op::Flush),
        2 => (0..2usize).prop_map(Op::Rotate),
        1 => Just(Op::Compress),
        1 => (0..2usize).prop_map(Op::Reopen),
        1 => (any::<u64>(), any::<bool>()).prop_map(|(seed, power)| Op::Crash { seed, power }),
        2 => Just(Op::Read),
    ]
}

fn keys(recs: &[Record]) -> Vec<(String, u64)> {
    recs.iter()
        .map(|r| (r.session_id().unwrap().to_owned(), r.seq().unwrap()))
        .collect()
}

/// A history in which what survived a crash is acknowledged and durable
/// (it is on the disk the crash left), and nothing else happened.
fn survivors(recs: &[Record]) -> History {
    let mut h = History::new();
    for r in recs {
        let (s, seq) = (r.session_id().unwrap(), r.seq().unwrap());
        let n = key_of(r).unwrap();
        h.attempt(s, n, Some(seq));
        h.ack(s, seq, n);
        h.durable(s, seq);
    }
    h
}

/// Runs `ops`; `Err` describes the first divergence from the model.
fn run_model(ops: &[Op]) -> Result<(), TestCaseError> {
    let workload = Workload {
        name: "model".into(),
        writers: vec![
            WriterSpec {
                durability: Durability::Sync,
                fsync_lines: 0,
            },
            WriterSpec {
                durability: Durability::Process,
                fsync_lines: 3,
            },
        ],
        rotate: 600,
        steps: Vec::new(),
    };
    let path = fresh_store_path();
    let layout = Layout::new(&path).unwrap();
    let mut run = Run::new(SimFs::default(), &path, &workload);
    // The model: every record a reader must return, in log order.
    let mut model: Vec<(String, u64)> = Vec::new();
    let mut probes = 0u64;
    let ack_keys = |run: &Run, before: u64| -> Vec<(String, u64)> {
        // The events acknowledged by the last step, in order.
        let all = run.history.summary();
        let before = run.history.upto(before);
        let mut new = Vec::new();
        for (s, ss) in &all.sessions {
            let old = before.sessions.get(s);
            for seq in ss.acked.keys() {
                if old.is_none_or(|o| !o.acked.contains_key(seq)) {
                    new.push((s.clone(), *seq));
                }
            }
        }
        new
    };
    for (i, op) in ops.iter().enumerate() {
        let ctx = format!("op {i} {op:?}");
        let w = match op {
            Op::Log(w, _) | Op::Batch(w, _) | Op::Flush(w) | Op::Rotate(w) | Op::Reopen(w) => {
                Some(*w)
            }
            _ => None,
        };
        if let Some(w) = w
            && run.writer(w).is_none()
        {
            run.step(Step::Open(w))
                .map_err(|e| TestCaseError::fail(format!("{ctx}: open: {e}")))?;
        }
        let before = run.history.len();
        let r = match op {
            Op::Log(w, k) => run.step(Step::Log(*w, *k)),
            Op::Batch(w, k) => run.step(Step::Batch(*w, *k)),
            Op::Flush(w) => run.step(Step::Flush(*w)),
            Op::Rotate(w) => run.step(Step::Rotate(*w)),
            Op::Compress => run.step(Step::Compress),
            Op::Reopen(w) => run.step(Step::Reopen(*w)),
            Op::Crash { seed, power } => {
                // Everything dies at once; a new process recovers.
                let state = run.fs.state();
                let dead = run.abandon();
                let image = if *power {
                    state.crash(&mut Rng::new(*seed)).0
                } else {
                    state
                };
                drop(dead);
                run.fs = SimFs::new(image);
                probes += 1;
                let session = format!("probe-{probes}");
                recover_and_probe(
                    &run.fs,
                    &path,
                    &session,
                    &mut run.history,
                    (1 << 41) + probes,
                )
                .map_err(|e| TestCaseError::fail(format!("{ctx}: {e}")))?;
                let (recs, rep) = read_store(Arc::new(run.fs.clone()), &layout)
                    .map_err(|e| TestCaseError::fail(format!("{ctx}: {e}")))?;
                // (A kill -9 is checked exactly below; holes an earlier power
                // loss left are reported damage.)
                let vs = check(
                    &run.history.summary(),
                    &recs,
                    Loss::Power,
                    rep.problem_count() > 0,
                );
                prop_assert!(vs.is_empty(), "{ctx}: {vs:?}");
                if !*power {
                    // A process crash loses nothing written: the model, and
                    // the probe after it.
                    let mut want = model.clone();
                    want.push((session.clone(), 0));
                    prop_assert_eq!(keys(&recs), want, "{}", ctx);
                }
                model = keys(&recs);
                run.history = survivors(&recs);
                continue;
            }
            Op::Read => {
                let (recs, rep) = read_store(Arc::new(run.fs.clone()), &layout)
                    .map_err(|e| TestCaseError::fail(format!("{ctx}: {e}")))?;
                prop_assert_eq!(keys(&recs), model.clone(), "{}", ctx);
                let vs = check(
                    &run.history.summary(),
                    &recs,
                    Loss::Power,
                    rep.problem_count() > 0,
                );
                prop_assert!(vs.is_empty(), "{ctx}: {vs:?}");
                continue;
            }
        };
        r.map_err(|e| TestCaseError::fail(format!("{ctx}: {e}")))?;
        model.extend(ack_keys(&run, before));
    }
    run.close_all()
        .map_err(|e| TestCaseError::fail(format!("close: {e}")))?;
    let (recs, _) = read_store(Arc::new(run.fs.clone()), &layout)
        .map_err(|e| TestCaseError::fail(format!("final read: {e}")))?;
    prop_assert_eq!(keys(&recs), model);
    Ok(())
}

proptest! {
    // 256 cases in CI; more with PROPTEST_CASES.
    #![proptest_config(ProptestConfig {
        cases: std::env::var("PROPTEST_CASES").ok().and_then(|c| c.parse().ok()).unwrap_or(256),
        failure_persistence: None,
        ..ProptestConfig::default()
    })]

    #[test]
    fn the_store_follows_the_model(ops in proptest::collection::vec(op(), 1..40)) {
        run_model(&ops)?;
    }
}
