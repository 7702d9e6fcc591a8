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


# ---------------------------------------------------------------- item 2: memory guard

_GUARD_SCRIPT = r"""
import json, resource, sys
resource.setrlimit(resource.RLIMIT_AS, (6 * 2**30, 6 * 2**30))  # old code: MemoryError, not a full machine
from mndt_envs.config import ConfigError
from mndt_envs.twin.network import NetworkTwin
out = []
for over in json.loads(sys.argv[1]):
    try:
        NetworkTwin("toy", over)
        out.append("built")
    except ConfigError as e:
        out.append("ConfigError: " + str(e))
    except BaseException as e:
        out.append(type(e).__name__)
print(json.dumps(out))
"""


def test_memory_guard_refuses_before_allocating() -> None:
    import json
    import os
    import subprocess
    import sys

    cases = [{"width_m": 100_000.0, "height_m": 100_000.0}, {"sites": {"n_sites": 100_000}},
             {"users": {"n_users": 10_000_000}}, {"users": {"n_users": 50}}]
    env = dict(os.environ, MNDT_MEMORY_LIMIT="4GiB", OPENBLAS_NUM_THREADS="1", OMP_NUM_THREADS="1")
    r = subprocess.run([sys.executable, "-c", _GUARD_SCRIPT, json.dumps(cases)], capture_output=True, text=True,
                       env=env, timeout=120)
    assert r.returncode == 0, r.stderr[-2000:]
    res = json.loads(r.stdout.strip().splitlines()[-1])
    for msg in res[:3]:
        assert msg.startswith("ConfigError: scenario 'toy' needs an estimated"), msg
        assert "more than the limit of 4.0 GiB" in msg and "MNDT_MEMORY_LIMIT" in msg
    assert "shadowing/LoS fields" in res[0] and "per-link arrays" in res[2]
    assert res[3] == "built"


def test_memory_limit_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    from mndt_envs.config import ConfigError
    from mndt_envs.twin import memory

    monkeypatch.setenv("MNDT_MEMORY_LIMIT", "8GiB")
    assert memory.memory_limit_bytes() == 8 * 2**30
    monkeypatch.setenv("MNDT_MEMORY_LIMIT", "25%")
    assert memory.memory_limit_bytes() == pytest.approx(0.25 * memory.total_ram_bytes(), rel=1e-6)
    monkeypatch.setenv("MNDT_MEMORY_LIMIT", "none")
    assert memory.memory_limit_bytes() == float("inf")
    monkeypatch.setenv("MNDT_MEMORY_LIMIT", "lots")
    with pytest.raises(ConfigError, match="MNDT_MEMORY_LIMIT = 'lots'"):
        memory.memory_limit_bytes()
    monkeypatch.delenv("MNDT_MEMORY_LIMIT")
    assert memory.memory_limit_bytes() == pytest.approx(memory.DEFAULT_SHARE * memory.total_ram_bytes())
    try:
        memory.set_memory_limit("1MiB")
        with pytest.raises(ConfigError, match="limit of 1 MiB"):
            memory.check_memory(memory_cfg())
        with pytest.raises(ConfigError, match="memory limit = -3"):
            memory.set_memory_limit(-3)
    finally:
        memory.set_memory_limit(None)
    memory.check_memory(memory_cfg())  # the toy preset fits the default limit


def memory_cfg():  # type: ignore[no-untyped-def]
    from mndt_envs.config import make_config

    return make_config("toy")


def test_memory_estimate_of_a_large_city_build(monkeypatch: pytest.MonkeyPatch) -> None:
    from mndt_envs.config import ConfigError, make_config
    from mndt_envs.twin.memory import check_memory, estimate_bytes

    monkeypatch.setenv("MNDT_MEMORY_LIMIT", "16GiB")
    # a 20 km bbox at the suite's site density (sites_for_area at 350 m ISD: ~3,800 sites), 10 m map cells
    cfg = make_config("helsinki", {"width_m": 20_000.0, "height_m": 20_000.0, "sites": {"n_sites": 3770}})
    rt = estimate_bytes(cfg.replace({"channel": {"shadow_grid_m": 1000.0}}))  # fallback fields negligible
    assert rt["ray-traced radio maps (transmitters x map cells)"] == 16.0 * 3770 * 2000 * 2000
    assert estimate_bytes(cfg)["total"] >= rt["total"]  # counts the larger of ray tracing and its fallback
    with pytest.raises(ConfigError, match="needs an estimated .* GiB of memory, more than the limit of 16.0 GiB"):
        check_memory(cfg)
    small, big = estimate_bytes(make_config("toy")), estimate_bytes(make_config("toy", {"users": {"n_users": 10**5}}))
    assert big["total"] > small["total"]


