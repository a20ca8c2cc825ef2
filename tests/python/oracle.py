#!/usr/bin/env python3
"""Python side of scout-audit's compatibility proof.

Drives the reconstruction of the Python original (``audit.py``, see
../../../shared/reference/README.md) as an oracle:

  write   write a realistic log with the reference ``AuditLog`` (and let its
          own rotation produce ``audit_YYYYMMDDTHHMMSSZ.jsonl.gz`` archives)
  answer  print, as one JSON object, what the reference's query API answers
          for a log (optionally over its archives too)
  read    read a log written by scout-audit through the reference reader and
          fail if the reference cannot parse every line

Stdlib only, Python 3.11. The reference is imported from the file named by
``SCOUT_AUDIT_REFERENCE`` (a relative value is taken from the current
directory), by default ``<repo>/../shared/reference/audit.py``.

Everything is deterministic for a given seed except the ``ts`` values (real
time, as the reference writes them) and the archive names (their UTC second).
See README.md beside this file.
"""

from __future__ import annotations

import argparse
import gzip
import importlib.util
import json
import logging
import math
import os
import re
import sys
import time
import uuid
from datetime import datetime, timedelta, timezone
from decimal import Decimal
from pathlib import Path, PurePosixPath
from random import Random
from types import ModuleType
from typing import Any, Dict, Iterator, List, Optional, Tuple

sys.dont_write_bytecode = True  # leave no __pycache__ beside the reference

REPO_ROOT = Path(__file__).resolve().parents[2]
DEFAULT_REFERENCE = REPO_ROOT.parent / "shared" / "reference" / "audit.py"

UTC = timezone.utc
# What the reference writes: datetime.now(timezone.utc).isoformat().
PYTHON_TS = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d{6})?\+00:00$")
# Archives of the Python original: <stem>_YYYYMMDDTHHMMSSZ.jsonl.gz
PY_ARCHIVE = r"_(\d{8}T\d{6}Z)\.jsonl\.gz"
# Archives of scout-audit (design.md §4): <stem>-YYYYMMDDTHHMMSSZ-NNNNNN.jsonl[.gz]
RS_ARCHIVE = r"-(\d{8}T\d{6}Z)-(\d+)\.jsonl(\.gz)?"

HOURS = [0, 1, 2, 24, 24 * 365]


# --------------------------------------------------------------------- helpers
def load_reference() -> ModuleType:
    env = os.environ.get("SCOUT_AUDIT_REFERENCE")
    path = Path(env).expanduser().resolve() if env else DEFAULT_REFERENCE
    if not path.is_file():
        sys.exit(f"oracle: reference not found: {path} (set SCOUT_AUDIT_REFERENCE)")
    spec = importlib.util.spec_from_file_location("scout_reference_audit", path)
    assert spec is not None and spec.loader is not None
    mod = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = mod
    spec.loader.exec_module(mod)
    # The oracle reports malformed lines itself; keep stderr readable.
    logging.getLogger(mod.__name__).setLevel(logging.ERROR)
    return mod


def parse_instant(text: str) -> datetime:
    """RFC 3339 / ISO 8601 with an offset, as an aware UTC datetime."""
    dt = datetime.fromisoformat(text)
    if dt.tzinfo is None:
        raise ValueError(f"timestamp without offset: {text!r}")
    return dt.astimezone(UTC)


def python_archives(live: Path) -> List[Path]:
    """Archives the reference writes beside ``live``, in name (= time) order."""
    pat = re.compile("^" + re.escape(live.stem) + PY_ARCHIVE + "$")
    return sorted(p for p in live.parent.iterdir() if pat.match(p.name))


