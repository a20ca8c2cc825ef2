//! Opening a [`FileStore`], as a sequence of named steps: the directory
//! (made durably, checked for sharing), the names the store uses (the live
//! file is a regular file, a file without a lock file holds records), the
//! process's claim on (store, session), recovery and the live file under
//! the exclusive lock, then the state and the two threads.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Condvar, Mutex, OnceLock};

use scout_audit_core::writer::{
    Gather, GroupCommit, Lifecycle, Pending, SeqAllocator, SyncPolicy, Unsynced, Watermarks,
    lock_ignoring_poison,
};
use scout_audit_core::{Clock, SessionId, WriterId};

use super::{
    Builder, FileStore, Identity, Inner, Live, Settings, Shared, State, autoseal, threads,
};
use crate::error::{Error, Result};
use crate::fs::{Fs, LockFile, Meta, WriteFile, sync_dir};
use crate::layout::Layout;
use crate::lock::exclusively;
use crate::options::{Compression, Retention};
use crate::recovery::{self, RecoveryReport};

/// Opens the store `b` describes (`Builder::open`).
pub(super) fn open(b: Builder) -> Result<FileStore> {
    let layout = Layout::new(&b.path).map_err(|reason| Error::InvalidPath {
        path: b.path.clone(),
        reason,
    })?;
    let fs = Arc::clone(&b.fs);
    crate::reader::check_dir(&*fs, &layout)?;
    create_dir_durably(&*fs, layout.dir())?;
    b.shared_dir.check(&*fs, layout.dir())?;
    check_live_name(&*fs, &layout)?;
    check_is_a_log(&*fs, &layout)?;
    let session = b.session.clone().unwrap_or_else(SessionId::process);
    let live = layout.live();
    let key = RegistryKey {
        live: absolute(&live),
        session: session.clone(),
    };
    let claim = Claim::take(key, &live)?;
    // On an error from here, dropping `claim` gives the registry entry back.
    let opened = open_exclusively(&*fs, &layout, &*b.clock, &b.retention)?;
    let (registry_key, seqs) = claim.keep();
    let to_compress = opened.report.to_compress.clone();
    let to_index = opened.report.to_index.clone();
    let shared = Arc::new(new_shared(
        b,
        fs,
        layout,
        session,
        registry_key,
        seqs,
        opened,
    ));
    let compressor = if shared.settings.compression == Compression::Background {
        Some(threads::start_compressor(&shared, to_compress, to_index)?)
    } else {
        None
    };
    let ticker = threads::start_timer(&shared)?;
    let sealer = autoseal::start(&shared)?;
    Ok(FileStore {
        inner: Arc::new(Inner {
            shared,
            skipped: Arc::default(),
            ticker: Mutex::new(Some(ticker)),
            compressor: Mutex::new(compressor),
            sealer: Mutex::new(sealer),
        }),
    })
}

/// What opening under the exclusive lock produced.
struct Opened {
    /// This writer's handle on the lock file (unlocked again).
    lock: Arc<dyn LockFile>,
    /// What recovery did.
    report: RecoveryReport,
    /// The live file, open for appending, and its device and inode.
    live: Live,
}

/// The writer's shared part, from the builder's settings and what opening
/// produced; the state starts with nothing written.
fn new_shared(
    b: Builder,
    fs: Arc<dyn Fs>,
    layout: Layout,
    session: SessionId,
    registry_key: RegistryKey,
    seqs: SeqStart,
    opened: Opened,
) -> Shared {
    let state = State {
        live: opened.live,
        seqs: SeqAllocator::new(session.clone(), seqs.next_own, seqs.others),
        marks: Watermarks::default(),
        writes: GroupCommit::default(),
        gather: Gather::default(),
        unsynced: Unsynced::default(),
        pending: Pending::default(),
        life: Lifecycle::new(),
        last_number: 0,
        scratch: Vec::with_capacity(512),
        fsyncs: 0,
        fsync_time: std::time::Duration::ZERO,
        queued: Vec::new(),
        queued_calls: 0,
    };
    let autoseal = autoseal::detect(&*fs, &layout, b.seal_interval);
    Shared {
        live_path: layout.live(),
        lock_path: layout.lock(),
        fs,
        layout,
        clock: b.clock,
        settings: Settings {
            durability: b.durability,
            policy: SyncPolicy {
                every: b.fsync.lines,
                interval: b.fsync.interval,
            },
            max_delay: b.max_delay,
            rotate: b.rotate,
            compression: b.compression,
        },
        retention: b.retention,
        identity: Identity {
            session,
            writer: WriterId::random(),
            stamp_own: b.session.is_some(),
        },
        registry_key,
        lock: opened.lock,
        state: Mutex::new(state),
        synced_cv: Condvar::new(),
        gather_cv: Condvar::new(),
        ticker_cv: Condvar::new(),
        compress_tx: Mutex::new(None),
        bg_error: Mutex::new(None),
        autoseal,
        recovery: opened.report,
    }
}

