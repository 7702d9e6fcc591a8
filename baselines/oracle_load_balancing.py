"""Centralised reference for CPICH load balancing: the lowest std of busy degrees found per period.

**An oracle, not a policy.** For every period it reads the users' true attenuations to their candidate
cells (no MR noise, no sampling) before choosing the powers, and it may jump anywhere in
``[p_min(k), p_max]`` from one period to the next (the env limits a step to ``±max_step_db``). No network
has that knowledge or freedom; the row tells how much balancing is left for BDBA, BFDBA and agents.

Per period the reference minimises ``std(b(p))`` over the box ``[p_min(k), p_max]`` (the env's projection,
eq. 18) subject to the coverage rate ``≥ min(c_min, coverage at the reference powers)``, where ``b(p)`` is
the busy degree of every antenna with users attached to their strongest candidate (the task core's
:meth:`~mndt_envs.tasks.load_balancing.LoadBalancingCore.evaluate`, restated in arrays here for speed and
checked against it):

1. **multi-start projected gradient** on a smooth surrogate (soft-max association at temperature ``T``,
   annealed from 3 dB to 0.25 dB; Adam steps projected onto the box), started from the reference powers,
   from the policy-free "p_min" corner and from random points of the box;
2. **exact local search** from the best point: move the most and least loaded antennas by ±2, ±1, ±0.5 dB
   while the exact std drops and the coverage constraint holds.

It is not a certified bound (the problem is combinatorial and non-convex); it is the best balance this
search finds with full knowledge, a reference below which a policy's number says "the search missed it".
"""

from __future__ import annotations

import time
from typing import Any

import numpy as np

from mndt_envs.baselines._core import task_core
from mndt_envs.tasks.load_balancing import LoadBalancingCore, PeriodData

__all__ = ["CentralisedReference", "PeriodProblem", "reference_powers"]


def _core(env: Any) -> LoadBalancingCore:
    return task_core(env, LoadBalancingCore,
                     "the load-balancing reference needs mndt/LoadBalancing-v0 (env.unwrapped.core) "
                     "or a LoadBalancingCore")


class PeriodProblem:
    """Busy degrees and coverage of one period as functions of the powers (exact and smoothed).

    Args:
        core: the task core (antennas, ``u_max``, coverage threshold).
        period: the period's data (candidates and attenuations of every user).
    """

    def __init__(self, core: LoadBalancingCore, period: PeriodData) -> None:
        self.n = core.n
        self.ids = np.asarray(period.cand_ids, dtype=np.int64)  # (U, K)
        self.att = np.asarray(period.cand_att, dtype=np.float32)  # (U, K) [dB]
        self.u_max = float(core.u_max)
        self.thr = float(core.threshold_dbm)
        self.lo = np.minimum(np.asarray(period.p_min, dtype=np.float64), core.p_max)
        self.hi = np.asarray(core.p_max, dtype=np.float64)
        self.b_over = core.cfg.b_over
        self._rows = np.arange(self.ids.shape[0])

    def exact(self, p: np.ndarray) -> tuple[float, float, np.ndarray]:
        """(std of busy degrees, coverage rate, busy degrees) under powers ``p`` [dBm]."""
        rsrp = np.asarray(p, dtype=np.float32)[self.ids] - self.att
        k = np.argmax(rsrp, axis=1)
        serving = self.ids[self._rows, k]
        best = rsrp[self._rows, k]
        b = np.bincount(serving, minlength=self.n) / self.u_max
        cov = float(np.mean(best >= self.thr)) if len(best) else 1.0
        return float(np.std(b)), cov, b

    def smooth_grad(self, p: np.ndarray, temp: float) -> tuple[float, np.ndarray]:
        """Std of the soft-max busy degrees at temperature ``temp`` [dB] and its gradient w.r.t. ``p``."""
        z = (p[self.ids] - self.att) / temp  # (U, K)
        z -= z.max(axis=1, keepdims=True)
        w = np.exp(z)
        w /= w.sum(axis=1, keepdims=True)
        b = np.bincount(self.ids.ravel(), weights=w.ravel(), minlength=self.n) / self.u_max
        sd = float(np.std(b))
        if sd <= 1e-12:
            return sd, np.zeros(self.n)
        dldb = (b - b.mean()) / (self.n * sd)  # d std / d b
        g = dldb[self.ids] / self.u_max  # (U, K)
        dz = w * (g - (w * g).sum(axis=1, keepdims=True)) / temp
        return sd, np.bincount(self.ids.ravel(), weights=dz.ravel(), minlength=self.n)


