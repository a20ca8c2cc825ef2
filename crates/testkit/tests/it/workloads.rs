//! The standard workloads do what the campaign claims: log, sync, rotate at
//! least twice, compress and reopen.

use scout_audit_store_file::Layout;
use scout_audit_store_file::layout::SegmentKind;
use scout_audit_testkit::sim::OpClass;
use scout_audit_testkit::workload::{Step, Workload, record};

#[test]
fn standard_workloads_rotate_twice_compress_and_reopen() {
    for w in Workload::standard() {
        let (run, rec) = record(&w).unwrap();
        let (fs, path) = (&run.fs, &run.path);
        let renames = rec.iter().filter(|r| r.class == OpClass::Rename).count();
        let listing = Layout::new(path).unwrap().list(fs).unwrap();
        let archives = listing
            .all
            .iter()
            .filter(|s| s.kind == SegmentKind::Archive)
            .count();
        assert!(archives >= 2, "{}: {archives} archives", w.name);
        // Each archive: one rename to seal, one rename of its .gz.tmp.
        assert!(renames >= 4, "{}: {renames} renames", w.name);
        assert!(rec.iter().any(|r| r.class == OpClass::Fsync), "{}", w.name);
        // A reopen: a Reopen step, or a writer opened again after a close.
        let reopens = w.steps.iter().enumerate().any(|(i, s)| match s {
            Step::Reopen(_) => true,
            Step::Open(o) => w.steps[..i].contains(&Step::Close(*o)),
            _ => false,
        });
        assert!(reopens, "{}: no reopen", w.name);
        let (attempted, acked, durable) = run.history.summary().counts();
        assert!(
            attempted >= 15 && acked == attempted && durable > 0,
            "{}: {attempted} {acked} {durable}",
            w.name
        );
    }
}
