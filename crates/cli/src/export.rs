//! `scout-audit export --format parquet --out DIR`: the log as
//! hive-partitioned Parquet (`DIR/date=YYYY-MM-DD/part-RUN.parquet`), for
//! engines beyond one machine (DuckDB, Spark, Trino, ...).
//!
//! **Schema** (docs/export.md): typed columns for the known fields, JSON
//! text for `files`, `config` and every other field (`extra`). A known
//! field with an unexpected type goes to `extra` as written, so nothing
//! is lost.
//!
//! **Incremental.** `DIR/_scout_audit_export.json` records, per writer
//! (a session and a `writer` stamp, or a session's unstamped records), the
//! highest `seq` exported, and for records without `seq` (the Python
//! original's) the latest `ts`. One writer's records continue one seq in
//! log order, so a mark per writer skips only what was exported; several
//! processes logging under one session id stamp their records, each its
//! own writer, and are never taken for one another. A run exports only
//! records beyond those marks, writes its parts under a new run number,
//! and then replaces the manifest atomically; parts of a run that never
//! reached the manifest (an interrupted export) are deleted by the next
//! run before it starts, so an interrupted export is simply redone.
//!
//! **Whose files.** An export touches only its own files: it writes into
//! an empty or missing directory (saving its manifest there before its
//! first part), or one holding its manifest with nothing but `date=`
//! directories of part files beside it, and refuses any other (another
//! tool's data set). It deletes only regular files named as the parts of
//! the one run that can have been interrupted (the manifest's committed
//! runs + 1). Parts and the manifest are created
//! exclusively without following links, mode 0600, in directories of mode
//! 0700, as the file store's files are.

use std::collections::{BTreeMap, HashMap};
use std::fs::{self, File, OpenOptions};
use std::io::Write as _;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::{Context, Result, bail};
use clap::{Args, ValueEnum};
use parquet::basic::Compression;
use parquet::data_type::{ByteArray, ByteArrayType, DoubleType, Int64Type};
use parquet::file::properties::WriterProperties;
use parquet::file::writer::SerializedFileWriter;
use parquet::schema::parser::parse_message_type;
use parquet::schema::types::Type;
use scout_audit_core::{Filter, ReadStore, Record, Timestamp};
use serde_json::{Value, json};

/// The Parquet schema of an export, version 1.
pub const SCHEMA: &str = "message scout_audit_event {
  OPTIONAL INT64 ts (TIMESTAMP(MICROS,true));
  OPTIONAL BYTE_ARRAY event (STRING);
  OPTIONAL BYTE_ARRAY session_id (STRING);
  OPTIONAL INT64 seq;
  OPTIONAL DOUBLE cost;
  OPTIONAL BYTE_ARRAY model (STRING);
  OPTIONAL INT64 input_t;
  OPTIONAL INT64 output_t;
  OPTIONAL BYTE_ARRAY files (STRING);
  OPTIONAL BYTE_ARRAY reason (STRING);
  OPTIONAL DOUBLE confidence;
  OPTIONAL DOUBLE duration_ms;
  OPTIONAL BYTE_ARRAY config (STRING);
  OPTIONAL BYTE_ARRAY extra (STRING);
}";

const MANIFEST: &str = "_scout_audit_export.json";
/// The manifest version this code writes: 2 adds the per-writer marks
/// (`writers`); version 1 manifests are read as they are.
const MANIFEST_VERSION: u64 = 2;
/// Rows per row group.
const ROW_GROUP: usize = 65_536;
/// Rows buffered over all partitions before every partition writes its
/// rows as a row group (bounds memory whatever the number of dates).
const MAX_BUFFERED: usize = 131_072;
/// The partition of records without a valid `ts` (the Hive convention).
const NO_DATE: &str = "__HIVE_DEFAULT_PARTITION__";

/// Export formats.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum ExportFormat {
    /// Hive-partitioned Parquet.
    Parquet,
}

#[derive(Args, Debug)]
pub struct ExportArgs {
    /// The format.
    #[arg(long, value_enum, default_value = "parquet")]
    format: ExportFormat,
    /// The directory to write (created if missing; re-running adds only new records).
    #[arg(long, value_name = "DIR")]
    out: PathBuf,
    /// Records at or after this time.
    #[arg(long, value_parser = crate::args::TimeArg::parse)]
    since: Option<crate::args::TimeArg>,
    /// Records before this time.
    #[arg(long, value_parser = crate::args::TimeArg::parse)]
    until: Option<crate::args::TimeArg>,
}

