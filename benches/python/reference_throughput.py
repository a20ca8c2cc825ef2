"""The throughput workload of `cargo xtask bench`, run through the Python
reference (../shared/reference/audit.py), for the side-by-side ratio.

    python3 reference_throughput.py MODE THREADS EVENTS DIR

MODE: process (no fsync), policy (the original's 10 lines / 1 s), sync
(fsync every line). The reference has no buffered level. Rotation is
disabled, as in the Rust runner. Prints one JSON line.
"""

import importlib.util
import json
import os
import sys
import threading
import time
from pathlib import Path


def load_reference():
    default = Path(__file__).resolve().parents[2] / ".." / "shared" / "reference" / "audit.py"
    path = Path(os.environ.get("SCOUT_AUDIT_REFERENCE", default))
    spec = importlib.util.spec_from_file_location("reference_audit", path)
    mod = importlib.util.module_from_spec(spec)
    sys.dont_write_bytecode = True
    spec.loader.exec_module(mod)
    return mod


def main():
    mode, threads, events, out_dir = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
    mod = load_reference()
    mod.ROTATION_SIZE_BYTES = 1 << 62
    if mode == "process":
        mod.FSYNC_EVERY_N_LINES = 1 << 62
        mod.FSYNC_INTERVAL_SEC = 1e18
    elif mode == "sync":
        mod.FSYNC_EVERY_N_LINES = 1
    elif mode != "policy":
        raise SystemExit(f"unknown mode {mode}")
    log = mod.AuditLog(Path(out_dir) / "audit.jsonl")
    per = events // max(threads, 1)

    def work():
        for i in range(per):
            log.log(
                "llm_call",
                cost=0.0123,
                model="claude-sonnet-4",
                input_t=1234 + i % 7,
                output_t=321,
                files=["src/main.rs", "README.md"],
                duration_ms=842,
                repo="scout",
            )

    t0 = time.perf_counter()
    ts = [threading.Thread(target=work) for _ in range(max(threads, 1))]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    secs = time.perf_counter() - t0
    log.close()
    n = per * max(threads, 1)
    print(json.dumps({"mode": mode, "threads": threads, "events": n, "secs": secs, "events_per_sec": n / secs}))


if __name__ == "__main__":
    main()
