//! What goes into a line: records drawn from the seed ([`Gen`]), their
//! encodings, and the damage that replaces some of them.

use scout_audit_core::{Event, SessionId, Timestamp, types};
use serde_json::{Value, json};

use super::python::{push_u64, write_python_line};
use super::{COST_RANGE, Damage, EVENT_MIX, GenOptions, MODELS, MalformedCounts};
use crate::rng::Rng;

const FILES: [&str; 25] = [
    "src/main.rs",
    "src/lib.rs",
    "src/store/writer.rs",
    "src/store/recovery.rs",
    "src/scan/mod.rs",
    "vivarium/scout/audit.py",
    "vivarium/scout/router.py",
    "vivarium/scout/cascade.py",
    "vivarium/scout/brief.py",
    "vivarium/scout/config.py",
    "tests/test_audit.py",
    "tests/test_router.py",
    "docs/architecture.md",
    "docs/format.md",
    "README.md",
    "Cargo.toml",
    "pyproject.toml",
    "web/src/App.tsx",
    "web/src/components/SpendTable.tsx",
    "scripts/deploy.sh",
    ".github/workflows/ci.yml",
    "crates/core/src/event.rs",
    "crates/scan/src/lib.rs",
    "migrations/0042_add_budget.sql",
    "config/limits.toml",
];

const FILES_NON_ASCII: [&str; 5] = [
    "docs/über-uns.md",
    "src/naïve_bayes.py",
    "données/exporté.csv",
    "文档/设计.md",
    "notes/résumé 2026.txt",
];

const FAIL_REASONS: [&str; 6] = [
    "hallucinated_path",
    "missing_symbol",
    "schema_mismatch",
    "file not found: src/utils/helpers.rs",
    "line range 120-180 out of bounds (file has 97 lines)",
    "confidence below threshold (42 < 60)",
];

const BUDGET_REASONS: [&str; 4] = [
    "cost_exceeds_limit",
    "hourly_budget_exhausted",
    "daily_budget_exhausted",
    "per-call limit $0.05 exceeded",
];

const CASCADE_REASONS: [&str; 3] = [
    "escalate: low confidence",
    "escalate: parse_fail",
    "stale_cascade",
];

const REASONS_NON_ASCII: [&str; 5] = [
    "chemin introuvable : src/café.rs",
    "ファイルが見つかりません",
    "budget dépassé — 0,20 $",
    "Pfad ungültig: »docs/übersicht.md«",
    "model said 🤷 (no answer)",
];

const REPOS: [&str; 4] = ["scout-audit", "vivarium", "web-frontend", "infra"];
const TOOLS: [&str; 5] = [
    "read_file",
    "grep",
    "apply_patch",
    "run_tests",
    "web_search",
];
const SCOPES: [&str; 3] = ["hourly", "daily", "per_call"];
const BRIEF_PATHS: [&str; 4] = [
    "~/.scout/briefs/router.md",
    "~/.scout/briefs/audit-log.md",
    "~/.scout/briefs/cascade.md",
    "~/.scout/briefs/web-ui.md",
];
const NOTES_NON_ASCII: [&str; 4] = ["überprüft ✓", "测试通过", "¡listo!", "naïve façade"];

/// What `42`-like lines hold (valid JSON, not an object).
const NON_OBJECTS: [&str; 7] = ["42", "null", "true", "\"nav\"", "[1, 2, 3]", "3.14", "[]"];

/// Byte sequences that are not UTF-8 (a stray byte, a cut sequence, an
/// overlong form, a surrogate).
const INVALID_UTF8: [&[u8]; 6] = [
    b"\xff",
    b"\xc3\x28",
    b"\x80",
    b"\xc0\xaf",
    b"\xe2\x82",
    b"\xed\xa0\x80",
];

/// A cost, rounded to 6 significant digits: `digits × 10^-(6 + zeros)`.
#[derive(Clone, Copy, Debug)]
pub(super) struct Cost {
    /// The significant digits, `100_000..=999_999`.
    digits: u32,
    /// Zeros between the decimal point and the digits, `0..=3`.
    zeros: u32,
    /// The value, the `f64` nearest to the decimal text.
    pub(super) value: f64,
}

