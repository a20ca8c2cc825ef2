//! [`BatchingSink`]: the [`Sink`] contract for table backends, written once.
//!
//! A backend that stores rows (SQLite, PostgreSQL) implements [`Backend`]:
//! store a batch of rows in one transaction, and make everything stored
//! survive power loss. `BatchingSink` does the rest, the same way for every
//! backend: `seq` assignment under one lock (so table order is seq order),
//! the durability levels, group commit (concurrent writers share one
//! transaction), the fsync policy with a background timer, buffered writes,
//! poisoning after a failure, and import of other stores' records. The
//! bookkeeping of those is the writer core ([`crate::writer`]), shared
//! with the file store's writer; what is this module's own is the leader
//! protocol over a queue of rows committed in one transaction.
//!
//! The threads are the only resource this module uses; the backend does
//! the IO.

use std::num::NonZeroU64;
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crate::writer::{
    Assigned, GroupCommit, IDLE_WAIT, Lifecycle, Pending, SeqAllocator, SyncPolicy, Tick, Unsynced,
    Watermarks, lock_ignoring_poison as lock, run_ticker, sleep_until_first, wait_ignoring_poison,
};
use crate::{
    Clock, Durability, Error, Event, Receipt, Record, SessionId, Sink, Timestamp, Watermark,
    WriterId,
};

/// A row of a table backend: the record's line (its exact JSON) and the
/// typed columns queries push down to.
#[derive(Clone, Debug, PartialEq)]
pub struct Row {
    /// The instant of `ts`, if it has a valid one.
    pub ts: Option<Timestamp>,
    /// `event`, if a string.
    pub event: Option<String>,
    /// `session_id`, if a string.
    pub session_id: Option<String>,
    /// `seq`, if a non-negative integer.
    pub seq: Option<u64>,
    /// `cost`, if a number.
    pub cost: Option<f64>,
    /// `model`, if a string.
    pub model: Option<String>,
    /// `input_t`.
    pub input_t: Option<u64>,
    /// `output_t`.
    pub output_t: Option<u64>,
    /// [`Record::dedup_key`]: unique in a table.
    pub dedup_key: String,
    /// The record as one JSON line (without `\n`), exactly as the file
    /// store would write it.
    pub line: String,
}

impl Row {
    /// The row of an event as logged by a writer, stamped with `writer`
    /// when given ([`Event::encode_stamped`]).
    pub fn from_event(
        e: &Event,
        ts: Timestamp,
        session: &SessionId,
        seq: u64,
        writer: Option<&WriterId>,
    ) -> Row {
        let mut line = Vec::with_capacity(256);
        e.encode_stamped(ts, session, seq, writer, &mut line);
        line.pop();
        let session_id = e.session_override().unwrap_or(session).as_str().to_owned();
        // The key of the record as every reader will read it back (the
        // encoder's line decodes to the record the file store returns).
        let dedup_key = match crate::decode_line(&line) {
            crate::Decoded::Record(r) => r.dedup_key(),
            _ => format!(
                "{}:{}",
                crate::record::seq_key(&session_id, seq),
                String::from_utf8_lossy(&line)
            ),
        };
        Row {
            ts: Some(e.timestamp().unwrap_or(ts)),
            event: Some(e.event_type().to_owned()),
            dedup_key,
            session_id: Some(session_id),
            seq: Some(seq),
            cost: e.get_cost().filter(|c| c.is_finite()),
            model: e.get_model().map(str::to_owned),
            input_t: e.get_input_t(),
            output_t: e.get_output_t(),
            // encode_into writes UTF-8 only: the buffer moves, uncopied.
            line: String::from_utf8(line)
                .unwrap_or_else(|e| String::from_utf8_lossy(e.as_bytes()).into_owned()),
        }
    }

    /// The row of a record read from another store.
    pub fn from_record(r: &Record) -> Row {
        Row {
            ts: r.ts(),
            event: r.event().map(str::to_owned),
            session_id: r.session_id().map(str::to_owned),
            seq: r.seq(),
            cost: r.cost(),
            model: r.model().map(str::to_owned),
            input_t: r.input_t(),
            output_t: r.output_t(),
            dedup_key: r.dedup_key(),
            line: r.to_json_line(),
        }
    }
}

