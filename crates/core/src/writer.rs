//! The writer core: the bookkeeping every writer of the workspace shares,
//! without IO. The file store's writer (store-file's `writer/`) and
//! [`crate::batching::BatchingSink`] (SQLite, PostgreSQL) both keep these
//! parts inside the one state their lock guards, and differ only in what
//! they do with the file or the table:
//!
//! - [`SeqAllocator`]: `seq` of the writer's own session and of sessions
//!   given per event, and giving seqs back for lines that were not written.
//! - [`Watermarks`]: how far the own session is written and synced.
//! - [`Lifecycle`]: poisoned after a failed write or sync, or closed;
//!   [`Refusal`] is why a call is refused.
//! - [`SyncPolicy`] and [`Unsynced`]: the sync policy on top of the
//!   `Process` level (count or age of what is unsynced).
//! - [`GroupCommit`] and [`Gather`]: numbered writes (or batches), which
//!   of them are done, one leader at a time, and the file store's
//!   gathering of a group before its fsync.
//! - [`Pending`]: what `Buffered` holds in memory, and since when.
//! - [`run_ticker`]: the background timer's loop; [`lock_ignoring_poison`]
//!   and its two condition-variable companions: a thread that panicked
//!   while holding a writer's lock leaves its state consistent (every
//!   field is updated before anything that can panic), so the lock is
//!   taken anyway.
//!
//! ```
//! use scout_audit_core::writer::{Lifecycle, Refusal, SeqAllocator};
//! use scout_audit_core::{Event, SessionId};
//!
//! let own = SessionId::new("s1");
//! let mut seqs = SeqAllocator::new(own, 0, Default::default());
//! let events = [Event::new("nav"), Event::new("nav").session(SessionId::new("s2"))];
//! assert_eq!(seqs.assign(&events[0]).seq, 0);
//! assert!(!seqs.assign(&events[1]).own);
//! seqs.unassign(&events); // neither line was written
//! assert_eq!(seqs.next_own(), 0);
//!
//! let mut life = Lifecycle::new();
//! life.poison(&"fsync failed");
//! assert!(matches!(life.check(), Err(Refusal::Poisoned(c)) if c == "fsync failed"));
//! ```

use std::collections::HashMap;
use std::fmt;
use std::num::NonZeroU64;
use std::sync::{Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use crate::{Error, Event, SessionId, Watermark};

/// Locks `m`, taking the lock even when a thread panicked holding it (see
/// the module docs): the one poison-ignoring lock of the workspace.
pub fn lock_ignoring_poison<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// [`Condvar::wait`], ignoring poison as [`lock_ignoring_poison`] does.
pub fn wait_ignoring_poison<'a, T>(cv: &Condvar, guard: MutexGuard<'a, T>) -> MutexGuard<'a, T> {
    cv.wait(guard).unwrap_or_else(|p| p.into_inner())
}

/// [`Condvar::wait_timeout`], ignoring poison as [`lock_ignoring_poison`]
/// does; whether it timed out is not needed by any caller.
pub fn wait_timeout_ignoring_poison<'a, T>(
    cv: &Condvar,
    guard: MutexGuard<'a, T>,
    timeout: Duration,
) -> MutexGuard<'a, T> {
    cv.wait_timeout(guard, timeout)
        .unwrap_or_else(|p| p.into_inner())
        .0
}

/// Why a writer refuses a call.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Refusal {
    /// The writer was closed.
    Closed,
    /// An earlier write or sync failed, with this cause.
    Poisoned(String),
}

impl From<Refusal> for Error {
    fn from(r: Refusal) -> Error {
        match r {
            Refusal::Closed => Error::Closed,
            Refusal::Poisoned(cause) => Error::Poisoned(cause),
        }
    }
}

/// Whether a writer still accepts calls. Poisoning is for good: what
/// reached the disk after a failed write or sync is unknown, so no later
/// acknowledgement may be given.
#[derive(Debug, Default)]
pub struct Lifecycle {
    /// The first failure's message; set once, never cleared.
    poisoned: Option<String>,
    /// Set by `close`, never cleared.
    closed: bool,
}

