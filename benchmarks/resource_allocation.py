"""Speed of mndt/ResourceAllocation-v0 (issue 5 §10), with mobile-env as the reference in the same run.

Targets: ``toy`` ≥ 5,000 steps/s with random actions; ``paper`` ≤ 50 ms per step in demand mode.
Each figure is the median of ``--repeats`` runs. The twin's own cost (``twin.advance`` = user
movement + large-scale gains + fading, plus the task's per-step channel refresh: linear gains,
top-k candidates, rate estimates) is measured separately from the task's allocation and
evaluation, so "task only" = env step − twin.

mobile-env (Schneider et al.) is timed with random actions on ``mobile-small-central-v0``
(3 BSs, 5 UEs) and ``mobile-large-central-v0`` (13 BSs, 30 UEs), either in this interpreter
(if importable) or in ``--mobile-env-python`` (a throwaway venv with ``pip install mobile-env``).

    python benchmarks/resource_allocation.py --repeats 3 --mobile-env-python /tmp/menv/bin/python
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

# one core: the paper target is a one-core figure (BLAS would otherwise spread the products over every core)
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
os.environ.setdefault("OMP_NUM_THREADS", "1")

import gymnasium as gym  # noqa: E402
import numpy as np  # noqa: E402

import mndt_envs  # noqa: E402, F401

ENV_ID = "mndt/ResourceAllocation-v0"

MOBILE_ENV_SNIPPET = r"""
import json, sys, time, numpy as np, gymnasium as gym, mobile_env
out = {}
for name, steps in (("mobile-small-central-v0", int(sys.argv[1])), ("mobile-large-central-v0", int(sys.argv[2]))):
    env = gym.make(name)
    env.reset(seed=0); env.action_space.seed(0)
    reps = []
    for r in range(int(sys.argv[3])):
        t = time.perf_counter()
        for _ in range(steps):
            _, _, term, trunc, _ = env.step(env.action_space.sample())
            if term or trunc:
                env.reset()
        reps.append(steps / (time.perf_counter() - t))
    out[name] = float(np.median(reps))
print(json.dumps(out))
"""


def steps_per_s(env: gym.Env, n: int, repeats: int, policy: Any = None) -> tuple[float, float]:
    """Median steps/s over ``repeats`` runs of ``n`` steps (resets excluded from the timing): (wall, CPU).

    The CPU-time rate (``time.process_time`` of this single-threaded process) is the one-core rate
    on a shared machine, where the wall-clock rate also counts the time other jobs hold the core.
    """
    env.reset(seed=0)
    env.action_space.seed(0)
    rates, cpu_rates = [], []
    for _ in range(repeats):
        el = cpu = 0.0
        done = 0
        while done < n:
            act = policy() if policy else env.action_space.sample()
            t, c = time.perf_counter(), time.process_time()
            _, _, term, trunc, _ = env.step(act)
            el += time.perf_counter() - t
            cpu += time.process_time() - c
            done += 1
            if term or trunc:
                env.reset()
        rates.append(n / el)
        cpu_rates.append(n / cpu)
    return float(np.median(rates)), float(np.median(cpu_rates))


def twin_ms(env: gym.Env, n: int, repeats: int) -> float:
    """Median ms of ``twin.advance`` + the task's channel refresh per step."""
    core = env.unwrapped.core  # type: ignore[attr-defined]
    env.reset(seed=1)
    rng = np.random.default_rng(0)
    reps = []
    for _ in range(repeats):
        t = time.perf_counter()
        for _ in range(n):
            core.twin.advance(core.cfg.step_s, rng)
            core.update_channel()
        reps.append((time.perf_counter() - t) / n * 1e3)
    return float(np.median(reps))


