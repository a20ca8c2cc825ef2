"""Checks what .ci/report-check made (argument: its work directory):
the browser logged no console message, the DOM's figures equal the
CLI's answers, and the screenshot's charts are drawn (pixels of the
charts' palette, the PNG decoded with zlib alone)."""
import json
import re
import struct
import sys
import zlib
from pathlib import Path

work = Path(sys.argv[1])
failures = []

# 1. No console message of the page (chromium logs them as CONSOLE).
for log in ("shot.log", "dom.log"):
    for line in (work / log).read_text(errors="replace").splitlines():
        if "CONSOLE" in line or "Refused to" in line:
            failures.append(f"{log}: {line}")

# 2. The numbers in the page equal the CLI's.
dom = (work / "dom.html").read_text()
m = re.search(r'<script type="application/json" id="report-data">(.*?)</script>', dom, re.S)
if not m:
    sys.exit("report check: FAILED: the page has no report-data block")
data = json.loads(m.group(1))
by_day = json.loads((work / "by-day.json").read_text())
pairs = json.loads((work / "by-day-model.json").read_text())
acc = json.loads((work / "accuracy.json").read_text())
for what, got, want in [
    ("spend per day", data["spend_by_day"], by_day["groups"]),
    ("spend per day and model", data["spend_by_day_model"], pairs["groups"]),
    ("total cost", data["totals"]["total_cost"], by_day["total_cost"]),
    ("records", data["totals"]["records"], by_day["records"]),
    ("accuracy", data["accuracy"], acc),
]:
    if got != want:
        failures.append(f"{what}: the page says {got!r}, the CLI {want!r}")
if not by_day["groups"]:
    failures.append("the window holds no day: nothing was compared")
cards = dict(re.findall(r'data-figure="([a-z_]+)" data-value="([^"]*)"', dom))
if float(cards.get("total_cost", "nan")) != by_day["total_cost"]:
    failures.append(f"headline spend {cards.get('total_cost')} != {by_day['total_cost']}")
if cards.get("records") != str(by_day["records"]):
    failures.append(f"headline records {cards.get('records')} != {by_day['records']}")
cents = f"${by_day['total_cost']:,.2f}"
if f">{cents}</b>" not in dom:
    failures.append(f"the headline does not show {cents}")
if dom.count("<svg") != 6:
    failures.append(f"{dom.count('<svg')} charts in the DOM, 6 expected")


def png_pixels(path):
    """(width, height, rows of RGB bytes) of an 8-bit RGB or RGBA PNG."""
    raw = path.read_bytes()
    assert raw[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG"
    pos, idat = 8, b""
    w = h = bpp = None
    while pos < len(raw):
        n, kind = struct.unpack(">I4s", raw[pos:pos + 8])
        body = raw[pos + 8:pos + 8 + n]
        if kind == b"IHDR":
            w, h, depth, ctype = struct.unpack(">IIBB", body[:10])
            assert depth == 8 and ctype in (2, 6), f"PNG depth {depth} type {ctype}"
            bpp = 3 if ctype == 2 else 4
        elif kind == b"IDAT":
            idat += body
        pos += 12 + n
    data = zlib.decompress(idat)
    stride = w * bpp
    rows, prev = [], bytearray(stride)
    for y in range(h):
        f = data[y * (stride + 1)]
        line = bytearray(data[y * (stride + 1) + 1:(y + 1) * (stride + 1)])
        for i in range(stride):
            a = line[i - bpp] if i >= bpp else 0
            b = prev[i]
            c = prev[i - bpp] if i >= bpp else 0
            if f == 1:
                line[i] = (line[i] + a) & 255
            elif f == 2:
                line[i] = (line[i] + b) & 255
            elif f == 3:
                line[i] = (line[i] + (a + b) // 2) & 255
            elif f == 4:
                p = a + b - c
                pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
                line[i] = (line[i] + (a if pa <= pb and pa <= pc else b if pb <= pc else c)) & 255
        rows.append(bytes(line) if bpp == 3 else bytes(x for j in range(0, stride, 4) for x in line[j:j + 3]))
        prev = line
    return w, h, rows


# 3. The charts are drawn: every band of the page that holds a chart has
# pixels of the palette (Tableau 10's first five colours).
palette = {(0x4e, 0x79, 0xa7), (0xf2, 0x8e, 0x2b), (0xe1, 0x57, 0x59), (0x76, 0xb7, 0xb2), (0x59, 0xa1, 0x4f)}
w, h, rows = png_pixels(work / "shot.png")
counts = {}
for y, row in enumerate(rows):
    for x in range(0, len(row), 3):
        px = tuple(row[x:x + 3])
        if px in palette:
            counts[px] = counts.get(px, 0) + 1
coloured = sum(counts.values())
if coloured < 20000 or len(counts) < 5:
    failures.append(f"the screenshot's charts look blank: {coloured} pixels of {len(counts)} palette colours")

if failures:
    print("report check: FAILED")
    for f in failures:
        print("  " + f)
    sys.exit(1)
days = len(data["spend_by_day"])
print(f"report check: ok (chromium: no console message; {days} days, total ${data['totals']['total_cost']:.2f} "
      f"and accuracy {data['accuracy']['accuracy_pct']}% equal the CLI's; {coloured} chart pixels in {w}x{h})")
