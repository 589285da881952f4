"""Online acquisition for users with internet: ``coverage-planner fetch osm|pbf|worldpop``.

Downloads (:func:`download`) are

- cached: a finished file is never fetched again (no request at all);
- resumable: bytes arrive in ``<name>.part``; a later run continues it with an HTTP Range request;
- verified by size: the server's Content-Length / Content-Range total, or the size you give;
- atomic: the ``.part`` file is renamed into place only when complete.

Offline or unreachable, each command says which file to download by hand, from which URL, and
where to put it. Base URLs are options, so mirrors inside China work.

URL patterns:

- PBF, Geofabrik style: ``{base}/{region}-latest.osm.pbf``, e.g. base
  ``https://download.geofabrik.de`` and region ``asia/china/chongqing``;
- WorldPop, unconstrained 100 m population counts (people per pixel, EPSG:4326):
  ``{base}/GIS/Population/Global_2000_2020/{year}/{ISO}/{iso}_ppp_{year}.tif`` with base
  ``https://data.worldpop.org``, ``ISO`` the upper-case ISO 3166 alpha-3 code and ``iso`` the
  same in lower case, year 2000–2020, e.g. ``.../2020/CHN/chn_ppp_2020.tif``;
- Overpass (``fetch osm``): osmnx queries ``{overpass_url}/interpreter`` (and ``/status``); the
  drivable network (network_type="drive") is saved as GraphML, which ``[roads] path`` accepts.
"""

from __future__ import annotations

import contextlib
import http.client
import os
import re
import socket
import sys
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path

from .errors import InputError

GEOFABRIK = "https://download.geofabrik.de"
WORLDPOP = "https://data.worldpop.org"
OVERPASS = "https://overpass-api.de/api"
NOMINATIM = "https://nominatim.openstreetmap.org/"
DEFAULT_DIR = Path("data")
CHUNK = 1 << 20
USER_AGENT = "coverage-planner/0.1 (health-service coverage checks; python-urllib)"

Progress = Callable[[int, "int | None"], None]


# --------------------------------------------------------------------------------------------
# URLs


def pbf_url(region: str, base: str = GEOFABRIK) -> str:
    """Geofabrik-style extract URL ``{base}/{region}-latest.osm.pbf``, e.g. region asia/china/chongqing."""
    return f"{base.rstrip('/')}/{region.strip('/')}-latest.osm.pbf"


def worldpop_url(iso: str, year: int, base: str = WORLDPOP) -> str:
    """WorldPop unconstrained 100 m counts for a country and year.

    ``{base}/GIS/Population/Global_2000_2020/{year}/{ISO}/{iso}_ppp_{year}.tif``
    """
    return (f"{base.rstrip('/')}/GIS/Population/Global_2000_2020/{int(year)}/{iso.upper()}/"
            f"{iso.lower()}_ppp_{int(year)}.tif")


def file_name(url: str) -> str:
    """The last path component of a URL (without query), the name a download is saved under."""
    name = url.split("?", 1)[0].rstrip("/").rsplit("/", 1)[-1]
    return name or "download"


# --------------------------------------------------------------------------------------------
# Downloads


class _Restart(Exception):
    """The server's answer does not continue the .part file: start again from byte 0."""


def part_path(dest: Path) -> Path:
    """Where the bytes of an unfinished download of ``dest`` are kept."""
    return dest.with_name(dest.name + ".part")


def _is_cached(dest: Path, expected_size: int | None) -> bool:
    """A finished download is there (only finished files are ever renamed to ``dest``)."""
    return dest.is_file() and (expected_size is None or dest.stat().st_size == expected_size)


def _content_range_total(value: str | None) -> tuple[int | None, int | None]:
    """(first byte, total size) from a Content-Range header such as ``bytes 500-999/1000``."""
    match = re.match(r"bytes\s+(\d+|\*)(?:-\d+)?/(\d+|\*)", value or "")
    if not match:
        return None, None
    start, total = match.groups()
    return (None if start == "*" else int(start)), (None if total == "*" else int(total))


