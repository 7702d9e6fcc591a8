"""The suite's default forecaster: a residual over a trivial forecast, fitted for WAPE.

Paper 000's LSTM (:mod:`~mndt_envs.twin.traffic.lstm`) loses to copying the past on real series. The
forecaster here learns only what the trivial forecast gets wrong:

* **base**: the seasonal-naive forecast ``x[t + h − season]`` (traffic, ``season = 144`` ten-minute
  slots = one day) or persistence ``x[t − 1]`` (``season = 0``; user counts);
* **per-window scaling**: every input and the target residual are divided by
  ``s = mean|recent window| + scale_floor``, so the model is scale-free: a square four times as busy
  as any training square, or a cell with twice the training range of users, is forecast in the same
  units as the training data (nothing is clipped at the training range);
* **features**: the ``p`` most recent values and, optionally, a block around the same time one
  ``extra_lag`` earlier (one week for traffic: the values one week before the horizon and the
  ``extra_before`` values before them), all divided by ``s``;
* **model**: a linear map plus an MLP (``hidden`` = () gives the purely linear model, fitted the same
  way) or an LSTM encoder over the recent window (``encoder="lstm"``), a **direct multi-horizon**
  head emitting all ``L`` residuals at once;
* **loss**: L1 on the scaled residual (the WAPE numerator is an L1 sum), Adam, early stopping on the
  last ``val_fraction`` of each training series' windows;
* **shrinkage**: the residual is multiplied by ``alpha ∈ {0, 0.25, …, 1}`` chosen on the same
  validation windows, so a model that does not beat its base on validation falls back to it.

``forecast = max(0, base + alpha · s · f(features))`` (the clip at 0 when ``nonneg``).

torch is imported inside the functions only.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from .fitting import BestWeights, as_series_list, fit_epochs, train_epoch
from .weights_io import WEIGHTS_DIR, load_state_file, save_state_atomic

__all__ = ["ResidualForecaster", "train_residual_forecaster", "context_windows", "load_traffic_forecaster",
           "TRAFFIC_FORECASTER_WEIGHTS"]

_ALPHAS = (0.0, 0.25, 0.5, 0.75, 1.0)
TRAFFIC_FORECASTER_WEIGHTS = WEIGHTS_DIR / "traffic_forecaster.pt"


def context_windows(series: np.ndarray, context: int, horizon: int, lo: int = 0, hi: int | None = None,
                    stride: int = 1) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Histories and targets whose targets lie in ``series[lo:hi]``.

    Args:
        series: (T,) values.
        context: history length per window.
        horizon: L.
        lo: first index a target may have.
        hi: one past the last index a target may have (None = T).
        stride: step between window origins.

    Returns:
        ``hist`` (n, context), ``targ`` (n, L) and the origins (n,) (index of the first target).
    """
    x = np.asarray(series, dtype=np.float64).ravel()
    hi = x.size if hi is None else min(hi, x.size)
    starts = np.arange(max(lo, context), hi - horizon + 1, stride)
    if starts.size == 0:
        return np.zeros((0, context)), np.zeros((0, horizon)), starts
    hist = x[starts[:, None] - context + np.arange(context)[None, :]]
    targ = x[starts[:, None] + np.arange(horizon)[None, :]]
    return hist, targ, starts


_NETS: dict[str, Any] = {}


