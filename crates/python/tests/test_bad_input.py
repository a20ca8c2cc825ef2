"""Bad input: the documented result or a clear exception, never a torn
or invalid line."""

import json
import math

import pytest

import scout_audit
from scout_audit import InvalidArgumentError, InvalidEventError


def lines(store):
    return [json.loads(l) for l in store.read_text().splitlines()]


def test_values_that_are_not_json_are_written_as_their_str(store):
    class Thing:
        def __str__(self):
            return "a thing"

    cyclic = []
    cyclic.append(cyclic)
    with scout_audit.AuditLog(store) as log:
        log.log("nav", thing=Thing(), s={1, 2} if False else frozenset(), cyc=cyclic,
                d={2: "int key", None: "none key", False: "bool key", 1.5: "float key"}, b=b"xy",
                bigint=10**30, deep=[[[[1]]]], tup=(1, (2, 3)))
    (r,) = lines(store)
    assert r["thing"] == "a thing"
    assert r["s"] == "frozenset()"
    assert r["cyc"] == "[[...]]"
    assert r["d"] == {"2": "int key", "null": "none key", "false": "bool key", "1.5": "float key"}
    assert r["b"] == "b'xy'"
    assert r["bigint"] == str(10**30)  # decision 143: no integers past 64 bits
    assert r["deep"] == [[[[1]]]] and r["tup"] == [1, [2, 3]]


def test_non_finite_floats_are_written_as_null(store):
    with scout_audit.AuditLog(store) as log:
        log.log("llm_call", cost=float("nan"), x=float("inf"), y=[float("-inf")])
        log.log("llm_call", cost=1.0)
    text = store.read_text()
    assert "NaN" not in text and "Infinity" not in text
    a, b = lines(store)
    assert (a["cost"], a["x"], a["y"]) == (None, None, [None])
    with scout_audit.AuditLog(store) as log:
        assert log.hourly_spend(1) == 1.0  # a null cost counts 0


@pytest.mark.parametrize(
    "kwargs, message",
    [
        (dict(cost="0.5"), 'field "cost" must be a number, not a string'),
        (dict(input_t=-1), 'field "input_t" must be a non-negative integer, not a number'),
        (dict(output_t=1.5), 'field "output_t" must be a non-negative integer, not a number'),
        (dict(files="a.py"), 'field "files" must be an array of strings, not a string'),
        (dict(files=["a", 1]), 'field "files" must be an array of strings, not an array'),
        (dict(model=3), 'field "model" must be a string, not a number'),
        (dict(confidence="high"), 'field "confidence" must be an integer, not a string'),
        (dict(seq=4), 'field "seq" is assigned by the writer'),
        (dict(writer="w"), 'field "writer" is assigned by the writer'),
        (dict(session_id=7), 'field "session_id" must be a string, not a number'),
    ],
)
def test_wrong_types_for_known_fields_are_refused_and_nothing_is_written(store, kwargs, message):
    with scout_audit.AuditLog(store) as log:
        with pytest.raises(InvalidEventError) as e:
            log.log("nav", **kwargs)
        assert str(e.value) == message
        assert isinstance(e.value, scout_audit.AuditError)
        log.log("nav")
    assert len(lines(store)) == 1


def test_a_bad_ts_and_a_bad_event_type_are_refused(store):
    with scout_audit.AuditLog(store) as log:
        with pytest.raises(InvalidEventError) as e:
            log.log(42)
        assert str(e.value) == "event_type must be a str, not int"
        with pytest.raises(InvalidEventError):
            log.log("nav", ts="yesterday")
        log.log("nav", ts="2026-01-02T03:04:05Z")
    assert lines(store)[0]["ts"] == "2026-01-02T03:04:05+00:00"


def test_a_line_over_the_bound_is_refused_whole(store):
    with scout_audit.AuditLog(store) as log:
        log.log("nav", blob="x" * (1 << 20))
        with pytest.raises(InvalidEventError) as e:
            log.log("nav", blob="x" * (16 << 20))
        assert "over the line bound of 16777216 bytes; nothing was written" in str(e.value)
        log.log("nav", after=True)
    got = lines(store)
    assert len(got) == 2 and len(got[0]["blob"]) == 1 << 20 and got[1]["after"] is True


def test_bad_options_and_arguments_say_what_is_wrong(store):
    with pytest.raises(InvalidArgumentError, match='durability must be "buffered", "process" or "sync", not "fast"'):
        scout_audit.AuditLog(store, durability="fast")
    with pytest.raises(InvalidArgumentError, match="fsync_interval must be a finite, non-negative"):
        scout_audit.AuditLog(store, fsync_interval=-1)
    with scout_audit.AuditLog(store) as log:
        with pytest.raises(TypeError, match="since must be a datetime"):
            log.query(since=5)
        with pytest.raises(InvalidArgumentError, match='by must be "hour", "day", "model" or "session"'):
            log.spend(by="week")
        with pytest.raises(ValueError, match="maxlen must be non-negative"):
            log.last_events(-1)
        with pytest.raises(InvalidArgumentError, match='since: "last week": '):
            log.query(since="last week")
    with pytest.raises(scout_audit.ClosedError, match="the log is closed"):
        log.log("nav")


def test_a_file_that_is_not_a_log_is_not_touched(store):
    store.write_bytes(b"\x00" * 100)
    with pytest.raises(scout_audit.AuditError, match="not an audit log; refusing to modify it"):
        scout_audit.AuditLog(store)
    assert store.read_bytes() == b"\x00" * 100
