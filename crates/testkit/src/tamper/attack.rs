//! The tamperings: each changes a copy of a base store the way an attacker
//! would, and says what `verify --key` (`tamper::keyed`) must answer.

use std::path::Path;

use scout_audit_core::ManualClock;
use scout_audit_core::Timestamp;
use scout_audit_seal::note::{Signer, Verifier};
use scout_audit_store_file::Layout;
use scout_audit_store_file::fs::RealFs;
use scout_audit_store_file::seal::{self, CheckpointFile};

use super::base::{Base, gzip, io, write_records};
use super::kind::Kind;
use super::log_edit::{LogLines, current_chain, edit_line, seal_line, seal_time};
use super::model::{
    Departure, Model, SealPoint, archive_name, expected_departure, expected_location,
};
use crate::rng::Rng;

/// What verify must answer for one tampering.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Expect {
    /// Tampering located at this segment and line (decision 72's rule on
    /// the models); `None` when the store holds no leaf to name. With the
    /// departure, a block verify names (decision 92) must start at or
    /// after decision 72's line and hold the first departing line.
    Line(Option<(String, u64)>, Option<Box<Departure>>),
    /// Tampering naming this segment, without a line (it cannot be read).
    Segment(String),
    /// Tampering in the seal log, the state or the key: no segment named.
    NoSegment,
    /// As [`Expect::NoSegment`], and verify's text starts with this (the
    /// reason the tampering's own check gives, not another one).
    Reason(String),
    /// An error saying the store is not sealed (its seal log is gone).
    NotSealed,
    /// A store that no longer extends a checkpoint kept elsewhere (a
    /// rollback, a cut tail): `verify --key` finds nothing, and
    /// `verify_checkpoints` refuses the checkpoint with a text starting
    /// with this; or `verify --key` finds tampering naming no segment
    /// (when the cut also took a certificate the sealing state holds).
    Anchor(String),
}

/// One tampering applied to a copy of a base.
pub struct Applied {
    /// The key to verify with (the true one, except for a wrong key).
    pub key: Verifier,
    /// What verify must answer.
    pub expect: Expect,
    /// What was done, for the report's examples.
    pub what: String,
    /// Checkpoints kept elsewhere to verify with (`verify --checkpoint`);
    /// empty for the kinds `verify --key` alone must catch.
    pub checkpoints: Vec<CheckpointFile>,
}

/// The copy being tampered with.
pub struct Target<'a> {
    /// The base it is a copy of.
    pub base: &'a Base,
    /// The copy's layout.
    pub layout: Layout,
    /// Wrong keys to pick from.
    pub wrong_keys: &'a [Verifier],
}

impl Target<'_> {
    pub(super) fn dir(&self) -> &Path {
        self.layout.dir()
    }

    pub(super) fn write_seg(&self, m: &Model, i: usize) -> Result<(), String> {
        let s = &m.segs[i];
        let path = self.dir().join(&s.name);
        let bytes = if s.gz {
            gzip(&s.bytes).map_err(io("gzip", &path))?
        } else {
            s.bytes.clone()
        };
        std::fs::write(&path, bytes).map_err(io("write", &path))
    }

    fn located(&self, m: &Model, what: String) -> Applied {
        self.located_with(m, &self.base.seals, what)
    }

    pub(super) fn located_with(&self, m: &Model, seals: &[SealPoint], what: String) -> Applied {
        let departure = expected_departure(&self.base.model, m, seals).map(Box::new);
        let expect = match expected_location(&self.base.model, m, seals) {
            Some(at) => Expect::Line(at, departure),
            // Every seal holds: no tampering of sealed lines to find. The
            // kinds never produce this; if one does, the run says so.
            None => Expect::Line(Some(("<every seal holds>".to_owned(), 0)), None),
        };
        Applied {
            key: self.base.key.clone(),
            expect,
            what,
            checkpoints: Vec::new(),
        }
    }

    pub(super) fn unlocated(&self, expect: Expect, what: String) -> Applied {
        Applied {
            key: self.base.key.clone(),
            expect,
            what,
            checkpoints: Vec::new(),
        }
    }
}

