//! The one narrow interface through which the store touches the file
//! system, and its real implementation.
//!
//! Every open, write, fsync, rename, unlink, directory listing and lock of
//! the store goes through [`Fs`]; nothing else in this crate calls
//! `std::fs`. The crash tests put a simulated file system under it that
//! keeps unsynced writes and directory operations pending and decides what
//! survives a crash.
//!
//! **Hostile directories.** Every open names its final component without
//! following it (`O_NOFOLLOW`) and without blocking on a FIFO
//! (`O_NONBLOCK`, cleared once the file is known to be regular), and
//! refuses anything but a regular file with an error that says what is
//! there ("is a symbolic link to /etc/passwd (not followed)"). New files
//! are created exclusively ([`Fs::create_new`]), and segments are renamed
//! without replacing ([`Fs::rename_noreplace`]). The directory's own path
//! may go through symbolic links (`~/.scout -> /data/scout`).

use std::fmt;
use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::os::unix::fs::{DirBuilderExt, MetadataExt, OpenOptionsExt};
use std::path::Path;
use std::sync::Arc;
use std::time::SystemTime;

/// Which file a path or handle is: equal for two paths or handles of the
/// same file.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct FileId {
    /// The device (`st_dev`).
    pub dev: u64,
    /// The inode (`st_ino`).
    pub ino: u64,
}

/// Identity and size of a file, as `stat` gives them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Meta {
    /// Device and inode.
    pub id: FileId,
    /// Length in bytes.
    pub len: u64,
    /// Whether it is a regular file.
    pub is_file: bool,
    /// Whether it is a directory.
    pub is_dir: bool,
    /// Whether it is a symbolic link (only [`Fs::lstat`] says so).
    pub is_symlink: bool,
    /// The permission bits (`st_mode & 0o7777`).
    pub mode: u32,
    /// Last modification time.
    pub mtime: SystemTime,
    /// Last status change (`st_ctime`): set by the kernel on every write,
    /// truncate, rename, link or `touch`, never by `utimensat`. `None`
    /// where unknown (a simulated file system): nothing is trusted on it.
    pub ctime: Option<SystemTime>,
}

/// A file opened for appending (the live segment) or for writing a new file
/// (a compressed archive, a quarantine file).
pub trait WriteFile: Send + Sync + fmt::Debug {
    /// Writes all of `buf` with one `write` call. A short write is an error
    /// (a second call could interleave with another process's append),
    /// made by [`short_write`] so the caller knows how many bytes landed;
    /// any other error means nothing was written.
    fn write_once(&self, buf: &[u8]) -> io::Result<()>;
    /// `fdatasync`: the data and the size are on stable storage.
    fn sync_data(&self) -> io::Result<()>;
    /// `fsync`.
    fn sync_all(&self) -> io::Result<()>;
    /// `fstat`.
    fn meta(&self) -> io::Result<Meta>;
}

/// A file opened for reading.
pub trait ReadFile: Read + Send + fmt::Debug {
    /// `fstat`.
    fn meta(&self) -> io::Result<Meta>;
    /// Moves the read position.
    fn seek_to(&mut self, pos: u64) -> io::Result<()>;
    /// `fsync` (allowed on a file opened for reading): writes back pages
    /// dirtied through someone's shared mapping, so that a later write
    /// through it faults and changes the file's ctime.
    fn sync_all(&self) -> io::Result<()> {
        Ok(())
    }
}

/// An advisory lock file (`flock`). Each handle is an independent holder,
/// as two processes are.
pub trait LockFile: Send + Sync + fmt::Debug {
    /// Blocks until a shared lock is held.
    fn lock_shared(&self) -> io::Result<()>;
    /// Blocks until the exclusive lock is held.
    fn lock_exclusive(&self) -> io::Result<()>;
    /// Takes the exclusive lock if free; `false` if another holder has it.
    fn try_lock_exclusive(&self) -> io::Result<bool>;
    /// Releases what this handle holds.
    fn unlock(&self) -> io::Result<()>;
}

