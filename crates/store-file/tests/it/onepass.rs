//! `verify --key` in one read (`verify::verify_keyed`) against the two
//! checks run apart (`verify::verify_with`, `seal::verify_sealed_with`):
//! over generated sealed stores (BOMs, CRLF, blank and malformed lines,
//! torn tails, the Python original's archive, sealed segments not yet
//! compressed, conflicts) tampered after sealing (lines edited, removed,
//! swapped, archives cut short, deleted, a BOM added), the reports and
//! errors must be equal, whatever the workers' count.

use std::io::Write;
use std::sync::Arc;

use flate2::Compression;
use flate2::write::GzEncoder;
use scout_audit_core::SystemClock;
use scout_audit_seal::note::Verifier;
use scout_audit_store_file::Layout;
use scout_audit_store_file::fs::RealFs;
use scout_audit_store_file::reader::ProblemKind;
use scout_audit_store_file::seal::{self, SealReport, Workers};
use scout_audit_store_file::verify::{VerifyReport, verify_keyed, verify_with};
use scout_audit_testkit::rng::Rng;

fn gz(text: &[u8]) -> Vec<u8> {
    let mut e = GzEncoder::new(Vec::new(), Compression::fast());
    e.write_all(text).unwrap();
    e.finish().unwrap()
}

fn gunzip(bytes: &[u8]) -> Vec<u8> {
    use std::io::Read;
    let mut out = Vec::new();
    let _ = flate2::read::MultiGzDecoder::new(bytes).read_to_end(&mut out);
    out
}

/// One generated line: mostly a record, sometimes CRLF, blank, malformed.
fn line(rng: &mut Rng, seq: &mut u64, out: &mut Vec<u8>) {
    *seq += 1;
    let rec = format!(
        "{{\"ts\":\"2026-01-01T00:00:{:02}+00:00\",\"event\":\"llm_call\",\"session_id\":\"s{}\",\"seq\":{},\"cost\":0.5}}",
        *seq % 60,
        rng.below(3),
        *seq
    );
    match rng.below(20) {
        0 => out.extend_from_slice(b"\n"),
        1 => out.extend_from_slice(b"not json\n"),
        2 => {
            out.extend_from_slice(rec.as_bytes());
            out.extend_from_slice(b"\r\n");
        }
        _ => {
            out.extend_from_slice(rec.as_bytes());
            out.push(b'\n');
        }
    }
}

/// A segment's bytes: a BOM sometimes, enough lines to fill chunks of
/// 4,096 leaves sometimes, a torn tail sometimes.
fn segment(rng: &mut Rng, seq: &mut u64, torn: bool) -> Vec<u8> {
    let mut out = Vec::new();
    if rng.chance(0.2) {
        out.extend_from_slice(b"\xEF\xBB\xBF");
    }
    let n = if rng.chance(0.2) {
        rng.range(4090, 9000)
    } else {
        rng.range(0, 150)
    };
    for _ in 0..n {
        line(rng, seq, &mut out);
    }
    if torn && rng.chance(0.4) {
        out.extend_from_slice(b"{\"ts\":\"2026-01-01T00:00:00+00:00\",\"ev");
    }
    out
}

/// Writes a store of a few segments of every kind, seals it, and returns
/// its verification key.
fn generate(rng: &mut Rng, layout: &Layout) -> Verifier {
    let dir = layout.dir().to_path_buf();
    let mut seq = 0;
    if rng.chance(0.2) {
        let bytes = segment(rng, &mut seq, false);
        std::fs::write(dir.join("audit_20251231T000000Z.jsonl.gz"), gz(&bytes)).unwrap();
    }
    for number in 1..=rng.range(0, 6) {
        let bytes = segment(rng, &mut seq, false);
        let name = layout.sealed_name(1_767_225_600 + number as i64 * 60, number);
        let sealed = dir.join(&name);
        match rng.below(6) {
            0 => std::fs::write(&sealed, &bytes).unwrap(),
            1 => {
                std::fs::write(&sealed, &bytes).unwrap();
                std::fs::write(dir.join(format!("{name}.gz")), gz(&bytes)).unwrap();
            }
            _ => std::fs::write(dir.join(format!("{name}.gz")), gz(&bytes)).unwrap(),
        }
    }
    std::fs::write(layout.live(), segment(rng, &mut seq, true)).unwrap();
    let key = seal::init(&RealFs, layout, 3600).unwrap();
    seal::seal_now(&RealFs, layout, &SystemClock).unwrap();
    Verifier::parse(&key).unwrap()
}

/// The files holding lines, sorted (archives, sealed segments, the live
/// file last by name order is irrelevant: any one may be tampered).
fn data_files(layout: &Layout) -> Vec<std::path::PathBuf> {
    let mut out: Vec<_> = std::fs::read_dir(layout.dir())
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| {
            let n = p.file_name().unwrap().to_str().unwrap();
            n.ends_with(".jsonl") || n.ends_with(".jsonl.gz")
        })
        .collect();
    out.sort();
    out
}

