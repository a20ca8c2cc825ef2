//! The README's ten-line example, compiled by `cargo test` so it stays true.
//! Run: `cargo run -p scout-audit-store-file --example readme -- /tmp/x/audit.jsonl`

use scout_audit_core::{Durability, Event, Filter};
use scout_audit_store_file::{AuditLog, FileStore};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let path = std::env::args().nth(1).ok_or("usage: readme PATH")?;
    let store = FileStore::builder(path)
        .durability(Durability::Sync)
        .open()?;
    let log = AuditLog::with_store(store);
    log.log(
        Event::new("llm_call")
            .cost(0.012)
            .model("claude-sonnet")
            .input_t(900)
            .output_t(120),
    )?;
    log.log(
        Event::new("nav")
            .files(["src/main.rs"])
            .confidence(90)
            .field("ticket", "SCOUT-42"),
    )?;
    let last_hour = log.hourly_spend(1.0)?; // exact sum of cost, ts >= now - 1h
    let accuracy = log.accuracy_metrics(None)?; // {total_nav, validation_fail_count, accuracy_pct}
    for r in log.query(&Filter::new().event("nav"))? {
        println!("{:?}", r?.files().collect::<Vec<_>>());
    }
    log.close()?; // dropping it also flushes and closes
    println!("last hour: {last_hour}, accuracy: {accuracy:?}");
    Ok(())
}
