"""Resource-allocation demo (``mndt demo resource_allocation``): the three baselines on a capacity-limited toy."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:  # pragma: no cover
    from rich.console import Console

__all__ = ["demo"]


def demo(console: Console, outdir: Path) -> None:
    """Run the three baselines on ``toy`` with 700 users (capacity-limited) for two seeded episodes.

    Prints a table (throughput in units of bandwidth, satisfaction ratio, episode cost) and saves
    a map of the last episode's end to ``outdir / "resource_allocation.png"``.
    """
    import time

    import gymnasium as gym
    from rich.table import Table

    from ..evaluation import run_episode
    from ..registration import load_entry, task

    spec = task("resource_allocation")
    table = Table(title="Resource allocation (toy, 21 cells, 700 users, 2 episodes): baselines")
    for col in ("policy", "throughput [×B]", "satisfaction", "episode cost", "s/episode"):
        table.add_column(col)
    env = gym.make(spec.env_id, scenario="toy", config={"users": {"n_users": 700}})
    for name, entry in spec.baselines.items():
        pol = load_entry(entry)(env)
        t0 = time.perf_counter()
        runs = [run_episode(env, pol, ep) for ep in range(2)]
        thr = [r["metrics"]["throughput_bw"] for r in runs]
        sat = [r["metrics"]["satisfaction_ratio"] for r in runs]
        cost = [r["cost"] for r in runs]
        table.add_row(name, f"{np.mean(thr):.4g}", f"{100 * np.mean(sat):.2f}%", f"{np.mean(cost):.3f}",
                      f"{(time.perf_counter() - t0) / 2:.2f}")
    console.print(table)
    core = env.unwrapped.core  # type: ignore[attr-defined]
    outdir = Path(outdir)
    outdir.mkdir(parents=True, exist_ok=True)
    from ..render import render_map

    path = outdir / "resource_allocation.png"
    render_map(core.twin, user_values=core.remaining / core.bw, user_label="remaining demand [×B·s]",
               regions=False, lines=core.serving, title="resource allocation (toy, 700 users), end of an episode",
               path=path)
    console.print(f"saved {path}")
    env.close()
