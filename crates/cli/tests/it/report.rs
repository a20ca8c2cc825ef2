//! `report`: the page's figures equal `spend --by day`, `spend --by
//! day,model`, `accuracy` and `sessions` for the same window, by hand on
//! a small store and against the commands on a generated one; the empty
//! store; the window's edges; hostile strings escaped; `--out` never
//! replacing what was not named.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::{Value, json};

use crate::support::{NOW, Store, jsonl_text, numbered, parse_jsonl};

/// The figures of a page: its `#report-data` block.
fn data(page: &str) -> Value {
    let open = "<script type=\"application/json\" id=\"report-data\">";
    let start = page.find(open).expect("a data block") + open.len();
    let end = start + page[start..].find("</script>").expect("its end");
    serde_json::from_str(&page[start..end]).unwrap()
}

fn json_of(s: &Store, args: &[&str]) -> Value {
    let mut a = vec!["--now", NOW];
    a.extend_from_slice(args);
    serde_json::from_str(&s.ok(&a)).unwrap()
}

fn report(s: &Store, args: &[&str]) -> String {
    let mut a = vec!["--now", NOW, "report"];
    a.extend_from_slice(args);
    s.ok(&a)
}

/// A store over four days around NOW (2026-03-01T12:00Z): an archive and
/// the live file, three models and none, five sessions and none, files.
fn generated() -> Store {
    let s = Store::new();
    let mut lines = Vec::new();
    for i in 0..240u64 {
        let hours = i64::try_from(i).unwrap() * 23 / 60; // 0 .. 92 h back
        let t = 1_772_366_400 - hours * 3600 - i64::try_from(i % 7).unwrap() * 60;
        let ts = chrono_free_iso(t);
        let event = ["nav", "nav", "validation_fail", "llm_call", "brief"][(i % 5) as usize];
        let mut v = json!({
            "ts": ts, "event": event, "session_id": format!("s{}", i % 5),
            "cost": (i % 13) as f64 * 0.1 + 0.01, "input_t": i * 3, "output_t": i % 11,
            "files": [format!("src/f{}.rs", i % 4), "README.md"],
        });
        if i % 4 != 3 {
            v["model"] = json!(["m-a", "m-b", "m-c"][(i % 3) as usize]);
        }
        if i % 17 == 0 {
            v.as_object_mut().unwrap().remove("session_id");
        }
        lines.push(v);
    }
    s.write("audit.jsonl", jsonl_text(&lines[..120]));
    assert!(s.ok(&["rotate"]).starts_with("sealed "));
    s.write("audit.jsonl", jsonl_text(&lines[120..]));
    s
}

/// `t` (unix seconds) as RFC 3339 in UTC.
fn chrono_free_iso(t: i64) -> String {
    let days = t.div_euclid(86_400);
    let secs = t.rem_euclid(86_400);
    // Civil from days (Howard Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z",
        secs / 3600,
        secs / 60 % 60,
        secs % 60
    )
}

