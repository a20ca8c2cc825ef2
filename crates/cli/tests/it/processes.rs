//! Several writer processes on one store, and a writer killed with SIGKILL.

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::time::Duration;

use serde_json::{Value, json};

use crate::support::{Lines, Store, column, feed_in_step, numbered};

/// Per session, in log order: (event, [(seq, i)]).
fn by_session(recs: &[Value]) -> BTreeMap<String, (String, Vec<(u64, u64)>)> {
    let mut m: BTreeMap<String, (String, Vec<(u64, u64)>)> = BTreeMap::new();
    for r in recs {
        let e = m
            .entry(r["session_id"].as_str().unwrap().to_owned())
            .or_insert_with(|| (r["event"].as_str().unwrap().to_owned(), Vec::new()));
        assert_eq!(e.0, r["event"], "one event name per writer");
        e.1.push((r["seq"].as_u64().unwrap(), r["i"].as_u64().unwrap()));
    }
    m
}

#[test]
fn concurrent_writers_rotating_constantly_lose_and_repeat_nothing() {
    const WRITERS: u64 = 4;
    const EACH: u64 = 250;
    let s = Store::new();
    // Every durability level at once (buffered with a short delay).
    let levels = ["process", "sync", "buffered", "process"];
    let writers: Vec<_> = (0..WRITERS)
        .map(|w| {
            let mut child = s
                .cmd(&[
                    "--rotate-size",
                    "2K",
                    "--max-delay",
                    "5ms",
                    "log",
                    "--stdin",
                    "--ack",
                    "--durability",
                    levels[w as usize],
                ])
                .spawn();
            std::thread::spawn(move || {
                let mut stdin = child.stdin.take().unwrap();
                let acks = Lines::new(child.stdout.take().unwrap());
                let got = feed_in_step(&mut stdin, &acks, &numbered(&format!("w{w}"), EACH), 5);
                drop(stdin);
                let status = child.wait().unwrap();
                let mut err = String::new();
                child
                    .stderr
                    .take()
                    .unwrap()
                    .read_to_string(&mut err)
                    .unwrap();
                (got, status.code(), err, acks.rest())
            })
        })
        .collect();
    for w in writers {
        let (got, code, err, rest) = w.join().unwrap();
        assert_eq!(got, (0..EACH).collect::<Vec<_>>());
        assert_eq!((code, err.as_str(), rest.len()), (Some(0), "", 0));
    }
    // verify: one line, OK.
    let v = s.ok(&["verify"]);
    assert_eq!(v.lines().count(), 1, "{v}");
    assert!(
        v.starts_with(&format!("{} records, {WRITERS} sessions, ", WRITERS * EACH))
            && v.ends_with(": OK\n"),
        "{v}"
    );
    // stats: every event counted once.
    let st: Value = serde_json::from_str(&s.ok(&["stats", "--format", "json"])).unwrap();
    let events: serde_json::Map<String, Value> = (0..WRITERS)
        .map(|w| (format!("w{w}"), json!(EACH)))
        .collect();
    assert_eq!(st["records"], WRITERS * EACH);
    assert_eq!(st["events"], Value::Object(events));
    assert_eq!(st["sessions"], WRITERS);
    assert_eq!((&st["malformed"], &st["problems"]), (&json!(0), &json!([])));
    assert_eq!(st["segments"]["sealed"], 0);
    let archives = st["segments"]["archives"].as_u64().unwrap();
    // About 140 KB of records in 2 KiB segments.
    assert!(archives >= 20, "only {archives} rotations");
    // Each session: seq 0..EACH in log order, in the order it was fed.
    let sessions = by_session(&s.records());
    assert_eq!(sessions.len() as u64, WRITERS);
    for (sid, (event, seqs)) in &sessions {
        let want: Vec<(u64, u64)> = (0..EACH).map(|i| (i, i)).collect();
        assert!(*seqs == want, "{sid} ({event}): {seqs:?}");
    }
    // Nothing left behind: the live file, the lock, and archives, each
    // with its index.
    let files = s.files();
    let gz = files.iter().filter(|f| f.ends_with(".jsonl.gz")).count() as u64;
    assert_eq!(gz, archives);
    let idx = files
        .iter()
        .filter(|f| f.ends_with(".jsonl.gz.idx"))
        .count() as u64;
    assert_eq!(idx, archives);
    let others: Vec<&String> = files
        .iter()
        .filter(|f| !f.ends_with(".jsonl.gz") && !f.ends_with(".jsonl.gz.idx"))
        .collect();
    assert_eq!(others, ["audit.jsonl", "audit.lock"]);
}

