from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from mndt_envs.twin import radio

gains_db = arrays(np.float64, st.tuples(st.integers(1, 6), st.integers(1, 12)), elements=st.floats(-150.0, -50.0))


@settings(max_examples=50, deadline=None)
@given(g=gains_db, p=st.floats(-10.0, 40.0))
def test_rsrp_is_reference_power_plus_gain(g: np.ndarray, p: float) -> None:
    ref = np.full(g.shape[0], p)
    assert np.allclose(radio.rsrp_dbm(ref, g.astype(np.float32)), p + g, atol=1e-3)


@settings(max_examples=50, deadline=None)
@given(g=gains_db, data=st.data())
def test_sinr_never_exceeds_snr(g: np.ndarray, data: st.DataObject) -> None:
    n_cells, n_users = g.shape
    n_rb = 4
    gl = 10 ** (g / 10)
    power = data.draw(arrays(np.float64, (n_cells, n_rb), elements=st.floats(0.0, 10.0)))
    serving = data.draw(arrays(np.int64, n_users, elements=st.integers(-1, n_cells - 1)))
    rb = data.draw(arrays(np.int64, n_users, elements=st.integers(-1, n_rb - 1)))
    noise = 1e-13
    sinr = radio.sinr_allocated(gl, power, serving, rb, noise)
    users = np.arange(n_users)
    ok = (serving >= 0) & (rb >= 0)
    snr = np.where(ok, power[np.maximum(serving, 0), np.maximum(rb, 0)] * gl[np.maximum(serving, 0), users] / noise, 0)
    assert np.all(sinr <= snr * (1 + 1e-9) + 1e-12)
    assert np.all(sinr[~ok] == 0) and np.all(sinr >= 0)
    # silencing every other cell turns SINR into SNR
    alone = np.zeros_like(power)
    for u in np.flatnonzero(ok)[:1]:
        alone[serving[u], rb[u]] = power[serving[u], rb[u]]
        assert radio.sinr_allocated(gl, alone, serving, rb, noise)[u] == pytest.approx(snr[u], rel=1e-9)


def test_sinr_interference_by_hand() -> None:
    g = np.array([[1e-9, 1e-10], [1e-10, 1e-9]])  # 2 cells x 2 users
    p = np.array([[1.0, 0.0], [1.0, 0.0]])  # both cells on RB 0
    s = radio.sinr_allocated(g, p, np.array([0, 1]), np.array([0, 0]), 1e-12)
    assert s[0] == pytest.approx(1e-9 / (1e-10 + 1e-12))
    p2 = np.array([[1.0, 0.0], [0.0, 1.0]])  # orthogonal RBs: no interference
    s2 = radio.sinr_allocated(g, p2, np.array([0, 1]), np.array([0, 1]), 1e-12)
    assert s2[0] == pytest.approx(1e-9 / 1e-12)


@settings(max_examples=50, deadline=None)
@given(used=arrays(np.float64, 5, elements=st.floats(0, 1000)), total=st.integers(1, 300))
def test_prb_utilisation_within_capacity(used: np.ndarray, total: int) -> None:
    b = radio.prb_utilisation(used, np.full(5, total))
    assert np.all((b >= 0) & (b <= 1))
    assert np.allclose(b[used <= total], used[used <= total] / total)


@settings(max_examples=50, deadline=None)
@given(loads=arrays(np.float64, 6, elements=st.floats(0.0, 1.0)), kind=st.sampled_from(["macro", "micro", "pico"]))
def test_earth_power_nonnegative_and_monotone_in_load(loads: np.ndarray, kind: str) -> None:
    from mndt_envs.twin.sites import POWER_MODEL

    pmax, p0, dp, psleep = POWER_MODEL[kind]
    n = len(loads)
    args = (np.full(n, p0), np.full(n, dp), np.full(n, psleep), np.full(n, pmax))
    order = np.argsort(loads)
    p_on = radio.earth_power_w(loads[order] * pmax, np.zeros(n, int), *args)
    assert np.all(p_on >= 0) and np.all(np.diff(p_on) >= -1e-12)
    assert np.all(p_on >= p0) and np.all(p_on <= p0 + dp * pmax + 1e-9)
    p_sleep = radio.earth_power_w(loads * pmax, np.ones(n, int), *args)
    p_off = radio.earth_power_w(loads * pmax, np.full(n, 2), *args)
    assert np.all(p_sleep == psleep) and np.all(p_off == 0)
    assert np.all(p_off <= p_sleep) and np.all(p_sleep <= p_on.min())


def test_site_power_bbu_and_aircon() -> None:
    cell_p = np.array([100.0, 50.0, 0.0, 0.0])
    state = np.array([0, 1, 2, 2])
    site = np.array([0, 0, 1, 1])
    p = radio.site_power_w(cell_p, state, site, 2, bbu_w=100.0, aircon_factor=0.1)
    assert p[0] == pytest.approx((150 + 100) * 1.1)
    assert p[1] == 0.0  # all cells off: no BBU


def test_best_server_respects_active_mask() -> None:
    rsrp = np.array([[-60.0, -90.0], [-70.0, -80.0]])
    s, b = radio.best_server(rsrp)
    assert list(s) == [0, 1] and list(b) == [-60.0, -80.0]
    s, b = radio.best_server(rsrp, np.array([False, True]))
    assert list(s) == [1, 1] and list(b) == [-70.0, -80.0]
    s, b = radio.best_server(rsrp, np.array([False, False]))
    assert list(s) == [-1, -1] and np.all(np.isinf(b))


@settings(max_examples=30, deadline=None)
@given(seed=st.integers(0, 2**31), n_cells=st.integers(2, 15), k=st.integers(1, 8))
def test_measurement_reports(seed: int, n_cells: int, k: int) -> None:
    rng = np.random.default_rng(seed)
    rsrp = rng.uniform(-170, -40, (n_cells, 30)).astype(np.float32)
    serving, _ = radio.best_server(rsrp)
    ids, vals = radio.measurement_reports(rsrp, serving, k, 2.0, rng)
    kk = min(k, n_cells)
    assert ids.shape == vals.shape == (30, kk)
    present = ids >= 0
    assert np.all(np.isnan(vals[~present]))
    v = vals[present]
    assert np.all((v >= radio.RSRP_MIN_DBM) & (v <= radio.RSRP_MAX_DBM)) and np.all(v == np.round(v))
    # the serving cell is reported first whenever it is detectable
    assert np.all(ids[present[:, 0], 0] == serving[present[:, 0]])
    # the remaining entries are distinct cells in decreasing order
    for row_ids, row_v in zip(ids, vals):
        rest = row_ids[1:][row_ids[1:] >= 0]
        assert len(set(rest)) == len(rest) and row_ids[0] not in rest
        rv = row_v[1:][row_ids[1:] >= 0]
        assert np.all(np.diff(rv) <= 0)


def test_coverage_rate() -> None:
    assert radio.coverage_rate(np.array([-100.0, -110.0, -104.0, -105.0]), -105.0) == 0.75


def test_shannon() -> None:
    assert radio.shannon_rate(np.array([1.0, 3.0]), 180e3) == pytest.approx([180e3, 360e3])