impl Lifecycle {
    /// Open and healthy.
    #[inline]
    pub fn new() -> Lifecycle {
        Lifecycle::default()
    }

    /// `Err` once closed (checked first) or poisoned.
    #[inline]
    pub fn check(&self) -> Result<(), Refusal> {
        if self.closed {
            return Err(Refusal::Closed);
        }
        self.check_poisoned()
    }

    /// `Err` once poisoned, closed or not.
    #[inline]
    pub fn check_poisoned(&self) -> Result<(), Refusal> {
        match &self.poisoned {
            Some(cause) => Err(Refusal::Poisoned(cause.clone())),
            None => Ok(()),
        }
    }

    /// Records `cause` as the reason to refuse everything from now on,
    /// unless an earlier failure already did.
    #[inline]
    pub fn poison(&mut self, cause: &dyn fmt::Display) {
        if self.poisoned.is_none() {
            self.poisoned = Some(cause.to_string());
        }
    }

    /// Whether a failure poisoned the writer.
    #[inline]
    pub fn is_poisoned(&self) -> bool {
        self.poisoned.is_some()
    }

    /// Marks the writer closed.
    #[inline]
    pub fn close(&mut self) {
        self.closed = true;
    }

    /// Whether the writer was closed.
    #[inline]
    pub fn is_closed(&self) -> bool {
        self.closed
    }
}

/// A `seq` given to an event.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Assigned {
    /// The event's `seq` in its session.
    pub seq: u64,
    /// Whether the session is the writer's own (else one given per event).
    pub own: bool,
}

/// `seq` allocation: the writer's own session counts from where it
/// continues; each session given per event (`Event::session`) counts on
/// its own. Seqs are given under the writer's lock in the order the lines
/// are written, and the last ones given can be taken back.
#[derive(Debug)]
pub struct SeqAllocator {
    /// The writer's own session.
    own: SessionId,
    /// The next own-session seq.
    next_own: u64,
    /// The next seq of each other session seen so far.
    others: HashMap<SessionId, u64>,
}

impl SeqAllocator {
    /// An allocator for `own` continuing at `next_own`, and at `others` for
    /// the other sessions already known.
    #[inline]
    pub fn new(own: SessionId, next_own: u64, others: HashMap<SessionId, u64>) -> SeqAllocator {
        SeqAllocator {
            own,
            next_own,
            others,
        }
    }

    /// The next seq of `event`'s session (an unknown other session starts
    /// at 0).
    #[inline]
    pub fn assign(&mut self, event: &Event) -> Assigned {
        match event.session_override() {
            Some(s) if *s != self.own => {
                let n = self.others.entry(s.clone()).or_insert(0);
                let seq = *n;
                *n += 1;
                Assigned { seq, own: false }
            }
            _ => {
                let seq = self.next_own;
                self.next_own += 1;
                Assigned { seq, own: true }
            }
        }
    }

    /// Takes back the seqs of `events`, the last ones assigned (under the
    /// same lock hold), whose lines were not written: a reopen then
    /// continues without a hole.
    #[inline]
    pub fn unassign(&mut self, events: &[Event]) {
        for e in events.iter().rev() {
            self.give_back(e.session_override());
        }
    }

    /// Takes back the last seq given in `session` (`None`, or the own
    /// session: the own one), as [`SeqAllocator::unassign`] does for one
    /// event; for writers that keep the sessions of lines, not the events.
    #[inline]
    pub fn give_back(&mut self, session: Option<&SessionId>) {
        match session {
            Some(s) if *s != self.own => {
                if let Some(n) = self.others.get_mut(s) {
                    *n = n.saturating_sub(1);
                }
            }
            _ => self.next_own = self.next_own.saturating_sub(1),
        }
    }

    /// Whether `session` is the own one or another one already counted.
    #[inline]
    pub fn knows(&self, session: &SessionId) -> bool {
        *session == self.own || self.others.contains_key(session)
    }

