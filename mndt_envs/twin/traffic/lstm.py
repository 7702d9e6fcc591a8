"""LSTM forecasters with the architecture of paper 000 (SPEC §6), metrics and reference forecasts.

The model: a stacked LSTM (paper: 3 layers, hidden size 200) reads the ``P`` most recent values
of a univariate series, and one fully connected head maps the last hidden state to the whole
horizon of ``L`` values. Inputs and targets are min–max normalised to [0, 1] with the training
data's range; training minimises the MSE with Adam.

Metrics (the paper does not define its "accuracy"; SPEC §6 fixes it):

* ``accuracy = 1 − Σ|ŷ − y| / Σ|y|`` (one minus the weighted absolute percentage error),
* RMSE and MAE in the series' own units.

References: *persistence* (the last observed value repeated over the horizon) and
*seasonal naive* (the values one season earlier).

torch is imported inside the functions only, so importing this module is cheap.
"""

from __future__ import annotations

import io
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from .fitting import BestWeights, as_series_list, fit_epochs, train_epoch
from .weights_io import load_state_file

__all__ = [
    "MinMaxScaler",
    "make_windows",
    "LSTMForecaster",
    "train_forecaster",
    "accuracy",
    "rmse",
    "mae",
    "metrics",
    "persistence_forecast",
    "seasonal_naive_forecast",
    "best_season",
]


# --------------------------------------------------------------------------------------------
# data helpers
# --------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class MinMaxScaler:
    """Linear map of ``[lo, hi]`` onto ``[0, 1]`` (the paper's "linear normalisation")."""

    lo: float
    hi: float

    @classmethod
    def fit(cls, data: np.ndarray) -> MinMaxScaler:
        """Fit on ``data`` (any shape, finite values)."""
        data = np.asarray(data, dtype=np.float64)
        if data.size == 0 or not np.all(np.isfinite(data)):
            raise ValueError("MinMaxScaler.fit: data must be non-empty and finite")
        lo, hi = float(data.min()), float(data.max())
        if hi - lo < 1e-12:
            hi = lo + 1.0  # constant series: identity-like scaling, avoids division by zero
        return cls(lo, hi)

    def transform(self, x: np.ndarray) -> np.ndarray:
        """Scale to [0, 1] (values outside the fitted range fall outside [0, 1])."""
        return (np.asarray(x, dtype=np.float64) - self.lo) / (self.hi - self.lo)

    def inverse(self, z: np.ndarray) -> np.ndarray:
        """Undo :meth:`transform`."""
        return np.asarray(z, dtype=np.float64) * (self.hi - self.lo) + self.lo


def make_windows(series: np.ndarray, p: int, horizon: int, stride: int = 1) -> tuple[np.ndarray, np.ndarray]:
    """Sliding (input, target) windows of a 1-D series.

    Args:
        series: (T,) values.
        p: input window ``P``.
        horizon: output horizon ``L``.
        stride: step between window starts.

    Returns:
        ``X`` (n, P) and ``Y`` (n, L) with ``n = (T − P − L) // stride + 1``.

    Raises:
        ValueError: if the series is shorter than ``P + L`` or has non-finite values.
    """
    series = np.asarray(series, dtype=np.float64).ravel()
    if p < 1 or horizon < 1 or stride < 1:
        raise ValueError(f"make_windows: P={p}, L={horizon}, stride={stride} must all be >= 1")
    if series.size < p + horizon:
        raise ValueError(f"make_windows: series of length {series.size} is shorter than P + L = {p + horizon}")
    if not np.all(np.isfinite(series)):
        raise ValueError("make_windows: series contains NaN or infinite values")
    starts = np.arange(0, series.size - p - horizon + 1, stride)
    idx = starts[:, None] + np.arange(p + horizon)[None, :]
    w = series[idx]
    return w[:, :p].copy(), w[:, p:].copy()


