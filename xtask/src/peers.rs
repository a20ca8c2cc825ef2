//! `cargo xtask bench --peers`: scout-audit's scanner against DuckDB and
//! jq on the same data in the same run.
//!
//! The data (made once, then reused): about 1 GiB of JSONL over 90 days
//! ending 2026-11-27, as one plain file and as a store of gzip archives of
//! 10 MiB (uncompressed) plus a live file of 10 MiB, with no indexes. Three
//! queries (Q1: `nav` count in the last 30 days; Q2: cost sum in the last 7
//! days; Q3: accuracy in the last 30 days) run on both layouts with every
//! tool: the gzip store first cold (no index), then after
//! `scout-audit index`. DuckDB (`read_ndjson`, `SET threads` to the core
//! count) is pip-installed into the repository's `.venv` if missing (the one
//! `.ci/run` and the tests use).
//! Times are medians of wall seconds (scout-audit and jq: the process;
//! DuckDB: the query inside its process, without Python's start-up), peak
//! memory is the process's maximum resident set (`/usr/bin/time`).

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use anyhow::{Context, Result, bail, ensure};
use scout_audit_core::Timestamp;
use scout_audit_store_file::Layout;
use scout_audit_store_file::fs::RealFs;
use scout_audit_store_file::layout::indexed_archive;

use crate::datagen::{self, GenOptions, MIB, Shape};
use crate::util::median;

/// What to run.
#[derive(Clone, Debug)]
pub struct PeerOptions {
    /// Uncompressed MiB of data (1024 for the issue's figures).
    pub mib: u64,
    /// Runs of each scout-audit and DuckDB measurement (median reported).
    pub runs: usize,
    /// Runs of each jq measurement (it takes tens of seconds).
    pub jq_runs: usize,
    /// Skip jq.
    pub no_jq: bool,
    /// Only these rows (`Q1`, `Q2`, `Q3`, `Q4`, `plain` (the plain-file
    /// table with CPU-s/GiB and the floor), `sealed` (the verify row),
    /// `export` (Parquet against DuckDB's COPY); any case); empty: all.
    pub only: Vec<String>,
}

impl PeerOptions {
    /// Whether the row `name` is to run.
    fn wants(&self, name: &str) -> bool {
        self.only.is_empty() || self.only.iter().any(|o| o.eq_ignore_ascii_case(name))
    }
}

const END: &str = "2026-11-27T00:00:00Z";

struct Query {
    name: &'static str,
    what: &'static str,
    days: u32,
}

const QUERIES: [Query; 3] = [
    Query {
        name: "Q1",
        what: "count of nav, last 30 days",
        days: 30,
    },
    Query {
        name: "Q2",
        what: "sum of cost, last 7 days",
        days: 7,
    },
    Query {
        name: "Q3",
        what: "accuracy, last 30 days",
        days: 30,
    },
];

/// One measurement: median seconds, peak RSS in KiB, and the answer text.
#[derive(Clone, Debug)]
struct Measure {
    secs: f64,
    peak_kib: u64,
    answer: String,
}

