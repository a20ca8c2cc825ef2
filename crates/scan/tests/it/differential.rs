//! The scanner against the sequential reader, on generated logs with
//! malformed lines, CRLF, a BOM, blank lines, glued fragments, a torn
//! tail, out-of-order and offset timestamps, escaped spellings and
//! Python's separators; as plain files (mapped and buffered), multi-member
//! gzip, and a store with indexed and unindexed archives. Every answer must
//! be identical, bit for bit.

use std::io::Write;
use std::path::{Path, PathBuf};

use flate2::Compression;
use flate2::write::GzEncoder;
use proptest::prelude::*;
use scout_audit_core::agg::{Accuracy, EventCounts, ExactSum, GroupBy, LastN, Sessions, SpendBy};
use scout_audit_core::{Filter, Record, Timestamp};
use scout_audit_scan::{Inputs, Jsonl, Pruning, Scan, build_indexes};
use scout_audit_store_file::Reader;
use scout_audit_store_file::reader::ReadReport;

const BASE: i64 = 1_790_000_000; // 2026-09-22

#[derive(Clone, Debug)]
struct Rec {
    /// Hours from BASE (out of order on purpose).
    at: i64,
    micros: u32,
    tz: u8,
    event: u8,
    cost: u8,
    model: u8,
    session: u8,
    tokens: Option<u64>,
    style: u8,
}

#[derive(Clone, Debug)]
enum Line {
    Rec(Rec),
    Blank,
    Garbage(u8),
    Glued(Rec),
}

fn ts_text(r: &Rec) -> String {
    let t = Timestamp::from_unix(
        BASE + r.at * 3600 + i64::from(r.micros % 3600),
        r.micros * 1000,
    )
    .unwrap();
    let s = t.to_python_string();
    match r.tz % 8 {
        0 | 1 => s,
        2 => s.replace("+00:00", "Z"),
        3 => {
            // The same instant written at +05:30.
            let local = Timestamp::from_unix(t.unix_secs() + 19_800, t.subsec_nanos()).unwrap();
            local.to_python_string().replace("+00:00", "+05:30")
        }
        4 => s.replace("+00:00", ""),
        5 => "not a time".into(),
        6 => s.replace('T', " "),
        _ => s.replace("2026", "\\u0032026"),
    }
}

