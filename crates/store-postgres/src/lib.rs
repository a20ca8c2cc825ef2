//! scout-audit-store-postgres: a scout-audit backend on PostgreSQL, for
//! teams that already run one and want the log beside their data.
//!
//! - [`PgStore`]: a [`Sink`] (through [`BatchingSink`]: one `seq`, the
//!   durability levels, group commit, poisoning, exactly as every table
//!   backend) and a [`ReadStore`] whose filters run as SQL `WHERE` clauses.
//! - [`Builder`]: the connection URL and settings.
//!
//! One table, `scout_audit_events`, partitioned by month on the event time
//! (so retention drops whole partitions), with typed columns for what
//! queries filter on and the record's exact JSON line. Batches are one
//! multi-row `INSERT … SELECT FROM unnest(…)` per transaction, acknowledged
//! after `COMMIT`; a batch whose connection was lost is retried on a new
//! connection, and `ON CONFLICT (dedup_key, ts_us) DO NOTHING` makes the
//! retry idempotent (no duplicates). See docs/postgres.md.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use postgres::types::ToSql;
use postgres::{Client, NoTls};
use scout_audit_core::agg::{EventCounts, GroupBy, SpendBy};
use scout_audit_core::batching::{Backend, BatchingOptions, BatchingSink, Row};
use scout_audit_core::read::keyset_pages;
use scout_audit_core::record::seq_key_range;
use scout_audit_core::{
    Clock, Decoded, Durability, Error, Event, Filter, ReadStore, Receipt, Record, RecordStream,
    SessionId, Sink, Timestamp, Watermark, decode_line,
};

/// The partition key of a record without a valid `ts`: it lands in the
/// default partition, which no month covers.
const UNDATED: i64 = i64::MIN;

/// Records read per query page.
const PAGE: i64 = 4096;

/// How often a batch is retried after its connection was lost.
const RETRIES: usize = 3;

/// The schema, created on open if missing. Version 2 (content keys,
/// `Record::dedup_key`; `scout_audit_meta.schema_version`): a version 1
/// table is migrated on open ([`migrate_keys`]).
const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS scout_audit_events (
    id         bigserial,
    ts_us      bigint  NOT NULL,   -- ts in microseconds since the epoch; UNDATED without a valid ts
    ts_sub     integer NOT NULL,   -- nanoseconds below the microsecond
    has_ts     boolean NOT NULL,
    event      text,
    session_id text,
    seq        bigint,
    cost       double precision,
    model      text,
    input_t    bigint,
    output_t   bigint,
    dedup_key  text    NOT NULL,   -- Record::dedup_key: session_id, seq and a digest of the line
    record     text    NOT NULL,   -- the record's exact JSON line
    UNIQUE (dedup_key, ts_us)
) PARTITION BY RANGE (ts_us);
CREATE TABLE IF NOT EXISTS scout_audit_events_undated PARTITION OF scout_audit_events DEFAULT;
CREATE INDEX IF NOT EXISTS scout_audit_events_id ON scout_audit_events (id);
CREATE INDEX IF NOT EXISTS scout_audit_events_ts ON scout_audit_events (ts_us, ts_sub);
CREATE INDEX IF NOT EXISTS scout_audit_events_event ON scout_audit_events (event);
CREATE TABLE IF NOT EXISTS scout_audit_meta (key text PRIMARY KEY, value text NOT NULL);
";

/// The schema version this code writes.
const SCHEMA_VERSION: &str = "2";

/// Rows re-keyed per statement by [`migrate_keys`].
const MIGRATE_BATCH: i64 = 4096;

/// The advisory lock key openers take around the schema version check and
/// migration ("scoutaud" in ASCII).
const MIGRATE_LOCK: i64 = 0x7363_6f75_7461_7564;

