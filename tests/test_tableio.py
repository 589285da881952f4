"""Facility tables from Chinese Excel: workbooks, encodings, coordinate columns, swapped axes, mixed systems."""

from __future__ import annotations

import csv

import numpy as np
import pytest
from conftest import ROOT, UTM
from refusals import refused

from coverage_planner.coords import from_wgs84
from coverage_planner.errors import InputError
from coverage_planner.facilities import load_facilities, read_points
from coverage_planner.layers import LayerSpec
from coverage_planner.tableio import points_from_table, read_table, row_systems

ROWS = ("id,name,type,经度,纬度\n"
        "T01,苏溪镇中心卫生院,thc,103.70,29.60\n"
        "T02,青衣区人民医院,hospital,103.75,29.58\n")


def load(path, **kw):
    return points_from_table(read_table(path), path, **kw)


def test_gbk_csv_with_chinese_names(tmp_path):
    path = tmp_path / "机构.csv"
    path.write_bytes(ROWS.encode("gbk"))                  # what Excel on Chinese Windows writes
    frame = load(path)
    assert frame["name"].tolist() == ["苏溪镇中心卫生院", "青衣区人民医院"]
    assert frame.crs.to_epsg() == 4326 and list(frame.columns) == ["id", "name", "type", "geometry"]
    assert frame.geometry.x.tolist() == pytest.approx([103.70, 103.75])
    assert frame.geometry.y.tolist() == pytest.approx([29.60, 29.58])


def test_utf8_with_bom_and_gb18030_only_characters(tmp_path):
    bom = tmp_path / "utf8.csv"
    bom.write_bytes(ROWS.encode("utf-8-sig"))            # Excel's "CSV UTF-8"
    assert list(read_table(bom).columns)[0] == "id"       # the BOM does not stick to the first name
    rare = tmp_path / "gb18030.csv"
    rare.write_bytes("id,name,lon,lat\nA,刘䶮卫生室,103.7,29.6\n".encode("gb18030"))   # 䶮 is not in GBK
    assert read_table(rare)["name"].iloc[0] == "刘䶮卫生室"
    assert read_table(rare, encoding="gb18030")["name"].iloc[0] == "刘䶮卫生室"


def test_wrong_or_undecodable_encoding(tmp_path):
    path = tmp_path / "机构.csv"
    path.write_bytes(ROWS.encode("gbk"))
    with pytest.raises(InputError, match=r"not valid text in utf-8\b.*encoding = \"gbk\"") as err:
        read_table(path, encoding="utf-8", layer="facilities")
    assert err.value.file == str(path) and err.value.field == "facilities.encoding"
    path.write_bytes(b"id,name\n\xff\xfe\xfa,\x81\x20\n")   # neither UTF-8 nor GB18030
    with pytest.raises(InputError, match=r'in utf-8-sig or gb18030.*set encoding = "\.\.\."') as err:
        read_table(path)
    assert "机构.csv" in str(err.value) and err.value.field == "encoding"
    with pytest.raises(InputError, match="unknown text encoding 'klingon'"):
        read_table(path, encoding="klingon")
    empty = tmp_path / "empty.csv"
    empty.write_bytes(b"")
    with pytest.raises(InputError, match="empty"):
        read_table(empty)


def test_swapped_columns(tmp_path):
    path = tmp_path / "f.csv"
    path.write_text("id,type,经度,纬度\nA,ems,29.6,103.7\nB,ems,29.5,103.8\n", encoding="utf-8")
    with pytest.raises(InputError, match="latitude outside ±90.*columns look swapped") as err:
        load(path)                                    # 纬度 > 90: out of range, and it looks swapped
    assert err.value.field == "经度/纬度" and 'lon = "纬度", lat = "经度"' in err.value.fix
    path.write_text("id,type,lon,lat\nA,ems,29.6,73.7\nB,ems,50.5,88.8\n", encoding="utf-8")
    with pytest.raises(InputError, match="between 70 and 140 .* look swapped"):
        load(path)                                    # in range, but China's lon/lat the wrong way round
    path.write_text("id,type,lon,lat\nA,ems,29.6,73.7\nB,ems,103.5,30.8\n", encoding="utf-8")
    assert len(load(path)) == 2                       # not every row: no claim of a swap


def test_out_of_range_and_not_numbers(tmp_path):
    path = tmp_path / "f.csv"
    path.write_text("id,type,lon,lat\nA,ems,203.7,29.6\nB,ems,103.8,29.5\n", encoding="utf-8")
    with pytest.raises(InputError, match=r"longitude outside ±180° \(line 2\)\. Fix"):
        load(path)
    path.write_text("id,type,lon,lat\nA,ems,103.7,29.6\nB,ems,103°48′,29.5\nC,ems,,29.4\n", encoding="utf-8")
    with pytest.raises(InputError, match=r"2 row\(s\) have no number in column 'lon': line 3 \('103°48′'\), line 4"):
        load(path)


