//! Store settings as named types.

use std::num::NonZeroU64;
use std::time::Duration;

/// When the store fsyncs on top of the `process` durability level: after
/// every N lines, or when T has passed since the last fsync and lines are
/// unsynced (a background timer keeps the interval even when writes stop).
/// `flush`, `close` and rotation always fsync.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FsyncPolicy {
    /// Fsync when this many lines are unsynced.
    pub lines: Option<NonZeroU64>,
    /// Fsync when unsynced lines are this old.
    pub interval: Option<Duration>,
}

impl FsyncPolicy {
    /// The Python original's policy, the default: 10 lines or 1.0 s.
    pub const PYTHON: FsyncPolicy = FsyncPolicy {
        lines: NonZeroU64::new(10),
        interval: Some(Duration::from_secs(1)),
    };

    /// Fsync only on `flush`, `close` and rotation.
    pub const NEVER: FsyncPolicy = FsyncPolicy {
        lines: None,
        interval: None,
    };

    /// A policy with the given bounds (`0` lines: no line bound).
    pub fn new(lines: u64, interval: Option<Duration>) -> FsyncPolicy {
        FsyncPolicy {
            lines: NonZeroU64::new(lines),
            interval,
        }
    }
}

impl Default for FsyncPolicy {
    fn default() -> Self {
        FsyncPolicy::PYTHON
    }
}

/// The size at which the live segment is sealed and a new one started.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct RotateSize(pub(crate) u64);

impl RotateSize {
    /// 10 MiB, the Python original's size.
    pub const DEFAULT: RotateSize = RotateSize(10 << 20);
    /// Never rotate by size (`scout-audit rotate` still can).
    pub const NEVER: RotateSize = RotateSize(u64::MAX);

    /// Rotate before a write would take the live segment past `n` bytes
    /// (a segment holds at least one record, so a single record larger
    /// than `n` makes a larger segment). `0` means never.
    pub fn bytes(n: u64) -> RotateSize {
        if n == 0 {
            RotateSize::NEVER
        } else {
            RotateSize(n)
        }
    }

    /// The size in bytes (`u64::MAX` for never).
    pub fn get(self) -> u64 {
        self.0
    }
}

impl Default for RotateSize {
    fn default() -> Self {
        RotateSize::DEFAULT
    }
}

/// Which compressed archives to delete, applied on open and after each
/// rotation (once the new archive is compressed). Only `.gz` archives are
/// ever deleted, oldest first; the live file and sealed segments awaiting
/// compression never are. The default keeps everything.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Retention {
    /// Keep at most this many archives.
    pub max_archives: Option<usize>,
    /// Delete archives sealed longer ago than this.
    pub max_age: Option<Duration>,
    /// Keep the archives' total size under this many bytes.
    pub max_bytes: Option<u64>,
}

impl Retention {
    /// Keep every archive.
    pub const KEEP_ALL: Retention = Retention {
        max_archives: None,
        max_age: None,
        max_bytes: None,
    };

    /// Whether any bound is set.
    pub fn is_active(&self) -> bool {
        self.max_archives.is_some() || self.max_age.is_some() || self.max_bytes.is_some()
    }
}

/// What happens to a sealed segment.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Compression {
    /// Compressed to `.gz` by a background thread (writers never wait).
    #[default]
    Background,
    /// Left as a plain `.jsonl` (readers read it the same).
    Off,
}

/// Whether a store directory that group or others can write is accepted.
/// Whoever can write the directory can plant links and files at the
/// store's names; the store never follows or replaces them, but it can be
/// kept from working. The default refuses such a directory, as OpenSSH's
/// `StrictModes` does.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum SharedDir {
    /// Refuse to write into a directory with mode bits `g+w` or `o+w`.
    #[default]
    Refuse,
    /// Accept it (the directory is shared on purpose).
    Allow,
}

impl SharedDir {
    /// Checks the store directory `dir` (following symbolic links on its
    /// path: `~/.scout -> /data/scout` is checked at `/data/scout`).
    pub fn check(self, fs: &dyn crate::fs::Fs, dir: &std::path::Path) -> crate::Result<()> {
        if self == SharedDir::Allow {
            return Ok(());
        }
        let m = fs.stat(dir).map_err(|e| crate::Error::io("stat", dir, e))?;
        if m.is_dir && m.mode & 0o022 != 0 {
            return Err(crate::Error::SharedDir {
                path: dir.to_path_buf(),
                mode: m.mode,
            });
        }
        Ok(())
    }
}

/// How long a writer of a store set up for sealing (`seal init`) lets the
/// lines it wrote wait before it seals them: a thread of the writer seals
/// once per interval when it wrote since its last seal, and `close` seals
/// what is left. A store not set up for sealing is not touched whatever
/// this says.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SealInterval(Option<Duration>);

impl SealInterval {
    /// Once a second, the default (issue 10: no durable line stays
    /// unsealed for more than about 1 s while a writer runs).
    pub const DEFAULT: SealInterval = SealInterval(Some(Duration::from_secs(1)));

    /// Never seal automatically (`scout-audit seal` still does).
    pub const OFF: SealInterval = SealInterval(None);

    /// Seal every `d`; zero means [`SealInterval::OFF`].
    pub fn every(d: Duration) -> SealInterval {
        if d.is_zero() {
            SealInterval::OFF
        } else {
            SealInterval(Some(d))
        }
    }

    /// The interval; `None` when off.
    pub fn get(self) -> Option<Duration> {
        self.0
    }
}

impl Default for SealInterval {
    fn default() -> Self {
        SealInterval::DEFAULT
    }
}
