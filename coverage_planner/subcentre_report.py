"""Outputs of ``coverage-planner subcentres``: the reasons in English and 中文, the CSV/GeoPackage/HTML
files and the terminal table (the ranking itself is :mod:`coverage_planner.subcentres`)."""

from __future__ import annotations

import html as _html
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd

from . import subcentre_choice as choice
from .subcentres import OUTPUT_FILES, Settings, SubcentreResult


def _people(n: float) -> str:
    return f"{n:,.0f}"


def _wan(n: float) -> str:
    return f"{n / 10000:g}万" if n >= 10000 and n % 1000 == 0 else f"{n:,.0f}"


def _lead(ranked: pd.DataFrame, points: pd.DataFrame, i: int) -> tuple[str, str]:
    """Why the candidate stands above the next one (the decisive criterion), in English and 中文."""
    if i == len(ranked) - 1:
        return ("ranked last" if len(ranked) > 1 else "the only candidate"), ("排名最后" if len(ranked) > 1 else "唯一候选")
    nxt = ranked.iloc[i + 1]
    key = ranked["decisive"].iloc[i]
    if key == "tie":
        return (f"same score as #{i + 2} {nxt['name']} (order by facility id)",
                f"与第{i + 2}名{nxt['name']}得分相同（按机构编号排序）")
    c = choice.WEIGHT_KEYS[key]
    lead = float(points[key].iloc[i] - points[key].iloc[i + 1])
    total = float(points.iloc[i].sum() - points.iloc[i + 1].sum())
    return (f"above #{i + 2} {nxt['name']} mainly on {c.lead_en or c.en} (+{lead:.2f} points; score {total:+.2f})",
            f"高于第{i + 2}名{nxt['name']}，主要因为{c.lead_zh or c.zh}（+{lead:.2f}分；总分差{total:+.2f}）")


def reasons(ranked: pd.DataFrame, points: pd.DataFrame, i: int, settings: Settings,
            ems_rule: str | None) -> tuple[str, str]:
    """One sentence in English and one in 中文: the decisive criterion first, then the figures."""
    row = ranked.iloc[i]
    m = settings.minutes
    lead_en, lead_zh = _lead(ranked, points, i)
    en, zh = [lead_en], [lead_zh]
    if settings.choose is not None:
        if row["selected"]:
            en.append(f"chosen {int(row['selection_order'])} of {settings.choose}, adding "
                      f"{_people(row['marginal_gain_pop'])} people to those chosen before")
            zh.append(f"入选（第{int(row['selection_order'])}/{settings.choose}个，在已选基础上新增服务人口"
                      f"{_people(row['marginal_gain_pop'])}人）")
        else:
            en.append(f"not among the {settings.choose} chosen together")
            zh.append(f"未入选（共选{settings.choose}个）")
    ok = bool(row["meets_100k"])
    en.append(f"own catchment {_people(row['own_catchment_pop'])} people within {m:g} min "
              f"({'≥' if ok else '<'}{_people(settings.min_population)} {'✓' if ok else '✗'}; gross reach "
              f"{_people(row['gross_reach_pop'])})")
    zh.append(f"{m:g}分钟车程内以其为最近（相对现有医院）的常住人口{_people(row['own_catchment_pop'])}人"
              f"（{'≥' if ok else '<'}{_wan(settings.min_population)} {'✓' if ok else '✗'}；总覆盖"
              f"{_people(row['gross_reach_pop'])}人）")
    if row["is_county_seat"]:
        en.append("in the county seat: not preferred (seed 003 gives priority to towns outside it)")
        zh.append("位于县级政府驻地：不优先（赣州规划“优先支持…非县级政府驻地”）")
    t = row["minutes_from_county_hospital"]
    en.append(f"{t:.0f} min from the county hospital" if np.isfinite(t) else "not reachable by car from the county hospital")
    zh.append(f"距县医院车程{t:.0f}分钟" if np.isfinite(t) else "县医院无法驾车到达")
    conc, mean = row["settlement_concentration"], row["catchment_mean_minutes"]
    if np.isfinite(conc):
        en.append(f"{conc:.0%} of it in dense settlements, {mean:.0f} min on average to the centre")
        zh.append(f"{conc:.0%}居住在人口密集区，平均车程{mean:.0f}分钟")
    en.append(f"brings {_people(row['newly_covered_rural'])} rural people into the {m:g}-min circle")
    zh.append(f"新增{_people(row['newly_covered_rural'])}名农村居民进入{m:g}分钟服务圈")
    if ems_rule is not None and np.isfinite(row["ems_gain_pop"]):
        en.append(f"an ambulance station here would bring {_people(row['ems_gain_pop'])} people within {ems_rule}")
        zh.append(f"在此设急救站可使{_people(row['ems_gain_pop'])}人新达到{ems_rule}标准")
    if np.isfinite(row["beds"]):
        en.append(f"{row['beds']:.0f} beds")
        zh.append(f"床位{row['beds']:.0f}张")
    if row["grade"]:
        en.append(f"grade {row['grade']}")
        zh.append(f"等级{row['grade']}")
    return "; ".join(en), "；".join(zh)