/// The live file's name holds a regular file, or nothing yet.
fn check_live_name(fs: &dyn Fs, layout: &Layout) -> Result<()> {
    let live = layout.live();
    match fs.lstat(&live) {
        Ok(m) if m.is_dir => Err(Error::InvalidPath {
            path: live,
            reason: "is a directory".into(),
        }),
        Ok(m) if !m.is_file => Err(foreign(&live)),
        Ok(_) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(Error::io("stat", live, e)),
    }
}

/// Before the lock file is made: a file where no writer of ours was ever
/// opened (no lock file) that holds no record is not an audit log (a wrong
/// path), and is not modified.
fn check_is_a_log(fs: &dyn Fs, layout: &Layout) -> Result<()> {
    let lock_path = layout.lock();
    match fs.lstat(&lock_path) {
        Ok(m) if !m.is_file => Err(foreign(&lock_path)),
        Ok(_) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            match recovery::check_is_log(fs, layout) {
                // Another writer may have made the store meanwhile (it
                // creates the lock file before the live file's first
                // byte): then the fragment read is its, not a foreign file.
                Err(e @ Error::NotALog { .. }) if fs.lstat(&lock_path).is_err() => Err(e),
                Err(Error::NotALog { .. }) => Ok(()),
                other => other,
            }
        }
        Err(e) => Err(Error::io("stat", lock_path, e)),
    }
}

/// Takes the exclusive lock, recovers and opens the live file, and
/// unlocks (an error of the work is reported before one of the unlock).
fn open_exclusively(
    fs: &dyn Fs,
    layout: &Layout,
    clock: &dyn Clock,
    retention: &Retention,
) -> Result<Opened> {
    let lock_path = layout.lock();
    let lock = open_lock_durably(fs, layout)?;
    let (report, live) = exclusively(Some(&*lock), &lock_path, || {
        recover_and_open_live(fs, layout, clock, retention)
    })?;
    Ok(Opened { lock, report, live })
}

/// Opens (creating if needed) the store's lock file, fsyncing the
/// directory when it was created. The live file's creation fsyncs the
/// directory too, but a live file may already exist without a lock file
/// (a crash kept the one name and lost the other): a lock file whose name
/// a power loss then takes again leaves a live file without a lock file,
/// which the next open refuses as not an audit log once a garbled,
/// unsynced write is all it holds (docs/durability.md).
fn open_lock_durably(fs: &dyn Fs, layout: &Layout) -> Result<Arc<dyn LockFile>> {
    let lock_path = layout.lock();
    let existed = match fs.lstat(&lock_path) {
        Ok(_) => true,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => false,
        Err(e) => return Err(Error::io("stat", lock_path, e)),
    };
    let lock = fs
        .open_lock(&lock_path, true)
        .map_err(|e| Error::io("open lock file", &lock_path, e))?;
    if !existed {
        sync_dir(fs, layout.dir())?;
    }
    Ok(lock)
}

/// Recovery, then the live file (made durable in its directory when new).
fn recover_and_open_live(
    fs: &dyn Fs,
    layout: &Layout,
    clock: &dyn Clock,
    retention: &Retention,
) -> Result<(RecoveryReport, Live)> {
    let report = recovery::recover(fs, layout, clock, retention)?;
    let (file, meta) = open_live_durably(fs, layout)?;
    let live = Live {
        file: Some(file),
        id: meta.id,
    };
    Ok((report, live))
}