/// The file-system operations of the store.
///
/// Every open refuses a symbolic link at the final component and anything
/// that is not a regular file (a directory, FIFO, socket or device) with an
/// error whose message says what is there; none blocks on a FIFO.
pub trait Fs: Send + Sync + fmt::Debug {
    /// Opens `path` for appending (`O_APPEND`), creating it with mode 0600
    /// when missing.
    fn open_append(&self, path: &Path) -> io::Result<Arc<dyn WriteFile>>;
    /// Creates `path` (mode 0600) for writing; fails with
    /// [`io::ErrorKind::AlreadyExists`] when anything is there, a dangling
    /// symbolic link included (`O_CREAT | O_EXCL`).
    fn create_new(&self, path: &Path) -> io::Result<Arc<dyn WriteFile>>;
    /// Opens `path` for reading.
    fn open_read(&self, path: &Path) -> io::Result<Box<dyn ReadFile>>;
    /// Truncates the file at `path` to `len` bytes and fsyncs it.
    fn truncate(&self, path: &Path, len: u64) -> io::Result<()>;
    /// Renames a file within its directory, atomically replacing what is
    /// at `to`. Callers check `to` with [`Fs::lstat`] first: only a regular
    /// file of the store's own may be replaced.
    fn rename(&self, from: &Path, to: &Path) -> io::Result<()>;
    /// Renames a file within its directory; fails with
    /// [`io::ErrorKind::AlreadyExists`] when anything is at `to`
    /// (`renameat2(RENAME_NOREPLACE)`).
    fn rename_noreplace(&self, from: &Path, to: &Path) -> io::Result<()>;
    /// Unlinks a file (a symbolic link itself, never its target).
    fn remove_file(&self, path: &Path) -> io::Result<()>;
    /// Fsyncs a directory, making renames, creates and unlinks in it durable.
    fn sync_dir(&self, dir: &Path) -> io::Result<()>;
    /// The names of the entries of a directory (any order).
    fn list_dir(&self, dir: &Path) -> io::Result<Vec<String>>;
    /// `stat` (following symlinks).
    fn stat(&self, path: &Path) -> io::Result<Meta>;
    /// `lstat`: a symbolic link is described, not followed.
    fn lstat(&self, path: &Path) -> io::Result<Meta>;
    /// Creates a directory and its parents, mode 0700 for those created.
    fn create_dir_all(&self, dir: &Path) -> io::Result<()>;
    /// Opens a lock file, creating it (mode 0600) when `create` is set.
    fn open_lock(&self, path: &Path, create: bool) -> io::Result<Arc<dyn LockFile>>;
    /// Opens a file to hold an advisory lock on the file itself (used to
    /// mark a segment as being compressed).
    fn open_file_lock(&self, path: &Path) -> io::Result<Arc<dyn LockFile>>;
}

/// Whether a regular file is at `path` (`Ok(false)`: nothing is there),
/// from [`Fs::lstat`]; anything else there (a link, a directory, a FIFO)
/// was not made by the store and is [`crate::Error::Foreign`], naming it.
/// What a step that replaces or removes one of the store's own files
/// checks first.
pub fn regular_or_absent(fs: &dyn Fs, path: &Path) -> Result<bool, crate::Error> {
    match fs.lstat(path) {
        Ok(m) if m.is_file => Ok(true),
        Ok(_) => Err(crate::Error::Foreign {
            path: path.to_path_buf(),
            what: describe_not_regular(path).unwrap_or_else(|| "is not a regular file".to_owned()),
        }),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(false),
        Err(e) => Err(crate::Error::io("stat", path, e)),
    }
}

/// Fsyncs the directory `dir` ([`Fs::sync_dir`]), making the renames,
/// creates and unlinks in it durable; a failure names the directory.
pub(crate) fn sync_dir(fs: &dyn Fs, dir: &Path) -> Result<(), crate::Error> {
    fs.sync_dir(dir)
        .map_err(|e| crate::Error::io("fsync directory", dir, e))
}

/// Unlinks the file at `path` ([`Fs::remove_file`]); nothing there is not
/// an error (someone removed it first, or a crash came after the unlink).
pub(crate) fn remove_if_present(fs: &dyn Fs, path: &Path) -> Result<(), crate::Error> {
    match fs.remove_file(path) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(crate::Error::io("remove", path, e)),
    }
}

/// Removes a temporary file of the store's own left by a crash, before it
/// is created again exclusively: only a regular file is; anything else at
/// the name (a symbolic link, a directory, a FIFO) was not made by the
/// store, is left alone, and is an error naming it.
pub(crate) fn remove_stale_temp(fs: &dyn Fs, path: &Path) -> Result<(), crate::Error> {
    if regular_or_absent(fs, path)? {
        remove_if_present(fs, path)?;
    }
    Ok(())
}

