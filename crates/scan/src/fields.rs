//! The fast path of line decoding: a validating, borrowing parser of one
//! line that extracts only the typed fields a query needs.
//!
//! **Contract** (tested differentially against
//! [`scout_audit_core::decode_line`], which stays the one definition):
//! [`parse`] returns [`Fast::Record`] only when `decode_line` would return
//! `Decoded::Record` with the same typed fields (`ts`, `event`,
//! `session_id`, `cost`, `model`, `input_t`, `output_t`, `files`), and
//! [`Fast::Blank`] only when it would return `Decoded::Blank`. Everything
//! it is not sure of (invalid JSON, a non-object, bare `NaN`, a lone
//! surrogate escape, numbers that could overflow, deep nesting, a glued
//! record) is [`Fast::Slow`]: the caller then runs `decode_line`.
//!
//! What it mirrors of serde_json (the parser behind `decode_line`): JSON
//! whitespace is space, tab, CR and LF; strings must be valid UTF-8 with no
//! raw control characters; escapes are `\" \\ \/ \b \f \n \r \t \uXXXX`;
//! numbers follow the JSON grammar (no leading zeros, digits after `.` and
//! in exponents); a duplicate key keeps its last value; after the object
//! only whitespace may follow. A number is read as `f64` exactly as
//! serde_json reads it (correctly rounded, `-0` is `-0.0`); `as_u64` holds
//! for an integer token without sign, fraction or exponent that fits.

use std::borrow::Cow;

use scout_audit_core::{Record, Timestamp};

/// Which fields a query needs (the others are validated and skipped).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Want {
    /// `ts`, parsed.
    pub ts: bool,
    /// `event`.
    pub event: bool,
    /// `session_id`.
    pub session: bool,
    /// `model`.
    pub model: bool,
    /// `cost`.
    pub cost: bool,
    /// `input_t` and `output_t`.
    pub tokens: bool,
    /// The strings of `files`.
    pub files: bool,
}

impl Want {
    /// Every field.
    pub const ALL: Want = Want {
        ts: true,
        event: true,
        session: true,
        model: true,
        cost: true,
        tokens: true,
        files: true,
    };

    /// The union of two needs.
    pub fn or(self, o: Want) -> Want {
        Want {
            ts: self.ts || o.ts,
            event: self.event || o.event,
            session: self.session || o.session,
            model: self.model || o.model,
            cost: self.cost || o.cost,
            tokens: self.tokens || o.tokens,
            files: self.files || o.files,
        }
    }
}

/// The typed fields of a record, borrowed from the line where possible.
/// Fields not wanted are `None` / empty.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Fields<'a> {
    /// `ts`, when a string holding a valid timestamp.
    pub ts: Option<Timestamp>,
    /// `event`, when a string.
    pub event: Option<Cow<'a, str>>,
    /// `session_id`, when a string.
    pub session_id: Option<Cow<'a, str>>,
    /// `model`, when a string.
    pub model: Option<Cow<'a, str>>,
    /// `cost`, when a number.
    pub cost: Option<f64>,
    /// `input_t`, when a non-negative integer.
    pub input_t: Option<u64>,
    /// `output_t`, when a non-negative integer.
    pub output_t: Option<u64>,
    /// The strings of `files`, when it is an array.
    pub files: Vec<Cow<'a, str>>,
}

