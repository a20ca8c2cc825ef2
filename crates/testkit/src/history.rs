//! The history of a run and the invariant checker (Jepsen style): what the
//! harness attempted, what the store acknowledged and made durable, and a
//! check of what a reader returns against it (docs/durability.md,
//! "Invariants").
//!
//! Words: **A** = acknowledged events (`log` returned `Ok`, or `--ack`
//! printed them), **D** = acknowledged-durable events (covered by a
//! returned fsync: the watermark's `synced`, a `sync`-level
//! acknowledgement, a returned `flush`), **R** = what a reader returns.
//!
//! Every event a harness logs carries its key `n` and a `pad` derived from
//! it ([`event_for`]), so a record read back is either exactly an event
//! that was attempted or a violation.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

use scout_audit_core::{Event, Record};

/// The event type of every harness event.
pub const EVENT: &str = "probe";

/// The padding of event `n`: 0 to 200 bytes derived from `n`, so lines have
/// many lengths and cross sector boundaries at many places.
pub fn pad(n: u64) -> String {
    let len = (n.wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 56) as usize * 200 / 255;
    let alphabet = b"abcdefghijklmnopqrstuvwxyz0123456789";
    (0..len)
        .map(|i| alphabet[(n as usize).wrapping_add(i * 7) % alphabet.len()] as char)
        .collect()
}

/// The event a harness logs for key `n`.
pub fn event_for(n: u64) -> Event {
    Event::new(EVENT).field("n", n).field("pad", pad(n))
}

/// The key of a record a harness wrote, if it is exactly [`event_for`]'s
/// event (any other content is garbage).
pub fn key_of(r: &Record) -> Result<u64, String> {
    let n = r
        .get("n")
        .and_then(serde_json::Value::as_u64)
        .ok_or("no \"n\"")?;
    if r.event() != Some(EVENT) {
        return Err(format!("event {:?} for n={n}", r.event()));
    }
    if r.get("pad").and_then(serde_json::Value::as_str) != Some(pad(n).as_str()) {
        return Err(format!("pad differs for n={n}"));
    }
    if r.ts().is_none() {
        return Err(format!("no valid ts for n={n}"));
    }
    Ok(n)
}

/// One entry of a history.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Entry {
    /// Event `n` is about to be logged by `session`; `seq` when the harness
    /// knows it in advance (one thread per session).
    Attempt {
        session: String,
        n: u64,
        seq: Option<u64>,
    },
    /// The store acknowledged event `n` with `seq`.
    Ack { session: String, seq: u64, n: u64 },
    /// Every event of `session` up to `seq` is durable.
    Durable { session: String, upto: u64 },
    /// Every event of `session` up to `seq` is in the kernel (written).
    Written { session: String, upto: u64 },
}

/// An append-only history. Its length is the mark a harness stores with
/// each crash state ([`crate::sim::SimFs::set_mark`]): the history as of a
/// crash is a prefix.
#[derive(Clone, Debug, Default)]
pub struct History {
    entries: Vec<Entry>,
}

impl History {
    /// An empty history.
    pub fn new() -> History {
        History::default()
    }

    /// Its length (the mark).
    pub fn len(&self) -> u64 {
        self.entries.len() as u64
    }

    /// Whether it is empty.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Event `n` is about to be logged by `session` (with `seq` when known).
    pub fn attempt(&mut self, session: &str, n: u64, seq: Option<u64>) {
        self.entries.push(Entry::Attempt {
            session: session.to_owned(),
            n,
            seq,
        });
    }

    /// Event `n` was acknowledged as `seq`.
    pub fn ack(&mut self, session: &str, seq: u64, n: u64) {
        self.entries.push(Entry::Ack {
            session: session.to_owned(),
            seq,
            n,
        });
    }

    /// Every event of `session` with seq at most `upto` is durable.
    pub fn durable(&mut self, session: &str, upto: u64) {
        self.entries.push(Entry::Durable {
            session: session.to_owned(),
            upto,
        });
    }

    /// Every event of `session` with seq at most `upto` reached the kernel
    /// (for `Process` and `Sync` writers, every acknowledged one).
    pub fn written(&mut self, session: &str, upto: u64) {
        self.entries.push(Entry::Written {
            session: session.to_owned(),
            upto,
        });
    }

