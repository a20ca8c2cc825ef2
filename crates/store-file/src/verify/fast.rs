//! The fields `verify` needs of a record, decoded without building it.
//!
//! [`parse`] reads a compact line, as this workspace's writers write
//! them, with core's [`compact`] path (which takes only lines that
//! `decode_line` reads the same way); any other line it runs through
//! serde_json, the parser behind
//! [`scout_audit_core::decode_line`], over the line with a visitor that
//! keeps only the typed fields `verify` reads (`ts`, `event`,
//! `session_id`, `seq`, `writer`, `model`, `cost`, `input_t`,
//! `output_t`) and visits every other value through `deserialize_any`, as
//! `serde_json::Value` does, so the same bytes are accepted and refused:
//! the same tokenizer, UTF-8 checks, number ranges and depth limit. Only
//! the building of the map is skipped. Anything it does not accept (not
//! an object, bare `NaN`, a glued record, a blank line, invalid JSON) is
//! `None`, and the caller runs `decode_line`, the one definition.
//!
//! **Contract** (tested against `decode_line` in `tests`): `Some(f)` only
//! when `decode_line` returns a record whose typed accessors give `f`.
//! A key given twice keeps its last value, as `Value`'s map does.

use std::borrow::Cow;
use std::fmt;

use scout_audit_core::{Record, Timestamp, compact};
use serde::de::{self, Deserialize, Deserializer, MapAccess, SeqAccess, Visitor};

/// The typed fields of a record, as [`Record`]'s accessors give them.
#[derive(Clone, Debug, Default, PartialEq)]
pub(super) struct Fields<'a> {
    pub(super) ts: Option<Timestamp>,
    pub(super) event: Option<Cow<'a, str>>,
    pub(super) session: Option<Cow<'a, str>>,
    pub(super) seq: Option<u64>,
    pub(super) writer: Option<Cow<'a, str>>,
    pub(super) model: Option<Cow<'a, str>>,
    pub(super) cost: Option<f64>,
    pub(super) input_t: Option<u64>,
    pub(super) output_t: Option<u64>,
}

impl<'a> Fields<'a> {
    /// The fields of a record decoded by `decode_line`.
    pub(super) fn of_record(r: &'a Record) -> Fields<'a> {
        Fields {
            ts: r.ts(),
            event: r.event().map(Cow::Borrowed),
            session: r.session_id().map(Cow::Borrowed),
            seq: r.seq(),
            writer: r.writer().map(Cow::Borrowed),
            model: r.model().map(Cow::Borrowed),
            cost: r.cost(),
            input_t: r.input_t(),
            output_t: r.output_t(),
        }
    }
}

/// The fields of `line` (without its `\n`) when it is a record that the
/// visitor accepts; `None`: ask `decode_line`.
/// A compact line (what this workspace's writers write) is read by core's
/// [`compact`] path, which takes only lines `decode_line` reads the same
/// way; any other line goes through serde_json with the visitor.
pub(super) fn parse(line: &[u8]) -> Option<Fields<'_>> {
    if let Some(r) = compact::parse(line) {
        return Some(Fields {
            ts: r.ts,
            event: r.event.map(Cow::Borrowed),
            session: r.session_id.map(Cow::Borrowed),
            seq: r.seq,
            writer: r.writer.map(Cow::Borrowed),
            model: r.model.map(Cow::Borrowed),
            cost: r.cost,
            input_t: r.input_t,
            output_t: r.output_t,
        });
    }
    let line = line.strip_suffix(b"\r").unwrap_or(line);
    serde_json::from_slice::<Top<'_>>(line).ok().map(|t| t.0)
}

/// A JSON value as far as a typed accessor sees it.
enum Val<'a> {
    Str(Cow<'a, str>),
    U64(u64),
    I64(i64),
    F64(f64),
    Other,
}

impl<'a> Val<'a> {
    fn str(self) -> Option<Cow<'a, str>> {
        match self {
            Val::Str(s) => Some(s),
            _ => None,
        }
    }

    /// `Value::as_u64`: a non-negative integer.
    fn u64(&self) -> Option<u64> {
        match self {
            Val::U64(n) => Some(*n),
            _ => None,
        }
    }

    /// `Value::as_f64`: any number.
    #[allow(clippy::cast_precision_loss)]
    fn f64(&self) -> Option<f64> {
        match self {
            Val::U64(n) => Some(*n as f64),
            Val::I64(n) => Some(*n as f64),
            Val::F64(f) => Some(*f),
            _ => None,
        }
    }
}

struct ValVisitor;

impl<'de> Visitor<'de> for ValVisitor {
    type Value = Val<'de>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any JSON value")
    }

    fn visit_bool<E>(self, _: bool) -> Result<Val<'de>, E> {
        Ok(Val::Other)
    }

    fn visit_u64<E>(self, n: u64) -> Result<Val<'de>, E> {
        Ok(Val::U64(n))
    }

    fn visit_i64<E>(self, n: i64) -> Result<Val<'de>, E> {
        // serde_json gives non-negative integers as u64; `Value` keeps a
        // non-negative i64 as one too.
        Ok(u64::try_from(n).map_or(Val::I64(n), Val::U64))
    }

    fn visit_f64<E>(self, f: f64) -> Result<Val<'de>, E> {
        Ok(Val::F64(f))
    }

    fn visit_borrowed_str<E>(self, s: &'de str) -> Result<Val<'de>, E> {
        Ok(Val::Str(Cow::Borrowed(s)))
    }

    fn visit_str<E>(self, s: &str) -> Result<Val<'de>, E> {
        Ok(Val::Str(Cow::Owned(s.to_owned())))
    }

    fn visit_string<E>(self, s: String) -> Result<Val<'de>, E> {
        Ok(Val::Str(Cow::Owned(s)))
    }

    fn visit_unit<E>(self) -> Result<Val<'de>, E> {
        Ok(Val::Other)
    }

    fn visit_none<E>(self) -> Result<Val<'de>, E> {
        Ok(Val::Other)
    }

    fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Val<'de>, D::Error> {
        d.deserialize_any(ValVisitor)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Val<'de>, A::Error> {
        while seq.next_element::<Any>()?.is_some() {}
        Ok(Val::Other)
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Val<'de>, A::Error> {
        while map.next_key::<Any>()?.is_some() {
            map.next_value::<Any>()?;
        }
        Ok(Val::Other)
    }
}

