//! The tamper campaign (issue 10, item 7): real sealed file stores, one
//! random tampering per trial, and `verify --key`'s check with the true
//! verification key ([`keyed`]: the one read of `verify_keyed`, as the
//! CLI runs it) must report it, located where the kind allows
//! (decision 72's rule, computed on a model of the store); untampered
//! stores (unsealed lines after the last seal, torn tails recovered,
//! rotations and seals after the base's) must verify clean.
//!
//! A few base stores are built once ([`base`]); each trial copies one into
//! a scratch directory (on `/dev/shm` when there is one) and changes the
//! copy ([`attack`]). Every trial has its own seed, derived from the run's
//! seed and its number, so a failure is replayed by its seed whatever the
//! number of threads.
//!
//! ```no_run
//! use scout_audit_testkit::tamper::{self, Options};
//!
//! let report = tamper::run(&Options { trials: 200, clean: 20, ..Options::default() }).unwrap();
//! println!("{report}");
//! assert!(report.passed());
//! ```

pub mod attack;
pub mod base;
mod clean;
pub mod kind;
pub mod log_edit;
pub mod model;
mod retired;
mod rollback;

use std::fmt;
use std::path::{Path, PathBuf};

use scout_audit_seal::note::{EpochChain, Verifier};
use scout_audit_store_file::Layout;
use scout_audit_store_file::fs::RealFs;
use scout_audit_store_file::seal::{self, SealReport, Tampering, Workers};

use crate::rng::{Rng, splitmix64};
use attack::{Applied, Expect, Target};
use base::Base;
pub use kind::{Kind, NOT_YET};

/// How much to run.
#[derive(Clone, Debug)]
pub struct Options {
    /// Tamperings to try (spread evenly over [`Kind::ALL`]).
    pub trials: u64,
    /// Untampered stores to verify.
    pub clean: u64,
    /// The run's seed.
    pub seed: u64,
    /// Base stores to build.
    pub bases: u64,
    /// More base stores, whose oldest archives retention retires under
    /// seal (for the retire kinds and the untampered leg).
    pub retired_bases: u64,
    /// Worker threads.
    pub threads: usize,
}

impl Default for Options {
    fn default() -> Options {
        Options {
            trials: 10_000,
            clean: 1_000,
            seed: 1,
            bases: 6,
            retired_bases: 2,
            threads: std::thread::available_parallelism().map_or(2, |n| n.get().min(4)),
        }
    }
}

/// The figures of one kind.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct KindFigures {
    /// Tamperings tried.
    pub tried: u64,
    /// Reported as tampering (or, for a downgrade that removed the seal
    /// log, refused as not sealed).
    pub detected: u64,
    /// Detected and located exactly where the model says (for the kinds
    /// verify locates; otherwise: detected naming no segment).
    pub located: u64,
}

/// What a campaign found.
#[derive(Clone, Debug, Default)]
pub struct Report {
    /// The run's seed.
    pub seed: u64,
    /// Figures per kind, in [`Kind::ALL`] order.
    pub kinds: Vec<(Kind, KindFigures)>,
    /// Untampered stores verified.
    pub clean: u64,
    /// Untampered stores reported as tampered, or with wrong counts.
    pub false_alarms: u64,
    /// The first failures (missed, mislocated, false alarms), with seeds.
    pub examples: Vec<String>,
}

/// Examples kept in a report.
const MAX_EXAMPLES: usize = 20;

impl Report {
    /// Every tampering detected and located, no false alarm.
    pub fn passed(&self) -> bool {
        self.false_alarms == 0
            && self
                .kinds
                .iter()
                .all(|(_, f)| f.detected == f.tried && f.located == f.tried)
    }

    /// Tamperings tried in all.
    pub fn tried(&self) -> u64 {
        self.kinds.iter().map(|(_, f)| f.tried).sum()
    }

    /// The kinds with a tampering not detected.
    pub fn missed(&self) -> Vec<Kind> {
        self.kinds
            .iter()
            .filter(|(_, f)| f.detected < f.tried)
            .map(|(k, _)| *k)
            .collect()
    }

    /// Adds another run's figures and examples to this one's.
    pub fn merge(&mut self, o: Report) {
        for ((_, f), (_, g)) in self.kinds.iter_mut().zip(o.kinds) {
            f.tried += g.tried;
            f.detected += g.detected;
            f.located += g.located;
        }
        self.clean += o.clean;
        self.false_alarms += o.false_alarms;
        for e in o.examples {
            self.note(e);
        }
    }

