"""Threads, multiprocessing writers with rotation, fork, kill -9 at
`sync`, close at interpreter exit."""

import json
import multiprocessing
import os
import signal
import subprocess
import sys
import textwrap
import threading
from collections import defaultdict

import scout_audit


def check_seqs(records):
    """Every (session, writer)'s seqs are 0..n-1 in log order."""
    seqs = defaultdict(list)
    for r in records:
        seqs[(r["session_id"], r.get("writer"))].append(r["seq"])
    for k, s in seqs.items():
        assert s == list(range(len(s))), k
    return seqs


def test_threads_share_one_log(store):
    log = scout_audit.AuditLog(store, rotate_size=20_000)

    def work(t):
        for i in range(300):
            log.log("nav", cost=0.5, t=t, i=i)

    threads = [threading.Thread(target=work, args=(t,)) for t in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    got = log.query()
    assert len(got) == 2400
    assert sorted((r["t"], r["i"]) for r in got) == [(t, i) for t in range(8) for i in range(300)]
    for t in range(8):
        assert [r["i"] for r in got if r["t"] == t] == list(range(300))
    assert list(check_seqs(got).values()) == [list(range(2400))]
    assert log.hourly_spend(1) == 1200.0
    assert log.verify()["ok"] is True
    log.close()
    assert len(list(store.parent.glob("audit-*.jsonl.gz"))) > 3  # it rotated


def _writer(path, n, w):
    log = scout_audit.AuditLog(path, rotate_size=16_000)
    for i in range(n):
        log.log("llm_call", cost=0.25, w=w, i=i)
    log.close()


def test_multiprocessing_writers_with_rotation_lose_and_duplicate_nothing(store):
    scout_audit.AuditLog(store).close()
    for method in ("fork", "spawn"):
        ctx = multiprocessing.get_context(method)
        procs = [ctx.Process(target=_writer, args=(str(store), 400, f"{method}{w}")) for w in range(3)]
        for p in procs:
            p.start()
        for p in procs:
            p.join(120)
            assert p.exitcode == 0
    with scout_audit.AuditLog(store) as log:
        got = log.query()
        assert len(got) == 2400
        for method in ("fork", "spawn"):
            for w in range(3):
                assert [r["i"] for r in got if r["w"] == f"{method}{w}"] == list(range(400))
        seqs = check_seqs(got)
        assert len(seqs) == 6  # one session a process
        assert log.hourly_spend(1) == 600.0
        v = log.verify()
        assert (v["ok"], v["records"], v["problems"]) == (True, 2400, [])
    assert len(list(store.parent.glob("audit-*.jsonl.gz"))) > 10


def test_a_fork_child_logs_through_its_own_writer_and_never_flushes_the_parents_buffer(store):
    # Buffered: the parent's five events wait in its memory when it forks.
    log = scout_audit.AuditLog(store, durability="buffered", max_delay=60)
    for i in range(5):
        log.log("nav", who="parent", i=i)
    parent_session = log.session_id
    pid = os.fork()
    if pid == 0:
        code = 1
        try:
            for i in range(3):
                log.log("nav", who="child", i=i)
            if log.session_id != parent_session:
                code = 0
            log.close()
        finally:
            os._exit(code)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    log.log("nav", who="parent", i=5)
    log.close()
    recs = [json.loads(l) for l in store.read_text().splitlines()]
    parent = [r for r in recs if r["who"] == "parent"]
    child = [r for r in recs if r["who"] == "child"]
    assert [r["i"] for r in parent] == list(range(6))
    assert [r["i"] for r in child] == [0, 1, 2]
    assert {r["session_id"] for r in parent} == {parent_session}
    (child_session,) = {r["session_id"] for r in child}
    assert child_session != parent_session
    check_seqs(recs)


KILLED = textwrap.dedent(
    """
    import sys, scout_audit
    log = scout_audit.AuditLog(sys.argv[1], durability="sync", rotate_size=4000)
    i = 0
    while True:
        log.log("nav", i=i, pad="x" * 50)
        print(i, flush=True)
        i += 1
    """
)


def test_kill_9_at_sync_keeps_every_acknowledged_event(store):
    for round_ in range(3):
        p = subprocess.Popen([sys.executable, "-c", KILLED, str(store)], stdout=subprocess.PIPE,
                             text=True)
        acked = []
        for line in p.stdout:
            acked.append(int(line))
            if len(acked) >= 150 + 40 * round_:
                break
        p.send_signal(signal.SIGKILL)
        p.wait()
        # The child went on logging until the kill: every ack it printed
        # is in the pipe (a line cut by the kill is not one).
        acked += [int(line) for line in p.stdout.read().splitlines(keepends=True)
                  if line.endswith("\n")]
        p.stdout.close()
        with scout_audit.AuditLog(store) as log:
            got = [r["i"] for r in log.query() if r.get("i") is not None]
        # Every event this round acknowledged is there once; at most the
        # one in flight when it was killed (written, not yet printed)
        # follows.
        rounds = []
        for g in got:
            if g == 0:
                rounds.append([])
            rounds[-1].append(g)
        assert len(rounds) == round_ + 1
        last = rounds[-1]
        assert last[: len(acked)] == acked
        assert len(last) - len(acked) in (0, 1)


EXITS = textwrap.dedent(
    """
    import sys, scout_audit
    log = scout_audit.AuditLog(sys.argv[1], durability="buffered", max_delay=3600)
    for i in range(100):
        log.log("nav", i=i)
    # no close: atexit flushes
    """
)


def test_interpreter_exit_flushes_without_hanging(store):
    subprocess.run([sys.executable, "-c", EXITS, str(store)], check=True, timeout=60)
    recs = [json.loads(l) for l in store.read_text().splitlines()]
    assert [r["i"] for r in recs] == list(range(100))
