//! `log --stdin`: bad lines reported and skipped, `ts` kept or replaced,
//! `session_id` and `seq` always the writer's, acknowledgements at each
//! durability level.

use serde_json::{Value, json};

use crate::support::{Store, assert_python_ts, column, numbered};

#[test]
fn bad_lines_are_located_and_skipped_the_others_written() {
    let s = Store::new();
    let mut input: Vec<u8> = Vec::new();
    for line in [
        &br#"{"event":"a","n":1}"#[..],
        b"not json",
        b"[1,2]",
        br#"{"cost":1}"#,
        br#"{"event":"b","cost":"x"}"#,
        b"\xff\xfe{\"event\":\"z\"}",
        b"",
        br#"{"event":"c","ts":"2026-01-01T00:00:00Z","session_id":"mine","seq":99,"n":3}"#,
        br#"{"event":"d","ts":"yesterday","n":4}"#,
        br#"{"event":"e","ts":"2026-01-01T05:00:00.5+02:00","x":{"y":[1]}}"#,
        b"   \t",
        br#"{"event":7}"#,
        b"\xef\xbb\xbf{\"event\":\"f\"}\r",
        br#"{"event":"g","input_t":-1}"#,
    ] {
        input.extend_from_slice(line);
        input.push(b'\n');
    }
    let out = s.cmd(&["log", "--stdin", "--ack"]).stdin(input).run();
    assert_eq!(out.code, Some(1));
    assert_eq!(out.stdout, "0\n1\n2\n3\n4\n");
    assert_eq!(
        out.stderr,
        "scout-audit: stdin line 2: not JSON (expected ident at line 1 column 2); skipped\n\
         scout-audit: stdin line 3: not a JSON object; skipped\n\
         scout-audit: stdin line 4: missing \"event\"; skipped\n\
         scout-audit: stdin line 5: field \"cost\" must be a number, not a string; skipped\n\
         scout-audit: stdin line 6: not UTF-8; skipped\n\
         scout-audit: stdin line 9: invalid \"ts\" replaced by the write time\n\
         scout-audit: stdin line 12: \"event\" must be a string, not a number; skipped\n\
         scout-audit: stdin line 14: field \"input_t\" must be a non-negative integer, not a number; skipped\n\
         scout-audit: 7 of 14 input lines skipped\n"
    );
    let recs = s.records();
    assert_eq!(column(&recs, "event"), ["a", "c", "d", "e", "f"]);
    assert_eq!(column(&recs, "seq"), [0, 1, 2, 3, 4]);
    let session = recs[0]["session_id"].clone();
    assert_ne!(session, "mine");
    assert!(recs.iter().all(|r| r["session_id"] == session));
    // A valid ts is kept (as an instant, written in UTC); an invalid one is
    // replaced by the write time.
    assert_eq!(recs[1]["ts"], "2026-01-01T00:00:00+00:00");
    assert_eq!(recs[3]["ts"], "2026-01-01T03:00:00.500000+00:00");
    assert_python_ts(&recs[2]["ts"]);
    assert!(recs[2]["ts"].as_str().unwrap() > "2026-02");
    assert_eq!(
        recs[1],
        json!({"ts": "2026-01-01T00:00:00+00:00", "event": "c", "session_id": session, "seq": 1, "n": 3})
    );
    assert_eq!(recs[3]["x"], json!({"y": [1]}));
}

#[test]
fn only_good_lines_exit_0() {
    let s = Store::new();
    let out = s
        .cmd(&["log", "--stdin"])
        .stdin("\n{\"event\":\"nav\"}\n\n{\"event\":\"nav\"}")
        .run();
    // The last line needs no newline.
    assert_eq!(out.ok(), "");
    assert_eq!(column(&s.records(), "seq"), [0, 1]);
    // Empty input: nothing written, success.
    assert_eq!(s.cmd(&["log", "--stdin", "--ack"]).stdin("").run().ok(), "");
    assert_eq!(s.records().len(), 2);
}

