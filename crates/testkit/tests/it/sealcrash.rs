//! Sealing under simulated power loss: the campaign over the sealing
//! workloads, and each false alarm it found, as a regression test that
//! crashes at every operation of the step that had the bug.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use scout_audit_core::{Durability, Event, ManualClock, SessionId};
use scout_audit_seal::note::Verifier;
use scout_audit_store_file::fs::Fs;
use scout_audit_store_file::options::SealInterval;
use scout_audit_store_file::seal::{self, SealReport};
use scout_audit_store_file::{FileStore, Layout};
use scout_audit_testkit::campaign::{self, Options};
use scout_audit_testkit::rng::Rng;
use scout_audit_testkit::sim::{DirDamage, FileDamage, Recorded, SimFs, SimState};
use scout_audit_testkit::workload::{Workload, fresh_store_path, start_time};

/// The campaign (testkit `campaign`, its `seal` checks) over every crash
/// point of the sealing workloads: no false alarm, no acknowledged seal
/// lost, no fork, no torn byte lost, in every state.
#[test]
fn every_crash_point_of_the_sealing_workloads_keeps_seals_and_raises_no_alarm() {
    let opts = Options {
        seeds: 8,
        recovery_points: 2,
        seed: 1,
    };
    let mut total = campaign::Report::default();
    for w in Workload::sealed() {
        total.merge(&campaign::run(&w, &opts));
    }
    eprintln!("{}\n{:#?}", total.summary_line(), total.seal);
    assert_eq!(total.found.count, 0, "{:#?}", total.found.examples);
    assert_eq!(total.seal.false_alarms, 0);
    let s = &total.seal;
    assert!(s.states >= 5_000, "{s:#?}");
    // Two verifies a state (after recovery, after sealing again).
    assert_eq!(s.verify_runs, 2 * s.states);
    for (what, n) in [
        ("seals after a crash", s.seals),
        ("evolves after a crash", s.evolves),
        ("torn seal-log tails", s.torn_tails),
        ("interrupted evolves", s.interrupted_evolves),
        ("seals before recovery", s.sealed_before_recovery),
    ] {
        assert!(n > 0, "no {what}: {s:#?}");
    }
}

/// A sealed store on a simulated disk: `lines` records (`sync`), set up
/// with epochs of 1 s and sealed once.
struct Store {
    fs: SimFs,
    path: PathBuf,
    layout: Layout,
    key: Verifier,
    clock: ManualClock,
}

fn log(fs: &SimFs, path: &Path, n: u64) {
    let store = FileStore::builder(path)
        .seal_interval(SealInterval::OFF)
        .file_system(Arc::new(fs.clone()))
        .durability(Durability::Sync)
        .session(SessionId::new(format!("s{}", rand_id())))
        .open()
        .unwrap();
    for _ in 0..n {
        store.append(Event::new("llm_call")).unwrap();
    }
    store.close().unwrap();
}

fn rand_id() -> u64 {
    use std::sync::atomic::{AtomicU64, Ordering};
    static N: AtomicU64 = AtomicU64::new(0);
    N.fetch_add(1, Ordering::SeqCst)
}

fn sealed_store(lines: u64) -> Store {
    let fs = SimFs::default();
    let path = fresh_store_path();
    let layout = Layout::new(&path).unwrap();
    log(&fs, &path, lines);
    let key = seal::init(&fs, &layout, 1).unwrap();
    let clock = ManualClock::new(start_time());
    seal::seal_now(&fs, &layout, &clock).unwrap().unwrap();
    Store {
        fs,
        path,
        layout,
        key: Verifier::parse(&key).unwrap(),
        clock,
    }
}

impl Store {
    fn verify(&self, fs: &SimFs) -> SealReport {
        seal::verify_sealed(fs, &self.layout, &self.key).unwrap()
    }

    /// Runs `f` recording, and returns every state it went through.
    fn record(&self, f: impl FnOnce()) -> Vec<Recorded> {
        self.fs.record();
        f();
        self.fs.take_recording()
    }

    fn append_raw(&self, path: &Path, bytes: &[u8]) {
        let f = self.fs.open_append(path).unwrap();
        f.write_once(bytes).unwrap();
        f.sync_data().unwrap();
    }
}

/// The crashes each regression test makes of a recorded state: every
/// combination of keeping or dropping what was not synced, files and
/// directories apart.
fn crashes(state: &SimState) -> Vec<SimState> {
    let mut out = Vec::new();
    for f in [FileDamage::Keep, FileDamage::Drop] {
        for d in [DirDamage::Keep, DirDamage::Drop] {
            out.push(state.crash_with(&mut Rng::new(7), Some((f, d))).0);
        }
    }
    out
}

