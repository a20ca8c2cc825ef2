//! [`Record`]: one line read back, faithful to what is on disk, and the one
//! definition of how a line is decoded ([`decode_line`]).

use std::fmt;

use serde::{Serialize, Serializer};
use serde_json::{Map, Value};

use crate::Timestamp;

/// One record read from a log: the JSON object exactly as written (field
/// order and unknown fields kept), with typed accessors for the known fields.
///
/// Accessors return `None` when a field is missing or has another type
/// than the one the writer gives it; the raw value is still in
/// [`Record::get`].
#[derive(Clone, PartialEq)]
pub struct Record {
    map: Map<String, Value>,
    /// `map["ts"]` parsed, when it is a string holding a valid timestamp.
    ts: Option<Timestamp>,
}

impl Record {
    /// Wraps a JSON object.
    pub fn from_map(map: Map<String, Value>) -> Record {
        let ts = map
            .get("ts")
            .and_then(Value::as_str)
            .and_then(|s| Timestamp::parse(s).ok());
        Record { map, ts }
    }

    /// The instant of `ts`, if present and parseable. Records without one
    /// never match a time filter.
    pub fn ts(&self) -> Option<Timestamp> {
        self.ts
    }

    /// `event`, if a string.
    pub fn event(&self) -> Option<&str> {
        self.map.get("event").and_then(Value::as_str)
    }

    /// `session_id`, if a string.
    pub fn session_id(&self) -> Option<&str> {
        self.map.get("session_id").and_then(Value::as_str)
    }

    /// `seq`, if a non-negative integer (records of the Python original have none).
    pub fn seq(&self) -> Option<u64> {
        self.map.get("seq").and_then(Value::as_u64)
    }

    /// `cost`, if a number.
    pub fn cost(&self) -> Option<f64> {
        self.map.get("cost").and_then(Value::as_f64)
    }

    /// `model`, if a string.
    pub fn model(&self) -> Option<&str> {
        self.map.get("model").and_then(Value::as_str)
    }

    /// `input_t`, if a non-negative integer.
    pub fn input_t(&self) -> Option<u64> {
        self.map.get("input_t").and_then(Value::as_u64)
    }

    /// `output_t`, if a non-negative integer.
    pub fn output_t(&self) -> Option<u64> {
        self.map.get("output_t").and_then(Value::as_u64)
    }

    /// The strings of `files`, if it is an array (non-strings skipped).
    pub fn files(&self) -> impl Iterator<Item = &str> {
        self.map
            .get("files")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(Value::as_str)
    }

    /// `reason`, if a string.
    pub fn reason(&self) -> Option<&str> {
        self.map.get("reason").and_then(Value::as_str)
    }

    /// `confidence`, if a number.
    pub fn confidence(&self) -> Option<f64> {
        self.map.get("confidence").and_then(Value::as_f64)
    }

    /// `duration_ms`, if a number.
    pub fn duration_ms(&self) -> Option<f64> {
        self.map.get("duration_ms").and_then(Value::as_f64)
    }

    /// `config`, whatever its type.
    pub fn config(&self) -> Option<&Value> {
        self.map.get("config")
    }

    /// Any field by name.
    pub fn get(&self, key: &str) -> Option<&Value> {
        self.map.get(key)
    }

    /// All fields, in the order they were written.
    pub fn fields(&self) -> &Map<String, Value> {
        &self.map
    }

    /// The fields, giving up the record.
    pub fn into_map(self) -> Map<String, Value> {
        self.map
    }

    /// The reserved `writer` stamp, if a string (see
    /// [`crate::WriterId`]).
    pub fn writer(&self) -> Option<&str> {
        self.map
            .get(crate::event::WRITER_FIELD)
            .and_then(Value::as_str)
    }

    /// The key that identifies a record across stores: two records get the
    /// same key only when they are the same record (the same compact JSON
    /// line, [`Record::to_json_line`]). With a `session_id` and a `seq`:
    /// `s:<session_id>:<seq, 20 digits>:<digest>`, so one session's keys
    /// sort in seq order (the table backends' last-seq probe and index
    /// appends rely on it); otherwise `h:<digest>`. The digest is
    /// [`Record::digest`] in hex. Used to copy between backends without
    /// duplicates and without merging distinct records.
    pub fn dedup_key(&self) -> String {
        let line = self.to_json_line();
        let d = hex(&line_digest(line.as_bytes()));
        match (self.session_id(), self.seq()) {
            (Some(s), Some(q)) => format!("{}:{d}", seq_key(s, q)),
            _ => format!("h:{d}"),
        }
    }

