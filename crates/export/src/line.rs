//! The fast path of an export: one stored line straight into a [`Row`]
//! of borrowed column values, without building a [`scout_audit_core::Record`].
//!
//! **Contract** (tested differentially: `tests::check` and the export
//! tests compare against [`scout_audit_core::decode_line`] followed by
//! `Columns::push`, which stay the one definition): [`parse`] returns a
//! row only when `decode_line` would return a record whose columns are
//! exactly the row's. Everything it is not sure of is `None`, and the
//! caller takes the slow path: a line that is not a compact JSON object
//! (white space between tokens, a `\r`), any backslash escape or control
//! byte in a string, invalid UTF-8, a duplicate key, a negative number, a
//! fraction or exponent anywhere but in a top-level number, a number out
//! of range, nesting deeper than [`MAX_DEPTH`]. What it copies as JSON
//! text (`files`, `config`, the fields of `extra`) is then byte for byte
//! what serde_json writes for the decoded value: compact, strings without
//! escapes, non-negative integers as their digits.

use scout_audit_core::Timestamp;

/// Deepest nesting copied as text (serde_json's own limit is 128).
const MAX_DEPTH: usize = 32;

/// The column values of one line, borrowed from it.
#[derive(Debug, Default, PartialEq)]
pub(crate) struct Row<'a> {
    pub ts: Option<Timestamp>,
    pub event: Option<&'a str>,
    pub session_id: Option<&'a str>,
    pub seq: Option<u64>,
    pub cost: Option<f64>,
    pub model: Option<&'a str>,
    pub input_t: Option<u64>,
    pub output_t: Option<u64>,
    /// JSON text.
    pub files: Option<&'a [u8]>,
    pub reason: Option<&'a str>,
    pub confidence: Option<f64>,
    pub duration_ms: Option<f64>,
    /// JSON text.
    pub config: Option<&'a [u8]>,
    /// Every other field (and known ones of another type), in line order:
    /// each the key's JSON text and the value's.
    pub extra: Vec<(&'a [u8], &'a [u8])>,
    /// The `writer` stamp, when a string (for the manifest's marks).
    pub writer: Option<&'a str>,
}

/// A value of the line: where it is, and what it is.
enum Val<'a> {
    Str(&'a str),
    /// A non-negative integer token that fits `u64`.
    Uint(u64),
    /// Another number token (a fraction or an exponent), read as serde_json
    /// reads it.
    Float(f64),
    Null,
    /// `true`, `false`, an array or an object (copied as text).
    Other,
}

/// A cursor over a line that is valid UTF-8 (`t`, and its bytes `s`).
struct P<'a> {
    s: &'a [u8],
    t: &'a str,
    i: usize,
}

impl<'a> P<'a> {
    fn peek(&self) -> Option<u8> {
        self.s.get(self.i).copied()
    }

    fn eat(&mut self, b: u8) -> Option<()> {
        (self.peek()? == b).then(|| self.i += 1)
    }

