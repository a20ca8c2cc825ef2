//! `cargo xtask crash`: the kill -9 campaign, and the long mode of the
//! simulated power-loss campaign.
//!
//! **Kill campaign** (sled style, Jepsen-style check). Each round starts
//! several writer processes on one store (this binary re-run as `xtask
//! crash-child`), each at a random durability level with threads inside,
//! logging constantly with a tiny rotation size so that rotations and
//! background compression never stop, and acknowledging on stdout as
//! `scout-audit log --stdin --ack` does. Each child is killed with SIGKILL
//! at a random moment (some while still opening and recovering). Meanwhile
//! a reader scans the store over and over and a follower (`tail -f`) reads
//! it as it grows. After each round a reader checks the store as the kills
//! left it (no recovery); every few rounds a writer recovers it, the store
//! is checked again and a fresh one begins. The checks
//! ([`scout_audit_testkit::history::check`] with `Loss::Process`):
//! every acknowledged event present exactly once, with the seq it was
//! acknowledged with; each session's seqs contiguous from 0 in log order;
//! each thread's events in its order, a contiguous prefix; every record
//! exactly what some thread logged; every scan a valid prefix of the log;
//! the follower sees every record once, in order.
//!
//! Every other store is set up for sealing (`seal::init`, 1 s epochs)
//! before its first children start: their writers seal by themselves
//! every few milliseconds, so kills land inside seals and key evolutions
//! too. Once such a store is recovered (the recovering writer's close
//! seals what the kills left unsealed), `verify_sealed` with the store's
//! key must find no tampering and no unsealed line.
//!
//! **Simulated power loss** (`--sim-states N`): the testkit campaign over
//! the standard workloads and then random ones until N crash states are
//! checked.

use std::collections::{BTreeMap, BTreeSet};
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use std::os::unix::fs::PermissionsExt;

use anyhow::{Context, Result, bail};
use scout_audit_core::{Durability, Record, SessionId};
use scout_audit_seal::note::Verifier;
use scout_audit_store_file::follow::{Follow, Followed};
use scout_audit_store_file::fs::RealFs;
use scout_audit_store_file::options::{RotateSize, SealInterval};
use scout_audit_store_file::seal;
use scout_audit_store_file::verify::verify;
use scout_audit_store_file::{FileStore, Layout, Reader};
use scout_audit_testkit::history::{Findings, History, Loss, Violation, check, event_for, key_of};
use scout_audit_testkit::rng::Rng;

/// The key of thread `t`'s `i`-th event in child `w`.
pub fn key(w: u64, t: u64, i: u64) -> u64 {
    (w << 40) | (t << 32) | i
}

/// `(w, t, i)` of a key.
pub fn unkey(n: u64) -> (u64, u64, u64) {
    (n >> 40, (n >> 32) & 0xFF, n & 0xFFFF_FFFF)
}

/// What a child writer does.
#[derive(Clone, Debug)]
pub struct ChildOptions {
    /// The store.
    pub path: PathBuf,
    /// Its durability level.
    pub durability: Durability,
    /// Threads logging.
    pub threads: u64,
    /// This child's number (the high bits of its keys).
    pub writer: u64,
    /// Rotation size in bytes.
    pub rotate: u64,
    /// Largest batch.
    pub batch_max: u64,
    /// Each thread sleeps up to this long between batches.
    pub pace: Duration,
    /// Seed of its random choices.
    pub seed: u64,
}

/// The interval at which a child seals a store set up for sealing, from
/// its seed: 5 to 30 ms, so that kills (2 to 150 ms after the start) land
/// inside seals.
pub fn seal_interval(seed: u64) -> Duration {
    Duration::from_millis(5 + seed % 26)
}

/// The child's writer: its level, a tiny rotation size, a short delay for
/// `buffered`, sealing every [`seal_interval`] on a sealed store.
fn open_child_store(o: &ChildOptions, session: SessionId) -> Result<FileStore> {
    FileStore::builder(&o.path)
        .durability(o.durability)
        .rotate_size(RotateSize::bytes(o.rotate))
        .max_delay(Duration::from_millis(5))
        .seal_interval(SealInterval::every(seal_interval(o.seed)))
        .session(session)
        .open()
        .context("open")
}

