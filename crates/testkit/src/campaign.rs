//! The simulated power-loss campaign: every crash point of a workload,
//! several damage seeds per point, recovery checked, and crashes again at
//! points inside recovery.
//!
//! For each workload: run it once on a recording [`SimFs`]; the state after
//! each mutating operation (and the empty start) is a crash point. For each
//! point and seed, [`SimState::crash`] makes a damaged disk; then
//!
//! 1. a reader on the damaged store (before any recovery) must not fail,
//!    and what it returns must pass [`check`] (D ⊆ R already);
//! 2. a writer opens the store (recovery runs), compresses what is left,
//!    appends a probe event with `sync` and closes: the open must succeed,
//!    a quarantined torn tail must hold exactly the bytes cut off the live
//!    file, and a reader must then pass [`check`], see no torn tail, and
//!    see the probe last;
//! 3. opening again does nothing (recovery is idempotent) and the store
//!    reads the same;
//! 4. at up to `recovery_points` operations of step 2 the disk crashes
//!    again, with damage, and steps 1 and 2 are checked on that disk.
//!
//! Every state counted in [`Report::states`] went through these checks.
//! A state of a store set up for sealing goes through [`seal`]'s checks
//! as well (counted in [`Report::seal`]).

pub mod seal;

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use scout_audit_core::{Durability, ManualClock, Record, SessionId};
use scout_audit_store_file::fs::Fs;
use scout_audit_store_file::options::Compression;
use scout_audit_store_file::options::SealInterval;
use scout_audit_store_file::recovery::{Quarantined, RecoveryReport};
use scout_audit_store_file::{FileStore, Layout, ReadReport, Reader};

use crate::history::{Findings, History, Loss, Violation, check, key_of};
use crate::rng::{Rng, splitmix64};
use crate::sim::{CrashReport, DirDamage, FileDamage, Recorded, SimFs, SimState};
use crate::workload::{Workload, record, recover_and_probe, start_time};
use seal::{SealCounts, SealExpect};

/// How thorough a campaign is.
#[derive(Clone, Copy, Debug)]
pub struct Options {
    /// Damage seeds per crash point. Seed 0 keeps everything unsynced (a
    /// process crash), seed 1 drops everything unsynced; the others draw
    /// per file and directory.
    pub seeds: u64,
    /// At how many operations of each recovery (spread evenly) the disk
    /// crashes again (0: never).
    pub recovery_points: usize,
    /// The seed of everything random.
    pub seed: u64,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            seeds: 8,
            recovery_points: 4,
            seed: 1,
        }
    }
}

/// What a campaign did and found.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Report {
    /// Workloads run.
    pub workloads: u64,
    /// Crash points enumerated (operations of the workloads, plus their start).
    pub crash_points: u64,
    /// Crash states checked: damaged disks recovered and checked, including
    /// those crashed again during recovery.
    pub states: u64,
    /// Of `states`, those crashed during a recovery.
    pub recovery_crash_states: u64,
    /// Invariant violations found.
    pub found: Findings,
    /// Files with unsynced writes, by what a crash did to them.
    pub file_damage: BTreeMap<String, u64>,
    /// Directories with pending operations, by what a crash did to them.
    pub dir_damage: BTreeMap<String, u64>,
    /// Directory operations lost.
    pub lost_dir_ops: u64,
    /// File writes lost.
    pub lost_writes: u64,
    /// Sectors garbled.
    pub garbled_sectors: u64,
    /// Recoveries that quarantined a torn tail.
    pub quarantined: u64,
    /// Recoveries that finished an interrupted compression.
    pub finished_compressions: u64,
    /// Recoveries that removed a stale `.gz.tmp`.
    pub removed_partials: u64,
    /// Crash states whose reader reported damage (holes, torn fragments).
    pub damage_reported: u64,
    /// Acknowledged, not yet durable events lost (allowed by the contract).
    pub lost_acknowledged: u64,
    /// What the sealing checks did.
    pub seal: SealCounts,
}

