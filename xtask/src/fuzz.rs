//! `cargo xtask fuzz --time S`: runs every cargo-fuzz target of `fuzz/`
//! for S seconds each (coverage-guided, on nightly through `cargo fuzz`),
//! on a scratch copy of its checked-in corpus, and reports executions.
//! With `--merge`, inputs that add coverage are merged into the checked-in
//! corpus (`fuzz/corpus/<target>`), which CI replays on stable.
//!
//! No sanitizer: the code is safe Rust (no `unsafe`), and libFuzzer's
//! `-rss_limit_mb` then measures the reader's own memory. A finding stops
//! the run: libFuzzer leaves the input in
//! `fuzz/artifacts/<target>/`; it becomes a regression test and a corpus
//! entry.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use anyhow::{Context, Result, bail};

/// What to fuzz.
#[derive(Clone, Debug)]
pub struct FuzzOptions {
    /// The repository root.
    pub root: PathBuf,
    /// Seconds per target.
    pub seconds: u64,
    /// Only these targets (all when empty).
    pub targets: Vec<String>,
    /// Merge new coverage into the checked-in corpus.
    pub merge: bool,
    /// libFuzzer's memory limit, MiB: a decompression bomb or any input
    /// that makes a reader hold more is a finding.
    pub rss_limit_mb: u64,
}

/// One target's run.
#[derive(Clone, Debug)]
pub struct TargetRun {
    /// The target.
    pub target: String,
    /// Executions.
    pub runs: u64,
    /// Wall time, seconds.
    pub seconds: f64,
    /// Inputs in its corpus after the run.
    pub corpus: usize,
}

/// The fuzz targets of `fuzz/Cargo.toml`, in order.
pub fn targets(root: &Path) -> Result<Vec<String>> {
    let manifest = root.join("fuzz/Cargo.toml");
    let text = std::fs::read_to_string(&manifest)
        .with_context(|| format!("read {}", manifest.display()))?;
    let mut out = Vec::new();
    let mut in_bin = false;
    for line in text.lines() {
        let l = line.trim();
        if l.starts_with('[') {
            in_bin = l == "[[bin]]";
        } else if in_bin
            && let Some(v) = l
                .strip_prefix("name = \"")
                .and_then(|v| v.strip_suffix('"'))
        {
            out.push(v.to_owned());
        }
    }
    Ok(out)
}

/// `cargo +nightly fuzz` when a nightly toolchain is installed, else
/// `cargo fuzz` with `RUSTC_BOOTSTRAP=1` (its `-Z` flags need one or the
/// other).
fn cargo_fuzz() -> Command {
    let nightly = Command::new("cargo")
        .args(["+nightly", "--version"])
        .output()
        .is_ok_and(|o| o.status.success());
    let mut c = Command::new("cargo");
    if nightly {
        c.arg("+nightly");
    } else {
        c.env("RUSTC_BOOTSTRAP", "1");
    }
    c.arg("fuzz");
    c
}

/// `cargo fuzz run` of `target` on `corpora` (the first one takes new
/// inputs), ending with `--`: libFuzzer's flags follow.
fn fuzz_run(fuzz_dir: &Path, target: &str, corpora: [&Path; 2]) -> Command {
    let mut c = cargo_fuzz();
    c.current_dir(fuzz_dir)
        .args([
            "run",
            "--release",
            "--debug-assertions",
            "--sanitizer=none",
            target,
        ])
        .args(corpora)
        .arg("--");
    c
}

fn count_files(dir: &Path) -> usize {
    std::fs::read_dir(dir).map_or(0, |d| {
        d.filter(|e| e.as_ref().is_ok_and(|e| e.path().is_file()))
            .count()
    })
}

/// The executions libFuzzer reports on its last line (`Done N runs in S
/// second(s)`), or the last `#N` status line.
pub fn executions(stderr: &str) -> Option<u64> {
    for line in stderr.lines().rev() {
        if let Some(rest) = line.strip_prefix("Done ")
            && let Some(n) = rest.split(' ').next()
        {
            return n.parse().ok();
        }
    }
    stderr.lines().rev().find_map(|l| {
        let l = l.strip_prefix('#')?;
        l.split(|c: char| !c.is_ascii_digit()).next()?.parse().ok()
    })
}

