//! scout-audit-store-sqlite: a scout-audit backend on SQLite (the bundled
//! library), for programs that already keep their state in SQLite or want
//! indexed queries without a server.
//!
//! - [`SqliteStore`]: a [`Sink`] (through [`BatchingSink`]: the same `seq`,
//!   durability levels, group commit and poisoning as every table backend)
//!   and a [`ReadStore`] whose filters run as SQL `WHERE` clauses on
//!   indexed columns.
//! - [`Builder`]: where and how.
//!
//! One table, `events`: typed columns for what queries filter on, and the
//! record's exact JSON line, so a record reads back exactly as the file
//! store would return it (extras and field order kept). See docs/sqlite.md
//! for the schema and the durability mapping.
//!
//! ```
//! use scout_audit_core::{Event, Filter, ReadStore, Sink};
//! use scout_audit_store_sqlite::SqliteStore;
//! # let dir = tempfile::tempdir().unwrap();
//! let store = SqliteStore::open(dir.path().join("audit.db"))?;
//! store.log(Event::new("nav").cost(0.5).model("m1"))?;
//! store.log(Event::new("validation_fail"))?;
//! assert_eq!(store.count(&Filter::new().event("nav"))?, 1);
//! assert_eq!(store.accuracy(&Filter::new())?.accuracy_pct, 0.0);
//! store.close()?;
//! # Ok::<(), scout_audit_core::Error>(())
//! ```

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rusqlite::types::Value as SqlValue;
use rusqlite::{Connection, OpenFlags, OptionalExtension, params_from_iter};
use scout_audit_core::agg::{EventCounts, GroupBy, SpendBy};
use scout_audit_core::batching::{Backend, BatchingOptions, BatchingSink, Row};
use scout_audit_core::read::keyset_pages;
use scout_audit_core::record::seq_key_range;
use scout_audit_core::{
    Clock, Decoded, Durability, Error, Event, Filter, ReadStore, Receipt, Record, RecordStream,
    SessionId, Sink, Timestamp, Watermark, decode_line,
};

/// The schema, created on open if missing. Version 2: content keys
/// (`Record::dedup_key`); a version 1 table (keys of session and seq only,
/// or FNV hashes) is migrated on open ([`migrate_keys`]).
const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS events (
    id         INTEGER PRIMARY KEY,   -- log order
    ts_us      INTEGER,               -- ts as microseconds since the epoch (NULL: no valid ts)
    ts_sub     INTEGER,               -- nanoseconds below the microsecond (0..999)
    event      TEXT,
    session_id TEXT,
    seq        INTEGER,
    cost       REAL,
    model      TEXT,
    input_t    INTEGER,
    output_t   INTEGER,
    dedup_key  TEXT NOT NULL UNIQUE,  -- Record::dedup_key: session_id, seq and a digest of the line
    record     TEXT NOT NULL          -- the record's exact JSON line
);
CREATE INDEX IF NOT EXISTS events_ts ON events (ts_us, ts_sub);
CREATE INDEX IF NOT EXISTS events_event_ts ON events (event, ts_us, ts_sub);
CREATE TABLE IF NOT EXISTS scout_audit_meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
INSERT OR IGNORE INTO scout_audit_meta (key, value) VALUES ('schema_version', '2');
";

/// The schema version this code writes.
const SCHEMA_VERSION: &str = "2";

/// Rows re-keyed per statement batch by [`migrate_keys`].
const MIGRATE_BATCH: i64 = 4096;

/// Records read per query page (keyset pagination keeps memory bounded).
const PAGE: i64 = 4096;

/// Builds a [`SqliteStore`].
#[derive(Debug)]
pub struct Builder {
    path: PathBuf,
    opts: BatchingOptions,
}

impl Builder {
    /// The level `log` acknowledges at (default `Process`).
    pub fn durability(mut self, d: Durability) -> Self {
        self.opts.durability = d;
        self
    }