/// Runs `cmd` under `/usr/bin/time`: (wall seconds, peak KiB, stdout).
fn timed(cmd: &[String]) -> Result<(f64, u64, String)> {
    let tmp = tempfile::NamedTempFile::new()?;
    let start = Instant::now();
    let out = Command::new("/usr/bin/time")
        .arg("-f")
        .arg("%M")
        .arg("-o")
        .arg(tmp.path())
        .args(cmd)
        .output()
        .with_context(|| format!("cannot run {}", cmd[0]))?;
    let secs = start.elapsed().as_secs_f64();
    if !out.status.success() {
        bail!(
            "{} failed: {}",
            cmd.join(" "),
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let kib = std::fs::read_to_string(tmp.path())?
        .lines()
        .last()
        .and_then(|l| l.trim().parse().ok())
        .unwrap_or(0);
    Ok((
        secs,
        kib,
        String::from_utf8_lossy(&out.stdout).trim().to_owned(),
    ))
}

fn measure(runs: usize, cmd: &[String], inner_time: bool) -> Result<Measure> {
    let mut secs = Vec::new();
    let mut peak = 0;
    let mut answer = String::new();
    for _ in 0..runs.max(1) {
        let (wall, kib, out) = timed(cmd)?;
        peak = peak.max(kib);
        // DuckDB's script prints "seconds<TAB>answer".
        let (s, a) = match (inner_time, out.split_once('\t')) {
            (true, Some((s, a))) => (s.parse().unwrap_or(wall), a.to_owned()),
            _ => (wall, out),
        };
        secs.push(s);
        answer = a;
    }
    Ok(Measure {
        secs: median(secs),
        peak_kib: peak,
        answer,
    })
}

fn since(days: u32) -> Result<String> {
    let end = Timestamp::parse(END)?;
    Ok(end
        .saturating_sub(std::time::Duration::from_secs(u64::from(days) * 86_400))
        .to_python_string())
}

/// Where the data sets live.
fn data_dir() -> PathBuf {
    crate::util::root().join("target/peers")
}

/// `mib` MiB of JSONL over 90 days ending at [`END`], as one plain file,
/// generated unless already there.
fn plain_file(mib: u64) -> Result<PathBuf> {
    let dir = data_dir();
    let plain = dir.join("plain/audit.jsonl");
    let marker = dir.join(format!("ready-plain-{mib}"));
    if !marker.exists() {
        let _ = std::fs::remove_dir_all(dir.join("plain"));
        let mut p = GenOptions::new(&plain);
        p.shape = Shape::Plain;
        p.archive_bytes = mib * MIB;
        p.live_bytes = 0;
        p.days = 90.0;
        p.end = Timestamp::parse(END)?;
        eprintln!("generating {mib} MiB as one plain file ...");
        datagen::generate(&p)?;
        std::fs::write(&marker, b"")?;
    }
    Ok(plain)
}

/// The same data as a store of 10 MiB gzip archives plus a 10 MiB live
/// file, generated unless already there; its live file. Also the data set
/// of `bench --backends`' export row.
pub fn gzip_store(mib: u64) -> Result<PathBuf> {
    let dir = data_dir();
    let store = dir.join("store/audit.jsonl");
    let marker = dir.join(format!("ready-store-{mib}"));
    if !marker.exists() {
        let _ = std::fs::remove_dir_all(dir.join("store"));
        let mut s = GenOptions::new(&store);
        s.archive_bytes = mib.saturating_sub(10).max(1) * MIB;
        s.live_bytes = 10 * MIB;
        s.segment_bytes = 10 * MIB;
        s.days = 90.0;
        s.end = Timestamp::parse(END)?;
        eprintln!("generating {mib} MiB as a store of 10 MiB gzip archives ...");
        datagen::generate(&s)?;
        std::fs::write(&marker, b"")?;
    }
    Ok(store)
}

/// Removes every archive index in `store_dir` (the layout says which
/// files are indexes), so the next scan is cold.
fn remove_indexes(store_dir: &Path) -> Result<()> {
    for e in std::fs::read_dir(store_dir)? {
        let e = e?;
        if indexed_archive(&e.file_name().to_string_lossy()).is_some() {
            std::fs::remove_file(e.path())?;
        }
    }
    Ok(())
}

/// The paths of the gzip archives of the store whose live file is
/// `store`, oldest first, as the store's layout lists them.
fn archives_of(store: &Path) -> Result<Vec<String>> {
    let layout = Layout::new(store).map_err(anyhow::Error::msg)?;
    let listing = layout
        .list(&RealFs)
        .with_context(|| format!("list {}", layout.dir().display()))?;
    Ok(listing
        .archives()
        .map(|s| s.path.display().to_string())
        .collect())
}

const DUCK: &str = r#"
import sys, time, duckdb, os
files, q, since = sys.argv[1].split(","), sys.argv[2], sys.argv[3]
con = duckdb.connect()
con.execute(f"SET threads={os.cpu_count()}")
src = ("read_ndjson([" + ",".join("'" + f + "'" for f in files) + "], "
       "columns={ts: 'VARCHAR', event: 'VARCHAR', cost: 'DOUBLE'})")
w = f"CAST(ts AS TIMESTAMPTZ) >= TIMESTAMPTZ '{since}'"
sql = {
  "Q1": f"SELECT count(*) FROM {src} WHERE event = 'nav' AND {w}",
  "Q2": f"SELECT sum(cost) FROM {src} WHERE {w}",
  "Q3": f"SELECT count(*) FILTER (WHERE event = 'nav'), count(*) FILTER (WHERE event = 'validation_fail') FROM {src} WHERE {w}",
}[q]
t = time.perf_counter()
row = con.execute(sql).fetchall()[0]
dt = time.perf_counter() - t
if q == "Q3":
    nav, fail = row
    ans = f"{nav} {fail} {round(100 * (nav - fail) / nav, 2) if nav else 100.0}"
elif q == "Q2":
    ans = f"{row[0]:.6f}"
else:
    ans = str(row[0])
print(f"{dt}\t{ans}")
"#;

fn jq_filter(q: &str, since: &str) -> String {
    // ts strings of this data set are all UTC +00:00: string order is time order.
    match q {
        "Q1" => format!("[inputs | select(.event == \"nav\" and .ts >= \"{since}\")] | length"),
        "Q2" => format!(
            "[inputs | select(.ts >= \"{since}\") | .cost // 0] | add | . * 1000000 | round / 1000000"
        ),
        _ => format!(
            "[inputs | select(.ts >= \"{since}\") | .event] | {{nav: map(select(. == \"nav\")) | length, fail: map(select(. == \"validation_fail\")) | length}} | \"\\(.nav) \\(.fail)\""
        ),
    }
}

fn scout_args(bin: &Path, q: &str, days: u32, extra: &[&str], inputs: &[String]) -> Vec<String> {
    let mut v = vec![bin.display().to_string(), "--now".into(), END.into()];
    v.extend(extra.iter().map(|s| s.to_string()));
    let d = format!("{days}d");
    match q {
        "Q1" => v.extend(["query", "--count", "--since", &d, "--event", "nav"].map(String::from)),
        "Q2" => v.extend(["spend", "--since", &d].map(String::from)),
        _ => v.extend(["accuracy", "--since", &d].map(String::from)),
    }
    v.extend(["--format".to_owned(), "json".to_owned()]);
    v.extend(inputs.iter().cloned());
    v
}

/// Normalises the tools' answers to compare them.
fn norm(q: &str, tool: &str, ans: &str) -> String {
    if tool == "scout" {
        let v: serde_json::Value = serde_json::from_str(ans).unwrap_or_default();
        return match q {
            "Q1" => v["count"].to_string(),
            "Q2" => format!("{:.6}", v["total_cost"].as_f64().unwrap_or(f64::NAN)),
            _ => format!("{} {}", v["total_nav"], v["validation_fail_count"]),
        };
    }
    let a = ans.trim_matches('"');
    match q {
        "Q2" => format!("{:.6}", a.parse::<f64>().unwrap_or(f64::NAN)),
        "Q3" => a.split_whitespace().take(2).collect::<Vec<_>>().join(" "),
        _ => a.to_owned(),
    }
}

fn fmt_s(x: f64) -> String {
    if x < 0.1 {
        format!("{:.1} ms", x * 1000.0)
    } else {
        format!("{x:.2} s")
    }
}

fn mib(kib: u64) -> String {
    format!("{:.0} MiB", kib as f64 / 1024.0)
}

/// The data both layouts hold, made or reused.
struct DataSet {
    /// The plain JSONL file.
    plain: PathBuf,
    /// Its size: the uncompressed bytes of the whole data set.
    plain_bytes: u64,
    /// The store's live file.
    store: PathBuf,
    /// The store's directory.
    store_dir: PathBuf,
    /// The store's gzip archives, oldest first.
    gz: Vec<String>,
    /// Their size on disk.
    gz_bytes: u64,
}

impl DataSet {
    /// Makes or reuses both layouts of `mib` MiB, without indexes.
    fn prepare(mib: u64) -> Result<DataSet> {
        let plain = plain_file(mib)?;
        let store = gzip_store(mib)?;
        let plain_bytes = std::fs::metadata(&plain)?.len();
        let store_dir = store.parent().context("store dir")?.to_path_buf();
        remove_indexes(&store_dir)?;
        let gz = archives_of(&store)?;
        let gz_bytes: u64 = gz
            .iter()
            .map(|p| std::fs::metadata(p).map_or(0, |m| m.len()))
            .sum();
        Ok(DataSet {
            plain,
            plain_bytes,
            store,
            store_dir,
            gz,
            gz_bytes,
        })
    }

    /// Every file of the store, the archives then the live file.
    fn store_files(&self) -> Vec<String> {
        let mut files = self.gz.clone();
        files.push(self.store.display().to_string());
        files
    }
}

/// The programs measured.
struct Tools {
    /// The release `scout-audit`.
    bin: PathBuf,
    /// The Python with DuckDB.
    py: PathBuf,
    /// [`DUCK`], written out.
    duck_script: PathBuf,
    /// jq, unless skipped or missing.
    jq: Option<PathBuf>,
}

impl Tools {
    /// DuckDB's median (of at most 3 runs) for query `q` since `since`
    /// over `files` (comma-separated).
    fn duck(&self, runs: usize, q: &Query, since: &str, files: String) -> Result<Measure> {
        let cmd = [
            self.py.display().to_string(),
            self.duck_script.display().to_string(),
            files,
            q.name.into(),
            since.to_owned(),
        ];
        measure(runs.min(3), &cmd, true)
    }
}

/// One row of the table: a query on one layout, by each tool.
struct Row {
    query: &'static str,
    layout: String,
    scout: Measure,
    duck: Option<Measure>,
    jq: Option<Measure>,
}

/// What the runs found: the rows, peak memories, and answers that differ.
#[derive(Default)]
struct Findings {
    rows: Vec<Row>,
    /// (what ran, peak KiB); the table keeps each one's maximum.
    peaks: Vec<(String, u64)>,
    mismatches: Vec<String>,
}

impl Findings {
    /// Adds a row, noting where another tool's answer differs from
    /// scout-audit's.
    fn cell(
        &mut self,
        q: &Query,
        layout: &str,
        scout: Measure,
        duck: Option<Measure>,
        jq: Option<Measure>,
    ) {
        let sa = norm(q.name, "scout", &scout.answer);
        for (tool, m) in [("DuckDB", &duck), ("jq", &jq)] {
            if let Some(m) = m {
                let a = norm(q.name, tool, &m.answer);
                if a != sa {
                    self.mismatches
                        .push(format!("{} {layout}: scout-audit {sa}, {tool} {a}", q.name));
                }
            }
        }
        self.rows.push(Row {
            query: q.name,
            layout: layout.to_owned(),
            scout,
            duck,
            jq,
        });
    }
}

/// Builds the binary, makes or reuses the data, measures, returns the table.
pub fn run(opts: &PeerOptions) -> Result<String> {
    let root = crate::util::root();
    let st = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()))
        .current_dir(&root)
        .args(["build", "--release", "-q", "-p", "scout-audit-cli"])
        .status()
        .context("cannot run cargo build")?;
    ensure!(st.success(), "building scout-audit failed");
    let bin = root.join("target/release/scout-audit");
    let dir = root.join("target/peers");
    std::fs::create_dir_all(&dir)?;
    let py = crate::util::python_with("duckdb", "duckdb")?;
    let duck_script = dir.join("duck.py");
    std::fs::write(&duck_script, DUCK)?;
    let jq = Path::new("/usr/bin/jq");
    let run_jq = !opts.no_jq && jq.exists();
    let tools = Tools {
        bin,
        py,
        duck_script,
        jq: run_jq.then(|| jq.to_path_buf()),
    };

    let q4 = if opts.wants("Q4") {
        measure_records_out(opts, &tools, &plain_file(opts.mib)?)?
    } else {
        String::new()
    };
    if !["Q1", "Q2", "Q3", "sealed", "plain", "export"]
        .iter()
        .any(|r| opts.wants(r))
    {
        return Ok(q4);
    }
    let data = DataSet::prepare(opts.mib)?;
    let plain = if opts.wants("plain") {
        plain_table(opts, &tools, &data)?
    } else {
        String::new()
    };
    let export = |_: ()| -> Result<String> {
        if opts.wants("export") {
            measure_export(opts, &tools, &data)
        } else {
            Ok(String::new())
        }
    };
    if !opts.only.is_empty() && !QUERIES.iter().any(|q| opts.wants(q.name)) {
        // Only some of the other rows. The queries' runs leave the store
        // indexed; so does this before the sealed row.
        let sealed = if opts.wants("sealed") {
            index_then_sealed(opts, &tools, &data, &dir)?
        } else {
            String::new()
        };
        let export = export(())?;
        return Ok(format!("{plain}\n{q4}\n{sealed}\n{export}"));
    }
    let mut found = Findings::default();
    for q in QUERIES.iter().filter(|q| opts.wants(q.name)) {
        measure_query(opts, &tools, &data, q, &mut found)?;
    }
    // Q1 over the last hour, indexed store.
    let path_arg = ["--path", data.store.to_str().unwrap_or_default()];
    let mut hour = scout_args(&tools.bin, "Q1", 0, &path_arg, &[]);
    if let Some(p) = hour.iter().position(|a| a == "0d") {
        hour[p] = "1h".into();
    }
    let h = measure(opts.runs.max(5), &hour, false)?;
    let report = table(opts, &data, run_jq, found, h.secs)?;
    let sealed = if opts.wants("sealed") {
        measure_sealed(opts, &tools, &data, &dir)?
    } else {
        String::new()
    };
    let export = export(())?;
    Ok(format!("{report}\n{plain}\n{q4}\n{sealed}\n{export}"))
}