/// What is at `path` when it is not a regular file ("is a symbolic link to
/// /x (not followed)", "is a FIFO", ...), from `lstat`; `None` for a
/// regular file or nothing.
pub fn describe_not_regular(path: &Path) -> Option<String> {
    use std::os::unix::fs::FileTypeExt;
    let m = fs::symlink_metadata(path).ok()?;
    let t = m.file_type();
    Some(if t.is_symlink() {
        match fs::read_link(path) {
            Ok(to) => format!("is a symbolic link to {} (not followed)", to.display()),
            Err(_) => "is a symbolic link (not followed)".to_owned(),
        }
    } else if t.is_dir() {
        "is a directory, not a regular file".to_owned()
    } else if t.is_fifo() {
        "is a FIFO, not a regular file".to_owned()
    } else if t.is_socket() {
        "is a socket, not a regular file".to_owned()
    } else if t.is_block_device() || t.is_char_device() {
        "is a device, not a regular file".to_owned()
    } else {
        return None;
    })
}

/// The error of an open refused because `path` is not a regular file.
fn not_regular(path: &Path, kind: io::ErrorKind) -> io::Error {
    let what = describe_not_regular(path).unwrap_or_else(|| "is not a regular file".to_owned());
    io::Error::new(kind, what)
}

/// Opens `path` with `opts` plus `O_NOFOLLOW | O_NONBLOCK`, refusing
/// anything but a regular file; clears `O_NONBLOCK` on the result.
pub fn open_regular(path: &Path, opts: &mut OpenOptions) -> io::Result<File> {
    use rustix::fs::OFlags;
    let flags = OFlags::NOFOLLOW | OFlags::NONBLOCK;
    let f = match opts.custom_flags(flags.bits() as i32).open(path) {
        Ok(f) => f,
        // ELOOP: a symbolic link; ENXIO: a FIFO without reader or a
        // socket; EISDIR: a directory opened for writing.
        Err(e)
            if matches!(
                e.raw_os_error().map(rustix::io::Errno::from_raw_os_error),
                Some(rustix::io::Errno::LOOP | rustix::io::Errno::NXIO | rustix::io::Errno::ISDIR)
            ) =>
        {
            return Err(match describe_not_regular(path) {
                Some(what) => io::Error::new(io::ErrorKind::InvalidInput, what),
                None => e,
            });
        }
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {
            return Err(match describe_not_regular(path) {
                Some(what) => io::Error::new(io::ErrorKind::AlreadyExists, what),
                None => e,
            });
        }
        Err(e) => return Err(e),
    };
    if !f.metadata()?.is_file() {
        return Err(not_regular(path, io::ErrorKind::InvalidInput));
    }
    let fl = rustix::fs::fcntl_getfl(&f)?;
    rustix::fs::fcntl_setfl(&f, fl - OFlags::NONBLOCK)?;
    Ok(f)
}

/// Opens a file a user named as input (`scout-audit query FILE...`, a
/// glob, a directory's files) for reading: following links (the user's
/// choice), but without blocking on a FIFO (`O_NONBLOCK`) and refusing
/// anything but a regular file, so a FIFO or device among the inputs is a
/// reported problem, never a hang.
pub fn open_input(path: &Path) -> io::Result<File> {
    use rustix::fs::OFlags;
    let f = OpenOptions::new()
        .read(true)
        .custom_flags(OFlags::NONBLOCK.bits() as i32)
        .open(path)?;
    if !f.metadata()?.is_file() {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            describe_not_regular(path).unwrap_or_else(|| "is not a regular file".to_owned()),
        ));
    }
    let fl = rustix::fs::fcntl_getfl(&f)?;
    rustix::fs::fcntl_setfl(&f, fl - OFlags::NONBLOCK)?;
    Ok(f)
}

/// Refuses to write to a file that has another name (a hard link): a link
/// planted at a store name to a file elsewhere would have the store append
/// to, or truncate, a file it does not own. The store never links its own
/// files (renames only).
fn only_link(f: &File) -> io::Result<()> {
    let links = f.metadata()?.nlink();
    if links > 1 {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!(
                "has {links} hard links (another name shares the file): the store does not write to a file it cannot own"
            ),
        ));
    }
    Ok(())
}

