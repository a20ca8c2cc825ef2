"""Where one `log()` at `process` goes (docs/python.md, "Speed"): the
floors it is measured against, each a loop of the same calls from one
Python thread, medians of 3.

    python floor.py [EVENTS]

Run it with the interpreter of a venv where `scout_audit` is installed
(a release build, as `cargo xtask bench --python` installs it). Rows: a
Python method with `log`'s signature doing nothing; `AuditLog.log` at
`process` (no fsync); the native method called directly; `AuditLog.log`
at `buffered`; one `os.write` of a line; the store's system calls per
event (shared `flock`, `lstat` of the live path, `write`, unlock) made
from Python.
"""
import sys, time, tempfile, os, statistics
import scout_audit
n = int(sys.argv[1]) if len(sys.argv) > 1 else 100000
from pathlib import Path
root = str(Path(__file__).resolve().parents[3] / "bench-data")
os.makedirs(root, exist_ok=True)
def rate(f, reps=3):
    rs = []
    for _ in range(reps):
        t = time.perf_counter(); f(); rs.append(n / (time.perf_counter() - t))
    return statistics.median(rs)
def mk(**kw):
    d = tempfile.mkdtemp(dir=root)
    return scout_audit.AuditLog(os.path.join(d, "audit.jsonl"), rotate_size=0, fsync_lines=0, fsync_interval=0, **kw)
class Noop:
    def log(self, event_type, *, cost=None, model=None, input_t=None, output_t=None, files=None, reason=None, confidence=None, duration_ms=None, config=None, **kwargs):
        pass
def loop(log):
    def f():
        for i in range(n):
            log.log("llm_call", cost=0.001, model="m1", input_t=900, output_t=120, i=i)
    return f
print("python no-op method, same args: %.0f/s" % rate(loop(Noop())))
lp = mk(durability="process"); print("AuditLog.log process: %.0f/s" % rate(loop(lp)))
nat = lp._n
def direct():
    for i in range(n):
        nat.log("llm_call", cost=0.001, model="m1", input_t=900, output_t=120, i=i)
print("Native.log direct, process: %.0f/s" % rate(direct))
lb = mk(durability="buffered"); print("AuditLog.log buffered: %.0f/s" % rate(loop(lb)))
line = (b'{"ts":"2026-12-06T14:30:00.123456+00:00","event":"llm_call","session_id":"b6a7c4e0-0000-4000-8000-000000000000","seq":1,"cost":0.001,"model":"m1","input_t":900,"output_t":120,"i":1}\n')
p = os.path.join(tempfile.mkdtemp(dir=root), "w"); fd = os.open(p, os.O_WRONLY|os.O_CREAT|os.O_APPEND, 0o600)
def w():
    for i in range(n): os.write(fd, line)
print("os.write of one line: %.0f/s" % rate(w))
import fcntl
lk = os.open(p + ".lock", os.O_RDWR|os.O_CREAT, 0o600)
def w4():
    for i in range(n):
        fcntl.flock(lk, fcntl.LOCK_SH); os.lstat(p); os.write(fd, line); fcntl.flock(lk, fcntl.LOCK_UN)
print("flock+lstat+write+unlock (the store's syscalls) from python: %.0f/s" % rate(w4))
import shutil
dirs = {os.path.dirname(lp.address), os.path.dirname(lb.address), os.path.dirname(p)}
lp.close(); lb.close(); os.close(fd); os.close(lk)
for d in dirs:
    shutil.rmtree(d)
