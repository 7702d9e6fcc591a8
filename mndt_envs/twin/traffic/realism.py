"""Is the traffic generator realistic? Statistics of generated series against held-back real ones.

Every statistic is computed per series (or per pair of neighbouring series) on series normalised
by their own mean, so it does not depend on a cell's load level:

* **daily profile**: mean load per hour of day (24 values, relative to the series mean); the table
  reports its peak-to-trough ratio and the hour of the peak, and every hour is checked;
* **weekday / weekend ratio**: mean load on Monday–Friday over mean load on Saturday–Sunday;
* **marginal quantiles**: 5, 25, 50, 75, 95 % quantiles of ``x / mean(x)``;
* **autocorrelation** at 10 min, 1 h and 1 day (lags 1, 6, 144 slots);
* **cross-correlation** of neighbouring cells: Pearson correlation of the two series, and of their
  first differences (the part not explained by the shared daily cycle).

A generated statistic *matches* when the median over generated series lies within the real
series' spread (min … max across the held-back squares, or across neighbouring pairs).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ..cache import atomic_path

__all__ = ["series_stats", "compare", "StatRow", "format_rows", "plot_comparison", "QUANTILES", "ACF_LAGS"]

QUANTILES = (0.05, 0.25, 0.5, 0.75, 0.95)
ACF_LAGS = {"10 min": 1, "1 h": 6, "1 day": 144}
SLOTS_PER_DAY = 144


def _acf(x: np.ndarray, lag: int) -> float:
    a, b = x[:-lag] - x.mean(), x[lag:] - x.mean()
    return float((a * b).sum() / max(((x - x.mean()) ** 2).sum(), 1e-30))


def series_stats(x: np.ndarray, start_slot_of_week: int, pairs: list[tuple[int, int]] | None = None,
                 slots_per_day: int = SLOTS_PER_DAY) -> dict[str, np.ndarray]:
    """Per-series statistics of (n, T) series sampled every 10 min, slot 0 at ``start_slot_of_week``.

    Args:
        x: (n, T) non-negative series, T ≥ 2 days (weekday/weekend ratio needs both kinds of day).
        start_slot_of_week: slot of the week of ``x[:, 0]`` (0 = Monday 00:00).
        pairs: index pairs of neighbouring series for the cross-correlations (None = consecutive rows).
        slots_per_day: samples per day.

    Returns:
        ``{"profile": (n, 24), "peak_to_trough": (n,), "peak_hour": (n,), "weekday_weekend": (n,),
        "q05" … "q95": (n,), "acf 10 min" …: (n,), "xcorr": (n_pairs,), "xcorr of differences": (n_pairs,)}``.
    """
    x = np.asarray(x, dtype=np.float64)
    if x.ndim != 2 or x.shape[1] < 2 * slots_per_day:
        raise ValueError(f"series_stats: x must be (n, T >= {2 * slots_per_day}), got shape {x.shape}")
    n, t_len = x.shape
    z = x / np.maximum(x.mean(axis=1, keepdims=True), 1e-30)
    slot = start_slot_of_week + np.arange(t_len)
    hour = (slot % slots_per_day) * 24 // slots_per_day
    weekday = (slot // slots_per_day) % 7
    out: dict[str, np.ndarray] = {}
    prof = np.stack([z[:, hour == h].mean(axis=1) for h in range(24)], axis=1)
    out["profile"] = prof
    out["peak_to_trough"] = prof.max(axis=1) / np.maximum(prof.min(axis=1), 1e-30)
    out["peak_hour"] = prof.argmax(axis=1).astype(np.float64)
    wk, we = weekday < 5, weekday >= 5
    if wk.any() and we.any():
        out["weekday_weekend"] = z[:, wk].mean(axis=1) / np.maximum(z[:, we].mean(axis=1), 1e-30)
    for q in QUANTILES:
        out[f"q{int(round(100 * q)):02d}"] = np.quantile(z, q, axis=1)
    for name, lag in ACF_LAGS.items():
        if lag < t_len:
            out[f"acf {name}"] = np.array([_acf(s, lag) for s in x])
    pairs = pairs if pairs is not None else [(i, i + 1) for i in range(n - 1)]
    if pairs:
        out["xcorr"] = np.array([np.corrcoef(x[i], x[j])[0, 1] for i, j in pairs])
        d = np.diff(x, axis=1)
        out["xcorr of differences"] = np.array([np.corrcoef(d[i], d[j])[0, 1] for i, j in pairs])
    return out


@dataclass
class StatRow:
    """One statistic: the real spread, the generated median and spread, and whether they match."""

    name: str
    real_median: float
    real_lo: float
    real_hi: float
    gen_median: float
    gen_lo: float
    gen_hi: float

    @property
    def ok(self) -> bool:
        """The generated median lies within the real min … max."""
        return bool(self.real_lo <= self.gen_median <= self.real_hi)


def compare(real: dict[str, np.ndarray], gen: dict[str, np.ndarray]) -> list[StatRow]:
    """Rows for every scalar statistic and every hour of the daily profile (``profile hh``)."""
    rows = []
    for key in real:
        if key not in gen:
            continue
        r, g = np.asarray(real[key]), np.asarray(gen[key])
        if key == "profile":
            for h in range(r.shape[1]):
                rows.append(_row(f"profile {h:02d}h", r[:, h], g[:, h]))
        else:
            rows.append(_row(key, r, g))
    return rows


def _row(name: str, r: np.ndarray, g: np.ndarray) -> StatRow:
    return StatRow(name, float(np.median(r)), float(r.min()), float(r.max()), float(np.median(g)),
                   float(np.quantile(g, 0.05)), float(np.quantile(g, 0.95)))


def format_rows(rows: list[StatRow], profile_hours: bool = False) -> list[list[str]]:
    """Table cells: statistic, real median, real min–max, generated median, generated 5–95 %, match."""
    out = []
    prof = [r for r in rows if r.name.startswith("profile ")]
    for r in rows:
        if r.name.startswith("profile ") and not profile_hours:
            continue
        out.append([r.name, f"{r.real_median:.3f}", f"{r.real_lo:.3f} … {r.real_hi:.3f}", f"{r.gen_median:.3f}",
                    f"{r.gen_lo:.3f} … {r.gen_hi:.3f}", "yes" if r.ok else "NO"])
    if prof and not profile_hours:
        n_ok = sum(r.ok for r in prof)
        worst = max(prof, key=lambda r: max(r.real_lo - r.gen_median, r.gen_median - r.real_hi, 0.0))
        out.insert(0, ["daily profile (24 hours)", "", "", "", f"worst hour {worst.name[8:]}",
                       f"{n_ok}/24 hours" + ("" if n_ok == 24 else " NO")])
    return out


def plot_comparison(real_x: np.ndarray, gen_x: np.ndarray, real: dict[str, np.ndarray], gen: dict[str, np.ndarray],
                    path: str | Path, title: str = "") -> Path:
    """Draw real vs generated: daily profile, marginal quantiles, ACF, correlations, example weeks (PNG)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig, ax = plt.subplots(2, 3, figsize=(15, 8))
    hrs = np.arange(24)
    for stats, col, lab in ((real, "C0", "real (held back)"), (gen, "C1", "generated")):
        p = stats["profile"]
        ax[0, 0].fill_between(hrs, p.min(0), p.max(0), color=col, alpha=0.2)
        ax[0, 0].plot(hrs, np.median(p, 0), color=col, label=lab)
    ax[0, 0].set(xlabel="hour of day", ylabel="load / series mean", title="daily profile (median, min-max)")
    ax[0, 0].legend()
    qs = [k for k in real if k.startswith("q") and k[1:].isdigit()]
    pos = np.arange(len(qs))
    ax[0, 1].boxplot([real[q] for q in qs], positions=pos - 0.18, widths=0.3, patch_artist=True,
                     boxprops={"facecolor": "C0", "alpha": 0.4})
    ax[0, 1].boxplot([gen[q] for q in qs], positions=pos + 0.18, widths=0.3, patch_artist=True,
                     boxprops={"facecolor": "C1", "alpha": 0.4})
    ax[0, 1].set_xticks(pos, qs)
    ax[0, 1].set(title="marginal quantiles of load / mean (blue real, orange generated)")
    lags = np.arange(1, 2 * SLOTS_PER_DAY + 1)
    for xx, col in ((real_x, "C0"), (gen_x, "C1")):
        ac = np.array([[_acf(s, lag) for lag in lags[::3]] for s in xx])
        ax[0, 2].fill_between(lags[::3] / 6, ac.min(0), ac.max(0), color=col, alpha=0.2)
        ax[0, 2].plot(lags[::3] / 6, np.median(ac, 0), color=col)
    ax[0, 2].set(xlabel="lag [h]", ylabel="autocorrelation", title="ACF (median, min-max)")
    keys = [k for k in ("weekday_weekend", "xcorr", "xcorr of differences", "acf 10 min", "acf 1 h", "acf 1 day")
            if k in real and k in gen]
    for i, k in enumerate(keys):
        ax[1, 0].scatter(np.full(real[k].size, i - 0.12), real[k], color="C0", s=10, alpha=0.6)
        ax[1, 0].scatter(np.full(gen[k].size, i + 0.12), gen[k], color="C1", s=10, alpha=0.6)
    ax[1, 0].set_xticks(range(len(keys)), keys, rotation=20, fontsize=8)
    ax[1, 0].set(title="per series / per neighbour pair")
    t = np.arange(real_x.shape[1]) / SLOTS_PER_DAY
    for j in range(min(3, real_x.shape[0])):
        ax[1, 1].plot(t, real_x[j] / real_x[j].mean(), lw=0.6)
    ax[1, 1].set(xlabel="day", ylabel="load / mean", title="real held-back squares (3 of them)")
    tg = np.arange(gen_x.shape[1]) / SLOTS_PER_DAY
    for j in range(min(3, gen_x.shape[0])):
        ax[1, 2].plot(tg, gen_x[j] / gen_x[j].mean(), lw=0.6)
    ax[1, 2].set(xlabel="day", ylabel="load / mean", title="generated cells (3 of them)")
    ax[1, 2].set_ylim(ax[1, 1].get_ylim())
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=100)
    plt.close(fig)
    return path


def validation_data(x: np.ndarray, gen: Any, rng: np.random.Generator, *, test_start: int, n_gen: int = 100,
                    start_slot_of_week_0: int, grid_shape: tuple[int, int] = (5, 5)) -> dict[str, Any]:
    """Real held-back series (``x[:, test_start:]``) and ``n_gen`` generated ones over the same calendar.

    Returns:
        ``{"real_x", "gen_x", "real", "gen", "rows"}``.
    """
    from mndt_envs.twin.traffic.loaders import grid_neighbour_pairs

    real_x = x[:, test_start:]
    start = (start_slot_of_week_0 + test_start) % (7 * SLOTS_PER_DAY)
    gen_x = gen.generate_native(n_gen, real_x.shape[1], rng, start)
    real = series_stats(real_x, start, grid_neighbour_pairs(grid_shape))
    g = series_stats(gen_x, start, [(i, i + 1) for i in range(0, n_gen - 1, 2)])
    return {"real_x": real_x, "gen_x": gen_x, "real": real, "gen": g, "rows": compare(real, g),
            "start_slot_of_week": start}


__all__ += ["validation_data"]