#[test]
fn kill_9_keeps_every_acknowledged_event_exactly_once() {
    // Killed at several points, rotating every few dozen events.
    for k in [1, 57, 300, 1000] {
        kill_after(k);
    }
}

/// Feeds a `sync` writer, kills it after `k` acknowledgements, reopens.
fn kill_after(k: usize) {
    let s = Store::new();
    let mut child = s
        .cmd(&[
            "--rotate-size",
            "4K",
            "log",
            "--stdin",
            "--ack",
            "--durability",
            "sync",
        ])
        .spawn();
    let mut stdin = child.stdin.take().unwrap();
    let acks = Lines::new(child.stdout.take().unwrap());
    let feeder = std::thread::spawn(move || {
        // Until the pipe breaks when the child dies.
        for chunk in numbered("k", 200_000).chunks(7) {
            let text: String = chunk.iter().map(|e| format!("{e}\n")).collect();
            if stdin.write_all(text.as_bytes()).is_err() {
                return;
            }
        }
    });
    let mut acked: Vec<u64> = acks
        .take(k, Duration::from_secs(5))
        .iter()
        .map(|a| a.parse().unwrap())
        .collect();
    child.kill().unwrap();
    let status = child.wait().unwrap();
    assert_eq!(status.code(), None, "killed by a signal");
    feeder.join().unwrap();
    // Acknowledgements already in the pipe count too.
    acked.extend(acks.rest().iter().map(|a| a.parse::<u64>().unwrap()));
    assert_eq!(acked, (0..acked.len() as u64).collect::<Vec<_>>());
    // A writer opening the store recovers it.
    assert_eq!(s.ok(&["log", "reopened", "--ack"]), "0\n");
    let v = s.cmd(&["verify"]).run();
    assert_eq!(v.code, Some(0), "k={k}: {v:?}");
    assert!(v.stdout.ends_with(": OK\n"), "k={k}: {v:?}");
    let recs = s.records();
    let sessions = by_session(&recs[..recs.len() - 1]);
    assert_eq!(sessions.len(), 1);
    let (_, seqs) = sessions.values().next().unwrap();
    let want: Vec<(u64, u64)> = (0..seqs.len() as u64).map(|i| (i, i)).collect();
    assert!(*seqs == want, "k={k}: {seqs:?}");
    assert!(
        seqs.len() >= acked.len(),
        "k={k}: {} < {}",
        seqs.len(),
        acked.len()
    );
    assert_eq!(recs.last().unwrap()["event"], "reopened");
    let files = s.files();
    assert!(
        !files.iter().any(|f| f.ends_with(".tmp")),
        "k={k}: {files:?}"
    );
}

/// Fills the store's directory with `n` unrelated files. A directory that
/// big is hashed and takes a while to list; a store's own archives make it
/// that big in production (a year of 10 MiB segments is thousands).
fn crowd(s: &Store, n: usize) {
    std::fs::create_dir_all(s.store_dir()).unwrap();
    for i in 0..n {
        std::fs::write(s.store_dir().join(format!("other-{i:05}.txt")), "").unwrap();
    }
}