    /// A string without escapes or control bytes; the line is valid UTF-8
    /// (checked once), and `"` is ASCII, so the slice is too.
    fn string(&mut self) -> Option<&'a str> {
        self.eat(b'"')?;
        let start = self.i;
        let end = start + memchr::memchr2(b'"', b'\\', self.s.get(start..)?)?;
        let body = self.t.get(start..end)?;
        if self.s.get(end) != Some(&b'"') || body.bytes().any(|b| b < 0x20) {
            return None;
        }
        self.i = end + 1;
        Some(body)
    }

    fn digits(&mut self) -> usize {
        let start = self.i;
        while self.peek().is_some_and(|b| b.is_ascii_digit()) {
            self.i += 1;
        }
        self.i - start
    }

    /// A non-negative number token.
    fn number(&mut self) -> Option<Val<'a>> {
        let start = self.i;
        let int = self.digits();
        if int == 0 || (int > 1 && self.s[start] == b'0') {
            return None;
        }
        let mut simple = true;
        if self.peek() == Some(b'.') {
            self.i += 1;
            if self.digits() == 0 {
                return None;
            }
            simple = false;
        }
        if matches!(self.peek(), Some(b'e' | b'E')) {
            self.i += 1;
            if matches!(self.peek(), Some(b'+' | b'-')) {
                self.i += 1;
            }
            if self.digits() == 0 {
                return None;
            }
            simple = false;
        }
        let tok = self.t.get(start..self.i)?;
        if simple {
            // More than u64 holds is a float to serde_json: not here.
            return tok.parse().ok().map(Val::Uint);
        }
        // Correctly rounded, as serde_json's `float_roundtrip` reads it; a
        // number out of range is an error to serde_json: not here.
        let f: f64 = tok.parse().ok()?;
        f.is_finite().then_some(Val::Float(f))
    }

    fn literal(&mut self, word: &[u8]) -> Option<()> {
        self.s
            .get(self.i..)?
            .starts_with(word)
            .then(|| self.i += word.len())
    }

    /// A top-level value.
    fn value(&mut self) -> Option<Val<'a>> {
        match self.peek()? {
            b'"' => self.string().map(Val::Str),
            b'0'..=b'9' => self.number(),
            b'n' => self.literal(b"null").map(|()| Val::Null),
            b't' => self.literal(b"true").map(|()| Val::Other),
            b'f' => self.literal(b"false").map(|()| Val::Other),
            b'[' | b'{' => self.nested(0).map(|()| Val::Other),
            _ => None,
        }
    }

    /// A value inside an array or object, in the compact form serde_json
    /// writes: strings without escapes, non-negative integers, and
    /// non-negative floats written as serde_json writes them.
    fn inner(&mut self, depth: usize) -> Option<()> {
        match self.peek()? {
            b'"' => self.string().map(drop),
            b'0'..=b'9' => {
                let start = self.i;
                match self.number()? {
                    Val::Uint(_) => Some(()),
                    Val::Float(f) => written_as(f, self.s.get(start..self.i)?).then_some(()),
                    _ => None,
                }
            }
            b'n' => self.literal(b"null"),
            b't' => self.literal(b"true"),
            b'f' => self.literal(b"false"),
            b'[' | b'{' => self.nested(depth + 1),
            _ => None,
        }
    }

    /// An array or object, compact, its keys distinct.
    fn nested(&mut self, depth: usize) -> Option<()> {
        if depth >= MAX_DEPTH {
            return None;
        }
        if self.eat(b'[').is_some() {
            if self.eat(b']').is_some() {
                return Some(());
            }
            loop {
                self.inner(depth)?;
                if self.eat(b']').is_some() {
                    return Some(());
                }
                self.eat(b',')?;
            }
        }
        self.eat(b'{')?;
        if self.eat(b'}').is_some() {
            return Some(());
        }
        let mut keys: Vec<&str> = Vec::new();
        loop {
            let k = self.string()?;
            if keys.contains(&k) {
                return None;
            }
            keys.push(k);
            self.eat(b':')?;
            self.inner(depth)?;
            if self.eat(b'}').is_some() {
                return Some(());
            }
            self.eat(b',')?;
        }
    }
}

/// Whether serde_json writes `f` as the token `tok` (its shortest form
/// that reads back as `f`: `1.0`, `0.05`, `1e-7`; not `1.50` nor `1e3`,
/// which it writes as `1.5` and `1000.0`).
fn written_as(f: f64, tok: &[u8]) -> bool {
    let mut buf = [0u8; 40];
    let n = {
        let mut w: &mut [u8] = &mut buf;
        if serde_json::to_writer(&mut w, &f).is_err() {
            return false;
        }
        40 - w.len()
    };
    buf.get(..n) == Some(tok)
}

/// A known key's bit in the set of keys seen; `None` for other keys.
fn known(key: &str) -> Option<u32> {
    Some(match key {
        "ts" => 0,
        "event" => 1,
        "session_id" => 2,
        "seq" => 3,
        "cost" => 4,
        "model" => 5,
        "input_t" => 6,
        "output_t" => 7,
        "files" => 8,
        "reason" => 9,
        "confidence" => 10,
        "duration_ms" => 11,
        "config" => 12,
        "writer" => 13,
        _ => return None,
    })
}

