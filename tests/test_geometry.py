"""City geometry from OSM: loading, heights, clipped extracts, bad input, rooftop sites."""

from __future__ import annotations

import math
import warnings
from pathlib import Path

import numpy as np
import pytest

from mndt_envs.config import ConfigError
from mndt_envs.twin.geometry import (
    BUNDLED,
    LEVEL_HEIGHT_M,
    CityGeometry,
    GeometryError,
    _parse_height,
    load_city,
    rooftop_sites,
)

LAT0, LON0 = 60.0, 25.0
M_PER_DEG_LAT = 111_195.0


def _ll(x: float, y: float) -> tuple[float, float]:
    """Local metres → lat, lon near (LAT0, LON0)."""
    return LAT0 + y / M_PER_DEG_LAT, LON0 + x / (M_PER_DEG_LAT * math.cos(math.radians(LAT0)))


def write_osm(path: Path, boxes: list[tuple[float, float, float, float, dict[str, str]]],
              roads: list[list[tuple[float, float]]] | None = None, extent: float = 200.0,
              missing_refs: int = 0) -> Path:
    """Write a small OSM XML file: box buildings (x0, y0, x1, y1, tags) and road polylines [m]."""
    nodes: list[str] = []
    ways: list[str] = []
    nid = 1

    def node(x: float, y: float) -> int:
        nonlocal nid
        lat, lon = _ll(x, y)
        nodes.append(f'  <node id="{nid}" lat="{lat:.8f}" lon="{lon:.8f}"/>')
        nid += 1
        return nid - 1

    wid = 1000
    for x0, y0, x1, y1, tags in boxes:
        ids = [node(x0, y0), node(x1, y0), node(x1, y1), node(x0, y1)]
        nds = "".join(f'<nd ref="{i}"/>' for i in [*ids, ids[0]])
        tg = "".join(f'<tag k="{k}" v="{v}"/>' for k, v in {"building": "yes", **tags}.items())
        ways.append(f'  <way id="{wid}">{nds}{tg}</way>')
        wid += 1
    for line in roads or []:
        ids = [node(x, y) for x, y in line]
        ids += [999_000 + k for k in range(missing_refs)]  # nodes outside the extract
        nds = "".join(f'<nd ref="{i}"/>' for i in ids)
        ways.append(f'  <way id="{wid}">{nds}<tag k="highway" v="residential"/></way>')
        wid += 1
    la0, lo0 = _ll(0, 0)
    la1, lo1 = _ll(extent, extent)
    xml = (
        "<?xml version='1.0' encoding='UTF-8'?>\n<osm version=\"0.6\" generator=\"test\">\n"
        f'  <bounds minlat="{la0:.8f}" minlon="{lo0:.8f}" maxlat="{la1:.8f}" maxlon="{lo1:.8f}"/>\n'
        + "\n".join(nodes + ways) + "\n</osm>\n"
    )
    path.write_text(xml)
    return path


def test_box_city_frame_heights_and_roads(tmp_path: Path) -> None:
    p = write_osm(tmp_path / "c.osm", [
        (50, 60, 90, 100, {"height": "20 m"}),
        (120, 120, 150, 170, {"building:levels": "4"}),
        (10, 150, 30, 180, {}),
    ], roads=[[(0, 20), (100, 20), (190, 20)], [(100, 20), (100, 5)]])
    city = load_city(p, default_height_m=9.0, use_cache=False)
    assert city.n_buildings == 3
    assert city.width_m == pytest.approx(200.0, rel=0.01)
    assert city.height_m == pytest.approx(200.0, rel=0.01)
    assert city.origin_lat == pytest.approx(LAT0, abs=1e-6)
    assert city.origin_lon == pytest.approx(LON0, abs=1e-6)
    b0 = city.buildings[int(np.argmax(city.heights))]
    minx, miny, maxx, maxy = b0.bounds
    assert (minx, miny, maxx, maxy) == pytest.approx((50, 60, 90, 100), abs=0.5)  # x east, y north [m]
    assert sorted(city.heights.tolist()) == pytest.approx([9.0, 4 * LEVEL_HEIGHT_M, 20.0])
    assert city.roads.number_of_nodes() >= 2
    for _, d in city.roads.nodes(data=True):
        assert -1.0 <= d["x"] <= 201.0 and -1.0 <= d["y"] <= 201.0
    assert city.inside_building(np.array([[70.0, 80.0], [5.0, 5.0]])).tolist() == [True, False]
    xy = city.latlon_to_local(np.array([_ll(70, 80)[0]]), np.array([_ll(70, 80)[1]]))
    assert xy[0] == pytest.approx([70.0, 80.0], abs=0.5)


