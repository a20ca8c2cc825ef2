//! An index never changes an answer silently (finding 8): `spend` and
//! `query` read the archive of an index that does not match it and say so
//! on stderr, `verify` names the index and what differs (exit 1), and
//! `index` rewrites it.

use std::io::Write;

use scout_audit_store_file::index::INDEX_VERSION;
use serde_json::json;

use crate::support::{NOW, Store};
use scout_audit_testkit::forge::{reseal, with_costs, without_identity};

/// A store with one archive (records at 11:10, 11:20, 11:30 costing 500
/// together) and its index, and a live record at 11:50 costing 1; the
/// archive's and its index's file names.
fn store() -> (Store, String, String) {
    let s = Store::new();
    s.log_lines(
        &[],
        &[
            json!({"event":"llm_call","ts":"2026-03-01T11:10:00Z","cost":200}),
            json!({"event":"llm_call","ts":"2026-03-01T11:20:00Z","cost":200}),
            json!({"event":"nav","ts":"2026-03-01T11:30:00Z","cost":100}),
        ],
    );
    s.ok(&["rotate"]);
    s.log_lines(
        &[],
        &[json!({"event":"nav","ts":"2026-03-01T11:50:00Z","cost":1})],
    );
    let files = s.files();
    let gz = files.iter().find(|f| f.ends_with(".gz")).unwrap().clone();
    let idx = format!("{gz}.idx");
    assert!(files.contains(&idx), "{files:?}");
    (s, gz, idx)
}

fn spend(s: &Store) -> crate::support::Out {
    s.cmd(&["--now", NOW, "spend", "--since", "2h", "--format", "json"])
        .run()
}

const SPEND: &str =
    "{\"total_cost\":501.0,\"records\":4,\"since\":\"2026-03-01T10:00:00+00:00\"}\n";

/// Waits until an identity recorded now is past the racy window (2 s) of
/// every file changed before.
fn past_the_racy_window() {
    std::thread::sleep(std::time::Duration::from_millis(2100));
}

/// What `index` says of an archive whose index it refreshed.
fn refreshed(s: &Store, gz: &str) -> String {
    format!(
        "refreshed {}: its index now records the archive's identity, so reads stop hashing the \
         archive (the store was copied, the index was of format 3, or it was written just after \
         the archive changed)\n\
         0 archives indexed, 0 reindexed, 1 already indexed, 0 damaged, 0 changed\n",
        s.file(gz)
    )
}

fn mismatch_note(s: &Store, idx: &str) -> String {
    format!(
        "scout-audit: 1 index did not match its archive; read the archive instead (first: {}); \
         `scout-audit verify` names it, `scout-audit index` rewrites it\n",
        s.file(idx)
    )
}

#[test]
fn a_forged_index_changes_no_answer_is_reported_and_rewritten() {
    let (s, gz, idx) = store();
    assert_eq!(spend(&s).ok(), SPEND);
    let count = ["--now", NOW, "query", "--since", "1h", "--count"];
    assert_eq!(s.ok(&count), "4\n");
    let text = std::fs::read_to_string(s.store_dir().join(&idx)).unwrap();
    // Totals edited (500 becomes 0.5), the archive and the old stamp's
    // fields untouched.
    s.write(&idx, with_costs(&text, 0.25));
    let o = spend(&s);
    assert_eq!(
        (o.code, o.stdout.as_str(), o.stderr),
        (Some(0), SPEND, mismatch_note(&s, &idx))
    );
    // Hours moved a day earlier: the archive would be pruned from --since.
    let mut earlier = text.clone();
    for k in ["\"first_ts\":[", "\"last_ts\":["] {
        let from = earlier.find(k).unwrap() + k.len();
        let to = from + earlier[from..].find(',').unwrap();
        let secs: i64 = earlier[from..to].parse().unwrap();
        earlier.replace_range(from..to, &(secs - 86_400).to_string());
    }
    s.write(&idx, &earlier);
    let o = s.cmd(&count).run();
    assert_eq!(
        (o.code, o.stdout.as_str(), o.stderr),
        (Some(0), "4\n", mismatch_note(&s, &idx))
    );
    let o = s.cmd(&["--now", NOW, "query", "--since", "1h"]).run();
    assert_eq!(o.stdout.lines().count(), 4, "{o:?}");
    assert_eq!(o.stderr, mismatch_note(&s, &idx));
    // verify names it; exit 1.
    let o = s.cmd(&["verify"]).run();
    assert_eq!((o.code, o.stderr.as_str()), (Some(1), ""), "{o:?}");
    let lines: Vec<&str> = o.stdout.lines().collect();
    assert_eq!(
        lines[0],
        format!(
            "{}: index does not match its archive: its digest does not match its contents (edited?)",
            s.file(&idx)
        )
    );
    assert!(lines[1].ends_with(": 1 problem"), "{lines:?}");
    assert_eq!(lines.len(), 2, "{lines:?}");
    // index rewrites it, saying so; then all is as before.
    assert_eq!(
        s.ok(&["index"]),
        format!(
            "reindexed {}: its index did not match it: its digest does not match its contents (edited?)\n\
             0 archives indexed, 1 reindexed, 0 already indexed, 0 damaged, 0 changed\n",
            s.file(&gz)
        )
    );
    assert_eq!(
        without_identity(&std::fs::read_to_string(s.store_dir().join(&idx)).unwrap()),
        without_identity(&text)
    );
    assert_eq!(spend(&s).ok(), SPEND);
    assert!(s.ok(&["verify"]).ends_with(": OK\n"));
}

