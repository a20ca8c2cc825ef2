//! `seal init`, `seal` and `verify --key` end to end.

use crate::support::{Store, numbered};

/// A store with 3 sealed lines; its verification key.
fn sealed_store() -> (Store, String) {
    let s = Store::new();
    s.log_lines(&["--seal-interval", "0"], &numbered("a", 3));
    let key = s.ok(&["seal", "init", "--epoch", "1h"]).trim().to_owned();
    assert!(key.starts_with("scout-audit/"), "{key}");
    assert_eq!(
        s.ok(&["seal"]),
        "sealed 3 new lines (3 in all) with epoch 1's key\n"
    );
    assert_eq!(s.ok(&["seal"]), "nothing to seal: every line is sealed\n");
    (s, key)
}

#[test]
fn a_sealed_store_verifies_with_its_key_text_or_file() {
    let (s, key) = sealed_store();
    let out = s.ok(&["verify", "--key", &key]);
    assert!(
        out.ends_with("sealed: 3 lines as sealed, 1 seals, 2 epochs\n"),
        "{out}"
    );
    s.write("key.txt", format!("{key}\n"));
    let file = s.file("key.txt");
    let out = s.ok(&["verify", "--key", &file]);
    assert!(
        out.ends_with("sealed: 3 lines as sealed, 1 seals, 2 epochs\n"),
        "{out}"
    );
}

#[test]
fn unsealed_lines_are_reported_and_fail_only_when_required() {
    let (s, key) = sealed_store();
    s.log_lines(&["--seal-interval", "0"], &numbered("b", 2));
    let out = s.ok(&["verify", "--key", &key]);
    assert!(
        out.contains("unsealed: 2 lines after the last seal, at most "),
        "{out}"
    );
    let o = s.cmd(&["verify", "--key", &key, "--require-sealed"]).run();
    assert_eq!(o.code, Some(1), "{o:?}");
}

#[test]
fn log_on_a_sealed_store_seals_before_it_exits() {
    let (s, key) = sealed_store();
    s.log_lines(&[], &numbered("b", 2));
    let out = s.ok(&["verify", "--key", &key, "--require-sealed"]);
    assert!(
        out.ends_with("sealed: 5 lines as sealed, 2 seals, 2 epochs\n"),
        "{out}"
    );
    assert_eq!(s.ok(&["seal"]), "nothing to seal: every line is sealed\n");
}

#[test]
fn an_edited_sealed_line_fails_verify_and_is_located() {
    let (s, key) = sealed_store();
    let text = std::fs::read_to_string(&s.path).unwrap();
    std::fs::write(&s.path, text.replacen("\"a\"", "\"A\"", 1)).unwrap();
    let o = s.cmd(&["verify", "--key", &key]).run();
    assert_eq!(o.code, Some(1), "{o:?}");
    assert!(
        o.stdout.ends_with(
            "tampering: the lines sealed up to size 3 differ from the seal: edited, inserted, \
             removed or reordered (from audit.jsonl line 1)\n"
        ),
        "{o:?}"
    );
}

#[test]
fn init_twice_and_a_table_store_are_refused() {
    let (s, _) = sealed_store();
    let o = s.cmd(&["seal", "init"]).run();
    assert_eq!(o.code, Some(1), "{o:?}");
    assert!(o.stderr.contains("already set up for sealing"), "{o:?}");
    let db = format!("sqlite:{}", s.dir.path().join("t.db").display());
    let o = s.bare(&["--path", &db, "seal", "init"]).run();
    assert_eq!(o.code, Some(1), "{o:?}");
    assert!(
        o.stderr.contains("sealing is a file-store feature"),
        "{o:?}"
    );
}

#[test]
fn verify_reports_the_lines_retention_removed_under_seal() {
    let (s, key) = sealed_store();
    for round in ["b", "c", "d"] {
        s.ok(&["--seal-interval", "0", "rotate"]);
        s.log_lines(&["--seal-interval", "0"], &numbered(round, 2));
        s.ok(&["seal"]);
    }
    // Archives 1 (3 lines), 2 and 3 (2 lines each) go; 4 stays.
    s.ok(&["--seal-interval", "0", "--keep-archives", "1", "rotate"]);
    let out = s.ok(&["verify", "--key", &key]);
    let lines: Vec<&str> = out.lines().collect();
    let at = lines
        .iter()
        .position(|l| l.starts_with("sealed: "))
        .unwrap();
    assert_eq!(
        lines[at], "sealed: 9 lines as sealed, 4 seals, 2 epochs",
        "{out}"
    );
    // The index of archive 4, made when it was sealed already, waits for
    // the next seal's vouch.
    assert_eq!(
        lines[at + 2..],
        ["indexes: 0 as vouched for, 1 not vouched for yet"],
        "{out}"
    );
    let retired = lines[at + 1];
    assert!(
        retired.starts_with(
            "retired: 7 lines in 3 archives removed by retention (up to segment 3, signed in epoch 1 at time "
        ),
        "{out}"
    );
}