impl Report {
    /// Adds another report's counts.
    pub fn merge(&mut self, o: &Report) {
        self.workloads += o.workloads;
        self.crash_points += o.crash_points;
        self.states += o.states;
        self.recovery_crash_states += o.recovery_crash_states;
        self.found.merge(&o.found);
        for (k, v) in &o.file_damage {
            *self.file_damage.entry(k.clone()).or_default() += v;
        }
        for (k, v) in &o.dir_damage {
            *self.dir_damage.entry(k.clone()).or_default() += v;
        }
        self.lost_dir_ops += o.lost_dir_ops;
        self.lost_writes += o.lost_writes;
        self.garbled_sectors += o.garbled_sectors;
        self.quarantined += o.quarantined;
        self.finished_compressions += o.finished_compressions;
        self.removed_partials += o.removed_partials;
        self.damage_reported += o.damage_reported;
        self.lost_acknowledged += o.lost_acknowledged;
        self.seal.merge(&o.seal);
    }

    fn damage(&mut self, c: &CrashReport) {
        for m in c.files.values() {
            *self.file_damage.entry(format!("{m:?}")).or_default() += 1;
        }
        for m in c.dirs.values() {
            *self.dir_damage.entry(format!("{m:?}")).or_default() += 1;
        }
        self.lost_dir_ops += c.lost_dir_ops as u64;
        self.lost_writes += c.lost_writes as u64;
        self.garbled_sectors += c.garbled_sectors as u64;
    }

    fn violation(&mut self, label: &str, v: &Violation) {
        self.found.add(label, v);
    }

    /// One line of counts.
    pub fn summary_line(&self) -> String {
        format!(
            "{} workloads, {} crash points, {} crash states checked ({} crashed again during recovery; {} with sealing: {} verify_sealed runs, {} false alarms), {} violations",
            self.workloads,
            self.crash_points,
            self.states,
            self.recovery_crash_states,
            self.seal.states,
            self.seal.verify_runs,
            self.seal.false_alarms,
            self.found.count
        )
    }
}

/// A number unique in this process (sessions and probe keys of recoveries:
/// the store's registry is keyed by path and session).
pub(crate) fn unique() -> u64 {
    static NEXT: AtomicU64 = AtomicU64::new(0);
    NEXT.fetch_add(1, Ordering::SeqCst)
}

fn mix(a: u64, b: u64, c: u64) -> u64 {
    let mut s = a ^ splitmix64(&mut b.wrapping_add(0x1234)) ^ c.rotate_left(32);
    splitmix64(&mut s)
}

/// Every record of the store and the read report; an error if the reader
/// failed (it must not, whatever the damage).
pub fn read_store(fs: Arc<dyn Fs>, layout: &Layout) -> Result<(Vec<Record>, ReadReport), String> {
    let mut out = Vec::new();
    let report = Reader::open_store(fs, layout.clone())
        .map_err(|e| format!("reader failed to open: {e}"))?
        .for_each_record(|r| out.push(r))
        .map_err(|e| format!("reader failed: {e}"))?;
    Ok((out, report))
}

/// Acknowledged events of `hist` that `records` lacks.
fn lost_acked(hist: &History, records: &[Record]) -> u64 {
    let present: std::collections::BTreeSet<(&str, u64)> = records
        .iter()
        .filter_map(|r| Some((r.session_id()?, r.seq()?)))
        .collect();
    let summary = hist.summary();
    let mut lost = 0;
    for (s, ss) in &summary.sessions {
        lost += ss
            .acked
            .keys()
            .filter(|q| !present.contains(&(s.as_str(), **q)))
            .count() as u64;
    }
    lost
}

/// Reads the store and checks it against `hist` ([`check`] with `loss`);
/// a hole is acceptable only where the reader reports damage.
fn read_and_check(
    fs: &SimFs,
    layout: &Layout,
    hist: &History,
    loss: Loss,
) -> Result<(Vec<Record>, ReadReport, Vec<Violation>), Violation> {
    let (recs, rep) = read_store(Arc::new(fs.clone()), layout).map_err(|e| Violation {
        kind: "reader-failed",
        detail: e,
    })?;
    let vs = check(&hist.summary(), &recs, loss, rep.problem_count() > 0);
    Ok((recs, rep, vs))
}

