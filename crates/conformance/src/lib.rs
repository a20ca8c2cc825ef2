//! scout-audit-conformance: the one suite every backend runs.
//!
//! A backend's tests implement [`Harness`] (how to open its store) and
//! expand [`conformance_tests!`], which makes one `#[test]` per check:
//!
//! - append and read back, in order, every field;
//! - durable acknowledgements: what `log` acknowledged at `Sync` survives
//!   closing and reopening; the watermark says so;
//! - `seq` contiguous per session, and continued by a reopen of the session;
//! - concurrent writers: every event once, per-thread order, contiguous seq;
//! - unicode, control characters, extras and nesting round trip exactly;
//! - bad input refused with a clear error, taking no `seq`; a line over
//!   the line bound refused by log, batch and import, storing nothing;
//! - the same queries over the same generated events give the same answers
//!   as the file store, bit for bit (differential);
//! - weeks (ISO), months and days group alike at their edges (Sunday's
//!   last microsecond, an ISO-year change, Feb 29, offsets that cross a
//!   boundary in UTC), with hand-computed answers;
//! - sums of huge costs are exact, or the overflow error (never a wrong
//!   number);
//! - import keeps records as they are and, for table backends, skips
//!   records already stored.
//!
//! The file store runs the suite too (it is the reference).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::sync::Arc;
use std::time::Duration;

use scout_audit_core::agg::{GroupBy, SumOverflow};
use scout_audit_core::{
    Durability, Error, Event, Filter, ManualClock, ReadStore, Record, SessionId, Sink, Timestamp,
    WriterId,
};
use scout_audit_store_file::FileStore;
use serde_json::json;

mod periods;

pub use periods::period_edges_group_alike;
pub use scout_audit_core::Store;

/// How to open a backend's store for the suite.
pub trait Harness: Sync {
    /// The store type.
    type S: Store;
    /// A name for messages.
    fn name(&self) -> String;
    /// Opens the harness's store (the same one each time: reopening sees
    /// what was written before) with this level, session and clock.
    fn open(&self, durability: Durability, session: SessionId, clock: Arc<ManualClock>) -> Self::S;
    /// Whether `import` skips records already stored (table backends).
    fn import_dedups(&self) -> bool;
}

/// The file store as a harness (a temp dir per harness).
#[derive(Debug)]
pub struct FileHarness {
    dir: tempfile::TempDir,
}

impl Default for FileHarness {
    fn default() -> Self {
        FileHarness {
            dir: tempfile::tempdir().expect("temp dir"),
        }
    }
}

impl Harness for FileHarness {
    type S = FileStore;
    fn name(&self) -> String {
        "file".into()
    }
    fn open(&self, d: Durability, s: SessionId, c: Arc<ManualClock>) -> FileStore {
        FileStore::builder(self.dir.path().join("audit.jsonl"))
            .durability(d)
            .session(s)
            .clock(c)
            .open()
            .expect("open file store")
    }
    fn import_dedups(&self) -> bool {
        false
    }
}

fn t0() -> Timestamp {
    Timestamp::parse("2026-11-01T00:00:00Z").unwrap()
}

fn clock() -> Arc<ManualClock> {
    Arc::new(ManualClock::new(t0()))
}

fn all(s: &dyn Store, f: &Filter) -> Vec<Record> {
    s.scan(f).unwrap().map(|r| r.unwrap()).collect()
}

