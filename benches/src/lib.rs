//! Benchmarks of scout-audit: criterion benches in `benches/` (one file per
//! component) and the `throughput` runner that `cargo xtask bench` drives.
//!
//! The workload shared by all of them is [`workload_event`]: a realistic
//! `llm_call` record of about 230 bytes.

use scout_audit_core::Event;

/// The event every throughput measurement logs.
pub fn workload_event(i: u64) -> Event {
    Event::new("llm_call")
        .cost(0.0123)
        .model("claude-sonnet-4")
        .input_t(1234 + i % 7)
        .output_t(321)
        .files(["src/main.rs", "README.md"])
        .duration_ms(842)
        .field("repo", "scout")
}
