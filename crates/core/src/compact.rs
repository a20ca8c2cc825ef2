//! The compact-line fast path: one stored line read into borrowed typed
//! values ([`Row`]) without building a [`crate::Record`], for the readers
//! that touch every line of a store (export, `verify`).
//!
//! **Contract** (tested differentially in `tests` against
//! [`crate::decode_line`], which stays the one definition of how a line is
//! read): [`parse`] returns a row only when `decode_line` would return a
//! record whose typed accessors give the row's values, and whose other
//! fields are the row's `extra` in line order. Everything it is not sure
//! of is `None`, and the caller takes `decode_line`: a line that is not a
//! compact JSON object (white space between tokens, a `\r`), any
//! backslash escape or control byte in a string, invalid UTF-8, a
//! duplicate key, a negative number, a fraction or exponent anywhere but
//! in a top-level number, a number out of range, nesting deeper than
//! [`MAX_DEPTH`]. What it keeps as JSON text (`files`, `config`, the fields
//! of `extra`) is then byte for byte what serde_json writes for the
//! decoded value: compact, strings without escapes, non-negative integers
//! as their digits. The lines the writers of this workspace write take
//! this path; a line edited by hand, or written by another program with
//! escapes or spaces, takes `decode_line`.

use crate::Timestamp;

/// Deepest nesting copied as text (serde_json's own limit is 128).
pub const MAX_DEPTH: usize = 32;

