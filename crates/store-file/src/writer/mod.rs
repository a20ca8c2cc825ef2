//! [`FileStore`]: the writer. One live segment appended with `O_APPEND`,
//! the durability level and fsync policy of docs/durability.md, group
//! commit, rotation under an exclusive `flock`, background compression and
//! a background timer.
//!
//! The bookkeeping (seqs, watermarks, poisoning, the fsync policy, group
//! commit, the `Buffered` buffer, the timer loop) is core's writer core
//! (`scout_audit_core::writer`), shared with the table backends; this
//! folder adds the file: this file holds the public API and the state,
//! `open.rs` opening, `commit.rs` the append path and its fsyncs,
//! `group.rs` group commit for `Sync` (the queue and its leader),
//! `rotate.rs` rotation and following other writers' rotations,
//! `threads.rs` the timer and compressor threads, and `autoseal.rs` the
//! sealing thread of a store set up for sealing.

mod autoseal;
mod commit;
mod group;
mod open;
mod rotate;
mod threads;

use std::path::{Path, PathBuf};
use std::sync::mpsc::{self, Sender};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::Duration;

use scout_audit_core::writer::{
    Gather, GroupCommit, Lifecycle, Pending, Refusal, SeqAllocator, SyncPolicy, Unsynced,
    Watermarks, lock_ignoring_poison,
};
use scout_audit_core::{
    Clock, Durability, Event, Receipt, SessionId, Sink, SystemClock, Watermark, WriterId,
};

use crate::error::{Error, Result};
use crate::fs::{FileId, Fs, LockFile, RealFs, WriteFile};
use crate::layout::Layout;
use crate::options::{Compression, FsyncPolicy, Retention, RotateSize, SealInterval, SharedDir};
use crate::recovery::RecoveryReport;

use self::open::RegistryKey;
use self::threads::Job;

/// Builds a [`FileStore`]; every setting has the default of
/// docs/durability.md.
#[derive(Clone, Debug)]
pub struct Builder {
    path: PathBuf,
    fs: Arc<dyn Fs>,
    clock: Arc<dyn Clock>,
    durability: Durability,
    fsync: FsyncPolicy,
    max_delay: Duration,
    rotate: RotateSize,
    retention: Retention,
    compression: Compression,
    session: Option<SessionId>,
    shared_dir: SharedDir,
    seal_interval: SealInterval,
}

impl Builder {
    /// How long lines may wait for their seal on a store set up for
    /// sealing (default [`SealInterval::DEFAULT`], 1 s; a store that is not
    /// set up is never sealed or touched).
    pub fn seal_interval(mut self, s: SealInterval) -> Self {
        self.seal_interval = s;
        self
    }

    /// Whether a store directory group or others can write is accepted
    /// (default [`SharedDir::Refuse`]: opening fails, naming the directory
    /// and its mode).
    pub fn shared_dir(mut self, s: SharedDir) -> Self {
        self.shared_dir = s;
        self
    }

    /// The durability level `log` acknowledges at (default `Process`).
    pub fn durability(mut self, d: Durability) -> Self {
        self.durability = d;
        self
    }

    /// The fsync policy on top of `Process` and `Buffered` (default
    /// [`FsyncPolicy::PYTHON`]).
    pub fn fsync_policy(mut self, p: FsyncPolicy) -> Self {
        self.fsync = p;
        self
    }

    /// How long a `Buffered` event may wait in memory (default 50 ms).
    pub fn max_delay(mut self, d: Duration) -> Self {
        self.max_delay = d;
        self
    }

    /// The rotation size (default 10 MiB).
    pub fn rotate_size(mut self, r: RotateSize) -> Self {
        self.rotate = r;
        self
    }

    /// Which archives to delete (default: none).
    pub fn retention(mut self, r: Retention) -> Self {
        self.retention = r;
        self
    }

    /// Whether sealed segments are compressed (default: in the background).
    pub fn compression(mut self, c: Compression) -> Self {
        self.compression = c;
        self
    }

    /// The writer session (default: [`SessionId::process`]). A given
    /// session's records are stamped with this open's `writer` id, since
    /// another process may write under the same session id.
    pub fn session(mut self, s: SessionId) -> Self {
        self.session = Some(s);
        self
    }

    /// The clock for `ts` and seal times (default: the system clock).
    pub fn clock(mut self, c: Arc<dyn Clock>) -> Self {
        self.clock = c;
        self
    }

    /// The file system (default: the real one; tests put a simulated or
    /// fault-injecting one here).
    pub fn file_system(mut self, fs: Arc<dyn Fs>) -> Self {
        self.fs = fs;
        self
    }