/// `scout-audit export`.
pub fn run(cli: &crate::Cli, a: &ExportArgs) -> Result<std::process::ExitCode> {
    let now = cli.now();
    let filter = Filter::new()
        .with_since(a.since.map(|t| t.resolve(now)))
        .with_until(a.until.map(|t| t.resolve(now)));
    let addr = cli.store_addr()?;
    let t = std::time::Instant::now();
    let (s, skipped) = match &addr {
        // The file store: its segments in parallel, each into its own parts.
        crate::addr::StoreAddr::File(p) => {
            let threads = cli
                .threads
                .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()));
            export_segments(
                &a.out,
                scout_audit_scan::Inputs::store(p)?,
                &filter,
                threads,
            )?
        }
        other => {
            let store = cli.open_read(other)?;
            let s = export(&*store, &filter, &a.out)?;
            (s, store.skipped())
        }
    };
    println!(
        "exported {} records into {} files under {} (run {}, {} already exported) in {:.2} s",
        s.records,
        s.files,
        a.out.display(),
        s.run,
        s.already,
        t.elapsed().as_secs_f64()
    );
    crate::output::report_skipped(skipped.count, skipped.examples.first().map(String::as_str));
    Ok(std::process::ExitCode::SUCCESS)
}

/// What a run exported.
#[derive(Debug, Default)]
pub struct ExportSummary {
    /// Records written.
    pub records: u64,
    /// Records skipped: exported by an earlier run.
    pub already: u64,
    /// Part files written.
    pub files: u64,
    /// The run number.
    pub run: u64,
}

/// The manifest: marks of what earlier runs exported.
#[derive(Debug, Default)]
struct Manifest {
    runs: u64,
    /// Per session, the highest seq of its unstamped records exported.
    sessions: HashMap<String, u64>,
    /// Per session and `writer` stamp, the highest seq exported.
    writers: HashMap<String, HashMap<String, u64>>,
    /// For records without seq, the latest ts exported.
    seqless_ts: Option<Timestamp>,
    /// Records without seq or ts already exported (never again).
    undated_seqless_done: bool,
}

