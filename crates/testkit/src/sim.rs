//! [`SimFs`]: a simulated file system under the store's [`Fs`] seam that
//! keeps what was not synced pending and decides, at a crash, what of it
//! survives, in the manner of SQLite's crash VFS and the ALICE study.
//!
//! **Model.** Every file (inode) has the bytes processes see (`data`), the
//! bytes that survive any crash (`durable`, set by `fsync`/`fdatasync`), and
//! the writes and size changes made since its last sync, in order. Every
//! directory has the entries processes see, the entries that survive, and
//! the links, unlinks and renames made since its last fsync. Reads see
//! `data`; locks are real (blocking, shared/exclusive, per handle like
//! `flock`).
//!
//! **Crash** ([`SimState::crash`]). Each directory with pending operations
//! keeps all, none, a prefix or a random subset of them (applied in order;
//! one whose inode is no longer where it was is skipped): an un-fsynced
//! rename or create may be lost. Each file with unsynced writes keeps them
//! all, none, a random subset, has the 512-byte sectors they touch garbled
//! (zeros, random bytes or 0xFF), or gets its new size before its data (the
//! ALICE append case: the file grows, the new bytes are zeros, a random
//! subset of the writes land). What was synced is never damaged: the model
//! assumes the disk does not corrupt a sector's synced bytes when it writes
//! its other bytes ("powersafe overwrite"). A file reachable from no
//! surviving name is lost.
//!
//! **Recording.** With [`SimFs::record`], every mutating operation stores a
//! copy of the whole state after it, labelled with what the operation was
//! and a caller-set mark (the harness sets it to the length of its history):
//! the crash states of a workload are then the recorded states, damaged.
//!
//! **Faults.** [`SimFs::inject`] makes a chosen operation fail with `EIO`,
//! `ENOSPC`, or as a short write (half of the bytes land).

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::io::{self, Read};
use std::path::{Component, Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::{Duration, SystemTime};

use scout_audit_store_file::fs::{FileId, Fs, LockFile, Meta, ReadFile, WriteFile, short_write};

use crate::rng::Rng;

/// The sector size of the simulated disk: garbling damages whole sectors.
pub const SECTOR: u64 = 512;

/// `EIO`.
pub const EIO: i32 = 5;
/// `ENOSPC`.
pub const ENOSPC: i32 = 28;

/// A change to a file not yet synced.
#[derive(Clone, Debug, PartialEq, Eq)]
enum FileOp {
    /// Bytes written at an offset.
    Write { off: u64, bytes: Vec<u8> },
    /// The file's length set (a truncation).
    SetLen(u64),
}

/// One simulated file.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
struct Inode {
    /// What processes read.
    data: Vec<u8>,
    /// What survives a crash whatever happens: the content at the last sync.
    durable: Vec<u8>,
    /// Changes since the last sync, oldest first; applying them all to
    /// `durable` gives `data`.
    pending: Vec<FileOp>,
    /// Logical modification time (the operation count).
    mtime: u64,
}

/// An entry of a directory.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Node {
    File(u64),
    Dir,
}

/// A change to a directory not yet fsync'd.
#[derive(Clone, Debug, PartialEq, Eq)]
enum DirOp {
    /// A new name (a created file or directory).
    Link { name: String, node: Node },
    /// A name removed; `ino` is the file it named.
    Unlink { name: String, ino: u64 },
    /// A file renamed within the directory, replacing `to` if present.
    Rename { from: String, to: String, ino: u64 },
}

#[derive(Clone, Debug, Default, PartialEq, Eq)]
struct Dir {
    /// What processes see.
    entries: BTreeMap<String, Node>,
    /// What survives a crash whatever happens: the entries at the last fsync.
    durable: BTreeMap<String, Node>,
    /// Changes since the last fsync, oldest first.
    pending: Vec<DirOp>,
}

/// The whole simulated disk and page cache at one moment. Cheap enough to
/// clone per operation for workloads of a few hundred kilobytes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SimState {
    inodes: BTreeMap<u64, Inode>,
    /// Directories by absolute path. `/` always exists.
    dirs: BTreeMap<PathBuf, Dir>,
    next_ino: u64,
    /// Mutating operations so far.
    ops: u64,
}

impl Default for SimState {
    fn default() -> Self {
        let mut dirs = BTreeMap::new();
        dirs.insert(PathBuf::from("/"), Dir::default());
        SimState {
            inodes: BTreeMap::new(),
            dirs,
            next_ino: 1,
            ops: 0,
        }
    }
}

/// How one crash treats a file's unsynced writes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum FileDamage {
    /// All of them reached the disk.
    Keep,
    /// None did.
    Drop,
    /// A random subset did (a dropped write inside the file leaves zeros).
    Subset,
    /// All did, then the sectors holding unsynced bytes were garbled at random.
    Garble,
    /// The size reached the disk before the data: the new bytes read as
    /// zeros, except a random subset of the writes.
    SizeFirst,
}

