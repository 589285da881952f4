"""Online acquisition for users with internet: ``coverage-planner fetch osm|pbf|worldpop``.

Downloads are cached (a complete file is not fetched again), resumable (a ``.part`` file continues
with an HTTP Range request) and verified by size (the server's Content-Length, or a size you give);
the finished file is renamed into place atomically. Offline, each command says which file to
download by hand, from where, and where to put it. Base URLs are options, so mirrors work.

URL patterns:

- PBF, Geofabrik style: ``{base}/{region}-latest.osm.pbf`` (e.g. region ``asia/china/chongqing``);
- WorldPop, unconstrained 100 m counts: ``{base}/GIS/Population/Global_2000_2020/{year}/{ISO}/{iso}_ppp_{year}.tif``.
"""

from __future__ import annotations

import argparse
import os
import shutil
import urllib.error
import urllib.request
from pathlib import Path

from .errors import InputError

GEOFABRIK = "https://download.geofabrik.de"
WORLDPOP = "https://data.worldpop.org"
OVERPASS = "https://overpass-api.de/api"
DEFAULT_DIR = Path("data")
CHUNK = 1 << 20


def _remote_size(url: str, timeout: float) -> int | None:
    request = urllib.request.Request(url, method="HEAD")
    with urllib.request.urlopen(request, timeout=timeout) as response:
        size = response.headers.get("Content-Length")
        return int(size) if size is not None else None


def download(url: str, dest: str | Path, expected_size: int | None = None, timeout: float = 60.0) -> Path:
    """Fetch ``url`` into ``dest``: cached, resumable from ``dest.part``, checked by size."""
    dest = Path(dest)
    part = dest.with_name(dest.name + ".part")
    try:
        size = expected_size if expected_size is not None else _remote_size(url, timeout)
        if dest.exists() and (size is None or dest.stat().st_size == size):
            return dest                                        # cached and complete
        dest.parent.mkdir(parents=True, exist_ok=True)
        have = part.stat().st_size if part.exists() else 0
        if size is not None and have > size:
            part.unlink()
            have = 0
        if size is None or have < size:
            request = urllib.request.Request(url, headers={"Range": f"bytes={have}-"} if have else {})
            with urllib.request.urlopen(request, timeout=timeout) as response:
                resumed = have and response.status == 206
                with open(part, "ab" if resumed else "wb") as out:
                    shutil.copyfileobj(response, out, CHUNK)
    except (urllib.error.URLError, TimeoutError, ConnectionError) as exc:
        raise InputError(f"could not download {url} ({getattr(exc, 'reason', exc)}).", file=dest, field="url",
                         fix=f"without internet, download {url} by hand (a browser or another machine) and "
                             f"put it at {dest.resolve()}; a partial download in {part.name} is resumed next "
                             "time.") from None
    got = part.stat().st_size
    if size is not None and got != size:
        raise InputError(f"the download of {url} has {got:,} bytes, the server announced {size:,}.", file=part,
                         field="size", fix="run the same command again to resume, or delete the .part file to "
                                           "start over.")
    os.replace(part, dest)
    return dest


def pbf_url(region: str, base: str = GEOFABRIK) -> str:
    """Geofabrik-style extract URL, e.g. asia/china/chongqing."""
    return f"{base.rstrip('/')}/{region.strip('/')}-latest.osm.pbf"


def worldpop_url(iso: str, year: int, base: str = WORLDPOP) -> str:
    """WorldPop unconstrained 100 m population counts for a country and year."""
    return (f"{base.rstrip('/')}/GIS/Population/Global_2000_2020/{year}/{iso.upper()}/"
            f"{iso.lower()}_ppp_{year}.tif")


