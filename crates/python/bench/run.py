"""The Python table of issue 12 (docs/python.md, "Speed"): the package
against the reference original, in the same run, interleaved (A B A B),
medians.

    python run.py [--mib 1024] [--runs 3] [--events 200000] [--dir DIR]

Run it with the interpreter of a venv where `scout_audit` is installed
(a release build: `pip install ./crates/python`). Rows:

- `log()` events/s from one thread with no fsync in the loop: the
  original with its fsync disabled (its constants patched out of reach),
  the package at `process` with `fsync_lines=0, fsync_interval=0`;
- the same at the original's policy (10 lines / 1 s), beside the fsync
  ceiling `10 / fsync latency` measured here;
- `hourly_spend(24)` and `accuracy_metrics(30 days ago)` over a data set
  of `--mib` MiB in one live file (the original reads only the live
  file), 90 days of events ending now; the answers must agree;
- peak memory (max RSS of a child process) of iterating `iter_query()`
  over it, against the original's `query()`.
"""

import argparse
import importlib.util
import json
import os
import random
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[2]


def reference_path():
    for cand in (os.environ.get("SCOUT_AUDIT_REFERENCE"),
                 str(REPO.parent / "shared" / "reference" / "audit.py"),
                 "/work/shared/reference/audit.py"):
        if cand and Path(cand).is_file():
            return cand
    sys.exit("the reference original was not found: set SCOUT_AUDIT_REFERENCE")


def load_original():
    spec = importlib.util.spec_from_file_location("reference_audit", reference_path())
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def fresh(root, name):
    d = Path(tempfile.mkdtemp(prefix=name, dir=root))
    os.chmod(d, 0o700)
    return d / "audit.jsonl"


def log_loop(log, n):
    t = time.perf_counter()
    for i in range(n):
        log.log("llm_call", cost=0.001, model="m1", input_t=900, output_t=120, i=i)
    return n / (time.perf_counter() - t)


def rate_original(orig, root, n, policy):
    if not policy:
        orig.FSYNC_EVERY_N_LINES, orig.FSYNC_INTERVAL_SEC = 1 << 62, 1e18
    else:
        orig.FSYNC_EVERY_N_LINES, orig.FSYNC_INTERVAL_SEC = 10, 1.0
    orig.ROTATION_SIZE_BYTES = 1 << 62
    path = fresh(root, "orig")
    log = orig.AuditLog(path)
    r = log_loop(log, n)
    log.close()
    shutil.rmtree(path.parent)
    return r


def rate_package(root, n, policy):
    import scout_audit

    kw = dict(fsync_lines=10, fsync_interval=1.0) if policy else dict(fsync_lines=0, fsync_interval=0)
    path = fresh(root, "pkg")
    log = scout_audit.AuditLog(path, durability="process", rotate_size=0, **kw)
    r = log_loop(log, n)
    log.close()
    shutil.rmtree(path.parent)
    return r


def fsync_latency(root):
    p = fresh(root, "fsync")
    lat = []
    with open(p, "ab") as f:
        for _ in range(50):
            f.write(b"x" * 100 + b"\n")
            f.flush()
            t = time.perf_counter()
            os.fsync(f.fileno())
            lat.append(time.perf_counter() - t)
    shutil.rmtree(p.parent)
    return statistics.median(lat)