/// Events of every shape, deterministic: `n` of them, an hour apart from
/// 2026-11-01, with a few explicit timestamps in other offsets.
pub fn generated_events(n: usize) -> Vec<Event> {
    let models = ["claude-sonnet-4", "claude-haiku-4", "gpt-4.1-mini"];
    let types = [
        "nav",
        "nav",
        "llm_call",
        "validation_fail",
        "brief",
        "cascade",
        "budget_exceeded",
    ];
    let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
    (0..n)
        .map(|i| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            let ts = t0().saturating_add(Duration::from_secs(3600 * i as u64 + x % 3000));
            let mut e = Event::new(types[(x % 7) as usize]).ts(ts);
            if x % 5 != 0 {
                e = e.cost(((x >> 8) % 100_000) as f64 / 1e5 + 0.1 * (i % 3) as f64);
            }
            if x % 3 != 0 {
                e = e.model(models[((x >> 16) % 3) as usize]);
            }
            if x % 4 == 0 {
                e = e.input_t((x >> 20) % 5000).output_t((x >> 30) % 900);
            }
            if x % 6 == 0 {
                e = e.files(["src/main.rs", "docs/ü.md"]).reason("x, \"y\"\n");
            }
            if x % 9 == 0 {
                e = e.field("extra", json!({"n": i, "deep": [1, {"k": null}]}));
            }
            if x % 11 == 0 {
                e = e.session("other-session");
            }
            e
        })
        .collect()
}

/// Appended events read back in order, with every field.
pub fn append_and_read_back<H: Harness>(h: &H) {
    let s = h.open(Durability::Process, SessionId::new("s-append"), clock());
    let evs = generated_events(60);
    let mut own = 0;
    for e in evs.clone() {
        let other = e.session_override().is_some();
        let r = s.log(e).unwrap();
        if !other {
            assert_eq!(r.seq, own, "{}", h.name());
            own += 1;
        }
    }
    s.flush().unwrap();
    let recs = all(&s, &Filter::new());
    assert_eq!(recs.len(), 60, "{}", h.name());
    let mut file = Vec::new();
    for (e, r) in evs.iter().zip(&recs) {
        let mut line = Vec::new();
        // The harness gives the session: every record carries the stamp.
        let w = r.writer().map(WriterId::from);
        assert!(w.is_some(), "{}: no writer stamp", h.name());
        e.encode_stamped(
            Timestamp::MIN,
            &SessionId::new("s-append"),
            r.seq().unwrap(),
            w.as_ref(),
            &mut line,
        );
        file.push(line);
        assert_eq!(r.event(), Some(e.event_type()), "{}", h.name());
        assert_eq!(r.cost(), e.get_cost(), "{}", h.name());
        assert_eq!(r.model(), e.get_model(), "{}", h.name());
    }
    // Exactly the bytes the file store writes.
    for (line, r) in file.iter().zip(&recs) {
        let text = String::from_utf8(line.clone()).unwrap();
        assert_eq!(format!("{}\n", r.to_json_line()), text, "{}", h.name());
    }
    s.close().unwrap();
}

/// Acknowledged `Sync` events survive a close and reopen; watermarks agree.
pub fn durable_acknowledgements<H: Harness>(h: &H) {
    let sess = SessionId::new("s-durable");
    let s = h.open(Durability::Sync, sess.clone(), clock());
    for i in 0..20u64 {
        let r = s.log(Event::new("nav").field("i", i)).unwrap();
        assert_eq!(s.watermark().synced, Some(r.seq), "{}", h.name());
    }
    drop(s);
    let s = h.open(Durability::Process, SessionId::new("s-reader"), clock());
    let f = Filter::new().session("s-durable");
    assert_eq!(s.count(&f).unwrap(), 20, "{}", h.name());
    s.close().unwrap();
}

/// A reopened session continues its `seq`.
pub fn reopen_continues_seq<H: Harness>(h: &H) {
    let sess = SessionId::new("s-reopen");
    let s = h.open(Durability::Process, sess.clone(), clock());
    s.log(Event::new("a")).unwrap();
    s.log(Event::new("b")).unwrap();
    s.close().unwrap();
    drop(s);
    let s = h.open(Durability::Process, sess, clock());
    assert_eq!(s.log(Event::new("c")).unwrap().seq, 2, "{}", h.name());
    s.flush().unwrap();
    let seqs: Vec<u64> = all(&s, &Filter::new().session("s-reopen"))
        .iter()
        .map(|r| r.seq().unwrap())
        .collect();
    assert_eq!(seqs, [0, 1, 2], "{}", h.name());
    s.close().unwrap();
}

