//! The model test: sequences of log, batch, flush, rotate, compress,
//! reopen, crash (kill -9 or power loss) and read, run on a store over the
//! simulated file system, each read checked against an in-memory model:
//! the exact list of acknowledged events in log order, until a crash;
//! after a crash, the history check (nothing durable lost, after a kill -9
//! nothing acknowledged lost and exactly the model, nothing twice, nothing
//! garbled, each session in order), and the model continues from what
//! survived. Used by store-file's proptest and the `ops` fuzz target.

use std::sync::Arc;

use scout_audit_core::{Durability, Record};
use scout_audit_store_file::Layout;

use crate::campaign::read_store;
use crate::history::{History, Loss, check, key_of};
use crate::rng::Rng;
use crate::sim::SimFs;
use crate::workload::{Run, Step, Workload, WriterSpec, fresh_store_path, recover_and_probe};

/// One operation of the model test.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Op {
    /// Writer (0: `sync`, 1: `process` with an fsync every 3 lines) logs
    /// this many events one by one.
    Log(usize, u64),
    /// ... as one batch.
    Batch(usize, u64),
    /// `flush`.
    Flush(usize),
    /// Seal the live segment.
    Rotate(usize),
    /// Compress what is sealed.
    Compress,
    /// Close and open again, same session.
    Reopen(usize),
    /// Every writer dies: kill -9 (`power: false`) or power loss with
    /// damage drawn from `seed`; a new process recovers.
    Crash {
        /// Seed of the damage.
        seed: u64,
        /// Power loss (else kill -9).
        power: bool,
    },
    /// Read the whole store and compare with the model.
    Read,
}

impl Op {
    /// Decodes operations from bytes (for fuzzing): each op takes 1 to 9
    /// bytes; every byte string is a valid sequence.
    pub fn decode(mut data: &[u8]) -> Vec<Op> {
        let mut ops = Vec::new();
        while let Some((&b, rest)) = data.split_first() {
            data = rest;
            let w = usize::from(b & 1);
            let k = u64::from((b >> 1) & 7) + 1;
            ops.push(match b >> 4 {
                0..=4 => Op::Log(w, k.min(3)),
                5 | 6 => Op::Batch(w, k),
                7 => Op::Flush(w),
                8 | 9 => Op::Rotate(w),
                10 => Op::Compress,
                11 => Op::Reopen(w),
                12 | 13 => {
                    let mut seed = [0u8; 8];
                    let n = data.len().min(8);
                    seed[..n].copy_from_slice(&data[..n]);
                    data = &data[n..];
                    Op::Crash {
                        seed: u64::from_le_bytes(seed),
                        power: b & 2 != 0,
                    }
                }
                _ => Op::Read,
            });
        }
        ops
    }
}

fn keys(recs: &[Record]) -> Vec<(String, u64)> {
    recs.iter()
        .map(|r| {
            (
                r.session_id().unwrap_or_default().to_owned(),
                r.seq().unwrap_or(u64::MAX),
            )
        })
        .collect()
}

/// A history in which what survived a crash is acknowledged and durable
/// (it is on the disk the crash left), and nothing else happened.
fn survivors(recs: &[Record]) -> History {
    let mut h = History::new();
    for r in recs {
        let (Some(s), Some(seq), Ok(n)) = (r.session_id(), r.seq(), key_of(r)) else {
            // Not a harness record: the check that adopted it failed already.
            continue;
        };
        h.attempt(s, n, Some(seq));
        h.ack(s, seq, n);
        h.durable(s, seq);
    }
    h
}

/// Reads the whole store and runs the history check (holes are allowed
/// where the reader reported damage: a power loss may leave them).
fn read_checked(run: &Run, layout: &Layout, ctx: &str) -> Result<Vec<Record>, String> {
    let (recs, rep) =
        read_store(Arc::new(run.fs.clone()), layout).map_err(|e| format!("{ctx}: {e}"))?;
    let vs = check(
        &run.history.summary(),
        &recs,
        Loss::Power,
        rep.problem_count() > 0,
    );
    if !vs.is_empty() {
        return Err(format!("{ctx}: {vs:?}"));
    }
    Ok(recs)
}

/// The model test's two writers: one `sync`, one `process` with an
/// fsync every 3 lines; a small rotation size.
fn model_workload() -> Workload {
    Workload {
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
    }
}

/// Runs `ops` on a new store over the simulated file system (see the
/// module docs); `Err` describes the first divergence from the model.
pub fn run(ops: &[Op]) -> Result<(), String> {
    let path = fresh_store_path();
    let layout = Layout::new(&path)?;
    let mut m = Model {
        run: Run::new(SimFs::default(), &path, &model_workload()),
        layout,
        model: Vec::new(),
        probes: 0,
    };
    for (i, op) in ops.iter().enumerate() {
        m.apply(i, op)?;
    }
    m.run.close_all().map_err(|e| format!("close: {e}"))?;
    let (recs, _) = read_store(Arc::new(m.run.fs.clone()), &m.layout)
        .map_err(|e| format!("final read: {e}"))?;
    if keys(&recs) != m.model {
        return Err(format!(
            "at the end: read {:?}, the model says {:?}",
            keys(&recs),
            m.model
        ));
    }
    Ok(())
}