/// Brings a table written before content keys (no `scout_audit_meta` row:
/// schema version 1) to version 2: each row's `dedup_key` is recomputed
/// from its stored record (`Record::dedup_key`), in batches of
/// [`MIGRATE_BATCH`], in one transaction under a transaction-level
/// advisory lock, so concurrent openers migrate one after the other and
/// the second finds version 2 and does nothing. Idempotent; a newer version
/// is refused. Without it, copying a store again after the upgrade would
/// insert every record a second time under its new key.
fn migrate_keys(client: &mut Client) -> Result<u64, Error> {
    let mut tx = client
        .transaction()
        .map_err(|e| pg_err("begin the schema migration", e))?;
    tx.execute("SELECT pg_advisory_xact_lock($1)", &[&MIGRATE_LOCK])
        .map_err(|e| pg_err("lock the schema migration", e))?;
    let version: Option<String> = tx
        .query_opt(
            "SELECT value FROM scout_audit_meta WHERE key = 'schema_version'",
            &[],
        )
        .map_err(|e| pg_err("read the schema version", e))?
        .map(|r| r.get(0));
    match version.as_deref() {
        Some(SCHEMA_VERSION) => return Ok(0),
        Some("1") | None => {}
        Some(v) => {
            return Err(Error::Backend(
                format!(
                    "postgres: schema version {v} is newer than this program's ({SCHEMA_VERSION})"
                )
                .into(),
            ));
        }
    }
    let mut done = 0u64;
    let mut after = i64::MIN;
    loop {
        let rows = tx
            .query(
                "SELECT id, record FROM scout_audit_events WHERE id > $1 ORDER BY id LIMIT $2",
                &[&after, &MIGRATE_BATCH],
            )
            .map_err(|e| pg_err("read rows to migrate", e))?;
        let Some(last) = rows.last() else { break };
        after = last.get(0);
        let mut ids = Vec::with_capacity(rows.len());
        let mut keys = Vec::with_capacity(rows.len());
        for r in &rows {
            let id: i64 = r.get(0);
            let line: String = r.get(1);
            let key = match decode_line(line.as_bytes()) {
                Decoded::Record(rec) => rec.dedup_key(),
                _ => {
                    return Err(Error::Backend(
                        format!(
                            "postgres: scout_audit_events row {id}: the stored record is not a JSON object; cannot compute its key"
                        )
                        .into(),
                    ));
                }
            };
            ids.push(id);
            keys.push(key);
        }
        tx.execute(
            "UPDATE scout_audit_events AS t SET dedup_key = u.k \
             FROM unnest($1::bigint[], $2::text[]) AS u(id, k) WHERE t.id = u.id",
            &[&ids, &keys],
        )
        .map_err(|e| pg_err("migrate keys", e))?;
        done += ids.len() as u64;
    }
    tx.execute(
        "INSERT INTO scout_audit_meta (key, value) VALUES ('schema_version', $1) \
         ON CONFLICT (key) DO UPDATE SET value = excluded.value",
        &[&SCHEMA_VERSION],
    )
    .map_err(|e| pg_err("write the schema version", e))?;
    tx.commit()
        .map_err(|e| pg_err("commit the schema migration", e))?;
    Ok(done)
}

/// The batch insert: one statement, autocommitted (one round trip).
const INSERT: &str = "INSERT INTO scout_audit_events (ts_us, ts_sub, has_ts, event, session_id, seq, cost, model, \
     input_t, output_t, dedup_key, record) \
     SELECT * FROM unnest($1::bigint[], $2::int[], $3::bool[], $4::text[], $5::text[], $6::bigint[], \
     $7::float8[], $8::text[], $9::bigint[], $10::bigint[], $11::text[], $12::text[]) \
     ON CONFLICT (dedup_key, ts_us) DO NOTHING";

fn pg_err(what: &str, e: postgres::Error) -> Error {
    let detail = match e.as_db_error() {
        Some(db) => format!("{} ({}: {})", e, db.code().code(), db.message()),
        None => match std::error::Error::source(&e) {
            Some(src) => format!("{e}: {src}"),
            None => e.to_string(),
        },
    };
    Error::Backend(format!("postgres: {what}: {detail}").into())
}

/// Whether an error means the connection is gone (closed, or the server
/// ended the session: SQLSTATE class 08 or 57P0x).
fn connection_lost(client: &Client, e: &postgres::Error) -> bool {
    if client.is_closed() || e.is_closed() {
        return true;
    }
    e.code().is_some_and(|c| {
        let c = c.code();
        c.starts_with("08") || c.starts_with("57P0")
    })
}