impl<'a> Fields<'a> {
    /// The typed fields of a decoded record (the slow path), as wanted.
    pub fn of_record(r: &'a Record, want: Want) -> Fields<'a> {
        Fields {
            ts: if want.ts { r.ts() } else { None },
            event: want.event.then(|| r.event().map(Cow::Borrowed)).flatten(),
            session_id: want
                .session
                .then(|| r.session_id().map(Cow::Borrowed))
                .flatten(),
            model: want.model.then(|| r.model().map(Cow::Borrowed)).flatten(),
            cost: if want.cost { r.cost() } else { None },
            input_t: if want.tokens { r.input_t() } else { None },
            output_t: if want.tokens { r.output_t() } else { None },
            files: if want.files {
                r.files().map(Cow::Borrowed).collect()
            } else {
                Vec::new()
            },
        }
    }

    /// `event` as `&str`.
    pub fn event(&self) -> Option<&str> {
        self.event.as_deref()
    }

    /// `session_id` as `&str`.
    pub fn session_id(&self) -> Option<&str> {
        self.session_id.as_deref()
    }

    /// `model` as `&str`.
    pub fn model(&self) -> Option<&str> {
        self.model.as_deref()
    }
}

/// What the fast path made of a line.
#[derive(Debug, PartialEq)]
pub enum Fast<'a> {
    /// Only white space (`decode_line` says `Blank`).
    Blank,
    /// A record with these fields (`decode_line` agrees).
    Record(Fields<'a>),
    /// Not decided here: ask `decode_line`.
    Slow,
}

/// The contract on one line: `Ok` when the fast path defers to
/// `decode_line` or decides exactly what it decides; the difference
/// otherwise. For the differential tests and fuzzing.
pub fn check_against_decode_line(line: &[u8]) -> Result<(), String> {
    use scout_audit_core::{Decoded, decode_line};
    match (parse(line, Want::ALL), decode_line(line)) {
        (Fast::Slow, _) | (Fast::Blank, Decoded::Blank) => Ok(()),
        (Fast::Record(f), Decoded::Record(r)) => {
            let s = Fields::of_record(&r, Want::ALL);
            let same = f.ts == s.ts
                && f.event == s.event
                && f.session_id == s.session_id
                && f.model == s.model
                && f.cost.map(f64::to_bits) == s.cost.map(f64::to_bits)
                && f.input_t == s.input_t
                && f.output_t == s.output_t
                && f.files == s.files;
            if same {
                Ok(())
            } else {
                Err(format!("fast {f:?}, decode_line {s:?}"))
            }
        }
        (f, d) => Err(format!("fast {f:?}, decode_line {d:?}")),
    }
}

/// Nesting deeper than this is left to the slow path (serde_json's own
/// limit is 128).
const MAX_DEPTH: u32 = 100;
/// Numbers with more digits or a larger exponent than this are left to the
/// slow path (serde_json refuses numbers that overflow `f64`).
const MAX_DIGITS: usize = 250;

/// Parses one line (without its `\n`; a final `\r` is ignored) on the
/// fast path. See the module docs for the contract.
pub fn parse(line: &[u8], want: Want) -> Fast<'_> {
    let line = line.strip_suffix(b"\r").unwrap_or(line);
    let mut p = Cursor { line, at: 0 };
    p.ws();
    if p.at == line.len() {
        return Fast::Blank;
    }
    if line.iter().all(u8::is_ascii_whitespace) {
        // Form feeds: blank for decode_line, not JSON white space.
        return Fast::Blank;
    }
    match p.object(want) {
        Some(f) => {
            p.ws();
            if p.at == line.len() {
                Fast::Record(f)
            } else {
                Fast::Slow
            }
        }
        None => Fast::Slow,
    }
}

/// A cursor over a line. Every method returns `None` for "not sure".
struct Cursor<'a> {
    /// The line (without its `\n` and final `\r`).
    line: &'a [u8],
    /// Index in `line` of the next byte to look at; at most `line.len()`.
    at: usize,
}

/// A scanned string: its raw bytes between the quotes, and whether it has
/// escapes.
struct Str<'a> {
    raw: &'a [u8],
    escaped: bool,
}

impl<'a> Str<'a> {
    fn text(&self) -> Option<Cow<'a, str>> {
        if self.escaped {
            unescape(self.raw).map(Cow::Owned)
        } else {
            // Validated as UTF-8 while scanning.
            std::str::from_utf8(self.raw).ok().map(Cow::Borrowed)
        }
    }

    fn is(&self, key: &str) -> bool {
        if self.escaped {
            unescape(self.raw).is_some_and(|s| s == key)
        } else {
            self.raw == key.as_bytes()
        }
    }
}