impl Cost {
    pub(super) fn new(raw: f64) -> Cost {
        let c = raw.clamp(COST_RANGE.0, COST_RANGE.1);
        let zeros = if c >= 0.1 {
            0
        } else if c >= 0.01 {
            1
        } else if c >= 0.001 {
            2
        } else {
            3
        };
        const SCALE: [f64; 4] = [1e6, 1e7, 1e8, 1e9];
        let mut digits = (c * SCALE[zeros as usize]).round() as u32;
        let mut zeros = zeros;
        if digits >= 1_000_000 {
            digits /= 10;
            zeros -= 1;
        }
        let mut cost = Cost {
            digits,
            zeros,
            value: 0.0,
        };
        let mut text = Vec::with_capacity(16);
        cost.write(&mut text);
        // The text is ASCII digits and a point: it always parses.
        cost.value = std::str::from_utf8(&text)
            .ok()
            .and_then(|s| s.parse().ok())
            .unwrap_or(c);
        cost
    }

    /// The decimal text, without trailing zeros: what both Python's
    /// `repr` and Rust's shortest round-trip formatting write for `value`.
    pub(super) fn write(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(b"0.");
        for _ in 0..self.zeros {
            out.push(b'0');
        }
        let mut d = self.digits;
        while d.is_multiple_of(10) {
            d /= 10;
        }
        push_u64(out, u64::from(d));
    }
}

