"""Interop both ways: the original writes (with its rotation and gzip
archives) and the package reads everything; the package writes and the
original reads the live file."""

import gzip
import json
from datetime import datetime, timedelta, timezone

import scout_audit


def test_the_package_reads_the_originals_live_file_and_archives(store, original, monkeypatch):
    monkeypatch.setattr(original, "ROTATION_SIZE_BYTES", 2000)
    old = original.AuditLog(store)
    for i in range(60):
        old.log("nav" if i % 3 else "validation_fail", cost=0.5, i=i, session_id="py")
        if i == 30:
            # The original names archives by the second: wait one out so
            # that its second rotation does not overwrite the first.
            import time

            time.sleep(1.05)
    old.close()
    archives = sorted(store.parent.glob("audit_*.jsonl.gz"))
    assert len(archives) == 2
    in_archives = sum(len(gzip.open(a).read().splitlines()) for a in archives)
    live = len(store.read_text().splitlines())
    assert in_archives + live == 60
    # The original itself sees only the live file.
    assert len(original.AuditLog(store).query()) == live < 60
    new = scout_audit.AuditLog(store)
    got = new.query()
    assert [r["i"] for r in got] == list(range(60))
    assert new.hourly_spend(1) == 30.0
    assert new.accuracy_metrics(None) == {
        "total_nav": 40, "validation_fail_count": 20, "accuracy_pct": 50.0}
    assert [r["i"] for r in new.last_events(2)] == [58, 59]
    assert new.stats()["records"] == 60
    new.close()


def test_the_original_reads_what_the_package_wrote(store, original):
    new = scout_audit.AuditLog(store)
    for i in range(25):
        new.log("llm_call", cost=0.01 * i, model=f"m{i % 2}", i=i, nested={"a": [i]})
    new.flush()
    old = original.AuditLog(store)
    assert old.query() == new.query()
    assert [r["i"] for r in old.query(event_type="llm_call")] == list(range(25))
    assert old.last_events(5) == new.last_events(5)
    assert abs(old.hourly_spend(1) - new.hourly_spend(1)) < 1e-9
    # Lines the original logs into the package's store are read back too,
    # interleaved in log order.
    old.log("nav", i=25)
    old.close()
    assert [r["i"] for r in new.query()] == list(range(26))
    assert new.verify()["ok"] is True
    new.close()