def test_missing_columns_are_named(tmp_path):
    path = tmp_path / "f.csv"
    path.write_text("id,type,x_coord,y_coord\nA,ems,103.7,29.6\n", encoding="utf-8")
    with pytest.raises(InputError, match=r"no longitude column found \(tried 经度, lon, lng, longitude, x.*"
                                         r"columns found are: id, type, x_coord, y_coord") as err:
        load(path)
    assert err.value.field == "facilities.columns.lon"
    with pytest.raises(InputError, match="latitude column 'northing' is not in the file.*x_coord, y_coord"):
        points_from_table(read_table(path), path, "x_coord", "northing")
    frame = points_from_table(read_table(path), path, "x_coord", "y_coord")
    assert frame.geometry.x.iloc[0] == pytest.approx(103.7)


@pytest.mark.parametrize("header", ["LNG,LAT", "Longitude,Latitude", "x,y", " lon , lat "])
def test_default_column_names_any_case(tmp_path, header):
    path = tmp_path / "f.csv"
    path.write_text(f"id,type,{header}\nA,ems,103.7,29.6\n", encoding="utf-8")
    frame = load(path)
    assert (frame.geometry.x.iloc[0], frame.geometry.y.iloc[0]) == pytest.approx((103.7, 29.6))


def test_first_complete_pair_wins(tmp_path):
    path = tmp_path / "f.csv"
    path.write_text("id,x,y,type,纬度,经度\nA,1,2,ems,29.6,103.7\n", encoding="utf-8")
    frame = load(path)                                # 经度/纬度 before x/y, whatever the column order
    assert (frame.geometry.x.iloc[0], frame.geometry.y.iloc[0]) == pytest.approx((103.7, 29.6))
    assert {"x", "y"} <= set(frame.columns)


def test_declared_gcj02_and_bd09_are_converted(tmp_path):
    wgs = np.array([[103.70, 29.60], [103.75, 29.58]])
    for system in ("gcj02", "bd09"):
        lon, lat = from_wgs84(wgs[:, 0], wgs[:, 1], system)
        path = tmp_path / f"{system}.csv"
        rows = "".join(f"{i},ems,{float(x)!r},{float(y)!r}\n" for i, (x, y) in enumerate(zip(lon, lat)))
        path.write_text("id,type,lng,lat\n" + rows, encoding="utf-8")
        frame = load(path, coords=system.upper())
        assert np.allclose(np.column_stack([frame.geometry.x, frame.geometry.y]), wgs, rtol=0, atol=1e-9)
    with pytest.raises(InputError, match="unknown coordinate system 'mercator'"):
        load(path, coords="mercator")


def test_mixed_systems_per_row_or_flagged(tmp_path):
    true = (116.404, 39.915)
    gcj, bd = from_wgs84(*true, "gcj02"), from_wgs84(*true, "bd09")
    path = tmp_path / "mixed.csv"
    path.write_text("id,type,lon,lat,坐标系\n"
                    f"A,ems,{float(gcj[0])!r},{float(gcj[1])!r},GCJ-02\n"
                    f"B,ems,{true[0]},{true[1]},wgs84\n"
                    f"C,ems,{float(bd[0])!r},{float(bd[1])!r},百度\n"
                    f"D,ems,{true[0]},{true[1]},\n", encoding="utf-8")
    frame = load(path)                                # each row by its own system; an empty cell: the scenario's
    assert np.allclose(frame.geometry.x, true[0], rtol=0, atol=1e-9)
    assert np.allclose(frame.geometry.y, true[1], rtol=0, atol=1e-9)
    assert row_systems(read_table(path), path).tolist() == ["gcj02", "wgs84", "bd09", "wgs84"]
    with pytest.raises(InputError, match=r"coords = \"bd09\" but column '坐标系' gives .*mixed coordinate") as e:
        load(path, coords="bd09")
    assert e.value.field == "facilities.coords"
    path.write_text("id,type,lon,lat,Coord_System\nA,ems,116.4,39.9,utm\n", encoding="utf-8")
    with pytest.raises(InputError, match=r"unknown coordinate system\(s\) \['utm'\] in column 'Coord_System'"):
        load(path)


# ------------------------------------------------------------------------------ Excel workbooks

def write_workbook(path, sheets: dict[str, list[list]]) -> None:
    """An .xlsx file with openpyxl: each sheet given as rows of cell values (None for empty)."""
    from openpyxl import Workbook

    book = Workbook()
    book.remove(book.active)
    for name, rows in sheets.items():
        sheet = book.create_sheet(name)
        for row in rows:
            sheet.append(row)
    book.save(path)


