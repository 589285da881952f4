"""The ``fetch`` sub-command: download roads (pbf, osm) or population (worldpop)."""

from __future__ import annotations

import argparse
from pathlib import Path

from ..fetch import (DEFAULT_DIR, GEOFABRIK, NOMINATIM, OVERPASS, WORLDPOP, _download_to_dir, fetch_osm_graph,
                     graphml_name, pbf_url, worldpop_url)


def _cmd_pbf(args: argparse.Namespace) -> int:
    return _download_to_dir(args.url or pbf_url(args.region, args.base_url), args.dir, args.size)


def _cmd_worldpop(args: argparse.Namespace) -> int:
    return _download_to_dir(worldpop_url(args.iso, args.year, args.base_url), args.dir, args.size)


def _cmd_osm(args: argparse.Namespace) -> int:
    out = Path(args.dir) / graphml_name(args.place, args.polygon)
    print(fetch_osm_graph(args.place, args.polygon, out, args.overpass_url, args.nominatim_url, args.timeout,
                          args.force))
    return 0


def _add_common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--dir", default=str(DEFAULT_DIR), help="folder to save into (default: data/)")


def _add_size(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--size", type=int, default=None, metavar="BYTES",
                        help="expected size in bytes (checked in addition to the server's Content-Length)")


def register_cli(sub: argparse._SubParsersAction) -> None:
    """Add ``fetch`` with its sub-commands pbf, worldpop and osm."""
    p = sub.add_parser("fetch", help="download roads or population (needs internet; cached, resumable)",
                       description="Download OSM extracts, road networks and WorldPop rasters into a data folder. "
                                   "Cached, resumable and checked by size; offline it says what to download by "
                                   "hand, from where, and where to put it. 下载道路与人口数据。")
    fs = p.add_subparsers(dest="what", metavar="WHAT", required=True)

    pbf = fs.add_parser("pbf", help="an OSM extract, Geofabrik style (下载OSM数据)",
                        description="Download {base}/{region}-latest.osm.pbf, e.g. "
                                    f"{pbf_url('asia/china/chongqing')}.")
    which = pbf.add_mutually_exclusive_group(required=True)
    which.add_argument("--region", help="Geofabrik region path, e.g. asia/china/chongqing")
    which.add_argument("--url", help="a full URL instead of --region")
    pbf.add_argument("--base-url", default=GEOFABRIK, help=f"mirror base URL (default {GEOFABRIK})")
    _add_size(pbf)
    _add_common(pbf)
    pbf.set_defaults(func=_cmd_pbf)

    wp = fs.add_parser("worldpop", help="a WorldPop 100 m population raster (下载人口栅格)",
                       description="Download WorldPop's unconstrained 100 m population counts from "
                                   "{base}/GIS/Population/Global_2000_2020/{year}/{ISO}/{iso}_ppp_{year}.tif, "
                                   f"e.g. {worldpop_url('CHN', 2020)}.")
    wp.add_argument("--iso", default="CHN", help="ISO 3166 alpha-3 country code (default CHN)")
    wp.add_argument("--year", type=int, default=2020, choices=range(2000, 2021), metavar="YEAR",
                    help="2000-2020 (default 2020)")
    wp.add_argument("--base-url", default=WORLDPOP, help=f"mirror base URL (default {WORLDPOP})")
    _add_size(wp)
    _add_common(wp)
    wp.set_defaults(func=_cmd_worldpop)

    osm = fs.add_parser("osm", help="a drivable network by place name or polygon (Overpass via osmnx)",
                        description="Query Overpass through osmnx (network_type=drive) and save the network as "
                                    "GraphML in --dir; use that file as [roads] path. An existing file is reused "
                                    "unless --force.")
    area = osm.add_mutually_exclusive_group(required=True)
    area.add_argument("--place", help="a place name Nominatim can geocode, e.g. '渝中区, 重庆市'")
    area.add_argument("--polygon", help="a polygon file (GeoJSON, GPKG, Shapefile) of the area")
    osm.add_argument("--overpass-url", default=OVERPASS, help=f"Overpass API endpoint (default {OVERPASS})")
    osm.add_argument("--nominatim-url", default=NOMINATIM, help=f"Nominatim endpoint for --place (default {NOMINATIM})")
    osm.add_argument("--timeout", type=float, default=180.0, help="seconds per request (default 180)")
    osm.add_argument("--force", action="store_true", help="query again even if the GraphML file exists")
    _add_common(osm)
    osm.set_defaults(func=_cmd_osm)