/// Events logged under another session id by two writers, one after the
/// other, are both kept. A table backend continues that session's seq
/// from the table (docs/decisions.md 12); the file store counts it per
/// writer, whose `writer` stamp keeps the records distinct.
/// A session whose keys fall inside another's key range ("s-x:0" beside
/// "s-x") does not move the other's seq.
pub fn other_sessions_continue_across_writers<H: Harness>(h: &H) {
    for (i, writer) in ["s-w1", "s-w2"].into_iter().enumerate() {
        let s = h.open(Durability::Process, SessionId::new(writer), clock());
        if i == 0 {
            s.log(Event::new("impostor").session("s-x:0")).unwrap();
        }
        s.log(Event::new("nav").session("s-x")).unwrap();
        s.close().unwrap();
    }
    let s = h.open(Durability::Process, SessionId::new("s-x"), clock());
    let own = s.log(Event::new("own")).unwrap().seq;
    s.flush().unwrap();
    let seqs: Vec<u64> = all(&s, &Filter::new().session("s-x"))
        .iter()
        .map(|r| r.seq().unwrap())
        .collect();
    if h.import_dedups() {
        assert_eq!(seqs, [0, 1, 2], "{}", h.name());
        assert_eq!(own, 2, "{}", h.name());
    } else {
        assert_eq!(seqs.len(), 3, "{}: {seqs:?}", h.name());
    }
    s.close().unwrap();
}

/// Threads sharing one store: every event once, per-thread order, seq contiguous.
pub fn concurrent_writers<H: Harness>(h: &H) {
    for d in [Durability::Process, Durability::Sync] {
        let sess = SessionId::new(format!("s-threads-{d}"));
        let s = h.open(d, sess.clone(), clock());
        std::thread::scope(|sc| {
            for th in 0..4u64 {
                let s = &s;
                sc.spawn(move || {
                    for i in 0..100u64 {
                        s.log(Event::new("nav").field("th", th).field("i", i))
                            .unwrap();
                    }
                });
            }
        });
        s.flush().unwrap();
        let recs = all(&s, &Filter::new().session(sess.as_str()));
        assert_eq!(recs.len(), 400, "{} {d}", h.name());
        let seqs: Vec<u64> = recs.iter().map(|r| r.seq().unwrap()).collect();
        assert_eq!(
            seqs,
            (0..400).collect::<Vec<_>>(),
            "{} {d}: log order is seq order",
            h.name()
        );
        for th in 0..4u64 {
            let is: Vec<u64> = recs
                .iter()
                .filter(|r| r.get("th").and_then(|v| v.as_u64()) == Some(th))
                .map(|r| r.get("i").unwrap().as_u64().unwrap())
                .collect();
            assert_eq!(is, (0..100).collect::<Vec<_>>(), "{} {d}", h.name());
        }
        s.close().unwrap();
    }
}

/// Unicode, control characters, extras and nesting round trip exactly.
pub fn unicode_and_extras_round_trip<H: Harness>(h: &H) {
    let s = h.open(Durability::Process, SessionId::new("s-unicode"), clock());
    let e = Event::new("naïve \u{1F600}")
        .reason("tab\there \"quoted\" \\ back\nnew line \u{1}")
        .files(["ü/ö.rs", "日本語.md"])
        .config(json!({"a": [1, 2.5, null, true], "b": {"c": "d"}}))
        .field("big", json!(18_446_744_073_709_551_615u64))
        .field("neg", -42)
        .field("float", 1e-7)
        .cost(f64::NAN);
    s.log(e).unwrap();
    s.flush().unwrap();
    let r = &all(&s, &Filter::new().session("s-unicode"))[0];
    assert_eq!(r.event(), Some("naïve \u{1F600}"), "{}", h.name());
    assert_eq!(
        r.reason(),
        Some("tab\there \"quoted\" \\ back\nnew line \u{1}")
    );
    assert_eq!(r.files().collect::<Vec<_>>(), ["ü/ö.rs", "日本語.md"]);
    assert_eq!(
        r.config(),
        Some(&json!({"a": [1, 2.5, null, true], "b": {"c": "d"}}))
    );
    assert_eq!(r.get("big"), Some(&json!(18_446_744_073_709_551_615u64)));
    assert_eq!(r.get("neg"), Some(&json!(-42)));
    assert_eq!(r.get("float"), Some(&json!(1e-7)));
    assert_eq!(
        r.get("cost"),
        Some(&serde_json::Value::Null),
        "NaN is stored as null"
    );
    let keys: Vec<&str> = r.fields().keys().map(String::as_str).collect();
    assert_eq!(
        keys,
        [
            "ts",
            "event",
            "session_id",
            "seq",
            "writer",
            "cost",
            "files",
            "reason",
            "config",
            "big",
            "neg",
            "float"
        ]
    );
    s.close().unwrap();
}

