//! The Parquet side of an export: the schema, the column buffers of one
//! partition ([`Columns`], filled in one pass over a record's fields) and
//! one open part file ([`Part`]), written a row group at a time.

use std::fs::File;

use parquet::data_type::{ByteArray, ByteArrayType, DoubleType, Int64Type};
use parquet::file::writer::SerializedFileWriter;
use scout_audit_core::{Record, Timestamp};
use serde_json::Value;

use crate::error::{Error, Result};
use crate::line::Row;

/// Column buffers of one partition.
#[derive(Default)]
pub(crate) struct Columns {
    ts: Opt<i64>,
    event: Opt<ByteArray>,
    session_id: Opt<ByteArray>,
    seq: Opt<i64>,
    cost: Opt<f64>,
    model: Opt<ByteArray>,
    input_t: Opt<i64>,
    output_t: Opt<i64>,
    files: Opt<ByteArray>,
    reason: Opt<ByteArray>,
    confidence: Opt<f64>,
    duration_ms: Opt<f64>,
    config: Opt<ByteArray>,
    extra: Opt<ByteArray>,
    /// Rows buffered (every column holds this many definition levels).
    pub rows: usize,
    /// Recent values of the repetitive text columns, shared instead of
    /// copied (event, session_id, model, reason, config).
    recent: [Recent; 5],
}

/// The last few distinct values of a text column (at most [`RECENT`]):
/// a value seen again is a cheap clone of the stored one.
#[derive(Default)]
struct Recent(Vec<ByteArray>);

/// How many distinct values [`Recent`] keeps.
const RECENT: usize = 16;

impl Recent {
    fn get(&mut self, s: &[u8]) -> ByteArray {
        if let Some(i) = self.0.iter().position(|b| b.data() == s) {
            // Most recent first: a long run of one value is one comparison.
            if i > 0 {
                self.0.swap(0, i);
            }
            return self.0[0].clone();
        }
        let b = ByteArray::from(s.to_vec());
        if self.0.len() == RECENT {
            self.0.pop();
        }
        self.0.insert(0, b.clone());
        b
    }
}

/// Values and definition levels of an optional column.
struct Opt<T> {
    values: Vec<T>,
    defs: Vec<i16>,
}

impl<T> Default for Opt<T> {
    fn default() -> Self {
        Opt {
            values: Vec::new(),
            defs: Vec::new(),
        }
    }
}

impl<T> Opt<T> {
    fn clear(&mut self) {
        self.values.clear();
        self.defs.clear();
    }

    fn push(&mut self, v: Option<T>) {
        match v {
            Some(v) => {
                self.values.push(v);
                self.defs.push(1);
            }
            None => self.defs.push(0),
        }
    }
}

fn text(s: &str) -> ByteArray {
    ByteArray::from(s.as_bytes().to_vec())
}

impl Columns {
    /// Appends one record: one pass over its fields, no lookups by name.
    pub fn push(&mut self, r: &Record) {
        let int = |v: &Value| v.as_u64().map(|n| i64::try_from(n).unwrap_or(i64::MAX));
        let json = |v: &Value| {
            let mut b = Vec::with_capacity(64);
            // A Value always serializes.
            let _ = serde_json::to_writer(&mut b, v);
            ByteArray::from(b)
        };
        let (mut ts, mut event, mut session, mut seq, mut cost, mut model) =
            (None, None, None, None, None, None);
        let (mut input_t, mut output_t, mut files, mut reason) = (None, None, None, None);
        let (mut confidence, mut duration_ms, mut config) = (None, None, None);
        // Every other field, and known ones of another type, as written.
        let mut extra: Vec<u8> = Vec::new();
        for (k, v) in r.fields() {
            let typed = match k.as_str() {
                "ts" => {
                    ts = r.ts().map(Timestamp::unix_micros);
                    ts.is_some()
                }
                "event" => v.as_str().map(|s| event = Some(text(s))).is_some(),
                "session_id" => v.as_str().map(|s| session = Some(text(s))).is_some(),
                "seq" => int(v).map(|n| seq = Some(n)).is_some(),
                "cost" => v.is_null() || v.as_f64().map(|c| cost = Some(c)).is_some(),
                "model" => v.as_str().map(|s| model = Some(text(s))).is_some(),
                "input_t" => int(v).map(|n| input_t = Some(n)).is_some(),
                "output_t" => int(v).map(|n| output_t = Some(n)).is_some(),
                "files" => {
                    files = Some(json(v));
                    true
                }
                "reason" => v.as_str().map(|s| reason = Some(text(s))).is_some(),
                "confidence" => v.as_f64().map(|c| confidence = Some(c)).is_some(),
                "duration_ms" => v.as_f64().map(|c| duration_ms = Some(c)).is_some(),
                "config" => {
                    config = Some(json(v));
                    true
                }
                _ => false,
            };
            if !typed {
                extra.push(if extra.is_empty() { b'{' } else { b',' });
                let _ = serde_json::to_writer(&mut extra, k);
                extra.push(b':');
                let _ = serde_json::to_writer(&mut extra, v);
            }
        }
        if !extra.is_empty() {
            extra.push(b'}');
        }
        self.ts.push(ts);
        self.event.push(event);
        self.session_id.push(session);
        self.seq.push(seq);
        self.cost.push(cost);
        self.model.push(model);
        self.input_t.push(input_t);
        self.output_t.push(output_t);
        self.files.push(files);
        self.reason.push(reason);
        self.confidence.push(confidence);
        self.duration_ms.push(duration_ms);
        self.config.push(config);
        self.extra
            .push((!extra.is_empty()).then(|| ByteArray::from(extra)));
        self.rows += 1;
    }

