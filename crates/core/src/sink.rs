//! The [`Sink`] trait: where events go, with durable acknowledgements.

use std::fmt;
use std::str::FromStr;

use crate::{Error, Event, SessionId, Timestamp};

/// How durable an event is when [`Sink::log`] returns `Ok`. Chosen once,
/// when the sink is opened; the sink never guesses.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Durability {
    /// In the sink's memory; a background task writes it soon (the file
    /// store: within its `max_delay`). Nothing survives a crash before that.
    Buffered,
    /// Handed to the kernel (or the server): survives a crash of this
    /// process, not of the machine, until the next fsync.
    #[default]
    Process,
    /// On stable storage (fsync'd): survives power loss. Concurrent
    /// writers share one fsync (group commit).
    Sync,
}

impl Durability {
    /// All levels, weakest first.
    pub const ALL: [Durability; 3] = [Durability::Buffered, Durability::Process, Durability::Sync];

    /// The level's name: `buffered`, `process` or `sync`.
    pub fn name(self) -> &'static str {
        match self {
            Durability::Buffered => "buffered",
            Durability::Process => "process",
            Durability::Sync => "sync",
        }
    }
}

impl fmt::Display for Durability {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Durability {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Durability::ALL
            .into_iter()
            .find(|d| d.name() == s)
            .ok_or_else(|| format!("unknown durability {s:?} (expected buffered, process or sync)"))
    }
}

/// What [`Sink::log`] returns: the event is durable at the sink's level.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Receipt {
    /// The event's `seq` in its writer session.
    pub seq: u64,
    /// The `ts` written.
    pub ts: Timestamp,
}

/// How far a writer session's events have got: every event with
/// `seq <= written` is in the kernel (or the server), every event with
/// `seq <= synced` is on stable storage. `None`: none yet.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Watermark {
    /// Highest seq such that it and all before it were written.
    pub written: Option<u64>,
    /// Highest seq such that it and all before it were synced.
    pub synced: Option<u64>,
}

/// A destination for events.
///
/// **Contract.** `log` returns `Ok` only once the event is durable at
/// [`Sink::durability`]; `Err` means the event was not acknowledged (it may
/// or may not be stored). Events of one writer session get contiguous
/// `seq` numbers from 0, in the order their `log` calls were serialized,
/// and are stored in that order. After an IO failure the sink is poisoned
/// ([`Error::Poisoned`]) and refuses further events. `flush` makes every
/// acknowledged event survive power loss; `close` flushes and releases the
/// sink. Implementations are `Send + Sync` and are shared between threads.
pub trait Sink: Send + Sync {
    /// Logs one event; returns once it is durable at [`Sink::durability`].
    fn log(&self, event: Event) -> Result<Receipt, Error>;

    /// Logs events in order as one batch (one write, one fsync where the
    /// level asks for one); returns their receipts once all are durable.
    fn log_batch(&self, events: Vec<Event>) -> Result<Vec<Receipt>, Error> {
        events.into_iter().map(|e| self.log(e)).collect()
    }

    /// Stores records read from another store as they are, with their own
    /// `ts`, `session_id` and `seq` (a copy between backends); returns how
    /// many it stored, once durable at [`Sink::durability`]. Backends
    /// with a unique key ([`crate::Record::dedup_key`], the same only for
    /// the same record) skip records they already hold and do not count
    /// them; others store (and count) what they are given, and the caller
    /// de-duplicates (as `scout-audit copy` does).
    fn import(&self, records: Vec<crate::Record>) -> Result<u64, Error>;

    /// Makes every event acknowledged so far survive power loss.
    fn flush(&self) -> Result<(), Error>;

    /// Flushes and releases the sink; later calls fail with [`Error::Closed`].
    fn close(&self) -> Result<(), Error>;

    /// The level at which `log` acknowledges.
    fn durability(&self) -> Durability;

    /// The writer session whose `seq` this sink assigns.
    fn session(&self) -> SessionId;

    /// How far this writer session's events have got.
    fn watermark(&self) -> Watermark;
}