#[test]
fn figures_equal_spend_accuracy_and_sessions_for_the_window() {
    let s = generated();
    for since in ["3d", "30h", "2026-02-27T05:00:00Z"] {
        let d = data(&report(&s, &["--since", since]));
        let by_day = json_of(
            &s,
            &["spend", "--since", since, "--by", "day", "--format", "json"],
        );
        let pairs = json_of(
            &s,
            &[
                "spend",
                "--since",
                since,
                "--by",
                "day,model",
                "--format",
                "json",
            ],
        );
        let acc = json_of(&s, &["accuracy", "--since", since, "--format", "json"]);
        let sessions = json_of(&s, &["sessions", "--since", since, "--format", "json"]);
        assert_eq!(d["spend_by_day"], by_day["groups"], "{since}");
        assert_eq!(d["spend_by_day_model"], pairs["groups"], "{since}");
        assert_eq!(d["totals"]["total_cost"], by_day["total_cost"], "{since}");
        assert_eq!(d["totals"]["records"], by_day["records"], "{since}");
        assert_eq!(d["accuracy"], acc, "{since}");
        let top: Vec<Value> = sessions["sessions"]
            .as_array()
            .unwrap()
            .iter()
            .take(10)
            .cloned()
            .collect();
        assert_eq!(d["top_sessions"], json!(top), "{since}");
        // What the page shows of them, and the rest by hand from the records.
        let records =
            parse_jsonl(&s.ok(&["--now", NOW, "query", "--since", since, "--format", "jsonl"]));
        let ids: BTreeSet<&str> = records
            .iter()
            .filter_map(|r| r["session_id"].as_str())
            .collect();
        assert_eq!(d["totals"]["sessions"], json!(ids.len()), "{since}");
        let mut files: BTreeMap<String, u64> = BTreeMap::new();
        let mut days: BTreeMap<String, (u64, u64)> = BTreeMap::new();
        for r in &records {
            for f in r["files"].as_array().unwrap() {
                *files.entry(f.as_str().unwrap().to_owned()).or_default() += 1;
            }
            let day = r["ts"].as_str().unwrap()[..10].to_owned();
            let e = days.entry(day).or_default();
            match r["event"].as_str() {
                Some("nav") => e.0 += 1,
                Some("validation_fail") => e.1 += 1,
                _ => {}
            }
        }
        let mut files: Vec<(String, u64)> = files.into_iter().collect();
        files.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
        let files: Vec<Value> = files
            .iter()
            .map(|(f, n)| json!({"file": f, "records": n}))
            .collect();
        assert_eq!(d["top_files"], json!(files), "{since}");
        let by_hand: Vec<Value> = days
            .iter()
            .map(|(k, (nav, fail))| {
                let pct = ((*nav as f64 - *fail as f64) / *nav as f64 * 100.0 * 100.0).round() / 100.0;
                json!({"total_nav": nav, "validation_fail_count": fail, "accuracy_pct": pct, "key": k})
            })
            .collect();
        assert_eq!(d["accuracy_by_day"], json!(by_hand), "{since}");
    }
}

#[test]
fn a_small_store_by_hand() {
    let s = Store::new();
    s.write(
        "audit.jsonl",
        jsonl_text(&[
            json!({"ts": "2026-02-28T23:59:59Z", "event": "nav", "model": "m1", "cost": 0.1, "session_id": "a", "input_t": 5, "files": ["x.rs"]}),
            json!({"ts": "2026-03-01T00:00:00Z", "event": "validation_fail", "cost": 0.2, "session_id": "a", "output_t": 7}),
            json!({"ts": "2026-03-01T01:00:00+02:00", "event": "nav", "model": "m2", "cost": 1.25, "session_id": "b", "files": ["x.rs", "y.rs"]}),
        ]),
    );
    let page = report(&s, &["--since", "2026-02-28"]);
    let d = data(&page);
    assert_eq!(
        d["spend_by_day"],
        json!([
            {"key": "2026-02-28", "records": 2, "cost": 1.35, "input_t": 5, "output_t": 0},
            {"key": "2026-03-01", "records": 1, "cost": 0.2, "input_t": 0, "output_t": 7},
        ])
    );
    assert_eq!(
        d["totals"],
        json!({"total_cost": 1.55, "records": 3, "sessions": 2, "input_t": 5, "output_t": 7})
    );
    assert_eq!(
        d["accuracy"],
        json!({"total_nav": 2, "validation_fail_count": 1, "accuracy_pct": 50.0})
    );
    assert_eq!(
        d["top_files"],
        json!([{"file": "x.rs", "records": 2}, {"file": "y.rs", "records": 1}])
    );
    assert_eq!(
        d["events_by_day"],
        json!([
            {"key": "2026-02-28", "events": {"nav": 2}, "untyped": 0},
            {"key": "2026-03-01", "events": {"validation_fail": 1}, "untyped": 0},
        ])
    );
    // The headline to the cent, its exact value beside it.
    assert!(
        page.contains("<b data-figure=\"total_cost\" data-value=\"1.55\">$1.55</b>"),
        "{page}"
    );
    assert!(
        page.contains("<b data-figure=\"accuracy_pct\" data-value=\"50\">50.00%</b>"),
        "{page}"
    );
    // Every chart is an inline SVG; nothing is fetched.
    assert_eq!(page.matches("<svg").count(), 6);
    for outside in ["src=", "href=", "@import", "url("] {
        assert!(!page.contains(outside), "{outside}");
    }
    assert!(page.contains("Content-Security-Policy\" content=\"default-src 'none'"));
    assert!(page.contains("@media print"));
}