/// One random tampering after sealing.
fn tamper(rng: &mut Rng, layout: &Layout) {
    let files = data_files(layout);
    let Some(&path) = files
        .iter()
        .collect::<Vec<_>>()
        .get(rng.below(files.len() as u64) as usize)
    else {
        return;
    };
    let is_gz = path.extension().is_some_and(|e| e == "gz");
    let raw = std::fs::read(path).unwrap();
    if is_gz && rng.chance(0.3) {
        // The archive cut short, or deleted.
        if rng.chance(0.5) && raw.len() > 30 {
            let cut = raw.len() - 1 - rng.below(raw.len() as u64 / 2) as usize;
            std::fs::write(path, &raw[..cut]).unwrap();
        } else {
            std::fs::remove_file(path).unwrap();
        }
        return;
    }
    let mut text = if is_gz { gunzip(&raw) } else { raw };
    let mut lines: Vec<Vec<u8>> = text
        .split_inclusive(|b| *b == b'\n')
        .map(<[u8]>::to_vec)
        .collect();
    match rng.below(4) {
        0 if !lines.is_empty() => {
            let i = rng.below(lines.len() as u64) as usize;
            let l = &mut lines[i];
            let at = rng.below(l.len() as u64) as usize;
            l[at] ^= 0x20;
        }
        1 if !lines.is_empty() => {
            lines.remove(rng.below(lines.len() as u64) as usize);
        }
        2 if lines.len() > 1 => {
            let i = rng.below(lines.len() as u64 - 1) as usize;
            lines.swap(i, i + 1);
        }
        _ => lines.insert(0, b"\xEF\xBB\xBF".to_vec()),
    }
    text = lines.concat();
    std::fs::write(path, if is_gz { gz(&text) } else { text }).unwrap();
}

type Both = (Result<VerifyReport, String>, Result<SealReport, String>);

/// The two checks apart, and `verify_keyed` on 0 to 3 workers: equal.
fn check_same(layout: &Layout, key: &Verifier) -> Both {
    let want: Both = (
        verify_with(Arc::new(RealFs), layout, Workers::SEQUENTIAL).map_err(|e| e.to_string()),
        seal::verify_sealed_with(&RealFs, layout, key, Workers::SEQUENTIAL)
            .map_err(|e| e.to_string()),
    );
    for workers in [0, 1, 3] {
        let (plain, sealed) = verify_keyed(Arc::new(RealFs), layout, key, Workers::new(workers));
        let got: Both = (
            plain.map_err(|e| e.to_string()),
            sealed.map_err(|e| e.to_string()),
        );
        assert_eq!(got.0, want.0, "plain report, {workers} workers");
        assert_eq!(got.1, want.1, "sealed report, {workers} workers");
    }
    want
}

#[test]
fn one_read_verify_key_equals_the_two_checks_apart_on_tampered_stores() {
    let (mut clean, mut tampered, mut located, mut plain_problems) = (0, 0, 0, 0);
    for seed in 0..40 {
        let dir = tempfile::tempdir().unwrap();
        let layout = Layout::new(dir.path().join("audit.jsonl")).unwrap();
        let mut rng = Rng::new(seed);
        let key = generate(&mut rng, &layout);
        let (plain, sealed) = check_same(&layout, &key);
        let sealed = sealed.unwrap();
        assert_eq!(sealed.tampering, None, "seed {seed}: untampered");
        clean += 1;
        assert!(plain.is_ok());
        for _ in 0..rng.range(1, 3) {
            tamper(&mut rng, &layout);
        }
        let (plain, sealed) = check_same(&layout, &key);
        if let Ok(p) = &plain {
            plain_problems += u64::from(!p.is_ok());
        }
        if let Ok(SealReport {
            tampering: Some(t), ..
        }) = &sealed
        {
            tampered += 1;
            located += u64::from(t.span.is_some());
        }
    }
    // The campaign met every outcome it is meant to compare.
    assert_eq!(clean, 40);
    assert!(tampered >= 20, "{tampered} tampered");
    assert!(located >= 5, "{located} located to a block");
    assert!(
        plain_problems >= 5,
        "{plain_problems} plain reports with problems"
    );
}

#[test]
fn one_read_verify_key_walks_a_line_over_the_readers_bound_itself() {
    // A line of MAX_LINE + 1 bytes: a leaf (the bound of leaves is 4
    // bytes more), too long for the plain read, which then cannot hand
    // the segment's leaves over: the walk reads that segment itself.
    let dir = tempfile::tempdir().unwrap();
    let layout = Layout::new(dir.path().join("audit.jsonl")).unwrap();
    let mut text = b"{\"a\":1}\n".to_vec();
    text.extend(std::iter::repeat_n(b'x', scout_audit_core::MAX_LINE + 1));
    text.extend_from_slice(b"\n{\"b\":2}\n");
    let name = layout.sealed_name(1_767_225_600, 1);
    std::fs::write(dir.path().join(format!("{name}.gz")), gz(&text)).unwrap();
    std::fs::write(layout.live(), b"{\"c\":3}\n").unwrap();
    let key = Verifier::parse(&seal::init(&RealFs, &layout, 3600).unwrap()).unwrap();
    seal::seal_now(&RealFs, &layout, &SystemClock).unwrap();
    let (plain, sealed) = check_same(&layout, &key);
    let plain = plain.unwrap();
    assert!(
        plain
            .read
            .problems
            .iter()
            .any(|p| matches!(p.kind, ProblemKind::TooLong(_))),
        "{:?}",
        plain.read.problems
    );
    let sealed = sealed.unwrap();
    assert_eq!(sealed.tampering, None);
    assert_eq!(sealed.sealed_leaves, 4);
    // Then an edit after it, in the same archive: found, in it.
    text.truncate(text.len() - 2);
    text.extend_from_slice(b"3}\n");
    std::fs::write(dir.path().join(format!("{name}.gz")), gz(&text)).unwrap();
    let (_, sealed) = check_same(&layout, &key);
    let t = sealed.unwrap().tampering.unwrap();
    assert_eq!(t.segment.as_deref(), Some(format!("{name}.gz").as_str()));
}
