"""Downloads against a local HTTP server on 127.0.0.1 serving copies of the shared files (with Range
requests), and `fetch osm` against the same server answering as Overpass with a canned response."""

from __future__ import annotations

import functools
import http.server
import io
import json
import shutil
import socket
import threading
from pathlib import Path

import pytest

from coverage_planner.cli import main
from coverage_planner.errors import InputError
from coverage_planner.fetch import download, fetch_osm_graph, graphml_name, part_path, pbf_url, worldpop_url

SHARED = Path(__file__).resolve().parents[1].parent / "shared" / "geodata"
PBF = SHARED / "liechtenstein.osm.pbf"
TIF = SHARED / "wuhan_pop20plus_1km.tif"

# /api/status as Overpass writes it: osmnx reads the first word of the fifth line (free slots).
OVERPASS_STATUS = ("Connected as: 2130706433\nCurrent time: 2024-01-01T00:00:00Z\nAnnounced endpoint: none\n"
                   "Rate limit: 2\n2 slots available now.\nCurrently running queries (pid, space limit, time limit, "
                   "start time):\n")


def overpass_answer() -> dict:
    """A small Overpass JSON answer: a 3×3 street grid near 104.06°E 30.66°N (Chengdu), 200 m apart."""
    nodes = [{"type": "node", "id": 100 + 3 * r + c, "lat": 30.66 + 0.0018 * r, "lon": 104.06 + 0.0021 * c}
             for r in range(3) for c in range(3)]
    ways = [{"type": "way", "id": 10 + r, "nodes": [100 + 3 * r + c for c in range(3)],
             "tags": {"highway": "residential", "name": f"街{r}"}} for r in range(3)]
    ways += [{"type": "way", "id": 20 + c, "nodes": [100 + 3 * r + c for r in range(3)],
              "tags": {"highway": "primary", "oneway": "yes" if c == 1 else "no"}} for c in range(3)]
    return {"version": 0.6, "generator": "test", "osm3s": {}, "elements": nodes + ways}


class Handler(http.server.SimpleHTTPRequestHandler):
    """Files with Content-Length and single byte ranges (206/416); Overpass at /api; logs each request.

    ``cut_after``: the next file response announces the full length but stops after that many bytes.
    """

    seen: list[tuple[str, str, str | None]] = []
    cut_after: int | None = None

    def log_message(self, *args):  # keep test output quiet
        pass

    def _record(self):
        Handler.seen.append((self.command, self.path, self.headers.get("Range")))

    def _send(self, code: int, body: bytes, ctype: str, extra: dict | None = None) -> io.BytesIO:
        self.send_response(code)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        for key, value in (extra or {}).items():
            self.send_header(key, value)
        self.end_headers()
        return io.BytesIO(body)

    def send_head(self):
        self._record()
        if self.path.startswith("/api/status"):
            return self._send(200, OVERPASS_STATUS.encode(), "text/plain")
        path = Path(self.translate_path(self.path))
        if not path.is_file():
            self.send_error(404)
            return None
        data = path.read_bytes()
        rng = self.headers.get("Range")
        if not rng:
            return self._send(200, data, "application/octet-stream")
        start = int(rng.split("=")[1].split("-")[0])
        if start >= len(data):
            self.send_response(416)
            self.send_header("Content-Range", f"bytes */{len(data)}")
            self.send_header("Content-Length", "0")
            self.end_headers()
            return None
        return self._send(206, data[start:], "application/octet-stream",
                          {"Content-Range": f"bytes {start}-{len(data) - 1}/{len(data)}"})

    def copyfile(self, source, outputfile):
        if Handler.cut_after is not None:
            outputfile.write(source.read(Handler.cut_after))
            Handler.cut_after = None
            self.close_connection = True
            return
        shutil.copyfileobj(source, outputfile)

    def do_POST(self):
        self._record()
        self.rfile.read(int(self.headers.get("Content-Length", 0)))
        if not self.path.startswith("/api/interpreter"):
            self.send_error(404)
            return
        self.wfile.write(self._send(200, json.dumps(overpass_answer()).encode(), "application/json").getvalue())