def _open(url: str, have: int, timeout: float) -> tuple[http.client.HTTPResponse | None, int | None, bool]:
    """The response for the bytes from ``have`` on, the file's total size if announced, and
    whether the response continues the .part file (206) rather than starting over (200)."""
    headers = {"User-Agent": USER_AGENT}
    if have:
        headers["Range"] = f"bytes={have}-"
    try:
        response = urllib.request.urlopen(urllib.request.Request(url, headers=headers), timeout=timeout)
    except urllib.error.HTTPError as exc:
        if exc.code == 416 and have:        # nothing after byte `have`: complete, or a longer, stale part
            _, total = _content_range_total(exc.headers.get("Content-Range"))
            exc.close()
            if total == have:
                return None, total, True
            raise _Restart from None
        raise
    if response.status == 206:
        start, total = _content_range_total(response.headers.get("Content-Range"))
        if start != have:
            response.close()
            raise _Restart
        if total is None and response.headers.get("Content-Length") is not None:
            total = have + int(response.headers["Content-Length"])
        return response, total, True
    length = response.headers.get("Content-Length")
    return response, (int(length) if length is not None else None), False


def _copy(response: http.client.HTTPResponse, out, done: int, total: int | None, progress: Progress | None) -> None:
    while chunk := response.read(CHUNK):
        out.write(chunk)
        done += len(chunk)
        if progress:
            progress(done, total)


def _fetch_into(url: str, part: Path, expected_size: int | None, timeout: float, progress: Progress | None,
                dest: Path) -> int | None:
    """Append the missing bytes of ``url`` to ``part``; the total size the server announced, if any."""
    have = part.stat().st_size if part.exists() else 0
    try:
        response, total, resumed = _open(url, have, timeout)
    except _Restart:
        part.unlink(missing_ok=True)
        have = 0
        response, total, resumed = _open(url, 0, timeout)
    if expected_size is not None and total is not None and total != expected_size:
        if response is not None:
            response.close()
        part.unlink(missing_ok=True)
        raise InputError(f"the server announces {total:,} bytes for {url}, but {expected_size:,} were expected: "
                         "it is not the expected file (a newer extract, or a wrong URL). Nothing was kept.",
                         file=dest, field="size",
                         fix="check the URL; if the newer file is what you want, run without the expected size.")
    if response is None:                      # the .part file already held every byte
        return total
    with response, open(part, "ab" if resumed else "wb") as out:
        _copy(response, out, have if resumed else 0, total, progress)
    return total


def _offline_error(url: str, dest: Path, reason: object) -> InputError:
    part = part_path(dest)
    return InputError(f"could not download {url} ({reason}).", file=dest, field="url",
                      fix=f"check the internet connection (or the --base-url mirror) and run the same command again; "
                          f"a partial download in {part.name} is resumed. Without internet, download {url} by hand "
                          f"(a browser or another machine) and put it at {dest.resolve()}.")


def _http_error(url: str, dest: Path, exc: urllib.error.HTTPError) -> InputError:
    if exc.code == 404:
        return InputError(f"the server has no file at {url} (HTTP 404 Not Found).", file=dest, field="url",
                          fix="check the region, country code or year, and the base URL (Geofabrik lists its "
                              f"regions at {GEOFABRIK}/); or download the file by hand and put it at "
                              f"{dest.resolve()}.")
    return _offline_error(url, dest, f"HTTP {exc.code} {exc.reason}")


def _verify_size(part: Path, size: int | None, url: str, dest: Path) -> None:
    """InputError when the .part file is not exactly ``size`` bytes (kept if short, deleted if long)."""
    got = part.stat().st_size if part.exists() else 0
    if size is None or got == size:
        return
    if got < size:
        raise InputError(f"the download of {url} stopped at {got:,} of {size:,} bytes.", file=part, field="size",
                         fix=f"run the same command again to resume from byte {got:,}; or download the file by "
                             f"hand and put it at {dest.resolve()}.")
    part.unlink()
    raise InputError(f"the download of {url} has {got:,} bytes, more than the {size:,} expected; the partial file "
                     "was deleted.", file=dest, field="size",
                     fix="run the same command again to download it afresh.")