    /// The sync policy on top of `Process`: every `rows` rows (0: none) or
    /// `interval` (default: the Python original's 10 rows / 1 s).
    pub fn sync_policy(mut self, rows: u64, interval: Option<Duration>) -> Self {
        self.opts.sync_every_rows = rows;
        self.opts.sync_interval = interval;
        self
    }

    /// `Buffered`: the longest an event waits in memory (default 50 ms).
    pub fn max_delay(mut self, d: Duration) -> Self {
        self.opts.max_delay = d;
        self
    }

    /// The writer session (default: this process's).
    /// Its records are stamped with this writer's `writer` id, since
    /// another process may write under the same session id.
    pub fn session(mut self, s: SessionId) -> Self {
        self.opts.session = s;
        self.opts.session_given = true;
        self
    }

    /// The clock for `ts`.
    pub fn clock(mut self, c: Arc<dyn Clock>) -> Self {
        self.opts.clock = c;
        self
    }

    /// Opens (creating) the database and its schema, in WAL mode. A new
    /// database file is created with mode 0600 (its `-wal`, `-shm` and
    /// `-journal` files take the database's mode) in directories created
    /// with mode 0700; the database is never opened through a symbolic
    /// link at its own name (its directory's path may hold links).
    pub fn open(self) -> Result<SqliteStore, Error> {
        if let Some(dir) = self.path.parent().filter(|d| !d.as_os_str().is_empty()) {
            use std::os::unix::fs::DirBuilderExt;
            std::fs::DirBuilder::new()
                .recursive(true)
                .mode(0o700)
                .create(dir)
                .map_err(|e| Error::Io {
                    op: "create directory",
                    path: dir.to_path_buf(),
                    source: e,
                })?;
        }
        let db = resolve(&self.path)?;
        {
            use std::os::unix::fs::OpenOptionsExt;
            // Exclusively: a link or file already there is not written
            // through (SQLite then refuses a link itself).
            match std::fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .mode(0o600)
                .open(&db)
            {
                Ok(_) => {}
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
                Err(e) => {
                    return Err(Error::Io {
                        op: "create",
                        path: self.path.clone(),
                        source: e,
                    });
                }
            }
        }
        check_regular(&self.path, &db)?;
        check_side_files(&self.path, &db)?;
        let conn = open_conn(&db, false)?;
        let sync = match self.opts.durability {
            Durability::Sync => "FULL",
            _ => "NORMAL",
        };
        let setup = format!(
            "PRAGMA journal_mode=WAL; PRAGMA synchronous={sync}; PRAGMA busy_timeout=10000; {SCHEMA}"
        );
        retry_deadlock(|| conn.execute_batch(&setup)).map_err(|e| sql_err(&self.path, e))?;
        migrate_keys(&conn, &self.path)?;
        let mut writer = Writer {
            conn,
            path: self.path.clone(),
        };
        let db_path = db;
        // A session that wrote here before (a reopen) continues its seq.
        let next_seq = writer.last_seq(&self.opts.session)?.map_or(0, |s| s + 1);
        let sink = BatchingSink::new(writer, self.opts, next_seq);
        Ok(SqliteStore {
            path: self.path,
            db: db_path,
            sink,
            readers: Mutex::new(Vec::new()),
        })
    }
}

/// `path` with its directory's symbolic links resolved (they are the
/// user's: `~/.scout -> /data/scout`), and its own name kept as it is, so
/// that `SQLITE_OPEN_NOFOLLOW` refuses only a link at the database's name.
fn resolve(path: &Path) -> Result<PathBuf, Error> {
    let name = path.file_name().ok_or_else(|| Error::Io {
        op: "open",
        path: path.to_path_buf(),
        source: std::io::Error::new(std::io::ErrorKind::InvalidInput, "no file name"),
    })?;
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    let dir = std::fs::canonicalize(dir).map_err(|e| Error::Io {
        op: "resolve",
        path: dir.to_path_buf(),
        source: e,
    })?;
    Ok(dir.join(name))
}

