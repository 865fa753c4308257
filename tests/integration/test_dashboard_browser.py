"""The dashboard in a real browser, offline: headless Chromium draws every panel of a full sample.

A page that only looks right as HTML text can still render blank (a CDN script without internet,
a JavaScript error in one figure), so this opens it in Chromium, counts the graphs Plotly drew in
the DOM and checks the screenshot has content from top to bottom. The screenshot is kept in
tests/artifacts/ for a human to look at.
"""

from __future__ import annotations

import os
import pathlib
import shutil
import struct
import subprocess
import zlib

import pytest

from tap_optimizer.dashboard.html import figure_sections, render_page
from tests.support import dashboard_samples

ARTIFACTS = pathlib.Path(__file__).resolve().parents[1] / "artifacts"
WIDTH, HEIGHT = 1400, 4600  # tall enough for every panel of the sample
NEAR_WHITE = bytes(range(235, 256))


@pytest.fixture(scope="module")
def chromium() -> str:
    found = shutil.which("chromium") or shutil.which("chromium-browser")
    if found:
        return found
    if os.environ.get("CI"):
        pytest.fail("chromium is not installed: run `make system-deps`")
    pytest.skip("chromium is not installed (`make system-deps`); in CI this fails instead")


@pytest.fixture(scope="module")
def sample() -> tuple[dict, list[dict]]:
    return dashboard_samples.analysis(), [dashboard_samples.succeeded_plan(), dashboard_samples.rolled_back_plan()]


@pytest.fixture(scope="module")
def page(sample) -> pathlib.Path:
    ARTIFACTS.mkdir(exist_ok=True)
    path = ARTIFACTS / "dashboard.html"
    path.write_text(render_page(*sample, title="tap-optimizer: tap-prod", generated_at="2026-12-03T07:00:00Z"))
    return path


def browse(chromium: str, page: pathlib.Path, profile: pathlib.Path, *flags: str) -> str:
    """Run headless Chromium on the page; its stdout (dbus noise on stderr is harmless)."""
    done = subprocess.run(
        [chromium, "--headless", "--no-sandbox", "--disable-gpu", f"--user-data-dir={profile}",
         f"--window-size={WIDTH},{HEIGHT}", "--virtual-time-budget=5000", *flags, page.as_uri()],
        capture_output=True, text=True, timeout=60, check=True)
    return done.stdout


def png_rows(data: bytes) -> list[bytes]:
    """The pixel rows of an 8-bit RGB or RGBA PNG, unfiltered (PNG spec, section 9)."""
    assert data[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG"
    chunks, pos = {}, 8
    while pos < len(data):
        length, kind = struct.unpack(">I4s", data[pos:pos + 8])
        chunks.setdefault(kind, []).append(data[pos + 8:pos + 8 + length])
        pos += 12 + length
    width, height, depth, colour = struct.unpack(">IIBB", chunks[b"IHDR"][0][:10])
    assert depth == 8 and colour in (2, 6), f"unexpected PNG format: depth {depth}, colour type {colour}"
    bpp = 3 if colour == 2 else 4
    raw, stride = zlib.decompress(b"".join(chunks[b"IDAT"])), width * bpp
    rows, previous = [], bytearray(stride)
    for y in range(height):
        start = y * (stride + 1)
        row = unfilter(raw[start], bytearray(raw[start + 1:start + 1 + stride]), previous, bpp)
        rows.append(bytes(row))
        previous = row
    return rows


def unfilter(kind: int, row: bytearray, above: bytearray, bpp: int) -> bytearray:
    for i in range(len(row) if kind else 0):
        left = row[i - bpp] if i >= bpp else 0
        up, corner = above[i], above[i - bpp] if i >= bpp else 0
        if kind == 1:
            row[i] = (row[i] + left) & 255
        elif kind == 2:
            row[i] = (row[i] + up) & 255
        elif kind == 3:
            row[i] = (row[i] + (left + up) // 2) & 255
        else:
            guess = left + up - corner
            nearest = min((abs(guess - left), 0, left), (abs(guess - up), 1, up), (abs(guess - corner), 2, corner))
            row[i] = (row[i] + nearest[2]) & 255
    return row


def test_chromium_draws_every_panel_offline(chromium, page, sample, tmp_path):
    dom = browse(chromium, page, tmp_path / "profile", "--dump-dom")
    sections = figure_sections(*sample)
    figures = sum(len(section) for _, section in sections)
    assert dom.count('class="plotly-graph-div js-plotly-plot"') == figures == 8
    assert dom.count('class="main-svg"') >= figures
    assert dom.count('class="hm"') == 2  # both utilization heatmaps were painted
    assert "tap/rightsize-retry" in dom and "Tenant impact" in dom


def test_the_screenshot_has_content_from_top_to_bottom(chromium, page, tmp_path):
    screenshot = ARTIFACTS / "dashboard.png"
    screenshot.unlink(missing_ok=True)
    browse(chromium, page, tmp_path / "profile", f"--screenshot={screenshot}")
    rows = png_rows(screenshot.read_bytes())
    assert len(rows) == HEIGHT
    # Bytes of colour channels darker than near-white, per quarter of the page: a blank render is 0.
    quarters = [rows[q * HEIGHT // 4:(q + 1) * HEIGHT // 4] for q in range(4)]
    dark = [sum(len(row.translate(None, NEAR_WHITE)) for row in quarter) for quarter in quarters]
    total = sum(len(row) for row in rows)
    assert all(count > total // 400 for count in dark), dark
