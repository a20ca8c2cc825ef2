//! On a sealed store, the read commands answer only from indexes a seal
//! vouched for, and `verify --key` names an index edited since (decision
//! 88): end to end, with an index forged as testkit's forger does (its
//! totals edited, its digest recomputed).

use serde_json::json;

use crate::support::{NOW, Store};
use scout_audit_testkit::forge::{reseal, with_costs};

/// A sealed store with one archive (records at 11:10, 11:20, 11:30
/// costing 500 together) and its vouched index, and a sealed live record
/// at 11:50 costing 1; its verification key and the index's file name.
fn sealed_store() -> (Store, String, String) {
    let s = Store::new();
    s.log_lines(
        &["--seal-interval", "0"],
        &[json!({"event":"llm_call","ts":"2026-03-01T11:05:00Z","cost":0})],
    );
    let key = s.ok(&["seal", "init", "--epoch", "1h"]).trim().to_owned();
    s.log_lines(
        &["--seal-interval", "0"],
        &[
            json!({"event":"llm_call","ts":"2026-03-01T11:10:00Z","cost":200}),
            json!({"event":"llm_call","ts":"2026-03-01T11:20:00Z","cost":200}),
            json!({"event":"nav","ts":"2026-03-01T11:30:00Z","cost":100}),
        ],
    );
    s.ok(&["--seal-interval", "0", "rotate"]);
    s.log_lines(
        &["--seal-interval", "0"],
        &[json!({"event":"nav","ts":"2026-03-01T11:50:00Z","cost":1})],
    );
    assert_eq!(
        s.ok(&["seal"]),
        "sealed 5 new lines (5 in all) with epoch 1's key\n"
    );
    let idx = s
        .files()
        .into_iter()
        .find(|f| f.ends_with(".gz.idx"))
        .unwrap();
    (s, key, idx)
}

fn spend(s: &Store) -> crate::support::Out {
    s.cmd(&["--now", NOW, "spend", "--since", "2h", "--format", "json"])
        .run()
}

const SPEND: &str =
    "{\"total_cost\":501.0,\"records\":5,\"since\":\"2026-03-01T10:00:00+00:00\"}\n";

#[test]
fn a_forged_index_changes_no_answer_on_a_sealed_store_and_verify_names_it() {
    let (s, key, idx) = sealed_store();
    let out = s.ok(&["verify", "--key", &key]);
    assert!(
        out.ends_with(
            "sealed: 5 lines as sealed, 1 seals, 2 epochs\n\
             indexes: 1 as vouched for, 0 not vouched for yet\n"
        ),
        "{out}"
    );
    let o = spend(&s);
    assert_eq!(
        (o.code, o.stdout.as_str(), o.stderr.as_str()),
        (Some(0), SPEND, "")
    );
    let stats = s.ok(&["stats", "--format", "json"]);
    let text = std::fs::read_to_string(s.store_dir().join(&idx)).unwrap();
    s.write(&idx, reseal(&with_costs(&text, 0.25)));
    // The forgery matches its archive's bytes; no seal vouched for it.
    let o = spend(&s);
    assert_eq!((o.code, o.stdout.as_str()), (Some(0), SPEND), "{o:?}");
    assert_eq!(
        o.stderr,
        format!(
            "scout-audit: 1 index not vouched for by the store's seals; read the archive instead \
             (first: {}); `scout-audit seal` vouches for those of sealed archives, \
             `scout-audit verify --key` names an edited one\n",
            s.file(&idx)
        )
    );
    let o = s.cmd(&["stats", "--format", "json"]).run();
    assert_eq!(
        (o.code, o.stdout.as_str()),
        (Some(0), stats.as_str()),
        "{o:?}"
    );
    let o = s.cmd(&["verify", "--key", &key]).run();
    assert_eq!(o.code, Some(1), "{o:?}");
    // After what plain `verify` finds (the index summarises other
    // records than its archive holds), the seals' verdict names it.
    assert!(
        o.stdout.ends_with(&format!(
            "\ntampering: the index {idx} differs from the index the seals vouched for: edited\n"
        )),
        "{o:?}"
    );
    // Sealing again vouches for nothing new: the forgery stays unused.
    assert_eq!(s.ok(&["seal"]), "nothing to seal: every line is sealed\n");
    assert_eq!(spend(&s).stdout, SPEND);
}

#[test]
fn a_new_archives_index_is_vouched_for_by_the_next_seal() {
    let (s, key, _) = sealed_store();
    s.ok(&["--seal-interval", "0", "rotate"]);
    s.log_lines(
        &["--seal-interval", "0"],
        &[json!({"event":"nav","ts":"2026-03-01T11:55:00Z","cost":2})],
    );
    let out = s.ok(&["verify", "--key", &key]);
    assert!(
        out.contains("indexes: 1 as vouched for, 1 not vouched for yet\n"),
        "{out}"
    );
    let o = spend(&s);
    assert_eq!(
        o.stdout,
        "{\"total_cost\":503.0,\"records\":6,\"since\":\"2026-03-01T10:00:00+00:00\"}\n"
    );
    assert!(
        o.stderr.starts_with("scout-audit: 1 index not vouched for"),
        "{o:?}"
    );
    assert_eq!(
        s.ok(&["seal"]),
        "sealed 1 new lines (6 in all) with epoch 1's key\n"
    );
    assert_eq!(spend(&s).stderr, "");
    let out = s.ok(&["verify", "--key", &key]);
    assert!(
        out.ends_with("indexes: 2 as vouched for, 0 not vouched for yet\n"),
        "{out}"
    );
}