/// Starts `log --stdin --ack` sealing a segment before every record.
fn rotating_writer(s: &Store) -> (std::process::Child, std::process::ChildStdin, Lines) {
    let mut child = s
        .cmd(&["--rotate-size", "1", "log", "--stdin", "--ack"])
        .spawn();
    let stdin = child.stdin.take().unwrap();
    let acks = Lines::new(child.stdout.take().unwrap());
    (child, stdin, acks)
}

/// Regression (fixed in crates/store-file): rotation picked the next
/// segment number from a directory listing taken while the background
/// compressor renamed `N.jsonl.gz.tmp` to `N.jsonl.gz` and unlinked
/// `N.jsonl`; a listing of a big directory could miss segment N, the
/// writer sealed the next segment as N again, and the compressor, finding
/// an `N.jsonl.gz` that did not match, deleted it. Names now change only
/// under the exclusive lock, and a conflict is never deleted.
#[test]
fn rotating_in_a_big_directory_loses_no_acknowledged_record() {
    const N: u64 = 300;
    let s = Store::new();
    crowd(&s, 2000);
    let (mut child, mut stdin, acks) = rotating_writer(&s);
    let got = feed_in_step(&mut stdin, &acks, &numbered("w", N), 1);
    assert_eq!(got, (0..N).collect::<Vec<_>>());
    drop(stdin);
    assert!(child.wait().unwrap().success());
    let seqs = column(&s.records(), "seq");
    let missing: Vec<u64> = (0..N)
        .filter(|i| !seqs.contains(&Value::from(*i)))
        .collect();
    assert_eq!(missing, Vec::<u64>::new(), "acknowledged, then lost");
    let v = s.cmd(&["verify"]).run();
    assert_eq!(v.code, Some(0), "{}", v.stdout);
}

/// Regression (fixed in crates/store-file): a reader listed the directory
/// under the shared store lock while the background compressor renamed
/// `.gz.tmp` to `.gz` and unlinked the sealed `.jsonl` without the
/// exclusive one; a listing of a big directory could miss the segment in
/// both names and silently leave records out.
#[test]
fn readers_during_compression_see_every_record() {
    let s = Store::new();
    crowd(&s, 3000);
    let (mut child, mut stdin, acks) = rotating_writer(&s);
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let stop2 = std::sync::Arc::clone(&stop);
    let writer = std::thread::spawn(move || {
        let mut n = 0;
        while !stop2.load(std::sync::atomic::Ordering::SeqCst) {
            let line = json!({"event": "w", "i": n});
            assert_eq!(feed_in_step(&mut stdin, &acks, &[line], 1), [n]);
            n += 1;
        }
    });
    let mut answers: Vec<(Vec<Value>, String)> = Vec::new();
    let t0 = std::time::Instant::now();
    while t0.elapsed() < Duration::from_millis(2500) {
        let o = s.cmd(&["query", "--format", "jsonl"]).run();
        assert_eq!(o.code, Some(0));
        answers.push((
            column(&crate::support::parse_jsonl(&o.stdout), "seq"),
            o.stderr,
        ));
    }
    stop.store(true, std::sync::atomic::Ordering::SeqCst);
    writer.join().unwrap();
    assert!(child.wait().unwrap().success());
    // Each answer is the log as it was at some moment: a prefix of the
    // final log (whatever the final log is), with no complaint.
    let last = column(&s.records(), "seq");
    let bad: Vec<String> = answers
        .iter()
        .filter(|(a, err)| a.len() > last.len() || a[..] != last[..a.len()] || !err.is_empty())
        .map(|(a, err)| {
            let missing: Vec<&Value> = last[..a.len().min(last.len())]
                .iter()
                .filter(|v| !a.contains(v))
                .collect();
            format!("{} records, missing {missing:?} {err}", a.len())
        })
        .collect();
    assert!(
        bad.is_empty(),
        "{} of {} queries were not a prefix of the log: {bad:?}",
        bad.len(),
        answers.len()
    );
}