/// Invalid events are refused with a clear error and take no seq; a
/// closed store refuses everything.
pub fn bad_input_is_refused<H: Harness>(h: &H) {
    let s = h.open(Durability::Process, SessionId::new("s-bad"), clock());
    match s.log(Event::new("nav").field("cost", "cheap")) {
        Err(Error::InvalidEvent(m)) => {
            assert_eq!(m, "field \"cost\" must be a number, not a string")
        }
        other => panic!("{}: {other:?}", h.name()),
    }
    assert!(matches!(
        s.log(Event::new("nav").field("seq", 1)),
        Err(Error::InvalidEvent(_))
    ));
    assert_eq!(
        s.log(Event::new("ok")).unwrap().seq,
        0,
        "{}: no seq taken",
        h.name()
    );
    s.close().unwrap();
    assert!(
        matches!(s.log(Event::new("late")), Err(Error::Closed)),
        "{}",
        h.name()
    );
}

/// An event whose line, written by a writer opened with the given session
/// `s-long` (so stamped with its writer, docs/format.md) at a one-digit
/// seq with the suite's clock, is `len` bytes long.
fn event_of_len(len: usize) -> Event {
    let mut base = Vec::new();
    Event::new("big").field("pad", "").encode_stamped(
        t0(),
        &SessionId::new("s-long"),
        0,
        Some(&scout_audit_core::WriterId::random()),
        &mut base,
    );
    Event::new("big").field("pad", "a".repeat(len - (base.len() - 1)))
}

/// A line over the line bound is refused by `log`, `log_batch` and
/// `import` before anything is stored or acknowledged, taking no seq; a
/// line at the bound is stored and reads back whole.
pub fn lines_over_the_bound_are_refused<H: Harness>(h: &H) {
    let max = scout_audit_core::MAX_LINE;
    let s = h.open(Durability::Sync, SessionId::new("s-long"), clock());
    let too_long = |r: Result<_, Error>| match r {
        Err(Error::LineTooLong { len, max: m }) => {
            assert_eq!((len, m), (max as u64 + 1, max as u64), "{}", h.name())
        }
        other => panic!("{}: {other:?}", h.name()),
    };
    too_long(s.log(event_of_len(max + 1)).map(|_| ()));
    too_long(
        s.log_batch(vec![Event::new("ok"), event_of_len(max + 1)])
            .map(|_| ()),
    );
    s.flush().unwrap();
    assert_eq!(s.count(&Filter::new()).unwrap(), 0, "{}", h.name());
    assert_eq!(
        s.log(event_of_len(max)).unwrap().seq,
        0,
        "{}: no seq taken",
        h.name()
    );
    let back: Vec<Record> = s
        .scan(&Filter::new())
        .unwrap()
        .map(|r| r.unwrap())
        .collect();
    assert_eq!(back.len(), 1, "{}", h.name());
    assert_eq!(back[0].to_json_line().len(), max, "{}", h.name());
    let mut map = back[0].clone().into_map();
    map.insert("seq".into(), json!(1));
    map.insert("x".into(), json!("y"));
    assert!(
        matches!(
            s.import(vec![Record::from_map(map)]),
            Err(Error::LineTooLong { .. })
        ),
        "{}",
        h.name()
    );
    assert_eq!(s.count(&Filter::new()).unwrap(), 1, "{}", h.name());
    s.close().unwrap();
}

