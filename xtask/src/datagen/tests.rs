//! Tests of `cargo xtask gen`: determinism, the store's shape and names, damage, refusals.
use std::collections::HashMap;
use std::io::Read;

use flate2::read::{GzDecoder, MultiGzDecoder};
use scout_audit_core::{Decoded, Record, decode_line};
use serde_json::Value;

use super::python::py_str;
use super::records::Cost;
use super::*;
use crate::rng::Rng;

const KIB: u64 = 1024;
/// The longest line the generator makes is well under this.
const MAX_LINE: u64 = 2 * KIB;

/// A small store: archives of 64, 64, 64 and 8 KiB, a 40 KiB live file.
fn small(out: &Path) -> GenOptions {
    let mut o = GenOptions::new(out);
    o.archive_bytes = 200 * KIB;
    o.segment_bytes = 64 * KIB;
    o.live_bytes = 40 * KIB;
    o
}

fn plain(out: &Path, bytes: u64) -> GenOptions {
    let mut o = GenOptions::new(out);
    o.shape = Shape::Plain;
    o.archive_bytes = 0;
    o.live_bytes = bytes;
    o
}

/// The layout of a store whose live file is `audit.jsonl`.
fn audit() -> StoreLayout {
    StoreLayout::new("audit.jsonl").unwrap()
}

fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |h, &b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    })
}

/// (file name, hash of its bytes), sorted by name.
fn hashes(dir: &Path) -> Vec<(String, u64)> {
    let mut v: Vec<(String, u64)> = fs::read_dir(dir)
        .unwrap()
        .map(|e| {
            let e = e.unwrap();
            let bytes = fs::read(e.path()).unwrap();
            (e.file_name().into_string().unwrap(), fnv1a(&bytes))
        })
        .collect();
    v.sort();
    v
}

/// The uncompressed content of a file (gunzipped if it ends in `.gz`).
fn content(path: &Path) -> Vec<u8> {
    let raw = fs::read(path).unwrap();
    if path.extension().is_some_and(|e| e == "gz") {
        let mut out = Vec::new();
        GzDecoder::new(&raw[..]).read_to_end(&mut out).unwrap();
        out
    } else {
        raw
    }
}

fn lines(bytes: &[u8]) -> Vec<&[u8]> {
    assert!(bytes.is_empty() || bytes.ends_with(b"\n"));
    bytes
        .split(|&b| b == b'\n')
        .take(bytes.iter().filter(|&&b| b == b'\n').count())
        .collect()
}

/// The record on a line, or `None` if the line is malformed (including a
/// record without a parseable `ts`).
fn record(line: &[u8]) -> Option<Record> {
    match decode_line(line) {
        Decoded::Record(r) if r.ts().is_some() => Some(r),
        Decoded::Record(_) | Decoded::Malformed(_) => None,
        other => panic!("unexpected {other:?} for {}", String::from_utf8_lossy(line)),
    }
}

#[test]
fn same_seed_gives_identical_files() {
    for python_style in [false, true] {
        let dirs = [(); 3].map(|()| tempfile::tempdir().unwrap());
        let mut o = small(&dirs[0].path().join("audit.jsonl"));
        o.malformed = 0.05;
        o.python_style = python_style;
        generate(&o).unwrap();
        o.out = dirs[1].path().join("audit.jsonl");
        generate(&o).unwrap();
        o.out = dirs[2].path().join("audit.jsonl");
        o.seed = 2;
        generate(&o).unwrap();
        let [a, b, c] = dirs.each_ref().map(|d| hashes(d.path()));
        assert_eq!(a.len(), 5, "{a:?}");
        assert_eq!(a, b);
        assert_ne!(a, c);
    }
}

#[test]
fn store_layout_is_ordered_and_sized() {
    for malformed in [0.0, 0.05] {
        check_store_layout(malformed);
    }
}

