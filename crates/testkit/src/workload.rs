//! Workloads: sequences of store operations run deterministically on one
//! thread over a [`SimFs`], recording a [`History`] as they go, and
//! generators of random ones.
//!
//! Deterministic means: the store's background threads have nothing to do
//! (compression is `Off` and run here as a step, as the compressor thread
//! would run it; `Buffered` writers get a `max_delay` of an hour and are
//! written by `WriteBuffered`, `Flush` and `Close` steps; the fsync policy
//! counts lines only), so the same workload makes the same operations.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use scout_audit_core::{Durability, ManualClock, SessionId, Timestamp};
use scout_audit_store_file::compress::compress_segment;
use scout_audit_store_file::layout::SegmentKind;
use scout_audit_store_file::options::SealInterval;
use scout_audit_store_file::options::{Compression, FsyncPolicy, RotateSize};
use scout_audit_store_file::recovery::RecoveryReport;
use scout_audit_store_file::seal;
use scout_audit_store_file::{FileStore, Layout};

use crate::history::{History, event_for};
use crate::rng::Rng;
use crate::sim::{Recorded, SimFs};

/// How one writer of a workload opens the store.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct WriterSpec {
    /// Its durability level.
    pub durability: Durability,
    /// Its fsync policy's line bound (0: none).
    pub fsync_lines: u64,
}

/// One step of a workload; `usize` fields name a writer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Step {
    /// Opens the writer as a new process would: a fresh session.
    Open(usize),
    /// Logs this many events, one `log` call each.
    Log(usize, u64),
    /// Logs this many events as one batch.
    Batch(usize, u64),
    /// `flush`: everything acknowledged becomes durable.
    Flush(usize),
    /// Writes a `Buffered` writer's events to the kernel.
    WriteBuffered(usize),
    /// Seals the live segment now.
    Rotate(usize),
    /// Closes the writer (flushing).
    Close(usize),
    /// Closes the writer and opens it again in the same process: the
    /// session and its seq continue.
    Reopen(usize),
    /// Compresses every sealed segment, as the compressor thread does.
    Compress,
    /// Moves the clock one second on.
    Tick,
    /// Sets the store up for sealing (`seal::init`) with epochs of this
    /// many seconds; after an `Open`, which makes the directory.
    SealInit(u64),
    /// Seals what is durable (`seal::seal_now` with the workload's clock).
    Seal,
}

/// What a workload's sealing did, to check crash states against: when
/// `seal::init` returned, and each seal `seal_now` acknowledged, with the
/// simulated disk's operation count at that moment ([`SimState::ops`]), so
/// a crash state knows which of them it must keep.
///
/// [`SimState::ops`]: crate::sim::SimState::ops
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Sealing {
    /// The verification key `seal::init` printed (empty before it returned).
    pub key: String,
    /// The operation count when `seal::init` returned (`u64::MAX`: not yet).
    pub init_ops: u64,
    /// The acknowledged seals, in order.
    pub acks: Vec<SealAck>,
}

/// One seal `seal_now` acknowledged.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SealAck {
    /// The operation count when it returned: a crash state of at least
    /// this many operations must keep it.
    pub ops: u64,
    /// The checkpoint's size.
    pub size: u64,
    /// Whether the key evolved first.
    pub evolved: bool,
}

impl Sealing {
    /// Whether `init` had returned by operation `ops`.
    pub fn set_up_by(&self, ops: u64) -> bool {
        self.init_ops <= ops
    }

    /// The size of the last seal acknowledged by operation `ops` (0: none).
    pub fn acked_by(&self, ops: u64) -> u64 {
        self.acks
            .iter()
            .filter(|a| a.ops <= ops)
            .map(|a| a.size)
            .max()
            .unwrap_or(0)
    }
}

/// A named workload.
#[derive(Clone, Debug)]
pub struct Workload {
    /// Its name, for reports.
    pub name: String,
    /// Its writers.
    pub writers: Vec<WriterSpec>,
    /// The rotation size, in bytes.
    pub rotate: u64,
    /// What it does.
    pub steps: Vec<Step>,
}

