//! [`Event`]: what a program logs, built field by field, and its one
//! encoding as a JSONL line.

use std::borrow::Cow;

use serde_json::{Map, Value};

use crate::{SessionId, Timestamp, WriterId};

/// The event types the Python original knows. The set is open: any string
/// is a valid event type.
pub mod types {
    /// A navigation decision.
    pub const NAV: &str = "nav";
    /// A navigation result that failed validation.
    pub const VALIDATION_FAIL: &str = "validation_fail";
    /// A brief was produced.
    pub const BRIEF: &str = "brief";
    /// A model cascade step.
    pub const CASCADE: &str = "cascade";
    /// A call to an LLM.
    pub const LLM_CALL: &str = "llm_call";
    /// A budget limit was hit.
    pub const BUDGET_EXCEEDED: &str = "budget_exceeded";
    /// All of the above, in this order.
    pub const KNOWN: [&str; 6] = [
        NAV,
        VALIDATION_FAIL,
        BRIEF,
        CASCADE,
        LLM_CALL,
        BUDGET_EXCEEDED,
    ];
}

/// Field names the writer owns or types; [`Event::field`] routes them to
/// their typed setters.
pub const RESERVED_FIELDS: [&str; 13] = [
    "ts",
    "event",
    "session_id",
    "seq",
    "cost",
    "model",
    "input_t",
    "output_t",
    "files",
    "reason",
    "confidence",
    "duration_ms",
    "config",
];

/// The field a writer stamps with its [`WriterId`] on records it logs
/// under a session it did not generate (written after `seq`). Reserved
/// like `seq`: [`Event::field`] refuses it, and
/// [`Event::from_json_object`] ignores it.
pub const WRITER_FIELD: &str = "writer";

/// One event to log, built with chained setters:
///
/// ```
/// use scout_audit_core::Event;
/// let e = Event::new("nav")
///     .cost(0.012)
///     .model("claude-sonnet")
///     .files(["src/main.rs", "README.md"])
///     .field("ticket", "SCOUT-42");
/// assert_eq!(e.event_type(), "nav");
/// ```
///
/// The writer adds `ts` (unless set with [`Event::ts`]), `session_id`
/// (unless set with [`Event::session`]) and `seq` when it logs the event.
#[derive(Clone, Debug, PartialEq)]
pub struct Event {
    event: Cow<'static, str>,
    ts: Option<Timestamp>,
    session: Option<SessionId>,
    cost: Option<f64>,
    model: Option<String>,
    input_t: Option<u64>,
    output_t: Option<u64>,
    files: Option<Vec<String>>,
    reason: Option<String>,
    confidence: Option<i64>,
    duration_ms: Option<u64>,
    config: Option<Value>,
    /// Extra fields in insertion order; never holds a [`RESERVED_FIELDS`] name.
    extra: Map<String, Value>,
    /// The first problem met while building (a reserved field given a value
    /// of the wrong type, say); a sink refuses the event while it is set.
    invalid: Option<String>,
}

impl Event {
    /// A new event of the given type (see [`types`] for the known ones).
    pub fn new(event_type: impl Into<Cow<'static, str>>) -> Event {
        Event {
            event: event_type.into(),
            ts: None,
            session: None,
            cost: None,
            model: None,
            input_t: None,
            output_t: None,
            files: None,
            reason: None,
            confidence: None,
            duration_ms: None,
            config: None,
            extra: Map::new(),
            invalid: None,
        }
    }

    /// Sets the time of the event instead of the time it is logged.
    pub fn ts(mut self, ts: Timestamp) -> Self {
        self.ts = Some(ts);
        self
    }

    /// Writes the event under another session id than the writer's.
    pub fn session(mut self, session: impl Into<SessionId>) -> Self {
        self.session = Some(session.into());
        self
    }

    /// Cost in dollars. A non-finite cost is written as `null`.
    pub fn cost(mut self, cost: f64) -> Self {
        self.cost = Some(cost);
        self
    }

    /// The model used.
    pub fn model(mut self, model: impl Into<String>) -> Self {
        self.model = Some(model.into());
        self
    }