/// How one crash treats a directory's un-fsynced operations.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum DirDamage {
    /// All of them are durable.
    Keep,
    /// None is.
    Drop,
    /// The first k are (journal order).
    Prefix,
    /// A random subset is (no ordering between them).
    Subset,
}

/// Counts of the damage one crash did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct CrashReport {
    /// Files with unsynced writes, by what happened to them.
    pub files: BTreeMap<String, FileDamage>,
    /// Directories with un-fsynced operations, by what happened to them.
    pub dirs: BTreeMap<String, DirDamage>,
    /// Un-fsynced directory operations lost.
    pub lost_dir_ops: usize,
    /// Unsynced file writes lost (dropped, or zeroed by `SizeFirst`).
    pub lost_writes: usize,
    /// Sectors garbled.
    pub garbled_sectors: usize,
}

impl SimState {
    /// A state after a power loss: every pending write and directory
    /// operation survives or not as `rng` decides (see the module docs).
    /// Everything in the returned state is durable.
    pub fn crash(&self, rng: &mut Rng) -> (SimState, CrashReport) {
        self.crash_with(rng, None)
    }

    /// As [`SimState::crash`], every file and directory treated the same way
    /// when `uniform` is given.
    pub fn crash_with(
        &self,
        rng: &mut Rng,
        uniform: Option<(FileDamage, DirDamage)>,
    ) -> (SimState, CrashReport) {
        let mut report = CrashReport::default();
        let entries = self.surviving_entries(rng, uniform.map(|u| u.1), &mut report);
        let out = self.reachable(&entries, rng, uniform.map(|u| u.0), &mut report);
        (out, report)
    }

    /// Directories: the entries that survive, each directory's pending
    /// operations kept as `uniform` (or, without it, `rng`) decides.
    fn surviving_entries(
        &self,
        rng: &mut Rng,
        uniform: Option<DirDamage>,
        report: &mut CrashReport,
    ) -> BTreeMap<PathBuf, BTreeMap<String, Node>> {
        let mut entries = BTreeMap::new();
        for (path, dir) in &self.dirs {
            let mut e = dir.durable.clone();
            if !dir.pending.is_empty() {
                let mode = uniform.unwrap_or_else(|| {
                    [
                        DirDamage::Keep,
                        DirDamage::Drop,
                        DirDamage::Prefix,
                        DirDamage::Subset,
                    ][rng.below(4) as usize]
                });
                report.dirs.insert(path.display().to_string(), mode);
                let n = dir.pending.len();
                let keep: Vec<bool> = match mode {
                    DirDamage::Keep => vec![true; n],
                    DirDamage::Drop => vec![false; n],
                    DirDamage::Prefix => {
                        let k = rng.below(n as u64 + 1) as usize;
                        (0..n).map(|i| i < k).collect()
                    }
                    DirDamage::Subset => (0..n).map(|_| rng.below(2) == 0).collect(),
                };
                for (op, k) in dir.pending.iter().zip(keep) {
                    if !k || !apply_dir_op(&mut e, op) {
                        report.lost_dir_ops += 1;
                    }
                }
            }
            entries.insert(path.clone(), e);
        }
        entries
    }

    /// The crashed state: what is reachable from `/` through the surviving
    /// `entries`, each file's pending writes damaged as `uniform` (or,
    /// without it, `rng`) decides.
    fn reachable(
        &self,
        entries: &BTreeMap<PathBuf, BTreeMap<String, Node>>,
        rng: &mut Rng,
        uniform: Option<FileDamage>,
        report: &mut CrashReport,
    ) -> SimState {
        let mut out = SimState {
            inodes: BTreeMap::new(),
            dirs: BTreeMap::new(),
            next_ino: self.next_ino,
            ops: self.ops,
        };
        let mut todo = vec![PathBuf::from("/")];
        while let Some(path) = todo.pop() {
            let e = entries.get(&path).cloned().unwrap_or_default();
            for (name, node) in &e {
                match node {
                    Node::Dir => todo.push(path.join(name)),
                    Node::File(ino) => {
                        if out.inodes.contains_key(ino) {
                            continue;
                        }
                        let Some(inode) = self.inodes.get(ino) else {
                            continue;
                        };
                        let crashed = crashed_inode(inode, &path, name, rng, uniform, report);
                        out.inodes.insert(*ino, crashed);
                    }
                }
            }
            out.dirs.insert(
                path,
                Dir {
                    entries: e.clone(),
                    durable: e,
                    pending: Vec::new(),
                },
            );
        }
        out
    }