/// The clock every simulated run starts at.
pub fn start_time() -> Timestamp {
    Timestamp::from_unix(1_795_000_000, 0).unwrap_or(Timestamp::MIN)
}

/// A path for a new simulated store, unique in this process (the store's
/// in-process registry is keyed by path and session).
pub fn fresh_store_path() -> PathBuf {
    static NEXT: AtomicU64 = AtomicU64::new(0);
    PathBuf::from(format!(
        "/sim/{}/store/audit.jsonl",
        NEXT.fetch_add(1, Ordering::SeqCst)
    ))
}

impl Workload {
    /// The workloads the CI campaign enumerates: each logs, syncs, rotates
    /// at least twice, compresses and reopens.
    pub fn standard() -> Vec<Workload> {
        use Step::*;
        let sync = WriterSpec {
            durability: Durability::Sync,
            fsync_lines: 0,
        };
        let process = WriterSpec {
            durability: Durability::Process,
            fsync_lines: 3,
        };
        let buffered = WriterSpec {
            durability: Durability::Buffered,
            fsync_lines: 0,
        };
        vec![
            Workload {
                name: "sync: log, rotate twice, compress, reopen".into(),
                writers: vec![sync],
                rotate: 700,
                steps: vec![
                    Open(0),
                    Log(0, 6),
                    Compress,
                    Log(0, 4),
                    Batch(0, 3),
                    Compress,
                    Reopen(0),
                    Log(0, 2),
                    Rotate(0),
                    Compress,
                    Log(0, 1),
                    Close(0),
                ],
            },
            Workload {
                name: "process: fsync every 3 lines, flush, rotate, compress, reopen".into(),
                writers: vec![process],
                rotate: 800,
                steps: vec![
                    Open(0),
                    Log(0, 7),
                    Flush(0),
                    Log(0, 4),
                    Rotate(0),
                    Tick,
                    Compress,
                    Log(0, 2),
                    Reopen(0),
                    Log(0, 4),
                    Rotate(0),
                    Log(0, 2),
                    Compress,
                    Log(0, 1),
                ],
            },
            Workload {
                name: "two writers (sync, process) and a buffered one".into(),
                writers: vec![sync, process, buffered],
                rotate: 900,
                steps: vec![
                    Open(0),
                    Open(1),
                    Open(2),
                    Log(0, 2),
                    Log(1, 2),
                    Batch(2, 3),
                    WriteBuffered(2),
                    Log(0, 2),
                    Log(1, 3),
                    Compress,
                    Batch(2, 2),
                    Log(0, 1),
                    Flush(1),
                    Rotate(1),
                    Log(0, 2),
                    Flush(2),
                    Compress,
                    Close(1),
                    Open(1),
                    Log(1, 2),
                    Log(0, 1),
                ],
            },
        ]
    }

    /// The sealing workloads the CI campaign enumerates: stores set up
    /// with `seal::init` (before any record, and on a store that already
    /// holds archives), epochs of 1 or 2 s so that seals after a `Tick`
    /// evolve the key, seals between unsynced writes (so `seal_now`'s own
    /// fsync of the live file is what makes them durable), across
    /// rotations, compressions and reopens.
    pub fn sealed() -> Vec<Workload> {
        let process = WriterSpec {
            durability: Durability::Process,
            fsync_lines: 3,
        };
        vec![
            sealed_evolving(process),
            sealed_two_writers(),
            sealed_late(process),
        ]
    }

