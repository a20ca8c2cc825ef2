//! Writers at the line bound: a file store on a simulated disk logs, batches and imports events whose lines
//! fall just under, at, or just over `MAX_LINE`. A line over the bound must
//! be refused with `LineTooLong` (its exact length) before anything of its
//! call is acknowledged or written; everything acknowledged must read back
//! exactly, in order, with no problem reported, and the writer must stay
//! usable after a refusal.
//!
//! Input: byte 0 picks the durability; then steps of three bytes, an
//! operation and a `u16` parameter, which sets a long line's length as
//! `MAX_LINE - 256 + p % 512` bytes of padding (so a two-byte corpus entry
//! describes a 16 MiB line): 0 logs a small event, 1 a long one, 2 a batch
//! of small, long, small, 3 imports a long record, 4 reopens the store
//! with a new session. At most 6 steps.
#![no_main]

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use libfuzzer_sys::fuzz_target;
use scout_audit_core::event::WRITER_FIELD;
use scout_audit_core::{
    Decoded, Durability, Error, Event, MAX_LINE, ManualClock, Record, SessionId, Sink, Timestamp,
    WriterId, decode_line,
};
use scout_audit_store_file::{FileStore, Layout};
use scout_audit_testkit::campaign::read_store;
use scout_audit_testkit::sim::{SimFs, SimState};

const LIVE: &str = "/s/audit.jsonl";

/// Runs so far in this process: a process remembers the next seq of a
/// session it wrote, so every run writes sessions of its own.
static RUNS: AtomicU64 = AtomicU64::new(0);

fn t0() -> Timestamp {
    Timestamp::from_unix_micros(1_767_225_600_000_000)
}

fn open(fs: &Arc<SimFs>, level: Durability, session: &str) -> FileStore {
    FileStore::builder(LIVE)
        .file_system(fs.clone())
        .durability(level)
        .session(SessionId::new(session))
        .clock(Arc::new(ManualClock::new(t0())))
        .open()
        .expect("a store opens on an empty simulated disk")
}

fn long(p: u16) -> Event {
    let pad = MAX_LINE - 256 + usize::from(p) % 512;
    Event::new("big").field("pad", "a".repeat(pad))
}

/// The line a writer opened with the given `session` writes for `e` at
/// `seq` (without `\n`): stamped with a writer id, as such a writer's lines
/// are (docs/format.md), so its length is the written line's. The stamp's
/// value is the writer's own; comparisons leave it out ([`comparable`]).
fn line_of(e: &Event, session: &str, seq: u64) -> Vec<u8> {
    let mut out = Vec::new();
    e.encode_stamped(
        t0(),
        &SessionId::new(session),
        seq,
        Some(&WriterId::random()),
        &mut out,
    );
    out.pop();
    out
}

/// A record as the reader prints it, without its writer stamp.
fn comparable(r: Record) -> String {
    let mut m = r.into_map();
    m.remove(WRITER_FIELD);
    Record::from_map(m).to_json_line()
}

/// As a record read back would print (without its writer stamp).
fn json_line(line: &[u8]) -> String {
    match decode_line(line) {
        Decoded::Record(r) => comparable(r),
        other => panic!("an encoded event does not decode: {other:?}"),
    }
}

fn check_refusal(e: &Error, line_len: usize) {
    match e {
        Error::LineTooLong { len, max } => {
            assert_eq!(*max, MAX_LINE as u64);
            assert_eq!(*len, line_len as u64, "the error names the line's length");
            assert!(line_len > MAX_LINE, "refused a line within the bound");
        }
        other => panic!("not a line-bound refusal: {other}"),
    }
}

fuzz_target!(|data: &[u8]| {
    let Some((&first, steps)) = data.split_first() else {
        return;
    };
    let level = Durability::ALL[usize::from(first) % 3];
    let run = RUNS.fetch_add(1, Ordering::Relaxed);
    let fs = Arc::new(SimFs::new(SimState::default()));
    let mut sessions = 0u32;
    let mut session = format!("r{run}s{sessions}");
    let mut store = open(&fs, level, &session);
    // Every acknowledged line, in order, as the reader will print it.
    let mut acked: Vec<String> = Vec::new();
    let mut next_seq = 0u64;
    for step in steps.chunks_exact(3).take(6) {
        let p = u16::from_be_bytes([step[1], step[2]]);
        match step[0] % 5 {
            0 | 1 => {
                let e = if step[0] % 5 == 0 {
                    Event::new("nav").field("p", p)
                } else {
                    long(p)
                };
                let line = line_of(&e, &session, next_seq);
                match store.append(e) {
                    Ok(r) => {
                        assert_eq!(r.seq, next_seq);
                        assert!(line.len() <= MAX_LINE, "acknowledged over the bound");
                        acked.push(json_line(&line));
                        next_seq += 1;
                    }
                    Err(err) => check_refusal(&err.into(), line.len()),
                }
            }
            2 => {
                let batch = vec![Event::new("a"), long(p), Event::new("b")];
                let lines: Vec<Vec<u8>> = batch
                    .iter()
                    .enumerate()
                    .map(|(i, e)| line_of(e, &session, next_seq + i as u64))
                    .collect();
                match store.append_batch(batch) {
                    Ok(rs) => {
                        assert_eq!(rs.len(), 3);
                        for l in &lines {
                            assert!(l.len() <= MAX_LINE, "acknowledged over the bound");
                            acked.push(json_line(l));
                        }
                        next_seq += 3;
                    }
                    // Only the long one can be refused; none of the batch
                    // is written, and its seqs are given back.
                    Err(err) => check_refusal(&err.into(), lines[1].len()),
                }
            }
            3 => {
                let pad = MAX_LINE - 256 + usize::from(p) % 512;
                let text = format!(
                    r#"{{"ts":"2026-01-01T00:00:00+00:00","event":"imp","session_id":"imp","seq":{p},"pad":"{}"}}"#,
                    "a".repeat(pad)
                );
                let rec: Record = match decode_line(text.as_bytes()) {
                    Decoded::Record(r) => r,
                    other => panic!("{other:?}"),
                };
                let line = rec.to_json_line();
                match Sink::import(&store, vec![rec]) {
                    Ok(n) => {
                        assert_eq!(n, 1);
                        assert!(line.len() <= MAX_LINE, "imported over the bound");
                        acked.push(line);
                    }
                    Err(err) => check_refusal(&err, line.len()),
                }
            }
            _ => {
                store.close().expect("close");
                sessions += 1;
                session = format!("r{run}s{sessions}");
                store = open(&fs, level, &session);
                next_seq = 0;
            }
        }
    }
    store.close().expect("close");
    let layout = Layout::new(LIVE).expect("a valid path");
    let (recs, report) = read_store(fs, &layout).expect("the reader reads what was written");
    let got: Vec<String> = recs.into_iter().map(comparable).collect();
    if got != acked {
        // Summaries: the lines are megabytes long.
        let short = |v: &[String]| -> Vec<String> {
            v.iter()
                .map(|l| format!("{}… ({} bytes)", &l[..l.len().min(90)], l.len()))
                .collect()
        };
        panic!(
            "read back vs acknowledged:\n got {:#?}\nwant {:#?}",
            short(&got),
            short(&acked)
        );
    }
    assert_eq!(
        report.problem_count(),
        0,
        "nothing refused reached the disk"
    );
});
