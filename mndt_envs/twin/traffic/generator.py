"""The traffic twin's generator: weekly FFT templates + an LSTM residual process, trained on Milan (paper 000 §2.3).

A generated cell series is ``x(t) = scale · exp(X^p(t) + X^r(t)) / peak_norm``:

* ``X^p`` is the **periodic part** of one training square's log-load ``log(x / mean)``: the ``K``
  strongest FFT components (paper: 50) of its average week, so it repeats weekly (daily profile and
  the weekday/weekend difference) and extrapolates to any time;
* ``X^r`` is the **residual**, drawn by a stateful LSTM run one 10-min step at a time: from the
  previous residual and the time of day it outputs the mean and the standard deviation of the next
  residual (a Gaussian autoregressive LSTM, trained by maximum likelihood on the training squares'
  residuals), and the draw is fed back. The innovations of the cells of one call share a common
  part (share ``rho``, fitted on neighbouring training squares), which gives neighbouring cells
  their cross-correlation;
* ``scale`` is log-normal across cells (σ fitted on the training squares' mean loads);
* ``peak_norm`` makes normalised load 1 ≈ the busy hour of a typical cell.

All series of one call share the calendar (one city clock): the same start weekday and hour.
The native step is 10 min; :meth:`LSTMTrafficGenerator.generate` returns the mean load of steps of
any length (exact integral of the piecewise-constant native series).

Units: :meth:`LSTMTrafficGenerator.generate` returns normalised load (dimensionless);
:func:`demand_series` multiplies by ``peak_bps`` (bit/s); :class:`LSTMDemand` (the twin's
:class:`~mndt_envs.twin.protocols.DemandModel` for ``traffic.model = "lstm"``) returns bits.

Bundled weights (``mndt_envs/data/weights/traffic_generator.pt`` + ``.json`` provenance): trained
by ``mndt lstm train-traffic`` on the first 23 days of 20 of the 25 Milan squares (Telecom Italia,
ODbL 1.0; the last week and the last row of squares are held back for ``mndt lstm validate``).
The weights hold model parameters and FFT templates (50 sinusoids per training square), no data rows.
The generator is numpy-only at run time (torch is only needed to read the weights file).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from .weights_io import WEIGHTS_DIR, load_state_file, save_state_atomic

__all__ = [
    "WEIGHTS_DIR",
    "TRAFFIC_WEIGHTS",
    "USER_COUNT_WEIGHTS",
    "NATIVE_STEP_S",
    "LSTMTrafficGenerator",
    "LSTMDemand",
    "demand_series",
    "load_user_count_forecaster",
]

TRAFFIC_WEIGHTS = WEIGHTS_DIR / "traffic_generator.pt"
USER_COUNT_WEIGHTS = WEIGHTS_DIR / "user_count_lstm.pt"
NATIVE_STEP_S = 600.0  # [s] 10-min slots of the Milan data
SLOTS_PER_DAY = 144
SLOTS_PER_WEEK = 7 * SLOTS_PER_DAY
_CACHE: dict[str, Any] = {}
_FORMAT = "mndt-traffic-generator-v2"


def _sigmoid(z: np.ndarray) -> np.ndarray:
    return 0.5 * (1.0 + np.tanh(0.5 * z))


@dataclass
class LSTMTrafficGenerator:
    """Seeded synthetic cell traffic from weekly FFT templates and a Gaussian autoregressive LSTM.

    Attributes:
        lstm: per layer ``(W_ih (4H, in), W_hh (4H, H), b (4H,))`` in torch's gate order (i, f, g, o).
        head: ``(W (2, H), b (2,))``: mean and log-std of the next standardised residual.
        freqs: (T, K) template frequencies [cycles per 10-min slot] (weekly harmonics).
        amps: (T, K) template amplitudes (log-load).
        phases: (T, K) template phases [rad] at template index 0.
        t0_slot_of_week: (T,) slot of the week (0 = Monday 00:00) of template index 0.
        res_std: standard deviation of the training residuals (the LSTM works on ``r / res_std``).
        rho: share of the innovation variance common to all series of one call.
        scale_sigma: σ of the log-normal per-series scale.
        peak_norm: busy-hour load of a typical cell relative to its mean (normalised load 1 = that busy hour).
        burn_in: residual steps run before the first output step.
        meta: provenance (data, squares, days, commit).
    """

    lstm: list[tuple[np.ndarray, np.ndarray, np.ndarray]]
    head: tuple[np.ndarray, np.ndarray]
    freqs: np.ndarray
    amps: np.ndarray
    phases: np.ndarray
    t0_slot_of_week: np.ndarray
    res_std: float
    rho: float
    scale_sigma: float
    peak_norm: float
    burn_in: int = SLOTS_PER_DAY
    native_step_s: float = NATIVE_STEP_S
    meta: dict[str, Any] = field(default_factory=dict)

    @property
    def n_templates(self) -> int:
        """Number of periodic templates (training squares)."""
        return int(self.freqs.shape[0])

    @property
    def hidden(self) -> int:
        """LSTM hidden size."""
        return int(self.lstm[0][1].shape[1])

    def periodic(self, template: np.ndarray, idx: np.ndarray) -> np.ndarray:
        """Log-load periodic part of ``template[i]`` at template indices ``idx[i, :]`` → shape of ``idx``."""
        f = self.freqs[template][:, None, :]
        a = self.amps[template][:, None, :]
        ph = self.phases[template][:, None, :]
        return (a * np.cos(2.0 * np.pi * f * idx[..., None] + ph)).sum(-1)

    def residuals(self, n_series: int, n_steps: int, start_slot: int, rng: np.random.Generator) -> np.ndarray:
        """(n_series, n_steps) log-load residuals from the LSTM, the first at slot-of-week ``start_slot``."""
        h_size = self.hidden
        n_layers = len(self.lstm)
        h = np.zeros((n_layers, n_series, h_size))
        c = np.zeros((n_layers, n_series, h_size))
        r = np.zeros(n_series)
        out = np.empty((n_series, n_steps))
        total = self.burn_in + n_steps
        common = rng.standard_normal(total)
        own = rng.standard_normal((total, n_series))
        eps = math.sqrt(self.rho) * common[:, None] + math.sqrt(1.0 - self.rho) * own
        w_out, b_out = self.head
        for k in range(total):
            slot = start_slot - self.burn_in + k  # the slot being drawn
            ang = 2.0 * np.pi * (slot % SLOTS_PER_DAY) / SLOTS_PER_DAY
            inp = np.empty((n_series, 3))
            inp[:, 0] = r
            inp[:, 1] = math.sin(ang)
            inp[:, 2] = math.cos(ang)
            for layer, (w_ih, w_hh, b) in enumerate(self.lstm):
                g = inp @ w_ih.T + h[layer] @ w_hh.T + b
                i_g, f_g, g_g, o_g = np.split(g, 4, axis=1)
                c[layer] = _sigmoid(f_g) * c[layer] + _sigmoid(i_g) * np.tanh(g_g)
                h[layer] = _sigmoid(o_g) * np.tanh(c[layer])
                inp = h[layer]
            mo = inp @ w_out.T + b_out
            r = mo[:, 0] + np.exp(np.clip(mo[:, 1], -6.0, 2.0)) * eps[k]
            if k >= self.burn_in:
                out[:, k - self.burn_in] = r
        return out * self.res_std

    def generate_native(self, n_series: int, n_steps: int, rng: np.random.Generator,
                        start_slot_of_week: int | None = None) -> np.ndarray:
        """(n_series, n_steps) normalised load at the native 10-min step, slot 0 at ``start_slot_of_week``."""
        if n_series < 0 or n_steps < 0:
            raise ValueError(f"generate: n_series = {n_series}, n_steps = {n_steps} must be >= 0")
        if n_series == 0 or n_steps == 0:
            return np.zeros((n_series, n_steps))
        start = int(rng.integers(0, SLOTS_PER_WEEK)) if start_slot_of_week is None else int(start_slot_of_week)
        tpl = rng.integers(0, self.n_templates, size=n_series)
        base = (start - self.t0_slot_of_week[tpl]) % SLOTS_PER_WEEK
        idx = base[:, None] + np.arange(n_steps)[None, :]
        per = self.periodic(tpl, idx.astype(np.float64))
        res = self.residuals(n_series, n_steps, start, rng)
        scale = rng.lognormal(0.0, self.scale_sigma, size=(n_series, 1))
        return np.exp(per + res) * scale / self.peak_norm

    def generate(self, n_series: int, n_steps: int, step_s: float, rng: np.random.Generator,
                 start_hour: float | None = None, start_weekday: int | None = None) -> np.ndarray:
        """Mean normalised load of ``n_series`` cells over ``n_steps`` steps of ``step_s`` seconds.

        Args:
            n_series: number of series (cells or grids); they share one calendar.
            n_steps: number of steps (any length).
            step_s: step length [s] (> 0); each value is the mean load over its step.
            rng: random generator (calendar when not given, templates, residual innovations, scales).
            start_hour: hour of day at t = 0 (None = random).
            start_weekday: day of the week at t = 0 (0 = Monday … 6 = Sunday; None = random).

        Returns:
            (n_series, n_steps) float64 ≥ 0, dimensionless (1 ≈ the busy hour of a typical cell).
        """
        if not (step_s > 0 and math.isfinite(step_s)):
            raise ValueError(f"generate: step_s = {step_s!r} must be finite and > 0")
        if start_weekday is not None and not (isinstance(start_weekday, int | np.integer) and 0 <= start_weekday <= 6):
            raise ValueError(f"generate: start_weekday = {start_weekday!r}; allowed 0 (Monday) … 6 (Sunday)")
        if n_steps == 0 or n_series == 0:
            return np.zeros((max(n_series, 0), max(n_steps, 0)))
        hour = float(rng.uniform(0.0, 24.0)) if start_hour is None else float(start_hour) % 24.0
        day = int(rng.integers(0, 7)) if start_weekday is None else int(start_weekday)
        slot_f = day * SLOTS_PER_DAY + hour * 3600.0 / self.native_step_s
        slot0 = int(math.floor(slot_f))
        offset_s = (slot_f - slot0) * self.native_step_s
        span = offset_s + n_steps * step_s
        n_native = int(math.ceil(span / self.native_step_s)) + 1
        nat = self.generate_native(n_series, n_native, rng, slot0 % SLOTS_PER_WEEK)
        # exact mean over each step of the piecewise-constant native series
        cum = np.concatenate([np.zeros((n_series, 1)), np.cumsum(nat, axis=1) * self.native_step_s], axis=1)
        knots = np.arange(n_native + 1) * self.native_step_s
        b = offset_s + np.arange(n_steps + 1) * step_s
        k = np.clip(np.searchsorted(knots, b, side="right") - 1, 0, n_native - 1)
        cb = cum[:, k] + nat[:, k] * (b - knots[k])[None, :]
        return np.maximum(np.diff(cb, axis=1) / step_s, 0.0)

    # ---- persistence ------------------------------------------------------------------------
    def to_state(self) -> dict[str, Any]:
        """Plain dict of torch tensors and numbers (the weights file)."""
        import torch

        def t(a: np.ndarray) -> Any:
            return torch.from_numpy(np.ascontiguousarray(a, dtype=np.float32))

        return {
            "format": _FORMAT,
            "lstm": [[t(w_ih), t(w_hh), t(b)] for w_ih, w_hh, b in self.lstm],
            "head": [t(self.head[0]), t(self.head[1])],
            "freqs": torch.from_numpy(self.freqs.astype(np.float64)),
            "amps": t(self.amps), "phases": t(self.phases),
            "t0_slot_of_week": torch.from_numpy(self.t0_slot_of_week.astype(np.int64)),
            "res_std": float(self.res_std), "rho": float(self.rho), "scale_sigma": float(self.scale_sigma),
            "peak_norm": float(self.peak_norm), "burn_in": int(self.burn_in),
            "native_step_s": float(self.native_step_s),
        }

    def save(self, path: str | Path) -> None:
        """Write the weights file atomically."""
        path = Path(path)
        save_state_atomic(self.to_state(), path)
        _CACHE.pop(str(path.resolve()), None)

    @classmethod
    def from_state(cls, st: dict[str, Any]) -> LSTMTrafficGenerator:
        """Inverse of :meth:`to_state`."""
        if not isinstance(st, dict) or st.get("format") != _FORMAT:
            raise ValueError(f"not a traffic generator file (format tag missing or not {_FORMAT!r})")

        def n(a: Any) -> np.ndarray:
            return a.numpy().astype(np.float64)

        return cls(
            lstm=[(n(a), n(b), n(c)) for a, b, c in st["lstm"]],
            head=(n(st["head"][0]), n(st["head"][1])),
            freqs=n(st["freqs"]), amps=n(st["amps"]), phases=n(st["phases"]),
            t0_slot_of_week=st["t0_slot_of_week"].numpy().astype(np.int64),
            res_std=float(st["res_std"]), rho=float(st["rho"]), scale_sigma=float(st["scale_sigma"]),
            peak_norm=float(st["peak_norm"]), burn_in=int(st["burn_in"]), native_step_s=float(st["native_step_s"]),
        )

    @classmethod
    def load(cls, path: str | Path | None = None) -> LSTMTrafficGenerator:
        """Load a generator (default: the bundled weights); cached per path.

        Raises:
            FileNotFoundError: no such file.
            ValueError: the file is not a traffic-generator file.
        """
        path = Path(path) if path else TRAFFIC_WEIGHTS
        key = str(path.resolve())
        if key in _CACHE:
            return _CACHE[key]
        gen = load_state_file(path, cls.from_state,
                              missing="traffic generator weights not found (run `mndt lstm train-traffic`)",
                              unreadable="cannot read traffic generator weights",
                              errors=(KeyError, ValueError, TypeError, AttributeError))
        meta = path.with_suffix(".json")
        if meta.is_file():
            import json

            gen.meta = json.loads(meta.read_text())
        _CACHE[key] = gen
        return gen


def demand_series(n_series: int, n_steps: int, step_s: float, rng: np.random.Generator, *,
                  peak_bps: float = 100e6, start_hour: float | None = None, start_weekday: int | None = None,
                  weights: str | Path | None = None) -> np.ndarray:
    """Per-cell or per-grid traffic demand from the bundled traffic twin (trained on Milan).

    Args:
        n_series: number of cells / grids (one shared calendar).
        n_steps: number of steps.
        step_s: step length [s] (e.g. 1800 for the cell-sleep env's 30-min decisions).
        rng: random generator (the env's ``np_random``): the same seed gives the same series.
        peak_bps: offered traffic of normalised load 1 [bit/s] (≈ the busy hour of a typical cell).
        start_hour: hour of day at step 0 (None = random, shared by all series).
        start_weekday: day of the week at step 0 (0 = Monday; None = random, shared).
        weights: generator file ("" / None = bundled).

    Returns:
        (n_series, n_steps) float64: mean offered traffic in each step [bit/s], ≥ 0.
    """
    gen = LSTMTrafficGenerator.load(weights or None)
    return gen.generate(n_series, n_steps, step_s, rng, start_hour, start_weekday) * float(peak_bps)


class LSTMDemand:
    """Twin demand model for ``traffic.model = "lstm"`` (a :class:`~mndt_envs.twin.protocols.DemandModel`).

    Each user draws a total episode demand ``D_u ~ U(0, max_demand_bits)`` (the same marginal as the
    uniform model, paper 002 §V.B) and belongs to one of ``n_groups`` traffic series generated by the
    traffic twin; the user's demand is spread over the episode in proportion to its group's load,
    so ``demand`` over the whole episode sums to ``D_u``.

    Args:
        max_demand_bits: upper bound of a user's episode demand [bit].
        weights: generator weights ("" = bundled).
        n_groups: number of distinct traffic series among the users.
        time_scale: traffic-clock seconds per twin second (1 = real time; 3600 makes one twin second an hour).
        start_hour: hour of day at t = 0 (None = random).
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


def load_user_count_forecaster(path: str | Path | None = None) -> Any:
    """The bundled per-cell user-count forecaster (:class:`~mndt_envs.twin.traffic.forecast.ResidualForecaster`).

    P = 50 → L = 10 steps of 30 s, residual over persistence, scaled per window (works for any count
    range). ``f.predict(last_50_counts)`` forecasts; ``f.rollout(history, n)`` generates in twin mode.
    """
    from mndt_envs.twin.traffic.forecast import ResidualForecaster

    return ResidualForecaster.load(path or USER_COUNT_WEIGHTS)