def make_data(path, mib):
    """`mib` MiB of the original's lines over 90 days ending now."""
    end = datetime.now(timezone.utc)
    rnd = random.Random(7)
    types = ["nav"] * 5 + ["validation_fail", "llm_call", "llm_call", "brief", "cascade"]
    target = mib << 20
    size = 0
    n = 0
    with open(path, "w") as f:
        while size < target:
            n += 1
            ts = end - timedelta(seconds=90 * 86400 * (1 - n / (target / 230)))
            ev = {"ts": ts.isoformat(), "event": rnd.choice(types),
                  "session_id": "b6a7c4e0-0000-4000-8000-%012d" % (n // 5000),
                  "cost": round(rnd.random() / 50, 6), "model": rnd.choice(["m1", "m2", "m3"]),
                  "input_t": rnd.randrange(2000), "output_t": rnd.randrange(500),
                  "files": ["src/a.py"], "duration_ms": rnd.randrange(5000)}
            line = json.dumps(ev) + "\n"
            f.write(line)
            size += len(line)
    return n


READ = """
import sys, time, importlib.util, resource
from datetime import datetime, timedelta, timezone
which, path, what, ref, since, since24 = sys.argv[1:7]
if which == "orig":
    spec = importlib.util.spec_from_file_location("r", ref)
    m = importlib.util.module_from_spec(spec); spec.loader.exec_module(m)
    log = m.AuditLog(path)
else:
    import scout_audit
    log = scout_audit.AuditLog(path, rotate_size=0)
since = datetime.fromisoformat(since)
since24 = datetime.fromisoformat(since24)
t = time.perf_counter()
if what == "spend":
    ans = log.hourly_spend(24)
elif what == "accuracy":
    ans = log.accuracy_metrics(since)
elif what == "iter":
    ans = sum(1 for _ in (log.iter_query() if which == "pkg" else log.query()))
dt = time.perf_counter() - t
if what == "spend":
    # hourly_spend's "now" is each process's own; the answers are compared
    # over one fixed window (timed above, checked here).
    if which == "orig":
        ans = float(sum(e.get("cost", 0) or 0 for e in log.query(since=since24)))
    else:
        ans = log.spend(since=since24)
print(repr(ans)); print(dt); print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)
"""


SINCE = (datetime.now(timezone.utc) - timedelta(days=30)).isoformat()
SINCE24 = (datetime.now(timezone.utc) - timedelta(hours=24)).isoformat()


def read_run(which, path, what):
    out = subprocess.run([sys.executable, "-c", READ, which, str(path), what, reference_path(), SINCE, SINCE24],
                         check=True, capture_output=True, text=True).stdout.split("\n")
    return out[0], float(out[1]), int(out[2]) / 1024


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--mib", type=int, default=1024)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--events", type=int, default=200_000)
    ap.add_argument("--dir", default=str(REPO / "bench-data"))
    ap.add_argument("--reads-only", action="store_true", help="skip the log() rows")
    a = ap.parse_args()
    root = Path(a.dir)
    root.mkdir(parents=True, exist_ok=True)
    orig = load_original()
    print(f"python {sys.version.split()[0]}; runs {a.runs}; log() events {a.events}; data {a.mib} MiB")
    for policy in (() if a.reads_only else (False, True)):
        o, p = [], []
        for _ in range(a.runs):
            o.append(rate_original(orig, root, a.events, policy))
            p.append(rate_package(root, a.events, policy))
        name = "log() at 10 lines / 1 s" if policy else "log() no fsync"
        mo, mp = statistics.median(o), statistics.median(p)
        print(f"{name:28} original {mo:10.0f}/s  package {mp:10.0f}/s  {mp / mo:5.1f}x")
    lat = fsync_latency(root)
    if not a.reads_only:
        print(f"fsync latency {lat * 1e3:.2f} ms: ceiling at 10 lines / fsync {10 / lat:.0f}/s")
    data_dir = root / f"python-{a.mib}m"
    data = data_dir / "audit.jsonl"
    if not data.exists():
        data_dir.mkdir(mode=0o700, exist_ok=True)
        n = make_data(data, a.mib)
        print(f"made {data}: {n} events")
    for what in ("spend", "accuracy", "iter"):
        o, p = [], []
        for _ in range(a.runs if what != "iter" else 1):
            o.append(read_run("orig", data, what))
            p.append(read_run("pkg", data, what))
        mo = statistics.median(x[1] for x in o)
        mp = statistics.median(x[1] for x in p)
        same = o[0][0] == p[0][0]
        if what == "spend":  # decision 4: exact against naive, within a few ulps
            same = abs(float(o[0][0]) - float(p[0][0])) <= 1e-9 * max(1.0, abs(float(p[0][0])))
        same = "same answer" if same else f"answers {o[0][0]} vs {p[0][0]}"
        print(f"{what:10} original {mo:8.2f} s ({o[0][2]:7.0f} MiB)  package {mp:8.3f} s "
              f"({p[0][2]:7.0f} MiB)  {mo / mp:6.1f}x  {same}")


if __name__ == "__main__":
    main()
