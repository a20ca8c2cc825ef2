//! `log()` on the file store: encoding alone, and appends at the levels
//! without fsync (the fsync'd levels are measured by `cargo xtask bench`,
//! whose runs are long enough to average the disk's latency).

#![allow(missing_docs)] // criterion_group! makes undocumented functions.

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use scout_audit_benches::workload_event;
use scout_audit_core::{Durability, SessionId, Timestamp};
use scout_audit_store_file::FileStore;
use scout_audit_store_file::options::{FsyncPolicy, RotateSize};

fn encode(c: &mut Criterion) {
    let mut g = c.benchmark_group("encode");
    g.throughput(Throughput::Elements(1));
    let e = workload_event(0);
    let ts = Timestamp::now();
    let s = SessionId::random();
    let mut buf = Vec::with_capacity(512);
    g.bench_function("event_encode_into", |b| {
        b.iter(|| {
            buf.clear();
            e.encode_into(ts, &s, 42, &mut buf);
            buf.len()
        })
    });
    g.finish();
}

fn append(c: &mut Criterion) {
    let mut g = c.benchmark_group("append");
    g.throughput(Throughput::Elements(1));
    for (name, d) in [
        ("process", Durability::Process),
        ("buffered", Durability::Buffered),
    ] {
        let dir = tempfile::tempdir().expect("temp dir");
        let store = FileStore::builder(dir.path().join("audit.jsonl"))
            .durability(d)
            .fsync_policy(FsyncPolicy::NEVER)
            .rotate_size(RotateSize::bytes(64 << 20))
            .session(SessionId::random())
            .open()
            .expect("open");
        g.bench_function(name, |b| {
            b.iter(|| store.append(workload_event(1)).expect("append"))
        });
        store.close().expect("close");
    }
    g.finish();
}

criterion_group!(benches, encode, append);
criterion_main!(benches);