/// The sealed row alone: the store indexed first, as the queries' runs
/// leave it.
fn index_then_sealed(
    opts: &PeerOptions,
    tools: &Tools,
    data: &DataSet,
    dir: &Path,
) -> Result<String> {
    timed(&[
        tools.bin.display().to_string(),
        "--path".into(),
        data.store.display().to_string(),
        "index".into(),
    ])?;
    measure_sealed(opts, tools, data, dir)
}

/// `verify --key` against `stats` on the indexed store, sealed (issue 10,
/// Speed: at most 2x). The verification key is kept in `dir`; without
/// it, the store's sealing files (the bench's own) are made again.
fn measure_sealed(opts: &PeerOptions, tools: &Tools, data: &DataSet, dir: &Path) -> Result<String> {
    let bin = tools.bin.display().to_string();
    let path = data.store.display().to_string();
    let key_file = dir.join("seal-verification-key");
    if !key_file.exists() {
        let layout = Layout::new(&data.store).map_err(anyhow::Error::msg)?;
        for f in [layout.seal_key(), layout.seal_log(), layout.seal_nodes()] {
            if f.exists() {
                std::fs::remove_file(&f)?;
            }
        }
        let (_, _, out) = timed(&[
            bin.clone(),
            "--path".into(),
            path.clone(),
            "seal".into(),
            "init".into(),
        ])?;
        let key = out.lines().next().context("seal init printed no key")?;
        std::fs::write(&key_file, format!("{key}\n"))?;
    }
    eprintln!("sealing, then verify, verify --key and stats, interleaved ...");
    timed(&[bin.clone(), "--path".into(), path.clone(), "seal".into()])?;
    let runs = opts.runs.max(3);
    let store = [bin, "--path".into(), path];
    let key = key_file.display().to_string();
    let cmds: [Vec<String>; 3] = [
        [&store[..], &["stats".into()]].concat(),
        [&store[..], &["verify".into()]].concat(),
        [&store[..], &["verify".into(), "--key".into(), key]].concat(),
    ];
    // A B C A B C ...: the machine's noise falls on all three alike.
    let mut wall: [Vec<f64>; 3] = Default::default();
    let mut cpu: [Vec<f64>; 3] = Default::default();
    let _ = timed_cpu(&cmds[0])?; // warm the cache
    for _ in 0..runs {
        for (i, cmd) in cmds.iter().enumerate() {
            let (w, c) = timed_cpu(cmd)?;
            wall[i].push(w);
            cpu[i].push(c);
        }
    }
    let [stats, verify, keyed] = wall.map(median);
    let [stats_cpu, verify_cpu, keyed_cpu] = cpu.map(median);
    Ok(format!(
        "| sealed store ({} of gzip), median of {runs}, interleaved | wall | CPU-s | ratio to `stats` (target) |\n|---|---|---|---|\n| `stats` | {} | {stats_cpu:.2} | 1 |\n| `verify` | {} | {verify_cpu:.2} | {:.2} (at most 1.5) |\n| `verify --key` | {} | {keyed_cpu:.2} | {:.2} (at most 2) |\n",
        mib(data.gz_bytes / 1024),
        fmt_s(stats),
        fmt_s(verify),
        verify / stats.max(1e-9),
        fmt_s(keyed),
        keyed / stats.max(1e-9),
    ))
}

