//! Verifying a sealed store against its verification key.

use std::io;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use scout_audit_seal::merkle::Tree;
use scout_audit_seal::note::{Checkpoint, Verifier, open, verify_chain};

use super::hashing::Workers;
use super::leaves::End;
use super::log::{Entry, Log, SealEntry, read_log};
use super::retire::check_retires;
use super::state::read_state;
use super::walk::{Fed, LeafSink, Proven, recompute_with};
use super::{SealReport, Tampering, seal_err};
use crate::fs::Fs;
use crate::layout::Layout;
use crate::lock::LockGuard;
use crate::{Error, Result};

impl Proven {
    /// What vouches are checked against (`vouch.rs`).
    fn vouch_at(&self) -> super::vouch::SealAt {
        super::vouch::SealAt {
            size: self.size,
            end_segment: self.end.segment,
        }
    }
}

pub(super) fn tamper(what: impl Into<String>) -> Tampering {
    Tampering {
        what: what.into(),
        segment: None,
        line: None,
        span: None,
    }
}

/// Checks one seal's signature and checkpoint against its epoch's key;
/// `number` is its 1-based place among the log's seals.
pub(super) fn check_seal(
    log: &Log,
    keys: &[Verifier],
    s: &SealEntry,
    number: u64,
) -> std::result::Result<Proven, String> {
    let key = usize::try_from(s.epoch)
        .ok()
        .and_then(|i| keys.get(i))
        .ok_or_else(|| {
            format!(
                "a seal of epoch {} comes before that epoch's certificate",
                s.epoch
            )
        })?;
    let text = if crate::mutant::active(crate::mutant::SEAL_SKIP_SIGNATURE) {
        crate::mutant::unsigned_text(&s.note)
    } else {
        open(s.note.as_bytes(), std::slice::from_ref(key))
            .map_err(|e| format!("a seal of epoch {} does not verify: {e}", s.epoch))?
            .text
    };
    let cp = Checkpoint::parse(&text).map_err(|e| e.to_string())?;
    let want = [
        format!("epoch {}", s.epoch),
        format!("end {} {}", s.segment, s.offset),
    ];
    if cp.origin != format!("scout-audit/{}", log.store)
        || cp.extensions.get(..2) != Some(&want[..])
    {
        return Err(format!(
            "the seal of size {} does not match its checkpoint",
            cp.size
        ));
    }
    if cp.extensions.get(3) != Some(&format!("seal {number}")) {
        return Err(format!(
            "the seal of size {} is not numbered {number}, its place in the seal log: a seal was removed or reordered",
            cp.size
        ));
    }
    let tree = STANDARD
        .decode(&s.tree)
        .ok()
        .and_then(|b| Tree::decode(&b).ok())
        .filter(|t| t.size() == cp.size && t.root() == cp.root);
    let Some(frontier) = tree else {
        return Err(format!(
            "the tree state of the seal of size {} is not its signed root",
            cp.size
        ));
    };
    let time = cp
        .extensions
        .get(2)
        .and_then(|t| t.strip_prefix("time "))
        .and_then(|t| t.parse().ok())
        .ok_or("a seal has no time")?;
    Ok(Proven {
        size: cp.size,
        root: cp.root,
        end: End {
            segment: s.segment,
            offset: s.offset,
        },
        time,
        frontier,
    })
}

/// Checks the log: the key, the epoch chain and every seal's signature,
/// order and growth. Returns the proven seals and the epochs' count.
pub(super) fn check_log(
    log: &Log,
    key: &Verifier,
) -> std::result::Result<(Vec<Proven>, Vec<Verifier>), String> {
    let logged = Verifier::parse(&log.key).map_err(|e| format!("the init line's key: {e}"))?;
    if logged.to_text() != key.to_text() {
        return Err(
            "the seal log was not made with this verification key (wrong key, or a log rewritten)"
                .to_owned(),
        );
    }
    let certs = cert_notes(log);
    let keys: Vec<Verifier> = verify_chain(key, &certs)
        .map_err(|e| format!("the epoch chain: {e}"))?
        .into_iter()
        .map(|e| e.verifier)
        .collect();
    let (mut seals, mut certified): (Vec<Proven>, u64) = (Vec::new(), 0);
    for entry in log.entries.iter().skip(1) {
        match entry {
            Entry::Init { .. } => return Err("a second init line".to_owned()),
            Entry::Cert { epoch, .. } => {
                certified = certified.saturating_add(1);
                if *epoch != certified {
                    return Err(format!(
                        "the certificate of epoch {epoch} is labelled out of order"
                    ));
                }
            }
            // Checked by vouch::check, once the seals are.
            Entry::Vouch(_) => {}
            Entry::Seal(s) => {
                if s.epoch != certified {
                    return Err(format!(
                        "a seal of epoch {} is out of order in the seal log",
                        s.epoch
                    ));
                }
                let p = check_seal(log, &keys, s, seals.len() as u64 + 1)?;
                if let Some(prev) = seals.last() {
                    check_growth(prev, &p)?;
                }
                seals.push(p);
            }
            // Checked by `retire::check_retires`, with the seals.
            Entry::Retire(_) => {}
        }
    }
    Ok((seals, keys))
}