/// Runs the campaign over one workload.
pub fn run(w: &Workload, opts: &Options) -> Report {
    let mut report = Report {
        workloads: 1,
        ..Report::default()
    };
    let (run, recording) = match record(w) {
        Ok(r) => r,
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
    let path = run.path.clone();
    let world = run.fs.state();
    let layout = Layout::new(&path).ok();
    // The first crash point: before anything happened.
    let mut points: Vec<(SimState, String, u64)> =
        vec![(SimState::default(), "nothing yet".into(), 0)];
    points.extend(recording.into_iter().map(|r| (r.state, r.op, r.mark)));
    report.crash_points = points.len() as u64;
    for (p, (state, op, mark)) in points.iter().enumerate() {
        let hist = run.history.truncated(*mark);
        for seed in 0..opts.seeds {
            let mut rng = Rng::new(mix(opts.seed, p as u64, seed));
            let uniform = match seed {
                0 => Some((FileDamage::Keep, DirDamage::Keep)),
                1 => Some((FileDamage::Drop, DirDamage::Drop)),
                _ => None,
            };
            let (image, crash) = state.crash_with(&mut rng, uniform);
            report.damage(&crash);
            let label = format!("{}: crash after op {p} ({op}), seed {seed}", w.name);
            let sealed = layout
                .as_ref()
                .and_then(|l| SealExpect::at(run.sealing.as_ref(), state.ops(), &world, l));
            // Seed 0 keeps everything the kernel held: a kill -9, checked
            // as one; the others lose power.
            let loss = if seed == 0 {
                Loss::Process
            } else {
                Loss::Power
            };
            check_crash(
                &image,
                &path,
                &hist,
                opts,
                &mut rng,
                &label,
                &mut report,
                Some(loss),
                sealed,
            );
        }
    }
    report
}

/// Checks one crash state (see the module docs); with `again`, also crashes
/// during its recovery. `sealed`: what a sealed store's state must keep.
#[allow(clippy::too_many_arguments)]
fn check_crash(
    image: &SimState,
    path: &Path,
    hist: &History,
    opts: &Options,
    rng: &mut Rng,
    label: &str,
    report: &mut Report,
    first: Option<Loss>,
    sealed: Option<SealExpect>,
) {
    // The first crash of a state (what it lost, and it crashes again during
    // recovery), or a crash during recovery (a power loss, not repeated).
    let (loss, again) = match first {
        Some(l) => (l, true),
        None => (Loss::Power, false),
    };
    report.states += 1;
    let layout = match Layout::new(path) {
        Ok(l) => l,
        Err(e) => {
            report.violation(
                label,
                &Violation {
                    kind: "bad-path",
                    detail: e,
                },
            );
            return;
        }
    };
    // 1. Reading the damaged store, before recovery.
    check_damaged(image, &layout, hist, loss, label, report);
    let mut sealing = sealed.map(|want| Sealer::new(image, &layout, want, rng, report));
    // 2. Recovery by a new writer, and its probe (sealed before or after).
    let fs = SimFs::new(image.clone());
    if again && opts.recovery_points > 0 {
        fs.record();
    }
    let mut h2 = hist.clone();
    let recovered = recover_sealing(&fs, path, &layout, &mut h2, sealing.as_mut(), label, report);
    let recording = fs.take_recording();
    let recovered = match recovered {
        Ok(r) => r,
        Err(e) => {
            report.violation(
                label,
                &Violation {
                    kind: "reopen-failed",
                    detail: e,
                },
            );
            return;
        }
    };
    check_recovery_report(image, &fs, &layout, &recovered.report, label, report);
    // 3. Reading after recovery.
    let after = check_recovered(&fs, &layout, &h2, loss, recovered.probe.0, label, report);
    // 4. Idempotence.
    if let Some(recs) = after {
        idempotent(&fs, path, &layout, &recs, label, report);
    }
    // 5. Crashing again, during recovery.
    if again && opts.recovery_points > 0 && !recording.is_empty() {
        let during = DuringRecovery {
            recording: &recording,
            history: &h2,
            path,
            label,
            sealing: sealing.map(|s| s.next(&fs, &layout)),
        };
        during.crash_again(opts, rng, report);
    }
}

/// Step 2: a writer's recovery and probe, with the sealing checks when
/// the store is sealed (a seal before the recovery or not, verify, seal
/// again, verify).
fn recover_sealing(
    fs: &SimFs,
    path: &Path,
    layout: &Layout,
    h2: &mut History,
    mut sealing: Option<&mut Sealer>,
    label: &str,
    report: &mut Report,
) -> Result<crate::workload::Recovered, String> {
    fs.set_mark(h2.len());
    if let Some(s) = sealing.as_mut().filter(|s| s.first) {
        s.seal(fs, layout, report);
    }
    let id = unique();
    let session = format!("recovery-{id}");
    let recovered = recover_and_probe(fs, path, &session, h2, (1 << 40) + id);
    if let (Some(s), Ok(_)) = (sealing, &recovered) {
        s.verify(fs, layout, "after recovery", false, report);
        s.seal(fs, layout, report);
        s.verify(fs, layout, "after sealing again", true, report);
        s.flush(label, report);
    }
    recovered
}

/// The sealing checks of one crash state ([`seal`]'s module docs), and
/// what a crash inside them must keep.
struct Sealer {
    want: SealExpect,
    /// The acknowledged size the crash state started from.
    start_acked: u64,
    /// Whether `seal_now` runs before the writer's recovery.
    first: bool,
    /// Whether its clock is past the epoch's end.
    late: bool,
    /// The image's torn seal-log tail (empty: none).
    torn: Vec<u8>,
    /// The seals acknowledged after the crash: operation count, size.
    acks: Vec<(u64, u64)>,
    found: Vec<Violation>,
}

impl Sealer {
    /// Checks the damaged disk's seal log (step 1 of [`seal`]).
    fn new(
        image: &SimState,
        layout: &Layout,
        want: SealExpect,
        rng: &mut Rng,
        report: &mut Report,
    ) -> Sealer {
        let mut found = Vec::new();
        let torn = seal::check_image(image, layout, &want, &mut report.seal, &mut found);
        let first = rng.below(2) == 0;
        report.seal.sealed_before_recovery += u64::from(first);
        Sealer {
            start_acked: want.acked,
            want,
            first,
            late: rng.below(2) == 0,
            torn,
            acks: Vec::new(),
            found,
        }
    }

    fn seal(&mut self, fs: &SimFs, layout: &Layout, report: &mut Report) {
        let r = seal::seal_after_crash(fs, layout, self.late, &mut report.seal, &mut self.found);
        if let Some(ack) = r {
            self.want.acked = self.want.acked.max(ack.0);
            self.acks.push((ack.1, ack.0));
        }
    }

    fn verify(&mut self, fs: &SimFs, layout: &Layout, when: &str, all: bool, report: &mut Report) {
        seal::verify(
            fs,
            layout,
            &self.want,
            when,
            all,
            &mut report.seal,
            &mut self.found,
        );
    }

    /// Reports what was found.
    fn flush(&mut self, label: &str, report: &mut Report) {
        for v in self.found.drain(..) {
            report.violation(&format!("{label}, sealing"), &v);
        }
    }

    /// What a crash during this state's recovery must keep, as of its end.
    fn next(self, fs: &SimFs, layout: &Layout) -> AfterSeal {
        let mut torn = self.want.torn.clone();
        if !self.torn.is_empty() {
            torn.push(self.torn.clone());
        }
        AfterSeal {
            base: SealExpect {
                key: self.want.key.clone(),
                acked: 0,
                world_log: seal::next_world(fs, layout),
                torn,
            },
            acked_before: self.start_acked,
            every_op: !self.torn.is_empty(),
            acks: self.acks,
        }
    }
}

/// What the crash states inside a sealed recovery must keep.
struct AfterSeal {
    base: SealExpect,
    acked_before: u64,
    /// Whether to crash at every operation of the recovery (its state had
    /// a torn seal-log tail, whose cutting must lose no byte at any point).
    every_op: bool,
    /// Seals acknowledged during the recovery: operation count, size.
    acks: Vec<(u64, u64)>,
}

impl AfterSeal {
    /// The expectation at a state of `ops` operations.
    fn at(&self, ops: u64) -> SealExpect {
        let acked = self
            .acks
            .iter()
            .filter(|a| a.0 <= ops)
            .map(|a| a.1)
            .fold(self.acked_before, u64::max);
        SealExpect {
            acked,
            ..self.base.clone()
        }
    }
}

/// A recovery recorded at each of its operations, to crash it again.
struct DuringRecovery<'a> {
    recording: &'a [Recorded],
    /// The history the recovery continued.
    history: &'a History,
    path: &'a Path,
    /// The crash state being recovered.
    label: &'a str,
    /// What its crash states must keep of sealing, if sealed.
    sealing: Option<AfterSeal>,
}