# ---------------------------------------------------------------- item 1: the OSM file's bounds on the env path


def _far_osm(path: Path) -> Path:
    """Bounds 35..65 N, 0..10 E (about 3,350 x 910 km); a building and a road in the south-west corner."""
    pts = {1: (35.0010, 0.0010), 2: (35.0010, 0.0015), 3: (35.0014, 0.0015), 4: (35.0014, 0.0010),
           5: (35.0020, 0.0005), 6: (35.0020, 0.0030)}
    nodes = "".join(f'<node id="{i}" lat="{la}" lon="{lo}"/>' for i, (la, lo) in pts.items())
    path.write_text('<?xml version="1.0"?><osm version="0.6"><bounds minlat="35" minlon="0" maxlat="65" maxlon="10"/>'
                    f'{nodes}<way id="9"><nd ref="1"/><nd ref="2"/><nd ref="3"/><nd ref="4"/><nd ref="1"/>'
                    '<tag k="building" v="yes"/><tag k="height" v="20"/></way>'
                    '<way id="10"><nd ref="5"/><nd ref="6"/><tag k="highway" v="residential"/></way></osm>')
    return path


def test_env_refuses_an_osm_file_far_larger_than_the_area(tmp_path: Path) -> None:
    import gymnasium as gym

    import mndt_envs  # noqa: F401
    from mndt_envs.config import ConfigError

    far = _far_osm(tmp_path / "far.osm")
    for _ in range(2):  # the second time the parsed city comes from the cache: still refused
        with pytest.raises(ConfigError, match=r"channel.source = .*far.osm.*3346\.1 km"):
            gym.make("mndt/LoadBalancing-v0", scenario="helsinki", config={"channel": {"source": str(far)}})


def test_twin_build_cli_refuses_before_allocating(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from typer.testing import CliRunner

    from mndt_envs.cli import app
    from mndt_envs.twin import backend

    monkeypatch.setattr(backend, "raytracing_available", lambda warn=True: True)
    monkeypatch.setenv("MNDT_MEMORY_LIMIT", "100MiB")
    osm = _box_osm(tmp_path / "box.osm")
    res = CliRunner().invoke(app, ["twin", "build", "--osm", str(osm), "--out", str(tmp_path / "out")])
    assert res.exit_code == 2, res.output
    text = " ".join(res.output.split())  # rich wraps lines
    assert "needs an estimated" in text and "limit of 100 MiB" in text
    assert not (tmp_path / "out").exists()


def test_memory_guard_names_the_fields_to_change(monkeypatch: pytest.MonkeyPatch) -> None:
    from mndt_envs.config import ConfigError, make_config
    from mndt_envs.twin.memory import check_memory

    monkeypatch.setenv("MNDT_MEMORY_LIMIT", "400MiB")
    with pytest.raises(ConfigError, match=r"sites\.n_small_cells.*channel\.shadow_grid_m"):
        check_memory(make_config("toy", {"sites": {"n_small_cells": 1_000_000}}))  # found by the config fuzz test


def test_cell_sleep_grid_size_is_in_the_memory_estimate(monkeypatch: pytest.MonkeyPatch) -> None:
    # task.grid_m = 1 on toy needed ~1.4 GB and 19 s before the guard; now it is refused before the grids exist
    import gymnasium as gym

    from mndt_envs.config import ConfigError

    monkeypatch.setenv("MNDT_MEMORY_LIMIT", "400MiB")
    with pytest.raises(ConfigError, match=r"task\.grid_m = 1 m"):
        gym.make("mndt/CellSleep-v0", scenario="toy", config={"task": {"grid_m": 1}})
    gym.make("mndt/CellSleep-v0", scenario="toy", config={"task": {"grid_m": 100}})  # the default size fits