const LO: u64 = 0x0101_0101_0101_0101;
const HI: u64 = 0x8080_8080_8080_8080;

/// Bytes of `w` that are zero, marked by their high bit; the lowest mark
/// is exact (a borrow only ever marks bytes above a true zero).
#[inline]
fn zero_bytes(w: u64) -> u64 {
    w.wrapping_sub(LO) & !w & HI
}

/// The first byte of a string's body that needs a look: `"`, `\`, a
/// control character or a non-ASCII byte.
#[inline]
fn string_stop(w: u64) -> u64 {
    zero_bytes(w ^ (LO * u64::from(b'"')))
        | zero_bytes(w ^ (LO * u64::from(b'\\')))
        | (w.wrapping_sub(LO * 0x20) & !w & HI)
        | (w & HI)
}

impl<'a> Cursor<'a> {
    #[inline]
    fn peek(&self) -> Option<u8> {
        self.line.get(self.at).copied()
    }

    #[inline]
    fn ws(&mut self) {
        while let Some(b' ' | b'\t' | b'\r' | b'\n') = self.peek() {
            self.at += 1;
        }
    }

    #[inline]
    fn eat(&mut self, c: u8) -> Option<()> {
        if self.peek() == Some(c) {
            self.at += 1;
            Some(())
        } else {
            None
        }
    }