@pytest.mark.parametrize(("tags", "expected"), [
    ({"height": "12.5"}, 12.5),
    ({"height": "30 m"}, 30.0),
    ({"height": "33'"}, 33 * 0.3048),
    ({"height": "abc", "building:levels": "2"}, 6.0),
    ({"building:levels": "5;6"}, 15.0),
    ({}, 7.0),
    ({"height": "0"}, 7.0),
])
def test_height_rules(tags: dict[str, str], expected: float) -> None:
    assert _parse_height(tags, 7.0) == pytest.approx(expected)


def test_clipped_extract_is_repaired_and_counted(tmp_path: Path) -> None:
    p = write_osm(tmp_path / "clip.osm", [(50, 50, 80, 80, {})],
                  roads=[[(0, 20), (100, 20), (190, 20)]], missing_refs=2)
    # a building outline whose ring leaves the extract: dropped
    txt = p.read_text().replace("</osm>", '  <way id="77"><nd ref="1"/><nd ref="424242"/><nd ref="2"/>'
                                '<nd ref="1"/><tag k="building" v="yes"/></way>\n</osm>')
    p.write_text(txt)
    with pytest.warns(UserWarning, match=r"2 ways reference nodes outside the extract; 1 truncated.*1 dropped"):
        city = load_city(p, use_cache=False)
    assert city.n_ways_truncated == 1
    assert city.n_ways_dropped == 1
    assert city.n_buildings == 1
    assert city.roads.number_of_edges() >= 1


def test_no_buildings_gives_ground_only(tmp_path: Path) -> None:
    p = write_osm(tmp_path / "roads.osm", [], roads=[[(0, 50), (150, 50)]])
    city = load_city(p, use_cache=False)
    assert city.n_buildings == 0
    assert city.heights.shape == (0,)
    assert not city.inside_building(np.array([[10.0, 10.0]])).any()
    with pytest.warns(UserWarning, match="no roof"):
        xy, h = rooftop_sites(city, 3, np.random.default_rng(0))
    assert xy.shape == (3, 2) and np.all(h == 0.0)
    assert np.all((xy >= 0) & (xy <= 200.5))


@pytest.mark.parametrize(("content", "match"), [
    (b"", "empty"),
    (b"   \n", "empty"),
    (b"PK\x03\x04 binary junk", "not XML"),
    (b"<?xml version='1.0'?>\n<osm version='0.6'>\n  <node id='1' lat='60' lon='25'/>\n  <way id=", "truncated"),
    (b"<?xml version='1.0'?><html><body/></html>", "expected <osm>"),
    (b"<?xml version='1.0'?><osm version='0.6'></osm>", "no nodes"),
])
def test_bad_files_raise_clear_errors(tmp_path: Path, content: bytes, match: str) -> None:
    p = tmp_path / "bad.osm"
    p.write_bytes(content)
    with pytest.raises(GeometryError, match=match):
        load_city(p, use_cache=False)


def test_missing_pbf_dir_and_unknown_sources(tmp_path: Path) -> None:
    with pytest.raises(GeometryError, match="not found"):
        load_city(tmp_path / "nope.osm")
    with pytest.raises(GeometryError, match="directory"):
        load_city(tmp_path)
    (tmp_path / "x.osm.pbf").write_bytes(b"\x00\x01")
    with pytest.raises(GeometryError, match="PBF"):
        load_city(tmp_path / "x.osm.pbf")
    with pytest.raises(GeometryError, match="unknown bundled city"):
        load_city("bundled:atlantis")
    with pytest.raises(GeometryError, match="source = ''"):
        load_city("")


