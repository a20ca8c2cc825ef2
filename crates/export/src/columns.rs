//! The Parquet side of an export: the schema, the column buffers of one
//! partition ([`Columns`], filled in one pass over a record's fields) and
//! one open part file ([`Part`]), written a row group at a time.

use std::fs::File;

use parquet::data_type::{ByteArray, ByteArrayType, DoubleType, Int64Type};
use parquet::file::writer::SerializedFileWriter;
use scout_audit_core::{Record, Timestamp};
use serde_json::Value;

use crate::error::{Error, Result};

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

    fn clear(&mut self) {
        *self = Columns::default();
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