    /// Sets where another session continues, unless it is already known.
    #[inline]
    pub fn learn(&mut self, session: &SessionId, next: u64) {
        self.others.entry(session.clone()).or_insert(next);
    }

    /// The next own-session seq.
    #[inline]
    pub fn next_own(&self) -> u64 {
        self.next_own
    }

    /// Where each other session continues.
    #[inline]
    pub fn others(&self) -> &HashMap<SessionId, u64> {
        &self.others
    }
}

/// The own session's [`Watermark`]s.
#[derive(Clone, Copy, Debug, Default)]
pub struct Watermarks {
    /// The last own-session seq handed to the file or table; only grows.
    written: Option<u64>,
    /// The last own-session seq known to survive power loss; at most
    /// `written`.
    synced: Option<u64>,
}

impl Watermarks {
    /// Own-session seqs through `last_own` (if any) were written.
    #[inline]
    pub fn wrote(&mut self, last_own: Option<u64>) {
        if last_own.is_some() {
            self.written = last_own;
        }
    }

    /// Own-session seqs through `seq` (if any) are on stable storage.
    #[inline]
    pub fn synced_through(&mut self, seq: Option<u64>) {
        if seq.is_some() {
            self.synced = seq;
        }
    }

    /// The last own-session seq written.
    #[inline]
    pub fn written(&self) -> Option<u64> {
        self.written
    }

    /// The watermark as [`crate::Sink::watermark`] reports it.
    #[inline]
    pub fn get(&self) -> Watermark {
        Watermark {
            written: self.written,
            synced: self.synced,
        }
    }
}

/// When a writer syncs on top of the `Process` level: after this many
/// lines (rows), or when unsynced ones are this old.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SyncPolicy {
    /// Sync when this many are unsynced.
    pub every: Option<NonZeroU64>,
    /// Sync when unsynced ones are this old (a timer keeps it when writes
    /// stop).
    pub interval: Option<Duration>,
}

/// What was written since the last sync, against a [`SyncPolicy`].
#[derive(Debug)]
pub struct Unsynced {
    /// Lines (rows) written since the last sync.
    count: u64,
    /// When the last sync finished (the writer's start before the first).
    last_sync: Instant,
}

impl Default for Unsynced {
    fn default() -> Self {
        Unsynced {
            count: 0,
            last_sync: Instant::now(),
        }
    }
}

impl Unsynced {
    /// `n` more were written.
    #[inline]
    pub fn add(&mut self, n: u64) {
        self.count += n;
    }

    /// How many are unsynced.
    #[inline]
    pub fn count(&self) -> u64 {
        self.count
    }

    /// Raises the count to at least `n` (something unsynced that was not
    /// counted must still be synced).
    #[inline]
    pub fn at_least(&mut self, n: u64) {
        self.count = self.count.max(n);
    }

    /// A sync finished now; with `all`, it covered everything written.
    #[inline]
    pub fn synced(&mut self, all: bool) {
        if all {
            self.count = 0;
        }
        self.last_sync = Instant::now();
    }

    /// Whether `policy` asks for a sync now (by count or by age; the age
    /// counts even when nothing is unsynced: callers check that first).
    #[inline]
    pub fn due(&self, policy: &SyncPolicy) -> bool {
        policy.every.is_some_and(|n| self.count >= n.get())
            || policy
                .interval
                .is_some_and(|iv| self.last_sync.elapsed() >= iv)
    }

    /// Whether the timer must sync at `now` (something is unsynced and
    /// the policy's interval has passed since the last sync).
    #[inline]
    pub fn interval_due(&self, policy: &SyncPolicy, now: Instant) -> bool {
        self.count > 0
            && policy
                .interval
                .is_some_and(|iv| now.saturating_duration_since(self.last_sync) >= iv)
    }

    /// When the timer must sync what is unsynced (`None`: nothing is, or
    /// the policy has no interval).
    #[inline]
    pub fn deadline(&self, policy: &SyncPolicy) -> Option<Instant> {
        match policy.interval {
            Some(iv) if self.count > 0 => Some(self.last_sync + iv),
            _ => None,
        }
    }
}

