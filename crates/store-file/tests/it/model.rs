//! The model test (testkit `model`): proptest draws sequences of log,
//! batch, flush, rotate, compress, reopen, crash (kill -9 or power loss)
//! and read; each read is checked against an in-memory model.

use proptest::prelude::*;
use scout_audit_testkit::model::{self, Op};

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        5 => (0..2usize, 1..4u64).prop_map(|(w, k)| Op::Log(w, k)),
        2 => (0..2usize, 1..6u64).prop_map(|(w, k)| Op::Batch(w, k)),
        1 => (0..2usize).prop_map(Op::Flush),
        2 => (0..2usize).prop_map(Op::Rotate),
        1 => Just(Op::Compress),
        1 => (0..2usize).prop_map(Op::Reopen),
        1 => (any::<u64>(), any::<bool>()).prop_map(|(seed, power)| Op::Crash { seed, power }),
        2 => Just(Op::Read),
    ]
}

proptest! {
    // 256 cases in CI; more with PROPTEST_CASES.
    #![proptest_config(ProptestConfig {
        cases: std::env::var("PROPTEST_CASES").ok().and_then(|c| c.parse().ok()).unwrap_or(256),
        failure_persistence: None,
        ..ProptestConfig::default()
    })]

    #[test]
    fn the_store_follows_the_model(ops in proptest::collection::vec(op(), 1..40)) {
        model::run(&ops).map_err(TestCaseError::fail)?;
    }
}
