//! Recovery on arbitrary file contents: the first byte chooses what else
//! is in the store (a sealed segment with an archive of part of it, a stale
//! `.gz.tmp`), the rest is the live file. Recovery must succeed, keep every
//! byte (what it cuts off the live file is in the quarantine file, and the
//! live file keeps its records), leave no torn tail, never delete a sealed
//! segment whose archive differs, and be idempotent.
#![no_main]

use std::io::Write;
use std::path::Path;
use std::sync::Arc;

use flate2::Compression;
use flate2::write::GzEncoder;
use libfuzzer_sys::fuzz_target;
use scout_audit_core::{Decoded, ManualClock, Timestamp, decode_line};
use scout_audit_store_file::Layout;
use scout_audit_store_file::options::Retention;
use scout_audit_store_file::reader::ProblemKind;
use scout_audit_store_file::recovery::{Quarantined, recover};
use scout_audit_testkit::campaign::read_store;
use scout_audit_testkit::sim::{SimFs, SimState};

const LIVE: &str = "/s/audit.jsonl";
const SEALED: &str = "/s/audit-20260101T000000Z-000001.jsonl";

fn gz(bytes: &[u8]) -> Vec<u8> {
    let mut e = GzEncoder::new(Vec::new(), Compression::fast());
    e.write_all(bytes).expect("in memory");
    e.finish().expect("in memory")
}

fn records(bytes: &[u8]) -> Vec<String> {
    bytes
        .split(|b| *b == b'\n')
        .filter_map(|l| match decode_line(l) {
            Decoded::Record(r) | Decoded::Glued { record: r, .. } => Some(r.to_json_line()),
            _ => None,
        })
        .collect()
}

fuzz_target!(|input: &[u8]| {
    let Some((&flags, live)) = input.split_first() else {
        return;
    };
    let mut st = SimState::default();
    st.put(Path::new(LIVE), live).expect("simulated");
    let half = &live[..live.len() / 2];
    if flags & 1 != 0 {
        // A sealed segment and an archive of only its first half: a conflict.
        st.put(Path::new(SEALED), live).expect("simulated");
        st.put(Path::new(&format!("{SEALED}.gz")), &gz(half))
            .expect("simulated");
    }
    if flags & 2 != 0 {
        st.put(Path::new(&format!("{SEALED}.gz.tmp")), half)
            .expect("simulated");
    }
    let fs = SimFs::new(st);
    let layout = Layout::new(LIVE).expect("valid");
    let clock = ManualClock::new(Timestamp::parse("2026-11-27T00:00:00Z").expect("valid"));
    let report = recover(&fs, &layout, &clock, &Retention::KEEP_ALL)
        .expect("recovery succeeds on any bytes");
    let after = fs
        .state()
        .read(Path::new(LIVE))
        .expect("the live file stays");
    // Nothing deleted: the live file is a prefix of what it was (plus a
    // completing '\n'), and the quarantine holds exactly the rest.
    match &report.quarantined {
        Some(Quarantined {
            path: q,
            offset: off,
            len,
        }) => {
            assert!(!report.completed_last_line);
            assert_eq!(*off as usize + *len as usize, live.len());
            assert_eq!(after, &live[..*off as usize]);
            assert_eq!(
                fs.state().read(q).expect("quarantine file"),
                &live[*off as usize..]
            );
        }
        None if report.completed_last_line => {
            assert_eq!(&after[..live.len()], live);
            assert_eq!(&after[live.len()..], b"\n");
        }
        None => assert_eq!(after, live),
    }
    // The live file keeps every record line it had before the cut, and a
    // reader finds no torn tail in it.
    let cut = report
        .quarantined
        .as_ref()
        .map_or(live.len(), |q| q.offset as usize);
    assert_eq!(records(&after), records(&live[..cut]));
    let (_, rep) = read_store(Arc::new(fs.clone()), &layout).expect("reads");
    let torn_live = rep
        .problems
        .iter()
        .any(|p| p.path == Path::new(LIVE) && matches!(p.kind, ProblemKind::TornTail(_)));
    assert!(!torn_live, "{:?}", rep.problems);
    // A sealed segment whose archive differs is never deleted; one whose
    // archive matches is (the crash came after the archive's rename).
    if flags & 1 != 0 {
        let sealed_left = fs.state().read(Path::new(SEALED)).is_some();
        let archive_left = fs
            .state()
            .read(Path::new(&format!("{SEALED}.gz")))
            .is_some();
        assert!(archive_left);
        if half == live {
            assert!(!sealed_left && report.conflicts.is_empty());
        } else {
            assert!(sealed_left && !report.conflicts.is_empty());
        }
    }
    // A `.gz.tmp` beside its sealed segment or archive is a partial
    // compression: removed. One alone may be all that is left of a
    // segment: never deleted.
    if flags & 2 != 0 {
        let tmp_left = fs
            .state()
            .read(Path::new(&format!("{SEALED}.gz.tmp")))
            .is_some();
        assert_eq!(tmp_left, flags & 1 == 0, "{report:?}");
    }
    // Idempotent.
    let before = fs.state();
    let again = recover(&fs, &layout, &clock, &Retention::KEEP_ALL).expect("second recovery");
    assert!(
        again.removed_partials.is_empty() && again.finished_compressions.is_empty(),
        "{again:?}"
    );
    assert_eq!(again.quarantined, None);
    assert!(!again.completed_last_line);
    assert_eq!(
        fs.state().read(Path::new(LIVE)),
        before.read(Path::new(LIVE))
    );
});