def demo_rows() -> list[list]:
    """The demo's facility list as cell values (numbers as numbers, as Excel holds them)."""
    with open(ROOT / "coverage_planner" / "data" / "demo" / "facilities.csv", encoding="utf-8") as fh:
        rows = list(csv.reader(fh))
    numeric = {"ambulances", "negative_pressure_ambulances", "beds", "doctors", "nurses", "gps", "turnout_min",
               "经度", "纬度"}
    return [rows[0]] + [[float(v) if rows[0][j] in numeric else v for j, v in enumerate(r)] for r in rows[1:]]


def test_workbook_with_title_rows_reads_like_the_csv(tmp_path):
    """A 医疗机构名录 as Excel keeps it: a notes sheet first, then the list under a title and a blank
    row. The facilities loaded from it equal those from the demo's CSV."""
    path = tmp_path / "名录.xlsx"
    write_workbook(path, {"说明": [["本表为青衣区医疗机构名录"], ["坐标系: WGS84"]],
                          "名录": [["青衣区医疗卫生机构名录（2024年）"], [None], *demo_rows(), [None, None]]})
    columns = {"id": "id", "type": "type"}
    from_xlsx = load_facilities(LayerSpec(path, columns=columns, key="facilities"), UTM)
    from_csv = load_facilities(LayerSpec(ROOT / "coverage_planner" / "data" / "demo" / "facilities.csv", columns=columns,
                                         key="facilities"), UTM)
    assert len(from_xlsx) == 57
    for col in ("facility_id", "name", "type", "ambulances", "beds", "doctors", "nurses", "gps", "turnout_min"):
        assert from_xlsx[col].tolist() == from_csv[col].tolist(), col
    assert np.allclose(from_xlsx.geometry.x, from_csv.geometry.x, atol=1e-6, rtol=0)
    assert np.allclose(from_xlsx.geometry.y, from_csv.geometry.y, atol=1e-6, rtol=0)
    # the sheet named by the scenario's layer key is read even when another sheet has coordinates too
    write_workbook(path, {"旧表": demo_rows()[:3], "名录": demo_rows()})
    assert len(load_facilities(LayerSpec(path, layer="名录", key="facilities"), UTM)) == 57


def test_workbook_problems_name_the_sheet_row(tmp_path):
    path = tmp_path / "名录.xlsx"
    rows = [["名录"], ["id", "type", "经度", "纬度"], ["T01", "thc", 103.70, 29.60], ["T02", "thc", "103°48′", 29.58]]
    write_workbook(path, {"Sheet1": rows})
    with refused("A workbook cell without a number in a coordinate column",
                 match=r"no number in column '经度': row 4 \('103°48′'\) \(the header is row 2 of sheet 'Sheet1'\)"):
        points_from_table(read_table(path), path)


def test_workbook_sheet_choice(tmp_path):
    path = tmp_path / "名录.xlsx"
    rows = [["id", "type", "lon", "lat"], ["T01", "thc", 103.70, 29.60]]
    write_workbook(path, {"城区": rows, "乡镇": rows})
    with refused("A workbook with several sheets of facilities and no sheet chosen",
                 match=r"2 sheets \('城区', '乡镇'\) and several have a longitude/latitude header.*layer"):
        read_table(path, layer="facilities")
    with refused("A workbook sheet name that is not in the workbook",
                 match=r"no sheet '村卫生室'; its sheets are '城区', '乡镇'"):
        read_table(path, layer="facilities", sheet="村卫生室")
    assert read_table(path, sheet="乡镇")["id"].tolist() == ["T01"]
    old = tmp_path / "名录.xls"
    old.write_bytes(b"\xd0\xcf\x11\xe0")
    with refused("An old Excel 97-2003 workbook (.xls)", match=r"save it as an Excel workbook \(\.xlsx\)"):
        read_table(old)


def test_candidate_plots_from_a_workbook(tmp_path):
    """Siting candidate plots given as a workbook in GCJ-02 come back as the WGS84 points."""
    lon, lat = np.array([103.70, 103.75]), np.array([29.60, 29.58])
    glon, glat = from_wgs84(lon, lat, "gcj02")
    path = tmp_path / "地块.xlsx"
    write_workbook(path, {"地块": [["拟建急救站备选地块"], ["id", "name", "经度", "纬度"],
                                   ["P1", "地块一", glon[0], glat[0]], ["P2", "地块二", glon[1], glat[1]]]})
    frame = read_points(LayerSpec(path, key="siting.candidates_path", coords="gcj02"))
    assert frame["id"].tolist() == ["P1", "P2"]
    assert np.allclose(frame.geometry.x, lon, atol=1e-8) and np.allclose(frame.geometry.y, lat, atol=1e-8)
