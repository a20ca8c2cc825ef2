//! `checkpoint`, `verify --checkpoint`, `prove` and `check-proof` end to
//! end: a checkpoint kept elsewhere catches what the machine alone cannot
//! (a rollback, a cut seal tail, a fork), and a record's proof checks
//! without the store.

use std::path::Path;

use scout_audit_core::Timestamp;

use crate::support::{Store, numbered};

/// A store with 3 sealed lines; its verification key.
fn sealed_store() -> (Store, String) {
    let s = Store::new();
    s.log_lines(&["--seal-interval", "0"], &numbered("a", 3));
    let key = s.ok(&["seal", "init", "--epoch", "1h"]).trim().to_owned();
    assert_eq!(
        s.ok(&["seal"]),
        "sealed 3 new lines (3 in all) with epoch 1's key\n"
    );
    (s, key)
}

/// Saves `checkpoint`'s output outside the store; its path.
fn save_checkpoint(s: &Store, name: &str) -> String {
    let text = s.ok(&["checkpoint"]);
    let path = s.dir.path().join(name);
    std::fs::write(&path, text).unwrap();
    path.display().to_string()
}

/// The line `verify --checkpoint` prints for a checkpoint the store extends.
fn extends(path: &str, size: u64) -> String {
    let text = std::fs::read_to_string(path).unwrap();
    let time: i64 = text
        .lines()
        .find_map(|l| l.strip_prefix("time "))
        .unwrap()
        .parse()
        .unwrap();
    let (y, mo, d, h, mi, sec) = Timestamp::from_unix(time, 0).unwrap().civil();
    format!(
        "checkpoint {path}: the store extends it (size {size}, epoch 1, sealed at \
         {y:04}-{mo:02}-{d:02}T{h:02}:{mi:02}:{sec:02}Z)\n"
    )
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        std::fs::copy(e.path(), to.join(e.file_name())).unwrap();
    }
}

#[test]
fn a_checkpoint_round_trips_through_a_file_into_verify() {
    let (s, key) = sealed_store();
    let cp = save_checkpoint(&s, "cp1");
    let text = std::fs::read_to_string(&cp).unwrap();
    // The seal's note, then epoch 1's certificate, a blank line between.
    let notes: Vec<&str> = text.split("\n\n").collect();
    assert_eq!(notes.len(), 4, "{text}");
    assert!(notes[0].starts_with("scout-audit/"), "{text}");
    assert!(notes[0].contains("\n3\n"), "{text}");
    assert!(notes[2].starts_with("scout-audit epoch 1\n"), "{text}");
    let note = s.ok(&["checkpoint", "--note"]);
    assert_eq!(format!("{}\n\n{}\n", notes[0], notes[1]), note);
    let out = s.ok(&["verify", "--key", &key, "--checkpoint", &cp]);
    assert!(
        out.ends_with(&format!(
            "sealed: 3 lines as sealed, 1 seals, 2 epochs\n{}",
            extends(&cp, 3)
        )),
        "{out}"
    );
    // Later lines and seals still extend it.
    s.log_lines(&["--seal-interval", "0"], &numbered("b", 2));
    s.ok(&["seal"]);
    let cp2 = save_checkpoint(&s, "cp2");
    let out = s.ok(&["verify", "--key", &key, "--checkpoint", &cp, &cp2]);
    assert!(
        out.ends_with(&format!("{}{}", extends(&cp, 3), extends(&cp2, 5))),
        "{out}"
    );
}