/// Refuses a database file that is a symbolic link or not a regular file,
/// naming it (`shown`, as the user gave it).
fn check_regular(shown: &Path, db: &Path) -> Result<(), Error> {
    let m = match std::fs::symlink_metadata(db) {
        Ok(m) => m,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(e) => {
            return Err(Error::Io {
                op: "stat",
                path: shown.to_path_buf(),
                source: e,
            });
        }
    };
    let what = if m.file_type().is_symlink() {
        match std::fs::read_link(db) {
            Ok(to) => format!("is a symbolic link to {} (not followed)", to.display()),
            Err(_) => "is a symbolic link (not followed)".to_owned(),
        }
    } else if !m.is_file() {
        "is not a regular file".to_owned()
    } else {
        return Ok(());
    };
    Err(Error::Io {
        op: "open",
        path: shown.to_path_buf(),
        source: std::io::Error::new(std::io::ErrorKind::InvalidInput, what),
    })
}

/// SQLite's own files beside the database (`-wal`, `-shm`, `-journal`)
/// are opened by SQLite itself, following links: anything there that is
/// not a regular file is refused before SQLite sees it, naming it. A
/// regular one is SQLite's (a crash's hot journal) and left to it.
fn check_side_files(shown: &Path, db: &Path) -> Result<(), Error> {
    for suffix in ["-wal", "-shm", "-journal"] {
        let with = |p: &Path| {
            let mut s = p.as_os_str().to_owned();
            s.push(suffix);
            PathBuf::from(s)
        };
        check_regular(&with(shown), &with(db))?;
    }
    Ok(())
}

/// Brings a table written before content keys (schema version 1) to
/// version 2: each row's `dedup_key` is recomputed from its stored record
/// (`Record::dedup_key`), in batches, in one `IMMEDIATE` transaction (it
/// takes SQLite's write lock first, so a concurrent opener waits and then
/// finds version 2: it migrates nothing). Idempotent; a newer version is
/// refused. Without it, copying a store again after the upgrade would
/// insert every record a second time under its new key.
fn migrate_keys(conn: &Connection, path: &Path) -> Result<u64, Error> {
    let version = |c: &Connection| {
        c.query_row(
            "SELECT value FROM scout_audit_meta WHERE key = 'schema_version'",
            [],
            |r| r.get::<_, String>(0),
        )
        .optional()
        .map_err(|e| sql_err(path, e))
    };
    if version(conn)?.as_deref() == Some(SCHEMA_VERSION) {
        return Ok(0);
    }
    conn.execute_batch("BEGIN IMMEDIATE")
        .map_err(|e| sql_err(path, e))?;
    let r = (|| {
        match version(conn)?.as_deref() {
            Some(SCHEMA_VERSION) => return Ok(0),
            Some("1") | None => {}
            Some(v) => {
                return Err(Error::Backend(
                    format!(
                        "sqlite {}: schema version {v} is newer than this program's ({SCHEMA_VERSION})",
                        path.display()
                    )
                    .into(),
                ));
            }
        }
        let mut done = 0u64;
        let mut after = i64::MIN;
        loop {
            let page: Vec<(i64, String)> = {
                let mut st = conn
                    .prepare_cached(
                        "SELECT id, record FROM events WHERE id > ?1 ORDER BY id LIMIT ?2",
                    )
                    .map_err(|e| sql_err(path, e))?;
                st.query_map([after, MIGRATE_BATCH], |r| Ok((r.get(0)?, r.get(1)?)))
                    .map_err(|e| sql_err(path, e))?
                    .collect::<Result<_, _>>()
                    .map_err(|e| sql_err(path, e))?
            };
            let Some(last) = page.last() else { break };
            after = last.0;
            let mut up = conn
                .prepare_cached("UPDATE events SET dedup_key = ?1 WHERE id = ?2")
                .map_err(|e| sql_err(path, e))?;
            for (id, line) in &page {
                let key = migrated_key(path, *id, line)?;
                up.execute(rusqlite::params![key, id])
                    .map_err(|e| sql_err(path, e))?;
                done += 1;
            }
        }
        conn.execute(
            "INSERT OR REPLACE INTO scout_audit_meta (key, value) VALUES ('schema_version', ?1)",
            [SCHEMA_VERSION],
        )
        .map_err(|e| sql_err(path, e))?;
        Ok(done)
    })();
    match r {
        Ok(n) => {
            conn.execute_batch("COMMIT").map_err(|e| sql_err(path, e))?;
            Ok(n)
        }
        Err(e) => {
            let _ = conn.execute_batch("ROLLBACK");
            Err(e)
        }
    }
}