/// The child: prints `S <session>`, opens the store, logs from its threads
/// forever and prints `A <seq> <key>` for each event once acknowledged at
/// its level (for `buffered`, once written to the kernel). Never returns
/// unless the store fails. On a store set up for sealing it seals every
/// [`seal_interval`].
pub fn child(o: &ChildOptions) -> Result<()> {
    let session = SessionId::random();
    {
        let mut out = std::io::stdout().lock();
        writeln!(out, "S {session}")?;
        out.flush()?;
    }
    let store = open_child_store(o, session)?;
    let buffered = o.durability == Durability::Buffered;
    let waiting: Arc<Mutex<BTreeMap<u64, u64>>> = Arc::default();
    let mut handles = Vec::new();
    for t in 0..o.threads {
        let store = store.clone();
        let waiting = Arc::clone(&waiting);
        let o = o.clone();
        handles.push(std::thread::spawn(move || -> Result<()> {
            let mut rng = Rng::new(o.seed ^ (t + 1).wrapping_mul(0x9E37_79B9));
            let mut i = 0;
            loop {
                let k = 1 + rng.below(o.batch_max);
                let keys: Vec<u64> = (i..i + k).map(|j| key(o.writer, t, j)).collect();
                let receipts = store
                    .append_batch(keys.iter().map(|n| event_for(*n)).collect())
                    .context("append")?;
                if buffered {
                    let mut w = scout_audit_core::writer::lock_ignoring_poison(&waiting);
                    for (r, n) in receipts.iter().zip(&keys) {
                        w.insert(r.seq, *n);
                    }
                } else {
                    let mut text = String::new();
                    for (r, n) in receipts.iter().zip(&keys) {
                        text.push_str(&format!("A {} {n}\n", r.seq));
                    }
                    let mut out = std::io::stdout().lock();
                    out.write_all(text.as_bytes())?;
                    out.flush()?;
                }
                i += k;
                let nanos = rng.below(o.pace.as_nanos() as u64 + 1);
                std::thread::sleep(Duration::from_nanos(nanos));
            }
        }));
    }
    if buffered {
        // Acknowledge what reached the kernel.
        loop {
            if let Some(written) = store.watermark_now().written {
                let ready: Vec<(u64, u64)> = {
                    let mut w = scout_audit_core::writer::lock_ignoring_poison(&waiting);
                    let rest = w.split_off(&(written + 1));
                    std::mem::replace(&mut *w, rest).into_iter().collect()
                };
                if !ready.is_empty() {
                    let text: String = ready.iter().map(|(s, n)| format!("A {s} {n}\n")).collect();
                    let mut out = std::io::stdout().lock();
                    out.write_all(text.as_bytes())?;
                    out.flush()?;
                }
            }
            if handles.iter().any(std::thread::JoinHandle::is_finished) {
                break;
            }
            std::thread::sleep(Duration::from_millis(1));
        }
    }
    for h in handles {
        match h.join() {
            Ok(r) => r?,
            Err(_) => bail!("a writer thread panicked"),
        }
    }
    Ok(())
}

/// What the kill campaign does.
#[derive(Clone, Debug)]
pub struct KillOptions {
    /// At least this many kills.
    pub kills: u64,
    /// Or keep going this long (the long mode), whichever is later.
    pub duration: Duration,
    /// Writer processes per round.
    pub processes: u64,
    /// Threads per writer.
    pub threads: u64,
    /// Rounds on one store before it is recovered, checked and replaced.
    pub rounds_per_store: u64,
    /// Seed of everything random.
    pub seed: u64,
    /// This binary (re-run as `crash-child`).
    pub exe: PathBuf,
    /// Where stores go.
    pub dir: PathBuf,
}