def test_cache_round_trip(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MNDT_CACHE", str(tmp_path / "cache"))
    p = write_osm(tmp_path / "c.osm", [(50, 60, 90, 100, {"height": "20"})])
    a = load_city(p)
    b = load_city(p)
    assert b.n_buildings == a.n_buildings == 1
    assert b.buildings[0].equals(a.buildings[0])
    # a different default height is a different entry
    c = load_city(p, default_height_m=30.0)
    assert c.heights.tolist() == [20.0]


def test_rooftop_sites_spread_over_roofs(tmp_path: Path) -> None:
    boxes = [(x, y, x + 20, y + 20, {"height": str(10 + x / 10)})
             for x in range(10, 200, 45) for y in range(10, 200, 45)]
    city = load_city(write_osm(tmp_path / "grid.osm", boxes, extent=220.0), use_cache=False)
    xy, h = rooftop_sites(city, 4, np.random.default_rng(1))
    assert xy.shape == (4, 2) and h.shape == (4,)
    assert city.inside_building(xy).all()
    assert len({tuple(np.round(p, 3)) for p in xy}) == 4  # distinct roofs
    d = np.hypot(*(xy[:, None, :] - xy[None, :, :]).transpose(2, 0, 1))
    assert d[np.triu_indices(4, 1)].min() > 40.0  # spread out
    xy2, _ = rooftop_sites(city, 4, np.random.default_rng(1))
    assert np.array_equal(xy, xy2)
    with pytest.raises(GeometryError, match="at least one"):
        rooftop_sites(city, 0, np.random.default_rng(1))


def test_bundled_helsinki() -> None:
    p = BUNDLED["helsinki"]
    assert p.stat().st_size <= 5 * 2**20
    assert "ODbL" in (p.parent / "helsinki.ATTRIBUTION.txt").read_text()
    city = load_city("bundled:helsinki")
    assert isinstance(city, CityGeometry)
    assert 250 <= city.n_buildings <= 400
    assert 950 <= city.width_m <= 1050 and 950 <= city.height_m <= 1050
    assert city.heights.min() > 0 and city.heights.max() < 200
    assert city.roads.number_of_nodes() > 500
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        xy, h = rooftop_sites(city, 6, np.random.default_rng(0))
    assert city.inside_building(xy).all() and (h > 0).all()


def test_munich_tiny(shared_data: Path) -> None:
    city = load_city(shared_data / "osm" / "munich_tiny.osm", use_cache=False)
    assert city.n_buildings >= 30
    assert 150 < city.width_m < 300


def test_helsinki_complete_ways(shared_data: Path) -> None:
    city = load_city(shared_data / "osm" / "helsinki_complete_ways.osm")
    assert city.n_buildings > 350
    assert city.n_ways_dropped == city.n_ways_truncated == 0


def test_sionna_scene_city() -> None:
    from mndt_envs.twin.scene import sionna_scene_names

    if "munich" not in sionna_scene_names():  # never import sionna.rt here: it would pick the system libLLVM
        pytest.skip("sionna-rt (with its built-in scenes) is not installed")
    city = load_city("sionna:munich")
    assert city.n_buildings > 50
    assert city.heights.min() > 1.0
    assert city.roads.number_of_nodes() == 0
    assert city.scene_offset != (0.0, 0.0)
    assert all(b.bounds[0] >= -1.0 and b.bounds[1] >= -1.0 for b in city.buildings)
    with pytest.raises(GeometryError, match="no geographic reference"):
        city.latlon_to_local(np.array([48.1]), np.array([11.5]))


def test_sites_from_csv(tmp_path: Path) -> None:
    from mndt_envs.twin.sites import sites_from_csv

    city = load_city(write_osm(tmp_path / "c.osm", [(50, 60, 90, 100, {})]), use_cache=False)
    la, lo = _ll(70, 80)
    la2, lo2 = _ll(5000, 5000)
    p = tmp_path / "s.csv"
    p.write_text(f"latitude,longitude,height,azimuth\n{la},{lo},30,120\n{la2},{lo2},20,\n")
    with pytest.warns(UserWarning, match="1 of 2 sites lie outside"):
        xy, h, az = sites_from_csv(p, city)
    assert xy[0] == pytest.approx([70.0, 80.0], abs=0.5)
    assert h.tolist() == [30.0] and az.tolist() == [120.0]
    p.write_text(f"lat,lon\n{la2},{lo2}\n")
    with pytest.raises(GeometryError, match="all 1 sites lie outside"):
        sites_from_csv(p, city)
    p.write_text("name,x\na,1\n")
    with pytest.raises(ConfigError, match="missing column"):
        sites_from_csv(p, city)
