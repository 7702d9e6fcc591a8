"""Table II of paper 002 on the ``paper`` preset: throughput (× bandwidth) and satisfaction ratio.

Evaluates the PPO-Lagrangian agent (``mndt_envs.agents.ppo_lagrangian``, trained on ``toy`` and a
mid-size scenario, never on ``paper``) and the three baselines for ``--episodes`` seeded
episodes of 20 steps on the ``paper`` preset (184 cells, 8,000 users, 2 × 2 km), and prints
them next to the paper's numbers. Writes ``table2.csv``, ``table2.md`` and a map of the agent's
last step (``resource_allocation_<scenario>.png``) under ``--out``.

    mndt reproduce table2 --episodes 3                     # the shipped agent
    python -m mndt_envs.agents.ppo_lagrangian              # retrain it (about 14 min on 2 busy cores)
"""

from __future__ import annotations

import argparse
import csv
from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np

import mndt_envs  # noqa: F401
from mndt_envs.baselines.resource_allocation import EqualDividing, IgnoreDemands, NearestRandomFair
from mndt_envs.evaluation import run_episode

PAPER = {  # paper 002, Table II: throughput (x bandwidth), satisfaction ratio
    "PPO-Lagrangian (ours)": (4.61e5, 0.9528),
    "equal dividing": (4.12e5, 0.9902),
    "ignoring demands": (5.18e5, 0.9145),
    "nearest BS + random RB + fair power": (float("nan"), float("nan")),
}


def run(env: gym.Env, policy: Any, seeds: list[int]) -> dict[str, float]:
    """Mean throughput, satisfaction and cost of ``policy`` over the seeded episodes."""
    runs = [run_episode(env, policy, s) for s in seeds]
    thr = [r["metrics"]["throughput_bw"] for r in runs]
    sat = [r["metrics"]["satisfaction_ratio"] for r in runs]
    cost = [r["cost"] for r in runs]
    secs = [r["wall_s"] for r in runs]
    return {"throughput_bw": float(np.mean(thr)), "throughput_std": float(np.std(thr)),
            "satisfaction": float(np.mean(sat)), "satisfaction_min": float(np.min(sat)),
            "episode_cost": float(np.mean(cost)), "s_per_episode": float(np.mean(secs))}


def main(argv: list[str] | None = None) -> None:
    """Command line of the reproduction (``mndt reproduce table2``)."""
    from mndt_envs.pretrained import path as shipped_path

    p = argparse.ArgumentParser(prog="mndt reproduce table2", description=(__doc__ or "").split("\n")[0])
    p.add_argument("--episodes", type=int, default=3)
    shipped = shipped_path("ra_ppo_lagrangian")
    p.add_argument("--model", type=Path, default=shipped, help="trained agent (default: the shipped one)")
    p.add_argument("--out", type=Path, default=Path("runs/reproduce/table2"))
    p.add_argument("--scenario", default="paper")
    p.add_argument("--config", default="{}", help="JSON overrides of the scenario/task")
    a = p.parse_args(argv)
    import json

    from mndt_envs.agents.ppo_lagrangian import PPOLagrangianAgent

    env = gym.make("mndt/ResourceAllocation-v0", scenario=a.scenario, config=json.loads(a.config))
    seeds = [1000 + i for i in range(a.episodes)]
    policies: dict[str, Any] = {}
    if a.model.exists():
        policies["PPO-Lagrangian (ours)"] = PPOLagrangianAgent(env, a.model)
    else:
        print(f"no model at {a.model}: run `python -m mndt_envs.agents.ppo_lagrangian` first; agent row skipped")
    policies["equal dividing"] = EqualDividing(env)
    policies["ignoring demands"] = IgnoreDemands(env)
    policies["nearest BS + random RB + fair power"] = NearestRandomFair(env)
    rows = []
    for name, pol in policies.items():
        r = run(env, pol, seeds)
        paper_thr, paper_sat = PAPER[name]
        rows.append({"method": name, **r, "paper_throughput_bw": paper_thr, "paper_satisfaction": paper_sat})
        print(f"{name}: {r}", flush=True)
        if name.startswith("PPO"):
            from mndt_envs.render import render_map

            core = env.unwrapped.core  # type: ignore[attr-defined]
            render_map(core.twin, user_values=core.remaining / core.bw, user_label="unmet demand [×B·s]",
                       cell_values=np.bincount(core.serving[core.serving >= 0], minlength=core.n_cells),
                       cell_label="users served", regions=False, lines=core.serving,
                       title=f"paper preset, PPO-Lagrangian, end of episode: satisfaction "
                             f"{100 * r['satisfaction']:.1f}% (mean)",
                       path=a.out / f"resource_allocation_{a.scenario}.png")
    a.out.mkdir(parents=True, exist_ok=True)
    with open(a.out / "table2.csv", "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=list(rows[0]))
        w.writeheader()
        w.writerows(rows)
    lines = [f"Scenario `{a.scenario}`, {a.episodes} episodes (seeds {seeds[0]}..{seeds[-1]}), mean ± std.",
             "",
             "| method | throughput (× bandwidth) | satisfaction ratio | paper throughput | paper satisfaction |",
             "|---|---:|---:|---:|---:|"]
    for r in rows:  # type: ignore[assignment]
        pt = "—" if np.isnan(r["paper_throughput_bw"]) else f"{r['paper_throughput_bw']:.3g}"
        ps = "—" if np.isnan(r["paper_satisfaction"]) else f"{100 * r['paper_satisfaction']:.2f} %"
        lines.append(f"| {r['method']} | {r['throughput_bw']:.3g} ± {r['throughput_std']:.2g} | "
                     f"{100 * r['satisfaction']:.2f} % (min {100 * r['satisfaction_min']:.2f} %) | {pt} | {ps} |")
    text = "\n".join(lines)
    (a.out / "table2.md").write_text(text + "\n")
    print()
    print(text)


if __name__ == "__main__":
    main()