/// What the kill campaign did and found.
#[derive(Clone, Debug, Default)]
pub struct KillReport {
    /// Children killed with SIGKILL.
    pub kills: u64,
    /// Children killed before they acknowledged anything (opening,
    /// recovering).
    pub kills_before_first_ack: u64,
    /// Rounds run.
    pub rounds: u64,
    /// Stores used.
    pub stores: u64,
    /// Events acknowledged by the children.
    pub acked: u64,
    /// Records in the final stores.
    pub records: u64,
    /// Full scans run concurrently with the writers, each checked.
    pub scans: u64,
    /// Records the follower saw.
    pub followed: u64,
    /// After the kills of a round, before recovery: live files ending in a
    /// torn line (killed mid-write).
    pub torn_tails: u64,
    /// ... no live file but sealed segments (killed mid-rotation, between
    /// the rename and the new live file).
    pub missing_live: u64,
    /// ... `.gz.tmp` files (killed mid-compression).
    pub partial_archives: u64,
    /// ... sealed segments not yet compressed.
    pub sealed_waiting: u64,
    /// Torn tails quarantined by recoveries (the parent's).
    pub quarantined: u64,
    /// Stores set up for sealing (every other one).
    pub sealed_stores: u64,
    /// Seals and epoch certificates in their seal logs, all checked by
    /// `verify_sealed` after recovery.
    pub seals: u64,
    /// ... of which certificates (key evolutions).
    pub certs: u64,
    /// After the kills of a round: seal logs ending in a torn line (killed
    /// mid-append), and key evolutions cut before their rename
    /// (`.seal-key.tmp` left).
    pub torn_seal_logs: u64,
    /// See `torn_seal_logs`.
    pub cut_evolves: u64,
    /// Violations.
    pub found: Findings,
}

impl KillReport {
    fn violation(&mut self, ctx: &str, v: impl std::fmt::Display) {
        self.found.add(ctx, v);
    }
}

impl std::fmt::Display for KillReport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        writeln!(
            f,
            "kill -9 campaign: {} kills ({} before the first acknowledgement) in {} rounds on {} stores",
            self.kills, self.kills_before_first_ack, self.rounds, self.stores
        )?;
        writeln!(
            f,
            "  {} events acknowledged, {} records checked in the final stores, {} concurrent scans, {} records followed",
            self.acked, self.records, self.scans, self.followed
        )?;
        writeln!(
            f,
            "  left by the kills: {} torn tails, {} rotations cut between rename and new live file, {} compressions cut (.gz.tmp), {} sealed segments waiting; {} tails quarantined",
            self.torn_tails,
            self.missing_live,
            self.partial_archives,
            self.sealed_waiting,
            self.quarantined
        )?;
        writeln!(
            f,
            "  sealing: {} stores sealed by their writers; {} seals and {} key evolutions verified after recovery; left by the kills: {} torn seal-log lines, {} evolutions cut before their rename",
            self.sealed_stores, self.seals, self.certs, self.torn_seal_logs, self.cut_evolves
        )?;
        write!(f, "  {} violations", self.found.count)?;
        for e in &self.found.examples {
            write!(f, "\n    {e}")?;
        }
        Ok(())
    }
}

/// A child and what it printed.
struct Running {
    child: Child,
    writer: u64,
    durability: Durability,
    out: std::thread::JoinHandle<Vec<String>>,
}

/// What the children of a store acknowledged, and every key of theirs seen.
#[derive(Default)]
struct StoreHistory {
    /// session → (seq → key)
    acks: BTreeMap<String, BTreeMap<u64, u64>>,
}

impl StoreHistory {
    /// The testkit history: every record seen is an attempt (its key is
    /// checked by `key_of`; the seq of an unacknowledged one is unknown);
    /// every acknowledged event reached the kernel.
    fn history(&self, seen: &[Record]) -> History {
        let mut h = History::new();
        for r in seen {
            if let (Some(s), Ok(n)) = (r.session_id(), key_of(r)) {
                h.attempt(s, n, None);
            }
        }
        for (s, acks) in &self.acks {
            for (seq, n) in acks {
                h.attempt(s, *n, Some(*seq));
                h.ack(s, *seq, *n);
            }
            if let Some(max) = acks.keys().next_back() {
                // Seq order is file order: every seq up to the highest
                // acknowledged one reached the kernel.
                h.written(s, *max);
            }
        }
        h
    }
}

/// Per session, per thread: the thread's events in seq order must be its
/// first ones, in order (a contiguous prefix 0..k).
fn thread_prefixes(records: &[Record]) -> Vec<String> {
    let mut by: BTreeMap<(String, u64, u64), Vec<(u64, u64)>> = BTreeMap::new();
    for r in records {
        if let (Some(s), Some(seq), Ok(n)) = (r.session_id(), r.seq(), key_of(r)) {
            let (w, t, i) = unkey(n);
            by.entry((s.to_owned(), w, t)).or_default().push((seq, i));
        }
    }
    let mut bad = Vec::new();
    for ((s, w, t), mut v) in by {
        v.sort_unstable();
        let is: Vec<u64> = v.iter().map(|(_, i)| *i).collect();
        if is.iter().enumerate().any(|(k, i)| *i != k as u64) {
            let shown: Vec<u64> = is.iter().take(20).copied().collect();
            bad.push(format!("session {s} writer {w} thread {t}: events in seq order {shown:?}..., not 0, 1, 2, ..."));
        }
    }
    bad
}

