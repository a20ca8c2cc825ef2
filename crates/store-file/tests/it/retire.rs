//! Retention on a sealed store: archives go only once sealed, after a
//! signed `retire` entry; verify accounts for them and still catches an
//! archive removed any other way, or a retire edited.

use std::path::{Path, PathBuf};

use base64::Engine as _;
use scout_audit_core::{Durability, Event, SystemClock, Timestamp};
use scout_audit_seal::merkle::{Tree, leaf_hash};
use scout_audit_seal::note::{Checkpoint, EpochChain, Verifier, sign};
use scout_audit_store_file::compress::{RetentionOutcome, retention_run};
use scout_audit_store_file::fs::RealFs;
use scout_audit_store_file::options::Retention;
use scout_audit_store_file::options::SealInterval;
use scout_audit_store_file::seal::{self, Retired, SealReport};
use scout_audit_store_file::{FileStore, Layout};

struct Store {
    _dir: tempfile::TempDir,
    path: PathBuf,
    layout: Layout,
    key: Verifier,
}

fn keep(n: usize) -> Retention {
    Retention {
        max_archives: Some(n),
        ..Retention::KEEP_ALL
    }
}

fn new_store() -> Store {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("audit.jsonl");
    let layout = Layout::new(&path).unwrap();
    let key = seal::init(&RealFs, &layout, 3600).unwrap();
    Store {
        _dir: dir,
        path,
        layout,
        key: Verifier::parse(&key).unwrap(),
    }
}

/// Appends `n` lines, seals them when `seal`, then rotates (the
/// compressor applies `retention` after compressing).
fn cycle(s: &Store, n: u64, seal: bool, retention: Retention) {
    let store = FileStore::builder(&s.path)
        .seal_interval(SealInterval::OFF)
        .durability(Durability::Sync)
        .retention(retention)
        .open()
        .unwrap();
    for i in 0..n {
        store.append(Event::new("llm_call").cost(i as f64)).unwrap();
    }
    if seal {
        seal::seal_now(&RealFs, &s.layout, &SystemClock)
            .unwrap()
            .unwrap();
    }
    store.rotate().unwrap();
    store.wait_compressed();
    store.close().unwrap();
}

fn verify(s: &Store) -> SealReport {
    seal::verify_sealed(&RealFs, &s.layout, &s.key).unwrap()
}

/// The numbers of the archives on disk, in order.
fn archives(s: &Store) -> Vec<u64> {
    let mut n: Vec<u64> = std::fs::read_dir(s.path.parent().unwrap())
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .filter(|n| n.ends_with(".jsonl.gz"))
        .map(|n| n[n.len() - 15..n.len() - 9].parse().unwrap())
        .collect();
    n.sort_unstable();
    n
}

fn archive(s: &Store, number: u64) -> PathBuf {
    let dir = s.path.parent().unwrap();
    let suffix = format!("{number:06}.jsonl.gz");
    let name = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .find(|n| n.ends_with(&suffix))
        .unwrap();
    dir.join(name)
}

fn retire_lines(s: &Store) -> Vec<serde_json::Value> {
    std::fs::read_to_string(s.layout.seal_log())
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
        .filter(|v| v["kind"] == "retire")
        .collect()
}

fn retention(s: &Store, r: Retention) -> RetentionOutcome {
    retention_run(&RealFs, &s.layout, &r, Timestamp::now(), None).unwrap()
}

fn retired_of(r: &SealReport) -> (u64, u64, u64, u64) {
    let t = r.retired.clone().expect("a retire");
    (t.lines, t.archives, t.segment, t.epoch)
}

fn tampering(r: &SealReport) -> (String, Option<String>) {
    let t = r.tampering.clone().expect("tampering found");
    (t.what, t.segment)
}

/// Eight sealed rotations of 3 lines with 2 archives kept: six retired.
fn retired_store() -> Store {
    let s = new_store();
    for _ in 0..8 {
        cycle(&s, 3, true, keep(2));
    }
    s
}