    /// Appends one row of the fast path: the same values [`Columns::push`]
    /// takes from the record `decode_line` makes of the same line.
    pub fn push_row(&mut self, r: &Row<'_>) {
        let int = |n: Option<u64>| n.map(|n| i64::try_from(n).unwrap_or(i64::MAX));
        let [ev, se, mo, re, co] = &mut self.recent;
        self.ts.push(r.ts.map(Timestamp::unix_micros));
        self.event.push(r.event.map(|s| ev.get(s.as_bytes())));
        self.session_id
            .push(r.session_id.map(|s| se.get(s.as_bytes())));
        self.seq.push(int(r.seq));
        self.cost.push(r.cost);
        self.model.push(r.model.map(|s| mo.get(s.as_bytes())));
        self.input_t.push(int(r.input_t));
        self.output_t.push(int(r.output_t));
        self.files
            .push(r.files.map(|t| ByteArray::from(t.to_vec())));
        self.reason.push(r.reason.map(|s| re.get(s.as_bytes())));
        self.confidence.push(r.confidence);
        self.duration_ms.push(r.duration_ms);
        self.config.push(r.config.map(|t| co.get(t)));
        self.extra.push((!r.extra.is_empty()).then(|| {
            let mut b = Vec::with_capacity(64);
            for (k, v) in &r.extra {
                b.push(if b.is_empty() { b'{' } else { b',' });
                b.extend_from_slice(k);
                b.push(b':');
                b.extend_from_slice(v);
            }
            b.push(b'}');
            ByteArray::from(b)
        }));
        self.rows += 1;
    }

    /// Empties the buffers, keeping their capacity and the recent values
    /// (a cleared buffer is reused for a later row group, so its pages are
    /// not allocated and zeroed again).
    fn clear(&mut self) {
        self.ts.clear();
        self.event.clear();
        self.session_id.clear();
        self.seq.clear();
        self.cost.clear();
        self.model.clear();
        self.input_t.clear();
        self.output_t.clear();
        self.files.clear();
        self.reason.clear();
        self.confidence.clear();
        self.duration_ms.clear();
        self.config.clear();
        self.extra.clear();
        self.rows = 0;
    }
}

#[cfg(test)]
impl Columns {
    /// Every column's values and definition levels, as text (floats to
    /// their shortest exact form: equal text is equal bits).
    pub fn dump(&self) -> String {
        fn one<T: std::fmt::Debug>(o: &Opt<T>) -> String {
            format!("{:?} {:?}\n", o.values, o.defs)
        }
        [
            one(&self.ts),
            one(&self.event),
            one(&self.session_id),
            one(&self.seq),
            one(&self.cost),
            one(&self.model),
            one(&self.input_t),
            one(&self.output_t),
            one(&self.files),
            one(&self.reason),
            one(&self.confidence),
            one(&self.duration_ms),
            one(&self.config),
            one(&self.extra),
        ]
        .concat()
            + &self.rows.to_string()
    }
}

/// One open part file.
pub(crate) struct Part {
    /// The part file's Parquet writer (its temporary name).
    pub writer: SerializedFileWriter<File>,
    /// Rows buffered for its next row group.
    pub cols: Columns,
}

impl Part {
    /// Writes the buffered rows as one row group.
    pub fn flush_group(&mut self) -> Result<()> {
        if self.cols.rows == 0 {
            return Ok(());
        }
        let c = &self.cols;
        let mut g = self.writer.next_row_group()?;
        macro_rules! col {
            ($t:ty, $o:expr) => {{
                let mut w = g.next_column()?.ok_or(Error::FewerColumns)?;
                w.typed::<$t>()
                    .write_batch(&$o.values, Some(&$o.defs), None)?;
                w.close()?;
            }};
        }
        col!(Int64Type, c.ts);
        col!(ByteArrayType, c.event);
        col!(ByteArrayType, c.session_id);
        col!(Int64Type, c.seq);
        col!(DoubleType, c.cost);
        col!(ByteArrayType, c.model);
        col!(Int64Type, c.input_t);
        col!(Int64Type, c.output_t);
        col!(ByteArrayType, c.files);
        col!(ByteArrayType, c.reason);
        col!(DoubleType, c.confidence);
        col!(DoubleType, c.duration_ms);
        col!(ByteArrayType, c.config);
        col!(ByteArrayType, c.extra);
        g.close()?;
        self.cols.clear();
        Ok(())
    }
}