# ------------------------------------------------------------------------------------------ outputs

ROUND = {"own_catchment_pop": 1, "gross_reach_pop": 1, "newly_covered_rural": 1, "ems_gain_pop": 1,
         "marginal_gain_pop": 1, "min_population": 1, "minutes_from_county_hospital": 2,
         "catchment_mean_minutes": 2, "settlement_concentration": 4, "share_outside_own_unit": 4, "score": 4}


def _csv_frame(table: gpd.GeoDataFrame) -> pd.DataFrame:
    out = pd.DataFrame(table.drop(columns="geometry"))
    for col in out.columns:
        digits = 1 if col.startswith("own_catchment_pop_") else ROUND.get(col)
        if digits is not None:
            out[col] = out[col].astype(float).round(digits)
    return out.replace([np.inf, -np.inf], np.nan)


def write_subcentre_outputs(result: SubcentreResult, out_dir: Path) -> Path:
    """Write subcentres.csv/.gpkg/.html into ``out_dir``.

    The three files are written into a temporary folder beside ``out_dir`` and then moved in one by
    one, so a failure leaves nothing behind and other commands' files in the folder are kept.
    """
    from .outputs import CSV_ENCODING, atomic_dir, finalize_html, write_gpkg

    out_dir = Path(out_dir)
    with atomic_dir(out_dir) as tmp:
        table = _csv_frame(result.table)
        table.to_csv(tmp / "subcentres.csv", index=False, encoding=CSV_ENCODING)
        points = gpd.GeoDataFrame(table, geometry=result.table.geometry.to_numpy(), crs=result.table.crs)
        write_gpkg(points, tmp / "subcentres.gpkg", "candidates")
        keep = table[["facility_id", "own_catchment_pop", "gross_reach_pop", "meets_100k", "selected"]]
        write_gpkg(result.catchments.merge(keep, on="facility_id", how="left"), tmp / "subcentres.gpkg", "catchments")
        write_gpkg(result.own_catchments.merge(keep, on="facility_id", how="left"), tmp / "subcentres.gpkg",
                   "own_catchments")
        subcentre_map(result).save(tmp / "subcentres.html")
        finalize_html(tmp / "subcentres.html")
    return out_dir


LABELS = [  # column, 中文, English
    ("own_catchment_pop", "{m}分钟内以其为最近的人口（自有服务人口）", "Own catchment within {m} min"),
    ("gross_reach_pop", "{m}分钟车程内总人口", "Gross reach within {m} min by car"),
    ("meets_100k", "自有服务人口≥{p}", "Own catchment ≥ {pe} people"),
    ("selected", "入选", "Chosen"),
    ("is_county_seat", "位于县级政府驻地（不优先）", "In the county seat (not preferred)"),
    ("minutes_from_county_hospital", "距县医院车程（分钟）", "Minutes from the county hospital"),
    ("settlement_concentration", "聚居程度（居住在密集区的比例）", "Settlement concentration (share in dense cells)"),
    ("catchment_mean_minutes", "交通便捷程度（平均车程，分钟）", "Transport: mean minutes to the centre"),
    ("newly_covered_rural", "新纳入{m}分钟圈的农村人口", "Rural people newly within {m} min"),
    ("ems_gain_pop", "设急救站新达标人口", "People newly within the EMS standard"),
    ("beds", "床位", "Beds"),
    ("catchment_units", "服务范围涉及乡镇（街道）数", "Townships/streets in the own catchment"),
    ("share_outside_own_unit", "本镇以外人口比例（打破行政区划）", "Share of people outside its own township"),
    ("score", "综合得分", "Score"),
]
RANK_COLOURS = ["#006837", "#1a9850", "#66bd63", "#a6d96a", "#d9ef8b", "#fee08b", "#fdae61"]
MISS_COLOUR, SEAT_COLOUR, HOSPITAL_COLOUR = "#f46d43", "#969696", "#d62728"


def _colour(row) -> str:
    if row["is_county_seat"]:
        return SEAT_COLOUR
    if not row["meets_100k"]:
        return MISS_COLOUR
    return RANK_COLOURS[min(int(row["rank"]) - 1, len(RANK_COLOURS) - 1)]


