"""The real WorldPop raster of Wuhan: people are neither lost nor double-counted."""

from __future__ import annotations

import numpy as np
import pytest
import rasterio
from conftest import SHARED, write_raster

from coverage_planner.errors import InputError
from coverage_planner.boundaries import load_boundaries
from coverage_planner.layers import LayerSpec
from coverage_planner.population import load_population

RASTER = SHARED / "wuhan_pop20plus_100m.tif"
BOUNDARY = SHARED / "wuhan_boundary.geojson"
pytestmark = pytest.mark.skipif(not RASTER.exists(), reason=f"real data not present: {RASTER} (needs ../shared/geodata)")
UTM = "EPSG:32650"


def raster_sum(path) -> float:
    with rasterio.open(path) as src:
        return float(src.read(1, masked=True).sum(dtype="float64"))


def test_total_matches_raster_sum():
    cells = load_population(LayerSpec(RASTER, key="population"), UTM)
    assert abs(cells["population"].sum() / raster_sum(RASTER) - 1) < 1e-4
    assert 8.0e6 < cells["population"].sum() < 11e6          # ≈ 9.49 million adults
    assert cells.crs.to_epsg() == 32650 and 80 < cells["cell_m"].iloc[0] < 95  # 3" pixels at 30.6°N


@pytest.mark.parametrize("size", [200, 500, 1000])
def test_aggregation_keeps_every_person(size):
    fine = load_population(LayerSpec(RASTER, key="population"), UTM)
    coarse = load_population(LayerSpec(RASTER, key="population"), UTM, cell_size_m=size)
    assert coarse["population"].sum() == pytest.approx(fine["population"].sum(), rel=1e-9)
    assert len(coarse) < len(fine) and (coarse["cell_m"] == size).all()
    x = coarse.geometry.x.to_numpy()
    assert np.allclose((x - size / 2) / size, np.round((x - size / 2) / size))   # centres on the grid


def repaired_boundary(tmp_path):
    """The shared boundary file has one stray character (line 5, column 29); a fixed copy."""
    text = BOUNDARY.read_text(encoding="utf-8")
    fixed = tmp_path / "wuhan_boundary.geojson"
    fixed.write_text(text.replace('"5",m"name"', '"5", "name"'), encoding="utf-8")
    return fixed


def test_broken_boundary_file_is_a_clear_error():
    spec = LayerSpec(BOUNDARY, key="boundaries", columns={"unit_id": "osm_id"})
    if '",m"name"' not in BOUNDARY.read_text(encoding="utf-8"):
        pytest.skip("the shared boundary file has been repaired upstream")
    with pytest.raises(InputError, match=r"wuhan_boundary\.geojson.*line 5"):
        load_boundaries(spec)


def test_clip_to_boundary(tmp_path):
    from rasterio.features import geometry_mask

    units = load_boundaries(LayerSpec(repaired_boundary(tmp_path), key="boundaries",
                                      columns={"unit_id": "osm_id"}))
    region_utm = units.to_crs(UTM).geometry.union_all()
    clipped = load_population(LayerSpec(RASTER, key="population"), UTM, region=region_utm)
    with rasterio.open(RASTER) as src:       # independent: pixel centres inside, in the raster's CRS
        band = src.read(1, masked=True)
        inside = ~geometry_mask(units.to_crs(src.crs).geometry, band.shape, src.transform)
        expected = float(band[inside & ~np.ma.getmaskarray(band)].sum(dtype="float64"))
    assert clipped["population"].sum() == pytest.approx(expected, rel=1e-4)
    assert clipped["population"].sum() < raster_sum(RASTER)


def test_raster_outside_the_region(tmp_path):
    far = tmp_path / "far.tif"
    write_raster(far, np.ones((4, 4)), 500000.0, 3000000.0, crs=UTM)
    units = load_boundaries(LayerSpec(repaired_boundary(tmp_path), key="boundaries", columns={"unit_id": "osm_id"}))
    with pytest.raises(InputError, match="does not overlap"):
        load_population(LayerSpec(far, key="population"), UTM, region=units.to_crs(UTM).geometry.union_all())