def mobile_env_rates(python: str | None, repeats: int) -> dict[str, float] | str:
    """mobile-env steps/s, or the reason it could not be measured."""
    exe = python or sys.executable
    try:
        res = subprocess.run([exe, "-c", MOBILE_ENV_SNIPPET, "2000", "300", str(repeats)], capture_output=True,
                             text=True, timeout=900)
    except (OSError, subprocess.TimeoutExpired) as e:
        return f"not measured: {e}"
    if res.returncode != 0:
        return "not measured: " + (res.stderr.strip().splitlines() or ["?"])[-1]
    return json.loads(res.stdout.strip().splitlines()[-1])


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--toy-steps", type=int, default=400)
    p.add_argument("--paper-steps", type=int, default=8)
    p.add_argument("--mobile-env-python", default=None, help="python of a venv with mobile-env installed")
    p.add_argument("--out", type=Path, default=Path("runs/resource_allocation/bench.json"))
    a = p.parse_args()
    rows: list[dict[str, Any]] = []
    load0 = os.getloadavg()[0]

    for mode in ("demand", "direct"):
        env = gym.make(ENV_ID, scenario="toy", config={"task": {"action_mode": mode}})
        sps, cpu_sps = steps_per_s(env, a.toy_steps, a.repeats)
        tw = twin_ms(env, a.toy_steps // 4, a.repeats)
        step_ms = 1e3 / sps
        rows.append({"case": f"toy (21 cells, 200 users), {mode}, random actions", "steps_per_s": sps,
                     "cpu_steps_per_s": cpu_sps,
                     "step_ms": step_ms, "twin_ms": tw, "task_ms": step_ms - tw, "target": ">= 5000 steps/s"})
        print(rows[-1], flush=True)

    for fading in ("rayleigh", "none"):
        env = gym.make(ENV_ID, scenario="paper", config={"channel": {"fading": fading}})
        core = env.unwrapped.core  # type: ignore[attr-defined]

        def eq() -> np.ndarray:
            return np.where(core.remaining > 0, 1.0 / max(core.steps_left, 1), 0.0).astype(np.float32)  # noqa: B023

        sps, cpu_sps = steps_per_s(env, a.paper_steps, a.repeats, policy=eq)
        tw = twin_ms(env, max(a.paper_steps // 2, 2), a.repeats)
        step_ms = 1e3 / sps
        rows.append({"case": f"paper (184 cells, 8000 users), demand, fading={fading}", "steps_per_s": sps,
                     "cpu_steps_per_s": cpu_sps,
                     "step_ms": step_ms, "twin_ms": tw, "task_ms": step_ms - tw, "target": "<= 50 ms/step"})
        print(rows[-1], flush=True)
        env.close()

    me = mobile_env_rates(a.mobile_env_python, a.repeats)
    load1 = os.getloadavg()[0]
    print("\n| case | steps/s | ms/step | CPU steps/s | CPU ms/step | twin ms/step | task ms/step | target |")
    print("|---|---:|---:|---:|---:|---:|---:|---|")
    for r in rows:
        print(f"| {r['case']} | {r['steps_per_s']:.0f} | {r['step_ms']:.2f} | {r['cpu_steps_per_s']:.0f} | "
              f"{1e3 / r['cpu_steps_per_s']:.2f} | {r['twin_ms']:.2f} | {r['task_ms']:.2f} | {r['target']} |")
    if isinstance(me, dict):
        small, large = me.get("mobile-small-central-v0"), me.get("mobile-large-central-v0")
        print(f"| mobile-env small (3 BSs, 5 UEs), random | {small:.0f} | {1e3 / small:.2f} | | | | | reference |")
        print(f"| mobile-env large (13 BSs, 30 UEs), random | {large:.0f} | {1e3 / large:.2f} | | | | | reference |")
        print(f"\nratio toy demand / mobile-env small: {rows[0]['steps_per_s'] / small:.1f}x; "
              f"paper (fading) / mobile-env large: {rows[2]['steps_per_s'] / large:.2f}x "
              f"(paper has 14x the cells and 267x the users)")
    else:
        print(f"\nmobile-env: {me}")
    print(f"load average (1 min) at start {load0:.1f}, at end {load1:.1f} on {os.cpu_count()} cores")
    a.out.parent.mkdir(parents=True, exist_ok=True)
    a.out.write_text(json.dumps({"rows": rows, "mobile_env": me, "load": [load0, load1]}, indent=1))


if __name__ == "__main__":
    main()
