"""Traffic twin: loaders, FFT periodic part, forecasters, generator, realism checks, demand model, CLI."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from mndt_envs.twin.traffic.fft import FFTPeriodic
from mndt_envs.twin.traffic.forecast import ResidualForecaster, context_windows, train_residual_forecaster
from mndt_envs.twin.traffic.loaders import (
    TrafficDataError,
    contiguous_segments,
    grid_neighbour_pairs,
    kaist_cell_counts,
    load_c2tm,
    load_kaist,
    load_milan_grid,
    load_milan_raw,
    require_length,
)
from mndt_envs.twin.traffic.lstm import (
    LSTMForecaster,
    accuracy,
    best_season,
    mae,
    make_windows,
    persistence_forecast,
    rmse,
    seasonal_naive_forecast,
    train_forecaster,
)

torch = pytest.importorskip("torch")

MILAN_OK = (
    "1\t1383260400000\t0\t0.08\n"
    "1\t1383260400000\t39\t0.14\t0.15\t0.16\t0.05\t11.0\n"
    "1\t1383261000000\t0\t0.13\t\t\t\t0.5\n"
    "1\t1383261000000\t39\t\t\t\t\t2.0\n"
    "1\t1383262200000\t39\t\t\t\t\t4.0\n"  # 1383261600000 has no row -> 0
    "2\t1383260400000\t39\t\t\t\t\t7.0\n"
)


def write(tmp_path: Path, name: str, text: str) -> Path:
    p = tmp_path / name
    p.write_text(text)
    return p


# ------------------------------------------------------------------------------------------ loaders
def test_milan_raw_aggregates_countries_and_fills_gaps(tmp_path: Path) -> None:
    df = load_milan_raw(write(tmp_path, "m.txt", MILAN_OK))
    assert list(df.columns) == [1, 2]
    assert len(df) == 4  # 10-min grid over the span
    np.testing.assert_allclose(df[1].to_numpy(), [11.0, 2.5, 0.0, 4.0])
    np.testing.assert_allclose(df[2].to_numpy(), [7.0, 0.0, 0.0, 0.0])
    assert str(df.index.tz) == "Europe/Rome" and df.index[0].hour == 0
    tot = load_milan_raw(write(tmp_path, "m2.txt", MILAN_OK), activity="total", squares=[1])
    assert tot[1].iloc[0] == pytest.approx(0.08 + 0.14 + 0.15 + 0.16 + 0.05 + 11.0)


@pytest.mark.parametrize(("text", "match"), [
    ("1\t1383260400000\t39\t1\t1\t1\t1\t1\t1\n", "expected at most 8"),
    ("1\t1383260400000\n", "missing columns"),
    ("1\t1383260400000\t39\tabc\t\t\t\t1\n", "'sms_in' value 'abc' is not a number"),
    ("1\t1383260400000\t39\tnan\t\t\t\t1\n", "NaN"),
    ("1\t1383261000000\t39\t\t\t\t\t1\n1\t1383260400000\t39\t\t\t\t\t1\n", "non-monotonic timestamps"),
    ("1\t1383260400001\t39\t\t\t\t\t1\n", "10-min grid"),
    ("\n\n", "no data rows"),
])
def test_milan_raw_errors_name_file_and_problem(tmp_path: Path, text: str, match: str) -> None:
    p = write(tmp_path, "bad.txt", text)
    with pytest.raises(TrafficDataError, match=match) as ei:
        load_milan_raw(p)
    assert str(p) in str(ei.value)


def test_milan_missing_file(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="nope.txt"):
        load_milan_raw(tmp_path / "nope.txt")


C2TM_OK = (
    "bs,thour,users,packets,bytes\n"
    "fog_1,2012-08-16 10:00:00+08:00,10,100,1000\n"
    "fog_1,2012-08-16 11:00:00+08:00,11,110,1100\n"
    "fog_1,2012-08-16 13:00:00+08:00,13,130,1300\n"
    "fog_1,2012-08-16 20:00:00+08:00,20,200,2000\n"
    "fog_1,2012-08-16 21:00:00+08:00,21,210,2100\n"
    "fog_2,2012-08-16 10:00:00+08:00,1,2,3\n"
)


def test_c2tm_hourly_with_gaps(tmp_path: Path) -> None:
    d = load_c2tm(write(tmp_path, "c.csv", C2TM_OK), "packets")
    assert list(d) == ["fog_1", "fog_2"]
    s = d["fog_1"]
    assert len(s) == 12 and s.isna().sum() == 7 and s.index[0].hour == 10
    segs = contiguous_segments(s, max_gap=1)
    assert [len(x) for x in segs] == [4, 2]
    np.testing.assert_allclose(segs[0].to_numpy(), [100, 110, 120, 130])  # 1-h gap interpolated
    segs = contiguous_segments(s, max_gap=6)
    assert [len(x) for x in segs] == [12]


@pytest.mark.parametrize(("text", "match"), [
    ("bs,thour,users,packets\nfog_1,2012-08-16 10:00:00+08:00,1,2\n", "missing column.*bytes"),
    ("bs,thour,users,packets,bytes\nfog_1,2012-08-16 10:00:00+08:00,1,,3\n", "'packets' is NaN/empty"),
    ("bs,thour,users,packets,bytes\nfog_1,2012-08-16 10:00:00+08:00,1,NaN,3\n", "'packets' is NaN/empty"),
    ("bs,thour,users,packets,bytes\nfog_1,2012-08-16 10:00:00+08:00,1,x,3\n", "not a number"),
    ("bs,thour,users,packets,bytes\nfog_1,2012-08-16 11:00:00+08:00,1,2,3\nfog_1,2012-08-16 10:00:00+08:00,1,2,3\n",
     "non-monotonic timestamps for bs 'fog_1'"),
    ("bs,thour,users,packets,bytes\nfog_1,2012-08-16 10:30:00+08:00,1,2,3\n", "not on the hour"),
    ("bs,thour,users,packets,bytes\nfog_1,yesterday,1,2,3\n", "unparsable"),
])
def test_c2tm_errors_name_file_and_problem(tmp_path: Path, text: str, match: str) -> None:
    p = write(tmp_path, "bad.csv", text)
    with pytest.raises(TrafficDataError, match=match) as ei:
        load_c2tm(p, "packets")
    assert str(p) in str(ei.value)


def test_series_shorter_than_p_plus_l() -> None:
    with pytest.raises(TrafficDataError, match=r"cluster 7: series has 30 samples, shorter than P \+ L = 24 \+ 12"):
        require_length(np.ones(30), 24, 12, "cluster 7")
    with pytest.raises(TrafficDataError, match="NaN"):
        require_length(np.array([1.0, np.nan] * 40), 24, 12, "x")
    with pytest.raises(ValueError, match="shorter than P \\+ L"):
        train_forecaster(np.ones(10), 8, 4, hidden=4, layers=1, epochs=1)


def test_real_files_load(shared_data: Path) -> None:
    m = load_milan_raw(shared_data / "milan" / "chunk_sample.txt")
    assert m.shape[1] == 1 and (m.to_numpy() >= 0).all() and len(m) > 50
    c = load_c2tm(shared_data / "c2tm" / "clustered_traffic_100.csv")
    assert len(c) == 100


# ------------------------------------------------------------------------------------------ FFT
def test_fft_recovers_sum_of_sinusoids_and_extrapolates() -> None:
    t = np.arange(24 * 10 + 7)  # not a whole number of days: base_period handles it
    truth = lambda tt: 5 + 2 * np.cos(2 * np.pi * tt / 24 + 0.4) + 0.7 * np.cos(2 * np.pi * tt / 8 - 1.0)  # noqa: E731
    x = truth(t) + np.random.default_rng(0).normal(0, 0.05, t.size)
    per = FFTPeriodic.fit(x, 3, base_period=24)
    assert per.k == 3
    np.testing.assert_allclose(sorted(per.freqs), [0, 1 / 24, 1 / 8], atol=1e-12)
    fut = np.arange(t.size, t.size + 100)
    assert np.abs(per(fut) - truth(fut)).max() < 0.1


def test_fft_rejects_bad_input() -> None:
    with pytest.raises(ValueError):
        FFTPeriodic.fit(np.array([1.0, np.nan, 2.0]), 2)
    with pytest.raises(ValueError):
        FFTPeriodic.fit(np.ones(10), 0)


# ------------------------------------------------------------------------------------------ metrics
def test_metrics_and_references() -> None:
    y = np.array([[1.0, 2.0, 3.0]])
    assert accuracy(y, y) == 1.0
    assert accuracy(y * 0, y) == 0.0
    assert rmse(y + 1, y) == pytest.approx(1.0) and mae(y - 2, y) == pytest.approx(2.0)
    h = np.arange(10.0)[None, :]
    np.testing.assert_array_equal(persistence_forecast(h, 3), [[9, 9, 9]])
    np.testing.assert_array_equal(seasonal_naive_forecast(h, 5, 3), [[7, 8, 9, 7, 8]])
    x = np.sin(2 * np.pi * np.arange(400) / 25)
    assert best_season(x, 5, 40) == 25
    X, Y = make_windows(np.arange(10.0), 4, 2, stride=2)  # noqa: N806
    assert X.shape == (3, 4) and Y[0].tolist() == [4, 5]


# ------------------------------------------------------------------------------------------ LSTM
def test_tiny_lstm_beats_persistence_on_easy_series(tmp_path: Path) -> None:
    torch.set_num_threads(1)
    t = np.arange(500)
    x = np.sin(2 * np.pi * t / 16) + 2.0
    model = train_forecaster(x[:400], 16, 4, hidden=12, layers=1, epochs=40, lr=2e-2, batch_size=32,
                             stride=3, patience=40, seed=0)
    X, Y = make_windows(x[380:], 16, 4)  # noqa: N806
    pred = model.predict(X)
    assert accuracy(pred, Y) > accuracy(persistence_forecast(X, 4), Y) + 0.02
    assert accuracy(pred, Y) > 0.97
    # save / load round trip gives identical forecasts
    model.save(tmp_path / "m.pt")
    again = LSTMForecaster.load(tmp_path / "m.pt")
    np.testing.assert_allclose(again.predict(X), pred, rtol=1e-6)
    roll = again.rollout(X[0], 13)
    assert roll.shape == (13,)
    with pytest.raises(ValueError, match="expected P = 16"):
        model.predict(np.ones((2, 5)))


def test_weights_file_errors(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="missing.pt"):
        LSTMForecaster.load(tmp_path / "missing.pt")
    bad = tmp_path / "bad.pt"
    bad.write_bytes(b"not a torch file")
    with pytest.raises(ValueError, match="bad.pt"):
        LSTMForecaster.load(bad)


def test_paper_architecture() -> None:
    m = LSTMForecaster(128, 20)  # 3 layers, hidden 200, linear head over the whole horizon
    assert m.net.lstm.num_layers == 3 and m.net.lstm.hidden_size == 200 and m.net.head.out_features == 20


# ------------------------------------------------------------------------------------------ Milan grid, KAIST
def test_milan_grid_loader(tmp_path: Path) -> None:
    rows = "\n".join(",".join(str(float(r * 4 + c)) for c in range(4)) for r in range(300))
    df = load_milan_grid(write(tmp_path, "g.csv", rows + "\n"), grid_shape=(2, 2))
    assert df.shape == (300, 4) and df.attrs["grid_shape"] == (2, 2)
    assert str(df.index.tz) == "Europe/Rome" and df.index[0].weekday() == 4 and df.index[0].hour == 0  # Fri 1 Nov 2013
    assert (df.index[1] - df.index[0]).total_seconds() == 600
    assert df.iloc[2, 3] == 11.0
    assert grid_neighbour_pairs((2, 2)) == [(0, 1), (0, 2), (1, 3), (2, 3)]
    assert len(grid_neighbour_pairs((5, 5))) == 40


@pytest.mark.parametrize(("text", "match"), [
    ("1,2,3,4\n1,2,3\n", "3 columns, the first row has 4"),
    ("1,2,x,4\n", "'x' is not a number"),
    ("1,2,nan,4\n", "NaN/inf"),
    ("1,2,-3,4\n", "negative"),
    ("1,2,3\n", "expected rows × cols"),
    ("\n", "no data rows"),
])
def test_milan_grid_errors(tmp_path: Path, text: str, match: str) -> None:
    p = write(tmp_path, "bad.csv", text)
    with pytest.raises(TrafficDataError, match=match) as ei:
        load_milan_grid(p, grid_shape=(2, 2))
    assert str(p) in str(ei.value)


def test_kaist_grid_is_placed_on_training_samples_only(tmp_path: Path) -> None:
    # 6 users near the origin for 40 samples, then all move 20 km away: the grid must stay at the origin
    for u in range(6):
        t = np.arange(80) * 30.0
        xy = np.where(t[:, None] < 1200, np.array([[100.0 * u, 50.0]]), np.array([[20_000.0 + 10 * u, 20_000.0]]))
        np.savetxt(tmp_path / f"KAIST_30sec_{u + 1:03d}.txt", np.c_[t, xy])
    pos = load_kaist(tmp_path)
    assert pos.shape == (6, 80, 2)
    counts, info = kaist_cell_counts(pos, fit_samples=40)
    assert info["origin_m"][0] < 1000 and counts.shape == (9, 80)
    np.testing.assert_array_equal(counts.sum(axis=0), 6)  # every present user belongs to one cell
    assert counts[:, :40].max() >= 3  # users clustered at the start
    with pytest.raises(FileNotFoundError, match="no KAIST"):
        load_kaist(tmp_path / "none")


def test_real_milan_grid(shared_data: Path) -> None:
    df = load_milan_grid(shared_data / "milan" / "milan_grid_25sq_10min.csv")
    assert df.shape == (4320, 25) and (df.to_numpy() > 0).all()
    hourly = df.mean(axis=1).to_numpy()[:144 * 28].reshape(28, 24, 6).mean(axis=(0, 2))
    assert 2 <= int(np.argmin(hourly)) <= 6  # night minimum around 4 am local time: the start time is right


# ------------------------------------------------------------------------------------------ residual forecaster
def _seasonal(n: int, season: int, seed: int, level: float = 10.0) -> np.ndarray:
    t = np.arange(n)
    rng = np.random.default_rng(seed)
    ar = np.zeros(n)
    for i in range(1, n):
        ar[i] = 0.9 * ar[i - 1] + rng.normal(0, 0.6)
    return level * (2.0 + np.sin(2 * np.pi * t / season) + 0.3 * np.sin(4 * np.pi * t / season) + 0.3 * ar)


def test_residual_forecaster_base_and_scale_invariance() -> None:
    m = ResidualForecaster(8, 4, season=6, hidden=(8,))
    h = np.arange(1.0, 21.0)[None, :]
    np.testing.assert_array_equal(m.base(h[:, -m.context:]), [[15, 16, 17, 18]])  # x[t + h − 6]
    m.alpha = 0.0
    np.testing.assert_array_equal(m.predict(h), [[15, 16, 17, 18]])  # alpha 0 = the seasonal-naive base
    p = ResidualForecaster(8, 4, season=0, hidden=())
    p.alpha = 0.0
    np.testing.assert_array_equal(p.predict(h[0]), [20, 20, 20, 20])  # persistence
    m.alpha = 1.0
    torch.manual_seed(0)
    for prm in m.net.parameters():
        torch.nn.init.normal_(prm, 0.0, 0.3)
    # per-window scaling: a series 50x above anything seen is forecast 50x larger (no clipping at a range)
    np.testing.assert_allclose(m.predict(50.0 * h), 50.0 * m.predict(h), rtol=1e-4)
    assert m.context == 8 and m.n_features == 8
    w = ResidualForecaster(8, 4, season=6, extra_lag=12, extra_before=2)
    assert w.context == 14 and w.n_features == 8 + 6


@pytest.mark.parametrize(("kw", "match"), [
    ({"p": 0, "horizon": 4}, "p = 0"),
    ({"p": 8, "horizon": 4, "season": 2}, "season = 2"),
    ({"p": 8, "horizon": 4, "encoder": "gru"}, "encoder"),
    ({"p": 8, "horizon": 4, "scale_floor": 0.0}, "scale_floor"),
])
def test_residual_forecaster_bad_config(kw: dict, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        ResidualForecaster(**kw)


def test_residual_forecaster_learns_and_beats_trivial(tmp_path: Path) -> None:
    torch.set_num_threads(1)
    train = [_seasonal(700, 24, s) for s in range(3)]
    m = train_residual_forecaster(train, 48, 6, season=24, hidden=(16,), epochs=30, seed=0, max_seconds=20)
    test = _seasonal(400, 24, 9, level=40.0)  # 4x the training level
    h, y, _ = context_windows(test, m.context, 6, 100)
    pred = m.predict(h)
    assert m.alpha > 0
    assert accuracy(pred, y) > accuracy(seasonal_naive_forecast(h, 6, 24), y) + 0.01
    assert accuracy(pred, y) > accuracy(persistence_forecast(h, 6), y) + 0.01
    m.save(tmp_path / "f.pt")
    again = ResidualForecaster.load(tmp_path / "f.pt")
    np.testing.assert_allclose(again.predict(h), pred, rtol=1e-6)
    assert again.rollout(h[0], 15).shape == (15,)
    with pytest.raises(ValueError, match="needs at least context = 48"):
        m.predict(np.ones((2, 10)))
    with pytest.raises(ValueError, match="loss"):
        train_residual_forecaster(train, 24, 6, loss="huber")
    bad = tmp_path / "bad.pt"
    bad.write_bytes(b"nope")
    with pytest.raises(ValueError, match="bad.pt"):
        ResidualForecaster.load(bad)


def test_milan_forecasters_small(shared_data: Path) -> None:
    """Small version of the Milan comparison: 6 squares, the last week, one seed, a few seconds of training."""
    from mndt_envs.twin.traffic.experiments import milan_matrix, run_traffic_forecasters

    torch.set_num_threads(1)
    x = milan_matrix(shared_data)[[6, 12, 18, 24]]
    res = run_traffic_forecasters(None, x=x, fold_days=(23,), seeds=(0,), max_seconds=3.0, splits=False)
    s = res["folds"]["days 23-30"]
    ship = s["shipped (residual MLP, L1)"]["accuracy"]
    assert ship > s["seasonal-naive 1 day"]["accuracy"] + 0.02
    assert ship > s["seasonal-naive 1 week"]["accuracy"] + 0.02
    assert ship > s["persistence"]["accuracy"]


def test_user_counts_small(shared_data: Path) -> None:
    from mndt_envs.twin.traffic.experiments import run_user_forecasters

    torch.set_num_threads(1)
    res = run_user_forecasters(shared_data, origins=(450,), seeds=(0,), max_seconds=1.5)
    for split in (*res["folds"].values(), *res["splits"].values()):
        assert split["shipped (residual MLP, L1)"]["accuracy"] >= split["persistence"]["accuracy"] - 1e-9


def test_ar_predictor_recovers_ar_process() -> None:
    from mndt_envs.twin.traffic.experiments import ar_direct_fit

    rng = np.random.default_rng(0)
    x = np.zeros(5000)
    for i in range(2, x.size):
        x[i] = 1.5 * x[i - 1] - 0.7 * x[i - 2] + rng.normal()
    w = ar_direct_fit(x, 4, 1)
    np.testing.assert_allclose(w[:4, 0], [0, 0, -0.7, 1.5], atol=0.05)


# ------------------------------------------------------------------------------------------ generator
def _synthetic_city(n_sq: int = 6, days: int = 16, seed: int = 0) -> np.ndarray:
    t = np.arange(days * 144)
    rng = np.random.default_rng(seed)
    day = np.exp(0.6 * np.sin(2 * np.pi * (t - 60) / 144))
    weekend = np.where(((t // 144 + 4) % 7) >= 5, 0.7, 1.0)  # starts on a Friday like Milan
    common = np.zeros(t.size)
    for i in range(1, t.size):
        common[i] = 0.95 * common[i - 1] + rng.normal(0, 0.05)
    out = []
    for _ in range(n_sq):
        own = np.zeros(t.size)
        for i in range(1, t.size):
            own[i] = 0.9 * own[i - 1] + rng.normal(0, 0.08)
        out.append(rng.lognormal(4, 0.4) * day * weekend * np.exp(common + own))
    return np.array(out)


def test_fit_generator_small_reproduces_statistics(tmp_path: Path) -> None:
    from mndt_envs.twin.traffic.generator import LSTMTrafficGenerator
    from mndt_envs.twin.traffic.realism import series_stats
    from mndt_envs.twin.traffic.training import fit_generator

    torch.set_num_threads(1)
    x = _synthetic_city()
    gen = fit_generator(x[:, : 14 * 144], k=12, hidden=8, layers=1, max_seconds=6.0, max_epochs=30)
    assert 0.0 < gen.rho < 0.95 and gen.n_templates == 6
    gen.save(tmp_path / "g.pt")
    again = LSTMTrafficGenerator.load(tmp_path / "g.pt")
    a = again.generate_native(30, 7 * 144, np.random.default_rng(1), 0)
    b = gen.generate_native(30, 7 * 144, np.random.default_rng(1), 0)
    np.testing.assert_allclose(a, b, rtol=1e-4)
    real = series_stats(x[:, 7 * 144:14 * 144], (4 * 144 + 7 * 144) % 1008)
    g = series_stats(a, 0)
    assert np.corrcoef(np.median(real["profile"], 0), np.median(g["profile"], 0))[0, 1] > 0.9
    assert abs(np.median(g["weekday_weekend"]) - np.median(real["weekday_weekend"])) < 0.15
    assert np.median(g["acf 10 min"]) > 0.7
    with pytest.raises(ValueError, match="fit_generator"):
        fit_generator(x[:, :100])


def test_bundled_generator_seeded_calendar_and_units() -> None:
    from mndt_envs.twin.traffic.generator import (
        TRAFFIC_WEIGHTS,
        USER_COUNT_WEIGHTS,
        LSTMTrafficGenerator,
        demand_series,
    )

    assert TRAFFIC_WEIGHTS.is_file() and USER_COUNT_WEIGHTS.is_file()
    total = sum(p.stat().st_size for p in TRAFFIC_WEIGHTS.parent.glob("*.pt"))
    assert total <= 2 * 1024 * 1024
    gen = LSTMTrafficGenerator.load()
    assert gen.n_templates == 20
    a = demand_series(5, 100, 1800.0, np.random.default_rng(7))
    b = demand_series(5, 100, 1800.0, np.random.default_rng(7))
    c = demand_series(5, 100, 1800.0, np.random.default_rng(8))
    np.testing.assert_array_equal(a, b)
    assert a.shape == (5, 100) and (a >= 0).all() and np.isfinite(a).all()
    assert not np.array_equal(a, c)
    assert 5e6 < a.mean() < 5e8  # bit/s around the default 100 Mbit/s busy hour
    # step means are exact: 6 ten-minute steps average to one hour
    rng_a, rng_b = np.random.default_rng(3), np.random.default_rng(3)
    fine = gen.generate(4, 48 * 6, 600.0, rng_a, start_hour=0.0, start_weekday=0)
    coarse = gen.generate(4, 48, 3600.0, rng_b, start_hour=0.0, start_weekday=0)
    np.testing.assert_allclose(fine.reshape(4, 48, 6).mean(-1), coarse, rtol=1e-9)
    # night is quieter than the evening, on the shared calendar
    h = gen.generate(40, 24 * 7, 3600.0, np.random.default_rng(0), start_hour=0.0, start_weekday=0)
    prof = h.reshape(40, 7, 24).mean(axis=(0, 1))
    assert prof[3:6].mean() < 0.6 * prof[18:22].mean()
    with pytest.raises(ValueError, match="start_weekday"):
        gen.generate(2, 3, 600.0, np.random.default_rng(0), start_weekday=7)


def test_bundled_generator_realism_on_held_back_week(shared_data: Path) -> None:
    """Every scalar statistic of 40 generated cells lies within the held-back real squares' spread."""
    from mndt_envs.twin.traffic.experiments import milan_matrix
    from mndt_envs.twin.traffic.generator import LSTMTrafficGenerator
    from mndt_envs.twin.traffic.realism import validation_data
    from mndt_envs.twin.traffic.training import MILAN_START_SLOT_OF_WEEK, TRAIN_DAYS

    v = validation_data(milan_matrix(shared_data), LSTMTrafficGenerator.load(), np.random.default_rng(0),
                        test_start=TRAIN_DAYS * 144, n_gen=40, start_slot_of_week_0=MILAN_START_SLOT_OF_WEEK)
    bad = [r.name for r in v["rows"] if not r.ok]
    assert not bad, bad