/// Applies one tampering of `kind` to the copy.
pub fn apply(kind: Kind, t: &Target<'_>, rng: &mut Rng) -> Result<Applied, String> {
    match kind {
        Kind::LineEdited
        | Kind::LineInserted
        | Kind::LineRemoved
        | Kind::LineDuplicated
        | Kind::LinesReordered => lines(kind, t, rng),
        Kind::ArchiveEdited
        | Kind::ArchiveTruncated
        | Kind::ArchiveDeleted
        | Kind::ArchiveRenamed
        | Kind::ArchivesSwapped
        | Kind::ArchiveReplacedByOlder => archives(kind, t, rng),
        Kind::LogLineRemoved
        | Kind::LogLineEdited
        | Kind::LogLinesReordered
        | Kind::CertRemoved
        | Kind::CertEdited => log_lines(kind, t, rng),
        Kind::Downgrade => downgrade(t, rng),
        Kind::ForkWithCurrentKey => fork(t, rng),
        Kind::WrongKey => Ok(Applied {
            key: rng.pick(&t.wrong_keys.iter().collect::<Vec<_>>()).clone(),
            expect: Expect::NoSegment,
            what: "verified with another store's key".to_owned(),
            checkpoints: Vec::new(),
        }),
        Kind::ResealOlderEpoch => reseal_older_epoch(t, rng),
        Kind::ResealWithOwnKey => reseal_with_own_key(t, rng),
        Kind::IndexForged => forge_index(t, rng),
        Kind::Rollback => super::rollback::rollback(t, rng),
        Kind::TailCut => super::rollback::tail_cut(t, rng),
        Kind::RetireEdited => super::retired::edit(t, rng),
        Kind::RetiredNeighbourRemoved => super::retired::neighbour_removed(t, rng),
        Kind::ArchiveRemovedPastRetire => super::retired::later_archive_removed(t, rng),
        Kind::RetireReplayed => super::retired::replay(t, rng),
        Kind::RetireRemoved => super::retired::remove_retire(t, rng),
        Kind::RetireForgedCurrentKey => super::retired::forge_with_current_key(t, rng),
    }
}

/// The segment and line index of leaf `k`.
pub(super) fn leaf_at(m: &Model, k: u64) -> Option<(usize, usize)> {
    let mut left = usize::try_from(k).ok()?;
    for (i, s) in m.segs.iter().enumerate() {
        let n = s.lines().len();
        if left < n {
            return Some((i, left));
        }
        left -= n;
    }
    None
}

pub(super) fn owned_lines(m: &Model, seg: usize) -> Vec<Vec<u8>> {
    m.segs[seg].lines().iter().map(|l| l.to_vec()).collect()
}