def _value(col: str, value) -> str:
    if isinstance(value, (bool, np.bool_)):
        return "是 yes" if value else "否 no"
    if not np.isfinite(value):
        return "不可达 unreachable" if col == "minutes_from_county_hospital" else "n/a"
    if col in ("settlement_concentration", "share_outside_own_unit"):
        return f"{value:.0%}"
    if col in ("minutes_from_county_hospital", "catchment_mean_minutes", "score"):
        return f"{value:.1f}" if col != "score" else f"{value:.2f}"
    return f"{value:,.0f}"


def _labels(settings: Settings) -> list[tuple[str, str, str]]:
    m, p = f"{settings.minutes:g}", settings.min_population
    return [(c, zh.format(m=m, p=_wan(p)), en.format(m=m, pe=_people(p))) for c, zh, en in LABELS]


def subcentre_map(result: SubcentreResult):
    """The folium map: ranked candidates with popups, catchments, county hospital, units, legend."""
    import folium

    from .maps import add_layer_control, add_legend_box, add_units, base_map, colour_ramp, escaped, swatch, zone_swatches

    scn, settings = result.scenario, result.settings
    fmap = base_map(result.region.units.to_crs("EPSG:4326"),
                    f"{scn.title_zh} 县域医疗次中心候选排序 · {scn.title_en} county medical sub-centre candidates",
                    result.region, scn)
    add_units(fmap, result.region.units)
    table = result.table
    colour = {fid: _colour(r) for fid, r in zip(table["facility_id"], table.to_dict("records"))}
    layer = folium.FeatureGroup(name=f"{settings.minutes:g} 分钟服务范围 {settings.minutes:g}-min catchments (gross reach)")
    catch = escaped(result.catchments[["rank", "facility_id", "name", "minutes", "geometry"]].to_crs("EPSG:4326"),
                    ["name"])
    folium.GeoJson(catch, style_function=lambda f: {
        "color": colour.get(f["properties"]["facility_id"], "#333"), "weight": 1.5, "dashArray": "6 4",
        "fillOpacity": 0.0},
        tooltip=folium.GeoJsonTooltip(["rank", "name", "minutes"], aliases=["排名 Rank", "名称 Name",
                                                                             "分钟 Minutes"])).add_to(layer)
    layer.add_to(fmap)
    own_layer = folium.FeatureGroup(name=f"自有服务范围 own catchments ({settings.minutes:g} min, nearer than any hospital)")
    own = escaped(result.own_catchments[["rank", "facility_id", "name", "minutes", "geometry"]].to_crs("EPSG:4326"),
                  ["name"])
    folium.GeoJson(own, style_function=lambda f: {
        "color": colour.get(f["properties"]["facility_id"], "#333"), "weight": 1.0, "fillOpacity": 0.25},
        tooltip=folium.GeoJsonTooltip(["rank", "name"], aliases=["排名 Rank", "名称 Name"])).add_to(own_layer)
    own_layer.add_to(fmap)
    hosp = result.county_hospital
    hl = folium.FeatureGroup(name="县医院 County hospital")
    hpt = gpd.GeoSeries([hosp.geometry], crs=result.region.crs).to_crs("EPSG:4326").iloc[0]
    folium.Marker([hpt.y, hpt.x], tooltip=_html.escape(f"县医院 County hospital: {hosp['name']} "
                                                       f"({hosp['facility_id']})"),
                  icon=folium.DivIcon(  # a red cross on white, drawn in CSS: no icon font to fetch
                      icon_size=(24, 24), icon_anchor=(12, 12), class_name="cp-divmarker",
                      html=f"<div style='width:22px;height:22px;background:{HOSPITAL_COLOUR};border:1px solid #222;"
                           "border-radius:4px;color:#fff;font:bold 20px/22px sans-serif;text-align:center'>+</div>"),
                  ).add_to(hl)
    hl.add_to(fmap)
    labels = _labels(settings)
    cl = folium.FeatureGroup(name="候选次中心（按排名着色） Candidates by rank")
    for row in table.to_crs("EPSG:4326").to_dict("records"):
        pt = row["geometry"]
        cells = "".join(f"<tr><td>{zh}</td><td>{en}</td><td style='text-align:right'><b>"
                        f"{_value(col, row[col])}</b></td></tr>" for col, zh, en in labels)
        esc = {k: _html.escape(str(row[k])) for k in ("name", "name_en", "facility_id", "unit_name",
                                                       "reasons", "reasons_zh")}
        html = (f"<b>#{row['rank']} {esc['name']}</b> {esc['name_en']}<br>ID {esc['facility_id']} · "
                f"{esc['unit_name']}<table style='font-size:12px'>{cells}</table>"
                f"<p style='font-size:12px'>{esc['reasons_zh']}</p><p style='font-size:12px'>{esc['reasons']}</p>")
        folium.CircleMarker([pt.y, pt.x], radius=11, color="#222", weight=1.5, fill=True,
                            fill_color=colour[row["facility_id"]], fill_opacity=0.95,
                            popup=folium.Popup(html, max_width=460),
                            tooltip=f"#{row['rank']} {esc['name']}", class_name="cp-marker").add_to(cl)
        folium.Marker([pt.y, pt.x], interactive=False, icon=folium.DivIcon(
            icon_size=(22, 22), icon_anchor=(11, 9), class_name="cp-label",
            html=f"<div style='font:bold 12px sans-serif;color:#000;text-align:center;"
                 f"text-shadow:0 0 3px #fff'>{row['rank']}</div>"),
        ).add_to(cl)
    cl.add_to(fmap)
    add_legend_box(fmap, [
        f"排名 Rank 1 → 7+ (自有服务人口达到{_wan(settings.min_population)} own catchment ≥ "
        f"{_people(settings.min_population)}): {colour_ramp(RANK_COLOURS)}",
        f"{swatch(MISS_COLOUR)}自有服务人口未达门槛 own catchment below the threshold",
        f"{swatch(SEAT_COLOUR)}县级政府驻地（不优先） in the county seat (not preferred)",
        f"{swatch(HOSPITAL_COLOUR, 'square')}县医院 county hospital (red cross)",
        f"圆圈内数字 = 排名; 虚线 = {settings.minutes:g}分钟车程总覆盖范围 dashed = {settings.minutes:g}-min gross "
        "reach by car; 填色 = 自有服务范围 filled = own catchment",
        zone_swatches()])
    add_layer_control(fmap)
    return fmap


