"""Ray-traced channel: a one-box-building scene, the 38.901 fill, lookup, cache integrity, backend fallback."""

from __future__ import annotations

import math
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mndt_envs.config import ChannelConfig, RadioConfig, ScenarioConfig
from mndt_envs.twin import backend
from mndt_envs.twin.antenna import antenna_gain_db
from mndt_envs.twin.cache import ArtifactCache
from mndt_envs.twin.channel import raytraced
from mndt_envs.twin.channel.raytraced import RadioMaps, RayTracedChannel, mean_o2i_db
from mndt_envs.twin.channel.statistical import pathloss_umi_nlos
from mndt_envs.twin.sites import Cells

LAT0, LON0 = 60.0, 25.0
M_PER_DEG = 111_195.0
TX = (40.0, 100.0, 10.0)  # [m] omni transmitter west of the building
BOX = (90.0, 80.0, 110.0, 120.0)  # [m] x0, y0, x1, y1 of the building, 30 m tall


def _ll(x: float, y: float) -> tuple[float, float]:
    return LAT0 + y / M_PER_DEG, LON0 + x / (M_PER_DEG * math.cos(math.radians(LAT0)))


def _box_osm(path: Path, height: float = 30.0, extent: float = 200.0) -> Path:
    x0, y0, x1, y1 = BOX
    pts = [_ll(x0, y0), _ll(x1, y0), _ll(x1, y1), _ll(x0, y1)]
    nodes = "".join(f'<node id="{i + 1}" lat="{la:.9f}" lon="{lo:.9f}"/>' for i, (la, lo) in enumerate(pts))
    la0, lo0 = _ll(0, 0)
    la1, lo1 = _ll(extent, extent)
    path.write_text(
        f'<?xml version="1.0"?><osm version="0.6"><bounds minlat="{la0:.9f}" minlon="{lo0:.9f}" '
        f'maxlat="{la1:.9f}" maxlon="{lo1:.9f}"/>{nodes}<way id="9"><nd ref="1"/><nd ref="2"/><nd ref="3"/>'
        f'<nd ref="4"/><nd ref="1"/><tag k="building" v="yes"/><tag k="height" v="{height}"/></way></osm>'
    )
    return path


def _empty_osm(path: Path, extent: float) -> Path:
    """An OSM file of open ground (one node, no building) covering ``extent`` x ``extent`` metres."""
    la1, lo1 = _ll(extent, extent)
    path.write_text(f'<?xml version="1.0"?><osm version="0.6"><bounds minlat="{LAT0}" minlon="{LON0}" '
                    f'maxlat="{la1:.9f}" maxlon="{lo1:.9f}"/><node id="1" lat="{LAT0}" lon="{LON0}"/></osm>')
    return path


def _cfg(osm: Path, **channel: Any) -> ScenarioConfig:
    ch = {"model": "raytraced", "source": str(osm), "cell_size_m": 2.0, "samples_per_tx": 300_000, "max_depth": 2,
          "diffraction": True, **channel}
    return ScenarioConfig(width_m=200.0, height_m=200.0, radio=RadioConfig(carrier_ghz=3.5),
                          channel=ChannelConfig(**ch))


def _cells(xyz: list[tuple[float, float, float]], azimuth: float = math.nan) -> Cells:
    a = np.asarray(xyz, dtype=float)
    n = len(a)
    return Cells(x=a[:, 0], y=a[:, 1], height=a[:, 2], azimuth_deg=np.full(n, azimuth), tilt_deg=np.zeros(n),
                 max_power_dbm=np.full(n, 30.0), site=np.arange(n), kind=np.ones(n, dtype=np.int64),
                 indoor=np.zeros(n, dtype=bool), n_rb=np.full(n, 50))


def _need_rt() -> None:
    if not backend.raytracing_available(warn=False):
        pytest.skip(f"Sionna RT cannot run here: {backend.describe_backends()['reason']}")