    /// A random workload of about `len` steps.
    pub fn random(rng: &mut Rng, len: usize) -> Workload {
        let levels = [Durability::Buffered, Durability::Process, Durability::Sync];
        let nw = 1 + rng.below(3) as usize;
        let writers: Vec<WriterSpec> = (0..nw)
            .map(|_| WriterSpec {
                durability: levels[rng.below(3) as usize],
                fsync_lines: rng.below(5),
            })
            .collect();
        let mut steps: Vec<Step> = (0..nw).map(Step::Open).collect();
        // Half of them seal, with epochs of 1 to 3 s.
        let sealed = rng.below(2) == 0;
        if sealed {
            steps.push(Step::SealInit(1 + rng.below(3)));
        }
        let mut open = vec![true; nw];
        for _ in 0..len {
            let w = rng.below(nw as u64) as usize;
            if !open[w] {
                steps.push(Step::Open(w));
                open[w] = true;
                continue;
            }
            let seal_weight = if sealed { 3 } else { 0 };
            let step = match rng.weighted(&[10, 4, 3, 2, 3, 1, 2, 3, 1, seal_weight]) {
                0 => Step::Log(w, 1 + rng.below(4)),
                1 => Step::Batch(w, 1 + rng.below(5)),
                2 => Step::Flush(w),
                3 => Step::WriteBuffered(w),
                4 => Step::Rotate(w),
                5 => {
                    open[w] = false;
                    Step::Close(w)
                }
                6 => Step::Reopen(w),
                7 => Step::Compress,
                8 => Step::Tick,
                _ => Step::Seal,
            };
            steps.push(step);
        }
        let sealing = if sealed { ", sealed" } else { "" };
        Workload {
            name: format!("random ({nw} writers, {len} steps{sealing})"),
            writers,
            rotate: 400 + rng.below(1200),
            steps,
        }
    }
}

/// Sealing workload: one `process` writer, seals that evolve, rotate,
/// compress, reopen.
fn sealed_evolving(process: WriterSpec) -> Workload {
    use Step::*;
    Workload {
        name: "sealed: process writer, seals that evolve, rotate, compress, reopen".into(),
        writers: vec![process],
        rotate: 700,
        steps: vec![
            Open(0),
            SealInit(1),
            Log(0, 4),
            Seal,
            Tick,
            Log(0, 4),
            Seal,
            Compress,
            Log(0, 2),
            Tick,
            Tick,
            Seal,
            Rotate(0),
            Compress,
            Batch(0, 3),
            Reopen(0),
            Seal,
            Close(0),
        ],
    }
}

/// Sealing workload: a `sync` and a `buffered` writer, seals between
/// their writes (the buffered lines written but not synced).
fn sealed_two_writers() -> Workload {
    use Step::*;
    let sync = WriterSpec {
        durability: Durability::Sync,
        fsync_lines: 0,
    };
    let buffered = WriterSpec {
        durability: Durability::Buffered,
        fsync_lines: 0,
    };
    Workload {
        name: "sealed: sync and buffered writers, seals between their writes".into(),
        writers: vec![sync, buffered],
        rotate: 900,
        steps: vec![
            Open(0),
            Open(1),
            SealInit(2),
            Log(0, 2),
            Batch(1, 3),
            Seal,
            WriteBuffered(1),
            Seal,
            Tick,
            Tick,
            Log(0, 3),
            Seal,
            Rotate(0),
            Compress,
            Batch(1, 2),
            Flush(1),
            Tick,
            Tick,
            Seal,
            Log(0, 1),
            Close(1),
            Seal,
        ],
    }
}

/// Sealing workload: a store with archives set up for sealing late,
/// then sealed every second.
fn sealed_late(process: WriterSpec) -> Workload {
    use Step::*;
    Workload {
        name: "sealed late: archives first, then seals every second".into(),
        writers: vec![process],
        rotate: 600,
        steps: vec![
            Open(0),
            Log(0, 7),
            Compress,
            SealInit(1),
            Seal,
            Log(0, 2),
            Tick,
            Seal,
            Rotate(0),
            Tick,
            Log(0, 1),
            Seal,
            Compress,
            Close(0),
        ],
    }
}

/// A workload being run: the store's writers over one simulated disk.
#[derive(Debug)]
pub struct Run {
    /// The disk.
    pub fs: SimFs,
    /// The live file's path.
    pub path: PathBuf,
    /// The clock of every writer.
    pub clock: Arc<ManualClock>,
    /// What happened.
    pub history: History,
    specs: Vec<WriterSpec>,
    rotate: u64,
    stores: Vec<Option<FileStore>>,
    sessions: Vec<SessionId>,
    /// Per writer: the seq its next event gets.
    next_seq: Vec<u64>,
    /// Per writer: how many sessions it has had.
    opens: Vec<u64>,
    /// Per writer: whether the seqs of its next events are unknown in
    /// advance (after a failure, which may or may not have used some).
    seq_unknown: Vec<bool>,
    next_n: u64,
    /// What sealing did; `None` until a `SealInit` step.
    pub sealing: Option<Sealing>,
}

