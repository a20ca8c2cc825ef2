//! The hostile-filesystem kit: plant a symlink, a directory, a FIFO or a
//! foreign file at a name the store may use, run something, and check that
//! nothing outside the store changed and that the plant itself is as it was.
//!
//! The threat (docs/durability.md, "Threat model"): a careless user or a
//! hostile process (the audited program itself can be one) shares the
//! store's directory. Whatever it plants there, the store must not write
//! through it to a file outside the directory, must not delete or rewrite
//! what it did not create, and must not hang; where it cannot go on, it
//! fails with an error that names the path.
//!
//! - [`Plant`]: the six kinds of thing planted.
//! - [`Outside`]: a directory outside the store holding the victim file the
//!   symlinks point at (and the dangling target that must stay absent).
//! - [`Tree`]: a snapshot of a directory tree taken without following links,
//!   compared before and after.
//!
//! ```
//! use scout_audit_testkit::hostile::{Outside, Plant, Tree};
//!
//! let root = std::env::temp_dir().join(format!("hostile-doc-{}", std::process::id()));
//! let outside = Outside::new(&root.join("outside")).unwrap();
//! let store = root.join("s");
//! std::fs::create_dir_all(&store).unwrap();
//! let before = outside.snapshot().unwrap();
//! Plant::Symlink.plant(&store.join("audit.jsonl"), &outside).unwrap();
//! assert!(Plant::Symlink.intact(&store.join("audit.jsonl"), &outside).unwrap());
//! assert_eq!(outside.snapshot().unwrap(), before);
//! std::fs::remove_dir_all(&root).unwrap();
//! ```

use std::collections::BTreeMap;
use std::fmt;
use std::fs;
use std::io;
use std::os::unix::fs::{FileTypeExt, MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};

/// The bytes of the victim file outside the store.
pub const VICTIM_BYTES: &[u8] = b"precious bytes outside the store\n";
/// The bytes of a foreign file planted in the store (another tool's file:
/// text, no audit record).
pub const FOREIGN_BYTES: &[u8] = b"another tool's file, not an audit log\n";

/// What is planted at a name the store may use.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Plant {
    /// A symlink to the victim file outside the store.
    Symlink,
    /// A symlink to the directory outside the store: a file created
    /// under it would land outside.
    DirSymlink,
    /// A symlink to a path outside the store that does not exist: following
    /// it on a create would make a file there.
    DanglingSymlink,
    /// An empty directory.
    Directory,
    /// A FIFO: opening it for reading without `O_NONBLOCK` waits for a
    /// writer forever.
    Fifo,
    /// A regular file of another tool's ([`FOREIGN_BYTES`]).
    ForeignFile,
}

impl Plant {
    /// Every kind.
    pub const ALL: [Plant; 6] = [
        Plant::Symlink,
        Plant::DirSymlink,
        Plant::DanglingSymlink,
        Plant::Directory,
        Plant::Fifo,
        Plant::ForeignFile,
    ];

    /// Plants this kind at `at` (its parent must exist).
    pub fn plant(self, at: &Path, outside: &Outside) -> io::Result<()> {
        match self {
            Plant::Symlink => std::os::unix::fs::symlink(outside.victim(), at),
            Plant::DirSymlink => std::os::unix::fs::symlink(outside.dir(), at),
            Plant::DanglingSymlink => std::os::unix::fs::symlink(outside.absent(), at),
            Plant::Directory => fs::create_dir(at),
            Plant::Fifo => mkfifo(at),
            Plant::ForeignFile => fs::write(at, FOREIGN_BYTES),
        }
    }