#[test]
fn acks_are_every_seq_in_order_at_each_durability_and_each_process_has_its_session() {
    let s = Store::new();
    let n: u64 = 3000;
    let mut input = String::new();
    for (k, e) in numbered("x", n).iter().enumerate() {
        // Blank lines are ignored, and not acknowledged.
        if k % 100 == 0 {
            input.push_str("\n\r\n");
        }
        input.push_str(&format!("{e}\n"));
    }
    let want: String = (0..n).map(|i| format!("{i}\n")).collect();
    let levels = ["buffered", "process", "sync"];
    for d in levels {
        let acks = s
            .cmd(&["log", "--stdin", "--ack", "--durability", d])
            .stdin(input.clone())
            .run()
            .ok();
        assert!(acks == want, "{d}: {} acks", acks.lines().count());
    }
    let recs = s.records();
    assert_eq!(recs.len() as u64, 3 * n);
    let mut sessions: Vec<Value> = Vec::new();
    for (k, chunk) in recs.chunks(n as usize).enumerate() {
        let sid = chunk[0]["session_id"].clone();
        assert!(!sessions.contains(&sid), "process {k} reused a session");
        sessions.push(sid.clone());
        for (i, r) in chunk.iter().enumerate() {
            assert_eq!(
                (&r["session_id"], r["seq"].as_u64(), r["i"].as_u64()),
                (&sid, Some(i as u64), Some(i as u64)),
                "{}",
                levels[k]
            );
        }
    }
}

#[test]
fn each_line_is_acknowledged_as_it_arrives_without_waiting_for_more_input() {
    use std::io::Write;
    use std::time::Duration;
    for d in ["buffered", "process", "sync"] {
        let s = Store::new();
        let mut child = s
            .cmd(&[
                "--max-delay",
                "5ms",
                "log",
                "--stdin",
                "--ack",
                "--durability",
                d,
            ])
            .spawn();
        let mut stdin = child.stdin.take().unwrap();
        let acks = crate::support::Lines::new(child.stdout.take().unwrap());
        for i in 0..3 {
            stdin.write_all(b"{\"event\":\"nav\"}\n").unwrap();
            stdin.flush().unwrap();
            // The writer holds no event while it waits for the next line.
            let got = acks.next(Duration::from_secs(5));
            assert_eq!(got, Some(i.to_string()), "{d}");
            assert_eq!(s.records().len(), i + 1, "{d}");
        }
        drop(stdin);
        assert_eq!(acks.next(Duration::from_secs(5)), None);
        assert!(child.wait().unwrap().success());
    }
}

#[test]
fn batches_larger_than_the_largest_write_are_split_and_all_acknowledged() {
    let s = Store::new();
    // Tiny lines: many more than one batch (4096) are buffered at once.
    let input = "{\"event\":\"x\"}\n".repeat(10_000);
    let acks = s.cmd(&["log", "--stdin", "--ack"]).stdin(input).run().ok();
    let want: String = (0..10_000).map(|i| format!("{i}\n")).collect();
    assert!(acks == want, "{} acks", acks.lines().count());
    assert_eq!(s.ok(&["query", "--count"]), "10000\n");
}

/// The line bound of the format (core's `MAX_LINE`).
const MAX_LINE: usize = 16 << 20;

#[test]
fn a_line_over_the_bound_is_skipped_not_acknowledged_and_the_next_written() {
    let s = Store::new();
    // 17 MiB: an llm_call of cost 5 with a long field.
    let mut big = br#"{"event":"llm_call","cost":5,"pad":""#.to_vec();
    big.resize(17 << 20, b'a');
    big.extend_from_slice(b"\"}\n");
    let big_len = big.len();
    let mut input = br#"{"event":"nav","n":1}"#.to_vec();
    input.push(b'\n');
    input.extend_from_slice(&big);
    input.extend_from_slice(b"{\"event\":\"nav\",\"n\":3}\n");
    let out = s.cmd(&["log", "--stdin", "--ack"]).stdin(input).run();
    assert_eq!(out.code, Some(1), "{out:?}");
    // Acknowledged: the two good lines only.
    assert_eq!(out.stdout, "0\n1\n");
    assert_eq!(
        out.stderr,
        format!(
            "scout-audit: stdin line 2: line of {big_len} bytes is longer than the line bound ({MAX_LINE} bytes); skipped\n\
             scout-audit: 1 of 3 input lines skipped\n"
        )
    );
    let recs = s.records();
    assert_eq!(column(&recs, "n"), [1, 3]);
    assert_eq!(column(&recs, "seq"), [0, 1]);
    // Not in the store: no llm_call, no spend, a clean verify.
    assert!(
        std::fs::read(&s.path)
            .unwrap()
            .windows(8)
            .all(|w| w != b"llm_call")
    );
    assert!(s.ok(&["verify"]).ends_with(": OK\n"));
}