/// The typed values of one line, borrowed from it: each `Some` exactly
/// when the record's accessor of the same name gives a value.
#[derive(Debug, Default, PartialEq)]
pub struct Row<'a> {
    /// `ts`, when a string that parses as a time ([`crate::Record::ts`]).
    pub ts: Option<Timestamp>,
    /// `event`, when a string.
    pub event: Option<&'a str>,
    /// `session_id`, when a string.
    pub session_id: Option<&'a str>,
    /// `seq`, when a non-negative integer that fits `u64`.
    pub seq: Option<u64>,
    /// `cost`, when a number.
    pub cost: Option<f64>,
    /// `model`, when a string.
    pub model: Option<&'a str>,
    /// `input_t`, when a non-negative integer that fits `u64`.
    pub input_t: Option<u64>,
    /// `output_t`, when a non-negative integer that fits `u64`.
    pub output_t: Option<u64>,
    /// `files`, any JSON value, as its text.
    pub files: Option<&'a [u8]>,
    /// `reason`, when a string.
    pub reason: Option<&'a str>,
    /// `confidence`, when a number.
    pub confidence: Option<f64>,
    /// `duration_ms`, when a number.
    pub duration_ms: Option<f64>,
    /// `config`, any JSON value, as its text.
    pub config: Option<&'a [u8]>,
    /// Every other field (and known ones of another type), in line order:
    /// each the key's JSON text and the value's.
    pub extra: Vec<(&'a [u8], &'a [u8])>,
    /// The `writer` stamp, when a string (it is also in `extra`).
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
        let end = start + string_end(self.s.get(start..)?)?;
        let body = self.t.get(start..end)?;
        self.i = end + 1;
        Some(body)
    }

    /// A non-negative number token.
    fn number(&mut self) -> Option<Val<'a>> {
        let start = self.i;
        // The integer part, its value kept while it fits `u64` (more is
        // a float to serde_json: not taken here).
        let mut n: Option<u64> = Some(0);
        while let Some(d) = self.peek().filter(u8::is_ascii_digit) {
            n = n
                .and_then(|n| n.checked_mul(10))
                .and_then(|n| n.checked_add(u64::from(d - b'0')));
            self.i += 1;
        }
        let int = self.i - start;
        if int == 0 || (int > 1 && self.s[start] == b'0') {
            return None;
        }
        if !matches!(self.peek(), Some(b'.' | b'e' | b'E')) {
            return n.map(Val::Uint);
        }
        if self.eat(b'.').is_some() && self.digits() == 0 {
            return None;
        }
        if matches!(self.peek(), Some(b'e' | b'E')) {
            self.i += 1;
            if matches!(self.peek(), Some(b'+' | b'-')) {
                self.i += 1;
            }
            if self.digits() == 0 {
                return None;
            }
        }
        let tok = self.t.get(start..self.i)?;
        // Correctly rounded, as serde_json's `float_roundtrip` reads it; a
        // number out of range is an error to serde_json: not here.
        let f: f64 = tok.parse().ok()?;
        f.is_finite().then_some(Val::Float(f))
    }

    fn digits(&mut self) -> usize {
        let start = self.i;
        while self.peek().is_some_and(|b| b.is_ascii_digit()) {
            self.i += 1;
        }
        self.i - start
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
        // The keys seen: the first few on the stack, the rest (rare) in
        // a vector.
        let mut few: [&str; 8] = [""; 8];
        let mut n = 0;
        let mut more: Vec<&str> = Vec::new();
        loop {
            let k = self.string()?;
            if few[..n].contains(&k) || more.contains(&k) {
                return None;
            }
            match few.get_mut(n) {
                Some(slot) => {
                    *slot = k;
                    n += 1;
                }
                None => more.push(k),
            }
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

/// Where the string body `s` (after its opening `"`) ends: the index of
/// its closing `"`; `None` at a backslash, a control byte or no end.
/// Eight bytes at a time while none of them is one of these (the
/// classic "has a zero byte" and "has a byte less than" word tests),
/// then byte by byte.
fn string_end(s: &[u8]) -> Option<usize> {
    const ONES: u64 = 0x0101_0101_0101_0101;
    const HIGH: u64 = 0x8080_8080_8080_8080;
    let mut i = 0;
    while let Some(w) = s.get(i..i + 8) {
        let mut b = [0u8; 8];
        b.copy_from_slice(w);
        let x = u64::from_le_bytes(b);
        let zero = |v: u64| v.wrapping_sub(ONES) & !v & HIGH;
        let special = zero(x ^ (ONES * u64::from(b'"')))
            | zero(x ^ (ONES * u64::from(b'\\')))
            | (x.wrapping_sub(ONES * 0x20) & !x & HIGH);
        if special != 0 {
            break;
        }
        i += 8;
    }
    loop {
        match *s.get(i)? {
            b'"' => return Some(i),
            b'\\' => return None,
            b if b < 0x20 => return None,
            _ => i += 1,
        }
    }
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

/// A known key at the start of `rest`, spelled as the writers write it
/// (no escape): its bit ([`known`]) and its length with both quotes. The
/// quote after the name ends the key, so the key is exactly the name.
/// `None`: read the key as any string.
fn known_at(rest: &[u8]) -> Option<(u32, usize)> {
    let candidates: &[(&[u8], u32)] = match rest.get(1)? {
        b't' => &[(b"\"ts\"", 0)],
        b'e' => &[(b"\"event\"", 1)],
        b's' => &[(b"\"session_id\"", 2), (b"\"seq\"", 3)],
        b'c' => &[
            (b"\"cost\"", 4),
            (b"\"confidence\"", 10),
            (b"\"config\"", 12),
        ],
        b'm' => &[(b"\"model\"", 5)],
        b'i' => &[(b"\"input_t\"", 6)],
        b'o' => &[(b"\"output_t\"", 7)],
        b'f' => &[(b"\"files\"", 8)],
        b'r' => &[(b"\"reason\"", 9)],
        b'd' => &[(b"\"duration_ms\"", 11)],
        b'w' => &[(b"\"writer\"", 13)],
        _ => return None,
    };
    candidates
        .iter()
        .find(|(k, _)| rest.starts_with(k))
        .map(|&(k, bit)| (bit, k.len()))
}

/// The row of `line`, or `None` when the slow path must decide (module
/// docs).
pub fn parse(line: &[u8]) -> Option<Row<'_>> {
    if line.first() != Some(&b'{') || line.last() != Some(&b'}') || line == b"{}" {
        return None;
    }
    let t = std::str::from_utf8(line).ok()?;
    let mut p = P { s: line, t, i: 1 };
    let mut row = Row::default();
    let mut seen = 0u32;
    loop {
        let key_start = p.i;
        let bit = match known_at(line.get(p.i..)?) {
            Some((bit, len)) => {
                p.i += len;
                Some(bit)
            }
            None => known(p.string()?),
        };
        let key_text = &line[key_start..p.i];
        p.eat(b':')?;
        let val_start = p.i;
        let v = p.value()?;
        let text = &line[val_start..p.i];
        let typed = match bit {
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
        if (!typed || matches!(bit, Some(8 | 12)))
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
    /// Sets the value of the known key `bit` ([`known`]) as the record's
    /// accessor reads it; `false` when its value goes to `extra` instead.
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

/// Lines [`parse`] takes, for the tests of this module and of the readers
/// built on it (each checks its own view of the row against
/// `decode_line`'s record).
#[doc(hidden)]
pub const TAKEN: &[&str] = &[
    r#"{"ts":"2026-08-29T00:00:00.759898+00:00","event":"nav","session_id":"b3f2","seq":0,"cost":0.0239738,"model":"claude-sonnet-4","input_t":8265,"output_t":25,"files":["a.sql","notes/résumé 2026.txt"],"confidence":100,"duration_ms":82,"config":{"tiers":["h","s"],"escalate_below":70,"retries":2}}"#,
    r#"{"event":"validation_fail","reason":"bad","ts":"2026-01-01T00:00:00Z","writer":"w1","seq":7,"session_id":"s"}"#,
    r#"{"ts":"2026-01-01T00:00:00Z","cost":null,"confidence":1.5e1,"duration_ms":0.25}"#,
    r#"{"ts":"not a time","event":null,"session_id":5,"seq":"x","model":true,"input_t":18446744073709551615,"files":null,"config":[]}"#,
    r#"{"custom":{"a":[1,{"b":null}],"c":false},"other":"x","confidence":null,"files":"one"}"#,
    r#"{"seq":9223372036854775808,"event":"nav"}"#,
    r#"{"writer":7,"reason":["x"],"duration_ms":"slow"}"#,
    // Floats as serde_json writes them, kept as text.
    r#"{"x":1.5}"#,
    r#"{"files":[1.0]}"#,
    r#"{"config":{"per_call_limit":0.05,"hourly_budget":1.0,"action":"refuse"},"scope":"hourly"}"#,
    r#"{"x":[12345.678]}"#,
    r#"{"x":[1e-7]}"#,
    r#"{"seq":1.0}"#,
];

/// Lines [`parse`] leaves to `decode_line` (white space, escapes,
/// duplicates, numbers serde_json would write otherwise, glued records,
/// what is not a record), for the same tests.
#[doc(hidden)]
pub const REFUSED: &[&str] = &[
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
];

#[cfg(test)]
mod tests {
    use proptest::prelude::*;
    use serde_json::Value;

    use super::*;
    use crate::{Decoded, decode_line};

    /// The row of `line`, when [`parse`] takes it, holds what
    /// `decode_line`'s record gives: every accessor, `files` and `config`
    /// as serde_json writes them, and the other fields in `extra`.
    /// Returns whether it took the line.
    fn check(line: &str) -> bool {
        let Some(row) = parse(line.as_bytes()) else {
            return false;
        };
        let Decoded::Record(r) = decode_line(line.as_bytes()) else {
            panic!("the fast path took a line decode_line refuses: {line}");
        };
        assert_eq!(
            (row.ts, row.event, row.session_id, row.seq, row.writer),
            (r.ts(), r.event(), r.session_id(), r.seq(), r.writer()),
            "{line}"
        );
        assert_eq!(
            (row.cost, row.model, row.input_t, row.output_t, row.reason),
            (r.cost(), r.model(), r.input_t(), r.output_t(), r.reason()),
            "{line}"
        );
        assert_eq!(
            (row.confidence, row.duration_ms),
            (r.confidence(), r.duration_ms()),
            "{line}"
        );
        let text = |v: Option<&Value>| v.map(|v| v.to_string().into_bytes());
        assert_eq!(
            row.files.map(<[u8]>::to_vec),
            text(r.get("files")),
            "{line}"
        );
        assert_eq!(
            row.config.map(<[u8]>::to_vec),
            text(r.get("config")),
            "{line}"
        );
        for (k, v) in &row.extra {
            let key: String = serde_json::from_slice(k).expect("a key is a JSON string");
            assert_eq!(Some(v.to_vec()), text(r.get(&key)), "{line}: {key}");
        }
        true
    }

    #[test]
    fn compact_lines_take_the_fast_path_with_the_records_values() {
        for line in TAKEN {
            assert!(check(line), "not taken: {line}");
        }
    }

    #[test]
    fn what_it_is_not_sure_of_goes_to_decode_line() {
        for line in REFUSED {
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

    #[test]
    fn known_at_reads_the_keys_known_reads() {
        let keys = crate::event::RESERVED_FIELDS
            .iter()
            .chain([crate::event::WRITER_FIELD].iter());
        for &k in keys {
            let rest = format!("\"{k}\":1}}");
            assert_eq!(
                known_at(rest.as_bytes()),
                known(k).map(|b| (b, k.len() + 2)),
                "{k}"
            );
        }
        for rest in [
            r#""tsx":1"#,
            r#""t":1"#,
            r#""session":1"#,
            r#""cos"#,
            r#"""#,
            "",
        ] {
            assert_eq!(known_at(rest.as_bytes()), None, "{rest}");
        }
    }

    /// A value as a line may hold it, compact or not, valid or not.
    fn value() -> impl Strategy<Value = String> {
        let leaf = prop_oneof![
            Just("null".to_owned()),
            Just("true".to_owned()),
            Just("-1".to_owned()),
            Just("1e400".to_owned()),
            Just("\"a\\\"b\"".to_owned()),
            Just("\"2026-01-01T00:00:00Z\"".to_owned()),
            (0u64..u64::MAX).prop_map(|n| n.to_string()),
            (-1e6f64..1e6).prop_map(|f| f.to_string()),
            "[a-z\u{e9} ]{0,6}".prop_map(|s| format!("\"{s}\"")),
            "[\\x00-\\x7f]{0,4}".prop_map(|s| format!("\"{s}\"")),
            "[ -~\u{e9}\u{1f600}]{0,40}".prop_map(|s| format!("\"{s}\"")),
        ];
        leaf.prop_recursive(3, 12, 3, |inner| {
            prop_oneof![
                prop::collection::vec(inner.clone(), 0..3)
                    .prop_map(|v| format!("[{}]", v.join(","))),
                prop::collection::vec(("[a-c]", inner), 0..3).prop_map(|v| {
                    let f: Vec<String> = v.iter().map(|(k, x)| format!("\"{k}\":{x}")).collect();
                    format!("{{{}}}", f.join(","))
                }),
            ]
        })
    }

    proptest! {
        /// The word-at-a-time search ends a string where a byte loop does.
        #[test]
        fn string_end_is_the_first_quote_unless_a_backslash_or_control_comes_first(
            s in prop::collection::vec(prop_oneof![
                8 => 0x20u8..=0xff, 1 => Just(b'"'), 1 => Just(b'\\'), 1 => 0u8..0x20,
            ], 0..40),
        ) {
            let naive = s
                .iter()
                .position(|&b| b == b'"' || b == b'\\' || b < 0x20)
                .filter(|&i| s[i] == b'"');
            prop_assert_eq!(string_end(&s), naive);
        }

        /// Over lines of known and other keys with any values (escapes,
        /// spaces, duplicates, numbers out of range), whatever the fast
        /// path takes, `decode_line` reads the same way.
        #[test]
        fn the_fast_path_agrees_with_decode_line(
            fields in prop::collection::vec((prop_oneof![
                Just("ts"), Just("event"), Just("session_id"), Just("seq"), Just("cost"),
                Just("model"), Just("input_t"), Just("output_t"), Just("files"),
                Just("reason"), Just("confidence"), Just("duration_ms"), Just("config"),
                Just("writer"), Just("x"),
            ], value(), prop::bool::ANY), 1..8),
        ) {
            let body: Vec<String> = fields
                .iter()
                .map(|(k, v, space)| format!("\"{k}\":{}{v}", if *space { " " } else { "" }))
                .collect();
            check(&format!("{{{}}}", body.join(",")));
        }
    }
}
