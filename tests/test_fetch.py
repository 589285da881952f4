"""Downloads against a local HTTP server on 127.0.0.1 that serves the shared files (with Range)."""

from __future__ import annotations

import functools
import http.server
import shutil
import threading
from pathlib import Path

import pytest
from conftest import SHARED

from coverage_planner.cli import main
from coverage_planner.errors import InputError
from coverage_planner.fetch import download, pbf_url, worldpop_url


class RangeHandler(http.server.SimpleHTTPRequestHandler):
    """Serves files with HEAD, Content-Length and single byte-range requests; logs what it saw."""

    seen: list = []

    def log_message(self, *args):  # keep test output quiet
        pass

    def send_head(self):
        path = Path(self.translate_path(self.path))
        if not path.is_file():
            self.send_error(404)
            return None
        data = path.read_bytes()
        rng = self.headers.get("Range")
        RangeHandler.seen.append((self.command, self.path, rng))
        if rng:
            start = int(rng.split("=")[1].split("-")[0])
            self.send_response(206)
            self.send_header("Content-Range", f"bytes {start}-{len(data) - 1}/{len(data)}")
            body = data[start:]
        else:
            self.send_response(200)
            body = data
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        import io

        return io.BytesIO(body)


@pytest.fixture
def server(tmp_path):
    if not SHARED.exists():
        pytest.skip(f"real data not present: {SHARED}")
    root = tmp_path / "www"
    (root / "asia" / "europe").mkdir(parents=True)
    shutil.copy(SHARED / "liechtenstein.osm.pbf", root / "asia" / "europe" / "liechtenstein-latest.osm.pbf")
    pop = root / "GIS" / "Population" / "Global_2000_2020" / "2020" / "CHN"
    pop.mkdir(parents=True)
    shutil.copy(SHARED / "wuhan_pop20plus_1km.tif", pop / "chn_ppp_2020.tif")
    RangeHandler.seen = []
    handler = functools.partial(RangeHandler, directory=str(root))
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()


def test_download_cache_and_resume(server, tmp_path):
    url = pbf_url("asia/europe/liechtenstein", server)
    dest = tmp_path / "data" / "liechtenstein-latest.osm.pbf"
    original = (SHARED / "liechtenstein.osm.pbf").read_bytes()
    assert download(url, dest).read_bytes() == original
    gets = [s for s in RangeHandler.seen if s[0] == "GET"]
    download(url, dest)                                           # cached: no second GET
    assert [s for s in RangeHandler.seen if s[0] == "GET"] == gets
    dest.unlink()
    part = dest.with_name(dest.name + ".part")
    part.write_bytes(original[:500_000])                          # an interrupted download
    assert download(url, dest).read_bytes() == original
    assert RangeHandler.seen[-1] == ("GET", "/asia/europe/liechtenstein-latest.osm.pbf", "bytes=500000-")
    assert not part.exists()


def test_size_mismatch_and_offline(server, tmp_path):
    url = pbf_url("asia/europe/liechtenstein", server)
    with pytest.raises(InputError, match="server announced 123"):
        download(url, tmp_path / "x.pbf", expected_size=123)
    closed = "http://127.0.0.1:9/nothing-latest.osm.pbf"          # the discard port: nothing listens
    with pytest.raises(InputError, match=r"download http://127\.0\.0\.1:9/nothing-latest\.osm\.pbf by hand.*put it at"):
        download(closed, tmp_path / "y.pbf", timeout=5)


def test_cli_worldpop_and_pbf(server, tmp_path, capsys):
    assert main(["fetch", "worldpop", "--iso", "CHN", "--year", "2020", "--base-url", server,
                 "--dir", str(tmp_path)]) == 0
    assert (tmp_path / "chn_ppp_2020.tif").read_bytes() == (SHARED / "wuhan_pop20plus_1km.tif").read_bytes()
    assert worldpop_url("chn", 2020, "B").endswith("/2020/CHN/chn_ppp_2020.tif")
    code = main(["fetch", "pbf", "--region", "asia/nowhere", "--base-url", "http://127.0.0.1:9", "--dir", str(tmp_path)])
    err = capsys.readouterr().err
    assert code == 2 and "by hand" in err and "Traceback" not in err
