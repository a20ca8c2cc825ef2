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
#![no_main]

use std::io::Read;
use std::path::Path;
use std::sync::Arc;

use flate2::read::MultiGzDecoder;
use libfuzzer_sys::fuzz_target;
use scout_audit_core::{Decoded, MAX_LINE, Record, decode_line};
use scout_audit_store_file::Layout;
use scout_audit_store_file::follow::{Follow, Followed};
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

fuzz_target!(|data: &[u8]| {
    // 1. The live file, through the sequential reader.
    let (fs, layout) = store_with(LIVE, data);
    let (recs, _) = read_store(fs.clone(), &layout).expect("the reader never fails on bad bytes");
    let (mut want, tail) = expected(data, true);
    let complete = want.clone();
    want.extend(tail);
    assert_eq!(lines_of(&recs), want, "reader vs independent split");
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
