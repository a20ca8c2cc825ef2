//! The hostile-filesystem suite: a symlink (to a file and to a directory
//! outside the store, and dangling), a directory, a FIFO and a foreign file
//! planted at every name a command may create or open in the store, in an
//! export directory and beside a SQLite database; the command runs, and
//! nothing outside changed, the plant is as it was, nothing hung, a failure
//! names the path, and every record written before is still there.
//!
//! The names come from the commands themselves: each scenario runs once on
//! a scratch copy and every path it created (and that path's `.tmp`) is a
//! name to plant at, with the names that already existed (live file, lock,
//! segments, archive, index). Seal names are fixed by a sealed segment from
//! 2099 (the writer clamps a seal's second to the newest one); quarantine
//! names, which carry the clock's second, are planted for every second of
//! the run's window.

use std::collections::BTreeSet;
use std::io::Read as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use scout_audit_testkit::hostile::{Outside, Plant, Tree, find_stamp};
use serde_json::Value;

use crate::support::{BIN, archive_of, parse_jsonl};

/// How long one command may take before it counts as hung.
const DEADLINE: Duration = Duration::from_secs(10);

/// The records of the store every scenario starts from, by file.
const ARCHIVE: &str = "audit-20990101T000000Z-000004.jsonl.gz";
const SEALED: &str = "audit-20990101T000000Z-000005.jsonl";
const LIVE: &str = "audit.jsonl";

fn line(i: u64) -> String {
    format!(
        "{{\"ts\":\"2026-03-01T{:02}:00:00+00:00\",\"event\":\"{}\",\"session_id\":\"s1\",\"seq\":{i},\"cost\":1.5,\"model\":\"m1\",\"i\":{i}}}\n",
        8 + i,
        if i % 2 == 0 { "nav" } else { "llm_call" }
    )
}

fn lines(r: std::ops::Range<u64>) -> String {
    r.map(line).collect()
}

/// The gzip archive of records 0 and 1 (made once by the CLI itself).
fn archive_bytes() -> &'static [u8] {
    static A: OnceLock<Vec<u8>> = OnceLock::new();
    A.get_or_init(|| archive_of(&lines(0..2)))
}

/// Which records each starting file holds (`i` values).
fn records_of(name: &str) -> &'static [u64] {
    match name {
        ARCHIVE => &[0, 1],
        SEALED => &[2, 3],
        LIVE => &[4, 5, 6],
        _ => &[],
    }
}

/// One temp dir: the store at `s/audit.jsonl`, an export directory `exp`,
/// a SQLite target `t/db.sqlite`, and the outside directory.
struct Env {
    root: tempfile::TempDir,
    outside: Outside,
}

impl Env {
    fn new(torn: bool) -> Env {
        let root = tempfile::tempdir().unwrap();
        let outside = Outside::new(&root.path().join("outside")).unwrap();
        let e = Env { root, outside };
        let s = e.store_dir();
        std::fs::create_dir(&s).unwrap();
        std::fs::write(s.join(ARCHIVE), archive_bytes()).unwrap();
        std::fs::write(s.join(SEALED), lines(2..4)).unwrap();
        let mut live = lines(4..7);
        if torn {
            live.push_str("{\"ts\":\"2026-03-01T15:00:00+00:00\",\"ev");
        }
        std::fs::write(s.join(LIVE), live).unwrap();
        std::fs::create_dir(e.root.path().join("t")).unwrap();
        e
    }

    fn store_dir(&self) -> PathBuf {
        self.root.path().join("s")
    }

    fn live(&self) -> PathBuf {
        self.store_dir().join(LIVE)
    }

    /// The directories whose names the commands create or use.
    fn watched(&self) -> [PathBuf; 3] {
        [
            self.store_dir(),
            self.root.path().join("exp"),
            self.root.path().join("t"),
        ]
    }

