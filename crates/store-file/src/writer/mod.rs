//! [`FileStore`]: the writer. One live segment appended with `O_APPEND`,
//! the durability level and fsync policy of docs/durability.md, group
//! commit, rotation under an exclusive `flock`, background compression and
//! a background timer.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::mpsc::{self, Sender};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, OnceLock};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use scout_audit_core::{
    Clock, Durability, Event, Receipt, SessionId, Sink, SystemClock, Timestamp, Watermark, WriterId,
};

use crate::compress;
use crate::error::{Error, Result, check_line_len};
use crate::fs::{Fs, LockFile, RealFs, WriteFile};
use crate::layout::{Layout, Segment};
use crate::mutant;
use crate::options::{Compression, FsyncPolicy, Retention, RotateSize, SharedDir};
use crate::recovery::{self, RecoveryReport};

/// A buffered store writes its buffer inline once it holds this much.
const MAX_PENDING: usize = 1 << 20;

/// Work for the compressor thread.
#[derive(Debug)]
enum Job {
    /// Compress a sealed segment, then apply retention.
    Compress(Segment),
    /// Write the missing index of one of the store's archives.
    Index(Segment),
    /// Answer when reached: everything queued before is done.
    Marker(Sender<()>),
}

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
}

impl Builder {
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
        FileStore::open_with(self)
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
}

#[derive(Debug)]
pub(crate) struct Shared {
    pub(crate) fs: Arc<dyn Fs>,
    pub(crate) layout: Layout,
    /// `layout.live()` and `layout.lock()`, computed once: the append path
    /// must not allocate paths.
    live_path: PathBuf,
    lock_path: PathBuf,
    pub(crate) clock: Arc<dyn Clock>,
    durability: Durability,
    fsync: FsyncPolicy,
    max_delay: Duration,
    rotate: RotateSize,
    pub(crate) retention: Retention,
    compression: Compression,
    session: SessionId,
    /// This open's stamp for records under a session it did not generate.
    writer: WriterId,
    /// The session was given (`Builder::session`): own records are stamped too.
    stamp_own: bool,
    registry_key: (PathBuf, SessionId),
    /// This writer's handle on the lock file: shared while appending,
    /// exclusive while rotating or recovering. Used only under `state`.
    lock: Arc<dyn LockFile>,
    state: Mutex<State>,
    /// Signalled when `synced_writes` advances, a leader finishes, or the
    /// writer is poisoned or closed.
    synced_cv: Condvar,
    /// Wakes a gathering group-commit leader when enough writes arrived.
    gather_cv: Condvar,
    /// Wakes the background timer.
    ticker_cv: Condvar,
    /// Queue of the compressor thread; `None` once closing.
    compress_tx: Mutex<Option<Sender<Job>>>,
    /// The first failure of a background task (compression, retention).
    pub(crate) bg_error: Mutex<Option<Error>>,
    /// The archive the compressor indexed last: its identity was recorded
    /// milliseconds after it was made (racy), so the compressor refreshes
    /// it when it indexes the next one.
    pub(crate) last_indexed: Mutex<Option<Segment>>,
    /// What recovery did at open.
    recovery: RecoveryReport,
}

#[derive(Debug)]
struct State {
    /// The live file we append to; `None` once closed.
    live: Option<Arc<dyn WriteFile>>,
    /// Device and inode of `live`; a different id at the live path means
    /// another writer rotated (or someone replaced the file).
    live_id: (u64, u64),
    /// The next `seq` of the writer's own session.
    next_seq: u64,
    /// The next `seq` of sessions given per event.
    other_seqs: HashMap<SessionId, u64>,
    /// `write` calls made; `synced_writes` of them are known durable.
    writes: u64,
    /// Every write numbered at most this is on stable storage.
    synced_writes: u64,
    /// Own-session watermarks (see [`Watermark`]).
    written_seq: Option<u64>,
    synced_seq: Option<u64>,
    /// Lines written since the last fsync (for the policy's line bound).
    unsynced_lines: u64,
    /// When the last fsync finished (for the policy's interval).
    last_sync: Instant,
    /// The highest segment number this writer sealed: a floor for the next
    /// number, whatever a directory listing shows.
    last_number: u64,
    /// A group-commit leader is fsyncing outside the lock.
    syncing: bool,
    /// `Sync`-level calls inside `log_batch` now.
    sync_inside: u32,
    /// The most calls inside at once since the last group fsync started:
    /// how many writes the next leader waits for.
    sync_inside_peak: u32,
    /// A leader is waiting for more writes before it fsyncs.
    gathering: bool,
    /// Moving average of a group fsync's duration; a leader waits at most
    /// half of it for more writes to join.
    fsync_ewma: Duration,
    /// `Buffered`: encoded lines not yet written, in seq order.
    pending: Vec<u8>,
    pending_lines: u64,
    /// The last own-session seq in `pending`.
    pending_last_seq: Option<u64>,
    /// When `pending` became non-empty.
    pending_since: Option<Instant>,
    /// Why the writer refuses events, after a failed write or fsync.
    poisoned: Option<String>,
    closed: bool,
    /// Reused encoding buffer.
    scratch: Vec<u8>,
}