/// Builds a [`PgStore`].
pub struct Builder {
    url: String,
    opts: BatchingOptions,
}

impl std::fmt::Debug for Builder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Builder")
            .field("url", &redact(&self.url))
            .field("opts", &self.opts)
            .finish()
    }
}

impl Builder {
    /// The level `log` acknowledges at (default `Process`).
    pub fn durability(mut self, d: Durability) -> Self {
        self.opts.durability = d;
        self
    }

    /// The sync policy on top of `Process` (default 10 rows / 1 s).
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

    /// Connects, creates the schema if missing, and opens the writer.
    pub fn open(self) -> Result<PgStore, Error> {
        let mut client = connect(&self.url)?;
        client
            .batch_execute(SCHEMA)
            .or_else(|e| {
                // Two processes creating the schema at once: the loser's
                // IF NOT EXISTS can still fail; the schema exists then.
                client.batch_execute(SCHEMA).map_err(|_| e)
            })
            .map_err(|e| pg_err("create schema", e))?;
        migrate_keys(&mut client)?;
        let mut writer = Writer::new(
            self.url.clone(),
            client,
            self.opts.durability == Durability::Sync,
        )?;
        // A session that wrote here before (a reopen) continues its seq.
        let next_seq = writer.last_seq(&self.opts.session)?.map_or(0, |s| s + 1);
        let sink = BatchingSink::new(writer, self.opts, next_seq);
        Ok(PgStore {
            url: self.url,
            sink,
            reader: Mutex::new(None),
        })
    }
}

fn connect(url: &str) -> Result<Client, Error> {
    Client::connect(url, NoTls).map_err(|e| pg_err(&format!("connect to {}", redact(url)), e))
}

/// A connection string without its password, for messages: the password
/// of a URL's user info (`postgres://u:pw@h/db`), the value of every
/// `password` parameter of a URL's query (`?password=pw`), and the value
/// of every `password` key of a key=value string (`host=h password=pw`,
/// quoted or not) become `***`. Every message, `Debug` and address the
/// backend and the CLI print goes through it.
pub fn redact(conn: &str) -> String {
    let Some(s) = conn.find("://") else {
        return redact_key_values(conn);
    };
    let (scheme, rest) = conn.split_at(s + 3);
    // The query starts at the first '?'; the user info ends at the last
    // '@' before it (a password may hold '@' or '/' unencoded).
    let (before_query, query) = match rest.find('?') {
        Some(q) => rest.split_at(q),
        None => (rest, ""),
    };
    let mut out = String::from(scheme);
    match before_query.rfind('@') {
        Some(at) => {
            let (userinfo, host) = before_query.split_at(at);
            match userinfo.split_once(':') {
                Some((user, _)) => {
                    out.push_str(user);
                    out.push_str(":***");
                }
                None => out.push_str(userinfo),
            }
            out.push_str(host);
        }
        None => out.push_str(before_query),
    }
    if let Some(q) = query.strip_prefix('?') {
        out.push('?');
        let params: Vec<String> = q
            .split('&')
            .map(|p| match p.split_once('=') {
                Some((k, _)) if is_password_key(k) => format!("{k}=***"),
                _ => p.to_owned(),
            })
            .collect();
        out.push_str(&params.join("&"));
    }
    out
}

/// Whether a parameter name is libpq's `password` (also percent-encoded
/// or in another case, which the server would not accept but a user may
/// still have typed).
fn is_password_key(k: &str) -> bool {
    let k = k.trim();
    k.eq_ignore_ascii_case("password") || k.to_ascii_lowercase().contains("%70assword")
}