fn rec_json(r: &Rec) -> String {
    let events = [
        "nav",
        "validation_fail",
        "llm_call",
        "brief",
        "n\\u0061v",
        "caf\u{e9}",
    ];
    let models = ["m1", "m2", "claude\\\"x"];
    let costs = [
        "0.1",
        "0.2",
        "1e-05",
        "-0",
        "null",
        "\"1.0\"",
        "3",
        "0.30000000000000004",
        // Huge and tiny terms: totals overflow or cancel (finding 2).
        "1.7e308",
        "-1.7e308",
        "5e-324",
    ];
    let mut fields: Vec<(String, String)> = Vec::new();
    if r.tz % 16 != 15 {
        fields.push(("ts".into(), format!("\"{}\"", ts_text(r))));
    }
    fields.push((
        "event".into(),
        format!("\"{}\"", events[r.event as usize % events.len()]),
    ));
    fields.push(("session_id".into(), format!("\"s{}\"", r.session % 3)));
    if r.cost % 9 != 8 {
        fields.push(("cost".into(), costs[r.cost as usize % costs.len()].into()));
    }
    if r.model % 4 != 3 {
        fields.push((
            "model".into(),
            format!("\"{}\"", models[r.model as usize % models.len()]),
        ));
    }
    if let Some(t) = r.tokens {
        fields.push(("input_t".into(), t.to_string()));
        fields.push(("output_t".into(), (t / 3).to_string()));
    }
    // A nested `ts` (not the record's) in half the records: the
    // prefilter must not take it for the record's, and without it a glued
    // record's own `"ts"` is the only later one.
    let nested_ts = r.micros % 2 == 0;
    if r.style % 6 == 5 {
        // The compact canonical encoding (copied as is by records out),
        // with escapes as serde_json writes them.
        fields.push(("files".into(), "[\"a.rs\",3,\"b/c\"]".into()));
        fields.push((
            "config".into(),
            if nested_ts {
                "{\"x\":[1,{\"y\":null}],\"ts\":\"2099-01-01T00:00:00Z\"}"
            } else {
                "{\"x\":[1,{\"y\":null}]}"
            }
            .into(),
        ));
        fields.push(("note".into(), "\"tab\\t\\u001f\\\\ \\\"\"".into()));
    } else {
        fields.push(("files".into(), "[\"a.rs\", 3, \"b\\/c\"]".into()));
        fields.push((
            "config".into(),
            if nested_ts {
                "{\"x\": [1, {\"y\": null}], \"ts\": \"2099-01-01T00:00:00Z\"}"
            } else {
                "{\"x\": [1, {\"y\": null}]}"
            }
            .into(),
        ));
    }
    match r.style % 6 {
        // Python's separators and ensure_ascii.
        0 => format!(
            "{{{}}}",
            fields
                .iter()
                .map(|(k, v)| format!("\"{k}\": {}", v.replace('\u{e9}', "\\u00e9")))
                .collect::<Vec<_>>()
                .join(", ")
        ),
        // A duplicate event key: the last one counts.
        1 => format!(
            "{{\"event\":\"brief\",{}}}",
            fields
                .iter()
                .map(|(k, v)| format!("\"{k}\":{v}"))
                .collect::<Vec<_>>()
                .join(",")
        ),
        // Escaped key spellings and odd white space.
        2 => format!(
            "{{ {} }}",
            fields
                .iter()
                .map(|(k, v)| {
                    let k = if k == "event" {
                        "ev\\u0065nt".to_owned()
                    } else {
                        k.clone()
                    };
                    format!("\"{k}\" :\t{v}")
                })
                .collect::<Vec<_>>()
                .join(" , ")
        ),
        _ => format!(
            "{{{}}}",
            fields
                .iter()
                .map(|(k, v)| format!("\"{k}\":{v}"))
                .collect::<Vec<_>>()
                .join(",")
        ),
    }
}

fn render(lines: &[Line], bom: bool, crlf: bool, torn: bool) -> Vec<u8> {
    let mut out = Vec::new();
    if bom {
        out.extend_from_slice(b"\xEF\xBB\xBF");
    }
    let garbage: [&[u8]; 6] = [
        b"not json",
        b"[1,2]",
        b"{\"ts\":\"2026-09-22T00:00:00Z\",\"event\":\"nav\"",
        b"{\"event\":\"nav\",\"cost\":\xff}",
        b"{\"event\":\"nav\",\"cost\":NaN}",
        b"{\"event\":\"nav\",\"cost\":1e999}",
    ];
    for l in lines {
        match l {
            Line::Rec(r) => out.extend_from_slice(rec_json(r).as_bytes()),
            Line::Blank => out.extend_from_slice(b"  "),
            Line::Garbage(g) => out.extend_from_slice(garbage[*g as usize % garbage.len()]),
            Line::Glued(r) => {
                let whole = rec_json(r);
                // The fragment ends halfway, or inside the first value
                // (for ours, the ts string: its closing quote is then the
                // glued record's opening one; micros % 6 == 1 also leaves
                // out the nested ts, so that quote is the only way to see
                // the glued record), or right after `{`.
                let cut = match r.micros % 3 {
                    0 => whole.len() / 2,
                    1 => whole.find(':').map_or(1, |c| (c + 6).min(whole.len())),
                    _ => 1,
                };
                out.extend_from_slice(&whole.as_bytes()[..cut]);
                // A whole record glued after the fragment (ours start {"ts").
                let mut g = r.clone();
                g.tz = 0;
                g.style = 3;
                out.extend_from_slice(rec_json(&g).as_bytes());
            }
        }
        out.extend_from_slice(if crlf { b"\r\n" } else { b"\n" });
    }
    if torn {
        out.extend_from_slice(b"{\"ts\":\"2026-09-22T01:00:00Z\",\"ev");
    }
    out
}