/// The same events, the same queries: the same answers as the file store.
pub fn same_answers_as_the_file_store<H: Harness>(h: &H) {
    // More events than one page of a table backend's keyset pagination
    // (4096 rows), so that streamed scans cross page boundaries.
    let evs = generated_events(9_000);
    let s = h.open(Durability::Process, SessionId::new("s-diff"), clock());
    s.log_batch(evs.clone()).unwrap();
    s.flush().unwrap();
    let fh = FileHarness::default();
    let f = fh.open(Durability::Process, SessionId::new("s-diff"), clock());
    f.log_batch(evs).unwrap();
    f.flush().unwrap();
    let base = t0();
    let at = |h: u64| base.saturating_add(Duration::from_secs(3600 * h));
    let filters = [
        Filter::new(),
        Filter::new().since(at(100)),
        Filter::new().since(at(100)).until(at(250)),
        Filter::new().event("nav"),
        Filter::new()
            .event("nav")
            .event("validation_fail")
            .since(at(33)),
        Filter::new().model("claude-haiku-4"),
        Filter::new().session("other-session"),
        Filter::new().since(at(399)).until(at(400)),
        Filter::new().since(at(10_000)),
    ];
    for flt in &filters {
        let ctx = format!("{} {flt:?}", h.name());
        // Each open stamps its own writer id: compare without it.
        let a = without_writer(all(&s, flt));
        let b = without_writer(all(&f, flt));
        assert_eq!(a, b, "{ctx}: records");
        assert_eq!(s.count(flt).unwrap(), f.count(flt).unwrap(), "{ctx}: count");
        assert_eq!(
            s.accuracy(flt).unwrap(),
            f.accuracy(flt).unwrap(),
            "{ctx}: accuracy"
        );
        assert_eq!(
            s.event_counts(flt).unwrap(),
            f.event_counts(flt).unwrap(),
            "{ctx}: events"
        );
        assert_eq!(
            without_writer(s.last(flt, 7).unwrap()),
            without_writer(f.last(flt, 7).unwrap()),
            "{ctx}: last"
        );
        for by in [
            None,
            Some(GroupBy::Hour),
            Some(GroupBy::Day),
            Some(GroupBy::Week),
            Some(GroupBy::Month),
            Some(GroupBy::Model),
            Some(GroupBy::Session),
            Some(GroupBy::HourModel),
            Some(GroupBy::DayModel),
            Some(GroupBy::WeekModel),
            Some(GroupBy::MonthModel),
        ] {
            // SpendBy's equality is exact: the same exact cost sums (and
            // values, to the bit), records and token sums per group.
            assert_eq!(
                s.spend(flt, by).unwrap(),
                f.spend(flt, by).unwrap(),
                "{ctx}: spend by {by:?}"
            );
        }
    }
    s.close().unwrap();
    f.close().unwrap();
}

/// Records with their `writer` stamp removed (each must have one).
fn without_writer(recs: Vec<Record>) -> Vec<Record> {
    recs.into_iter()
        .map(|r| {
            assert_eq!(r.writer().map(str::len), Some(16), "{r:?}");
            let mut m = r.into_map();
            m.remove(scout_audit_core::event::WRITER_FIELD);
            Record::from_map(m)
        })
        .collect()
}