    /// The state as processes see it, made durable (a clean shutdown).
    pub fn settled(&self) -> SimState {
        let mut s = self.clone();
        for i in s.inodes.values_mut() {
            i.durable = i.data.clone();
            i.pending.clear();
        }
        for d in s.dirs.values_mut() {
            d.durable = d.entries.clone();
            d.pending.clear();
        }
        s
    }

    /// Mutating operations so far.
    pub fn ops(&self) -> u64 {
        self.ops
    }

    /// The bytes processes would read at `path`, if it is a file.
    pub fn read(&self, path: &Path) -> Option<Vec<u8>> {
        let ino = self.lookup_file(path).ok()?;
        self.inodes.get(&ino).map(|i| i.data.clone())
    }

    /// The files under `dir` (names, sorted), as processes see them.
    pub fn list(&self, dir: &Path) -> Vec<String> {
        self.dirs
            .get(&normalize(dir))
            .map(|d| d.entries.keys().cloned().collect())
            .unwrap_or_default()
    }

    /// Writes a file (created if missing) and makes it and its name
    /// durable: a test's way to lay out a store before a run.
    pub fn put(&mut self, path: &Path, bytes: &[u8]) -> io::Result<()> {
        let path = normalize(path);
        let (dir, name) = split(&path)?;
        self.mkdir_all(&dir)?;
        let ino = match self.lookup_file(&path) {
            Ok(i) => i,
            Err(_) => {
                let ino = self.new_inode();
                self.link(&dir, &name, Node::File(ino))?;
                ino
            }
        };
        if let Some(i) = self.inodes.get_mut(&ino) {
            i.data = bytes.to_vec();
        }
        *self = self.settled();
        Ok(())
    }

    fn new_inode(&mut self) -> u64 {
        let ino = self.next_ino;
        self.next_ino += 1;
        self.inodes.insert(
            ino,
            Inode {
                mtime: self.ops,
                ..Inode::default()
            },
        );
        ino
    }

    fn dir_mut(&mut self, dir: &Path) -> io::Result<&mut Dir> {
        self.dirs.get_mut(dir).ok_or_else(not_found)
    }

    fn link(&mut self, dir: &Path, name: &str, node: Node) -> io::Result<()> {
        let d = self.dir_mut(dir)?;
        if d.entries.contains_key(name) {
            return Err(io::Error::from(io::ErrorKind::AlreadyExists));
        }
        d.entries.insert(name.to_owned(), node);
        d.pending.push(DirOp::Link {
            name: name.to_owned(),
            node,
        });
        Ok(())
    }

    fn lookup(&self, path: &Path) -> io::Result<Node> {
        if path == Path::new("/") {
            return Ok(Node::Dir);
        }
        let (dir, name) = split(path)?;
        self.dirs
            .get(&dir)
            .and_then(|d| d.entries.get(&name).copied())
            .ok_or_else(not_found)
    }

    fn lookup_file(&self, path: &Path) -> io::Result<u64> {
        match self.lookup(path)? {
            Node::File(ino) => Ok(ino),
            Node::Dir => Err(io::Error::other("is a directory")),
        }
    }

    fn mkdir_all(&mut self, dir: &Path) -> io::Result<()> {
        let mut cur = PathBuf::from("/");
        for c in dir.components() {
            let Component::Normal(name) = c else { continue };
            let name = name
                .to_str()
                .ok_or_else(|| io::Error::other("non-UTF-8 name"))?;
            let next = cur.join(name);
            match self.lookup(&next) {
                Ok(Node::Dir) => {}
                Ok(Node::File(_)) => return Err(io::Error::other("not a directory")),
                Err(_) => {
                    self.link(&cur, name, Node::Dir)?;
                    self.dirs.insert(next.clone(), Dir::default());
                }
            }
            cur = next;
        }
        Ok(())
    }

    fn meta_of(&self, node: Node) -> io::Result<Meta> {
        match node {
            Node::Dir => Ok(Meta {
                id: FileId { dev: 1, ino: 0 },
                len: 0,
                is_file: false,
                is_dir: true,
                is_symlink: false,
                mode: 0o700,
                mtime: SystemTime::UNIX_EPOCH,
                ctime: None,
            }),
            Node::File(ino) => {
                let i = self.inodes.get(&ino).ok_or_else(not_found)?;
                Ok(Meta {
                    id: FileId { dev: 1, ino },
                    len: i.data.len() as u64,
                    is_file: true,
                    is_dir: false,
                    is_symlink: false,
                    mode: 0o600,
                    mtime: SystemTime::UNIX_EPOCH + Duration::from_secs(i.mtime),
                    ctime: None,
                })
            }
        }
    }
}