fn check_store_layout(malformed: f64) {
    let d = tempfile::tempdir().unwrap();
    let dir = d.path().join("a/b");
    let mut o = small(&dir.join("audit.jsonl"));
    o.malformed = malformed;
    let s = generate(&o).unwrap();

    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = |p: &Path| fs::metadata(p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode(&dir), 0o700);
        for e in fs::read_dir(&dir).unwrap() {
            assert_eq!(mode(&e.unwrap().path()), 0o600);
        }
    }

    let mut names: Vec<String> = fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .filter(|n| n != "audit.jsonl")
        .collect();
    names.sort();
    let parsed: Vec<(Timestamp, u64)> = names
        .iter()
        .map(|n| parse_archive_name(&audit(), n).unwrap_or_else(|| panic!("{n}")))
        .collect();
    assert_eq!(parsed.iter().map(|p| p.1).collect::<Vec<_>>(), [1, 2, 3, 4]);
    let mut by_time = parsed.clone();
    by_time.sort();
    assert_eq!(parsed, by_time, "name order is time order");
    assert_eq!(s.files.len(), 5);

    let mut seqs: HashMap<String, u64> = HashMap::new();
    let mut prev_ts: Option<Timestamp> = None;
    let mut prev_seal: Option<Timestamp> = None;
    let mut records = 0;
    let mut bad = 0;
    let paths: Vec<PathBuf> = names
        .iter()
        .map(|n| dir.join(n))
        .chain([dir.join("audit.jsonl")])
        .collect();
    for (i, path) in paths.iter().enumerate() {
        let fsum = &s.files[i];
        assert_eq!(&fsum.path, path);
        let bytes = content(path);
        assert_eq!(bytes.len() as u64, fsum.bytes);
        assert_eq!(fs::metadata(path).unwrap().len(), fsum.disk_bytes);
        let is_archive = i < names.len();
        if is_archive {
            // One gzip member: reading all members gives nothing more.
            let mut all = Vec::new();
            MultiGzDecoder::new(&fs::read(path).unwrap()[..])
                .read_to_end(&mut all)
                .unwrap();
            assert_eq!(all, bytes);
        }
        let cap = if is_archive {
            if i < 3 { 64 * KIB } else { 8 * KIB }
        } else {
            40 * KIB
        };
        let len = bytes.len() as u64;
        assert!(
            len <= cap && len + MAX_LINE > cap,
            "{path:?}: {len} for {cap}"
        );

        let mut last = None;
        for line in lines(&bytes) {
            let Some(r) = record(line) else {
                assert!(malformed > 0.0, "no damage asked for");
                bad += 1;
                continue;
            };
            let ts = r.ts().unwrap();
            assert!(prev_ts.is_none_or(|p| p < ts), "timestamps grow strictly");
            assert!(prev_seal.is_none_or(|seal| seal <= ts), "after the seal");
            prev_ts = Some(ts);
            last = Some(ts);
            let next = seqs.entry(r.session_id().unwrap().to_owned()).or_default();
            assert_eq!(r.seq(), Some(*next), "seq contiguous from 0");
            *next += 1;
            records += 1;
        }
        assert_eq!(last, fsum.last);
        if is_archive {
            let (sealed, _) = parsed[i];
            let last = last.unwrap();
            assert!(last < sealed);
            if malformed == 0.0 {
                assert_eq!(sealed.unix_secs(), last.unix_secs() + 1);
            }
            assert_eq!(
                fsum.kind,
                FileKind::Archive {
                    segment: i as u64 + 1,
                    sealed
                }
            );
            prev_seal = Some(sealed);
        } else {
            assert_eq!(fsum.kind, FileKind::Live);
        }
    }
    assert_eq!(records, s.records);
    assert!(seqs.len() >= 2, "several sessions: {}", seqs.len());
    assert_eq!(s.malformed.total(), bad);
    assert_eq!(malformed > 0.0, bad > 0);
    let text = s.to_string();
    assert!(text.contains("4 gzip archives"), "{text}");
}

#[test]
fn malformed_lines_are_counted_exactly() {
    for python_style in [false, true] {
        let d = tempfile::tempdir().unwrap();
        let out = d.path().join("audit.jsonl");
        let mut o = plain(&out, 600 * KIB);
        o.malformed = 0.1;
        o.python_style = python_style;
        let s = generate(&o).unwrap();
        let bytes = fs::read(&out).unwrap();
        let all = lines(&bytes);
        let bad = all.iter().filter(|l| record(l).is_none()).count() as u64;
        let m = s.malformed;
        assert_eq!(bad, m.total());
        assert_eq!(all.len() as u64 - bad, s.records);
        let share = bad as f64 / all.len() as f64;
        assert!((0.07..0.13).contains(&share), "{share}");
        for (kind, n) in [
            ("truncated", m.truncated),
            ("non-object", m.non_object),
            ("garbage", m.garbage),
            ("invalid utf-8", m.invalid_utf8),
            ("bad ts", m.bad_ts),
        ] {
            assert!(n > 0, "no {kind} line among {bad}");
        }
        let invalid_utf8 = all
            .iter()
            .filter(|l| std::str::from_utf8(l).is_err())
            .count() as u64;
        // Truncation and garbage may also cut or make non-UTF-8 bytes.
        assert!(invalid_utf8 >= m.invalid_utf8);
        // Valid records keep their sessions' seq contiguous.
        let mut seqs: HashMap<String, u64> = HashMap::new();
        for r in all.iter().filter_map(|l| record(l)) {
            let next = seqs.entry(r.session_id().unwrap().to_owned()).or_default();
            assert_eq!(r.seq(), (!python_style).then_some(*next));
            *next += 1;
        }
    }
}