    /// A string starting at its opening quote.
    fn string(&mut self) -> Option<Str<'a>> {
        self.eat(b'"')?;
        let start = self.at;
        let b = self.line;
        let mut escaped = false;
        let mut non_ascii = false;
        loop {
            // Eight bytes at a time while no byte needs a look.
            while self.at + 8 <= b.len() {
                let mut word = [0u8; 8];
                word.copy_from_slice(&b[self.at..self.at + 8]);
                let stop = string_stop(u64::from_le_bytes(word));
                if stop == 0 {
                    self.at += 8;
                } else {
                    self.at += (stop.trailing_zeros() / 8) as usize;
                    break;
                }
            }
            let c = *b.get(self.at)?;
            match c {
                b'"' => {
                    let raw = &b[start..self.at];
                    self.at += 1;
                    if non_ascii && std::str::from_utf8(raw).is_err() {
                        return None;
                    }
                    return Some(Str { raw, escaped });
                }
                b'\\' => {
                    escaped = true;
                    match *b.get(self.at + 1)? {
                        b'"' | b'\\' | b'/' | b'b' | b'f' | b'n' | b'r' | b't' => self.at += 2,
                        b'u' => {
                            let cp = hex4(b.get(self.at + 2..self.at + 6)?)?;
                            if (0xD800..0xE000).contains(&cp) {
                                // Surrogates: serde_json's pairing rules are
                                // left to the slow path.
                                return None;
                            }
                            self.at += 6;
                        }
                        _ => return None,
                    }
                }
                0..=0x1F => return None,
                0x80.. => {
                    non_ascii = true;
                    self.at += 1;
                }
                _ => self.at += 1,
            }
        }
    }

    /// A number token: its bytes, validated against the JSON grammar.
    fn number(&mut self) -> Option<&'a [u8]> {
        let b = self.line;
        let start = self.at;
        if self.peek() == Some(b'-') {
            self.at += 1;
        }
        let int_start = self.at;
        match self.peek()? {
            b'0' => self.at += 1,
            b'1'..=b'9' => {
                while let Some(b'0'..=b'9') = self.peek() {
                    self.at += 1;
                }
            }
            _ => return None,
        }
        if self.at - int_start > MAX_DIGITS {
            return None;
        }
        if self.peek() == Some(b'.') {
            self.at += 1;
            let f = self.at;
            while let Some(b'0'..=b'9') = self.peek() {
                self.at += 1;
            }
            if self.at == f || self.at - f > MAX_DIGITS {
                return None;
            }
        }
        if let Some(b'e' | b'E') = self.peek() {
            self.at += 1;
            if let Some(b'+' | b'-') = self.peek() {
                self.at += 1;
            }
            let e = self.at;
            while let Some(b'0'..=b'9') = self.peek() {
                self.at += 1;
            }
            // At most three exponent digits, and no more than 250: the value
            // stays far from f64's overflow whatever the digits.
            if self.at == e || self.at - e > 3 {
                return None;
            }
            let exp: usize = std::str::from_utf8(&b[e..self.at]).ok()?.parse().ok()?;
            let int_digits = self.at - int_start;
            if exp + int_digits > MAX_DIGITS {
                return None;
            }
        }
        Some(&b[start..self.at])
    }

    fn literal(&mut self, word: &[u8]) -> Option<()> {
        if self.line.get(self.at..self.at + word.len())? == word {
            self.at += word.len();
            Some(())
        } else {
            None
        }
    }

    /// After an item of an object or array: `Some(true)` past a `,` (more
    /// follow), `Some(false)` past `close`.
    fn next_item(&mut self, close: u8) -> Option<bool> {
        self.ws();
        match self.peek()? {
            b',' => {
                self.at += 1;
                self.ws();
                Some(true)
            }
            c if c == close => {
                self.at += 1;
                Some(false)
            }
            _ => None,
        }
    }

    /// Skips any value, validating it.
    fn skip(&mut self, depth: u32) -> Option<()> {
        match self.peek()? {
            b'"' => self.string().map(drop),
            b'{' => {
                if depth >= MAX_DEPTH {
                    return None;
                }
                self.at += 1;
                self.ws();
                if self.eat(b'}').is_some() {
                    return Some(());
                }
                loop {
                    self.string()?;
                    self.ws();
                    self.eat(b':')?;
                    self.ws();
                    self.skip(depth + 1)?;
                    if !self.next_item(b'}')? {
                        return Some(());
                    }
                }
            }
            b'[' => {
                if depth >= MAX_DEPTH {
                    return None;
                }
                self.at += 1;
                self.ws();
                if self.eat(b']').is_some() {
                    return Some(());
                }
                loop {
                    self.skip(depth + 1)?;
                    if !self.next_item(b']')? {
                        return Some(());
                    }
                }
            }
            b't' => self.literal(b"true"),
            b'f' => self.literal(b"false"),
            b'n' => self.literal(b"null"),
            b'-' | b'0'..=b'9' => self.number().map(drop),
            _ => None,
        }
    }

    /// A string value if it is one (else the value is skipped: `None`
    /// inside `Some`).
    fn string_value(&mut self) -> Option<Option<Cow<'a, str>>> {
        if self.peek() == Some(b'"') {
            Some(Some(self.string()?.text()?))
        } else {
            self.skip(1)?;
            Some(None)
        }
    }

    fn number_value(&mut self) -> Option<Option<&'a [u8]>> {
        match self.peek()? {
            b'-' | b'0'..=b'9' => Some(Some(self.number()?)),
            _ => {
                self.skip(1)?;
                Some(None)
            }
        }
    }

    fn files_value(&mut self, out: &mut Vec<Cow<'a, str>>) -> Option<()> {
        out.clear();
        if self.peek() != Some(b'[') {
            return self.skip(1);
        }
        self.at += 1;
        self.ws();
        if self.eat(b']').is_some() {
            return Some(());
        }
        loop {
            if self.peek() == Some(b'"') {
                out.push(self.string()?.text()?);
            } else {
                self.skip(2)?;
            }
            if !self.next_item(b']')? {
                return Some(());
            }
        }
    }

    /// The top-level object, extracting what `want` asks for.
    fn object(&mut self, want: Want) -> Option<Fields<'a>> {
        self.eat(b'{')?;
        let mut f = Fields::default();
        self.ws();
        if self.eat(b'}').is_some() {
            return Some(f);
        }
        loop {
            let key = self.string()?;
            self.ws();
            self.eat(b':')?;
            self.ws();
            match which(&key) {
                Key::Ts if want.ts => {
                    f.ts = self.string_value()?.and_then(|s| Timestamp::parse(&s).ok());
                }
                Key::Event if want.event => f.event = self.string_value()?,
                Key::Session if want.session => f.session_id = self.string_value()?,
                Key::Model if want.model => f.model = self.string_value()?,
                Key::Cost if want.cost => {
                    f.cost = match self.number_value()? {
                        Some(tok) => Some(as_f64(tok)?),
                        None => None,
                    }
                }
                Key::InputT if want.tokens => f.input_t = self.number_value()?.and_then(as_u64),
                Key::OutputT if want.tokens => f.output_t = self.number_value()?.and_then(as_u64),
                Key::Files if want.files => self.files_value(&mut f.files)?,
                _ => self.skip(1)?,
            }
            if !self.next_item(b'}')? {
                return Some(f);
            }
        }
    }
}