/// A file after the crash, found at `dir`/`name`: its durable bytes, with
/// its pending writes damaged as `uniform` (or, without it, `rng`)
/// decides; all of it durable.
fn crashed_inode(
    inode: &Inode,
    dir: &Path,
    name: &str,
    rng: &mut Rng,
    uniform: Option<FileDamage>,
    report: &mut CrashReport,
) -> Inode {
    let data = if inode.pending.is_empty() {
        inode.data.clone()
    } else {
        let mode = uniform.unwrap_or_else(|| {
            [
                FileDamage::Keep,
                FileDamage::Drop,
                FileDamage::Subset,
                FileDamage::Garble,
                FileDamage::SizeFirst,
            ][rng.below(5) as usize]
        });
        report
            .files
            .insert(dir.join(name).display().to_string(), mode);
        damage_file(inode, rng, mode, report)
    };
    Inode {
        durable: data.clone(),
        data,
        pending: Vec::new(),
        mtime: inode.mtime,
    }
}

/// The bytes of a file with unsynced writes after a crash (`mode`).
fn damage_file(
    inode: &Inode,
    rng: &mut Rng,
    mode: FileDamage,
    report: &mut CrashReport,
) -> Vec<u8> {
    let n = inode.pending.len();
    match mode {
        FileDamage::Keep => inode.data.clone(),
        FileDamage::Drop => {
            report.lost_writes += n;
            inode.durable.clone()
        }
        FileDamage::Subset => {
            let mut d = inode.durable.clone();
            for op in &inode.pending {
                if rng.below(2) == 0 {
                    apply_file_op(&mut d, op);
                } else {
                    report.lost_writes += 1;
                }
            }
            d
        }
        FileDamage::Garble => {
            let mut d = inode.data.clone();
            let unsynced = unsynced_ranges(inode);
            let mut sectors = BTreeSet::new();
            for (lo, hi) in &unsynced {
                let mut s = lo / SECTOR;
                while s * SECTOR < *hi {
                    sectors.insert(s);
                    s += 1;
                }
            }
            for s in sectors {
                if rng.below(2) == 0 {
                    continue;
                }
                report.garbled_sectors += 1;
                let fill = rng.below(3);
                let (slo, shi) = (s * SECTOR, (s + 1) * SECTOR);
                for (lo, hi) in &unsynced {
                    let (a, b) = ((*lo).max(slo), (*hi).min(shi).min(d.len() as u64));
                    for byte in d.iter_mut().take(b as usize).skip(a as usize) {
                        *byte = match fill {
                            0 => 0,
                            1 => rng.next_u64() as u8,
                            _ => 0xFF,
                        };
                    }
                }
            }
            d
        }
        FileDamage::SizeFirst => {
            let mut d = inode.durable.clone();
            d.resize(inode.data.len(), 0);
            for op in &inode.pending {
                match op {
                    FileOp::Write { .. } if rng.below(2) == 0 => apply_file_op(&mut d, op),
                    FileOp::Write { .. } => report.lost_writes += 1,
                    FileOp::SetLen(_) => {}
                }
            }
            d.resize(inode.data.len(), 0);
            d
        }
    }
}

/// The byte ranges of the current data that are not known durable: every
/// range written since the last sync, and everything past the durable
/// length.
fn unsynced_ranges(inode: &Inode) -> Vec<(u64, u64)> {
    let mut v: Vec<(u64, u64)> = inode
        .pending
        .iter()
        .filter_map(|op| match op {
            FileOp::Write { off, bytes } => Some((*off, off + bytes.len() as u64)),
            FileOp::SetLen(_) => None,
        })
        .collect();
    let (dl, cl) = (inode.durable.len() as u64, inode.data.len() as u64);
    if cl > dl {
        v.push((dl, cl));
    }
    v
}

fn apply_file_op(d: &mut Vec<u8>, op: &FileOp) {
    match op {
        FileOp::Write { off, bytes } => {
            let off = *off as usize;
            if d.len() < off + bytes.len() {
                d.resize(off + bytes.len(), 0);
            }
            d[off..off + bytes.len()].copy_from_slice(bytes);
        }
        FileOp::SetLen(n) => d.resize(*n as usize, 0),
    }
}

/// Applies a directory operation to surviving entries; `false` when it no
/// longer applies (its file is not where the operation found it).
fn apply_dir_op(e: &mut BTreeMap<String, Node>, op: &DirOp) -> bool {
    match op {
        DirOp::Link { name, node } => {
            if e.contains_key(name) {
                return false;
            }
            e.insert(name.clone(), *node);
            true
        }
        DirOp::Unlink { name, ino } => {
            if e.get(name) != Some(&Node::File(*ino)) {
                return false;
            }
            e.remove(name);
            true
        }
        DirOp::Rename { from, to, ino } => {
            if e.get(from) != Some(&Node::File(*ino)) {
                return false;
            }
            e.remove(from);
            e.insert(to.clone(), Node::File(*ino));
            true
        }
    }
}

fn not_found() -> io::Error {
    io::Error::from(io::ErrorKind::NotFound)
}

