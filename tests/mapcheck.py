"""Open a written HTML map in headless Chromium with the network blocked, and report what a planner sees.

Used by tests/test_maps.py and, by hand, to take screenshots::

    python tests/mapcheck.py OUT_DIR maps/demo/coverage.html maps/demo/siting.html

Chromium is Debian's ``chromium`` (``/usr/bin/chromium``), driven by Playwright's Python package; the
browsers Playwright downloads itself are never used. :func:`browser_missing` says why a check cannot run.
"""

from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path

CHROMIUM_PATHS = ("/usr/bin/chromium", "/usr/bin/chromium-browser")
SIZES = ((1400, 1000), (1000, 700))

# Boxes of the fixed controls, and whether each lies inside the window; run in the page.
_LAYOUT_JS = """() => {
  const pick = {legend: '.cp-legend', title: '.cp-title', scale: '.leaflet-control-scale',
                layers: '.leaflet-control-layers', zoom: '.leaflet-control-zoom',
                attribution: '.leaflet-control-attribution'};
  const out = {};
  for (const [k, sel] of Object.entries(pick)) {
    const el = document.querySelector(sel);
    if (!el) { continue; }
    const r = el.getBoundingClientRect();
    out[k] = {left: r.left, top: r.top, right: r.right, bottom: r.bottom};
  }
  return out;
}"""
_COUNT_JS = """() => ({
  markers: document.querySelectorAll('path.cp-marker, .cp-divmarker').length,
  basemap_lines: document.querySelectorAll('path.cp-basemap').length,
  layers: document.querySelectorAll('.leaflet-control-layers-selector').length,
  layers_expanded: !!document.querySelector('.leaflet-control-layers-expanded'),
  tiles: document.querySelectorAll('img.leaflet-tile').length,
})"""


def browser_missing() -> str | None:
    """None when Playwright and Debian's Chromium are both here, else the reason (for a skip)."""
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        return "Playwright's Python package is not installed (pip install playwright)"
    if chromium() is None:
        return "Chromium is not installed (apt-get install chromium)"
    return None


def chromium() -> str | None:
    """The path of the system's Chromium, or None."""
    for path in CHROMIUM_PATHS:
        if Path(path).exists():
            return path
    return shutil.which("chromium")


def overlaps(a: dict, b: dict) -> bool:
    """Whether two boxes (left, top, right, bottom in pixels) share any area."""
    return a["left"] < b["right"] and b["left"] < a["right"] and a["top"] < b["bottom"] and b["top"] < a["bottom"]


def check_pages(paths: list[Path], shots: Path | None = None, sizes=SIZES) -> dict[tuple[str, tuple], dict]:
    """Open each page at each window size offline; returns ``{(file name, size): report}``.

    A report has ``errors`` (console errors and uncaught exceptions), ``blocked`` (URLs the page
    tried to fetch from the network), the counts of :data:`_COUNT_JS`, the control boxes, and the
    pairs of fixed controls that overlap.
    """
    from playwright.sync_api import sync_playwright

    reports = {}
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=chromium(), args=["--no-sandbox"])
        try:
            for path in paths:
                for size in sizes:
                    reports[(Path(path).name, size)] = _check(browser, Path(path), size, shots)
        finally:
            browser.close()
    return reports


def _check(browser, path: Path, size: tuple[int, int], shots: Path | None) -> dict:
    page = browser.new_page(viewport={"width": size[0], "height": size[1]})
    errors: list[str] = []
    blocked: list[str] = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: errors.append(str(e)))

    def block(route):
        blocked.append(route.request.url)
        route.abort()

    page.route("http://**/*", block)
    page.route("https://**/*", block)
    page.goto(path.resolve().as_uri(), wait_until="load")
    page.wait_for_timeout(600)
    report = page.evaluate(_COUNT_JS)
    boxes = page.evaluate(_LAYOUT_JS)
    names = sorted(boxes)
    report.update(errors=errors, blocked=sorted(set(blocked)), boxes=boxes,
                  overlapping=[(a, b) for i, a in enumerate(names) for b in names[i + 1:]
                               if overlaps(boxes[a], boxes[b])],
                  outside=[k for k, b in boxes.items()
                           if b["left"] < 0 or b["top"] < 0 or b["right"] > size[0] or b["bottom"] > size[1]])
    if shots is not None:
        shots.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(shots / f"{path.stem}_{size[0]}x{size[1]}.png"))
    page.close()
    return report


if __name__ == "__main__":
    out = Path(sys.argv[1])
    for (name, size), rep in check_pages([Path(p) for p in sys.argv[2:]], out).items():
        print(name, size, json.dumps({k: v for k, v in rep.items() if k != "boxes"}, ensure_ascii=False))
