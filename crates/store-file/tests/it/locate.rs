//! Locating a departure in a store sealed once over 20,000 lines (four
//! archives of 4,000 lines and a live file of 4,000): the seal-nodes file
//! names the block of at most 64 lines, with its bytes, where the store
//! first departs; a tampered seal-nodes file never hides tampering; and
//! the parallel verify gives the same report as the sequential one.

use std::io::{Read, Write};
use std::path::{Path, PathBuf};

use scout_audit_core::{Durability, Event, SystemClock};
use scout_audit_seal::merkle::{leaf_hash, root};
use scout_audit_seal::note::Verifier;
use scout_audit_store_file::fs::RealFs;
use scout_audit_store_file::options::SealInterval;
use scout_audit_store_file::seal::{self, SealReport, Span, Tampering, Workers};
use scout_audit_store_file::{FileStore, Layout};

const PER_SEGMENT: u64 = 4000;
const SEGMENTS: u64 = 5;

struct Store {
    _dir: tempfile::TempDir,
    path: PathBuf,
    layout: Layout,
    key: Verifier,
}

fn store() -> Store {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("audit.jsonl");
    let layout = Layout::new(&path).unwrap();
    let key = seal::init(&RealFs, &layout, 3600).unwrap();
    let store = FileStore::builder(&path)
        .seal_interval(SealInterval::OFF)
        .durability(Durability::Buffered)
        .open()
        .unwrap();
    for s in 0..SEGMENTS {
        let batch = (0..PER_SEGMENT)
            .map(|i| Event::new("llm_call").cost((s * PER_SEGMENT + i) as f64 / 1000.0))
            .collect();
        store.append_batch(batch).unwrap();
        if s + 1 < SEGMENTS {
            store.rotate().unwrap();
        }
    }
    store.wait_compressed();
    store.close().unwrap();
    let sealed = seal::seal_now(&RealFs, &layout, &SystemClock)
        .unwrap()
        .unwrap();
    assert_eq!(sealed.size, SEGMENTS * PER_SEGMENT);
    Store {
        _dir: dir,
        path,
        layout,
        key: Verifier::parse(&key).unwrap(),
    }
}

fn verify(s: &Store) -> SealReport {
    seal::verify_sealed(&RealFs, &s.layout, &s.key).unwrap()
}

/// The segments holding leaves, in layout order: the archives, then the
/// live file.
fn segments(s: &Store) -> Vec<PathBuf> {
    let dir = s.path.parent().unwrap();
    let mut gz: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.to_str().unwrap().ends_with(".jsonl.gz"))
        .collect();
    gz.sort();
    assert_eq!(gz.len() as u64, SEGMENTS - 1);
    gz.push(s.path.clone());
    gz
}

fn read_lines(path: &Path) -> Vec<String> {
    let mut text = String::new();
    if path.extension().is_some_and(|e| e == "gz") {
        flate2::read::MultiGzDecoder::new(std::fs::File::open(path).unwrap())
            .read_to_string(&mut text)
            .unwrap();
    } else {
        text = std::fs::read_to_string(path).unwrap();
    }
    text.lines().map(str::to_owned).collect()
}

fn write_lines(path: &Path, lines: &[String]) {
    let text: String = lines.iter().map(|l| format!("{l}\n")).collect();
    if path.extension().is_some_and(|e| e == "gz") {
        let mut gz = flate2::write::GzEncoder::new(
            std::fs::File::create(path).unwrap(),
            flate2::Compression::default(),
        );
        gz.write_all(text.as_bytes()).unwrap();
        gz.finish().unwrap();
    } else {
        std::fs::write(path, text).unwrap();
    }
}

/// Byte offsets of lines `first..=last` (1-based) of `lines`: the first's
/// start and the end past the last's `\n`.
fn bytes(lines: &[String], first: u64, last: u64) -> (u64, u64) {
    let off = |n: u64| -> u64 { lines[..n as usize].iter().map(|l| l.len() as u64 + 1).sum() };
    (off(first - 1), off(last))
}

fn name(p: &Path) -> String {
    p.file_name().unwrap().to_str().unwrap().to_owned()
}

fn tampering(r: &SealReport) -> Tampering {
    r.tampering.clone().expect("tampering found")
}

/// Checks the span: in `seg`, lines `first..=last`, with their bytes in
/// the segment as it is now.
fn check_span(span: &Span, seg: &Path, first: u64, last: u64) {
    let lines = read_lines(seg);
    let (start, end) = bytes(&lines, first, last);
    assert_eq!(
        (
            span.first.segment.as_str(),
            span.first.line,
            span.first.start,
            span.last.segment.as_str(),
            span.last.line,
            span.last.end
        ),
        (
            name(seg).as_str(),
            first,
            start,
            name(seg).as_str(),
            last,
            end
        ),
        "{span}"
    );
}