/// `/a/./b/../c` as `/a/c`; relative paths are taken from `/`.
fn normalize(p: &Path) -> PathBuf {
    let mut out = PathBuf::from("/");
    for c in p.components() {
        match c {
            Component::Normal(n) => out.push(n),
            Component::ParentDir => {
                out.pop();
            }
            _ => {}
        }
    }
    out
}

fn split(path: &Path) -> io::Result<(PathBuf, String)> {
    let path = normalize(path);
    let name = path
        .file_name()
        .and_then(|n| n.to_str())
        .ok_or_else(|| io::Error::other("no file name"))?
        .to_owned();
    let dir = path
        .parent()
        .map_or_else(|| PathBuf::from("/"), Path::to_path_buf);
    Ok((dir, name))
}

/// Which operations a [`Fault`] hits.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum OpClass {
    /// `write` on any file.
    Write,
    /// `fsync` / `fdatasync` of a file (including the sync inside `truncate`).
    Fsync,
    /// `fsync` of a directory.
    DirFsync,
    /// `rename`.
    Rename,
    /// Creating a file (`create`, `open_append` of a new file).
    Create,
    /// `unlink`.
    Unlink,
    /// `truncate` (the length change itself).
    Truncate,
    /// `mkdir`.
    Mkdir,
}

/// What an injected fault does.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum FaultKind {
    /// The call fails with this errno and changes nothing.
    Errno(i32),
    /// A write: the first half of the bytes land, then it fails with `EIO`
    /// (what `write_once` reports for a short write). Other calls: `EIO`.
    Short,
}

/// A fault to inject: the `nth` (0-based) operation of `class` counted from
/// the injection fails as `kind`; with `sticky`, every later one of that
/// class too.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Fault {
    /// Which operations.
    pub class: OpClass,
    /// Which one of them (0: the next).
    pub nth: u64,
    /// How it fails.
    pub kind: FaultKind,
    /// Whether the following ones fail too (a full disk stays full).
    pub sticky: bool,
}

/// A state recorded after an operation.
#[derive(Clone, Debug)]
pub struct Recorded {
    /// The state right after the operation.
    pub state: SimState,
    /// The operation (`"write /d/audit.jsonl (120 bytes)"`).
    pub op: String,
    /// Its class.
    pub class: OpClass,
    /// The mark the harness had set when it happened.
    pub mark: u64,
}

#[derive(Debug, Default)]
struct Locks {
    /// Per inode: the handles holding it shared, and the exclusive holder.
    held: BTreeMap<u64, (BTreeSet<u64>, Option<u64>)>,
}

struct World {
    state: Mutex<SimState>,
    locks: Mutex<Locks>,
    lock_cv: Condvar,
    recording: Mutex<Option<Vec<Recorded>>>,
    mark: AtomicU64,
    /// The fault and how many operations of its class it has seen.
    fault: Mutex<Option<(Fault, u64)>>,
    next_handle: AtomicU64,
}

impl fmt::Debug for World {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("World").finish_non_exhaustive()
    }
}

/// The simulated file system (see the module docs). Cheap to clone: clones
/// share one disk.
#[derive(Clone, Debug)]
pub struct SimFs {
    w: Arc<World>,
}

impl Default for SimFs {
    fn default() -> Self {
        SimFs::new(SimState::default())
    }
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    scout_audit_core::writer::lock_ignoring_poison(m)
}

impl SimFs {
    /// A file system in the given state (an empty disk: `SimState::default()`).
    pub fn new(state: SimState) -> SimFs {
        SimFs {
            w: Arc::new(World {
                state: Mutex::new(state),
                locks: Mutex::new(Locks::default()),
                lock_cv: Condvar::new(),
                recording: Mutex::new(None),
                mark: AtomicU64::new(0),
                fault: Mutex::new(None),
                next_handle: AtomicU64::new(1),
            }),
        }
    }

    /// A copy of the current state (page cache and disk).
    pub fn state(&self) -> SimState {
        lock(&self.w.state).clone()
    }

    /// Starts recording a copy of the state after every mutating operation.
    pub fn record(&self) {
        *lock(&self.w.recording) = Some(Vec::new());
    }

    /// Stops recording and returns what was recorded.
    pub fn take_recording(&self) -> Vec<Recorded> {
        lock(&self.w.recording).take().unwrap_or_default()
    }

    /// Sets the mark stored with the next recorded states.
    pub fn set_mark(&self, mark: u64) {
        self.w.mark.store(mark, Ordering::SeqCst);
    }

    /// Injects a fault (replacing any earlier one).
    pub fn inject(&self, fault: Fault) {
        *lock(&self.w.fault) = Some((fault, 0));
    }

    /// Removes the fault.
    pub fn heal(&self) {
        *lock(&self.w.fault) = None;
    }

