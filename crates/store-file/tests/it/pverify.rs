//! The parallel `verify` against the sequential reference, over many
//! generated stores with planted damage: the reports must be equal, field
//! by field, whatever the workers' count.
use std::io::Write;
use std::path::Path;
use std::sync::Arc;

use flate2::Compression;
use flate2::write::GzEncoder;
use scout_audit_store_file::Layout;
use scout_audit_store_file::fs::RealFs;
use scout_audit_store_file::index::index_archive;
use scout_audit_store_file::seal::Workers;
use scout_audit_store_file::verify::{VerifyReport, verify_sequential, verify_with};
use scout_audit_testkit::rng::Rng;

use crate::support::*;

fn gz(text: &[u8]) -> Vec<u8> {
    let mut e = GzEncoder::new(Vec::new(), Compression::fast());
    e.write_all(text).unwrap();
    e.finish().unwrap()
}

/// The writers a generated store's records come from: (session, stamp).
const WRITERS: [(&str, Option<&str>); 6] = [
    ("alpha", Some("00000000000000a1")),
    ("alpha", Some("00000000000000a2")),
    ("beta", None),
    ("beta", None),
    ("gamma", Some("00000000000000c1")),
    ("del\\u0000ta", None),
];

/// One line of a generated segment: a record (its writer's next seq, or
/// a planted break), or planted damage.
fn line(rng: &mut Rng, next: &mut [u64; WRITERS.len()], out: &mut Vec<u8>) {
    let w = rng.below(WRITERS.len() as u64) as usize;
    let (session, writer) = WRITERS[w];
    let seq = match rng.below(40) {
        0 => next[w].saturating_add(1 + rng.below(3)), // a hole
        1 => next[w].saturating_sub(1),                // a repeat
        2 => next[w].saturating_sub(3),                // a step back
        3 => u64::MAX - rng.below(2),                  // at the edge
        _ => next[w],
    };
    next[w] = seq.saturating_add(1);
    // Two unstamped "beta" writers: the second restarts at its own seq.
    if w == 3 && rng.chance(0.05) {
        next[w] = 0;
    }
    let stamp = writer.map_or(String::new(), |s| format!(",\"writer\":\"{s}\""));
    let hour = rng.below(48);
    let rec = format!(
        "{{\"ts\":\"2026-01-0{}T{:02}:{:02}:00+00:00\",\"event\":\"{}\",\"session_id\":\"{session}\",\"seq\":{seq}{stamp},\"model\":\"{}\",\"cost\":{}.{:03},\"input_t\":{}}}",
        1 + hour / 24,
        hour % 24,
        rng.below(60),
        ["nav", "validation_fail", "edit"][rng.below(3) as usize],
        ["m1", "m2"][rng.below(2) as usize],
        rng.below(3),
        rng.below(1000),
        rng.below(500),
    );
    match rng.below(60) {
        0 => out.extend_from_slice(b"not json at all\n"),
        1 => out.extend_from_slice(b"[1,2,3]\n"),
        2 => out.extend_from_slice(b"   \n"),
        // A torn fragment with a record glued after it.
        3 => {
            out.extend_from_slice(b"{\"ts\":\"2026-01-01T00:0");
            out.extend_from_slice(rec.as_bytes());
            out.push(b'\n');
        }
        4 => {
            out.extend_from_slice(rec.as_bytes());
            out.extend_from_slice(b"\r\n");
        }
        5 => out.extend_from_slice(b"{\"ts\":\"not a time\",\"seq\":\"7\",\"session_id\":5}\n"),
        6 => out.extend_from_slice(b"{\"cost\":NaN,\"session_id\":\"beta\",\"seq\":1}\n"),
        _ => {
            out.extend_from_slice(rec.as_bytes());
            out.push(b'\n');
        }
    }
}

/// A segment's bytes: a BOM sometimes, lines, a torn tail sometimes.
fn segment(rng: &mut Rng, next: &mut [u64; WRITERS.len()], torn: bool) -> Vec<u8> {
    let mut out = Vec::new();
    if rng.chance(0.1) {
        out.extend_from_slice(b"\xEF\xBB\xBF");
    }
    for _ in 0..rng.range(0, 120) {
        line(rng, next, &mut out);
    }
    if torn && rng.chance(0.3) {
        out.extend_from_slice(b"{\"ts\":\"2026-01-01T00:00:00+00:00\",\"ev");
    }
    out
}