/// Per (store, writer session) in this process: whether a writer is open,
/// and where the seq counters continue when it is opened again.
#[derive(Debug, Default, Clone)]
struct Registered {
    open: bool,
    next_seq: u64,
    other_seqs: HashMap<SessionId, u64>,
}

type Registry = Mutex<HashMap<(PathBuf, SessionId), Registered>>;

fn registry() -> &'static Registry {
    static REG: OnceLock<Registry> = OnceLock::new();
    REG.get_or_init(Default::default)
}

pub(crate) fn lock_ignoring_poison<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// The absolute, lexically normalized form of a path (no file-system calls).
fn absolute(path: &Path) -> PathBuf {
    let abs = if path.is_absolute() {
        path.to_path_buf()
    } else {
        std::env::current_dir().unwrap_or_default().join(path)
    };
    let mut out = PathBuf::new();
    for c in abs.components() {
        match c {
            std::path::Component::ParentDir => {
                out.pop();
            }
            std::path::Component::CurDir => {}
            other => out.push(other),
        }
    }
    out
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
        }
    }

    fn open_with(b: Builder) -> Result<FileStore> {
        let layout = Layout::new(&b.path).map_err(|reason| Error::InvalidPath {
            path: b.path.clone(),
            reason,
        })?;
        let fs = b.fs;
        let live = layout.live();
        crate::reader::check_dir(&*fs, &layout)?;
        create_dir_durably(&*fs, layout.dir())?;
        b.shared_dir.check(&*fs, layout.dir())?;
        match fs.lstat(&live) {
            Ok(m) if m.is_dir => {
                return Err(Error::InvalidPath {
                    path: live,
                    reason: "is a directory".into(),
                });
            }
            Ok(m) if !m.is_file => return Err(foreign(&live)),
            Ok(_) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(Error::io("stat", live, e)),
        }
        // Before the lock file is made: a file where no writer of ours was
        // ever opened (no lock file) that holds no record is not an
        // audit log (a wrong path), and is not modified.
        let lock_path = layout.lock();
        match fs.lstat(&lock_path) {
            Ok(m) if !m.is_file => return Err(foreign(&lock_path)),
            Ok(_) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                match recovery::check_is_log(&*fs, &layout) {
                    // Another writer may have made the store meanwhile (it
                    // creates the lock file before the live file's first
                    // byte): then the fragment read is its, not a foreign file.
                    Err(e @ Error::NotALog { .. }) if fs.lstat(&lock_path).is_err() => {
                        return Err(e);
                    }
                    Err(Error::NotALog { .. }) => {}
                    other => other?,
                }
            }
            Err(e) => return Err(Error::io("stat", lock_path, e)),
        }
        let stamp_own = b.session.is_some();
        let session = b.session.unwrap_or_else(SessionId::process);
        let key = (absolute(&live), session.clone());
        let (next_seq, other_seqs) = {
            let mut reg = lock_ignoring_poison(registry());
            let entry = reg.entry(key.clone()).or_default();
            if entry.open {
                return Err(Error::AlreadyOpen {
                    path: live,
                    session,
                });
            }
            entry.open = true;
            (entry.next_seq, entry.other_seqs.clone())
        };
        let release = |next: u64, others: HashMap<SessionId, u64>| {
            let mut reg = lock_ignoring_poison(registry());
            reg.insert(
                key.clone(),
                Registered {
                    open: false,
                    next_seq: next,
                    other_seqs: others,
                },
            );
        };
        let opened = (|| {
            let lock_path = layout.lock();
            let lock = fs
                .open_lock(&lock_path, true)
                .map_err(|e| Error::io("open lock file", &lock_path, e))?;
            lock.lock_exclusive()
                .map_err(|e| Error::io("lock", &lock_path, e))?;
            let r = (|| {
                let report = recovery::recover(&*fs, &layout, &*b.clock, &b.retention)?;
                let (file, created) = open_live(&*fs, &layout)?;
                if created {
                    fs.sync_dir(layout.dir())
                        .map_err(|e| Error::io("fsync directory", layout.dir(), e))?;
                }
                let id = file
                    .meta()
                    .map_err(|e| Error::io("stat", layout.live(), e))?
                    .id;
                Ok::<_, Error>((report, file, id))
            })();
            let unlocked = lock
                .unlock()
                .map_err(|e| Error::io("unlock", &lock_path, e));
            let (report, file, id) = r?;
            unlocked?;
            Ok::<_, Error>((lock, report, file, id))
        })();
        let (lock, report, file, id) = match opened {
            Ok(v) => v,
            Err(e) => {
                release(next_seq, other_seqs);
                return Err(e);
            }
        };
        let to_compress = report.to_compress.clone();
        let to_index = report.to_index.clone();
        let shared = Arc::new(Shared {
            fs,
            live_path: layout.live(),
            lock_path: layout.lock(),
            layout,
            clock: b.clock,
            durability: b.durability,
            fsync: b.fsync,
            max_delay: b.max_delay,
            rotate: b.rotate,
            retention: b.retention,
            compression: b.compression,
            session,
            writer: WriterId::random(),
            stamp_own,
            registry_key: key,
            lock,
            state: Mutex::new(State {
                live: Some(file),
                live_id: id,
                next_seq,
                other_seqs,
                writes: 0,
                synced_writes: 0,
                written_seq: None,
                synced_seq: None,
                unsynced_lines: 0,
                last_sync: Instant::now(),
                last_number: 0,
                syncing: false,
                sync_inside: 0,
                sync_inside_peak: 0,
                gathering: false,
                fsync_ewma: Duration::ZERO,
                pending: Vec::new(),
                pending_lines: 0,
                pending_last_seq: None,
                pending_since: None,
                poisoned: None,
                closed: false,
                scratch: Vec::with_capacity(512),
            }),
            synced_cv: Condvar::new(),
            gather_cv: Condvar::new(),
            ticker_cv: Condvar::new(),
            compress_tx: Mutex::new(None),
            bg_error: Mutex::new(None),
            last_indexed: Mutex::new(None),
            recovery: report,
        });
        let compressor = if shared.compression == Compression::Background {
            // Its own handle on the lock file: flock belongs to an open file
            // description, and the writer's is used by writer threads.
            let bg_lock = shared
                .fs
                .open_lock(&shared.lock_path, true)
                .map_err(|e| Error::io("open lock file", &shared.lock_path, e))?;
            let (tx, rx) = mpsc::channel::<Job>();
            for seg in to_compress {
                // The receiver is alive: it is in this scope.
                let _ = tx.send(Job::Compress(seg));
            }
            for seg in to_index {
                let _ = tx.send(Job::Index(seg));
            }
            *lock_ignoring_poison(&shared.compress_tx) = Some(tx);
            let sh = Arc::clone(&shared);
            Some(
                std::thread::Builder::new()
                    .name("scout-audit-compress".into())
                    .spawn(move || {
                        for job in rx {
                            match job {
                                Job::Compress(seg) => {
                                    compress::compress_and_retain(&sh, &*bg_lock, &seg)
                                }
                                Job::Index(seg) => compress::index_archive(&sh, &*bg_lock, &seg),
                                Job::Marker(done) => {
                                    let _ = done.send(());
                                }
                            }
                        }
                    })
                    .map_err(|e| Error::io("start compression thread", shared.layout.dir(), e))?,
            )
        } else {
            None
        };
        let sh = Arc::clone(&shared);
        let ticker = std::thread::Builder::new()
            .name("scout-audit-timer".into())
            .spawn(move || sh.ticker())
            .map_err(|e| Error::io("start timer thread", shared.layout.dir(), e))?;
        Ok(FileStore {
            inner: Arc::new(Inner {
                shared,
                skipped: Arc::default(),
                ticker: Mutex::new(Some(ticker)),
                compressor: Mutex::new(compressor),
            }),
        })
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
    /// finish) and releases the store. Returns the first error met,
    /// including a failure of background compression (which loses nothing:
    /// the next open retries it). Closing twice is not an error.
    pub fn close(&self) -> Result<()> {
        self.inner.close()
    }

    /// The store's durability level.
    pub fn durability_level(&self) -> Durability {
        self.inner.shared.durability
    }

    /// The writer session.
    pub fn session_id(&self) -> &SessionId {
        &self.inner.shared.session
    }

    /// How far this writer's own-session events have got.
    pub fn watermark_now(&self) -> Watermark {
        let st = self.inner.shared.lock_state();
        Watermark {
            written: st.written_seq,
            synced: st.synced_seq,
        }
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
            if st.closed {
                return Ok(());
            }
            let r = match &st.poisoned {
                Some(cause) => Err(Error::Poisoned {
                    cause: cause.clone(),
                }),
                None => sh
                    .write_pending(&mut st)
                    .and_then(|()| sh.sync_locked(&mut st)),
            };
            st.closed = true;
            st.live = None;
            // Park the seq counters so a reopen in this process continues them.
            let mut reg = lock_ignoring_poison(registry());
            reg.insert(
                sh.registry_key.clone(),
                Registered {
                    open: false,
                    next_seq: st.next_seq,
                    other_seqs: st.other_seqs.clone(),
                },
            );
            r
        };
        sh.ticker_cv.notify_all();
        sh.synced_cv.notify_all();
        if let Some(t) = lock_ignoring_poison(&self.ticker).take() {
            let _ = t.join();
        }
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