/// A key=value connection string (`host=h password='p w' user=u`) with the
/// value of `password` hidden, quoted values (with `\'` and `\\`)
/// included.
fn redact_key_values(conn: &str) -> String {
    let b = conn.as_bytes();
    let mut out = String::with_capacity(conn.len());
    let mut i = 0;
    while i < b.len() {
        // Copy white space.
        if b[i].is_ascii_whitespace() {
            out.push(b[i] as char);
            i += 1;
            continue;
        }
        // A key, up to '=' or white space.
        let k0 = i;
        while i < b.len() && b[i] != b'=' && !b[i].is_ascii_whitespace() {
            i += 1;
        }
        let key = &conn[k0..i];
        out.push_str(key);
        // White space and '='.
        let s0 = i;
        while i < b.len() && b[i].is_ascii_whitespace() {
            i += 1;
        }
        if i >= b.len() || b[i] != b'=' {
            out.push_str(&conn[s0..i]);
            continue;
        }
        i += 1;
        while i < b.len() && b[i].is_ascii_whitespace() {
            i += 1;
        }
        out.push_str(&conn[s0..i]);
        // The value: quoted (with backslash escapes) or up to white space.
        let v0 = i;
        if i < b.len() && b[i] == b'\'' {
            i += 1;
            while i < b.len() && b[i] != b'\'' {
                i += if b[i] == b'\\' { 2 } else { 1 };
            }
            i = (i + 1).min(b.len());
        } else {
            while i < b.len() && !b[i].is_ascii_whitespace() {
                i += if b[i] == b'\\' { 2 } else { 1 };
            }
            i = i.min(b.len());
        }
        if is_password_key(key) {
            out.push_str("***");
        } else {
            out.push_str(&conn[v0..i]);
        }
    }
    out
}

/// The writing connection.
struct Writer {
    url: String,
    client: Client,
    /// The prepared batch insert of this connection.
    insert: postgres::Statement,
    /// `synchronous_commit` of the session: on for `Sync`.
    sync_commits: bool,
    /// Month partitions known to exist (by their first microsecond).
    partitions: std::collections::HashSet<i64>,
}

impl Writer {
    fn new(url: String, mut client: Client, sync_commits: bool) -> Result<Writer, Error> {
        let insert =
            Writer::prepare(&mut client, sync_commits).map_err(|e| pg_err("prepare", e))?;
        Ok(Writer {
            url,
            client,
            insert,
            sync_commits,
            partitions: Default::default(),
        })
    }

    /// Sets the session's commit mode and prepares the insert.
    fn prepare(
        client: &mut Client,
        sync_commits: bool,
    ) -> Result<postgres::Statement, postgres::Error> {
        client.batch_execute(if sync_commits {
            "SET synchronous_commit TO on"
        } else {
            "SET synchronous_commit TO off"
        })?;
        client.prepare(INSERT)
    }

    fn reconnect(&mut self) -> Result<(), Error> {
        let mut c = connect(&self.url)?;
        self.insert =
            Writer::prepare(&mut c, self.sync_commits).map_err(|e| pg_err("prepare", e))?;
        self.client = c;
        self.partitions.clear();
        Ok(())
    }
}

impl std::fmt::Debug for Writer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Writer({})", redact(&self.url))
    }
}

/// The first microsecond of the UTC month holding `us`, and of the next.
fn month_bounds(us: i64) -> (i64, i64, String) {
    let t = Timestamp::from_unix_micros(us);
    let (y, m, ..) = t.civil();
    let start = Timestamp::from_date(y, m, 1).unwrap_or(Timestamp::MIN);
    let (ny, nm) = if m == 12 { (y + 1, 1) } else { (y, m + 1) };
    let end = Timestamp::from_date(ny, nm, 1).unwrap_or(Timestamp::MAX);
    (
        start.unix_micros(),
        end.unix_micros(),
        format!("scout_audit_events_y{y:04}m{m:02}"),
    )
}

struct Columns {
    ts_us: Vec<i64>,
    ts_sub: Vec<i32>,
    has_ts: Vec<bool>,
    event: Vec<Option<String>>,
    session_id: Vec<Option<String>>,
    seq: Vec<Option<i64>>,
    cost: Vec<Option<f64>>,
    model: Vec<Option<String>>,
    input_t: Vec<Option<i64>>,
    output_t: Vec<Option<i64>>,
    dedup_key: Vec<String>,
    record: Vec<String>,
}