# --------------------------------------------------------------------------------------------
# metrics and references
# --------------------------------------------------------------------------------------------
def accuracy(y_hat: np.ndarray, y: np.ndarray) -> float:
    """``1 − Σ|ŷ − y| / Σ|y|`` (one minus WAPE); 1 is perfect, can be negative."""
    y_hat, y = np.asarray(y_hat, dtype=np.float64), np.asarray(y, dtype=np.float64)
    denom = float(np.abs(y).sum())
    if denom <= 0.0:
        raise ValueError("accuracy: Σ|y| = 0, WAPE undefined")
    return 1.0 - float(np.abs(y_hat - y).sum()) / denom


def rmse(y_hat: np.ndarray, y: np.ndarray) -> float:
    """Root mean squared error."""
    d = np.asarray(y_hat, dtype=np.float64) - np.asarray(y, dtype=np.float64)
    return float(np.sqrt(np.mean(d * d)))


def mae(y_hat: np.ndarray, y: np.ndarray) -> float:
    """Mean absolute error."""
    return float(np.mean(np.abs(np.asarray(y_hat, dtype=np.float64) - np.asarray(y, dtype=np.float64))))


def metrics(y_hat: np.ndarray, y: np.ndarray) -> dict[str, float]:
    """``{"accuracy", "rmse", "mae"}`` of a forecast."""
    return {"accuracy": accuracy(y_hat, y), "rmse": rmse(y_hat, y), "mae": mae(y_hat, y)}


def persistence_forecast(history: np.ndarray, horizon: int) -> np.ndarray:
    """Repeat the last observed value: (n, P) → (n, L)."""
    history = np.atleast_2d(np.asarray(history, dtype=np.float64))
    return np.repeat(history[:, -1:], horizon, axis=1)


def seasonal_naive_forecast(history: np.ndarray, horizon: int, season: int) -> np.ndarray:
    """Values one season earlier: ``ŷ[t+h] = y[t+h−season·k]`` with the smallest k ≥ 1 that is observed.

    Args:
        history: (n, P) most recent values, last column = time t.
        horizon: L.
        season: period in samples, ``1 <= season <= P``.

    Returns:
        (n, L) forecast.
    """
    history = np.atleast_2d(np.asarray(history, dtype=np.float64))
    p = history.shape[1]
    if not 1 <= season <= p:
        raise ValueError(f"seasonal_naive_forecast: season={season} must be in [1, P={p}]")
    h = np.arange(1, horizon + 1)
    k = np.ceil(h / season).astype(int)  # smallest k with h - k*season <= 0
    idx = p - 1 + h - k * season
    return history[:, idx]


def best_season(train: np.ndarray, lo: int, hi: int) -> int:
    """Lag in ``[lo, hi]`` with the highest autocorrelation of ``train`` (for series without a calendar season)."""
    x = np.asarray(train, dtype=np.float64)
    x = x - x.mean()
    hi = min(hi, x.size - 2)
    if hi < lo:
        return max(1, lo)
    denom = float(np.dot(x, x)) or 1.0
    ac = [float(np.dot(x[:-k], x[k:])) / denom for k in range(lo, hi + 1)]
    return lo + int(np.argmax(ac))


# --------------------------------------------------------------------------------------------
# the model
# --------------------------------------------------------------------------------------------
class _single_thread:  # noqa: N801 - used like a function
    """Run small inference batches on one torch thread; restores the caller's setting.

    Intra-op threading only slows small LSTM batches down (a lot when the cores are shared).
    """

    def __init__(self, active: bool) -> None:
        self.active = active
        self.saved = 0

    def __enter__(self) -> None:
        if self.active:
            import torch

            self.saved = torch.get_num_threads()
            if self.saved != 1:
                torch.set_num_threads(1)

    def __exit__(self, *exc: object) -> None:
        if self.active and self.saved not in (0, 1):
            import torch

            torch.set_num_threads(self.saved)


_MODULE_CLS: Any = None