fn read_all(path: &Path) -> Result<(Vec<Record>, scout_audit_store_file::ReadReport)> {
    let mut r = Reader::open(path)?;
    let mut out = Vec::new();
    for rec in &mut r {
        out.push(rec?);
    }
    Ok((out, r.report().clone()))
}

/// Runs the kill campaign: store after store, rounds of killed writers
/// on each (checked as the kills left it), then the store recovered and
/// checked with what its reader and follower saw.
pub fn kill_campaign(o: &KillOptions, mut progress: impl FnMut(&KillReport)) -> Result<KillReport> {
    let mut report = KillReport::default();
    let mut rng = Rng::new(o.seed);
    let started = Instant::now();
    let mut writer_no = 0u64;
    while report.kills < o.kills || started.elapsed() < o.duration {
        report.stores += 1;
        let store_dir = o.dir.join(format!("store-{}", report.stores));
        let path = store_dir.join("audit.jsonl");
        let layout = Layout::new(&path).map_err(anyhow::Error::msg)?;
        let key = set_up_sealing(&store_dir, &layout, report.stores, &mut report)?;
        let mut hist = StoreHistory::default();
        let watchers = Watchers::start(&path, &layout);
        for _ in 0..o.rounds_per_store {
            let mut round = Round {
                o,
                path: &path,
                rng: &mut rng,
                writer_no: &mut writer_no,
                hist: &mut hist,
                report: &mut report,
            };
            round.run()?;
            // What the kills left, before anyone recovers.
            evidence(&layout, &mut report);
            let ctx = format!(
                "store {} round {} (before recovery)",
                report.stores, report.rounds
            );
            match read_all(&path) {
                Ok((recs, _)) => check_store(&hist, &recs, &ctx, &mut report),
                Err(e) => report.violation(&ctx, format!("reader failed: {e}")),
            }
            progress(&report);
        }
        let ctx = format!("store {} (after recovery)", report.stores);
        let (final_session, recs) =
            recover_and_check(&path, &layout, &mut hist, &ctx, &mut report)?;
        if let Some(key) = &key {
            check_sealed(&layout, key, &ctx, &mut report)?;
        }
        // The follower must have seen exactly the log, once, in order.
        let followed = watchers.followed_until(&final_session, recs.len(), &ctx, &mut report);
        check_followed(&followed, &recs, &ctx, &mut report);
        watchers.stop(&mut report);
        if report.found.count == 0 {
            let _ = std::fs::remove_dir_all(&store_dir);
        }
        progress(&report);
    }
    Ok(report)
}

/// One round of kills on a store: writers started, each killed at a
/// random moment, what each acknowledged added to the store's history.
struct Round<'a> {
    o: &'a KillOptions,
    path: &'a Path,
    rng: &'a mut Rng,
    /// The last writer number given, over the whole campaign.
    writer_no: &'a mut u64,
    hist: &'a mut StoreHistory,
    report: &'a mut KillReport,
}

