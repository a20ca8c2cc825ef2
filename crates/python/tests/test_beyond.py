"""Beyond the original: addresses, options, the richer queries, stats,
verify, rotate, iter_query, one writer per store and process."""

import os
from datetime import datetime, timedelta, timezone

import pytest

import scout_audit

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=timezone.utc)


def fill(log):
    for i in range(48):
        log.log("llm_call" if i % 2 else "nav", ts=(T0 + timedelta(hours=i)).isoformat(),
                cost=0.5 + i, model=f"m{i % 3}", session_id=f"s{i % 2}", i=i)


def check_queries(log):
    assert [r["i"] for r in log.query(limit=3)] == [0, 1, 2]
    day2 = T0 + timedelta(hours=12)
    got = log.query(since=day2, until=day2 + timedelta(hours=4))
    assert [r["i"] for r in got] == [12, 13, 14, 15]
    assert [r["i"] for r in log.query(event_type=["nav"], model="m0")] == list(range(0, 48, 6))
    assert [r["i"] for r in log.query(session="s1", limit=2)] == [1, 3]
    assert log.query(limit=0) == []
    assert log.spend() == sum(0.5 + i for i in range(48))
    by_model = log.spend(by="model")
    assert by_model == {f"m{k}": sum(0.5 + i for i in range(k, 48, 3)) for k in range(3)}
    assert list(by_model) == ["m0", "m1", "m2"]
    by_day = log.spend(by="day", since=T0)
    assert by_day == {"2026-03-01": sum(0.5 + i for i in range(12)),
                      "2026-03-02": sum(0.5 + i for i in range(12, 36)),
                      "2026-03-03": sum(0.5 + i for i in range(36, 48))}
    assert log.spend(by="session", event_type="nav") == {"s0": sum(0.5 + i for i in range(0, 48, 2))}
    assert log.accuracy_metrics(T0) == {"total_nav": 24, "validation_fail_count": 0,
                                        "accuracy_pct": 100.0}
    st = log.stats()
    assert (st["records"], st["events"], st["sessions"]) == (48, {"llm_call": 24, "nav": 24}, 2)
    assert st["first_ts"] == T0 and st["last_ts"] == T0 + timedelta(hours=47)
    assert st["first_ts"].tzinfo is not None
    v = log.verify()
    assert (v["ok"], v["records"], v["problem_count"]) == (True, 48, 0)


def test_a_file_store(store):
    with scout_audit.AuditLog(store, rotate_size=1500, keep_archives=100) as log:
        fill(log)
        check_queries(log)
        assert log.rotate() is not None
        assert log.rotate() is None  # the live file is empty
        check_queries(log)
        assert [r["i"] for r in log.iter_query(since=T0 + timedelta(hours=40))] == list(range(40, 48))


def test_a_sqlite_store(tmp_path):
    d = tmp_path / "db"
    d.mkdir(mode=0o700)
    addr = f"sqlite:{d / 'audit.db'}"
    with scout_audit.AuditLog(addr, durability="sync") as log:
        assert log.address == addr
        fill(log)
        check_queries(log)
        with pytest.raises(scout_audit.UnsupportedError, match="rotate needs a file store, not sqlite:"):
            log.rotate()
        assert [r["i"] for r in log.iter_query(limit=5)] == [0, 1, 2, 3, 4]


@pytest.mark.skipif(not os.environ.get("SCOUT_AUDIT_PG_URL"), reason="SCOUT_AUDIT_PG_URL not set (.ci/run sets it)")
def test_a_postgres_store():
    import uuid

    url = os.environ["SCOUT_AUDIT_PG_URL"]
    with scout_audit.AuditLog(url) as log:
        mark = uuid.uuid4().hex
        for i in range(10):
            log.log("nav", session_id=mark, cost=1.0, i=i)
        got = log.query(session=mark)
        assert [r["i"] for r in got] == list(range(10))
        assert log.spend(session=mark) == 10.0


