"""Cell sleep: the grids' traffic demand (diurnal + weekly model, or the LSTM traffic twin).

A grid's demand [bit/s] at step ``t`` is
``peak · w_g · (β_g busi(t) + (1 − β_g) resi(t)) · e^{σ_day ε_{g,day}} · e^{σ ε_{g,t} − σ²/2}``
(:func:`diurnal_profile`), or with ``demand_source="lstm"`` the grid's weight times a normalised
series of the traffic twin. :class:`DemandModel` draws one episode's model at reset and yields its
rows in sequence.
"""

from __future__ import annotations

import numpy as np

from .config import HISTORY, CellSleepConfig

__all__ = ["diurnal_profile", "DemandModel", "lstm_series"]

_NOISE_BLOCK = 32  # demand noise rows drawn at once


def _bumps(h: np.ndarray, centres: tuple[float, ...], widths: tuple[float, ...],
           heights: tuple[float, ...]) -> np.ndarray:
    out = np.zeros_like(h)
    for c, w, a in zip(centres, widths, heights):
        d = (h - c + 12.0) % 24.0 - 12.0  # wrap around midnight
        out += a * np.exp(-0.5 * (d / w) ** 2)
    return out


def _daily_raw(h: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    bus = 0.08 + _bumps(h, (11.0, 15.0), (2.0, 2.2), (0.85, 0.8))
    res = 0.12 + _bumps(h, (13.0, 21.0), (2.5, 2.2), (0.45, 0.88))
    return bus, res


_H = np.linspace(0.0, 24.0, 2881)
_NORM = tuple(float(x.max()) for x in _daily_raw(_H))


def _daily(h: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    bus, res = _daily_raw(h)
    return bus / _NORM[0], res / _NORM[1]


def diurnal_profile(t_h: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The two daily traffic profiles of the diurnal demand model, in [0, 1].

    ``t_h`` is the time in hours since Monday 00:00. **Business**: peaks at 11:00 and 15:00,
    floor 0.08, weekend days scaled by 0.45. **Residential**: a midday bump at 13:00 (0.55) and
    the evening peak at 21:00, floor 0.12, Saturday ×1.1 and Sunday ×1.15. Both are normalised to
    a weekday maximum of 1. A grid's demand is
    ``peak · w_g · (β_g busi + (1 − β_g) resi) · e^{σ_day ε_{g,day}} · e^{σ ε_{g,t}}`` with hot-spot
    weights ``w_g`` (log-normal, ``spatial_sigma``), mixes ``β_g ~ Beta`` with mean
    ``business_share``, and the noise terms ε standard normal, all drawn from the env rng.

    Returns:
        (business, residential), each shaped like ``t_h``.
    """
    h = np.asarray(t_h, dtype=np.float64) % 24.0
    day = (np.asarray(t_h, dtype=np.float64) // 24.0).astype(np.int64) % 7
    bus, res = _daily(h)
    bus = bus * np.where(day >= 5, 0.45, 1.0)
    res = res * np.select([day == 5, day == 6], [1.1, 1.15], 1.0)
    return bus, res


def lstm_series(n_series: int, n_steps: int, step_s: float, rng: np.random.Generator,
                start_hour: float) -> np.ndarray:
    """Normalised load series (1 = the traffic twin's busy-hour level), aligned to ``start_hour``."""
    from ...twin.traffic.generator import demand_series  # in-repo; imported here to keep `import` light

    out = demand_series(n_series, n_steps, step_s, rng, peak_bps=1.0, start_hour=start_hour)
    out = np.asarray(out, dtype=np.float64)
    if out.shape != (n_series, n_steps):
        raise ValueError(f"demand_series returned shape {out.shape}, expected {(n_series, n_steps)}")
    return np.maximum(out, 0.0)


class DemandModel:
    """One episode's demand of every grid, drawn at :meth:`draw` and read row by row with :meth:`row`.

    Args:
        cfg: the task config.
        capacity_share: (n_grids,) [bit/s] capacity covering each grid with every cell on (the mean
            demand weights follow it: planners put capacity where traffic is).
        total_cap: [bit/s] total capacity of the network.
    """

    def __init__(self, cfg: CellSleepConfig, capacity_share: np.ndarray, total_cap: float) -> None:
        self.cfg = cfg
        self.denom_all = capacity_share  # (n_grids,) [bit/s]
        self.total_cap = total_cap  # [bit/s]
        self.n_grids = len(capacity_share)
        self.step_s = cfg.step_min * 60.0  # [s]
        self.series: np.ndarray | None = None  # (n, n_grids) [bit/s] whole series ("lstm"), else None

    def draw(self, rng: np.random.Generator) -> None:
        """Draw the episode's demand model from ``rng``; rows are produced by :meth:`row`.

        Per grid: hot-spot weight, business/residential mix and per-day amplitudes at reset; the
        per-step noise is drawn step by step from a generator seeded from ``rng`` (cheap resets;
        same seed, same series). With ``demand_source="lstm"`` the whole series is drawn here.
        """
        c = self.cfg
        n = c.n_steps + HISTORY
        t0 = c.start_day * 24.0 - HISTORY * c.step_min / 60.0
        t_h = t0 + np.arange(n) * c.step_min / 60.0  # (n,) [h since Monday 00:00]
        w = rng.lognormal(0.0, c.spatial_sigma, self.n_grids) if c.spatial_sigma > 0 else np.ones(self.n_grids)
        w *= self.denom_all / self.denom_all.mean()  # planners put capacity where traffic is
        w *= c.peak_load * self.total_cap / w.sum()  # [bit/s] network demand at the weekday peak
        self.w = w  # (n_grids,) [bit/s]
        self.series = None
        if c.demand_source == "lstm":
            s = lstm_series(self.n_grids, n, self.step_s, rng, start_hour=t0 % 24.0).T  # (n, n_grids)
            self.series = w[None, :] * s
            return
        a = 8.0
        self.mix = rng.beta(a * c.business_share, a * (1 - c.business_share), self.n_grids) \
            if 0 < c.business_share < 1 else np.full(self.n_grids, c.business_share)  # (n_grids,)
        self.bus, self.res = diurnal_profile(t_h)  # (n,) each
        self.day = ((t_h - t0) // 24.0).astype(np.int64)  # (n,) day of the episode
        self.day_f = np.exp(c.day_sigma * rng.standard_normal((int(self.day[-1]) + 1, self.n_grids)))
        self.noise_rng = np.random.default_rng(rng.integers(0, 2**63 - 1))
        self.z_block = np.empty((0, self.n_grids))  # noise rows drawn ahead (one per call)
        self.d_block = np.empty((0, self.n_grids))  # the demand rows computed with them
        self.k0 = 0  # row of the demand model of the block's first row
        self.i = 0  # next row of the block

    def row(self, k: int) -> np.ndarray:
        """(n_grids,) demand [bit/s] of row ``k`` (row HISTORY is the episode's first step)."""
        if self.series is not None:
            return self.series[k]
        # Each call uses the next row of the noise stream. Rows are asked for in sequence, so the next
        # _NOISE_BLOCK rows are computed at once (same stream, same element-wise arithmetic as row by row).
        sig = self.cfg.noise_sigma
        i = self.i
        if i >= len(self.z_block):
            kk = np.arange(k, min(k + _NOISE_BLOCK, len(self.day)))  # (b,)
            self.z_block = self.noise_rng.standard_normal((len(kk), self.n_grids))
            noise = np.exp(sig * self.z_block - 0.5 * sig * sig)
            prof = self.res[kk, None] + (self.bus[kk] - self.res[kk])[:, None] * self.mix
            self.d_block = self.w * prof * self.day_f[self.day[kk]] * noise  # (b, n_grids)
            self.k0, i = k, 0
        self.i = i + 1
        if k == self.k0 + i:
            return self.d_block[i]
        noise = np.exp(sig * self.z_block[i] - 0.5 * sig * sig)  # out of sequence: this row alone
        prof = self.res[k] + (self.bus[k] - self.res[k]) * self.mix
        return self.w * prof * self.day_f[self.day[k]] * noise