/// The row of `line`, or `None` when the slow path must decide (module
/// docs).
pub(crate) fn parse(line: &[u8]) -> Option<Row<'_>> {
    if line.first() != Some(&b'{') || line.last() != Some(&b'}') || line == b"{}" {
        return None;
    }
    let t = std::str::from_utf8(line).ok()?;
    let mut p = P { s: line, t, i: 1 };
    let mut row = Row::default();
    let mut seen = 0u32;
    loop {
        let key_start = p.i;
        let key = p.string()?;
        let key_text = &line[key_start..p.i];
        p.eat(b':')?;
        let val_start = p.i;
        let v = p.value()?;
        let text = &line[val_start..p.i];
        let typed = match known(key) {
            Some(bit) => {
                if seen & (1 << bit) != 0 {
                    return None;
                }
                seen |= 1 << bit;
                row.typed(bit, &v, text)
            }
            None => {
                if row.extra.iter().any(|(k, _)| *k == key_text) {
                    return None;
                }
                false
            }
        };
        // A float kept as JSON text goes through the slow path unless
        // serde_json writes it again as it is written here.
        if (!typed || matches!(key, "files" | "config"))
            && matches!(v, Val::Float(f) if !written_as(f, text))
        {
            return None;
        }
        if !typed {
            row.extra.push((key_text, text));
        }
        if p.eat(b'}').is_some() {
            break;
        }
        p.eat(b',')?;
    }
    // Only the closing brace may end the line.
    if p.i != line.len() {
        return None;
    }
    Some(row)
}

