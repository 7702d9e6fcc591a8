"""Throughput of the batched vector envs (issue 12) against the single env, measured in the same run.

For each task: the single env's steps/s (``gym.make``, autoresets included) and the batched vector env's
env-steps/s (``gym.make_vec(..., vectorization_mode="vector_entry_point")``) at several ``N``, their
ratio, and the memory the batched core holds (its arrays, summed; shared twin arrays excluded) with its
slope per added episode against the smallest ``N`` (constant: memory is linear in ``N``).
Actions are drawn ahead of the timing (random, legal), so only the environments are timed; every
figure is the median of ``--repeats`` interleaved runs (single, then each ``N``, repeated), so a
busy machine slows every arm alike.

    python benchmarks/batched_throughput.py --task all --repeats 3
    python benchmarks/batched_throughput.py --task ra --ns 1,16,64 --rb-solver fast
    python benchmarks/batched_throughput.py --task ra --ns 64 --rb-solver fast --threads 1,2
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path
from typing import Any

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
os.environ.setdefault("OMP_NUM_THREADS", "1")

import gymnasium as gym  # noqa: E402
import numpy as np  # noqa: E402

import mndt_envs  # noqa: E402, F401

TASKS = {
    "ra": ("mndt/ResourceAllocation-v0", {}),
    "cs": ("mndt/CellSleep-v0", {}),
    "lb": ("mndt/LoadBalancing-v0", {}),
}
DEFAULT_NS = {"ra": "1,16,64", "cs": "1,16,64,256", "lb": "1,8,32"}
THREADED = {"ra"}  # tasks whose batched core takes ``threads``


def array_bytes(obj: Any, seen: set[int] | None = None, depth: int = 0) -> int:
    """Bytes of the numpy arrays (and torch tensors) reachable from ``obj``'s attributes (a few levels deep)."""
    seen = set() if seen is None else seen
    if id(obj) in seen or depth > 4:
        return 0
    seen.add(id(obj))
    if isinstance(obj, np.ndarray):
        return int(obj.nbytes) if obj.base is None else 0
    if type(obj).__module__.startswith("torch") and hasattr(obj, "element_size"):
        return int(obj.element_size() * obj.nelement())
    if isinstance(obj, dict):
        return sum(array_bytes(v, seen, depth + 1) for v in obj.values())
    if isinstance(obj, (list, tuple)):
        return sum(array_bytes(v, seen, depth + 1) for v in obj)
    if hasattr(obj, "__dict__") and type(obj).__module__.startswith("mndt_envs.batched"):
        return sum(array_bytes(v, seen, depth + 1) for k, v in vars(obj).items() if k != "base")
    return 0


def sample_actions(space: gym.Space[Any], n: int, seed: int, cs_on_share: float = 0.0) -> list[Any]:
    """``n`` actions of ``space`` drawn ahead; for cell sleep mostly "on" (as a policy would), so masks matter."""
    space.seed(seed)
    acts = [space.sample() for _ in range(n)]
    if cs_on_share > 0:
        rng = np.random.default_rng(seed)
        acts = [np.where(rng.random(np.shape(a)) < cs_on_share, 0, a) for a in acts]
    return acts


def single_rate(env_id: str, kw: dict[str, Any], seconds: float, seed: int) -> float:
    """Steps/s of the single env (resets included)."""
    env = gym.make(env_id, **kw)
    env.reset(seed=seed)
    acts = sample_actions(env.action_space, 64, seed, 0.9 if "CellSleep" in env_id else 0.0)
    n, t0 = 0, time.perf_counter()
    while time.perf_counter() - t0 < seconds:
        _, _, term, trunc, _ = env.step(acts[n % len(acts)])
        n += 1
        if term or trunc:
            env.reset()
    rate = n / (time.perf_counter() - t0)
    env.close()
    return rate


def batched_rate(venv: Any, seconds: float, seed: int) -> float:
    """Env-steps/s of a batched vector env (autoresets included)."""
    venv.reset(seed=seed)
    acts = sample_actions(venv.action_space, 16, seed, 0.9 if "CellSleep" in type(venv).__name__ else 0.0)
    n, t0 = 0, time.perf_counter()
    while time.perf_counter() - t0 < seconds or n < 3:
        venv.step(acts[n % len(acts)])
        n += 1
    return n * venv.num_envs / (time.perf_counter() - t0)


