//! `checkpoint`, `prove`, `check-proof` and `verify --checkpoint`:
//! checkpoints and proofs for third parties (docs/integrity.md
//! "Checkpoints and proofs"; scout_audit_store_file::seal). `prove
//! --consistency OLD` and `check-proof --old OLD` are the consistency
//! proofs (decision 120).

use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context, Result, bail};
use clap::{Args, ValueEnum};
use scout_audit_core::Timestamp;
use scout_audit_seal::note::Verifier;
use scout_audit_store_file::fs::{RealFs, open_input};
use scout_audit_store_file::seal::{
    self, CONSISTENCY_HEAD, CheckpointFile, ConsistencyProof, MAX_CHECKPOINT_FILE, RecordKey,
    SealReport,
};

use crate::Cli;
use crate::output::terminal_text;
use crate::seal_cmd::{layout, parse_key};

#[derive(Args, Debug)]
pub struct CheckpointArgs {
    /// Print only the signed note (for Go's sumdb/note or a witness),
    /// without the certificates that chain its key to the verification key.
    #[arg(long)]
    note: bool,
}

/// How `prove` prints its proof.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
enum ProofFormat {
    /// The proof text `check-proof` reads (docs/integrity.md).
    Text,
    /// One JSON object.
    Json,
}

#[derive(Args, Debug)]
pub struct ProveArgs {
    /// The record's key, `s:<session>:<seq>`.
    #[arg(value_name = "RECORD", required_unless_present_any = ["session", "consistency"])]
    record: Option<String>,
    /// The record's session (with --seq), instead of RECORD.
    #[arg(long, value_name = "S", requires = "seq", conflicts_with = "record")]
    session: Option<String>,
    /// The record's seq (with --session).
    #[arg(long, value_name = "N", requires = "session")]
    seq: Option<u64>,
    /// Prove it against this checkpoint (as `checkpoint` printed it)
    /// instead of the latest seal.
    #[arg(long, value_name = "FILE")]
    checkpoint: Option<PathBuf>,
    /// Instead of a record: prove the latest seal extends this older
    /// checkpoint (as `checkpoint` printed it), with a consistency proof.
    #[arg(
        long,
        value_name = "OLD",
        conflicts_with_all = ["record", "session", "checkpoint"]
    )]
    consistency: Option<PathBuf>,
    /// Output format.
    #[arg(long, value_enum, default_value = "text")]
    format: ProofFormat,
}

#[derive(Args, Debug)]
pub struct CheckProofArgs {
    /// The proof, as `prove` printed it (`-`: standard input).
    #[arg(value_name = "FILE")]
    file: PathBuf,
    /// The verification key (as `seal init` printed it, or a file holding it).
    #[arg(long, value_name = "KEY")]
    key: String,
    /// For a consistency proof: the old checkpoint it starts from (as
    /// `checkpoint` printed it, or a consistency proof whose checkpoint
    /// it is), and any earlier ones whose certificates it continues.
    /// Repeat for several.
    #[arg(long, value_name = "OLD")]
    old: Vec<PathBuf>,
}

/// Reads a checkpoint or proof file (`-`: standard input), refusing one
/// over [`MAX_CHECKPOINT_FILE`] bytes, a FIFO or a device.
fn read_text(path: &Path) -> Result<String> {
    let mut bytes = Vec::new();
    let limit = MAX_CHECKPOINT_FILE.saturating_add(1);
    let read = if path == Path::new("-") {
        io::stdin().lock().take(limit).read_to_end(&mut bytes)
    } else {
        open_input(path).and_then(|f| f.take(limit).read_to_end(&mut bytes))
    };
    read.with_context(|| format!("cannot read {}", path.display()))?;
    if bytes.len() as u64 > MAX_CHECKPOINT_FILE {
        bail!("{} is over {MAX_CHECKPOINT_FILE} bytes", path.display());
    }
    String::from_utf8(bytes).with_context(|| format!("{} is not UTF-8 text", path.display()))
}

/// Reads a checkpoint file.
fn read_checkpoint(path: &Path) -> Result<CheckpointFile> {
    CheckpointFile::parse(&read_text(path)?)
        .map_err(|e| anyhow::anyhow!("the checkpoint {} {e}", path.display()))
}

/// A unix time as RFC 3339 UTC, seconds.
fn utc(secs: u64) -> String {
    let t = i64::try_from(secs)
        .ok()
        .and_then(|s| Timestamp::from_unix(s, 0))
        .map(Timestamp::civil);
    match t {
        Some((y, mo, d, h, mi, s)) => format!("{y:04}-{mo:02}-{d:02}T{h:02}:{mi:02}:{s:02}Z"),
        None => format!("unix {secs}"),
    }
}

/// `checkpoint`: the latest seal's note, and by default its certificates.
pub fn checkpoint(cli: &Cli, a: &CheckpointArgs) -> Result<ExitCode> {
    let layout = layout(cli)?;
    let cp = seal::latest_checkpoint(&RealFs, &layout)?;
    let text = if a.note { cp.note } else { cp.to_text() };
    io::stdout().lock().write_all(text.as_bytes())?;
    Ok(ExitCode::SUCCESS)
}

/// Reads an old checkpoint (`prove --consistency`, `check-proof --old`):
/// a checkpoint file, or a consistency proof (its new checkpoint).
fn read_old(path: &Path) -> Result<CheckpointFile> {
    let text = read_text(path)?;
    if text.starts_with(CONSISTENCY_HEAD) {
        let p = ConsistencyProof::parse(&text)
            .map_err(|e| anyhow::anyhow!("the proof {} {e}", path.display()))?;
        return Ok(p.checkpoint);
    }
    CheckpointFile::parse(&text)
        .map_err(|e| anyhow::anyhow!("the checkpoint {} {e}", path.display()))
}

