"""Tables of facilities from Chinese Excel exports: workbooks, encodings, coordinate columns, swapped axes.

CSV files saved by Excel or WPS on Chinese Windows are usually GBK (GB2312), not UTF-8.
:func:`read_table` tries UTF-8 (with or without the BOM Excel writes), then GB18030 (a superset of
GBK and GB2312), unless the scenario names the encoding. :func:`points_from_table` finds the
longitude/latitude columns, checks them (numbers, ranges, swapped axes) and converts GCJ-02
(Amap/Tencent) or BD-09 (Baidu) coordinates to WGS84, per row when the file says which system each
row uses. Excel workbooks (.xlsx, .xlsm; the usual form of a 医疗机构名录) are read with openpyxl: the
sheet named by the scenario's ``layer`` key (else the one sheet with a longitude/latitude header), the
header being the first row that names a longitude or latitude column (title rows above it are common).
Messages name file lines for CSV (line 1 is the header) and sheet rows for workbooks.
"""

from __future__ import annotations

from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd

from .coords import normalise_system, to_wgs84
from .errors import InputError

ENCODINGS = ("utf-8-sig", "gb18030")
TABLE_SUFFIXES = (".csv", ".txt", ".tsv")
WORKBOOK_SUFFIXES = (".xlsx", ".xlsm")
# Default column pairs, tried in order (case-insensitive).
LONLAT_NAMES = (("经度", "纬度"), ("lon", "lat"), ("lng", "lat"), ("longitude", "latitude"), ("x", "y"))
SYSTEM_COLUMNS = ("coord_system", "坐标系")


def _encoding_field(layer: str | None) -> str:
    return f"{layer}.encoding" if layer else "encoding"


def _encoding_fix(layer: str | None) -> str:
    where = f"[{layer}]" if layer else "the scenario layer that reads this file (e.g. [facilities] or [population])"
    return (f'set encoding = "..." in {where}: encoding = "gbk" for CSV saved by Excel or WPS on Chinese Windows, '
            '"utf-8" otherwise, or "utf-16" for Excel\'s "Unicode text".')


def read_table(path: str | Path, encoding: str | None = None, *, layer: str | None = None,
               sheet: str | None = None, header_names: tuple[str, ...] = ()) -> pd.DataFrame:
    """A CSV file or an Excel workbook sheet as a DataFrame of strings.

    CSV is decoded as UTF-8 or GBK/GB18030, or as ``encoding`` if given. Workbooks (.xlsx, .xlsm) go
    to :func:`read_workbook` with ``sheet`` and ``header_names``. ``layer`` (e.g. "facilities") names
    the scenario section in error messages. Raises InputError when no encoding decodes the file, the
    encoding is unknown, or the file is empty or not CSV. The frame's ``attrs`` say where its rows are
    in the file (see :func:`row_label`).
    """
    path = Path(path)
    if path.suffix.lower() in WORKBOOK_SUFFIXES + (".xls",):
        return read_workbook(path, sheet, layer=layer, header_names=header_names)
    tries = (encoding,) if encoding else ENCODINGS
    for enc in tries:
        try:
            table = pd.read_csv(path, encoding=enc, dtype=str, keep_default_na=False, na_values=[""])
            table.attrs.update(first_row=2, row_word="line", header_note="line 1 is the header")
            return table
        except UnicodeError:
            continue
        except LookupError:
            raise InputError(f"unknown text encoding '{enc}'.", file=path, field=_encoding_field(layer),
                             fix=_encoding_fix(layer)) from None
        except pd.errors.EmptyDataError:
            raise InputError("the file is empty.", file=path, field=f"{layer}.path" if layer else "path",
                             fix="export the table again from Excel as 'CSV UTF-8' or 'CSV (comma delimited)'.") \
                from None
        except pd.errors.ParserError as exc:
            raise InputError(f"the CSV file could not be parsed ({exc}).", file=path,
                             field=f"{layer}.path" if layer else "path",
                             fix="save it from Excel as 'CSV (comma delimited)'.") from None
    raise InputError(f"the file is not valid text in {' or '.join(tries)}.", file=path,
                     field=_encoding_field(layer), fix=_encoding_fix(layer))


def _path_field(layer: str | None) -> str:
    return f"{layer}.path" if layer else "path"