/// What a table backend does.
pub trait Backend: Send + 'static {
    /// Stores `rows` in order in one transaction, skipping rows whose
    /// `dedup_key` is already stored; how many rows it inserted. When it
    /// returns `Ok` the rows survive a crash of this process; with `sync`,
    /// also power loss.
    fn commit(&mut self, rows: &[Row], sync: bool) -> Result<u64, Error>;

    /// Makes every row committed so far survive power loss.
    fn sync(&mut self) -> Result<(), Error>;

    /// The highest `seq` stored for `session`, if any: where a writer
    /// continues that session (its own at open, and the first time it logs
    /// an event under another session id, whose keys would otherwise
    /// collide with rows already stored and be skipped).
    fn last_seq(&mut self, session: &SessionId) -> Result<Option<u64>, Error>;
}

/// Settings of a [`BatchingSink`].
#[derive(Clone, Debug)]
pub struct BatchingOptions {
    /// The level `log` acknowledges at.
    pub durability: Durability,
    /// `Process`/`Buffered`: sync after this many unsynced rows (0: never).
    pub sync_every_rows: u64,
    /// `Process`/`Buffered`: sync rows unsynced for this long (even when
    /// writes stop).
    pub sync_interval: Option<Duration>,
    /// `Buffered`: the longest rows wait in memory.
    pub max_delay: Duration,
    /// The writer session.
    pub session: SessionId,
    /// Whether `session` was given rather than generated by this writer
    /// (a builder's `.session(..)`): then the writer's own records are
    /// stamped with `writer` too, since another process may log under the
    /// same session id.
    pub session_given: bool,
    /// This writer's stamp, on records it logs under a session it did not
    /// generate (random per open: each `Default` makes a new one).
    pub writer: WriterId,
    /// The clock for `ts`.
    pub clock: Arc<dyn Clock>,
}

impl Default for BatchingOptions {
    /// The defaults every table backend starts from: `Process`, the Python
    /// original's sync policy (10 rows / 1 s), 50 ms for `Buffered`, this
    /// process's session and the system clock.
    fn default() -> Self {
        BatchingOptions {
            durability: Durability::Process,
            sync_every_rows: 10,
            sync_interval: Some(Duration::from_secs(1)),
            max_delay: Duration::from_millis(50),
            session: SessionId::process(),
            session_given: false,
            writer: WriterId::random(),
            clock: Arc::new(crate::SystemClock),
        }
    }
}

/// Most rows one buffered batch holds before it is committed inline.
const MAX_PENDING_ROWS: usize = 16_384;

/// The writer core's parts (`crate::writer`), under the one state lock.
#[derive(Debug)]
struct State {
    /// Own-session and other sessions' seqs.
    seqs: SeqAllocator,
    /// Rows waiting to be committed, in seq order (and, `Buffered`, since
    /// when).
    pending: Pending<Vec<Row>>,
    /// Batches enqueued (issued) and known committed (done); the leader
    /// commits outside the lock.
    batches: GroupCommit,
    /// Watermarks of the own session.
    marks: Watermarks,
    /// Rows committed since the last sync.
    unsynced: Unsynced,
    /// Poisoned or closed.
    life: Lifecycle,
}

struct Shared<B> {
    opts: BatchingOptions,
    /// `opts.sync_every_rows` and `opts.sync_interval` as the core's policy.
    policy: SyncPolicy,
    state: Mutex<State>,
    cv: Condvar,
    ticker_cv: Condvar,
    /// The backend; held by one committer at a time.
    backend: Mutex<B>,
}

/// The [`Sink`] of a table backend (see the module docs).
pub struct BatchingSink<B: Backend> {
    shared: Arc<Shared<B>>,
    ticker: Mutex<Option<JoinHandle<()>>>,
}

impl<B: Backend> std::fmt::Debug for BatchingSink<B> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BatchingSink")
            .field("durability", &self.shared.opts.durability)
            .field("session", &self.shared.opts.session)
            .finish_non_exhaustive()
    }
}