/// The new key of a stored row: its record's `dedup_key`.
fn migrated_key(path: &Path, id: i64, line: &str) -> Result<String, Error> {
    match decode_line(line.as_bytes()) {
        Decoded::Record(r) => Ok(r.dedup_key()),
        _ => Err(Error::Backend(
            format!(
                "sqlite {}: row {id}: the stored record is not a JSON object; cannot compute its key",
                path.display()
            )
            .into(),
        )),
    }
}

fn open_conn(path: &Path, read_only: bool) -> Result<Connection, Error> {
    let flags = if read_only {
        OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX
    } else {
        OpenFlags::SQLITE_OPEN_READ_WRITE
            | OpenFlags::SQLITE_OPEN_CREATE
            | OpenFlags::SQLITE_OPEN_NO_MUTEX
    } | OpenFlags::SQLITE_OPEN_NOFOLLOW;
    let c = Connection::open_with_flags(path, flags).map_err(|e| sql_err(path, e))?;
    c.busy_timeout(Duration::from_secs(10))
        .map_err(|e| sql_err(path, e))?;
    Ok(c)
}

/// How long an opener retries a step SQLite refused as a deadlock: the
/// busy timeout every connection has.
const DEADLOCK_RETRY: Duration = Duration::from_secs(10);

/// Runs `step` again while SQLite answers "database is locked" at once, up
/// to [`DEADLOCK_RETRY`]. Switching a database in rollback mode (one the
/// Python original or an older version made) to WAL takes the exclusive
/// lock from a shared one; when two openers do it at once SQLite sees a
/// deadlock and refuses one of them without calling the busy handler, so
/// `busy_timeout` does not help. Every step retried is idempotent (the
/// pragmas, `CREATE ... IF NOT EXISTS`, `INSERT OR IGNORE`).
fn retry_deadlock<T>(mut step: impl FnMut() -> rusqlite::Result<T>) -> rusqlite::Result<T> {
    let start = std::time::Instant::now();
    loop {
        match step() {
            Err(rusqlite::Error::SqliteFailure(e, _))
                if matches!(
                    e.code,
                    rusqlite::ErrorCode::DatabaseBusy | rusqlite::ErrorCode::DatabaseLocked
                ) && start.elapsed() < DEADLOCK_RETRY =>
            {
                std::thread::sleep(Duration::from_millis(5));
            }
            r => return r,
        }
    }
}

fn sql_err(path: &Path, e: rusqlite::Error) -> Error {
    Error::Backend(format!("sqlite {}: {e}", path.display()).into())
}

/// The writing connection.
struct Writer {
    conn: Connection,
    path: PathBuf,
}

fn ts_parts(ts: Option<Timestamp>) -> (Option<i64>, Option<i64>) {
    match ts {
        Some(t) => (
            Some(t.unix_micros()),
            Some(i64::from(t.subsec_nanos() % 1000)),
        ),
        None => (None, None),
    }
}

fn opt_u64(v: Option<u64>) -> Option<i64> {
    v.map(|n| i64::try_from(n).unwrap_or(i64::MAX))
}

