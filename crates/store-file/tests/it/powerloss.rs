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

/// Found by the long campaign (`cargo xtask crash --no-kill --sim-states
/// 40000`, `--seed 20261206`: crash after op 6, seed 7, in each standard
/// workload): a writer opening a store whose live file exists but whose
/// lock file a crash lost made the lock file without fsyncing the
/// directory. A second power loss after its first, unsynced write then
/// lost the lock file's name again and garbled the write, leaving a live
/// file with no record and no lock file, which the next open refused as
/// "not an audit log".
#[test]
fn a_lock_file_made_beside_an_existing_live_file_survives_power_loss() {
    let path = std::path::Path::new("/home/u/.scout/audit.jsonl");
    let layout = Layout::new(path).unwrap();
    // What the first crash left: the live file's name, not the lock's.
    let mut disk = scout_audit_testkit::sim::SimState::default();
    disk.put(path, b"").unwrap();
    assert_eq!(disk.read(&layout.lock()), None);
    let fs = SimFs::new(disk);
    let store = FileStore::builder(path)
        .file_system(Arc::new(fs.clone()))
        .durability(Durability::Process)
        .session(SessionId::new("recovering"))
        .open()
        .unwrap();
    store.append(Event::new("probe")).unwrap();
    // The second power loss: the unsynced write garbled, every
    // un-fsynced directory operation lost.
    let (image, crash) = fs.state().crash_with(
        &mut Rng::new(7),
        Some((FileDamage::Garble, DirDamage::Drop)),
    );
    let reopened = FileStore::builder(path)
        .file_system(Arc::new(SimFs::new(image.clone())))
        .session(SessionId::new("next"))
        .open();
    reopened.unwrap().close().unwrap();
    // The lock file's name was durable before the write: no directory
    // operation was pending.
    assert_eq!(crash.lost_dir_ops, 0, "{crash:?}");
    assert_eq!(image.read(&layout.lock()), Some(Vec::new()));
    store.close().unwrap();
}