impl<B: Backend> BatchingSink<B> {
    /// A sink over `backend`; `next_seq` is where the writer session's
    /// `seq` continues (0 for a new session).
    pub fn new(backend: B, opts: BatchingOptions, next_seq: u64) -> BatchingSink<B> {
        let policy = SyncPolicy {
            every: NonZeroU64::new(opts.sync_every_rows),
            interval: opts.sync_interval,
        };
        let shared = Arc::new(Shared {
            state: Mutex::new(State {
                seqs: SeqAllocator::new(opts.session.clone(), next_seq, Default::default()),
                pending: Pending::default(),
                batches: GroupCommit::default(),
                marks: Watermarks::default(),
                unsynced: Unsynced::default(),
                life: Lifecycle::new(),
            }),
            opts,
            policy,
            cv: Condvar::new(),
            ticker_cv: Condvar::new(),
            backend: Mutex::new(backend),
        });
        let sh = Arc::clone(&shared);
        let ticker = std::thread::Builder::new()
            .name("scout-audit-batch-timer".into())
            .spawn(move || sh.ticker())
            .ok();
        BatchingSink {
            shared,
            ticker: Mutex::new(ticker),
        }
    }
}

impl<B: Backend> Shared<B> {
    /// Looks up where each session the events are logged under (other
    /// than the writer's) continues, the first time this sink sees it. The
    /// backend is asked without the state lock held (a committer holds the
    /// backend lock, then takes the state lock); a session is only written
    /// after it is known, so no row of it can be in flight meanwhile.
    fn learn_other_sessions(&self, events: &[Event]) -> Result<(), Error> {
        let mut unknown: Vec<&SessionId> = Vec::new();
        {
            let st = lock(&self.state);
            for s in events.iter().filter_map(Event::session_override) {
                if !st.seqs.knows(s) && !unknown.contains(&s) {
                    unknown.push(s);
                }
            }
        }
        for s in unknown {
            let next = lock(&self.backend).last_seq(s)?.map_or(0, |q| q + 1);
            lock(&self.state).seqs.learn(s, next);
        }
        Ok(())
    }

    /// Poisons the sink with `e` and wakes every waiter; returns `e`.
    fn poison(&self, st: &mut State, e: Error) -> Error {
        st.life.poison(&e);
        self.cv.notify_all();
        e
    }

    /// Enqueues rows built under the lock and makes them durable at the
    /// sink's level.
    fn write(
        &self,
        build: impl FnOnce(&mut State) -> Result<(Vec<Row>, Option<u64>), Error>,
    ) -> Result<(), Error> {
        let mut st = lock(&self.state);
        st.life.check()?;
        let (rows, last_own) = build(&mut st)?;
        if rows.is_empty() {
            return Ok(());
        }
        let n = rows.len() as u64;
        st.pending.items.extend(rows);
        st.pending.added(n, last_own);
        let mine = st.batches.issue();
        if self.opts.durability == Durability::Buffered {
            if st.pending.start_clock() {
                self.ticker_cv.notify_one();
            }
            if st.pending.items.len() < MAX_PENDING_ROWS {
                return Ok(());
            }
        }
        self.commit_through(st, mine).map(|_| ())
    }