def _header_row(grid: pd.DataFrame, names: set[str]) -> int | None:
    """Index of the first row with a cell that names a longitude/latitude column (any case)."""
    cells = grid.apply(lambda col: col.astype("string").str.strip().str.lower())   # per column, not per cell
    hits = np.flatnonzero(cells.isin(names).any(axis=1).to_numpy())
    return int(hits[0]) if len(hits) else None


def read_workbook(path: str | Path, sheet: str | None = None, *, layer: str | None = None,
                  header_names: tuple[str, ...] = ()) -> pd.DataFrame:
    """One sheet of an Excel workbook as a DataFrame of strings, its header row found automatically.

    Parameters
    ----------
    path : path of a .xlsx or .xlsm file.
    sheet : the sheet's name (the scenario's ``layer`` key); when None, the one sheet whose rows name
        a longitude/latitude column (or the only sheet).
    layer : the scenario section, for messages (e.g. "facilities").
    header_names : column names that mark the header row besides the default longitude/latitude
        names (e.g. the names given under [facilities.columns]).

    Returns
    -------
    DataFrame of text cells (empty cells are NaN) below the header row, without empty rows; its
    ``attrs`` hold the sheet row of the first data row (for :func:`row_label`).
    """
    path = Path(path)
    if path.suffix.lower() == ".xls":
        raise InputError("old Excel 97–2003 workbooks (.xls) are not read.", file=path, field=_path_field(layer),
                         fix="open it in Excel or WPS and save it as an Excel workbook (.xlsx).")
    try:
        grids = pd.read_excel(path, sheet_name=None, header=None, dtype=str, keep_default_na=False,
                              na_values=[""], engine="openpyxl")
    except Exception as exc:   # openpyxl raises zipfile, XML and value errors for damaged files
        raise InputError(f"the workbook could not be read ({type(exc).__name__}: {exc}).", file=path,
                         field=_path_field(layer), fix="save it again from Excel or WPS as .xlsx, or export the "
                                                        "sheet as 'CSV UTF-8'.") from None
    names = {n.lower() for pair in LONLAT_NAMES for n in pair} | {n.strip().lower() for n in header_names if n}
    name = _choose_sheet(grids, sheet, names, path, layer)
    grid = grids[name]
    head = _header_row(grid, names)
    head = 0 if head is None else head
    if grid.empty:
        raise InputError(f"sheet '{name}' is empty.", file=path, field=_path_field(layer),
                         fix="choose the sheet that holds the list with layer = \"...\" in the scenario.")
    columns = [str(c).strip() if isinstance(c, str) and c.strip() else f"column {i + 1}"
               for i, c in enumerate(grid.iloc[head])]
    table = grid.iloc[head + 1:].set_axis(columns, axis=1)
    keep = table.notna().any(axis=1).to_numpy()
    rows = np.flatnonzero(keep) + head + 2                   # the sheet's own 1-based row numbers
    table = table[keep].reset_index(drop=True)
    table.attrs.update(sheet_rows=rows.tolist(), row_word="row",
                       header_note=f"the header is row {head + 1} of sheet '{name}'")
    return table


def _choose_sheet(grids: dict[str, pd.DataFrame], sheet: str | None, names: set[str], path: Path,
                  layer: str | None) -> str:
    """The sheet asked for, or the only sheet with a coordinate header; InputError when unclear."""
    listed = ", ".join(f"'{n}'" for n in grids)
    field = f"{layer}.layer" if layer else "layer"
    if sheet is not None:
        if sheet in grids:
            return sheet
        raise InputError(f"the workbook has no sheet '{sheet}'; its sheets are {listed}.", file=path, field=field,
                         fix="give one of those names as layer = \"...\" in the scenario.")
    if len(grids) == 1:
        return next(iter(grids))
    with_coords = [n for n, g in grids.items() if _header_row(g, names) is not None]
    if len(with_coords) == 1:
        return with_coords[0]
    which = ", ".join(f"'{n}'" for n in with_coords) if with_coords else listed
    raise InputError(f"the workbook has {len(grids)} sheets ({listed}) and "
                     f"{'several have' if with_coords else 'none has'} a longitude/latitude header: the sheet "
                     "to read is not clear.", file=path, field=field,
                     fix=f"name the sheet with layer = \"...\" in the scenario's [{layer or 'facilities'}] "
                         f"(one of {which}), or keep one list per workbook.")