/// Distinct records with the same `session_id` and `seq` are all kept:
/// records of an old store (no `writer` stamp, several processes under one
/// session id) imported, and the same event logged under one session id by
/// two writers. Only the same record is a duplicate: re-importing what a
/// backend returns adds nothing to a table backend (the key of a logged
/// row is the key of the record read back).
pub fn distinct_records_with_equal_session_and_seq_are_kept<H: Harness>(h: &H) {
    let line = |cost: u32| {
        format!(
            r#"{{"ts":"2026-11-01T00:00:00+00:00","event":"llm_call","session_id":"X","seq":0,"cost":{cost}.0}}"#
        )
    };
    let old: Vec<Record> = [1, 2, 3]
        .iter()
        .map(
            |c| match scout_audit_core::decode_line(line(*c).as_bytes()) {
                scout_audit_core::Decoded::Record(r) => r,
                o => panic!("{o:?}"),
            },
        )
        .collect();
    let s = h.open(Durability::Process, SessionId::new("s-keys"), clock());
    assert_eq!(s.import(old.clone()).unwrap(), 3, "{}", h.name());
    s.flush().unwrap();
    let got = all(&s, &Filter::new().session("X"));
    assert_eq!(got, old, "{}", h.name());
    assert_eq!(
        s.spend(&Filter::new(), None).unwrap().total(),
        Ok(6.0),
        "{}",
        h.name()
    );
    s.close().unwrap();
    // The same event (same ts) logged under session "Y" by two writers.
    for w in ["s-keys-1", "s-keys-2"] {
        let s = h.open(Durability::Process, SessionId::new(w), clock());
        s.log(Event::new("llm_call").session("Y").ts(t0()).cost(500.0))
            .unwrap();
        s.close().unwrap();
    }
    let s = h.open(Durability::Process, SessionId::new("s-keys"), clock());
    let ys = all(&s, &Filter::new().session("Y"));
    assert_eq!(ys.len(), 2, "{}: {ys:?}", h.name());
    assert_ne!(ys[0].writer(), ys[1].writer(), "{}", h.name());
    assert!(ys.iter().all(|r| r.writer().is_some()), "{}", h.name());
    let before = s.count(&Filter::new()).unwrap();
    assert_eq!(before, 5, "{}", h.name());
    let everything = all(&s, &Filter::new());
    s.import(everything).unwrap();
    s.flush().unwrap();
    let after = s.count(&Filter::new()).unwrap();
    if h.import_dedups() {
        assert_eq!(
            after,
            before,
            "{}: the same records are not added again",
            h.name()
        );
    } else {
        assert_eq!(after, 2 * before, "{}", h.name());
    }
    s.close().unwrap();
}

/// Sums of huge costs are exact, or the overflow error, on every backend
/// (never a wrong number, never 0): the brief's two inputs and more.
pub fn huge_costs_sum_exactly<H: Harness>(h: &H) {
    let groups: [(&str, &[f64]); 4] = [
        ("a", &[100.0, 1.797e308, 1.797e308, -1.797e308, 50.0]),
        ("b", &[100.0, 200.0, 1e308, 1e308, 300.0]),
        ("c", &[-1e308, -1e308, -1e308, 5e-324]),
        ("d", &[f64::MAX, -f64::MAX, -0.0, 5e-324, 2.5]),
    ];
    let mut evs = Vec::new();
    let mut i = 0u64;
    for (model, costs) in groups {
        for &c in costs {
            let ts = t0().saturating_add(Duration::from_secs(60 * i));
            evs.push(Event::new("nav").ts(ts).model(model).cost(c));
            i += 1;
        }
    }
    let s = h.open(Durability::Process, SessionId::new("s-huge"), clock());
    s.log_batch(evs.clone()).unwrap();
    s.flush().unwrap();
    let fh = FileHarness::default();
    let f = fh.open(Durability::Process, SessionId::new("s-huge"), clock());
    f.log_batch(evs).unwrap();
    f.flush().unwrap();
    let n = h.name();
    let total = |flt: &Filter| s.spend(flt, None).unwrap().total();
    assert_eq!(total(&Filter::new().model("a")), Ok(1.797e308), "{n}");
    assert_eq!(
        total(&Filter::new().model("b")),
        Err(SumOverflow::Positive),
        "{n}"
    );
    assert_eq!(
        total(&Filter::new().model("c")),
        Err(SumOverflow::Negative),
        "{n}"
    );
    assert_eq!(total(&Filter::new().model("d")), Ok(2.5 + 5e-324), "{n}");
    // a + b + c + d: 1.797e308 - 1e308 + 752.5 + 2 * 5e-324.
    let want = 1.797e308 - 1e308;
    assert_eq!(total(&Filter::new()), Ok(want), "{n}");
    let by_model = s.spend(&Filter::new(), Some(GroupBy::Model)).unwrap();
    let values: Vec<_> = by_model
        .groups()
        .map(|(k, g)| (k.map(str::to_owned), g.records, g.cost.value()))
        .collect();
    assert_eq!(
        values,
        [
            (Some("a".into()), 5, Ok(1.797e308)),
            (Some("b".into()), 5, Err(SumOverflow::Positive)),
            (Some("c".into()), 4, Err(SumOverflow::Negative)),
            (Some("d".into()), 5, Ok(2.5 + 5e-324)),
        ],
        "{n}"
    );
    for by in [None, Some(GroupBy::Hour), Some(GroupBy::Model)] {
        assert_eq!(
            s.spend(&Filter::new(), by).unwrap(),
            f.spend(&Filter::new(), by).unwrap(),
            "{n}: spend by {by:?}"
        );
    }
    s.close().unwrap();
    f.close().unwrap();
}

