//! The line decoder and the timestamp parser, on our compact lines and on
//! the Python original's spaced ones.

#![allow(missing_docs)] // criterion_group! makes undocumented functions.

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use scout_audit_core::{Timestamp, decode_line};

const COMPACT: &str = r#"{"ts":"2026-11-27T05:21:16.123456+00:00","event":"llm_call","session_id":"3f2b8c1e-9a4d-4e6f-8b7a-1c2d3e4f5a6b","seq":1234,"cost":0.0123,"model":"claude-sonnet-4","input_t":1234,"output_t":321,"files":["src/main.rs","README.md"],"duration_ms":842,"repo":"scout"}"#;
const PYTHON: &str = r#"{"ts": "2026-11-27T05:21:16.123456+00:00", "event": "llm_call", "session_id": "3f2b8c1e-9a4d-4e6f-8b7a-1c2d3e4f5a6b", "cost": 0.0123, "model": "claude-sonnet-4", "input_t": 1234, "output_t": 321, "files": ["src/main.rs", "README.md"], "duration_ms": 842, "repo": "scout"}"#;

fn lines(c: &mut Criterion) {
    let mut g = c.benchmark_group("decode_line");
    for (name, line) in [("compact", COMPACT), ("python", PYTHON)] {
        g.throughput(Throughput::Bytes(line.len() as u64));
        g.bench_function(name, |b| b.iter(|| decode_line(line.as_bytes())));
    }
    g.finish();
}

fn timestamps(c: &mut Criterion) {
    let mut g = c.benchmark_group("timestamp");
    g.throughput(Throughput::Elements(1));
    g.bench_function("parse", |b| {
        b.iter(|| Timestamp::parse("2026-11-27T05:21:16.123456+00:00"))
    });
    let t = Timestamp::now();
    let mut buf = Vec::with_capacity(40);
    g.bench_function("write_python", |b| {
        b.iter(|| {
            buf.clear();
            t.write_python(&mut buf);
            buf.len()
        })
    });
    g.finish();
}

criterion_group!(benches, lines, timestamps);
criterion_main!(benches);