/// Found by the campaign: evolve wrote the new secret to its temporary
/// file and appended its certificate without fsyncing the directory, so
/// a power loss could keep the certificate and lose the secret's name;
/// the next seal certified the next epoch again with the old key and
/// verify reported a broken chain. Also: verify right after such a crash
/// (before any sealer settled the temporary state) reported tampering.
#[test]
fn a_crash_at_any_point_of_an_evolve_keeps_the_key_and_raises_no_alarm() {
    let s = sealed_store(3);
    log(&s.fs, &s.path, 2);
    s.clock.advance(Duration::from_secs(5));
    let states = s.record(|| {
        let d = seal::seal_now(&s.fs, &s.layout, &s.clock).unwrap().unwrap();
        assert_eq!((d.epoch, d.size, d.evolved), (2, 5, true));
    });
    assert!(states.len() >= 8, "{}", states.len());
    for (i, r) in states.iter().enumerate() {
        for image in crashes(&r.state) {
            let fs = SimFs::new(image);
            let before = s.verify(&fs);
            assert_eq!(before.tampering, None, "op {i} ({}), before sealing", r.op);
            assert!(before.sealed_leaves >= 3, "op {i} ({})", r.op);
            seal::seal_now(&fs, &s.layout, &s.clock).unwrap();
            let after = s.verify(&fs);
            assert_eq!(after.tampering, None, "op {i} ({}), after sealing", r.op);
            assert_eq!((after.sealed_leaves, after.unsealed), (5, 0), "op {i}");
            assert_eq!(fs.state().read(&s.layout.seal_key_temp()), None);
        }
    }
}

/// The review's finding (seal/torn.rs): cutting a torn seal-log line
/// truncated the log after fsyncing the copy but not its directory entry,
/// so a power loss could keep the cut and lose the copy. At every
/// operation of the cut, the torn bytes are at the log's end or in a
/// torn file.
#[test]
fn a_crash_while_a_torn_seal_log_line_is_cut_keeps_its_bytes() {
    let s = sealed_store(3);
    let torn = br#"{"v":1,"kind":"seal","epoch":1,"no"#;
    s.append_raw(&s.layout.seal_log(), torn);
    log(&s.fs, &s.path, 1);
    let states = s.record(|| {
        seal::seal_now(&s.fs, &s.layout, &s.clock).unwrap().unwrap();
    });
    let held = |st: &SimState| {
        let log = st.read(&s.layout.seal_log()).unwrap();
        log.ends_with(torn) || st.read(&s.layout.seal_log_torn(1)).as_deref() == Some(&torn[..])
    };
    let mut cut_seen = false;
    for (i, r) in states.iter().enumerate() {
        cut_seen |= !r.state.read(&s.layout.seal_log()).unwrap().ends_with(torn);
        for image in crashes(&r.state) {
            assert!(held(&image), "op {i} ({}): the torn bytes are gone", r.op);
            let fs = SimFs::new(image);
            seal::seal_now(&fs, &s.layout, &s.clock).unwrap();
            let v = s.verify(&fs);
            assert_eq!((v.tampering, v.sealed_leaves), (None, 4), "op {i}");
        }
    }
    assert!(cut_seen);
}

/// Found by the campaign: a garbled last append (complete lines that are
/// not entries) made the seal log unreadable: seal_now failed and verify
/// reported tampering. It is a torn suffix now, cut to a torn file; a
/// line that is not an entry with an entry after it is still tampering.
#[test]
fn a_garbled_last_seal_log_append_is_torn_but_garbage_before_an_entry_is_tampering() {
    let s = sealed_store(2);
    let garbage = b"\xff\xfe{garbled\n\0\0\0\n\0\0";
    s.append_raw(&s.layout.seal_log(), garbage);
    assert_eq!(s.verify(&s.fs).tampering, None);
    log(&s.fs, &s.path, 1);
    seal::seal_now(&s.fs, &s.layout, &s.clock).unwrap().unwrap();
    let st = s.fs.state();
    assert_eq!(
        st.read(&s.layout.seal_log_torn(1)).as_deref(),
        Some(&garbage[..])
    );
    let v = s.verify(&s.fs);
    assert_eq!((v.tampering, v.sealed_leaves, v.seals), (None, 3, 2));

    // Garbage followed by an entry: the log was edited.
    let log = st.read(&s.layout.seal_log()).unwrap();
    let last = log[..log.len() - 1]
        .iter()
        .rposition(|&b| b == b'\n')
        .unwrap()
        + 1;
    let mut edited = log[..last].to_vec();
    edited.extend_from_slice(b"not an entry\n");
    edited.extend_from_slice(&log[last..]);
    let mut st2 = st.clone();
    st2.put(&s.layout.seal_log(), &edited).unwrap();
    let v = s.verify(&SimFs::new(st2));
    let what = v.tampering.map(|t| t.what).unwrap_or_default();
    assert!(
        what.starts_with("the seal log line 4 is not a seal-log entry"),
        "{what}"
    );
}

/// Found by the campaign: `seal` run after a power loss, before any
/// writer's recovery, sealed the garbage lines a crash left at the live
/// file's end; recovery then quarantined them and verify reported
/// removed lines. Sealing stops where recovery's torn suffix starts.
#[test]
fn a_seal_before_recovery_never_seals_lines_recovery_cuts() {
    let s = sealed_store(3);
    s.append_raw(&s.path, b"\0\0\0garbage left by a power loss\n");
    assert_eq!(
        seal::seal_now(&s.fs, &s.layout, &s.clock).unwrap(),
        None,
        "nothing to seal: the garbage line is the torn suffix"
    );
    log(&s.fs, &s.path, 1);
    let v = s.verify(&s.fs);
    assert_eq!(
        (v.tampering, v.sealed_leaves, v.unsealed),
        (None, 3, 1),
        "recovery quarantined the garbage; the new line is unsealed"
    );
    let d = seal::seal_now(&s.fs, &s.layout, &s.clock).unwrap().unwrap();
    assert_eq!((d.size, d.new_leaves), (4, 1));
}
