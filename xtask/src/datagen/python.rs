//! Lines as the Python original's `json.dumps` wrote them.

use scout_audit_core::Timestamp;
use serde_json::Value;

use super::records::Rec;

pub(super) fn push_u64(out: &mut Vec<u8>, mut n: u64) {
    let mut buf = [0u8; 20];
    let mut i = buf.len();
    loop {
        i -= 1;
        buf[i] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    out.extend_from_slice(&buf[i..]);
}

/// One record as the Python original's `json.dumps(event)` wrote it:
/// `", "` and `": "` separators, non-ASCII escaped (`ensure_ascii`), no
/// `seq`, the fields in the order of its `log()`.
pub(super) fn write_python_line(
    rec: &Rec,
    configs: &[Value],
    ts: Timestamp,
    session: &str,
    out: &mut Vec<u8>,
) {
    out.extend_from_slice(b"{\"ts\": \"");
    ts.write_python(out);
    out.extend_from_slice(b"\", \"event\": ");
    py_str(out, rec.event);
    out.extend_from_slice(b", \"session_id\": ");
    py_str(out, session);
    if let Some(c) = rec.cost {
        out.extend_from_slice(b", \"cost\": ");
        c.write(out);
    }
    if let Some(m) = rec.model {
        out.extend_from_slice(b", \"model\": ");
        py_str(out, m);
    }
    for (key, n) in [
        (&b", \"input_t\": "[..], rec.input_t),
        (b", \"output_t\": ", rec.output_t),
    ] {
        if let Some(n) = n {
            out.extend_from_slice(key);
            push_u64(out, n);
        }
    }
    if let Some(files) = rec.files() {
        out.extend_from_slice(b", \"files\": [");
        for (i, f) in files.iter().enumerate() {
            if i > 0 {
                out.extend_from_slice(b", ");
            }
            py_str(out, f);
        }
        out.push(b']');
    }
    if let Some(r) = rec.reason {
        out.extend_from_slice(b", \"reason\": ");
        py_str(out, r);
    }
    for (key, n) in [
        (&b", \"confidence\": "[..], rec.confidence),
        (b", \"duration_ms\": ", rec.duration_ms),
    ] {
        if let Some(n) = n {
            out.extend_from_slice(key);
            push_u64(out, n);
        }
    }
    if let Some(i) = rec.config {
        out.extend_from_slice(b", \"config\": ");
        py_value(out, &configs[i]);
    }
    for (k, v) in rec.extras.iter().flatten() {
        out.extend_from_slice(b", ");
        py_str(out, k);
        out.extend_from_slice(b": ");
        py_value(out, &v.to_value());
    }
    out.extend_from_slice(b"}\n");
}

/// A JSON value as `json.dumps` writes it. Floats use Rust's shortest
/// round-trip text, which equals Python's `repr` for the values used here
/// (between 1e-4 and 1e16).
fn py_value(out: &mut Vec<u8>, v: &Value) {
    match v {
        Value::Null => out.extend_from_slice(b"null"),
        Value::Bool(b) => out.extend_from_slice(if *b { b"true" } else { b"false" }),
        Value::Number(n) => out.extend_from_slice(n.to_string().as_bytes()),
        Value::String(s) => py_str(out, s),
        Value::Array(a) => {
            out.push(b'[');
            for (i, x) in a.iter().enumerate() {
                if i > 0 {
                    out.extend_from_slice(b", ");
                }
                py_value(out, x);
            }
            out.push(b']');
        }
        Value::Object(m) => {
            out.push(b'{');
            for (i, (k, x)) in m.iter().enumerate() {
                if i > 0 {
                    out.extend_from_slice(b", ");
                }
                py_str(out, k);
                out.extend_from_slice(b": ");
                py_value(out, x);
            }
            out.push(b'}');
        }
    }
}

/// A string as `json.dumps` (with `ensure_ascii`) writes it: everything
/// outside `' '..='~'` escaped, astral characters as surrogate pairs.
pub(super) fn py_str(out: &mut Vec<u8>, s: &str) {
    out.push(b'"');
    for c in s.chars() {
        match c {
            '"' => out.extend_from_slice(b"\\\""),
            '\\' => out.extend_from_slice(b"\\\\"),
            '\n' => out.extend_from_slice(b"\\n"),
            '\r' => out.extend_from_slice(b"\\r"),
            '\t' => out.extend_from_slice(b"\\t"),
            '\u{8}' => out.extend_from_slice(b"\\b"),
            '\u{c}' => out.extend_from_slice(b"\\f"),
            ' '..='~' => out.push(c as u8),
            _ => {
                const HEX: &[u8; 16] = b"0123456789abcdef";
                let mut units = [0u16; 2];
                for &u in c.encode_utf16(&mut units).iter() {
                    out.extend_from_slice(b"\\u");
                    for shift in [12, 8, 4, 0] {
                        out.push(HEX[usize::from((u >> shift) & 0xF)]);
                    }
                }
            }
        }
    }
    out.push(b'"');
}