    /// Whether what was planted at `at` is still exactly there: the same
    /// link target, an empty directory, a FIFO, the foreign bytes.
    pub fn intact(self, at: &Path, outside: &Outside) -> io::Result<bool> {
        let m = match fs::symlink_metadata(at) {
            Ok(m) => m,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(false),
            Err(e) => return Err(e),
        };
        let t = m.file_type();
        Ok(match self {
            Plant::Symlink => t.is_symlink() && fs::read_link(at)? == outside.victim(),
            Plant::DirSymlink => t.is_symlink() && fs::read_link(at)? == outside.dir(),
            Plant::DanglingSymlink => t.is_symlink() && fs::read_link(at)? == outside.absent(),
            Plant::Directory => t.is_dir() && fs::read_dir(at)?.next().is_none(),
            Plant::Fifo => t.is_fifo(),
            Plant::ForeignFile => t.is_file() && fs::read(at)? == FOREIGN_BYTES,
        })
    }
}

impl fmt::Display for Plant {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Plant::Symlink => "a symlink to a file outside the store",
            Plant::DirSymlink => "a symlink to a directory outside the store",
            Plant::DanglingSymlink => "a dangling symlink to a path outside the store",
            Plant::Directory => "a directory",
            Plant::Fifo => "a FIFO",
            Plant::ForeignFile => "another tool's file",
        })
    }
}

/// `mkfifo(path, 0600)` through the `mkfifo` program (no libc binding in
/// this crate; the tests that plant FIFOs run on Unix only).
fn mkfifo(at: &Path) -> io::Result<()> {
    let status = std::process::Command::new("mkfifo")
        .arg("-m")
        .arg("600")
        .arg(at)
        .status()?;
    if status.success() {
        Ok(())
    } else {
        Err(io::Error::other(format!(
            "mkfifo {} failed: {status}",
            at.display()
        )))
    }
}

/// A directory outside the store: the victim file symlinks point at, and
/// the absent path dangling symlinks point at.
#[derive(Debug)]
pub struct Outside {
    dir: PathBuf,
}

impl Outside {
    /// Creates `dir` with the victim file in it.
    pub fn new(dir: &Path) -> io::Result<Outside> {
        fs::create_dir_all(dir)?;
        let victim = dir.join("victim.txt");
        fs::write(&victim, VICTIM_BYTES)?;
        fs::set_permissions(&victim, fs::Permissions::from_mode(0o644))?;
        Ok(Outside {
            dir: dir.to_path_buf(),
        })
    }

    /// The directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The victim file (exists, [`VICTIM_BYTES`]).
    pub fn victim(&self) -> PathBuf {
        self.dir.join("victim.txt")
    }

    /// The dangling target (must never come to exist).
    pub fn absent(&self) -> PathBuf {
        self.dir.join("absent.txt")
    }

    /// A snapshot of the directory.
    pub fn snapshot(&self) -> io::Result<Tree> {
        Tree::of(&self.dir)
    }
}

/// One entry of a [`Tree`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Entry {
    /// A regular file: its bytes and permission bits.
    File {
        /// Contents.
        bytes: Vec<u8>,
        /// `st_mode & 0o7777`.
        mode: u32,
    },
    /// A directory and its permission bits.
    Dir {
        /// `st_mode & 0o7777`.
        mode: u32,
    },
    /// A symlink and its target (not followed).
    Symlink(PathBuf),
    /// A FIFO.
    Fifo,
    /// Anything else (socket, device).
    Other,
}

/// A directory tree, taken without following symlinks: relative path to
/// entry (the root itself is not an entry).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Tree(pub BTreeMap<PathBuf, Entry>);

impl Tree {
    /// Snapshots `root` (an absent root is the empty tree).
    pub fn of(root: &Path) -> io::Result<Tree> {
        let mut t = Tree::default();
        match fs::symlink_metadata(root) {
            Ok(_) => walk(root, Path::new(""), &mut t.0)?,
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(e) => return Err(e),
        }
        Ok(t)
    }

    /// The paths present here but not in `before`.
    pub fn added_since(&self, before: &Tree) -> Vec<PathBuf> {
        self.0
            .keys()
            .filter(|p| !before.0.contains_key(*p))
            .cloned()
            .collect()
    }