    /// Input tokens.
    pub fn input_t(mut self, tokens: u64) -> Self {
        self.input_t = Some(tokens);
        self
    }

    /// Output tokens.
    pub fn output_t(mut self, tokens: u64) -> Self {
        self.output_t = Some(tokens);
        self
    }

    /// Files touched.
    pub fn files<I, S>(mut self, files: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.files = Some(files.into_iter().map(Into::into).collect());
        self
    }

    /// Why it happened.
    pub fn reason(mut self, reason: impl Into<String>) -> Self {
        self.reason = Some(reason.into());
        self
    }

    /// Confidence, as an integer (the Python signature's `int`).
    pub fn confidence(mut self, confidence: i64) -> Self {
        self.confidence = Some(confidence);
        self
    }

    /// How long it took, in milliseconds.
    pub fn duration_ms(mut self, ms: u64) -> Self {
        self.duration_ms = Some(ms);
        self
    }

    /// The configuration in effect (any JSON value; the original passes a dict).
    pub fn config(mut self, config: impl Into<Value>) -> Self {
        self.config = Some(config.into());
        self
    }

    /// Adds an extra field. A name the writer types (see
    /// [`RESERVED_FIELDS`]) goes to its typed setter instead: `cost` must be
    /// a number, `ts` a valid timestamp text, and so on; `seq` and `writer`
    /// cannot be set.
    /// A value that does not fit makes the event invalid, and sinks refuse
    /// it with [`crate::Error::InvalidEvent`].
    pub fn field(mut self, key: impl Into<String>, value: impl Into<Value>) -> Self {
        let key = key.into();
        let value = value.into();
        if let Err(problem) = self.set_reserved_or_extra(key, value) {
            self.invalid.get_or_insert(problem);
        }
        self
    }

    /// Adds an extra field whose value is not JSON, as its `Display` text
    /// (the Python original's `str(value)`).
    pub fn field_display(self, key: impl Into<String>, value: impl std::fmt::Display) -> Self {
        self.field(key, Value::String(value.to_string()))
    }

    /// Builds an event from a JSON object such as one line of
    /// `scout-audit log --stdin`: `event` is required, every other field goes
    /// through [`Event::field`], except `session_id`, `seq` and `writer`,
    /// which are ignored because the writer always assigns them. An invalid `ts` is not
    /// an error here: the returned flag says it was dropped, so the writer
    /// assigns the time.
    pub fn from_json_object(mut obj: Map<String, Value>) -> Result<(Event, bool), String> {
        let event = match obj.remove("event") {
            Some(Value::String(s)) => s,
            Some(other) => return Err(format!("\"event\" must be a string, not {}", kind(&other))),
            None => return Err("missing \"event\"".to_string()),
        };
        let mut dropped_ts = false;
        let mut e = Event::new(event);
        for (k, v) in obj {
            if k == "ts" {
                match v.as_str().map(Timestamp::parse) {
                    Some(Ok(t)) => e.ts = Some(t),
                    _ => dropped_ts = true,
                }
                continue;
            }
            if k == "session_id" || k == "seq" || k == WRITER_FIELD {
                continue;
            }
            e = e.field(k, v);
        }
        e.validate()?;
        Ok((e, dropped_ts))
    }