impl Round<'_> {
    fn run(&mut self) -> Result<()> {
        self.report.rounds += 1;
        let mut running = Vec::new();
        for _ in 0..self.o.processes {
            *self.writer_no += 1;
            let durability = Durability::ALL[self.rng.below(3) as usize];
            running.push(spawn_child(
                self.o,
                self.path,
                *self.writer_no,
                durability,
                self.rng,
            )?);
        }
        // Kill each at a random moment, in a random order.
        let mut order: Vec<(u64, usize)> = (0..running.len())
            .map(|i| (self.rng.range(2, 150), i))
            .collect();
        order.sort_unstable();
        let t0 = Instant::now();
        for (ms, i) in order {
            let at = Duration::from_millis(ms);
            if let Some(wait) = at.checked_sub(t0.elapsed()) {
                std::thread::sleep(wait);
            }
            running[i].child.kill().context("kill")?;
        }
        for r in running {
            self.reap(r)?;
        }
        Ok(())
    }

    /// Waits for a killed child and records what it acknowledged.
    fn reap(&mut self, mut r: Running) -> Result<()> {
        let status = r.child.wait().context("wait")?;
        let lines = r
            .out
            .join()
            .map_err(|_| anyhow::anyhow!("reader thread panicked"))?;
        self.report.kills += 1;
        if status.code().is_some() {
            self.report.violation(
                &format!("writer {} ({})", r.writer, r.durability),
                format!("exited by itself with {status} before the kill (see its stderr)"),
            );
        }
        let acked = self.read_acks(r.writer, &lines);
        self.report.acked += acked;
        if acked == 0 {
            self.report.kills_before_first_ack += 1;
        }
        Ok(())
    }

    /// Adds the acknowledgements `writer` printed (`S <session>`, then
    /// `A <seq> <key>` lines) to the history; returns how many.
    fn read_acks(&mut self, writer: u64, lines: &[String]) -> u64 {
        let mut session = None;
        let mut acked = 0;
        for l in lines {
            if let Some(s) = l.strip_prefix("S ") {
                session = Some(s.to_owned());
            } else if let Some(a) = l.strip_prefix("A ") {
                let mut it = a.split(' ').map(str::parse::<u64>);
                match (it.next(), it.next(), &session) {
                    (Some(Ok(seq)), Some(Ok(n)), Some(s)) => {
                        acked += 1;
                        if self
                            .hist
                            .acks
                            .entry(s.clone())
                            .or_default()
                            .insert(seq, n)
                            .is_some()
                        {
                            self.report.violation(
                                &format!("writer {writer}"),
                                format!("seq {seq} acknowledged twice"),
                            );
                        }
                    }
                    _ => self.report.violation(
                        &format!("writer {writer}"),
                        format!("bad acknowledgement line {l:?}"),
                    ),
                }
            } else if !l.is_empty() {
                self.report.violation(
                    &format!("writer {writer}"),
                    format!("unexpected output {l:?}"),
                );
            }
        }
        acked
    }
}

/// Recovers the store as a new writer, waits for compression, adds the
/// final marker the follower stops at, and checks the records and
/// `verify`. Returns the marker's session and the store's records.
fn recover_and_check(
    path: &Path,
    layout: &Layout,
    hist: &mut StoreHistory,
    ctx: &str,
    report: &mut KillReport,
) -> Result<(String, Vec<Record>)> {
    let final_session = format!("final-{}", report.stores);
    let store = FileStore::builder(path)
        .session(SessionId::new(final_session.clone()))
        .open()?;
    if store.recovery_report().quarantined.is_some() {
        report.quarantined += 1;
    }
    // Writer 0 is this process.
    let marker = store.append(event_for(key(0, 0, 0)))?;
    hist.acks
        .entry(final_session.clone())
        .or_default()
        .insert(marker.seq, key(0, 0, 0));
    store.wait_compressed();
    store.close()?;
    let (recs, _) = read_all(path)?;
    report.records += recs.len() as u64;
    check_store(hist, &recs, ctx, report);
    let v = verify(Arc::new(RealFs), layout)?;
    if v.seq_gap_count > 0
        || !v.leftover_temps.is_empty()
        || !v.conflicts.is_empty()
        || !v.uncompressed.is_empty()
    {
        report.violation(ctx, format!("verify: {:?}", v.problem_lines()));
    }
    Ok((final_session, recs))
}

/// Sets every other store up for sealing (1 s epochs, so keys evolve
/// while children are killed); the verification key, or `None`.
fn set_up_sealing(
    dir: &Path,
    layout: &Layout,
    store_no: u64,
    report: &mut KillReport,
) -> Result<Option<Verifier>> {
    if store_no % 2 == 1 {
        return Ok(None);
    }
    std::fs::create_dir_all(dir)?;
    std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))?;
    let key = seal::init(&RealFs, layout, 1)?;
    report.sealed_stores += 1;
    Ok(Some(Verifier::parse(&key).map_err(anyhow::Error::msg)?))
}

/// After recovery (whose writer sealed at close): the store verifies
/// against its key with no tampering and nothing unsealed.
fn check_sealed(layout: &Layout, key: &Verifier, ctx: &str, report: &mut KillReport) -> Result<()> {
    let r = seal::verify_sealed(&RealFs, layout, key)?;
    if let Some(t) = &r.tampering {
        report.violation(ctx, format!("verify --key reports tampering: {t:?}"));
    }
    if r.unsealed > 0 {
        report.violation(
            ctx,
            format!(
                "{} lines unsealed after the recovering writer closed",
                r.unsealed
            ),
        );
    }
    report.seals += r.seals;
    report.certs += r.epochs.saturating_sub(1);
    Ok(())
}