impl Manifest {
    fn load(dir: &Path) -> Result<Manifest> {
        let p = dir.join(MANIFEST);
        let text = match fs::read_to_string(&p) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Manifest::default()),
            Err(e) => return Err(e).with_context(|| format!("cannot read {}", p.display())),
        };
        let v: Value =
            serde_json::from_str(&text).with_context(|| format!("{} is not JSON", p.display()))?;
        // Version 1 had no per-writer marks (its writers stamped nothing).
        if v["version"] != 1 && v["version"] != MANIFEST_VERSION {
            bail!("{}: unknown manifest version {}", p.display(), v["version"]);
        }
        let mut m = Manifest {
            runs: v["runs"].as_u64().unwrap_or(0),
            ..Manifest::default()
        };
        if let Some(s) = v["sessions"].as_object() {
            for (k, n) in s {
                if let Some(n) = n.as_u64() {
                    m.sessions.insert(k.clone(), n);
                }
            }
        }
        if let Some(s) = v["writers"].as_object() {
            for (session, ws) in s {
                for (w, n) in ws.as_object().into_iter().flatten() {
                    if let Some(n) = n.as_u64() {
                        m.writers
                            .entry(session.clone())
                            .or_default()
                            .insert(w.clone(), n);
                    }
                }
            }
        }
        m.seqless_ts = v["seqless_ts"]
            .as_str()
            .and_then(|t| Timestamp::parse(t).ok());
        m.undated_seqless_done = v["undated_seqless_done"].as_bool().unwrap_or(false);
        Ok(m)
    }

    fn save(&self, dir: &Path) -> Result<()> {
        let sessions: BTreeMap<&String, &u64> = self.sessions.iter().collect();
        let writers: BTreeMap<&String, BTreeMap<&String, &u64>> = self
            .writers
            .iter()
            .map(|(s, ws)| (s, ws.iter().collect()))
            .collect();
        let v = json!({
            "version": MANIFEST_VERSION,
            "runs": self.runs,
            "sessions": sessions,
            "writers": writers,
            "seqless_ts": self.seqless_ts.map(|t| t.to_python_string()),
            "undated_seqless_done": self.undated_seqless_done,
        });
        let tmp = dir.join(format!("{MANIFEST}.tmp"));
        remove_own_file(&tmp)?;
        let mut f = create_new(&tmp)?;
        f.write_all(v.to_string().as_bytes())?;
        f.sync_all()?;
        // Replaced only when it is a regular file (ours); never a link.
        let manifest = dir.join(MANIFEST);
        check_regular_or_absent(&manifest)?;
        fs::rename(&tmp, &manifest).context("cannot replace the export manifest")?;
        File::open(dir)?.sync_all()?;
        Ok(())
    }

    /// Whether an earlier run exported this record.
    fn done(&self, r: &Record) -> bool {
        match (r.session_id(), r.seq()) {
            (Some(s), Some(q)) => match r.writer() {
                Some(w) => self
                    .writers
                    .get(s)
                    .and_then(|ws| ws.get(w))
                    .is_some_and(|m| q <= *m),
                None => self.sessions.get(s).is_some_and(|m| q <= *m),
            },
            _ => match r.ts() {
                Some(t) => self.seqless_ts.is_some_and(|m| t <= m),
                None => self.undated_seqless_done,
            },
        }
    }

    /// Takes the higher of each mark.
    fn absorb(&mut self, other: &Manifest) {
        for (k, n) in &other.sessions {
            let e = self.sessions.entry(k.clone()).or_insert(*n);
            *e = (*e).max(*n);
        }
        for (k, ws) in &other.writers {
            let mine = self.writers.entry(k.clone()).or_default();
            for (w, n) in ws {
                let e = mine.entry(w.clone()).or_insert(*n);
                *e = (*e).max(*n);
            }
        }
        if let Some(t) = other.seqless_ts {
            self.seqless_ts = Some(self.seqless_ts.map_or(t, |m| m.max(t)));
        }
        self.undated_seqless_done |= other.undated_seqless_done;
    }

    fn note(&mut self, r: &Record) {
        match (r.session_id(), r.seq()) {
            (Some(s), Some(q)) => {
                let marks = match r.writer() {
                    Some(w) => self
                        .writers
                        .entry(s.to_owned())
                        .or_default()
                        .entry(w.to_owned()),
                    None => self.sessions.entry(s.to_owned()),
                };
                let e = marks.or_insert(q);
                *e = (*e).max(q);
            }
            _ => match r.ts() {
                Some(t) => self.seqless_ts = Some(self.seqless_ts.map_or(t, |m| m.max(t))),
                None => self.undated_seqless_done = true,
            },
        }
    }
}

/// Column buffers of one partition.
#[derive(Default)]
struct Columns {
    ts: Opt<i64>,
    event: Opt<ByteArray>,
    session_id: Opt<ByteArray>,
    seq: Opt<i64>,
    cost: Opt<f64>,
    model: Opt<ByteArray>,
    input_t: Opt<i64>,
    output_t: Opt<i64>,
    files: Opt<ByteArray>,
    reason: Opt<ByteArray>,
    confidence: Opt<f64>,
    duration_ms: Opt<f64>,
    config: Opt<ByteArray>,
    extra: Opt<ByteArray>,
    rows: usize,
}

/// Values and definition levels of an optional column.
struct Opt<T> {
    values: Vec<T>,
    defs: Vec<i16>,
}

impl<T> Default for Opt<T> {
    fn default() -> Self {
        Opt {
            values: Vec::new(),
            defs: Vec::new(),
        }
    }
}

impl<T> Opt<T> {
    fn push(&mut self, v: Option<T>) {
        match v {
            Some(v) => {
                self.values.push(v);
                self.defs.push(1);
            }
            None => self.defs.push(0),
        }
    }
}

fn text(s: &str) -> ByteArray {
    ByteArray::from(s.as_bytes().to_vec())
}