/// Creates `dir` and its missing parents (mode 0700) and makes them durable:
/// a new directory's entry is in its parent, so each parent of a directory
/// created here is fsync'd. Without that, a power loss soon after the first
/// `sync` acknowledgement could lose the whole new store directory.
fn create_dir_durably(fs: &dyn Fs, dir: &Path) -> Result<()> {
    let mut missing = Vec::new();
    let mut cur = Some(dir);
    while let Some(d) = cur.filter(|d| !d.as_os_str().is_empty()) {
        match fs.stat(d) {
            Ok(_) => break,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => missing.push(d),
            Err(e) => return Err(Error::io("stat", d, e)),
        }
        cur = d.parent();
    }
    if missing.is_empty() {
        return Ok(());
    }
    fs.create_dir_all(dir)
        .map_err(|e| Error::io("create directory", dir, e))?;
    for d in missing {
        let parent = match d.parent() {
            Some(p) if !p.as_os_str().is_empty() => p,
            _ => Path::new("."),
        };
        fs.sync_dir(parent)
            .map_err(|e| Error::io("fsync directory", parent, e))?;
    }
    Ok(())
}

/// The error for something the store did not make at `path`.
fn foreign(path: &Path) -> Error {
    Error::Foreign {
        path: path.to_path_buf(),
        what: crate::fs::describe_not_regular(path)
            .unwrap_or_else(|| "is not a regular file".to_owned()),
    }
}