fn columns(rows: &[Row]) -> Columns {
    let n = rows.len();
    let mut c = Columns {
        ts_us: Vec::with_capacity(n),
        ts_sub: Vec::with_capacity(n),
        has_ts: Vec::with_capacity(n),
        event: Vec::with_capacity(n),
        session_id: Vec::with_capacity(n),
        seq: Vec::with_capacity(n),
        cost: Vec::with_capacity(n),
        model: Vec::with_capacity(n),
        input_t: Vec::with_capacity(n),
        output_t: Vec::with_capacity(n),
        dedup_key: Vec::with_capacity(n),
        record: Vec::with_capacity(n),
    };
    let i = |v: Option<u64>| v.map(|n| i64::try_from(n).unwrap_or(i64::MAX));
    for r in rows {
        c.ts_us.push(r.ts.map_or(UNDATED, Timestamp::unix_micros));
        c.ts_sub
            .push(r.ts.map_or(0, |t| (t.subsec_nanos() % 1000) as i32));
        c.has_ts.push(r.ts.is_some());
        c.event.push(r.event.clone());
        c.session_id.push(r.session_id.clone());
        c.seq.push(i(r.seq));
        c.cost.push(r.cost);
        c.model.push(r.model.clone());
        c.input_t.push(i(r.input_t));
        c.output_t.push(i(r.output_t));
        c.dedup_key.push(r.dedup_key.clone());
        c.record.push(r.line.clone());
    }
    c
}

impl Writer {
    fn try_commit(&mut self, rows: &[Row]) -> Result<u64, postgres::Error> {
        let mut months: Vec<i64> = rows
            .iter()
            .filter_map(|r| r.ts.map(|t| month_bounds(t.unix_micros()).0))
            .filter(|m| !self.partitions.contains(m))
            .collect();
        months.sort_unstable();
        months.dedup();
        for m in &months {
            let (start, end, name) = month_bounds(*m);
            let ddl = format!(
                "CREATE TABLE IF NOT EXISTS {name} PARTITION OF scout_audit_events FOR VALUES FROM ({start}) TO ({end})"
            );
            if self.client.batch_execute(&ddl).is_err() {
                // Another writer created it at the same moment.
                self.client.batch_execute(&ddl)?;
            }
            self.partitions.insert(*m);
        }
        let c = columns(rows);
        let params: [&(dyn ToSql + Sync); 12] = [
            &c.ts_us,
            &c.ts_sub,
            &c.has_ts,
            &c.event,
            &c.session_id,
            &c.seq,
            &c.cost,
            &c.model,
            &c.input_t,
            &c.output_t,
            &c.dedup_key,
            &c.record,
        ];
        // One statement in autocommit mode: atomic, committed (with the
        // session's synchronous_commit) when it returns.
        self.client.execute(&self.insert, &params)
    }
}

impl Backend for Writer {
    fn last_seq(&mut self, session: &SessionId) -> Result<Option<u64>, Error> {
        // One probe of the unique index from the top of the session's key
        // range, skipping other sessions' keys inside it (seq_key_range).
        let (lo, hi) = seq_key_range(session.as_str());
        let last: Option<i64> = self
            .client
            .query_opt(
                "SELECT seq FROM scout_audit_events WHERE dedup_key BETWEEN $1 AND $2 \
                 AND session_id = $3 ORDER BY dedup_key DESC LIMIT 1",
                &[&lo, &hi, &session.as_str()],
            )
            .map_err(|e| pg_err("read a session's last seq", e))?
            .map(|r| r.get(0));
        Ok(last.and_then(|m| u64::try_from(m).ok()))
    }

    fn commit(&mut self, rows: &[Row], _sync: bool) -> Result<u64, Error> {
        // `sync` is the session's synchronous_commit, set at connect.
        // The count is of the attempt that succeeded: rows a lost attempt
        // committed after all are skipped by the retry and not counted.
        let mut last = None;
        for attempt in 0..=RETRIES {
            match self.try_commit(rows) {
                Ok(n) => return Ok(n),
                Err(e) if connection_lost(&self.client, &e) && attempt < RETRIES => {
                    // The connection is gone: whether the COMMIT happened is
                    // unknown; the retry inserts nothing twice.
                    last = Some(e);
                    std::thread::sleep(Duration::from_millis(50 << attempt));
                    let _ = self.reconnect();
                }
                Err(e) => return Err(pg_err("insert a batch", e)),
            }
        }
        Err(match last {
            Some(e) => pg_err(
                &format!("insert a batch (connection lost, {RETRIES} retries failed)"),
                e,
            ),
            None => Error::Backend("postgres: insert a batch: connection lost".into()),
        })
    }

