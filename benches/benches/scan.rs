//! The scanner's chunk parser (a mapped plain file, one thread) and its
//! gzip path (one archive, one thread), and the fast line parser alone,
//! on generated lines in our format and in the Python original's.

#![allow(missing_docs)] // criterion_group! makes undocumented functions.

use std::io::Write;
use std::path::{Path, PathBuf};

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use scout_audit_core::{Filter, Timestamp};
use scout_audit_scan::fields::{Want, parse};
use scout_audit_scan::{Inputs, Scan};
use scout_audit_store_file::Layout;

const COMPACT: &str = r#"{"ts":"2026-11-27T05:21:16.123456+00:00","event":"llm_call","session_id":"3f2b8c1e-9a4d-4e6f-8b7a-1c2d3e4f5a6b","seq":1234,"cost":0.0123,"model":"claude-sonnet-4","input_t":1234,"output_t":321,"files":["src/main.rs","README.md"],"duration_ms":842,"repo":"scout"}"#;
const PYTHON: &str = r#"{"ts": "2026-11-27T05:21:16.123456+00:00", "event": "nav", "session_id": "3f2b8c1e-9a4d-4e6f-8b7a-1c2d3e4f5a6b", "cost": 0.0123, "model": "claude-sonnet-4", "input_t": 1234, "output_t": 321, "files": ["src/main.rs", "README.md"], "duration_ms": 842, "repo": "scout"}"#;

/// The first line's second; lines are 20 s apart.
const START: i64 = 1_790_000_000;

/// About `mib` MiB of lines over 60 days, both formats mixed.
fn data(mib: usize) -> Vec<u8> {
    let mut out = Vec::with_capacity(mib << 20);
    let mut i: i64 = 0;
    let start = START;
    while out.len() < mib << 20 {
        // 20 s apart: 64 MiB (about 250k lines) span about 60 days.
        let ts = Timestamp::from_unix(start + i * 20, (i as u32 % 1000) * 1000)
            .unwrap_or(Timestamp::UNIX_EPOCH)
            .to_python_string();
        let line = if i % 3 == 0 { PYTHON } else { COMPACT };
        out.extend_from_slice(
            line.replace("2026-11-27T05:21:16.123456+00:00", &ts)
                .as_bytes(),
        );
        out.push(b'\n');
        i += 1;
    }
    out
}

/// The path of archive 1 of the store whose live file is `live`, sealed
/// at `seal_secs`, named by the store's layout. (The layout names an
/// archive from a sealed segment; there is no one-call helper for it.)
fn archive_path(live: &Path, seal_secs: i64) -> PathBuf {
    let layout = Layout::new(live).unwrap_or_else(|e| panic!("{e}"));
    let name = layout.sealed_name(seal_secs, 1);
    let sealed = layout
        .parse_segment(&name)
        .unwrap_or_else(|| panic!("the layout does not read back {name}"));
    layout.archive_path(&sealed)
}

fn scans(c: &mut Criterion) {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("tempdir: {e}"));
    let bytes = data(64);
    let plain = dir.path().join("bench.jsonl");
    std::fs::write(&plain, &bytes).unwrap_or_else(|e| panic!("write: {e}"));
    // Sealed the second after its last line; an explicitly named `.gz` is
    // read as gzip, and our archives are never pruned by their names.
    let last_secs = START + 20 * (bytes.iter().filter(|&&b| b == b'\n').count() as i64 - 1);
    let gz = archive_path(&plain, last_secs + 1);
    let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::new(6));
    enc.write_all(&bytes)
        .unwrap_or_else(|e| panic!("gzip: {e}"));
    std::fs::write(&gz, enc.finish().unwrap_or_default()).unwrap_or_else(|e| panic!("write: {e}"));
    let since = Timestamp::from_unix(1_790_000_000 + 40 * 86_400, 0).unwrap_or(Timestamp::MIN);
    let mut g = c.benchmark_group("scan");
    g.throughput(Throughput::Bytes(bytes.len() as u64));
    g.sample_size(10);
    for (name, filter) in [
        ("count_all", Filter::new()),
        (
            "count_nav_last_20_days",
            Filter::new().since(since).event("nav"),
        ),
    ] {
        g.bench_function(format!("chunks_1_thread/{name}"), |b| {
            b.iter(|| {
                let inputs = Inputs::paths([&plain]).unwrap_or_else(|e| panic!("{e}"));
                Scan::new(inputs)
                    .threads(Some(1))
                    .filter(filter.clone())
                    .count()
                    .map(|a| a.value)
            })
        });
        g.bench_function(format!("gzip_1_thread/{name}"), |b| {
            b.iter(|| {
                let inputs = Inputs::paths([&gz]).unwrap_or_else(|e| panic!("{e}"));
                Scan::new(inputs)
                    .threads(Some(1))
                    .filter(filter.clone())
                    .count()
                    .map(|a| a.value)
            })
        });
    }
    g.finish();
}

fn lines(c: &mut Criterion) {
    let mut g = c.benchmark_group("fast_parse");
    for (name, line) in [("compact", COMPACT), ("python", PYTHON)] {
        g.throughput(Throughput::Bytes(line.len() as u64));
        g.bench_function(format!("{name}/all_fields"), |b| {
            b.iter(|| parse(line.as_bytes(), Want::ALL))
        });
        g.bench_function(format!("{name}/event_only"), |b| {
            let want = Want {
                event: true,
                ..Want::default()
            };
            b.iter(|| parse(line.as_bytes(), want))
        });
    }
    g.finish();
}

criterion_group!(benches, scans, lines);
criterion_main!(benches);
