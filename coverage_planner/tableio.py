"""Tables of facilities from Chinese Excel exports: encodings, coordinate columns, swapped axes.

CSV files saved by Excel or WPS on Chinese Windows are often GBK (GB2312/GB18030), not UTF-8;
``read_table`` tries UTF-8 (with or without a BOM), then GB18030 (a superset of GBK), unless the
scenario names the encoding.
"""

from __future__ import annotations

from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd

from .errors import InputError

ENCODINGS = ("utf-8-sig", "gb18030")
LONLAT_NAMES = [("经度", "纬度"), ("lon", "lat"), ("lng", "lat"), ("longitude", "latitude"), ("x", "y")]
SYSTEM_COLUMNS = ("coord_system", "坐标系")


def read_table(path: Path, encoding: str | None = None) -> pd.DataFrame:
    """A CSV file as a DataFrame, decoding UTF-8 or GBK/GB18030 (or the given encoding)."""
    path = Path(path)
    tries = (encoding,) if encoding else ENCODINGS
    for enc in tries:
        try:
            return pd.read_csv(path, encoding=enc, dtype=str, keep_default_na=False, na_values=[""])
        except UnicodeDecodeError:
            continue
        except LookupError:
            raise InputError(f"unknown text encoding '{enc}'.", file=path, field="facilities.encoding",
                             fix="use utf-8, gbk or gb18030.") from None
        except pd.errors.ParserError as exc:
            raise InputError(f"the CSV file could not be parsed ({exc}).", file=path, field="facilities.path",
                             fix="save it from Excel as 'CSV (comma delimited)'.") from None
    raise InputError(f"the file is not valid text in {' or '.join(tries)}.", file=path, field="facilities.encoding",
                     fix='name its encoding in the scenario, e.g. [facilities] encoding = "gbk" (Excel on '
                         'Chinese Windows) or "utf-8".')


def _find_column(df: pd.DataFrame, wanted: str | None, candidates: list[str], path: Path, what: str) -> str:
    if wanted:
        if wanted not in df.columns:
            raise InputError(f"the {what} column '{wanted}' is not in the file; it has: {', '.join(df.columns)}.",
                             file=path, field=f"facilities.columns.{'lon' if what == 'longitude' else 'lat'}",
                             fix=f"name the {what} column under [facilities.columns].")
        return wanted
    lower = {str(c).strip().lower(): c for c in df.columns}
    for name in candidates:
        if name.lower() in lower:
            return lower[name.lower()]
    example = 'lon = "经度"' if what == "longitude" else 'lat = "纬度"'
    raise InputError(f"no {what} column found (tried {', '.join(candidates)}); the file has: {', '.join(df.columns)}.",
                     file=path, field=f"facilities.columns.{'lon' if what == 'longitude' else 'lat'}",
                     fix=f"name it under [facilities.columns], e.g. {example}.")


def _numbers(df: pd.DataFrame, col: str, path: Path) -> np.ndarray:
    values = pd.to_numeric(df[col], errors="coerce")
    bad = np.flatnonzero(values.isna().to_numpy())
    if len(bad):
        raise InputError(f"{len(bad)} row(s) have no number in '{col}', e.g. rows {[int(b) + 2 for b in bad[:5]]} "
                         f"(file line numbers).", file=path, field=col, fix="give decimal degrees such as 106.5721.")
    return np.array(values.to_numpy(dtype=float), copy=True)


def points_from_table(df: pd.DataFrame, path: Path, lon_col: str | None = None, lat_col: str | None = None,
                      coords: str = "wgs84") -> gpd.GeoDataFrame:
    """Points (EPSG:4326) from longitude/latitude columns, converted from GCJ-02/BD-09 if declared.

    Default column names: 经度/纬度, lon/lat, lng/lat, longitude/latitude, x/y. A ``coord_system`` (or
    ``坐标系``) column gives each row's own system; it must agree with the scenario's ``coords``
    unless that is left at wgs84.
    """
    path = Path(path)
    lon_col = _find_column(df, lon_col, [a for a, _ in LONLAT_NAMES], path, "longitude")
    lat_col = _find_column(df, lat_col, [b for _, b in LONLAT_NAMES], path, "latitude")
    lon, lat = _numbers(df, lon_col, path), _numbers(df, lat_col, path)
    if len(lon) and (np.abs(lat) > 90).any() | (np.abs(lon) > 180).any():
        swapped = (np.abs(lon) <= 90).all() and (np.abs(lat) <= 180).all()
        raise InputError("latitude outside ±90° or longitude outside ±180°" +
                         (": the two columns look swapped." if swapped else "."), file=path,
                         field=f"{lon_col}/{lat_col}", fix="经度 is longitude (east, about 73–135 in China) and 纬度 "
                         "latitude (north, about 18–54); swap the column names under [facilities.columns].")
    if len(lon) and (lat > 70).all() and (lon < 60).all() and (lon > 0).all():
        raise InputError("every latitude is above 70° and every longitude below 60°: the columns look swapped.",
                         file=path, field=f"{lon_col}/{lat_col}", fix="swap lon and lat under [facilities.columns].")
    systems = _row_systems(df, path, coords)
    if (systems != "wgs84").any():
        from .coords import to_wgs84

        for system in set(systems) - {"wgs84"}:
            rows = systems == system
            lon[rows], lat[rows] = to_wgs84(lon[rows], lat[rows], system)
    rest = df.drop(columns=[lon_col, lat_col])
    return gpd.GeoDataFrame(rest, geometry=gpd.points_from_xy(lon, lat), crs="EPSG:4326")


def _row_systems(df: pd.DataFrame, path: Path, declared: str) -> np.ndarray:
    """Each row's coordinate system: the declared one, or the file's own column."""
    col = next((c for c in SYSTEM_COLUMNS if c in df.columns), None)
    if col is None:
        return np.full(len(df), declared)
    values = df[col].fillna(declared).astype(str).str.strip().str.lower().str.replace("-", "").to_numpy()
    known = {"wgs84", "gcj02", "bd09"}
    unknown = sorted(set(values) - known)
    if unknown:
        raise InputError(f"unknown coordinate system(s) {unknown} in column '{col}'.", file=path, field=col,
                         fix="use wgs84, gcj02 (Amap/Tencent) or bd09 (Baidu) in that column.")
    if declared != "wgs84" and (values != declared).any():
        raise InputError(f"the scenario says coords = \"{declared}\" but column '{col}' gives "
                         f"{sorted(set(values))}: mixed coordinate systems.", file=path, field="facilities.coords",
                         fix=f"leave coords at \"wgs84\" and let the '{col}' column decide per row, or convert "
                             "the file to one system.")
    return values