def fetch_osm_graph(place: str | None, polygon: str | None, out: Path, overpass_url: str = OVERPASS) -> Path:
    """A drivable network from Overpass (osmnx), saved as an OSM XML file our road loader reads."""
    import osmnx as ox

    ox.settings.overpass_url = overpass_url
    ox.settings.use_cache = True
    try:
        if polygon:
            import geopandas as gpd

            shape = gpd.read_file(polygon).to_crs("EPSG:4326").geometry.union_all()
            graph = ox.graph_from_polygon(shape, network_type="drive", simplify=False, retain_all=True)
        else:
            graph = ox.graph_from_place(place, network_type="drive", simplify=False, retain_all=True)
    except Exception as exc:  # network errors, unknown places, Overpass refusals
        raise InputError(f"could not get the road network from Overpass ({type(exc).__name__}: {exc}).",
                         file=out, field="--place/--polygon",
                         fix="check the place name or the internet connection; without internet, download an "
                             "extract with a browser (e.g. " + pbf_url("asia/china") + ") and use it as [roads] path.")
    out.parent.mkdir(parents=True, exist_ok=True)
    ox.io.save_graphml(graph, out)
    return out


def _cmd_pbf(args: argparse.Namespace) -> int:
    url = args.url or pbf_url(args.region, args.base_url)
    dest = Path(args.dir) / url.rsplit("/", 1)[-1]
    print(download(url, dest))
    return 0


def _cmd_worldpop(args: argparse.Namespace) -> int:
    url = worldpop_url(args.iso, args.year, args.base_url)
    print(download(url, Path(args.dir) / url.rsplit("/", 1)[-1]))
    return 0


def _cmd_osm(args: argparse.Namespace) -> int:
    if not args.place and not args.polygon:
        raise InputError("give --place NAME or --polygon FILE.", field="--place", fix="e.g. --place '渝中区, 重庆市'.")
    name = (args.place or Path(args.polygon).stem).replace(",", "").replace(" ", "_")
    print(fetch_osm_graph(args.place, args.polygon, Path(args.dir) / f"{name}.graphml", args.overpass_url))
    return 0


def register_cli(sub: argparse._SubParsersAction) -> None:
    """Add ``fetch`` with its sub-commands osm, pbf and worldpop."""
    p = sub.add_parser("fetch", help="download roads or population (needs internet; cached, resumable)",
                       description="Download OSM extracts, road networks and WorldPop rasters into a data folder. "
                                   "Cached, resumable and checked by size; offline it says what to download by hand.")
    fs = p.add_subparsers(dest="what", metavar="WHAT", required=True)
    pbf = fs.add_parser("pbf", help="an OSM extract (Geofabrik style) 下载OSM数据",
                        description=f"Download {{base}}/{{region}}-latest.osm.pbf (default base {GEOFABRIK}).")
    pbf.add_argument("--region", default="asia/china", help="e.g. asia/china/chongqing")
    pbf.add_argument("--url", help="a full URL instead of --region")
    pbf.add_argument("--base-url", default=GEOFABRIK, help="mirror base URL")
    pbf.add_argument("--dir", default=str(DEFAULT_DIR), help="where to save (default data/)")
    pbf.set_defaults(func=_cmd_pbf)
    wp = fs.add_parser("worldpop", help="a WorldPop 100 m population raster 下载人口栅格",
                       description=f"Download WorldPop's unconstrained 100 m counts (default base {WORLDPOP}).")
    wp.add_argument("--iso", default="CHN", help="ISO 3166 alpha-3 country code")
    wp.add_argument("--year", type=int, default=2020, help="2000-2020")
    wp.add_argument("--base-url", default=WORLDPOP, help="mirror base URL")
    wp.add_argument("--dir", default=str(DEFAULT_DIR), help="where to save (default data/)")
    wp.set_defaults(func=_cmd_worldpop)
    osm = fs.add_parser("osm", help="a drivable network by place name or polygon (Overpass, osmnx)",
                        description="Query Overpass through osmnx and save the network as GraphML.")
    osm.add_argument("--place", help="a place name osmnx can geocode")
    osm.add_argument("--polygon", help="a polygon file (GeoJSON, GPKG) of the area")
    osm.add_argument("--overpass-url", default=OVERPASS, help="Overpass API endpoint")
    osm.add_argument("--dir", default=str(DEFAULT_DIR), help="where to save (default data/)")
    osm.set_defaults(func=_cmd_osm)