/// The follower saw exactly the log's records, once, in order.
fn check_followed(followed: &[Record], recs: &[Record], ctx: &str, report: &mut KillReport) {
    let ids = |v: &[Record]| -> Vec<(String, u64)> {
        v.iter()
            .filter_map(|r| Some((r.session_id()?.to_owned(), r.seq()?)))
            .collect()
    };
    let (got, want) = (ids(followed), ids(recs));
    if got != want {
        let gs: BTreeSet<_> = got.iter().collect();
        let ws: BTreeSet<_> = want.iter().collect();
        let missing: Vec<_> = ws.difference(&gs).take(5).collect();
        let extra: Vec<_> = gs.difference(&ws).take(5).collect();
        report.violation(
            ctx,
            format!(
                "the follower saw {} records, the log has {}; missing {missing:?}, not in the log {extra:?}, duplicates {}",
                got.len(),
                want.len(),
                got.len() - gs.len()
            ),
        );
    }
}

/// The concurrent reader and follower of one store, running while its
/// writers are killed.
struct Watchers {
    /// Tells the scanner to stop.
    stop: Arc<AtomicBool>,
    /// Scans done so far.
    scans: Arc<AtomicU64>,
    /// What the scans found wrong.
    scan_problems: Arc<Mutex<Vec<String>>>,
    scanner: std::thread::JoinHandle<()>,
    /// What the follower read, or why it stopped.
    followed: mpsc::Receiver<Result<Record, String>>,
    follower: std::thread::JoinHandle<()>,
}

impl Watchers {
    /// Starts scanning the store at `path` over and over, and following it.
    fn start(path: &Path, layout: &Layout) -> Watchers {
        let stop = Arc::new(AtomicBool::new(false));
        let scans = Arc::new(AtomicU64::new(0));
        let scan_problems: Arc<Mutex<Vec<String>>> = Arc::default();
        let scanner = {
            let (stop, scans, problems, path) = (
                Arc::clone(&stop),
                Arc::clone(&scans),
                Arc::clone(&scan_problems),
                path.to_path_buf(),
            );
            std::thread::spawn(move || {
                while !stop.load(Ordering::SeqCst) {
                    scan_once(&path, &problems);
                    scans.fetch_add(1, Ordering::SeqCst);
                    std::thread::sleep(Duration::from_millis(5));
                }
            })
        };
        let (ftx, followed) = mpsc::channel::<Result<Record, String>>();
        let follower = {
            let layout = layout.clone();
            std::thread::spawn(move || follow(layout, &ftx))
        };
        Watchers {
            stop,
            scans,
            scan_problems,
            scanner,
            followed,
            follower,
        }
    }

    /// What the follower read, up to the record of `final_session` (or
    /// an error, or 20 s without a record).
    fn followed_until(
        &self,
        final_session: &str,
        log_len: usize,
        ctx: &str,
        report: &mut KillReport,
    ) -> Vec<Record> {
        let mut followed = Vec::new();
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.followed.recv_timeout(left) {
                Ok(Ok(r)) => {
                    let last = r.session_id() == Some(final_session);
                    followed.push(r);
                    if last {
                        break;
                    }
                }
                Ok(Err(e)) => {
                    report.violation(ctx, e);
                    break;
                }
                Err(_) => {
                    report.violation(
                        ctx,
                        format!(
                            "the follower stopped after {} records of {}",
                            followed.len(),
                            log_len
                        ),
                    );
                    break;
                }
            }
        }
        report.followed += followed.len() as u64;
        followed
    }

    /// Stops the scanner and reports what the scans found.
    fn stop(self, report: &mut KillReport) {
        self.stop.store(true, Ordering::SeqCst);
        let _ = self.scanner.join();
        report.scans += self.scans.load(Ordering::SeqCst);
        for p in scout_audit_core::writer::lock_ignoring_poison(&self.scan_problems).iter() {
            report.violation(&format!("store {}", report.stores), p);
        }
        drop(self.followed);
        if self.follower.is_finished() {
            let _ = self.follower.join();
        }
    }
}