    /// The first 16 bytes of the SHA-256 of the record's compact JSON line:
    /// equal for two records exactly when they are the same record (a
    /// hostile writer cannot make two lines collide).
    pub fn digest(&self) -> [u8; 16] {
        line_digest(self.to_json_line().as_bytes())
    }

    /// The record as one compact JSON line, without the final `\n`.
    pub fn to_json_line(&self) -> String {
        // A map with string keys always serializes.
        serde_json::to_string(&self.map).unwrap_or_default()
    }
}

impl fmt::Debug for Record {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_json_line())
    }
}

impl Serialize for Record {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        self.map.serialize(s)
    }
}

/// The start of the de-duplication keys of a session's records with this
/// `seq`: `s:<session_id>:<seq, 20 digits>`, followed in a key by `:` and
/// the digest (see [`Record::dedup_key`]).
pub fn seq_key(session_id: &str, seq: u64) -> String {
    format!("s:{session_id}:{seq:020}")
}

/// Bounds of every [`Record::dedup_key`] of a session's records with a
/// `seq`: its keys sort by `seq` inside this range (the upper bound ends in
/// `;`, the byte after the `:` that starts the digest). Another session's
/// keys can fall inside it too (`a:0` inside `a`'s), so a probe must also
/// check `session_id`.
pub fn seq_key_range(session_id: &str) -> (String, String) {
    (
        seq_key(session_id, 0),
        format!("{};", seq_key(session_id, u64::MAX)),
    )
}

/// The digest of [`Record::digest`] of a compact JSON line.
fn line_digest(line: &[u8]) -> [u8; 16] {
    use sha2::Digest as _;
    let full = sha2::Sha256::digest(line);
    let mut out = [0u8; 16];
    out.copy_from_slice(&full[..16]);
    out
}

fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        s.push(char::from(DIGITS[usize::from(b >> 4)]));
        s.push(char::from(DIGITS[usize::from(b & 15)]));
    }
    s
}

/// The line bound, part of the format (docs/format.md): a line longer than
/// this many bytes (without its `\n`) is not a record. Every writer refuses
/// to write one ([`check_line_len`], [`crate::Error::LineTooLong`]) and
/// every reader skips and counts one without holding it in memory, so no
/// sink acknowledges a record the readers would not return. A record is a
/// few hundred bytes; the bound only stops what a corrupt or hostile file
/// (or a decompression bomb) could make a reader allocate.
pub const MAX_LINE: usize = 16 << 20;

/// Checks the length of an encoded line (without its `\n`) against
/// [`MAX_LINE`]: the check every writer makes before a line is written or
/// acknowledged.
pub fn check_line_len(len: usize) -> Result<(), crate::Error> {
    if len > MAX_LINE {
        return Err(crate::Error::LineTooLong {
            len: len as u64,
            max: MAX_LINE as u64,
        });
    }
    Ok(())
}

/// Why a line is malformed.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Malformed {
    /// Not valid JSON (or not UTF-8); the parser's message.
    InvalidJson(String),
    /// Valid JSON, but not an object (`42`, `[1]`, `null`, ...).
    NotAnObject,
    /// A fragment of a record cut short, with a complete record glued after it
    /// (a writer killed mid-`write` while another process appended).
    TornFragment,
}

impl fmt::Display for Malformed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Malformed::InvalidJson(m) => write!(f, "invalid JSON: {m}"),
            Malformed::NotAnObject => f.write_str("not a JSON object"),
            Malformed::TornFragment => f.write_str("torn fragment of a record"),
        }
    }
}

/// What one line (without its `\n`) holds.
#[derive(Debug, PartialEq)]
pub enum Decoded {
    /// Empty or only white space: skipped, not counted.
    Blank,
    /// A record.
    Record(Record),
    /// Not a record.
    Malformed(Malformed),
    /// A torn fragment (`at` bytes long) and then a complete record: the
    /// record counts, the fragment is reported as malformed.
    Glued {
        /// Length in bytes of the fragment before the record.
        at: usize,
        /// The record that starts at byte `at` of the line.
        record: Record,
    },
}

/// Decodes one line of a log, the definition every reader uses (the
/// sequential reader, the scanner, recovery).
///
/// `line` excludes the `\n`; a final `\r` (CRLF files) is ignored. A line
/// that is not a JSON object is malformed; bare `NaN`, `Infinity` and
/// `-Infinity` (which Python's `json.dumps` writes for non-finite floats)
/// are read as `null`. When the whole line does not parse but a suffix
/// starting with `{"ts"` does, the suffix is a record glued after a torn
/// fragment ([`Decoded::Glued`]).
pub fn decode_line(line: &[u8]) -> Decoded {
    let line = line.strip_suffix(b"\r").unwrap_or(line);
    if line.iter().all(u8::is_ascii_whitespace) {
        return Decoded::Blank;
    }
    let err = match parse_object(line) {
        Ok(r) => return Decoded::Record(r),
        Err(e) => e,
    };
    if let Some((at, record)) = glued_suffix(line) {
        return Decoded::Glued { at, record };
    }
    Decoded::Malformed(err)
}

