from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mndt_envs.twin.antenna import antenna_gain_db
from mndt_envs.twin.channel.fading import Fading
from mndt_envs.twin.channel.statistical import (
    correlated_field,
    los_probability_uma,
    los_probability_umi,
    o2i_loss,
    pathloss_uma_los,
    pathloss_uma_nlos,
    pathloss_umi_los,
    pathloss_umi_nlos,
)

# Values computed by hand from TR 38.901 Table 7.4.1-1 (fc = 2 GHz, h_UT = 1.5 m):
#   UMa LoS, h_BS 25 m, d2D 100 m: d3D = 102.724, d'BP = 320.2 m -> PL1 = 28 + 22 lg d3D + 20 lg fc = 78.28
#   UMa NLoS, d2D 500 m: PL' = 13.54 + 39.08 lg 500.55 + 20 lg 2 = 125.06 (> PL_LoS = 96.88)
#   UMa LoS, d2D 500 m (> d'BP): PL2 = 28 + 40 lg d3D + 20 lg fc - 9 lg(d'BP^2 + 23.5^2) = 96.88
#   UMi LoS, h_BS 10 m, d2D 50 m: d3D = 50.717 -> PL1 = 32.4 + 21 lg d3D + 20 lg fc = 74.23
#   UMi NLoS, d2D 200 m: PL' = 35.3 lg 200.18 + 22.4 + 21.3 lg 2 = 110.05 (> PL_LoS = 90.95)
HAND = [
    (pathloss_uma_los, 100.0, 25.0, 78.28),
    (pathloss_uma_nlos, 500.0, 25.0, 125.06),
    (pathloss_uma_los, 500.0, 25.0, 96.88),
    (pathloss_umi_los, 50.0, 10.0, 74.23),
    (pathloss_umi_nlos, 200.0, 10.0, 110.05),
    (pathloss_umi_los, 200.0, 10.0, 90.95),
]


@pytest.mark.parametrize(("fn", "d", "h_bs", "expected"), HAND)
def test_pathloss_matches_hand_computation(fn, d: float, h_bs: float, expected: float) -> None:
    assert float(fn(np.array([d]), h_bs, 1.5, 2.0)[0]) == pytest.approx(expected, abs=0.02)


@settings(max_examples=60, deadline=None)
@given(
    d1=st.floats(10.0, 5000.0),
    ratio=st.floats(1.01, 10.0),
    h_bs=st.floats(10.0, 35.0),
    fc=st.floats(0.7, 6.0),
)
def test_pathloss_increases_with_distance(d1: float, ratio: float, h_bs: float, fc: float) -> None:
    d = np.array([d1, d1 * ratio])
    for fn in (pathloss_uma_los, pathloss_uma_nlos, pathloss_umi_los, pathloss_umi_nlos):
        pl = fn(d, h_bs, 1.5, fc)
        assert pl[1] > pl[0], fn.__name__


@settings(max_examples=40, deadline=None)
@given(d=st.floats(10.0, 3000.0), h_bs=st.floats(10.0, 35.0))
def test_nlos_never_below_los(d: float, h_bs: float) -> None:
    x = np.array([d])
    assert pathloss_uma_nlos(x, h_bs, 1.5, 3.5)[0] >= pathloss_uma_los(x, h_bs, 1.5, 3.5)[0]
    assert pathloss_umi_nlos(x, h_bs, 1.5, 3.5)[0] >= pathloss_umi_los(x, h_bs, 1.5, 3.5)[0]


def test_los_probability_shape() -> None:
    d = np.array([5.0, 18.0, 50.0, 200.0, 1000.0])
    for p in (los_probability_uma(d), los_probability_umi(d)):
        assert p[0] == p[1] == 1.0
        assert np.all(np.diff(p) <= 0) and np.all((p >= 0) & (p <= 1))
    # UMi at 50 m: 18/50 + exp(-50/36)(1 - 18/50)
    assert los_probability_umi(np.array([50.0]))[0] == pytest.approx(0.36 + math.exp(-50 / 36) * 0.64)