    /// A readable account of how `self` differs from `other` (empty when
    /// equal).
    pub fn diff(&self, other: &Tree) -> Vec<String> {
        let mut out = Vec::new();
        for (p, e) in &self.0 {
            match other.0.get(p) {
                None => out.push(format!("{} gone", p.display())),
                Some(o) if o != e => out.push(format!("{} changed: {e:?} -> {o:?}", p.display())),
                Some(_) => {}
            }
        }
        for p in other.0.keys().filter(|p| !self.0.contains_key(*p)) {
            out.push(format!("{} appeared", p.display()));
        }
        out
    }
}

fn walk(dir: &Path, rel: &Path, out: &mut BTreeMap<PathBuf, Entry>) -> io::Result<()> {
    let mut names: Vec<_> = fs::read_dir(dir)?
        .map(|e| e.map(|e| e.file_name()))
        .collect::<io::Result<_>>()?;
    names.sort();
    for name in names {
        let path = dir.join(&name);
        let rel = rel.join(&name);
        let m = fs::symlink_metadata(&path)?;
        let t = m.file_type();
        let mode = m.mode() & 0o7777;
        let entry = if t.is_symlink() {
            Entry::Symlink(fs::read_link(&path)?)
        } else if t.is_dir() {
            walk(&path, &rel, out)?;
            Entry::Dir { mode }
        } else if t.is_file() {
            Entry::File {
                bytes: fs::read(&path)?,
                mode,
            }
        } else if t.is_fifo() {
            Entry::Fifo
        } else {
            Entry::Other
        };
        out.insert(rel, entry);
    }
    Ok(())
}

/// `YYYYMMDDTHHMMSSZ` inside a name, as the store stamps seal and
/// quarantine names: its byte range, if `name` has one.
pub fn find_stamp(name: &str) -> Option<std::ops::Range<usize>> {
    let b = name.as_bytes();
    (0..b.len().saturating_sub(15)).find_map(|i| {
        let w = &b[i..i + 16];
        let digits = |r: std::ops::Range<usize>| w[r].iter().all(u8::is_ascii_digit);
        (digits(0..8) && w[8] == b'T' && digits(9..15) && w[15] == b'Z').then_some(i..i + 16)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plants_are_what_they_say_and_tree_sees_changes() {
        let root = tempfile::tempdir().unwrap();
        let outside = Outside::new(&root.path().join("outside")).unwrap();
        let store = root.path().join("s");
        fs::create_dir(&store).unwrap();
        let before = outside.snapshot().unwrap();
        for (i, p) in Plant::ALL.iter().enumerate() {
            let at = store.join(format!("n{i}"));
            p.plant(&at, &outside).unwrap();
            assert!(p.intact(&at, &outside).unwrap(), "{p}");
            // Every other kind's check says no.
            for q in Plant::ALL.iter().filter(|q| *q != p) {
                assert!(!q.intact(&at, &outside).unwrap(), "{q} at {p}");
            }
        }
        assert_eq!(outside.snapshot().unwrap(), before);
        // Writing through the symlink is what the kit exists to catch.
        fs::write(store.join("n0"), b"x").unwrap();
        let after = outside.snapshot().unwrap();
        assert_eq!(
            before.diff(&after),
            vec![format!(
                "victim.txt changed: {:?} -> {:?}",
                Entry::File {
                    bytes: VICTIM_BYTES.to_vec(),
                    mode: 0o644
                },
                Entry::File {
                    bytes: b"x".to_vec(),
                    mode: 0o644
                }
            )]
        );
        assert!(!Plant::Symlink.intact(&store.join("n9"), &outside).unwrap());
        // A create through the dangling link makes the absent file appear.
        fs::write(store.join("n2"), b"y").unwrap();
        assert_eq!(
            outside.snapshot().unwrap().added_since(&before),
            vec![PathBuf::from("absent.txt")]
        );
    }

    #[test]
    fn stamps_are_found() {
        assert_eq!(
            find_stamp("audit-20261127T052116Z-000042.jsonl.gz"),
            Some(6..22)
        );
        assert_eq!(
            find_stamp("audit.jsonl.torn-20261127T052116Z-000001"),
            Some(17..33)
        );
        assert_eq!(find_stamp("audit.jsonl"), None);
        assert_eq!(find_stamp("x20261127T05211Z"), None);
    }
}