def test_weights_provenance_json() -> None:
    from mndt_envs.twin.traffic.generator import TRAFFIC_WEIGHTS, USER_COUNT_WEIGHTS
    from mndt_envs.twin.traffic.training import TRAFFIC_FORECASTER_WEIGHTS

    for w, src in ((TRAFFIC_WEIGHTS, "Milan"), (TRAFFIC_FORECASTER_WEIGHTS, "Milan"), (USER_COUNT_WEIGHTS, "KAIST")):
        info = json.loads(w.with_suffix(".json").read_text())
        assert src in info["data"] and info["commit"] and info["training_slice"] and info["command"]
    assert "ODbL" in (TRAFFIC_WEIGHTS.parent / "MILAN_ATTRIBUTION.txt").read_text()


def test_bundled_forecasters() -> None:
    from mndt_envs.twin.traffic.forecast import load_traffic_forecaster
    from mndt_envs.twin.traffic.generator import load_user_count_forecaster

    uc = load_user_count_forecaster()
    assert uc.p == 50 and uc.horizon == 10 and uc.season == 0
    h = np.r_[np.full(25, 3.0), np.full(25, 4.0)]
    assert uc.predict(h).shape == (10,)
    np.testing.assert_allclose(uc.predict(10 * h), 10 * uc.predict(h), rtol=0.05)  # floor 1 user: ~invariant
    tf = load_traffic_forecaster()
    assert tf.context == 1044 and tf.horizon == 12
    assert tf.rollout(np.full(1044, 100.0), 30).shape == (30,)