def test_iter_query_is_a_generator_that_stops_early(store):
    with scout_audit.AuditLog(store, rotate_size=50_000) as log:
        for i in range(20_000):
            log.log("nav", i=i)
        it = log.iter_query()
        assert next(it)["i"] == 0
        assert [r["i"] for _, r in zip(range(5), it)] == [1, 2, 3, 4, 5]
        it.close()  # the reading thread stops
        n = 0
        for n, r in enumerate(log.iter_query(event_type="nav"), 1):
            assert r["i"] == n - 1
        assert n == 20_000
        assert sum(1 for _ in log.iter_query(limit=7)) == 7


def test_one_writer_per_store_and_process(store):
    a = scout_audit.AuditLog(store)
    b = scout_audit.AuditLog(str(store))
    assert a.session_id == b.session_id
    a.log("nav", who="a")
    b.log("nav", who="b")
    a.close()
    b.log("nav", who="b2")  # still open: b holds it
    with pytest.raises(scout_audit.AlreadyOpenError, match="already open in this process with other options"):
        scout_audit.AuditLog(store, durability="sync")
    b.close()
    with scout_audit.AuditLog(store, durability="sync") as c:
        assert [(r["who"], r["seq"]) for r in c.query()] == [("a", 0), ("b", 1), ("b2", 2)]
        c.log("nav", who="c")
        assert c.query()[-1]["seq"] == 3  # reopening continues the session's seq


def test_log_is_the_native_method_while_open_and_a_subclass_keeps_its_own(store):
    # Decision 192: an open log's `log` is the native method (no Python
    # frame per event); closed, it raises; a subclass's own log() runs.
    seen = []

    class Mine(scout_audit.AuditLog):
        def log(self, event_type, **kw):
            seen.append(event_type)
            super().log(event_type, who="mine", **kw)

    a = scout_audit.AuditLog(store)
    m = Mine(store)
    assert a.log("nav", cost=0.5) is None
    m.log("brief")
    a.close()
    with pytest.raises(scout_audit.ClosedError, match="the log is closed"):
        a.log("nav")
    m.log("cascade", n=1)
    assert seen == ["brief", "cascade"]
    got = [(r["event"], r.get("who"), r.get("n")) for r in m.query()]
    assert got == [("nav", None, None), ("brief", "mine", None), ("cascade", "mine", 1)]
    m.close()
    with pytest.raises(scout_audit.ClosedError, match="the log is closed"):
        m.log("nav")


def test_the_default_path_is_scout_audit_path(tmp_path, monkeypatch):
    d = tmp_path / "env"
    d.mkdir(mode=0o700)
    monkeypatch.setenv("SCOUT_AUDIT_PATH", str(d / "audit.jsonl"))
    with scout_audit.AuditLog() as log:
        log.log("nav")
    assert (d / "audit.jsonl").read_text().count("\n") == 1


def test_naive_datetimes_are_utc_and_aware_ones_are_instants(store):
    with scout_audit.AuditLog(store) as log:
        log.log("nav", ts=datetime(2026, 1, 1, 12, 0))
        log.log("nav", ts=datetime(2026, 1, 1, 15, 0, tzinfo=timezone(timedelta(hours=2))))
        assert [r["ts"] for r in log.query()] == ["2026-01-01T12:00:00+00:00",
                                                 "2026-01-01T13:00:00+00:00"]
        assert len(log.query(since=datetime(2026, 1, 1, 12, 30))) == 1
        assert len(log.query(since="2026-01-01T14:30:00+02:00")) == 1


def test_seal_and_verify_with_the_key(store):
    with scout_audit.AuditLog(store, seal_interval=0) as log:
        key = log.seal_init(epoch=3600)
        for i in range(20):
            log.log("nav", i=i)
        assert log.seal() == {"new_lines": 20, "size": 20, "epoch": 1}
        assert log.seal() is None
        log.log("nav", i=20)
        v = log.verify(key=key)
        assert v["ok"] is True
        s = v["sealed"]
        assert (s["seals"], s["sealed_leaves"], s["unsealed"], s["tampering"]) == (1, 20, 1, None)
        with pytest.raises(scout_audit.InvalidArgumentError, match="key is not a verification key"):
            log.verify(key="not a key")
    # An edited sealed line is tampering.
    text = store.read_text().replace('"i":3', '"i":4', 1)
    store.write_text(text)
    with scout_audit.AuditLog(store, seal_interval=0) as log:
        v = log.verify(key=key)
        assert v["ok"] is False and v["sealed"]["tampering"] is not None