enum Key {
    Ts,
    Event,
    Session,
    Model,
    Cost,
    InputT,
    OutputT,
    Files,
    Other,
}

fn which(key: &Str<'_>) -> Key {
    const KEYS: [(&str, Key); 8] = [
        ("ts", Key::Ts),
        ("event", Key::Event),
        ("session_id", Key::Session),
        ("model", Key::Model),
        ("cost", Key::Cost),
        ("input_t", Key::InputT),
        ("output_t", Key::OutputT),
        ("files", Key::Files),
    ];
    if !key.escaped && !(2..=10).contains(&key.raw.len()) {
        return Key::Other;
    }
    for (name, k) in KEYS {
        if key.is(name) {
            return k;
        }
    }
    Key::Other
}

/// serde_json's `as_f64` of a validated number token: the correctly
/// rounded value (`None`, for the slow path, if infinite, which serde_json
/// refuses; the digit limits already rule that out).
fn as_f64(tok: &[u8]) -> Option<f64> {
    let s = std::str::from_utf8(tok).ok()?;
    let v: f64 = s.parse().ok()?;
    v.is_finite().then_some(v)
}

/// serde_json's `as_u64`: an integer token without sign, fraction or
/// exponent that fits in 64 bits.
fn as_u64(tok: &[u8]) -> Option<u64> {
    if !tok.iter().all(u8::is_ascii_digit) {
        return None;
    }
    std::str::from_utf8(tok).ok()?.parse().ok()
}

fn hex4(h: &[u8]) -> Option<u32> {
    let mut v = 0u32;
    for &c in h {
        v = v * 16 + (c as char).to_digit(16)?;
    }
    Some(v)
}