#[test]
fn sealed_archives_are_retired_and_verify_reports_them_exactly() {
    let s = retired_store();
    assert_eq!(archives(&s), vec![7, 8]);
    let r = verify(&s);
    assert_eq!(r.tampering, None);
    assert_eq!((r.sealed_leaves, r.unsealed, r.seals), (24, 0, 8));
    assert_eq!(retired_of(&r), (18, 6, 6, 1));
    // One retire per compression that found an archive to retire.
    let retires = retire_lines(&s);
    assert_eq!(retires.len(), 6);
    assert_eq!(
        retires
            .iter()
            .map(|v| (
                v["segment"].as_u64().unwrap(),
                v["leaves"].as_u64().unwrap()
            ))
            .collect::<Vec<_>>(),
        vec![(1, 3), (2, 6), (3, 9), (4, 12), (5, 15), (6, 18)]
    );
    // Sealing goes on after a retire, and so does verify.
    cycle(&s, 2, true, keep(2));
    let r = verify(&s);
    assert_eq!((&r.tampering, r.sealed_leaves), (&None, 26));
    assert_eq!(retired_of(&r), (21, 7, 7, 1));
}

#[test]
fn a_crash_between_the_retire_and_the_deletion_verifies_and_the_next_run_deletes() {
    let s = new_store();
    for _ in 0..4 {
        cycle(&s, 2, true, Retention::KEEP_ALL);
    }
    let (first, second) = (archive(&s, 1), archive(&s, 2));
    let now = u64::try_from(Timestamp::now().unix_secs()).unwrap();
    let plan = seal::retire_now(&RealFs, &s.layout, &[1, 2], now).unwrap();
    let planned: Vec<u64> = plan.delete.iter().map(|g| g.number.unwrap()).collect();
    assert_eq!(
        (planned, plan.unsealed, plan.refused),
        (vec![1, 2], vec![], None)
    );
    // The entry is written, nothing is deleted: a crash right there.
    assert_eq!(archives(&s), vec![1, 2, 3, 4]);
    let r = verify(&s);
    assert_eq!(r.tampering, None);
    assert_eq!((retired_of(&r), r.sealed_leaves), ((4, 2, 2, 1), 8));
    let out = retention(&s, keep(2));
    assert_eq!(out.removed, vec![first, second]);
    assert_eq!(archives(&s), vec![3, 4]);
    assert_eq!(retire_lines(&s).len(), 1, "no second retire");
    let r = verify(&s);
    assert_eq!((&r.tampering, retired_of(&r)), (&None, (4, 2, 2, 1)));
}

#[test]
fn an_archive_deleted_by_hand_is_still_tampering() {
    let s = retired_store();
    let seventh = archive(&s, 7);
    let eighth = archive(&s, 8);
    std::fs::remove_file(&seventh).unwrap();
    let name = eighth.file_name().unwrap().to_str().unwrap().to_owned();
    assert_eq!(
        tampering(&verify(&s)),
        (
            format!("the segment {name} follows the sealed segment 7, which is missing"),
            Some(name)
        )
    );
}

fn edit_last_retire(s: &Store, edit: impl FnOnce(&mut serde_json::Value)) {
    let log = std::fs::read_to_string(s.layout.seal_log()).unwrap();
    let mut lines: Vec<String> = log.lines().map(str::to_owned).collect();
    let i = lines
        .iter()
        .rposition(|l| l.contains("\"retire\""))
        .unwrap();
    let mut v: serde_json::Value = serde_json::from_str(&lines[i]).unwrap();
    edit(&mut v);
    lines[i] = v.to_string();
    std::fs::write(s.layout.seal_log(), format!("{}\n", lines.join("\n"))).unwrap();
}

#[test]
fn an_edited_retire_is_tampering() {
    type Edit = Box<dyn FnOnce(&mut serde_json::Value)>;
    let cases: Vec<(Edit, &str)> = vec![
        (
            Box::new(|v| v["segment"] = 7.into()),
            "the retire of segment 7 does not match its note",
        ),
        (
            Box::new(|v| v["leaves"] = 15.into()),
            "the retire of segment 6 does not match its note",
        ),
        (
            Box::new(|v| {
                let note = v["note"]
                    .as_str()
                    .unwrap()
                    .replacen("retire 6 6", "retire 6 9", 1);
                v["note"] = note.into();
            }),
            "the retire of segment 6 (epoch 1) does not verify: ",
        ),
        (
            Box::new(|v| v["tree"] = "AAAA".into()),
            "the retire of segment 6 does not match its note",
        ),
    ];
    for (edit, want) in cases {
        let s = retired_store();
        edit_last_retire(&s, edit);
        let (what, seg) = tampering(&verify(&s));
        assert!(what.starts_with(want), "{what:?} is not {want:?}");
        assert_eq!(seg, None);
    }
}