/// The certificates in log order.
pub(super) fn cert_notes(log: &Log) -> Vec<&[u8]> {
    log.entries
        .iter()
        .filter_map(|e| match e {
            Entry::Cert { note, .. } => Some(note.as_bytes()),
            _ => None,
        })
        .collect()
}

pub(super) fn check_growth(prev: &Proven, p: &Proven) -> std::result::Result<(), String> {
    if p.size == prev.size && p.root != prev.root {
        return Err(format!(
            "two seals of size {} with different roots: a forked history",
            p.size
        ));
    }
    let end_grows = (p.end.segment, p.end.offset) > (prev.end.segment, prev.end.offset);
    if p.size <= prev.size || !end_grows || p.time < prev.time {
        return Err(format!(
            "the seal of size {} does not grow from the one before",
            p.size
        ));
    }
    Ok(())
}

/// The note when the sealing state cannot be read by this user (a
/// verifier running as another user than the sealer): not tampering.
pub(super) const STATE_UNREADABLE: &str = "the sealing state could not be read: not checked";

/// Whether `e` is the system refusing to open a file to this user.
fn permission_denied(e: &Error) -> bool {
    matches!(e, Error::Io { source, .. } if source.kind() == io::ErrorKind::PermissionDenied)
}

/// Checks the sealing state file: present, 0600, of this store, at the
/// last certified epoch and holding that epoch's key. A state this user
/// may not read is a note in `notes`, not tampering.
pub(super) fn check_state(
    fs: &dyn Fs,
    layout: &Layout,
    log: &Log,
    keys: &[Verifier],
    notes: &mut Vec<String>,
) -> Option<Tampering> {
    let state = match read_state(fs, &layout.seal_key()) {
        Ok(s) => s,
        Err(e) if permission_denied(&e) => {
            notes.push(STATE_UNREADABLE.to_owned());
            return None;
        }
        Err(e) => return Some(tamper(format!("the sealing state: {e}"))),
    };
    let current = keys.last().map(Verifier::to_text);
    let holds = |s: &super::state::State| {
        s.store == log.store && Some(s.chain.signer().verifier().to_text()) == current
    };
    // An evolve a crash interrupted after its certificate was appended
    // leaves the certified key in the temporary state, which the next
    // sealer renames into place: that is no tampering.
    let interrupted = || read_state(fs, &layout.seal_key_temp()).is_ok_and(|t| holds(&t));
    if !holds(&state) && !interrupted() {
        return Some(tamper(
            "the sealing state is not the last certified epoch's key of this store",
        ));
    }
    None
}

/// Verifies a sealed store against its verification key: the seal log,
/// the epoch chain, every seal's signature, and the tree recomputed from
/// the segments at every seal's size. IO failures are errors; tampering
/// is reported in [`SealReport::tampering`], located where it can be.
///
/// It holds the store's lock shared while it reads (when the lock file
/// exists and can be opened), so no seal and no rotation happen under it:
/// writers go on appending, which only adds unsealed lines.
pub fn verify_sealed(fs: &dyn Fs, layout: &Layout, key: &Verifier) -> Result<SealReport> {
    verify_sealed_with(fs, layout, key, Workers::auto())
}

/// [`verify_sealed`] with the segments hashed by `workers` threads
/// ([`Workers::SEQUENTIAL`]: by the calling thread). The report does not
/// depend on the workers.
pub fn verify_sealed_with(
    fs: &dyn Fs,
    layout: &Layout,
    key: &Verifier,
    workers: Workers,
) -> Result<SealReport> {
    under_shared_lock(fs, layout, || {
        verify_unlocked_with(fs, layout, key, workers)
    })
}

/// Runs `f` holding the store's lock shared (when the lock file exists
/// and can be opened): no seal and no rotation happen under it.
pub(super) fn under_shared_lock<T>(
    fs: &dyn Fs,
    layout: &Layout,
    f: impl FnOnce() -> Result<T>,
) -> Result<T> {
    let lock_path = layout.lock();
    let lock = match fs.open_lock(&lock_path, false) {
        Ok(l) => Some(l),
        Err(e)
            if matches!(
                e.kind(),
                io::ErrorKind::NotFound | io::ErrorKind::PermissionDenied
            ) =>
        {
            None
        }
        Err(e) => return Err(Error::io("open", &lock_path, e)),
    };
    let Some(lock) = lock else {
        return f();
    };
    let guard = LockGuard::shared(&*lock, &lock_path)?;
    let r = f();
    let u = guard.unlock();
    let v = r?;
    u?;
    Ok(v)
}

