"""scout_audit: a drop-in replacement for scout's ``AuditLog``.

Change ``from vivarium.scout.audit import AuditLog`` to
``from scout_audit import AuditLog``; the calls, their defaults and the
module constants stay the same. Underneath is the Rust store (rotation
without stalls or name collisions, no torn lines, three durability levels,
several processes on one store), its parallel scanner (archives are read
too, sums are exact) and the SQLite and PostgreSQL backends.

The contract, with every difference from the original and the decision
behind it: docs/python.md.
"""

from __future__ import annotations

import atexit
import os
import threading
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Dict, Iterable, Iterator, List, Optional, Union

from ._native import (
    AlreadyOpenError,
    AuditError,
    ClosedError,
    InvalidArgumentError,
    InvalidEventError,
    Native as _Native,
    PoisonedError,
    SumOverflowError,
    UnsupportedError,
)

__all__ = [
    "AuditLog",
    "AuditError",
    "AlreadyOpenError",
    "ClosedError",
    "InvalidArgumentError",
    "InvalidEventError",
    "PoisonedError",
    "SumOverflowError",
    "UnsupportedError",
    "DEFAULT_AUDIT_PATH",
    "ROTATION_SIZE_BYTES",
    "FSYNC_EVERY_N_LINES",
    "FSYNC_INTERVAL_SEC",
    "EVENT_TYPES",
]

DEFAULT_AUDIT_PATH = Path("~/.scout/audit.jsonl").expanduser()
ROTATION_SIZE_BYTES = 10 * 1024 * 1024  # 10 MiB
FSYNC_EVERY_N_LINES = 10
FSYNC_INTERVAL_SEC = 1.0
EVENT_TYPES = frozenset(
    {"nav", "validation_fail", "brief", "cascade", "llm_call", "budget_exceeded"}
)

Time = Union[datetime, str, None]
"""A time argument: an aware ``datetime`` (a naive one is UTC, as the
original's string comparison made it), an ISO 8601 text, or ``None``."""


def _iso(t: Time, name: str) -> Optional[str]:
    if t is None:
        return None
    if isinstance(t, datetime):
        if t.tzinfo is None or t.tzinfo.utcoffset(t) is None:
            t = t.replace(tzinfo=timezone.utc)
        return t.isoformat()
    if isinstance(t, str):
        return t
    raise TypeError(f"{name} must be a datetime, an ISO 8601 str or None, not {type(t).__name__}")


def _events(event_type: Union[str, Iterable[str], None]) -> List[str]:
    if not event_type:
        return []
    if isinstance(event_type, str):
        return [event_type]
    out = list(event_type)
    for e in out:
        if not isinstance(e, str):
            raise TypeError(f"event_type must hold str, not {type(e).__name__}")
    return out


def _when(s: Optional[str]) -> Optional[datetime]:
    return None if s is None else datetime.fromisoformat(s)


def _address(path: Union[str, os.PathLike, None]) -> str:
    if path is None or path == "":
        env = os.environ.get("SCOUT_AUDIT_PATH")
        path = env if env else DEFAULT_AUDIT_PATH
    if isinstance(path, str) and (
        path.startswith("sqlite:") or path.startswith(("postgres://", "postgresql://"))
    ):
        if path.startswith("sqlite:"):
            return "sqlite:" + os.path.abspath(os.path.expanduser(path[len("sqlite:"):]))
        return path
    p = Path(path).expanduser().absolute()
    p.parent.mkdir(parents=True, exist_ok=True)
    return str(p)


# One writer per store and process, shared by every AuditLog on it (the
# store refuses a second writer of one session in one process); the key
# holds the pid, so a child of fork never shares its parent's.
_SHARED_LOCK = threading.Lock()
_SHARED: Dict[tuple, list] = {}


def _reset_after_fork() -> None:
    # Another thread may have held the lock when the process forked; the
    # child's copy would stay locked for ever.
    global _SHARED_LOCK
    _SHARED_LOCK = threading.Lock()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_reset_after_fork)


def _acquire(addr: str, opts: dict) -> _Native:
    key = (os.getpid(), addr)
    with _SHARED_LOCK:
        entry = _SHARED.get(key)
        if entry is not None and not entry[0].closed:
            if entry[1] != opts:
                raise AlreadyOpenError(
                    f"the store {addr} is already open in this process with other options "
                    f"({entry[1]}); open it with the same ones or close it first"
                )
            entry[2] += 1
            return entry[0]
        native = _Native(addr, **opts)
        _SHARED[key] = [native, opts, 1]
        return native