def row_label(df: pd.DataFrame, i: int) -> str:
    """Where the table's ``i``-th data row (0-based) is in its file: "line 7" for CSV (line 1 is the
    header), "row 9" of the sheet for a workbook, "row 8" (1-based) for a frame of unknown origin."""
    if "sheet_rows" in df.attrs:
        return f"row {df.attrs['sheet_rows'][i]}"
    return f"{df.attrs.get('row_word', 'row')} {i + df.attrs.get('first_row', 1)}"


def _header_note(df: pd.DataFrame) -> str:
    return df.attrs.get("header_note", "rows counted from 1")


def _find_pair(df: pd.DataFrame, lon_col: str | None, lat_col: str | None, path: Path) -> tuple[str, str]:
    """The longitude and latitude columns: the ones named, else the first default pair present."""
    lower = {str(c).strip().lower(): c for c in df.columns}
    if not lon_col and not lat_col:
        for lon_name, lat_name in LONLAT_NAMES:
            if lon_name in lower and lat_name in lower:
                return lower[lon_name], lower[lat_name]
    lon = _find_column(df, lon_col, [a for a, _ in LONLAT_NAMES], path, "longitude", "lon", lower)
    lat = _find_column(df, lat_col, [b for _, b in LONLAT_NAMES], path, "latitude", "lat", lower)
    return lon, lat


def _find_column(df: pd.DataFrame, wanted: str | None, candidates: list[str], path: Path, what: str,
                 key: str, lower: dict[str, str]) -> str:
    found = ", ".join(map(str, df.columns)) or "(no columns)"
    if wanted:
        if wanted in df.columns:
            return wanted
        if wanted.strip().lower() in lower:
            return lower[wanted.strip().lower()]
        raise InputError(f"the {what} column '{wanted}' is not in the file; the columns found are: {found}.",
                         file=path, field=f"facilities.columns.{key}",
                         fix=f"name the {what} column under [facilities.columns], e.g. {key} = \"{df.columns[0]}\".")
    for name in dict.fromkeys(candidates):
        if name.lower() in lower:
            return lower[name.lower()]
    example = 'lon = "经度"' if key == "lon" else 'lat = "纬度"'
    raise InputError(f"no {what} column found (tried {', '.join(dict.fromkeys(candidates))}, any case); "
                     f"the columns found are: {found}.", file=path, field=f"facilities.columns.{key}",
                     fix=f"rename the column, or name it under [facilities.columns], e.g. {example}.")


def _numbers(df: pd.DataFrame, col: str, path: Path) -> np.ndarray:
    """The column as floats; InputError naming the file lines that hold no number."""
    text = df[col].astype("string").str.strip()
    values = pd.to_numeric(text, errors="coerce")
    bad = np.flatnonzero(values.isna().to_numpy())
    if len(bad):
        lines = ", ".join(f"{row_label(df, b)} ({df[col].iloc[b]!r})" for b in bad[:5])
        more = f" and {len(bad) - 5} more" if len(bad) > 5 else ""
        raise InputError(f"{len(bad)} row(s) have no number in column '{col}': {lines}{more} "
                         f"({_header_note(df)}).", file=path, field=col,
                         fix="give decimal degrees such as 106.5721 (not degrees-minutes-seconds, no ° sign), "
                             "or delete rows without coordinates.")
    return values.to_numpy(dtype=float, copy=True)


def _check_ranges(lon: np.ndarray, lat: np.ndarray, lon_col: str, lat_col: str, path: Path,
                  df: pd.DataFrame | None = None) -> None:
    """InputError for latitudes beyond ±90°, longitudes beyond ±180°, or columns that look swapped."""
    if len(lon) == 0:
        return
    fix = (f"'{lon_col}' must hold longitude (经度, east: about 73–135 in China) and '{lat_col}' latitude "
           f"(纬度, north: about 18–54); swap the names under [facilities.columns] "
           f"(lon = \"{lat_col}\", lat = \"{lon_col}\") or swap the columns in the file.")
    looks_swapped = bool(((lat >= 70) & (lat <= 140)).all() and ((lon >= 0) & (lon <= 55)).all())
    bad_lat, bad_lon = np.abs(lat) > 90, np.abs(lon) > 180
    if bad_lat.any() or bad_lon.any():
        rows = np.flatnonzero(bad_lat | bad_lon)
        where = ", ".join(row_label(df, r) if df is not None else f"line {r + 2}" for r in rows[:5])
        raise InputError(f"{len(rows)} row(s) have a latitude outside ±90° or a longitude outside ±180° ({where})"
                         + ("; the longitude and latitude columns look swapped." if looks_swapped else "."),
                         file=path, field=f"{lon_col}/{lat_col}", fix=fix)
    if looks_swapped:
        raise InputError(f"every '{lat_col}' (latitude) is between 70 and 140 and every '{lon_col}' (longitude) "
                         "between 0 and 55: the longitude and latitude columns look swapped.",
                         file=path, field=f"{lon_col}/{lat_col}", fix=fix)