impl<'a> Row<'a> {
    /// Sets the column of the known key `bit` ([`known`]) as
    /// `Columns::push` does; `false` when its value goes to `extra`
    /// instead.
    fn typed(&mut self, bit: u32, v: &Val<'a>, text: &'a [u8]) -> bool {
        let uint = |v: &Val<'a>| match v {
            Val::Uint(n) => Some(*n),
            _ => None,
        };
        let num = |v: &Val<'a>| match v {
            Val::Uint(n) => Some(*n as f64),
            Val::Float(f) => Some(*f),
            _ => None,
        };
        let text_of = |v: &Val<'a>| match v {
            Val::Str(s) => Some(*s),
            _ => None,
        };
        match bit {
            0 => {
                self.ts = text_of(v).and_then(|s| Timestamp::parse(s).ok());
                self.ts.is_some()
            }
            1 => text_of(v).map(|s| self.event = Some(s)).is_some(),
            2 => text_of(v).map(|s| self.session_id = Some(s)).is_some(),
            3 => uint(v).map(|n| self.seq = Some(n)).is_some(),
            4 => matches!(v, Val::Null) || num(v).map(|c| self.cost = Some(c)).is_some(),
            5 => text_of(v).map(|s| self.model = Some(s)).is_some(),
            6 => uint(v).map(|n| self.input_t = Some(n)).is_some(),
            7 => uint(v).map(|n| self.output_t = Some(n)).is_some(),
            8 => {
                self.files = Some(text);
                true
            }
            9 => text_of(v).map(|s| self.reason = Some(s)).is_some(),
            10 => num(v).map(|c| self.confidence = Some(c)).is_some(),
            11 => num(v).map(|c| self.duration_ms = Some(c)).is_some(),
            12 => {
                self.config = Some(text);
                true
            }
            // "writer": a field of `extra`, remembered for the marks.
            _ => {
                self.writer = text_of(v);
                false
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use scout_audit_core::{Decoded, decode_line};

    use super::*;
    use crate::columns::Columns;

    /// The fast path's row of `line`, when it takes the line, holds what
    /// the record path takes from `decode_line`'s record: the same
    /// columns and the same marks. Returns whether it took the line.
    fn check(line: &str) -> bool {
        let Some(row) = parse(line.as_bytes()) else {
            return false;
        };
        let Decoded::Record(r) = decode_line(line.as_bytes()) else {
            panic!("the fast path took a line decode_line refuses: {line}");
        };
        let (mut fast, mut slow) = (Columns::default(), Columns::default());
        fast.push_row(&row);
        slow.push(&r);
        assert_eq!(fast.dump(), slow.dump(), "{line}");
        assert_eq!(
            (row.session_id, row.writer, row.seq, row.ts),
            (r.session_id(), r.writer(), r.seq(), r.ts()),
            "{line}"
        );
        true
    }

    #[test]
    fn compact_lines_take_the_fast_path_with_the_record_paths_columns() {
        for line in [
            r#"{"ts":"2026-08-29T00:00:00.759898+00:00","event":"nav","session_id":"b3f2","seq":0,"cost":0.0239738,"model":"claude-sonnet-4","input_t":8265,"output_t":25,"files":["a.sql","notes/résumé 2026.txt"],"confidence":100,"duration_ms":82,"config":{"tiers":["h","s"],"escalate_below":70,"retries":2}}"#,
            r#"{"event":"validation_fail","reason":"bad","ts":"2026-01-01T00:00:00Z","writer":"w1","seq":7,"session_id":"s"}"#,
            r#"{"ts":"2026-01-01T00:00:00Z","cost":null,"confidence":1.5e1,"duration_ms":0.25}"#,
            r#"{"ts":"not a time","event":null,"session_id":5,"seq":"x","model":true,"input_t":18446744073709551615,"files":null,"config":[]}"#,
            r#"{"custom":{"a":[1,{"b":null}],"c":false},"other":"x","confidence":null,"files":"one"}"#,
            r#"{"seq":9223372036854775808,"event":"nav"}"#,
            // Floats as serde_json writes them, kept as text.
            r#"{"x":1.5}"#,
            r#"{"files":[1.0]}"#,
            r#"{"config":{"per_call_limit":0.05,"hourly_budget":1.0,"action":"refuse"},"scope":"hourly"}"#,
            r#"{"x":[12345.678]}"#,
            r#"{"x":[1e-7]}"#,
            r#"{"seq":1.0}"#,
        ] {
            assert!(check(line), "not taken: {line}");
        }
    }

    #[test]
    fn what_serde_json_writes_otherwise_takes_the_slow_path() {
        for line in [
            r#"{ "ts":"2026-01-01T00:00:00Z"}"#,
            r#"{"ts" :"2026-01-01T00:00:00Z"}"#,
            "{\"ts\":\"2026-01-01T00:00:00Z\"}\r",
            r#"{"model":"gpt\u002d4"}"#,
            r#"{"model":"a\"b"}"#,
            "{\"model\":\"a\tb\"}",
            r#"{"event":"nav","event":"llm_call"}"#,
            r#"{"x":1,"x":2}"#,
            r#"{"cost":-0}"#,
            r#"{"cost":-1.5}"#,
            r#"{"cost":1e400}"#,
            r#"{"seq":18446744073709551616}"#,
            r#"{"x":1.50}"#,
            r#"{"files":[1.0E0]}"#,
            r#"{"config":{"a":1,"a":2}}"#,
            r#"{"config":{"a":1e3}}"#,
            r#"{"config":{"a":0.10}}"#,
            r#"{"config":{"a":-0.5}}"#,
            r#"{"x":100000000000000000000.0}"#,
            // Not as serde_json writes it.
            r#"{"x":[1e300]}"#,
            r#"{"files":[ "a"]}"#,
            r#"{"n":01}"#,
            r#"{"ts":"2026-01-01T00:00:00Z"} "#,
            r#"{"ts":"2026-01-01T00:00:00Z"}{"ts":"2026-01-01T00:00:00Z"}"#,
            "{}",
            "[1]",
            "",
            "not json",
            r#"{"a":NaN}"#,
            r#"{"a":tru}"#,
            r#"{"a":}"#,
            r#"{"a":1,}"#,
        ] {
            assert!(!check(line), "taken: {line}");
        }
        // Invalid UTF-8 inside a string.
        assert!(parse(b"{\"model\":\"\xff\"}").is_none());
        // Deeper than the limit.
        let deep = format!("{{\"x\":{}1{}}}", "[".repeat(40), "]".repeat(40));
        assert!(!check(&deep));
        let shallow = format!("{{\"x\":{}1{}}}", "[".repeat(20), "]".repeat(20));
        assert!(check(&shallow));
    }
}
