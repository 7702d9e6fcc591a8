"""Speed of the cell-sleep env: env steps/s with random legal actions (issue 6: >= 2,000 at 500 cells).

The 500-cell scenario is the toy preset with scenario overrides: 167 three-sector macro sites
(501 cells) on a hexagonal grid with 300 m inter-site distance over a 4.5 x 4.5 km area
(2,025 grids of 100 m), shadowing on a 50 m grid (the default 10 m grid would make the twin's
frozen shadowing fields 1.2 GB), no fast fading, 10 users (the task does not use users)::

    BIG = {"width_m": 4500, "height_m": 4500, "sites": {"n_sites": 167, "isd_m": 300},
           "channel": {"shadow_grid_m": 50, "fading": "none"}, "users": {"n_users": 10}}
    gym.make("mndt/CellSleep-v0", scenario="toy", config=BIG)

Random legal actions are drawn vectorised (argmax of uniform noise times the mask: one legal
action per cell, uniformly). Steps run through the Gymnasium env (``env.unwrapped.step``: obs
dict, reward, info) with week-long episodes, resets included. We report the median over
repeats of both wall-clock steps/s and CPU-time steps/s (``time.process_time``) of this single
process pinned to one thread: on a shared machine the CPU-time figure is the one-core rate.

    python benchmarks/cell_sleep.py [--repeats 5] [--steps 1000]
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
import warnings

for _v in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_v, "1")

import gymnasium as gym  # noqa: E402
import numpy as np  # noqa: E402

import mndt_envs  # noqa: F401, E402

BIG = {"width_m": 4500.0, "height_m": 4500.0, "sites": {"n_sites": 167, "isd_m": 300.0},
       "channel": {"shadow_grid_m": 50.0, "fading": "none"}, "users": {"n_users": 10}}
SCENARIOS = {
    "toy (21 cells)": ("toy", {}),
    "paper (184 cells)": ("paper", {"channel": {"shadow_grid_m": 20.0, "fading": "none"}}),
    "500-cell (501 cells)": ("toy", BIG),
}


def bench(scenario: str, overrides: dict, steps: int, repeats: int) -> dict:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        t0 = time.perf_counter()
        env = gym.make("mndt/CellSleep-v0", scenario=scenario, config=overrides)
        build = time.perf_counter() - t0
    core = env.unwrapped.core
    env.reset(seed=0)
    rng = np.random.default_rng(0)
    u = env.unwrapped
    wall, cpu = [], []
    for _ in range(repeats):
        w0, c0 = time.perf_counter(), time.process_time()
        for _ in range(steps):
            m = core.legal
            a = (rng.random(m.shape) * m).argmax(axis=1)
            _, _, term, trunc, _ = u.step(a)
            if term or trunc:
                u.reset()
        wall.append(steps / (time.perf_counter() - w0))
        cpu.append(steps / (time.process_time() - c0))
    env.close()
    return {"cells": core.n_cells, "grids": core.n_grids, "cover_nnz": core.A.nnz, "build_s": build,
            "wall": statistics.median(wall), "cpu": statistics.median(cpu)}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--repeats", type=int, default=5)
    p.add_argument("--steps", type=int, default=1000)
    p.add_argument("--only-500", action="store_true")
    args = p.parse_args()
    from rich.console import Console
    from rich.table import Table

    table = Table(title=f"mndt/CellSleep-v0, random legal actions, median of {args.repeats} x {args.steps} steps")
    for col in ("scenario", "cells", "grids", "cover pairs", "build [s]", "steps/s (wall)", "steps/s (CPU)"):
        table.add_column(col)
    items = {k: v for k, v in SCENARIOS.items() if not args.only_500 or k.startswith("500")}
    for name, (scen, over) in items.items():
        r = bench(scen, over, args.steps, args.repeats)
        table.add_row(name, str(r["cells"]), str(r["grids"]), str(r["cover_nnz"]), f"{r['build_s']:.1f}",
                      f"{r['wall']:.0f}", f"{r['cpu']:.0f}")
    Console().print(table)
    print(f"load average: {os.getloadavg()}")


if __name__ == "__main__":
    main()