/// Runs `cmd` under `/usr/bin/time`: wall seconds, CPU seconds (user and
/// system, from the last line `time` writes) and the process's output.
/// The exit status is the caller's to check.
fn run_cpu_timed(cmd: &[String]) -> Result<(f64, f64, std::process::Output)> {
    let tmp = tempfile::NamedTempFile::new()?;
    let start = Instant::now();
    let out = Command::new("/usr/bin/time")
        .args(["-f", "%U %S", "-o"])
        .arg(tmp.path())
        .args(cmd)
        .output()
        .with_context(|| format!("cannot run {}", cmd[0]))?;
    let wall = start.elapsed().as_secs_f64();
    let times = std::fs::read_to_string(tmp.path())?;
    let cpu: f64 = times
        .lines()
        .last()
        .context("no times from /usr/bin/time")?
        .split_whitespace()
        .map(|t| t.parse::<f64>().context("a time from /usr/bin/time"))
        .sum::<Result<f64>>()?;
    Ok((wall, cpu, out))
}

/// Runs `cmd` under `/usr/bin/time`: (wall seconds, CPU seconds). Its exit
/// status is not checked: `verify` fails on a store with problems, and is
/// timed all the same; it must print something.
fn timed_cpu(cmd: &[String]) -> Result<(f64, f64)> {
    let (secs, cpu, out) = run_cpu_timed(cmd)?;
    ensure!(
        !out.stdout.is_empty(),
        "{} printed nothing: {}",
        cmd.join(" "),
        String::from_utf8_lossy(&out.stderr)
    );
    Ok((secs, cpu))
}

/// Measures query `q` on the plain file, on the gzip store cold, and on
/// the store after `scout-audit index`.
fn measure_query(
    opts: &PeerOptions,
    tools: &Tools,
    data: &DataSet,
    q: &Query,
    found: &mut Findings,
) -> Result<()> {
    let bin = &tools.bin;
    let s = since(q.days)?;
    let plain_in = vec![data.plain.display().to_string()];
    eprintln!("{} on the plain file ...", q.name);
    let _ = timed(&scout_args(bin, q.name, q.days, &[], &plain_in))?; // warm the cache
    let sc = measure(
        opts.runs,
        &scout_args(bin, q.name, q.days, &[], &plain_in),
        false,
    )?;
    let du = tools.duck(opts.runs, q, &s, plain_in[0].clone())?;
    let jqm = match &tools.jq {
        Some(jq) => {
            let cmd = vec![
                jq.display().to_string(),
                "-n".into(),
                jq_filter(q.name, &s),
                plain_in[0].clone(),
            ];
            Some(measure(opts.jq_runs, &cmd, false)?)
        }
        None => None,
    };
    found.cell(q, "plain file", sc, Some(du), jqm);

    measure_store(opts, tools, data, q, &s, found)
}