def _patch(ch: RayTracedChannel, centre: tuple[float, float], half: float = 2.0) -> float:
    g = np.linspace(-half, half, 5)
    xy = np.array([(centre[0] + dx, centre[1] + dy) for dx in g for dy in g])
    return float(np.median(ch.path_gain_db(xy)[0]))


# --------------------------------------------------------------------------- with the ray tracer


def test_shadow_receives_less_than_los_at_same_distance(tmp_path: Path) -> None:
    _need_rt()
    cfg = _cfg(_box_osm(tmp_path / "box.osm"))
    ch = RayTracedChannel.from_config(cfg, _cells([TX]), cache=ArtifactCache(tmp_path / "c"))
    d = 100.0
    shadow = (TX[0] + d, TX[1])  # straight behind the building
    los = (TX[0] + d * math.cos(math.radians(-45)), TX[1] + d * math.sin(math.radians(-45)))
    g_shadow, g_los = _patch(ch, shadow), _patch(ch, los)
    assert g_shadow < g_los - 10.0, (g_shadow, g_los)
    # LoS close to free space at this distance
    d3 = math.hypot(d, TX[2] - cfg.radio.ue_height_m)
    fspl = 20 * math.log10(4 * math.pi * d3 * 3.5e9 / 299_792_458.0)
    assert abs(g_los + fspl) < 6.0
    s = ch.build_summary
    assert s["buildings"] == 1 and s["transmitters"] == 1 and s["grid"] == [100, 100]
    assert 0.0 < s["fill_38901_outdoor_pairs"] < 1.0 and s["cached"] is False
    # warm load from the cache, same maps
    ch2 = RayTracedChannel.from_config(cfg, _cells([TX]), cache=ArtifactCache(tmp_path / "c"))
    assert ch2.build_summary["cached"] is True
    np.testing.assert_array_equal(ch2.maps.pg_db, ch.maps.pg_db)


def test_diffraction_reaches_the_shadow_of_one_box(tmp_path: Path) -> None:
    # a mast above the roof: the ground behind the far roof edge is in the geometric shadow, reached
    # by one roof-edge diffraction only (no reflector behind it); fails when the mesh shares no edges
    _need_rt()
    tx = [(TX[0], TX[1], 40.0)]
    reached = {}
    for diff in (False, True):
        cfg = _cfg(_box_osm(tmp_path / "box.osm"), cell_size_m=4.0, max_depth=1, diffraction=diff,
                   samples_per_tx=50_000)
        m = RayTracedChannel.from_config(cfg, _cells(tx), use_cache=False).maps
        xc, yc = m.cell_centres()
        gx, gy = np.meshgrid(xc, yc)
        shadow = (gx > BOX[2] + 5) & (gx < 190) & (np.abs(gy - 100) < 12)
        reached[diff] = m.reached[0][shadow].mean()
    assert reached[False] == 0.0
    assert reached[True] > 0.8


def test_diffraction_reaches_more_cells_on_the_bundled_city() -> None:
    _need_rt()
    from mndt_envs.config import make_config
    from mndt_envs.twin.geometry import load_city

    cfg0 = make_config("helsinki")
    city = load_city(cfg0.channel.source, cfg0)
    i = int(np.argmax(city.heights * (np.asarray([p.area for p in city.buildings]) > 300)))
    p = city.buildings[i].representative_point()
    tx = [(p.x, p.y, float(city.heights[i]) + 15.0)]
    n = {}
    for diff in (False, True):
        cfg = cfg0.replace({"channel": {"cell_size_m": 20.0, "samples_per_tx": 100_000, "max_depth": 1,
                                        "diffraction": diff}})
        m = RayTracedChannel.from_config(cfg, _cells(tx), city=city, use_cache=False).maps
        n[diff] = int((m.reached[0] & ~m.indoor).sum())
    assert n[True] > 1.1 * n[False], n


