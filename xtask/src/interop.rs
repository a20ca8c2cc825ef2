//! `cargo xtask interop`: Go's `golang.org/x/mod/sumdb/note` and
//! `sumdb/tlog` check what scout-audit prints for third parties
//! (decision 82). It makes a store, seals it across three epochs and a
//! rotation, saves the latest checkpoint and the proofs of four records,
//! and has the Go program of `xtask/go/interop` (built in GOPATH mode
//! against Debian's `golang-golang-x-mod-dev`, no network) verify the
//! checkpoint's signature through the epoch certificates and each
//! inclusion proof; a proof with one byte changed and a wrong key must be
//! refused. It also saves the checkpoint of the first seal (epoch 1) and
//! the latest seal's consistency proof from it, whose checkpoint carries
//! only the certificates of epochs 2 and 3 (decisions 120-122): Go opens
//! them from the old checkpoint's chain and `tlog.CheckTree` must accept
//! the proof, and refuse it with one byte changed. Without `go` or the
//! module it prints why and "skipped".

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use anyhow::{Context, Result, bail};
use scout_audit_core::{Durability, Event, ManualClock, SessionId, Timestamp};
use scout_audit_store_file::fs::RealFs;
use scout_audit_store_file::seal::{self, RecordKey};
use scout_audit_store_file::{FileStore, Layout};

use crate::util::root;

/// Where Debian puts Go source packages (`golang-*-dev`).
const DEBIAN_GOPATH: &str = "/usr/share/gocode";

/// The GOPATH holding golang.org/x/mod's note and tlog: `$GOPATH`'s
/// entries, then Debian's; `None` when no entry has both.
fn gopath() -> Option<String> {
    let env = std::env::var("GOPATH").unwrap_or_default();
    env.split(':')
        .filter(|p| !p.is_empty())
        .chain([DEBIAN_GOPATH])
        .find(|p| {
            let x = Path::new(p).join("src/golang.org/x/mod/sumdb");
            x.join("note/note.go").is_file() && x.join("tlog/tlog.go").is_file()
        })
        .map(str::to_owned)
}

/// The Go version, or `None` when `go` cannot run.
fn go_version() -> Option<String> {
    let out = Command::new("go").arg("version").output().ok()?;
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).trim().to_owned())
}

/// Runs the check; its report, or "skipped" and why.
pub fn run() -> Result<String> {
    let Some(version) = go_version() else {
        return Ok("interop: skipped: no `go` (apt-get install golang-go)\n".to_owned());
    };
    let Some(gopath) = gopath() else {
        return Ok(format!(
            "interop: skipped: {version}, but golang.org/x/mod/sumdb is in neither $GOPATH nor \
             {DEBIAN_GOPATH} (apt-get install golang-golang-x-mod-dev)\n"
        ));
    };
    let scratch = tempfile::Builder::new()
        .prefix("scout-audit-interop-")
        .tempdir()?;
    let bin = build(scratch.path(), &gopath)?;
    let (key, files, consistency) = make_store(scratch.path())?;
    let mut report = format!("interop: {version}, golang.org/x/mod from {gopath}\n");
    for set in [&files, &consistency] {
        let ok = go(&bin, &key, set)?;
        if !ok.status.success() {
            bail!(
                "Go refused what scout-audit printed:\n{}{}",
                String::from_utf8_lossy(&ok.stdout),
                String::from_utf8_lossy(&ok.stderr)
            );
        }
        report.push_str(&String::from_utf8_lossy(&ok.stdout));
    }
    report.push_str(&refusals(scratch.path(), &bin, &key, &files)?);
    report.push_str(&consistency_refused(
        scratch.path(),
        &bin,
        &key,
        &consistency,
    )?);
    report.push_str("interop: ok\n");
    Ok(report)
}

/// Builds the Go program in GOPATH mode, offline, into `dir`.
fn build(dir: &Path, gopath: &str) -> Result<PathBuf> {
    let bin = dir.join("interop");
    let src = root().join("xtask/go/interop/main.go");
    let out = Command::new("go")
        .args(["build", "-o"])
        .arg(&bin)
        .arg(&src)
        .env("GO111MODULE", "off")
        .env("GOPATH", gopath)
        .env("GOPROXY", "off")
        .env("GOFLAGS", "")
        .env("GOCACHE", dir.join("gocache"))
        .current_dir(dir)
        .output()
        .context("running go build")?;
    if !out.status.success() {
        bail!(
            "go build {} failed:\n{}",
            src.display(),
            String::from_utf8_lossy(&out.stderr)
        );
    }
    Ok(bin)
}