/// Runs the campaign; fails at the first finding.
pub fn run(o: &FuzzOptions) -> Result<Vec<TargetRun>> {
    let installed = Command::new("cargo")
        .args(["fuzz", "--version"])
        .output()
        .is_ok_and(|out| out.status.success());
    if !installed {
        bail!("cargo-fuzz is missing: cargo install cargo-fuzz --locked");
    }
    let all = targets(&o.root)?;
    let chosen: Vec<String> = if o.targets.is_empty() {
        all.clone()
    } else {
        for t in &o.targets {
            if !all.contains(t) {
                bail!("no fuzz target {t:?} (targets: {})", all.join(", "));
            }
        }
        o.targets.clone()
    };
    let fuzz_dir = o.root.join("fuzz");
    let mut out = Vec::new();
    for t in chosen {
        let seeds = fuzz_dir.join("corpus").join(&t);
        let work = o.root.join("target/fuzz-corpus").join(&t);
        std::fs::create_dir_all(&work)?;
        let started = Instant::now();
        let output = fuzz_run(&fuzz_dir, &t, [&work, &seeds])
            .arg(format!("-max_total_time={}", o.seconds))
            .arg(format!("-rss_limit_mb={}", o.rss_limit_mb))
            .arg("-max_len=65536")
            .arg("-print_final_stats=1")
            .output()
            .with_context(|| format!("run cargo fuzz for {t}"))?;
        let stderr = String::from_utf8_lossy(&output.stderr);
        if !output.status.success() {
            let tail: Vec<&str> = stderr.lines().rev().take(40).collect();
            let tail: Vec<&str> = tail.into_iter().rev().collect();
            bail!(
                "fuzz target {t} found a problem (input in fuzz/artifacts/{t}/):\n{}",
                tail.join("\n")
            );
        }
        let runs = executions(&stderr)
            .with_context(|| format!("no execution count from {t}:\n{stderr}"))?;
        if o.merge {
            let merged = fuzz_run(&fuzz_dir, &t, [&seeds, &work])
                .args(["-merge=1", "-max_len=65536"])
                .output()
                .with_context(|| format!("merge the corpus of {t}"))?;
            if !merged.status.success() {
                bail!(
                    "merging the corpus of {t} failed:\n{}",
                    String::from_utf8_lossy(&merged.stderr)
                );
            }
        }
        out.push(TargetRun {
            target: t,
            runs,
            seconds: started.elapsed().as_secs_f64(),
            corpus: count_files(&work) + count_files(&seeds),
        });
    }
    Ok(out)
}

/// The table `cargo xtask fuzz` prints: one row per target run, with
/// its executions, seconds, rate and corpus size.
pub fn table(runs: &[TargetRun]) -> String {
    let mut table = format!(
        "{:<16} {:>14} {:>9} {:>10} {:>8}",
        "target", "executions", "seconds", "exec/s", "corpus"
    );
    for r in runs {
        table.push_str(&format!(
            "\n{:<16} {:>14} {:>9.0} {:>10.0} {:>8}",
            r.target,
            r.runs,
            r.seconds,
            r.runs as f64 / r.seconds.max(1e-9),
            r.corpus
        ));
    }
    table
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_execution_counts() {
        let s = "#1024\tpulse  cov: 10\n#2048\tNEW    cov: 12\nDone 123456 runs in 60 second(s)\nstat::number_of_executed_units: 123456\n";
        assert_eq!(executions(s), Some(123_456));
        assert_eq!(executions("#77\tREDUCE cov: 3\n"), Some(77));
        assert_eq!(executions("nothing"), None);
    }

    #[test]
    fn the_table_has_a_row_per_target() {
        let runs = [TargetRun {
            target: "ops".into(),
            runs: 1200,
            seconds: 60.0,
            corpus: 7,
        }];
        assert_eq!(
            table(&runs),
            "target               executions   seconds     exec/s   corpus\n\
             ops                        1200        60         20        7"
        );
    }

    #[test]
    fn lists_the_targets() {
        let root = crate::util::root();
        let t = targets(&root).unwrap();
        assert_eq!(
            t,
            [
                "line_parser",
                "segment_reader",
                "recovery",
                "ops",
                "long_lines"
            ]
        );
    }
}