#[test]
fn an_event_whose_written_line_would_be_over_the_bound_is_skipped() {
    let s = Store::new();
    // Under the bound on stdin, over it once ts, session_id and seq are added.
    let mut big = br#"{"event":"x","pad":""#.to_vec();
    big.resize(MAX_LINE - 2, b'a');
    big.extend_from_slice(b"\"}");
    assert_eq!(big.len(), MAX_LINE);
    big.push(b'\n');
    big.extend_from_slice(b"{\"event\":\"nav\"}\n");
    let out = s.cmd(&["log", "--stdin", "--ack"]).stdin(big).run();
    assert_eq!(out.code, Some(1), "{out:?}");
    assert_eq!(out.stdout, "0\n");
    let first = out.stderr.lines().next().unwrap();
    assert!(
        first.starts_with("scout-audit: stdin line 1: the event's line would be ")
            && first.ends_with(&format!(
                " bytes, longer than the line bound ({MAX_LINE} bytes); skipped"
            )),
        "{}",
        out.stderr
    );
    assert_eq!(column(&s.records(), "event"), ["nav"]);
}

#[test]
fn a_line_of_over_64_mib_without_newline_is_skipped_as_it_streams() {
    let s = Store::new();
    let mut input = b"{\"event\":\"nav\"}\n".to_vec();
    input.resize(input.len() + (64 << 20) + 1, b'{');
    let out = s.cmd(&["log", "--stdin"]).stdin(input).run();
    assert_eq!(out.code, Some(1), "{out:?}");
    assert_eq!(
        out.stderr,
        format!(
            "scout-audit: stdin line 2: line of {} bytes is longer than the line bound ({MAX_LINE} bytes); skipped\n\
             scout-audit: 1 of 2 input lines skipped\n",
            (64 << 20) + 1
        )
    );
    assert_eq!(column(&s.records(), "event"), ["nav"]);
}

/// The peak resident memory of a running process, in bytes (Linux).
fn peak_rss(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let kb: u64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap();
    kb * 1024
}

#[test]
fn memory_stays_bounded_while_a_line_without_newline_streams_in() {
    use std::io::Write;
    let s = Store::new();
    let mut child = s.cmd(&["log", "--stdin"]).spawn();
    let mut stdin = child.stdin.take().unwrap();
    stdin.write_all(b"{\"event\":\"nav\"}\n").unwrap();
    let chunk = vec![b'x'; 1 << 20];
    for _ in 0..96 {
        stdin.write_all(&chunk).unwrap();
    }
    stdin.flush().unwrap();
    // 96 MiB went in without a newline (all but a pipe's worth already
    // read). The process held the line only up to the bound: its peak is
    // the bound, the buffer's growth and the allocator's cache (about
    // 54 MiB whatever the input's size, 17 MiB or 600 MiB), where reading
    // the line whole would have taken more than the 96 MiB sent.
    let peak = peak_rss(child.id());
    drop(stdin);
    let out = child.wait_with_output().unwrap();
    assert!(peak < 80 << 20, "peak RSS {} MiB", peak >> 20);
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(
        String::from_utf8(out.stderr).unwrap(),
        format!(
            "scout-audit: stdin line 2: line of {} bytes is longer than the line bound ({MAX_LINE} bytes); skipped\n\
             scout-audit: 1 of 2 input lines skipped\n",
            96 << 20
        )
    );
    assert_eq!(column(&s.records(), "event"), ["nav"]);
}