/// Measures query `q` (since `s`) on the gzip store, cold (no index), then
/// after `scout-audit index`.
fn measure_store(
    opts: &PeerOptions,
    tools: &Tools,
    data: &DataSet,
    q: &Query,
    s: &str,
    found: &mut Findings,
) -> Result<()> {
    let bin = &tools.bin;
    let path_arg = ["--path", data.store.to_str().unwrap_or_default()];
    eprintln!("{} on the gzip store, cold ...", q.name);
    remove_indexes(&data.store_dir)?;
    // No index: every archive read (the store prunes its archives only
    // by their indexes; name-based pruning is for the Python
    // original's archives, docs/decisions.md).
    let full = measure(
        opts.runs,
        &scout_args(
            bin,
            q.name,
            q.days,
            &[path_arg[0], path_arg[1], "--no-prune"],
            &[],
        ),
        false,
    )?;
    let du = tools.duck(opts.runs, q, s, data.store_files().join(","))?;
    let jqm = match &tools.jq {
        Some(jq) => {
            let shell = format!(
                "zcat {} | cat - {} | {} -n '{}'",
                data.gz.join(" "),
                data.store.display(),
                jq.display(),
                jq_filter(q.name, s).replace('\'', "'\\''")
            );
            Some(measure(
                opts.jq_runs,
                &["sh".into(), "-c".into(), shell],
                false,
            )?)
        }
        None => None,
    };
    found.cell(
        q,
        "gzip store, no index (cold scan)",
        full,
        Some(du.clone()),
        jqm.clone(),
    );
    // Indexed: `scout-audit index` (timed the first time).
    {
        eprintln!("scout-audit index ...");
        let (secs, kib, out) = timed(&[
            bin.display().to_string(),
            path_arg[0].into(),
            path_arg[1].into(),
            "index".into(),
        ])?;
        if q.name == "Q1" {
            found.peaks.push((
                format!(
                    "scout-audit index ({}; {})",
                    fmt_s(secs),
                    out.lines().last().unwrap_or("")
                ),
                kib,
            ));
        }
    }
    let ix = measure(
        opts.runs,
        &scout_args(bin, q.name, q.days, &path_arg, &[]),
        false,
    )?;
    found.cell(q, "gzip store, indexed", ix, Some(du), jqm);
    Ok(())
}

/// The report: the table, the notes under it, peak memories, and whether
/// the tools agree (an error holding the table if they do not).
fn table(
    opts: &PeerOptions,
    data: &DataSet,
    run_jq: bool,
    found: Findings,
    hour_secs: f64,
) -> Result<String> {
    let Findings {
        rows,
        mut peaks,
        mismatches,
    } = found;
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let mut t = String::new();
    writeln!(
        t,
        "Peers: {:.2} GiB of JSONL over 90 days ({} gzip archives of 10 MiB, {:.0} MiB compressed, plus a 10 MiB live file); {cores} cores; medians of {} runs (DuckDB {}, jq {})\n",
        data.plain_bytes as f64 / (1u64 << 30) as f64,
        data.gz.len(),
        data.gz_bytes as f64 / MIB as f64,
        opts.runs,
        opts.runs.min(3),
        if run_jq {
            opts.jq_runs.to_string()
        } else {
            "skipped".into()
        }
    )?;
    writeln!(
        t,
        "| query | layout | scout-audit | DuckDB | jq | DuckDB / scout-audit | jq / scout-audit | scout-audit GB/s |"
    )?;
    writeln!(t, "|---|---|---|---|---|---|---|---|")?;
    write_rows(&mut t, &rows, data.plain_bytes, &mut peaks)?;
    writeln!(
        t,
        "\nQueries: {}",
        QUERIES
            .iter()
            .map(|q| format!("{} = {}", q.name, q.what))
            .collect::<Vec<_>>()
            .join("; ")
    )?;
    writeln!(
        t,
        "Q1 with --since 1h over the indexed gzip store: {} (target < 50 ms)",
        fmt_s(hour_secs)
    )?;
    writeln!(
        t,
        "GB/s: uncompressed JSONL bytes of the whole data set / scout-audit's median wall time."
    )?;
    writeln!(t, "\nPeak memory (max RSS):")?;
    let mut seen = std::collections::BTreeMap::new();
    for (k, v) in peaks {
        let e = seen.entry(k).or_insert(0);
        *e = (*e).max(v);
    }
    for (k, v) in seen {
        writeln!(t, "- {k}: {}", mib(v))?;
    }
    if mismatches.is_empty() {
        writeln!(t, "\nAnswers: all tools agree on every query and layout.")?;
    } else {
        writeln!(t, "\nAnswers DIFFER:")?;
        for m in mismatches {
            writeln!(t, "- {m}")?;
        }
        // Timings of tools that disagree compare nothing: fail, with the table.
        bail!("{t}\nthe tools' answers differ");
    }
    Ok(t)
}

/// The table's rows, one per query and layout; notes each tool's peak
/// memory in `peaks`. GB/s divide `data_bytes` (the plain file's size,
/// the same amount of JSONL as the store's) by scout-audit's time.
fn write_rows(
    t: &mut String,
    rows: &[Row],
    data_bytes: u64,
    peaks: &mut Vec<(String, u64)>,
) -> Result<()> {
    for row in rows {
        let Row {
            query: name,
            layout,
            scout: sc,
            duck: du,
            jq: jqm,
        } = row;
        let ratio = |m: &Option<Measure>| {
            m.as_ref()
                .map_or("-".into(), |m| format!("{:.1}x", m.secs / sc.secs))
        };
        let gbps = data_bytes as f64 / sc.secs / 1e9;
        writeln!(
            t,
            "| {name} | {layout} | {} | {} | {} | {} | {} | {gbps:.1} |",
            fmt_s(sc.secs),
            du.as_ref().map_or("-".into(), |m| fmt_s(m.secs)),
            jqm.as_ref().map_or("-".into(), |m| fmt_s(m.secs)),
            ratio(du),
            ratio(jqm),
        )?;
        let short = if layout.starts_with("plain") {
            "plain file"
        } else {
            "gzip store"
        };
        peaks.push((format!("scout-audit, {short}, Q1-Q3"), sc.peak_kib));
        if let Some(m) = du {
            peaks.push((format!("DuckDB, {short}, Q1-Q3"), m.peak_kib));
        }
        if let Some(m) = jqm {
            peaks.push((format!("jq, {short}, Q1-Q3"), m.peak_kib));
        }
    }
    Ok(())
}