#[test]
fn a_byte_edited_deep_in_an_archive_is_located_to_its_64_lines() {
    let s = store();
    assert_eq!(verify(&s).tampering, None);
    // Leaf 12,345 is line 346 of the fourth archive (leaves 12,000 on);
    // its block is leaves 12,288..12,351, lines 289..352 there.
    let seg = &segments(&s)[3];
    let mut lines = read_lines(seg);
    let line = &mut lines[345];
    let at = line.find("\"cost\":").unwrap() + 7;
    line.replace_range(at..=at, "7");
    write_lines(seg, &lines);
    let t = tampering(&verify(&s));
    assert!(t.what.contains("differ from the seal"), "{}", t.what);
    let span = t.span.clone().expect("located");
    check_span(&span, seg, 289, 352);
    assert!((span.first.line..=span.last.line).contains(&346));
    assert_eq!(
        (t.segment.as_deref(), t.line),
        (Some(name(seg).as_str()), Some(289))
    );
    // Without the seal-nodes file, the location is decision 72's: the
    // first line after the last seal that holds (there is none before).
    std::fs::remove_file(s.layout.seal_nodes()).unwrap();
    let t = tampering(&verify(&s));
    assert_eq!(t.span, None);
    assert_eq!(
        (t.segment.as_deref(), t.line),
        (Some(name(&segments(&s)[0]).as_str()), Some(1))
    );
}

#[test]
fn a_block_running_across_two_archives_is_named_from_one_to_the_other() {
    let s = store();
    let segs = segments(&s);
    // Block 62 is leaves 3,968..4,031: lines 3,969..4,000 of the first
    // archive and 1..32 of the second. Line 5 of the second is edited.
    let mut lines = read_lines(&segs[1]);
    lines[4].push(' ');
    write_lines(&segs[1], &lines);
    let span = tampering(&verify(&s)).span.expect("located");
    let before = read_lines(&segs[0]);
    let (start, _) = bytes(&before, 3969, 3969);
    let (_, end) = bytes(&lines, 32, 32);
    assert_eq!(
        (&span.first.segment, span.first.line, span.first.start),
        (&name(&segs[0]), 3969, start)
    );
    assert_eq!(
        (&span.last.segment, span.last.line, span.last.end),
        (&name(&segs[1]), 32, end)
    );
}

#[test]
fn a_removed_line_and_two_swapped_lines_are_located() {
    let s = store();
    let live = s.path.clone();
    let original = read_lines(&live);
    // Live line 1,001 is leaf 17,000, in block 265 (leaves 16,960..17,023):
    // live lines 961..1,024.
    let mut removed = original.clone();
    removed.remove(1000);
    write_lines(&live, &removed);
    let t = tampering(&verify(&s));
    assert!(
        t.what
            .contains("holds 19999 lines, fewer than the 20000 sealed"),
        "{}",
        t.what
    );
    check_span(&t.span.expect("located"), &live, 961, 1024);

    let mut swapped = original.clone();
    swapped.swap(1000, 1001);
    write_lines(&live, &swapped);
    let t = tampering(&verify(&s));
    assert!(t.what.contains("differ from the seal"), "{}", t.what);
    check_span(&t.span.expect("located"), &live, 961, 1024);

    // The last line removed: the block being filled when the store ends
    // (leaves 19,968..19,998, live lines 3,969..3,999).
    write_lines(&live, &original[..3999]);
    let t = tampering(&verify(&s));
    check_span(&t.span.expect("located"), &live, 3969, 3999);
}

#[test]
fn a_line_edited_after_a_second_seal_is_located_from_the_first_line_not_proven() {
    let s = store();
    // 30 more lines and a second seal: the seals are at 20,000 and 20,030.
    let store = FileStore::builder(&s.path)
        .seal_interval(SealInterval::OFF)
        .open()
        .unwrap();
    for i in 0..30 {
        store
            .append(Event::new("llm_call").cost(f64::from(i)))
            .unwrap();
    }
    store.close().unwrap();
    seal::seal_now(&RealFs, &s.layout, &SystemClock)
        .unwrap()
        .unwrap();
    // Leaf 20,010 (live line 4,011) is in block 312 (leaves 19,968..),
    // but leaves before 20,000 are proven by the first seal: the range is
    // live lines 4,001..4,030.
    let mut lines = read_lines(&s.path);
    lines[4010].push(' ');
    write_lines(&s.path, &lines);
    let t = tampering(&verify(&s));
    check_span(&t.span.expect("located"), &s.path, 4001, 4030);
}