    /// Runs a mutating operation under the state lock: checks the fault,
    /// applies `f`, counts and records it.
    fn mutate<T>(
        &self,
        class: OpClass,
        what: impl FnOnce() -> String,
        f: impl FnOnce(&mut SimState, Option<FaultKind>) -> io::Result<T>,
    ) -> io::Result<T> {
        let mut st = lock(&self.w.state);
        let fault = {
            let mut g = lock(&self.w.fault);
            match &mut *g {
                Some((fault, seen)) if fault.class == class => {
                    let n = *seen;
                    *seen += 1;
                    (n == fault.nth || (fault.sticky && n > fault.nth)).then_some(fault.kind)
                }
                _ => None,
            }
        };
        match fault {
            Some(FaultKind::Errno(e)) => return Err(io::Error::from_raw_os_error(e)),
            Some(FaultKind::Short) if class != OpClass::Write => {
                return Err(io::Error::from_raw_os_error(EIO));
            }
            _ => {}
        }
        let r = f(&mut st, fault)?;
        st.ops += 1;
        if let Some(rec) = lock(&self.w.recording).as_mut() {
            rec.push(Recorded {
                state: st.clone(),
                op: what(),
                class,
                mark: self.w.mark.load(Ordering::SeqCst),
            });
        }
        Ok(r)
    }

    fn handle(&self) -> u64 {
        self.w.next_handle.fetch_add(1, Ordering::SeqCst)
    }

    /// Opens the file at `path`, creating it when missing (`O_CREAT`).
    fn open_write(&self, path: &Path, append: bool) -> io::Result<SimWrite> {
        let path = normalize(path);
        let existing = lock(&self.w.state).lookup(&path);
        let ino = match existing {
            Ok(Node::File(ino)) => ino,
            Ok(Node::Dir) => return Err(io::Error::other("is a directory")),
            Err(_) => self.mutate(
                OpClass::Create,
                || format!("create {}", path.display()),
                |st, _| {
                    let (dir, name) = split(&path)?;
                    if !st.dirs.contains_key(&dir) {
                        return Err(not_found());
                    }
                    let ino = st.new_inode();
                    st.link(&dir, &name, Node::File(ino))?;
                    Ok(ino)
                },
            )?,
        };
        Ok(SimWrite {
            fs: self.clone(),
            ino,
            path,
            append,
            pos: Mutex::new(0),
        })
    }
}

/// A file opened for writing.
#[derive(Debug)]
struct SimWrite {
    fs: SimFs,
    ino: u64,
    /// The path it was opened at (for labels only).
    path: PathBuf,
    append: bool,
    /// Where the next write goes when not appending.
    pos: Mutex<u64>,
}

impl WriteFile for SimWrite {
    fn write_once(&self, buf: &[u8]) -> io::Result<()> {
        let mut pos = lock(&self.pos);
        let n = self.fs.mutate(
            OpClass::Write,
            || format!("write {} ({} bytes)", self.path.display(), buf.len()),
            |st, fault| {
                let ops = st.ops;
                let i = st.inodes.get_mut(&self.ino).ok_or_else(not_found)?;
                let off = if self.append {
                    i.data.len() as u64
                } else {
                    *pos
                };
                let bytes = match fault {
                    Some(FaultKind::Short) => &buf[..buf.len() / 2],
                    _ => buf,
                };
                let op = FileOp::Write {
                    off,
                    bytes: bytes.to_vec(),
                };
                apply_file_op(&mut i.data, &op);
                i.pending.push(op);
                i.mtime = ops;
                *pos = off + bytes.len() as u64;
                Ok(bytes.len())
            },
        )?;
        if n < buf.len() {
            return Err(short_write(n, buf.len()));
        }
        Ok(())
    }
    fn sync_data(&self) -> io::Result<()> {
        self.fs.mutate(
            OpClass::Fsync,
            || format!("fsync {}", self.path.display()),
            |st, _| sync_inode(st, self.ino),
        )
    }
    fn sync_all(&self) -> io::Result<()> {
        self.sync_data()
    }
    fn meta(&self) -> io::Result<Meta> {
        lock(&self.fs.w.state).meta_of(Node::File(self.ino))
    }
}

fn sync_inode(st: &mut SimState, ino: u64) -> io::Result<()> {
    let i = st.inodes.get_mut(&ino).ok_or_else(not_found)?;
    i.durable = i.data.clone();
    i.pending.clear();
    Ok(())
}

/// A file opened for reading: sees what processes see, at its position.
#[derive(Debug)]
struct SimRead {
    fs: SimFs,
    ino: u64,
    pos: u64,
}

impl Read for SimRead {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let st = lock(&self.fs.w.state);
        let i = st.inodes.get(&self.ino).ok_or_else(not_found)?;
        let start = (self.pos as usize).min(i.data.len());
        let n = buf.len().min(i.data.len() - start);
        buf[..n].copy_from_slice(&i.data[start..start + n]);
        self.pos += n as u64;
        Ok(n)
    }
}

