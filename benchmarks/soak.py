"""Soak test: random (masked) steps through every env, counting failures.

For each registered task it runs the single-agent Gymnasium env, the PettingZoo parallel env and,
where the Gymnasium spec has a ``vector_entry_point``, the batched env from
``gym.make_vec(..., vectorization_mode="vector_entry_point")``, each for ``--steps`` environment
steps (a batched call of ``n`` envs counts ``n`` steps). Actions are drawn from the action space,
restricted by the action mask where the env exposes one. An episode that ends is reset; any
exception raised by ``reset``/``step`` is a failure (counted, its first occurrences printed, the
env rebuilt) and so is "silent nonsense": a non-finite reward or cost, or an observation outside
the observation space (checked on every ``--check-every``-th step and at each reset).

Prints one table: steps, episodes, failures, steps/s per (task, mode); ``--json`` writes the same
figures to a file.

    python benchmarks/soak.py --steps 1000000               # every task, every mode
    python benchmarks/soak.py --steps 20000 --tasks cell_sleep --modes single parallel
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
import time
import traceback
import warnings
from collections import Counter
from typing import Any

for _v in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_v, "1")

import gymnasium as gym  # noqa: E402
import numpy as np  # noqa: E402
from gymnasium import spaces  # noqa: E402

import mndt_envs  # noqa: F401, E402
from mndt_envs.registration import TASKS, parallel_env  # noqa: E402

MODES = ("single", "parallel", "vector")


def _sample(space: spaces.Space, obs: Any) -> Any:
    """A random action from ``space``, legal under ``obs["action_mask"]`` when there is one."""
    mask = obs.get("action_mask") if isinstance(obs, dict) else None
    if mask is None:
        return space.sample()
    mask = np.asarray(mask, dtype=np.int8)
    if isinstance(space, spaces.Discrete):
        return space.sample(mask=mask if mask.any() else None)
    if isinstance(space, spaces.MultiDiscrete):
        nvec = space.nvec.reshape(-1)
        parts = np.split(mask.reshape(-1), np.cumsum(nvec)[:-1])
        return space.sample(mask=tuple(p if p.any() else np.ones_like(p) for p in parts))
    return space.sample()


def _finite(x: Any) -> bool:
    if isinstance(x, (tuple, list)):
        return all(_finite(v) for v in x)
    if isinstance(x, dict):
        return all(_finite(v) for v in x.values())
    try:
        return bool(np.all(np.isfinite(np.asarray(x, dtype=np.float64))))
    except (TypeError, ValueError):
        return True


class _Tally:
    def __init__(self, total: int = 0, desc: str = "") -> None:
        from tqdm import tqdm

        self.bar = tqdm(total=total, desc=desc, unit="step", file=sys.stderr, mininterval=30.0, smoothing=0.1,
                        disable=total == 0)
        self._shown = 0
        self.steps = 0
        self.episodes = 0
        self.failures = 0
        self.kinds: Counter[str] = Counter()
        self.first: dict[str, str] = {}

    def tick(self) -> None:
        """Advance the progress bar (cheaply: every 500 steps)."""
        if self.steps - self._shown >= 500:
            self.bar.update(self.steps - self._shown)
            self._shown = self.steps

    def close(self) -> None:
        """Finish the progress bar."""
        self.bar.update(self.steps - self._shown)
        self.bar.close()

    def fail(self, kind: str, detail: str) -> None:
        self.failures += 1
        self.kinds[kind] += 1
        if kind not in self.first:
            self.first[kind] = detail
            print(f"  FAILURE {kind}: {detail}", file=sys.stderr, flush=True)


def _exc(e: BaseException) -> tuple[str, str]:
    tb = traceback.extract_tb(e.__traceback__)
    where = f"{tb[-1].filename.rsplit('/', 1)[-1]}:{tb[-1].lineno}" if tb else "?"
    return f"{type(e).__name__} at {where}", f"{type(e).__name__}: {e}"[:400]


def soak_single(env_id: str, kwargs: dict[str, Any], steps: int, seed: int, check_every: int, tally: _Tally,
                max_s: float) -> None:
    """Random masked steps through ``gym.make(env_id, **kwargs)``."""
    env = gym.make(env_id, **kwargs)
    obs, _ = env.reset(seed=seed)
    env.action_space.seed(seed)
    t_end = time.perf_counter() + max_s
    while tally.steps < steps and time.perf_counter() < t_end:
        try:
            a = _sample(env.action_space, obs)
            obs, r, term, trunc, info = env.step(a)
            tally.steps += 1
            tally.tick()
            if not _finite(r) or not _finite(info.get("cost", 0.0)):
                tally.fail("non-finite reward/cost", f"step {tally.steps}: reward {r!r} cost {info.get('cost')!r}")
            if tally.steps % check_every == 0 and not env.observation_space.contains(obs):
                tally.fail("observation outside its space", f"step {tally.steps}")
            if term or trunc:
                tally.episodes += 1
                obs, _ = env.reset()
                if not env.observation_space.contains(obs):
                    tally.fail("observation outside its space", f"reset after step {tally.steps}")
        except Exception as e:  # noqa: BLE001 - every exception is a counted failure
            tally.fail(*_exc(e))
            env = gym.make(env_id, **kwargs)
            obs, _ = env.reset(seed=seed + tally.failures)
    env.close()


def soak_parallel(name: str, kwargs: dict[str, Any], steps: int, seed: int, check_every: int, tally: _Tally,
                  max_s: float) -> None:
    """Random masked joint actions through ``parallel_env(name, **kwargs)`` (one step = one joint step)."""
    env = parallel_env(name, **kwargs)
    obs, _ = env.reset(seed=seed)
    for i, a in enumerate(env.possible_agents):
        env.action_space(a).seed(seed + i)
    t_end = time.perf_counter() + max_s
    while tally.steps < steps and time.perf_counter() < t_end:
        try:
            acts = {a: _sample(env.action_space(a), obs[a]) for a in env.agents}
            obs, rew, term, trunc, infos = env.step(acts)
            tally.steps += 1
            tally.tick()
            bad = [a for a in rew if not _finite(rew[a]) or not _finite(infos.get(a, {}).get("cost", 0.0))]
            if bad:
                tally.fail("non-finite reward/cost", f"step {tally.steps}: agents {bad[:3]}")
            if tally.steps % check_every == 0:
                out = [a for a in obs if not env.observation_space(a).contains(obs[a])]
                if out:
                    tally.fail("observation outside its space", f"step {tally.steps}: agents {out[:3]}")
            if not env.agents or all(term.get(a, False) or trunc.get(a, False) for a in rew):
                tally.episodes += 1
                obs, _ = env.reset()
        except Exception as e:  # noqa: BLE001
            tally.fail(*_exc(e))
            env = parallel_env(name, **kwargs)
            obs, _ = env.reset(seed=seed + tally.failures)
    env.close()


def soak_vector(env_id: str, kwargs: dict[str, Any], steps: int, seed: int, check_every: int, tally: _Tally,
                max_s: float, num_envs: int) -> None:
    """Random masked steps through the batched env (``vector_entry_point``); ``num_envs`` steps per call."""
    venv = gym.make_vec(env_id, num_envs=num_envs, vectorization_mode="vector_entry_point", **kwargs)
    obs, _ = venv.reset(seed=seed)
    single = venv.single_action_space
    single.seed(seed)
    t_end = time.perf_counter() + max_s
    calls = 0
    while tally.steps < steps and time.perf_counter() < t_end:
        try:
            rows = []
            for i in range(num_envs):
                oi = {k: v[i] for k, v in obs.items()} if isinstance(obs, dict) else None
                rows.append(_sample(single, oi))
            obs, r, term, trunc, info = venv.step(np.stack(rows))
            calls += 1
            tally.steps += num_envs
            tally.tick()
            if not _finite(r):
                tally.fail("non-finite reward/cost", f"call {calls}: reward {r!r}")
            if calls % max(1, check_every // num_envs) == 0 and not venv.observation_space.contains(obs):
                tally.fail("observation outside its space", f"call {calls}")
            tally.episodes += int(np.sum(np.logical_or(term, trunc)))
        except Exception as e:  # noqa: BLE001
            tally.fail(*_exc(e))
            venv = gym.make_vec(env_id, num_envs=num_envs, vectorization_mode="vector_entry_point", **kwargs)
            obs, _ = venv.reset(seed=seed + tally.failures)
    venv.close()


def main(argv: list[str] | None = None) -> int:
    """Run the soak and print the table; exit status 1 when any run had a failure."""
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--steps", type=int, default=100_000, help="env steps per (task, mode)")
    ap.add_argument("--tasks", nargs="*", default=[t.name for t in TASKS], help="task names (default: all)")
    ap.add_argument("--modes", nargs="*", default=list(MODES), choices=MODES)
    ap.add_argument("--scenario", default="toy")
    ap.add_argument("--config", default="{}", help="JSON overrides passed as config=... to every env")
    ap.add_argument("--num-envs", type=int, default=8, help="batch size of the vector mode")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--check-every", type=int, default=100, help="check obs in its space every N steps")
    ap.add_argument("--max-seconds", type=float, default=math.inf, help="time bound per (task, mode)")
    ap.add_argument("--json", default="", help="also write the figures to this file")
    args = ap.parse_args(argv)
    kwargs = {"scenario": args.scenario, "config": json.loads(args.config)}
    rows: list[dict[str, Any]] = []
    for t in TASKS:
        if t.name not in args.tasks:
            continue
        for mode in args.modes:
            if mode == "vector" and getattr(gym.spec(t.env_id), "vector_entry_point", None) is None:
                rows.append({"task": t.name, "mode": mode, "steps": None, "episodes": None,
                             "failures": None, "steps_per_s": None, "note": "no vector_entry_point"})
                continue
            print(f"{t.name} / {mode}: {args.steps:,} steps ...", file=sys.stderr, flush=True)
            tally = _Tally(args.steps, f"{t.name}/{mode}")
            t0 = time.perf_counter()
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                if mode == "single":
                    soak_single(t.env_id, kwargs, args.steps, args.seed, args.check_every, tally, args.max_seconds)
                elif mode == "parallel":
                    soak_parallel(t.parallel_name, kwargs, args.steps, args.seed, args.check_every, tally,
                                  args.max_seconds)
                else:
                    soak_vector(t.env_id, kwargs, args.steps, args.seed, args.check_every, tally,
                                args.max_seconds, args.num_envs)
            dt = time.perf_counter() - t0
            tally.close()
            rows.append({"task": t.name, "mode": mode, "steps": tally.steps, "episodes": tally.episodes,
                         "failures": tally.failures, "steps_per_s": round(tally.steps / dt, 1),
                         "failure_kinds": dict(tally.kinds), "first_failures": tally.first})
            print(f"  {tally.steps:,} steps, {tally.episodes:,} episodes, {tally.failures} failures, {dt:.0f} s",
                  file=sys.stderr, flush=True)
    _table(rows, args)
    if args.json:
        with open(args.json, "w") as fh:
            json.dump({"args": vars(args), "rows": rows}, fh, indent=1, default=str)
    return 1 if any(r.get("failures") for r in rows) else 0


def _table(rows: list[dict[str, Any]], args: argparse.Namespace) -> None:
    from rich.console import Console
    from rich.table import Table

    tab = Table(title=f"soak: scenario {args.scenario!r}, random masked actions, seed {args.seed}")
    for col in ("task", "mode", "steps", "episodes", "failures", "steps/s"):
        tab.add_column(col, justify="left" if col in ("task", "mode") else "right", no_wrap=True)
    for r in rows:
        if r["steps"] is None:
            tab.add_row(r["task"], r["mode"], "-", "-", "-", r.get("note", ""))
            continue
        tab.add_row(r["task"], r["mode"], f"{r['steps']:,}", f"{r['episodes']:,}", str(r["failures"]),
                    f"{r['steps_per_s']:,.0f}")
    Console().print(tab)


if __name__ == "__main__":
    raise SystemExit(main())