/// Renames `from` to `to` unless something is at `to`
/// (`renameat2(RENAME_NOREPLACE)`; where the file system lacks it, a hard
/// link, which never replaces either, then the unlink of `from`).
pub fn rename_noreplace(from: &Path, to: &Path) -> io::Result<()> {
    use rustix::fs::{CWD, RenameFlags};
    match rustix::fs::renameat_with(CWD, from, CWD, to, RenameFlags::NOREPLACE) {
        Ok(()) => Ok(()),
        Err(rustix::io::Errno::INVAL | rustix::io::Errno::NOSYS) => {
            fs::hard_link(from, to)?;
            fs::remove_file(from)
        }
        Err(rustix::io::Errno::EXIST) => Err(io::Error::new(
            io::ErrorKind::AlreadyExists,
            format!("{} exists; the store never replaces it", to.display()),
        )),
        Err(e) => Err(e.into()),
    }
}

/// The error of a short write: `written` of `len` bytes landed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ShortWrite {
    /// Bytes written.
    pub written: usize,
    /// Bytes asked.
    pub len: usize,
}

impl fmt::Display for ShortWrite {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "short write: {} of {} bytes", self.written, self.len)
    }
}

impl std::error::Error for ShortWrite {}

/// The error [`WriteFile::write_once`] returns when only `written` of `len`
/// bytes were written.
pub fn short_write(written: usize, len: usize) -> io::Error {
    io::Error::new(io::ErrorKind::WriteZero, ShortWrite { written, len })
}

/// How many bytes a failed [`WriteFile::write_once`] wrote: the count of a
/// [`short_write`] error, else 0.
pub fn bytes_written_by(e: &io::Error) -> usize {
    e.get_ref()
        .and_then(|x| x.downcast_ref::<ShortWrite>())
        .map_or(0, |s| s.written)
}

/// The real file system.
#[derive(Clone, Copy, Debug, Default)]
pub struct RealFs;

fn meta_of(m: &fs::Metadata) -> Meta {
    Meta {
        id: FileId {
            dev: m.dev(),
            ino: m.ino(),
        },
        len: m.len(),
        is_file: m.is_file(),
        is_dir: m.is_dir(),
        is_symlink: m.file_type().is_symlink(),
        mode: m.mode() & 0o7777,
        mtime: m.modified().unwrap_or(SystemTime::UNIX_EPOCH),
        ctime: u32::try_from(m.ctime_nsec())
            .ok()
            .and_then(|ns| ctime_of(m.ctime(), ns)),
    }
}

/// The instant `secs` seconds and `nanos` after the epoch.
fn ctime_of(secs: i64, nanos: u32) -> Option<SystemTime> {
    let d = std::time::Duration::new(secs.unsigned_abs(), 0);
    let t = if secs >= 0 {
        SystemTime::UNIX_EPOCH.checked_add(d)?
    } else {
        SystemTime::UNIX_EPOCH.checked_sub(d)?
    };
    t.checked_add(std::time::Duration::from_nanos(u64::from(nanos)))
}

#[derive(Debug)]
struct RealWrite(File);

impl WriteFile for RealWrite {
    fn write_once(&self, buf: &[u8]) -> io::Result<()> {
        loop {
            match (&self.0).write(buf) {
                Ok(n) if n == buf.len() => return Ok(()),
                Ok(n) => return Err(short_write(n, buf.len())),
                // Interrupted before anything was written: safe to retry.
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            }
        }
    }
    fn sync_data(&self) -> io::Result<()> {
        self.0.sync_data()
    }
    fn sync_all(&self) -> io::Result<()> {
        self.0.sync_all()
    }
    fn meta(&self) -> io::Result<Meta> {
        Ok(meta_of(&self.0.metadata()?))
    }
}

#[derive(Debug)]
struct RealRead(File);

impl Read for RealRead {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.0.read(buf)
    }
}

impl ReadFile for RealRead {
    fn meta(&self) -> io::Result<Meta> {
        Ok(meta_of(&self.0.metadata()?))
    }
    fn seek_to(&mut self, pos: u64) -> io::Result<()> {
        self.0.seek(SeekFrom::Start(pos)).map(|_| ())
    }
    fn sync_all(&self) -> io::Result<()> {
        self.0.sync_all()
    }
}

