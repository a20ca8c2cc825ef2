//! Where the page goes: the file `--out` names, created through a
//! temporary file in its directory and renamed into place (never over an
//! existing file unless `--force`; a rename replaces a symbolic link at
//! the name, never what it points to), else stdout when it is not a
//! terminal.

use std::io::{self, IsTerminal, Write};
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};

/// Where the page is written.
pub enum Target {
    /// Standard output (not a terminal).
    Stdout,
    /// A file, replaced only with `force`.
    File { path: PathBuf, force: bool },
}

impl Target {
    /// The target of `--out` and `--force`, refused at once when it
    /// cannot be written: an existing name without `--force`, or no
    /// `--out` with stdout on a terminal.
    pub fn new(out: Option<&Path>, force: bool) -> Result<Target> {
        let Some(path) = out else {
            if io::stdout().is_terminal() {
                bail!(
                    "the report is an HTML page: name a file with --out FILE \
                     (e.g. --out report.html), or redirect stdout"
                );
            }
            return Ok(Target::Stdout);
        };
        if !force && path.symlink_metadata().is_ok() {
            bail!(
                "{} exists: refusing to replace it (--force replaces it)",
                path.display()
            );
        }
        if path.as_os_str().is_empty() {
            bail!("--out names no file");
        }
        Ok(Target::File {
            path: path.to_path_buf(),
            force,
        })
    }

    /// Writes `page` to the target.
    pub fn write(&self, page: &[u8]) -> Result<()> {
        match self {
            Target::Stdout => {
                let mut out = io::stdout().lock();
                out.write_all(page)?;
                out.flush()?;
                Ok(())
            }
            Target::File { path, force } => write_file(path, page, *force),
        }
    }
}

/// A temporary file beside `path` (created exclusively, mode 0600),
/// written and synced, then renamed to `path`: replacing what is there
/// only with `force`, else refusing a name that appeared meanwhile.
fn write_file(path: &Path, page: &[u8], force: bool) -> Result<()> {
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    let mut tmp = tempfile::Builder::new()
        .prefix(".scout-audit-report-")
        .suffix(".tmp")
        .tempfile_in(dir)
        .with_context(|| format!("cannot create a temporary file in {}", dir.display()))?;
    tmp.write_all(page)
        .and_then(|()| tmp.as_file().sync_all())
        .with_context(|| format!("cannot write {}", tmp.path().display()))?;
    let placed = if force {
        tmp.persist(path).map(drop)
    } else {
        tmp.persist_noclobber(path).map(drop)
    };
    placed.map_err(|e| {
        if !force && e.error.kind() == io::ErrorKind::AlreadyExists {
            anyhow::anyhow!(
                "{} exists: refusing to replace it (--force replaces it)",
                path.display()
            )
        } else {
            anyhow::Error::new(e.error).context(format!("cannot write {}", path.display()))
        }
    })
}
