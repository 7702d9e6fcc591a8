"""The traffic twin: FFT periodic part + LSTM residual generator (paper 000 §2.3), and the twin's demand model.

:class:`LSTMTrafficGenerator` holds a bank of periodic *templates* (the strongest FFT components of
real cluster traffic, each min–max normalised so that the cluster's busiest training hour ≈ 1) and
an LSTM trained on the residuals. A generated series is ``max(0, X^p + X^r) · scale``: the
periodic part of a randomly drawn template at a random (or given) hour of day, plus a residual
rolled out by the LSTM with Gaussian innovations (std = the LSTM's one-block training error), times
a log-normal per-series scale (cells differ in load). Series are seeded (``rng``) and of any length;
the native resolution is the template's (1 h for the bundled C2TM weights) and other step lengths
are obtained by linear interpolation in time.

Units: :meth:`LSTMTrafficGenerator.generate` returns *normalised load* (dimensionless; 1 ≈ the
busiest hour of a typical cluster). :func:`demand_series` multiplies by ``peak_bps`` and returns
the mean offered traffic of each step in bit/s. :class:`LSTMDemand` (the twin's
:class:`~mndt_envs.twin.protocols.DemandModel` for ``traffic.model = "lstm"``) returns bits.

Bundled weights (``mndt_envs/data/weights/traffic_generator.pt``, retrained by ``mndt lstm
train-traffic``): hidden size 64 instead of the paper's 200 (3 layers, P = 48 h → L = 12 h), so the
file stays small (≈ 0.35 MB); the reproduction experiments use hidden 200.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from mndt_envs.twin.traffic.fft import FFTPeriodic
from mndt_envs.twin.traffic.lstm import LSTMForecaster, MinMaxScaler, make_windows, train_forecaster

__all__ = [
    "WEIGHTS_DIR",
    "TRAFFIC_WEIGHTS",
    "USER_COUNT_WEIGHTS",
    "LSTMTrafficGenerator",
    "LSTMDemand",
    "demand_series",
    "make_demand",
    "train_generator",
    "train_user_count_forecaster",
    "load_user_count_forecaster",
]

WEIGHTS_DIR = Path(__file__).resolve().parents[2] / "data" / "weights"
TRAFFIC_WEIGHTS = WEIGHTS_DIR / "traffic_generator.pt"
USER_COUNT_WEIGHTS = WEIGHTS_DIR / "user_count_lstm.pt"
_CACHE: dict[str, Any] = {}


@dataclass
class LSTMTrafficGenerator:
    """Seeded traffic series from FFT templates + an LSTM residual model.

    Attributes:
        model: LSTM forecaster of the normalised residual (``P → L`` native steps).
        freqs: (T, K) template frequencies [cycles per native step].
        amps: (T, K) template amplitudes (normalised load).
        phases: (T, K) template phases [rad] at template index 0.
        t0_hour: (T,) hour of day of template index 0.
        innov_std: std of the Gaussian innovation added to each generated residual block.
        native_step_s: native step of the templates and the LSTM [s] (3600 for C2TM).
        scale_sigma: σ of the log-normal per-series scale (mean 1).
    """

    model: LSTMForecaster
    freqs: np.ndarray
    amps: np.ndarray
    phases: np.ndarray
    t0_hour: np.ndarray
    innov_std: float
    native_step_s: float = 3600.0
    scale_sigma: float = 0.4

    @property
    def n_templates(self) -> int:
        """Number of periodic templates."""
        return int(self.freqs.shape[0])

    def periodic(self, template: np.ndarray, idx: np.ndarray) -> np.ndarray:
        """Periodic part of ``template[i]`` at native indices ``idx[i, :]`` → same shape as ``idx``."""
        f = self.freqs[template][:, None, :]
        a = self.amps[template][:, None, :]
        ph = self.phases[template][:, None, :]
        return (a * np.cos(2.0 * np.pi * f * idx[..., None] + ph)).sum(-1)

    def generate_native(self, n_series: int, n_steps: int, rng: np.random.Generator,
                        start_hour: float | None = None) -> np.ndarray:
        """(n_series, n_steps) normalised load at the native step (1 h)."""
        if n_series < 0 or n_steps < 0:
            raise ValueError(f"generate: n_series = {n_series}, n_steps = {n_steps} must be >= 0")
        if n_series == 0 or n_steps == 0:
            return np.zeros((n_series, n_steps))
        p = self.model.p
        tpl = rng.integers(0, self.n_templates, size=n_series)
        hours_per_step = self.native_step_s / 3600.0
        if start_hour is None:
            h0 = rng.uniform(0.0, 24.0, size=n_series)
        else:
            h0 = np.full(n_series, float(start_hour) % 24.0)
        # template index whose hour of day is h0, at least P steps in (so the history is "past")
        day = 24.0 / hours_per_step
        base = ((h0 - self.t0_hour[tpl]) / hours_per_step) % day
        start = base + day * math.ceil(p / day)
        idx = start[:, None] + np.arange(-p, n_steps)[None, :]
        per = self.periodic(tpl, idx)
        # residual: warm-up history of innovations, then LSTM rollout with innovations
        hist = rng.normal(0.0, self.innov_std, size=(n_series, p))
        res = self.model.rollout(hist, n_steps, noise_std=self.innov_std, rng=rng)
        scale = rng.lognormal(-0.5 * self.scale_sigma**2, self.scale_sigma, size=(n_series, 1))
        return np.maximum(per[:, p:] + res, 0.0) * scale

    def generate(self, n_series: int, n_steps: int, step_s: float, rng: np.random.Generator,
                 start_hour: float | None = None) -> np.ndarray:
        """Normalised load of ``n_series`` independent series, ``n_steps`` steps of ``step_s`` seconds.

        Args:
            n_series: number of series (cells or grids).
            n_steps: number of steps (any length).
            step_s: step length [s] (> 0); values are the load at each step's midpoint, linearly
                interpolated between native (hourly) samples.
            rng: random generator (templates, phases, residual innovations, scales).
            start_hour: hour of day at t = 0 (None = random per series).

        Returns:
            (n_series, n_steps) float64 ≥ 0, dimensionless (1 ≈ busiest hour of a typical cluster).
        """
        if not step_s > 0:
            raise ValueError(f"generate: step_s = {step_s!r} must be > 0")
        t_mid = (np.arange(n_steps) + 0.5) * step_s / self.native_step_s  # [native steps]
        n_native = int(math.ceil(t_mid[-1])) + 2 if n_steps else 0
        nat = self.generate_native(n_series, n_native, rng, start_hour)
        if n_steps == 0 or n_series == 0:
            return np.zeros((n_series, n_steps))
        i0 = np.floor(t_mid).astype(np.int64)
        w = t_mid - i0
        return nat[:, i0] * (1.0 - w) + nat[:, i0 + 1] * w

    # ---- persistence ------------------------------------------------------------------------
    def save(self, path: str | Path) -> None:
        """Write the generator (LSTM state dict + templates) as one torch file."""
        import torch

        state = {
            "format": "mndt-traffic-generator-v1",
            "model": self.model.to_state(),
            "freqs": torch.from_numpy(self.freqs.astype(np.float32)),
            "amps": torch.from_numpy(self.amps.astype(np.float32)),
            "phases": torch.from_numpy(self.phases.astype(np.float32)),
            "t0_hour": torch.from_numpy(self.t0_hour.astype(np.float32)),
            "innov_std": float(self.innov_std),
            "native_step_s": float(self.native_step_s),
            "scale_sigma": float(self.scale_sigma),
        }
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        torch.save(state, Path(path))

    @classmethod
    def load(cls, path: str | Path | None = None) -> LSTMTrafficGenerator:
        """Load a generator (default: the bundled weights); cached per path.

        Raises:
            FileNotFoundError: no such file.
            ValueError: the file is not a traffic-generator file.
        """
        import torch

        path = Path(path) if path else TRAFFIC_WEIGHTS
        key = str(path.resolve())
        if key in _CACHE:
            return _CACHE[key]
        if not path.is_file():
            raise FileNotFoundError(f"{path}: traffic generator weights not found (run `mndt lstm train-traffic`)")
        try:
            st = torch.load(path, map_location="cpu", weights_only=True)
        except Exception as exc:  # noqa: BLE001 - re-raised with the file name
            raise ValueError(f"{path}: cannot read traffic generator weights ({exc})") from exc
        if not isinstance(st, dict) or st.get("format") != "mndt-traffic-generator-v1":
            raise ValueError(f"{path}: not a traffic generator file (format tag missing or wrong)")
        gen = cls(
            model=LSTMForecaster.from_state(st["model"]),
            freqs=st["freqs"].numpy().astype(np.float64),
            amps=st["amps"].numpy().astype(np.float64),
            phases=st["phases"].numpy().astype(np.float64),
            t0_hour=st["t0_hour"].numpy().astype(np.float64),
            innov_std=float(st["innov_std"]),
            native_step_s=float(st["native_step_s"]),
            scale_sigma=float(st["scale_sigma"]),
        )
        _CACHE[key] = gen
        return gen


def demand_series(n_series: int, n_steps: int, step_s: float, rng: np.random.Generator, *,
                  peak_bps: float = 100e6, start_hour: float | None = None,
                  weights: str | Path | None = None) -> np.ndarray:
    """Per-cell or per-grid traffic demand from the bundled FFT + LSTM traffic twin.

    Args:
        n_series: number of cells / grids.
        n_steps: number of steps.
        step_s: step length [s] (e.g. 1800 for the cell-sleep env's 30-min decisions).
        rng: random generator (the env's ``np_random``): the same seed gives the same series.
        peak_bps: offered traffic of normalised load 1 [bit/s] (≈ a busy hour of a typical cluster).
        start_hour: hour of day at step 0 (None = random per series).
        weights: generator file ("" / None = bundled).

    Returns:
        (n_series, n_steps) float64: mean offered traffic in each step [bit/s], ≥ 0.
    """
    gen = LSTMTrafficGenerator.load(weights or None)
    return gen.generate(n_series, n_steps, step_s, rng, start_hour) * float(peak_bps)


class LSTMDemand:
    """Twin demand model for ``traffic.model = "lstm"`` (a :class:`~mndt_envs.twin.protocols.DemandModel`).

    Each user draws a total episode demand ``D_u ~ U(0, max_demand_bits)`` (the same marginal as the
    uniform model, paper 002 §V.B) and belongs to one of ``n_groups`` traffic series generated by the
    LSTM traffic twin; the user's demand is spread over the episode in proportion to its group's load,
    so ``demand`` over the whole episode sums to ``D_u``.

    Args:
        max_demand_bits: upper bound of a user's episode demand [bit].
        weights: generator weights ("" = bundled).
        n_groups: number of distinct traffic series among the users.
        time_scale: traffic-clock seconds per twin second (1 = real time; 3600 makes one twin second an hour).
        start_hour: hour of day at t = 0 (None = random per group).
    """

    def __init__(self, max_demand_bits: float, weights: str = "", n_groups: int = 16, time_scale: float = 1.0,
                 start_hour: float | None = None) -> None:
        if not (max_demand_bits >= 0 and math.isfinite(max_demand_bits)):
            raise ValueError(f"LSTMDemand: max_demand_bits = {max_demand_bits!r} must be finite and >= 0")
        if n_groups < 1 or not time_scale > 0:
            raise ValueError(f"LSTMDemand: n_groups = {n_groups!r} must be >= 1 and time_scale = {time_scale!r} > 0")
        self.max_demand_bits = float(max_demand_bits)
        self.weights = weights
        self.n_groups = int(n_groups)
        self.time_scale = float(time_scale)
        self.start_hour = start_hour
        self._n = 0
        self._horizon = 0.0

    @classmethod
    def from_config(cls, cfg: Any) -> LSTMDemand:
        """From a :class:`~mndt_envs.config.ScenarioConfig`: totals bounded by ``max_demand_rb_s · B_RB`` bits."""
        return cls(cfg.traffic.max_demand_rb_s * cfg.radio.rb_bandwidth_hz, weights=cfg.traffic.weights)

    def reset(self, rng: np.random.Generator, n_users: int, horizon_s: float) -> None:
        """Draw users' totals, groups and the groups' load series over ``horizon_s`` seconds."""
        if not horizon_s > 0:
            raise ValueError(f"LSTMDemand.reset: horizon_s = {horizon_s!r} must be > 0")
        gen = LSTMTrafficGenerator.load(self.weights or None)
        self._n = int(n_users)
        self._horizon = float(horizon_s)
        self._total = rng.uniform(0.0, self.max_demand_bits, size=self._n)  # [bit]
        g = min(self.n_groups, max(self._n, 1))
        self._group = rng.integers(0, g, size=self._n)
        # knots: at most 1 per native step, at least 64 over the horizon
        span = self._horizon * self.time_scale  # [s of traffic clock]
        n_knots = max(64, int(math.ceil(span / gen.native_step_s)) + 1)
        self._tk = np.linspace(0.0, self._horizon, n_knots)  # [s of twin clock]
        load = gen.generate(g, n_knots, span / max(n_knots - 1, 1), rng, self.start_hour)
        load = np.maximum(load, 1e-9)
        # cumulative integral of the piecewise-linear load, normalised to 1 at the horizon
        seg = 0.5 * (load[:, 1:] + load[:, :-1]) * np.diff(self._tk)[None, :]
        cum = np.concatenate([np.zeros((g, 1)), np.cumsum(seg, axis=1)], axis=1)
        self._cum = cum / cum[:, -1:]
        self.load = load  # (groups, knots) normalised load, for inspection

    def _cum_at(self, t: float) -> np.ndarray:
        t = min(max(t, 0.0), self._horizon)
        k = int(np.clip(np.searchsorted(self._tk, t, side="right") - 1, 0, self._tk.size - 2))
        w = (t - self._tk[k]) / (self._tk[k + 1] - self._tk[k])
        return self._cum[:, k] * (1.0 - w) + self._cum[:, k + 1] * w

    def demand(self, t: float, dt: float) -> np.ndarray:
        """(n_users,) float64 [bit] demanded in ``[t, t + dt)`` (0 outside the episode)."""
        if self._n == 0:
            return np.zeros(0)
        frac = self._cum_at(t + dt) - self._cum_at(t)  # (groups,)
        return self._total * np.maximum(frac, 0.0)[self._group]


def make_demand(cfg: Any) -> LSTMDemand:
    """Demand model for ``cfg.traffic.model == "lstm"``: users' totals bounded by ``max_demand_rb_s · B_RB``."""
    if cfg.traffic.model != "lstm":
        raise ValueError(f"make_demand: traffic.model = {cfg.traffic.model!r}; this factory builds 'lstm'")
    return LSTMDemand.from_config(cfg)


# --------------------------------------------------------------------------------------------
# training the bundled weights
# --------------------------------------------------------------------------------------------
def train_generator(data_dir: str | Path, out: str | Path = TRAFFIC_WEIGHTS, *, hidden: int = 64, layers: int = 3,
                    p: int = 48, horizon: int = 12, k: int = 5, value: str = "packets", max_seconds: float = 240.0,
                    seed: int = 0, verbose: bool = False) -> LSTMTrafficGenerator:
    """Train the traffic generator on the C2TM clusters and save it.

    Per cluster: the longest gap-free stretch (gaps ≤ 3 h interpolated), min–max normalised, its ``k``
    strongest FFT components over whole days become a template; one LSTM learns all residuals.

    Args:
        data_dir: the shared data folder (with ``c2tm/clustered_traffic_100.csv``).
        out: output file.
        hidden: LSTM hidden size (64 keeps the file ≈ 0.35 MB).
        layers: LSTM layers.
        p: input window [h].
        horizon: output horizon [h].
        k: FFT components per template.
        value: C2TM column (``packets`` by default; see experiments.run_traffic).
        max_seconds: training budget [s].
        seed: seed.
        verbose: print progress.

    Returns:
        The trained generator (also written to ``out``).
    """
    from mndt_envs.twin.traffic.loaders import contiguous_segments, load_c2tm

    path = Path(data_dir) / "c2tm" / "clustered_traffic_100.csv"
    series = load_c2tm(path, value)
    freqs, amps, phases, t0h, res = [], [], [], [], []
    for s in series.values():
        segs = [x for x in contiguous_segments(s, max_gap=3) if len(x) >= p + horizon + 24]
        if not segs:
            continue
        seg = max(segs, key=len)
        x = seg.to_numpy(dtype=np.float64)
        if x.max() <= 0:
            continue
        z = MinMaxScaler.fit(x).transform(x)
        per = FFTPeriodic.fit(z, k, base_period=24)
        freqs.append(per.freqs)
        amps.append(per.amps)
        phases.append(per.phases)
        t0h.append(seg.index[0].hour + seg.index[0].minute / 60.0)
        res.append(z - per.series(0, z.size))
    if not res:
        raise ValueError(f"{path}: no cluster with a gap-free stretch of >= {p + horizon + 24} h")
    t0 = time.perf_counter()
    model = train_forecaster(res, p, horizon, hidden=hidden, layers=layers, max_seconds=max_seconds, seed=seed,
                             verbose=verbose)
    # innovation std: RMSE of one-block forecasts on the training residuals
    errs = []
    for r in res:
        x, y = make_windows(r, p, horizon, stride=horizon)
        errs.append((model.predict(x) - y).ravel())
    innov = float(np.sqrt(np.mean(np.concatenate(errs) ** 2)))
    gen = LSTMTrafficGenerator(model, np.array(freqs), np.array(amps), np.array(phases), np.array(t0h), innov)
    gen.save(out)
    _CACHE.pop(str(Path(out).resolve()), None)
    if verbose:
        print(f"trained traffic generator on {len(res)} clusters in {time.perf_counter() - t0:.0f}s, "
              f"innovation std {innov:.3f}, wrote {out}")
    return gen


def train_user_count_forecaster(data_dir: str | Path, out: str | Path = USER_COUNT_WEIGHTS, *, hidden: int = 64,
                                layers: int = 3, max_seconds: float = 120.0, seed: int = 0) -> LSTMForecaster:
    """Train the per-cell user-count forecaster (KAIST centre cell, P = 50 → L = 10 × 30 s) and save it."""
    from mndt_envs.twin.traffic.experiments import kaist_centre_counts

    counts, _ = kaist_centre_counts(Path(data_dir) / "kaist")
    model = train_forecaster(counts, 50, 10, hidden=hidden, layers=layers, max_seconds=max_seconds, seed=seed)
    Path(out).parent.mkdir(parents=True, exist_ok=True)
    model.save(out)
    return model


def load_user_count_forecaster(path: str | Path | None = None) -> LSTMForecaster:
    """The bundled per-cell user-count forecaster (P = 50 → L = 10 steps of 30 s; counts of users).

    Load balancing can call ``f.predict(last_50_counts)`` or ``f.rollout(history, n)``; inputs are user counts
    of one cell sampled every 30 s (it generalises to other cells only as far as their counts have a similar range).
    """
    return LSTMForecaster.load(path or USER_COUNT_WEIGHTS)