impl ReadFile for SimRead {
    fn meta(&self) -> io::Result<Meta> {
        lock(&self.fs.w.state).meta_of(Node::File(self.ino))
    }
    fn seek_to(&mut self, pos: u64) -> io::Result<()> {
        self.pos = pos;
        Ok(())
    }
    /// `fsync` through a descriptor opened for reading makes the file's
    /// data durable, as on Linux (sealing fsyncs the live file this way
    /// before it hashes it). A file with nothing unsynced is left alone and
    /// records no operation, so readers add no crash points.
    fn sync_all(&self) -> io::Result<()> {
        let dirty = lock(&self.fs.w.state)
            .inodes
            .get(&self.ino)
            .is_some_and(|i| !i.pending.is_empty());
        if !dirty {
            return Ok(());
        }
        self.fs.mutate(
            OpClass::Fsync,
            || format!("fsync inode {} (opened for reading)", self.ino),
            |st, _| sync_inode(st, self.ino),
        )
    }
}

/// An advisory lock handle on a file.
#[derive(Debug)]
struct SimLock {
    fs: SimFs,
    ino: u64,
    handle: u64,
}

impl SimLock {
    fn acquire(&self, exclusive: bool, wait: bool) -> io::Result<bool> {
        let w = &self.fs.w;
        let mut locks = lock(&w.locks);
        loop {
            let (shared, excl) = locks.held.entry(self.ino).or_default();
            // Converting a lock first releases the one held (as flock does).
            shared.remove(&self.handle);
            if *excl == Some(self.handle) {
                *excl = None;
            }
            let free = if exclusive {
                excl.is_none() && shared.is_empty()
            } else {
                excl.is_none()
            };
            if free {
                if exclusive {
                    *excl = Some(self.handle);
                } else {
                    shared.insert(self.handle);
                }
                return Ok(true);
            }
            if !wait {
                return Ok(false);
            }
            w.lock_cv.notify_all();
            locks = scout_audit_core::writer::wait_ignoring_poison(&w.lock_cv, locks);
        }
    }
}

impl LockFile for SimLock {
    fn lock_shared(&self) -> io::Result<()> {
        self.acquire(false, true).map(|_| ())
    }
    fn lock_exclusive(&self) -> io::Result<()> {
        self.acquire(true, true).map(|_| ())
    }
    fn try_lock_exclusive(&self) -> io::Result<bool> {
        self.acquire(true, false)
    }
    fn unlock(&self) -> io::Result<()> {
        let w = &self.fs.w;
        let mut locks = lock(&w.locks);
        if let Some((shared, excl)) = locks.held.get_mut(&self.ino) {
            shared.remove(&self.handle);
            if *excl == Some(self.handle) {
                *excl = None;
            }
        }
        w.lock_cv.notify_all();
        Ok(())
    }
}

impl Drop for SimLock {
    fn drop(&mut self) {
        // Closing the descriptor releases its flock.
        let _ = self.unlock();
    }
}

impl SimFs {
    /// `rename`, or `renameat2(RENAME_NOREPLACE)` without `replace`: the
    /// check and the rename are one step under the state lock.
    fn rename_impl(&self, from: &Path, to: &Path, replace: bool) -> io::Result<()> {
        let (from, to) = (normalize(from), normalize(to));
        self.mutate(
            OpClass::Rename,
            || format!("rename {} -> {}", from.display(), to.display()),
            |st, _| {
                if !replace && st.lookup(&to).is_ok() {
                    return Err(io::Error::from(io::ErrorKind::AlreadyExists));
                }
                let (fd, fname) = split(&from)?;
                let (td, tname) = split(&to)?;
                if fd != td {
                    return Err(io::Error::other("rename across directories"));
                }
                let ino = st.lookup_file(&from)?;
                if let Ok(Node::Dir) = st.lookup(&to) {
                    return Err(io::Error::other("target is a directory"));
                }
                let d = st.dir_mut(&fd)?;
                d.entries.remove(&fname);
                d.entries.insert(tname.clone(), Node::File(ino));
                d.pending.push(DirOp::Rename {
                    from: fname,
                    to: tname,
                    ino,
                });
                Ok(())
            },
        )
    }
}