def download(url: str, dest: str | Path, expected_size: int | None = None, timeout: float = 60.0,
             progress: Progress | None = None) -> Path:
    """Fetch ``url`` into ``dest`` and return ``dest``: cached, resumable, checked by size, atomic.

    A finished ``dest`` (of ``expected_size`` bytes, when given) is returned without any request.
    Otherwise the bytes go to ``dest.part`` (continued with a Range request if it exists), are checked
    against ``expected_size`` or the size the server announces, and the file is renamed to ``dest``.
    ``progress(bytes_so_far, total_or_None)`` is called after each chunk.
    Raises InputError offline, on HTTP errors and on size mismatches.
    """
    dest = Path(dest)
    if _is_cached(dest, expected_size):
        return dest
    dest.parent.mkdir(parents=True, exist_ok=True)
    part = part_path(dest)
    if expected_size is not None and part.exists() and part.stat().st_size > expected_size:
        part.unlink()
    if expected_size is not None and part.exists() and part.stat().st_size == expected_size:
        total = expected_size                  # every byte already there: just finish
    else:
        try:
            total = _fetch_into(url, part, expected_size, timeout, progress, dest)
        except urllib.error.HTTPError as exc:
            raise _http_error(url, dest, exc) from None
        except urllib.error.URLError as exc:
            raise _offline_error(url, dest, exc.reason) from None
        except (OSError, http.client.HTTPException) as exc:   # timeouts, resets, truncated responses
            raise _offline_error(url, dest, f"{type(exc).__name__}: {exc}") from None
    _verify_size(part, expected_size if expected_size is not None else total, url, dest)
    os.replace(part, dest)
    return dest


# --------------------------------------------------------------------------------------------
# Road networks from Overpass (osmnx)


@contextlib.contextmanager
def _osmnx_settings(**values) -> Iterator[None]:
    """Set osmnx.settings for one query and restore them (and socket.getaddrinfo, which osmnx patches)."""
    import osmnx as ox

    saved = {key: getattr(ox.settings, key) for key in values}
    getaddrinfo = socket.getaddrinfo
    try:
        for key, value in values.items():
            setattr(ox.settings, key, value)
        yield
    finally:
        for key, value in saved.items():
            setattr(ox.settings, key, value)
        socket.getaddrinfo = getaddrinfo


def _read_polygon(path: str | Path):
    """The union of a polygon file's areas in WGS84; InputError if unreadable or without areas."""
    import geopandas as gpd

    path = Path(path)
    if not path.exists():
        raise InputError(f"the polygon file {path} does not exist.", file=path, field="--polygon",
                         fix="give a GeoJSON or GeoPackage of the area, e.g. your boundaries file.")
    try:
        frame = gpd.read_file(path)
    except Exception as exc:  # pyogrio raises several kinds for unreadable files
        raise InputError(f"the polygon file could not be read ({exc}).", file=path, field="--polygon",
                         fix="give a GeoJSON, GeoPackage or Shapefile.") from None
    frame = frame[frame.geometry.geom_type.isin(["Polygon", "MultiPolygon"])]
    if frame.empty:
        raise InputError("the polygon file has no polygons.", file=path, field="--polygon",
                         fix="give the area as polygons (boundaries), not points or lines.")
    if frame.crs is None:
        raise InputError("the polygon file has no coordinate reference system.", file=path, field="--polygon",
                         fix="save it with a CRS (GeoJSON is WGS84 by definition).")
    return frame.to_crs("EPSG:4326").geometry.union_all()


def graphml_name(place: str | None, polygon: str | Path | None) -> str:
    """A file name for the network of a place name or polygon file, e.g. 渝中区_重庆市.graphml."""
    stem = re.sub(r"[^\w.-]+", "_", place if place else Path(polygon).stem).strip("_.")
    return f"{stem or 'network'}.graphml"