    /// The paths under the watched directories, relative to the root.
    fn listing(&self) -> BTreeSet<PathBuf> {
        let mut out = BTreeSet::new();
        for d in self.watched() {
            let rel = d.strip_prefix(self.root.path()).unwrap().to_path_buf();
            for p in Tree::of(&d).unwrap().0.keys() {
                out.insert(rel.join(p));
            }
        }
        out
    }

    /// Runs `scout-audit --path <live> ARGS` with `{root}` in any argument
    /// replaced by the root; `None` if it did not finish within the
    /// deadline (it is killed).
    fn run(&self, args: &[&str]) -> Option<(Option<i32>, String)> {
        let root = self.root.path().display().to_string();
        let mut child = Command::new(BIN)
            .arg("--path")
            .arg(self.live())
            .args(args.iter().map(|a| a.replace("{root}", &root)))
            .env("HOME", self.root.path().join("home"))
            .env_remove("SCOUT_AUDIT_PATH")
            .current_dir(self.root.path())
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        // Both streams are drained by threads so a chatty child never
        // blocks on a full pipe.
        let drain = |r: Option<Box<dyn std::io::Read + Send>>| {
            std::thread::spawn(move || {
                let mut s = String::new();
                if let Some(mut r) = r {
                    let _ = r.read_to_string(&mut s);
                }
                s
            })
        };
        let out = drain(child.stdout.take().map(|r| Box::new(r) as _));
        let err = drain(child.stderr.take().map(|r| Box::new(r) as _));
        let t = Instant::now();
        loop {
            if let Some(status) = child.try_wait().unwrap() {
                let text = format!("{}{}", err.join().unwrap(), out.join().unwrap());
                return Some((status.code(), text));
            }
            if t.elapsed() > DEADLINE {
                let _ = child.kill();
                let _ = child.wait();
                return None;
            }
            std::thread::sleep(Duration::from_millis(5));
        }
    }

    /// The `i` of every record a query returns now.
    fn record_ids(&self) -> BTreeSet<u64> {
        let (code, out) = self.query();
        assert_eq!(code, Some(0), "query after the command failed: {out}");
        parse_jsonl(&out)
            .iter()
            .filter_map(|r| r.get("i").and_then(Value::as_u64))
            .collect()
    }

    fn query(&self) -> (Option<i32>, String) {
        let o = Command::new(BIN)
            .arg("--path")
            .arg(self.live())
            .args(["query", "--format", "jsonl"])
            .env("HOME", self.root.path().join("home"))
            .env_remove("SCOUT_AUDIT_PATH")
            .stdin(Stdio::null())
            .output()
            .unwrap();
        let text = if o.status.success() {
            String::from_utf8(o.stdout).unwrap()
        } else {
            String::from_utf8(o.stderr).unwrap()
        };
        (o.status.code(), text)
    }
}

/// The names to plant at for one command on one starting store: what it
/// created on a scratch run (and each file's `.tmp`), and what existed.
fn names_for(args: &[&str], torn: bool) -> Vec<PathBuf> {
    let scratch = Env::new(torn);
    let before = scratch.listing();
    let t0 = now_secs();
    let (code, err) = scratch.run(args).expect("the scratch run hung");
    assert_eq!(code, Some(0), "scratch run of {args:?} failed: {err}");
    let t1 = now_secs();
    let after = scratch.listing();
    let mut names = BTreeSet::new();
    for p in before.iter() {
        names.insert(p.clone());
    }
    for p in after.difference(&before) {
        names.insert(p.clone());
        let is_dir = scratch.root.path().join(p).is_dir();
        if !is_dir {
            names.insert(PathBuf::from(format!("{}.tmp", p.display())));
        }
    }
    // The lock file, created by writers and opened by readers when present,
    // and the archive's index, which readers open when present.
    names.insert(PathBuf::from("s/audit.lock"));
    names.insert(PathBuf::from(format!("s/{ARCHIVE}.idx")));
    let mut out = Vec::new();
    for p in names {
        let s = p.display().to_string();
        match find_stamp(&s) {
            // A quarantine name carries the clock's second: every second of
            // a generous window around the run.
            Some(r) if !s[r.clone()].starts_with("2099") => {
                for secs in t0 - 2..=t1 + 20 {
                    let stamp = scout_audit_store_file::layout::stamp(secs);
                    out.push(PathBuf::from(format!(
                        "{}{stamp}{}",
                        &s[..r.start],
                        &s[r.end..]
                    )));
                }
            }
            _ => out.push(p),
        }
    }
    out
}

