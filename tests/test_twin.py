from __future__ import annotations

import numpy as np
import pytest

from mndt_envs.config import ConfigError
from mndt_envs.twin import NetworkTwin
from mndt_envs.twin.defaults import StraightLineMobility, UniformDemand
from mndt_envs.twin.protocols import ChannelModel, DemandModel, MobilityModel
from mndt_envs.twin.sites import hex_sites


def test_toy_layout() -> None:
    tw = NetworkTwin("toy")
    assert tw.cells.n == 21 and tw.cells.n_sites == 7
    # hex grid: nearest neighbour distance = ISD
    xy = hex_sites(7, 350.0, (0.0, 0.0))
    d = np.hypot(*(xy[:, None, :] - xy[None, :, :]).transpose(2, 0, 1))
    np.fill_diagonal(d, np.inf)
    assert np.allclose(d.min(axis=1), 350.0)
    assert len({tuple(np.round(p, 6)) for p in xy}) == 7


def test_protocols_are_satisfied() -> None:
    tw = NetworkTwin("toy")
    assert isinstance(tw.channel, ChannelModel)
    assert isinstance(tw.mobility, MobilityModel)
    assert isinstance(tw.demand_model, DemandModel)


def test_same_seed_same_twin_and_rollout() -> None:
    a, b = NetworkTwin("toy"), NetworkTwin("toy")
    ra, rb = np.random.default_rng(5), np.random.default_rng(5)
    a.reset(ra)
    b.reset(rb)
    for _ in range(3):
        a.advance(1.0, ra)
        b.advance(1.0, rb)
    assert np.array_equal(a.gain_db, b.gain_db) and np.array_equal(a.positions, b.positions)
    c = NetworkTwin("toy")
    c.reset(np.random.default_rng(6))
    assert not np.array_equal(a.positions, c.positions)


def test_environment_is_frozen_per_scenario_seed() -> None:
    """The same place sees the same large-scale gain across episodes; another scenario seed differs."""
    a = NetworkTwin("toy", {"channel": {"fading": "none"}})
    xy = np.array([[100.0, 200.0], [700.0, 650.0]])
    indoor = np.zeros(2, dtype=bool)
    g1 = a.channel.gain_db(xy, indoor)
    a.reset(np.random.default_rng(1))
    assert np.array_equal(g1, a.channel.gain_db(xy, indoor))
    b = NetworkTwin("toy", {"seed": 9})
    assert not np.allclose(g1, b.channel.gain_db(xy, indoor))


def test_indoor_users_lose_o2i() -> None:
    tw = NetworkTwin("toy", {"channel": {"fading": "none"}})
    xy = np.array([[300.0, 300.0], [300.0, 300.0]])
    g = tw.channel.gain_db(xy, np.array([False, True]))
    assert np.all(g[:, 1] < g[:, 0] - 5.0)


def test_radio_map_lookup_close_to_exact() -> None:
    tw = NetworkTwin("toy", {"channel": {"los": "los", "shadowing": False}})
    rng = np.random.default_rng(0)
    xy = rng.uniform(50, 950, (300, 2))
    indoor = np.zeros(300, dtype=bool)
    err = np.abs(tw.channel.gain_db(xy, indoor) - tw.channel.link_gain_db(xy, indoor))
    assert np.median(err) < 0.2 and np.percentile(err, 95) < 2.0


def test_gain_falls_with_distance_on_average() -> None:
    tw = NetworkTwin("toy", {"channel": {"fading": "none"}})
    tw.reset(np.random.default_rng(0))
    d = np.hypot(tw.positions[None, :, 0] - tw.cells.x[:, None], tw.positions[None, :, 1] - tw.cells.y[:, None])
    g = tw.large_scale_gain_db
    near, far = g[d < 150].mean(), g[d > 500].mean()
    assert near > far + 15.0


def test_straight_line_mobility_speed_and_bounds() -> None:
    m = StraightLineMobility(500.0, 300.0, (1.0, 2.0))
    rng = np.random.default_rng(0)
    m.reset(rng, 1000)
    p0 = m.positions.copy()
    m.advance(1.0, rng)
    step = np.hypot(*(m.positions - p0).T)
    assert np.all(step <= 2.0 + 1e-9)
    assert np.all((m.positions >= 0) & (m.positions <= [500.0, 300.0]))


def test_uniform_demand_totals() -> None:
    d = UniformDemand(max_bits=1000.0)
    d.reset(np.random.default_rng(0), 5000, horizon_s=20.0)
    assert np.all((d.total >= 0) & (d.total <= 1000.0))
    assert d.total.mean() == pytest.approx(500.0, rel=0.05)
    per_step = sum(d.demand(t, 1.0) for t in range(20))
    assert np.allclose(per_step, d.total)
    assert np.all(d.demand(25.0, 1.0) == 0)


def test_full_buffer_rates_drop_with_load() -> None:
    tw = NetworkTwin("toy")
    tw.reset(np.random.default_rng(0))
    lo = tw.full_buffer_rates(load=np.full(tw.cells.n, 0.1))
    hi = tw.full_buffer_rates(load=np.ones(tw.cells.n))
    assert np.all(hi["sinr"] <= lo["sinr"] + 1e-12) and hi["sinr"].mean() < lo["sinr"].mean()


def test_advance_rejects_bad_dt() -> None:
    tw = NetworkTwin("toy")
    tw.reset(np.random.default_rng(0))
    with pytest.raises(ValueError, match="dt must be > 0"):
        tw.advance(0.0, np.random.default_rng(0))


def test_views_are_read_only() -> None:
    tw = NetworkTwin("toy")
    tw.reset(np.random.default_rng(0))
    with pytest.raises(ValueError):
        tw.gain_db[0, 0] = 1.0


def test_csv_sites_outside_area(tmp_path) -> None:
    p = tmp_path / "sites.csv"
    p.write_text("lat,lon,height,azimuth\n60.0,24.0,20,0\n61.0,25.0,20,120\n")
    with pytest.raises(ConfigError, match="outside"):
        NetworkTwin("toy", {"sites": {"layout": "csv", "csv_path": str(p), "sectors": 1}, "width_m": 100.0})


def test_csv_sites_missing_columns(tmp_path) -> None:
    p = tmp_path / "sites.csv"
    p.write_text("x,y\n1,2\n")
    with pytest.raises(ConfigError, match="missing column"):
        NetworkTwin("toy", {"sites": {"layout": "csv", "csv_path": str(p)}})


def test_csv_sites_real_operator_data(shared_data) -> None:
    src = shared_data / "sites" / "melbourne_optus_sites.csv"
    tw = NetworkTwin("toy", {"sites": {"layout": "csv", "csv_path": str(src), "sectors": 3},
                             "width_m": 3000.0, "height_m": 3000.0, "channel": {"shadow_grid_m": 50.0}})
    assert tw.cells.n % 3 == 0 and tw.cells.n >= 3 * 50