/// Changes one digit of a line into another (the cost's when it has
/// one), so the line stays valid JSON of the same length.
pub fn edit_digit(line: &mut [u8], rng: &mut Rng) -> bool {
    let from = find(line, b"\"cost\":").unwrap_or(0);
    let digits: Vec<usize> = (from..line.len())
        .filter(|&i| line[i].is_ascii_digit())
        .collect();
    let Some(&at) = digits.get(rng.below(digits.len().max(1) as u64) as usize) else {
        return false;
    };
    let d = u64::from(line[at] - b'0');
    line[at] = b'0' + ((d + rng.range(1, 9)) % 10) as u8;
    true
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

/// A sealed leaf at random.
fn sealed_leaf(t: &Target<'_>, rng: &mut Rng) -> Result<(u64, usize, usize), String> {
    let k = rng.below(t.base.sealed());
    let (s, l) = leaf_at(&t.base.model, k).ok_or("no sealed leaf")?;
    Ok((k, s, l))
}

fn lines(kind: Kind, t: &Target<'_>, rng: &mut Rng) -> Result<Applied, String> {
    let mut m = t.base.model.clone();
    // A copy of the last sealed line written right after it is an append
    // (the sealed prefix is unchanged): duplicate a line before it.
    let below_last = u64::from(kind == Kind::LineDuplicated);
    let k = rng.below(t.base.sealed() - below_last);
    let (si, li) = leaf_at(&m, k).ok_or("no sealed leaf")?;
    let mut ls = owned_lines(&m, si);
    let mut touched = vec![si];
    let name = m.segs[si].name.clone();
    let what = match kind {
        Kind::LineEdited => {
            edit_digit(&mut ls[li], rng);
            format!("edited a digit of {name} line {}", li + 1)
        }
        Kind::LineInserted => {
            let mut new = ls[li].clone();
            edit_digit(&mut new, rng);
            ls.insert(li, new);
            format!("inserted a line before {name} line {}", li + 1)
        }
        Kind::LineRemoved => {
            ls.remove(li);
            format!("removed {name} line {}", li + 1)
        }
        Kind::LineDuplicated => {
            ls.insert(li, ls[li].clone());
            format!("duplicated {name} line {}", li + 1)
        }
        _ => {
            let total = m.leaves().len() as u64;
            let j = (k + rng.range(1, total - 1)) % total;
            let (sj, lj) = leaf_at(&m, j).ok_or("no leaf")?;
            if sj == si {
                ls.swap(li, lj);
            } else {
                let mut other = owned_lines(&m, sj);
                std::mem::swap(&mut ls[li], &mut other[lj]);
                m.segs[sj].set_lines(&other);
                touched.push(sj);
            }
            format!("swapped {name} line {} with leaf {j}", li + 1)
        }
    };
    m.segs[si].set_lines(&ls);
    for i in touched {
        t.write_seg(&m, i)?;
    }
    Ok(t.located(&m, what))
}

fn archives(kind: Kind, t: &Target<'_>, rng: &mut Rng) -> Result<Applied, String> {
    let mut m = t.base.model.clone();
    let gz: Vec<usize> = (0..m.segs.len()).filter(|&i| m.segs[i].gz).collect();
    let a = *gz
        .get(rng.below(gz.len() as u64) as usize)
        .ok_or("no archive")?;
    let name = m.segs[a].name.clone();
    let path = t.dir().join(&name);
    let what = match kind {
        Kind::ArchiveEdited => {
            let at = rng.below(m.segs[a].bytes.len() as u64) as usize;
            let old = m.segs[a].bytes[at];
            let new = rng.pick(b"0123456789abcdefxyz\",:{}\n ");
            m.segs[a].bytes[at] = if new == old { old ^ 0x01 } else { new };
            t.write_seg(&m, a)?;
            format!("edited byte {at} of {name}, decompressed, and recompressed it")
        }
        Kind::ArchiveTruncated => {
            let len = std::fs::metadata(&path).map_err(io("stat", &path))?.len();
            let cut = rng.range(1, len - 1);
            let f = std::fs::OpenOptions::new()
                .write(true)
                .open(&path)
                .map_err(io("open", &path))?;
            f.set_len(cut).map_err(io("truncate", &path))?;
            return Ok(t.unlocated(
                Expect::Segment(name.clone()),
                format!("cut {name} to {cut} of {len} bytes"),
            ));
        }
        Kind::ArchiveDeleted => {
            std::fs::remove_file(&path).map_err(io("remove", &path))?;
            m.segs.remove(a);
            format!("deleted {name}")
        }
        Kind::ArchiveRenamed => rename(t, &mut m, a, rng)?,
        Kind::ArchivesSwapped => {
            let b = *gz
                .iter()
                .filter(|&&b| b != a)
                .nth(rng.below(gz.len() as u64 - 1) as usize)
                .ok_or("only one archive")?;
            let (x, y) = (m.segs[a].bytes.clone(), m.segs[b].bytes.clone());
            (m.segs[a].bytes, m.segs[b].bytes) = (y, x);
            t.write_seg(&m, a)?;
            t.write_seg(&m, b)?;
            format!("swapped {name} and {}", m.segs[b].name)
        }
        _ => {
            let ls = owned_lines(&m, a);
            let keep = rng.below(ls.len() as u64) as usize;
            m.segs[a].set_lines(&ls[..keep]);
            t.write_seg(&m, a)?;
            format!(
                "replaced {name} by an older copy of {keep} of its {} lines",
                ls.len()
            )
        }
    };
    m.normalise();
    Ok(t.located(&m, what))
}

fn rename(t: &Target<'_>, m: &mut Model, a: usize, rng: &mut Rng) -> Result<String, String> {
    let used: Vec<u64> = m.segs.iter().filter(|s| s.gz).map(|s| s.number).collect();
    let max = used.iter().copied().max().unwrap_or(0);
    let free: Vec<u64> = (1..=max + 3).filter(|n| !used.contains(n)).collect();
    let to = rng.pick(&free);
    let old = m.segs[a].name.clone();
    let new = archive_name(&t.layout, m.segs[a].seal_secs, to).ok_or("not an archive name")?;
    let (from_path, to_path) = (t.dir().join(&old), t.dir().join(&new));
    std::fs::rename(&from_path, &to_path).map_err(io("rename", &from_path))?;
    m.segs[a].name = new.clone();
    m.segs[a].number = to;
    Ok(format!("renamed {old} to {new}"))
}

fn log_lines(kind: Kind, t: &Target<'_>, rng: &mut Rng) -> Result<Applied, String> {
    let mut log = LogLines::read(&t.layout)?;
    let certs = log.of_kind("cert");
    let any = |rng: &mut Rng| rng.below(log.text.len() as u64) as usize;
    let what = match kind {
        Kind::LogLineRemoved => {
            // Any init, cert or seal line but the last seal: that one only
            // a checkpoint kept elsewhere remembers (decision 74).
            let mut choices = certs.clone();
            choices.push(0);
            let seals = log.of_kind("seal");
            choices.extend(seals.iter().take(seals.len().saturating_sub(1)));
            let i = rng.pick(&choices);
            log.text.remove(i);
            format!(
                "removed seal-log line {} (an init, cert or seal line)",
                i + 1
            )
        }
        Kind::CertRemoved => {
            let i = rng.pick(&certs);
            log.text.remove(i);
            format!("removed seal-log line {} (a cert)", i + 1)
        }
        Kind::LogLineEdited => {
            let i = any(rng);
            let field = edit_line(&mut log, i, rng)?;
            format!("edited the {field} of seal-log line {}", i + 1)
        }
        Kind::CertEdited => {
            let i = rng.pick(&certs);
            let field = edit_line(&mut log, i, rng)?;
            format!("edited the {field} of seal-log line {} (a cert)", i + 1)
        }
        _ => {
            let i = any(rng);
            let j = (i + rng.range(1, log.text.len() as u64 - 1) as usize) % log.text.len();
            log.text.swap(i, j);
            format!("swapped seal-log lines {} and {}", i + 1, j + 1)
        }
    };
    log.write(&t.layout)?;
    Ok(t.unlocated(Expect::NoSegment, what))
}

/// The store rewritten without sealing: a sealed line edited, then the
/// seal files removed, the state removed, or sealing set up anew.
fn downgrade(t: &Target<'_>, rng: &mut Rng) -> Result<Applied, String> {
    let mut m = t.base.model.clone();
    let (_, si, li) = sealed_leaf(t, rng)?;
    let mut ls = owned_lines(&m, si);
    edit_digit(&mut ls[li], rng);
    m.segs[si].set_lines(&ls);
    t.write_seg(&m, si)?;
    let (key, log) = (t.layout.seal_key(), t.layout.seal_log());
    let rm = |p: &Path| std::fs::remove_file(p).map_err(io("remove", p));
    match rng.below(3) {
        0 => {
            rm(&key)?;
            rm(&log)?;
            Ok(t.unlocated(
                Expect::NotSealed,
                "edited a line, removed the seal files".to_owned(),
            ))
        }
        1 => {
            rm(&key)?;
            Ok(t.unlocated(
                Expect::NoSegment,
                "edited a line, removed the sealing state".to_owned(),
            ))
        }
        _ => {
            rm(&key)?;
            rm(&log)?;
            seal::init(&RealFs, &t.layout, 60).map_err(io("seal init", t.dir()))?;
            let clock = ManualClock::new(
                Timestamp::from_unix(i64::try_from(t.base.now).unwrap_or(0), 0)
                    .ok_or("a time out of range")?,
            );
            seal::seal_now(&RealFs, &t.layout, &clock).map_err(io("seal", t.dir()))?;
            Ok(t.unlocated(
                Expect::NoSegment,
                "edited a line, set sealing up anew and sealed".to_owned(),
            ))
        }
    }
}

/// A seal of the last seal's size over other leaves, signed with the
/// current key, appended.
fn fork(t: &Target<'_>, rng: &mut Rng) -> Result<Applied, String> {
    let mut log = LogLines::read(&t.layout)?;
    let chain = current_chain(&t.layout)?;
    let mut m = t.base.model.clone();
    let (_, si, li) = sealed_leaf(t, rng)?;
    let mut ls = owned_lines(&m, si);
    edit_digit(&mut ls[li], rng);
    m.segs[si].set_lines(&ls);
    let last = *t.base.seals.last().ok_or("no seal")?;
    let number = log.of_kind("seal").len() as u64 + 1;
    let line = seal_line(
        &log.store(),
        chain.signer(),
        chain.epoch(),
        &m,
        last,
        t.base.now,
        number,
    )?;
    log.text.push(line);
    log.write(&t.layout)?;
    Ok(t.unlocated(
        Expect::NoSegment,
        format!(
            "appended a fork of size {} signed with the current key",
            last.size
        ),
    ))
}

/// The attacker holding the current key: edits a line sealed in an epoch
/// before the current one, drops the current epoch's seals, appends a line
/// and seals everything with the current key.
fn reseal_older_epoch(t: &Target<'_>, rng: &mut Rng) -> Result<Applied, String> {
    let chain = current_chain(&t.layout)?;
    let b = t.base;
    let old = b.seal_epochs.iter().rposition(|&e| e < chain.epoch());
    let Some(old) = old else {
        return Err("the base has seals of one epoch only".to_owned());
    };
    let kept: Vec<SealPoint> = b.seals[..=old].to_vec();
    write_records(&t.layout.live(), rng, 1)?;
    let mut m = super::base::read_model(&t.layout)?;
    let k = rng.below(kept[old].size);
    let (si, li) = leaf_at(&m, k).ok_or("no leaf")?;
    let mut ls = owned_lines(&m, si);
    edit_digit(&mut ls[li], rng);
    m.segs[si].set_lines(&ls);
    t.write_seg(&m, si)?;
    let mut log = LogLines::read(&t.layout)?;
    let seal_lines = log.of_kind("seal");
    let drop: Vec<usize> = seal_lines[old + 1..].to_vec();
    for i in drop.iter().rev() {
        log.text.remove(*i);
    }
    let total = m.leaves().len() as u64;
    let point = m.seal_point(total).ok_or("empty store")?;
    let time = b.now + 1;
    let number = kept.len() as u64 + 1;
    let line = seal_line(
        &log.store(),
        chain.signer(),
        chain.epoch(),
        &m,
        point,
        time,
        number,
    )?;
    log.text.push(line);
    log.write(&t.layout)?;
    let mut seals = kept;
    seals.push(point);
    let mut a = t.located_with(
        &m,
        &seals,
        format!(
            "edited leaf {k} (epoch {} or older), dropped {} seals of epoch {}, resealed {total} leaves",
            b.seal_epochs[old],
            drop.len(),
            chain.epoch()
        ),
    );
    // The location is computed against the base's leaves, which the
    // appended line only extends.
    a.what.push_str(" with the current key");
    Ok(a)
}

/// An attacker without the keys: edits a sealed line and re-signs every
/// seal over the edited leaves with a key of its own under the same name.
fn reseal_with_own_key(t: &Target<'_>, rng: &mut Rng) -> Result<Applied, String> {
    let mut m = t.base.model.clone();
    let (k, si, li) = sealed_leaf(t, rng)?;
    let mut ls = owned_lines(&m, si);
    edit_digit(&mut ls[li], rng);
    m.segs[si].set_lines(&ls);
    t.write_seg(&m, si)?;
    let mut log = LogLines::read(&t.layout)?;
    let store = log.store();
    let mut seed = [0u8; 32];
    for c in seed.chunks_mut(8) {
        c.copy_from_slice(&rng.next_u64().to_le_bytes());
    }
    let own =
        Signer::from_seed(&format!("scout-audit/{store}"), &seed).map_err(|e| e.to_string())?;
    for (n, i) in log.of_kind("seal").into_iter().enumerate() {
        let epoch = log.json[i]["epoch"].as_u64().unwrap_or(0);
        let time = seal_time(&log.json[i]);
        let point = *t.base.seals.get(n).ok_or("more seals than the base")?;
        log.text[i] = seal_line(&store, &own, epoch, &m, point, time, n as u64 + 1)?;
    }
    log.write(&t.layout)?;
    Ok(t.unlocated(
        Expect::NoSegment,
        format!("edited leaf {k} and re-signed every seal with a key of its own"),
    ))
}

/// Forges the index of a random archive as a careful forger would: its
/// hourly costs changed and its own digest recomputed, so it still looks
/// whole; the seals vouched for the true one (decision 88), so verify
/// must name the index file.
fn forge_index(t: &Target<'_>, rng: &mut Rng) -> Result<Applied, String> {
    let m = &t.base.model;
    let gz: Vec<&str> = m
        .segs
        .iter()
        .filter(|s| s.gz)
        .map(|s| s.name.as_str())
        .collect();
    let name = *gz
        .get(rng.below(gz.len() as u64) as usize)
        .ok_or("no archive")?;
    let seg = t
        .layout
        .parse_segment(name)
        .ok_or("an archive name the layout refuses")?;
    let path = t.layout.index_path(&seg);
    let text = std::fs::read_to_string(&path).map_err(io("read", &path))?;
    let cost = rng.range(1, 1_000_000) as f64 / 100.0;
    let forged = crate::forge::reseal(&crate::forge::with_costs(&text, cost));
    if forged == text {
        return Err(format!("the index of {name} has no cost to forge"));
    }
    std::fs::write(&path, &forged).map_err(io("write", &path))?;
    let index_name = path
        .file_name()
        .and_then(|n| n.to_str())
        .unwrap_or("")
        .to_owned();
    Ok(t.unlocated(
        Expect::Segment(index_name),
        format!("forged the costs of {name}'s index to {cost} and recomputed its digest"),
    ))
}