fn rec_strategy() -> impl Strategy<Value = Rec> {
    (
        (-30i64..30, any::<u32>(), any::<u8>(), any::<u8>()),
        (
            any::<u8>(),
            any::<u8>(),
            any::<u8>(),
            proptest::option::of(0u64..5000),
            any::<u8>(),
        ),
    )
        .prop_map(
            |((at, micros, tz, event), (cost, model, session, tokens, style))| Rec {
                at,
                micros: micros % 1_000_000,
                tz,
                event,
                cost,
                model,
                session,
                tokens,
                style,
            },
        )
}

fn line_strategy() -> impl Strategy<Value = Line> {
    prop_oneof![
        8 => rec_strategy().prop_map(Line::Rec),
        1 => Just(Line::Blank),
        1 => any::<u8>().prop_map(Line::Garbage),
        1 => rec_strategy().prop_map(Line::Glued),
    ]
}

/// Records as JSONL, one at a time (what `query --format jsonl` printed
/// before records out).
fn jsonl(records: &[Record]) -> Vec<u8> {
    let mut out = Vec::new();
    for r in records {
        serde_json::to_writer(&mut out, r.fields()).unwrap();
        out.push(b'\n');
    }
    out
}

/// The sequential reader's answers.
struct Expected {
    records: Vec<Record>,
    report: ReadReport,
}

fn sequential(reader: Reader, filter: &Filter) -> Expected {
    let mut r = reader.filter(filter.clone());
    let mut records = Vec::new();
    for x in &mut r {
        records.push(x.unwrap());
    }
    Expected {
        records,
        report: r.report().clone(),
    }
}

fn filters() -> Vec<Filter> {
    let t = |h: i64| Timestamp::from_unix(BASE + h * 3600, 0).unwrap();
    vec![
        Filter::new(),
        Filter::new().since(t(0)),
        Filter::new().since(t(-10)).until(t(12)).event("nav"),
        Filter::new().event("validation_fail").event("nav"),
        Filter::new().since(t(5)).model("m2"),
        Filter::new().session("s1").until(t(3)),
        Filter::new().since(t(29)),
        Filter::new().event("caf\u{e9}"),
    ]
}