impl Columns {
    /// Appends one record: one pass over its fields, no lookups by name.
    fn push(&mut self, r: &Record) {
        let int = |v: &Value| v.as_u64().map(|n| i64::try_from(n).unwrap_or(i64::MAX));
        let json = |v: &Value| {
            let mut b = Vec::with_capacity(64);
            // A Value always serializes.
            let _ = serde_json::to_writer(&mut b, v);
            ByteArray::from(b)
        };
        let (mut ts, mut event, mut session, mut seq, mut cost, mut model) =
            (None, None, None, None, None, None);
        let (mut input_t, mut output_t, mut files, mut reason) = (None, None, None, None);
        let (mut confidence, mut duration_ms, mut config) = (None, None, None);
        // Every other field, and known ones of another type, as written.
        let mut extra: Vec<u8> = Vec::new();
        for (k, v) in r.fields() {
            let typed = match k.as_str() {
                "ts" => {
                    ts = r.ts().map(Timestamp::unix_micros);
                    ts.is_some()
                }
                "event" => v.as_str().map(|s| event = Some(text(s))).is_some(),
                "session_id" => v.as_str().map(|s| session = Some(text(s))).is_some(),
                "seq" => int(v).map(|n| seq = Some(n)).is_some(),
                "cost" => v.is_null() || v.as_f64().map(|c| cost = Some(c)).is_some(),
                "model" => v.as_str().map(|s| model = Some(text(s))).is_some(),
                "input_t" => int(v).map(|n| input_t = Some(n)).is_some(),
                "output_t" => int(v).map(|n| output_t = Some(n)).is_some(),
                "files" => {
                    files = Some(json(v));
                    true
                }
                "reason" => v.as_str().map(|s| reason = Some(text(s))).is_some(),
                "confidence" => v.as_f64().map(|c| confidence = Some(c)).is_some(),
                "duration_ms" => v.as_f64().map(|c| duration_ms = Some(c)).is_some(),
                "config" => {
                    config = Some(json(v));
                    true
                }
                _ => false,
            };
            if !typed {
                extra.push(if extra.is_empty() { b'{' } else { b',' });
                let _ = serde_json::to_writer(&mut extra, k);
                extra.push(b':');
                let _ = serde_json::to_writer(&mut extra, v);
            }
        }
        if !extra.is_empty() {
            extra.push(b'}');
        }
        self.ts.push(ts);
        self.event.push(event);
        self.session_id.push(session);
        self.seq.push(seq);
        self.cost.push(cost);
        self.model.push(model);
        self.input_t.push(input_t);
        self.output_t.push(output_t);
        self.files.push(files);
        self.reason.push(reason);
        self.confidence.push(confidence);
        self.duration_ms.push(duration_ms);
        self.config.push(config);
        self.extra
            .push((!extra.is_empty()).then(|| ByteArray::from(extra)));
        self.rows += 1;
    }

    fn clear(&mut self) {
        *self = Columns::default();
    }
}

/// One open part file.
struct Part {
    writer: SerializedFileWriter<File>,
    cols: Columns,
}

impl Part {
    fn flush_group(&mut self) -> Result<()> {
        if self.cols.rows == 0 {
            return Ok(());
        }
        let c = &self.cols;
        let mut g = self.writer.next_row_group()?;
        macro_rules! col {
            ($t:ty, $o:expr) => {{
                let mut w = g.next_column()?.context("schema has fewer columns")?;
                w.typed::<$t>()
                    .write_batch(&$o.values, Some(&$o.defs), None)?;
                w.close()?;
            }};
        }
        col!(Int64Type, c.ts);
        col!(ByteArrayType, c.event);
        col!(ByteArrayType, c.session_id);
        col!(Int64Type, c.seq);
        col!(DoubleType, c.cost);
        col!(ByteArrayType, c.model);
        col!(Int64Type, c.input_t);
        col!(Int64Type, c.output_t);
        col!(ByteArrayType, c.files);
        col!(ByteArrayType, c.reason);
        col!(DoubleType, c.confidence);
        col!(DoubleType, c.duration_ms);
        col!(ByteArrayType, c.config);
        col!(ByteArrayType, c.extra);
        g.close()?;
        self.cols.clear();
        Ok(())
    }
}

