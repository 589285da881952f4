"""HTTP API and page of ``coverage-planner serve`` (FastAPI on uvicorn).

Every request body is a pydantic model that refuses unknown keys and non-finite numbers; the state
refuses what the model cannot know (a point outside the region, an unknown rule or type) with a
4xx JSON ``{"error": "..."}``. Each browser tab holds its own :class:`~.state.Session`. The client
never sends paths: saves go to ``<output folder>/serve/<name>/`` and downloads are written under
``<output folder>/serve/downloads/``.
"""

from __future__ import annotations

import base64
import math
import secrets
import threading
import time
from collections import OrderedDict
from pathlib import Path
from typing import Literal

import numpy as np
import pandas as pd
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import FileResponse, JSONResponse
from fastapi.staticfiles import StaticFiles
from pydantic import BaseModel, ConfigDict, Field

from ..errors import InputError
from .state import (SPEED_RANGE, STATE_CODES, EditError, Engine, Session, check_label, check_type, known_types,
                    threshold_unit)

HERE = Path(__file__).parent
PACKAGE_STATIC = HERE.parent / "static"     # the bundled Leaflet (read only)
MAX_SESSIONS = 32


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)


class Edit(_Body):
    """One edit of the page: op and its fields."""

    op: Literal["add", "move", "close", "reopen", "threshold", "speed", "rule", "undo", "redo"]
    lon: float | None = Field(None, ge=-180, le=180)
    lat: float | None = Field(None, ge=-90, le=90)
    type: str | None = Field(None, max_length=64)
    id: str | None = Field(None, max_length=64)
    name: str | None = Field(None, max_length=80)
    ambulances: float | None = Field(None, ge=0, le=50)
    rule: str | None = Field(None, max_length=64)
    zone: Literal["urban", "rural"] | None = None
    value: float | None = None
    on: bool | None = None
    view_rule: str | None = Field(None, max_length=64)


class Suggest(_Body):
    rule: str = Field(max_length=64)
    n: int = Field(ge=1, le=20)
    type: str | None = Field(None, max_length=64)


class Save(_Body):
    name: str | None = Field(None, max_length=40)


def _b64(arr: np.ndarray) -> str:
    return base64.b64encode(np.ascontiguousarray(arr).tobytes()).decode("ascii")


def _need(edit: Edit, *keys: str) -> None:
    missing = [k for k in keys if getattr(edit, k) is None]
    if missing:
        raise EditError(f"the '{edit.op}' edit needs {', '.join(missing)}.", 422)