/// Opens (creating if needed) the live file, fsyncing the directory when
/// it was created, and reads its metadata (device, inode, length).
pub(super) fn open_live_durably(
    fs: &dyn Fs,
    layout: &Layout,
) -> Result<(Arc<dyn WriteFile>, Meta)> {
    let (file, created) = open_live(fs, layout)?;
    if created {
        sync_dir(fs, layout.dir())?;
    }
    let meta = file
        .meta()
        .map_err(|e| Error::io("stat", layout.live(), e))?;
    Ok((file, meta))
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
        sync_dir(fs, parent)?;
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

/// A writer's entry in the process's registry: the store's live file
/// (absolute) and the writer session. One writer per entry is open at a
/// time in a process.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub(super) struct RegistryKey {
    live: PathBuf,
    session: SessionId,
}

/// Where a writer session's seqs continue in this process.
#[derive(Debug, Default, Clone)]
pub(super) struct SeqStart {
    /// The next own-session seq.
    next_own: u64,
    /// The next seq of each other session this writer logged under.
    others: HashMap<SessionId, u64>,
}

/// Per (store, writer session) in this process: whether a writer is open,
/// and where the seq counters continue when it is opened again.
#[derive(Debug, Default, Clone)]
struct Registered {
    open: bool,
    seqs: SeqStart,
}

type Registry = Mutex<HashMap<RegistryKey, Registered>>;

fn registry() -> &'static Registry {
    static REG: OnceLock<Registry> = OnceLock::new();
    REG.get_or_init(Default::default)
}

/// An open's claim on its registry entry while it opens: dropped before
/// [`Claim::keep`] (opening failed), it gives the entry back with the
/// counters it found.
struct Claim {
    key: RegistryKey,
    /// The counters found in the entry.
    seqs: SeqStart,
    /// The store opened: the entry stays open until [`park`].
    kept: bool,
}

impl Claim {
    /// Marks `key` open, or fails when a writer of this process has it
    /// (the error names the store by `live`, its path as given).
    fn take(key: RegistryKey, live: &Path) -> Result<Claim> {
        let mut reg = lock_ignoring_poison(registry());
        let entry = reg.entry(key.clone()).or_default();
        if entry.open {
            return Err(Error::AlreadyOpen {
                path: live.to_path_buf(),
                session: key.session,
            });
        }
        entry.open = true;
        let seqs = entry.seqs.clone();
        Ok(Claim {
            key,
            seqs,
            kept: false,
        })
    }

    /// The store opened: the entry stays open until [`park`] at close.
    fn keep(mut self) -> (RegistryKey, SeqStart) {
        self.kept = true;
        (self.key.clone(), std::mem::take(&mut self.seqs))
    }
}

impl Drop for Claim {
    fn drop(&mut self) {
        if !self.kept {
            release(self.key.clone(), std::mem::take(&mut self.seqs));
        }
    }
}

fn release(key: RegistryKey, seqs: SeqStart) {
    lock_ignoring_poison(registry()).insert(key, Registered { open: false, seqs });
}

/// Closes `key`'s entry, keeping where `seqs` continue for a reopen in
/// this process.
pub(super) fn park(key: &RegistryKey, seqs: &SeqAllocator) {
    let start = SeqStart {
        next_own: seqs.next_own(),
        others: seqs.others().clone(),
    };
    release(key.clone(), start);
}

#[cfg(test)]
mod tests {
    //! The registry claim: given back when opening fails, kept until parked.

    use super::*;
    use scout_audit_core::Event;

    fn key(name: &str) -> RegistryKey {
        RegistryKey {
            live: PathBuf::from("/nonexistent/claim-test").join(name),
            session: SessionId::new("s"),
        }
    }

    #[test]
    fn a_dropped_claim_gives_the_entry_back_and_a_kept_one_holds_it_until_parked() {
        let k = key("audit.jsonl");
        let live = Path::new("audit.jsonl");
        drop(Claim::take(k.clone(), live).unwrap());
        let (kept, start) = Claim::take(k.clone(), live).unwrap().keep();
        assert_eq!(start.next_own, 0);
        assert!(matches!(
            Claim::take(k.clone(), live),
            Err(Error::AlreadyOpen { path, .. }) if path == live
        ));
        let mut seqs = SeqAllocator::new(SessionId::new("s"), start.next_own, start.others);
        seqs.assign(&Event::new("nav"));
        seqs.assign(&Event::new("nav").session(SessionId::new("other")));
        park(&kept, &seqs);
        let (_, again) = Claim::take(k, live).unwrap().keep();
        assert_eq!(again.next_own, 1);
        assert_eq!(again.others[&SessionId::new("other")], 1);
    }
}
