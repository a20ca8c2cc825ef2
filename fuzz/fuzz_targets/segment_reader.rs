//! The segment reader on arbitrary bytes, as a store's live file (read by
//! the sequential reader and by `tail -f`'s follower) and as a `.gz`
//! archive. It must never panic or fail, must return exactly the records
//! of the input's lines (an independent split on `\n` and `decode_line`),
//! never a partial line, and for an archive exactly the records of the
//! bytes it decompresses to before any damage. Memory stays bounded whatever the decompressed size:
//! a line over `MAX_LINE` is skipped without being held, and `cargo xtask
//! fuzz` runs with `-rss_limit_mb` to catch a decompression bomb that
//! would exhaust memory; the decompression done here to check the reader
//! is itself capped at 64 MiB.
//!
//! The costs of the records read are summed: exactly (against an
//! independent big-integer reference, correctly rounded, or its overflow),
//! whatever the order or split, and through an index's summary written
//! and read back (huge costs such as 1e308 are in the corpus).
#![no_main]

use std::io::Read;
use std::path::Path;
use std::sync::Arc;

use flate2::read::MultiGzDecoder;
use libfuzzer_sys::fuzz_target;
use scout_audit_core::agg::{ExactSum, SumOverflow};
use scout_audit_core::{Decoded, MAX_LINE, Record, decode_line};
use scout_audit_store_file::Layout;
use scout_audit_store_file::follow::{Follow, Followed};
use scout_audit_store_file::index::{ArchiveStamp, SegmentIndex, Summary};
use scout_audit_testkit::campaign::read_store;
use scout_audit_testkit::sim::{SimFs, SimState};

const LIVE: &str = "/s/audit.jsonl";
const ARCHIVE: &str = "/s/audit-20260101T000000Z-000001.jsonl.gz";
/// The most this harness decompresses to check the reader.
const CAP: u64 = 64 << 20;

/// The records of `bytes`' lines, split independently of the reader: a
/// BOM at the start is skipped; `complete` is whether the last line
/// without `\n` counts (the stream ended there rather than failing).
fn expected(bytes: &[u8], complete: bool) -> (Vec<String>, Option<String>) {
    let bytes = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes);
    let mut out = Vec::new();
    let mut lines: Vec<&[u8]> = bytes.split(|b| *b == b'\n').collect();
    // After the last '\n': an unterminated line (or nothing).
    let last = lines.pop().filter(|l| !l.is_empty());
    // A line over the line bound is no record, whatever it holds.
    for l in lines.into_iter().filter(|l| l.len() <= MAX_LINE) {
        if let Decoded::Record(r) | Decoded::Glued { record: r, .. } = decode_line(l) {
            out.push(r.to_json_line());
        }
    }
    let tail = match last {
        Some(l) if complete && l.len() <= MAX_LINE => match decode_line(l) {
            Decoded::Record(r) | Decoded::Glued { record: r, .. } => Some(r.to_json_line()),
            _ => None,
        },
        _ => None,
    };
    (out, tail)
}

fn lines_of(recs: &[Record]) -> Vec<String> {
    recs.iter().map(Record::to_json_line).collect()
}

fn store_with(path: &str, data: &[u8]) -> (Arc<SimFs>, Layout) {
    let mut st = SimState::default();
    st.put(Path::new(path), data)
        .expect("a simulated disk takes any file");
    (
        Arc::new(SimFs::new(st)),
        Layout::new(LIVE).expect("a valid path"),
    )
}

/// The exact sum of `xs` correctly rounded, independently of
/// [`ExactSum`]: big integers in units of `2^-1074` (32-bit limbs), written
/// in decimal and parsed by the standard library (correctly rounded).
fn reference(xs: &[f64]) -> Result<f64, SumOverflow> {
    fn add(a: &mut Vec<u64>, b: &[u64]) {
        a.resize(a.len().max(b.len()) + 1, 0);
        let mut carry = 0;
        for (i, x) in a.iter_mut().enumerate() {
            let v = *x + b.get(i).copied().unwrap_or(0) + carry;
            *x = v & 0xffff_ffff;
            carry = v >> 32;
        }
        trim(a);
    }
    fn trim(a: &mut Vec<u64>) {
        while a.last() == Some(&0) {
            a.pop();
        }
    }
    fn less(a: &[u64], b: &[u64]) -> bool {
        a.len() < b.len() || (a.len() == b.len() && a.iter().rev().lt(b.iter().rev()))
    }
    fn sub(a: &[u64], b: &[u64]) -> Vec<u64> {
        let mut borrow = 0i64;
        let mut out: Vec<u64> = a
            .iter()
            .enumerate()
            .map(|(i, &x)| {
                let v = x as i64 - b.get(i).copied().unwrap_or(0) as i64 - borrow;
                borrow = i64::from(v < 0);
                v.rem_euclid(1 << 32) as u64
            })
            .collect();
        trim(&mut out);
        out
    }
    let (mut pos, mut neg) = (Vec::new(), Vec::new());
    for &x in xs {
        let bits = x.to_bits();
        let e = (bits >> 52) & 0x7ff;
        let f = bits & ((1 << 52) - 1);
        let (m, p) = if e == 0 { (f, 0) } else { (f | 1 << 52, e - 1) };
        let mut t = vec![0u64; (p / 32) as usize];
        let v = u128::from(m) << (p % 32);
        t.extend([
            v as u64 & 0xffff_ffff,
            (v >> 32) as u64 & 0xffff_ffff,
            (v >> 64) as u64,
        ]);
        add(if x < 0.0 { &mut neg } else { &mut pos }, &t);
    }
    let (mut mag, negative) = if less(&pos, &neg) {
        (sub(&neg, &pos), true)
    } else {
        (sub(&pos, &neg), false)
    };
    for _ in 0..1074 {
        let mut carry = 0;
        for x in mag.iter_mut() {
            let v = *x * 5 + carry;
            *x = v & 0xffff_ffff;
            carry = v >> 32;
        }
        if carry > 0 {
            mag.push(carry);
        }
    }
    let mut chunks = Vec::new();
    while !mag.is_empty() {
        let mut rem = 0;
        for x in mag.iter_mut().rev() {
            let v = (rem << 32) | *x;
            *x = v / 1_000_000_000;
            rem = v % 1_000_000_000;
        }
        chunks.push(rem);
        trim(&mut mag);
    }
    let mut digits: String = chunks.iter().rev().map(|c| format!("{c:09}")).collect();
    if digits.len() <= 1074 {
        digits = "0".repeat(1075 - digits.len()) + &digits;
    }
    let (int, frac) = digits.split_at(digits.len() - 1074);
    let v: f64 = format!("{int}.{frac}").parse().expect("a decimal parses");
    match (v.is_finite(), negative) {
        (true, false) => Ok(v),
        (true, true) => Ok(-v),
        (false, false) => Err(SumOverflow::Positive),
        (false, true) => Err(SumOverflow::Negative),
    }
}

