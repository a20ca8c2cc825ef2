//! `prove --consistency` and `check-proof --old` end to end: an auditor
//! holding an old checkpoint is convinced, without the store, that the
//! latest seal extends it, and refuses a proof that does not match, a
//! foreign key, a rolled-back store and a checkpoint of another store
//! (decisions 120-122).

use std::path::Path;

use scout_audit_core::Timestamp;

use crate::support::{Store, numbered};

/// A store with 3 sealed lines (epochs of an hour); its verification key.
fn sealed_store() -> (Store, String) {
    let s = Store::new();
    s.log_lines(&["--seal-interval", "0"], &numbered("a", 3));
    let key = s.ok(&["seal", "init", "--epoch", "1h"]).trim().to_owned();
    s.ok(&["seal"]);
    (s, key)
}

/// Writes `text` outside the store; its path.
fn save(s: &Store, name: &str, text: &str) -> String {
    let path = s.dir.path().join(name);
    std::fs::write(&path, text).unwrap();
    path.display().to_string()
}

/// Logs `n` more lines and seals them.
fn grow(s: &Store, session: &str, n: u64) {
    s.log_lines(&["--seal-interval", "0"], &numbered(session, n));
    s.ok(&["seal"]);
}

/// The `proven:` line for a proof file whose new checkpoint is of `size`.
fn proven(proof: &str, size: u64, old: u64) -> String {
    let text = std::fs::read_to_string(proof).unwrap();
    let field = |name: &str| {
        text.lines()
            .find_map(|l| l.strip_prefix(name))
            .unwrap()
            .to_owned()
    };
    let origin = text.split("\n\n").nth(1).unwrap().lines().next().unwrap();
    let time: i64 = field("time ").parse().unwrap();
    let (y, mo, d, h, mi, sec) = Timestamp::from_unix(time, 0).unwrap().civil();
    format!(
        "proven: the {size} lines of {origin} sealed by epoch 1's key at \
         {y:04}-{mo:02}-{d:02}T{h:02}:{mi:02}:{sec:02}Z extend the old checkpoint's {old} (epoch 1)\n"
    )
}

#[test]
fn a_consistency_proof_round_trips_through_files_into_check_proof() {
    let (s, key) = sealed_store();
    let cp1 = save(&s, "cp1", &s.ok(&["checkpoint"]));
    grow(&s, "b", 2);
    let text = s.ok(&["prove", "--consistency", &cp1]);
    assert!(
        text.starts_with("scout-audit consistency v1\nold-size 3\nold-root "),
        "{text}"
    );
    // Same epoch: the proof's checkpoint carries no certificate.
    let paragraphs: Vec<&str> = text.split("\n\n").collect();
    assert_eq!(paragraphs.len(), 3, "{text}");
    assert!(paragraphs[0].contains("\nsize 5\nroot "), "{text}");
    let p = save(&s, "p", &text);
    let out = s.ok(&["check-proof", &p, "--key", &key, "--old", &cp1]);
    assert_eq!(out, proven(&p, 5, 3));
    // JSON: the same fields as one object.
    let json: serde_json::Value =
        serde_json::from_str(&s.ok(&["prove", "--consistency", &cp1, "--format", "json"])).unwrap();
    assert_eq!(
        (json["old_size"].as_u64(), json["size"].as_u64()),
        (Some(3), Some(5))
    );
    let hashes = paragraphs[0].lines().skip(5).collect::<Vec<_>>();
    assert_eq!(json["proof"].as_array().unwrap().len(), hashes.len());
    assert_eq!(json["proof"][0].as_str(), Some(hashes[0]));
    assert_eq!(
        json["checkpoint"].as_str(),
        Some(&*format!("{}\n\n{}", paragraphs[1], paragraphs[2]))
    );
    // The auditor keeps the proof; tomorrow's proof starts from it.
    grow(&s, "c", 4);
    let p2 = save(&s, "p2", &s.ok(&["prove", "--consistency", &p]));
    let out = s.ok(&[
        "check-proof",
        &p2,
        "--key",
        &key,
        "--old",
        &cp1,
        "--old",
        &p,
    ]);
    assert_eq!(out, proven(&p2, 9, 5));
}