    /// What was known after the first `mark` entries.
    pub fn upto(&self, mark: u64) -> Summary {
        let mut s = Summary::default();
        for e in self.entries.iter().take(mark as usize) {
            match e {
                Entry::Attempt { session, n, seq } => {
                    let ss = s.sessions.entry(session.clone()).or_default();
                    ss.attempted.insert(*n, *seq);
                }
                Entry::Ack { session, seq, n } => {
                    let ss = s.sessions.entry(session.clone()).or_default();
                    ss.acked.insert(*seq, *n);
                }
                Entry::Durable { session, upto } => {
                    let ss = s.sessions.entry(session.clone()).or_default();
                    ss.durable_upto = Some(ss.durable_upto.map_or(*upto, |d| d.max(*upto)));
                }
                Entry::Written { session, upto } => {
                    let ss = s.sessions.entry(session.clone()).or_default();
                    ss.written_upto = Some(ss.written_upto.map_or(*upto, |d| d.max(*upto)));
                }
            }
        }
        s
    }

    /// The history as it was after its first `mark` entries.
    pub fn truncated(&self, mark: u64) -> History {
        History {
            entries: self.entries[..(mark as usize).min(self.entries.len())].to_vec(),
        }
    }

    /// Everything known.
    pub fn summary(&self) -> Summary {
        self.upto(self.len())
    }
}

/// What is known about one writer session at a moment.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SessionSummary {
    /// Attempted keys, with the seq known in advance.
    pub attempted: BTreeMap<u64, Option<u64>>,
    /// Acknowledged: seq → key.
    pub acked: BTreeMap<u64, u64>,
    /// Every acknowledged seq at most this is durable.
    pub durable_upto: Option<u64>,
    /// Every seq at most this reached the kernel (survives a process crash).
    pub written_upto: Option<u64>,
}

impl SessionSummary {
    /// Whether the acknowledged `seq` is durable.
    pub fn is_durable(&self, seq: u64) -> bool {
        self.durable_upto.is_some_and(|d| seq <= d)
    }

    /// Whether the acknowledged `seq` reached the kernel: recorded as
    /// written, or durable.
    pub fn is_written(&self, seq: u64) -> bool {
        self.written_upto.is_some_and(|d| seq <= d) || self.is_durable(seq)
    }
}

/// What is known about every session at a moment.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Summary {
    /// By session id.
    pub sessions: BTreeMap<String, SessionSummary>,
}

impl Summary {
    /// Counts: (attempted, acknowledged, durable).
    pub fn counts(&self) -> (usize, usize, usize) {
        let mut c = (0, 0, 0);
        for s in self.sessions.values() {
            c.0 += s.attempted.len();
            c.1 += s.acked.len();
            c.2 += s.acked.keys().filter(|q| s.is_durable(**q)).count();
        }
        c
    }
}

/// What a crash was allowed to lose.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Loss {
    /// The process died (kill -9): the kernel keeps everything written, so
    /// every acknowledged event that reached the kernel (every one, for
    /// `process` and `sync` writers) must be read back, and each session's
    /// records are a contiguous prefix.
    Process,
    /// The machine lost power: every durable event must be read back;
    /// acknowledged events that were not yet durable may be lost, and the
    /// file system may have kept later unsynced writes without earlier
    /// ones, which leaves holes that readers must report.
    Power,
}

/// A broken invariant.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Violation {
    /// Which invariant (`lost-durable`, `duplicate`, ...).
    pub kind: &'static str,
    /// The details.
    pub detail: String,
}

impl fmt::Display for Violation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.kind, self.detail)
    }
}

fn v(kind: &'static str, detail: String) -> Violation {
    Violation { kind, detail }
}

/// Violations a campaign found: every one counted, the first
/// [`Findings::KEPT`] kept with where they happened.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Findings {
    /// Violations found.
    pub count: u64,
    /// The first ones, as `where: what`.
    pub examples: Vec<String>,
}

impl Findings {
    /// How many examples are kept.
    pub const KEPT: usize = 20;

    /// Counts a violation found at `at`.
    pub fn add(&mut self, at: &str, v: impl fmt::Display) {
        self.count += 1;
        if self.examples.len() < Findings::KEPT {
            self.examples.push(format!("{at}: {v}"));
        }
    }

    /// Adds another campaign's findings.
    pub fn merge(&mut self, o: &Findings) {
        self.count += o.count;
        let room = Findings::KEPT.saturating_sub(self.examples.len());
        self.examples.extend(o.examples.iter().take(room).cloned());
    }
}