/// The files of one run of the Go checker: a checkpoint, then proofs.
type Files = Vec<PathBuf>;

/// A store sealed across epochs and a rotation; the verification key and
/// the files for Go: the checkpoint, then four records' proofs; the first
/// seal's checkpoint, then the latest seal's consistency proof from it.
fn make_store(dir: &Path) -> Result<(String, Files, Files)> {
    let path = dir.join("store/audit.jsonl");
    std::fs::create_dir_all(dir.join("store"))?;
    let layout = Layout::new(&path).map_err(anyhow::Error::msg)?;
    let key = seal::init(&RealFs, &layout, 60)?;
    let clock = ManualClock::new(Timestamp::parse("2026-12-06T00:00:00Z")?);
    let store = FileStore::builder(&path)
        .session(SessionId::new("interop"))
        .durability(Durability::Sync)
        .open()?;
    for (round, n) in [5u64, 8, 13].into_iter().enumerate() {
        for i in 0..n {
            store.append(Event::new("llm_call").cost(0.001 * i as f64))?;
        }
        if round == 1 {
            store.rotate()?;
            store.wait_compressed();
        }
        clock.advance(Duration::from_secs(61));
        seal::seal_now(&RealFs, &layout, &clock)?.context("nothing to seal")?;
        if round == 0 {
            let first = seal::latest_checkpoint(&RealFs, &layout)?.to_text();
            std::fs::write(dir.join("first-checkpoint"), first)?;
        }
    }
    store.close()?;
    let checkpoint = dir.join("checkpoint");
    std::fs::write(
        &checkpoint,
        seal::latest_checkpoint(&RealFs, &layout)?.to_text(),
    )?;
    let mut files = vec![checkpoint];
    for seq in [0u64, 7, 12, 25] {
        let record = RecordKey {
            session: "interop".to_owned(),
            seq,
        };
        let proof = seal::prove(&RealFs, &layout, &record, None)?;
        let file = dir.join(format!("proof-{seq}"));
        std::fs::write(&file, proof.to_text())?;
        files.push(file);
    }
    let first = dir.join("first-checkpoint");
    let old = seal::CheckpointFile::parse(&std::fs::read_to_string(&first)?)
        .map_err(anyhow::Error::msg)?;
    let proof = seal::prove_consistency(&RealFs, &layout, &old)?;
    if proof.checkpoint.certs.len() != 2 {
        bail!("the consistency proof's checkpoint should carry epochs 2 and 3's certificates");
    }
    let consistency = dir.join("consistency");
    std::fs::write(&consistency, proof.to_text())?;
    Ok((key, files, vec![first, consistency]))
}

fn go(bin: &Path, key: &str, files: &[PathBuf]) -> Result<std::process::Output> {
    Command::new(bin)
        .arg(key)
        .args(files)
        .output()
        .context("running the Go checker")
}

/// Go must refuse a proof with one hash byte changed and a wrong key.
fn refusals(dir: &Path, bin: &Path, key: &str, files: &[PathBuf]) -> Result<String> {
    let mut text = std::fs::read_to_string(&files[2])?;
    let at = text.find("\nline ").context("no line in the proof")?;
    let hash = at + 1 + text[at + 1..].find('\n').context("a proof line")? + 1;
    let flipped = if text.as_bytes()[hash] == b'A' {
        "B"
    } else {
        "A"
    };
    text.replace_range(hash..hash + 1, flipped);
    let bad = dir.join("proof-flipped");
    std::fs::write(&bad, text)?;
    let o = go(bin, key, &[files[0].clone(), bad])?;
    if o.status.success() {
        bail!("Go accepted a proof with a byte changed");
    }
    let other = dir.join("other/audit.jsonl");
    std::fs::create_dir_all(dir.join("other"))?;
    let wrong = seal::init(
        &RealFs,
        &Layout::new(&other).map_err(anyhow::Error::msg)?,
        60,
    )?;
    let o = go(bin, &wrong, &files[..1])?;
    if o.status.success() {
        bail!("Go accepted the checkpoint with another store's key");
    }
    Ok("interop: a proof with one byte changed and another store's key were refused\n".to_owned())
}