impl Backend for Writer {
    fn last_seq(&mut self, session: &SessionId) -> Result<Option<u64>, Error> {
        // One probe of the unique index from the top of the session's key
        // range, skipping other sessions' keys inside it (seq_key_range).
        let (lo, hi) = seq_key_range(session.as_str());
        let last: Option<i64> = self
            .conn
            .query_row(
                "SELECT seq FROM events WHERE dedup_key BETWEEN ?1 AND ?2 AND session_id = ?3 \
                 ORDER BY dedup_key DESC LIMIT 1",
                [lo.as_str(), hi.as_str(), session.as_str()],
                |r| r.get(0),
            )
            .optional()
            .map_err(|e| sql_err(&self.path, e))?;
        Ok(last.and_then(|m| u64::try_from(m).ok()))
    }

    fn commit(&mut self, rows: &[Row], _sync: bool) -> Result<u64, Error> {
        // synchronous=FULL (Sync) or NORMAL was set at open: in WAL mode
        // FULL fsyncs the WAL at each commit, NORMAL writes it to the kernel.
        let path = self.path.clone();
        let tx = self.conn.transaction().map_err(|e| sql_err(&path, e))?;
        let mut inserted = 0u64;
        {
            let mut st = tx
                .prepare_cached(
                    "INSERT OR IGNORE INTO events (ts_us, ts_sub, event, session_id, seq, cost, model, \
                     input_t, output_t, dedup_key, record) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)",
                )
                .map_err(|e| sql_err(&path, e))?;
            for r in rows {
                let (us, sub) = ts_parts(r.ts);
                let n = st
                    .execute(rusqlite::params![
                        us,
                        sub,
                        r.event,
                        r.session_id,
                        opt_u64(r.seq),
                        r.cost,
                        r.model,
                        opt_u64(r.input_t),
                        opt_u64(r.output_t),
                        r.dedup_key,
                        r.line,
                    ])
                    .map_err(|e| sql_err(&path, e))?;
                inserted += n as u64;
            }
        }
        tx.commit().map_err(|e| sql_err(&path, e))?;
        Ok(inserted)
    }

    fn sync(&mut self) -> Result<(), Error> {
        // In WAL mode the WAL is fsync'd before a checkpoint runs.
        self.conn
            .query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |_| Ok(()))
            .map_err(|e| sql_err(&self.path, e))
    }
}

/// The SQLite backend: a [`Sink`] and a [`ReadStore`].
#[derive(Debug)]
pub struct SqliteStore {
    path: PathBuf,
    /// `path` with its directory's links resolved (what is opened).
    db: PathBuf,
    sink: BatchingSink<Writer>,
    /// Idle read connections (WAL lets them read while the writer writes).
    readers: Mutex<Vec<Connection>>,
}

impl std::fmt::Debug for Writer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Writer({})", self.path.display())
    }
}

impl SqliteStore {
    /// Opens the database at `path` with the default settings.
    pub fn open(path: impl AsRef<Path>) -> Result<SqliteStore, Error> {
        SqliteStore::builder(path).open()
    }

    /// A builder for the database at `path`.
    pub fn builder(path: impl AsRef<Path>) -> Builder {
        Builder {
            path: path.as_ref().to_path_buf(),
            opts: BatchingOptions::default(),
        }
    }

    /// The database file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    fn with_reader<T>(&self, f: impl FnOnce(&Connection) -> Result<T, Error>) -> Result<T, Error> {
        let conn = match scout_audit_core::writer::lock_ignoring_poison(&self.readers).pop() {
            Some(c) => c,
            None => {
                check_side_files(&self.path, &self.db)?;
                open_conn(&self.db, true)?
            }
        };
        let r = f(&conn);
        scout_audit_core::writer::lock_ignoring_poison(&self.readers).push(conn);
        r
    }
}