#[test]
fn verify_names_what_a_consistent_forgery_changed() {
    let (s, _gz, idx) = store();
    let text = std::fs::read_to_string(s.store_dir().join(&idx)).unwrap();
    // Digests recomputed: readers use it (trusted for speed, never for
    // truth); verify compares it with the archive's records.
    s.write(&idx, reseal(&with_costs(&text, 0.25)));
    assert_eq!(
        spend(&s).ok(),
        "{\"total_cost\":1.5,\"records\":4,\"since\":\"2026-03-01T10:00:00+00:00\"}\n"
    );
    let o = s.cmd(&["verify"]).run();
    assert_eq!((o.code, o.stderr.as_str()), (Some(1), ""), "{o:?}");
    let lines: Vec<&str> = o.stdout.lines().collect();
    assert_eq!(
        lines[0],
        format!(
            "{}: index does not match its archive: it summarises other records than the archive \
             holds (`scout-audit index --rebuild` writes it again): hour 2026-03-01T11:00:00+00:00, \
             event \"llm_call\": cost 0.25 in the index, \
             400 in the archive; hour 2026-03-01T11:00:00+00:00, event \"nav\": cost 0.25 in the \
             index, 100 in the archive",
            s.file(&idx)
        )
    );
    assert!(lines[1].ends_with(": 1 problem"), "{lines:?}");
    assert_eq!(lines.len(), 2, "{lines:?}");
    // `index` checks digests only: this one it leaves (verify's job)...
    assert!(
        s.ok(&["index"])
            .ends_with("0 reindexed, 1 already indexed, 0 damaged, 0 changed\n")
    );
    // ... and `index --rebuild` writes every index again from its archive.
    let gz = idx.strip_suffix(".idx").unwrap();
    assert_eq!(
        s.ok(&["index", "--rebuild"]),
        format!(
            "reindexed {}: rebuilt from the archive's records (--rebuild)\n\
             0 archives indexed, 1 reindexed, 0 already indexed, 0 damaged, 0 changed\n",
            s.file(gz)
        )
    );
    assert_eq!(s.cmd(&["verify"]).run().code, Some(0));
    assert_eq!(spend(&s).ok(), SPEND);
}

