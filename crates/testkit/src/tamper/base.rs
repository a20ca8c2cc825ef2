//! The base stores the campaign tampers with: real file stores, written,
//! rotated (gzip archives with indexes), sealed over several epochs with a
//! clock the campaign advances, and read back into a [`Model`].

use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::time::Duration;

use flate2::Compression;
use flate2::read::MultiGzDecoder;
use flate2::write::GzEncoder;
use scout_audit_core::{Clock as _, Durability, Event, ManualClock, Timestamp};
use scout_audit_seal::note::Verifier;
use scout_audit_store_file::compress::retention_run;
use scout_audit_store_file::fs::RealFs;
use scout_audit_store_file::options::{Retention, SealInterval};
use scout_audit_store_file::seal::{self, CheckpointFile};
use scout_audit_store_file::{FileStore, Layout};

use super::model::{Model, SealPoint, Seg, file_name, parse_archive_name};
use crate::rng::Rng;

/// The live file's name in every base store.
pub const LIVE: &str = "audit.jsonl";

/// The epoch length the bases are set up with, in seconds.
pub const EPOCH_SECS: u64 = 10;

/// A sealed store ready to be copied and tampered with.
pub struct Base {
    /// Its directory (kept for the campaign's life).
    pub dir: PathBuf,
    /// The verification key `seal init` printed.
    pub key: Verifier,
    /// Its segments as written.
    pub model: Model,
    /// Its seals, in log order, as the model places them.
    pub seals: Vec<SealPoint>,
    /// The epoch that signed each seal (same order as `seals`).
    pub seal_epochs: Vec<u64>,
    /// The sealing clock's time after the last seal (unix s).
    pub now: u64,
    /// The checkpoint `scout-audit checkpoint` printed right after each
    /// seal (same order as `seals`), as kept elsewhere.
    pub checkpoints: Vec<CheckpointFile>,
    /// A copy of the whole store directory taken right after each seal
    /// (same order as `seals`): what a rollback copies back.
    pub snapshots: Vec<PathBuf>,
    /// For a store whose archives retention retired under seal: where the
    /// last `retire` ends (its leaves and the end of its last segment).
    /// `model` then still holds the retired archives (no longer on disk),
    /// so leaf numbers stay the tree's.
    pub retired: Option<SealPoint>,
    /// How many `retire` entries its seal log holds.
    pub retires: u64,
}

impl Base {
    /// The leaves sealed (the last seal's size).
    pub fn sealed(&self) -> u64 {
        self.seals.last().map_or(0, |s| s.size)
    }

    /// The layout of a copy of this base in `dir`.
    pub fn layout_in(dir: &Path) -> Result<Layout, String> {
        Layout::new(dir.join(LIVE))
    }
}

pub(super) fn io<E: std::fmt::Display>(what: &str, p: &Path) -> impl FnOnce(E) -> String {
    let p = p.display().to_string();
    let what = what.to_owned();
    move |e| format!("{what} {p}: {e}")
}

/// Appends `n` records through the store (durable: `Sync`).
pub fn write_records(live: &Path, rng: &mut Rng, n: u64) -> Result<(), String> {
    // The campaign seals by hand, at the points its model knows.
    let store = FileStore::builder(live)
        .seal_interval(SealInterval::OFF)
        .durability(Durability::Sync)
        .open()
        .map_err(io("open", live))?;
    for _ in 0..n {
        let cents = rng.range(1, 99_999);
        let ev = Event::new("llm_call")
            .session(format!("s{}", rng.below(4)))
            .cost(cents as f64 / 1000.0);
        store.append(ev).map_err(io("append to", live))?;
    }
    store.close().map_err(io("close", live))
}

fn rotate(live: &Path) -> Result<(), String> {
    let store = FileStore::builder(live)
        .seal_interval(SealInterval::OFF)
        .open()
        .map_err(io("open", live))?;
    store.rotate().map_err(io("rotate", live))?;
    store.wait_compressed();
    store.close().map_err(io("close", live))
}

/// Builds one base store in `dir`: `rounds` rounds of writing and sealing
/// (one to three seals a round, the clock moving 0 to 2 epochs between
/// seals), a rotation after each round but the last, then (sometimes) a
/// few lines left unsealed.
pub fn build(dir: &Path, rng: &mut Rng, rounds: u64) -> Result<Base, String> {
    build_with(dir, rng, rounds, false)
}

/// The seals made while a base is built, with what was kept after each.
struct Sealing<'a> {
    dir: &'a Path,
    layout: Layout,
    clock: ManualClock,
    sizes: Vec<u64>,
    seal_epochs: Vec<u64>,
    checkpoints: Vec<CheckpointFile>,
    snapshots: Vec<PathBuf>,
}