def _net_class(kind: str) -> Any:
    """The torch module classes, built on first use (keeps torch out of import time)."""
    if kind in _NETS:
        return _NETS[kind]
    import torch
    from torch import nn

    class _MLPNet(nn.Module):
        """Linear skip + MLP correction over the flat features; zero-initialised MLP output."""

        def __init__(self, n_in: int, horizon: int, hidden: tuple[int, ...], p: int) -> None:
            super().__init__()
            self.linear = nn.Linear(n_in, horizon)
            layers: list[Any] = []
            last = n_in
            for h in hidden:
                layers += [nn.Linear(last, h), nn.GELU()]
                last = h
            self.mlp: Any = nn.Sequential(*layers) if layers else None
            self.out: Any = nn.Linear(last, horizon) if layers else None
            if self.out is not None:
                nn.init.zeros_(self.out.weight)
                nn.init.zeros_(self.out.bias)

        def forward(self, f: Any) -> Any:
            y = self.linear(f)
            if self.mlp is not None:
                y = y + self.out(self.mlp(f))
            return y

    class _LSTMEncNet(nn.Module):
        """Linear skip over the flat features + an LSTM over the recent window feeding the head."""

        def __init__(self, n_in: int, horizon: int, hidden: tuple[int, ...], p: int) -> None:
            super().__init__()
            self.p = p
            h = hidden[0] if hidden else 64
            self.linear = nn.Linear(n_in, horizon)
            self.lstm = nn.LSTM(input_size=1, hidden_size=h, num_layers=1, batch_first=True)
            self.mix = nn.Sequential(nn.Linear(h + n_in, h), nn.GELU())
            self.out = nn.Linear(h, horizon)
            nn.init.zeros_(self.out.weight)
            nn.init.zeros_(self.out.bias)

        def forward(self, f: Any) -> Any:
            seq, _ = self.lstm(f[:, : self.p].unsqueeze(-1))
            z = self.mix(torch.cat([seq[:, -1, :], f], dim=1))
            return self.linear(f) + self.out(z)

    _NETS.update(mlp=_MLPNet, lstm=_LSTMEncNet)
    return _NETS[kind]


