"""Type stubs of the native half of scout_audit (crates/python/src)."""

from typing import Any, Dict, Iterator, List, Optional, Tuple

MAX_LINE: int

class AuditError(Exception): ...
class InvalidEventError(AuditError): ...
class InvalidArgumentError(AuditError): ...
class ClosedError(AuditError): ...
class PoisonedError(AuditError): ...
class AlreadyOpenError(AuditError): ...
class SumOverflowError(AuditError): ...
class UnsupportedError(AuditError): ...

class RecordIter(Iterator[Dict[str, Any]]):
    def __iter__(self) -> "RecordIter": ...
    def __next__(self) -> Dict[str, Any]: ...
    def close(self) -> None: ...

class Native:
    def __init__(
        self,
        addr: str,
        durability: str = "process",
        rotate_size: int = ...,
        fsync_lines: int = 10,
        fsync_interval: float = 1.0,
        max_delay: float = 0.05,
        keep_archives: Optional[int] = None,
        keep_age: Optional[float] = None,
        keep_bytes: Optional[int] = None,
        no_compress: bool = False,
        seal_interval: float = 1.0,
        allow_shared_dir: bool = False,
        threads: Optional[int] = None,
    ) -> None: ...
    def log(
        self,
        event_type: str,
        cost: Any = None,
        model: Any = None,
        input_t: Any = None,
        output_t: Any = None,
        files: Any = None,
        reason: Any = None,
        confidence: Any = None,
        duration_ms: Any = None,
        config: Any = None,
        extra: Optional[Dict[str, Any]] = None,
    ) -> int: ...
    def flush(self) -> None: ...
    def close(self) -> None: ...
    @property
    def closed(self) -> bool: ...
    def rotate(self) -> Optional[str]: ...
    @property
    def session(self) -> str: ...
    @property
    def durability(self) -> str: ...
    @property
    def address(self) -> str: ...
    def query(
        self,
        since: Optional[str] = None,
        until: Optional[str] = None,
        events: List[str] = ...,
        session: Optional[str] = None,
        model: Optional[str] = None,
        limit: Optional[int] = None,
    ) -> List[Dict[str, Any]]: ...
    def iter_query(
        self,
        since: Optional[str] = None,
        until: Optional[str] = None,
        events: List[str] = ...,
        session: Optional[str] = None,
        model: Optional[str] = None,
        limit: Optional[int] = None,
    ) -> RecordIter: ...
    def last(self, n: int, events: List[str] = ...) -> List[Dict[str, Any]]: ...
    def hourly_spend(self, hours: float) -> float: ...
    def spend(
        self,
        since: Optional[str] = None,
        until: Optional[str] = None,
        events: List[str] = ...,
        session: Optional[str] = None,
        model: Optional[str] = None,
        by: Optional[str] = None,
    ) -> Tuple[float, int, Optional[List[Tuple[Optional[str], int, float, int, int]]]]: ...
    def accuracy(
        self, since: Optional[str] = None, until: Optional[str] = None
    ) -> Tuple[int, int, float]: ...
    def stats(self) -> Dict[str, Any]: ...
    def verify(self) -> Dict[str, Any]: ...