/// Whether `name` is one of an export's part files (`part-RUN.parquet`,
/// `part-RUN-SOURCE.parquet`, or either with `.tmp`), and its run.
fn part_run(name: &str) -> Option<u64> {
    let rest = name.strip_prefix("part-")?;
    let base = rest
        .strip_suffix(".parquet.tmp")
        .or_else(|| rest.strip_suffix(".parquet"))?;
    let (run, source) = match base.split_once('-') {
        Some((r, s)) => (r, Some(s)),
        None => (base, None),
    };
    let digits = |t: &str, n: usize| t.len() >= n && t.bytes().all(|b| b.is_ascii_digit());
    if !digits(run, 6) || source.is_some_and(|s| !digits(s, 5)) {
        return None;
    }
    run.parse().ok()
}

/// The first entry of `dir` that is not an export's own. With a manifest
/// of ours: anything but the manifest (and its temporary file) and `date=`
/// directories holding only part files. Without one, everything but a
/// leftover temporary manifest is another's: a run saves its manifest
/// before it writes its first part, so a directory of ours always has one.
/// `None`: the directory is an export's (or empty).
fn foreign_entry(dir: &Path, has_manifest: bool) -> Result<Option<PathBuf>> {
    for e in fs::read_dir(dir).with_context(|| format!("cannot list {}", dir.display()))? {
        let e = e?;
        let name = e.file_name().to_string_lossy().into_owned();
        let t = e.file_type()?;
        // The manifest and its temporary file are checked where they are
        // used, each with an error naming what is there if not a file.
        if name == MANIFEST || name == format!("{MANIFEST}.tmp") {
            continue;
        }
        if !(has_manifest && t.is_dir() && name.starts_with("date=")) {
            return Ok(Some(e.path()));
        }
        for f in fs::read_dir(e.path())? {
            let f = f?;
            let fname = f.file_name().to_string_lossy().into_owned();
            if !f.file_type()?.is_file() || part_run(&fname).is_none() {
                return Ok(Some(f.path()));
            }
        }
    }
    Ok(None)
}

/// Deletes the part files of the one run that can have been interrupted,
/// number `runs + 1` (the manifest says `runs` were committed, and a run
/// saves the manifest before its first part): only regular files named as
/// its parts, in `date=` directories (not links to directories).
fn remove_unfinished(dir: &Path, runs: u64) -> Result<()> {
    let Ok(entries) = fs::read_dir(dir) else {
        return Ok(());
    };
    for e in entries {
        let e = e?;
        if !e.file_type()?.is_dir() || !e.file_name().to_string_lossy().starts_with("date=") {
            continue;
        }
        for f in fs::read_dir(e.path())? {
            let f = f?;
            let name = f.file_name().to_string_lossy().into_owned();
            let Some(run) = part_run(&name) else { continue };
            if f.file_type()?.is_file() && Some(run) == runs.checked_add(1) {
                fs::remove_file(f.path())?;
            }
        }
    }
    Ok(())
}

/// Creates `path` exclusively (mode 0600), not through a link.
fn create_new(path: &Path) -> Result<File> {
    scout_audit_store_file::fs::open_regular(
        path,
        OpenOptions::new().write(true).create_new(true).mode(0o600),
    )
    .with_context(|| format!("cannot create {}", path.display()))
}

/// Removes a leftover temporary file of ours: only a regular file.
fn remove_own_file(path: &Path) -> Result<()> {
    check_regular_or_absent(path)?;
    match fs::remove_file(path) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
            Err(e).with_context(|| format!("cannot remove {}", path.display()))
        }
        _ => Ok(()),
    }
}

/// Fails, naming `path`, when something other than a regular file is there.
fn check_regular_or_absent(path: &Path) -> Result<()> {
    match fs::symlink_metadata(path) {
        Ok(m) if !m.is_file() => bail!(
            "{} {}; export does not touch what it did not create",
            path.display(),
            scout_audit_store_file::fs::describe_not_regular(path)
                .unwrap_or_else(|| "is not a regular file".to_owned())
        ),
        _ => Ok(()),
    }
}

/// Creates `dir` and its missing parents with mode 0700.
fn create_private_dir(dir: &Path) -> Result<()> {
    fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
        .with_context(|| format!("cannot create {}", dir.display()))
}

/// Exports the records of `store` matching `filter` into `dir`.
pub fn export(store: &dyn ReadStore, filter: &Filter, dir: &Path) -> Result<ExportSummary> {
    export_from(dir, |emit| {
        for r in store.scan(filter)? {
            emit(r?)?;
        }
        Ok(())
    })
}