impl Run {
    /// A run of `w`'s writers on `fs`, with the store at `path`.
    pub fn new(fs: SimFs, path: &Path, w: &Workload) -> Run {
        let n = w.writers.len();
        Run {
            fs,
            path: path.to_path_buf(),
            clock: Arc::new(ManualClock::new(start_time())),
            history: History::new(),
            specs: w.writers.clone(),
            rotate: w.rotate,
            stores: (0..n).map(|_| None).collect(),
            sessions: (0..n).map(|i| SessionId::new(format!("w{i}"))).collect(),
            next_seq: vec![0; n],
            opens: vec![0; n],
            seq_unknown: vec![false; n],
            next_n: 0,
            sealing: None,
        }
    }

    /// Runs every step; the first error ends the run.
    pub fn run_all(&mut self, steps: &[Step]) -> Result<(), String> {
        for (i, s) in steps.iter().enumerate() {
            self.step(*s)
                .map_err(|e| format!("step {i} ({s:?}): {e}"))?;
        }
        Ok(())
    }

    fn mark(&self) {
        self.fs.set_mark(self.history.len());
    }

    /// Writer `w`'s store, if open.
    pub fn writer(&self, w: usize) -> Option<&FileStore> {
        self.stores.get(w).and_then(Option::as_ref)
    }

    fn store(&self, w: usize) -> Result<&FileStore, String> {
        self.stores
            .get(w)
            .and_then(Option::as_ref)
            .ok_or_else(|| format!("writer {w} is not open"))
    }

    fn open(&mut self, w: usize) -> Result<(), String> {
        let spec = self.specs[w];
        // Workloads seal by their own steps (Step::Seal), so crash points
        // stay deterministic: no sealing thread.
        let store = FileStore::builder(&self.path)
            .seal_interval(SealInterval::OFF)
            .file_system(Arc::new(self.fs.clone()))
            .clock(self.clock.clone())
            .durability(spec.durability)
            .fsync_policy(FsyncPolicy::new(spec.fsync_lines, None))
            .max_delay(Duration::from_secs(3600))
            .rotate_size(RotateSize::bytes(self.rotate))
            .compression(Compression::Off)
            .session(self.sessions[w].clone())
            .open()
            .map_err(|e| e.to_string())?;
        self.stores[w] = Some(store);
        Ok(())
    }

    /// Records what the writer's watermark says is durable.
    fn note_durable(&mut self, w: usize) {
        if let Ok(s) = self.store(w) {
            let wm = s.watermark_now();
            let session = self.sessions[w].to_string();
            if let Some(written) = wm.written {
                self.history.written(&session, written);
            }
            if let Some(synced) = wm.synced {
                self.history.durable(&session, synced);
            }
        }
        self.mark();
    }

    /// Runs one step.
    pub fn step(&mut self, step: Step) -> Result<(), String> {
        let r = self.step_inner(step);
        // Whatever happened, what the watermark says durable is durable.
        match step {
            Step::Open(w)
            | Step::Log(w, _)
            | Step::Batch(w, _)
            | Step::Flush(w)
            | Step::WriteBuffered(w)
            | Step::Rotate(w)
            | Step::Reopen(w) => self.note_durable(w),
            Step::Close(_) | Step::Compress | Step::Tick | Step::SealInit(_) | Step::Seal => {}
        }
        r
    }

    /// Runs `step`: one line per kind of step, the longer ones below.
    fn step_inner(&mut self, step: Step) -> Result<(), String> {
        match step {
            Step::Open(w) => self.open_new_session(w),
            Step::Log(w, k) => self.log(w, k),
            Step::Batch(w, k) => self.batch(w, k),
            Step::Flush(w) => self.store(w)?.sync().map_err(|e| e.to_string()),
            Step::WriteBuffered(w) => self.store(w)?.write_buffered().map_err(|e| e.to_string()),
            Step::Rotate(w) => self
                .store(w)?
                .rotate()
                .map(|_| ())
                .map_err(|e| e.to_string()),
            Step::Close(w) => self.close_writer(w),
            Step::Reopen(w) => {
                self.close_writer(w)?;
                self.open(w)
            }
            Step::Compress => compress_all(&self.fs, &self.path).map(|_| ()),
            Step::Tick => {
                self.clock.advance(Duration::from_secs(1));
                Ok(())
            }
            Step::SealInit(epoch) => self.seal_init(epoch),
            Step::Seal => self.seal(),
        }
    }