/// Group commit's numbering: each write (or batch) gets a number when it
/// is issued; one leader at a time makes everything issued so far done
/// (synced, or committed) while the others wait for their number.
#[derive(Debug, Default)]
pub struct GroupCommit {
    /// Numbers issued so far (the last one given).
    issued: u64,
    /// Every number at most this is done; at most `issued`, only grows.
    done: u64,
    /// A leader is at work outside the lock.
    leading: bool,
}

impl GroupCommit {
    /// Issues the next number.
    #[inline]
    pub fn issue(&mut self) -> u64 {
        self.issued += 1;
        self.issued
    }

    /// The last number issued.
    #[inline]
    pub fn issued(&self) -> u64 {
        self.issued
    }

    /// Whether number `n` is done.
    #[inline]
    pub fn is_done(&self, n: u64) -> bool {
        self.done >= n
    }

    /// Whether everything issued is done.
    #[inline]
    pub fn all_done(&self) -> bool {
        self.done >= self.issued
    }

    /// How many issued numbers are not done yet.
    #[inline]
    pub fn outstanding(&self) -> u64 {
        self.issued - self.done
    }

    /// Whether a leader is at work.
    #[inline]
    pub fn leading(&self) -> bool {
        self.leading
    }

    /// Becomes the leader; returns the number it will make done.
    #[inline]
    pub fn lead(&mut self) -> u64 {
        self.leading = true;
        self.issued
    }

    /// The leader's work ended (done or failed).
    #[inline]
    pub fn stop_leading(&mut self) {
        self.leading = false;
    }

    /// Everything through `through` is done; `false` (nothing changes)
    /// when a later number already was.
    #[inline]
    pub fn complete(&mut self, through: u64) -> bool {
        if through < self.done {
            return false;
        }
        self.done = through;
        true
    }
}

/// The file store's gathering before a group fsync: the leader waits (at
/// most half an fsync) until as many writes are outstanding as there were
/// `Sync` writers inside at once since the last group fsync. Without the
/// wait the writers split into two groups that alternate, each fsync
/// covering half of them. One thread alone never waits.
#[derive(Debug, Default)]
pub struct Gather {
    /// `Sync`-level calls inside the writer now.
    inside: u32,
    /// The most inside at once since the last group fsync started: how
    /// many writes the next leader waits for.
    peak: u32,
    /// A waiter is keeping time for more writes before the fsync.
    gathering: bool,
    /// Moving average of a group fsync's duration (zero before the first).
    fsync_ewma: Duration,
}

impl Gather {
    /// A `Sync` call entered.
    #[inline]
    pub fn enter(&mut self) {
        self.inside += 1;
        self.peak = self.peak.max(self.inside);
    }

    /// A `Sync` call left.
    #[inline]
    pub fn leave(&mut self) {
        self.inside -= 1;
    }

    /// How many outstanding writes a leader waits for.
    #[inline]
    pub fn want(&self) -> u64 {
        u64::from(self.peak)
    }

    /// Whether a leader that sees `outstanding` writes should wait for
    /// more, and for how long at most.
    #[inline]
    pub fn wait_for(&self, outstanding: u64) -> Option<Duration> {
        (outstanding < self.want() && !self.fsync_ewma.is_zero()).then(|| self.fsync_ewma / 2)
    }

    /// Marks a leader gathering (or done gathering).
    #[inline]
    pub fn set_gathering(&mut self, on: bool) {
        self.gathering = on;
    }

    /// Whether a waiter is gathering now (the others wait for the fsync
    /// instead of keeping time too).
    #[inline]
    pub fn gathering(&self) -> bool {
        self.gathering
    }

    /// A group fsync starts: the next one waits for as many as are inside.
    #[inline]
    pub fn start_round(&mut self) {
        self.peak = self.inside;
    }

    /// A group fsync took `took`.
    #[inline]
    pub fn record(&mut self, took: Duration) {
        self.fsync_ewma = if self.fsync_ewma.is_zero() {
            took
        } else {
            (self.fsync_ewma * 7 + took) / 8
        };
    }
}