/// Checks what a reader returned (`records`, in the order returned) against
/// what was known at the crash (docs/durability.md, "Invariants"):
///
/// 1. every record is exactly an event its session attempted (nothing in R
///    was never written; no garbled record is returned);
/// 2. no (session, seq) and no event is returned twice;
/// 3. each session's seqs increase in the order returned, and an event
///    whose seq was known (acknowledged, or one thread per session) has it;
/// 4. D ⊆ R; with [`Loss::Process`] also every acknowledged event that
///    reached the kernel is in R;
/// 5. with [`Loss::Process`] each session's seqs are contiguous from 0;
///    with [`Loss::Power`] a hole is allowed only when `holes_reported`
///    (the reader or verify reported damage).
pub fn check(
    summary: &Summary,
    records: &[Record],
    loss: Loss,
    holes_reported: bool,
) -> Vec<Violation> {
    let mut out = Vec::new();
    let mut seen = Seen::default();
    for (i, r) in records.iter().enumerate() {
        seen.check_record(summary, i, r, &mut out);
    }
    for (session, ss) in &summary.sessions {
        let got = seen.sessions.get(session.as_str());
        check_session(session, ss, got, loss, holes_reported, &mut out);
    }
    out
}

/// What the records read so far returned, borrowed from them.
#[derive(Default)]
struct Seen<'r> {
    /// Per session: its seqs returned so far.
    sessions: BTreeMap<&'r str, SessionSeen>,
    /// (session, key) of every record returned.
    keys: BTreeSet<(&'r str, u64)>,
}

/// The seqs of one session returned so far.
#[derive(Default)]
struct SessionSeen {
    seqs: BTreeSet<u64>,
    /// The seq of its latest record in read order.
    last: Option<u64>,
}

impl<'r> Seen<'r> {
    /// Checks record `i`, `r`, against what was logged (invariants 1 to 3),
    /// and notes it.
    fn check_record(
        &mut self,
        summary: &Summary,
        i: usize,
        r: &'r Record,
        out: &mut Vec<Violation>,
    ) {
        let Some(session) = r.session_id() else {
            out.push(v(
                "unknown-record",
                format!("record {i} has no session_id: {}", r.to_json_line()),
            ));
            return;
        };
        let Some(ss) = summary.sessions.get(session) else {
            out.push(v(
                "unknown-record",
                format!(
                    "record {i} of session {session} that never logged: {}",
                    r.to_json_line()
                ),
            ));
            return;
        };
        let Some(seq) = r.seq() else {
            out.push(v(
                "unknown-record",
                format!("record {i} has no seq: {}", r.to_json_line()),
            ));
            return;
        };
        let n = match key_of(r) {
            Ok(n) => n,
            Err(e) => {
                out.push(v(
                    "garbled-record",
                    format!("{session} seq {seq}: {e}: {}", r.to_json_line()),
                ));
                return;
            }
        };
        match ss.attempted.get(&n) {
            None => out.push(v(
                "never-written",
                format!("{session} seq {seq}: event n={n} was never logged"),
            )),
            Some(Some(want)) if *want != seq => out.push(v(
                "wrong-seq",
                format!("{session}: event n={n} has seq {seq}, logged as {want}"),
            )),
            _ => {}
        }
        if let Some(acked_n) = ss.acked.get(&seq)
            && *acked_n != n
        {
            out.push(v(
                "wrong-seq",
                format!("{session} seq {seq} holds n={n}, acknowledged for n={acked_n}"),
            ));
        }
        self.note(session, n, seq, out);
    }

    /// Notes that `session`'s event `n` was returned with `seq`: neither
    /// may have been returned before, and the session's seqs increase.
    fn note(&mut self, session: &'r str, n: u64, seq: u64, out: &mut Vec<Violation>) {
        if !self.keys.insert((session, n)) {
            out.push(v(
                "duplicate",
                format!("{session}: event n={n} (seq {seq}) returned twice"),
            ));
        }
        let s = self.sessions.entry(session).or_default();
        if !s.seqs.insert(seq) {
            out.push(v(
                "duplicate",
                format!("{session}: seq {seq} returned twice"),
            ));
        } else if let Some(l) = s.last
            && seq < l
        {
            out.push(v(
                "order",
                format!("{session}: seq {seq} returned after {l}"),
            ));
        }
        s.last = Some(seq);
    }
}