/// DuckDB's Q4: the matching records out as JSON lines (`COPY ... TO
/// '/dev/stdout' (FORMAT JSON)`); prints "seconds<TAB>rows" on stderr.
const DUCK_Q4: &str = r#"
import sys, time, duckdb, os
f, since = sys.argv[1], sys.argv[2]
con = duckdb.connect()
con.execute(f"SET threads={os.cpu_count()}")
sql = (f"COPY (SELECT * FROM read_ndjson('{f}') WHERE event = 'nav' "
       f"AND CAST(ts AS TIMESTAMPTZ) >= TIMESTAMPTZ '{since}') TO '/dev/stdout' (FORMAT JSON)")
t = time.perf_counter()
rows = con.execute(sql).fetchall()
dt = time.perf_counter() - t
sys.stdout.flush()
print(f"{dt}\t{rows[0][0] if rows else -1}", file=sys.stderr)
"#;

/// One run of a records-out command: wall seconds (DuckDB's: the query
/// inside its process), CPU seconds of the process, and what it wrote:
/// newlines on stdout (when `count`), and stderr.
struct OutRun {
    secs: f64,
    cpu: f64,
    lines: Option<u64>,
    stderr: String,
}

/// Runs `cmd` under `/usr/bin/time`, stdout to /dev/null (or counted).
fn timed_out(cmd: &[String], count: bool) -> Result<OutRun> {
    use std::process::Stdio;
    let tmp = tempfile::NamedTempFile::new()?;
    let start = Instant::now();
    let mut child = Command::new("/usr/bin/time")
        .arg("-f")
        .arg("%U %S")
        .arg("-o")
        .arg(tmp.path())
        .args(cmd)
        .stdout(if count { Stdio::piped() } else { Stdio::null() })
        .stderr(Stdio::piped())
        .spawn()
        .with_context(|| format!("cannot run {}", cmd[0]))?;
    let mut lines = None;
    if let Some(mut out) = child.stdout.take() {
        let mut buf = vec![0u8; 1 << 20];
        let mut n = 0u64;
        loop {
            let k = std::io::Read::read(&mut out, &mut buf)?;
            if k == 0 {
                break;
            }
            n += memchr_count(&buf[..k]);
        }
        lines = Some(n);
    }
    let out = child.wait_with_output()?;
    let secs = start.elapsed().as_secs_f64();
    let stderr = String::from_utf8_lossy(&out.stderr).trim().to_owned();
    if !out.status.success() {
        bail!("{} failed: {stderr}", cmd.join(" "));
    }
    let cpu = std::fs::read_to_string(tmp.path())?
        .lines()
        .last()
        .map(|l| {
            l.split_whitespace()
                .filter_map(|x| x.parse::<f64>().ok())
                .sum()
        })
        .unwrap_or(f64::NAN);
    Ok(OutRun {
        secs,
        cpu,
        lines,
        stderr,
    })
}

fn memchr_count(b: &[u8]) -> u64 {
    b.iter().filter(|&&x| x == b'\n').count() as u64
}

/// Q4 (issue 11): the `nav` records of the last 30 days out as JSONL from
/// the plain file, scout-audit against DuckDB's `COPY ... (FORMAT JSON)`,
/// runs interleaved (scout-audit, DuckDB, scout-audit, ...), medians of
/// wall and CPU seconds; the record counts must be equal.
fn measure_records_out(opts: &PeerOptions, tools: &Tools, plain: &Path) -> Result<String> {
    let days = 30;
    let s = since(days)?;
    let script = tools.duck_script.with_file_name("duck_q4.py");
    std::fs::write(&script, DUCK_Q4)?;
    let scout: Vec<String> = [
        tools.bin.display().to_string(),
        "--now".into(),
        END.into(),
        "query".into(),
        "--since".into(),
        format!("{days}d"),
        "--event".into(),
        "nav".into(),
        "--format".into(),
        "jsonl".into(),
        plain.display().to_string(),
    ]
    .into();
    let duck = [
        tools.py.display().to_string(),
        script.display().to_string(),
        plain.display().to_string(),
        s,
    ];
    eprintln!("Q4 (records out) on the plain file: counting ...");
    let sc = timed_out(&scout, true)?;
    let du = timed_out(&duck, true)?;
    let (n_scout, n_duck) = (sc.lines.unwrap_or(0), du.lines.unwrap_or(0));
    ensure!(
        n_scout == n_duck && n_scout > 0,
        "Q4: scout-audit wrote {n_scout} records, DuckDB {n_duck}"
    );
    let duck_secs = |r: &OutRun| -> f64 {
        r.stderr
            .lines()
            .last()
            .and_then(|l| l.split('\t').next())
            .and_then(|x| x.parse().ok())
            .unwrap_or(r.secs)
    };
    let (mut sw, mut sc_cpu, mut dw, mut dwall, mut du_cpu) =
        (Vec::new(), Vec::new(), Vec::new(), Vec::new(), Vec::new());
    let runs = opts.runs.max(3);
    for i in 0..runs {
        eprintln!("Q4 run {} of {runs} ...", i + 1);
        let a = timed_out(&scout, false)?;
        sw.push(a.secs);
        sc_cpu.push(a.cpu);
        let b = timed_out(&duck, false)?;
        dw.push(duck_secs(&b));
        dwall.push(b.secs);
        du_cpu.push(b.cpu);
    }
    let (s_w, d_w) = (median(sw), median(dw));
    let bytes = std::fs::metadata(plain)?.len();
    Ok(format!(
        "| Q4: nav records, last 30 days, out as JSONL ({n_scout} records; plain file, {:.2} GiB) | scout-audit | DuckDB `COPY ... (FORMAT JSON)` | DuckDB / scout-audit |\n|---|---|---|---|\n| wall, median of {runs} (interleaved) | {} | {} (query; {} with its process) | {:.2}x |\n| CPU seconds, median | {:.2} | {:.2} | |\n",
        bytes as f64 / (1u64 << 30) as f64,
        fmt_s(s_w),
        fmt_s(d_w),
        fmt_s(median(dwall)),
        d_w / s_w.max(1e-9),
        median(sc_cpu),
        median(du_cpu),
    ))
}