/// Checks every answer of the scanner on `inputs()` against `expected`.
fn check_all(inputs: &dyn Fn() -> Inputs, reader: &dyn Fn() -> Reader, pruning: Pruning) {
    for f in filters() {
        let e = sequential(reader(), &f);
        let scan = || {
            Scan::new(inputs())
                .filter(f.clone())
                .pruning(pruning)
                .threads(Some(2))
        };
        // Count.
        assert_eq!(
            scan().count().unwrap().value,
            e.records.len() as u64,
            "count {f:?}"
        );
        // Records, in order, and with no filter the problems too.
        let mut got = Vec::new();
        let rep = scan()
            .for_each_record(|r| {
                got.push(r);
                std::ops::ControlFlow::Continue(())
            })
            .unwrap();
        assert_eq!(got, e.records, "records {f:?}");
        // Records out: the JSONL text of the same records, rendered on
        // the scan's threads, canonical lines copied.
        let mut text = Vec::new();
        let mut chunks_seen = 0;
        let rep2 = scan()
            .for_each_rendered(&Jsonl, |c| {
                assert_eq!(c.bytes().iter().filter(|b| **b == b'\n').count(), c.len());
                text.extend_from_slice(c.bytes());
                chunks_seen += 1;
                std::ops::ControlFlow::Continue(())
            })
            .unwrap();
        assert_eq!(
            String::from_utf8(text).unwrap(),
            String::from_utf8(jsonl(&e.records)).unwrap(),
            "rendered {f:?}"
        );
        assert_eq!(rep2, rep, "rendered report {f:?}");
        assert!(chunks_seen >= usize::from(!e.records.is_empty()));
        if f == Filter::new() {
            assert_eq!(rep.read.problems, e.report.problems, "problems");
            assert_eq!(rep.read.records, e.report.records);
            assert_eq!(rep.read.bytes, e.report.bytes);
            let s = scan().stats().unwrap();
            assert_eq!(s.report.read.problems, e.report.problems, "stats problems");
            assert_eq!(s.report.read.malformed, e.report.malformed);
            let mut counts = EventCounts::default();
            for r in &e.records {
                counts.add(r.event());
            }
            assert_eq!(s.value.events, counts);
            assert_eq!(
                s.value.first_ts,
                e.records.iter().filter_map(Record::ts).min()
            );
            // `stats --top-files`: both answers and the report of one pass.
            let both = scan().stats_with_files().unwrap();
            assert_eq!(both.value.stats, s.value);
            assert_eq!(both.value.files, scan().top_files().unwrap().value);
            assert_eq!(both.report.read, s.report.read);
        }
        // Spend, every grouping, bit for bit.
        for by in [
            None,
            Some(GroupBy::Hour),
            Some(GroupBy::Day),
            Some(GroupBy::Week),
            Some(GroupBy::Month),
            Some(GroupBy::Model),
            Some(GroupBy::Session),
            Some(GroupBy::DayModel),
            Some(GroupBy::MonthModel),
        ] {
            let got = scan().spend(by).unwrap().value;
            let mut total = ExactSum::new();
            let mut groups = by.map(SpendBy::new);
            for r in &e.records {
                total.add(r.cost().unwrap_or(0.0));
                if let Some(g) = &mut groups {
                    g.add(r);
                }
            }
            assert_eq!(
                got.total.map(f64::to_bits),
                total.value().map(f64::to_bits),
                "spend {f:?} {by:?}"
            );
            assert_eq!(got.records, e.records.len() as u64);
            assert_eq!(got.groups, groups, "groups {f:?} {by:?}");
        }
        // Sessions, every figure.
        let mut sessions = Sessions::default();
        for r in &e.records {
            sessions.add(r);
        }
        assert_eq!(scan().sessions().unwrap().value, sessions, "sessions {f:?}");
        // `report`'s figures: days, sessions and files in one fold.
        let mut overview = scout_audit_core::overview::Overview::default();
        for r in &e.records {
            overview.add(r);
        }
        assert_eq!(scan().overview().unwrap().value, overview, "overview {f:?}");
        // Accuracy.
        let mut acc = Accuracy::default();
        for r in &e.records {
            acc.add(r.event());
        }
        assert_eq!(
            scan().accuracy().unwrap().value,
            acc.finish(),
            "accuracy {f:?}"
        );
        // Event counts.
        let mut counts = EventCounts::default();
        for r in &e.records {
            counts.add(r.event());
        }
        assert_eq!(scan().event_counts().unwrap().value, counts, "events {f:?}");
        // Last N.
        for n in [0, 1, 7] {
            let mut last = LastN::new(n);
            for r in &e.records {
                last.push(r.clone());
            }
            let last = last.into_vec();
            let text = scan().last_rendered(n, &Jsonl).unwrap().value;
            assert_eq!(text.len(), last.len());
            assert_eq!(text.bytes(), &jsonl(&last)[..], "last_rendered {n} {f:?}");
            assert_eq!(scan().last(n).unwrap().value, last, "last {n} {f:?}");
        }
    }
}

fn gzip_members(data: &[u8], members: usize) -> Vec<u8> {
    let mut out = Vec::new();
    let step = data.len() / members.max(1) + 1;
    for part in data.chunks(step.max(1)) {
        let mut e = GzEncoder::new(Vec::new(), Compression::fast());
        e.write_all(part).unwrap();
        out.extend(e.finish().unwrap());
    }
    if data.is_empty() {
        let e = GzEncoder::new(Vec::new(), Compression::fast());
        out.extend(e.finish().unwrap());
    }
    out
}

/// A store: segments sealed after their last record, some compressed,
/// then the live file. The second segment has the Python original's name
/// (`audit_<stamp>.jsonl.gz`, no number): the only kind whose seal time
/// pruning trusts, so `Pruning::SealTime` is exercised against the reader.
fn write_store(dir: &Path, parts: &[Vec<Line>], live: &[u8]) -> PathBuf {
    let live_path = dir.join("audit.jsonl");
    for (i, lines) in parts.iter().enumerate() {
        let max_at = lines
            .iter()
            .filter_map(|l| match l {
                Line::Rec(r) | Line::Glued(r) => Some(r.at),
                _ => None,
            })
            .max()
            .unwrap_or(0);
        // Seal time: after every record of the segment (+05:30 ones too).
        let seal = Timestamp::from_unix(BASE + (max_at + 7) * 3600 + i as i64, 0).unwrap();
        let stamp = scout_audit_store_file::layout::stamp(seal.unix_secs());
        let name = if i == 1 {
            format!("audit_{stamp}.jsonl")
        } else {
            format!("audit-{stamp}-{:06}.jsonl", i + 1)
        };
        let bytes = render(lines, i == 0, i % 2 == 1, false);
        if i % 3 == 2 {
            std::fs::write(dir.join(&name), &bytes).unwrap();
        } else {
            std::fs::write(
                dir.join(format!("{name}.gz")),
                gzip_members(&bytes, 1 + i % 2),
            )
            .unwrap();
        }
    }
    std::fs::write(&live_path, live).unwrap();
    live_path
}