/// Checks what one session's records lost (invariants 4 and 5): `got` is
/// what was read of it, if anything.
fn check_session(
    session: &str,
    ss: &SessionSummary,
    got: Option<&SessionSeen>,
    loss: Loss,
    holes_reported: bool,
    out: &mut Vec<Violation>,
) {
    let none = BTreeSet::new();
    let got = got.map_or(&none, |s| &s.seqs);
    for (seq, n) in &ss.acked {
        if got.contains(seq) {
            continue;
        }
        if ss.is_durable(*seq) {
            out.push(v(
                "lost-durable",
                format!("{session} seq {seq} (n={n}) was acknowledged durable and is missing"),
            ));
        } else if loss == Loss::Process && ss.is_written(*seq) {
            out.push(v("lost-acknowledged", format!("{session} seq {seq} (n={n}) was acknowledged and is missing after a process crash")));
        }
    }
    if let Some(&max) = got.iter().next_back() {
        let holes: Vec<u64> = (0..max).filter(|q| !got.contains(q)).collect();
        if !holes.is_empty() && (loss == Loss::Process || !holes_reported) {
            out.push(v(
                "hole",
                format!(
                    "{session}: seqs {holes:?} missing before seq {max}{}",
                    if loss == Loss::Power {
                        " and nothing reported"
                    } else {
                        ""
                    }
                ),
            ));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use scout_audit_core::{SessionId, Timestamp};

    fn rec(session: &str, seq: u64, n: u64) -> Record {
        let mut line = Vec::new();
        let ts = Timestamp::parse("2026-11-27T00:00:00Z").unwrap();
        event_for(n).encode_into(ts, &SessionId::new(session), seq, &mut line);
        match scout_audit_core::decode_line(line.trim_ascii_end()) {
            scout_audit_core::Decoded::Record(r) => r,
            other => panic!("{other:?}"),
        }
    }

    fn kinds(v: &[Violation]) -> Vec<&'static str> {
        v.iter().map(|x| x.kind).collect()
    }

    fn history() -> History {
        let mut h = History::new();
        for (seq, n) in [(0, 10), (1, 11), (2, 12), (3, 13)] {
            h.attempt("a", n, Some(seq));
            h.ack("a", seq, n);
            h.written("a", seq);
        }
        h.durable("a", 1);
        h
    }

    #[test]
    fn a_clean_prefix_passes() {
        let s = history().summary();
        let all: Vec<Record> = (0..4).map(|q| rec("a", q, 10 + q)).collect();
        assert_eq!(check(&s, &all, Loss::Process, false), []);
        // Power loss may lose the acknowledged, non-durable suffix.
        assert_eq!(check(&s, &all[..2], Loss::Power, false), []);
        assert_eq!(
            kinds(&check(&s, &all[..2], Loss::Process, false)),
            ["lost-acknowledged", "lost-acknowledged"]
        );
    }

    #[test]
    fn each_invariant_is_seen() {
        let s = history().summary();
        let r = |q, n| rec("a", q, n);
        // Lost durable.
        assert_eq!(
            kinds(&check(&s, &[r(0, 10)], Loss::Power, false)),
            ["lost-durable"]
        );
        // Duplicate.
        let dup = [r(0, 10), r(1, 11), r(1, 11)];
        assert_eq!(
            kinds(&check(&s, &dup, Loss::Power, false)),
            ["duplicate", "duplicate"]
        );
        // Order.
        let swapped = [r(1, 11), r(0, 10)];
        assert_eq!(kinds(&check(&s, &swapped, Loss::Power, false)), ["order"]);
        // Never written, and wrong seq.
        let bad = [r(0, 10), r(1, 11), r(2, 99)];
        assert_eq!(
            kinds(&check(&s, &bad, Loss::Power, false)),
            ["never-written", "wrong-seq"]
        );
        // A hole: reported or not.
        let holey = [r(0, 10), r(1, 11), r(3, 13)];
        assert_eq!(kinds(&check(&s, &holey, Loss::Power, false)), ["hole"]);
        assert_eq!(check(&s, &holey, Loss::Power, true), []);
        assert_eq!(
            kinds(&check(&s, &holey, Loss::Process, true)),
            ["lost-acknowledged", "hole"]
        );
        // A session that never logged, and a garbled record.
        assert_eq!(
            kinds(&check(&s, &[rec("b", 0, 1)], Loss::Power, false)),
            ["unknown-record", "lost-durable", "lost-durable"]
        );
        let mut garbled = r(0, 10).fields().clone();
        garbled.insert("pad".into(), serde_json::Value::from("x"));
        let g = Record::from_map(garbled);
        assert_eq!(
            kinds(&check(&s, &[g, r(1, 11)], Loss::Power, false)),
            ["garbled-record", "lost-durable", "hole"]
        );
    }

    #[test]
    fn history_prefixes() {
        let h = history();
        assert_eq!(h.upto(0), Summary::default());
        let s = h.upto(3);
        let a = &s.sessions["a"];
        assert_eq!(a.attempted.len(), 1);
        assert_eq!(a.acked.len(), 1);
        assert_eq!(a.durable_upto, None);
        assert_eq!(h.summary().counts(), (4, 4, 2));
    }

    #[test]
    fn pads_vary() {
        let lens: BTreeSet<usize> = (0..1000).map(|n| pad(n).len()).collect();
        assert!(lens.len() > 100, "{}", lens.len());
        assert!(lens.iter().all(|l| *l <= 200));
    }
}