    /// Leader protocol: returns once batch `mine` is committed (and synced
    /// per the level and policy).
    fn commit_through<'a>(
        &'a self,
        mut st: MutexGuard<'a, State>,
        mine: u64,
    ) -> Result<MutexGuard<'a, State>, Error> {
        let sync_level = self.opts.durability == Durability::Sync;
        loop {
            if st.batches.is_done(mine) {
                return Ok(st);
            }
            st.life.check_poisoned()?;
            if st.batches.leading() {
                st = wait_ignoring_poison(&self.cv, st);
                continue;
            }
            let through = st.batches.lead();
            let rows = std::mem::take(&mut st.pending.items);
            let taken = st.pending.take();
            let n = rows.len() as u64;
            drop(st);
            let r = {
                let mut b = lock(&self.backend);
                b.commit(&rows, sync_level)
            };
            st = lock(&self.state);
            st.batches.stop_leading();
            match r {
                Ok(_) => {
                    st.batches.complete(through);
                    st.marks.wrote(taken.last_own);
                    st = self.committed(st, n)?;
                }
                Err(e) => return Err(self.poison(&mut st, e)),
            }
        }
    }

    /// After `n` rows were committed: syncs per the level and policy, wakes
    /// the waiters.
    fn committed<'a>(
        &'a self,
        mut st: MutexGuard<'a, State>,
        n: u64,
    ) -> Result<MutexGuard<'a, State>, Error> {
        if self.opts.durability == Durability::Sync {
            let written = st.marks.written();
            st.marks.synced_through(written);
            st.unsynced.synced(false);
        } else {
            st.unsynced.add(n);
            if st.unsynced.due(&self.policy) {
                st = self.sync_locked(st)?;
            } else if st.unsynced.count() == n {
                self.ticker_cv.notify_one();
            }
        }
        self.cv.notify_all();
        Ok(st)
    }

    /// Commits `rows` (imported records) in a transaction of their own, as
    /// the leader, so that what the backend inserted is counted for them
    /// alone; returns that count. Rows queued by other callers go in their
    /// own commits: imports have no `seq`, so their order among them does
    /// not matter.
    fn commit_alone(&self, rows: &[Row]) -> Result<u64, Error> {
        let mut st = lock(&self.state);
        loop {
            st.life.check()?;
            if !st.batches.leading() {
                break;
            }
            st = wait_ignoring_poison(&self.cv, st);
        }
        st.batches.lead();
        drop(st);
        let r = lock(&self.backend).commit(rows, self.opts.durability == Durability::Sync);
        let mut st = lock(&self.state);
        st.batches.stop_leading();
        match r {
            Ok(inserted) => {
                drop(self.committed(st, rows.len() as u64)?);
                Ok(inserted)
            }
            Err(e) => Err(self.poison(&mut st, e)),
        }
    }

    /// Syncs the backend (holding the state lock, so the row bound holds).
    fn sync_locked<'a>(
        &'a self,
        mut st: MutexGuard<'a, State>,
    ) -> Result<MutexGuard<'a, State>, Error> {
        if st.unsynced.count() == 0 {
            return Ok(st);
        }
        let r = lock(&self.backend).sync();
        match r {
            Ok(()) => {
                st.unsynced.synced(true);
                let written = st.marks.written();
                st.marks.synced_through(written);
                Ok(st)
            }
            Err(e) => Err(self.poison(&mut st, e)),
        }
    }

    /// Commits what is queued and syncs everything.
    fn flush(&self) -> Result<(), Error> {
        let mut st = lock(&self.state);
        st.life.check()?;
        if !st.pending.items.is_empty() {
            let mine = st.batches.issue();
            st = self.commit_through(st, mine)?;
        }
        let marks = st.marks.get();
        st.unsynced
            .at_least(u64::from(marks.synced != marks.written));
        self.sync_locked(st).map(|_| ())
    }

    /// The background timer: commits `Buffered` rows after `max_delay`
    /// and syncs after the policy's interval (`crate::writer::run_ticker`).
    fn ticker(&self) {
        run_ticker(
            &self.state,
            &self.ticker_cv,
            Duration::from_micros(200),
            |st| self.tick(st),
        );
    }

    /// One turn of the timer: one job if one is due (then look again),
    /// else how long to sleep.
    fn tick<'a>(&'a self, mut st: MutexGuard<'a, State>) -> (MutexGuard<'a, State>, Tick) {
        if st.life.is_closed() {
            return (st, Tick::Stop);
        }
        let now = Instant::now();
        if st.life.is_poisoned() {
            return (st, Tick::Sleep(IDLE_WAIT));
        }
        if st.pending.due(now, self.opts.max_delay) && !st.batches.leading() {
            let mine = st.batches.issue();
            st = match self.commit_through(st, mine) {
                Ok(g) => g,
                Err(_) => lock(&self.state),
            };
            return (st, Tick::Again);
        }
        if st.unsynced.interval_due(&self.policy, now) {
            st = match self.sync_locked(st) {
                Ok(g) => g,
                Err(_) => lock(&self.state),
            };
            return (st, Tick::Again);
        }
        let deadlines = [
            st.pending.deadline(self.opts.max_delay),
            st.unsynced.deadline(&self.policy),
        ];
        (st, Tick::Sleep(sleep_until_first(now, &deadlines)))
    }
}

impl<B: Backend> Sink for BatchingSink<B> {
    fn log(&self, event: Event) -> Result<Receipt, Error> {
        let mut r = self.log_batch(vec![event])?;
        r.pop().ok_or(Error::Closed)
    }