#[test]
fn a_proof_that_does_not_match_or_another_key_is_not_proven() {
    let (s, key) = sealed_store();
    let cp1 = save(&s, "cp1", &s.ok(&["checkpoint"]));
    grow(&s, "b", 4);
    let text = s.ok(&["prove", "--consistency", &cp1]);
    let hash_at = text.find("\nroot ").unwrap() + 1;
    let hash_at = hash_at + text[hash_at..].find('\n').unwrap() + 1;
    let mut flipped = text.clone().into_bytes();
    flipped[hash_at] = if flipped[hash_at] == b'A' { b'B' } else { b'A' };
    let bad = save(&s, "bad", &String::from_utf8(flipped).unwrap());
    let o = s
        .cmd(&["check-proof", &bad, "--key", &key, "--old", &cp1])
        .run();
    assert_eq!(o.code, Some(1), "{o:?}");
    assert_eq!(
        o.stdout,
        "not proven: the new checkpoint does not extend the old one: the consistency proof \
         does not lead to the given root\n"
    );
    let p = save(&s, "p", &text);
    let other = Store::new();
    other.log_lines(&["--seal-interval", "0"], &numbered("z", 1));
    let other_key = other.ok(&["seal", "init"]).trim().to_owned();
    let o = s
        .cmd(&["check-proof", &p, "--key", &other_key, "--old", &cp1])
        .run();
    assert_eq!(o.code, Some(1), "{o:?}");
    assert!(
        o.stdout
            .starts_with("not proven: the epoch chain: epoch 1 certificate: "),
        "{o:?}"
    );
    // No --old for a consistency proof; --old for an inclusion proof.
    let err = s.cmd(&["check-proof", &p, "--key", &key]).run().error();
    assert_eq!(
        err,
        format!(
            "scout-audit: error: {p} is a consistency proof: give the old checkpoint it starts \
             from with --old FILE"
        )
    );
    let live = std::fs::read_to_string(&s.path).unwrap();
    let first: serde_json::Value = serde_json::from_str(live.lines().next().unwrap()).unwrap();
    let record = format!("s:{}:0", first["session_id"].as_str().unwrap());
    let inclusion = save(&s, "incl", &s.ok(&["prove", &record]));
    let err = s
        .cmd(&["check-proof", &inclusion, "--key", &key, "--old", &cp1])
        .run()
        .error();
    assert_eq!(
        err,
        format!("scout-audit: error: --old is for consistency proofs; {inclusion} is not one")
    );
    // prove: RECORD and --consistency exclude each other.
    let o = s.cmd(&["prove", &record, "--consistency", &cp1]).run();
    assert_eq!(o.code, Some(2), "{o:?}");
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        std::fs::copy(e.path(), to.join(e.file_name())).unwrap();
    }
}

#[test]
fn a_rolled_back_store_or_another_stores_checkpoint_gives_no_proof() {
    let (s, _) = sealed_store();
    let t1 = s.dir.path().join("t1");
    copy_dir(&s.store_dir(), &t1);
    grow(&s, "b", 2);
    let cp = save(&s, "cp", &s.ok(&["checkpoint"]));
    std::fs::remove_dir_all(s.store_dir()).unwrap();
    copy_dir(&t1, &s.store_dir());
    let err = s.cmd(&["prove", "--consistency", &cp]).run().error();
    assert!(
        err.ends_with(
            "the old checkpoint's size 5 is larger than the latest seal's 3: the store was \
             rolled back or its seals cut"
        ),
        "{err}"
    );
    let (other, _) = sealed_store();
    let foreign = save(&other, "foreign", &other.ok(&["checkpoint"]));
    let err = s.cmd(&["prove", "--consistency", &foreign]).run().error();
    assert!(
        err.contains("the old checkpoint is of scout-audit/"),
        "{err}"
    );
    assert!(err.contains(", not of this store (scout-audit/"), "{err}");
}