    fn set_reserved_or_extra(&mut self, key: String, value: Value) -> Result<(), String> {
        let want = |what: &str| format!("field \"{key}\" must be {what}, not {}", kind(&value));
        match key.as_str() {
            "ts" => {
                let t = value
                    .as_str()
                    .ok_or_else(|| want("a timestamp string"))
                    .and_then(|s| Timestamp::parse(s).map_err(|e| e.to_string()))?;
                self.ts = Some(t);
            }
            "event" => match value {
                Value::String(s) => self.event = Cow::Owned(s),
                _ => return Err(want("a string")),
            },
            "session_id" => match value {
                Value::String(s) => self.session = Some(SessionId::from(s)),
                _ => return Err(want("a string")),
            },
            "seq" | WRITER_FIELD => {
                return Err(format!("field \"{key}\" is assigned by the writer"));
            }
            "cost" => self.cost = Some(value.as_f64().ok_or_else(|| want("a number"))?),
            "model" => {
                self.model = Some(value.as_str().ok_or_else(|| want("a string"))?.to_owned())
            }
            "input_t" => {
                self.input_t = Some(
                    value
                        .as_u64()
                        .ok_or_else(|| want("a non-negative integer"))?,
                )
            }
            "output_t" => {
                self.output_t = Some(
                    value
                        .as_u64()
                        .ok_or_else(|| want("a non-negative integer"))?,
                )
            }
            "duration_ms" => {
                self.duration_ms = Some(
                    value
                        .as_u64()
                        .ok_or_else(|| want("a non-negative integer"))?,
                )
            }
            "confidence" => {
                self.confidence = Some(value.as_i64().ok_or_else(|| want("an integer"))?)
            }
            "reason" => {
                self.reason = Some(value.as_str().ok_or_else(|| want("a string"))?.to_owned())
            }
            "files" => {
                let arr = value
                    .as_array()
                    .ok_or_else(|| want("an array of strings"))?;
                let mut files = Vec::with_capacity(arr.len());
                for f in arr {
                    files.push(
                        f.as_str()
                            .ok_or_else(|| want("an array of strings"))?
                            .to_owned(),
                    );
                }
                self.files = Some(files);
            }
            "config" => self.config = Some(value),
            _ => {
                self.extra.insert(key, value);
            }
        }
        Ok(())
    }

    /// `Ok` unless building the event met a problem (see [`Event::field`]).
    pub fn validate(&self) -> Result<(), String> {
        match &self.invalid {
            Some(p) => Err(p.clone()),
            None => Ok(()),
        }
    }

    /// The event type.
    pub fn event_type(&self) -> &str {
        &self.event
    }

    /// The time set with [`Event::ts`], if any.
    pub fn timestamp(&self) -> Option<Timestamp> {
        self.ts
    }

    /// The session set with [`Event::session`], if any.
    pub fn session_override(&self) -> Option<&SessionId> {
        self.session.as_ref()
    }

    /// The cost, if set.
    pub fn get_cost(&self) -> Option<f64> {
        self.cost
    }

    /// The model, if set.
    pub fn get_model(&self) -> Option<&str> {
        self.model.as_deref()
    }

    /// Input tokens, if set.
    pub fn get_input_t(&self) -> Option<u64> {
        self.input_t
    }

    /// Output tokens, if set.
    pub fn get_output_t(&self) -> Option<u64> {
        self.output_t
    }

    /// The extra fields, in insertion order.
    pub fn extra(&self) -> &Map<String, Value> {
        &self.extra
    }

    /// Appends the event as one JSONL line (with its final `\n`) in the
    /// field order of docs/format.md: `ts`, `event`, `session_id`, `seq`,
    /// the known optional fields that are set, then the extra fields in
    /// insertion order. `ts` and `session` are used unless the event sets
    /// its own. Compact separators; non-ASCII written as UTF-8. No
    /// `writer` stamp (see [`Event::encode_stamped`]).
    pub fn encode_into(&self, ts: Timestamp, session: &SessionId, seq: u64, out: &mut Vec<u8>) {
        self.encode_stamped(ts, session, seq, None, out);
    }