def test_unreached_cells_get_38901_nlos_and_o2i(tmp_path: Path) -> None:
    _need_rt()
    cfg = _cfg(_box_osm(tmp_path / "box.osm"), max_depth=0, diffraction=False, samples_per_tx=200_000)
    ch = RayTracedChannel.from_config(cfg, _cells([TX]), use_cache=False)
    m = ch.maps
    xc, yc = m.cell_centres()
    iy, ix = int(np.searchsorted(yc, 101.0)), int(np.searchsorted(xc, 160.0))  # in the shadow
    assert not m.reached[0, iy, ix]
    d = math.hypot(xc[ix] - TX[0], yc[iy] - TX[1])
    assert m.pg_db[0, iy, ix] == pytest.approx(-float(pathloss_umi_nlos(np.array(d), TX[2], 1.5, 3.5)), abs=1e-3)
    # inside the building: NLoS + O2I
    iy, ix = int(np.searchsorted(yc, 100.0)), int(np.searchsorted(xc, 100.0))
    assert m.indoor[iy, ix] and not m.reached[0, iy, ix]
    d = math.hypot(xc[ix] - TX[0], yc[iy] - TX[1])
    expected = -float(pathloss_umi_nlos(np.array(d), TX[2], 1.5, 3.5)) - mean_o2i_db(3.5, "low")
    assert m.pg_db[0, iy, ix] == pytest.approx(expected, abs=1e-3)
    assert np.all(np.isfinite(m.pg_db)) and np.all(m.pg_db < 0)
    s = ch.build_summary
    assert s["fill_38901_pairs"] > 0
    assert s["fill_38901_pairs"] + s["smoothed_pairs"] == int((~m.reached).sum())
    assert s["los_pairs_given_nlos"] == 0 and "ray-traced" in s["note"]


def test_monte_carlo_holes_filled_from_neighbours() -> None:
    pg = np.full((1, 5, 5), 1e-8)
    reached = np.ones((1, 5, 5), bool)
    reached[0, 2, 2] = False  # a hole in the open
    reached[0, 0, 4] = False  # a corner: only 3 neighbours
    reached[0, 4, 0] = False
    reached[0, 3, 0] = False
    pg[~reached] = 0.0
    indoor = np.zeros((5, 5), bool)
    out, interp = raytraced._fill_monte_carlo_holes(pg, reached, indoor)
    assert interp[0, 2, 2] and out[0, 2, 2] == pytest.approx(1e-8)
    assert not interp[0, 0, 4] and not interp[0, 4, 0] and out[0, 4, 0] == 0.0
    indoor[2, 2] = True  # inside a building: keep the 38.901 NLoS + O2I fill
    _, interp = raytraced._fill_monte_carlo_holes(pg, reached, indoor)
    assert not interp.any()


def test_ground_only_scene_is_all_los(tmp_path: Path) -> None:
    _need_rt()
    p = _empty_osm(tmp_path / "empty.osm", 200.0)
    cfg = _cfg(p, cell_size_m=10.0, max_depth=1, samples_per_tx=200_000)
    ch = RayTracedChannel.from_config(cfg, _cells([(100.0, 100.0, 15.0)]), use_cache=False)
    assert ch.build_summary["buildings"] == 0
    assert ch.build_summary["ray_traced_outdoor_pairs"] > 0.95


def test_unreached_line_of_sight_cells_are_not_given_nlos(tmp_path: Path) -> None:
    # open ground and too few rays: the far cells get no ray, yet every one of them has line of sight
    _need_rt()
    p = _empty_osm(tmp_path / "empty.osm", 400.0)
    cfg = _cfg(p, cell_size_m=10.0, max_depth=0, samples_per_tx=3_000).replace({"width_m": 400.0, "height_m": 400.0})
    ch = RayTracedChannel.from_config(cfg, _cells([(200.0, 200.0, 20.0)]), use_cache=False)
    m = ch.maps
    xc, yc = m.cell_centres()
    gx, gy = np.meshgrid(xc, yc)
    d = np.hypot(gx - 200.0, gy - 200.0)
    miss = ~m.reached[0] & (d > 100.0)
    assert miss.sum() > 100  # the test needs unreached far cells
    nlos = -pathloss_umi_nlos(d[miss], 20.0, 1.5, 3.5)
    assert np.all(m.pg_db[0][miss] > nlos + 10.0)  # LoS level, not the NLoS formula
    assert ch.build_summary["los_pairs_given_nlos"] == 0 and ch.build_summary["los_pairs_filled"] > 0.1