/// Exports a file store's sources (segments and live file) on `threads`
/// workers, each source into its own part files (`part-RUN-NNNNN.parquet`).
pub fn export_segments(
    dir: &Path,
    inputs: scout_audit_scan::Inputs,
    filter: &Filter,
    threads: usize,
) -> Result<(ExportSummary, scout_audit_core::Skipped)> {
    let run = Run::begin(dir)?;
    let jobs: Vec<(usize, scout_audit_scan::Inputs)> =
        inputs.split().into_iter().enumerate().collect();
    let queue = std::sync::Mutex::new(jobs.into_iter());
    let results = std::sync::Mutex::new(Vec::new());
    std::thread::scope(|sc| {
        for _ in 0..threads.max(1) {
            sc.spawn(|| {
                loop {
                    let job = queue.lock().unwrap_or_else(|p| p.into_inner()).next();
                    let Some((i, ins)) = job else { break };
                    let r = (|| {
                        let mut w = run.writer(&format!("{:06}-{i:05}", run.number));
                        let scan = scout_audit_scan::Scan::new(ins)
                            .threads(Some(1))
                            .filter(filter.clone());
                        let mut failed = None;
                        let report = scan.for_each_record(|rec| match w.add(&rec) {
                            Ok(()) => std::ops::ControlFlow::Continue(()),
                            Err(e) => {
                                failed = Some(e);
                                std::ops::ControlFlow::Break(())
                            }
                        })?;
                        if let Some(e) = failed {
                            return Err(e);
                        }
                        let done = w.finish()?;
                        Ok::<_, anyhow::Error>((done, report.read))
                    })();
                    results.lock().unwrap_or_else(|p| p.into_inner()).push(r);
                }
            });
        }
    });
    let mut total = ExportSummary {
        run: run.number,
        ..ExportSummary::default()
    };
    let mut skipped = scout_audit_core::Skipped::default();
    let mut marks = run.before_marks();
    for r in results.into_inner().unwrap_or_else(|p| p.into_inner()) {
        let (done, read) = r?;
        total.records += done.records;
        total.already += done.already;
        total.files += done.files;
        marks.absorb(&done.marks);
        skipped.count += read.problem_count();
        if skipped.examples.is_empty()
            && let Some(p) = read.problems.first()
        {
            skipped.examples.push(p.to_string());
        }
    }
    run.commit(marks)?;
    Ok((total, skipped))
}

/// Exports the records `feed` hands to its callback.
pub fn export_from(
    dir: &Path,
    feed: impl FnOnce(&mut dyn FnMut(Record) -> Result<()>) -> Result<()>,
) -> Result<ExportSummary> {
    let run = Run::begin(dir)?;
    let mut w = run.writer(&format!("{:06}", run.number));
    feed(&mut |r| w.add(&r))?;
    let done = w.finish()?;
    let mut marks = run.before_marks();
    marks.absorb(&done.marks);
    run.commit(marks)?;
    Ok(ExportSummary {
        records: done.records,
        already: done.already,
        files: done.files,
        run: run.number,
    })
}

/// One export run: what earlier runs exported, and where this one writes.
struct Run {
    dir: PathBuf,
    /// The manifest as earlier runs left it (read-only during the run).
    before: Manifest,
    number: u64,
    schema: Arc<Type>,
    props: Arc<WriterProperties>,
}

/// What one writer of a run wrote.
struct Done {
    records: u64,
    already: u64,
    files: u64,
    marks: Manifest,
}

/// Writes records into part files, one per date partition.
struct Writer<'a> {
    run: &'a Run,
    /// The part file name's distinguishing suffix (run, and source).
    suffix: String,
    /// Per partition: the final path and the open part.
    parts: HashMap<String, (PathBuf, Part)>,
    /// Rows buffered over all partitions.
    buffered: usize,
    marks: Manifest,
    records: u64,
    already: u64,
}