/// Go must refuse the consistency proof with one hash byte changed.
fn consistency_refused(dir: &Path, bin: &Path, key: &str, files: &[PathBuf]) -> Result<String> {
    let mut text = std::fs::read_to_string(&files[1])?;
    let at = text.find("\nroot ").context("no root in the proof")?;
    let hash = at + 1 + text[at + 1..].find('\n').context("a proof line")? + 1;
    if text.as_bytes().get(hash) == Some(&b'\n') {
        bail!("the consistency proof holds no hash");
    }
    let flipped = if text.as_bytes()[hash] == b'A' {
        "B"
    } else {
        "A"
    };
    text.replace_range(hash..hash + 1, flipped);
    let bad = dir.join("consistency-flipped");
    std::fs::write(&bad, text)?;
    let o = go(bin, key, &[files[0].clone(), bad])?;
    let said = String::from_utf8_lossy(&o.stdout);
    let refused = said.lines().last().unwrap_or_default();
    if o.status.success() || !refused.starts_with("consistency proof ") {
        bail!("Go did not refuse a consistency proof with a byte changed:\n{said}");
    }
    Ok(format!(
        "interop: a consistency proof with one byte changed was refused: {refused}\n"
    ))
}

/// `cargo xtask interop --checkpoint-sizes DAYS`: the size of checkpoint
/// files after DAYS of one-minute epochs (a seal a minute, each in a new
/// epoch: the worst case of decision 80), for decision 122. A real store
/// on `/dev/shm` (or the temp dir), sealed by `seal_now` on a manual
/// clock; it prints the full checkpoint file's bytes, and the bytes of
/// the checkpoint and of the whole consistency proof from checkpoints a
/// day, an hour and a minute old.
pub fn checkpoint_sizes(days: u64) -> Result<String> {
    use std::io::Write as _;
    let epochs = days.saturating_mul(1440);
    if epochs < 1441 {
        bail!("--checkpoint-sizes needs at least 2 days");
    }
    let shm = Path::new("/dev/shm");
    let scratch = if shm.is_dir() {
        tempfile::Builder::new()
            .prefix("scout-audit-cpsize-")
            .tempdir_in(shm)?
    } else {
        tempfile::Builder::new()
            .prefix("scout-audit-cpsize-")
            .tempdir()?
    };
    let path = scratch.path().join("audit.jsonl");
    let layout = Layout::new(&path).map_err(anyhow::Error::msg)?;
    seal::init(&RealFs, &layout, 60)?;
    let clock = ManualClock::new(Timestamp::parse("2026-12-06T00:00:00Z")?);
    let mut live = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&path)?;
    let ages = [1440u64, 60, 1];
    let mut olds = Vec::new();
    let started = std::time::Instant::now();
    for n in 1..=epochs {
        writeln!(
            live,
            r#"{{"ts":"2026-12-06T00:00:00.000000","event":"tick","session_id":"m","seq":{n}}}"#
        )?;
        clock.advance(Duration::from_secs(60));
        seal::seal_now(&RealFs, &layout, &clock)?.context("nothing to seal")?;
        if ages.iter().any(|a| epochs - a == n) {
            olds.push(seal::latest_checkpoint(&RealFs, &layout)?);
        }
    }
    let full = seal::latest_checkpoint(&RealFs, &layout)?;
    let mut report = format!(
        "checkpoint sizes after {days} days of one-minute epochs ({epochs} epochs, sealed in {:.1} s):\n\
         full checkpoint file (`checkpoint`): {} bytes, {} certificates\n",
        started.elapsed().as_secs_f64(),
        full.to_text().len(),
        full.certs.len()
    );
    for (age, old) in ages.iter().zip(&olds) {
        let proof = seal::prove_consistency(&RealFs, &layout, old)?;
        report.push_str(&format!(
            "from a checkpoint {age} min old: its checkpoint {} bytes ({} certificates), \
             the whole consistency proof {} bytes\n",
            proof.checkpoint.to_text().len(),
            proof.checkpoint.certs.len(),
            proof.to_text().len()
        ));
    }
    Ok(report)
}