def all_archives(live: Path) -> List[Path]:
    """Archives of either writer beside ``live``, oldest first.

    Order: by the UTC stamp in the name, then Python's archive before
    scout-audit's of the same second, then by segment number. A scout-audit
    segment present both sealed (``.jsonl``) and compressed (``.jsonl.gz``) is
    read once, from the ``.jsonl.gz``.
    """
    py = re.compile("^" + re.escape(live.stem) + PY_ARCHIVE + "$")
    rs = re.compile("^" + re.escape(live.stem) + RS_ARCHIVE + "$")
    found: Dict[Tuple[str, int, int], Path] = {}
    for p in live.parent.iterdir():
        m = py.match(p.name)
        if m:
            found[(m.group(1), 0, -1)] = p
            continue
        m = rs.match(p.name)
        if m:
            key = (m.group(1), 1, int(m.group(2)))
            if key not in found or p.name.endswith(".gz"):
                found[key] = p
    return [found[k] for k in sorted(found)]


def iter_file_lines(path: Path) -> Iterator[str]:
    """Non-empty lines exactly as the reference's ``_iter_lines`` yields them
    (text mode, strict UTF-8, universal newlines, ``rstrip("\\n\\r")``)."""
    opener = gzip.open if path.name.endswith(".gz") else open
    with opener(path, "rt", encoding="utf-8") as f:
        for line in f:
            line = line.rstrip("\n\r")
            if not line:
                continue
            yield line


def physical_lines(path: Path) -> int:
    """Lines in a file, blank ones included: ``\n`` count, plus one for an
    unterminated tail (gzip files are counted decompressed)."""
    opener = gzip.open if path.name.endswith(".gz") else open
    with opener(path, "rb") as f:
        data = f.read()
    return data.count(b"\n") + (1 if data and not data.endswith(b"\n") else 0)


def make_log(mod: ModuleType, live: Path, archives: Optional[List[Path]]):
    """A reference ``AuditLog`` on ``live``; when ``archives`` is given, one
    whose line source is those archives (in order) and then the live file, so
    every query method of the reference runs unchanged over all of them."""
    if not live.is_file():
        # AuditLog() would create it (it opens the file for append).
        sys.exit(f"oracle: no such live file: {live}")
    if archives is None:
        return mod.AuditLog(live)

    class ArchivesAndLive(mod.AuditLog):  # type: ignore[name-defined,misc]
        def _iter_lines(self) -> Iterator[str]:
            for arch in archives:
                yield from iter_file_lines(arch)
            yield from super()._iter_lines()

    return ArchivesAndLive(live)


def freeze_now(mod: ModuleType, now: datetime) -> None:
    """Make the reference's ``datetime.now(...)`` return ``now``; every other
    classmethod (``fromisoformat``, ``min``, ...) keeps working."""
    real = datetime

    class FrozenDatetime(real):  # type: ignore[misc,valid-type]
        @classmethod
        def now(cls, tz=None):  # noqa: D401
            if tz is None:
                return now.astimezone().replace(tzinfo=None)
            return now.astimezone(tz)

    mod.datetime = FrozenDatetime


def dump(obj: Any) -> None:
    # json.dumps defaults: float repr, ensure_ascii, NaN written bare.
    sys.stdout.write(json.dumps(obj, indent=2) + "\n")


# ----------------------------------------------------------------------- write
MODELS = ["claude-3-5-haiku", "claude-sonnet-4", "gpt-4o-mini", "llama-3.1-8b-instruct"]
FILES = [
    "src/main.rs",
    "src/lib.rs",
    "vivarium/scout/audit.py",
    "vivarium/scout/router.py",
    "docs/café.md",
    "tests/テスト.py",
    "src/ñandú/mod.rs",
    "README.md",
    "a b/with space.txt",
]
REASONS = [
    "symbol not found in index",
    "confidence below threshold",
    "déjà vu: cached answer reused",
    "ファイルが見つかりません",
    "budget exceeded 🚀 (hourly)",
    'quoted "name" and back\\slash',
    "tab\tand newline\nin reason",
    "Ünïcödé straße",
]
REPOS = ["x", "x", "vivarium", "scout-audit", "münchen-tools"]
QUERIES = ["where is AuditLog.rotate", "find the router", "où est le cache ?", "日本語のクエリ", "fn main"]
TOOLS = ["grep", "read_file", "list_dir"]
EVENT_WEIGHTS = [
    ("nav", 34),
    ("llm_call", 24),
    ("validation_fail", 11),
    ("brief", 10),
    ("cascade", 8),
    ("budget_exceeded", 4),
    ("tool_use", 3),  # not in EVENT_TYPES: the set is open
]


