//! Simulated power loss (testkit's `SimFs`): the campaign over every crash
//! point of the standard workloads, and the bugs it found, each as a
//! regression test.

use std::sync::Arc;

use scout_audit_core::{Durability, Event, SessionId};
use scout_audit_store_file::{FileStore, Layout};
use scout_audit_testkit::campaign::{self, Options, read_store};
use scout_audit_testkit::rng::Rng;
use scout_audit_testkit::sim::{DirDamage, FileDamage, SimFs};

/// Found by the campaign: the store created its directory without fsyncing
/// the parent, so a power loss right after the first `sync`
/// acknowledgement in a new directory lost the directory and the record.
#[test]
fn a_new_store_directory_survives_power_loss() {
    let fs = SimFs::default();
    let path = std::path::Path::new("/home/u/.scout/audit.jsonl");
    let store = FileStore::builder(path)
        .file_system(Arc::new(fs.clone()))
        .durability(Durability::Sync)
        .session(SessionId::new("new-dir"))
        .open()
        .unwrap();
    store.append(Event::new("first")).unwrap();
    // Every un-fsynced directory operation is lost; file data is kept.
    let (image, _) = fs
        .state()
        .crash_with(&mut Rng::new(1), Some((FileDamage::Keep, DirDamage::Drop)));
    let (recs, report) =
        read_store(Arc::new(SimFs::new(image)), &Layout::new(path).unwrap()).unwrap();
    assert_eq!(report.problem_count(), 0);
    assert_eq!(recs.len(), 1);
    assert_eq!(recs[0].event(), Some("first"));
    store.close().unwrap();
}

/// The campaign (testkit `campaign`): every crash point of the standard
/// workloads (log, sync, rotate twice, compress, reopen), 8 damage seeds
/// per point, crashes again inside each recovery; at least 10,000 crash
/// states, every one checked. `cargo xtask crash --sim-states N` runs the
/// long mode.
#[test]
fn every_crash_point_of_the_standard_workloads_keeps_the_contract() {
    let opts = Options::default();
    assert!(opts.seeds >= 8);
    let t = std::time::Instant::now();
    let report = campaign::run_many(&opts, 10_000, |_| {});
    eprintln!("{} in {:?}", report.summary_line(), t.elapsed());
    assert_eq!(report.found.count, 0, "{:#?}", report.found.examples);
    assert!(report.states >= 10_000, "{}", report.summary_line());
    // The damage space was covered: every kind of file and directory
    // damage, lost directory operations, quarantined tails, interrupted
    // compressions, damage readers had to report, acknowledged events a
    // power loss may lose.
    let modes = |m: &std::collections::BTreeMap<String, u64>| m.keys().cloned().collect::<Vec<_>>();
    assert_eq!(
        modes(&report.file_damage),
        ["Drop", "Garble", "Keep", "SizeFirst", "Subset"]
    );
    assert_eq!(
        modes(&report.dir_damage),
        ["Drop", "Keep", "Prefix", "Subset"]
    );
    for (what, n) in [
        ("crashes inside recovery", report.recovery_crash_states),
        ("lost directory operations", report.lost_dir_ops),
        ("garbled sectors", report.garbled_sectors),
        ("quarantined torn tails", report.quarantined),
        ("finished compressions", report.finished_compressions),
        ("removed partial archives", report.removed_partials),
        ("reported damage", report.damage_reported),
        (
            "lost non-durable acknowledgements",
            report.lost_acknowledged,
        ),
    ] {
        assert!(n > 0, "no {what}: {report:#?}");
    }
}