#[test]
fn an_archive_edited_in_place_keeping_its_stamp_is_read_and_reported() {
    fn member(text: &str, level: flate2::Compression) -> Vec<u8> {
        let mut e = flate2::write::GzEncoder::new(Vec::new(), level);
        e.write_all(text.as_bytes()).unwrap();
        e.finish().unwrap()
    }
    let rec = |at: &str, cost: &str| {
        format!("{{\"ts\":\"2026-03-01T{at}Z\",\"event\":\"llm_call\",\"cost\":{cost}}}\n")
    };
    let s = Store::new();
    let gz = "audit-20260301T113000Z-000001.jsonl.gz";
    let idx = format!("{gz}.idx");
    // Two members: the first stored (its length is its text's), the last
    // one's CRC and size are the archive's last 8 bytes.
    let first = member(&rec("11:10:00", "0.5"), flate2::Compression::none());
    let last = member(&rec("11:20:00", "0.25"), flate2::Compression::fast());
    s.write(gz, [first.clone(), last.clone()].concat());
    s.write("audit.jsonl", rec("11:50:00", "1"));
    assert!(
        s.ok(&["index"])
            .starts_with(&format!("indexed {}\n", s.file(gz)))
    );
    let answer = |total: &str| {
        format!(
            "{{\"total_cost\":{total},\"records\":3,\"since\":\"2026-03-01T10:00:00+00:00\"}}\n"
        )
    };
    assert_eq!(spend(&s).ok(), answer("1.75"));
    // Over 2 s later `index` records an identity readers trust without
    // hashing; the edit below comes after it, and must still be found.
    past_the_racy_window();
    assert_eq!(s.ok(&["index"]), refreshed(&s, gz));
    assert_eq!(spend(&s).ok(), answer("1.75"));
    // The first member replaced by one of the same length, the last kept,
    // the modification time put back.
    let path = s.store_dir().join(gz);
    let mtime = std::fs::metadata(&path).unwrap().modified().unwrap();
    let edited = member(&rec("11:10:00", "9.5"), flate2::Compression::none());
    assert_eq!(edited.len(), first.len());
    std::fs::write(&path, [edited, last].concat()).unwrap();
    std::fs::File::options()
        .write(true)
        .open(&path)
        .unwrap()
        .set_modified(mtime)
        .unwrap();
    assert_eq!(std::fs::metadata(&path).unwrap().modified().unwrap(), mtime);
    let o = spend(&s);
    assert_eq!(
        (o.code, o.stdout, o.stderr),
        (Some(0), answer("10.75"), mismatch_note(&s, &idx))
    );
    let o = s.cmd(&["verify"]).run();
    assert_eq!((o.code, o.stderr.as_str()), (Some(1), ""), "{o:?}");
    assert!(
        o.stdout.starts_with(&format!(
            "{}: index does not match its archive: \
             the archive's SHA-256 differs from the one the index was made from\n",
            s.file(&idx)
        )),
        "{o:?}"
    );
    assert!(
        s.ok(&["index"])
            .starts_with(&format!("reindexed {}: ", s.file(gz)))
    );
    assert_eq!(spend(&s).ok(), answer("10.75"));
}

#[test]
fn an_index_of_the_old_format_is_not_used_and_is_rewritten() {
    let (s, gz, idx) = store();
    let text = std::fs::read_to_string(s.store_dir().join(&idx)).unwrap();
    s.write(
        &idx,
        text.replacen(
            &format!("\"scout_audit_index\":{INDEX_VERSION}"),
            "\"scout_audit_index\":1",
            1,
        ),
    );
    let o = spend(&s);
    assert_eq!(
        (o.code, o.stdout.as_str(), o.stderr.as_str()),
        (
            Some(0),
            SPEND,
            "scout-audit: 1 index of an older format not used; `scout-audit index` rewrites it\n"
        )
    );
    let out = s.ok(&["verify"]);
    assert!(
        out.starts_with(&format!(
            "note: index of format version 1, not used (`scout-audit index` rewrites it): {}\n",
            s.file(&idx)
        )),
        "{out}"
    );
    assert!(out.ends_with(": OK\n"), "{out}");
    assert_eq!(
        s.ok(&["index"]),
        format!(
            "reindexed {}: its index was of format version 1, not {INDEX_VERSION}\n\
             0 archives indexed, 1 reindexed, 0 already indexed, 0 damaged, 0 changed\n",
            s.file(&gz)
        )
    );
    assert_eq!(spend(&s).ok(), SPEND);
}

/// A copied store (new inodes, new ctimes) answers from its indexes, the
/// archives hashed; `index` refreshes them once the copy is over 2 s old,
/// saying so.
#[test]
fn a_copied_store_answers_from_its_indexes_and_index_refreshes_them() {
    let (s, gz, _idx) = store();
    let c = Store::new();
    for name in s.files() {
        c.write(&name, std::fs::read(s.store_dir().join(&name)).unwrap());
    }
    let o = spend(&c);
    assert_eq!(
        (o.code, o.stdout.as_str(), o.stderr.as_str()),
        (Some(0), SPEND, "")
    );
    past_the_racy_window();
    assert_eq!(c.ok(&["index"]), refreshed(&c, &gz));
    assert_eq!(
        c.ok(&["index"]),
        "0 archives indexed, 0 reindexed, 1 already indexed, 0 damaged, 0 changed\n"
    );
    assert_eq!(spend(&c).ok(), SPEND);
    assert!(c.ok(&["verify"]).ends_with(": OK\n"));
}