def test_runtime_generator_does_not_import_experiments() -> None:
    code = ("import sys, mndt_envs.twin.traffic.generator as g; "
            "print(any(m.endswith(('traffic.experiments', 'traffic.training')) for m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "False"


def test_lstm_demand_model_sums_to_totals() -> None:
    from mndt_envs.config import make_config
    from mndt_envs.twin.protocols import DemandModel
    from mndt_envs.twin.traffic.generator import LSTMDemand

    cfg = make_config("toy", {"traffic": {"model": "lstm"}})
    d = LSTMDemand.from_config(cfg)
    assert isinstance(d, DemandModel)
    d.reset(np.random.default_rng(0), 50, 20.0)
    parts = np.stack([d.demand(t, 1.0) for t in range(20)])
    assert parts.shape == (20, 50) and (parts >= 0).all()
    np.testing.assert_allclose(parts.sum(0), d._total, rtol=1e-9)
    assert d._total.max() <= cfg.traffic.max_demand_rb_s * cfg.radio.rb_bandwidth_hz
    assert d.demand(25.0, 1.0).sum() == 0.0


# ------------------------------------------------------------------------------------------ CLI
def test_cli_validate_and_train_users(shared_data: Path, tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from mndt_envs.cli_lstm import lstm_app

    r = CliRunner().invoke(lstm_app, ["validate", "--data-dir", str(shared_data), "--png", str(tmp_path / "v.png"),
                                      "--n-gen", "20"])
    assert r.exit_code == 0, r.output
    assert "within the real spread" in r.output and (tmp_path / "v.png").stat().st_size > 10_000
    r = CliRunner().invoke(lstm_app, ["train-users", "--data-dir", str(shared_data), "--out-dir", str(tmp_path),
                                      "--max-seconds", "2"])
    assert r.exit_code == 0, r.output
    info = json.loads((tmp_path / "user_count_lstm.json").read_text())
    assert "KAIST" in info["data"] and "0-449" in info["training_slice"]
    r = CliRunner().invoke(lstm_app, ["validate", "--data-dir", str(tmp_path / "nope")])
    text = re.sub(r"[\s│╭╮╰╯─]+", " ", r.output)  # rich wraps the error in a box
    assert r.exit_code != 0 and "data folder not found" in text