    /// [`Event::encode_into`], with `"writer":"<id>"` after `seq` when
    /// `writer` is given: what a writer does for an event logged under a
    /// session it did not generate (docs/format.md).
    pub fn encode_stamped(
        &self,
        ts: Timestamp,
        session: &SessionId,
        seq: u64,
        writer: Option<&WriterId>,
        out: &mut Vec<u8>,
    ) {
        out.extend_from_slice(b"{\"ts\":\"");
        self.ts.unwrap_or(ts).write_python(out);
        out.extend_from_slice(b"\",\"event\":");
        write_str(out, &self.event);
        out.extend_from_slice(b",\"session_id\":");
        write_str(out, self.session.as_ref().unwrap_or(session).as_str());
        out.extend_from_slice(b",\"seq\":");
        out.extend_from_slice(itoa_u64(seq, &mut [0u8; 20]));
        if let Some(w) = writer {
            out.extend_from_slice(b",\"writer\":");
            write_str(out, w.as_str());
        }
        if let Some(c) = self.cost {
            out.extend_from_slice(b",\"cost\":");
            write_f64(out, c);
        }
        if let Some(m) = &self.model {
            out.extend_from_slice(b",\"model\":");
            write_str(out, m);
        }
        if let Some(n) = self.input_t {
            out.extend_from_slice(b",\"input_t\":");
            out.extend_from_slice(itoa_u64(n, &mut [0u8; 20]));
        }
        if let Some(n) = self.output_t {
            out.extend_from_slice(b",\"output_t\":");
            out.extend_from_slice(itoa_u64(n, &mut [0u8; 20]));
        }
        if let Some(files) = &self.files {
            out.extend_from_slice(b",\"files\":[");
            for (i, f) in files.iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                write_str(out, f);
            }
            out.push(b']');
        }
        if let Some(r) = &self.reason {
            out.extend_from_slice(b",\"reason\":");
            write_str(out, r);
        }
        if let Some(c) = self.confidence {
            out.extend_from_slice(b",\"confidence\":");
            write_value(out, &Value::from(c));
        }
        if let Some(n) = self.duration_ms {
            out.extend_from_slice(b",\"duration_ms\":");
            out.extend_from_slice(itoa_u64(n, &mut [0u8; 20]));
        }
        if let Some(c) = &self.config {
            out.extend_from_slice(b",\"config\":");
            write_value(out, c);
        }
        for (k, v) in &self.extra {
            out.push(b',');
            write_str(out, k);
            out.push(b':');
            write_value(out, v);
        }
        out.extend_from_slice(b"}\n");
    }
}

fn kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