def pick_cost(rng: Random) -> Any:
    r = rng.random()
    if r < 0.12:
        return None  # field left out
    if r < 0.19:
        return 0  # written as the integer 0
    if r < 0.23:
        return 0.0
    if r < 0.26:
        return rng.choice([1, 2])  # integer dollars
    if r < 0.31:
        return rng.choice([1e-07, 1.5e-05, 3e-06, 2.5e-10])  # written with exponents
    if r < 0.37:
        return rng.choice([0.1, 0.2, 0.3, 0.7])  # classic inexact decimals
    if r < 0.40:
        return round(rng.uniform(10, 250), 4)
    return round(rng.uniform(0.0001, 0.08), 6)


def pick_files(rng: Random) -> List[str]:
    return rng.sample(FILES, rng.choice([0, 1, 1, 2, 3]))


def make_event(rng: Random, k: int, seed: int) -> Tuple[str, Dict[str, Any]]:
    """One event: (event_type, kwargs for AuditLog.log), drawn from ``rng``."""
    event = rng.choices([e for e, _ in EVENT_WEIGHTS], [w for _, w in EVENT_WEIGHTS])[0]
    kw: Dict[str, Any] = {}
    model = rng.choice(MODELS)
    if event == "nav":
        kw.update(
            cost=pick_cost(rng),
            model=model,
            input_t=rng.randint(50, 20000),
            output_t=rng.randint(1, 2000),
            files=pick_files(rng),
            confidence=rng.randint(0, 100),
            duration_ms=rng.randint(1, 9000),
        )
        if rng.random() < 0.3:
            kw["reason"] = rng.choice(REASONS)
        kw["repo"] = rng.choice(REPOS)
        kw["query"] = rng.choice(QUERIES)
    elif event == "validation_fail":
        kw.update(
            model=model,
            files=pick_files(rng),
            reason=rng.choice(REASONS),
            confidence=rng.randint(0, 100),
        )
        if rng.random() < 0.3:
            kw["cost"] = pick_cost(rng)
        kw["repo"] = rng.choice(REPOS)
        kw["expected"] = rng.choice(FILES)
        kw["got"] = rng.choice([None, rng.choice(FILES)])
    elif event == "brief":
        kw.update(
            cost=pick_cost(rng),
            model=model,
            input_t=rng.randint(500, 120000),
            output_t=rng.randint(50, 4000),
            files=pick_files(rng),
            duration_ms=rng.randint(100, 60000),
        )
        kw["repo"] = rng.choice(REPOS)
        kw["words"] = rng.randint(10, 900)
    elif event == "cascade":
        to = rng.choice(MODELS)
        kw.update(
            cost=pick_cost(rng),
            model=to,
            reason=rng.choice(REASONS),
            duration_ms=rng.randint(1, 500),
            config=rng.choice(
                [
                    {"from": model, "to": to, "threshold": 0.75, "max_depth": 3},
                    {"from": model, "to": to, "nested": {"ok": True, "none": None, "list": [1, 2.5, "ü"]}},
                    {},
                ]
            ),
        )
    elif event == "llm_call":
        kw.update(
            cost=pick_cost(rng),
            model=model,
            input_t=rng.randint(1, 200000),
            output_t=rng.randint(0, 8000),
            duration_ms=rng.randint(50, 120000),
        )
        kw["stream"] = rng.random() < 0.5
        kw["temperature"] = rng.choice([0, 0.2, 0.7, 1.0])
        r = rng.random()
        if r < 0.05:
            kw["path"] = PurePosixPath("vivarium/scout/audit.py")  # not JSON: str()
        elif r < 0.10:
            kw["price"] = Decimal("0.10")  # not JSON: str() -> "0.10"
        elif r < 0.15:
            kw["parent"] = None  # an extra field holding null
        elif r < 0.18:
            kw["big"] = 2**63 + 7  # beyond i64
    elif event == "budget_exceeded":
        kw.update(
            cost=round(rng.uniform(5, 12), 2),
            reason=rng.choice(["hourly budget exceeded", "budget exceeded 🚀 (hourly)"]),
            config={"limit_usd": 5.0, "window_h": 1},
        )
    else:  # tool_use
        kw.update(duration_ms=rng.randint(1, 3000))
        kw["tool"] = rng.choice(TOOLS)
        kw["args"] = [rng.choice(QUERIES), rng.randint(0, 9)]
    kw["request_id"] = f"req-{seed}-{k:06d}"
    return event, kw