def _check_reachable(url: str, timeout: float, out: Path) -> None:
    """InputError at once when a server cannot be reached at all (osmnx would wait 60 s, then fail)."""
    try:
        with urllib.request.urlopen(urllib.request.Request(url, headers={"User-Agent": USER_AGENT}),
                                    timeout=timeout):
            pass
    except urllib.error.HTTPError:
        return                                   # it answered: reachable
    except (urllib.error.URLError, OSError, http.client.HTTPException) as exc:
        raise InputError(f"could not reach the Overpass API at {url} ({getattr(exc, 'reason', exc)}).", file=out,
                         field="--overpass-url", fix=_osm_offline_fix(out)) from None


def _osm_offline_fix(out: Path) -> str:
    return ("check the internet connection, or give --overpass-url of a reachable mirror. Without internet, "
            f"download an OSM extract by hand (e.g. {pbf_url('asia/china/chongqing')}; the list is at "
            f"{GEOFABRIK}/asia/china.html), "
            f"put it in {out.parent.resolve()} and use it as [roads] path.")


def fetch_osm_graph(place: str | None, polygon: str | Path | None, out: str | Path, overpass_url: str = OVERPASS,
                    nominatim_url: str = NOMINATIM, timeout: float = 180.0, force: bool = False) -> Path:
    """The drivable network of a place name or polygon file from Overpass (osmnx), saved as GraphML at ``out``.

    An existing ``out`` is returned as is unless ``force``; osmnx's HTTP cache goes to
    ``out.parent/overpass-cache``. InputError when Overpass cannot be reached or returns no roads.
    """
    import osmnx as ox

    out = Path(out)
    if out.is_file() and not force:
        return out
    shape = _read_polygon(polygon) if polygon else None
    out.parent.mkdir(parents=True, exist_ok=True)
    _check_reachable(overpass_url.rstrip("/") + "/status", min(timeout, 20.0), out)
    with _osmnx_settings(overpass_url=overpass_url.rstrip("/"), nominatim_url=nominatim_url, use_cache=True,
                         cache_folder=str(out.parent / "overpass-cache"), requests_timeout=timeout):
        try:
            if shape is not None:
                graph = ox.graph_from_polygon(shape, network_type="drive", simplify=False, retain_all=True)
            else:
                graph = ox.graph_from_place(place, network_type="drive", simplify=False, retain_all=True)
        except Exception as exc:  # requests' connection errors, osmnx's empty answers, unknown places
            raise InputError(f"could not get the road network from Overpass at {overpass_url} "
                             f"({type(exc).__name__}: {exc}).", file=out, field="--place/--polygon",
                             fix="check the place name (osmnx geocodes it with Nominatim) or the polygon; "
                                 + _osm_offline_fix(out)) from None
        tmp = out.with_name(out.name + ".part")
        ox.io.save_graphml(graph, tmp)
        os.replace(tmp, out)
    return out


# --------------------------------------------------------------------------------------------
# Command line


class _ProgressPrinter:
    """Shows '<label>: 12.3 of 100.0 MB' on stderr, updated about every 5 MB."""

    def __init__(self, label: str):
        self.label, self.step, self.shown = label, -1, False

    def __call__(self, done: int, total: int | None) -> None:
        step = done // (5 << 20)
        if step != self.step or done == total:
            self.step, self.shown = step, True
            of = f" of {total / 1e6:,.1f}" if total else ""
            print(f"\r{self.label}: {done / 1e6:,.1f}{of} MB", end="", file=sys.stderr, flush=True)

    def finish(self) -> None:
        if self.shown:
            print(file=sys.stderr)


def _download_to_dir(url: str, folder: str, size: int | None) -> int:
    dest = Path(folder) / file_name(url)
    progress = _ProgressPrinter(dest.name)
    try:
        path = download(url, dest, expected_size=size, progress=progress)
    finally:
        progress.finish()
    print(path)
    return 0