/// Opens (creating if needed) the live file; says whether it was created.
fn open_live(fs: &dyn Fs, layout: &Layout) -> Result<(Arc<dyn WriteFile>, bool)> {
    let live = layout.live();
    let existed = match fs.lstat(&live) {
        Ok(m) if !m.is_file => return Err(foreign(&live)),
        Ok(_) => true,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => false,
        Err(e) => return Err(Error::io("stat", live, e)),
    };
    let f = fs
        .open_append(&live)
        .map_err(|e| Error::io("open for appending", &live, e))?;
    Ok((f, !existed))
}

/// How many lines of `landed` (the start of a batch) are records after a
/// crash: those ended by their `\n`, and an unterminated last one that
/// recovery would complete (it decodes as a record, by the one rule of
/// `decode_line`). A partial line is a torn fragment, not a record.
fn whole_lines(landed: &[u8]) -> usize {
    let n = memchr::memchr_iter(b'\n', landed).count();
    let tail = match memchr::memrchr(b'\n', landed) {
        Some(i) => &landed[i + 1..],
        None => landed,
    };
    let completed = !tail.is_empty()
        && matches!(
            scout_audit_core::decode_line(tail),
            scout_audit_core::Decoded::Record(_) | scout_audit_core::Decoded::Glued { .. }
        );
    n + usize::from(completed)
}

/// Releases a shared `flock` when dropped.
struct SharedLock<'a>(&'a dyn LockFile);

impl Drop for SharedLock<'_> {
    fn drop(&mut self) {
        let _ = self.0.unlock();
    }
}

