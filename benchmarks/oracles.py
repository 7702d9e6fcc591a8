"""How far from optimal? The oracles of issue 16 beside every policy, with their solve times.

Prints one table per task (and writes them as Markdown to ``--out``):

* resource allocation: throughput and satisfaction of the agent (shipped PPO-Lagrangian weights), the tuned
  constant-parameter heuristic and the baselines, as % of the LP upper bound (``toy``; ``--paper`` adds the
  ``paper`` preset with the bound over the demand-mode candidates);
* cell sleep: energy of the baselines over the toy week vs the offline bound (per-step MILPs), gap in %;
* load balancing: mean std of busy degrees of static, BFDBA and BDBA vs the centralised reference.

Usage::

    python benchmarks/oracles.py                       # all three on toy (about 20 minutes on 2 busy cores)
    python benchmarks/oracles.py --tasks cell_sleep    # one task
    python benchmarks/oracles.py --paper               # + resource allocation on `paper` (long)
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np
from rich.console import Console
from rich.table import Table

import mndt_envs
from mndt_envs.evaluation import run_episode
from mndt_envs.registration import load_entry, task

console = Console()
WEIGHTS = Path(mndt_envs.__file__).parent / "data" / "weights" / "ra_ppo_lagrangian.zip"


def _table(title: str, header: list[str], rows: list[list[str]], md: list[str]) -> None:
    t = Table(title=title, title_justify="left")
    for h in header:
        t.add_column(h, justify="left" if h == header[0] else "right")
    for r in rows:
        t.add_row(*r)
    console.print(t)
    md += [f"**{title}**", "", "| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    md += ["| " + " | ".join(r) + " |" for r in rows] + [""]


def resource_allocation(scenario: str, config: dict[str, Any], seeds: list[int], cells_per_user: int,
                        md: list[str]) -> None:
    """Policies as % of the LP upper bound."""
    from mndt_envs.agents.ppo_lagrangian import PPOLagrangianAgent
    from mndt_envs.baselines.oracle_resource_allocation import ResourceAllocationBound

    env = gym.make("mndt/ResourceAllocation-v0", scenario=scenario, config=config)
    oracle = ResourceAllocationBound(env, cells_per_user=cells_per_user)
    t0 = time.perf_counter()
    bounds = [oracle.evaluate(s) for s in seeds]
    solve = (time.perf_counter() - t0) / len(seeds)
    b = {k: float(np.mean([x[k] for x in bounds])) for k in bounds[0]}
    pols: dict[str, Any] = {}
    if WEIGHTS.exists():
        pols["PPO-Lagrangian (shipped)"] = lambda e: PPOLagrangianAgent(e, WEIGHTS)
    for name, entry in task("resource_allocation").baselines.items():
        pols[name] = load_entry(entry)
    rows = []
    for name, make in pols.items():
        if cells_per_user and name == "nearest_random_fair":
            continue  # the candidates-only bound does not cover it
        runs = [run_episode(env, make(env), s)["metrics"] for s in seeds]
        m = {k: float(np.mean([r[k] for r in runs])) for k in ("throughput_bw", "satisfaction_ratio")}
        gap = oracle.gap(m, b)
        rows.append([name, f"{m['throughput_bw']:.4g}", f"{100 * m['satisfaction_ratio']:.2f} %",
                     f"{100 * m['throughput_bw'] / b['throughput_bw']:.1f} %",
                     f"{100 - gap:.1f} %" if gap is not None else "-"])
    rows.append(["upper bound [oracle: sees the future]", f"{b['throughput_bw']:.4g}",
                 f"≤ {100 * b['satisfaction_ratio']:.2f} %", "100 %",
                 f"at ≥ 95 %: {b['throughput_bw_at_target']:.4g}"])
    users = config.get("users", {}).get("n_users", "default")
    _table(f"Resource allocation, {scenario} ({users} users), seeds {seeds}; bound solve {solve:.1f} s/episode"
           + (f", top-{cells_per_user} candidates" if cells_per_user else ", all cells"),
           ["policy", "throughput [×B]", "satisfaction", "% of bound", "% of tightest bound"], rows, md)
    env.close()


def cell_sleep(days: int, seeds: list[int], md: list[str]) -> None:
    """Energy of the baselines vs the offline bound over the toy week."""
    from mndt_envs.baselines.oracle_cell_sleep import CellSleepOracle

    env = gym.make("mndt/CellSleep-v0", scenario="toy", config={"task": {"days": days}})
    oracle = CellSleepOracle(env, progress=True)
    t0 = time.perf_counter()
    outs = [oracle.evaluate(s) for s in seeds]
    solve = (time.perf_counter() - t0) / len(seeds)
    o = {k: float(np.mean([x[k] for x in outs])) for k in outs[0]}
    rows = []
    for name, entry in task("cell_sleep").baselines.items():
        runs = [run_episode(env, load_entry(entry)(env), s) for s in seeds]
        e = float(np.mean([r["metrics"]["energy_kwh"] for r in runs]))
        ret = float(np.mean([r["return"] for r in runs]))
        un = float(np.mean([r["metrics"]["unserved_gbit"] for r in runs]))
        sv = float(np.mean([r["metrics"]["saved_pct"] for r in runs]))
        rows.append([name, f"{e:.1f}", f"{sv:.1f} %", f"{un:.3g}", f"{ret:.1f}",
                     f"{100 * (e - o['energy_bound_kwh']) / o['energy_bound_kwh']:.1f} %",
                     f"{oracle.gap({'return': ret}, o):.1f} %"])
    saved_b = 100 * (1 - o["energy_bound_kwh"] / o["energy_always_on_kwh"])
    rows.append(["offline bound [oracle: sees the future]", f"≥ {o['energy_bound_kwh']:.1f}", f"≤ {saved_b:.1f} %",
                 "0", f"≤ {o['return']:.1f}", "0 %", "0 %"])
    _table(f"Cell sleep, toy, {days} day(s), seeds {seeds}; oracle solve {solve:.1f} s/episode",
           ["policy", "energy [kWh]", "saved vs always-on", "unserved [Gbit]", "return", "energy above bound",
            "return gap"], rows, md)
    env.close()


def load_balancing(n_users: int, seeds: list[int], md: list[str]) -> None:
    """Mean std of busy degrees vs the centralised reference."""
    from mndt_envs.baselines.oracle_load_balancing import CentralisedReference

    kw: dict[str, Any] = {"scenario": "toy", "config": {"users": {"n_users": n_users}}}
    env = gym.make("mndt/LoadBalancing-v0", **kw)
    ref = CentralisedReference(env)
    t0 = time.perf_counter()
    outs = [ref.evaluate(s) for s in seeds]
    solve = (time.perf_counter() - t0) / len(seeds)
    o = {k: float(np.mean([x[k] for x in outs])) for k in outs[0]}
    rows = []
    for name, entry in task("load_balancing").baselines.items():
        runs = [run_episode(env, load_entry(entry)(env), s)["metrics"] for s in seeds]
        m = {k: float(np.mean([r[k] for r in runs])) for k in ("mean_std_busy", "mean_over_busy_share",
                                                                  "min_coverage")}
        rows.append([name, f"{m['mean_std_busy']:.4f}", f"{m['mean_over_busy_share']:.3f}",
                     f"{m['min_coverage']:.3f}", f"{ref.gap(m, o):.1f} %"])
    rows.append(["centralised reference [oracle: sees the future]", f"{o['mean_std_busy']:.4f}",
                 f"{o['mean_over_busy_share']:.3f}", f"{o['min_coverage']:.3f}", "0 %"])
    _table(f"Load balancing, toy ({n_users} users, 24 h), seeds {seeds}; reference {solve:.1f} s/day",
           ["policy", "mean std(b)", "mean over-busy", "min coverage", "std above reference"], rows, md)
    env.close()


def main() -> None:
    """Command line."""
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--tasks", default="resource_allocation,cell_sleep,load_balancing")
    p.add_argument("--seeds", type=int, nargs="+", default=[1000])
    p.add_argument("--days", type=int, default=7, help="cell-sleep episode length [days]")
    p.add_argument("--ra-users", type=int, nargs="*", default=[200, 700], help="toy users for resource allocation")
    p.add_argument("--lb-users", type=int, default=600)
    p.add_argument("--paper", action="store_true", help="resource allocation on the paper preset too")
    p.add_argument("--out", type=Path, default=Path("runs/oracles.md"))
    a = p.parse_args()
    md: list[str] = []
    wanted = set(a.tasks.split(","))
    t0 = time.perf_counter()
    if "resource_allocation" in wanted:
        for n in a.ra_users:
            resource_allocation("toy", {"users": {"n_users": n}}, a.seeds, 0, md)
        if a.paper:
            resource_allocation("paper", {}, a.seeds, 3, md)
    if "cell_sleep" in wanted:
        cell_sleep(a.days, a.seeds, md)
    if "load_balancing" in wanted:
        load_balancing(a.lb_users, a.seeds, md)
    a.out.parent.mkdir(parents=True, exist_ok=True)
    a.out.write_text("\n".join(md))
    console.print(f"wrote {a.out} ({time.perf_counter() - t0:.0f} s)")


if __name__ == "__main__":
    main()