/// The text of a string body with escapes (surrogates excluded by the scan).
fn unescape(raw: &[u8]) -> Option<String> {
    let mut out = Vec::with_capacity(raw.len());
    let mut i = 0;
    while i < raw.len() {
        let c = raw[i];
        if c != b'\\' {
            out.push(c);
            i += 1;
            continue;
        }
        let e = *raw.get(i + 1)?;
        i += 2;
        match e {
            b'"' => out.push(b'"'),
            b'\\' => out.push(b'\\'),
            b'/' => out.push(b'/'),
            b'b' => out.push(8),
            b'f' => out.push(12),
            b'n' => out.push(b'\n'),
            b'r' => out.push(b'\r'),
            b't' => out.push(b'\t'),
            b'u' => {
                let cp = hex4(raw.get(i..i + 4)?)?;
                i += 4;
                let ch = char::from_u32(cp)?;
                let mut buf = [0u8; 4];
                out.extend_from_slice(ch.encode_utf8(&mut buf).as_bytes());
            }
            _ => return None,
        }
    }
    String::from_utf8(out).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn agrees(line: &[u8]) -> bool {
        check_against_decode_line(line).is_ok()
    }

    fn fast(line: &str) -> Fields<'_> {
        match parse(line.as_bytes(), Want::ALL) {
            Fast::Record(f) => f,
            other => panic!("{line}: {other:?}"),
        }
    }

    #[test]
    fn reads_our_lines_and_pythons() {
        for line in [
            r#"{"ts":"2026-10-28T00:02:29.962065+00:00","event":"nav","session_id":"b3f2","seq":0,"cost":0.0239738,"model":"m","input_t":8265,"output_t":25,"files":["a","b"],"config":{"tiers":["x"],"n":2}}"#,
            r#"{"ts": "2026-10-28T00:02:09.689392+00:00", "event": "nav", "session_id": "b3f2", "cost": 1e-05, "model": "m", "input_t": 8265, "output_t": 25, "files": [], "confidence": 100}"#,
        ] {
            let f = fast(line);
            assert_eq!(f.event(), Some("nav"));
            assert_eq!(f.model(), Some("m"));
            assert_eq!(f.input_t, Some(8265));
            assert!(f.ts.is_some());
            assert!(agrees(line.as_bytes()));
        }
        assert_eq!(fast(r#"{"cost": 1e-05}"#).cost, Some(1e-05));
    }

    #[test]
    fn exact_on_awkward_input() {
        let cases: &[&[u8]] = &[
            b"",
            b"   ",
            b" \x0c ",
            b"\r",
            b"{}",
            b" { } \r",
            b"{}\r\r",
            b"{} x",
            b"{}\x0c",
            b"[1]",
            b"42",
            b"null",
            br#"{"a":1,}"#,
            br#"{"a" 1}"#,
            br#"{"event":"nav","event":5}"#,
            br#"{"event":5,"event":"nav"}"#,
            br#"{"ev\u0065nt":"n\u0061v","t\u0073":"2026-01-01T00:00:00Z"}"#,
            br#"{"event":"a\"b\\c\/d\b\f\n\r\t"}"#,
            br#"{"event":"\ud83d\ude00"}"#,
            br#"{"event":"\ud83d"}"#,
            br#"{"event":"\x"}"#,
            b"{\"event\":\"tab\there\"}",
            "{\"event\":\"caf\u{e9} \u{1F600}\"}".as_bytes(),
            b"{\"event\":\"\xff\"}",
            b"{\"event\":\"\xc3\"}",
            br#"{"cost":-0}"#,
            br#"{"cost":-0.0,"input_t":-0}"#,
            br#"{"cost":01}"#,
            br#"{"cost":1.}"#,
            br#"{"cost":.5}"#,
            br#"{"cost":1e}"#,
            br#"{"cost":1E+2,"input_t":1e2,"output_t":100}"#,
            br#"{"cost":1e400}"#,
            br#"{"cost":123456789012345678901234567890,"input_t":18446744073709551615,"output_t":18446744073709551616}"#,
            br#"{"cost":0.1000000000000000055511151231257827021181583404541015625}"#,
            br#"{"cost":NaN}"#,
            br#"{"cost":true,"model":null,"files":"x"}"#,
            br#"{"files":["a",1,{"b":[]},"c",null],"files":["z"]}"#,
            br#"{"files":["a"],"files":7}"#,
            br#"{"ts":"2026-01-01T00:00:00Z","ev{"ts":"2026-01-01T00:00:01Z","event":"nav"}"#,
            br#"{"ts":"bad","event":"nav"}"#,
            br#"{"ts":" 2026-01-01T00:00:00+05:30 "}"#,
            br#"{"a":[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[1]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]}"#,
            br#"{"a":tru}"#,
            br#"{"a":true false}"#,
            b"\xef\xbb\xbf{}",
        ];
        for c in cases {
            assert!(agrees(c), "{}", String::from_utf8_lossy(c));
        }
        assert_eq!(fast(r#"{"event":"nav","event":5}"#).event, None);
        assert_eq!(
            fast(r#"{"ev\u0065nt":"n\u0061v"}"#).event.as_deref(),
            Some("nav")
        );
        assert_eq!(
            fast(r#"{"cost":-0}"#).cost.map(f64::to_bits),
            Some((-0.0f64).to_bits())
        );
        let deep = format!("{{\"a\":{}1{}}}", "[".repeat(200), "]".repeat(200));
        assert_eq!(parse(deep.as_bytes(), Want::ALL), Fast::Slow);
        assert!(agrees(deep.as_bytes()));
    }
}