    fn note(&mut self, e: String) {
        if self.examples.len() < MAX_EXAMPLES {
            self.examples.push(e);
        }
    }
}

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "tamper campaign, seed {}", self.seed)?;
        writeln!(
            f,
            "{:<28} {:>7} {:>9} {:>8}",
            "kind", "tried", "detected", "located"
        )?;
        for (k, g) in &self.kinds {
            let located = if k.shows_located() {
                g.located.to_string()
            } else {
                "-".to_owned()
            };
            writeln!(
                f,
                "{:<28} {:>7} {:>9} {:>8}",
                k.name(),
                g.tried,
                g.detected,
                located
            )?;
        }
        let detected: u64 = self.kinds.iter().map(|(_, g)| g.detected).sum();
        writeln!(f, "{:<28} {:>7} {:>9}", "all", self.tried(), detected)?;
        writeln!(
            f,
            "untampered stores: {}, false alarms: {}",
            self.clean, self.false_alarms
        )?;
        writeln!(f, "not in this campaign yet:")?;
        for n in NOT_YET {
            writeln!(f, "  - {n}")?;
        }
        for e in &self.examples {
            writeln!(f, "FAILED: {e}")?;
        }
        Ok(())
    }
}

/// The seed of trial `i` of a run seeded `seed` (`clean`: an untampered
/// trial).
pub fn trial_seed(seed: u64, i: u64, clean: bool) -> u64 {
    let mut s = seed ^ i.wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ u64::from(clean);
    splitmix64(&mut s)
}

/// A scratch directory: under `/dev/shm` when it exists, else the
/// system's temp directory.
pub fn scratch(prefix: &str) -> Result<tempfile::TempDir, String> {
    let shm = Path::new("/dev/shm");
    let mut b = tempfile::Builder::new();
    b.prefix(prefix);
    let made = if shm.is_dir() {
        b.tempdir_in(shm)
    } else {
        b.tempdir()
    };
    made.map_err(|e| format!("a scratch directory: {e}"))
}

/// Runs the campaign.
pub fn run(opts: &Options) -> Result<Report, String> {
    let root = scratch("scout-tamper-")?;
    let mut bases = Vec::new();
    let mut rng = Rng::new(opts.seed);
    for i in 0..opts.bases.max(1) {
        let dir = root.path().join(format!("base-{i}"));
        std::fs::create_dir(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
        bases.push(base::build(&dir, &mut rng, 3 + i % 3)?);
    }
    for i in 0..opts.retired_bases {
        let dir = root.path().join(format!("retired-{i}"));
        std::fs::create_dir(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
        bases.push(base::build_with(&dir, &mut rng, 4 + i % 2, true)?);
    }
    let wrong: Vec<Verifier> = (0..3)
        .map(|_| EpochChain::init("scout-audit/other").map(|(_, v)| v))
        .collect::<Result<_, _>>()
        .map_err(|e| e.to_string())?;
    let threads = opts.threads.max(1) as u64;
    let results: Vec<Result<Report, String>> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..threads)
            .map(|w| {
                let (bases, wrong, root) = (&bases, &wrong, root.path());
                s.spawn(move || worker(opts, w, threads, bases, wrong, root))
            })
            .collect();
        handles
            .into_iter()
            .map(|h| {
                h.join()
                    .unwrap_or_else(|_| Err("a worker panicked".to_owned()))
            })
            .collect()
    });
    let mut report = empty(opts.seed);
    for r in results {
        report.merge(r?);
    }
    Ok(report)
}

fn empty(seed: u64) -> Report {
    Report {
        seed,
        kinds: Kind::ALL
            .iter()
            .map(|&k| (k, KindFigures::default()))
            .collect(),
        ..Report::default()
    }
}

