"""Hardening (issue 15): the city cache holds data only, the memory guard, the OSM bounds check."""

from __future__ import annotations

import pickle
from pathlib import Path

import numpy as np
import pytest
from test_geometry import write_osm
from test_raytraced import TX, _box_osm, _cells, _cfg, _fake_maps

from mndt_envs.twin.cache import ArtifactCache
from mndt_envs.twin.citystore import city_from_dir, city_from_files, city_to_files
from mndt_envs.twin.geometry import load_city


def _same_city(a, b) -> None:  # type: ignore[no-untyped-def]
    assert len(a.buildings) == len(b.buildings)
    assert all(x.equals_exact(y, 0.0) for x, y in zip(a.buildings, b.buildings, strict=True))
    np.testing.assert_array_equal(a.heights, b.heights)
    assert a.tags == b.tags
    assert list(a.roads.nodes(data=True)) == list(b.roads.nodes(data=True))
    assert list(a.roads.edges(keys=True, data=True)) == list(b.roads.edges(keys=True, data=True))
    assert a.roads.graph == b.roads.graph
    for f in ("width_m", "height_m", "origin_lat", "origin_lon", "crs", "scene_offset", "n_ways_dropped",
              "n_ways_truncated", "source_sha256"):
        assert getattr(a, f) == getattr(b, f), f


def _city_osm(tmp_path: Path) -> Path:
    return write_osm(tmp_path / "c.osm", [(20, 20, 60, 70, {"height": "20", "name": "A"}), (100, 30, 150, 80, {})],
                     roads=[[(0, 100), (100, 100), (190, 110)], [(100, 100), (100, 190)]], missing_refs=0)