#[test]
fn a_tampered_seal_nodes_file_never_hides_tampering() {
    let s = store();
    let nodes_path = s.layout.seal_nodes();
    let nodes = std::fs::read(&nodes_path).unwrap();
    assert_eq!(nodes.len() as u64, 16 + 32 * (20_000 / 64));
    // A flipped byte in the file alone: the store is as sealed.
    let mut bad = nodes.clone();
    bad[16 + 32 * 100] ^= 1;
    std::fs::write(&nodes_path, &bad).unwrap();
    assert_eq!(verify(&s).tampering, None);
    // A line edited and the file made to agree with the edit: live line 1
    // is leaf 16,000, the first of block 250. The tampering is found, the
    // file is reported, the location is by seal.
    let live = s.path.clone();
    let mut lines = read_lines(&live);
    lines[0].push(' ');
    write_lines(&live, &lines);
    let leaves: Vec<_> = lines[..64]
        .iter()
        .map(|l| leaf_hash(l.as_bytes()))
        .collect();
    let mut forged = nodes.clone();
    forged[16 + 32 * 250..16 + 32 * 251].copy_from_slice(&root(&leaves));
    std::fs::write(&nodes_path, &forged).unwrap();
    let t = tampering(&verify(&s));
    assert!(t.what.contains("differ from the seal"), "{}", t.what);
    assert!(
        t.what.ends_with(
            "the seal-nodes file does not match the seals, so the departure is located by seal"
        ),
        "{}",
        t.what
    );
    assert_eq!(t.span, None);
    assert_eq!(
        (t.segment.as_deref(), t.line),
        (Some(name(&segments(&s)[0]).as_str()), Some(1))
    );
    // The file cut short, or something else at its name: by seal, too.
    std::fs::write(&nodes_path, &nodes[..16 + 32 * 10]).unwrap();
    assert_eq!(tampering(&verify(&s)).span, None);
    std::fs::remove_file(&nodes_path).unwrap();
    std::os::unix::fs::symlink(s.path.parent().unwrap().join("elsewhere"), &nodes_path).unwrap();
    assert_eq!(tampering(&verify(&s)).span, None);
}

#[test]
fn the_sealer_cuts_blocks_no_seal_covers_and_resumes_an_old_store() {
    let s = store();
    let nodes_path = s.layout.seal_nodes();
    let good = std::fs::read(&nodes_path).unwrap();
    // A sealer that died after writing two blocks and half a third.
    let mut left = good.clone();
    left.extend_from_slice(&[7u8; 80]);
    std::fs::write(&nodes_path, &left).unwrap();
    let store = FileStore::builder(&s.path)
        .seal_interval(SealInterval::OFF)
        .open()
        .unwrap();
    for i in 0..100 {
        store
            .append(Event::new("llm_call").cost(f64::from(i)))
            .unwrap();
    }
    store.close().unwrap();
    seal::seal_now(&RealFs, &s.layout, &SystemClock)
        .unwrap()
        .unwrap();
    let now = std::fs::read(&nodes_path).unwrap();
    assert_eq!(now.len() as u64, 16 + 32 * (20_100 / 64));
    assert_eq!(now[..good.len()], good[..]);
    assert_eq!(verify(&s).tampering, None);
    // A store sealed before the file existed gets one from its next seal
    // on, starting at the block the last seal ends in.
    std::fs::remove_file(&nodes_path).unwrap();
    let store = FileStore::builder(&s.path)
        .seal_interval(SealInterval::OFF)
        .open()
        .unwrap();
    for i in 0..200 {
        store
            .append(Event::new("llm_call").cost(f64::from(i)))
            .unwrap();
    }
    store.close().unwrap();
    seal::seal_now(&RealFs, &s.layout, &SystemClock)
        .unwrap()
        .unwrap();
    let now = std::fs::read(&nodes_path).unwrap();
    assert_eq!(now[8..16], (20_100u64 / 64).to_be_bytes());
    assert_eq!(now.len() as u64, 16 + 32 * (20_300 / 64 - 20_100 / 64));
    // An edit in the new lines is located (leaf 20,250 is live line
    // 4,251, block 316: leaves 20,224..20,287, lines 4,225..4,288).
    let mut lines = read_lines(&s.path);
    lines[4250].push(' ');
    write_lines(&s.path, &lines);
    let t = tampering(&verify(&s));
    check_span(&t.span.expect("located"), &s.path, 4225, 4288);
}

#[test]
fn parallel_verify_reports_what_sequential_verify_does() {
    let s = store();
    let segs = segments(&s);
    let same = |s: &Store| {
        let one =
            seal::verify_sealed_with(&RealFs, &s.layout, &s.key, Workers::SEQUENTIAL).unwrap();
        for n in [1, 2, 3, 7] {
            let many =
                seal::verify_sealed_with(&RealFs, &s.layout, &s.key, Workers::new(n)).unwrap();
            assert_eq!(many, one, "{n} workers");
        }
        one
    };
    assert_eq!(same(&s).tampering, None);
    let mut lines = read_lines(&segs[1]);
    lines.swap(10, 11);
    write_lines(&segs[1], &lines);
    assert!(same(&s).tampering.unwrap().span.is_some());
    // A corrupt archive (its tail cut), then a deleted one.
    let bytes = std::fs::read(&segs[2]).unwrap();
    std::fs::write(&segs[2], &bytes[..bytes.len() / 2]).unwrap();
    assert!(same(&s).tampering.is_some());
    std::fs::remove_file(&segs[2]).unwrap();
    assert!(same(&s).tampering.is_some());
}