def _module_class() -> Any:
    """The torch ``nn.Module`` class, built on first use (keeps torch out of import time)."""
    global _MODULE_CLS
    if _MODULE_CLS is None:
        from torch import nn

        class _LSTMNet(nn.Module):
            """``P`` inputs → stacked LSTM → last hidden state → linear head with ``L`` outputs."""

            def __init__(self, hidden: int, layers: int, horizon: int) -> None:
                super().__init__()
                self.lstm = nn.LSTM(input_size=1, hidden_size=hidden, num_layers=layers, batch_first=True)
                self.head = nn.Linear(hidden, horizon)

            def forward(self, x: Any) -> Any:  # x: (B, P) → (B, L)
                out, _ = self.lstm(x.unsqueeze(-1))
                return self.head(out[:, -1, :])

        _MODULE_CLS = _LSTMNet
    return _MODULE_CLS


@dataclass
class LSTMForecaster:
    """A trained (or freshly initialised) LSTM forecaster ``P → L`` with its normalisation.

    Attributes:
        p: input window ``P`` [samples].
        horizon: output horizon ``L`` [samples].
        hidden: LSTM hidden size (paper: 200).
        layers: stacked LSTM layers (paper: 3).
        scaler: min–max normalisation fitted on the training data.
        history: per-epoch training/validation losses (normalised MSE).
        skip_last: the head predicts the change from the last input value (a skip connection; not in the paper,
            an option that makes persistence the zero-output solution).
    """

    p: int
    horizon: int
    hidden: int = 200
    layers: int = 3
    scaler: MinMaxScaler = field(default_factory=lambda: MinMaxScaler(0.0, 1.0))
    history: list[dict[str, float]] = field(default_factory=list)
    net: Any = None
    skip_last: bool = False

    def __post_init__(self) -> None:
        for name in ("p", "horizon", "hidden", "layers"):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, int) or v < 1:
                raise ValueError(f"LSTMForecaster.{name} = {v!r}: expected an integer >= 1")
        if self.net is None:
            self.net = _module_class()(self.hidden, self.layers, self.horizon)

    @property
    def n_parameters(self) -> int:
        """Number of trainable parameters."""
        return int(sum(p.numel() for p in self.net.parameters()))

    def predict(self, history: np.ndarray, batch_size: int = 1024) -> np.ndarray:
        """Forecast the next ``L`` values.

        Args:
            history: (n, P) or (P,) most recent values in the series' units.
            batch_size: windows per forward pass.

        Returns:
            (n, L) or (L,) forecast in the series' units.
        """
        import torch

        h = np.asarray(history, dtype=np.float64)
        single = h.ndim == 1
        h = np.atleast_2d(h)
        if h.shape[1] != self.p:
            raise ValueError(f"LSTMForecaster.predict: history has {h.shape[1]} values per row, expected P = {self.p}")
        if not np.all(np.isfinite(h)):
            raise ValueError("LSTMForecaster.predict: history contains NaN or infinite values")
        z = self.scaler.transform(h).astype(np.float32)
        self.net.eval()
        outs = []
        with torch.no_grad(), _single_thread(z.shape[0] <= 256):
            for i in range(0, z.shape[0], batch_size):
                zb = torch.from_numpy(z[i:i + batch_size])
                ob = self.net(zb)
                if self.skip_last:
                    ob = ob + zb[:, -1:]
                outs.append(ob.numpy())
        y = self.scaler.inverse(np.concatenate(outs, axis=0) if outs else np.zeros((0, self.horizon)))
        return y[0] if single else y

    def rollout(self, history: np.ndarray, n_steps: int, noise_std: float = 0.0,
                rng: np.random.Generator | None = None) -> np.ndarray:
        """Twin mode: generate ``n_steps`` future values by feeding forecasts back as history.

        Args:
            history: (n, P) or (P,) recent values.
            n_steps: number of future samples to generate (any length).
            noise_std: std of Gaussian innovations added to each generated block, in the series' units
                (0 = deterministic forecast; > 0 keeps long generated series from collapsing to the mean).
            rng: random generator for the innovations (required when ``noise_std > 0``).

        Returns:
            (n, n_steps) or (n_steps,) generated values.
        """
        h = np.asarray(history, dtype=np.float64)
        single = h.ndim == 1
        buf = np.atleast_2d(h).copy()
        if noise_std > 0 and rng is None:
            raise ValueError("LSTMForecaster.rollout: noise_std > 0 needs an rng")
        out = []
        done = 0
        while done < n_steps:
            y = self.predict(buf[:, -self.p:])
            if noise_std > 0:
                y = y + rng.normal(0.0, noise_std, size=y.shape)  # type: ignore[union-attr]
            out.append(y)
            buf = np.concatenate([buf[:, -self.p:], y], axis=1)
            done += self.horizon
        res = np.concatenate(out, axis=1)[:, :n_steps] if out else np.zeros((buf.shape[0], 0))
        return res[0] if single else res

    # ---- persistence ------------------------------------------------------------------------
    def to_bytes(self) -> bytes:
        """Serialise (torch state dict + metadata) to bytes."""
        import torch

        buf = io.BytesIO()
        torch.save(self.to_state(), buf)
        return buf.getvalue()

    def to_state(self) -> dict[str, Any]:
        """A plain dict: metadata and the torch state dict (float32 tensors)."""
        return {
            "format": "mndt-lstm-v1",
            "p": self.p, "horizon": self.horizon, "hidden": self.hidden, "layers": self.layers,
            "scaler": [self.scaler.lo, self.scaler.hi], "skip_last": bool(self.skip_last),
            "state_dict": {k: v.detach().cpu().clone() for k, v in self.net.state_dict().items()},
        }

    @classmethod
    def from_state(cls, state: dict[str, Any]) -> LSTMForecaster:
        """Inverse of :meth:`to_state`."""
        if not isinstance(state, dict) or state.get("format") != "mndt-lstm-v1":
            raise ValueError("LSTMForecaster.from_state: not an mndt-lstm-v1 state (missing or wrong 'format')")
        f = cls(int(state["p"]), int(state["horizon"]), int(state["hidden"]), int(state["layers"]),
                MinMaxScaler(*map(float, state["scaler"])), skip_last=bool(state.get("skip_last", False)))
        f.net.load_state_dict(state["state_dict"])
        f.net.eval()
        return f

    def save(self, path: str | Path) -> None:
        """Write to ``path`` (torch file)."""
        import torch

        torch.save(self.to_state(), Path(path))

    @classmethod
    def load(cls, path: str | Path) -> LSTMForecaster:
        """Read a file written by :meth:`save`."""
        return load_state_file(Path(path), cls.from_state, missing="LSTM weights file not found",
                               unreadable="cannot read LSTM weights", errors=(KeyError, ValueError, RuntimeError))