def test_city_cache_is_data_only_and_exact(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MNDT_CACHE", str(tmp_path / "cache"))
    p = _city_osm(tmp_path)
    fresh = load_city(p, use_cache=False)

    def no_pickle(*a, **k):  # type: ignore[no-untyped-def]
        raise AssertionError("the city cache must not use pickle")

    monkeypatch.setattr(pickle, "load", no_pickle)
    monkeypatch.setattr(pickle, "loads", no_pickle)
    monkeypatch.setattr(pickle, "dumps", no_pickle)
    miss = load_city(p)
    hit = load_city(p)
    entries = list((tmp_path / "cache" / "city").iterdir())
    entry = next(e for e in entries if not e.name.startswith("."))
    assert sorted(f.name for f in entry.iterdir()) == ["MANIFEST.json", "buildings.npz", "city.json"]
    _same_city(fresh, miss)
    _same_city(fresh, hit)
    assert hit.n_buildings == 2 and len(hit.roads) > 0


def test_city_round_trip_through_files() -> None:
    import networkx as nx
    import shapely

    from mndt_envs.twin.geometry import CityGeometry

    g = nx.MultiDiGraph()
    g.graph.update(crs="x", local_origin_m=(1.5, -2.0), simplified=False)
    g.add_node(7, x=1.0, y=2.0, lon=np.float64(25.0), lat=60.0, highway="traffic_signals")
    g.add_node(3, x=3.0, y=4.0, lon=25.1, lat=60.1)
    g.add_edge(7, 3, key=0, osmid=11, oneway=False, reversed=True, length=np.float64(2.828), name="Main")
    hole = shapely.Polygon([(0, 0), (10, 0), (10, 10), (0, 10)], holes=[[(2, 2), (4, 2), (4, 4), (2, 4)]])
    city = CityGeometry(buildings=[hole], heights=np.array([12.5]), tags=[{"building": "yes"}], roads=g,
                        width_m=100.0, height_m=80.0, origin_lat=float("nan"), origin_lon=float("nan"),
                        scene_offset=(3.0, 4.0))
    files = city_to_files(city)
    back = city_from_files(files["city.json"], files["buildings.npz"])
    assert back.buildings[0].equals_exact(hole, 0.0) and back.roads.graph["local_origin_m"] == (1.5, -2.0)
    assert list(back.roads.edges(keys=True, data=True)) == list(g.edges(keys=True, data=True))
    assert np.isnan(back.origin_lat) and back.scene_offset == (3.0, 4.0)


@pytest.mark.parametrize("damage", ["format", "tags", "offsets", "edge"])
def test_malformed_city_entry_is_a_miss(tmp_path: Path, damage: str) -> None:
    import io
    import json

    p = _city_osm(tmp_path)
    files = city_to_files(load_city(p, use_cache=False))
    doc = json.loads(files["city.json"])
    if damage == "format":
        doc["format"] = "pickle"
    elif damage == "tags":
        doc["tags"] = doc["tags"][:1]
    elif damage == "edge":
        doc["roads"]["edges"].append([123456789, 1, 0, {}])
    else:
        with np.load(io.BytesIO(files["buildings.npz"])) as z:
            arrs = dict(z)
        arrs["offsets"] = arrs["offsets"][:-1]
        buf = io.BytesIO()
        np.savez(buf, **arrs)
        files["buildings.npz"] = buf.getvalue()
    files["city.json"] = json.dumps(doc).encode()
    with pytest.raises(ValueError):
        city_from_files(files["city.json"], files["buildings.npz"])
    c = ArtifactCache(tmp_path / "cache")
    c.put("city", "k", files)  # the manifest matches: only reading can tell
    with pytest.warns(UserWarning, match="corrupt"):
        assert c.load("city", "k", city_from_dir) is None


# ---------------------------------------------------------------- item 12: the cached radio map is the unit


@pytest.fixture
def fake_rt(monkeypatch: pytest.MonkeyPatch) -> None:
    """Radio maps without ray tracing (a plane per transmitter)."""
    from mndt_envs.twin.channel import raytraced

    def build(cfg, tx_xyz, uma, tx_indoor, city, **kw):  # type: ignore[no-untyped-def]
        return _fake_maps(cfg, tx_xyz), {"fallback_share_outdoor": 0.0, "buildings": city.n_buildings}

    monkeypatch.setattr(raytraced, "build_radio_maps", build)


def test_build_summary_carries_the_radio_map_checksum(tmp_path: Path, fake_rt: None) -> None:
    import hashlib

    from mndt_envs.twin.channel.raytraced import RayTracedChannel

    cfg = _cfg(_box_osm(tmp_path / "box.osm"))
    cache = ArtifactCache(tmp_path / "cache")
    cold = RayTracedChannel.from_config(cfg, _cells([TX]), cache=cache)
    warm = RayTracedChannel.from_config(cfg, _cells([TX]), cache=cache)
    entry = cache.get("radiomap", cold.build_summary["cache_key"])
    assert entry is not None
    sha = hashlib.sha256((entry / "maps.npz").read_bytes()).hexdigest()
    assert cold.build_summary["maps_sha256"] == warm.build_summary["maps_sha256"] == sha
    assert warm.build_summary["cached"] is True
    nocache = RayTracedChannel.from_config(cfg, _cells([TX]), use_cache=False)
    assert nocache.build_summary["maps_sha256"] == hashlib.sha256(nocache.maps.to_bytes()).hexdigest()


def test_a_build_that_loses_the_race_uses_the_published_map(tmp_path: Path, fake_rt: None) -> None:
    from mndt_envs.twin.channel.raytraced import RayTracedChannel

    cfg = _cfg(_box_osm(tmp_path / "box.osm"))

    class Raced(ArtifactCache):
        def put(self, kind, key, files, meta=None):  # type: ignore[no-untyped-def, override]
            other = _fake_maps(cfg, np.array([TX]))
            other.pg_db = other.pg_db + np.float32(1e-5)  # another cold build, slightly different (item 12)
            super().put(kind, key, {"maps.npz": other.to_bytes()}, meta={"writer": "other"})
            return super().put(kind, key, files, meta)

    cache = Raced(tmp_path / "cache")
    ch = RayTracedChannel.from_config(cfg, _cells([TX]), cache=cache)
    published = RayTracedChannel.from_config(cfg, _cells([TX]), cache=ArtifactCache(tmp_path / "cache"))
    assert published.build_summary["cached"] is True and published.build_summary["writer"] == "other"
    assert ch.build_summary["maps_sha256"] == published.build_summary["maps_sha256"]
    np.testing.assert_array_equal(ch.maps.pg_db, published.maps.pg_db)


def test_twin_summary_names_the_radio_map(tmp_path: Path, fake_rt: None) -> None:
    from mndt_envs.twin.network import NetworkTwin

    cfg = _cfg(_box_osm(tmp_path / "box.osm")).replace({"users": {"n_users": 5}, "sites": {"n_sites": 1}})
    twin = NetworkTwin(cfg)
    twin.reset(np.random.default_rng(0))
    s = twin.summary()
    assert s["radio_map_sha256"] == twin.channel.build_summary["maps_sha256"]  # type: ignore[attr-defined]
