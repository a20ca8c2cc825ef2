//! `seal init`, `seal` and `verify --key`: manual sealing of a file store
//! and its verification (scout_audit_store_file::seal); `verify
//! --checkpoint` is `proof_cmd.rs`'s, which calls this one.

use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{Context, Result, bail};
use clap::{Args, Subcommand};
use scout_audit_core::SystemClock;
use scout_audit_seal::note::Verifier;
use scout_audit_store_file::Layout;
use scout_audit_store_file::fs::RealFs;
use scout_audit_store_file::seal::{self, SealReport};

use crate::Cli;
use crate::addr::StoreAddr;
use crate::args::parse_duration;

/// The longest key file read for `--key`.
const MAX_KEY_FILE: u64 = 4096;

#[derive(Args, Debug)]
pub struct SealArgs {
    #[command(subcommand)]
    action: Option<SealAction>,
}

#[derive(Subcommand, Debug)]
enum SealAction {
    /// Set the store up for sealing and print its verification key (keep it elsewhere).
    Init {
        /// How long each signing key lives before it evolves.
        #[arg(long, value_name = "DURATION", default_value = "60s", value_parser = parse_duration)]
        epoch: Duration,
    },
}

/// The file store's layout, or the error that sealing is a file-store feature.
pub(crate) fn layout(cli: &Cli) -> Result<Layout> {
    let path = match cli.store_addr()? {
        StoreAddr::File(p) => p,
        other => bail!(
            "sealing is a file-store feature; {} is not a file store",
            other.describe()
        ),
    };
    Layout::new(&path).map_err(anyhow::Error::msg)
}

/// `seal init` and `seal`.
pub fn run(cli: &Cli, a: &SealArgs) -> Result<ExitCode> {
    let layout = layout(cli)?;
    let mut out = io::stdout().lock();
    match &a.action {
        Some(SealAction::Init { epoch }) => {
            let secs = epoch.as_secs();
            if secs == 0 {
                bail!("--epoch must be at least 1s");
            }
            let key = seal::init(&RealFs, &layout, secs)?;
            writeln!(out, "{key}")?;
        }
        None => match seal::seal_now(&RealFs, &layout, &SystemClock)? {
            Some(s) => writeln!(
                out,
                "sealed {} new lines ({} in all) with epoch {}'s key",
                s.new_leaves, s.size, s.epoch
            )?,
            None => writeln!(out, "nothing to seal: every line is sealed")?,
        },
    }
    Ok(ExitCode::SUCCESS)
}

/// The verification key given to `--key`: its text, or a file holding it.
pub(crate) fn parse_key(given: &str) -> Result<Verifier> {
    if let Ok(key) = Verifier::parse(given.trim()) {
        return Ok(key);
    }
    let path = PathBuf::from(given);
    let text = read_key_file(&path)
        .with_context(|| format!("--key {given} is neither a verification key nor a file"))?;
    Verifier::parse(text.trim())
        .with_context(|| format!("{} does not hold a verification key", path.display()))
}

fn read_key_file(path: &Path) -> Result<String> {
    let mut text = String::new();
    std::fs::File::open(path)?
        .take(MAX_KEY_FILE)
        .read_to_string(&mut text)?;
    Ok(text)
}

/// `verify --key`: checks the seals; prints what was proven or the
/// tampering found. Whether it passed.
/// (The check runs beside the plain verify, so it prints nothing.)
pub fn verify_report(cli: &Cli, key: &str) -> Result<SealReport> {
    let layout = layout(cli)?;
    let key = parse_key(key)?;
    Ok(seal::verify_sealed(&RealFs, &layout, &key)?)
}

/// Prints what [`verify_report`] found. Whether it passed.
pub fn print_verified(
    report: &SealReport,
    require_sealed: bool,
    out: &mut dyn Write,
) -> Result<bool> {
    print_report(out, report)?;
    Ok(report.tampering.is_none() && !(require_sealed && report.unsealed > 0))
}

fn print_report(out: &mut dyn Write, r: &SealReport) -> Result<()> {
    for note in &r.notes {
        writeln!(out, "note: {note}")?;
    }
    if let Some(t) = &r.tampering {
        let at = match (&t.span, &t.segment, t.line) {
            (Some(span), _, _) => format!(" (at {span})"),
            (None, Some(s), Some(l)) => format!(" (from {s} line {l})"),
            _ => String::new(),
        };
        writeln!(out, "tampering: {}{at}", t.what)?;
        return Ok(());
    }
    writeln!(
        out,
        "sealed: {} lines as sealed, {} seals, {} epochs",
        r.sealed_leaves, r.seals, r.epochs
    )?;
    if let Some(t) = &r.retired {
        writeln!(
            out,
            "retired: {} lines in {} archives removed by retention (up to segment {}, signed in epoch {} at time {})",
            t.lines, t.archives, t.segment, t.epoch, t.time
        )?;
    }
    if r.indexes_vouched + r.indexes_unvouched > 0 {
        writeln!(
            out,
            "indexes: {} as vouched for, {} not vouched for yet",
            r.indexes_vouched, r.indexes_unvouched
        )?;
    }
    if r.unsealed > 0 {
        let now = u64::try_from(scout_audit_core::Timestamp::now().unix_secs()).unwrap_or(0);
        let age = r.last_seal_time.map_or(String::new(), |t| {
            format!(", at most {}s old", now.saturating_sub(t))
        });
        writeln!(
            out,
            "unsealed: {} lines after the last seal{age}",
            r.unsealed
        )?;
    }
    Ok(())
}
