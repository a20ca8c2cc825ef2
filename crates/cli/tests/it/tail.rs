//! `tail -n` and `tail -f` (following across rotations done by another
//! process).

use std::time::Duration;

use serde_json::Value;

use crate::support::{Lines, Store, column, feed_in_step, numbered, parse_jsonl};

#[test]
fn last_n_oldest_first() {
    let s = Store::new();
    let mut lines = numbered("a", 12);
    lines[5]["event"] = "b".into();
    lines[9]["event"] = "b".into();
    lines[11]["event"] = "c".into();
    s.log_lines(&[], &lines);
    let check = |args: &[&str], want: &[u64]| {
        let mut a = vec!["tail", "--format", "jsonl"];
        a.extend_from_slice(args);
        assert_eq!(column(&parse_jsonl(&s.ok(&a)), "i"), want, "{args:?}");
    };
    check(&["-n", "3"], &[9, 10, 11]);
    check(&[], &[2, 3, 4, 5, 6, 7, 8, 9, 10, 11]);
    check(&["-n", "100"], &(0..12).collect::<Vec<_>>());
    check(&["-n", "0"], &[]);
    check(&["--lines", "1", "--event", "b"], &[9]);
    check(&["-n", "5", "--event", "b"], &[5, 9]);
    check(&["-n", "2", "--event", "b", "--event", "c"], &[9, 11]);
}

#[test]
fn follow_prints_each_new_record_once_in_order_across_rotations() {
    let s = Store::new();
    s.log_lines(&[], &numbered("old", 5));
    let mut tail = s
        .cmd(&["tail", "-f", "-n", "2", "--format", "jsonl"])
        .spawn();
    let out = Lines::new(tail.stdout.take().unwrap());
    let backlog = parse_jsonl(&out.take(2, Duration::from_secs(5)).join("\n"));
    assert_eq!(column(&backlog, "event"), ["old", "old"]);
    assert_eq!(column(&backlog, "i"), [3, 4]);

    // Another process logs, rotating every few records.
    const N: u64 = 300;
    let mut writer = s
        .cmd(&["--rotate-size", "2K", "log", "--stdin", "--ack"])
        .spawn();
    let mut stdin = writer.stdin.take().unwrap();
    let acks = Lines::new(writer.stdout.take().unwrap());
    let acked = feed_in_step(&mut stdin, &acks, &numbered("new", N), 5);
    assert_eq!(acked.len() as u64, N);
    drop(stdin);
    assert!(writer.wait().unwrap().success());
    let archives = s.files().iter().filter(|f| f.ends_with(".gz")).count();
    assert!(archives >= 10, "only {archives} rotations");

    let followed = parse_jsonl(&out.take(N as usize, Duration::from_secs(5)).join("\n"));
    assert_eq!(
        column(&followed, "event"),
        vec![Value::from("new"); N as usize]
    );
    assert_eq!(column(&followed, "i"), (0..N).collect::<Vec<_>>());
    // Nothing repeated after them: the next line is the next record.
    s.ok(&["log", "sentinel"]);
    let next = out.next(Duration::from_secs(5)).unwrap();
    assert_eq!(parse_jsonl(&next)[0]["event"], "sentinel");

    tail.kill().unwrap();
    tail.wait().unwrap();
}

#[test]
fn follow_filters_by_event_and_waits_for_a_store_that_does_not_exist_yet() {
    let s = Store::new();
    let mut tail = s
        .cmd(&["tail", "-f", "--event", "b", "--format", "jsonl"])
        .spawn();
    let out = Lines::new(tail.stdout.take().unwrap());
    let mut lines = numbered("a", 40);
    for k in [3, 17, 39] {
        lines[k]["event"] = "b".into();
    }
    s.log_lines(&[], &lines);
    let got = parse_jsonl(&out.take(3, Duration::from_secs(5)).join("\n"));
    assert_eq!(column(&got, "i"), [3, 17, 39]);
    tail.kill().unwrap();
    tail.wait().unwrap();
}