def gets() -> list:
    return [s for s in Handler.seen if s[0] == "GET"]


@pytest.fixture
def server(tmp_path):
    """Base URL of a server on 127.0.0.1 laid out like Geofabrik and WorldPop, with copies of the shared files."""
    if not PBF.exists() or not TIF.exists():
        pytest.skip(f"real data not present: {SHARED} (needs ../shared/geodata with liechtenstein.osm.pbf "
                    "and wuhan_pop20plus_1km.tif)")
    root = tmp_path / "www"
    (root / "europe").mkdir(parents=True)
    shutil.copy(PBF, root / "europe" / "liechtenstein-latest.osm.pbf")
    pop = root / "GIS" / "Population" / "Global_2000_2020" / "2020" / "CHN"
    pop.mkdir(parents=True)
    shutil.copy(TIF, pop / "chn_ppp_2020.tif")
    Handler.seen, Handler.cut_after = [], None
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(Handler, directory=str(root)))
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()
    httpd.server_close()


@pytest.fixture
def closed_url():
    """A URL on 127.0.0.1 at a port nothing listens on (bound, then released)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    return f"http://127.0.0.1:{port}"


def test_full_download_then_cache_hit(server, tmp_path):
    url = pbf_url("europe/liechtenstein", server)
    dest = tmp_path / "data" / "liechtenstein-latest.osm.pbf"
    sizes = []
    assert download(url, dest, progress=lambda done, total: sizes.append((done, total))) == dest
    assert dest.read_bytes() == PBF.read_bytes() and not part_path(dest).exists()
    assert gets() == [("GET", "/europe/liechtenstein-latest.osm.pbf", None)]
    assert sizes[-1] == (PBF.stat().st_size, PBF.stat().st_size)
    seen = len(Handler.seen)
    assert download(url, dest) == dest                        # cached: no request at all
    assert download(url, dest, expected_size=PBF.stat().st_size) == dest
    assert len(Handler.seen) == seen


def test_resume_from_part_file(server, tmp_path):
    url = pbf_url("europe/liechtenstein", server)
    dest = tmp_path / "liechtenstein-latest.osm.pbf"
    original = PBF.read_bytes()
    part_path(dest).write_bytes(original[:500_000])           # an interrupted earlier download
    assert download(url, dest).read_bytes() == original
    assert gets() == [("GET", "/europe/liechtenstein-latest.osm.pbf", "bytes=500000-")]
    assert not part_path(dest).exists()


def test_part_already_complete_is_finished_with_416(server, tmp_path):
    url = pbf_url("europe/liechtenstein", server)
    dest = tmp_path / "l.pbf"
    part_path(dest).write_bytes(PBF.read_bytes())
    assert download(url, dest).read_bytes() == PBF.read_bytes()
    assert gets()[-1][2] == f"bytes={PBF.stat().st_size}-"


def test_interrupted_download_is_kept_and_resumed(server, tmp_path):
    url = pbf_url("europe/liechtenstein", server)
    dest = tmp_path / "l.pbf"
    Handler.cut_after = 300_000                               # the connection drops after 300 kB
    with pytest.raises(InputError, match=r"stopped at 300,000 of 1,323,403 bytes.*run the same command again"):
        download(url, dest)
    assert part_path(dest).stat().st_size == 300_000 and not dest.exists()
    assert download(url, dest).read_bytes() == PBF.read_bytes()
    assert gets()[-1][2] == "bytes=300000-"


def test_size_mismatch(server, tmp_path):
    url = pbf_url("europe/liechtenstein", server)
    dest = tmp_path / "x.pbf"
    with pytest.raises(InputError, match=r"announces 1,323,403 bytes .* but 123 were expected") as err:
        download(url, dest, expected_size=123)
    assert err.value.field == "size" and not dest.exists() and not part_path(dest).exists()
    part_path(dest).write_bytes(b"x" * 200)                   # a .part longer than the expected file: dropped
    with pytest.raises(InputError, match="but 150 were expected"):
        download(url, dest, expected_size=150)
    assert not part_path(dest).exists()


def test_offline_and_missing_file_messages(server, closed_url, tmp_path):
    url = f"{closed_url}/europe/nowhere-latest.osm.pbf"
    dest = tmp_path / "y.pbf"
    with pytest.raises(InputError) as err:
        download(url, dest, timeout=5)
    text = str(err.value)
    assert f"download {url} by hand" in text and f"put it at {dest.resolve()}" in text and "could not download" in text
    with pytest.raises(InputError, match=r"no file at .*/asia/atlantis-latest.osm.pbf \(HTTP 404"):
        download(pbf_url("asia/atlantis", server), tmp_path / "z.pbf")


def test_cli_worldpop_pbf_and_help(server, closed_url, tmp_path, capsys):
    assert main(["fetch", "worldpop", "--iso", "chn", "--year", "2020", "--base-url", server,
                 "--dir", str(tmp_path)]) == 0
    assert (tmp_path / "chn_ppp_2020.tif").read_bytes() == TIF.read_bytes()
    assert gets()[-1][1] == "/GIS/Population/Global_2000_2020/2020/CHN/chn_ppp_2020.tif"
    assert worldpop_url("chn", 2015, "https://m.example/") == \
        "https://m.example/GIS/Population/Global_2000_2020/2015/CHN/chn_ppp_2015.tif"
    assert main(["fetch", "pbf", "--region", "europe/liechtenstein", "--base-url", server,
                 "--dir", str(tmp_path)]) == 0
    assert capsys.readouterr().out.strip().endswith("liechtenstein-latest.osm.pbf")
    code = main(["fetch", "pbf", "--region", "asia/china/chongqing", "--base-url", closed_url, "--dir", str(tmp_path)])
    err = capsys.readouterr().err
    assert code == 2 and "by hand" in err and "chongqing-latest.osm.pbf" in err and "Traceback" not in err
    for sub, words in [("pbf", "{region}-latest.osm.pbf"), ("worldpop", "{iso}_ppp_{year}.tif"),
                       ("osm", "GraphML")]:
        with pytest.raises(SystemExit) as done:
            main(["fetch", sub, "--help"])
        assert done.value.code == 0 and words in capsys.readouterr().out


def write_polygon(path: Path) -> Path:
    ring = [[104.059, 30.659], [104.066, 30.659], [104.066, 30.665], [104.059, 30.665], [104.059, 30.659]]
    path.write_text(json.dumps({"type": "FeatureCollection", "features": [
        {"type": "Feature", "properties": {}, "geometry": {"type": "Polygon", "coordinates": [ring]}}]}))
    return path


def test_osm_from_overpass_canned_answer(server, tmp_path, capsys):
    import osmnx as ox

    polygon = write_polygon(tmp_path / "青羊区.geojson")
    before = ox.settings.overpass_url
    assert main(["fetch", "osm", "--polygon", str(polygon), "--overpass-url", f"{server}/api",
                 "--dir", str(tmp_path / "data")]) == 0
    out = tmp_path / "data" / "青羊区.graphml"
    assert capsys.readouterr().out.strip() == str(out)
    assert ("POST", "/api/interpreter", None) in Handler.seen
    assert ox.settings.overpass_url == before                 # settings restored after the query
    graph = ox.load_graphml(out)
    assert graph.number_of_nodes() == 9
    assert {d["highway"] for _, _, d in graph.edges(data=True)} == {"residential", "primary"}
    assert graph.number_of_edges() == 6 * 2 + 4 * 2 + 2      # two-way segments both ways, one-way ones once
    seen = len(Handler.seen)
    assert fetch_osm_graph(None, polygon, out, f"{server}/api") == out    # the saved file is reused
    assert len(Handler.seen) == seen


def test_osm_offline(closed_url, tmp_path):
    polygon = write_polygon(tmp_path / "area.geojson")
    with pytest.raises(InputError, match=r"could not reach the Overpass API.*download an OSM extract by hand"):
        fetch_osm_graph(None, polygon, tmp_path / "area.graphml", f"{closed_url}/api", timeout=5)
    assert graphml_name("渝中区, 重庆市", None) == "渝中区_重庆市.graphml"
