//! Simulated power loss (testkit's `SimFs`): the campaign over every crash
//! point of the standard workloads, and the bugs it found, each as a
//! regression test.

use std::sync::Arc;

use scout_audit_core::{Durability, Event, SessionId};
use scout_audit_store_file::{FileStore, Layout};
use scout_audit_testkit::campaign::read_store;
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