/// Writes a store of a few segments of every kind, with planted damage.
fn generate(seed: u64, path: &Path) {
    let mut rng = Rng::new(seed);
    let layout = Layout::new(path).unwrap();
    let dir = layout.dir().to_path_buf();
    let mut next = [0u64; WRITERS.len()];
    // The Python original's archive comes first.
    if rng.chance(0.3) {
        let bytes = segment(&mut rng, &mut next, true);
        std::fs::write(dir.join("audit_20251231T000000Z.jsonl.gz"), gz(&bytes)).unwrap();
    }
    let n = rng.range(0, 7);
    for number in 1..=n {
        let bytes = segment(&mut rng, &mut next, true);
        let name = layout.sealed_name(1_767_225_600 + number as i64 * 60, number);
        let sealed = dir.join(&name);
        match rng.below(10) {
            // Sealed, not compressed yet.
            0 => std::fs::write(&sealed, &bytes).unwrap(),
            // Sealed and an archive that differs (a conflict) or agrees.
            1 => {
                std::fs::write(&sealed, &bytes).unwrap();
                let mut other = bytes.clone();
                if rng.chance(0.5) {
                    other.extend_from_slice(b"{\"extra\":1}\n");
                }
                std::fs::write(dir.join(format!("{name}.gz")), gz(&other)).unwrap();
            }
            // A leftover temporary archive beside its sealed segment.
            2 => {
                std::fs::write(&sealed, &bytes).unwrap();
                std::fs::write(dir.join(format!("{name}.gz.tmp")), b"partial").unwrap();
            }
            _ => {
                let mut z = gz(&bytes);
                // Damage: cut short or a flipped byte.
                match rng.below(8) {
                    0 if z.len() > 30 => z.truncate(z.len() - 1 - rng.below(20) as usize),
                    1 if z.len() > 30 => {
                        let at = 10 + rng.below(z.len() as u64 - 20) as usize;
                        z[at] ^= 0x5a;
                    }
                    _ => {}
                }
                std::fs::write(dir.join(format!("{name}.gz")), &z).unwrap();
            }
        }
    }
    std::fs::write(path, segment(&mut rng, &mut next, true)).unwrap();
    index_and_edit(&mut rng, &layout);
}

/// Indexes most archives, then edits some indexes or archives.
fn index_and_edit(rng: &mut Rng, layout: &Layout) {
    let listing = layout.list(&RealFs).unwrap();
    for a in listing.archives() {
        if rng.chance(0.2) {
            continue;
        }
        let _ = index_archive(&RealFs, layout, a, None).unwrap();
        let idx = layout.index_path(a);
        if !idx.exists() {
            continue;
        }
        match rng.below(8) {
            // The index edited.
            0 => {
                let mut b = std::fs::read(&idx).unwrap();
                let at = rng.below(b.len() as u64) as usize;
                b[at] ^= 0x01;
                std::fs::write(&idx, b).unwrap();
            }
            // The archive replaced by another of other records.
            1 => {
                std::fs::write(&a.path, gz(b"{\"ts\":\"2026-01-01T00:00:00+00:00\"}\n")).unwrap();
            }
            // An index of another format version.
            2 => std::fs::write(&idx, b"{\"scout_audit_index\":99}\n").unwrap(),
            _ => {}
        }
    }
}

fn check_same(path: &Path) -> VerifyReport {
    let layout = layout(path);
    let want = verify_sequential(Arc::new(RealFs), &layout).unwrap();
    for workers in [0, 1, 2, 3] {
        let got = verify_with(Arc::new(RealFs), &layout, Workers::new(workers)).unwrap();
        assert_eq!(got, want, "{workers} workers");
        assert_eq!(got.problem_lines(), want.problem_lines());
        assert_eq!(got.note_lines(), want.note_lines());
    }
    want
}

#[test]
fn parallel_verify_equals_the_sequential_one_on_damaged_stores() {
    let (mut gaps, mut shared, mut problems, mut index) = (0, 0, 0, 0);
    for seed in 0..150 {
        let t = temp_store();
        generate(seed, &t.path);
        let r = check_same(&t.path);
        gaps += r.seq_gap_count;
        shared += r.shared_seq_count;
        problems += r.read.problem_count();
        index += r.index_problems.len() + r.outdated_indexes.len();
    }
    // The generated stores exercise what they are meant to.
    assert!(gaps > 100 && shared > 10 && problems > 100 && index > 10);
}

#[test]
fn parallel_verify_keeps_the_first_thousand_breaks_in_log_order() {
    let t = temp_store();
    let layout = layout(&t.path);
    let dir = layout.dir();
    // Three segments of 1500 breaks each: the caps fill in the first two.
    for number in 1..=3u64 {
        let mut s = String::new();
        for i in 0..1500u64 {
            let seq = i * 2 + number * 10_000;
            s.push_str(&format!(
                "{{\"session_id\":\"s\",\"seq\":{seq}}}\n{{\"session_id\":\"u\",\"seq\":{}}}\n",
                1_000_000 - i - number * 2000
            ));
        }
        let name = layout.sealed_name(1_767_225_600 + number as i64, number);
        std::fs::write(dir.join(format!("{name}.gz")), gz(s.as_bytes())).unwrap();
    }
    std::fs::write(&t.path, b"").unwrap();
    let r = check_same(&t.path);
    // "s" climbs by two (every record but the first a gap), "u" steps
    // back every time (unstamped: shared from the first step back).
    assert_eq!(r.seq_gap_count, 3 * 1500 - 1);
    assert_eq!(r.shared_seq_count, 3 * 1500 - 1);
    assert_eq!((r.seq_gaps.len(), r.shared_seq.len()), (1000, 1000));
    // The thousandth of each is in the first segment, record 1000 of it.
    assert_eq!(
        (r.seq_gaps[999].pos.line, r.shared_seq[999].pos.line),
        (2001, 2002)
    );
}
