//! Whether a stored line is already the compact canonical encoding of its
//! record: the bytes `serde_json::to_writer(record.fields())` gives for
//! the record `decode_line` reads from it. Such a line is written out as
//! it is (JSONL output); any other is decoded and encoded again.
//!
//! One validating pass, no allocation. It answers `true` only when the
//! encoding of the decoding is the line itself, byte for byte:
//!
//! - an object at the top, no white space between tokens, nothing after;
//! - keys and strings spelled as serde_json writes them: valid UTF-8 as
//!   is, only `\"`, `\\`, `\b`, `\t`, `\n`, `\f`, `\r` and `\u00xx`
//!   (lowercase hex, for the other control characters) escaped. Each
//!   string has one such spelling, so two keys are equal exactly when
//!   their bytes are, and a duplicate key (which decoding collapses) is
//!   found by comparing bytes;
//! - integers as `u64` or `i64` print them (`-0` is read as `-0.0`, and
//!   one beyond 64 bits as a float: neither is canonical);
//! - other numbers exactly as serde_json prints the `f64` it reads from
//!   them (`1.0`, `1e+300`; not `1e3`, `1e300`, `1.50`, `1E2`).
//!
//! Anything else (deep nesting, objects of many keys, `NaN`) answers
//! `false`: the line is encoded again, which is always right, only slower.

/// Nesting deeper than this answers `false` (serde_json's limit is 128).
const MAX_DEPTH: usize = 64;

/// Objects with more keys than this answer `false`, which bounds the
/// duplicate search (quadratic in the keys of one object).
const MAX_KEYS: usize = 64;

/// Whether `line` (without its `\n`) is the compact canonical encoding of
/// the record it holds (see the module docs).
pub fn is_canonical(line: &[u8]) -> bool {
    let mut c = Cursor { b: line, i: 0 };
    line.first() == Some(&b'{') && c.object(0) && c.i == line.len()
}

struct Cursor<'a> {
    b: &'a [u8],
    i: usize,
}

impl<'a> Cursor<'a> {
    fn peek(&self) -> Option<u8> {
        self.b.get(self.i).copied()
    }

    fn eat(&mut self, x: u8) -> bool {
        if self.peek() == Some(x) {
            self.i += 1;
            true
        } else {
            false
        }
    }

    fn value(&mut self, depth: usize) -> bool {
        match self.peek() {
            Some(b'{') => self.object(depth + 1),
            Some(b'[') => self.array(depth + 1),
            Some(b'"') => self.string().is_some(),
            Some(b't') => self.literal(b"true"),
            Some(b'f') => self.literal(b"false"),
            Some(b'n') => self.literal(b"null"),
            Some(b'-' | b'0'..=b'9') => self.number(),
            _ => false,
        }
    }

    fn literal(&mut self, word: &[u8]) -> bool {
        if self.b[self.i..].starts_with(word) {
            self.i += word.len();
            true
        } else {
            false
        }
    }

    fn object(&mut self, depth: usize) -> bool {
        if depth > MAX_DEPTH || !self.eat(b'{') {
            return false;
        }
        if self.eat(b'}') {
            return true;
        }
        let mut keys: [&[u8]; MAX_KEYS] = [&[]; MAX_KEYS];
        let mut n = 0;
        loop {
            let Some(key) = self.string() else {
                return false;
            };
            if n == MAX_KEYS || keys[..n].contains(&key) {
                return false;
            }
            keys[n] = key;
            n += 1;
            if !self.eat(b':') || !self.value(depth) {
                return false;
            }
            if self.eat(b'}') {
                return true;
            }
            if !self.eat(b',') {
                return false;
            }
        }
    }

    fn array(&mut self, depth: usize) -> bool {
        if depth > MAX_DEPTH || !self.eat(b'[') {
            return false;
        }
        if self.eat(b']') {
            return true;
        }
        loop {
            if !self.value(depth) {
                return false;
            }
            if self.eat(b']') {
                return true;
            }
            if !self.eat(b',') {
                return false;
            }
        }
    }