#[derive(Debug)]
struct RealLock(File);

impl LockFile for RealLock {
    fn lock_shared(&self) -> io::Result<()> {
        flock(&self.0, rustix::fs::FlockOperation::LockShared)
    }
    fn lock_exclusive(&self) -> io::Result<()> {
        flock(&self.0, rustix::fs::FlockOperation::LockExclusive)
    }
    fn try_lock_exclusive(&self) -> io::Result<bool> {
        match rustix::fs::flock(
            &self.0,
            rustix::fs::FlockOperation::NonBlockingLockExclusive,
        ) {
            Ok(()) => Ok(true),
            Err(e) if e == rustix::io::Errno::WOULDBLOCK => Ok(false),
            Err(e) => Err(e.into()),
        }
    }
    fn unlock(&self) -> io::Result<()> {
        flock(&self.0, rustix::fs::FlockOperation::Unlock)
    }
}

fn flock(f: &File, op: rustix::fs::FlockOperation) -> io::Result<()> {
    loop {
        match rustix::fs::flock(f, op) {
            Ok(()) => return Ok(()),
            Err(rustix::io::Errno::INTR) => continue,
            Err(e) => return Err(e.into()),
        }
    }
}

impl Fs for RealFs {
    fn open_append(&self, path: &Path) -> io::Result<Arc<dyn WriteFile>> {
        let f = open_regular(
            path,
            OpenOptions::new().append(true).create(true).mode(0o600),
        )?;
        only_link(&f)?;
        Ok(Arc::new(RealWrite(f)))
    }
    fn create_new(&self, path: &Path) -> io::Result<Arc<dyn WriteFile>> {
        let f = open_regular(
            path,
            OpenOptions::new().write(true).create_new(true).mode(0o600),
        )?;
        Ok(Arc::new(RealWrite(f)))
    }
    fn open_read(&self, path: &Path) -> io::Result<Box<dyn ReadFile>> {
        let f = open_regular(path, OpenOptions::new().read(true))?;
        Ok(Box::new(RealRead(f)))
    }
    fn truncate(&self, path: &Path, len: u64) -> io::Result<()> {
        let f = open_regular(path, OpenOptions::new().write(true))?;
        only_link(&f)?;
        f.set_len(len)?;
        f.sync_all()
    }
    fn rename(&self, from: &Path, to: &Path) -> io::Result<()> {
        fs::rename(from, to)
    }
    fn rename_noreplace(&self, from: &Path, to: &Path) -> io::Result<()> {
        rename_noreplace(from, to)
    }
    fn remove_file(&self, path: &Path) -> io::Result<()> {
        fs::remove_file(path)
    }
    fn sync_dir(&self, dir: &Path) -> io::Result<()> {
        File::open(dir)?.sync_all()
    }
    fn list_dir(&self, dir: &Path) -> io::Result<Vec<String>> {
        let mut names = Vec::new();
        for entry in fs::read_dir(dir)? {
            let entry = entry?;
            if let Some(name) = entry.file_name().to_str() {
                names.push(name.to_owned());
            }
        }
        Ok(names)
    }
    fn stat(&self, path: &Path) -> io::Result<Meta> {
        Ok(meta_of(&fs::metadata(path)?))
    }
    fn lstat(&self, path: &Path) -> io::Result<Meta> {
        Ok(meta_of(&fs::symlink_metadata(path)?))
    }
    fn create_dir_all(&self, dir: &Path) -> io::Result<()> {
        fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(dir)
    }
    fn open_lock(&self, path: &Path, create: bool) -> io::Result<Arc<dyn LockFile>> {
        let f = if create {
            open_regular(
                path,
                OpenOptions::new()
                    .read(true)
                    .write(true)
                    .create(true)
                    .truncate(false)
                    .mode(0o600),
            )?
        } else {
            open_regular(path, OpenOptions::new().read(true))?
        };
        Ok(Arc::new(RealLock(f)))
    }
    fn open_file_lock(&self, path: &Path) -> io::Result<Arc<dyn LockFile>> {
        Ok(Arc::new(RealLock(open_regular(
            path,
            OpenOptions::new().read(true),
        )?)))
    }
}