class Server:
    """Sessions on one engine, and the JSON each endpoint returns."""

    def __init__(self, engine: Engine, out_dir: Path):
        self.engine = engine
        self.out_dir = Path(out_dir)
        self.sessions: OrderedDict[str, Session] = OrderedDict()
        self.lock = threading.Lock()
        base = Session(engine, "baseline")
        self.baseline = base.summary()
        self.baseline_rows = {(r["rule_id"], r["zone"], r["unit_id"]): r for r in self.baseline[
            [c for c in ("rule_id", "zone", "unit_id", "share_covered", "value", "rate") if c in self.baseline]].to_dict("records")}
        self.meta = self._meta()

    # sessions ----------------------------------------------------------------------------------
    def new_session(self) -> Session:
        sid = secrets.token_hex(8)
        with self.lock:
            while len(self.sessions) >= MAX_SESSIONS:   # the tab unused the longest
                self.sessions.popitem(last=False)
            ses = self.sessions[sid] = Session(self.engine, sid)
        return ses

    def session(self, sid: str) -> Session:
        with self.lock:
            ses = self.sessions.get(sid)
            if ses is None:
                raise EditError("unknown or expired session; reload the page.", 404)
            self.sessions.move_to_end(sid)
            return ses

    # page data ---------------------------------------------------------------------------------
    def _meta(self) -> dict:
        eng = self.engine
        lon, lat = eng.lonlat()
        rules = []
        for r in eng.full_profile.rules:
            rng = eng.threshold_range(r)
            rules.append({"id": r.id, "name_en": r.name_en, "name_zh": r.name_zh, "kind": r.kind,
                          "spatial": r.spatial, "urban": r.urban, "rural": r.rural,
                          "unit": threshold_unit(r) if r.spatial else None,
                          "range": list(rng) if rng else None, "types": list(r.facility_types)})
        b = eng.region.units.to_crs("EPSG:4326").total_bounds
        cell_m = float(np.median(eng.cells["cell_m"])) if "cell_m" in eng.cells else 100.0
        return {"title": f"{eng.scn.title_zh} {eng.scn.title_en}", "rules": rules, "types": known_types(eng),
                "speed_range": list(SPEED_RANGE), "bounds": [[b[1], b[0]], [b[3], b[2]]],
                "cells": {"n": eng.n, "lon": _b64(lon.astype(np.float32)), "lat": _b64(lat.astype(np.float32)),
                          "cell_m": cell_m},
                "states": {k: v for k, v in STATE_CODES.items()},
                "units": self._units_geojson(), "roads": self._roads_geojson()}

    def _units_geojson(self) -> dict:
        import json

        units = self.engine.region.units[["unit_id", "name", "zone", "geometry"]].copy()
        units["zone"] = units["zone"].astype(str)
        units["geometry"] = units.geometry.simplify(20)
        return json.loads(units.to_crs("EPSG:4326").to_json(drop_id=True))

    def _roads_geojson(self) -> dict:
        """The routable roads as the offline basemap (major classes first, simplified)."""
        import geopandas as gpd
        import shapely

        model = self.engine.model(sorted({r.travel_profile for r in self.engine.full_profile.rules
                                          if r.spatial} or {"ambulance"})[0], 1.0)
        net = model.net
        geom = shapely.simplify(net.seg_geometry, 10)
        frame = gpd.GeoDataFrame({"highway": net.seg_highway.astype(str)}, geometry=geom,
                                 crs=self.engine.region.crs).to_crs("EPSG:4326")
        features = []
        for hw, part in frame.groupby("highway", sort=True):
            coords = [np.round(np.asarray(g.coords), 5).tolist() for g in part.geometry]
            features.append({"type": "Feature", "properties": {"highway": hw},
                             "geometry": {"type": "MultiLineString", "coordinates": coords}})
        return {"type": "FeatureCollection", "features": features}

    def facilities(self, ses: Session) -> list[dict]:
        eng = self.engine
        keep = np.flatnonzero(~ses.deleted)
        lon, lat = eng.to_lonlat(ses.x[keep], ses.y[keep])
        name = sorted({r.travel_profile for r in ses.profile().rules if r.spatial} or {"ambulance"})[0]
        snaps = ses._snaps_for(name).take(keep)   # noqa: SLF001 (the session's own cache)
        import shapely

        net = eng.model(name, 1.0).net
        pts = shapely.line_interpolate_point(net.seg_geometry[snaps.seg], snaps.frac, normalized=True)
        rlon, rlat = eng.to_lonlat(shapely.get_x(pts), shapely.get_y(pts))
        fac = ses.fac
        return [{"id": str(fac["facility_id"].iat[i]), "name": str(fac["name"].iat[i]), "type": str(fac["type"].iat[i]),
                 "lon": float(lon[k]), "lat": float(lat[k]), "road": [float(rlon[k]), float(rlat[k])],
                 "access_m": float(snaps.access_m[k]), "open": bool(ses.open[i]), "added": bool(fac["added"].iat[i])}
                for k, i in enumerate(keep)]

    def view(self, ses: Session, rule: str | None) -> dict:
        """Table (with the change since the baseline), cell states of the colour rule, stations."""
        t0 = time.perf_counter()
        summary = ses.summary()
        spatial = [r.id for r in ses.profile().rules if r.spatial]
        rule = rule if rule in spatial else (spatial[0] if spatial else None)
        states = ses.cell_states(rule) if rule else np.full(self.engine.n, STATE_CODES["n/a"], np.uint8)
        return {"sid": ses.sid, "edits": ses.edits, "rule": rule, "rules_on": list(ses.rules_on),
                "overrides": ses.overrides, "speed": ses.factor, "table": self.table(summary),
                "states": _b64(states), "facilities": self.facilities(ses),
                "undo": ses.undo_stack[-1].label if ses.undo_stack else None,
                "redo": ses.redo_stack[-1].label if ses.redo_stack else None,
                "ms": round((time.perf_counter() - t0) * 1000, 1)}

    def table(self, summary: pd.DataFrame) -> list[dict]:
        """Rows of the rules table with the change of share (and value) since the baseline."""
        cols = [c for c in ("rule_id", "rule_en", "rule_zh", "kind", "threshold", "level", "zone", "unit_id",
                            "unit_name", "population", "covered_population", "share_covered", "value", "rate",
                            "required", "target", "pass") if c in summary]
        out = []
        for row in summary[cols].to_dict("records"):
            base = self.baseline_rows.get((row["rule_id"], row["zone"], row["unit_id"]), {})
            clean = {k: (None if isinstance(v, float) and not math.isfinite(v) else
                         (bool(v) if isinstance(v, (bool, np.bool_)) else v)) for k, v in row.items()}
            for k in ("share_covered", "value", "rate"):
                a, b = row.get(k), base.get(k)
                clean[f"delta_{k}"] = float(a - b) if _finite(a) and _finite(b) else None
            out.append(clean)
        return out

    # edits -------------------------------------------------------------------------------------
    def apply(self, ses: Session, edit: Edit) -> None:
        eng = self.engine
        if edit.op in ("add", "move"):
            _need(edit, "lon", "lat", *(("type",) if edit.op == "add" else ("id",)))
            x, y = eng.to_metric(edit.lon, edit.lat)
            if edit.op == "add":
                ses.add_station(x, y, check_type(eng, edit.type), edit.name or "",
                                1.0 if edit.ambulances is None else edit.ambulances)
            else:
                ses.move_station(edit.id, x, y)
        elif edit.op in ("close", "reopen"):
            _need(edit, "id")
            ses.set_station_open(edit.id, edit.op == "reopen")
        elif edit.op == "threshold":
            _need(edit, "rule", "zone", "value")
            ses.set_threshold(edit.rule, edit.zone, edit.value)
        elif edit.op == "speed":
            _need(edit, "value")
            ses.set_speed(edit.value)
        elif edit.op == "rule":
            _need(edit, "rule", "on")
            ses.set_rule(edit.rule, edit.on)
        elif edit.op == "undo":
            ses.undo()
        else:
            ses.redo()

    def save(self, ses: Session, name: str | None) -> dict:
        label = check_label(name) if name else f"session-{ses.sid[:6]}-{ses.edits}"
        folder = self.out_dir / "serve" / label
        path = ses.save(folder)
        return {"folder": str(folder), "scenario": str(path), "command": f"coverage-planner run {path}"}

    def download(self, ses: Session) -> Path:
        from ..outputs import write_cells_gpkg

        result = ses.full_result()
        folder = self.out_dir / "serve" / "downloads"
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / f"cells-{ses.sid}.gpkg"
        tmp = folder / f".cells-{ses.sid}.tmp.gpkg"
        tmp.unlink(missing_ok=True)
        write_cells_gpkg(result.cells, tmp)
        tmp.replace(path)
        return path

    def suggest(self, ses: Session, body: Suggest) -> dict:
        from .suggest import suggest_sites

        rule = next((r for r in ses.profile().rules if r.id == body.rule and r.spatial), None)
        if rule is None:
            raise EditError(f"'{body.rule}' is not a distance or time rule switched on.")
        ftype = check_type(self.engine, body.type) if body.type else rule.facility_types[0]
        sites = suggest_sites(ses, rule, body.n)
        lon, lat = self.engine.to_lonlat(sites["x"].to_numpy(), sites["y"].to_numpy())
        return {"rule": rule.id, "type": ftype, "status": sites.attrs.get("status", ""),
                "proposals": [{"lon": float(a), "lat": float(b), "gain": float(g)}
                              for a, b, g in zip(lon, lat, sites["gain"])]}