    /// Sets the store up for sealing, epochs of `epoch` seconds.
    fn seal_init(&mut self, epoch: u64) -> Result<(), String> {
        let layout = Layout::new(&self.path)?;
        let key = seal::init(&self.fs, &layout, epoch).map_err(|e| e.to_string())?;
        self.sealing = Some(Sealing {
            key,
            init_ops: self.fs.state().ops(),
            acks: Vec::new(),
        });
        Ok(())
    }

    /// Seals now, with the workload's clock; records the acknowledgement.
    fn seal(&mut self) -> Result<(), String> {
        let layout = Layout::new(&self.path)?;
        let done = seal::seal_now(&self.fs, &layout, &*self.clock).map_err(|e| e.to_string())?;
        let ops = self.fs.state().ops();
        if let (Some(s), Some(d)) = (self.sealing.as_mut(), done) {
            s.acks.push(SealAck {
                ops,
                size: d.size,
                evolved: d.evolved,
            });
        }
        Ok(())
    }

    /// Closes writer `w` if open, then opens it under a new session whose
    /// seqs start at 0.
    fn open_new_session(&mut self, w: usize) -> Result<(), String> {
        if let Some(s) = self.stores[w].take() {
            s.close().map_err(|e| e.to_string())?;
        }
        self.opens[w] += 1;
        self.sessions[w] = SessionId::new(format!("w{w}-{}", self.opens[w]));
        self.next_seq[w] = 0;
        self.seq_unknown[w] = false;
        self.open(w)
    }

    /// Writer `w` logs `k` events one by one.
    fn log(&mut self, w: usize, k: u64) -> Result<(), String> {
        for _ in 0..k {
            let (n, session) = self.attempt(w);
            let r = self.store(w)?.append(event_for(n));
            let r = r.map_err(|e| e.to_string())?;
            self.history.ack(&session, r.seq, n);
            // What this acknowledgement made durable (a `sync`
            // writer's fsync, the policy's) must survive a crash
            // at any later point of this step, too.
            self.note_durable(w);
        }
        Ok(())
    }

    /// Writer `w` logs `k` events as one batch.
    fn batch(&mut self, w: usize, k: u64) -> Result<(), String> {
        let mut keys = Vec::new();
        for _ in 0..k {
            keys.push(self.attempt(w));
        }
        let events = keys.iter().map(|(n, _)| event_for(*n)).collect();
        let rs = self
            .store(w)?
            .append_batch(events)
            .map_err(|e| e.to_string())?;
        for ((n, session), r) in keys.iter().zip(rs) {
            self.history.ack(session, r.seq, *n);
        }
        self.note_durable(w);
        Ok(())
    }

    /// Closes writer `w` if open; what a clean close synced is durable.
    fn close_writer(&mut self, w: usize) -> Result<(), String> {
        let Some(s) = self.stores[w].take() else {
            return Ok(());
        };
        let r = s.close();
        if r.is_ok()
            && let Some(synced) = s.watermark_now().synced
        {
            self.history.durable(self.sessions[w].as_str(), synced);
            self.mark();
        }
        r.map_err(|e| e.to_string())
    }

    /// Records an attempt by writer `w`; its key and session.
    fn attempt(&mut self, w: usize) -> (u64, String) {
        let n = self.next_n;
        self.next_n += 1;
        let session = self.sessions[w].to_string();
        let seq = (!self.seq_unknown[w]).then_some(self.next_seq[w]);
        self.history.attempt(&session, n, seq);
        self.next_seq[w] += 1;
        self.mark();
        (n, session)
    }

