//! Tamperings of a store whose archives retention retired under seal
//! (decisions 73, 84-86, 105): retire lines edited, replayed or forged
//! with the current key where they contradict the log, the archive after
//! the last retire removed (as is or passed off as retired), and a later
//! archive removed without a retire.

use scout_audit_seal::merkle::{Tree, leaf_hash};
use scout_audit_seal::note::Signer;

use super::attack::{Applied, Expect, Target};
use super::base::io;
use super::log_edit::{LogLines, current_chain, edit_line, retire_line, tree_of};
use super::model::{SealPoint, Seg};
use crate::rng::Rng;

/// The last retire as the log holds it: segment, leaves, archives in all.
struct LastRetire {
    line: usize,
    segment: u64,
    leaves: u64,
    archives: u64,
}

fn last_retire(log: &LogLines) -> Result<LastRetire, String> {
    let line = *log.of_kind("retire").last().ok_or("no retire line")?;
    let v = &log.json[line];
    let archives = v["note"]
        .as_str()
        .and_then(|n| n.lines().find_map(|l| l.strip_prefix("retire ")))
        .and_then(|l| l.split_once(' '))
        .and_then(|(_, k)| k.parse().ok())
        .ok_or("a retire note without its retire line")?;
    Ok(LastRetire {
        line,
        segment: v["segment"].as_u64().ok_or("a retire without a segment")?,
        leaves: v["leaves"].as_u64().ok_or("a retire without leaves")?,
        archives,
    })
}

/// The leaves of the model up to the end of segment `number`.
fn leaves_through(t: &Target<'_>, number: u64) -> u64 {
    t.base
        .model
        .segs
        .iter()
        .take_while(|s| s.gz && s.number <= number)
        .map(|s| s.lines().len() as u64)
        .sum()
}

fn remove(t: &Target<'_>, seg: &Seg) -> Result<(), String> {
    let path = t.dir().join(&seg.name);
    std::fs::remove_file(&path).map_err(io("remove", &path))?;
    let parsed = t
        .layout
        .parse_segment(&seg.name)
        .ok_or("an archive name the layout refuses")?;
    let index = t.layout.index_path(&parsed);
    match std::fs::remove_file(&index) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(io("remove", &index)(e)),
        _ => Ok(()),
    }
}

/// A field of a retire line edited.
pub(super) fn edit(t: &Target<'_>, rng: &mut Rng) -> Result<Applied, String> {
    let mut log = LogLines::read(&t.layout)?;
    let i = rng.pick(&log.of_kind("retire"));
    let field = edit_line(&mut log, i, rng)?;
    log.write(&t.layout)?;
    Ok(t.unlocated(
        Expect::NoSegment,
        format!("edited the {field} of seal-log line {} (a retire)", i + 1),
    ))
}

/// The archive right after the last retire deleted: as is (verify names
/// the segment that follows the gap), or passed off as retired by moving
/// the last retire's unsigned fields over it, or by re-signing the retire
/// with a key of the attacker's own.
pub(super) fn neighbour_removed(t: &Target<'_>, rng: &mut Rng) -> Result<Applied, String> {
    let mut log = LogLines::read(&t.layout)?;
    let last = last_retire(&log)?;
    let m = &t.base.model;
    let at = m
        .segs
        .iter()
        .position(|s| s.gz && s.number == last.segment + 1)
        .ok_or("no archive after the last retire")?;
    let (gone, next) = (&m.segs[at], m.segs.get(at + 1).ok_or("no segment after")?);
    remove(t, gone)?;
    let leaves = leaves_through(t, gone.number);
    let through = (gone.number, last.archives + 1);
    let (what, why) = match rng.below(3) {
        0 => {
            let what = format!("deleted {}, the archive after the last retire", gone.name);
            return Ok(t.unlocated(Expect::Segment(next.name.clone()), what));
        }
        1 => {
            let v = &mut log.json[last.line];
            v["segment"] = through.0.into();
            v["leaves"] = leaves.into();
            log.text[last.line] = v.to_string();
            (
                format!(
                    "deleted {} and moved the last retire's segment and leaves over it",
                    gone.name
                ),
                format!(
                    "the retire of segment {} does not match its note",
                    through.0
                ),
            )
        }
        _ => {
            let store = log.store();
            let own = own_signer(&store, rng)?;
            let epoch = log.json[last.line]["epoch"].as_u64().unwrap_or(0);
            let tree = tree_of(m, leaves)?;
            let place = log.of_kind("retire").len() as u64;
            log.text[last.line] =
                retire_line(&store, &own, epoch, &tree, through, t.base.now, place)?;
            (
                format!(
                    "deleted {} and re-signed the last retire over it with a key of its own",
                    gone.name
                ),
                format!(
                    "the retire of segment {} (epoch {epoch}) does not verify",
                    through.0
                ),
            )
        }
    };
    log.write(&t.layout)?;
    Ok(t.unlocated(Expect::Reason(why), what))
}

fn own_signer(store: &str, rng: &mut Rng) -> Result<Signer, String> {
    let mut seed = [0u8; 32];
    for c in seed.chunks_mut(8) {
        c.copy_from_slice(&rng.next_u64().to_le_bytes());
    }
    Signer::from_seed(&format!("scout-audit/{store}"), &seed).map_err(|e| e.to_string())
}