/// Import keeps records as they are; table backends skip duplicates.
pub fn import_keeps_records<H: Harness>(h: &H) {
    let fh = FileHarness::default();
    let f = fh.open(Durability::Process, SessionId::new("s-src"), clock());
    f.log_batch(generated_events(50)).unwrap();
    f.flush().unwrap();
    let src = all(&f, &Filter::new());
    let s = h.open(Durability::Process, SessionId::new("s-import"), clock());
    assert_eq!(s.import(src.clone()).unwrap(), 50);
    s.flush().unwrap();
    let got = all(&s, &Filter::new().session("s-src"));
    let want: Vec<Record> = src
        .iter()
        .filter(|r| r.session_id() == Some("s-src"))
        .cloned()
        .collect();
    assert_eq!(got, want, "{}", h.name());
    if h.import_dedups() {
        s.import(src.clone()).unwrap();
        s.flush().unwrap();
        assert_eq!(
            s.count(&Filter::new()).unwrap(),
            50,
            "{}: a second import adds nothing",
            h.name()
        );
    }
    s.close().unwrap();
    f.close().unwrap();
}

/// One `#[test]` per check for a harness made by `$make`.
#[macro_export]
macro_rules! conformance_tests {
    ($make:expr) => {
        #[test]
        fn conformance_append_and_read_back() {
            $crate::append_and_read_back(&$make);
        }
        #[test]
        fn conformance_durable_acknowledgements() {
            $crate::durable_acknowledgements(&$make);
        }
        #[test]
        fn conformance_reopen_continues_seq() {
            $crate::reopen_continues_seq(&$make);
        }
        #[test]
        fn conformance_other_sessions_continue_across_writers() {
            $crate::other_sessions_continue_across_writers(&$make);
        }
        #[test]
        fn conformance_concurrent_writers() {
            $crate::concurrent_writers(&$make);
        }
        #[test]
        fn conformance_unicode_and_extras_round_trip() {
            $crate::unicode_and_extras_round_trip(&$make);
        }
        #[test]
        fn conformance_bad_input_is_refused() {
            $crate::bad_input_is_refused(&$make);
        }
        #[test]
        fn conformance_lines_over_the_bound_are_refused() {
            $crate::lines_over_the_bound_are_refused(&$make);
        }
        #[test]
        fn conformance_same_answers_as_the_file_store() {
            $crate::same_answers_as_the_file_store(&$make);
        }
        #[test]
        fn conformance_period_edges_group_alike() {
            $crate::period_edges_group_alike(&$make);
        }
        #[test]
        fn conformance_huge_costs_sum_exactly() {
            $crate::huge_costs_sum_exactly(&$make);
        }
        #[test]
        fn conformance_import_keeps_records() {
            $crate::import_keeps_records(&$make);
        }
        #[test]
        fn conformance_distinct_records_with_equal_session_and_seq_are_kept() {
            $crate::distinct_records_with_equal_session_and_seq_are_kept(&$make);
        }
    };
}

#[cfg(test)]
mod tests {
    conformance_tests!(crate::FileHarness::default());
}