/// One concurrent scan: the records must be a valid prefix of the log.
fn scan_once(path: &Path, problems: &Mutex<Vec<String>>) {
    match read_all(path) {
        Ok((recs, _)) => {
            let h = StoreHistory::default().history(&recs);
            let mut p: Vec<String> = check(&h.summary(), &recs, Loss::Process, false)
                .iter()
                .map(ToString::to_string)
                .collect();
            p.extend(thread_prefixes(&recs));
            if !p.is_empty() {
                let mut g = scout_audit_core::writer::lock_ignoring_poison(problems);
                g.extend(p.into_iter().map(|x| format!("concurrent scan: {x}")));
            }
        }
        Err(e) => scout_audit_core::writer::lock_ignoring_poison(problems)
            .push(format!("concurrent scan failed: {e}")),
    }
}

/// The follower (`tail -f`): sends each record it reads until the final
/// marker's, or why it stopped.
fn follow(layout: Layout, ftx: &mpsc::Sender<Result<Record, String>>) {
    let f = Follow::start(Arc::new(RealFs), layout);
    let mut f = match f {
        Ok(f) => f.poll_interval(Duration::from_millis(2)),
        Err(e) => {
            let _ = ftx.send(Err(format!("follow failed to start: {e}")));
            return;
        }
    };
    loop {
        match f.next_record() {
            Ok(Followed::Record(r)) => {
                let last = r.session_id().is_some_and(|s| s.starts_with("final-"));
                if ftx.send(Ok(r)).is_err() || last {
                    return;
                }
            }
            Ok(Followed::CaughtUp) => {}
            Err(e) => {
                let _ = ftx.send(Err(format!("follow failed: {e}")));
                return;
            }
        }
    }
}

/// Checks a store's records against what its children acknowledged.
fn check_store(hist: &StoreHistory, recs: &[Record], ctx: &str, report: &mut KillReport) {
    let h = hist.history(recs);
    for v in check(&h.summary(), recs, Loss::Process, false) {
        report.violation(ctx, v);
    }
    for p in thread_prefixes(recs) {
        report.violation(
            ctx,
            Violation {
                kind: "thread-order",
                detail: p,
            },
        );
    }
}

/// Counts what the kills left in the store's directory.
fn evidence(layout: &Layout, report: &mut KillReport) {
    let Ok(listing) = layout.list(&RealFs) else {
        return;
    };
    use scout_audit_store_file::layout::SegmentKind;
    report.partial_archives += listing
        .all
        .iter()
        .filter(|s| s.kind == SegmentKind::Temp)
        .count() as u64;
    report.sealed_waiting += listing
        .all
        .iter()
        .filter(|s| s.kind == SegmentKind::Sealed)
        .count() as u64;
    if !listing.live_exists && !listing.all.is_empty() {
        report.missing_live += 1;
    }
    if let Ok(bytes) = std::fs::read(layout.live())
        && bytes.last().is_some_and(|b| *b != b'\n')
    {
        report.torn_tails += 1;
    }
    if let Ok(bytes) = std::fs::read(layout.seal_log())
        && bytes.last().is_some_and(|b| *b != b'\n')
    {
        report.torn_seal_logs += 1;
    }
    if layout.seal_key_temp().exists() {
        report.cut_evolves += 1;
    }
}

fn spawn_child(
    o: &KillOptions,
    path: &Path,
    writer: u64,
    durability: Durability,
    rng: &mut Rng,
) -> Result<Running> {
    let mut child = Command::new(&o.exe)
        .arg("crash-child")
        .arg("--path")
        .arg(path)
        .args(["--durability", durability.name()])
        .args(["--threads", &o.threads.to_string()])
        .args(["--writer", &writer.to_string()])
        .args(["--rotate", &rng.range(1500, 6000).to_string()])
        .args(["--batch-max", &rng.range(1, 8).to_string()])
        .args(["--pace-us", &rng.range(100, 2000).to_string()])
        .args(["--seed", &rng.next_u64().to_string()])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .with_context(|| format!("spawn {}", o.exe.display()))?;
    let stdout = child.stdout.take().context("child stdout")?;
    let out = std::thread::spawn(move || {
        let mut lines = Vec::new();
        for l in BufReader::new(stdout).lines() {
            match l {
                Ok(l) => lines.push(l),
                Err(_) => break,
            }
        }
        lines
    });
    Ok(Running {
        child,
        writer,
        durability,
        out,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_round_trip() {
        for (w, t, i) in [(0, 0, 0), (1, 2, 3), (70_000, 255, u64::from(u32::MAX))] {
            assert_eq!(unkey(key(w, t, i)), (w, t, i));
        }
    }
}