/// Runs `cmd` under `/usr/bin/time`: (wall seconds, CPU seconds of the
/// process and its children, user and system, from their `getrusage`;
/// stdout).
fn timed_cpu_out(cmd: &[String]) -> Result<(f64, f64, String)> {
    let (wall, cpu, out) = run_cpu_timed(cmd)?;
    if !out.status.success() {
        bail!(
            "{} failed: {}",
            cmd.join(" "),
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let stdout = String::from_utf8_lossy(&out.stdout).trim().to_owned();
    Ok((wall, cpu, stdout))
}

/// Medians of one command's runs in [`plain_table`].
#[derive(Default)]
struct Runs {
    wall: Vec<f64>,
    cpu: Vec<f64>,
    answer: String,
}

impl Runs {
    fn add(&mut self, (wall, cpu, answer): (f64, f64, String)) {
        self.wall.push(wall);
        self.cpu.push(cpu);
        self.answer = answer;
    }
    fn wall(&self) -> f64 {
        median(self.wall.clone())
    }
    fn cpu(&self) -> f64 {
        median(self.cpu.clone())
    }
}

/// The plain-file rows of issue 11 (item 4): Q1-Q3 on the plain file,
/// scout-audit against DuckDB, each with its wall time and CPU-seconds per
/// GiB, beside the floor: the `floor` binary of `benches` (the scanner's
/// map, chunks and release counting newlines with `memchr` on every core).
/// Runs are interleaved (scout-audit, DuckDB, floor, scout-audit, ...)
/// so that a busy machine slows each alike; medians of `opts.runs`.
fn plain_table(opts: &PeerOptions, tools: &Tools, data: &DataSet) -> Result<String> {
    let root = crate::util::root();
    let st = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()))
        .current_dir(&root)
        .args(["build", "--release", "-q", "-p", "scout-audit-benches"])
        .args(["--bin", "floor"])
        .status()
        .context("cannot run cargo build")?;
    ensure!(st.success(), "building the floor binary failed");
    let floor_cmd = [
        root.join("target/release/floor").display().to_string(),
        data.plain.display().to_string(),
    ];
    let gib = data.plain_bytes as f64 / (1u64 << 30) as f64;
    let plain_in = vec![data.plain.display().to_string()];
    let mut t = String::new();
    writeln!(
        t,
        "Cold scan of the plain file ({gib:.2} GiB, in the page cache): medians of {} interleaved runs\n",
        opts.runs
    )?;
    writeln!(
        t,
        "| query | scout-audit | CPU-s/GiB | DuckDB | DuckDB / scout-audit | floor | floor CPU-s/GiB | scout-audit / floor |"
    )?;
    writeln!(t, "|---|---|---|---|---|---|---|---|")?;
    let mut differ = Vec::new();
    for q in &QUERIES {
        eprintln!("{} on the plain file (with the floor) ...", q.name);
        let s = since(q.days)?;
        let scout_cmd = scout_args(&tools.bin, q.name, q.days, &[], &plain_in);
        let duck_cmd = [
            tools.py.display().to_string(),
            tools.duck_script.display().to_string(),
            plain_in[0].clone(),
            q.name.into(),
            s,
        ];
        timed_cpu_out(&scout_cmd)?; // warm the page cache
        let (mut sc, mut du, mut fl) = (Runs::default(), Runs::default(), Runs::default());
        for _ in 0..opts.runs.max(1) {
            sc.add(timed_cpu_out(&scout_cmd)?);
            // DuckDB's script prints "seconds<TAB>answer": its query alone.
            let (wall, cpu, out) = timed_cpu_out(&duck_cmd)?;
            let (inner, ans) = out.split_once('\t').unwrap_or(("", &out));
            du.add((inner.parse().unwrap_or(wall), cpu, ans.to_owned()));
            fl.add(timed_cpu_out(&floor_cmd)?);
        }
        let (a, b) = (
            norm(q.name, "scout", &sc.answer),
            norm(q.name, "DuckDB", &du.answer),
        );
        if a != b {
            differ.push(format!("{}: scout-audit {a}, DuckDB {b}", q.name));
        }
        writeln!(
            t,
            "| {} | {} | {:.3} | {} | {:.1}x | {} | {:.3} | {:.2}x |",
            q.name,
            fmt_s(sc.wall()),
            sc.cpu() / gib,
            fmt_s(du.wall()),
            du.wall() / sc.wall(),
            fmt_s(fl.wall()),
            fl.cpu() / gib,
            sc.wall() / fl.wall(),
        )?;
    }
    writeln!(
        t,
        "\nDuckDB: its query alone (not Python's start-up). CPU-s/GiB: user + system seconds of the process (getrusage) per GiB of the file. Floor: `benches` `floor`, newlines counted with memchr through the scanner's map on every core."
    )?;
    ensure!(differ.is_empty(), "{t}\nthe answers differ: {differ:?}");
    Ok(t)
}

/// DuckDB's side of the export row: `COPY` of the store's records, with
/// the columns of scout-audit's schema (docs/export.md), to Parquet
/// partitioned by the UTC date of `ts`. Prints the COPY's seconds and
/// CPU-seconds (measured inside the process, without Python's start-up)
/// and the records the written files hold.
const DUCK_EXPORT: &str = r#"
import sys, time, duckdb, os, resource
files, out = sys.argv[1].split(","), sys.argv[2]
con = duckdb.connect()
con.execute(f"SET threads={os.cpu_count()}")
con.execute("SET TimeZone='UTC'")
cols = ("{ts: 'TIMESTAMPTZ', event: 'VARCHAR', session_id: 'VARCHAR', seq: 'BIGINT', "
        "cost: 'DOUBLE', model: 'VARCHAR', input_t: 'BIGINT', output_t: 'BIGINT', "
        "files: 'JSON', reason: 'VARCHAR', confidence: 'DOUBLE', duration_ms: 'DOUBLE', "
        "config: 'JSON'}")