pub(super) fn verify_unlocked_with(
    fs: &dyn Fs,
    layout: &Layout,
    key: &Verifier,
    workers: Workers,
) -> Result<SealReport> {
    let p = match prepare(fs, layout, key)? {
        Prepared::Done(report) => return Ok(report),
        Prepared::Walk(p) => p,
    };
    let found = recompute_with(fs, layout, &p.seals, p.retire.as_ref(), workers)?;
    conclude(fs, layout, p, found)
}

/// How far the checks before the walk got.
enum Prepared {
    /// The report, found before any segment is read (tampering in the
    /// log, the chain or the state).
    Done(SealReport),
    /// The log holds: the segments are walked next.
    Walk(Box<Checked>),
}

/// A seal log that holds, and the report so far.
struct Checked {
    log: Log,
    keys: Vec<Verifier>,
    seals: Vec<Proven>,
    retire: Option<super::retire::ProvenRetire>,
    report: SealReport,
}

/// The checks of `verify --key` before the walk: the log, the chain,
/// every seal, the retires and the sealing state.
fn prepare(fs: &dyn Fs, layout: &Layout, key: &Verifier) -> Result<Prepared> {
    let log_path = layout.seal_log();
    let log = match read_log(fs, layout) {
        Ok(Some(log)) => log,
        Ok(None) => {
            return Err(seal_err(
                &log_path,
                "does not exist: the store is not sealed",
            ));
        }
        Err(Error::Seal { reason, .. }) => {
            return Ok(Prepared::Done(tampered(tamper(format!(
                "the seal log {reason}"
            )))));
        }
        Err(e) => return Err(e),
    };
    let (seals, keys) = match check_log(&log, key) {
        Ok(v) => v,
        Err(what) => return Ok(Prepared::Done(tampered(tamper(what)))),
    };
    let retire = match check_retires(&log, &keys, &seals) {
        Ok(r) => r,
        Err(what) => return Ok(Prepared::Done(tampered(tamper(what)))),
    };
    let mut report = SealReport {
        seals: seals.len() as u64,
        epochs: keys.len() as u64,
        sealed_leaves: seals.last().map_or(0, |s| s.size),
        last_seal_time: seals.last().map(|s| s.time),
        retired: retire.as_ref().map(|r| r.retired.clone()),
        ..SealReport::default()
    };
    report.tampering = check_state(fs, layout, &log, &keys, &mut report.notes);
    if report.tampering.is_some() {
        return Ok(Prepared::Done(report));
    }
    Ok(Prepared::Walk(Box::new(Checked {
        log,
        keys,
        seals,
        retire,
        report,
    })))
}

/// The report once the walk found `found` (the leaves counted and the
/// first departure): then the vouches.
fn conclude(
    fs: &dyn Fs,
    layout: &Layout,
    p: Box<Checked>,
    found: (u64, Option<Tampering>),
) -> Result<SealReport> {
    let Checked {
        log,
        keys,
        seals,
        mut report,
        ..
    } = *p;
    let (total, found) = found;
    report.unsealed = total.saturating_sub(report.sealed_leaves);
    report.tampering = found;
    if report.tampering.is_none() {
        let at: Vec<_> = seals.iter().map(|p| p.vouch_at()).collect();
        report.tampering = super::vouch::check(fs, layout, &log, &keys, &at, &mut report)?;
    }
    Ok(report)
}

/// The sealed check with its leaves from another read of the store (the
/// plain verify's, `verify::verify_keyed`): under the store's shared
/// lock, the checks before the walk, then `read` run with the walk as
/// its [`LeafSink`], then the walk's end and the vouches. Returns what
/// `read` returned (`None` when the sealed check ended before it, and
/// `read` was not run) and the report [`verify_sealed_with`] gives. When
/// `read` fails, the sealed check runs alone after it.
pub(crate) fn verify_sealed_fed<T>(
    fs: &dyn Fs,
    layout: &Layout,
    key: &Verifier,
    workers: Workers,
    read: impl FnOnce(&mut dyn LeafSink) -> Result<T>,
) -> (Option<Result<T>>, Result<SealReport>) {
    let mut got = None;
    let sealed = under_shared_lock(fs, layout, || {
        let p = match prepare(fs, layout, key)? {
            Prepared::Done(report) => return Ok(report),
            Prepared::Walk(p) => p,
        };
        let mut fed = Fed::new(fs, layout, &p.seals, p.retire.as_ref())?;
        let r = read(&mut fed);
        let failed = r.is_err();
        got = Some(r);
        if failed {
            drop(fed);
            return verify_unlocked_with(fs, layout, key, workers);
        }
        let found = fed.finish()?;
        conclude(fs, layout, p, found)
    });
    (got, sealed)
}

pub(super) fn tampered(t: Tampering) -> SealReport {
    SealReport {
        tampering: Some(t),
        ..SealReport::default()
    }
}