def print_table(result: SubcentreResult) -> None:
    """The ranking as a rich table in the terminal, with each candidate's reasons below it."""
    import sys

    from rich.console import Console
    from rich.markup import escape
    from rich.table import Table

    s, scn = result.settings, result.scenario
    m = f"{s.minutes:g}"
    table = Table(title=f"{scn.title_zh} {scn.title_en} — 县域医疗次中心候选 county medical sub-centre candidates",
                  caption=f"car 驾车, to the centre; own catchment = people within {m} min (an assumption) "
                          f"nearer to it than to any existing hospital, county seat excluded; "
                          f"≥{_people(s.min_population)} (003 L305); county hospital 县医院: "
                          f"{result.county_hospital['name']} ({result.county_hospital['facility_id']})"
                          + (f"; choose 选 {s.choose} (004 L331)" if s.choose else ""))
    band = [f"{b:g}" for b in s.sensitivity_minutes]
    for col in ("排名\nrank", "得分\nscore", "候选 candidate", f"自有人口\nown ≤{m} min",
                f"≥{_wan(s.min_population)}", f"总覆盖\ngross ≤{m} min", "入选\nchosen", "县城驻地\ncounty seat",
                "距县医院\nmin from CH", "新增农村\nnew rural", "急救增益\nEMS gain", "决定因素\ndecisive",
                *(f"{b}分钟\n{b} min own (rank)" for b in band)):
        table.add_column(col, overflow="fold")
    for r in result.table.to_dict("records"):
        style = "bold green" if r["meets_100k"] and not r["is_county_seat"] else ("dim" if r["is_county_seat"] else "")
        chosen = (f"[green]{r['selection_order']}[/]" if r["selected"] else "–") if s.choose else ""
        table.add_row(str(r["rank"]), f"{r['score']:.2f}", f"{r['name']}\n{r['facility_id']}",
                      _people(r["own_catchment_pop"]), "[green]✓[/]" if r["meets_100k"] else "[red]✗[/]",
                      _people(r["gross_reach_pop"]), chosen,
                      "[yellow]yes 是[/]" if r["is_county_seat"] else "no 否",
                      _value("minutes_from_county_hospital", r["minutes_from_county_hospital"]),
                      _people(r["newly_covered_rural"]), _value("ems_gain_pop", r["ems_gain_pop"]),
                      r["decisive"] or "–",
                      *(f"{_people(r[f'own_catchment_pop_{b}min'])} (#{r[f'rank_{b}min']})" for b in band),
                      style=style)
    console = Console(width=None if sys.stdout.isatty() else 160)
    console.print(table)
    for r in result.table.to_dict("records"):
        console.print(f"[bold]#{r['rank']} {escape(str(r['name']))}[/]: {escape(r['reasons'])}\n"
                      f"    {escape(r['reasons_zh'])}", soft_wrap=True)
    for text in result.warnings:
        console.print(f"[yellow]warning:[/] {text}")
    console.print(f"Outputs 输出: {scn.out_dir}/ ({', '.join(OUTPUT_FILES)})")
