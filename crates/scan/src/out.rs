//! Records out: the matching records written as text by the threads that
//! find them, handed over in log order as whole runs of bytes
//! ([`Rendered`]), so printing costs the caller one write per chunk.
//!
//! A [`Render`] turns one matching record into its text; [`Jsonl`] is the
//! compact canonical JSON line, copied from the stored line when that is
//! already canonical (`canon.rs`) and encoded from the decoded record
//! otherwise. The bytes are those of encoding every record the record
//! stream ([`crate::Scan::for_each_record`]) hands over.

use std::borrow::Cow;

use scout_audit_core::{Decoded, Record, decode_line};

use crate::canon::is_canonical;
use crate::fields::Want;
use crate::fold::{Fold, Held, Matched};

/// A matching record as a [`Render`] sees it: the line that holds it, and
/// its decoding on demand.
#[derive(Clone, Copy, Debug)]
pub struct RecordLine<'a> {
    /// The record's line, without `\n` (a glued record's own suffix).
    line: &'a [u8],
    /// The record, when the scan decoded it already.
    record: Option<&'a Record>,
}

impl<'a> RecordLine<'a> {
    /// The stored line holding the record, without its `\n` (for a record
    /// glued after a torn fragment, the record's own part).
    pub fn line(&self) -> &'a [u8] {
        self.line
    }

    /// Whether [`RecordLine::line`] is exactly the compact canonical
    /// encoding of [`RecordLine::record`] (what [`Jsonl`] would write).
    pub fn is_canonical(&self) -> bool {
        is_canonical(self.line)
    }

    /// The record, as `decode_line` reads it.
    pub fn record(&self) -> Option<Cow<'a, Record>> {
        if let Some(r) = self.record {
            return Some(Cow::Borrowed(r));
        }
        match decode_line(self.line) {
            Decoded::Record(r) | Decoded::Glued { record: r, .. } => Some(Cow::Owned(r)),
            _ => None,
        }
    }
}

/// How a matching record is written out. Called on the scan's threads.
pub trait Render: Sync {
    /// Appends the text of `rec` to `out`; `false` (nothing written) to
    /// leave the record out.
    fn render(&self, rec: &RecordLine<'_>, out: &mut Vec<u8>) -> bool;
}

/// One compact JSON object per line, `\n`-terminated: the bytes of
/// `serde_json::to_writer(record.fields())` and `\n` for every record.
#[derive(Clone, Copy, Debug, Default)]
pub struct Jsonl;

impl Render for Jsonl {
    fn render(&self, rec: &RecordLine<'_>, out: &mut Vec<u8>) -> bool {
        if rec.record.is_none() && rec.is_canonical() {
            out.extend_from_slice(rec.line);
        } else {
            let Some(r) = rec.record() else {
                return false;
            };
            write_json(&r, out);
        }
        out.push(b'\n');
        true
    }
}

/// The compact canonical JSON of `r` (no `\n`).
pub fn write_json(r: &Record, out: &mut Vec<u8>) {
    // A map with string keys serializes into a Vec without failing.
    let _ = serde_json::to_writer(&mut *out, r.fields());
}

/// The text of consecutive matching records, in log order.
#[derive(Clone, Debug, Default)]
pub struct Rendered {
    bytes: Vec<u8>,
    /// Where each record's text ends in `bytes`, increasing.
    ends: Vec<usize>,
}

impl Rendered {
    /// The text of every record.
    pub fn bytes(&self) -> &[u8] {
        &self.bytes
    }

    /// How many records.
    pub fn len(&self) -> usize {
        self.ends.len()
    }

    /// Whether it holds no record.
    pub fn is_empty(&self) -> bool {
        self.ends.is_empty()
    }

    /// The text of the first `n` records (all if there are fewer).
    pub fn first(&self, n: usize) -> &[u8] {
        match n.checked_sub(1).and_then(|i| self.ends.get(i)) {
            Some(&end) => &self.bytes[..end],
            None if n == 0 => &[],
            None => &self.bytes,
        }
    }
}

/// The fold of the rendered stream: each matching record's text.
#[derive(Clone)]
pub(crate) struct RenderFold<'r> {
    pub render: &'r dyn Render,
    pub out: Rendered,
}

impl RenderFold<'_> {
    /// Renders one record after those rendered.
    fn push(&mut self, rec: &RecordLine<'_>) {
        if self.render.render(rec, &mut self.out.bytes) {
            self.out.ends.push(self.out.bytes.len());
        }
    }
}

impl Fold for RenderFold<'_> {
    fn want(&self) -> Want {
        Want::default()
    }
    fn add(&mut self, m: &Matched<'_, '_>) {
        self.push(&RecordLine {
            line: m.line,
            record: m.record,
        });
    }
    fn merge(&mut self, later: Self) {
        let base = self.out.bytes.len();
        self.out.bytes.extend_from_slice(&later.out.bytes);
        self.out
            .ends
            .extend(later.out.ends.iter().map(|e| e + base));
    }
}

/// Records held for `tail` ([`Held`]), rendered in parallel (on the
/// current pool) and joined in order.
pub(crate) fn render_held(held: &[Held], render: &dyn Render) -> Rendered {
    use rayon::prelude::*;
    let parts: Vec<Rendered> = held
        .par_chunks(HELD_CHUNK)
        .map(|chunk| {
            let mut f = RenderFold {
                render,
                out: Rendered::default(),
            };
            for h in chunk {
                let rec = match h {
                    Held::Line(l) => RecordLine {
                        line: l,
                        record: None,
                    },
                    Held::Record(r) => RecordLine {
                        line: &[],
                        record: Some(r),
                    },
                };
                f.push(&rec);
            }
            f.out
        })
        .collect();
    let mut all = RenderFold {
        render,
        out: Rendered::default(),
    };
    for p in parts {
        all.merge(RenderFold { render, out: p });
    }
    all.out
}

/// Held records rendered per task by [`render_held`].
const HELD_CHUNK: usize = 4096;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn first_n_records() {
        let r = Rendered {
            bytes: b"a\nbb\nccc\n".to_vec(),
            ends: vec![2, 5, 9],
        };
        assert_eq!(r.first(0), b"");
        assert_eq!(r.first(1), b"a\n");
        assert_eq!(r.first(2), b"a\nbb\n");
        assert_eq!(r.first(3), b"a\nbb\nccc\n");
        assert_eq!(r.first(9), b"a\nbb\nccc\n");
        assert_eq!(Rendered::default().first(2), b"");
    }

    #[test]
    fn jsonl_copies_canonical_lines_and_encodes_others() {
        let check = |line: &str, want: &str| {
            let mut out = Vec::new();
            let rec = RecordLine {
                line: line.as_bytes(),
                record: None,
            };
            assert!(Jsonl.render(&rec, &mut out));
            assert_eq!(String::from_utf8(out).unwrap(), want, "{line}");
        };
        check(r#"{"a":1,"b":"x"}"#, "{\"a\":1,\"b\":\"x\"}\n");
        check(r#"{"a": 1, "b": "\u00e9"}"#, "{\"a\":1,\"b\":\"é\"}\n");
        check(r#"{"a":1e3,"a":-0}"#, "{\"a\":-0.0}\n");
        check("{\"a\":NaN}\r", "{\"a\":null}\n");
    }
}
