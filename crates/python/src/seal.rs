//! Sealing from Python, on a file store: `seal_init`, `seal` and
//! `verify(key=...)`, the CLI's `seal init`, `seal` and `verify --key`
//! (docs/integrity.md).

use scout_audit_core::SystemClock;
use scout_audit_seal::note::Verifier;
use scout_audit_store_file::fs::RealFs;
use scout_audit_store_file::seal;

use crate::errors::{Failure, Kind, Result};
use crate::open::Writer;

/// The file store of `w`, or why sealing needs one.
fn file(w: &Writer, what: &str) -> Result<scout_audit_store_file::FileStore> {
    match w {
        Writer::File(s) => Ok(s.clone()),
        Writer::Table(_) => Err(Failure::new(
            Kind::Unsupported,
            format!("{what} needs a file store"),
        )),
    }
}

/// Sets sealing up (epochs of `epoch_secs`); the verification key's text.
pub fn init(w: &Writer, epoch_secs: u64) -> Result<String> {
    let s = file(w, "seal_init")?;
    Ok(seal::init(&RealFs, s.layout(), epoch_secs)?)
}

/// Seals what was logged since the last seal: `(new_leaves, size,
/// epoch)`, `None` when every line is sealed.
pub fn seal_now(w: &Writer) -> Result<Option<(u64, u64, u64)>> {
    let s = file(w, "seal")?;
    s.sync()?;
    Ok(seal::seal_now(&RealFs, s.layout(), &SystemClock)?.map(|x| (x.new_leaves, x.size, x.epoch)))
}

/// The sealed check's answer.
#[derive(Debug)]
pub struct Sealed {
    /// Seals checked.
    pub seals: u64,
    /// Leaves proven sealed.
    pub sealed_leaves: u64,
    /// Complete lines after the last seal.
    pub unsealed: u64,
    /// The tampering found, as the CLI prints it; `None`: none.
    pub tampering: Option<String>,
    /// Notes.
    pub notes: Vec<String>,
}

/// Checks the seals against the verification key `key` (its text).
pub fn verify(w: &Writer, key: &str) -> Result<Sealed> {
    let s = file(w, "verify(key=...)")?;
    let key = Verifier::parse(key.trim()).map_err(|e| {
        Failure::new(
            Kind::Argument,
            format!("key is not a verification key: {e}"),
        )
    })?;
    let r = seal::verify_sealed(&RealFs, s.layout(), &key)?;
    let tampering = r.tampering.as_ref().map(|t| {
        let at = match (&t.span, &t.segment, t.line) {
            (Some(span), _, _) => format!(" (at {span})"),
            (None, Some(seg), Some(l)) => format!(" (from {seg} line {l})"),
            _ => String::new(),
        };
        format!("{}{at}", t.what)
    });
    Ok(Sealed {
        seals: r.seals,
        sealed_leaves: r.sealed_leaves,
        unsealed: r.unsealed,
        tampering,
        notes: r.notes,
    })
}