def reference_powers(prob: PeriodProblem, p_ref: np.ndarray, rng: np.random.Generator, restarts: int = 6,
                     iters: int = 150, lr_db: float = 0.5, min_coverage: float | None = None,
                     starts: list[np.ndarray] | None = None) -> tuple[np.ndarray, float, float]:
    """Search the powers of one period; returns (powers [dBm], std of busy degrees, coverage).

    Args:
        prob: the period.
        p_ref: (n,) reference powers [dBm] (a start, and the coverage requirement's reference).
        rng: generator of the random starts.
        restarts: random starts in addition to the fixed ones.
        iters: projected-gradient iterations per start.
        lr_db: Adam step size [dB].
        min_coverage: coverage constraint (default ``coverage at p_ref``, itself capped by the caller).
        starts: extra starting points (e.g. a policy's powers).
    """
    lo, hi = prob.lo, prob.hi
    p0 = np.clip(p_ref, lo, hi)
    sd0, cov0, _ = prob.exact(p0)
    need = cov0 if min_coverage is None else min_coverage
    best_p, best_sd = (p0, sd0) if cov0 >= need else (p0, np.inf)
    init = [p0, lo.copy()] + list(starts or []) + [rng.uniform(lo, hi) for _ in range(restarts)]
    temps = np.geomspace(3.0, 0.25, iters)
    for p in init:
        p = np.clip(np.asarray(p, dtype=np.float64), lo, hi)
        m = np.zeros_like(p)
        v = np.zeros_like(p)
        for i, temp in enumerate(temps):
            _, g = prob.smooth_grad(p, float(temp))
            m = 0.9 * m + 0.1 * g
            v = 0.999 * v + 0.001 * g * g
            step = lr_db * (m / (1 - 0.9 ** (i + 1))) / (np.sqrt(v / (1 - 0.999 ** (i + 1))) + 1e-12)
            p = np.clip(p - step, lo, hi)
            if i % 5 == 4 or i == iters - 1:
                sd, cov, _ = prob.exact(p)
                if cov >= need and sd < best_sd:
                    best_p, best_sd = p.copy(), sd
    # exact local search on the most and least loaded antennas
    p = best_p.copy()
    sd, cov, b = prob.exact(p)
    if not np.isfinite(best_sd):
        return p, sd, cov
    for delta in (2.0, 1.0, 0.5):
        improved = True
        while improved:
            improved = False
            order = np.argsort(b)
            for i, sign in [(j, -1.0) for j in order[::-1][:4]] + [(j, 1.0) for j in order[:4]]:
                q = p.copy()
                q[i] = np.clip(q[i] + sign * delta, lo[i], hi[i])
                if q[i] == p[i]:
                    continue
                s2, c2, b2 = prob.exact(q)
                if c2 >= need and s2 < sd - 1e-12:
                    p, sd, cov, b = q, s2, c2, b2
                    improved = True
                    break
    return p, sd, cov


class CentralisedReference:
    """The centralised reference as a row of ``mndt compare`` (an oracle that sees each period; not a policy).

    Args:
        env: ``mndt/LoadBalancing-v0``.
        restarts: random starts per period.
        iters: gradient iterations per start.
        seed: seed of the random starts.
    """

    sees_future = True
    gap_metric = "mean_std_busy"
    gap_label = "std of busy degrees above the reference [% of the reference]"

    def __init__(self, env: Any, restarts: int = 6, iters: int = 150, seed: int = 0) -> None:
        self.env = env
        self.core = _core(env)
        self.restarts, self.iters, self.seed = restarts, iters, seed
        self.last_powers: list[np.ndarray] = []

    def evaluate(self, seed: int | None) -> dict[str, float]:
        """Reference of the episode reset with ``seed``: means over the periods a policy is scored on."""
        from gymnasium.utils import seeding

        core = self.core
        core.reset(seeding.np_random(seed)[0])  # the generator env.reset(seed=seed) hands to the core
        rng = np.random.default_rng(self.seed)
        t0 = time.perf_counter()
        stds, covs, overs = [], [], []
        self.last_powers = []
        for period in core.periods[1: core.cfg.episode_steps + 1]:  # periods 1..n follow the n steps
            prob = PeriodProblem(core, period)
            _, cov_ref, _ = prob.exact(np.clip(core.p_ref, prob.lo, prob.hi))
            need = min(core.cfg.c_min, cov_ref)
            p, sd, cov = reference_powers(prob, core.p_ref, rng, self.restarts, self.iters, min_coverage=need)
            chk: Any = core.evaluate(p, period)
            if abs(float(chk["std_busy"]) - sd) > 1e-9 or abs(float(chk["coverage"]) - cov) > 1e-9:
                raise RuntimeError("load-balancing reference: array evaluation disagrees with the task core")
            stds.append(sd)
            covs.append(cov)
            overs.append(float(chk["over_busy_share"]))
            self.last_powers.append(p)
        return {"mean_std_busy": float(np.mean(stds)), "mean_over_busy_share": float(np.mean(overs)),
                "mean_coverage": float(np.mean(covs)), "min_coverage": float(np.min(covs)),
                "solve_s": time.perf_counter() - t0}

    @staticmethod
    def gap(row: dict[str, Any], oracle_row: dict[str, Any]) -> float | None:
        """Mean std of busy degrees above the reference [% of the reference] (negative: below it)."""
        s, r = row.get("mean_std_busy"), oracle_row.get("mean_std_busy")
        if s is None or r is None or not np.isfinite(r) or r <= 0:
            return None
        return 100.0 * (float(s) - r) / r