    fn log_batch(&self, events: Vec<Event>) -> Result<Vec<Receipt>, Error> {
        for e in &events {
            e.validate().map_err(Error::InvalidEvent)?;
        }
        let sh = &self.shared;
        sh.learn_other_sessions(&events)?;
        let mut receipts = Vec::with_capacity(events.len());
        sh.write(|st| {
            let mut rows = Vec::with_capacity(events.len());
            let mut last_own = None;
            for (i, e) in events.iter().enumerate() {
                let ts = e.timestamp().unwrap_or_else(|| sh.opts.clock.now());
                // Another session is known: learn_other_sessions looked it up.
                let Assigned { seq, own } = st.seqs.assign(e);
                let stamp = if own {
                    last_own = Some(seq);
                    sh.opts.session_given
                } else {
                    true
                };
                let writer = stamp.then_some(&sh.opts.writer);
                let row = Row::from_event(e, ts, &sh.opts.session, seq, writer);
                if let Err(err) = crate::record::check_line_len(row.line.len()) {
                    // Refused before anything is queued: give back the
                    // seqs this batch took, so the session has no hole.
                    st.seqs.unassign(&events[..=i]);
                    receipts.clear();
                    return Err(err);
                }
                rows.push(row);
                receipts.push(Receipt { seq, ts });
            }
            Ok((rows, last_own))
        })?;
        Ok(receipts)
    }

    /// Commits the records at once (at every level, `Buffered` too) in a
    /// transaction of their own, and returns how many rows the backend
    /// inserted: records whose key it already held are not counted.
    fn import(&self, records: Vec<Record>) -> Result<u64, Error> {
        if records.is_empty() {
            return Ok(0);
        }
        let rows: Vec<Row> = records.iter().map(Row::from_record).collect();
        for r in &rows {
            crate::record::check_line_len(r.line.len())?;
        }
        self.shared.commit_alone(&rows)
    }

    fn flush(&self) -> Result<(), Error> {
        self.shared.flush()
    }

    fn close(&self) -> Result<(), Error> {
        let r = {
            let st = lock(&self.shared.state);
            if st.life.is_closed() {
                return Ok(());
            }
            drop(st);
            self.shared.flush()
        };
        lock(&self.shared.state).life.close();
        self.shared.ticker_cv.notify_all();
        self.shared.cv.notify_all();
        if let Some(t) = lock(&self.ticker).take() {
            let _ = t.join();
        }
        r
    }

    fn durability(&self) -> Durability {
        self.shared.opts.durability
    }

    fn session(&self) -> SessionId {
        self.shared.opts.session.clone()
    }

    fn watermark(&self) -> Watermark {
        lock(&self.shared.state).marks.get()
    }
}

