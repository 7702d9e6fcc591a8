"""What the fast RB solver of the batched resource-allocation core costs in throughput (issue 12, item 3).

Runs the same seeded episodes (same users, demands, fading; the same actions) through
:class:`~mndt_envs.batched.resource_allocation.BatchedResourceAllocationCore` with ``rb_solver="exact"``
(the single env's per-BS Hungarian assignment, sequential over BSs in decreasing load) and
``rb_solver="fast"`` (one vectorised pass, staggered per-BS RB orders), for two fixed demand policies:
``equal`` (each user asks for ``1 / steps_left`` of its remaining demand: the equal-dividing baseline)
and ``all`` (every user asks for all of it). Prints the episode throughput in units of bandwidth, the
satisfaction ratio, the throughput lost by the fast solver, and both solvers' env-steps/s.

    python benchmarks/batched_allocation.py --scenario toy --n-envs 64 --episodes 2
    python benchmarks/batched_allocation.py --scenario paper --n-envs 2 --episodes 1
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path
from typing import Any

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
os.environ.setdefault("OMP_NUM_THREADS", "1")

import numpy as np  # noqa: E402

from mndt_envs.batched.resource_allocation import BatchedResourceAllocationCore  # noqa: E402


def run(scenario: str, n_envs: int, episodes: int, solver: str, policy: str, seed: int) -> dict[str, float]:
    core = BatchedResourceAllocationCore(n_envs, scenario, rb_solver=solver)
    thr, sat, steps, el = [], [], 0, 0.0
    for ep in range(episodes):
        core.reset(seed=seed + ep * n_envs)
        done = np.zeros(n_envs, dtype=bool)
        while not done.all():
            if policy == "equal":
                left = (core.cfg.episode_steps - core.t).astype(np.float64)
                a = np.repeat((1.0 / np.maximum(left, 1.0))[:, None], core.n_users, axis=1)
            else:
                a = np.ones((n_envs, core.n_users))
            t0 = time.perf_counter()
            res = core.step(a)
            el += time.perf_counter() - t0
            steps += n_envs
            done |= res.terminated
        m = core.episode_metrics()
        thr += m["throughput_bw"].tolist()
        sat += m["satisfaction_ratio"].tolist()
    return {"throughput_bw": float(np.mean(thr)), "satisfaction": float(np.mean(sat)), "env_steps_per_s": steps / el}


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--scenario", default="toy")
    ap.add_argument("--n-envs", type=int, default=64)
    ap.add_argument("--episodes", type=int, default=2, help="batches of n_envs episodes per solver and policy")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--json", type=Path, default=None)
    a = ap.parse_args(argv)
    from rich.console import Console
    from rich.table import Table

    for solver in ("exact", "fast"):  # compile the kernels first, so the first timed arm does not pay for it
        warm = BatchedResourceAllocationCore(2, "toy", rb_solver=solver)
        warm.reset(seed=0)
        warm.step(np.ones((2, warm.n_users)))
    out: list[dict[str, Any]] = []
    t = Table(title=f"RB solvers on '{a.scenario}', {a.n_envs} × {a.episodes} seeded episodes per cell")
    for col in ("policy", "solver", "throughput [×B]", "satisfaction", "lost vs exact", "env-steps/s"):
        t.add_column(col, justify="right")
    for policy in ("equal", "all"):
        ref = None
        for solver in ("exact", "fast"):
            r = run(a.scenario, a.n_envs, a.episodes, solver, policy, a.seed)
            ref = r if solver == "exact" else ref
            assert ref is not None
            lost = 1.0 - r["throughput_bw"] / ref["throughput_bw"]
            out.append({"scenario": a.scenario, "policy": policy, "solver": solver, "lost": lost, **r})
            t.add_row(policy, solver, f"{r['throughput_bw']:,.0f}", f"{100 * r['satisfaction']:.2f}%",
                      f"{100 * lost:+.2f}%", f"{r['env_steps_per_s']:,.0f}")
    Console().print(t)
    if a.json:
        a.json.write_text(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
