//! Criterion benches for scout-audit; see benches/benches/.