def test_o2i_low_loss_mean_matches_standard() -> None:
    # fc = 2 GHz: L_glass = 2.4, L_concrete = 13 -> PL_tw = 5 - 10 lg(0.3*10^-0.24 + 0.7*10^-1.3) = 11.68 dB
    val = o2i_loss(2.0, "low", np.array([0.0]), np.array([0.0]))[0]
    assert val == pytest.approx(5 - 10 * math.log10(0.3 * 10**-0.24 + 0.7 * 10**-1.3), abs=1e-6)
    assert o2i_loss(2.0, "high", np.array([0.0]), np.array([0.0]))[0] > val


def test_correlated_field_statistics() -> None:
    rng = np.random.default_rng(0)
    f = correlated_field(rng, 20, (120, 120), 5.0, 50.0).astype(np.float64)
    assert f.std() == pytest.approx(1.0, abs=0.1)
    assert abs(f.mean()) < 0.15
    lag = 2  # 10 m at 5 m steps -> exp(-0.2)
    c = np.mean(f[:, :, :-lag] * f[:, :, lag:]) / np.mean(f * f)
    assert c == pytest.approx(math.exp(-10.0 / 50.0), abs=0.05)
    # i.i.d. would give ~0 correlation: the field is really correlated
    assert c > 0.6


def test_antenna_pattern() -> None:
    cell = np.array([[0.0, 0.0, 25.0]])
    tilt = np.array([0.0])
    users = np.array([[0.0, 1000.0, 25.0], [1000.0, 0.0, 25.0], [0.0, -1000.0, 25.0]])  # N, E, S
    g = antenna_gain_db(cell, np.array([0.0]), tilt, users)[0]
    assert g[0] == pytest.approx(8.0, abs=1e-4)  # boresight
    assert g[1] == pytest.approx(8.0 - 12 * (90 / 65) ** 2, abs=1e-3)  # 90 deg off: 23 dB down
    assert g[2] == pytest.approx(8.0 - 30.0, abs=1e-4)  # back lobe: A_m
    omni = antenna_gain_db(cell, np.array([np.nan]), tilt, users)[0]
    assert np.allclose(omni, omni[0])


@pytest.mark.parametrize("lag_samples", [1, 2, 4, 8])
def test_rayleigh_fading_unit_mean_and_jakes_correlation(lag_samples: int) -> None:
    from scipy.special import j0

    rng = np.random.default_rng(1)
    fad = Fading("rayleigh", doppler_hz=10.0)
    fad.reset(rng, (50, 2000))
    h0 = fad.coefficients()
    p = 10 ** (np.asarray(fad.gain_db()) / 10)
    assert p.mean() == pytest.approx(1.0, abs=0.05)
    dt = lag_samples / (10.0 * fad.oversample)
    fad.advance(rng, dt)
    h1 = fad.coefficients()
    rho = np.mean(np.conj(h0) * h1).real / np.mean(np.abs(h0) ** 2)
    assert rho == pytest.approx(j0(2 * math.pi * 10.0 * dt), abs=0.06)


def test_fading_power_is_exponential() -> None:
    rng = np.random.default_rng(3)
    fad = Fading("rayleigh", doppler_hz=50.0)
    fad.reset(rng, (20, 5000))
    p = 10 ** (np.asarray(fad.gain_db()) / 10)
    # |h|^2 ~ Exp(1): P(p < 0.1) = 1 - exp(-0.1)
    assert np.mean(p < 0.1) == pytest.approx(1 - math.exp(-0.1), abs=0.02)


def test_rician_fading_less_deep_fades_than_rayleigh() -> None:
    rng = np.random.default_rng(2)
    ray, ric = Fading("rayleigh", 5.0), Fading("rician", 5.0, rician_k_db=10.0)
    ray.reset(rng, (10, 5000))
    ric.reset(rng, (10, 5000))
    deep = lambda f: np.mean(np.asarray(f.gain_db()) < -10.0)  # noqa: E731
    assert deep(ric) < deep(ray) / 5
    assert np.mean(10 ** (np.asarray(ric.gain_db()) / 10)) == pytest.approx(1.0, abs=0.05)


def test_fading_needs_reset() -> None:
    with pytest.raises(RuntimeError, match="before reset"):
        Fading("rayleigh", 10.0).coefficients()