impl Fs for SimFs {
    fn open_append(&self, path: &Path) -> io::Result<Arc<dyn WriteFile>> {
        Ok(Arc::new(self.open_write(path, true)?))
    }
    fn create_new(&self, path: &Path) -> io::Result<Arc<dyn WriteFile>> {
        let path = normalize(path);
        // The check and the creation are one step (`O_CREAT | O_EXCL`).
        let ino = self.mutate(
            OpClass::Create,
            || format!("create {}", path.display()),
            |st, _| {
                let (dir, name) = split(&path)?;
                if !st.dirs.contains_key(&dir) {
                    return Err(not_found());
                }
                if st.lookup(&path).is_ok() {
                    return Err(io::Error::from(io::ErrorKind::AlreadyExists));
                }
                let ino = st.new_inode();
                st.link(&dir, &name, Node::File(ino))?;
                Ok(ino)
            },
        )?;
        Ok(Arc::new(SimWrite {
            fs: self.clone(),
            ino,
            path,
            append: false,
            pos: Mutex::new(0),
        }))
    }
    fn open_read(&self, path: &Path) -> io::Result<Box<dyn ReadFile>> {
        let ino = lock(&self.w.state).lookup_file(&normalize(path))?;
        Ok(Box::new(SimRead {
            fs: self.clone(),
            ino,
            pos: 0,
        }))
    }
    fn truncate(&self, path: &Path, len: u64) -> io::Result<()> {
        let path = normalize(path);
        let ino = lock(&self.w.state).lookup_file(&path)?;
        self.mutate(
            OpClass::Truncate,
            || format!("truncate {} to {len}", path.display()),
            |st, _| {
                let ops = st.ops;
                let i = st.inodes.get_mut(&ino).ok_or_else(not_found)?;
                let op = FileOp::SetLen(len);
                apply_file_op(&mut i.data, &op);
                i.pending.push(op);
                i.mtime = ops;
                Ok(())
            },
        )?;
        // `Fs::truncate` syncs the file.
        self.mutate(
            OpClass::Fsync,
            || format!("fsync {} (truncate)", path.display()),
            |st, _| sync_inode(st, ino),
        )
    }
    fn rename_noreplace(&self, from: &Path, to: &Path) -> io::Result<()> {
        self.rename_impl(from, to, false)
    }
    fn rename(&self, from: &Path, to: &Path) -> io::Result<()> {
        self.rename_impl(from, to, true)
    }
    fn remove_file(&self, path: &Path) -> io::Result<()> {
        let path = normalize(path);
        self.mutate(
            OpClass::Unlink,
            || format!("unlink {}", path.display()),
            |st, _| {
                let ino = st.lookup_file(&path)?;
                let (dir, name) = split(&path)?;
                let d = st.dir_mut(&dir)?;
                d.entries.remove(&name);
                d.pending.push(DirOp::Unlink { name, ino });
                // The inode lives on while open; it is unreachable after a crash.
                Ok(())
            },
        )
    }
    fn sync_dir(&self, dir: &Path) -> io::Result<()> {
        let dir = normalize(dir);
        self.mutate(
            OpClass::DirFsync,
            || format!("fsync directory {}", dir.display()),
            |st, _| {
                let d = st.dir_mut(&dir)?;
                d.durable = d.entries.clone();
                d.pending.clear();
                Ok(())
            },
        )
    }
    fn list_dir(&self, dir: &Path) -> io::Result<Vec<String>> {
        let st = lock(&self.w.state);
        let d = st.dirs.get(&normalize(dir)).ok_or_else(not_found)?;
        Ok(d.entries.keys().cloned().collect())
    }
    fn stat(&self, path: &Path) -> io::Result<Meta> {
        let st = lock(&self.w.state);
        let node = st.lookup(&normalize(path))?;
        st.meta_of(node)
    }
    fn lstat(&self, path: &Path) -> io::Result<Meta> {
        // No symbolic links in the simulation.
        self.stat(path)
    }
    fn create_dir_all(&self, dir: &Path) -> io::Result<()> {
        let dir = normalize(dir);
        if lock(&self.w.state).lookup(&dir).is_ok() {
            return match lock(&self.w.state).lookup(&dir)? {
                Node::Dir => Ok(()),
                Node::File(_) => Err(io::Error::other("not a directory")),
            };
        }
        self.mutate(
            OpClass::Mkdir,
            || format!("mkdir -p {}", dir.display()),
            |st, _| st.mkdir_all(&dir),
        )
    }
    fn open_lock(&self, path: &Path, create: bool) -> io::Result<Arc<dyn LockFile>> {
        let path = normalize(path);
        let ino = match lock(&self.w.state).lookup_file(&path) {
            Ok(ino) => Some(ino),
            Err(e) if !create => return Err(e),
            Err(_) => None,
        };
        let ino = match ino {
            Some(i) => i,
            None => self.open_write(&path, false)?.ino,
        };
        Ok(Arc::new(SimLock {
            fs: self.clone(),
            ino,
            handle: self.handle(),
        }))
    }
    fn open_file_lock(&self, path: &Path) -> io::Result<Arc<dyn LockFile>> {
        let ino = lock(&self.w.state).lookup_file(&normalize(path))?;
        Ok(Arc::new(SimLock {
            fs: self.clone(),
            ino,
            handle: self.handle(),
        }))
    }
}

#[cfg(test)]
mod tests;