/// A `WHERE` clause and its parameters for a filter.
fn where_clause(f: &Filter) -> (String, Vec<SqlValue>) {
    let mut sql = String::from("1=1");
    let mut params = Vec::new();
    if let Some(t) = f.since_bound() {
        params.push(SqlValue::Integer(t.unix_micros()));
        params.push(SqlValue::Integer(i64::from(t.subsec_nanos() % 1000)));
        sql.push_str(&format!(
            " AND (ts_us, ts_sub) >= (?{}, ?{})",
            params.len() - 1,
            params.len()
        ));
    }
    if let Some(t) = f.until_bound() {
        params.push(SqlValue::Integer(t.unix_micros()));
        params.push(SqlValue::Integer(i64::from(t.subsec_nanos() % 1000)));
        sql.push_str(&format!(
            " AND (ts_us, ts_sub) < (?{}, ?{})",
            params.len() - 1,
            params.len()
        ));
    }
    if !f.events().is_empty() {
        let mut marks = Vec::new();
        for e in f.events() {
            params.push(SqlValue::Text(e.clone()));
            marks.push(format!("?{}", params.len()));
        }
        sql.push_str(&format!(" AND event IN ({})", marks.join(", ")));
    }
    if let Some(s) = f.session_id() {
        params.push(SqlValue::Text(s.to_owned()));
        sql.push_str(&format!(" AND session_id = ?{}", params.len()));
    }
    if let Some(m) = f.model_name() {
        params.push(SqlValue::Text(m.to_owned()));
        sql.push_str(&format!(" AND model = ?{}", params.len()));
    }
    (sql, params)
}

fn record_of(path: &Path, line: &str) -> Result<Record, Error> {
    match decode_line(line.as_bytes()) {
        Decoded::Record(r) => Ok(r),
        other => Err(Error::Backend(
            format!(
                "sqlite {}: a stored record does not decode: {other:?}",
                path.display()
            )
            .into(),
        )),
    }
}

fn ts_of(us: Option<i64>, sub: Option<i64>) -> Option<Timestamp> {
    let us = us?;
    let t = Timestamp::from_unix_micros(us);
    Timestamp::from_unix(
        t.unix_secs(),
        t.subsec_nanos() + u32::try_from(sub.unwrap_or(0)).unwrap_or(0),
    )
}