#[test]
fn python_style_lines_look_like_json_dumps() {
    let d = tempfile::tempdir().unwrap();
    let out_py = d.path().join("py/audit.jsonl");
    let out_rs = d.path().join("rs/audit.jsonl");
    let mut o = plain(&out_py, 300 * KIB);
    o.python_style = true;
    generate(&o).unwrap();
    o.out = out_rs.clone();
    o.python_style = false;
    generate(&o).unwrap();
    let py_bytes = fs::read(&out_py).unwrap();
    let rs_bytes = fs::read(&out_rs).unwrap();
    let (py, rs) = (lines(&py_bytes), lines(&rs_bytes));
    let mut escaped = 0;
    for (p, r) in py.iter().zip(&rs) {
        assert!(p.is_ascii());
        assert!(p.starts_with(b"{\"ts\": \""));
        let text = std::str::from_utf8(p).unwrap();
        assert!(text.contains("\", \"event\": \""), "{text}");
        let v: Value = serde_json::from_str(text).unwrap();
        let obj = v.as_object().unwrap();
        let keys: Vec<&str> = obj.keys().take(3).map(String::as_str).collect();
        assert_eq!(keys, ["ts", "event", "session_id"]);
        assert!(!obj.contains_key("seq"));
        if text.contains("\\u") {
            escaped += 1;
        }
        // The same records as the compact file, but for seq and ts (which
        // follow byte positions, so they differ).
        let mut compact: Value = serde_json::from_slice(r).unwrap();
        let c = compact.as_object_mut().unwrap();
        assert!(c.shift_remove("seq").is_some());
        let mut p_obj = obj.clone();
        c.shift_remove("ts");
        p_obj.shift_remove("ts");
        assert_eq!(&p_obj, c);
        if let Some(cost) = obj.get("cost") {
            // Python's repr and Rust's shortest text agree.
            let needle = format!("\"cost\": {}", serde_json::to_string(cost).unwrap());
            assert!(text.contains(&needle), "{text}");
        }
    }
    assert!(escaped > 0, "some non-ASCII text");
}

#[test]
fn records_are_realistic() {
    let d = tempfile::tempdir().unwrap();
    let out = d.path().join("audit.jsonl");
    let mut o = plain(&out, MIB);
    o.days = 2.0;
    let s = generate(&o).unwrap();
    let bytes = fs::read(&out).unwrap();
    let recs: Vec<Record> = lines(&bytes).iter().map(|l| record(l).unwrap()).collect();
    let n = recs.len() as f64;
    assert!(n > 2_000.0, "{n}");
    let mut by_type: HashMap<&str, f64> = HashMap::new();
    for r in &recs {
        *by_type.entry(r.event().unwrap()).or_default() += 1.0;
    }
    for t in types::KNOWN {
        let (_, weight) = EVENT_MIX.iter().find(|e| e.0 == t).unwrap();
        let share = by_type.get(t).copied().unwrap_or(0.0) / n;
        let want = f64::from(*weight) / 100.0;
        assert!((share - want).abs() < 0.03, "{t}: {share} vs {want}");
    }
    let models: Vec<&str> = MODELS.iter().map(|m| m.0).collect();
    let mut non_ascii = 0;
    let mut with_config = 0;
    let mut with_extra = 0;
    for r in &recs {
        if let Some(m) = r.model() {
            assert!(models.contains(&m), "{m}");
        }
        if let Some(c) = r.cost() {
            assert!((COST_RANGE.0..=COST_RANGE.1).contains(&c), "{c}");
            let text = serde_json::to_string(&c).unwrap();
            let digits = text.trim_start_matches(['0', '.']);
            assert!(digits.len() <= 6, "{text}");
        }
        if let Some(c) = r.confidence() {
            assert!((0.0..=100.0).contains(&c));
        }
        if r.files().count() > 4 {
            panic!("{r:?}");
        }
        if r.event() == Some(types::VALIDATION_FAIL) || r.event() == Some(types::BUDGET_EXCEEDED) {
            assert!(r.reason().is_some());
        }
        if r.event() == Some(types::LLM_CALL) {
            assert!(r.input_t().is_some() && r.output_t().is_some());
        }
        if !r.to_json_line().is_ascii() {
            non_ascii += 1;
        }
        if r.config().is_some() {
            with_config += 1;
        }
        if r.get("repo").is_some() || r.get("tool").is_some() {
            with_extra += 1;
        }
    }
    assert!(non_ascii > 0 && with_config > 0 && with_extra > 0);
    let (first, last) = (s.first.unwrap(), s.last.unwrap());
    let end = GenOptions::default_end();
    assert!(end.duration_since(first) <= Duration::from_secs(2 * 86_400));
    assert!(last < end && end.duration_since(last) < Duration::from_secs(3_600));
    assert_eq!(recs.first().unwrap().ts(), Some(first));
}