/// Every index `scout-audit index` wrote (with the scanner) is valid and
/// says what `verify` recomputes from the archive (store-file's summary):
/// a healthy store never fails `verify`'s index check.
fn same_summaries_as_verify(dir: &Path) {
    use scout_audit_store_file::fs::RealFs;
    use scout_audit_store_file::index::{IndexCheck, check_index, summarize_archive};
    let mut found = 0;
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        let Some(name) = p.file_name().and_then(|n| n.to_str()) else {
            continue;
        };
        let Some(archive) = name.strip_suffix(".idx") else {
            continue;
        };
        let archive = dir.join(archive);
        let IndexCheck::Valid(idx) = check_index(&RealFs, &archive, &p) else {
            panic!("{name}: not valid");
        };
        let actual = summarize_archive(&RealFs, &archive).unwrap().unwrap();
        assert_eq!(
            idx.summary.differences(&actual),
            Vec::<String>::new(),
            "{name}"
        );
        found += 1;
    }
    // write_store compresses two of its three parts.
    assert_eq!(found, 2);
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 24, ..ProptestConfig::default() })]

    #[test]
    fn same_answers_as_the_sequential_reader(
        lines in proptest::collection::vec(line_strategy(), 0..60),
        bom in any::<bool>(),
        crlf in any::<bool>(),
        torn in any::<bool>(),
        cut in 0usize..60,
    ) {
        let d = tempfile::tempdir().unwrap();
        let dir = d.path();
        let bytes = render(&lines, bom, crlf, torn);
        // A plain file, mapped.
        let plain = dir.join("plain.jsonl");
        std::fs::write(&plain, &bytes).unwrap();
        check_all(
            &|| Inputs::paths([&plain]).unwrap(),
            &|| Reader::open_files([plain.clone()]),
            Pruning::SealTime,
        );
        // Multi-member gzip.
        let gz = dir.join("g.jsonl.gz");
        std::fs::write(&gz, gzip_members(&bytes, 3)).unwrap();
        check_all(
            &|| Inputs::paths([&gz]).unwrap(),
            &|| Reader::open_files([gz.clone()]),
            Pruning::SealTime,
        );
        // A store: two sealed parts and a live file, read cold, then with
        // the indexes `scout-audit index` writes.
        let sd = dir.join("store");
        std::fs::create_dir(&sd).unwrap();
        let k = cut.min(lines.len());
        let (a, b) = lines.split_at(k);
        let (b, c) = b.split_at(b.len() / 2);
        let live = render(c, false, crlf, torn);
        let path = write_store(&sd, &[a.to_vec(), b.to_vec(), c.to_vec()], &live);
        let check_store = |pruning| check_all(
            &|| Inputs::store(&path).unwrap(),
            &|| Reader::open(&path).unwrap(),
            pruning,
        );
        check_store(Pruning::Off);
        check_store(Pruning::SealTime);
        build_indexes(&path, Some(2)).unwrap();
        same_summaries_as_verify(&sd);
        check_store(Pruning::Index);
        check_store(Pruning::SealTime);
        // The directory as positional input reads the same as the store.
        check_all(
            &|| Inputs::paths([&sd]).unwrap(),
            &|| Reader::open(&path).unwrap(),
            Pruning::Index,
        );
    }
}