fn parse_object(line: &[u8]) -> Result<Record, Malformed> {
    match serde_json::from_slice::<Value>(line) {
        Ok(Value::Object(map)) => Ok(Record::from_map(map)),
        Ok(_) => Err(Malformed::NotAnObject),
        Err(e) => {
            if let Some(fixed) = replace_non_finite(line)
                && let Ok(Value::Object(map)) = serde_json::from_slice::<Value>(&fixed)
            {
                return Ok(Record::from_map(map));
            }
            Err(Malformed::InvalidJson(e.to_string()))
        }
    }
}

/// The earliest suffix after byte 0 that starts a record (`{"ts"` or
/// `{ "ts"`) and parses as a whole object.
fn glued_suffix(line: &[u8]) -> Option<(usize, Record)> {
    let mut from = 1;
    while from < line.len() {
        let rel = line[from..].iter().position(|&b| b == b'{')?;
        let at = from + rel;
        let rest = &line[at + 1..];
        let rest = &rest[rest.iter().take_while(|b| b.is_ascii_whitespace()).count()..];
        if rest.starts_with(b"\"ts\"")
            && let Ok(r) = parse_object(&line[at..])
        {
            return Some((at, r));
        }
        from = at + 1;
    }
    None
}

/// Replaces bare `NaN`, `Infinity` and `-Infinity` tokens outside strings
/// with `null`; `None` when there are none.
fn replace_non_finite(line: &[u8]) -> Option<Vec<u8>> {
    let mut out = Vec::with_capacity(line.len());
    let mut in_str = false;
    let mut escaped = false;
    let mut changed = false;
    let mut i = 0;
    while i < line.len() {
        let c = line[i];
        if in_str {
            out.push(c);
            if escaped {
                escaped = false;
            } else if c == b'\\' {
                escaped = true;
            } else if c == b'"' {
                in_str = false;
            }
            i += 1;
            continue;
        }
        let rest = &line[i..];
        let token = [&b"-Infinity"[..], b"Infinity", b"NaN"]
            .into_iter()
            .find(|t| rest.starts_with(t));
        if let Some(t) = token {
            out.extend_from_slice(b"null");
            i += t.len();
            changed = true;
            continue;
        }
        if c == b'"' {
            in_str = true;
        }
        out.push(c);
        i += 1;
    }
    changed.then_some(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn the_line_bound_is_16_mib_without_the_newline() {
        assert_eq!(MAX_LINE, 16 * 1024 * 1024);
        assert!(check_line_len(MAX_LINE).is_ok());
        assert_eq!(
            check_line_len(MAX_LINE + 1).unwrap_err().to_string(),
            "the line is 16777217 bytes, over the line bound of 16777216 bytes; nothing was written"
        );
    }

    fn rec(line: &str) -> Record {
        match decode_line(line.as_bytes()) {
            Decoded::Record(r) => r,
            other => panic!("{line}: {other:?}"),
        }
    }

    #[test]
    fn reads_python_lines() {
        let r = rec(
            r#"{"ts": "2026-01-01T00:00:00+00:00", "event": "nav", "session_id": "s", "cost": 0.5, "files": ["a", 3, "b"], "extra": {"k": 1}}"#,
        );
        assert_eq!(
            r.ts(),
            Some(Timestamp::parse("2026-01-01T00:00:00Z").unwrap())
        );
        assert_eq!(r.event(), Some("nav"));
        assert_eq!(r.session_id(), Some("s"));
        assert_eq!(r.seq(), None);
        assert_eq!(r.cost(), Some(0.5));
        assert_eq!(r.files().collect::<Vec<_>>(), ["a", "b"]);
        assert_eq!(r.get("extra"), Some(&json!({"k": 1})));
        // Field order survives a round trip.
        assert_eq!(
            r.to_json_line(),
            r#"{"ts":"2026-01-01T00:00:00+00:00","event":"nav","session_id":"s","cost":0.5,"files":["a",3,"b"],"extra":{"k":1}}"#
        );
    }

    #[test]
    fn dedup_keys() {
        let r = rec(r#"{"ts":"2026-01-01T00:00:00Z","session_id":"s1","seq":7}"#);
        // Stable across runs and machines: SHA-256 of the compact line
        // (python3 -c 'import hashlib; print(hashlib.sha256(LINE).hexdigest()[:32])').
        assert_eq!(
            r.dedup_key(),
            "s:s1:00000000000000000007:c4b1c2dd6a86e15c0c3f27e27171bacf"
        );
        let p = rec(r#"{"ts": "2026-01-01T00:00:00+00:00", "event": "nav", "session_id": "s1"}"#);
        assert_eq!(p.dedup_key(), "h:2cf7bf8fb493ba97ad95f4fa13679aaf");
        let q = rec(r#"{"ts": "2026-01-01T00:00:00+00:00", "event": "nav", "session_id": "s2"}"#);
        assert_ne!(p.dedup_key(), q.dedup_key());
    }

    #[test]
    fn distinct_records_with_equal_session_and_seq_get_distinct_keys() {
        let a = rec(r#"{"ts":"2026-01-01T00:00:00Z","session_id":"X","seq":0,"cost":1.0}"#);
        let b = rec(r#"{"ts":"2026-01-01T00:00:00Z","session_id":"X","seq":0,"cost":2.0}"#);
        let c = rec(
            r#"{"ts":"2026-01-01T00:00:00Z","session_id":"X","seq":0,"writer":"00000000000000aa","cost":1.0}"#,
        );
        assert_ne!(a.dedup_key(), b.dedup_key());
        assert_ne!(a.dedup_key(), c.dedup_key());
        assert_eq!(c.writer(), Some("00000000000000aa"));
        // The same record written with other white space is the same record.
        let a2 = rec(r#"{"ts": "2026-01-01T00:00:00Z", "session_id": "X", "seq": 0, "cost": 1.0}"#);
        assert_eq!(a.dedup_key(), a2.dedup_key());
        // Every key of the session (any digest) lies inside its range, in seq order.
        let (lo, hi) = seq_key_range("X");
        for k in [a.dedup_key(), b.dedup_key(), c.dedup_key()] {
            assert!(lo <= k && k <= hi, "{k}");
        }
        let top = format!("{}:{}", seq_key("X", u64::MAX), "f".repeat(32));
        assert!(top < hi);
        assert!(seq_key("X", 1) > a.dedup_key());
    }

    #[test]
    fn classifies_lines() {
        assert_eq!(decode_line(b""), Decoded::Blank);
        assert_eq!(decode_line(b"  \r"), Decoded::Blank);
        assert!(matches!(decode_line(b"{\"a\":1}\r"), Decoded::Record(_)));
        assert_eq!(
            decode_line(b"42"),
            Decoded::Malformed(Malformed::NotAnObject)
        );
        assert_eq!(
            decode_line(b"null"),
            Decoded::Malformed(Malformed::NotAnObject)
        );
        assert!(matches!(
            decode_line(b"{\"a\":"),
            Decoded::Malformed(Malformed::InvalidJson(_))
        ));
        assert!(matches!(
            decode_line(b"{\"a\":\"\xff\"}"),
            Decoded::Malformed(Malformed::InvalidJson(_))
        ));
    }

    #[test]
    fn wrong_types_are_kept_but_not_typed() {
        let r = rec(r#"{"ts": 5, "event": ["x"], "cost": "1.0", "seq": -1}"#);
        assert_eq!(r.ts(), None);
        assert_eq!(r.event(), None);
        assert_eq!(r.cost(), None);
        assert_eq!(r.seq(), None);
        assert_eq!(r.get("cost"), Some(&json!("1.0")));
    }

    #[test]
    fn python_non_finite_floats_read_as_null() {
        let r =
            rec(r#"{"ts": "2026-01-01T00:00:00+00:00", "cost": NaN, "x": -Infinity, "s": "NaN"}"#);
        assert_eq!(r.cost(), None);
        assert_eq!(r.get("x"), Some(&Value::Null));
        assert_eq!(r.get("s"), Some(&json!("NaN")));
    }

    #[test]
    fn glued_record_after_torn_fragment_is_recovered() {
        let whole = r#"{"ts":"2026-01-01T00:00:00+00:00","event":"nav","config":{"ts":"x"}}"#;
        let torn = &whole[..50];
        let glued = format!("{torn}{whole}");
        match decode_line(glued.as_bytes()) {
            Decoded::Glued { at, record } => {
                assert_eq!(at, torn.len());
                assert_eq!(record.event(), Some("nav"));
                assert_eq!(record.get("config"), Some(&json!({"ts": "x"})));
            }
            other => panic!("{other:?}"),
        }
        // A nested {"ts" inside a torn fragment is not mistaken for a record.
        let torn2 = &whole[..whole.find("{\"ts\":\"x").unwrap() + 8];
        assert!(torn2.contains("{\"ts\":\"x"));
        assert!(matches!(
            decode_line(torn2.as_bytes()),
            Decoded::Malformed(Malformed::InvalidJson(_))
        ));
    }
}
