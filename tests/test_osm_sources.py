"""Any OSM file: PBF and compressed XML, bounds against the scenario area, heights by type, operator-like sites."""

from __future__ import annotations

import bz2
import json
import math
from pathlib import Path

import numpy as np
import pytest
import shapely
from test_geometry import write_osm

from mndt_envs.config import ConfigError, ScenarioConfig, make_config
from mndt_envs.twin import backend
from mndt_envs.twin.geometry import (
    MAST_EDGE_INSET_M,
    TYPE_HEIGHTS_M,
    CityGeometry,
    check_area,
    load_city,
    rooftop_sites,
    sites_for_area,
)

# a clip of the shared Helsinki PBF that is not the bundled city's area (north-east part, ~0.7 x 0.9 km)
CLIP_BBOX = (24.9400, 60.1700, 24.9530, 60.1780)  # minlon, minlat, maxlon, maxlat [deg]


def _clip_pbf(src: Path, dst: Path, bbox: tuple[float, float, float, float] = CLIP_BBOX) -> Path:
    """Cut a bounding box out of a PBF with pyosmium: nodes inside, ways touching them, header bounds = box."""
    osmium = pytest.importorskip("osmium")
    minlon, minlat, maxlon, maxlat = bbox
    header = osmium.io.Header()
    header.add_box(osmium.osm.Box(osmium.osm.Location(minlon, minlat), osmium.osm.Location(maxlon, maxlat)))
    keep: set[int] = set()
    w = osmium.SimpleWriter(str(dst), header=header)
    for o in osmium.FileProcessor(str(src), osmium.osm.NODE):
        if minlon <= o.location.lon <= maxlon and minlat <= o.location.lat <= maxlat:
            keep.add(o.id)
            w.add(o)
    for o in osmium.FileProcessor(str(src), osmium.osm.WAY):
        if any(n.ref in keep for n in o.nodes):
            w.add(o)
    w.close()
    return dst


@pytest.fixture(scope="module")
def clip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    src = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "osm" / "helsinki.osm.pbf"
    if not src.is_file():
        pytest.skip(f"real data file {src} is absent")
    return _clip_pbf(src, tmp_path_factory.mktemp("clip") / "helsinki_ne.osm.pbf")


def test_heights_by_building_type_and_defaulted_share(tmp_path: Path) -> None:
    boxes = [(10, 10, 30, 30, {"building": "house"}), (50, 10, 80, 40, {"building": "office"}),
             (10, 50, 40, 80, {}), (50, 50, 80, 80, {"building": "house", "building:levels": "4"}),
             (100, 100, 130, 130, {"building": "apartments", "height": "40"})]
    city = load_city(write_osm(tmp_path / "t.osm", boxes), default_height_m=11.0, use_cache=False)
    by_xy = {(round(p.bounds[0]), round(p.bounds[1])): h for p, h in zip(city.buildings, city.heights, strict=True)}
    assert by_xy[(10, 10)] == pytest.approx(TYPE_HEIGHTS_M["house"])
    assert by_xy[(50, 10)] == pytest.approx(TYPE_HEIGHTS_M["office"])
    assert TYPE_HEIGHTS_M["house"] < TYPE_HEIGHTS_M["office"]  # houses lower than offices
    assert by_xy[(10, 50)] == pytest.approx(11.0)  # building=yes: the configured default
    assert by_xy[(50, 50)] == pytest.approx(12.0) and by_xy[(100, 100)] == pytest.approx(40.0)
    assert city.default_height_share == pytest.approx(3 / 5)


def test_area_must_match_the_files_bounds(tmp_path: Path) -> None:
    city = load_city(write_osm(tmp_path / "t.osm", [(10, 10, 30, 30, {})], extent=220.0), use_cache=False)
    check_area(city, 220.0, 220.0)
    check_area(city, 200.0, 250.0)
    with pytest.raises(ConfigError, match=r"width_m x height_m = 1000 x 1000 m"):
        check_area(city, 1000.0, 1000.0)  # the area reaches far beyond the data
    with pytest.raises(ConfigError, match="0.5-1.25 times"):
        check_area(city, 50.0, 220.0)  # most of the file would be ignored
    huge = CityGeometry(buildings=[], heights=np.zeros(0), tags=[], roads=city.roads, width_m=3.4e6, height_m=2e6,
                        origin_lat=40.0, origin_lon=0.0, source="europe.osm.pbf")
    with pytest.raises(ConfigError, match="3400.0 x 2000.0 km.*clip it"):
        check_area(huge, 1000.0, 1000.0)
    # the env path (rooftop sites on the city) refuses the mismatch before placing anything
    cfg = make_config("helsinki", {"channel": {"source": str(tmp_path / "t.osm")}})
    from mndt_envs.twin.sites import make_cells

    with pytest.raises(ConfigError, match="the file's bounds span"):
        make_cells(cfg, np.random.default_rng(0))


def test_site_count_from_area_and_isd() -> None:
    assert sites_for_area(1000.0, 1000.0, 350.0) == 9
    assert sites_for_area(100.0, 100.0, 350.0) == 1
    assert sites_for_area(2000.0, 2000.0, 350.0) == 4 * 9 + 2  # ~ area / (sqrt(3)/2 ISD^2)