#[test]
fn a_damaged_archive_keeps_what_precedes_the_damage() {
    let d = tempfile::tempdir().unwrap();
    let lines: Vec<Line> = (0..3000)
        .map(|i| {
            Line::Rec(Rec {
                at: i % 40 - 20,
                micros: (i * 7919 % 1_000_000) as u32,
                tz: (i % 5) as u8,
                event: (i % 4) as u8,
                cost: (i % 8) as u8,
                model: (i % 3) as u8,
                session: (i % 3) as u8,
                tokens: Some(i as u64),
                style: (i % 4) as u8,
            })
        })
        .collect();
    let gz = gzip_members(&render(&lines, false, false, false), 2);
    for cut in [10, gz.len() / 3, gz.len() / 2 + 17, gz.len() - 3] {
        let p = d.path().join(format!("cut{cut}.jsonl.gz"));
        std::fs::write(&p, &gz[..cut]).unwrap();
        let e = sequential(Reader::open_files([p.clone()]), &Filter::new());
        assert_eq!(e.report.damaged_segments, 1);
        let got = Scan::new(Inputs::paths([&p]).unwrap()).stats().unwrap();
        assert_eq!(got.report.read.problems, e.report.problems, "cut {cut}");
        assert_eq!(got.report.read.records, e.report.records, "cut {cut}");
        assert_eq!(
            Scan::new(Inputs::paths([&p]).unwrap())
                .count()
                .unwrap()
                .value,
            e.records.len() as u64
        );
        // Strict: the damage is the error.
        let err = Scan::new(Inputs::paths([&p]).unwrap())
            .strict(true)
            .count()
            .unwrap_err();
        assert!(err.to_string().contains("damaged gzip"), "{err}");
    }
    // Garbled bytes in the middle: the same.
    let mut bad = gz.clone();
    let mid = bad.len() / 2;
    for b in &mut bad[mid..mid + 64] {
        *b ^= 0x5a;
    }
    let p = d.path().join("garbled.jsonl.gz");
    std::fs::write(&p, &bad).unwrap();
    let e = sequential(Reader::open_files([p.clone()]), &Filter::new());
    let got = Scan::new(Inputs::paths([&p]).unwrap()).stats().unwrap();
    assert_eq!(got.report.read.problems, e.report.problems);
    assert_eq!(got.report.read.records, e.report.records);
}

#[test]
fn big_file_in_many_chunks_equals_the_reader() {
    // Over 8 MiB: the map is split into several chunks.
    let d = tempfile::tempdir().unwrap();
    let mut lines = Vec::new();
    for i in 0..50_000i64 {
        lines.push(if i % 997 == 0 {
            Line::Garbage((i % 6) as u8)
        } else {
            Line::Rec(Rec {
                at: i % 50 - 25,
                micros: (i * 104_729 % 1_000_000) as u32,
                tz: (i % 7) as u8,
                event: (i % 6) as u8,
                cost: (i % 9) as u8,
                model: (i % 4) as u8,
                session: (i % 3) as u8,
                tokens: (i % 2 == 0).then_some(i as u64),
                style: (i % 5) as u8,
            })
        });
    }
    let bytes = render(&lines, true, false, true);
    assert!(bytes.len() > 9 << 20, "{}", bytes.len());
    let p = d.path().join("big.jsonl");
    std::fs::write(&p, &bytes).unwrap();
    check_all(
        &|| Inputs::paths([&p]).unwrap(),
        &|| Reader::open_files([p.clone()]),
        Pruning::SealTime,
    );
}