    fn sync(&mut self) -> Result<(), Error> {
        // A synchronous commit that writes a commit record flushes the WAL
        // up to it, covering every earlier asynchronous commit.
        self.client
            .batch_execute(
                "BEGIN; SET LOCAL synchronous_commit TO on; SELECT txid_current(); COMMIT;",
            )
            .map_err(|e| pg_err("sync", e))
    }
}

/// The PostgreSQL backend: a [`Sink`] and a [`ReadStore`].
pub struct PgStore {
    url: String,
    sink: BatchingSink<Writer>,
    /// The read connection, opened on first use.
    reader: Mutex<Option<Client>>,
}

impl std::fmt::Debug for PgStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PgStore")
            .field("url", &redact(&self.url))
            .field("sink", &self.sink)
            .finish_non_exhaustive()
    }
}

impl PgStore {
    /// Connects with the default settings.
    pub fn open(url: &str) -> Result<PgStore, Error> {
        PgStore::builder(url).open()
    }

    /// A builder for the database at `url` (`postgres://user:pw@host:port/db`).
    pub fn builder(url: &str) -> Builder {
        Builder {
            url: url.to_owned(),
            opts: BatchingOptions::default(),
        }
    }

    /// Runs a read on the read connection; a connection found dead is
    /// replaced and the read tried once more (reads are idempotent).
    fn with_reader<T>(
        &self,
        mut f: impl FnMut(&mut Client) -> Result<T, postgres::Error>,
        what: &str,
    ) -> Result<T, Error> {
        let mut g = scout_audit_core::writer::lock_ignoring_poison(&self.reader);
        for attempt in 0..2 {
            if g.as_ref().is_none_or(Client::is_closed) {
                *g = Some(connect(&self.url)?);
            }
            let c = g.as_mut().ok_or(Error::Closed)?;
            match f(c) {
                Ok(v) => return Ok(v),
                Err(e) if attempt == 0 && connection_lost(c, &e) => *g = None,
                Err(e) => return Err(pg_err(what, e)),
            }
        }
        Err(Error::Backend(
            format!("postgres: {what}: connection lost").into(),
        ))
    }

    /// Drops the month partitions that end before `before` (retention);
    /// returns their names.
    pub fn drop_partitions_before(&self, before: Timestamp) -> Result<Vec<String>, Error> {
        let names: Vec<String> = self.with_reader(
            |c| {
                let rows = c.query(
                    "SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid \
                     JOIN pg_class p ON p.oid = i.inhparent WHERE p.relname = 'scout_audit_events' \
                     AND c.relname ~ '^scout_audit_events_y[0-9]{4}m[0-9]{2}$' ORDER BY c.relname",
                    &[],
                )?;
                Ok(rows.iter().map(|r| r.get::<_, String>(0)).collect())
            },
            "list partitions",
        )?;
        let mut dropped = Vec::new();
        for n in names {
            let (y, m) = (
                n[20..24].parse::<i32>().unwrap_or(0),
                n[25..27].parse::<u32>().unwrap_or(0),
            );
            let (ny, nm) = if m == 12 { (y + 1, 1) } else { (y, m + 1) };
            if Timestamp::from_date(ny, nm, 1).is_some_and(|end| end <= before) {
                self.with_reader(
                    |c| c.batch_execute(&format!("DROP TABLE IF EXISTS {n}")),
                    "drop a partition",
                )?;
                dropped.push(n);
            }
        }
        Ok(dropped)
    }
}