    /// After writer `w` failed: closes it (a poisoned writer's close fails,
    /// and that is expected) and opens it again in this process, same
    /// session. The seqs of its next events are no longer predicted: the
    /// failure may or may not have used some.
    pub fn reopen_after_failure(&mut self, w: usize) -> Result<(), String> {
        if let Some(s) = self.stores[w].take() {
            let _ = s.close();
        }
        self.seq_unknown[w] = true;
        let r = self.open(w);
        self.note_durable(w);
        r
    }

    /// Closes every open writer, reporting the first error.
    pub fn close_all(&mut self) -> Result<(), String> {
        let mut first = Ok(());
        for w in 0..self.stores.len() {
            if self.stores[w].is_some()
                && let Err(e) = self.step(Step::Close(w))
                && first.is_ok()
            {
                first = Err(e);
            }
        }
        first
    }

    /// Drops every writer without closing (the process died): nothing more
    /// reaches the disk from them.
    pub fn abandon(&mut self) -> Vec<FileStore> {
        self.stores.iter_mut().filter_map(Option::take).collect()
    }
}

/// Runs `w` to its end (closing its writers) on a new recording disk and a
/// new store path: the run (its history and path) and the state after
/// every operation; `Err` if a step failed.
pub fn record(w: &Workload) -> Result<(Run, Vec<Recorded>), String> {
    let fs = SimFs::default();
    fs.record();
    let mut run = Run::new(fs.clone(), &fresh_store_path(), w);
    let outcome = run.run_all(&w.steps).and_then(|()| run.close_all());
    let recording = fs.take_recording();
    outcome.map(|()| (run, recording))
}

/// Compresses every sealed segment of the store at `path` (what the
/// compressor thread does); how many it compressed.
pub fn compress_all(fs: &SimFs, path: &Path) -> Result<usize, String> {
    let layout = Layout::new(path)?;
    let listing = layout.list(fs).map_err(|e| format!("list: {e}"))?;
    if !listing.all.iter().any(|s| s.kind == SegmentKind::Sealed) {
        return Ok(0);
    }
    let lock = scout_audit_store_file::fs::Fs::open_lock(fs, &layout.lock(), true)
        .map_err(|e| format!("open lock: {e}"))?;
    let mut n = 0;
    for seg in listing.all.iter().filter(|s| s.kind == SegmentKind::Sealed) {
        if compress_segment(fs, &layout, seg, Some(&*lock)).map_err(|e| e.to_string())? {
            n += 1;
        }
    }
    Ok(n)
}

/// What a recovering writer did.
#[derive(Debug)]
pub struct Recovered {
    /// Recovery's report.
    pub report: RecoveryReport,
    /// The probe event's key and seq (a new writer appending after recovery).
    pub probe: (u64, u64),
}

/// Opens the store at `path` as a new process after a crash (recovery
/// runs), compresses what recovery left to compress, logs one `sync` probe
/// event and closes, recording the probe in `history` under `session`.
pub fn recover_and_probe(
    fs: &SimFs,
    path: &Path,
    session: &str,
    history: &mut History,
    probe_n: u64,
) -> Result<Recovered, String> {
    fs.set_mark(history.len());
    let clock = Arc::new(ManualClock::new(start_time()));
    let store = FileStore::builder(path)
        .seal_interval(SealInterval::OFF)
        .file_system(Arc::new(fs.clone()))
        .clock(clock)
        .durability(Durability::Sync)
        .compression(Compression::Off)
        .session(SessionId::new(session))
        .open()
        .map_err(|e| format!("reopen failed: {e}"))?;
    let report = store.recovery_report().clone();
    compress_all(fs, path).map_err(|e| format!("compression after recovery failed: {e}"))?;
    history.attempt(session, probe_n, Some(0));
    fs.set_mark(history.len());
    let r = store
        .append(event_for(probe_n))
        .map_err(|e| format!("append after recovery failed: {e}"))?;
    history.ack(session, r.seq, probe_n);
    history.durable(session, r.seq);
    fs.set_mark(history.len());
    store
        .close()
        .map_err(|e| format!("close after recovery failed: {e}"))?;
    Ok(Recovered {
        report,
        probe: (probe_n, r.seq),
    })
}