def _release(addr: str, native: _Native) -> None:
    key = (os.getpid(), addr)
    with _SHARED_LOCK:
        entry = _SHARED.get(key)
        if entry is None or entry[0] is not native:
            last = True
        else:
            entry[2] -= 1
            last = entry[2] <= 0
            if last:
                del _SHARED[key]
    if last:
        native.close()


@atexit.register
def _close_all() -> None:
    """Flushes and closes every log this process still has open."""
    pid = os.getpid()
    with _SHARED_LOCK:
        mine = [k for k in _SHARED if k[0] == pid]
        natives = [_SHARED.pop(k)[0] for k in mine]
    for n in natives:
        try:
            n.close()
        except AuditError as e:  # nothing to raise to at exit
            import sys

            print(f"scout_audit: closing at exit: {e}", file=sys.stderr)


class AuditLog:
    """An audit log on a store: the original's API, and more.

    ``path``: a file store's live file (default ``$SCOUT_AUDIT_PATH``, else
    ``~/.scout/audit.jsonl``), ``sqlite:PATH`` or ``postgres://...``. The
    keywords are the CLI's global options (docs/cli.md), with its
    defaults, which are the original's policy: ``durability="process"``
    (every ``log`` reaches the kernel before it returns), an fsync every
    10 lines or 1 s, rotation at 10 MiB.
    """

    def __init__(
        self,
        path: Union[str, os.PathLike, None] = None,
        *,
        durability: str = "process",
        rotate_size: int = ROTATION_SIZE_BYTES,
        fsync_lines: int = FSYNC_EVERY_N_LINES,
        fsync_interval: float = FSYNC_INTERVAL_SEC,
        max_delay: float = 0.05,
        keep_archives: Optional[int] = None,
        keep_age: Optional[float] = None,
        keep_bytes: Optional[int] = None,
        no_compress: bool = False,
        seal_interval: float = 1.0,
        allow_shared_dir: bool = False,
        threads: Optional[int] = None,
    ) -> None:
        self._addr = _address(path)
        opts = dict(
            durability=durability,
            rotate_size=rotate_size,
            fsync_lines=fsync_lines,
            fsync_interval=float(fsync_interval),
            max_delay=float(max_delay),
            keep_archives=keep_archives,
            keep_age=None if keep_age is None else float(keep_age),
            keep_bytes=keep_bytes,
            no_compress=no_compress,
            seal_interval=float(seal_interval),
            allow_shared_dir=allow_shared_dir,
            threads=threads,
        )
        self._n: Optional[_Native] = _acquire(self._addr, opts)
        self._lock = threading.Lock()
        if type(self).log is AuditLog.log:
            # The native method itself, while open: no Python frame per
            # event (decision 192). A subclass's own log() is left alone.
            self.log = self._n.log  # type: ignore[method-assign]

    # ------------------------------------------------------------------ writing
    def _native(self) -> _Native:
        n = self._n
        if n is None:
            raise ClosedError("the log is closed")
        return n

    def log(
        self,
        event_type: str,
        *,
        cost: Optional[float] = None,
        model: Optional[str] = None,
        input_t: Optional[int] = None,
        output_t: Optional[int] = None,
        files: Optional[List[str]] = None,
        reason: Optional[str] = None,
        confidence: Optional[int] = None,
        duration_ms: Optional[int] = None,
        config: Optional[Dict[str, Any]] = None,
        **kwargs: Any,
    ) -> None:
        """Logs one event (see docs/python.md, "log"). While the log is
        open, the instance's ``log`` is the native method of the same
        signature; this one runs for a subclass, and raises once closed."""
        self._native().log(
            event_type, cost=cost, model=model, input_t=input_t, output_t=output_t,
            files=files, reason=reason, confidence=confidence, duration_ms=duration_ms,
            config=config, **kwargs,
        )

    def flush(self) -> None:
        """Makes every event logged so far survive power loss (fsync)."""
        self._native().flush()

    def close(self) -> None:
        """Flushes and closes; a second close does nothing."""
        with self._lock:
            n, self._n = self._n, None
            self.__dict__.pop("log", None)
        if n is not None:
            _release(self._addr, n)

    @property
    def closed(self) -> bool:
        """Whether ``close()`` was called."""
        return self._n is None

    def __enter__(self) -> "AuditLog":
        return self

    def __exit__(self, *args: Any) -> None:
        self.close()

    def rotate(self) -> Optional[str]:
        """Seals a file store's live file now; the segment's name, or ``None``
        when the live file was empty."""
        return self._native().rotate()

    @property
    def session_id(self) -> str:
        """This process's writer session (``session_id`` of what it logs)."""
        return self._native().session

    @property
    def address(self) -> str:
        """The store's address (a PostgreSQL password hidden)."""
        return self._native().address

    @property
    def durability(self) -> str:
        """``"buffered"``, ``"process"`` or ``"sync"``."""
        return self._native().durability

    # ------------------------------------------------------------------ reading
    def query(
        self,
        since: Time = None,
        event_type: Union[str, Iterable[str], None] = None,
        *,
        until: Time = None,
        session: Optional[str] = None,
        model: Optional[str] = None,
        limit: Optional[int] = None,
    ) -> List[Dict[str, Any]]:
        """Records with ``since <= ts < until`` (instants, not strings), of
        ``event_type`` (a str or several), in log order, archives included."""
        return self._native().query(
            _iso(since, "since"), _iso(until, "until"), _events(event_type), session, model, limit
        )

    def iter_query(
        self,
        since: Time = None,
        event_type: Union[str, Iterable[str], None] = None,
        *,
        until: Time = None,
        session: Optional[str] = None,
        model: Optional[str] = None,
        limit: Optional[int] = None,
    ) -> Iterator[Dict[str, Any]]:
        """As ``query``, one record at a time: memory stays bounded however
        large the store."""
        it = self._native().iter_query(
            _iso(since, "since"), _iso(until, "until"), _events(event_type), session, model, limit
        )
        try:
            yield from it
        finally:
            it.close()

    def hourly_spend(self, hours: float = 1) -> float:
        """The exact sum of ``cost`` over the last ``hours`` (0.0 when
        ``hours <= 0``)."""
        return self._native().hourly_spend(float(hours))

    def spend(
        self,
        since: Time = None,
        until: Time = None,
        *,
        by: Optional[str] = None,
        event_type: Union[str, Iterable[str], None] = None,
        session: Optional[str] = None,
        model: Optional[str] = None,
    ) -> Union[float, Dict[Optional[str], float]]:
        """The exact sum of ``cost`` of the selected records; with ``by``
        (``"hour"``, ``"day"``, ``"model"``, ``"session"``) a dict of
        group key to sum, in key order (``None``: records without the key)."""
        total, _records, groups = self._native().spend(
            _iso(since, "since"), _iso(until, "until"), _events(event_type), session, model, by
        )
        if groups is None:
            return total
        return {k: cost for (k, _n, cost, _i, _o) in groups}

    def last_events(
        self, n: int = 20, event_type: Optional[str] = None
    ) -> List[Dict[str, Any]]:
        """The last ``n`` records (of ``event_type``), oldest first."""
        if n is None:
            return self.query(event_type=event_type)
        if n < 0:
            raise ValueError("maxlen must be non-negative")
        return self._native().last(int(n), _events(event_type))

    def accuracy_metrics(self, since: Time) -> Dict[str, Any]:
        """Navigation accuracy over records with ``ts >= since``."""
        nav, fails, pct = self._native().accuracy(_iso(since, "since"), None)
        return {"total_nav": nav, "validation_fail_count": fails, "accuracy_pct": pct}

    def stats(self) -> Dict[str, Any]:
        """Records, per event type, sessions, first and last ``ts`` (aware
        datetimes), what was skipped: ``scout-audit stats``."""
        s = self._native().stats()
        s["first_ts"] = _when(s["first_ts"])
        s["last_ts"] = _when(s["last_ts"])
        return s

    def verify(self, key: Optional[str] = None) -> Dict[str, Any]:
        """The read-only check of the whole store: ``scout-audit verify``
        (``ok``, ``problem_count``, ``problems``, ``notes``, ``records``,
        ``sessions``). With ``key`` (the verification key ``seal_init``
        gave, as text), also the seals' check, under ``"sealed"``
        (``seals``, ``sealed_leaves``, ``unsealed``, ``tampering``,
        ``notes``); ``ok`` is then false on tampering too."""
        v = self._native().verify()
        if key is not None:
            sealed = self._native().verify_sealed(key)
            v["sealed"] = sealed
            v["ok"] = v["ok"] and sealed["tampering"] is None
        return v

    def seal_init(self, epoch: int = 86400) -> str:
        """Sets sealing up on a file store (``scout-audit seal init``),
        epochs of ``epoch`` seconds; returns the verification key to keep
        apart from the store."""
        return self._native().seal_init(int(epoch))

    def seal(self) -> Optional[Dict[str, int]]:
        """Seals what was logged since the last seal (``scout-audit
        seal``): ``{"new_lines", "size", "epoch"}``, or ``None`` when every
        line is sealed."""
        r = self._native().seal()
        if r is None:
            return None
        return {"new_lines": r[0], "size": r[1], "epoch": r[2]}