impl DuringRecovery<'_> {
    /// Step 5: crashes at `opts.recovery_points` of the recovery's states,
    /// evenly spread, each checked as a crash state of its own.
    fn crash_again(&self, opts: &Options, rng: &mut Rng, report: &mut Report) {
        let recording = self.recording;
        let k = if self.sealing.as_ref().is_some_and(|s| s.every_op) {
            recording.len()
        } else {
            opts.recovery_points.min(recording.len())
        };
        for i in 0..k {
            let j = i * recording.len() / k;
            let r = &recording[j];
            let (image2, crash) = r.state.crash(rng);
            report.damage(&crash);
            report.recovery_crash_states += 1;
            let h3 = self.history.truncated(r.mark);
            check_crash(
                &image2,
                self.path,
                &h3,
                opts,
                rng,
                &format!(
                    "{}, crashed again after recovery op {j} ({})",
                    self.label, r.op
                ),
                report,
                None,
                self.sealing.as_ref().map(|s| s.at(r.state.ops())),
            );
        }
    }
}

/// Step 1: the damaged store, read before recovery, keeps the invariants
/// of `loss`; counts what readers reported and what acknowledged events
/// were lost (allowed).
fn check_damaged(
    image: &SimState,
    layout: &Layout,
    hist: &History,
    loss: Loss,
    label: &str,
    report: &mut Report,
) {
    let damaged = SimFs::new(image.clone());
    match read_and_check(&damaged, layout, hist, loss) {
        Ok((recs, rep, vs)) => {
            if rep.problem_count() > 0 {
                report.damage_reported += 1;
            }
            report.lost_acknowledged += lost_acked(hist, &recs);
            for v in vs {
                report.violation(&format!("{label}, before recovery"), &v);
            }
        }
        Err(v) => report.violation(&format!("{label}, before recovery"), &v),
    }
}

