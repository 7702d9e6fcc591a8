"""The agent's own policy family with constant parameters, tuned by a black-box search.

:class:`TunedConstantTheta` acts with
:func:`mndt_envs.agents.ppo_lagrangian.fractions_from_theta` and a fixed ``x`` (``θ = tanh(x)``, 4 numbers;
no observation enters the parameters), so it is the best "open-loop" member of the PPO-Lagrangian
agent's family that the search found: anything the agent gains over it comes from reacting to the state.

:func:`tune` chooses ``x`` by a seeded black-box search (random points of ``[-3, 3]^4`` then a Nelder-Mead
refinement from the best, ``scipy.optimize.minimize``) on training scenarios (the agent's curriculum
scenarios, training seeds only) to maximise the throughput subject to a satisfaction ratio ≥ ``target``
(+ a margin), scored as ``throughput / demand − 100 · max(0, target + margin − satisfaction)``.
``python -m mndt_envs.baselines.tuned_resource_allocation`` re-runs the search and prints the constants;
:data:`TUNED_X` holds the result of the documented run (``docs/oracles.md``).
"""

from __future__ import annotations

import argparse
import time
from typing import Any

import numpy as np

from mndt_envs.agents.ppo_lagrangian import STAGES, fractions_from_theta
from mndt_envs.tasks.resource_allocation import ResourceAllocationCore

__all__ = ["TUNED_X", "TunedConstantTheta", "score", "tune"]

# result of `python -m mndt_envs.baselines.tuned_resource_allocation --random 32 --refine 60 --seeds 100 101`
# (93 evaluations, 254 s on 2 busy cores; training throughput / demand 1.968 at satisfaction >= 95.5 %,
# mean 96.1 %; see docs/oracles.md)
TUNED_X: tuple[float, float, float, float] = (-0.4606, 1.0271, -3.0, 0.4768)

# the capacity-limited scenarios of the agent's curriculum (agents.ppo_lagrangian.STAGES "toy-dense" and "mid")
TRAIN_SCENARIOS: list[tuple[str, dict[str, Any]]] = [(sc, cfg) for name, sc, cfg, _ in STAGES if name != "toy"]


class TunedConstantTheta:
    """PPO-Lagrangian's policy family with constant parameters ``x``.

    Args:
        env: ``mndt/ResourceAllocation-v0`` (demand action mode; in ``direct`` mode the same allocation is
            returned as a direct action, like the other baselines).
        x: the 4 raw parameters (``θ = tanh(x)``); default :data:`TUNED_X`.
    """

    def __init__(self, env: Any, x: tuple[float, ...] | np.ndarray | None = None) -> None:
        self.core: ResourceAllocationCore = env.unwrapped.core
        self.x = np.asarray(TUNED_X if x is None else x, dtype=np.float64)
        if self.x.shape != (4,) or not np.all(np.isfinite(self.x)):
            raise ValueError(f"x = {x!r}: expected 4 finite numbers")

    def predict(self, observation: Any, state: Any = None, episode_start: Any = None,
                deterministic: bool = True) -> tuple[Any, None]:
        """Demand fractions for the current step (in ``direct`` mode: the matching's allocation as a dict)."""
        c = self.core
        frac = fractions_from_theta(c, self.x)
        if c.cfg.action_mode == "demand":
            return frac, None
        alloc = c.match(frac * c.remaining, frac > 0)  # what the demand mode would do, as a direct action
        hit = c.cand == alloc.serving[None, :]
        assoc = np.where(alloc.serving >= 0, np.argmax(hit, axis=0), c.k)
        p = np.where(alloc.serving >= 0, alloc.power_w / c.p_max[np.maximum(alloc.serving, 0)], 0.0)
        return {"association": assoc.astype(np.int64), "rb": np.maximum(alloc.rb, 0).astype(np.int64),
                "power": np.clip(p, 0, 1).astype(np.float32)}, None


def score(envs: list[Any], x: np.ndarray, seeds: list[int], target: float = 0.95,
          margin: float = 0.005) -> tuple[float, float, float]:
    """(penalised score, mean throughput / demand, mean satisfaction) of ``x`` over envs × seeds."""
    from mndt_envs.evaluation import run_episode

    ratios, sats = [], []
    for env in envs:
        pol = TunedConstantTheta(env, x)
        for s in seeds:
            r = run_episode(env, pol, s)
            m = r["metrics"]
            core = env.unwrapped.core
            ratios.append(m["throughput_bw"] * core.bw / max(float(core.total.sum()), 1e-12))
            sats.append(m["satisfaction_ratio"])
    thr, sat = float(np.mean(ratios)), float(min(sats))
    return thr - 100.0 * max(0.0, target + margin - sat), thr, float(np.mean(sats))


def tune(n_random: int = 32, n_refine: int = 60, seeds: tuple[int, ...] = (100, 101), target: float = 0.95,
         seed: int = 0, scenarios: list[tuple[str, dict[str, Any]]] | None = None,
         verbose: bool = True) -> tuple[np.ndarray, dict[str, float]]:
    """Black-box search of the constant parameters (see the module doc); returns (x, summary)."""
    import gymnasium as gym
    from scipy.optimize import minimize

    import mndt_envs  # noqa: F401 - registers the ids

    envs = [gym.make("mndt/ResourceAllocation-v0", scenario=sc, config=cfg) for sc, cfg in scenarios or TRAIN_SCENARIOS]
    rng = np.random.default_rng(seed)
    seeds_l = list(seeds)
    t0 = time.perf_counter()
    cands = [np.zeros(4)] + [rng.uniform(-3, 3, 4) for _ in range(n_random)]
    best_x, best = cands[0], -np.inf
    evals = 0
    for x in cands:
        sc, thr, sat = score(envs, x, seeds_l, target)
        evals += 1
        if verbose:
            print(f"  x={np.round(x, 3).tolist()} score {sc:.4f} thr/demand {thr:.4f} sat {sat:.4f}", flush=True)
        if sc > best:
            best_x, best = x, sc
    res = minimize(lambda z: -score(envs, np.clip(z, -3, 3), seeds_l, target)[0], best_x, method="Nelder-Mead",
                   options={"maxfev": n_refine, "xatol": 1e-2, "fatol": 1e-4, "initial_simplex": None})
    evals += int(res.nfev)
    x = np.clip(res.x, -3, 3) if -res.fun > best else best_x
    sc, thr, sat = score(envs, x, seeds_l, target)
    for env in envs:
        env.close()
    return x, {"score": sc, "throughput_over_demand": thr, "satisfaction": sat, "evaluations": float(evals),
               "wall_s": time.perf_counter() - t0}


def main(argv: list[str] | None = None) -> None:
    """Command line: run the search and print the constants."""
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--random", type=int, default=32, help="random points of the search")
    p.add_argument("--refine", type=int, default=60, help="Nelder-Mead evaluations")
    p.add_argument("--seeds", type=int, nargs="+", default=[100, 101], help="training episode seeds")
    p.add_argument("--target", type=float, default=0.95)
    a = p.parse_args(argv)
    x, summ = tune(a.random, a.refine, tuple(a.seeds), a.target)
    print("TUNED_X =", tuple(round(float(v), 4) for v in x))
    print(summ)


if __name__ == "__main__":
    main()