fn now_secs() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

/// Plants `kind` at every name of one group (a quarantine name's seconds
/// are one group; any other name is a group alone), runs the command, and
/// checks everything; the failures found, as text.
fn check_command(args: &[&str], torn: bool) -> Vec<String> {
    let names = names_for(args, torn);
    // Group the quarantine names of one base together.
    let mut groups: Vec<Vec<PathBuf>> = Vec::new();
    for n in names {
        let key = |p: &Path| {
            let s = p.display().to_string();
            find_stamp(&s).map_or(s.clone(), |r| format!("{}{}", &s[..r.start], &s[r.end..]))
        };
        match groups.last_mut() {
            Some(g) if key(&g[0]) == key(&n) && find_stamp(&n.display().to_string()).is_some() => {
                g.push(n)
            }
            _ => groups.push(vec![n]),
        }
    }
    let mut failures = Vec::new();
    for group in &groups {
        for kind in Plant::ALL {
            if let Err(f) = check_one(args, torn, group, kind) {
                failures.push(format!(
                    "{args:?} with {kind} at {}: {f}",
                    group[0].display()
                ));
            }
        }
    }
    failures
}

fn check_one(args: &[&str], torn: bool, group: &[PathBuf], kind: Plant) -> Result<(), String> {
    let env = Env::new(torn);
    let mut replaced = BTreeSet::new();
    for rel in group {
        let at = env.root.path().join(rel);
        // Planting at a name that holds a file of the starting store
        // replaces that file (a symlinked live file, a FIFO for an archive).
        if std::fs::symlink_metadata(&at).is_ok() {
            replaced.insert(rel.file_name().unwrap().to_string_lossy().into_owned());
            std::fs::remove_file(&at)
                .map_err(|e| format!("cannot replace {}: {e}", at.display()))?;
        }
        if let Some(parent) = at.parent() {
            std::fs::create_dir_all(parent).unwrap();
        }
        kind.plant(&at, &env.outside).unwrap();
    }
    let outside_before = env.outside.snapshot().unwrap();
    let Some((code, err)) = env.run(args) else {
        return Err(format!("hung for {DEADLINE:?}"));
    };
    let mut problems = Vec::new();
    let changed = outside_before.diff(&env.outside.snapshot().unwrap());
    if !changed.is_empty() {
        problems.push(format!("outside the store changed: {changed:?}"));
    }
    for rel in group {
        let at = env.root.path().join(rel);
        let s = rel.display().to_string();
        let intact = kind.intact(&at, &env.outside).unwrap();
        // A directory planted where the command makes a directory may be
        // used as one; a regular file at a name of the store's temporaries
        // may be taken for the store's own stale temporary and removed.
        // A regular file at an index name is the store's cache, rewritten
        // by `index` when it does not match its archive.
        let regular = std::fs::symlink_metadata(&at).is_ok_and(|m| m.is_file());
        // SQLite's own side files are SQLite's to use (a regular one there
        // is taken for a hot journal). A regular file at a sealed segment's
        // name is taken for a segment and compressed byte for byte: its
        // bytes live on in the archive.
        let sqlite_side = ["-wal", "-shm", "-journal"].iter().any(|x| s.ends_with(x));
        // The only directories a command makes are export's partitions: a
        // planted one there may be used as one.
        let partition = rel
            .file_name()
            .is_some_and(|n| n.to_string_lossy().starts_with("date="));
        let allowed = (kind == Plant::Directory && partition && at.is_dir())
            || (kind == Plant::ForeignFile && s.ends_with(".tmp") && !at.exists())
            || (kind == Plant::ForeignFile && s.ends_with(".idx") && regular)
            || (kind == Plant::ForeignFile && sqlite_side)
            || (kind == Plant::ForeignFile && archived_whole(&at));
        if !intact && !allowed {
            problems.push(format!("the plant at {s} was changed or removed"));
        }
    }
    match code {
        Some(0) => {}
        Some(_) => {
            if !names_a_plant(env.root.path(), group, &err) {
                problems.push(format!("the error does not name the planted path: {err:?}"));
            }
        }
        None => problems.push(format!("killed by a signal: {err:?}")),
    }
    // Nothing written before is lost: with the plants taken away, every
    // record of every starting file that was not itself replaced reads.
    for rel in group {
        let at = env.root.path().join(rel);
        if at.is_dir() && !at.is_symlink() {
            std::fs::remove_dir_all(&at).unwrap();
        } else if std::fs::symlink_metadata(&at).is_ok() {
            std::fs::remove_file(&at).unwrap();
        }
    }
    let want: BTreeSet<u64> = [ARCHIVE, SEALED, LIVE]
        .iter()
        .filter(|n| !replaced.contains(**n))
        .flat_map(|n| records_of(n).iter().copied())
        .collect();
    let got = env.record_ids();
    let lost: Vec<_> = want.difference(&got).collect();
    if !lost.is_empty() {
        problems.push(format!("records lost: {lost:?} (have {got:?})"));
    }
    if problems.is_empty() {
        Ok(())
    } else {
        Err(problems.join("; "))
    }
}

