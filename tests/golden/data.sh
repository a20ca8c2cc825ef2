#!/bin/bash
# data.sh BIN [DIR]: the fixed data the golden outputs are taken over, made
# with `cargo xtask gen` (deterministic) and BIN (a scout-audit binary: the
# SQLite copy and the indexes). DIR defaults to target/golden/data.
set -euo pipefail
BIN=$(realpath "$1"); D=${2:-target/golden/data}
rm -rf "$D"; mkdir -p "$D/store"
cargo xtask gen --out "$D/store/audit.jsonl" --live-mib 2 --archive-mib 20 --segment-mib 2 --days 30 --malformed 0.001 --seed 7
cargo xtask gen --out "$D/plain.jsonl" --layout plain --live-mib 5 --days 10 --malformed 0.002 --seed 8
cargo xtask gen --out "$D/py.jsonl" --layout plain --live-mib 2 --days 40 --python-style --seed 9
"$BIN" copy --from "$D/store/audit.jsonl" --to "sqlite:$D/copy.db" 2>/dev/null
cp -a "$D/store" "$D/store-noidx"
"$BIN" --path "$D/store/audit.jsonl" index
