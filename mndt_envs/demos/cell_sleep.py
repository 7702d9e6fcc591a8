"""Cell-sleep demo (``mndt demo cell_sleep``): two days on the toy scenario with the three baselines."""

from __future__ import annotations

import pathlib
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:  # pragma: no cover
    from rich.console import Console

__all__ = ["run_policy", "demo", "plot_week"]

def run_policy(env: Any, policy: Any, seed: int) -> dict[str, Any]:
    """Run one episode of the single-agent env with ``policy.predict``; per-step series + metrics."""
    from ..evaluation import run_episode

    r = run_episode(env, policy, seed, record=("power_w", "demand_bps", "unserved_bps", "cells_on"))
    return {"return": r["return"], "metrics": r["metrics"],
            **{k: r[k] for k in ("power_w", "demand_bps", "unserved_bps", "cells_on")}}


def demo(console: Console, outdir: pathlib.Path) -> None:
    """Two days on the toy scenario with the three baselines: energy table + PNG of power over time."""
    import gymnasium as gym
    from rich.table import Table

    from mndt_envs.baselines.cell_sleep import AlwaysOn, LoadThreshold, MinimalCells

    kw: dict[str, Any] = {"scenario": "toy", "config": {"task": {"days": 2}}}
    results = {}
    for name, cls in (("always_on", AlwaysOn), ("min_cells", MinimalCells), ("load_threshold", LoadThreshold)):
        env = gym.make("mndt/CellSleep-v0", **kw)
        results[name] = run_policy(env, cls(env), seed=0)
        env.close()
    table = Table(title="Cell sleep, toy scenario (21 cells), 2 days, seed 0")
    for col in ("policy", "energy (kWh)", "saved", "unserved (%)", "switches"):
        table.add_column(col)
    for name, res in results.items():
        m = res["metrics"]
        saved = round(m["saved_pct"], 1) + 0.0  # no "-0.0"
        table.add_row(name, f"{m['energy_kwh']:.1f}", f"{saved:.1f} %", f"{m['unserved_pct']:.3f}",
                      f"{m['switches']:.0f}")
    console.print(table)
    outdir.mkdir(parents=True, exist_ok=True)
    path = outdir / "cell_sleep_demo.png"
    plot_week(results, path, step_min=30.0)
    console.print(f"saved {path}")


def plot_week(results: dict[str, dict[str, Any]], path: pathlib.Path, step_min: float = 30.0) -> None:
    """Paper Fig. 4 analogue: network power per policy (top) and total traffic demand (bottom)."""
    import matplotlib

    matplotlib.use("Agg", force=False)
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(10, 5.5), dpi=100)
    FigureCanvasAgg(fig)
    ax1, ax2 = fig.subplots(2, 1, sharex=True, gridspec_kw={"height_ratios": [2, 1]})
    first = next(iter(results.values()))
    t_d = (np.arange(len(first["power_w"])) + 1) * step_min / 1440.0  # [days]
    for name, res in results.items():
        ax1.plot(t_d, res["power_w"] / 1e3, lw=1.2, label=name)
    ax1.set_ylabel("network power [kW]")
    ax1.legend(fontsize=8, ncol=len(results))
    ax1.grid(alpha=0.3)
    ax2.plot(t_d, first["demand_bps"] / 1e6, color="k", lw=1.0, label="demand")
    for name, res in results.items():
        if res["unserved_bps"].any():
            ax2.plot(t_d, res["unserved_bps"] / 1e6, lw=0.8, ls="--", label=f"unserved ({name})")
    ax2.set_ylabel("traffic [Mbit/s]")
    ax2.set_xlabel("time [days]")
    ax2.legend(fontsize=7, ncol=2)
    ax2.grid(alpha=0.3)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path)