/// Whether the sealed segment at `at` is gone because it was compressed:
/// its `.gz` holds exactly the foreign file's bytes.
fn archived_whole(at: &Path) -> bool {
    let gz = PathBuf::from(format!("{}.gz", at.display()));
    if at.exists() || !gz.is_file() {
        return false;
    }
    let mut bytes = Vec::new();
    flate2::read::MultiGzDecoder::new(std::fs::File::open(gz).unwrap())
        .read_to_end(&mut bytes)
        .unwrap();
    bytes == scout_audit_testkit::hostile::FOREIGN_BYTES
}

/// Whether a failed command's output names a planted path: its file name,
/// or the full path of a directory above it that the command was given or
/// made (the export directory, a partition), never just the store's.
fn names_a_plant(root: &Path, group: &[PathBuf], out: &str) -> bool {
    group.iter().any(|rel| {
        if out.contains(&*rel.file_name().unwrap().to_string_lossy()) {
            return true;
        }
        rel.ancestors()
            .skip(1)
            .filter(|a| {
                a.components().count() >= 1 && !["s", "t"].contains(&&*a.display().to_string())
            })
            .any(|a| {
                !a.as_os_str().is_empty() && out.contains(&*root.join(a).display().to_string())
            })
    })
}

#[track_caller]
fn suite(args: &[&str], torn: bool) {
    let failures = check_command(args, torn);
    assert!(
        failures.is_empty(),
        "{} failures:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

#[test]
fn log_one_event() {
    suite(&["log", "nav", "--cost", "2"], false);
}

#[test]
fn log_after_a_torn_tail() {
    suite(&["log", "nav", "--cost", "2"], true);
}

#[test]
fn rotate() {
    suite(&["rotate"], false);
}

#[test]
fn query() {
    suite(&["query", "--format", "jsonl"], false);
}

#[test]
fn stats_spend_accuracy() {
    suite(&["stats", "--format", "json"], false);
    suite(&["spend", "--since", "2026-01-01"], false);
    suite(&["accuracy"], false);
}

#[test]
fn verify_and_tail() {
    suite(&["verify"], false);
    suite(&["tail", "-n", "2"], false);
}

#[test]
fn index() {
    suite(&["index"], false);
}

#[test]
fn export_parquet() {
    suite(
        &["export", "--format", "parquet", "--out", "{root}/exp"],
        false,
    );
}

#[test]
fn copy_to_sqlite() {
    suite(
        &[
            "copy",
            "--from",
            "{root}/s/audit.jsonl",
            "--to",
            "sqlite:{root}/t/db.sqlite",
        ],
        false,
    );
}