/// Signs a retire with the current epoch's key, as an attacker holding it
/// could, for `leaves` made-up leaves through `segment`.
fn forged_retire(s: &Store, segment: u64, leaves: u8, archives: u64) -> String {
    let text = std::fs::read_to_string(s.layout.seal_key()).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    let chain = EpochChain::decode_state(&format!("{}\n", lines[..4].join("\n"))).unwrap();
    let mut tree = Tree::new();
    for i in 0..leaves {
        tree.push(leaf_hash(&[i])).unwrap();
    }
    let store = lines[4].strip_prefix("store ").unwrap();
    let cp = Checkpoint {
        origin: format!("scout-audit/{store}"),
        size: tree.size(),
        root: tree.root(),
        extensions: vec![
            format!("epoch {}", chain.epoch()),
            format!("retire {segment} {archives}"),
            format!("time {}", Timestamp::now().unix_secs()),
            format!("place {}", retire_lines(s).len() + 1),
        ],
    };
    serde_json::json!({
        "v": 1, "kind": "retire", "epoch": chain.epoch(),
        "note": sign(&cp.to_text(), &[chain.signer()]).unwrap(),
        "segment": segment, "leaves": tree.size(),
        "tree": base64::engine::general_purpose::STANDARD.encode(tree.encode()),
    })
    .to_string()
}

fn append_log(s: &Store, line: &str) {
    let log = std::fs::read_to_string(s.layout.seal_log()).unwrap();
    std::fs::write(s.layout.seal_log(), format!("{log}{line}\n")).unwrap();
}

#[test]
fn retires_forged_with_the_current_key_are_caught_where_they_contradict() {
    // Going back: a retire of fewer segments after a larger one.
    let s = retired_store();
    append_log(&s, &forged_retire(&s, 5, 15, 5));
    assert_eq!(
        tampering(&verify(&s)).0,
        "the retire of segment 5 goes back from the retire of segment 6"
    );
    // More lines than were ever sealed.
    let s = retired_store();
    append_log(&s, &forged_retire(&s, 9, 30, 9));
    assert_eq!(
        tampering(&verify(&s)).0,
        "the retire of segment 9 removes 30 lines, but only 24 were sealed before it"
    );
    // Lines that were sealed, with a made-up tree: the seal of its size
    // disagrees (size 21 is sealed: 7 cycles of 3).
    let s = retired_store();
    append_log(&s, &forged_retire(&s, 7, 21, 7));
    assert_eq!(
        tampering(&verify(&s)).0,
        "the retire of segment 7 differs from the seal of size 21: a forked history"
    );
}

/// The seal log with its lines rewritten by `edit`.
fn edit_log(s: &Store, edit: impl FnOnce(&mut Vec<String>)) {
    let text = std::fs::read_to_string(s.layout.seal_log()).unwrap();
    let mut lines: Vec<String> = text.lines().map(str::to_owned).collect();
    edit(&mut lines);
    std::fs::write(s.layout.seal_log(), format!("{}\n", lines.join("\n"))).unwrap();
}