impl Run {
    fn begin(dir: &Path) -> Result<Run> {
        create_private_dir(dir)?;
        check_regular_or_absent(&dir.join(MANIFEST))?;
        let has_manifest = fs::symlink_metadata(dir.join(MANIFEST)).is_ok();
        if let Some(p) = foreign_entry(dir, has_manifest)? {
            if has_manifest {
                bail!(
                    "{} holds {}, which no export makes: refusing to write into it or delete anything in it",
                    dir.display(),
                    p.display()
                );
            }
            bail!(
                "{} is not empty and is not a scout-audit export (no {MANIFEST}; {} is not ours): refusing to write into it or delete anything in it",
                dir.display(),
                p.display()
            );
        }
        let before = Manifest::load(dir)?;
        if !has_manifest {
            // Ours from now on: the manifest exists before the first part,
            // so an interrupted first run leaves a directory of ours.
            before.save(dir)?;
        }
        remove_unfinished(dir, before.runs)?;
        Ok(Run {
            dir: dir.to_path_buf(),
            number: before.runs + 1,
            before,
            schema: Arc::new(parse_message_type(SCHEMA)?),
            props: Arc::new(
                WriterProperties::builder()
                    .set_compression(Compression::SNAPPY)
                    .set_created_by(format!("scout-audit {}", env!("CARGO_PKG_VERSION")))
                    .build(),
            ),
        })
    }

    fn writer(&self, suffix: &str) -> Writer<'_> {
        Writer {
            run: self,
            suffix: suffix.to_owned(),
            parts: HashMap::new(),
            buffered: 0,
            marks: Manifest::default(),
            records: 0,
            already: 0,
        }
    }

    /// A copy of the earlier runs' marks, to absorb this run's into.
    fn before_marks(&self) -> Manifest {
        Manifest {
            runs: self.before.runs,
            sessions: self.before.sessions.clone(),
            writers: self.before.writers.clone(),
            seqless_ts: self.before.seqless_ts,
            undated_seqless_done: self.before.undated_seqless_done,
        }
    }

    /// Records this run as done: its parts are all renamed already.
    fn commit(&self, mut marks: Manifest) -> Result<()> {
        marks.runs = self.number;
        marks.save(&self.dir)
    }
}

impl Writer<'_> {
    fn add(&mut self, r: &Record) -> Result<()> {
        if self.run.before.done(r) {
            self.already += 1;
            return Ok(());
        }
        let date = match r.ts() {
            Some(t) => {
                let (y, m, d, ..) = t.civil();
                format!("{y:04}-{m:02}-{d:02}")
            }
            None => NO_DATE.to_owned(),
        };
        if !self.parts.contains_key(&date) {
            let pdir = self.run.dir.join(format!("date={date}"));
            create_private_dir(&pdir)?;
            // A partition is a directory of ours, never a link elsewhere.
            if !fs::symlink_metadata(&pdir).is_ok_and(|m| m.is_dir()) {
                bail!(
                    "{} {}; export does not write through it",
                    pdir.display(),
                    scout_audit_store_file::fs::describe_not_regular(&pdir)
                        .unwrap_or_else(|| "is not a directory".to_owned())
                );
            }
            let name = format!("part-{}.parquet", self.suffix);
            let tmp = pdir.join(format!("{name}.tmp"));
            let f = create_new(&tmp)?;
            let writer = SerializedFileWriter::new(
                f,
                Arc::clone(&self.run.schema),
                Arc::clone(&self.run.props),
            )?;
            self.parts.insert(
                date.clone(),
                (
                    pdir.join(name),
                    Part {
                        writer,
                        cols: Columns::default(),
                    },
                ),
            );
        }
        let Some((_, part)) = self.parts.get_mut(&date) else {
            bail!("partition {date} vanished");
        };
        part.cols.push(r);
        self.buffered += 1;
        if part.cols.rows >= ROW_GROUP {
            self.buffered -= part.cols.rows;
            part.flush_group()?;
        }
        if self.buffered >= MAX_BUFFERED {
            for (_, p) in self.parts.values_mut() {
                p.flush_group()?;
            }
            self.buffered = 0;
        }
        self.marks.note(r);
        self.records += 1;
        Ok(())
    }

    fn finish(self) -> Result<Done> {
        let mut files = 0;
        for (_, (final_path, mut part)) in self.parts {
            part.flush_group()?;
            let file = part.writer.into_inner()?;
            file.sync_all()?;
            let tmp = final_path.with_extension("parquet.tmp");
            scout_audit_store_file::fs::rename_noreplace(&tmp, &final_path)
                .with_context(|| format!("cannot rename {}", tmp.display()))?;
            files += 1;
        }
        Ok(Done {
            records: self.records,
            already: self.already,
            files,
            marks: self.marks,
        })
    }
}