fn worker(
    opts: &Options,
    w: u64,
    threads: u64,
    bases: &[Base],
    wrong: &[Verifier],
    root: &Path,
) -> Result<Report, String> {
    let dir: PathBuf = root.join(format!("work-{w}"));
    std::fs::create_dir(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    let layout = Base::layout_in(&dir)?;
    let mut report = empty(opts.seed);
    for i in (w..opts.trials).step_by(threads as usize) {
        let seed = trial_seed(opts.seed, i, false);
        let mut rng = Rng::new(seed);
        let kind = Kind::ALL[(i % Kind::ALL.len() as u64) as usize];
        let usable: Vec<&Base> = bases.iter().filter(|b| usable(b, kind)).collect();
        let b = *usable
            .get(rng.below(usable.len() as u64) as usize)
            .ok_or_else(|| format!("no base store fits {}", kind.name()))?;
        base::copy_store(&b.dir, &dir)?;
        let t = Target {
            base: b,
            layout: layout.clone(),
            wrong_keys: wrong,
        };
        let applied = attack::apply(kind, &t, &mut rng)
            .map_err(|e| format!("{} (seed {seed}): {e}", kind.name()))?;
        let got = keyed(&layout, &applied.key);
        let anchors = if applied.checkpoints.is_empty() {
            Ok(Vec::new())
        } else {
            seal::verify_checkpoints(&RealFs, &layout, &applied.key, &applied.checkpoints)
        };
        let (detected, located) = match (&applied.expect, &got, &anchors) {
            (Expect::Anchor(why), Ok(r), Ok(v)) => judge_anchor(why, r, v),
            (Expect::Anchor(_), _, _) => (false, false),
            _ => judge(&applied, &got),
        };
        let fig = &mut report.kinds[(i % Kind::ALL.len() as u64) as usize].1;
        fig.tried += 1;
        fig.detected += u64::from(detected);
        fig.located += u64::from(located);
        if !(detected && located) {
            report.note(format!(
                "{} (trial {i}, seed {seed}): {}; expected {:?}, got {:?}",
                kind.name(),
                applied.what,
                applied.expect,
                got.map(|r| r.tampering).map_err(|e| e.to_string()),
            ));
            if !applied.checkpoints.is_empty() {
                report.note(format!("  checkpoints: {anchors:?}"));
            }
        }
    }
    for i in (w..opts.clean).step_by(threads as usize) {
        let seed = trial_seed(opts.seed, i, true);
        let b = &bases[(i % bases.len() as u64) as usize];
        base::copy_store(&b.dir, &dir)?;
        report.clean += 1;
        if let Err(e) = clean::trial(b, &layout, i, &mut Rng::new(seed))
            .and_then(|()| clean::anchored(b, &layout))
        {
            report.false_alarms += 1;
            report.note(format!("untampered store (trial {i}, seed {seed}): {e}"));
        }
    }
    Ok(report)
}

/// Whether a base can take a kind (two archives to swap, two epochs with
/// seals to reseal over, two seals to roll back between, retires).
fn usable(b: &Base, kind: Kind) -> bool {
    let archives = b.model.segs.iter().filter(|s| s.gz).count();
    if kind.needs_retire() != b.retired.is_some() {
        return false;
    }
    match kind {
        Kind::Rollback | Kind::TailCut => b.seals.len() >= 2,
        Kind::ArchiveRemovedPastRetire => b.retired.is_some_and(|r| {
            b.model
                .segs
                .iter()
                .any(|s| s.gz && s.number > r.segment + 1)
        }),
        Kind::ArchivesSwapped => archives >= 2,
        Kind::RetireRemoved => b.retires >= 2,
        Kind::ResealOlderEpoch => b.seal_epochs.first() != b.seal_epochs.last(),
        _ => archives >= 1,
    }
}

/// Whether the block verify named starts at or after decision 72's line
/// and holds the first line that departs from the failing seal.
fn in_block(span: &scout_audit_store_file::seal::Span, d: &model::Departure) -> bool {
    let index = |p: &scout_audit_store_file::seal::LinePos| {
        d.places
            .iter()
            .position(|(name, line)| *name == p.segment && *line == p.line)
    };
    match (index(&span.first), index(&span.last)) {
        (Some(a), Some(b)) => a >= d.from && a <= d.first && d.first <= b,
        _ => false,
    }
}

/// For a rollback or a cut tail: detected when `verify --key` finds
/// tampering (it must name no segment: the cut took a certificate) or a
/// checkpoint is refused; located when that refusal gives the reason the
/// model predicts.
/// The sealed report of `verify --key` as the CLI computes it: the plain
/// verify and the sealed check from one read of each segment
/// (`verify::verify_keyed`), on every core. The plain report is not
/// judged here (a tampered line may well be malformed too).
pub(crate) fn keyed(layout: &Layout, key: &Verifier) -> scout_audit_store_file::Result<SealReport> {
    let fs: std::sync::Arc<dyn scout_audit_store_file::fs::Fs> = std::sync::Arc::new(RealFs);
    scout_audit_store_file::verify::verify_keyed(fs, layout, key, Workers::auto()).1
}

fn judge_anchor(
    why: &str,
    r: &SealReport,
    verdicts: &[Result<seal::Anchored, Tampering>],
) -> (bool, bool) {
    if let Some(t) = &r.tampering {
        return (true, t.segment.is_none());
    }
    match verdicts.iter().find_map(|v| v.as_ref().err()) {
        Some(t) => (true, t.segment.is_none() && t.what.starts_with(why)),
        None => (false, false),
    }
}

/// Whether verify's answer detects the tampering, and locates it as
/// expected.
fn judge(a: &Applied, got: &scout_audit_store_file::Result<SealReport>) -> (bool, bool) {
    match (&a.expect, got) {
        (Expect::NotSealed, Err(e)) => {
            let ok = e.to_string().contains("the store is not sealed");
            (ok, ok)
        }
        (_, Err(_)) | (Expect::NotSealed, Ok(_)) => (false, false),
        (expect, Ok(r)) => {
            let Some(t) = &r.tampering else {
                return (false, false);
            };
            let at = (t.segment.clone(), t.line);
            let located = match expect {
                Expect::Line(want, departure) => match (&t.span, departure) {
                    (Some(span), Some(d)) => in_block(span, d),
                    _ => {
                        at == want
                            .clone()
                            .map_or((None, None), |(s, l)| (Some(s), Some(l)))
                    }
                },
                Expect::Segment(name) => at == (Some(name.clone()), None),
                Expect::Reason(why) => at == (None, None) && t.what.starts_with(why.as_str()),
                _ => at == (None, None),
            };
            (true, located)
        }
    }
}