# --------------------------------------------------------------------------- without the ray tracer


def _fake_maps(cfg: ScenarioConfig, tx_xyz: np.ndarray, ramp: bool = True) -> RadioMaps:
    cs = cfg.channel.cell_size_m
    nx, ny = int(cfg.width_m / cs), int(cfg.height_m / cs)
    xc = (np.arange(nx) + 0.5) * cs
    yc = (np.arange(ny) + 0.5) * cs
    gx, gy = np.meshgrid(xc, yc)
    pg = np.stack([-60.0 - 0.1 * gx - 0.05 * gy - 3.0 * i for i in range(len(tx_xyz))]).astype(np.float32)
    indoor = (gx > BOX[0]) & (gx < BOX[2]) & (gy > BOX[1]) & (gy < BOX[3])
    return RadioMaps(pg_db=pg, reached=np.ones(pg.shape, bool), indoor=indoor, x0=cs / 2, y0=cs / 2, cell_size=cs,
                     tx_xyz=tx_xyz)


@pytest.fixture
def fake_build(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    calls: list[int] = []

    def build(cfg: ScenarioConfig, tx_xyz: np.ndarray, uma: np.ndarray, tx_indoor: np.ndarray, city: Any,
              **kw: Any) -> tuple[RadioMaps, dict[str, Any]]:
        calls.append(len(tx_xyz))
        return _fake_maps(cfg, tx_xyz), {"fallback_share_outdoor": 0.0, "buildings": city.n_buildings}

    monkeypatch.setattr(raytraced, "build_radio_maps", build)
    return calls


def test_lookup_is_bilinear_and_gain_adds_antenna_and_o2i(tmp_path: Path, fake_build: list[int]) -> None:
    cfg = _cfg(_box_osm(tmp_path / "box.osm"))
    cells = _cells([(40.0, 100.0, 25.0)] * 3)
    cells.azimuth_deg = np.array([0.0, 120.0, 240.0])
    ch = RayTracedChannel.from_config(cfg, cells, use_cache=False)
    assert fake_build == [1]  # three sectors share one ray-traced map
    rng = np.random.default_rng(0)
    xy = rng.uniform(1.0, 199.0, (500, 2))
    pg = ch.path_gain_db(xy)
    np.testing.assert_allclose(pg[0], -60.0 - 0.1 * xy[:, 0] - 0.05 * xy[:, 1], atol=1e-3)  # a plane is exact
    # at grid points the gain is path gain + 38.901 sector pattern
    xc, yc = ch.maps.cell_centres()
    pts = np.array([(xc[i], yc[j]) for i in range(0, len(xc), 7) for j in range(0, len(yc), 9)])
    g = ch.gain_db(pts, np.zeros(len(pts), bool))
    assert g.shape == (3, len(pts)) and g.dtype == np.float32
    ant = antenna_gain_db(np.stack([cells.x, cells.y, cells.height], 1), cells.azimuth_deg, cells.tilt_deg,
                          np.column_stack([pts, np.full(len(pts), 1.5)]))
    np.testing.assert_allclose(g, ch.path_gain_db(pts) + ant, atol=1e-3)
    # indoor users: O2I where the map cell is outdoor, nothing extra inside buildings (already in the map)
    xy2 = np.array([[20.0, 20.0], [100.0, 100.0]])
    out = ch.gain_db(xy2, np.array([False, False]))
    ind = ch.gain_db(xy2, np.array([True, True]))
    np.testing.assert_allclose(out[:, 0] - ind[:, 0], mean_o2i_db(3.5, "low"), atol=1e-4)
    np.testing.assert_allclose(out[:, 1], ind[:, 1])


def test_cache_trusts_only_complete_verified_entries(tmp_path: Path, fake_build: list[int]) -> None:
    cfg = _cfg(_box_osm(tmp_path / "box.osm"))
    cache = ArtifactCache(tmp_path / "cache")
    cells = _cells([TX])
    a = RayTracedChannel.from_config(cfg, cells, cache=cache)
    b = RayTracedChannel.from_config(cfg, cells, cache=cache)
    assert fake_build == [1] and b.build_summary["cached"] is True
    entry = cache.get("radiomap", a.build_summary["cache_key"])
    assert entry is not None
    # corrupted file: not trusted, rebuilt
    data = bytearray((entry / "maps.npz").read_bytes())
    data[len(data) // 2] ^= 0xFF
    (entry / "maps.npz").write_bytes(bytes(data))
    with pytest.warns(UserWarning, match="corrupt"):
        c = RayTracedChannel.from_config(cfg, cells, cache=cache)
    assert fake_build == [1, 1] and c.build_summary["cached"] is False
    # partial entry (killed before its manifest was written): not trusted
    entry = cache.path("radiomap", c.build_summary["cache_key"])
    (entry / "MANIFEST.json").unlink()
    d = RayTracedChannel.from_config(cfg, cells, cache=cache)
    assert fake_build == [1, 1, 1] and d.build_summary["cached"] is False
    # truncated maps file with its manifest: size mismatch, not trusted
    entry = cache.path("radiomap", d.build_summary["cache_key"])
    (entry / "maps.npz").write_bytes((entry / "maps.npz").read_bytes()[:100])
    with pytest.warns(UserWarning, match="corrupt"):
        RayTracedChannel.from_config(cfg, cells, cache=cache)
    assert fake_build == [1, 1, 1, 1]


def test_build_interrupted_leaves_no_entry(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    cfg = _cfg(_box_osm(tmp_path / "box.osm"))
    cache = ArtifactCache(tmp_path / "cache")

    def killed(*a: Any, **k: Any) -> Any:
        raise KeyboardInterrupt

    monkeypatch.setattr(raytraced, "build_radio_maps", killed)
    with pytest.raises(KeyboardInterrupt):
        RayTracedChannel.from_config(cfg, _cells([TX]), cache=cache)
    root = tmp_path / "cache" / "radiomap"
    assert not root.exists() or not any((p / "MANIFEST.json").exists() for p in root.iterdir())


def test_cache_key_changes_with_inputs(tmp_path: Path, fake_build: list[int]) -> None:
    osm = _box_osm(tmp_path / "box.osm")
    cache = ArtifactCache(tmp_path / "cache")
    RayTracedChannel.from_config(_cfg(osm), _cells([TX]), cache=cache)
    RayTracedChannel.from_config(_cfg(osm, max_depth=3), _cells([TX]), cache=cache)
    RayTracedChannel.from_config(_cfg(osm), _cells([(41.0, 100.0, 10.0)]), cache=cache)
    _box_osm(osm, height=31.0)  # the file changed
    RayTracedChannel.from_config(_cfg(osm), _cells([TX]), cache=cache)
    RayTracedChannel.from_config(_cfg(osm), _cells([TX]), cache=cache)
    assert len(fake_build) == 4


def test_bad_cell_size_and_carrier(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="cell_size_m"):
        _cfg(_box_osm(tmp_path / "box.osm"), cell_size_m=0.0)
    with pytest.raises(ValueError, match="1-100 GHz"):
        raytraced._materials_for(0.7)


# --------------------------------------------------------------------------- backend


def test_fallback_to_statistical_warns_once(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    from mndt_envs.twin.channel import make_channel
    from mndt_envs.twin.channel.statistical import StatisticalChannel

    info = backend.BackendInfo(None, None, None, False, None, False, "no GPU and no libLLVM >= 16 (test)")
    monkeypatch.setattr(backend, "_INFO", info)
    monkeypatch.setattr(backend, "_WARNED", False)
    cfg = _cfg(_box_osm(tmp_path / "box.osm"))
    with warnings.catch_warnings(record=True) as rec:
        warnings.simplefilter("always")
        a = make_channel(cfg, _cells([TX]), np.random.default_rng(0))
        b = make_channel(cfg, _cells([TX]), np.random.default_rng(0))
    assert isinstance(a, StatisticalChannel) and isinstance(b, StatisticalChannel)
    msgs = [str(w.message) for w in rec if "statistical" in str(w.message)]
    assert len(msgs) == 1 and "libLLVM" in msgs[0]
    assert backend.describe_backends()["raytracing"] is False


def test_find_libllvm_honours_user_path(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    good = tmp_path / "libLLVM-17.so"
    good.write_bytes(b"\0")
    monkeypatch.setenv("DRJIT_LIBLLVM_PATH", str(good))
    assert backend.find_libllvm() == (str(good), 17, "DRJIT_LIBLLVM_PATH")
    old = tmp_path / "libLLVM-14.so.1"
    old.write_bytes(b"\0")
    monkeypatch.setenv("DRJIT_LIBLLVM_PATH", str(old))
    with pytest.warns(UserWarning, match="LLVM 14"):
        path, ver, src = backend.find_libllvm()
    assert path != str(old) and (ver is None or ver >= backend.MIN_LLVM_VERSION)
    assert backend._llvm_version("libLLVM.so.23.1") == 23
    assert backend._llvm_version("/usr/lib/llvm-15/lib/libLLVM-15.so") == 15


def test_many_transmitters_are_batched(tmp_path: Path) -> None:
    _need_rt()
    p = _empty_osm(tmp_path / "empty.osm", 200.0)
    cfg = _cfg(p, cell_size_m=10.0, max_depth=0, diffraction=False, samples_per_tx=50_000)
    xyz = [(15.0 + 10.0 * (i % 17), 25.0 + 150.0 * (i // 17), 10.0) for i in range(raytraced._TX_BATCH + 3)]
    ch = RayTracedChannel.from_config(cfg, _cells(xyz), use_cache=False)
    m = ch.maps
    assert m.pg_db.shape == (len(xyz), 20, 20)
    np.testing.assert_allclose(m.tx_xyz[ch.cell_to_tx], np.asarray(xyz))
    xc, yc = m.cell_centres()
    assert sorted(map(tuple, m.tx_xyz.tolist())) == sorted(xyz)
    for i, (x, y, _) in enumerate(m.tx_xyz):  # every map peaks at its own transmitter
        iy, ix = np.unravel_index(np.argmax(m.pg_db[i]), m.shape)
        assert abs(xc[ix] - x) <= 10.0 and abs(yc[iy] - y) <= 10.0, i


def test_transmitter_inside_building_is_reported(tmp_path: Path) -> None:
    _need_rt()
    cfg = _cfg(_box_osm(tmp_path / "box.osm"), cell_size_m=10.0, max_depth=1, diffraction=False,
               samples_per_tx=20_000)
    with pytest.warns(UserWarning, match="inside a building footprint"):
        ch = RayTracedChannel.from_config(cfg, _cells([(100.0, 100.0, 10.0)]), use_cache=False)
    assert ch.build_summary["ray_traced_outdoor_pairs"] < 0.1
    assert ch.build_summary["buried_transmitters"] == [0]
    assert np.all(np.isfinite(ch.maps.pg_db))


# --------------------------------------------------------------------------- fill and sizing (numpy, no Sionna)


def _box_raster(height: float = 30.0, res: float = 2.0) -> raytraced.HeightRaster:
    from shapely.geometry import box

    from mndt_envs.twin.geometry import CityGeometry

    city = CityGeometry(buildings=[box(*BOX)], heights=np.array([height]), tags=[{"building": "yes"}],
                        roads=None, width_m=200.0, height_m=200.0, origin_lat=LAT0, origin_lon=LON0)  # type: ignore[arg-type]
    return raytraced.HeightRaster.from_city(city, 200.0, 200.0, res)


def test_geometric_los_of_one_box() -> None:
    r = _box_raster()
    pts = np.array([[160.0, 100.0], [160.0, 20.0], [60.0, 100.0], [112.0, 100.0], [100.0, 130.0]])
    los = raytraced.geometric_los(np.array([TX]), pts, 1.5, r)[0]
    assert los.tolist() == [False, True, True, False, True]
    # a mast above the roof sees the street behind the building only far enough away
    high = raytraced.geometric_los(np.array([(TX[0], TX[1], 40.0)]), np.array([[115.0, 100.0], [195.0, 100.0]]),
                                   1.5, r)[0]
    assert high.tolist() == [False, False]
    assert raytraced.geometric_los(np.array([(TX[0], TX[1], 400.0)]), np.array([[195.0, 100.0]]), 1.5, r)[0, 0]


@settings(max_examples=30, deadline=None)
@given(st.floats(0.0, 200.0), st.floats(0.0, 200.0), st.floats(2.0, 60.0), st.floats(0.0, 40.0))
def test_geometric_los_never_lost_by_raising_the_mast(x: float, y: float, z: float, dz: float) -> None:
    r = _box_raster()
    pts = np.stack(np.meshgrid(np.arange(2.5, 200, 15.0), np.arange(2.5, 200, 15.0)), -1).reshape(-1, 2)
    low = raytraced.geometric_los(np.array([(x, y, z)]), pts, 1.5, r)[0]
    high = raytraced.geometric_los(np.array([(x, y, z + dz)]), pts, 1.5, r)[0]
    assert np.all(high[low])
    empty = raytraced.HeightRaster(h=np.zeros_like(r.h), res=r.res)
    assert raytraced.geometric_los(np.array([(x, y, z)]), pts, 1.5, empty).all()


def test_fill_uses_geometry_for_los_and_nlos_and_smooths_holes_in_linear_power() -> None:
    from mndt_envs.twin.channel.statistical import pathloss_umi_los

    cs, ny, nx = 10.0, 6, 8
    tx = np.array([[5.0, 5.0, 10.0]])
    pg = np.full((1, ny, nx), 1e-9)
    pg[0, 2, 2] = 0.0  # a hole among reached LoS neighbours
    pg[0, 1:4, 1] = [1e-9, 4e-9, 1e-9]
    pg[0, :, 6:] = 0.0  # unreached columns, geometric LoS in rows < 3, NLoS below
    indoor = np.zeros((ny, nx), bool)
    indoor[5, 7] = True
    los = np.ones((1, ny, nx), bool)
    los[0, 3:, 6:] = False
    o2i = mean_o2i_db(3.5)
    pg_db, masks = raytraced.fill_radio_maps(pg, tx_xyz=tx, uma=np.array([False]), tx_indoor=np.array([False]),
                                             indoor=indoor, los=los, cell_size=cs, fc_ghz=3.5, h_ut=1.5, o2i_db=o2i,
                                             local_mean=False)
    neigh = [pg[0, 2 + dy, 2 + dx] for dy in (-1, 0, 1) for dx in (-1, 0, 1) if (dy, dx) != (0, 0)]
    assert masks["smoothed"][0, 2, 2]
    assert 10 ** (pg_db[0, 2, 2] / 10) == pytest.approx(np.mean(neigh), rel=1e-4)  # linear mean, not dB mean
    reached = masks["reached"][0]
    np.testing.assert_allclose(pg_db[0][reached], 10 * np.log10(pg[0][reached]), rtol=1e-5)

    def d(iy: int, ix: int) -> np.ndarray:
        return np.array(math.hypot((ix + 0.5) * cs - 5.0, (iy + 0.5) * cs - 5.0))

    assert masks["filled_los"][0, 0, 7] and pg_db[0, 0, 7] == pytest.approx(-pathloss_umi_los(d(0, 7), 10.0, 1.5, 3.5),
                                                                           abs=1e-3)
    assert masks["filled_nlos"][0, 4, 7] and pg_db[0, 4, 7] == pytest.approx(
        -pathloss_umi_nlos(d(4, 7), 10.0, 1.5, 3.5), abs=1e-3)
    assert pg_db[0, 5, 7] == pytest.approx(-pathloss_umi_nlos(d(5, 7), 10.0, 1.5, 3.5) - o2i, abs=1e-3)
    assert not (masks["filled_nlos"] & los & ~indoor[None]).any()  # no LoS pair gets an NLoS value
    f = raytraced.map_figures(pg_db, masks, indoor, los)
    assert f["los_pairs_given_nlos"] == 0
    assert f["ray_traced_outdoor_pairs"] == pytest.approx(reached[~indoor].mean())
    assert f["ray_reached_outdoor_cells"] == pytest.approx(reached[~indoor].mean())
    assert 0 < f["los_pairs_filled"] < 1


def test_speckle_share_counts_neighbour_jumps() -> None:
    best = np.zeros((4, 4))
    outdoor = np.ones((4, 4), bool)
    assert raytraced.speckle_share(best, outdoor) == 0.0
    best[1, 1] = -20.0  # 4 of the 24 neighbour pairs jump
    assert raytraced.speckle_share(best, outdoor) == pytest.approx(4 / 24)
    outdoor[1, 1] = False
    assert raytraced.speckle_share(best, outdoor) == 0.0


def test_ray_budget_and_cell_size_rules() -> None:
    cfg = ScenarioConfig(width_m=1000.0, height_m=1000.0, channel=ChannelConfig(model="raytraced", source="x.osm"))
    assert raytraced.cell_size_for(cfg) == raytraced.DEFAULT_CELL_SIZE_M
    big = cfg.replace({"width_m": 2000.0})
    assert raytraced.cell_size_for(big) == raytraced.LARGE_AREA_CELL_SIZE_M
    assert raytraced.rays_for(cfg) == raytraced.ray_budget(1000.0, 1000.0, 5.0)
    n1, n2 = raytraced.ray_budget(1000.0, 1000.0, 10.0), raytraced.ray_budget(1000.0, 1000.0, 5.0)
    assert raytraced.MIN_RAYS <= n1 < n2 <= raytraced.MAX_RAYS
    assert n2 == pytest.approx(4 * n1, rel=0.05) or n2 == raytraced.MAX_RAYS or n1 == raytraced.MIN_RAYS
    assert raytraced.ray_budget(100_000.0, 100_000.0, 1.0) == raytraced.MAX_RAYS
    over = cfg.replace({"channel": {"samples_per_tx": 1234, "cell_size_m": 7.0}})
    assert raytraced.rays_for(over) == 1234 and raytraced.cell_size_for(over) == 7.0


def test_local_mean_removes_ray_noise_but_keeps_the_shadow_edge() -> None:
    rng = np.random.default_rng(0)
    ny, nx = 20, 20
    tx = np.array([[5.0, 5.0, 10.0]])
    los = np.ones((1, ny, nx), bool)
    los[0, :, 10:] = False  # the right half is in a shadow, 30 dB down
    mean_db = np.where(los[0], -80.0, -110.0)
    pg = 10 ** ((mean_db + rng.normal(0.0, 6.0, (ny, nx))) / 10)[None]  # Monte-Carlo noise
    kw: dict[str, Any] = {"tx_xyz": tx, "uma": np.array([False]), "tx_indoor": np.array([False]),
                          "indoor": np.zeros((ny, nx), bool), "los": los, "cell_size": 5.0, "fc_ghz": 3.5,
                          "h_ut": 1.5, "o2i_db": 10.0}
    raw, _ = raytraced.fill_radio_maps(pg, local_mean=False, **kw)
    sm, _ = raytraced.fill_radio_maps(pg, **kw)
    outdoor = np.ones((ny, nx), bool)
    assert raytraced.speckle_share(sm[0], outdoor) < 0.5 * raytraced.speckle_share(raw[0], outdoor)
    assert np.std(sm[0, :, 2:8] - raw[0, :, 2:8].mean()) < np.std(raw[0, :, 2:8])
    # the columns beside the edge keep their class's level (no averaging across the shadow boundary)
    assert np.median(sm[0, :, 9]) > -90.0 and np.median(sm[0, :, 10]) < -100.0
