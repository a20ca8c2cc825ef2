"""The same calls against the reference original and the package: the
same answers and the same records on disk, except where docs/python.md
lists a difference (the writer's `seq` and `writer` fields; compact JSON)."""

import json
import math
from datetime import datetime, timedelta, timezone

import pytest

import scout_audit

WRITER_FIELDS = ("seq", "writer")


def strip(rec):
    return {k: v for k, v in rec.items() if k not in WRITER_FIELDS}


def script(now):
    """(event_type, kwargs) calls covering every known field and extras."""
    t = lambda minutes: (now - timedelta(minutes=minutes)).isoformat()
    return [
        ("nav", dict(ts=t(300), cost=0.25, model="m1", files=["a.py", "b.py"], session_id="s1")),
        ("validation_fail", dict(ts=t(200), reason="bad path", confidence=3, session_id="s1")),
        ("llm_call", dict(ts=t(90), cost=0.125, model="m2", input_t=900, output_t=120,
                          duration_ms=1500, session_id="s2")),
        ("nav", dict(ts=t(50), cost=1.5, config={"k": [1, 2, {"x": None}]}, ticket="T-1",
                     session_id="s2")),
        ("brief", dict(ts=t(30), ok=True, ratio=0.5, big=2**62, unicode="é☃", session_id="s1")),
        ("nav", dict(ts=t(10), cost=0.1, model="m1", when=datetime(2020, 1, 2, 3, 4, 5),
                     obj=ValueError("boom"), session_id="s3")),
        ("validation_fail", dict(ts=t(5), session_id="s3")),
        ("cascade", dict(ts=t(1), cost=0.2, tup=(1, "a"), session_id="s2")),
    ]


@pytest.fixture
def both(tmp_path, original):
    now = datetime.now(timezone.utc)
    (tmp_path / "o").mkdir(mode=0o700)
    (tmp_path / "n").mkdir(mode=0o700)
    old = original.AuditLog(tmp_path / "o" / "audit.jsonl")
    new = scout_audit.AuditLog(tmp_path / "n" / "audit.jsonl")
    for ev, kw in script(now):
        old.log(ev, **kw)
        new.log(ev, **kw)
    yield old, new, now, tmp_path
    old.close()
    new.close()


def test_the_files_hold_the_same_records(both):
    old, new, _, tmp = both
    old.flush()
    new.flush()
    o = [json.loads(l) for l in (tmp / "o" / "audit.jsonl").read_text().splitlines()]
    n = [json.loads(l) for l in (tmp / "n" / "audit.jsonl").read_text().splitlines()]
    assert len(o) == len(n) == 8
    assert [strip(r) for r in n] == o
    # Field order is the original's, `seq` (and `writer`) after session_id.
    assert list(n[2]) == ["ts", "event", "session_id", "seq", "writer", "cost", "model",
                          "input_t", "output_t", "duration_ms"]
    assert list(o[2]) == ["ts", "event", "session_id", "cost", "model", "input_t",
                          "output_t", "duration_ms"]
    # What the original wrote as str(value), the package wrote too.
    assert n[5]["when"] == "2020-01-02 03:04:05" and n[5]["obj"] == "boom"
    assert n[7]["tup"] == [1, "a"] and n[4]["big"] == 2**62


def test_queries_give_the_same_answers(both):
    old, new, now, _ = both
    since = now - timedelta(minutes=60)
    assert [strip(r) for r in new.query()] == old.query()
    assert [strip(r) for r in new.query(since=since)] == old.query(since=since)
    assert len(old.query(since=since)) == 5
    assert [strip(r) for r in new.query(event_type="nav")] == old.query(event_type="nav")
    assert [strip(r) for r in new.query(since, "nav")] == old.query(since, "nav")
    assert [strip(r) for r in new.last_events(3)] == old.last_events(3)
    assert [strip(r) for r in new.last_events(2, "nav")] == old.last_events(2, "nav")
    assert new.last_events(0) == old.last_events(0) == []
    # Decision 4: the exact sum (math.fsum's), the original's naive one
    # within a few ulps.
    assert new.hourly_spend(24) == math.fsum([0.25, 0.125, 1.5, 0.1, 0.2]) == 2.175
    assert old.hourly_spend(24) == 2.1750000000000003
    assert new.hourly_spend(1) == old.hourly_spend(1) == 1.8
    assert new.hourly_spend(0) == old.hourly_spend(0) == 0.0
    assert new.hourly_spend(-3) == old.hourly_spend(-3) == 0.0
    for m in (0, 60, 250, 400):
        s = now - timedelta(minutes=m)
        assert new.accuracy_metrics(s) == old.accuracy_metrics(s), m
    assert new.accuracy_metrics(now - timedelta(minutes=400)) == {
        "total_nav": 3, "validation_fail_count": 2, "accuracy_pct": 33.33}
    assert new.accuracy_metrics(now) == {
        "total_nav": 0, "validation_fail_count": 0, "accuracy_pct": 100.0}


def test_the_module_constants_are_the_originals(original):
    for name in ("ROTATION_SIZE_BYTES", "FSYNC_EVERY_N_LINES", "FSYNC_INTERVAL_SEC",
                 "EVENT_TYPES", "DEFAULT_AUDIT_PATH"):
        assert getattr(scout_audit, name) == getattr(original, name), name


def test_an_aware_non_utc_since_is_an_instant_not_a_string(store, original):
    """Decision 3 and the instants of docs/python.md: the original
    compared `since.isoformat()` as a string, so an aware since at +02:00
    selected wrongly; the package compares instants."""
    log = scout_audit.AuditLog(store)
    log.log("nav", ts="2026-01-01T10:00:00+00:00")
    log.log("nav", ts="2026-01-01T12:00:00+00:00")
    plus2 = timezone(timedelta(hours=2))
    since = datetime(2026, 1, 1, 13, 0, tzinfo=plus2)  # 11:00 UTC
    assert [r["ts"] for r in log.query(since=since)] == ["2026-01-01T12:00:00+00:00"]
    old = original.AuditLog(store)
    # The original's string comparison ("...T12:00..." < "...T13:00...")
    # drops both (wrong).
    assert old.query(since=since) == []
    old.close()
    log.close()


def test_sums_are_exact_where_the_original_rounded_at_each_step(store, original):
    log = scout_audit.AuditLog(store)
    for c in (0.1, 0.2, 0.3, 1e16, -1e16):
        log.log("llm_call", cost=c)
    old = original.AuditLog(store)
    assert log.hourly_spend(1) == 0.6  # math.fsum's answer
    assert old.hourly_spend(1) == 0.0  # the naive sum lost the small costs
    old.close()
    log.close()