impl Sealing<'_> {
    /// Writes 20 to 120 records, moves the clock 0 to 2 epochs and seals;
    /// keeps the checkpoint and a copy of the store.
    fn write_and_seal(&mut self, rng: &mut Rng) -> Result<(), String> {
        let n = rng.range(20, 120);
        write_records(&self.layout.live(), rng, n)?;
        self.clock
            .advance(Duration::from_secs(rng.below(2 * EPOCH_SECS + 1)));
        let dir = self.dir;
        let Some(s) =
            seal::seal_now(&RealFs, &self.layout, &self.clock).map_err(io("seal", dir))?
        else {
            return Ok(());
        };
        self.sizes.push(s.size);
        self.seal_epochs.push(s.epoch);
        let cp = seal::latest_checkpoint(&RealFs, &self.layout).map_err(io("checkpoint", dir))?;
        self.checkpoints.push(cp);
        let name = format!("{}-snap-{}", file_name(dir), self.sizes.len());
        let snap = dir.with_file_name(name);
        std::fs::create_dir(&snap).map_err(io("create", &snap))?;
        copy_store(dir, &snap)?;
        self.snapshots.push(snap);
        Ok(())
    }

    /// Retention retires the oldest one or two archives (one or two
    /// `retire` entries; always two on a base of 5 rounds, for the kinds
    /// that need two), then a seal, a rotation and a seal follow. The
    /// archives retired.
    fn retire_some(&mut self, rng: &mut Rng, rounds: u64) -> Result<Vec<Seg>, String> {
        let before = read_model(&self.layout)?;
        let archives = before.segs.iter().filter(|g| g.gz).count();
        let keep = archives.saturating_sub(rng.range(1, 2) as usize).max(1);
        self.retain(keep)?;
        if keep > 1 && (rng.chance(0.5) || rounds >= 5) {
            self.write_and_seal(rng)?;
            self.retain(keep - 1)?;
        }
        let left = read_model(&self.layout)?;
        let retired = before
            .segs
            .into_iter()
            .filter(|g| g.gz && left.find(&g.name).is_none())
            .collect();
        self.write_and_seal(rng)?;
        rotate(&self.layout.live())?;
        self.write_and_seal(rng)?;
        Ok(retired)
    }

    /// Runs retention keeping `keep` archives, under seal (a signed
    /// `retire`, then the deletion).
    fn retain(&self, keep: usize) -> Result<(), String> {
        let r = Retention {
            max_archives: Some(keep),
            ..Retention::KEEP_ALL
        };
        let out = retention_run(&RealFs, &self.layout, &r, self.clock.now(), None)
            .map_err(io("retention", self.dir))?;
        match out.refused {
            Some(why) => Err(format!("retention refused: {why}")),
            None if out.removed.is_empty() => Err("retention retired nothing".to_owned()),
            None => Ok(()),
        }
    }
}

/// [`build`], and when `retire`, retention retires the oldest one or two
/// archives under seal (one or two `retire` entries), after which a
/// rotation and seals follow, so seals come after the retires.
pub fn build_with(dir: &Path, rng: &mut Rng, rounds: u64, retire: bool) -> Result<Base, String> {
    let layout = Base::layout_in(dir)?;
    let live = layout.live();
    let key = seal::init(&RealFs, &layout, EPOCH_SECS).map_err(io("seal init", dir))?;
    let key = Verifier::parse(&key).map_err(|e| e.to_string())?;
    let clock =
        ManualClock::new(Timestamp::from_unix(1_800_000_000, 0).ok_or("a time out of range")?);
    let mut s = Sealing {
        dir,
        layout: layout.clone(),
        clock,
        sizes: Vec::new(),
        seal_epochs: Vec::new(),
        checkpoints: Vec::new(),
        snapshots: Vec::new(),
    };
    for round in 0..rounds {
        for _ in 0..rng.range(1, 3) {
            s.write_and_seal(rng)?;
        }
        if round + 1 < rounds {
            rotate(&live)?;
        }
    }
    let retired_segs = if retire {
        s.retire_some(rng, rounds)?
    } else {
        Vec::new()
    };
    if rng.chance(0.5) {
        let n = rng.range(1, 20);
        write_records(&live, rng, n)?;
    }
    let mut model = read_model(&layout)?;
    let retired = retired_point(&mut model, retired_segs);
    let Sealing {
        clock,
        sizes,
        seal_epochs,
        checkpoints,
        snapshots,
        ..
    } = s;
    let seals = sizes
        .iter()
        .map(|&n| {
            model
                .seal_point(n)
                .ok_or_else(|| format!("no leaf {n} in {}", dir.display()))
        })
        .collect::<Result<Vec<_>, _>>()?;
    check_log_ends(&layout, &seals)?;
    let retires = count_retires(&layout)?;
    let now = u64::try_from(clock_secs(&clock)).unwrap_or(0);
    Ok(Base {
        dir: dir.to_path_buf(),
        key,
        model,
        seals,
        seal_epochs,
        now,
        checkpoints,
        snapshots,
        retired,
        retires,
    })
}