#[test]
fn an_empty_store_and_an_empty_window() {
    let s = Store::new();
    s.write("audit.jsonl", "");
    for args in [&[][..], &["--since", "1h"][..]] {
        let page = report(&s, args);
        let d = data(&page);
        assert_eq!(
            d["totals"],
            json!({"total_cost": 0.0, "records": 0, "sessions": 0, "input_t": 0, "output_t": 0})
        );
        assert_eq!(d["spend_by_day"], json!([]));
        assert_eq!(d["top_sessions"], json!([]));
        assert_eq!(
            d["accuracy"],
            json!({"total_nav": 0, "validation_fail_count": 0, "accuracy_pct": 100.0})
        );
        assert_eq!(page.matches("No records in the window.").count(), 6);
        assert!(!page.contains("<svg"));
    }
    let e = s
        .cmd(&["--now", NOW, "report", "--since", "1h", "--until", "2h"])
        .run()
        .error();
    assert!(e.contains("the window is empty: --until"), "{e}");
}

#[test]
fn the_window_holds_since_and_not_until() {
    let s = Store::new();
    let at = |ts: &str, cost: f64| json!({"ts": ts, "event": "nav", "cost": cost});
    s.log_lines(
        &[],
        &[
            at("2026-03-01T09:59:59.999999Z", 1.0),
            at("2026-03-01T10:00:00Z", 2.0),
            at("2026-03-01T10:59:59.999999Z", 4.0),
            at("2026-03-01T11:00:00Z", 8.0),
        ],
    );
    let d = data(&report(
        &s,
        &[
            "--since",
            "2026-03-01T10:00:00Z",
            "--until",
            "2026-03-01T11:00:00Z",
        ],
    ));
    assert_eq!(d["totals"]["total_cost"], json!(6.0));
    assert_eq!(d["totals"]["records"], json!(2));
    assert_eq!(d["window"]["since"], json!("2026-03-01T10:00:00+00:00"));
    assert_eq!(d["window"]["until"], json!("2026-03-01T11:00:00+00:00"));
    // Relative to --now: 2h back is 10:00.
    let d = data(&report(&s, &["--since", "2h"]));
    assert_eq!(d["totals"]["total_cost"], json!(14.0));
}

#[test]
fn hostile_strings_are_text_never_markup() {
    let s = Store::new();
    let evil = "</script><img src=x onerror=alert(1)><!--";
    let quote = "\"'><svg onload=alert(2)>&amp;";
    s.write(
        "audit.jsonl",
        jsonl_text(&[
            json!({"ts": "2026-03-01T10:00:00Z", "event": evil, "model": evil, "session_id": evil, "cost": 2.0, "files": [evil, quote]}),
            json!({"ts": "2026-03-01T10:00:01Z", "event": "nav", "model": quote, "session_id": quote, "cost": 1.0, "files": [quote]}),
        ]),
    );
    let page = report(&s, &["--since", "1d"]);
    assert_eq!(page.matches("<script").count(), 1, "one data block");
    assert_eq!(page.matches("</script>").count(), 1);
    assert!(!page.contains("<img"), "{page}");
    assert!(!page.contains("<!--"), "{page}");
    assert_eq!(page.matches("<svg").count(), 6, "only the charts' own");
    assert!(!page.contains("<svg onload"), "{page}");
    assert!(page.contains("&quot;&#39;&gt;&lt;svg onload=alert(2)&gt;&amp;amp;"));
    assert!(page.contains("&lt;/script&gt;&lt;img src=x onerror=alert(1)&gt;"));
    // The data give the strings back whole.
    let d = data(&page);
    assert_eq!(d["top_sessions"][0]["session_id"], json!(evil));
    assert_eq!(d["top_sessions"][1]["session_id"], json!(quote));
    assert_eq!(d["spend_by_day_model"][0]["model"], json!(quote));
    assert_eq!(d["events_by_day"][0]["events"][evil], json!(1));
}