#[test]
fn cost_text_is_the_shortest_round_trip() {
    let mut rng = Rng::new(3);
    let edge = [0.0, 1.0, 0.000_099, 0.099_999_99, 0.2, 0.012_345_65];
    for raw in edge
        .into_iter()
        .chain((0..50_000).map(|_| rng.f64() * 0.25))
    {
        let c = Cost::new(raw);
        let mut text = Vec::new();
        c.write(&mut text);
        let text = String::from_utf8(text).unwrap();
        assert_eq!(text, serde_json::to_string(&c.value).unwrap(), "{raw}");
        assert!((COST_RANGE.0..=COST_RANGE.1).contains(&c.value));
    }
    let text = |raw| {
        let mut t = Vec::new();
        Cost::new(raw).write(&mut t);
        String::from_utf8(t).unwrap()
    };
    assert_eq!(text(0.099_999_99), "0.1");
    assert_eq!(text(0.0), "0.0001");
    assert_eq!(text(0.012_345_65), "0.0123457");
}

#[test]
fn python_strings_are_ensure_ascii() {
    let mut out = Vec::new();
    py_str(&mut out, "a\"\\\n\t\u{1}\u{7f}é🤷/");
    assert_eq!(
        String::from_utf8(out).unwrap(),
        r#""a\"\\\n\t\u0001\u007f\u00e9\ud83e\udd37/""#
    );
}

#[test]
fn archive_names_round_trip() {
    let t = Timestamp::parse("2026-11-27T05:21:16Z").unwrap();
    let name = archive_name(&audit(), t, 42).unwrap();
    assert_eq!(name, "audit-20261127T052116Z-000042.jsonl.gz");
    assert_eq!(parse_archive_name(&audit(), &name), Some((t, 42)));
    for bad in [
        "audit-20261127T052116Z-000042.jsonl",
        "audit-20261127T052116-000042.jsonl.gz",
        "audit-20261327T052116Z-000042.jsonl.gz",
        "audit-20261127T052116Z-42.jsonl.gz",
        "other-20261127T052116Z-000042.jsonl.gz",
        "audit_20261127_052116.jsonl.gz",
    ] {
        assert_eq!(parse_archive_name(&audit(), bad), None, "{bad}");
    }
}

#[test]
fn an_existing_store_is_replaced_only_with_force() {
    let d = tempfile::tempdir().unwrap();
    let out = d.path().join("audit.jsonl");
    fs::write(d.path().join("notes.txt"), "keep").unwrap();
    // What the store's layout reads as its own: the Python original's
    // archive, a sealed segment, an interrupted compression.
    for old in [
        "audit_20250101T000000Z.jsonl.gz",
        "audit-20250101T000000Z-000007.jsonl",
        "audit-20250101T000000Z-000008.jsonl.gz.tmp",
    ] {
        fs::write(d.path().join(old), "old").unwrap();
    }
    let mut o = small(&out);
    o.force = true;
    generate(&o).unwrap();
    o.force = false;
    let err = generate(&o).unwrap_err().to_string();
    assert!(err.contains("--force"), "{err}");
    o.force = true;
    o.archive_bytes = 64 * KIB;
    generate(&o).unwrap();
    let names: Vec<String> = hashes(d.path()).into_iter().map(|h| h.0).collect();
    assert_eq!(names.len(), 3, "{names:?}");
    assert!(names.contains(&"notes.txt".to_owned()));
    assert!(names.iter().any(|n| n.ends_with("-000001.jsonl.gz")));
}

#[test]
fn bad_options_are_refused() {
    let d = tempfile::tempdir().unwrap();
    let out = d.path().join("audit.jsonl");
    type Change = fn(&mut GenOptions);
    let cases: [(Change, &str); 4] = [
        (|o| o.days = 0.0, "--days"),
        (|o| o.malformed = 1.5, "--malformed"),
        (|o| o.segment_bytes = 10, "--segment-mib"),
        (|o| o.days = 1e-9, "too short"),
    ];
    for (change, msg) in cases {
        let mut o = small(&out);
        change(&mut o);
        let err = generate(&o).unwrap_err().to_string();
        assert!(err.contains(msg), "{err}");
    }
    assert!(!out.exists());
}

#[test]
fn empty_live_file_and_no_archives() {
    let d = tempfile::tempdir().unwrap();
    let out = d.path().join("audit.jsonl");
    let mut o = small(&out);
    o.archive_bytes = 0;
    o.live_bytes = 0;
    let s = generate(&o).unwrap();
    assert_eq!(s.files.len(), 1);
    assert_eq!(fs::metadata(&out).unwrap().len(), 0);
    assert_eq!(s.records, 0);
}