impl<B: Backend> Drop for BatchingSink<B> {
    fn drop(&mut self) {
        // Errors cannot be returned from drop; `close()` reports them.
        let _ = Sink::close(self);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ManualClock;

    /// A backend that keeps rows and counts commits and syncs, and can fail.
    #[derive(Default)]
    struct Mem {
        rows: Arc<Mutex<Vec<Row>>>,
        commits: Arc<Mutex<Vec<(usize, bool)>>>,
        syncs: Arc<Mutex<u64>>,
        fail: Arc<Mutex<bool>>,
    }

    impl Backend for Mem {
        fn commit(&mut self, rows: &[Row], sync: bool) -> Result<u64, Error> {
            if *lock(&self.fail) {
                return Err(Error::Backend("disk on fire".into()));
            }
            let mut all = lock(&self.rows);
            let mut inserted = 0;
            for r in rows {
                if !all.iter().any(|x| x.dedup_key == r.dedup_key) {
                    all.push(r.clone());
                    inserted += 1;
                }
            }
            lock(&self.commits).push((rows.len(), sync));
            Ok(inserted)
        }
        fn sync(&mut self) -> Result<(), Error> {
            *lock(&self.syncs) += 1;
            Ok(())
        }
        fn last_seq(&mut self, session: &SessionId) -> Result<Option<u64>, Error> {
            Ok(lock(&self.rows)
                .iter()
                .filter(|r| r.session_id.as_deref() == Some(session.as_str()))
                .filter_map(|r| r.seq)
                .max())
        }
    }

    fn opts(d: Durability, rows: u64) -> BatchingOptions {
        BatchingOptions {
            durability: d,
            sync_every_rows: rows,
            sync_interval: None,
            max_delay: Duration::from_millis(10),
            session: SessionId::new("s"),
            session_given: false,
            writer: WriterId::random(),
            clock: Arc::new(ManualClock::new(
                Timestamp::parse("2026-01-01T00:00:00Z").unwrap(),
            )),
        }
    }

    #[test]
    fn seq_order_is_row_order_and_policy_syncs() {
        let mem = Mem::default();
        let (rows, syncs) = (mem.rows.clone(), mem.syncs.clone());
        let sink = BatchingSink::new(mem, opts(Durability::Process, 10), 5);
        for i in 0..25u64 {
            assert_eq!(
                sink.log(Event::new("nav").field("i", i)).unwrap().seq,
                5 + i
            );
        }
        assert_eq!(*lock(&syncs), 2, "a sync per 10 rows");
        assert_eq!(
            sink.watermark(),
            Watermark {
                written: Some(29),
                synced: Some(24)
            }
        );
        sink.flush().unwrap();
        assert_eq!(sink.watermark().synced, Some(29));
        let got: Vec<Option<u64>> = lock(&rows).iter().map(|r| r.seq).collect();
        assert_eq!(got, (5..30).map(Some).collect::<Vec<_>>());
        assert_eq!(
            lock(&rows)[0].line,
            "{\"ts\":\"2026-01-01T00:00:00+00:00\",\"event\":\"nav\",\"session_id\":\"s\",\"seq\":5,\"i\":0}"
        );
    }

    #[test]
    fn sync_level_group_commits_across_threads() {
        let mem = Mem::default();
        let (rows, commits) = (mem.rows.clone(), mem.commits.clone());
        let sink = BatchingSink::new(mem, opts(Durability::Sync, 0), 0);
        std::thread::scope(|s| {
            for _ in 0..8 {
                s.spawn(|| {
                    for _ in 0..50 {
                        sink.log(Event::new("x")).unwrap();
                    }
                });
            }
        });
        assert_eq!(lock(&rows).len(), 400);
        let c = lock(&commits);
        assert!(c.iter().all(|(_, sync)| *sync));
        assert_eq!(c.iter().map(|(n, _)| n).sum::<usize>(), 400);
        let seqs: Vec<u64> = lock(&rows).iter().map(|r| r.seq.unwrap()).collect();
        assert_eq!(
            seqs,
            (0..400).collect::<Vec<_>>(),
            "table order is seq order"
        );
    }

    #[test]
    fn buffered_commits_after_max_delay_and_failure_poisons() {
        let mem = Mem::default();
        let (rows, fail) = (mem.rows.clone(), mem.fail.clone());
        let sink = BatchingSink::new(mem, opts(Durability::Buffered, 0), 0);
        sink.log(Event::new("x")).unwrap();
        assert_eq!(lock(&rows).len(), 0);
        let deadline = Instant::now() + Duration::from_secs(5);
        while lock(&rows).is_empty() {
            assert!(Instant::now() < deadline);
            std::thread::sleep(Duration::from_millis(2));
        }
        *lock(&fail) = true;
        sink.log(Event::new("y")).unwrap();
        assert!(matches!(
            sink.flush(),
            Err(Error::Backend(_)) | Err(Error::Poisoned(_))
        ));
        assert!(matches!(sink.log(Event::new("z")), Err(Error::Poisoned(_))));
    }

    /// An event whose line at `seq` (one digit) is `len` bytes long.
    fn event_of_len(len: usize) -> Event {
        let base = Row::from_event(
            &Event::new("x").field("pad", ""),
            Timestamp::parse("2026-01-01T00:00:00Z").unwrap(),
            &SessionId::new("s"),
            0,
            None,
        );
        Event::new("x").field("pad", "a".repeat(len - base.line.len()))
    }

    #[test]
    fn a_line_over_the_bound_is_refused_whole_and_its_seqs_given_back() {
        let mem = Mem::default();
        let (rows, commits) = (mem.rows.clone(), mem.commits.clone());
        let sink = BatchingSink::new(mem, opts(Durability::Process, 0), 0);
        let other = SessionId::new("o");
        let err = sink
            .log_batch(vec![
                Event::new("a"),
                Event::new("b").session(other.clone()),
                event_of_len(crate::MAX_LINE + 1),
                Event::new("c"),
            ])
            .unwrap_err();
        assert_eq!(
            err.to_string(),
            format!(
                "the line is {} bytes, over the line bound of {} bytes; nothing was written",
                crate::MAX_LINE + 1,
                crate::MAX_LINE
            )
        );
        assert!(lock(&rows).is_empty());
        assert!(lock(&commits).is_empty());
        assert_eq!(sink.watermark(), Watermark::default());
        // The seqs the refused batch took are given back: no hole.
        assert_eq!(sink.log(event_of_len(crate::MAX_LINE)).unwrap().seq, 0);
        assert_eq!(sink.log(Event::new("b").session(other)).unwrap().seq, 0);
        let got = lock(&rows);
        assert_eq!(got.len(), 2);
        assert_eq!(got[0].line.len(), crate::MAX_LINE);
        // Import refuses a record over the bound before storing any.
        drop(got);
        let big = match crate::decode_line(
            format!(
                r#"{{"ts":"2026-01-01T00:00:00Z","event":"x","pad":"{}"}}"#,
                "a".repeat(crate::MAX_LINE)
            )
            .as_bytes(),
        ) {
            crate::Decoded::Record(r) => r,
            o => panic!("{o:?}"),
        };
        let small = sink_record();
        assert!(matches!(
            sink.import(vec![small, big]),
            Err(Error::LineTooLong { max, .. }) if max == crate::MAX_LINE as u64
        ));
        assert_eq!(lock(&rows).len(), 2);
    }

    fn sink_record() -> Record {
        match crate::decode_line(
            br#"{"ts":"2026-01-01T00:00:00Z","event":"nav","session_id":"old","seq":3}"#,
        ) {
            crate::Decoded::Record(r) => r,
            o => panic!("{o:?}"),
        }
    }

    #[test]
    fn import_keeps_records_and_dedups_in_backend() {
        let mem = Mem::default();
        let rows = mem.rows.clone();
        let sink = BatchingSink::new(mem, opts(Durability::Process, 0), 0);
        let r = match crate::decode_line(
            br#"{"ts":"2026-01-01T00:00:00Z","event":"nav","session_id":"old","seq":3,"x":1}"#,
        ) {
            crate::Decoded::Record(r) => r,
            o => panic!("{o:?}"),
        };
        assert_eq!(
            sink.import(vec![r.clone(), r.clone()]).unwrap(),
            1,
            "the rows inserted"
        );
        assert_eq!(sink.import(vec![r.clone()]).unwrap(), 0);
        let got = lock(&rows);
        assert_eq!(got.len(), 1);
        assert_eq!(got[0].dedup_key, r.dedup_key());
        assert!(got[0].dedup_key.starts_with("s:old:00000000000000000003:"));
        assert_eq!(got[0].line, r.to_json_line());
    }

    #[test]
    fn events_under_a_given_session_are_stamped_and_keyed_by_content() {
        let mem = Mem::default();
        let rows = mem.rows.clone();
        let sink = BatchingSink::new(mem, opts(Durability::Process, 0), 0);
        sink.log(Event::new("x").session("X").cost(1.0)).unwrap();
        sink.log(Event::new("own")).unwrap();
        sink.flush().unwrap();
        let got = lock(&rows).clone();
        let w = sink.shared.opts.writer.clone();
        assert_eq!(
            got[0].line,
            format!(
                "{{\"ts\":\"2026-01-01T00:00:00+00:00\",\"event\":\"x\",\"session_id\":\"X\",\"seq\":0,\"writer\":\"{w}\",\"cost\":1.0}}"
            )
        );
        assert_eq!(
            got[1].line,
            "{\"ts\":\"2026-01-01T00:00:00+00:00\",\"event\":\"own\",\"session_id\":\"s\",\"seq\":0}"
        );
        for r in &got {
            let rec = match crate::decode_line(r.line.as_bytes()) {
                crate::Decoded::Record(rec) => rec,
                o => panic!("{o:?}"),
            };
            assert_eq!(r.dedup_key, rec.dedup_key());
        }
        // A second writer (another process) logging the same event under X
        // with the same seq: a distinct row, not a duplicate.
        let mem2 = Mem::default();
        let rows2 = mem2.rows.clone();
        let sink2 = BatchingSink::new(mem2, opts(Durability::Process, 0), 0);
        sink2.log(Event::new("x").session("X").cost(1.0)).unwrap();
        sink2.flush().unwrap();
        let other = lock(&rows2)[0].clone();
        assert_eq!(other.seq, Some(0));
        assert_ne!(other.dedup_key, got[0].dedup_key);
    }
}