#[test]
fn out_creates_and_never_replaces_unless_forced() {
    let s = Store::new();
    s.log_lines(&[], &numbered("nav", 3));
    let out = s.dir.path().join("r.html");
    assert_eq!(s.ok(&["report", "--out", out.to_str().unwrap()]), "");
    let page = std::fs::read_to_string(&out).unwrap();
    assert_eq!(data(&page)["totals"]["records"], json!(3));
    // An existing file is refused, and left as it was.
    std::fs::write(&out, "mine").unwrap();
    let e = s
        .cmd(&["report", "--out", out.to_str().unwrap()])
        .run()
        .error();
    assert!(
        e.contains("r.html exists: refusing to replace it (--force replaces it)"),
        "{e}"
    );
    assert_eq!(std::fs::read_to_string(&out).unwrap(), "mine");
    s.ok(&["report", "--out", out.to_str().unwrap(), "--force"]);
    assert!(
        std::fs::read_to_string(&out)
            .unwrap()
            .starts_with("<!DOCTYPE html>")
    );
    // A symbolic link at the name: refused, and with --force the link is
    // replaced, never what it points to.
    let target = s.dir.path().join("target.txt");
    std::fs::write(&target, "keep").unwrap();
    let link = s.dir.path().join("link.html");
    std::os::unix::fs::symlink(&target, &link).unwrap();
    let dangling = s.dir.path().join("dangling.html");
    std::os::unix::fs::symlink(s.dir.path().join("nowhere"), &dangling).unwrap();
    for l in [&link, &dangling] {
        let e = s
            .cmd(&["report", "--out", l.to_str().unwrap()])
            .run()
            .error();
        assert!(e.contains("exists: refusing"), "{e}");
    }
    assert!(!s.dir.path().join("nowhere").exists());
    s.ok(&["report", "--out", link.to_str().unwrap(), "--force"]);
    assert_eq!(std::fs::read_to_string(&target).unwrap(), "keep");
    assert!(
        !std::fs::symlink_metadata(&link)
            .unwrap()
            .file_type()
            .is_symlink()
    );
    // No temporary file is left behind.
    let left: Vec<String> = std::fs::read_dir(s.dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.contains("scout-audit-report"))
        .collect();
    assert_eq!(left, Vec::<String>::new());
    // --force only with --out.
    assert_eq!(s.cmd(&["report", "--force"]).run().code, Some(2));
}

#[test]
fn health_tells_the_seal_log_without_the_key() {
    let s = Store::new();
    s.write(
        "audit.jsonl",
        "{\"ts\":\"2026-03-01T10:00:00Z\",\"event\":\"nav\"}\nnot json\n",
    );
    let o = s.cmd(&["--now", NOW, "report"]).run();
    assert!(o.stderr.contains("skipped 1 malformed"), "{}", o.stderr);
    let d = data(&o.stdout);
    assert_eq!(d["health"]["malformed"], json!(1));
    assert_eq!(d["health"]["sealing"], json!({"sealed": false}));
    s.log_lines(&["--seal-interval", "0"], &numbered("a", 3));
    s.ok(&["seal", "init", "--epoch", "1h"]);
    let d = data(&s.cmd(&["--now", NOW, "report"]).run().stdout);
    assert_eq!(d["health"]["sealing"]["sealed"], json!(false));
    // The writer's recovery moved the torn-looking last line to quarantine.
    assert_eq!(d["health"]["quarantine_files"], json!(1));
    assert_eq!(d["health"]["sealing"]["unsealed_lines"], json!(4));
    s.ok(&["seal"]);
    s.log_lines(&["--seal-interval", "0"], &numbered("b", 2));
    let d = data(&s.cmd(&["--now", NOW, "report"]).run().stdout);
    let sealing = &d["health"]["sealing"];
    assert_eq!(sealing["sealed"], json!(true));
    assert_eq!(sealing["sealed_lines"], json!(4));
    assert_eq!(sealing["unsealed_lines"], json!(2));
    assert_eq!(sealing["verified"], json!(false));
    assert!(sealing["last_seal_time"].as_u64().unwrap() > 1_700_000_000);
    assert_eq!(d["health"]["live"], json!(true));
}
