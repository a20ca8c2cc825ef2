//! `cargo xtask tamper`: the long mode of the tamper campaign (issue 10,
//! item 7; the campaign is `scout_audit_testkit::tamper`). It runs in
//! rounds of at most [`ROUND`] tamperings, each round on base stores of its
//! own (built from the round's seed), and prints the figures per kind.

use std::time::Instant;

use scout_audit_testkit::tamper::{self, Kind, Options, Report};

/// Tamperings per round (each round builds new base stores).
pub const ROUND: u64 = 500 * Kind::ALL.len() as u64;

/// What to run.
#[derive(Clone, Debug)]
pub struct TamperOptions {
    /// Tamperings in all.
    pub trials: u64,
    /// Untampered stores in all.
    pub clean: u64,
    /// The run's seed (round `r` runs with a seed derived from it).
    pub seed: u64,
    /// Worker threads.
    pub threads: usize,
}

/// Runs the campaign in rounds, calling `progress` after each; returns
/// the report of every round merged.
pub fn run(o: &TamperOptions, mut progress: impl FnMut(&Report)) -> anyhow::Result<Report> {
    let rounds = o
        .trials
        .div_ceil(ROUND)
        .max(o.clean.div_ceil(ROUND / 10))
        .max(1);
    let mut all: Option<Report> = None;
    for r in 0..rounds {
        let share = |total: u64| total / rounds + u64::from(r < total % rounds);
        let opts = Options {
            trials: share(o.trials),
            clean: share(o.clean),
            seed: tamper::trial_seed(o.seed, r, false),
            threads: o.threads.max(1),
            ..Options::default()
        };
        let started = Instant::now();
        let report = tamper::run(&opts).map_err(anyhow::Error::msg)?;
        eprintln!(
            "  round {}/{rounds} (seed {}): {} tamperings, {} missed, {} untampered, {} false alarms ({:.0} s)",
            r + 1,
            opts.seed,
            report.tried(),
            report.missed().len(),
            report.clean,
            report.false_alarms,
            started.elapsed().as_secs_f64()
        );
        match &mut all {
            Some(a) => a.merge(report),
            None => all = Some(report),
        }
        if let Some(a) = &all {
            progress(a);
        }
    }
    let mut all = all.unwrap_or_default();
    all.seed = o.seed;
    Ok(all)
}