/// A value of an extra field.
#[derive(Clone, Copy, Debug)]
pub(super) enum Extra {
    Str(&'static str),
    Int(u64),
    Bool(bool),
}

impl Extra {
    pub(super) fn to_value(self) -> Value {
        match self {
            Extra::Str(s) => Value::from(s),
            Extra::Int(n) => Value::from(n),
            Extra::Bool(b) => Value::from(b),
        }
    }
}

/// The content of one record, before it is encoded.
#[derive(Clone, Debug)]
pub(super) struct Rec {
    pub(super) event: &'static str,
    pub(super) cost: Option<Cost>,
    pub(super) model: Option<&'static str>,
    pub(super) input_t: Option<u64>,
    pub(super) output_t: Option<u64>,
    /// `files`: the first `.1` paths of `.0`.
    pub(super) files: Option<([&'static str; 4], usize)>,
    pub(super) reason: Option<&'static str>,
    pub(super) confidence: Option<u64>,
    pub(super) duration_ms: Option<u64>,
    /// An index into `Gen::configs`.
    pub(super) config: Option<usize>,
    /// Extra fields, in order; `None`s are skipped.
    pub(super) extras: [Option<(&'static str, Extra)>; 3],
}

impl Rec {
    /// Adds an extra field in the first free slot (there is always one:
    /// no event type uses more than three).
    fn push_extra(&mut self, key: &'static str, value: Extra) {
        if let Some(slot) = self.extras.iter_mut().find(|s| s.is_none()) {
            *slot = Some((key, value));
        }
    }

    pub(super) fn files(&self) -> Option<&[&'static str]> {
        self.files.as_ref().map(|(f, n)| &f[..*n])
    }
}

/// One line to write: a record, or damage made from one.
#[derive(Debug)]
pub(super) struct Item {
    rec: Rec,
    /// An index into `Gen::sessions`; valid until the item is committed.
    session: usize,
    /// Its time, in microseconds since the epoch.
    pub(super) ts_us: i64,
    pub(super) damage: Option<Damage>,
}

/// A writer session.
pub(super) struct Session {
    id: SessionId,
    /// The `seq` of its next record.
    seq: u64,
    /// Records it will still write, `> 0`.
    left: u32,
}

/// The generator's state: everything random flows from `rng`, in the
/// order lines are made.
pub(super) struct Gen {
    rng: Rng,
    python: bool,
    malformed: f64,
    /// `config` objects records pick from.
    configs: Vec<Value>,
    /// Sessions writing now, 1 to 3 once the first line is made.
    sessions: Vec<Session>,
    start_us: i64,
    span_us: i64,
    /// Total bytes planned, `> 0`: a line's time is its byte position's
    /// share of the span.
    total: f64,
    /// Bytes committed so far.
    pos: u64,
    /// Length of the last committed line.
    last_len: u64,
    /// Time of the last committed line; every new line is later.
    pub(super) prev_us: i64,
    /// No line is stamped before this (the last seal time).
    min_next_us: i64,
    pub(super) counts: MalformedCounts,
}

impl Gen {
    pub(super) fn new(opts: &GenOptions, total: u64, span_us: i64) -> Gen {
        let start_us = opts.end.unix_micros() - span_us;
        Gen {
            rng: Rng::new(opts.seed),
            python: opts.python_style,
            malformed: opts.malformed,
            configs: configs(),
            sessions: Vec::with_capacity(4),
            start_us,
            span_us,
            total: total as f64,
            pos: 0,
            last_len: 300,
            prev_us: start_us,
            min_next_us: start_us,
            counts: MalformedCounts::default(),
        }
    }

    fn new_session(&mut self) -> Session {
        let a = (self.rng.next_u64() & !0xF000) | 0x4000;
        let b = (self.rng.next_u64() & 0x3FFF_FFFF_FFFF_FFFF) | 0x8000_0000_0000_0000;
        let id = format!(
            "{:08x}-{:04x}-{:04x}-{:04x}-{:012x}",
            a >> 32,
            (a >> 16) & 0xFFFF,
            a & 0xFFFF,
            b >> 48,
            b & 0xFFFF_FFFF_FFFF
        );
        Session {
            id: SessionId::new(id),
            seq: 0,
            left: self.rng.range(100, 700) as u32,
        }
    }

    fn pick_session(&mut self) -> usize {
        if self.sessions.is_empty() || (self.sessions.len() < 3 && self.rng.chance(0.002)) {
            let s = self.new_session();
            self.sessions.push(s);
        }
        let n = self.sessions.len();
        if n == 1 || self.rng.chance(0.75) {
            0
        } else {
            1 + self.rng.below(n as u64 - 1) as usize
        }
    }

    pub(super) fn next_item(&mut self) -> Item {
        let session = self.pick_session();
        let rec = self.next_rec();
        let damage = if self.malformed > 0.0 && self.rng.chance(self.malformed) {
            let w = Damage::MIX.map(|(_, w)| w);
            Some(Damage::MIX[self.rng.weighted(&w)].0)
        } else {
            None
        };
        let u = self.rng.f64();
        let at = (self.pos as f64 + u * self.last_len as f64) / self.total;
        let natural = self.start_us + (at * self.span_us as f64) as i64;
        let ts_us = natural.max(self.prev_us + 1).max(self.min_next_us);
        Item {
            rec,
            session,
            ts_us,
            damage,
        }
    }

    fn files(&mut self, lo: u64, hi: u64) -> ([&'static str; 4], usize) {
        let n = self.rng.range(lo, hi) as usize;
        let mut f = [""; 4];
        for i in 0..n {
            // Distinct paths: draw again (a bounded number of times) on a repeat.
            for _ in 0..8 {
                f[i] = if self.rng.chance(0.02) {
                    self.rng.pick(&FILES_NON_ASCII)
                } else {
                    self.rng.pick(&FILES)
                };
                if !f[..i].contains(&f[i]) {
                    break;
                }
            }
        }
        (f, n)
    }

    fn reason(&mut self, pool: &[&'static str]) -> &'static str {
        if self.rng.chance(0.03) {
            self.rng.pick(&REASONS_NON_ASCII)
        } else {
            self.rng.pick(pool)
        }
    }

    /// A model and a cost for the given token counts.
    fn model_cost(&mut self, input_t: u64, output_t: u64) -> (&'static str, Cost) {
        let (model, _, p_in, p_out) = MODELS[self.rng.weighted(&MODELS.map(|m| m.1))];
        // Prices vary a little (cache hits, batch discounts).
        let factor = 0.8 + 0.4 * self.rng.f64();
        let raw = (input_t as f64 * p_in + output_t as f64 * p_out) / 1e6 * factor;
        (model, Cost::new(raw))
    }

    /// The next record: an event type drawn from [`EVENT_MIX`], the fields
    /// that type carries, then the extras any record may carry. Every draw
    /// comes from `rng` in a fixed order: the same seed gives the same
    /// records.
    fn next_rec(&mut self) -> Rec {
        let event = EVENT_MIX[self.rng.weighted(&EVENT_MIX.map(|e| e.1))].0;
        let mut r = Rec {
            event,
            cost: None,
            model: None,
            input_t: None,
            output_t: None,
            files: None,
            reason: None,
            confidence: None,
            duration_ms: None,
            config: None,
            extras: [None; 3],
        };
        match event {
            types::NAV => self.nav(&mut r),
            types::LLM_CALL => self.llm_call(&mut r),
            types::BRIEF => self.brief(&mut r),
            types::VALIDATION_FAIL => self.validation_fail(&mut r),
            types::CASCADE => self.cascade(&mut r),
            _ => self.budget_exceeded(&mut r),
        }
        self.common_extras(&mut r);
        r
    }

    /// A model call that costs tokens: model, cost and both token counts.
    fn priced_call(&mut self, r: &mut Rec, input_t: u64, output_t: u64) {
        let (m, c) = self.model_cost(input_t, output_t);
        (r.model, r.cost, r.input_t, r.output_t) =
            (Some(m), Some(c), Some(input_t), Some(output_t));
    }

    /// `nav`: a priced call, the files it chose, its confidence.
    fn nav(&mut self, r: &mut Rec) {
        let (i, o) = (self.rng.skewed(200, 24_000), self.rng.skewed(20, 2_000));
        self.priced_call(r, i, o);
        let n = [15, 35, 25, 15, 10];
        let k = self.rng.weighted(&n) as u64;
        r.files = Some(self.files(k, k));
        r.confidence = Some(100 - self.rng.skewed(0, 100));
        if self.rng.chance(0.85) {
            r.duration_ms = Some(self.rng.skewed(80, 30_000));
        }
        if self.rng.chance(0.08) {
            r.config = Some(self.rng.below(3) as usize);
        }
    }

    /// `llm_call`: a priced call, its duration, sometimes a tool.
    fn llm_call(&mut self, r: &mut Rec) {
        let (i, o) = (self.rng.skewed(50, 32_000), self.rng.skewed(10, 4_000));
        self.priced_call(r, i, o);
        r.duration_ms = Some(self.rng.skewed(150, 90_000));
        if self.rng.chance(0.3) {
            r.push_extra("tool", Extra::Str(self.rng.pick(&TOOLS)));
        }
        if self.rng.chance(0.15) {
            r.push_extra("cached", Extra::Bool(self.rng.chance(0.5)));
        }
    }

    /// `brief`: often a model and cost (no token counts), the files briefed.
    fn brief(&mut self, r: &mut Rec) {
        if self.rng.chance(0.7) {
            let (i, o) = (self.rng.skewed(500, 40_000), self.rng.skewed(100, 4_000));
            let (m, c) = self.model_cost(i, o);
            (r.model, r.cost) = (Some(m), Some(c));
        }
        r.files = Some(self.files(1, 4));
        r.duration_ms = Some(self.rng.skewed(500, 120_000));
        if self.rng.chance(0.4) {
            r.push_extra("raw_brief_path", Extra::Str(self.rng.pick(&BRIEF_PATHS)));
        }
    }

    /// `validation_fail`: a reason, sometimes files, a model, a confidence.
    fn validation_fail(&mut self, r: &mut Rec) {
        r.reason = Some(self.reason(&FAIL_REASONS));
        if self.rng.chance(0.6) {
            r.files = Some(self.files(1, 2));
        }
        if self.rng.chance(0.5) {
            r.model = Some(self.rng.pick(&MODELS).0);
        }
        if self.rng.chance(0.4) {
            r.confidence = Some(self.rng.below(70));
        }
    }

    /// `cascade`: a priced call, sometimes a reason, a config, an attempt.
    fn cascade(&mut self, r: &mut Rec) {
        let (i, o) = (self.rng.skewed(200, 16_000), self.rng.skewed(20, 2_000));
        self.priced_call(r, i, o);
        if self.rng.chance(0.4) {
            r.reason = Some(self.reason(&CASCADE_REASONS));
        }
        if self.rng.chance(0.25) {
            r.config = Some(1);
        }
        if self.rng.chance(0.5) {
            r.push_extra("attempt", Extra::Int(self.rng.range(1, 3)));
        }
    }

    /// `budget_exceeded`: a reason, usually a cost, its scope.
    fn budget_exceeded(&mut self, r: &mut Rec) {
        r.reason = Some(self.reason(&BUDGET_REASONS));
        if self.rng.chance(0.8) {
            r.cost = Some(Cost::new(0.01 + 0.19 * self.rng.f64()));
        }
        if self.rng.chance(0.5) {
            r.config = Some(3 + self.rng.below(2) as usize);
        }
        r.push_extra("scope", Extra::Str(self.rng.pick(&SCOPES)));
    }

    /// What any record may carry: a repo, a non-ASCII note, the non-ASCII
    /// config.
    fn common_extras(&mut self, r: &mut Rec) {
        if self.rng.chance(0.1) {
            r.push_extra("repo", Extra::Str(self.rng.pick(&REPOS)));
        }
        if r.extras.iter().any(Option::is_none) && self.rng.chance(0.01) {
            r.push_extra("note", Extra::Str(self.rng.pick(&NOTES_NON_ASCII)));
        }
        if r.config.is_none() && self.rng.chance(0.002) {
            r.config = Some(5);
        }
    }

    /// Encodes `item` into `line` (cleared first), `\n` included.
    pub(super) fn encode(&mut self, item: &Item, line: &mut Vec<u8>) {
        line.clear();
        let ts = Timestamp::from_unix_micros(item.ts_us);
        let s = &self.sessions[item.session];
        if self.python {
            write_python_line(&item.rec, &self.configs, ts, s.id.as_str(), line);
        } else {
            self.event(&item.rec).encode_into(ts, &s.id, s.seq, line);
        }
        if let Some(d) = item.damage {
            self.damage(d, item.ts_us, line);
        }
    }

    fn event(&self, rec: &Rec) -> Event {
        let mut e = Event::new(rec.event);
        if let Some(c) = rec.cost {
            e = e.cost(c.value);
        }
        if let Some(m) = rec.model {
            e = e.model(m);
        }
        if let Some(n) = rec.input_t {
            e = e.input_t(n);
        }
        if let Some(n) = rec.output_t {
            e = e.output_t(n);
        }
        if let Some(f) = rec.files() {
            e = e.files(f.iter().copied());
        }
        if let Some(r) = rec.reason {
            e = e.reason(r);
        }
        if let Some(c) = rec.confidence {
            e = e.confidence(c as i64);
        }
        if let Some(n) = rec.duration_ms {
            e = e.duration_ms(n);
        }
        if let Some(i) = rec.config {
            e = e.config(self.configs[i].clone());
        }
        for (k, v) in rec.extras.iter().flatten() {
            e = e.field(*k, v.to_value());
        }
        e
    }

    /// Replaces the record in `line` by damage of kind `d`.
    fn damage(&mut self, d: Damage, ts_us: i64, line: &mut Vec<u8>) {
        match d {
            Damage::Truncated => {
                // Keep at least `{`, lose at least the closing `}`.
                let body = line.len() - 1;
                let cut = 1 + self.rng.below(body as u64 - 1) as usize;
                line.truncate(cut);
            }
            Damage::NonObject => {
                line.clear();
                line.extend_from_slice(self.rng.pick(&NON_OBJECTS).as_bytes());
            }
            Damage::Garbage => {
                line.clear();
                if self.rng.chance(0.4) {
                    let n = self.rng.range(16, 512) as usize;
                    line.resize(n, 0);
                } else {
                    for _ in 0..self.rng.range(8, 160) {
                        let b = loop {
                            let b = self.rng.below(256) as u8;
                            if b != b'{' && !b.is_ascii_whitespace() {
                                break b;
                            }
                        };
                        line.push(b);
                    }
                }
            }
            Damage::InvalidUtf8 => {
                line.pop();
                let key = b"\"session_id\":";
                let at = find(line, key).map_or(0, |i| i + key.len());
                let at = at + line[at..].iter().position(|&b| b == b'"').unwrap_or(0) + 1;
                let len = line[at..]
                    .iter()
                    .position(|&b| b == b'"')
                    .unwrap_or(0)
                    .max(1);
                let at = at + self.rng.below(len as u64) as usize;
                let bad = self.rng.pick(&INVALID_UTF8);
                line.splice(at..at + 1, bad.iter().copied());
            }
            Damage::BadTs => self.bad_ts(ts_us, line),
        }
        if line.last() != Some(&b'\n') {
            line.push(b'\n');
        }
    }

    /// Replaces the `ts` of the record in `line` by a bad one (and drops
    /// `seq`, so the line never duplicates a valid record's).
    fn bad_ts(&mut self, ts_us: i64, line: &mut Vec<u8>) {
        let head: &[u8] = if self.python {
            b"{\"ts\": \""
        } else {
            b"{\"ts\":\""
        };
        let sep: &[u8] = if self.python { b": " } else { b":" };
        let end = head.len()
            + line[head.len()..]
                .iter()
                .position(|&b| b == b'"')
                .unwrap_or(0);
        // The Python form of a valid timestamp: ASCII, at least 25 bytes.
        let ts = String::from_utf8_lossy(&line[head.len()..end]).into_owned();
        let mut rest = line[end + 1..].to_vec();
        if let Some(i) = find(&rest, b",\"seq\":") {
            let digits = rest[i + 7..]
                .iter()
                .take_while(|b| b.is_ascii_digit())
                .count();
            rest.drain(i..i + 7 + digits);
        }
        line.clear();
        let variant = self.rng.below(8);
        if variant == 0 {
            // No ts at all.
            let comma = if self.python { 2 } else { 1 };
            line.push(b'{');
            line.extend_from_slice(&rest[comma..]);
            return;
        }
        line.extend_from_slice(b"{\"ts\"");
        line.extend_from_slice(sep);
        let value = match variant {
            1 => "null".to_owned(),
            2 => "\"\"".to_owned(),
            3 => format!(
                "{}.{:06}",
                ts_us.div_euclid(1_000_000),
                ts_us.rem_euclid(1_000_000)
            ),
            4 => "\"yesterday\"".to_owned(),
            5 => format!("\"{}02-30{}\"", &ts[..5], &ts[10..]),
            6 => format!(
                "\"{}/{}/{} {}\"",
                &ts[8..10],
                &ts[5..7],
                &ts[..4],
                &ts[11..19]
            ),
            _ => format!("\"{}\"", ts.replace('T', "_")),
        };
        line.extend_from_slice(value.as_bytes());
        line.extend_from_slice(&rest);
    }

    /// Records that `item`, `len` bytes long, was written.
    pub(super) fn commit(&mut self, item: &Item, len: u64) {
        self.pos += len;
        self.last_len = len;
        self.prev_us = item.ts_us;
        match item.damage {
            Some(d) => self.counts.add(d),
            None => {
                let s = &mut self.sessions[item.session];
                s.seq += 1;
                s.left -= 1;
                if s.left == 0 {
                    self.sessions.remove(item.session);
                }
            }
        }
    }

    /// An archive was sealed at `sealed_us`: later lines are stamped at or
    /// after it, `pending` (already encoded in `line`) included.
    pub(super) fn seal(&mut self, sealed_us: i64, pending: Option<&mut Item>, line: &mut Vec<u8>) {
        self.min_next_us = sealed_us;
        if let Some(item) = pending
            && item.ts_us < sealed_us
        {
            item.ts_us = sealed_us + self.rng.below(1_000) as i64;
            self.encode(item, line);
        }
    }
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

/// The `config` objects records carry: 0-2 navigation and cascade
/// settings, 3-4 budget limits, 5 with non-ASCII text.
pub(super) fn configs() -> Vec<Value> {
    vec![
        json!({"max_cost": 0.05, "hourly_budget": 1.0, "confidence_threshold": 60, "model": "claude-haiku-4"}),
        json!({"tiers": ["claude-haiku-4", "claude-sonnet-4"], "escalate_below": 70, "retries": 2}),
        json!({"depth": 3, "include_tests": false, "max_files": 8}),
        json!({"budget": {"hourly": 2.5, "daily": 20.0}, "strict": true}),
        json!({"per_call_limit": 0.05, "hourly_budget": 1.0, "action": "refuse"}),
        json!({"locale": "fr-FR", "prompt_prefix": "Résumé : ", "temperature": 0.2}),
    ]
}
