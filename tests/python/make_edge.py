#!/usr/bin/env python3
"""Writes tests/fixtures/python-v1/edge/audit.jsonl byte for byte.

The file is hand-made (the reference cannot write most of these lines); this
script only exists so that its exact bytes (BOM, CRLF, invalid UTF-8, torn
tail) are reviewable and reproducible. Each entry is one physical line, in
file order; line numbers (1-based) are the ones NOTES.md and expected.json
use. Stdlib only.

    python3 tests/python/make_edge.py [OUTPUT]   # default: the fixture path
"""

import sys
from pathlib import Path

S1 = "11111111-1111-4111-8111-111111111111"
S2 = "22222222-2222-4222-8222-222222222222"

LF, CRLF, NONE = b"\n", b"\r\n", b""

# (content, line ending). Costs are distinct powers of two (plus one 1e-07)
# so that any spend answer shows exactly which records it included.
LINES = [
    # 1: UTF-8 BOM at the start of the file, 6-digit fraction
    (b"\xef\xbb\xbf" + f'{{"ts": "2025-06-01T08:00:00.250000+00:00", "event": "llm_call", "session_id": "{S1}", "cost": 0.0625, "model": "m-small", "input_t": 100, "output_t": 20}}'.encode(), LF),
    # 2: CRLF; 1 us before now - 24 h
    (f'{{"ts": "2025-12-31T12:59:59.999999+00:00", "event": "nav", "session_id": "{S1}", "cost": 0.125}}'.encode(), CRLF),
    # 3: "Z", no fraction; exactly now - 24 h
    (f'{{"ts": "2025-12-31T13:00:00Z", "event": "nav", "session_id": "{S1}", "cost": 0.25}}'.encode(), LF),
    # 4: blank
    (b"", LF),
    # 5: blank, CRLF
    (b"", CRLF),
    # 6: white space only
    (b"   \t", LF),
    # 7: +02:00 offset: 2026-01-01T11:30:00Z
    (f'{{"ts": "2026-01-01T13:30:00+02:00", "event": "nav", "session_id": "{S1}", "cost": 0.5}}'.encode(), LF),
    # 8: CRLF; no fraction (isoformat with microsecond 0); exactly now - 1 h; integer cost 0
    (f'{{"ts": "2026-01-01T12:00:00+00:00", "event": "validation_fail", "session_id": "{S1}", "cost": 0, "reason": "boundary"}}'.encode(), CRLF),
    # 9: valid JSON, not an object
    (b"42", LF),
    # 10: "Z" in the same second as the since 12:05:00.5
    (f'{{"ts": "2026-01-01T12:05:00Z", "event": "nav", "session_id": "{S2}", "cost": 1.0}}'.encode(), LF),
    # 11: 3 fraction digits; raw (unescaped) UTF-8 text
    (f'{{"ts": "2026-01-01T12:15:00.123+00:00", "event": "brief", "session_id": "{S2}", "cost": 2.0, "reason": "naïve ☕ raw UTF-8"}}'.encode(), LF),
    # 12: 9 fraction digits
    (f'{{"ts": "2026-01-01T12:20:00.123456789+00:00", "event": "nav", "session_id": "{S2}", "cost": 4.0}}'.encode(), LF),
    # 13: NaN cost, as json.dumps writes float("nan")
    (f'{{"ts": "2026-01-01T12:25:00.000001+00:00", "event": "llm_call", "session_id": "{S2}", "cost": NaN, "model": "m-large"}}'.encode(), LF),
    # 14: JSON null
    (b"null", LF),
    # 15: an object whose ts is not a timestamp
    (f'{{"ts": "soon", "event": "nav", "session_id": "{S2}", "cost": 8.0}}'.encode(), LF),
    # 16: invalid UTF-8 (a Latin-1 e-acute)
    (f'{{"ts": "2026-01-01T12:30:00+00:00", "event": "brief", "session_id": "{S2}", "cost": 16.0, "reason": "caf'.encode() + b"\xe9" + b'"}', LF),
    # 17: a torn fragment with a complete record glued after it (what the
    #     original leaves after a kill mid-write and a restart)
    (f'{{"ts": "2026-01-01T12:40:00.000001+00:00", "event": "llm_c{{"ts": "2026-01-01T12:45:00.5+00:00", "event": "llm_call", "session_id": "{S2}", "cost": 32.0}}'.encode(), LF),
    # 18: CRLF; escaped non-ASCII incl. a surrogate pair; exponent cost
    (f'{{"ts": "2026-01-01T12:50:00.000007+00:00", "event": "nav", "session_id": "{S2}", "cost": 1e-07, "files": ["src/caf\\u00e9.rs"], "reason": "emoji \\ud83d\\ude80"}}'.encode(), CRLF),
    # 19: torn tail: no newline, cut mid-record
    (f'{{"ts": "2026-01-01T12:55:00.000001+00:00", "event": "nav", "session_id": "{S2}", "co'.encode(), NONE),
]


def main() -> None:
    default = Path(__file__).resolve().parents[1] / "fixtures" / "python-v1" / "edge" / "audit.jsonl"
    out = Path(sys.argv[1]) if len(sys.argv) > 1 else default
    out.parent.mkdir(parents=True, exist_ok=True)
    data = b"".join(content + end for content, end in LINES)
    out.write_bytes(data)
    offset = 0
    for i, (content, end) in enumerate(LINES, 1):
        print(f"line {i:2} offset {offset:5} {content[:60]!r}")
        offset += len(content) + len(end)
    print(f"{out}: {len(data)} bytes")


if __name__ == "__main__":
    main()