/// What `Buffered` holds in memory: `items` (bytes of lines, or rows) in
/// seq order, how many lines, the last own-session seq among them, and
/// since when.
#[derive(Debug, Default)]
pub struct Pending<B> {
    /// The lines or rows not yet written.
    pub items: B,
    /// How many lines (rows) `items` holds.
    lines: u64,
    /// The last own-session seq in `items`.
    last_own: Option<u64>,
    /// When `items` became non-empty; `None` while empty.
    since: Option<Instant>,
}

/// What was taken from a [`Pending`] to be written.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Taken {
    /// How many lines (rows).
    pub lines: u64,
    /// The last own-session seq among them.
    pub last_own: Option<u64>,
}

impl<B> Pending<B> {
    /// `lines` more were put in `items`, the last own-session seq among
    /// them being `last_own` (if any).
    #[inline]
    pub fn added(&mut self, lines: u64, last_own: Option<u64>) {
        self.lines += lines;
        if last_own.is_some() {
            self.last_own = last_own;
        }
    }

    /// Starts the delay of `Buffered` unless it runs: `true` when it just
    /// started (the timer must be woken to write them after the delay).
    #[inline]
    pub fn start_clock(&mut self) -> bool {
        if self.since.is_none() {
            self.since = Some(Instant::now());
            return true;
        }
        false
    }

    /// Takes the count and seq of what `items` holds (the caller takes
    /// `items`); the buffer counts as empty from now on.
    #[inline]
    pub fn take(&mut self) -> Taken {
        self.since = None;
        Taken {
            lines: std::mem::take(&mut self.lines),
            last_own: self.last_own.take(),
        }
    }

    /// Whether anything waits and has waited `max_delay` at `now`.
    #[inline]
    pub fn due(&self, now: Instant, max_delay: Duration) -> bool {
        self.since
            .is_some_and(|t| now.duration_since(t) >= max_delay)
    }

    /// When the timer must write what waits (`None`: nothing does).
    #[inline]
    pub fn deadline(&self, max_delay: Duration) -> Option<Instant> {
        self.since.map(|t| t + max_delay)
    }
}

/// What one turn of a timer asks [`run_ticker`] to do next.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Tick {
    /// The writer is closed: end the thread.
    Stop,
    /// Run the next turn at once (work was done; look again).
    Again,
    /// Sleep this long (at least the loop's floor) or until woken.
    Sleep(Duration),
}

/// The longest a timer sleeps when nothing is due.
pub const IDLE_WAIT: Duration = Duration::from_secs(3600);

/// How long to sleep from `now` until the first of `deadlines`
/// ([`IDLE_WAIT`] when none).
pub fn sleep_until_first(now: Instant, deadlines: &[Option<Instant>]) -> Duration {
    deadlines
        .iter()
        .flatten()
        .fold(IDLE_WAIT, |w, d| w.min(d.saturating_duration_since(now)))
}