/// Any value, visited whole (validated as `Value` would be) and dropped.
struct Any;

impl<'de> Deserialize<'de> for Any {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Any, D::Error> {
        d.deserialize_any(ValVisitor).map(|_| Any)
    }
}

impl<'de> Deserialize<'de> for Val<'de> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Val<'de>, D::Error> {
        d.deserialize_any(ValVisitor)
    }
}

/// The top level: an object, its typed fields kept.
struct Top<'a>(Fields<'a>);

impl<'de> Deserialize<'de> for Top<'de> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Top<'de>, D::Error> {
        d.deserialize_any(TopVisitor)
    }
}

struct TopVisitor;

impl<'de> Visitor<'de> for TopVisitor {
    type Value = Top<'de>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON object")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Top<'de>, A::Error> {
        let mut f = Fields::default();
        while let Some(key) = map.next_key::<Val<'de>>()? {
            let Val::Str(key) = key else {
                return Err(de::Error::custom("a key that is not a string"));
            };
            let v: Val<'de> = map.next_value()?;
            match &*key {
                "ts" => f.ts = v.str().and_then(|s| Timestamp::parse(&s).ok()),
                "event" => f.event = v.str(),
                "session_id" => f.session = v.str(),
                "seq" => f.seq = v.u64(),
                "writer" => f.writer = v.str(),
                "model" => f.model = v.str(),
                "cost" => f.cost = v.f64(),
                "input_t" => f.input_t = v.u64(),
                "output_t" => f.output_t = v.u64(),
                _ => {}
            }
        }
        Ok(Top(f))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use scout_audit_core::{Decoded, decode_line};

    /// `parse` agrees with `decode_line`: a record with the same fields,
    /// or it defers.
    fn agrees(line: &[u8]) -> bool {
        let fast = parse(line);
        match (decode_line(line), fast) {
            (Decoded::Record(r), Some(f)) => {
                assert_eq!(
                    f,
                    Fields::of_record(&r),
                    "{:?}",
                    String::from_utf8_lossy(line)
                );
                true
            }
            (_, None) => false,
            (other, Some(f)) => panic!(
                "{:?}: fast {f:?}, decode_line {other:?}",
                String::from_utf8_lossy(line)
            ),
        }
    }

    #[test]
    fn agrees_with_decode_line_or_defers() {
        let taken: &[&[u8]] = &[
            br#"{"ts":"2026-01-01T00:00:00+00:00","event":"nav","session_id":"s","seq":3,"writer":"w","model":"m","cost":1.5,"input_t":2,"output_t":0}"#,
            br#"{"seq":3,"seq":"x","cost":-2,"input_t":-1,"output_t":1.0}"#,
            br#"{"session_id":"a\u0041\"b","event":"\u00e9","x":{"y":[1,{"z":null}],"w":true}}"#,
            b"{\"cost\":18446744073709551616,\"seq\":18446744073709551615}\r",
            br#" { "ts" : "not a time" , "model" : null } "#,
            br#"{"seq":1e2,"cost":1e-400,"input_t":0}"#,
            br#"{}"#,
        ];
        for l in taken {
            assert!(agrees(l), "{:?}", String::from_utf8_lossy(l));
        }
        let deferred: &[&[u8]] = &[
            b"",
            b"   ",
            b"[1]",
            b"42",
            b"{\"cost\":NaN}",
            b"{\"a\":1e999}",
            b"{\"a\":\"\xff\"}",
            b"{\"a\":\"\\ud800\"}",
            b"{\"a\":1} x",
            b"{\"a\":01}",
            b"{\"ts\":\"2026-01-0{\"ts\":\"2026-01-01T00:00:00+00:00\"}",
            b"{\"a\":\"raw\ttab\"}",
        ];
        for l in deferred {
            assert!(!agrees(l), "{:?}", String::from_utf8_lossy(l));
        }
        let deep = format!("{{\"a\":{}{}}}", "[".repeat(200), "]".repeat(200));
        assert!(!agrees(deep.as_bytes()));
    }

    #[test]
    fn agrees_on_random_bytes_and_mutations() {
        let base: &[u8] = br#"{"ts":"2026-01-01T00:00:00+00:00","event":"nav","session_id":"s\u00e9","seq":3,"writer":"w","cost":0.25,"input_t":7,"x":[1,-2.5e3,"q",{"r":false}]}"#;
        let mut state = 0x1234_5678_9abc_def0u64;
        let mut next = || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state
        };
        let alphabet = b"{}[]\":,.-+eE0123456789 \\u\tnultrfasNIx\xc3\xa9\xff";
        for _ in 0..20_000 {
            let mut l = base.to_vec();
            for _ in 0..=next() % 3 {
                let at = (next() % l.len() as u64) as usize;
                let b = alphabet[(next() % alphabet.len() as u64) as usize];
                match next() % 3 {
                    0 => l[at] = b,
                    1 => l.insert(at, b),
                    _ => {
                        l.remove(at);
                    }
                }
            }
            agrees(&l);
        }
    }
}