/// Puts the retired archives back into the model (in front, where their
/// leaves are in the tree) and returns where the last retire ends.
fn retired_point(model: &mut Model, retired: Vec<Seg>) -> Option<SealPoint> {
    let last = retired.iter().map(|g| g.number).max()?;
    model.segs.extend(retired);
    model.normalise();
    let places = model.places();
    let end = places.iter().rposition(|p| p.number == last)?;
    Some(SealPoint {
        size: end as u64 + 1,
        segment: last,
        offset: places[end].end,
    })
}

fn clock_secs(clock: &ManualClock) -> i64 {
    clock.now().unix_secs()
}

/// The seal log's `segment`/`offset` agree with the model's seal points
/// (the model and the store agree on layout order and numbering).
fn check_log_ends(layout: &Layout, seals: &[SealPoint]) -> Result<(), String> {
    let path = layout.seal_log();
    let text = std::fs::read_to_string(&path).map_err(io("read", &path))?;
    let logged: Vec<(u64, u64)> = text
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter(|v| v["kind"] == "seal")
        .filter_map(|v| Some((v["segment"].as_u64()?, v["offset"].as_u64()?)))
        .collect();
    let modelled: Vec<(u64, u64)> = seals.iter().map(|s| (s.segment, s.offset)).collect();
    if logged != modelled {
        return Err(format!(
            "the model places the seals at {modelled:?}, the log at {logged:?}"
        ));
    }
    Ok(())
}

/// Reads a store directory into a model: its numbered archives
/// (decompressed) and its live file.
pub fn read_model(layout: &Layout) -> Result<Model, String> {
    let dir = layout.dir();
    let mut segs = Vec::new();
    let mut live_bytes = None;
    for e in std::fs::read_dir(dir).map_err(io("list", dir))? {
        let path = e.map_err(io("list", dir))?.path();
        let name = file_name(&path);
        if name == LIVE {
            live_bytes = Some(std::fs::read(&path).map_err(io("read", &path))?);
        } else if let Some((seal_secs, number)) = parse_archive_name(layout, &name) {
            segs.push(Seg {
                number,
                name,
                seal_secs,
                gz: true,
                bytes: gunzip(&std::fs::read(&path).map_err(io("read", &path))?)
                    .map_err(io("gunzip", &path))?,
            });
        }
    }
    if let Some(bytes) = live_bytes {
        segs.push(Seg {
            number: 0,
            name: LIVE.to_owned(),
            seal_secs: 0,
            gz: false,
            bytes,
        });
    }
    let mut m = Model { segs };
    m.normalise();
    Ok(m)
}

/// Decompresses gzip bytes.
pub fn gunzip(bytes: &[u8]) -> std::io::Result<Vec<u8>> {
    let mut out = Vec::new();
    MultiGzDecoder::new(bytes).read_to_end(&mut out)?;
    Ok(out)
}

/// Compresses bytes as one gzip member.
pub fn gzip(bytes: &[u8]) -> std::io::Result<Vec<u8>> {
    let mut enc = GzEncoder::new(Vec::new(), Compression::fast());
    enc.write_all(bytes)?;
    enc.finish()
}

/// Copies every regular file of `from` into `to` (emptied first), modes
/// included.
pub fn copy_store(from: &Path, to: &Path) -> Result<(), String> {
    for e in std::fs::read_dir(to).map_err(io("list", to))? {
        let p = e.map_err(io("list", to))?.path();
        std::fs::remove_file(&p).map_err(io("remove", &p))?;
    }
    for e in std::fs::read_dir(from).map_err(io("list", from))? {
        let p = e.map_err(io("list", from))?.path();
        let dest = to.join(file_name(&p));
        std::fs::copy(&p, &dest).map_err(io("copy", &p))?;
    }
    Ok(())
}

/// How many `retire` entries the seal log of `layout` holds.
fn count_retires(layout: &Layout) -> Result<u64, String> {
    let log = std::fs::read_to_string(layout.seal_log())
        .map_err(|e| format!("{}: {e}", layout.seal_log().display()))?;
    Ok(log
        .lines()
        .filter(|l| l.contains(r#""kind":"retire""#))
        .count() as u64)
}