impl Shared {
    fn lock_state(&self) -> MutexGuard<'_, State> {
        lock_ignoring_poison(&self.state)
    }

    fn check_open(&self, st: &State) -> Result<()> {
        if st.closed {
            return Err(Error::Closed);
        }
        if let Some(cause) = &st.poisoned {
            return Err(Error::Poisoned {
                cause: cause.clone(),
            });
        }
        Ok(())
    }

    fn poison(&self, st: &mut State, e: Error) -> Error {
        if st.poisoned.is_none() {
            st.poisoned = Some(e.to_string());
        }
        self.synced_cv.notify_all();
        e
    }

    fn log_batch(&self, events: Vec<Event>) -> Result<Vec<Receipt>> {
        for e in &events {
            e.validate().map_err(Error::InvalidEvent)?;
        }
        let mut receipts = Vec::with_capacity(events.len());
        self.write_lines(
            |st, buf| {
                let mut last_own = None;
                let start = buf.len();
                for (i, e) in events.iter().enumerate() {
                    let ts = e.timestamp().unwrap_or_else(|| self.clock.now());
                    let (seq, stamp) = match e.session_override() {
                        Some(s) if *s != self.session => {
                            let n = st.other_seqs.entry(s.clone()).or_insert(0);
                            let seq = *n;
                            *n += 1;
                            (seq, true)
                        }
                        _ => {
                            let seq = st.next_seq;
                            st.next_seq += 1;
                            last_own = Some(seq);
                            (seq, self.stamp_own)
                        }
                    };
                    let at = buf.len();
                    // Another process may log under a session this writer
                    // did not generate, with the same seq: the stamp keeps
                    // the records distinct (docs/format.md).
                    let writer = stamp.then_some(&self.writer);
                    e.encode_stamped(ts, &self.session, seq, writer, buf);
                    // The line bound: refused before anything is written.
                    if let Err(err) = check_line_len(buf.len() - at - 1) {
                        buf.truncate(start);
                        self.unassign(st, &events[..=i]);
                        receipts.clear();
                        return Err(err);
                    }
                    receipts.push(Receipt { seq, ts });
                }
                Ok((events.len() as u64, last_own))
            },
            |st, landed| self.unassign(st, &events[landed.min(events.len())..]),
        )?;
        Ok(receipts)
    }

    /// Writes records of another store as they are (`Sink::import`).
    fn import(&self, records: &[scout_audit_core::Record]) -> Result<u64> {
        self.write_lines(
            |_, buf| {
                let start = buf.len();
                for r in records {
                    let at = buf.len();
                    // A map with string keys always serializes.
                    let _ = serde_json::to_writer(&mut *buf, r.fields());
                    if let Err(err) = check_line_len(buf.len() - at) {
                        buf.truncate(start);
                        return Err(err);
                    }
                    buf.push(b'\n');
                }
                Ok((records.len() as u64, None))
            },
            |_, _| {},
        )?;
        Ok(records.len() as u64)
    }

    /// Encodes lines with `encode` (which returns how many lines and the
    /// last own-session seq among them) under the state lock, then makes
    /// them durable at the store's level: the one write path. When the
    /// write fails, `unassign` is told how many lines landed whole, to give
    /// back the seqs of the rest. When `encode` refuses (a line over the
    /// bound), it leaves the buffer and the seqs as it found them, and
    /// nothing is written.
    fn write_lines(
        &self,
        encode: impl FnOnce(&mut State, &mut Vec<u8>) -> Result<(u64, Option<u64>)>,
        unassign: impl FnOnce(&mut State, usize),
    ) -> Result<()> {
        let mut st = self.lock_state();
        self.check_open(&st)?;
        let buffered = self.durability == Durability::Buffered;
        let mut buf = if buffered {
            std::mem::take(&mut st.pending)
        } else {
            let mut b = std::mem::take(&mut st.scratch);
            b.clear();
            b
        };
        let encoded = encode(&mut st, &mut buf);
        let (lines, last_own) = match encoded {
            Ok(x) => x,
            Err(e) => {
                // Refused before writing (the line bound): `encode` left
                // the buffer as it found it.
                if buffered {
                    st.pending = buf;
                } else {
                    st.scratch = buf;
                }
                return Err(e);
            }
        };
        if buffered {
            st.pending = buf;
            st.pending_lines += lines;
            if last_own.is_some() {
                st.pending_last_seq = last_own;
            }
            if st.pending_since.is_none() {
                st.pending_since = Some(Instant::now());
                self.ticker_cv.notify_one();
            }
            if st.pending.len() >= MAX_PENDING {
                self.write_pending(&mut st)?;
            }
            return Ok(());
        }
        if self.durability == Durability::Sync {
            st.sync_inside += 1;
            st.sync_inside_peak = st.sync_inside_peak.max(st.sync_inside);
        }
        let r = self.append_locked(&mut st, &buf, lines, last_own);
        if r.is_err() {
            // The events whose lines did not reach the file were never
            // used: give their seqs back, so that reopening this session in
            // this process continues without a hole.
            // Only a short write of this batch landed anything.
            let written = match &r {
                Err(Error::Io { source, .. }) => crate::fs::bytes_written_by(source),
                _ => 0,
            };
            let landed = whole_lines(&buf[..written.min(buf.len())]);
            unassign(&mut st, landed);
        }
        buf.clear();
        st.scratch = buf;
        if self.durability == Durability::Sync {
            return match r {
                Ok(my_write) => {
                    if st.gathering
                        && st.writes - st.synced_writes >= u64::from(st.sync_inside_peak)
                    {
                        self.gather_cv.notify_one();
                    }
                    self.wait_synced(st, my_write)
                }
                Err(e) => {
                    st.sync_inside -= 1;
                    Err(e)
                }
            };
        }
        r?;
        self.apply_policy(&mut st, lines)
    }

    /// Takes back the seqs of `events`, the last ones assigned (under the
    /// same lock hold), whose lines were not written.
    fn unassign(&self, st: &mut State, events: &[Event]) {
        for e in events.iter().rev() {
            match e.session_override() {
                Some(s) if *s != self.session => {
                    if let Some(n) = st.other_seqs.get_mut(s) {
                        *n = n.saturating_sub(1);
                    }
                }
                _ => st.next_seq = st.next_seq.saturating_sub(1),
            }
        }
    }

    /// Writes `bytes` (whole lines) to the live file with one `write`,
    /// rotating first when the size limit asks for it. Returns the write's
    /// number. Any write error poisons the writer.
    fn append_locked(
        &self,
        st: &mut State,
        bytes: &[u8],
        lines: u64,
        last_own: Option<u64>,
    ) -> Result<u64> {
        if bytes.is_empty() {
            return Ok(st.writes);
        }
        loop {
            self.lock
                .lock_shared()
                .map_err(|e| Error::io("lock", &self.lock_path, e))?;
            let guard = SharedLock(&*self.lock);
            let len = self.ensure_current(st)?;
            if len > 0 && len.saturating_add(bytes.len() as u64) > self.rotate.get() {
                drop(guard);
                self.rotate(st, Some(bytes.len() as u64))?;
                continue;
            }
            let Some(file) = st.live.clone() else {
                return Err(Error::Closed);
            };
            if let Err(e) = file.write_once(bytes) {
                let err = Error::io("append to", &self.live_path, e);
                return Err(self.poison(st, err));
            }
            drop(guard);
            st.writes += 1;
            st.unsynced_lines += lines;
            if last_own.is_some() {
                st.written_seq = last_own;
            }
            return Ok(st.writes);
        }
    }

    /// Makes sure `st.live` is the file at the live path (another process
    /// may have rotated it, or someone removed it) and returns that file's
    /// length. Called with the lock file held (shared or exclusive).
    fn ensure_current(&self, st: &mut State) -> Result<u64> {
        let live_path = &self.live_path;
        match self.fs.lstat(live_path) {
            Ok(m) if m.id == st.live_id && st.live.is_some() => return Ok(m.len),
            Ok(_) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(Error::io("stat", live_path, e)),
        }
        // Our file is no longer the live one: make what we wrote to it
        // durable (normally the rotating writer already did), then switch.
        if st.unsynced_lines > 0 || st.synced_writes < st.writes {
            self.sync_locked(st)?;
        }
        let (file, created) = open_live(&*self.fs, &self.layout)?;
        if created {
            self.fs
                .sync_dir(self.layout.dir())
                .map_err(|e| Error::io("fsync directory", self.layout.dir(), e))?;
        }
        let m = file.meta().map_err(|e| Error::io("stat", live_path, e))?;
        st.live = Some(file);
        st.live_id = m.id;
        Ok(m.len)
    }

    /// Seals the live segment under the exclusive lock. With
    /// `Some(incoming)`, only if it is still needed for a write of that many
    /// bytes (another process may have rotated meanwhile); with `None`,
    /// whenever the live segment is not empty.
    fn rotate(&self, st: &mut State, incoming: Option<u64>) -> Result<Option<String>> {
        let lock_path = self.layout.lock();
        self.lock
            .lock_exclusive()
            .map_err(|e| Error::io("lock", &lock_path, e))?;
        let r = self.rotate_exclusive(st, incoming);
        let u = self
            .lock
            .unlock()
            .map_err(|e| Error::io("unlock", &lock_path, e));
        let sealed = r?;
        u?;
        if let Some(seg) = &sealed {
            let q = lock_ignoring_poison(&self.compress_tx);
            if let Some(q) = q.as_ref() {
                let _ = q.send(Job::Compress(seg.clone()));
            }
        }
        Ok(sealed.map(|s| s.name))
    }

    fn rotate_exclusive(&self, st: &mut State, incoming: Option<u64>) -> Result<Option<Segment>> {
        let dir = self.layout.dir();
        let live_path = self.layout.live();
        let len = self.ensure_current(st)?;
        if len == 0 {
            return Ok(None);
        }
        if let Some(n) = incoming
            && len.saturating_add(n) <= self.rotate.get()
        {
            return Ok(None);
        }
        let Some(file) = st.live.clone() else {
            return Err(Error::Closed);
        };
        if !mutant::active(mutant::SKIP_SEAL_FSYNC)
            && let Err(e) = file.sync_all()
        {
            return Err(self.poison(st, Error::io("fsync", &live_path, e)));
        }
        self.mark_synced(st, st.writes, st.written_seq);
        let listing = self
            .layout
            .list(&*self.fs)
            .map_err(|e| Error::io("list", dir, e))?;
        let last = listing.max_number().unwrap_or(0).max(st.last_number);
        let Some(number) = last.checked_add(1) else {
            // Wrapping would reuse a number and could replace a segment.
            let name = listing
                .all
                .iter()
                .find(|s| s.number == Some(last))
                .map_or_else(|| format!("segment {last}"), |s| s.name.clone());
            return Err(Error::SegmentNumbersExhausted {
                path: live_path,
                last,
                name,
            });
        };
        st.last_number = number;
        let now = self.clock.now().unix_secs();
        let seal = listing.max_seal_secs().map_or(now, |m| m.max(now));
        let name = self.layout.sealed_name(seal, number);
        let sealed_path = dir.join(&name);
        // Never replaces: a sealed segment is never overwritten.
        if let Err(e) = self.fs.rename_noreplace(&live_path, &sealed_path) {
            return Err(self.poison(st, Error::io("rename", &live_path, e)));
        }
        if let Err(e) = self.fs.sync_dir(dir) {
            return Err(self.poison(st, Error::io("fsync directory", dir, e)));
        }
        let file = match self.fs.open_append(&live_path) {
            Ok(f) => f,
            Err(e) => return Err(self.poison(st, Error::io("create", &live_path, e))),
        };
        if !mutant::active(mutant::SKIP_NEW_LIVE_DIR_FSYNC)
            && let Err(e) = self.fs.sync_dir(dir)
        {
            return Err(self.poison(st, Error::io("fsync directory", dir, e)));
        }
        let id = file
            .meta()
            .map_err(|e| Error::io("stat", &live_path, e))?
            .id;
        st.live = Some(file);
        st.live_id = id;
        Ok(self.layout.parse_segment(&name))
    }

    fn mark_synced(&self, st: &mut State, writes: u64, seq: Option<u64>) {
        if writes >= st.synced_writes {
            st.synced_writes = writes;
            if seq.is_some() {
                st.synced_seq = seq;
            }
        }
        if st.synced_writes >= st.writes {
            st.unsynced_lines = 0;
        }
        st.last_sync = Instant::now();
        self.synced_cv.notify_all();
    }

    /// Fsyncs the live file while holding the state lock (the policy's
    /// bound on unsynced lines then holds with any number of threads).
    fn sync_locked(&self, st: &mut State) -> Result<()> {
        if st.synced_writes >= st.writes && st.unsynced_lines == 0 {
            return Ok(());
        }
        let Some(file) = st.live.clone() else {
            return Err(Error::Closed);
        };
        let (target, seq) = (st.writes, st.written_seq);
        if let Err(e) = file.sync_data() {
            return Err(self.poison(st, Error::io("fsync", &self.live_path, e)));
        }
        self.mark_synced(st, target, seq);
        Ok(())
    }

    /// The policy on top of `Process`: fsync when enough lines or time.
    fn apply_policy(&self, st: &mut State, just_written: u64) -> Result<()> {
        if st.unsynced_lines == 0 {
            return Ok(());
        }
        let by_lines = self
            .fsync
            .lines
            .is_some_and(|n| st.unsynced_lines >= n.get());
        let by_time = self
            .fsync
            .interval
            .is_some_and(|iv| st.last_sync.elapsed() >= iv);
        if by_lines || by_time {
            return self.sync_locked(st);
        }
        if self.fsync.interval.is_some() && st.unsynced_lines == just_written {
            // The first unsynced lines since the last fsync: arm the timer.
            self.ticker_cv.notify_one();
        }
        Ok(())
    }

    /// Group commit: waits until write `my_write` is durable; the first
    /// waiter to find no fsync under way runs one for everyone, outside the
    /// state lock, so writers keep appending meanwhile. Before it fsyncs,
    /// the leader waits (at most half an fsync) until as many writes are
    /// pending as there were writers inside at once since the last group
    /// fsync: without that wait the writers split into two groups that
    /// alternate, each fsync covering half of them. One thread alone never
    /// waits. Called with `sync_inside` counting this call; decrements it.
    fn wait_synced<'a>(&'a self, st: MutexGuard<'a, State>, my_write: u64) -> Result<()> {
        let (mut st, r) = self.wait_synced_inner(st, my_write);
        st.sync_inside -= 1;
        r
    }

    fn wait_synced_inner<'a>(
        &'a self,
        mut st: MutexGuard<'a, State>,
        my_write: u64,
    ) -> (MutexGuard<'a, State>, Result<()>) {
        let mut gathered = false;
        loop {
            if st.synced_writes >= my_write {
                return (st, Ok(()));
            }
            if let Some(cause) = &st.poisoned {
                let cause = cause.clone();
                return (st, Err(Error::Poisoned { cause }));
            }
            if st.syncing {
                st = self.synced_cv.wait(st).unwrap_or_else(|p| p.into_inner());
                continue;
            }
            let want = u64::from(st.sync_inside_peak);
            if !gathered && st.writes - st.synced_writes < want && !st.fsync_ewma.is_zero() {
                gathered = true;
                let deadline = Instant::now() + st.fsync_ewma / 2;
                st.gathering = true;
                while !st.syncing
                    && st.synced_writes < my_write
                    && st.writes - st.synced_writes < want
                {
                    let now = Instant::now();
                    if now >= deadline {
                        break;
                    }
                    st = self
                        .gather_cv
                        .wait_timeout(st, deadline - now)
                        .unwrap_or_else(|p| p.into_inner())
                        .0;
                }
                st.gathering = false;
                continue;
            }
            let Some(file) = st.live.clone() else {
                return (st, Err(Error::Closed));
            };
            st.syncing = true;
            st.sync_inside_peak = st.sync_inside;
            let (target, seq) = (st.writes, st.written_seq);
            let started = Instant::now();
            drop(st);
            let r = file.sync_data();
            st = self.lock_state();
            st.syncing = false;
            let took = started.elapsed();
            st.fsync_ewma = if st.fsync_ewma.is_zero() {
                took
            } else {
                (st.fsync_ewma * 7 + took) / 8
            };
            match r {
                Ok(()) => self.mark_synced(&mut st, target, seq),
                Err(e) => {
                    let err = Error::io("fsync", &self.live_path, e);
                    let err = self.poison(&mut st, err);
                    return (st, Err(err));
                }
            }
        }
    }

    /// Writes the `Buffered` lines held in memory, then applies the policy.
    fn write_pending(&self, st: &mut State) -> Result<()> {
        if st.pending.is_empty() {
            return Ok(());
        }
        let bytes = std::mem::take(&mut st.pending);
        let lines = std::mem::take(&mut st.pending_lines);
        let last = st.pending_last_seq.take();
        st.pending_since = None;
        let r = self.append_locked(st, &bytes, lines, last);
        // Keep the allocation for the next batch.
        let mut bytes = bytes;
        bytes.clear();
        st.pending = bytes;
        r?;
        self.apply_policy(st, lines)
    }

    /// The background timer: writes `Buffered` lines after `max_delay` and
    /// fsyncs unsynced lines after the policy's interval, even when no
    /// further writes come.
    fn ticker(&self) {
        let mut st = self.lock_state();
        loop {
            if st.closed {
                return;
            }
            if st.poisoned.is_none() {
                let now = Instant::now();
                if st
                    .pending_since
                    .is_some_and(|t| now.duration_since(t) >= self.max_delay)
                {
                    // An error poisons the writer; the next log() reports it.
                    let _ = self.write_pending(&mut st);
                }
                if let Some(iv) = self.fsync.interval
                    && st.unsynced_lines > 0
                    && now.duration_since(st.last_sync) >= iv
                {
                    let _ = self.sync_locked(&mut st);
                }
            }
            let now = Instant::now();
            let mut wait = Duration::from_secs(3600);
            if st.poisoned.is_none() {
                if let Some(t) = st.pending_since {
                    wait = wait.min((t + self.max_delay).saturating_duration_since(now));
                }
                if let Some(iv) = self.fsync.interval
                    && st.unsynced_lines > 0
                {
                    wait = wait.min((st.last_sync + iv).saturating_duration_since(now));
                }
            }
            st = self
                .ticker_cv
                .wait_timeout(st, wait.max(Duration::from_micros(100)))
                .unwrap_or_else(|p| p.into_inner())
                .0;
        }
    }

    pub(crate) fn record_bg_error(&self, e: Error) {
        let mut g = lock_ignoring_poison(&self.bg_error);
        if g.is_none() {
            *g = Some(e);
        }
    }

    pub(crate) fn now(&self) -> Timestamp {
        self.clock.now()
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