def test_masts_at_a_roof_edge_and_no_landmark_preference(tmp_path: Path) -> None:
    # one site; the target is the area's centre (100, 100): a 120 m tower 55 m away and a 20 m roof 12 m away
    boxes = [(150, 90, 170, 110, {"height": "120", "building": "yes"}),
             (100, 80, 125, 100, {"height": "20"})]
    city = load_city(write_osm(tmp_path / "t.osm", boxes, extent=200.0), use_cache=False)
    xy, h = rooftop_sites(city, 1, np.random.default_rng(0))
    assert h[0] == pytest.approx(20.0)  # an uncapped 2 m/m bonus would have picked the tower
    roof = next(p for p in city.buildings if p.contains(shapely.Point(*xy[0])))
    assert roof.exterior.distance(shapely.Point(*xy[0])) <= MAST_EDGE_INSET_M + 0.5  # at the edge
    # the rooftop layout derives the count from the area and puts masts mast_above_roof_m above the roof
    cfg = ScenarioConfig(width_m=200.0, height_m=200.0)
    cfg = cfg.replace({"sites": {"layout": "rooftop", "n_sites": 0, "isd_m": 100.0, "mast_above_roof_m": 12.0},
                       "channel": {"source": str(tmp_path / "t.osm")}})
    from mndt_envs.twin.sites import make_cells

    cells = make_cells(cfg, np.random.default_rng(0))
    assert cells.n_sites == sites_for_area(200.0, 200.0, 100.0)
    roof_h = np.array([max((hh for p, hh in zip(city.buildings, city.heights, strict=True)
                            if p.buffer(0.01).contains(shapely.Point(x, y))), default=0.0)
                       for x, y in zip(cells.x, cells.y, strict=True)])
    np.testing.assert_allclose(cells.height - roof_h, 12.0)


def test_pbf_and_bz2_clip_load_alike(clip: Path, tmp_path: Path) -> None:
    city = load_city(clip, use_cache=False)
    assert 60 <= city.n_buildings and city.roads.number_of_nodes() > 100
    assert 650 <= city.width_m <= 800 and 820 <= city.height_m <= 960  # the clip's bounds, not the source file's
    assert 0.0 < city.default_height_share < 1.0
    osmium = pytest.importorskip("osmium")
    xml = tmp_path / "clip.osm"
    w = osmium.SimpleWriter(str(xml), header=osmium.io.Reader(str(clip)).header())
    for o in osmium.FileProcessor(str(clip)):
        w.add(o)
    w.close()
    bz = tmp_path / "clip.osm.bz2"
    bz.write_bytes(bz2.compress(xml.read_bytes()))
    other = load_city(bz, use_cache=False)
    assert other.n_buildings == city.n_buildings
    np.testing.assert_allclose(np.sort(other.heights), np.sort(city.heights))


def test_cli_builds_a_pbf_city_with_sensible_sites(clip: Path, tmp_path: Path) -> None:
    if not backend.raytracing_available(warn=False):
        pytest.skip(f"Sionna RT cannot run here: {backend.describe_backends()['reason']}")
    from typer.testing import CliRunner

    from mndt_envs.cli import app

    out = tmp_path / "out"
    res = CliRunner().invoke(app, ["twin", "build", "--osm", str(clip), "--rays", "20000", "--cell-size", "20",
                                   "--max-depth", "1", "--json", "--out", str(out)])
    assert res.exit_code == 0, res.output
    s = json.loads((out / "summary.json").read_text())
    assert json.loads(res.stdout[res.stdout.index("{"):]) == s  # --json: the summary on stdout
    w, h = s["area_m"]
    assert s["sites"] == sites_for_area(w, h, 350.0) and s["rays_per_tx"] == 20000
    for key in ("ray_traced_outdoor_pairs", "ray_reached_outdoor_cells", "los_pairs_filled", "speckle_share_10db",
                "rsrp_coverage_outdoor", "time_raytrace_s", "time_geometry_s", "default_height_share"):
        assert key in s, key
    assert not any("Traceback" in n for n in s["notes"])
    city = load_city(clip)
    rows = np.loadtxt(out / "sites.csv", delimiter=",", skiprows=1)
    xy = rows[:: 3, 2:4]
    assert city.inside_building(xy).all()  # on roofs
    d = np.hypot(*(xy[:, None, :] - xy[None, :, :]).transpose(2, 0, 1))[np.triu_indices(len(xy), 1)]
    assert d.min() > 0.3 * 350.0  # spread like a grid of ~350 m, not stacked
    roofs = [max(hh for p, hh in zip(city.buildings, city.heights, strict=True) if p.contains(shapely.Point(x, y)))
             for x, y in xy]
    np.testing.assert_allclose(rows[:: 3, 4], np.asarray(roofs) + 15.0, atol=0.06)
    assert max(roofs) <= 60.0 and math.isfinite(s["rsrp_p50_dbm"])
