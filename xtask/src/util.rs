//! Small helpers the tasks share: the repository root, medians, running a
//! command for its output, and the way rates are printed.

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, Result, bail};

/// The repository's root directory.
pub fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// The median (the mean of the middle two for an even count); NaN when
/// empty.
pub fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    let n = v.len();
    if n == 0 {
        return f64::NAN;
    }
    if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    }
}

/// Runs `cmd` to its end; its stdout, or an error with its stderr when it
/// fails.
pub fn run(cmd: &mut Command) -> Result<String> {
    let out = cmd
        .output()
        .with_context(|| format!("cannot run {cmd:?}"))?;
    if !out.status.success() {
        bail!("{cmd:?} failed: {}", String::from_utf8_lossy(&out.stderr));
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// The python of the repository's venv (`.venv`, the one `.ci/run` and the
/// tests use), with `module` installed from PyPI as `package` if missing.
pub fn python_with(module: &str, package: &str) -> Result<PathBuf> {
    let venv = root().join(".venv");
    let py = venv.join("bin/python");
    if !py.exists() {
        run(Command::new("python3").args(["-m", "venv"]).arg(&venv))?;
    }
    let has = Command::new(&py)
        .args(["-c", &format!("import {module}")])
        .output()
        .with_context(|| format!("cannot run {}", py.display()))?
        .status
        .success();
    if !has {
        eprintln!("installing {package} into {}", venv.display());
        run(Command::new(&py).args([
            "-m",
            "pip",
            "install",
            "--quiet",
            "--disable-pip-version-check",
            package,
        ]))?;
    }
    Ok(py)
}

/// An events/s rate as `512.3k` or `1.77M` (`n/a` for NaN).
pub fn fmt_rate(x: f64) -> String {
    if x.is_nan() {
        "n/a".into()
    } else if x >= 1e6 {
        format!("{:.2}M", x / 1e6)
    } else {
        format!("{:.1}k", x / 1e3)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn medians_and_rates() {
        assert_eq!(median(vec![3.0, 1.0, 2.0]), 2.0);
        assert_eq!(median(vec![4.0, 1.0, 3.0, 2.0]), 2.5);
        assert!(median(Vec::new()).is_nan());
        assert_eq!(fmt_rate(512_345.0), "512.3k");
        assert_eq!(fmt_rate(1_770_000.0), "1.77M");
        assert_eq!(fmt_rate(f64::NAN), "n/a");
    }
}