    /// Opens the store: creates its directory (0700) if needed, takes the
    /// exclusive lock, recovers (docs/durability.md), opens the live file
    /// (0600) and starts the background threads.
    pub fn open(self) -> Result<FileStore> {
        open::open(self)
    }
}

/// The embedded file store, a [`Sink`]. Cheap to clone; all clones share
/// one writer. Dropping the last clone closes it (errors then are lost:
/// call [`FileStore::close`] to see them).
#[derive(Clone, Debug)]
pub struct FileStore {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    shared: Arc<Shared>,
    /// What the last query through this store skipped.
    skipped: Arc<Mutex<scout_audit_core::Skipped>>,
    ticker: Mutex<Option<JoinHandle<()>>>,
    compressor: Mutex<Option<JoinHandle<()>>>,
    /// The sealing thread, when the store seals automatically.
    sealer: Mutex<Option<JoinHandle<()>>>,
}

/// The writer's settings, fixed at open.
#[derive(Debug)]
struct Settings {
    durability: Durability,
    /// The builder's [`FsyncPolicy`] as the writer core's policy.
    policy: SyncPolicy,
    max_delay: Duration,
    rotate: RotateSize,
    compression: Compression,
}

/// Who this writer is, as its records say.
#[derive(Debug)]
struct Identity {
    session: SessionId,
    /// This open's stamp for records under a session it did not generate.
    writer: WriterId,
    /// The session was given (`Builder::session`): own records are stamped too.
    stamp_own: bool,
}

/// What every thread of one writer shares: the settings, the state under
/// its lock, and the condition variables of group commit and the timer.
#[derive(Debug)]
pub(crate) struct Shared {
    pub(crate) fs: Arc<dyn Fs>,
    pub(crate) layout: Layout,
    /// `layout.live()` and `layout.lock()`, computed once: the append path
    /// must not allocate paths.
    live_path: PathBuf,
    lock_path: PathBuf,
    pub(crate) clock: Arc<dyn Clock>,
    settings: Settings,
    pub(crate) retention: Retention,
    identity: Identity,
    /// This open's entry in the process's registry of open writers.
    registry_key: RegistryKey,
    /// This writer's handle on the lock file: shared while appending,
    /// exclusive while rotating or recovering. Used only under `state`.
    lock: Arc<dyn LockFile>,
    state: Mutex<State>,
    /// Signalled when writes become durable, a leader finishes, or the
    /// writer is poisoned or closed.
    synced_cv: Condvar,
    /// Wakes a gathering group-commit leader when enough writes arrived.
    gather_cv: Condvar,
    /// Wakes the background timer.
    ticker_cv: Condvar,
    /// Queue of the compressor thread; `None` once closing.
    compress_tx: Mutex<Option<Sender<Job>>>,
    /// The first failure of a background task (compression, retention,
    /// sealing).
    pub(crate) bg_error: Mutex<Option<Error>>,
    /// Automatic sealing; `None` when the store is not set up for sealing
    /// (or the interval is off): then no thread runs and no seal file is
    /// touched.
    autoseal: Option<autoseal::AutoSeal>,
    /// What recovery did at open.
    recovery: RecoveryReport,
}

/// The live file this writer appends to.
#[derive(Debug)]
struct Live {
    /// The open file; `None` once closed.
    file: Option<Arc<dyn WriteFile>>,
    /// Device and inode of `file`; a different id at the live path means
    /// another writer rotated (or someone replaced the file).
    id: FileId,
}

/// The writer's state, under `Shared::state`: the writer core's parts
/// plus the live file.
#[derive(Debug)]
struct State {
    live: Live,
    /// Own-session and other sessions' seqs.
    seqs: SeqAllocator,
    /// Own-session watermarks (see [`Watermark`]).
    marks: Watermarks,
    /// `write` calls made (issued) and known durable (done); a leader
    /// fsyncs outside the lock.
    writes: GroupCommit,
    /// How long a group-commit leader waits for more writes.
    gather: Gather,
    /// Lines written since the last fsync, and when it was.
    unsynced: Unsynced,
    /// `Buffered`: encoded lines not yet written, in seq order.
    pending: Pending<Vec<u8>>,
    /// Poisoned after a failed write or fsync, or closed.
    life: Lifecycle,
    /// The highest segment number this writer sealed: a floor for the next
    /// number, whatever a directory listing shows.
    last_number: u64,
    /// Reused encoding buffer.
    scratch: Vec<u8>,
    /// `fdatasync` calls on the live file this writer started (policy,
    /// group commit, flush, close, before a switch of live file); only
    /// grows. Benches divide events by it.
    fsyncs: u64,
    /// How long those calls took in all (measured around each call).
    fsync_time: Duration,
    /// `Sync`: what each line waiting in `pending.items` was given, one
    /// entry a line in order, to give back the seqs of lines a failed
    /// write did not land. Empty at the other levels.
    queued: Vec<Given>,
    /// `Sync`: how many calls have lines waiting in `pending.items`.
    queued_calls: u64,
}