/// Step 2's check: a quarantined tail holds exactly the bytes cut from
/// the live file of `image`; counts what recovery did.
fn check_recovery_report(
    image: &SimState,
    fs: &SimFs,
    layout: &Layout,
    rr: &RecoveryReport,
    label: &str,
    report: &mut Report,
) {
    if let Some(Quarantined {
        path: q,
        offset: off,
        len,
    }) = &rr.quarantined
    {
        report.quarantined += 1;
        let before = image.read(&layout.live()).unwrap_or_default();
        let want = before.get(*off as usize..(off + len) as usize);
        let got = fs.state().read(q);
        if want.is_none() || got.as_deref() != want {
            report.violation(
                label,
                &Violation {
                    kind: "quarantine-differs",
                    detail: format!(
                        "{} does not hold bytes {off}..{} of the live file",
                        q.display(),
                        off + len
                    ),
                },
            );
        }
    }
    report.finished_compressions += rr.finished_compressions.len() as u64;
    report.removed_partials += rr.removed_partials.len() as u64;
}

/// Step 3: the recovered store keeps the invariants, has no torn tail, and
/// ends with the probe (key `probe`); returns its records when readable.
fn check_recovered(
    fs: &SimFs,
    layout: &Layout,
    h2: &History,
    loss: Loss,
    probe: u64,
    label: &str,
    report: &mut Report,
) -> Option<Vec<Record>> {
    match read_and_check(fs, layout, h2, loss) {
        Ok((recs, rep, vs)) => {
            for v in vs {
                report.violation(&format!("{label}, after recovery"), &v);
            }
            if rep.torn_tails > 0 {
                report.violation(
                    label,
                    &Violation {
                        kind: "torn-tail-after-recovery",
                        detail: format!("{:?}", rep.problems),
                    },
                );
            }
            let last = recs.last().map(key_of);
            if last != Some(Ok(probe)) {
                report.violation(
                    label,
                    &Violation {
                        kind: "probe-not-last",
                        detail: format!(
                            "the last record is {:?}",
                            recs.last().map(Record::to_json_line)
                        ),
                    },
                );
            }
            Some(recs)
        }
        Err(v) => {
            report.violation(&format!("{label}, after recovery"), &v);
            None
        }
    }
}