/// A store's live file of more than two chunks (decision 190): its
/// complete lines read in parallel chunks, the torn tail after them
/// through the line splitter; every fold answers as the sequential
/// reader, problems located alike.
#[test]
fn a_big_live_file_in_chunks_equals_the_reader() {
    let d = tempfile::tempdir().unwrap();
    let mut lines = Vec::new();
    for i in 0..95_000i64 {
        let rec = Rec {
            at: i % 50 - 25,
            micros: (i * 104_729 % 1_000_000) as u32,
            tz: (i % 7) as u8,
            event: (i % 6) as u8,
            cost: (i % 9) as u8,
            model: (i % 4) as u8,
            session: (i % 3) as u8,
            tokens: (i % 2 == 0).then_some(i as u64),
            style: (i % 5) as u8,
        };
        lines.push(match i % 1009 {
            0 => Line::Garbage((i % 6) as u8),
            1 => Line::Glued(rec),
            2 => Line::Blank,
            _ => Line::Rec(rec),
        });
    }
    let live = render(&lines, true, false, true);
    assert!(live.len() > 17 << 20, "{}", live.len());
    let path = write_store(d.path(), &[], &live);
    let e = sequential(Reader::open(&path).unwrap(), &Filter::new());
    assert!(e.report.malformed > 50, "{:?}", e.report.malformed);
    let scan = |f: &Filter| {
        Scan::new(Inputs::store(&path).unwrap())
            .filter(f.clone())
            .threads(Some(2))
    };
    let s = scan(&Filter::new()).stats().unwrap();
    assert_eq!(s.report.read.problems, e.report.problems);
    assert_eq!(s.report.read.records, e.report.records);
    assert_eq!(s.report.read.bytes, e.report.bytes);
    // Three filters (none, since, a window of one event type): each scan
    // reads 17 MiB in a debug build.
    for f in filters().into_iter().take(3) {
        let e = sequential(Reader::open(&path).unwrap(), &f);
        assert_eq!(scan(&f).count().unwrap().value, e.records.len() as u64);
        let mut total = ExactSum::new();
        let mut acc = Accuracy::default();
        for r in &e.records {
            total.add(r.cost().unwrap_or(0.0));
            acc.add(r.event());
        }
        let got = scan(&f).spend(None).unwrap().value;
        assert_eq!(
            got.total.map(f64::to_bits),
            total.value().map(f64::to_bits),
            "spend {f:?}"
        );
        assert_eq!(scan(&f).accuracy().unwrap().value, acc.finish(), "{f:?}");
    }
}