/// The seq a line waiting to be written was given.
#[derive(Debug)]
enum Given {
    /// None (a record imported as it is).
    Nothing,
    /// The next of the writer's own session.
    Own,
    /// The next of this other session.
    Other(SessionId),
}

/// The store's error for a call the writer core refuses.
fn refused(r: Refusal) -> Error {
    match r {
        Refusal::Closed => Error::Closed,
        Refusal::Poisoned(cause) => Error::Poisoned { cause },
    }
}

impl FileStore {
    /// Opens the store at `path` (the live file) with default settings.
    pub fn open(path: impl AsRef<Path>) -> Result<FileStore> {
        FileStore::builder(path).open()
    }

    /// A builder for the store at `path`.
    pub fn builder(path: impl AsRef<Path>) -> Builder {
        Builder {
            path: path.as_ref().to_path_buf(),
            fs: Arc::new(RealFs),
            clock: Arc::new(SystemClock),
            durability: Durability::Process,
            fsync: FsyncPolicy::PYTHON,
            max_delay: Duration::from_millis(50),
            rotate: RotateSize::DEFAULT,
            retention: Retention::KEEP_ALL,
            compression: Compression::Background,
            session: None,
            shared_dir: SharedDir::Refuse,
            seal_interval: SealInterval::DEFAULT,
        }
    }

    /// The live file's path.
    pub fn path(&self) -> PathBuf {
        self.inner.shared.layout.live()
    }

    /// The store's layout.
    pub fn layout(&self) -> &Layout {
        &self.inner.shared.layout
    }

    /// The file system the store uses.
    pub fn file_system(&self) -> Arc<dyn Fs> {
        Arc::clone(&self.inner.shared.fs)
    }

    /// The clock the store uses.
    pub fn clock(&self) -> Arc<dyn Clock> {
        Arc::clone(&self.inner.shared.clock)
    }

    /// What recovery did when the store was opened.
    pub fn recovery_report(&self) -> &RecoveryReport {
        &self.inner.shared.recovery
    }

    /// Logs one event; returns once it is durable at the store's level.
    pub fn append(&self, event: Event) -> Result<Receipt> {
        let mut r = self.append_batch(vec![event])?;
        r.pop().ok_or(Error::Closed)
    }

    /// Logs events as one batch: one `write`, and for `Sync` one fsync
    /// shared with concurrent writers.
    pub fn append_batch(&self, events: Vec<Event>) -> Result<Vec<Receipt>> {
        self.inner.shared.log_batch(events)
    }

    /// Writes what is buffered and fsyncs: every event acknowledged so far
    /// survives power loss.
    pub fn sync(&self) -> Result<()> {
        let sh = &self.inner.shared;
        let mut st = sh.lock_state();
        sh.check_open(&st)?;
        sh.write_pending(&mut st)?;
        sh.sync_locked(&mut st)
    }

    /// Writes what is buffered, without fsync (read-your-writes for
    /// `Buffered` stores).
    pub fn write_buffered(&self) -> Result<()> {
        let sh = &self.inner.shared;
        let mut st = sh.lock_state();
        sh.check_open(&st)?;
        sh.write_pending(&mut st)
    }

    /// Seals the live segment now (if it holds anything), as a size
    /// rotation would. Returns the sealed segment's name.
    pub fn rotate(&self) -> Result<Option<String>> {
        let sh = &self.inner.shared;
        let mut st = sh.lock_state();
        sh.check_open(&st)?;
        sh.write_pending(&mut st)?;
        sh.rotate(&mut st, None)
    }

    /// Flushes, stops the background threads (waiting for compression to
    /// finish), seals what is left on a store set up for sealing, and
    /// releases the store. Returns the first error met, including a
    /// failure of background compression or sealing (which loses nothing:
    /// the next open retries compression, the next seal seals the lines).
    /// Closing twice is not an error.
    pub fn close(&self) -> Result<()> {
        self.inner.close()
    }

    /// The store's durability level.
    pub fn durability_level(&self) -> Durability {
        self.inner.shared.settings.durability
    }

    /// The writer session.
    pub fn session_id(&self) -> &SessionId {
        &self.inner.shared.identity.session
    }

    /// How many `fdatasync` calls on the live file this writer has started
    /// since it was opened (by the fsync policy, group commit, `sync`,
    /// `close` and a switch of live file; not the rotation's own). Benches
    /// report events per fsync with it.
    pub fn fsyncs(&self) -> u64 {
        self.inner.shared.lock_state().fsyncs
    }