    /// A string in its canonical spelling: its bytes with the quotes.
    fn string(&mut self) -> Option<&'a [u8]> {
        let start = self.i;
        if !self.eat(b'"') {
            return None;
        }
        // Runs of plain bytes are checked for UTF-8 as a whole.
        let mut run = self.i;
        loop {
            let rest = &self.b[self.i..];
            let at = rest
                .iter()
                .position(|&x| x == b'"' || x == b'\\' || x < 0x20)?;
            self.i += at;
            match self.b[self.i] {
                b'"' => {
                    std::str::from_utf8(&self.b[run..self.i]).ok()?;
                    self.i += 1;
                    return Some(&self.b[start..self.i]);
                }
                b'\\' => {
                    std::str::from_utf8(&self.b[run..self.i]).ok()?;
                    self.escape()?;
                    run = self.i;
                }
                // A raw control character is not JSON.
                _ => return None,
            }
        }
    }

    /// One escape as serde_json writes it, from its backslash.
    fn escape(&mut self) -> Option<()> {
        let e = *self.b.get(self.i + 1)?;
        match e {
            b'"' | b'\\' | b'b' | b't' | b'n' | b'f' | b'r' => {
                self.i += 2;
                Some(())
            }
            b'u' => {
                let hex = self.b.get(self.i + 2..self.i + 6)?;
                let lower = |x: u8| matches!(x, b'0'..=b'9' | b'a'..=b'f');
                // `\u00xx` for a control character without a short form.
                let ok = hex[0] == b'0'
                    && hex[1] == b'0'
                    && matches!(hex[2], b'0' | b'1')
                    && lower(hex[3])
                    && !matches!((hex[2], hex[3]), (b'0', b'8' | b'9' | b'a' | b'c' | b'd'));
                if ok {
                    self.i += 6;
                    Some(())
                } else {
                    None
                }
            }
            _ => None,
        }
    }

    fn digits(&mut self) -> usize {
        let n = self.b[self.i..]
            .iter()
            .take_while(|x| x.is_ascii_digit())
            .count();
        self.i += n;
        n
    }

    fn number(&mut self) -> bool {
        let start = self.i;
        let negative = self.eat(b'-');
        let int_start = self.i;
        let int_len = self.digits();
        if int_len == 0 || (int_len > 1 && self.b[int_start] == b'0') {
            return false;
        }
        let mut float = false;
        if self.eat(b'.') {
            float = true;
            if self.digits() == 0 {
                return false;
            }
        }
        if matches!(self.peek(), Some(b'e' | b'E')) {
            float = true;
            self.i += 1;
            if matches!(self.peek(), Some(b'+' | b'-')) {
                self.i += 1;
            }
            if self.digits() == 0 {
                return false;
            }
        }
        let Ok(text) = std::str::from_utf8(&self.b[start..self.i]) else {
            return false;
        };
        if !float {
            // serde_json reads it as u64 or i64 when it fits, and prints
            // it back the same; `-0` is read as -0.0.
            return if negative {
                text.parse::<i64>().is_ok_and(|v| v != 0)
            } else {
                text.parse::<u64>().is_ok()
            };
        }
        float_is_canonical(text)
    }
}

/// Whether serde_json prints the `f64` it reads from `text` as `text`.
fn float_is_canonical(text: &str) -> bool {
    // Correctly rounded, as serde_json reads with `float_roundtrip`.
    let Ok(v) = text.parse::<f64>() else {
        return false;
    };
    if !v.is_finite() {
        return false;
    }
    let mut buf = [0u8; 40];
    let mut w: &mut [u8] = &mut buf;
    if serde_json::to_writer(&mut w, &v).is_err() {
        return false;
    }
    let left = w.len();
    &buf[..buf.len() - left] == text.as_bytes()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn canonical_lines() {
        for l in [
            r#"{}"#,
            r#"{"ts":"2026-11-27T05:21:16.123456+00:00","event":"nav","seq":7,"cost":0.5}"#,
            r#"{"a":[1,-2,1.0,1e+300,1.5e-7,true,false,null,{"b":{}},[]],"c":"é✓\"\\\n\t\u001f\u0000"}"#,
            r#"{"big":18446744073709551615,"neg":-9223372036854775808,"z":0,"f":-0.0}"#,
        ] {
            assert!(is_canonical(l.as_bytes()), "{l}");
        }
    }

    #[test]
    fn other_spellings_are_not() {
        for l in [
            r#"{"a": 1}"#,
            r#"{"a":1} "#,
            r#" {"a":1}"#,
            "{\"a\":1}\r",
            r#"{"a":1,"a":2}"#,
            r#"{"a":1e3}"#,
            r#"{"a":1E300}"#,
            r#"{"a":1e300}"#,
            r#"{"a":1.50}"#,
            r#"{"a":-0}"#,
            r#"{"a":18446744073709551616}"#,
            r#"{"a":-9223372036854775809}"#,
            r#"{"a":1e400}"#,
            r#"{"a":"\/"}"#,
            r#"{"a":"\u00e9"}"#,
            r#"{"a":"\u001F"}"#,
            r#"{"a":"\u0008"}"#,
            r#"{"a":"\ud800"}"#,
            r#"{"a":NaN}"#,
            r#"{"a":01}"#,
            r#"{"a":1.}"#,
            r#"[1]"#,
            r#"{"a":1}{"b":2}"#,
            "{\"a\":\"\u{1}\"}",
        ] {
            assert!(!is_canonical(l.as_bytes()), "{l}");
        }
        assert!(!is_canonical(b"{\"a\":\"\xff\"}"));
        let deep = format!("{{\"a\":{}1{}}}", "[".repeat(70), "]".repeat(70));
        assert!(!is_canonical(deep.as_bytes()));
    }
}