/// The costs of `recs` sum exactly in any order and split, through the
/// sum's text and through an index's summary written and read back.
fn check_sums(recs: &[Record]) {
    let costs: Vec<f64> = recs.iter().filter_map(Record::cost).collect();
    if costs.is_empty() {
        return;
    }
    let mut whole = ExactSum::new();
    whole.extend(costs.iter().copied());
    let want = reference(&costs);
    assert_eq!(
        whole.value().map(f64::to_bits),
        want.map(f64::to_bits),
        "exact sum of {costs:?}"
    );
    let mut rev = ExactSum::new();
    rev.extend(costs.iter().rev().copied());
    let (a, b) = costs.split_at(costs.len() / 2);
    let mut split = ExactSum::new();
    split.extend(b.iter().copied());
    let mut first = ExactSum::new();
    first.extend(a.iter().copied());
    split.merge(&ExactSum::parse_exact(&first.to_string()).expect("a sum's text parses"));
    assert_eq!(rev, whole, "reversed {costs:?}");
    assert_eq!(split, whole, "split {costs:?}");
    let mut summary = Summary::default();
    for r in recs {
        summary.add_record(
            r.ts(),
            r.event(),
            r.model(),
            r.cost(),
            r.input_t(),
            r.output_t(),
        );
    }
    let idx = SegmentIndex {
        archive: "a.jsonl.gz".into(),
        stamp: ArchiveStamp {
            len: 0,
            sha256: [0; 32],
        },
        identity: None,
        summary,
    };
    let back = SegmentIndex::decode(&idx.encode()).expect("an index reads back");
    let mut from_index = ExactSum::new();
    for k in back.summary.hours.values() {
        for (_, t) in k.iter() {
            t.add_cost_to(&mut from_index);
        }
    }
    assert_eq!(from_index, whole, "through an index {costs:?}");
}

fuzz_target!(|data: &[u8]| {
    // 1. The live file, through the sequential reader.
    let (fs, layout) = store_with(LIVE, data);
    let (recs, _) = read_store(fs.clone(), &layout).expect("the reader never fails on bad bytes");
    let (mut want, tail) = expected(data, true);
    let complete = want.clone();
    want.extend(tail);
    assert_eq!(lines_of(&recs), want, "reader vs independent split");
    check_sums(&recs);
    // 2. The same file through the follower: every complete record line,
    // once, in order (an unterminated last line is a write in progress).
    let mut follow = Follow::start(fs, layout.clone()).expect("follow starts on any file");
    let mut followed = Vec::new();
    loop {
        match follow
            .next_record()
            .expect("the follower never fails on bad bytes")
        {
            Followed::Record(r) => followed.push(r.to_json_line()),
            Followed::CaughtUp => break,
        }
    }
    assert_eq!(followed, complete, "follower vs independent split");
    // 3. The bytes as a gzip archive.
    let (fs, layout) = store_with(ARCHIVE, data);
    let (recs, report) = read_store(fs, &layout).expect("the reader never fails on a bad archive");
    let mut plain = Vec::new();
    let ended = MultiGzDecoder::new(data)
        .take(CAP)
        .read_to_end(&mut plain)
        .is_ok();
    if !ended {
        // A decoder drops what the read that fails had decompressed: decode
        // again a byte at a time to get every byte before the damage.
        plain.clear();
        let mut d = MultiGzDecoder::new(data).take(CAP);
        let mut one = [0u8; 1];
        while let Ok(1) = d.read(&mut one) {
            plain.push(one[0]);
        }
    }
    if (plain.len() as u64) < CAP {
        let (mut want, tail) = expected(&plain, ended);
        if ended {
            want.extend(tail);
        }
        assert_eq!(
            lines_of(&recs),
            want,
            "archive reader vs independent decompression"
        );
        if !ended && !data.is_empty() {
            assert_eq!(report.damaged_segments, 1, "a damaged archive is reported");
        }
    }
});
