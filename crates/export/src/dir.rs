//! The export directory's names and ownership rules: which entries are an
//! export's own (the manifest, `date=` directories of part files), which
//! parts a run may delete, and the file system calls that never follow a
//! link nor replace what the export did not create (0600 files, 0700
//! directories).

use std::fs::{self, File, OpenOptions};
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

use scout_audit_store_file::fs::{describe_not_regular, open_regular};

use crate::error::{Error, Result};

/// The manifest's file name in the export directory.
pub(crate) const MANIFEST: &str = "_scout_audit_export.json";

/// The manifest's temporary file name (written, synced, then renamed).
pub(crate) fn manifest_tmp() -> String {
    format!("{MANIFEST}.tmp")
}

/// Whether `name` is one of an export's part files (`part-RUN.parquet`,
/// `part-RUN-N.parquet`, `part-RUN-N-K.parquet`, or any with `.tmp`: RUN
/// at least 6 digits, N and K at least 5), and its run.
pub(crate) fn part_run(name: &str) -> Option<u64> {
    let rest = name.strip_prefix("part-")?;
    let base = rest
        .strip_suffix(".parquet.tmp")
        .or_else(|| rest.strip_suffix(".parquet"))?;
    let mut fields = base.split('-');
    let run = fields.next()?;
    let digits = |t: &str, n: usize| t.len() >= n && t.bytes().all(|b| b.is_ascii_digit());
    let mut numbers = 0;
    for f in fields {
        numbers += 1;
        if numbers > 2 || !digits(f, 5) {
            return None;
        }
    }
    if !digits(run, 6) {
        return None;
    }
    run.parse().ok()
}

/// The first entry of `dir` that is not an export's own. With a manifest
/// of ours: anything but the manifest (and its temporary file) and `date=`
/// directories holding only part files. Without one, everything but a
/// leftover temporary manifest is another's: a run saves its manifest
/// before it writes its first part, so a directory of ours always has one.
/// `None`: the directory is an export's (or empty).
pub(crate) fn foreign_entry(dir: &Path, has_manifest: bool) -> Result<Option<PathBuf>> {
    let entries = fs::read_dir(dir).map_err(|source| Error::File {
        what: "list",
        path: dir.to_path_buf(),
        source,
    })?;
    for e in entries {
        let e = e?;
        let name = e.file_name().to_string_lossy().into_owned();
        let t = e.file_type()?;
        // The manifest and its temporary file are checked where they are
        // used, each with an error naming what is there if not a file.
        if name == MANIFEST || name == manifest_tmp() {
            continue;
        }
        if !(has_manifest && t.is_dir() && name.starts_with("date=")) {
            return Ok(Some(e.path()));
        }
        for f in fs::read_dir(e.path())? {
            let f = f?;
            let fname = f.file_name().to_string_lossy().into_owned();
            if !f.file_type()?.is_file() || part_run(&fname).is_none() {
                return Ok(Some(f.path()));
            }
        }
    }
    Ok(None)
}

/// Deletes the part files of the one run that can have been interrupted,
/// number `runs + 1` (the manifest says `runs` were committed, and a run
/// saves the manifest before its first part): only regular files named as
/// its parts, in `date=` directories (not links to directories).
pub(crate) fn remove_unfinished(dir: &Path, runs: u64) -> Result<()> {
    let Ok(entries) = fs::read_dir(dir) else {
        return Ok(());
    };
    for e in entries {
        let e = e?;
        if !e.file_type()?.is_dir() || !e.file_name().to_string_lossy().starts_with("date=") {
            continue;
        }
        for f in fs::read_dir(e.path())? {
            let f = f?;
            let name = f.file_name().to_string_lossy().into_owned();
            let Some(run) = part_run(&name) else { continue };
            if f.file_type()?.is_file() && Some(run) == runs.checked_add(1) {
                fs::remove_file(f.path())?;
            }
        }
    }
    Ok(())
}

/// Creates `path` exclusively (mode 0600), not through a link.
pub(crate) fn create_new(path: &Path) -> Result<File> {
    open_regular(
        path,
        OpenOptions::new().write(true).create_new(true).mode(0o600),
    )
    .map_err(|source| Error::File {
        what: "create",
        path: path.to_path_buf(),
        source,
    })
}

/// Removes a leftover temporary file of ours: only a regular file.
pub(crate) fn remove_own_file(path: &Path) -> Result<()> {
    check_regular_or_absent(path)?;
    match fs::remove_file(path) {
        Err(source) if source.kind() != std::io::ErrorKind::NotFound => Err(Error::File {
            what: "remove",
            path: path.to_path_buf(),
            source,
        }),
        _ => Ok(()),
    }
}

/// Fails, naming `path`, when something other than a regular file is there.
pub(crate) fn check_regular_or_absent(path: &Path) -> Result<()> {
    match fs::symlink_metadata(path) {
        Ok(m) if !m.is_file() => Err(Error::NotRegular {
            path: path.to_path_buf(),
            why: describe_not_regular(path).unwrap_or_else(|| "is not a regular file".to_owned()),
        }),
        _ => Ok(()),
    }
}

/// Creates `dir` and its missing parents with mode 0700.
pub(crate) fn create_private_dir(dir: &Path) -> Result<()> {
    fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
        .map_err(|source| Error::File {
            what: "create",
            path: dir.to_path_buf(),
            source,
        })
}

/// Creates a partition's directory `pdir` (0700) and checks it is a
/// directory of ours, never a link elsewhere.
pub(crate) fn create_partition_dir(pdir: &Path) -> Result<()> {
    create_private_dir(pdir)?;
    if !fs::symlink_metadata(pdir).is_ok_and(|m| m.is_dir()) {
        return Err(Error::NotADirectory {
            path: pdir.to_path_buf(),
            why: describe_not_regular(pdir).unwrap_or_else(|| "is not a directory".to_owned()),
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn part_names() {
        assert_eq!(part_run("part-000001.parquet"), Some(1));
        assert_eq!(part_run("part-000012-00003.parquet"), Some(12));
        assert_eq!(part_run("part-000012-00003.parquet.tmp"), Some(12));
        assert_eq!(part_run("part-000012-00003-00001.parquet"), Some(12));
        assert_eq!(part_run("part-000012-00003-00001.parquet.tmp"), Some(12));
        assert_eq!(part_run("part-000012-00003-00001-00002.parquet"), None);
        assert_eq!(part_run("part-000012-00003-.parquet"), None);
        assert_eq!(part_run("part-000012--00003.parquet"), None);
        assert_eq!(part_run("part-1.parquet"), None);
        assert_eq!(part_run("part-000001-3.parquet"), None);
        assert_eq!(part_run("part-000001.csv"), None);
        assert_eq!(part_run("other-000001.parquet"), None);
    }
}
