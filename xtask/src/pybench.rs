//! `cargo xtask bench --python`: the Python table of issue 12 (the
//! package `scout_audit` against the Python original, in the same run).
//!
//! The measuring is `crates/python/bench/run.py`'s (docs/python.md,
//! "Speed"); this task makes sure what it measures is this checkout: it
//! installs the package from `crates/python` into the repository's
//! `.venv` as a release build (pip through maturin, without build
//! isolation, so the venv's maturin and Cargo's incremental `target/`
//! are used), then runs the script with that venv's python, its output
//! streamed as it goes (making the 1 GiB data set the first time takes
//! minutes).

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, Result, ensure};

use crate::util::{python_with, root, run as run_cmd};

/// What to run.
#[derive(Clone, Debug)]
pub struct PyBenchOptions {
    /// MiB of the data set the reads run over (1024 for the issue).
    pub mib: u64,
    /// Runs of each measurement (medians are reported).
    pub runs: usize,
    /// Events each `log()` run writes.
    pub events: u64,
    /// Skip the `log()` rows.
    pub reads_only: bool,
    /// The Python original (`audit.py`); `None`: the script's own search
    /// (`$SCOUT_AUDIT_REFERENCE`, then `../shared/reference/audit.py`).
    pub reference: Option<PathBuf>,
}

/// The arguments of `run.py` for `o`.
fn script_args(o: &PyBenchOptions) -> Vec<String> {
    let mut v = vec![
        "--mib".to_owned(),
        o.mib.to_string(),
        "--runs".to_owned(),
        o.runs.max(1).to_string(),
        "--events".to_owned(),
        o.events.max(1).to_string(),
    ];
    if o.reads_only {
        v.push("--reads-only".to_owned());
    }
    v
}

/// Installs the package from this checkout into the venv of `py`, built
/// with Cargo's release profile (maturin's default under pip; a
/// `MATURIN_PEP517_ARGS` of the caller, such as `.ci/run`'s dev profile,
/// is removed so it cannot change that).
fn install(py: &Path) -> Result<()> {
    let bin = py.parent().context("the venv's python has no directory")?;
    let path = std::env::var_os("PATH").unwrap_or_default();
    let mut dirs = vec![bin.to_path_buf()];
    dirs.extend(std::env::split_paths(&path));
    let path = std::env::join_paths(dirs).context("PATH")?;
    eprintln!("installing scout_audit from crates/python (release build)");
    run_cmd(
        Command::new(py)
            .args([
                "-m",
                "pip",
                "install",
                "--quiet",
                "--disable-pip-version-check",
                "--force-reinstall",
                "--no-deps",
                "--no-build-isolation",
            ])
            .arg(root().join("crates/python"))
            .env("PATH", path)
            .env_remove("MATURIN_PEP517_ARGS"),
    )?;
    Ok(())
}

/// Installs the package and runs the table (its output goes to stdout as
/// it is measured).
pub fn run(o: &PyBenchOptions) -> Result<()> {
    let py = python_with("maturin", "maturin>=1.5,<2")?;
    install(&py)?;
    let script = root().join("crates/python/bench/run.py");
    let mut cmd = Command::new(&py);
    cmd.arg(&script).args(script_args(o));
    if let Some(r) = &o.reference {
        ensure!(
            r.is_file(),
            "the Python original {} is not a file",
            r.display()
        );
        cmd.env("SCOUT_AUDIT_REFERENCE", r);
    }
    let status = cmd
        .status()
        .with_context(|| format!("cannot run {}", script.display()))?;
    ensure!(status.success(), "{} failed ({status})", script.display());
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_script_gets_the_table_s_options() {
        let mut o = PyBenchOptions {
            mib: 1024,
            runs: 0,
            events: 200_000,
            reads_only: false,
            reference: None,
        };
        assert_eq!(
            script_args(&o),
            ["--mib", "1024", "--runs", "1", "--events", "200000"]
        );
        o.reads_only = true;
        o.runs = 3;
        assert_eq!(
            script_args(&o),
            [
                "--mib",
                "1024",
                "--runs",
                "3",
                "--events",
                "200000",
                "--reads-only"
            ]
        );
    }
}