/// Opening the store again must do nothing, and the store must read the same.
fn idempotent(
    fs: &SimFs,
    path: &Path,
    layout: &Layout,
    before: &[Record],
    label: &str,
    report: &mut Report,
) {
    let store = FileStore::builder(path)
        .seal_interval(SealInterval::OFF)
        .file_system(Arc::new(fs.clone()))
        .clock(Arc::new(ManualClock::new(start_time())))
        .durability(Durability::Sync)
        .compression(Compression::Off)
        .session(SessionId::new(format!("again-{}", unique())))
        .open();
    let store = match store {
        Ok(s) => s,
        Err(e) => {
            report.violation(
                label,
                &Violation {
                    kind: "reopen-failed",
                    detail: format!("second open: {e}"),
                },
            );
            return;
        }
    };
    let r = store.recovery_report().clone();
    if r.quarantined.is_some()
        || r.completed_last_line
        || !r.finished_compressions.is_empty()
        || !r.removed_partials.is_empty()
        || !r.to_compress.is_empty()
    {
        report.violation(
            label,
            &Violation {
                kind: "recovery-not-idempotent",
                detail: format!("the second open did more: {r:?}"),
            },
        );
    }
    if let Err(e) = store.close() {
        report.violation(
            label,
            &Violation {
                kind: "close-failed",
                detail: e.to_string(),
            },
        );
    }
    match read_store(Arc::new(fs.clone()), layout) {
        Ok((again, _)) => {
            let a: Vec<String> = before.iter().map(Record::to_json_line).collect();
            let b: Vec<String> = again.iter().map(Record::to_json_line).collect();
            if a != b {
                report.violation(
                    label,
                    &Violation {
                        kind: "recovery-not-idempotent",
                        detail: format!(
                            "{} records before the second open, {} after",
                            a.len(),
                            b.len()
                        ),
                    },
                );
            }
        }
        Err(e) => report.violation(
            label,
            &Violation {
                kind: "reader-failed",
                detail: e,
            },
        ),
    }
}

/// Runs the standard workloads, then the sealing ones and random ones
/// (half of them sealed) until `min_states` crash states are checked;
/// `progress` is called after each workload.
pub fn run_many(opts: &Options, min_states: u64, mut progress: impl FnMut(&Report)) -> Report {
    let mut total = Report::default();
    for w in Workload::standard() {
        total.merge(&run(&w, opts));
        progress(&total);
    }
    for w in Workload::sealed() {
        if total.states >= min_states {
            break;
        }
        total.merge(&run(&w, opts));
        progress(&total);
    }
    let mut rng = Rng::new(opts.seed);
    while total.states < min_states {
        let len = 10 + rng.below(30) as usize;
        let w = Workload::random(&mut rng, len);
        total.merge(&run(&w, opts));
        progress(&total);
    }
    total
}