/// The stream path (a store's live file, gzip) and the mapped path split
/// as the sequential reader does where the three splitters once could
/// differ: a BOM at the start and one in the middle (data), a record line
/// over the line bound (skipped as too long, `\n` counted), CRLF lines and
/// a CRLF before a torn tail.
#[test]
fn over_long_lines_boms_and_crlf_tails_read_alike_in_every_path() {
    use scout_audit_store_file::lines::MAX_LINE;
    let rec = |s: u32| format!(r#"{{"ts":"2026-01-01T00:00:{s:02}Z","event":"nav"}}"#);
    let long = format!(
        r#"{{"ts":"2026-01-01T00:00:09Z","event":"nav","pad":"{}"}}"#,
        "a".repeat(MAX_LINE)
    );
    let cases: Vec<Vec<u8>> = vec![
        format!(
            "\u{feff}{}\r\n{long}\r\n\u{feff}{}\n{}\r\n{{\"ts\":\r",
            rec(1),
            rec(2),
            rec(3)
        )
        .into_bytes(),
        // The over-long line last, without its `\n`.
        format!("{}\n{long}", rec(4)).into_bytes(),
    ];
    for (i, bytes) in cases.iter().enumerate() {
        let d = tempfile::tempdir().unwrap();
        let plain = d.path().join("plain.jsonl");
        std::fs::write(&plain, bytes).unwrap();
        let zipped = d.path().join("zipped.jsonl.gz");
        std::fs::write(&zipped, gzip_members(bytes, 1)).unwrap();
        let live = d.path().join("store").join("audit.jsonl");
        std::fs::create_dir(live.parent().unwrap()).unwrap();
        std::fs::write(&live, bytes).unwrap();
        for (path, inputs) in [
            (plain.clone(), Inputs::paths([&plain]).unwrap()),
            (zipped.clone(), Inputs::paths([&zipped]).unwrap()),
            (live.clone(), Inputs::store(&live).unwrap()),
        ] {
            let e = sequential(Reader::open_files([path.clone()]), &Filter::new());
            assert!(e.report.malformed >= 1, "case {i}: {:?}", e.report);
            let mut got = Vec::new();
            let rep = Scan::new(inputs)
                .threads(Some(2))
                .for_each_record(|r| {
                    got.push(r);
                    std::ops::ControlFlow::Continue(())
                })
                .unwrap();
            let what = format!("case {i}, {}", path.display());
            assert_eq!(got, e.records, "{what}");
            assert_eq!(rep.read.problems, e.report.problems, "{what}");
            assert_eq!(rep.read.bytes, e.report.bytes, "{what}");
            let inputs = if path == live {
                Inputs::store(&live).unwrap()
            } else {
                Inputs::paths([&path]).unwrap()
            };
            let s = Scan::new(inputs).threads(Some(2)).stats().unwrap();
            assert_eq!(s.report.read.problems, e.report.problems, "stats {what}");
        }
    }
}

/// The cold scan's window paths (decision 126) over a file of several
/// chunks, gzip and a store's live file: lines where the prefilter's
/// searches could go wrong (the needle escaped or spelt with `\u`
/// escapes of its letters, an escaped key, a later `"ts"` plain or
/// escaped, white space first, blank runs, garbage, a glued record,
/// `"nav"` as another field's value), cycled with padding of every
/// length so that needles fall at every distance from window and chunk
/// edges. Every answer equals the sequential reader's.
#[test]
fn needles_at_window_and_chunk_edges_and_escapes_equal_the_reader() {
    const OLD: &str = "2026-09-21T00:00:00Z";
    const MID: &str = "2026-09-21T16:00:00Z";
    const NEW: &str = "2026-09-22T20:00:00+00:00";
    let pieces: Vec<String> = vec![
        format!(r#"{{"ts":"{OLD}","event":"nav","cost":0.5,"model":"m2","session_id":"s1"}}"#),
        format!(r#"{{"ts":"{MID}","event":"nav","cost":0.25,"session_id":"s1"}}"#),
        format!(r#"{{"ts":"{NEW}","event":"validation_fail","model":"m2"}}"#),
        format!(r#"{{"ts":"{MID}","event":"n\u0061v"}}"#),
        format!(r#"{{"ts":"{NEW}","event":"\u006e\u0061\u0076","model":"m\u0032"}}"#),
        format!(r#"{{"ts":"{MID}","ev\u0065nt":"nav"}}"#),
        format!(r#"{{"ts":"{OLD}","event":"nav","ts":"{NEW}"}}"#),
        format!(r#"{{"ts":"{OLD}","t\u0073":"{MID}","event":"nav"}}"#),
        format!(r#"{{"ts":"{OLD}"ts":"{MID}","event":"nav"}}"#),
        format!(r#"  {{"ts": "{OLD}", "event": "nav"}}"#),
        format!(r#"{{"ts" : "{MID}" , "event" : "caf\u00e9"}}"#),
        String::new(),
        String::new(),
        "  ".into(),
        "not json".into(),
        format!(r#"{{"ts":"{OLD}","ev{{"ts":"{NEW}","event":"nav"}}"#),
        format!(r#"{{"ts":"{MID}","event":"brief","model":"nav"}}"#),
        format!(r#"{{"event":"nav","ts":"{OLD}"}}"#),
        format!(r#"{{"ts":"{MID}","event":"nav","cost":NaN}}"#),
    ];
    let mut bytes = Vec::new();
    let mut i = 0usize;
    while bytes.len() < (8 << 20) + (1 << 20) {
        let p = &pieces[i % pieces.len()];
        bytes.extend_from_slice(p.as_bytes());
        if i % 7 == 3 && !p.is_empty() {
            // Padding of every length shifts what follows.
            bytes.truncate(bytes.len() - 1);
            bytes.extend_from_slice(format!(r#","pad":"{}"}}"#, "x".repeat(i % 311)).as_bytes());
        }
        bytes.extend_from_slice(if i % 5 == 0 { b"\r\n" } else { b"\n" });
        i += 1;
    }
    bytes.extend_from_slice(br#"{"ts":"2026-09-21T16:00:00Z","event":"nav"}"#);
    let d = tempfile::tempdir().unwrap();
    let plain = d.path().join("edges.jsonl");
    std::fs::write(&plain, &bytes).unwrap();
    check_all(
        &|| Inputs::paths([&plain]).unwrap(),
        &|| Reader::open_files([plain.clone()]),
        Pruning::SealTime,
    );
    let gz = d.path().join("edges.jsonl.gz");
    std::fs::write(&gz, gzip_members(&bytes, 2)).unwrap();
    check_all(
        &|| Inputs::paths([&gz]).unwrap(),
        &|| Reader::open_files([gz.clone()]),
        Pruning::SealTime,
    );
}