def train_forecaster(
    train: np.ndarray | list[np.ndarray],
    p: int,
    horizon: int,
    *,
    hidden: int = 200,
    layers: int = 3,
    epochs: int = 200,
    batch_size: int = 64,
    lr: float = 1e-3,
    stride: int = 1,
    val_fraction: float = 0.1,
    patience: int = 20,
    max_seconds: float | None = None,
    max_windows: int | None = None,
    seed: int = 0,
    scaler: MinMaxScaler | None = None,
    skip_last: bool = False,
    verbose: bool = False,
) -> LSTMForecaster:
    """Train an LSTM forecaster on one or several training series.

    Windows are cut from each series separately (never across series boundaries) and pooled. The
    last ``val_fraction`` of each series' windows is held out for early stopping; the weights with
    the lowest validation loss are kept.

    Args:
        train: (T,) series or a list of series, in their own units.
        p: input window ``P``.
        horizon: output horizon ``L``.
        hidden: LSTM hidden size (paper: 200).
        layers: LSTM layers (paper: 3).
        epochs: maximum number of epochs.
        batch_size: mini-batch size.
        lr: Adam learning rate.
        stride: step between window starts.
        val_fraction: share of windows for validation (0 = none; then the last epoch is kept).
        patience: epochs without validation improvement before stopping.
        max_seconds: training budget in CPU seconds of this process (``time.process_time``; equals wall time on an
            idle core with one torch thread, and does not starve when the machine is shared) (None = unlimited).
        max_windows: subsample at most this many training windows (None = all).
        seed: torch / numpy seed (initialisation, shuffling).
        scaler: normalisation to use (default: min–max over all training values).
        skip_last: learn the change from the last input value (see :class:`LSTMForecaster`).
        verbose: print one line per epoch.

    Returns:
        The trained :class:`LSTMForecaster`.

    Raises:
        ValueError: if a series is shorter than ``P + L`` or contains NaNs.
    """
    import torch

    series_list = as_series_list(train, "train_forecaster")
    for i, s in enumerate(series_list):
        if s.ndim != 1:
            raise ValueError(f"train_forecaster: series {i} must be 1-D, got shape {s.shape}")
        if s.size < p + horizon:
            raise ValueError(f"train_forecaster: series {i} has {s.size} values, shorter than P + L = {p + horizon}")
        if not np.all(np.isfinite(s)):
            raise ValueError(f"train_forecaster: series {i} contains NaN or infinite values")
    scaler = scaler or MinMaxScaler.fit(np.concatenate(series_list))
    xs_tr, ys_tr, xs_va, ys_va = [], [], [], []
    for s in series_list:
        x, y = make_windows(scaler.transform(s), p, horizon, stride)
        n_va = int(round(val_fraction * len(x))) if len(x) >= 5 else 0
        n_tr = len(x) - n_va
        # gap of P+L-1 windows between train and validation so their samples do not overlap
        xs_tr.append(x[: max(1, n_tr - (p + horizon - 1) // stride)] if n_va else x)
        ys_tr.append(y[: max(1, n_tr - (p + horizon - 1) // stride)] if n_va else y)
        if n_va:
            xs_va.append(x[n_tr:])
            ys_va.append(y[n_tr:])
    x_tr, y_tr = np.concatenate(xs_tr), np.concatenate(ys_tr)
    rs = np.random.default_rng(seed)
    if max_windows is not None and len(x_tr) > max_windows:
        keep = np.sort(rs.choice(len(x_tr), size=max_windows, replace=False))
        x_tr, y_tr = x_tr[keep], y_tr[keep]
    torch.manual_seed(seed)
    model = LSTMForecaster(p, horizon, hidden, layers, scaler, skip_last=skip_last)
    if skip_last:
        y_tr = y_tr - x_tr[:, -1:]
        ys_va = [y - x[:, -1:] for x, y in zip(xs_va, ys_va, strict=True)]
    net = model.net
    opt = torch.optim.Adam(net.parameters(), lr=lr)
    loss_fn = torch.nn.MSELoss()
    xt, yt = torch.from_numpy(x_tr.astype(np.float32)), torch.from_numpy(y_tr.astype(np.float32))
    have_val = bool(xs_va)
    if have_val:
        xv = torch.from_numpy(np.concatenate(xs_va).astype(np.float32))
        yv = torch.from_numpy(np.concatenate(ys_va).astype(np.float32))
    keeper = BestWeights(min_delta=1e-7)
    t0 = time.process_time()
    w0 = time.perf_counter()

    def run_epoch() -> dict[str, float]:
        train_mse = train_epoch(net, opt, xt, yt, loss_fn, rs, batch_size, t0, max_seconds)
        return {"train_mse": train_mse, "cpu_seconds": time.process_time() - t0, "seconds": time.perf_counter() - w0}

    def validate() -> tuple[str, float]:
        net.eval()
        with torch.no_grad():
            return "val_mse", float(loss_fn(net(xv), yv))

    fit_epochs(net, epochs, run_epoch, validate if have_val else None, keeper, patience, t0, max_seconds,
               model.history,
               (lambda r: f"epoch {int(r['epoch']):3d} train {r['train_mse']:.5f} val "
                          f"{r.get('val_mse', float('nan')):.5f} {r['seconds']:.0f}s") if verbose else None)
    return model