/// A store under test beside its model.
struct Model {
    run: Run,
    layout: Layout,
    /// Every record a reader must return, in log order: (session, seq).
    model: Vec<(String, u64)>,
    /// Probes written by recoveries so far (names their sessions).
    probes: u64,
}

impl Model {
    /// Applies op `i`, `op`, to the store and the model; a read or a
    /// crash compares the two.
    fn apply(&mut self, i: usize, op: &Op) -> Result<(), String> {
        let ctx = format!("op {i} {op:?}");
        let run = &mut self.run;
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
                .map_err(|e| format!("{ctx}: open: {e}"))?;
        }
        let before = run.history.len();
        let r = match op {
            Op::Log(w, k) => run.step(Step::Log(*w, *k)),
            Op::Batch(w, k) => run.step(Step::Batch(*w, *k)),
            Op::Flush(w) => run.step(Step::Flush(*w)),
            Op::Rotate(w) => run.step(Step::Rotate(*w)),
            Op::Compress => run.step(Step::Compress),
            Op::Reopen(w) => run.step(Step::Reopen(*w)),
            Op::Crash { seed, power } => return self.crash(*seed, *power, &ctx),
            Op::Read => {
                let recs = read_checked(run, &self.layout, &ctx)?;
                if keys(&recs) != self.model {
                    return Err(format!(
                        "{ctx}: read {:?}, the model says {:?}",
                        keys(&recs),
                        self.model
                    ));
                }
                return Ok(());
            }
        };
        r.map_err(|e| format!("{ctx}: {e}"))?;
        self.model.extend(acked_since(run, before));
        Ok(())
    }

    /// Everything dies at once (power lost, or a kill -9); a new process
    /// recovers and writes a probe. After a kill -9 the store must hold
    /// exactly the model, then the probe.
    fn crash(&mut self, seed: u64, power: bool, ctx: &str) -> Result<(), String> {
        let run = &mut self.run;
        let state = run.fs.state();
        let dead = run.abandon();
        let image = if power {
            state.crash(&mut Rng::new(seed)).0
        } else {
            state
        };
        drop(dead);
        run.fs = SimFs::new(image);
        self.probes += 1;
        let session = format!("probe-{}", self.probes);
        let path = run.path.clone();
        recover_and_probe(
            &run.fs,
            &path,
            &session,
            &mut run.history,
            (1 << 41) + self.probes,
        )
        .map_err(|e| format!("{ctx}: {e}"))?;
        // (A kill -9 is checked exactly below; holes an earlier power
        // loss left are reported damage.)
        let recs = read_checked(run, &self.layout, ctx)?;
        if !power {
            // A process crash loses nothing written: the model, and
            // the probe after it.
            let mut want = self.model.clone();
            want.push((session.clone(), 0));
            if keys(&recs) != want {
                return Err(format!(
                    "{ctx}: read {:?}, the model says {want:?}",
                    keys(&recs)
                ));
            }
        }
        self.model = keys(&recs);
        run.history = survivors(&recs);
        Ok(())
    }
}

/// The events acknowledged since history entry `before` (by the last
/// step), in order.
fn acked_since(run: &Run, before: u64) -> Vec<(String, u64)> {
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
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bytes_decode_to_operations() {
        assert_eq!(Op::decode(b""), []);
        assert_eq!(
            Op::decode(&[0x03, 0x5F, 0x70, 0xA0, 0xB1, 0xF0]),
            [
                Op::Log(1, 2),
                Op::Batch(1, 8),
                Op::Flush(0),
                Op::Compress,
                Op::Reopen(1),
                Op::Read
            ]
        );
        assert_eq!(
            Op::decode(&[0xC2, 1, 0, 0, 0, 0, 0, 0, 0, 0x80]),
            [
                Op::Crash {
                    seed: 1,
                    power: true
                },
                Op::Rotate(0)
            ]
        );
        // A crash at the end takes what seed bytes there are.
        assert_eq!(
            Op::decode(&[0xD0, 7]),
            [Op::Crash {
                seed: 7,
                power: false
            }]
        );
    }

    #[test]
    fn a_short_history_follows_the_model() {
        let ops = Op::decode(&[
            0x00, 0x01, 0x80, 0x5F, 0xF0, 0xC0, 9, 0, 0, 0, 0, 0, 0, 0, 0xA0, 0xF0, 0xC2, 3, 0, 0,
            0, 0, 0, 0, 0, 0xF0,
        ]);
        run(&ops).unwrap();
    }
}