#[test]
fn a_rolled_back_store_passes_verify_key_and_fails_its_checkpoint() {
    let (s, key) = sealed_store();
    let t1 = s.dir.path().join("t1");
    copy_dir(&s.store_dir(), &t1);
    s.log_lines(&["--seal-interval", "0"], &numbered("b", 2));
    s.ok(&["seal"]);
    let cp = save_checkpoint(&s, "cp");
    std::fs::remove_dir_all(s.store_dir()).unwrap();
    copy_dir(&t1, &s.store_dir());
    let out = s.ok(&["verify", "--key", &key]);
    assert!(
        out.ends_with("sealed: 3 lines as sealed, 1 seals, 2 epochs\n"),
        "{out}"
    );
    let o = s.cmd(&["verify", "--key", &key, "--checkpoint", &cp]).run();
    assert_eq!(o.code, Some(1), "{o:?}");
    assert!(
        o.stdout.ends_with(&format!(
            "sealed: 3 lines as sealed, 1 seals, 2 epochs\n\
             tampering: the store is shorter than the checkpoint of size 5: rolled back or cut \
             (it holds 3 lines) (checkpoint {cp})\n"
        )),
        "{o:?}"
    );
}

#[test]
fn a_cut_seal_tail_and_a_fork_fail_the_checkpoint() {
    let (s, key) = sealed_store();
    s.log_lines(&["--seal-interval", "0"], &numbered("b", 2));
    s.ok(&["seal"]);
    let cp = save_checkpoint(&s, "cp");
    let log = s.store_dir().join("audit.seal-log");
    let text = std::fs::read_to_string(&log).unwrap();
    let cut = text.trim_end().rfind('\n').unwrap() + 1;
    std::fs::write(&log, &text[..cut]).unwrap();
    let out = s.ok(&["verify", "--key", &key]);
    assert!(
        out.contains("unsealed: 2 lines after the last seal"),
        "{out}"
    );
    let o = s.cmd(&["verify", "--key", &key, "--checkpoint", &cp]).run();
    assert_eq!(o.code, Some(1), "{o:?}");
    assert!(
        o.stdout.ends_with(&format!(
            "tampering: the seal log's last seal is of size 3, before the checkpoint of size 5: \
             seals were cut or rolled back (checkpoint {cp})\n"
        )),
        "{o:?}"
    );
    // The two unsealed lines replaced by two others: a fork of the
    // checkpoint that verify --key alone cannot see.
    let live = std::fs::read_to_string(&s.path).unwrap();
    let keep: String = live.lines().take(3).map(|l| format!("{l}\n")).collect();
    std::fs::write(&s.path, keep).unwrap();
    s.log_lines(&["--seal-interval", "0"], &numbered("c", 2));
    assert!(
        s.ok(&["verify", "--key", &key])
            .contains("unsealed: 2 lines")
    );
    let o = s.cmd(&["verify", "--key", &key, "--checkpoint", &cp]).run();
    assert_eq!(o.code, Some(1), "{o:?}");
    assert!(
        o.stdout.ends_with(&format!(
            "tampering: the store's first 5 leaves do not match the checkpoint: a forked history \
             (checkpoint {cp})\n"
        )),
        "{o:?}"
    );
}

#[test]
fn a_proof_checks_and_a_flipped_byte_fails() {
    let (s, key) = sealed_store();
    let records = s.records();
    let session = records[1]["session_id"].as_str().unwrap().to_owned();
    let seq = records[1]["seq"].as_u64().unwrap();
    let record = format!("s:{session}:{seq}");
    let proof = s.ok(&["prove", &record]);
    let line = std::fs::read_to_string(&s.path)
        .unwrap()
        .lines()
        .nth(1)
        .unwrap()
        .to_owned();
    let head =
        format!("scout-audit proof v1\nrecord s:{session}:{seq:020}\nindex 1\nsize 3\nroot ");
    assert!(proof.starts_with(&head), "{proof}");
    assert!(proof.contains(&format!("\nline {line}\n")), "{proof}");
    assert_eq!(
        s.ok(&["prove", "--session", &session, "--seq", &seq.to_string()]),
        proof
    );
    let file = s.dir.path().join("proof");
    std::fs::write(&file, &proof).unwrap();
    let file = file.display().to_string();
    let out = s.bare(&["check-proof", &file, "--key", &key]).run().ok();
    assert!(
        out.starts_with(&format!(
            "proven: s:{session}:{seq:020} is leaf 1 of the 3 lines of scout-audit/"
        )),
        "{out}"
    );
    // The first proof hash with one byte changed.
    let at = proof.find(&format!("{line}\n")).unwrap() + line.len() + 1;
    let mut bytes = proof.clone().into_bytes();
    bytes[at] = if bytes[at] == b'A' { b'B' } else { b'A' };
    std::fs::write(&file, bytes).unwrap();
    let o = s.bare(&["check-proof", &file, "--key", &key]).run();
    assert_eq!(o.code, Some(1), "{o:?}");
    assert_eq!(
        o.stdout,
        "not proven: the proof's line is not leaf 1 of the checkpoint: the inclusion proof \
         does not lead to the given root\n"
    );
    // JSON holds the same proof.
    let json: serde_json::Value =
        serde_json::from_str(&s.ok(&["prove", &record, "--format", "json"])).unwrap();
    assert_eq!(json["index"], 1);
    assert_eq!(json["line"], line.as_str());
    assert!(proof.ends_with(json["checkpoint"].as_str().unwrap()));
}