def _finite(v) -> bool:
    return isinstance(v, (int, float, np.floating)) and not isinstance(v, bool) and math.isfinite(v)


def _validation_message(exc: RequestValidationError) -> str:
    parts = []
    for err in exc.errors():
        where = ".".join(str(p) for p in err.get("loc", ()) if p != "body")
        parts.append(f"{where or 'body'}: {err.get('msg')}")
    return "invalid request: " + "; ".join(parts) + "."


def create_app(engine: Engine, out_dir: Path, token: str | None = None) -> FastAPI:
    """The FastAPI application: page, static files and JSON API on one engine.

    Parameters
    ----------
    engine : Engine
        The loaded scenario.
    out_dir : Path
        The scenario's output folder; saves and downloads are written under ``out_dir/serve``.
    token : str, optional
        When given, every request must carry it (header ``X-Token`` or query ``token``).
    """
    app = FastAPI(title="coverage-planner serve", docs_url=None, redoc_url=None, openapi_url=None)
    server = Server(engine, out_dir)
    app.state.server = server

    @app.middleware("http")
    async def check_token(request: Request, call_next):
        if token:
            given = request.headers.get("x-token") or request.query_params.get("token") or ""
            if not secrets.compare_digest(given.encode(), token.encode()):
                return JSONResponse({"error": "missing or wrong token: open the URL printed by "
                                              "coverage-planner serve (it carries ?token=...)."}, status_code=401)
        return await call_next(request)

    @app.exception_handler(EditError)
    async def edit_error(_request: Request, exc: EditError):
        return JSONResponse({"error": str(exc)}, status_code=exc.status)

    @app.exception_handler(InputError)
    async def input_error(_request: Request, exc: InputError):
        return JSONResponse({"error": exc.paragraph()}, status_code=422)

    @app.exception_handler(RequestValidationError)
    async def invalid(_request: Request, exc: RequestValidationError):
        return JSONResponse({"error": _validation_message(exc)}, status_code=422)

    @app.get("/")
    def index() -> FileResponse:
        return FileResponse(HERE / "static" / "index.html", media_type="text/html")

    @app.post("/api/session")
    def new_session() -> dict:
        ses = server.new_session()
        with ses.lock:
            return {"meta": server.meta, "view": server.view(ses, None)}

    @app.get("/api/{sid}/view")
    def view(sid: str, rule: str | None = None) -> dict:
        ses = server.session(sid)
        with ses.lock:
            return server.view(ses, rule)

    @app.post("/api/{sid}/edit")
    def edit(sid: str, body: Edit) -> dict:
        ses = server.session(sid)
        with ses.lock:
            server.apply(ses, body)
            return server.view(ses, body.view_rule)

    @app.get("/api/{sid}/criticality")
    def criticality(sid: str, rule: str) -> dict:
        ses = server.session(sid)
        with ses.lock:
            frame = ses.criticality(rule)
        return {"rule": rule, "stations": frame.to_dict("records")}

    @app.post("/api/{sid}/suggest")
    def suggest(sid: str, body: Suggest) -> dict:
        ses = server.session(sid)
        with ses.lock:
            return server.suggest(ses, body)

    @app.post("/api/{sid}/save")
    def save(sid: str, body: Save) -> dict:
        ses = server.session(sid)
        with ses.lock:
            return server.save(ses, body.name)

    @app.get("/api/{sid}/cells.gpkg")
    def cells(sid: str) -> FileResponse:
        ses = server.session(sid)
        with ses.lock:
            path = server.download(ses)
        return FileResponse(path, media_type="application/geopackage+sqlite3", filename="cells.gpkg")

    app.mount("/app", StaticFiles(directory=HERE / "static"), name="app")
    app.mount("/lib", StaticFiles(directory=PACKAGE_STATIC), name="lib")
    return app


__all__ = ["create_app", "Server"]