fn itoa_u64(mut n: u64, buf: &mut [u8; 20]) -> &[u8] {
    let mut i = buf.len();
    loop {
        i -= 1;
        buf[i] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    &buf[i..]
}

fn write_str(out: &mut Vec<u8>, s: &str) {
    // Fast path: nothing to escape.
    if s.bytes().all(|b| b >= 0x20 && b != b'"' && b != b'\\') {
        out.push(b'"');
        out.extend_from_slice(s.as_bytes());
        out.push(b'"');
    } else {
        // serde_json writes a &str into a Vec without failing.
        let _ = serde_json::to_writer(&mut *out, s);
    }
}

fn write_f64(out: &mut Vec<u8>, v: f64) {
    // serde_json writes non-finite floats as `null`, finite ones with ryu.
    let _ = serde_json::to_writer(&mut *out, &v);
}

fn write_value(out: &mut Vec<u8>, v: &Value) {
    // Serializing a Value into a Vec cannot fail (keys are strings).
    let _ = serde_json::to_writer(&mut *out, v);
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn line(e: &Event) -> String {
        let ts = Timestamp::parse("2026-11-27T05:21:16.123456+00:00").unwrap();
        let mut out = Vec::new();
        e.encode_into(ts, &SessionId::new("s-1"), 7, &mut out);
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn encodes_in_python_field_order() {
        let e = Event::new(types::NAV)
            .field("zeta", 1)
            .config(json!({"k": [1, 2]}))
            .duration_ms(12)
            .confidence(80)
            .reason("because \"x\"")
            .files(["a.rs", "b/ü.rs"])
            .output_t(5)
            .input_t(100)
            .model("m1")
            .cost(0.012)
            .field("alpha", json!(null));
        assert_eq!(
            line(&e),
            "{\"ts\":\"2026-11-27T05:21:16.123456+00:00\",\"event\":\"nav\",\"session_id\":\"s-1\",\
             \"seq\":7,\"cost\":0.012,\"model\":\"m1\",\"input_t\":100,\"output_t\":5,\
             \"files\":[\"a.rs\",\"b/ü.rs\"],\"reason\":\"because \\\"x\\\"\",\"confidence\":80,\
             \"duration_ms\":12,\"config\":{\"k\":[1,2]},\"zeta\":1,\"alpha\":null}\n"
        );
    }

    #[test]
    fn event_ts_and_session_override_the_writer() {
        let t = Timestamp::parse("2020-01-01T00:00:00Z").unwrap();
        let e = Event::new("x").ts(t).session("other");
        let l = line(&e);
        assert!(l.starts_with(
            "{\"ts\":\"2020-01-01T00:00:00+00:00\",\"event\":\"x\",\"session_id\":\"other\""
        ));
    }

    #[test]
    fn non_finite_cost_is_null_and_control_chars_escaped() {
        let e = Event::new("a\nb").cost(f64::NAN).field("t", "\u{1}");
        let l = line(&e);
        assert!(l.contains("\"event\":\"a\\nb\""), "{l}");
        assert!(l.contains("\"cost\":null"), "{l}");
        assert!(l.contains("\"t\":\"\\u0001\""), "{l}");
        assert_eq!(l.matches('\n').count(), 1);
        let v: Value = serde_json::from_str(l.trim_end()).unwrap();
        assert!(v.is_object());
    }

    #[test]
    fn writer_stamp_follows_seq_and_is_reserved() {
        let ts = Timestamp::parse("2020-01-01T00:00:00Z").unwrap();
        let w = WriterId::random();
        let mut out = Vec::new();
        Event::new("x")
            .cost(1.0)
            .encode_stamped(ts, &SessionId::new("s"), 0, Some(&w), &mut out);
        assert_eq!(
            String::from_utf8(out).unwrap(),
            format!(
                "{{\"ts\":\"2020-01-01T00:00:00+00:00\",\"event\":\"x\",\"session_id\":\"s\",\"seq\":0,\"writer\":\"{w}\",\"cost\":1.0}}\n"
            )
        );
        assert_eq!(
            Event::new("x")
                .field("writer", "me")
                .validate()
                .unwrap_err(),
            "field \"writer\" is assigned by the writer"
        );
        let obj = json!({"event": "nav", "writer": "0123456789abcdef"});
        let (e, _) = Event::from_json_object(obj.as_object().unwrap().clone()).unwrap();
        assert!(e.extra().is_empty());
    }

    #[test]
    fn reserved_fields_are_typed() {
        let e = Event::new("nav")
            .field("cost", 0.5)
            .field("files", json!(["a"]));
        assert_eq!(e.get_cost(), Some(0.5));
        assert!(e.validate().is_ok());
        assert!(e.extra().is_empty());
        let bad = Event::new("nav").field("cost", "cheap");
        assert_eq!(
            bad.validate().unwrap_err(),
            "field \"cost\" must be a number, not a string"
        );
        let bad = Event::new("nav").field("seq", 3);
        assert_eq!(
            bad.validate().unwrap_err(),
            "field \"seq\" is assigned by the writer"
        );
    }

    #[test]
    fn from_json_object_reads_stdin_lines() {
        let obj = json!({"event": "nav", "ts": "2026-01-01T00:00:00Z", "cost": 1, "x": {"y": 2}});
        let (e, dropped) = Event::from_json_object(obj.as_object().unwrap().clone()).unwrap();
        assert!(!dropped);
        assert_eq!(
            e.timestamp(),
            Some(Timestamp::parse("2026-01-01T00:00:00Z").unwrap())
        );
        assert_eq!(e.extra().get("x"), Some(&json!({"y": 2})));
        let obj = json!({"event": "nav", "ts": "yesterday", "seq": 4, "session_id": "s"});
        let (e, dropped) = Event::from_json_object(obj.as_object().unwrap().clone()).unwrap();
        assert!(dropped);
        assert_eq!(e.timestamp(), None);
        assert_eq!(e.session_override(), None);
        for (bad, msg) in [
            (json!({"cost": 1}), "missing \"event\""),
            (
                json!({"event": 3}),
                "\"event\" must be a string, not a number",
            ),
            (
                json!({"event": "nav", "input_t": -1}),
                "field \"input_t\" must be a non-negative integer, not a number",
            ),
        ] {
            assert_eq!(
                Event::from_json_object(bad.as_object().unwrap().clone()).unwrap_err(),
                msg
            );
        }
    }
}