/// A later archive (not the one right after the last retire) deleted
/// without a retire: located by seal (decision 105), from the first line
/// after the last retire or seal that holds.
pub(super) fn later_archive_removed(t: &Target<'_>, rng: &mut Rng) -> Result<Applied, String> {
    let point = t.base.retired.ok_or("the base has no retire")?;
    let mut m = t.base.model.clone();
    let later: Vec<usize> = (0..m.segs.len())
        .filter(|&i| m.segs[i].gz && m.segs[i].number > point.segment + 1)
        .collect();
    let i = *later
        .get(rng.below(later.len() as u64) as usize)
        .ok_or("no archive past the one after the retire")?;
    let gone = m.segs.remove(i);
    remove(t, &gone)?;
    m.normalise();
    let mut seals: Vec<SealPoint> = vec![point];
    seals.extend(t.base.seals.iter().filter(|s| s.size > point.size));
    Ok(t.located_with(
        &m,
        &seals,
        format!("deleted {} without a retire", gone.name),
    ))
}

/// A retire line copied to another place of the seal log.
pub(super) fn replay(t: &Target<'_>, rng: &mut Rng) -> Result<Applied, String> {
    let mut log = LogLines::read(&t.layout)?;
    let i = rng.pick(&log.of_kind("retire"));
    let j = rng.range(1, log.text.len() as u64) as usize;
    let line = log.text[i].clone();
    log.text.insert(j, line);
    log.write(&t.layout)?;
    Ok(t.unlocated(
        Expect::NoSegment,
        format!(
            "wrote seal-log line {} (a retire) again as line {}",
            i + 1,
            j + 1
        ),
    ))
}

/// A retire line removed while a later one follows: the later retire,
/// one place earlier among the log's retires, does not carry its place.
pub(super) fn remove_retire(t: &Target<'_>, rng: &mut Rng) -> Result<Applied, String> {
    let mut log = LogLines::read(&t.layout)?;
    let retires = log.of_kind("retire");
    if retires.len() < 2 {
        return Err("fewer than two retires".to_owned());
    }
    let k = rng.below(retires.len() as u64 - 1) as usize;
    let next = &log.json[retires[k + 1]];
    let segment = next["segment"]
        .as_u64()
        .ok_or("a retire without a segment")?;
    log.text.remove(retires[k]);
    log.write(&t.layout)?;
    Ok(t.unlocated(
        Expect::Reason(format!(
            "the retire of segment {segment} is not numbered {}, its place among the seal log's \
             retires",
            k + 1
        )),
        format!(
            "removed seal-log line {} (retire {} of {})",
            retires[k] + 1,
            k + 1,
            retires.len()
        ),
    ))
}

/// A retire signed with the current key, appended, that contradicts the
/// log: going back to an earlier segment, removing more lines than were
/// sealed, or a made-up tree at a later seal's size (a fork).
pub(super) fn forge_with_current_key(t: &Target<'_>, rng: &mut Rng) -> Result<Applied, String> {
    let mut log = LogLines::read(&t.layout)?;
    let last = last_retire(&log)?;
    let chain = current_chain(&t.layout)?;
    let store = log.store();
    let time = t.base.now + 1;
    let made_up = |n: u64| -> Result<Tree, String> {
        let mut tree = Tree::new();
        for i in 0..n {
            tree.push(leaf_hash(&i.to_le_bytes()))
                .map_err(|e| e.to_string())?;
        }
        Ok(tree)
    };
    let sealed = t.base.sealed();
    let (tree, through, what, why) = match rng.below(3) {
        0 => {
            let s = rng.range(1, last.segment);
            let tree = tree_of(&t.base.model, leaves_through(t, s))?;
            (
                tree,
                (s, s.min(last.archives)),
                format!("going back to segment {s}"),
                format!(
                    "the retire of segment {s} goes back from the retire of segment {}",
                    last.segment
                ),
            )
        }
        1 => {
            let n = sealed + rng.range(1, 20);
            let s = last.segment + 1;
            (
                made_up(n)?,
                (s, last.archives + 1),
                format!("removing {n} lines"),
                format!(
                    "the retire of segment {s} removes {n} lines, but only {sealed} were sealed \
                     before it"
                ),
            )
        }
        _ => {
            let later: Vec<&SealPoint> = t
                .base
                .seals
                .iter()
                .filter(|s| s.size > last.leaves)
                .collect();
            let p = **later
                .get(rng.below(later.len() as u64) as usize)
                .ok_or("no seal past the retire")?;
            let k = last.archives + (p.segment - last.segment);
            (
                made_up(p.size)?,
                (p.segment, k),
                format!("with a made-up tree at the seal size {}", p.size),
                format!(
                    "the retire of segment {} differs from the seal of size {}: a forked history",
                    p.segment, p.size
                ),
            )
        }
    };
    let (place, signer) = (log.of_kind("retire").len() as u64 + 1, chain.signer());
    let line = retire_line(&store, signer, chain.epoch(), &tree, through, time, place)?;
    log.text.push(line);
    log.write(&t.layout)?;
    Ok(t.unlocated(
        Expect::Reason(why),
        format!("appended a retire signed with the current key, {what}"),
    ))
}