src = "read_ndjson([" + ",".join("'" + f + "'" for f in files) + "], columns=" + cols + ")"
sql = (f"COPY (SELECT *, CAST(ts AS DATE) AS date FROM {src}) "
       f"TO '{out}' (FORMAT PARQUET, PARTITION_BY (date))")
r0 = resource.getrusage(resource.RUSAGE_SELF)
t = time.perf_counter()
con.execute(sql)
dt = time.perf_counter() - t
r1 = resource.getrusage(resource.RUSAGE_SELF)
cpu = (r1.ru_utime - r0.ru_utime) + (r1.ru_stime - r0.ru_stime)
n = con.execute(f"SELECT count(*) FROM read_parquet('{out}/*/*.parquet', hive_partitioning = true)").fetchone()[0]
print(f"{dt}\t{cpu}\t{n}")
"#;

/// One export: wall seconds, CPU-seconds, records written, bytes on disk.
struct Exported {
    secs: f64,
    cpu: f64,
    records: u64,
    bytes: u64,
}

/// The bytes of every file under `dir` (an export's output).
fn tree_bytes(dir: &Path) -> Result<u64> {
    let mut total = 0;
    for e in std::fs::read_dir(dir)? {
        let e = e?;
        let t = e.file_type()?;
        if t.is_dir() {
            total += tree_bytes(&e.path())?;
        } else if t.is_file() {
            total += e.metadata()?.len();
        }
    }
    Ok(total)
}

/// `scout-audit export` of the gzip store into a fresh `out`: the process's
/// wall and CPU seconds (`/usr/bin/time`), and the records it says it wrote.
fn scout_export(bin: &Path, store: &Path, out: &Path) -> Result<Exported> {
    if out.exists() {
        std::fs::remove_dir_all(out)?;
    }
    let cmd: Vec<String> = [bin, Path::new("--path"), store]
        .iter()
        .map(|p| p.display().to_string())
        .chain(["export", "--format", "parquet", "--out"].map(String::from))
        .chain([out.display().to_string()])
        .collect();
    let (secs, cpu, text) = timed_cpu_out(&cmd)?;
    // "exported N records into F files under DIR ..."
    let records = text
        .strip_prefix("exported ")
        .and_then(|r| r.split_whitespace().next())
        .and_then(|n| n.parse().ok())
        .with_context(|| format!("unexpected export output: {text}"))?;
    Ok(Exported {
        secs,
        cpu,
        records,
        bytes: tree_bytes(out)?,
    })
}

/// DuckDB's `COPY` of `files` into a fresh `out`.
fn duck_export(py: &Path, script: &Path, files: &str, out: &Path) -> Result<Exported> {
    if out.exists() {
        std::fs::remove_dir_all(out)?;
    }
    let o = Command::new(py)
        .arg(script)
        .arg(files)
        .arg(out)
        .output()
        .context("cannot run DuckDB's export")?;
    ensure!(
        o.status.success(),
        "DuckDB's export failed: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    let text = String::from_utf8_lossy(&o.stdout);
    let f: Vec<&str> = text.trim().split('\t').collect();
    let (Some(s), Some(c), Some(n)) = (f.first(), f.get(1), f.get(2)) else {
        bail!("unexpected DuckDB output: {text}");
    };
    Ok(Exported {
        secs: s.parse()?,
        cpu: c.parse()?,
        records: n.parse()?,
        bytes: tree_bytes(out)?,
    })
}

/// The export row (issue 11, item 2): `scout-audit export` of the gzip
/// store against DuckDB's partitioned `COPY` of the same files, run in
/// turn (scout-audit, DuckDB, scout-audit, ...), medians of `runs`. Both
/// must write the same number of records.
fn measure_export(opts: &PeerOptions, tools: &Tools, data: &DataSet) -> Result<String> {
    let dir = data_dir();
    let script = dir.join("duck_export.py");
    std::fs::write(&script, DUCK_EXPORT)?;
    let (ours, theirs) = (dir.join("export-scout"), dir.join("export-duckdb"));
    let files = data.store_files().join(",");
    let runs = opts.runs.max(1);
    let (mut sc, mut du) = (Vec::new(), Vec::new());
    for i in 0..runs {
        eprintln!("export, run {} of {runs} ...", i + 1);
        sc.push(scout_export(&tools.bin, &data.store, &ours)?);
        du.push(duck_export(&tools.py, &script, &files, &theirs)?);
    }
    for (a, b) in sc.iter().zip(&du) {
        ensure!(
            a.records == b.records,
            "scout-audit exported {} records, DuckDB {}",
            a.records,
            b.records
        );
    }
    let med = |v: &[Exported], f: fn(&Exported) -> f64| median(v.iter().map(f).collect());
    let (s_secs, d_secs) = (med(&sc, |e| e.secs), med(&du, |e| e.secs));
    let (s_cpu, d_cpu) = (med(&sc, |e| e.cpu), med(&du, |e| e.cpu));
    let (s_bytes, d_bytes) = (med(&sc, |e| e.bytes as f64), med(&du, |e| e.bytes as f64));
    let mb = |b: f64| format!("{:.1} MB", b / 1e6);
    Ok(format!(
        "| export to Parquet by date ({} records, gzip store) | scout-audit | DuckDB `COPY ... PARTITION_BY (date)` | DuckDB / scout-audit (target at least 1.5) |\n\
         |---|---|---|---|\n\
         | wall, median of {runs} | {} | {} | {:.2}x |\n\
         | CPU-seconds | {s_cpu:.1} | {d_cpu:.1} | {:.2}x |\n\
         | output bytes | {} | {} | {:.2}x |\n\
         scout-audit: the process (`--path STORE export --out DIR`); DuckDB: the COPY inside its process (Python's start-up not counted), {} threads.\n",
        sc[0].records,
        fmt_s(s_secs),
        fmt_s(d_secs),
        d_secs / s_secs.max(1e-9),
        d_cpu / s_cpu.max(1e-9),
        mb(s_bytes),
        mb(d_bytes),
        d_bytes / s_bytes.max(1.0),
        std::thread::available_parallelism().map_or(1, |n| n.get()),
    ))
}