def cmd_write(args: argparse.Namespace) -> int:
    mod = load_reference()
    live = Path(args.path).expanduser().resolve()
    if args.rotate_bytes is not None:
        if args.rotate_bytes <= 0:
            sys.exit("oracle: --rotate-bytes must be positive")
        mod.ROTATION_SIZE_BYTES = args.rotate_bytes
    if live.parent.is_dir() and (live.exists() or python_archives(live)) and not args.append:
        sys.exit(f"oracle: {live} or its archives exist; remove them or pass --append")

    rng = Random(args.seed)
    # Sessions: deterministic uuid4s, one per simulated process; the log
    # switches session every ~100 events (a restart).
    sessions = [str(uuid.UUID(int=rng.getrandbits(128), version=4)) for _ in range(3)]
    before = set(python_archives(live)) if live.parent.is_dir() else set()
    waited = 0.0
    log = mod.AuditLog(live)
    try:
        for k in range(args.events):
            event, kw = make_event(rng, k, args.seed)
            kw["session_id"] = sessions[(k // 100) % len(sessions)]
            limit = mod.ROTATION_SIZE_BYTES
            if live.exists() and live.stat().st_size >= limit:
                # This call rotates. The archive is named after the current UTC
                # second, and a second rotation in the same second would
                # overwrite the first (the original's data-loss quirk): wait
                # until the name the reference would pick is free.
                t0 = time.monotonic()
                while log._archive_path().exists():
                    time.sleep(0.005)
                waited += time.monotonic() - t0
                n_before = len(python_archives(live))
                log.log(event, **kw)
                if len(python_archives(live)) != n_before + 1:
                    sys.exit("oracle: rotation did not add exactly one archive")
            else:
                log.log(event, **kw)
    finally:
        log.close()

    created = [p.name for p in python_archives(live) if p not in before]
    summary: Dict[str, Any] = {
        "path": args.path,
        "seed": args.seed,
        "events_written": args.events,
        "rotate_bytes": mod.ROTATION_SIZE_BYTES,
        "sessions": sessions,
        "archives_created": created,
        "live_bytes": live.stat().st_size,
        "waited_for_new_second_s": round(waited, 3),
    }
    rc = 0
    if args.archives_too:
        # Read everything back (archives in name order, then the live file)
        # and check that this run's events are all there, once, in order.
        per_file = []
        ids: List[str] = []
        for p in python_archives(live) + [live]:
            n = 0
            for line in iter_file_lines(p):
                obj = json.loads(line)
                ids.append(obj.get("request_id"))
                n += 1
            per_file.append({"name": p.name, "lines": n})
        mine = [i for i in ids if isinstance(i, str) and i.startswith(f"req-{args.seed}-")]
        want = [f"req-{args.seed}-{k:06d}" for k in range(args.events)]
        ok = mine == want
        summary["verified"] = {"files": per_file, "records": len(ids), "all_events_once_in_order": ok}
        rc = 0 if ok else 1
    dump(summary)
    return rc


# ---------------------------------------------------------------------- answer
def cmd_answer(args: argparse.Namespace) -> int:
    mod = load_reference()
    live = Path(args.path).expanduser().resolve()
    archives = python_archives(live) if args.include_archives else None
    log = make_log(mod, live, archives)
    try:
        return answer(mod, log, live, archives, args)
    finally:
        log.close()


def answer(mod, log, live: Path, archives, args) -> int:
    def guarded(fn, *a, **kw):
        try:
            return fn(*a, **kw)
        except Exception as e:  # noqa: BLE001 - reported, see --keep-going
            if not args.keep_going:
                raise
            return {"error": f"{type(e).__name__}: {e}"}

    # Lines the reference's _parse_line rejects (it returns None for them).
    malformed = guarded(lambda: [ln for ln in log._iter_lines() if log._parse_line(ln) is None])
    records = guarded(log.query)
    if isinstance(records, dict) or isinstance(malformed, dict):
        # The reference cannot read this log at all.
        dump({"error": (records if isinstance(records, dict) else malformed)["error"]})
        return 1

    instants = []
    for r in records:
        ts = r.get("ts") if isinstance(r, dict) else None
        try:
            instants.append(parse_instant(ts))
        except (TypeError, ValueError):
            pass
    if args.now in ("last+1h", "mid+1h"):
        if not instants:
            sys.exit(f"oracle: --now {args.now} needs at least one record with a ts")
        anchor = instants[-1] if args.now == "last+1h" else instants[len(instants) // 2]
        now = anchor + timedelta(hours=1)
    else:
        now = parse_instant(args.now)
    freeze_now(mod, now)

    since_set = {datetime.min.replace(tzinfo=UTC), now - timedelta(hours=1), now}
    if instants:
        n = len(instants)
        since_set.update({instants[0], instants[n // 4], instants[n // 2], instants[-1]})
    since = sorted(since_set)

    files = [{"name": p.name, "lines": physical_lines(p)} for p in (archives or []) + [live]]

    events = sorted(set(mod.EVENT_TYPES) | {r.get("event") for r in records if isinstance(r, dict) and isinstance(r.get("event"), str)})

    spend: Dict[str, Any] = {}
    spend_fsum: Dict[str, Any] = {}
    rc = 0
    for h in HOURS:
        spend[str(h)] = guarded(log.hourly_spend, h)
        if h <= 0:
            spend_fsum[str(h)] = 0.0
            continue
        window = guarded(log.query, since=now - timedelta(hours=h))
        if isinstance(window, dict):
            spend_fsum[str(h)] = window
            continue
        exact = math.fsum(float(e.get("cost", 0) or 0) for e in window)
        spend_fsum[str(h)] = exact
        naive = spend[str(h)]
        if isinstance(naive, float) and math.isfinite(exact) and abs(naive - exact) > 1e-9 * abs(exact):
            print(f"oracle: hours={h}: naive sum {naive!r} differs from fsum {exact!r} by more than 1e-9", file=sys.stderr)
            rc = 1

    out = {
        "now": now.isoformat(),
        "include_archives": bool(args.include_archives),
        "files": files,
        "malformed_lines": len(malformed),
        "since": [s.isoformat() for s in since],
        "count_all": len(records),
        "count_by_event": {e: _len(guarded(log.query, event_type=e)) for e in events},
        "query_since": {s.isoformat(): _len(guarded(log.query, since=s)) for s in since},
        "hourly_spend": spend,
        "hourly_spend_fsum": spend_fsum,
        "last_events": {
            "n=0": guarded(log.last_events, 0),
            "n=5": guarded(log.last_events, 5),
            "n=3,event=nav": guarded(log.last_events, 3, event_type="nav"),
            "n=3,event=validation_fail": guarded(log.last_events, 3, event_type="validation_fail"),
        },
        "accuracy_metrics": {s.isoformat(): guarded(log.accuracy_metrics, since=s) for s in since},
    }
    dump(out)
    return rc


def _len(x: Any) -> Any:
    return x if isinstance(x, dict) else len(x)


# ------------------------------------------------------------------------ read
def cmd_read(args: argparse.Namespace) -> int:
    mod = load_reference()
    live = Path(args.path).expanduser().resolve()
    archives = all_archives(live) if args.include_archives else None
    log = make_log(mod, live, archives)
    reference_parse = log._parse_line

    def parse_objects_only(line: str):
        # Non-objects would crash the reference's callers (obj.get); they are
        # reported below as bad lines, and dropped here so the queries finish.
        obj = reference_parse(line)
        return obj if isinstance(obj, dict) else None

    try:
        try:
            # Lines the reference cannot parse: None from _parse_line (not
            # JSON, or JSON null) or a JSON value that is not an object.
            bad = [ln for ln in log._iter_lines() if not isinstance(reference_parse(ln), dict)]
            log._parse_line = parse_objects_only
            records = log.query()
            accuracy = log.accuracy_metrics(since=datetime.min.replace(tzinfo=UTC))
            last = log.last_events(3)
        except UnicodeDecodeError as e:
            dump({"error": f"the reference cannot decode the log: {e}"})
            return 1
    finally:
        log.close()

    events: Dict[str, int] = {}
    odd_ts = []
    seqs: Dict[str, List[int]] = {}
    for r in records:
        events[str(r.get("event"))] = events.get(str(r.get("event")), 0) + 1
        # A ts not exactly in the reference's own form makes its
        # string-compared time queries unreliable.
        ts = r.get("ts")
        if not (isinstance(ts, str) and PYTHON_TS.match(ts)):
            odd_ts.append(ts)
        seq = r.get("seq")
        if isinstance(seq, int) and not isinstance(seq, bool):
            seqs.setdefault(str(r.get("session_id")), []).append(seq)
    result = {
        "files": [p.name for p in (archives or [])] + [live.name],
        "records": len(records),
        "events": dict(sorted(events.items())),
        "accuracy": accuracy,
        "last": last,
        "bad_lines": len(bad),
        "ts_not_python_form": len(odd_ts),
        # Informational: per session, scout-audit's seq as the reference sees it.
        "seq": {
            sid: {
                "records": len(v),
                "min": min(v),
                "max": max(v),
                "contiguous_in_order": v == list(range(v[0], v[0] + len(v))),
            }
            for sid, v in seqs.items()
        },
    }
    dump(result)
    for line in bad:
        print(f"oracle: the reference cannot parse: {line[:200]!r}", file=sys.stderr)
    for ts in odd_ts[:20]:
        print(f"oracle: ts not in the reference's form: {ts!r}", file=sys.stderr)
    if bad or (odd_ts and not args.allow_other_ts):
        return 1
    return 0


# ------------------------------------------------------------------------ main
def main(argv: Optional[List[str]] = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="cmd", required=True)

    w = sub.add_parser("write", help="write a realistic log with the reference AuditLog")
    w.add_argument("--path", required=True, help="the live file, e.g. DIR/audit.jsonl")
    w.add_argument("--events", type=int, required=True)
    w.add_argument("--seed", type=int, required=True)
    w.add_argument("--rotate-bytes", type=int, help="patch the reference's ROTATION_SIZE_BYTES")
    w.add_argument(
        "--archives-too",
        action="store_true",
        help="afterwards read archives + live file back and check every event is there once, in order",
    )
    w.add_argument("--append", action="store_true", help="allow writing into an existing log")
    w.set_defaults(fn=cmd_write)

    a = sub.add_parser("answer", help="print the reference's answers for a log as JSON")
    a.add_argument("--path", required=True)
    a.add_argument("--now", required=True, help="RFC 3339 instant for hourly_spend; or last+1h / mid+1h: the ts of the last / middle (index n//2) record plus one hour")
    a.add_argument("--include-archives", action="store_true", help="read audit_*.jsonl.gz archives (name order), then the live file")
    a.add_argument("--keep-going", action="store_true", help="report a query that raises as {\"error\": ...} instead of failing")
    a.set_defaults(fn=cmd_answer)

    r = sub.add_parser("read", help="read a log written by scout-audit through the reference")
    r.add_argument("--path", required=True)
    r.add_argument("--include-archives", action="store_true", help="also read scout-audit's and Python's archives, oldest first")
    r.add_argument("--allow-other-ts", action="store_true", help="do not fail on ts values not in the reference's own form")
    r.set_defaults(fn=cmd_read)

    args = ap.parse_args(argv)
    return args.fn(args)


if __name__ == "__main__":
    sys.exit(main())
