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
//! session, the highest `seq` exported, and for records without `seq` (the
//! Python original's) the latest `ts`. A run exports only records beyond
//! those marks, writes its parts under a new run number, and then replaces
//! the manifest atomically; parts of a run that never reached the
//! manifest (an interrupted export) are deleted by the next run before it
//! starts, so an interrupted export is simply redone.

use std::collections::{BTreeMap, HashMap};
use std::fs::{self, File};
use std::io::Write as _;
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
use serde_json::{Map, Value, json};

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
/// Rows per row group.
const ROW_GROUP: usize = 65_536;
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
    let store = cli.open_read(&addr)?;
    let t = std::time::Instant::now();
    let s = export(&*store, &filter, &a.out)?;
    println!(
        "exported {} records into {} files under {} (run {}, {} already exported) in {:.2} s",
        s.records,
        s.files,
        a.out.display(),
        s.run,
        s.already,
        t.elapsed().as_secs_f64()
    );
    let skipped = store.skipped();
    if skipped.count > 0 {
        eprintln!(
            "scout-audit: skipped {} malformed or damaged items (first: {})",
            skipped.count,
            skipped.examples.first().map(String::as_str).unwrap_or("")
        );
    }
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
    /// Per session, the highest seq exported.
    sessions: HashMap<String, u64>,
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
        if v["version"] != 1 {
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
        m.seqless_ts = v["seqless_ts"]
            .as_str()
            .and_then(|t| Timestamp::parse(t).ok());
        m.undated_seqless_done = v["undated_seqless_done"].as_bool().unwrap_or(false);
        Ok(m)
    }

    fn save(&self, dir: &Path) -> Result<()> {
        let sessions: BTreeMap<&String, &u64> = self.sessions.iter().collect();
        let v = json!({
            "version": 1,
            "runs": self.runs,
            "sessions": sessions,
            "seqless_ts": self.seqless_ts.map(|t| t.to_python_string()),
            "undated_seqless_done": self.undated_seqless_done,
        });
        let tmp = dir.join(format!("{MANIFEST}.tmp"));
        let mut f =
            File::create(&tmp).with_context(|| format!("cannot create {}", tmp.display()))?;
        f.write_all(v.to_string().as_bytes())?;
        f.sync_all()?;
        fs::rename(&tmp, dir.join(MANIFEST)).context("cannot replace the export manifest")?;
        File::open(dir)?.sync_all()?;
        Ok(())
    }

    /// Whether an earlier run exported this record.
    fn done(&self, r: &Record) -> bool {
        match (r.session_id(), r.seq()) {
            (Some(s), Some(q)) => self.sessions.get(s).is_some_and(|m| q <= *m),
            _ => match r.ts() {
                Some(t) => self.seqless_ts.is_some_and(|m| t <= m),
                None => self.undated_seqless_done,
            },
        }
    }

    fn note(&mut self, r: &Record) {
        match (r.session_id(), r.seq()) {
            (Some(s), Some(q)) => {
                let e = self.sessions.entry(s.to_owned()).or_insert(q);
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
    fn push(&mut self, r: &Record) {
        let mut extra = Map::new();
        // A known field whose value has another type stays, as written, in extra.
        let mut typed = |key: &str, ok: bool| {
            if !ok && let Some(v) = r.get(key) {
                extra.insert(key.to_owned(), v.clone());
            }
        };
        typed("ts", r.ts().is_some());
        typed("event", r.event().is_some());
        typed("session_id", r.session_id().is_some());
        typed("seq", r.seq().is_some());
        typed(
            "cost",
            r.cost().is_some() || r.get("cost").is_some_and(Value::is_null),
        );
        typed("model", r.model().is_some());
        typed("input_t", r.input_t().is_some());
        typed("output_t", r.output_t().is_some());
        typed("reason", r.reason().is_some());
        typed("confidence", r.confidence().is_some());
        typed("duration_ms", r.duration_ms().is_some());
        for (k, v) in r.fields() {
            if !scout_audit_core::event::RESERVED_FIELDS.contains(&k.as_str()) {
                extra.insert(k.clone(), v.clone());
            }
        }
        self.ts.push(r.ts().map(Timestamp::unix_micros));
        self.event.push(r.event().map(text));
        self.session_id.push(r.session_id().map(text));
        self.seq
            .push(r.seq().map(|n| i64::try_from(n).unwrap_or(i64::MAX)));
        self.cost.push(r.cost());
        self.model.push(r.model().map(text));
        self.input_t
            .push(r.input_t().map(|n| i64::try_from(n).unwrap_or(i64::MAX)));
        self.output_t
            .push(r.output_t().map(|n| i64::try_from(n).unwrap_or(i64::MAX)));
        self.files
            .push(r.get("files").map(|v| text(&v.to_string())));
        self.reason.push(r.reason().map(text));
        self.confidence.push(r.confidence());
        self.duration_ms.push(r.duration_ms());
        self.config.push(r.config().map(|v| text(&v.to_string())));
        self.extra
            .push((!extra.is_empty()).then(|| text(&Value::Object(extra).to_string())));
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

fn part_name(run: u64) -> String {
    format!("part-{run:06}.parquet")
}

/// Deletes part files of runs the manifest does not list (interrupted).
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
            let run = name
                .strip_prefix("part-")
                .and_then(|n| n.strip_suffix(".parquet"))
                .and_then(|n| n.parse::<u64>().ok());
            if run.is_some_and(|r| r > runs) || name.ends_with(".parquet.tmp") {
                fs::remove_file(f.path())?;
            }
        }
    }
    Ok(())
}

/// Exports the records of `store` matching `filter` into `dir`.
pub fn export(store: &dyn ReadStore, filter: &Filter, dir: &Path) -> Result<ExportSummary> {
    fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    // `before` says what earlier runs exported; `after` grows with this run.
    let before = Manifest::load(dir)?;
    remove_unfinished(dir, before.runs)?;
    let mut manifest = Manifest {
        runs: before.runs,
        sessions: before.sessions.clone(),
        seqless_ts: before.seqless_ts,
        undated_seqless_done: before.undated_seqless_done,
    };
    let run = before.runs + 1;
    let schema: Arc<Type> = Arc::new(parse_message_type(SCHEMA)?);
    let props = Arc::new(
        WriterProperties::builder()
            .set_compression(Compression::SNAPPY)
            .set_created_by(format!("scout-audit {}", env!("CARGO_PKG_VERSION")))
            .build(),
    );
    let mut parts: HashMap<String, (PathBuf, Part)> = HashMap::new();
    let mut summary = ExportSummary {
        run,
        ..ExportSummary::default()
    };
    for r in store.scan(filter)? {
        let r = r?;
        if before.done(&r) {
            summary.already += 1;
            continue;
        }
        let date = match r.ts() {
            Some(t) => {
                let (y, m, d, ..) = t.civil();
                format!("{y:04}-{m:02}-{d:02}")
            }
            None => NO_DATE.to_owned(),
        };
        if !parts.contains_key(&date) {
            let pdir = dir.join(format!("date={date}"));
            fs::create_dir_all(&pdir)?;
            let final_path = pdir.join(part_name(run));
            let tmp = pdir.join(format!("{}.tmp", part_name(run)));
            let f =
                File::create(&tmp).with_context(|| format!("cannot create {}", tmp.display()))?;
            let writer = SerializedFileWriter::new(f, Arc::clone(&schema), Arc::clone(&props))?;
            parts.insert(
                date.clone(),
                (
                    final_path,
                    Part {
                        writer,
                        cols: Columns::default(),
                    },
                ),
            );
        }
        let Some((_, part)) = parts.get_mut(&date) else {
            bail!("partition {date} vanished");
        };
        part.cols.push(&r);
        if part.cols.rows >= ROW_GROUP {
            part.flush_group()?;
        }
        manifest.note(&r);
        summary.records += 1;
    }
    for (_, (final_path, mut part)) in parts {
        part.flush_group()?;
        let file = part.writer.into_inner()?;
        file.sync_all()?;
        let tmp = final_path.with_extension("parquet.tmp");
        fs::rename(&tmp, &final_path)?;
        summary.files += 1;
    }
    manifest.runs = run;
    manifest.save(dir)?;
    Ok(summary)
}