impl ReadStore for SqliteStore {
    fn scan(&self, filter: &Filter) -> Result<RecordStream<'_>, Error> {
        let (w, params) = where_clause(filter);
        let n = params.len();
        let sql = format!(
            "SELECT id, record FROM events WHERE {w} AND id > ?{} ORDER BY id LIMIT ?{}",
            n + 1,
            n + 2
        );
        Ok(keyset_pages(PAGE, move |after, limit| {
            self.with_reader(|c| {
                let mut st = c.prepare_cached(&sql).map_err(|e| sql_err(&self.path, e))?;
                let mut page = params.clone();
                page.push(SqlValue::Integer(after));
                page.push(SqlValue::Integer(limit));
                let rows = st
                    .query_map(params_from_iter(page), |r| {
                        Ok((r.get::<_, i64>(0)?, r.get::<_, String>(1)?))
                    })
                    .map_err(|e| sql_err(&self.path, e))?;
                let mut out = Vec::new();
                for row in rows {
                    let (id, line) = row.map_err(|e| sql_err(&self.path, e))?;
                    out.push((id, record_of(&self.path, &line)?));
                }
                Ok(out)
            })
        }))
    }

    fn count(&self, filter: &Filter) -> Result<u64, Error> {
        let (w, params) = where_clause(filter);
        self.with_reader(|c| {
            c.query_row(
                &format!("SELECT count(*) FROM events WHERE {w}"),
                params_from_iter(params),
                |r| r.get::<_, i64>(0),
            )
            .map(|n| u64::try_from(n).unwrap_or(0))
            .map_err(|e| sql_err(&self.path, e))
        })
    }

    fn spend(&self, filter: &Filter, by: Option<GroupBy>) -> Result<SpendBy, Error> {
        let (w, params) = where_clause(filter);
        let mut s = by.map_or_else(SpendBy::ungrouped, SpendBy::new);
        self.with_reader(|c| {
            let mut st = c
                .prepare(&format!(
                    "SELECT ts_us, ts_sub, model, session_id, cost, input_t, output_t FROM events WHERE {w}"
                ))
                .map_err(|e| sql_err(&self.path, e))?;
            let mut rows = st.query(params_from_iter(params)).map_err(|e| sql_err(&self.path, e))?;
            while let Some(r) = rows.next().map_err(|e| sql_err(&self.path, e))? {
                let get = |i: usize| r.get::<_, Option<i64>>(i);
                let ts = ts_of(get(0).ok().flatten(), get(1).ok().flatten());
                let model: Option<String> = r.get(2).ok().flatten();
                let session: Option<String> = r.get(3).ok().flatten();
                let cost: Option<f64> = r.get(4).ok().flatten();
                let it = get(5).ok().flatten().and_then(|n| u64::try_from(n).ok());
                let ot = get(6).ok().flatten().and_then(|n| u64::try_from(n).ok());
                s.add_parts(ts, model.as_deref(), session.as_deref(), cost, it, ot);
            }
            Ok(())
        })?;
        Ok(s)
    }

    fn event_counts(&self, filter: &Filter) -> Result<EventCounts, Error> {
        let (w, params) = where_clause(filter);
        let mut c = EventCounts::default();
        self.with_reader(|conn| {
            let mut st = conn
                .prepare(&format!(
                    "SELECT event, count(*) FROM events WHERE {w} GROUP BY event"
                ))
                .map_err(|e| sql_err(&self.path, e))?;
            let mut rows = st
                .query(params_from_iter(params))
                .map_err(|e| sql_err(&self.path, e))?;
            while let Some(r) = rows.next().map_err(|e| sql_err(&self.path, e))? {
                let e: Option<String> = r.get(0).map_err(|e| sql_err(&self.path, e))?;
                let n: i64 = r.get(1).map_err(|e| sql_err(&self.path, e))?;
                c.add_n(e.as_deref(), u64::try_from(n).unwrap_or(0));
            }
            Ok(())
        })?;
        Ok(c)
    }

    fn last(&self, filter: &Filter, n: usize) -> Result<Vec<Record>, Error> {
        let (w, mut params) = where_clause(filter);
        params.push(SqlValue::Integer(i64::try_from(n).unwrap_or(i64::MAX)));
        let sql = format!(
            "SELECT record FROM events WHERE {w} ORDER BY id DESC LIMIT ?{}",
            params.len()
        );
        let mut out = self.with_reader(|c| {
            let mut st = c.prepare(&sql).map_err(|e| sql_err(&self.path, e))?;
            let rows = st
                .query_map(params_from_iter(params), |r| r.get::<_, String>(0))
                .map_err(|e| sql_err(&self.path, e))?;
            let mut out = Vec::new();
            for line in rows {
                let line = line.map_err(|e| sql_err(&self.path, e))?;
                out.push(record_of(&self.path, &line)?);
            }
            Ok(out)
        })?;
        out.reverse();
        Ok(out)
    }
}

impl Sink for SqliteStore {
    fn log(&self, event: Event) -> Result<Receipt, Error> {
        self.sink.log(event)
    }
    fn log_batch(&self, events: Vec<Event>) -> Result<Vec<Receipt>, Error> {
        self.sink.log_batch(events)
    }
    fn import(&self, records: Vec<Record>) -> Result<u64, Error> {
        self.sink.import(records)
    }
    fn flush(&self) -> Result<(), Error> {
        self.sink.flush()
    }
    fn close(&self) -> Result<(), Error> {
        self.sink.close()
    }
    fn durability(&self) -> Durability {
        self.sink.durability()
    }
    fn session(&self) -> SessionId {
        self.sink.session()
    }
    fn watermark(&self) -> Watermark {
        self.sink.watermark()
    }
}