def run(task: str, ns: list[int], repeats: int, seconds: float, kw: dict[str, Any],
        threads: list[int] | None = None) -> dict[str, Any]:
    env_id, base_kw = TASKS[task]
    kw = {**base_kw, **kw}
    threads = threads or [1]
    arms = [(n, t) for n in ns for t in threads]
    venvs = {(n, t): gym.make_vec(env_id, num_envs=n, vectorization_mode="vector_entry_point", **kw,
                                  **({"threads": t} if t != 1 else {})) for n, t in arms}
    for v in venvs.values():  # warm up (first resets build caches, first steps compile the kernels)
        v.reset(seed=0)
        batched_rate(v, 0.0, 0)
    single_kw = {k: v for k, v in kw.items() if k != "rb_solver"}
    single_rate(env_id, single_kw, 0.3, 0)
    singles: list[float] = []
    batched: dict[tuple[int, int], list[float]] = {a: [] for a in arms}
    for r in range(repeats):
        singles.append(single_rate(env_id, single_kw, seconds, r))
        for a in arms:
            batched[a].append(batched_rate(venvs[a], seconds, r))
    single = float(np.median(singles))
    rows = []
    n0 = min(ns)
    mem0 = array_bytes(venvs[(n0, threads[0])].core)
    for n, t in arms:
        rate = float(np.median(batched[(n, t)]))
        mem = array_bytes(venvs[(n, t)].core)
        per_env = (mem - mem0) / (n - n0) if n > n0 else float("nan")  # the slope: what one more episode holds
        rows.append({"n": n, "threads": t, "env_steps_per_s": rate, "ratio": rate / single,
                     "ms_per_batched_step": 1e3 * n / rate, "state_mb": mem / 2**20,
                     "state_kb_per_env": per_env / 1024})
    for v in venvs.values():
        v.close()
    return {"task": task, "env_id": env_id, "kwargs": kw, "single_steps_per_s": single, "batched": rows,
            "repeats": repeats, "seconds": seconds}


def show(res: dict[str, Any]) -> None:
    try:
        from rich.console import Console
        from rich.table import Table
    except ImportError:  # pragma: no cover
        print(json.dumps(res, indent=1))
        return
    t = Table(title=f"{res['env_id']} {res['kwargs']}: single env {res['single_steps_per_s']:,.0f} steps/s")
    for col in ("N", "threads", "env-steps/s", "× single", "ms / batched step", "state [MB]", "Δ state / env [kB]"):
        t.add_column(col, justify="right")
    for r in res["batched"]:
        t.add_row(str(r["n"]), str(r["threads"]), f"{r['env_steps_per_s']:,.0f}", f"{r['ratio']:.1f}",
                  f"{r['ms_per_batched_step']:.2f}",
                  f"{r['state_mb']:.2f}",
                  "—" if np.isnan(r["state_kb_per_env"]) else f"{r['state_kb_per_env']:.1f}")
    Console(width=max(110, Console().width)).print(t)


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--task", default="all", choices=["all", *TASKS])
    ap.add_argument("--ns", default="", help="batch sizes, comma-separated (default per task)")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--seconds", type=float, default=3.0, help="seconds per measurement")
    ap.add_argument("--scenario", default="toy")
    ap.add_argument("--rb-solver", default="exact", choices=["exact", "fast"], help="resource allocation only")
    ap.add_argument("--threads", default="1", help="worker threads of the batched core, comma-separated (resource "
                    "allocation and load balancing; each value is an arm of its own)")
    ap.add_argument("--json", type=Path, default=None, help="also write the results here")
    a = ap.parse_args(argv)
    out = []
    for task in (list(TASKS) if a.task == "all" else [a.task]):
        ns = [int(x) for x in (a.ns or DEFAULT_NS[task]).split(",")]
        kw: dict[str, Any] = {"scenario": a.scenario}
        if task == "ra":
            kw["rb_solver"] = a.rb_solver
        threads = [int(x) for x in a.threads.split(",")] if task in THREADED else [1]
        res = run(task, ns, a.repeats, a.seconds, kw, threads)
        show(res)
        out.append(res)
        sys.stdout.flush()
    if a.json:
        a.json.write_text(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
