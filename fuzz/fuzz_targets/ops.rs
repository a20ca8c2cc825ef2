//! Operation sequences over the simulated file system: the bytes decode
//! to log, batch, flush, rotate, compress, reopen, crash (kill -9 or power
//! loss with damage from a seed) and read (testkit `model::Op::decode`),
//! run against the in-memory model; any divergence is a crash.
#![no_main]

use libfuzzer_sys::fuzz_target;
use scout_audit_testkit::model::{self, Op};

fuzz_target!(|data: &[u8]| {
    // Long sequences add little but time.
    let ops = Op::decode(&data[..data.len().min(512)]);
    if let Err(e) = model::run(&ops) {
        panic!("{e}\nops: {ops:?}");
    }
});