    /// How long the `fdatasync` calls [`FileStore::fsyncs`] counts took
    /// in all: divided by their number, the fsync latency in the run
    /// itself (benches give the ceiling of fsync'd writes with it).
    pub fn fsync_time(&self) -> Duration {
        self.inner.shared.lock_state().fsync_time
    }

    /// How far this writer's own-session events have got.
    pub fn watermark_now(&self) -> Watermark {
        self.inner.shared.lock_state().marks.get()
    }

    /// Blocks until the compressor has nothing queued or running (tests and
    /// the demo use it to show archives appear).
    pub fn wait_compressed(&self) {
        let (tx, rx) = mpsc::channel::<()>();
        let sent = {
            let g = lock_ignoring_poison(&self.inner.shared.compress_tx);
            g.as_ref().is_some_and(|q| q.send(Job::Marker(tx)).is_ok())
        };
        if sent {
            // The compressor answers when it reaches the marker.
            let _ = rx.recv();
        }
    }

    /// Where queries through this store record what they skipped.
    pub(crate) fn skipped_cell(&self) -> Arc<Mutex<scout_audit_core::Skipped>> {
        Arc::clone(&self.inner.skipped)
    }

    /// The first background failure so far, as text.
    pub fn background_error(&self) -> Option<String> {
        lock_ignoring_poison(&self.inner.shared.bg_error)
            .as_ref()
            .map(ToString::to_string)
    }
}

impl Inner {
    fn close(&self) -> Result<()> {
        let sh = &self.shared;
        let first = {
            let mut st = sh.lock_state();
            if st.life.is_closed() {
                return Ok(());
            }
            let r = st
                .life
                .check_poisoned()
                .map_err(refused)
                .and_then(|()| sh.write_pending(&mut st))
                .and_then(|()| sh.sync_locked(&mut st));
            st.life.close();
            st.live.file = None;
            // Park the seq counters so a reopen in this process continues them.
            open::park(&sh.registry_key, &st.seqs);
            r
        };
        sh.ticker_cv.notify_all();
        sh.synced_cv.notify_all();
        if let Some(t) = lock_ignoring_poison(&self.ticker).take() {
            let _ = t.join();
        }
        // What this writer made durable last is sealed before it lets go.
        sh.stop_sealing(lock_ignoring_poison(&self.sealer).take());
        drop(lock_ignoring_poison(&sh.compress_tx).take());
        if let Some(t) = lock_ignoring_poison(&self.compressor).take() {
            let _ = t.join();
        }
        first?;
        match lock_ignoring_poison(&sh.bg_error).take() {
            Some(e) => Err(e),
            None => Ok(()),
        }
    }
}

impl Drop for Inner {
    fn drop(&mut self) {
        // Errors cannot be returned from drop; `close()` reports them.
        let _ = self.close();
    }
}

impl Shared {
    fn lock_state(&self) -> MutexGuard<'_, State> {
        lock_ignoring_poison(&self.state)
    }

    fn check_open(&self, st: &State) -> Result<()> {
        st.life.check().map_err(refused)
    }

    /// Poisons the writer with `e` (unless already poisoned) and wakes
    /// every waiter; returns `e`.
    fn poison(&self, st: &mut State, e: Error) -> Error {
        st.life.poison(&e);
        self.synced_cv.notify_all();
        e
    }

    pub(crate) fn record_bg_error(&self, e: Error) {
        let mut g = lock_ignoring_poison(&self.bg_error);
        if g.is_none() {
            *g = Some(e);
        }
    }
}

impl Sink for FileStore {
    fn log(&self, event: Event) -> Result<Receipt, scout_audit_core::Error> {
        Ok(self.append(event)?)
    }

    fn log_batch(&self, events: Vec<Event>) -> Result<Vec<Receipt>, scout_audit_core::Error> {
        Ok(self.append_batch(events)?)
    }

    fn import(
        &self,
        records: Vec<scout_audit_core::Record>,
    ) -> Result<u64, scout_audit_core::Error> {
        Ok(self.inner.shared.import(&records)?)
    }

    fn flush(&self) -> Result<(), scout_audit_core::Error> {
        Ok(self.sync()?)
    }

    fn close(&self) -> Result<(), scout_audit_core::Error> {
        Ok(FileStore::close(self)?)
    }

    fn durability(&self) -> Durability {
        self.durability_level()
    }

    fn session(&self) -> SessionId {
        self.session_id().clone()
    }

    fn watermark(&self) -> Watermark {
        self.watermark_now()
    }
}
