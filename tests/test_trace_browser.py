"""The HTML timeline in a real browser: headless Chromium takes a screenshot, and we measure it.

A trace with round numbers is drawn, and the bars are found in the picture by their exact fill
colours: each must be where its times put it (relative to the chart's own left edge and width),
rows in order, one above the other, with labels beside them. A blank page, a missing bar, a bar
at the wrong time or a broken stylesheet fails.

Chromium is Debian's `chromium` package. Without it the tests skip, unless VOLLEY_REQUIRE_BROWSER
is set (CI sets it). With VOLLEY_UPDATE_DOCS=1 the screenshot of the realistic run is saved as
docs/timeline.png for the README.
"""

from __future__ import annotations

import itertools
import os
import shutil
import struct
import subprocess
import zlib
from dataclasses import dataclass
from pathlib import Path

import pytest
from _trace_samples import known_trace, realistic_run

from volley.trace import load_trace, write_html

SIZE = (1200, 800)
DOCS = Path(__file__).parent.parent / "docs" / "timeline.png"
DOCS_SIZE = (1200, 1240)

MODEL, EARLY, ERROR, CALL, MARKER = "8b5cf6", "14b8a6", "ef4444", "3b82f6", "f59e0b"


def browser() -> str:
    for name in ("chromium", "chromium-browser", "google-chrome"):
        found = shutil.which(name)
        if found:
            return found
    if os.environ.get("VOLLEY_REQUIRE_BROWSER"):
        pytest.fail("VOLLEY_REQUIRE_BROWSER is set but chromium is not installed")
    pytest.skip("chromium is not installed (apt-get install chromium)")


def screenshot(page: Path, png: Path, size: tuple[int, int]) -> bytes:
    """The page as Chromium draws it at `size`, as PNG bytes."""
    command = [
        browser(),
        "--headless",
        "--no-sandbox",  # CI runs as root
        "--disable-gpu",
        "--disable-dev-shm-usage",
        "--no-first-run",
        # The page needs no network; these keep Chromium from reaching out (and waiting) anyway.
        "--disable-quic",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--hide-scrollbars",
        "--force-device-scale-factor=1",
        "--force-color-profile=srgb",  # fills come out as the exact colours the page names
        f"--user-data-dir={png.parent / 'profile'}",
        f"--window-size={size[0]},{size[1]}",
        f"--screenshot={png}",
        page.resolve().as_uri(),
    ]
    done = subprocess.run(command, capture_output=True, text=True, timeout=90, check=False)
    assert done.returncode == 0, done.stderr[-2000:]
    assert png.exists(), done.stderr[-2000:]
    return png.read_bytes()


@dataclass
class Image:
    width: int
    height: int
    rows: list[bytes]
    """RGB bytes per row."""

    def pixel(self, x: int, y: int) -> str:
        return self.rows[y][3 * x : 3 * x + 3].hex()