/// The places of the log's retire lines in the log.
fn retire_places(s: &Store) -> Vec<usize> {
    std::fs::read_to_string(s.layout.seal_log())
        .unwrap()
        .lines()
        .enumerate()
        .filter(|(_, l)| l.contains(r#""kind":"retire""#))
        .map(|(i, _)| i)
        .collect()
}

#[test]
fn a_retire_removed_or_moved_among_the_retires_is_tampering() {
    // Retires are numbered: each note says its place among the log's
    // retires, so a retire removed while later ones follow (which account
    // for every retired line) is still seen.
    let s = retired_store();
    let notes: Vec<String> = retire_lines(&s)
        .iter()
        .map(|v| v["note"].as_str().unwrap().to_owned())
        .collect();
    for (i, n) in notes.iter().enumerate() {
        assert!(n.contains(&format!("\nplace {}\n", i + 1)), "{n}");
    }
    let third = retire_places(&s)[2];
    edit_log(&s, |l| {
        l.remove(third);
    });
    assert_eq!(
        tampering(&verify(&s)),
        (
            "the retire of segment 4 is not numbered 3, its place among the seal log's \
             retires: a retire was removed or reordered"
                .to_owned(),
            None
        )
    );
    // Two retires swapped.
    let s = retired_store();
    let at = retire_places(&s);
    edit_log(&s, |l| l.swap(at[1], at[2]));
    assert_eq!(
        tampering(&verify(&s)).0,
        "the retire of segment 3 is not numbered 2, its place among the seal log's retires: a \
         retire was removed or reordered"
    );
}

#[test]
fn retention_keeps_archives_not_all_sealed_until_a_seal_covers_them() {
    let s = new_store();
    cycle(&s, 2, true, Retention::KEEP_ALL);
    cycle(&s, 2, false, Retention::KEEP_ALL);
    cycle(&s, 2, false, Retention::KEEP_ALL);
    let second = archive(&s, 2);
    let out = retention(&s, keep(0));
    assert_eq!(out.removed.len(), 1);
    assert_eq!(
        (out.unsealed, out.refused),
        (vec![second.clone()], None),
        "2 is not sealed; 3 is the newest and always kept"
    );
    assert_eq!(archives(&s), vec![2, 3]);
    // The last seal ended in the retired segment 1: sealing goes on at 2.
    let summary = seal::seal_now(&RealFs, &s.layout, &SystemClock)
        .unwrap()
        .unwrap();
    assert_eq!((summary.size, summary.new_leaves), (6, 4));
    let out = retention(&s, keep(0));
    assert_eq!((out.removed, out.unsealed), (vec![second], vec![]));
    assert_eq!(archives(&s), vec![3]);
    let r = verify(&s);
    assert_eq!((&r.tampering, retired_of(&r)), (&None, (4, 2, 2, 1)));
}

#[test]
fn retention_refuses_to_retire_an_archive_that_differs_from_its_seal() {
    let s = new_store();
    for _ in 0..3 {
        cycle(&s, 2, true, Retention::KEEP_ALL);
    }
    let first = archive(&s, 1);
    let plain = gunzip(&first).replacen("llm_call", "llm_fake", 1);
    gzip(&first, &plain);
    let out = retention(&s, keep(1));
    let name = first.file_name().unwrap().to_str().unwrap();
    assert_eq!(
        (out.removed, out.refused),
        (
            vec![],
            Some(format!(
                "{name} does not match the seal of size 2; it is kept"
            ))
        )
    );
    assert_eq!(retire_lines(&s).len(), 0);
    assert_eq!(archives(&s), vec![1, 2, 3]);
    assert!(verify(&s).tampering.is_some());
}

fn gunzip(path: &Path) -> String {
    let mut out = String::new();
    std::io::Read::read_to_string(
        &mut flate2::read::MultiGzDecoder::new(std::fs::File::open(path).unwrap()),
        &mut out,
    )
    .unwrap();
    out
}

fn gzip(path: &Path, text: &str) {
    let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    std::io::Write::write_all(&mut enc, text.as_bytes()).unwrap();
    std::fs::write(path, enc.finish().unwrap()).unwrap();
}

#[test]
fn the_retired_summary_is_what_the_report_carries() {
    let s = retired_store();
    let r = verify(&s).retired.unwrap();
    let logged = retire_lines(&s).pop().unwrap();
    let time = logged["note"]
        .as_str()
        .unwrap()
        .lines()
        .find_map(|l| l.strip_prefix("time "))
        .unwrap()
        .parse()
        .unwrap();
    assert_eq!(
        r,
        Retired {
            lines: 18,
            archives: 6,
            segment: 6,
            epoch: 1,
            time
        }
    );
}

#[test]
fn a_sealing_state_that_cannot_sign_keeps_the_archives_and_says_why() {
    use std::os::unix::fs::PermissionsExt;
    let s = new_store();
    for _ in 0..3 {
        cycle(&s, 2, true, Retention::KEEP_ALL);
    }
    let key = s.layout.seal_key();
    std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o644)).unwrap();
    let out = retention(&s, keep(1));
    assert_eq!(
        (out.removed, out.refused),
        (
            vec![],
            Some(format!(
                "{}: has mode 0644, not 0600: the secret key may have been read",
                key.display()
            ))
        )
    );
    assert_eq!(archives(&s), vec![1, 2, 3]);
    // Opening the store with that retention still works, and keeps them.
    let store = FileStore::builder(&s.path)
        .seal_interval(SealInterval::OFF)
        .retention(keep(1))
        .open()
        .unwrap();
    store.close().unwrap();
    assert_eq!(archives(&s), vec![1, 2, 3]);
}