@dataclass
class ResidualForecaster:
    """A direct multi-horizon forecaster of the residual over seasonal-naive or persistence.

    Attributes:
        p: recent window (values fed to the model) [samples].
        horizon: ``L`` [samples].
        season: base forecast lag (``x[t + h − season]``; 0 = persistence; ``L <= season``).
        extra_lag: lag of an extra block of inputs (e.g. 1008 = one week of 10-min slots; 0 = none).
        extra_before: values before ``t − extra_lag`` in that block (the block is ``extra_before + L`` long).
        hidden: MLP hidden sizes (``()`` = linear model); for ``encoder="lstm"``, ``hidden[0]`` is the LSTM size.
        encoder: ``"mlp"`` or ``"lstm"``.
        scale_floor: added to the per-window mean, in series units (avoids dividing by ~0).
        nonneg: clip forecasts at 0 (traffic, counts).
        alpha: shrinkage of the learned residual, chosen on validation windows.
        history: per-epoch losses.
        meta: free-form provenance (data source, split, seed, commit).
    """

    p: int
    horizon: int
    season: int = 0
    extra_lag: int = 0
    extra_before: int = 0
    hidden: tuple[int, ...] = (128, 128)
    encoder: str = "mlp"
    scale_floor: float = 1e-6
    nonneg: bool = True
    alpha: float = 1.0
    history: list[dict[str, float]] = field(default_factory=list)
    meta: dict[str, Any] = field(default_factory=dict)
    net: Any = None

    def __post_init__(self) -> None:
        for name in ("p", "horizon"):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, int) or v < 1:
                raise ValueError(f"ResidualForecaster.{name} = {v!r}: expected an integer >= 1")
        for name in ("season", "extra_lag", "extra_before"):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, int) or v < 0:
                raise ValueError(f"ResidualForecaster.{name} = {v!r}: expected an integer >= 0")
        if self.season and self.season < self.horizon:
            raise ValueError(f"ResidualForecaster.season = {self.season}: must be 0 (persistence) or >= L = "
                             f"{self.horizon}")
        if self.extra_lag and self.extra_lag < self.horizon:
            raise ValueError(f"ResidualForecaster.extra_lag = {self.extra_lag}: must be 0 or >= L = {self.horizon}")
        if self.encoder not in ("mlp", "lstm"):
            raise ValueError(f"ResidualForecaster.encoder = {self.encoder!r}; allowed: 'mlp', 'lstm'")
        if not (self.scale_floor > 0 and math.isfinite(self.scale_floor)):
            raise ValueError(f"ResidualForecaster.scale_floor = {self.scale_floor!r}: must be finite and > 0")
        self.hidden = tuple(int(h) for h in self.hidden)
        if self.net is None:
            self.net = _net_class(self.encoder)(self.n_features, self.horizon, self.hidden, self.p)

    # ---- features ------------------------------------------------------------------------------
    @property
    def context(self) -> int:
        """History length :meth:`predict` needs per window."""
        return max(self.p, self.season, self.extra_lag + self.extra_before if self.extra_lag else 0)

    @property
    def n_features(self) -> int:
        """Model inputs per window."""
        return self.p + (self.extra_before + self.horizon if self.extra_lag else 0)

    @property
    def n_parameters(self) -> int:
        """Trainable parameters."""
        return int(sum(q.numel() for q in self.net.parameters()))

    def _check(self, hist: np.ndarray) -> np.ndarray:
        h = np.atleast_2d(np.asarray(hist, dtype=np.float64))
        if h.shape[1] < self.context:
            raise ValueError(f"ResidualForecaster: history has {h.shape[1]} values per row, needs at least "
                             f"context = {self.context} (P = {self.p}, season = {self.season}, "
                             f"extra lag = {self.extra_lag} + {self.extra_before})")
        if not np.all(np.isfinite(h)):
            raise ValueError("ResidualForecaster: history contains NaN or infinite values")
        return h[:, -self.context:]

    def base(self, hist: np.ndarray) -> np.ndarray:
        """The trivial forecast the model corrects: (n, context) → (n, L)."""
        h = np.atleast_2d(hist)
        if self.season:
            return h[:, h.shape[1] - self.season + np.arange(self.horizon)]
        return np.repeat(h[:, -1:], self.horizon, axis=1)

    def features(self, hist: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """``(features (n, F), scale s (n, 1), base (n, L))`` of checked histories (n, context)."""
        c = hist.shape[1]
        recent = hist[:, c - self.p:]
        s = np.abs(recent).mean(axis=1, keepdims=True) + self.scale_floor
        parts = [recent]
        if self.extra_lag:
            a = c - self.extra_lag - self.extra_before
            parts.append(hist[:, a:a + self.extra_before + self.horizon])
        return np.concatenate(parts, axis=1) / s, s, self.base(hist)

    def predict(self, history: np.ndarray, batch_size: int = 4096) -> np.ndarray:
        """Forecast the next ``L`` values.

        Args:
            history: (n, ≥ context) or (≥ context,) most recent values, last column = the latest value.
            batch_size: windows per forward pass.

        Returns:
            (n, L) or (L,) forecast in the series' units.
        """
        single = np.asarray(history).ndim == 1
        h = self._check(history)
        f, s, b = self.features(h)
        r = self._raw(f, batch_size)
        y = b + self.alpha * s * r
        if self.nonneg:
            y = np.maximum(y, 0.0)
        return y[0] if single else y

    def rollout(self, history: np.ndarray, n_steps: int) -> np.ndarray:
        """Twin mode: ``n_steps`` future values by feeding the forecasts back as history.

        Args:
            history: (n, ≥ context) or (≥ context,) recent values.
            n_steps: number of values to generate (any length).

        Returns:
            (n, n_steps) or (n_steps,).
        """
        single = np.asarray(history).ndim == 1
        buf = self._check(history)
        out = []
        done = 0
        while done < n_steps:
            y = np.atleast_2d(self.predict(buf))
            out.append(y)
            buf = np.concatenate([buf, y], axis=1)[:, -self.context:]
            done += self.horizon
        res = np.concatenate(out, axis=1)[:, :n_steps] if out else np.zeros((buf.shape[0], 0))
        return res[0] if single else res

    def _raw(self, f: np.ndarray, batch_size: int = 4096) -> np.ndarray:
        import torch

        from mndt_envs.twin.traffic.lstm import _single_thread

        self.net.eval()
        outs = []
        with torch.no_grad(), _single_thread(f.shape[0] <= 256):
            for i in range(0, f.shape[0], batch_size):
                outs.append(self.net(torch.from_numpy(f[i:i + batch_size].astype(np.float32))).numpy())
        return np.concatenate(outs).astype(np.float64) if outs else np.zeros((0, self.horizon))

    # ---- persistence ---------------------------------------------------------------------------
    _CONFIG = ("p", "horizon", "season", "extra_lag", "extra_before", "hidden", "encoder", "scale_floor", "nonneg",
               "alpha")

    def to_state(self) -> dict[str, Any]:
        """Plain dict: configuration, provenance and the torch state dict."""
        st: dict[str, Any] = {"format": "mndt-residual-forecaster-v1"}
        for k in self._CONFIG:
            v = getattr(self, k)
            st[k] = list(v) if isinstance(v, tuple) else v
        st["meta"] = dict(self.meta)
        st["state_dict"] = {k: v.detach().cpu().clone() for k, v in self.net.state_dict().items()}
        return st

    @classmethod
    def from_state(cls, state: dict[str, Any]) -> ResidualForecaster:
        """Inverse of :meth:`to_state`."""
        if not isinstance(state, dict) or state.get("format") != "mndt-residual-forecaster-v1":
            raise ValueError("not an mndt-residual-forecaster-v1 state (missing or wrong 'format')")
        kw = {k: state[k] for k in cls._CONFIG}
        kw["hidden"] = tuple(kw["hidden"])
        f = cls(**kw, meta=dict(state.get("meta", {})))
        f.net.load_state_dict(state["state_dict"])
        f.net.eval()
        return f

    def save(self, path: str | Path) -> None:
        """Write a torch file atomically (temporary file + rename)."""
        save_state_atomic(self.to_state(), Path(path))

    @classmethod
    def load(cls, path: str | Path) -> ResidualForecaster:
        """Read a file written by :meth:`save`."""
        return load_state_file(Path(path), cls.from_state, missing="forecaster weights not found",
                               unreadable="cannot read forecaster weights",
                               errors=(KeyError, ValueError, RuntimeError, TypeError))


def _windows_of(model: ResidualForecaster, series_list: list[np.ndarray], lo: list[int], hi: list[int],
                stride: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    fs, ss, bs, ys = [], [], [], []
    for x, a, b in zip(series_list, lo, hi, strict=True):
        h, y, _ = context_windows(x, model.context, model.horizon, a, b, stride)
        if len(h) == 0:
            continue
        f, s, base = model.features(h)
        fs.append(f)
        ss.append(s)
        bs.append(base)
        ys.append(y)
    if not fs:
        return (np.zeros((0, model.n_features)), np.zeros((0, 1)), np.zeros((0, model.horizon)),
                np.zeros((0, model.horizon)))
    return np.concatenate(fs), np.concatenate(ss), np.concatenate(bs), np.concatenate(ys)


def train_residual_forecaster(
    train: np.ndarray | list[np.ndarray],
    p: int,
    horizon: int,
    *,
    season: int = 0,
    extra_lag: int = 0,
    extra_before: int = 0,
    hidden: tuple[int, ...] = (128, 128),
    encoder: str = "mlp",
    scale_floor: float | None = None,
    nonneg: bool = True,
    loss: str = "l1",
    epochs: int = 60,
    batch_size: int = 256,
    lr: float = 2e-3,
    weight_decay: float = 1e-5,
    stride: int = 1,
    val_fraction: float = 0.15,
    patience: int = 8,
    max_seconds: float | None = None,
    seed: int = 0,
    train_hi: list[int] | None = None,
    verbose: bool = False,
) -> ResidualForecaster:
    """Fit a :class:`ResidualForecaster` on one or several series (windows never cross series).

    The targets of the last ``val_fraction`` of each series' windows are the validation set (early
    stopping and the choice of ``alpha``); training windows end ``P + L`` samples before them.

    Args:
        train: (T,) series or a list of series (series units).
        p: recent window.
        horizon: L.
        season: base lag (0 = persistence).
        extra_lag: lag of the extra input block (0 = none).
        extra_before: values before the lag in that block.
        hidden: MLP hidden sizes (``()`` = linear).
        encoder: ``"mlp"`` or ``"lstm"``.
        scale_floor: added to the per-window mean (default 1 % of the training mean of |x|).
        nonneg: clip forecasts at 0.
        loss: ``"l1"`` (aligned with WAPE, the default) or ``"mse"`` (aligned with NMSE / RMSE).
        epochs: maximum epochs.
        batch_size: mini-batch size.
        lr: Adam learning rate.
        weight_decay: Adam weight decay.
        stride: step between training window origins.
        val_fraction: share of each series' window origins held out for validation.
        patience: epochs without validation improvement before stopping.
        max_seconds: CPU-time budget of this process (``time.process_time``) (None = unlimited).
        seed: torch / numpy seed.
        train_hi: per series, one past the last index a training or validation target may have (default: the end).
        verbose: print one line per epoch.

    Returns:
        The fitted forecaster (best validation epoch, ``alpha`` chosen on validation).

    Raises:
        ValueError: empty input, NaNs, or series too short for one window.
    """
    import torch

    series_list = as_series_list(train, "train_residual_forecaster")
    if loss not in ("l1", "mse"):
        raise ValueError(f"train_residual_forecaster: loss = {loss!r}; allowed: 'l1', 'mse'")
    for i, s in enumerate(series_list):
        if s.ndim != 1 or not np.all(np.isfinite(s)):
            raise ValueError(f"train_residual_forecaster: series {i} must be 1-D and finite (shape {s.shape})")
    if scale_floor is None:
        scale_floor = max(0.01 * float(np.mean(np.abs(np.concatenate(series_list)))), 1e-9)
    torch.manual_seed(seed)
    model = ResidualForecaster(p, horizon, season, extra_lag, extra_before, tuple(hidden), encoder,
                               float(scale_floor), nonneg)
    c = model.context
    his = [s.size if train_hi is None else int(train_hi[i]) for i, s in enumerate(series_list)]
    lo_tr, hi_tr, lo_va, hi_va = [], [], [], []
    for hi in his:
        n_orig = hi - horizon + 1 - c
        if n_orig < 2:
            raise ValueError(f"train_residual_forecaster: a series has {hi} usable values, needs more than "
                             f"context + L = {c} + {horizon}")
        n_va = max(1, int(round(val_fraction * n_orig))) if val_fraction > 0 else 0
        split = hi - n_va  # first validation target origin
        lo_va.append(split)
        hi_va.append(hi)
        lo_tr.append(0)
        hi_tr.append(split - (p + horizon) if n_va else hi)
    f_tr, s_tr, b_tr, y_tr = _windows_of(model, series_list, lo_tr, hi_tr, stride)
    f_va, s_va, b_va, y_va = _windows_of(model, series_list, lo_va, hi_va, 1)
    if len(f_tr) == 0:
        raise ValueError("train_residual_forecaster: no training windows (series too short for context + L)")
    r_tr = (y_tr - b_tr) / s_tr
    net = model.net
    opt = torch.optim.Adam(net.parameters(), lr=lr, weight_decay=weight_decay)
    ft = torch.from_numpy(f_tr.astype(np.float32))
    rt = torch.from_numpy(r_tr.astype(np.float32))
    rs = np.random.default_rng(seed)
    have_val = len(f_va) > 0

    def val_wape(alpha: float = 1.0) -> float:
        """Validation error: WAPE for the L1 loss, NMSE for the MSE loss."""
        r = model._raw(f_va)
        y = b_va + alpha * s_va * r
        if nonneg:
            y = np.maximum(y, 0.0)
        if loss == "mse":
            return float(((y - y_va) ** 2).sum() / max((y_va**2).sum(), 1e-30))
        return float(np.abs(y - y_va).sum() / max(np.abs(y_va).sum(), 1e-12))

    def batch_loss(pred: Any, target: Any) -> Any:
        d = pred - target
        return d.abs().mean() if loss == "l1" else (d * d).mean()

    keeper = BestWeights(min_delta=1e-6)
    t0 = time.process_time()
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=max(epochs, 1))

    def run_epoch() -> dict[str, float]:
        train_loss = train_epoch(net, opt, ft, rt, batch_loss, rs, batch_size, t0, max_seconds)
        sched.step()
        return {"train_loss": train_loss, "cpu_seconds": time.process_time() - t0}

    fit_epochs(net, epochs, run_epoch, (lambda: ("val_error", val_wape())) if have_val else None, keeper, patience,
               t0, max_seconds, model.history,
               (lambda r: f"epoch {int(r['epoch']):3d} train {loss} {r['train_loss']:.4f} val "
                          f"{r.get('val_error', float('nan')):.4f} {r['cpu_seconds']:.0f}s cpu") if verbose else None)
    if have_val:
        scores = {a: val_wape(a) for a in _ALPHAS}
        model.alpha = min(scores, key=lambda a: (scores[a], -a))
        model.meta["val_error_by_alpha"] = {str(a): v for a, v in scores.items()}
    model.meta.update({"n_train_windows": int(len(f_tr)), "n_val_windows": int(len(f_va)), "seed": int(seed),
                       "epochs": len(model.history)})
    return model


def load_traffic_forecaster(path: str | Path | None = None) -> ResidualForecaster:
    """The bundled Milan traffic forecaster (10-min slots, P = 144 + the week-ago block → L = 12).

    ``f.predict(history)`` needs the last ``f.context`` = 1,044 values (one week and 6 h) of a cell.
    """
    return ResidualForecaster.load(path or TRAFFIC_FORECASTER_WEIGHTS)