def decode_png(data: bytes) -> Image:
    """An 8-bit RGB or RGBA PNG, unfiltered (as Chromium writes them), as RGB rows."""
    assert data[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG"
    pos, idat, header = 8, [], None
    while pos < len(data):
        (length,) = struct.unpack(">I", data[pos : pos + 4])
        kind, body = data[pos + 4 : pos + 8], data[pos + 8 : pos + 8 + length]
        pos += 12 + length
        if kind == b"IHDR":
            header = struct.unpack(">IIBBBBB", body)
        elif kind == b"IDAT":
            idat.append(body)
    assert header is not None
    width, height, depth, colour, _, _, interlace = header
    assert (depth, interlace) == (8, 0), header
    assert colour in (2, 6), header
    bpp = 3 if colour == 2 else 4
    stride = width * bpp
    raw = zlib.decompress(b"".join(idat))
    low, high = int.from_bytes(b"\x7f" * stride, "big"), int.from_bytes(b"\x80" * stride, "big")
    prev, rows = bytes(stride), []
    for y in range(height):
        start = y * (stride + 1)
        kind, line = raw[start], bytearray(raw[start + 1 : start + 1 + stride])
        if kind == 1:
            for x in range(bpp, stride):
                line[x] = (line[x] + line[x - bpp]) & 255
        elif kind == 2:  # bytewise addition of two rows at once, carries masked off
            a, b = int.from_bytes(line, "big"), int.from_bytes(prev, "big")
            line = bytearray((((a & low) + (b & low)) ^ ((a ^ b) & high)).to_bytes(stride, "big"))
        elif kind == 3:
            for x in range(stride):
                left = line[x - bpp] if x >= bpp else 0
                line[x] = (line[x] + ((left + prev[x]) >> 1)) & 255
        elif kind == 4:
            for x in range(stride):
                a = line[x - bpp] if x >= bpp else 0
                b, c = prev[x], prev[x - bpp] if x >= bpp else 0
                p = a + b - c
                pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
                line[x] = (line[x] + (a if pa <= pb and pa <= pc else b if pb <= pc else c)) & 255
        prev = bytes(line)
        rows.append(prev if bpp == 3 else b"".join(prev[i : i + 3] for i in range(0, stride, 4)))
    return Image(width, height, rows)


@dataclass
class Band:
    """Rows of the picture holding a long run of one colour: a bar."""

    top: int
    bottom: int
    left: int
    right: int

    @property
    def middle(self) -> float:
        return (self.top + self.bottom) / 2


def bands(image: Image, colour: str, *, shortest: int = 24) -> list[Band]:
    """Every bar of exactly `colour` at least `shortest` pixels long, top to bottom."""
    target = bytes.fromhex(colour)
    found: list[Band] = []
    for y, row in enumerate(image.rows):
        runs = []
        x = row.find(target)
        while x != -1:
            if x % 3:
                x = row.find(target, x + 1)
                continue
            end = x
            while row[end : end + 3] == target:
                end += 3
            if (end - x) // 3 >= shortest:
                runs.append((x // 3, end // 3 - 1))
            x = row.find(target, end)
        if not runs:
            continue
        left, right = min(r[0] for r in runs), max(r[1] for r in runs)
        if found and found[-1].bottom == y - 1:
            band = found[-1]
            band.bottom, band.left, band.right = y, min(band.left, left), max(band.right, right)
        else:
            found.append(Band(y, y, left, right))
    return found


def not_blank(image: Image) -> None:
    colours = {row[i : i + 3] for row in image.rows[::7] for i in range(0, len(row), 21)}
    assert len(colours) > 30, f"only {len(colours)} colours: a blank or unstyled page"


def test_the_timeline_draws_every_bar_where_its_times_put_it(tmp_path: Path) -> None:
    page = write_html(known_trace(), tmp_path / "known.html")
    image = decode_png(screenshot(page, tmp_path / "known.png", SIZE))
    assert (image.width, image.height) == SIZE
    not_blank(image)

    model, early, error, call = (bands(image, c)[0] for c in (MODEL, EARLY, ERROR, CALL))
    # The chart spans the turn: the model's bar starts it (0 s), the early call ends it (2 s).
    x0, width = model.left, early.right - model.left
    assert width > 400, "the chart is too narrow to read"

    def at(fraction: float) -> float:
        return x0 + fraction * width

    tolerance = 0.015 * width + 3
    for band, start, end in ((model, 0, 0.5), (early, 0.1, 1.0), (error, 0.5, 0.75),
                             (call, 0.6, 0.9)):  # fmt: skip
        assert abs(band.left - at(start)) <= tolerance, (band, at(start))
        assert abs(band.right - at(end)) <= tolerance, (band, at(end))
    # One row per bar, in order, evenly spaced, bars of one height.
    rows = [model.middle, early.middle, error.middle, call.middle]
    assert rows == sorted(rows)
    pitch = rows[1] - rows[0]
    assert pitch >= 14
    assert all(abs((b - a) - pitch) <= 2 for a, b in itertools.pairwise(rows))
    heights = {b.bottom - b.top for b in (model, early, error, call)}
    assert max(heights) - min(heights) <= 2
    assert min(heights) >= 8
    # The early call's arguments were complete as it started: its marker sits at 0.2 s.
    marker = [x for x in range(image.width) if image.pixel(x, round(early.middle)) == MARKER]
    assert marker
    assert abs(sum(marker) / len(marker) - at(0.1)) <= tolerance
    # Labels are drawn left of the chart, beside the rows.
    dark = sum(
        1
        for y in range(model.top, call.bottom + 1)
        for x in range(max(0, x0 - 20))
        if max(image.rows[y][3 * x : 3 * x + 3]) < 110
    )
    assert dark > 150, "no row labels next to the bars"


def test_a_realistic_run_draws_and_is_the_readme_picture(tmp_path: Path) -> None:
    realistic_run(tmp_path / "run.jsonl")
    page = write_html(load_trace(tmp_path / "run.jsonl"), tmp_path / "run.html")
    image = decode_png(screenshot(page, tmp_path / "run.png", SIZE))
    assert (image.width, image.height) == SIZE
    not_blank(image)
    for colour in (MODEL, EARLY):
        assert bands(image, colour), f"no bar of #{colour}"
    # Turn 1: the three reads start while the model writes, so their bars begin left of where
    # the model's bar ends; below them, the failed read's short bar (50 ms of 1.6 s).
    model, early = bands(image, MODEL)[0], bands(image, EARLY)[0]
    assert early.top > model.top
    assert early.left < model.right
    error = [b for b in bands(image, ERROR, shortest=8) if b.top > early.top]
    assert error, "no bar for the failed read"
    assert error[0].left > early.left
    assert error[0].right - error[0].left < 40
    if os.environ.get("VOLLEY_UPDATE_DOCS"):
        tall = decode_png(screenshot(page, tmp_path / "tall.png", DOCS_SIZE))
        not_blank(tall)
        DOCS.parent.mkdir(exist_ok=True)
        shutil.copyfile(tmp_path / "tall.png", DOCS)