#[test]
fn a_retire_evolves_the_key_when_its_epoch_is_over_and_sealing_goes_on() {
    let s = new_store();
    for _ in 0..3 {
        cycle(&s, 2, true, Retention::KEEP_ALL);
    }
    let later = Timestamp::from_unix(Timestamp::now().unix_secs() + 7200, 0).unwrap();
    let out = retention_run(&RealFs, &s.layout, &keep(1), later, None).unwrap();
    assert_eq!(
        (out.removed.len(), out.unsealed, out.refused),
        (2, vec![], None)
    );
    let r = verify(&s);
    assert_eq!((&r.tampering, r.epochs), (&None, 3));
    assert_eq!(retired_of(&r), (4, 2, 2, 2));
    cycle(&s, 1, true, Retention::KEEP_ALL);
    let r = verify(&s);
    assert_eq!((&r.tampering, r.sealed_leaves, r.epochs), (&None, 7, 3));
}

/// Checkpoints kept elsewhere before retention retired archives (one
/// within the retired lines, one past them) and after: the untampered
/// store still extends every one. Found by the tamper campaign's
/// untampered stores with retires (decision 117).
#[test]
fn checkpoints_kept_before_a_retire_are_still_extended_after_it() {
    let s = new_store();
    cycle(&s, 3, true, Retention::KEEP_ALL);
    let within = seal::latest_checkpoint(&RealFs, &s.layout).unwrap();
    cycle(&s, 3, true, Retention::KEEP_ALL);
    cycle(&s, 3, true, Retention::KEEP_ALL);
    let past = seal::latest_checkpoint(&RealFs, &s.layout).unwrap();
    cycle(&s, 3, true, Retention::KEEP_ALL);
    let out = retention(&s, keep(2));
    assert_eq!(out.removed.len(), 2);
    let r = verify(&s);
    assert_eq!((&r.tampering, retired_of(&r)), (&None, (6, 2, 2, 1)));
    cycle(&s, 2, true, Retention::KEEP_ALL);
    let after = seal::latest_checkpoint(&RealFs, &s.layout).unwrap();
    let files = [within, past, after];
    let got = seal::verify_checkpoints(&RealFs, &s.layout, &s.key, &files).unwrap();
    let sizes: Vec<u64> = got
        .into_iter()
        .map(|v| v.map(|a| a.size).map_err(|t| t.what))
        .collect::<Result<_, _>>()
        .unwrap();
    assert_eq!(sizes, vec![3, 9, 14]);
    // The last seal cut from the log: the checkpoint after it catches it.
    let log = std::fs::read_to_string(s.layout.seal_log()).unwrap();
    let mut lines: Vec<&str> = log.lines().collect();
    let last_seal = lines.iter().rposition(|l| l.contains("\"seal\"")).unwrap();
    lines.truncate(last_seal);
    std::fs::write(s.layout.seal_log(), format!("{}\n", lines.join("\n"))).unwrap();
    let got = seal::verify_checkpoints(&RealFs, &s.layout, &s.key, &files).unwrap();
    let whats: Vec<Option<String>> = got.into_iter().map(|v| v.err().map(|t| t.what)).collect();
    let cut = "the seal log's last seal is of size 12, before the checkpoint of size 14: \
               seals were cut or rolled back";
    assert_eq!(whats, vec![None, None, Some(cut.to_owned())]);
}