def _declared_system(coords: str, path: Path) -> str:
    try:
        return normalise_system(coords)
    except ValueError:
        raise InputError(f"unknown coordinate system '{coords}'.", file=path, field="facilities.coords",
                         fix='use coords = "wgs84" (GPS, OpenStreetMap), "gcj02" (Amap/高德, Tencent/腾讯) or '
                             '"bd09" (Baidu/百度).') from None


def _system_column(df: pd.DataFrame) -> str | None:
    lower = {str(c).strip().lower(): c for c in df.columns}
    return next((lower[c] for c in SYSTEM_COLUMNS if c in lower), None)


def row_systems(df: pd.DataFrame, path: str | Path, declared: str = "wgs84") -> np.ndarray:
    """Each row's coordinate system: from a ``coord_system``/``坐标系`` column if the file has one.

    Empty cells take the declared system. "wgs84" is the scenario's default, so with it the file's
    column decides row by row; a scenario that declares gcj02 or bd09 must agree with every row.
    """
    path = Path(path)
    declared = _declared_system(declared, path)
    col = _system_column(df)
    if col is None:
        return np.full(len(df), declared, dtype=object)
    raw = df[col].fillna("").astype(str).str.strip()
    values = np.empty(len(df), dtype=object)
    unknown = []
    for text in raw.unique():                       # a handful of distinct spellings, not one per row
        rows = (raw == text).to_numpy()
        try:
            values[rows] = normalise_system(text) if text else declared
        except ValueError:
            unknown.append(text)
    if unknown:
        raise InputError(f"unknown coordinate system(s) {unknown} in column '{col}'.", file=path, field=col,
                         fix="use wgs84, gcj02 (Amap/Tencent) or bd09 (Baidu) in that column.")
    if declared != "wgs84" and (values != declared).any():
        raise InputError(f"the scenario says coords = \"{declared}\" but column '{col}' gives "
                         f"{sorted(set(values))}: mixed coordinate systems.", file=path, field="facilities.coords",
                         fix=f"remove coords from [facilities] (or set it to \"wgs84\") so that the '{col}' column "
                             "decides row by row, or correct that column.")
    return values


def points_from_table(df: pd.DataFrame, path: str | Path, lon_col: str | None = None, lat_col: str | None = None,
                      coords: str = "wgs84") -> gpd.GeoDataFrame:
    """Points (EPSG:4326, WGS84) from a table's longitude/latitude columns, with the other columns kept.

    Default column pairs, tried in order and case-insensitively: 经度/纬度, lon/lat, lng/lat,
    longitude/latitude, x/y. ``coords`` ("wgs84", "gcj02" or "bd09") is the scenario's system; a
    ``coord_system`` (or ``坐标系``) column gives each row's own (see :func:`row_systems`).
    InputError for a missing column, non-numbers, out-of-range or swapped coordinates, and
    disagreeing systems.
    """
    path = Path(path)
    lon_col, lat_col = _find_pair(df, lon_col, lat_col, path)
    lon, lat = _numbers(df, lon_col, path), _numbers(df, lat_col, path)
    _check_ranges(lon, lat, lon_col, lat_col, path, df)
    systems = row_systems(df, path, coords)
    for system in set(systems) - {"wgs84"}:
        rows = systems == system
        lon[rows], lat[rows] = to_wgs84(lon[rows], lat[rows], system)
    rest = df.drop(columns=[lon_col, lat_col])
    points = gpd.GeoDataFrame(rest, geometry=gpd.points_from_xy(lon, lat), crs="EPSG:4326")
    points.attrs.update(df.attrs)          # where the rows are in the file, for later messages
    return points