/// A `WHERE` clause and its parameters for a filter.
fn where_clause(f: &Filter) -> (String, Vec<Box<dyn ToSql + Sync + Send>>) {
    let mut sql = String::from("TRUE");
    let mut p: Vec<Box<dyn ToSql + Sync + Send>> = Vec::new();
    if let Some(t) = f.since_bound() {
        p.push(Box::new(t.unix_micros()));
        p.push(Box::new((t.subsec_nanos() % 1000) as i32));
        sql.push_str(&format!(
            " AND has_ts AND (ts_us, ts_sub) >= (${}, ${})",
            p.len() - 1,
            p.len()
        ));
    }
    if let Some(t) = f.until_bound() {
        p.push(Box::new(t.unix_micros()));
        p.push(Box::new((t.subsec_nanos() % 1000) as i32));
        sql.push_str(&format!(
            " AND has_ts AND (ts_us, ts_sub) < (${}, ${})",
            p.len() - 1,
            p.len()
        ));
    }
    if !f.events().is_empty() {
        p.push(Box::new(f.events().to_vec()));
        sql.push_str(&format!(" AND event = ANY(${})", p.len()));
    }
    if let Some(s) = f.session_id() {
        p.push(Box::new(s.to_owned()));
        sql.push_str(&format!(" AND session_id = ${}", p.len()));
    }
    if let Some(m) = f.model_name() {
        p.push(Box::new(m.to_owned()));
        sql.push_str(&format!(" AND model = ${}", p.len()));
    }
    (sql, p)
}

fn refs(p: &[Box<dyn ToSql + Sync + Send>]) -> Vec<&(dyn ToSql + Sync)> {
    p.iter().map(|b| &**b as &(dyn ToSql + Sync)).collect()
}

fn record_of(line: &str) -> Result<Record, Error> {
    match decode_line(line.as_bytes()) {
        Decoded::Record(r) => Ok(r),
        other => Err(Error::Backend(
            format!("postgres: a stored record does not decode: {other:?}").into(),
        )),
    }
}

fn ts_of(us: i64, sub: i32, has: bool) -> Option<Timestamp> {
    if !has {
        return None;
    }
    let t = Timestamp::from_unix_micros(us);
    Timestamp::from_unix(
        t.unix_secs(),
        t.subsec_nanos() + u32::try_from(sub).unwrap_or(0),
    )
}

impl ReadStore for PgStore {
    fn scan(&self, filter: &Filter) -> Result<RecordStream<'_>, Error> {
        let (w, params) = where_clause(filter);
        let n = params.len();
        let sql = format!(
            "SELECT id, record FROM scout_audit_events WHERE {w} AND id > ${} ORDER BY id LIMIT ${}",
            n + 1,
            n + 2
        );
        Ok(keyset_pages(PAGE, move |after, limit| {
            let mut p = refs(&params);
            p.push(&after);
            p.push(&limit);
            let rows = self.with_reader(|c| c.query(&sql, &p), "read records")?;
            rows.iter()
                .map(|r| Ok((r.get(0), record_of(r.get(1))?)))
                .collect()
        }))
    }

    fn count(&self, filter: &Filter) -> Result<u64, Error> {
        let (w, params) = where_clause(filter);
        let n: i64 = self.with_reader(
            |c| {
                c.query_one(
                    &format!("SELECT count(*) FROM scout_audit_events WHERE {w}"),
                    &refs(&params),
                )
                .map(|r| r.get(0))
            },
            "count",
        )?;
        Ok(u64::try_from(n).unwrap_or(0))
    }

    fn spend(&self, filter: &Filter, by: Option<GroupBy>) -> Result<SpendBy, Error> {
        let (w, params) = where_clause(filter);
        let mut s = by.map_or_else(SpendBy::ungrouped, SpendBy::new);
        let rows = self.with_reader(
            |c| {
                c.query(
                    &format!(
                        "SELECT ts_us, ts_sub, has_ts, model, session_id, cost, input_t, output_t \
                         FROM scout_audit_events WHERE {w}"
                    ),
                    &refs(&params),
                )
            },
            "spend",
        )?;
        for r in rows {
            let ts = ts_of(r.get(0), r.get(1), r.get(2));
            let model: Option<String> = r.get(3);
            let session: Option<String> = r.get(4);
            let it: Option<i64> = r.get(6);
            let ot: Option<i64> = r.get(7);
            s.add_parts(
                ts,
                model.as_deref(),
                session.as_deref(),
                r.get(5),
                it.and_then(|n| u64::try_from(n).ok()),
                ot.and_then(|n| u64::try_from(n).ok()),
            );
        }
        Ok(s)
    }

    fn event_counts(&self, filter: &Filter) -> Result<EventCounts, Error> {
        let (w, params) = where_clause(filter);
        let rows = self.with_reader(
            |c| {
                c.query(
                    &format!(
                        "SELECT event, count(*) FROM scout_audit_events WHERE {w} GROUP BY event"
                    ),
                    &refs(&params),
                )
            },
            "count events",
        )?;
        let mut out = EventCounts::default();
        for r in rows {
            let e: Option<String> = r.get(0);
            let n: i64 = r.get(1);
            out.add_n(e.as_deref(), u64::try_from(n).unwrap_or(0));
        }
        Ok(out)
    }

    fn last(&self, filter: &Filter, n: usize) -> Result<Vec<Record>, Error> {
        let (w, params) = where_clause(filter);
        let limit = i64::try_from(n).unwrap_or(i64::MAX);
        let mut p = refs(&params);
        p.push(&limit);
        let sql = format!(
            "SELECT record FROM scout_audit_events WHERE {w} ORDER BY id DESC LIMIT ${}",
            p.len()
        );
        let rows = self.with_reader(|c| c.query(&sql, &p), "read the last records")?;
        let mut out = rows
            .iter()
            .map(|r| record_of(r.get(0)))
            .collect::<Result<Vec<_>, _>>()?;
        out.reverse();
        Ok(out)
    }
}