/// `prove --consistency OLD`: the latest seal's consistency proof from OLD.
fn prove_consistency(cli: &Cli, old: &Path, format: ProofFormat) -> Result<ExitCode> {
    let layout = layout(cli)?;
    let old = read_old(old)?;
    let proof = seal::prove_consistency(&RealFs, &layout, &old)?;
    let mut out = io::stdout().lock();
    match format {
        ProofFormat::Text => out.write_all(proof.to_text().as_bytes())?,
        ProofFormat::Json => writeln!(out, "{}", proof.to_json())?,
    }
    Ok(ExitCode::SUCCESS)
}

/// `prove`: one record's inclusion proof, or with `--consistency` the
/// latest seal's consistency proof.
pub fn prove(cli: &Cli, a: &ProveArgs) -> Result<ExitCode> {
    if let Some(old) = &a.consistency {
        return prove_consistency(cli, old, a.format);
    }
    let layout = layout(cli)?;
    let key = match (&a.record, &a.session, a.seq) {
        (Some(r), _, _) => RecordKey::parse(r).map_err(anyhow::Error::msg)?,
        (None, Some(session), Some(seq)) => RecordKey {
            session: session.clone(),
            seq,
        },
        _ => bail!("name the record: RECORD, or --session S --seq N"),
    };
    let against = a.checkpoint.as_deref().map(read_checkpoint).transpose()?;
    let proof = seal::prove(&RealFs, &layout, &key, against.as_ref())?;
    let mut out = io::stdout().lock();
    match a.format {
        ProofFormat::Text => out.write_all(proof.to_text().as_bytes())?,
        ProofFormat::Json => writeln!(out, "{}", proof.to_json())?,
    }
    Ok(ExitCode::SUCCESS)
}

/// `check-proof` of a consistency proof, against the `--old` checkpoints.
fn check_consistency(a: &CheckProofArgs, key: &Verifier, text: &str) -> Result<ExitCode> {
    if a.old.is_empty() {
        bail!(
            "{} is a consistency proof: give the old checkpoint it starts from with --old FILE",
            a.file.display()
        );
    }
    let olds = a
        .old
        .iter()
        .map(|p| read_old(p))
        .collect::<Result<Vec<_>>>()?;
    let mut out = io::stdout().lock();
    match seal::check_consistency(text, key, &olds) {
        Ok(c) => {
            writeln!(
                out,
                "proven: the {} lines of {} sealed by epoch {}'s key at {} extend the old \
                 checkpoint's {} (epoch {})",
                c.size,
                terminal_text(&c.origin),
                c.epoch,
                utc(c.time),
                c.old_size,
                c.old_epoch
            )?;
            Ok(ExitCode::SUCCESS)
        }
        Err(why) => {
            writeln!(out, "not proven: {}", terminal_text(&why))?;
            Ok(ExitCode::FAILURE)
        }
    }
}

/// `check-proof`: checks a proof without the store.
pub fn check_proof(a: &CheckProofArgs) -> Result<ExitCode> {
    let key = parse_key(&a.key)?;
    let text = read_text(&a.file)?;
    if text.starts_with(CONSISTENCY_HEAD) {
        return check_consistency(a, &key, &text);
    }
    if !a.old.is_empty() {
        bail!(
            "--old is for consistency proofs; {} is not one",
            a.file.display()
        );
    }
    let mut out = io::stdout().lock();
    match seal::check_proof(&text, &key) {
        Ok(c) => {
            writeln!(
                out,
                "proven: {} is leaf {} of the {} lines of {}, sealed by epoch {}'s key at {}",
                terminal_text(&c.record.to_text()),
                c.index,
                c.size,
                c.origin,
                c.epoch,
                utc(c.time)
            )?;
            Ok(ExitCode::SUCCESS)
        }
        Err(why) => {
            writeln!(out, "not proven: {}", terminal_text(&why))?;
            Ok(ExitCode::FAILURE)
        }
    }
}

/// `verify --key KEY [--checkpoint FILE...]`: the seals as `report`
/// found them (`seal_cmd`), then whether the store extends every
/// checkpoint. Whether it passed.
pub fn verify(
    cli: &Cli,
    key: &str,
    report: &SealReport,
    require_sealed: bool,
    checkpoints: &[PathBuf],
    out: &mut dyn Write,
) -> Result<bool> {
    let sealed = crate::seal_cmd::print_verified(report, require_sealed, out)?;
    if checkpoints.is_empty() {
        return Ok(sealed);
    }
    let anchored = verify_checkpoints(cli, &parse_key(key)?, checkpoints, out)?;
    Ok(sealed && anchored)
}

/// Whether the store extends every checkpoint; prints one line for each.
fn verify_checkpoints(
    cli: &Cli,
    key: &Verifier,
    files: &[PathBuf],
    out: &mut dyn Write,
) -> Result<bool> {
    let layout = layout(cli)?;
    let checkpoints = files
        .iter()
        .map(|f| read_checkpoint(f))
        .collect::<Result<Vec<_>>>()?;
    let verdicts = seal::verify_checkpoints(&RealFs, &layout, key, &checkpoints)?;
    let mut ok = true;
    for (file, verdict) in files.iter().zip(verdicts) {
        let shown = file.display().to_string();
        let name = terminal_text(&shown);
        match verdict {
            Ok(a) => writeln!(
                out,
                "checkpoint {name}: the store extends it (size {}, epoch {}, sealed at {})",
                a.size,
                a.epoch,
                utc(a.time)
            )?,
            Err(t) => {
                ok = false;
                writeln!(out, "tampering: {} (checkpoint {name})", t.what)?;
            }
        }
    }
    Ok(ok)
}