/// The background timer's loop: takes `state`'s lock and calls `turn` with
/// it until it says [`Tick::Stop`], sleeping on `wake` between turns as it
/// asks (never less than `floor`, so a deadline just missed cannot spin).
pub fn run_ticker<'a, S>(
    state: &'a Mutex<S>,
    wake: &Condvar,
    floor: Duration,
    mut turn: impl FnMut(MutexGuard<'a, S>) -> (MutexGuard<'a, S>, Tick),
) {
    let mut st = lock_ignoring_poison(state);
    loop {
        let (guard, next) = turn(st);
        st = match next {
            Tick::Stop => return,
            Tick::Again => guard,
            Tick::Sleep(d) => wait_timeout_ignoring_poison(wake, guard, d.max(floor)),
        };
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seqs_continue_per_session_and_are_given_back_in_reverse() {
        let own = SessionId::new("own");
        let other = SessionId::new("other");
        let mut a = SeqAllocator::new(own.clone(), 5, HashMap::new());
        let evs = [
            Event::new("a"),
            Event::new("b").session(other.clone()),
            Event::new("c").session(own.clone()),
            Event::new("d").session(other.clone()),
        ];
        let got: Vec<Assigned> = evs.iter().map(|e| a.assign(e)).collect();
        let seqs: Vec<(u64, bool)> = got.iter().map(|g| (g.seq, g.own)).collect();
        assert_eq!(seqs, [(5, true), (0, false), (6, true), (1, false)]);
        a.unassign(&evs[2..]);
        assert_eq!((a.next_own(), a.others()[&other]), (6, 1));
        assert!(a.knows(&own) && a.knows(&other));
        a.learn(&other, 40);
        assert_eq!(a.others()[&other], 1, "a known session keeps its count");
        a.learn(&SessionId::new("new"), 40);
        assert_eq!(
            a.assign(&Event::new("e").session(SessionId::new("new")))
                .seq,
            40
        );
    }

    #[test]
    fn lifecycle_keeps_the_first_cause_and_refuses_closed_first() {
        let mut l = Lifecycle::new();
        assert_eq!(l.check(), Ok(()));
        l.poison(&"first");
        l.poison(&"second");
        assert_eq!(l.check(), Err(Refusal::Poisoned("first".into())));
        l.close();
        assert_eq!(l.check(), Err(Refusal::Closed));
        assert_eq!(l.check_poisoned(), Err(Refusal::Poisoned("first".into())));
    }

    #[test]
    fn group_commit_completes_monotonically() {
        let mut g = GroupCommit::default();
        let (a, b) = (g.issue(), g.issue());
        assert_eq!(g.outstanding(), 2);
        assert_eq!(g.lead(), b);
        assert!(g.complete(b));
        assert!(!g.complete(a), "an older target never moves it back");
        assert!(g.is_done(a) && g.all_done());
    }

    #[test]
    fn gather_waits_only_with_a_measured_fsync_and_too_few_writes() {
        let mut g = Gather::default();
        g.enter();
        g.enter();
        assert_eq!(g.wait_for(1), None, "no fsync measured yet");
        g.record(Duration::from_millis(8));
        assert_eq!(g.wait_for(1), Some(Duration::from_millis(4)));
        assert_eq!(g.wait_for(2), None);
        g.record(Duration::from_millis(16));
        assert_eq!(g.wait_for(0), Some(Duration::from_micros(4500)));
        g.leave();
        g.start_round();
        assert_eq!(g.want(), 1);
    }

    #[test]
    fn policy_and_pending_deadlines() {
        let policy = SyncPolicy {
            every: NonZeroU64::new(3),
            interval: Some(Duration::from_secs(60)),
        };
        let mut u = Unsynced::default();
        assert_eq!(u.deadline(&policy), None);
        u.add(2);
        assert!(!u.due(&policy) && u.deadline(&policy).is_some());
        u.add(1);
        assert!(u.due(&policy));
        u.synced(false);
        assert_eq!(u.count(), 3);
        u.synced(true);
        assert_eq!(u.count(), 0);

        let mut p: Pending<Vec<u8>> = Pending::default();
        p.added(2, Some(7));
        assert!(p.start_clock());
        p.added(1, None);
        assert!(!p.start_clock());
        let now = Instant::now();
        assert!(p.due(now + Duration::from_secs(1), Duration::from_millis(1)));
        assert_eq!(
            p.take(),
            Taken {
                lines: 3,
                last_own: Some(7)
            }
        );
        assert_eq!(p.deadline(Duration::ZERO), None);
        assert_eq!(sleep_until_first(now, &[None, None]), IDLE_WAIT);
        let soon = now + Duration::from_millis(5);
        assert_eq!(
            sleep_until_first(now, &[None, Some(soon)]),
            Duration::from_millis(5)
        );
    }

    #[test]
    fn watermarks_move_only_on_own_seqs() {
        let mut w = Watermarks::default();
        w.wrote(Some(3));
        w.wrote(None);
        w.synced_through(None);
        assert_eq!(
            w.get(),
            Watermark {
                written: Some(3),
                synced: None
            }
        );
        w.synced_through(w.written());
        assert_eq!(w.get().synced, Some(3));
    }
}