impl Sink for PgStore {
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn months_and_redaction() {
        let t = Timestamp::parse("2026-12-15T10:00:00Z").unwrap();
        let (s, e, name) = month_bounds(t.unix_micros());
        assert_eq!(name, "scout_audit_events_y2026m12");
        assert_eq!(
            Timestamp::from_unix_micros(s),
            Timestamp::parse("2026-12-01T00:00:00Z").unwrap()
        );
        assert_eq!(
            Timestamp::from_unix_micros(e),
            Timestamp::parse("2027-01-01T00:00:00Z").unwrap()
        );
        assert_eq!(
            redact("postgres://u:secret@h:5432/db"),
            "postgres://u:***@h:5432/db"
        );
        assert_eq!(redact("postgres://u@h/db"), "postgres://u@h/db");
    }

    #[test]
    fn every_form_of_password_is_redacted() {
        for (conn, want) in [
            ("postgres://u:pw@h/db", "postgres://u:***@h/db"),
            ("postgresql://u:p@w/d@h:5/db", "postgresql://u:***@h:5/db"),
            (
                "postgres://u@h/db?sslmode=disable&password=pw&x=1",
                "postgres://u@h/db?sslmode=disable&password=***&x=1",
            ),
            (
                "postgres://u:a@h/db?PASSWORD=b&p%61ssword=c",
                "postgres://u:***@h/db?PASSWORD=***&p%61ssword=c",
            ),
            ("postgres://h/db?password=", "postgres://h/db?password=***"),
            ("postgres://h/db", "postgres://h/db"),
            ("host=h password=pw user=u", "host=h password=*** user=u"),
            (
                "host=h password = 'p w\\' x' dbname=d",
                "host=h password = *** dbname=d",
            ),
            ("password=p\\ w host=h", "password=*** host=h"),
            ("password='unterminated", "password=***"),
            ("host=é password=é\\é", "host=é password=***"),
            ("password", "password"),
            ("", ""),
        ] {
            assert_eq!(redact(conn), want, "{conn}");
        }
        // The builder's Debug hides it too.
        let b = PgStore::builder("postgres://u:hunter2@h/db?password=hunter3");
        let d = format!("{b:?}");
        assert!(!d.contains("hunter"), "{d}");
    }

    #[test]
    fn a_failed_connection_names_the_address_without_its_password() {
        // A closed port on this machine: refused at once.
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        for url in [
            format!("postgres://u:hunter2@127.0.0.1:{port}/db?connect_timeout=5"),
            format!("postgres://u@127.0.0.1:{port}/db?password=hunter2&connect_timeout=5"),
            format!("host=127.0.0.1 port={port} user=u password=hunter2 connect_timeout=5"),
        ] {
            let e = PgStore::open(&url).unwrap_err().to_string();
            assert!(!e.contains("hunter2"), "{e}");
            assert!(e.starts_with("postgres: connect to "), "{e}");
            assert!(e.contains("***"), "{e}");
        }
    }
}
