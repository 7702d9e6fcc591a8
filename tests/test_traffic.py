"""Traffic twin: loaders, FFT periodic part, LSTM forecaster, generator, demand model."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from mndt_envs.twin.traffic.fft import FFTPeriodic
from mndt_envs.twin.traffic.loaders import (
    TrafficDataError,
    contiguous_segments,
    load_c2tm,
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


# ------------------------------------------------------------------------------------------ generator
def test_bundled_weights_load_small_and_generate_seeded() -> None:
    from mndt_envs.twin.traffic.generator import (
        TRAFFIC_WEIGHTS,
        USER_COUNT_WEIGHTS,
        LSTMTrafficGenerator,
        demand_series,
        load_user_count_forecaster,
    )

    assert TRAFFIC_WEIGHTS.is_file() and USER_COUNT_WEIGHTS.is_file()
    total = sum(p.stat().st_size for p in TRAFFIC_WEIGHTS.parent.glob("*.pt"))
    assert total <= 2 * 1024 * 1024
    gen = LSTMTrafficGenerator.load()
    assert gen.n_templates > 10
    a = demand_series(5, 100, 1800.0, np.random.default_rng(7))
    b = demand_series(5, 100, 1800.0, np.random.default_rng(7))
    c = demand_series(5, 100, 1800.0, np.random.default_rng(8))
    np.testing.assert_array_equal(a, b)
    assert a.shape == (5, 100) and (a >= 0).all() and np.isfinite(a).all()
    assert not np.array_equal(a, c)
    assert 1e6 < a.mean() < 1e9  # bit/s around the default 100 Mbit/s peak
    # a daily pattern: hourly series correlate with themselves one day later
    h = gen.generate(20, 24 * 6, 3600.0, np.random.default_rng(0), start_hour=0.0)
    ac = np.mean([np.corrcoef(s[:-24], s[24:])[0, 1] for s in h])
    assert ac > 0.3
    uc = load_user_count_forecaster()
    assert uc.p == 50 and uc.horizon == 10
    assert uc.predict(np.full(50, 3.0)).shape == (10,)


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