#[test]
fn a_record_proven_against_an_older_checkpoint_checks() {
    let (s, key) = sealed_store();
    let cp = save_checkpoint(&s, "cp");
    s.log_lines(&["--seal-interval", "0"], &numbered("b", 4));
    s.ok(&["seal"]);
    let r = &s.records()[0];
    let record = format!("s:{}:{}", r["session_id"].as_str().unwrap(), r["seq"]);
    let proof = s.ok(&["prove", &record, "--checkpoint", &cp]);
    assert!(proof.contains("\nindex 0\nsize 3\n"), "{proof}");
    let o = s
        .bare(&["check-proof", "-", "--key", &key])
        .stdin(proof)
        .run()
        .ok();
    assert!(o.contains(" is leaf 0 of the 3 lines of "), "{o}");
}

#[test]
fn an_unsealed_or_unknown_record_is_an_error() {
    let (s, _) = sealed_store();
    s.log_lines(&["--seal-interval", "0"], &numbered("b", 1));
    let r = &s.records()[3];
    let (session, seq) = (
        r["session_id"].as_str().unwrap(),
        r["seq"].as_u64().unwrap(),
    );
    let o = s.cmd(&["prove", &format!("s:{session}:{seq}")]).run();
    assert_eq!(o.code, Some(1), "{o:?}");
    assert_eq!(
        o.stderr,
        format!(
            "scout-audit: error: sealing {}: the record s:{session}:{seq:020} is line 4 of the \
             store, after the 3 lines the latest seal covers: not sealed yet (run `scout-audit \
             seal`)\n",
            s.path.display()
        )
    );
    let o = s.cmd(&["prove", "s:nobody:0"]).run();
    assert_eq!(o.code, Some(1), "{o:?}");
    assert!(
        o.stderr
            .ends_with("the store holds no record s:nobody:00000000000000000000\n"),
        "{o:?}"
    );
    let o = s.cmd(&["prove", "nobody"]).run();
    assert_eq!(o.code, Some(1), "{o:?}");
    assert!(
        o.stderr.contains("is not a record key s:<session>:<seq>"),
        "{o:?}"
    );
}

#[test]
fn checkpoint_on_an_unsealed_or_table_store_is_refused() {
    let s = Store::new();
    s.log_lines(&["--seal-interval", "0"], &numbered("a", 1));
    let o = s.cmd(&["checkpoint"]).run();
    assert_eq!(o.code, Some(1), "{o:?}");
    assert!(
        o.stderr.contains("does not exist: the store is not sealed"),
        "{o:?}"
    );
    s.ok(&["seal", "init"]);
    let o = s.cmd(&["checkpoint"]).run();
    assert!(
        o.stderr
            .contains("holds no seal yet: run `scout-audit seal`"),
        "{o:?}"
    );
    let db = format!("sqlite:{}", s.dir.path().join("t.db").display());
    let o = s.bare(&["--path", &db, "checkpoint"]).run();
    assert_eq!(o.code, Some(1), "{o:?}");
    assert!(
        o.stderr.contains("sealing is a file-store feature"),
        "{o:?}"
    );
}
