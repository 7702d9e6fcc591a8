"""Upper bounds for the resource-allocation CMDP: an LP relaxation solved exactly with HiGHS.

**An oracle, not a policy.** It reads every step's channel gains and every user's episode demand before
the first step (perfect knowledge of the future) and relaxes the physics; no network can run it. It tells
how much throughput is left above a policy.

The relaxation, over the whole episode (every step ``t``, user ``u`` and cell ``c`` it may be served by):

* **no interference**: user ``u`` served by ``c`` with power ``p`` on its RB gets at most
  ``τ log2(1 + p g_cu(t) / N)`` [bit/Hz] (``τ = step_s``; the task's SINR has the same signal and noise and a
  non-negative interference in the denominator);
* **fractional association** ``x_cu(t) ∈ [0, 1]`` with ``Σ_c x_cu ≤ 1`` (one cell, one RB per user),
  ``Σ_u x_cu ≤ min(k_max, n_rb)`` (a BS serves at most ``k_max`` users, one per RB), powers ``p_cu ≥ 0`` with
  ``p_cu ≤ P_max,c x_cu`` (an RB carries at most the BS's power, none for a user not served) and
  ``Σ_u p_cu ≤ P_max,c`` (the BS's power budget);
* the concave rate replaced by the minimum of its tangents at a few powers, in perspective form:
  ``r_cu ≤ (f(p_k) − f'(p_k) p_k) x_cu + f'(p_k) p_cu`` for each tangent point ``p_k``;
* satisfied bits ``s_u(t) ≤ Σ_c r_cu(t)`` and ``Σ_t s_u(t) ≤ D_u`` (the episode demand, known at reset).

**Why it is an upper bound.** Any allocation the task accepts (after its repairs) is a feasible point:
``x`` is its 0/1 association, ``p`` its powers, ``r`` its achieved throughput (at most the interference-free
rate, which a concave function's tangents over-estimate), ``s`` its satisfied bits per step
(``min(remaining, throughput)``, which sums to at most the demand). So the LP's maximum of ``Σ r`` is at
least the episode throughput of every policy (``throughput_bw``), its maximum of ``Σ s`` at least every
policy's satisfied bits (``satisfaction_ratio``), and the maximum of ``Σ r`` subject to
``Σ s ≥ target · Σ D`` at least the throughput of every policy that reaches the target satisfaction
(``throughput_bw_at_target``). With ``cells_per_user = k > 0`` only each step's top-``k`` candidate cells
(``core.cand``, the demand action mode's candidates) are offered, and the bound holds for the policies
that serve users from their candidates: the demand action mode (the agent, the tuned heuristic, equal
dividing, ignoring demands), not for ``nearest_random_fair``. The LP is solved to optimality by HiGHS'
simplex/IPM, so the values are exact up to its tolerances (a relative margin of 1e-7 is added).

The bound is loose where interference dominates (dense deployments): the gap of a policy to it measures
interference and integrality together, not only the policy's own sub-optimality.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from typing import Any

import numpy as np
import scipy.sparse as sp

from mndt_envs.baselines._core import task_core
from mndt_envs.tasks.resource_allocation import Allocation, ResourceAllocationCore

__all__ = ["EpisodeData", "RABound", "ResourceAllocationBound", "episode_data", "solve_bound"]

_MARGIN = 1e-7  # relative safety margin on the returned bounds (solver tolerances)


def _core(env: Any) -> ResourceAllocationCore:
    return task_core(env, ResourceAllocationCore,
                     "the resource-allocation oracle needs mndt/ResourceAllocation-v0 (env.unwrapped.core) "
                     "or a ResourceAllocationCore")


@dataclass
class EpisodeData:
    """What the oracle knows of an episode.

    Attributes:
        gain_db: (n_steps, n_cells, n_users) [dB] channel gains of every step (with fading if the task uses it).
        cand: (n_steps, k, n_users) candidate cells of every step (strongest large-scale gain first).
        demand_bits: (n_users,) [bit] episode demand.
    """

    gain_db: np.ndarray
    cand: np.ndarray
    demand_bits: np.ndarray


def episode_data(env: Any, seed: int | None) -> EpisodeData:
    """Replay the episode reset with ``seed`` (nobody served) and record its gains, candidates and demand.

    The twin's users, demand and fading evolve independently of the allocation, so the replay sees the
    very channel every policy will see after ``env.reset(seed=seed)``. Leaves the core at the episode's end.
    """
    from gymnasium.utils import seeding

    core = _core(env)
    core.reset(seeding.np_random(seed)[0])  # the generator env.reset(seed=seed) hands to the core
    u = core.n_users
    nobody = Allocation(np.full(u, -1, dtype=np.int64), np.full(u, -1, dtype=np.int64), np.zeros(u), {})
    gains, cands = [], []
    demand = np.array(core.total, dtype=np.float64)
    for _ in range(core.cfg.episode_steps):
        g = core.twin.gain_db if core.cfg.use_fading else core.twin.large_scale_gain_db
        gains.append(np.array(g, dtype=np.float64))
        cands.append(np.array(core.cand, dtype=np.int64))
        core.apply(nobody)
    return EpisodeData(np.stack(gains), np.stack(cands), demand)


@dataclass
class RABound:
    """Upper bounds of one episode (in the task's units).

    Attributes:
        throughput_bw: bound on the episode throughput [bit/Hz], every policy.
        satisfaction_ratio: bound on the satisfaction ratio, every policy.
        throughput_bw_at_target: bound on the throughput of policies reaching ``target`` satisfaction
            (NaN when no policy can: ``target`` above the satisfaction bound).
        target: the satisfaction target.
        solve_s: wall time of the LP solves [s].
        n_vars, n_rows: size of the LP.
    """

    throughput_bw: float
    satisfaction_ratio: float
    throughput_bw_at_target: float
    target: float
    solve_s: float
    n_vars: int
    n_rows: int


def _tangent_points(p_max: float, n: int) -> np.ndarray:
    return p_max * 2.0 ** (-np.arange(n, dtype=np.float64) * 1.5)


def _lp(core: ResourceAllocationCore, data: EpisodeData, tt: np.ndarray, cc: np.ndarray, uu: np.ndarray,
        steps: np.ndarray, n_tangents: int) -> tuple[sp.csr_matrix, np.ndarray, dict[str, np.ndarray], float]:
    """The LP over the pairs ``(tt, cc, uu)`` of the given steps: (A_ub, b_ub, variable indices, total demand)."""
    n_c, n_u = data.gain_db.shape[1:]
    n_t = len(steps)
    pos = np.full(data.gain_db.shape[0], -1, dtype=np.int64)
    pos[steps] = np.arange(n_t)
    ti = pos[tt]  # (m,) step index inside this LP
    tau = core.cfg.step_s
    p_max = np.asarray(core.p_max, dtype=np.float64)
    m = len(tt)
    a = np.power(10.0, data.gain_db[tt, cc, uu] / 10.0) / core.noise_w  # (m,) [1/W] SNR per watt
    ix, ip, ir = np.arange(m), m + np.arange(m), 2 * m + np.arange(m)
    isv = 3 * m + np.arange(n_t * n_u)
    nv = 3 * m + n_t * n_u
    rows: list[np.ndarray] = []
    cols: list[np.ndarray] = []
    vals: list[np.ndarray] = []
    ub: list[np.ndarray] = []
    nr = 0
    ln2 = math.log(2.0)
    for pk in _tangent_points(1.0, n_tangents):
        pkc = pk * p_max[cc]  # (m,) [W]
        f = tau * np.log2(1.0 + a * pkc)
        fp = tau * a / ((1.0 + a * pkc) * ln2)
        r_ = nr + np.arange(m)
        rows.append(np.concatenate([r_, r_, r_]))
        cols.append(np.concatenate([ir, ix, ip]))
        vals.append(np.concatenate([np.ones(m), -(f - fp * pkc), -fp]))
        ub.append(np.zeros(m))
        nr += m
    # p <= P_max x: a user's RB carries at most the BS's power, and none unless the user is served
    r_ = nr + np.arange(m)
    rows.append(np.concatenate([r_, r_]))
    cols.append(np.concatenate([ip, ix]))
    vals.append(np.concatenate([np.ones(m), -p_max[cc]]))
    ub.append(np.zeros(m))
    nr += m
    # Σ_c x <= 1 per (t, u)
    rows.append(nr + ti * n_u + uu)
    cols.append(ix)
    vals.append(np.ones(m))
    ub.append(np.ones(n_t * n_u))
    nr += n_t * n_u
    # Σ_u x <= cap and Σ_u p <= P_max per (t, c)
    for var, lim in ((ix, np.full(n_t * n_c, float(core.cap))), (ip, np.tile(p_max, n_t))):
        rows.append(nr + ti * n_c + cc)
        cols.append(var)
        vals.append(np.ones(m))
        ub.append(lim)
        nr += n_t * n_c
    # s <= Σ_c r per (t, u)
    rows.append(np.concatenate([nr + ti * n_u + uu, nr + np.arange(n_t * n_u)]))
    cols.append(np.concatenate([ir, isv]))
    vals.append(np.concatenate([-np.ones(m), np.ones(n_t * n_u)]))
    ub.append(np.zeros(n_t * n_u))
    nr += n_t * n_u
    # Σ_t s <= D per user [bit/Hz]
    dem = data.demand_bits / core.bw
    rows.append(nr + np.tile(np.arange(n_u), n_t))
    cols.append(isv)
    vals.append(np.ones(n_t * n_u))
    ub.append(dem)
    nr += n_u
    a_ub = sp.csr_matrix((np.concatenate(vals), (np.concatenate(rows), np.concatenate(cols))), shape=(nr, nv))
    return a_ub, np.concatenate(ub), {"x": ix, "p": ip, "r": ir, "s": isv}, float(dem.sum())


def _linprog(c: np.ndarray, a_ub: sp.csr_matrix, b_ub: np.ndarray, x_idx: np.ndarray, time_limit_s: float) -> float:
    from scipy.optimize import linprog

    bounds = np.zeros((len(c), 2))
    bounds[:, 1] = np.inf
    bounds[x_idx, 1] = 1.0
    res = linprog(c, A_ub=a_ub, b_ub=b_ub, bounds=bounds, method="highs",
                  options={"time_limit": float(time_limit_s), "presolve": True})
    if res.status != 0:
        raise RuntimeError(f"resource-allocation bound: HiGHS did not solve the LP ({res.message})")
    return float(-res.fun)


def solve_bound(core: ResourceAllocationCore, data: EpisodeData, target: float = 0.95, cells_per_user: int = 0,
                n_tangents: int = 6, coupled: bool | None = None, time_limit_s: float = 600.0) -> RABound:
    """Solve the LP relaxation for one episode with HiGHS (``scipy.optimize.linprog``).

    Args:
        core: the task core (cells, powers, noise, bandwidth, caps; public attributes).
        data: the episode (:func:`episode_data`).
        target: satisfaction target of ``throughput_bw_at_target``.
        cells_per_user: 0 = every cell may serve every user (a bound for every policy); ``k`` = only the
            step's top-``k`` candidates (``k`` ≤ the task's ``n_candidates``; demand-mode policies).
        n_tangents: tangent points of the rate function (more: tighter, larger LP).
        coupled: solve the whole episode as one LP (three solves: throughput, satisfied bits, throughput at
            the target). ``False``: the throughput bound per step (the throughput LP has no coupling between
            steps, so the sum of the per-step maxima is the same maximum, much faster), the satisfaction bound
            ``Σ_u min(D_u, Σ_t max_c f_cu(P_max)) / Σ D`` (each user at most its interference-free full-power
            rate), and the bound at the target equal to the throughput bound (a constrained maximum is at
            most the unconstrained one). ``None``: coupled when the LP has at most 60,000 (cell, user, step) pairs.
        time_limit_s: HiGHS time limit per solve [s].

    Returns:
        The :class:`RABound`.
    """
    if not 0.0 <= target <= 1.0:
        raise ValueError(f"target = {target!r}: allowed range [0, 1]")
    if n_tangents < 1:
        raise ValueError(f"n_tangents = {n_tangents!r}: need at least 1")
    n_t, n_c, n_u = data.gain_db.shape
    if cells_per_user < 0 or cells_per_user > data.cand.shape[1]:
        raise ValueError(f"cells_per_user = {cells_per_user!r}: allowed values 0 (all cells) to "
                         f"{data.cand.shape[1]} (the task's n_candidates)")

    def pairs(steps: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        if cells_per_user == 0:
            t_, c_, u_ = np.meshgrid(steps, np.arange(n_c), np.arange(n_u), indexing="ij")
            return t_.ravel(), c_.ravel(), u_.ravel()
        k = cells_per_user
        return (np.repeat(steps, k * n_u), data.cand[steps, :k, :].reshape(-1), np.tile(np.arange(n_u), len(steps) * k))

    n_pairs = n_t * n_u * (cells_per_user or n_c)
    if coupled is None:
        coupled = n_pairs <= 60_000
    t0 = time.perf_counter()
    up = 1.0 + _MARGIN
    if coupled:
        steps = np.arange(n_t)
        a_ub, b_ub, idx, total = _lp(core, data, *pairs(steps), steps, n_tangents)
        nv = a_ub.shape[1]
        c_thr = np.zeros(nv)
        c_thr[idx["r"]] = -1.0
        thr = _linprog(c_thr, a_ub, b_ub, idx["x"], time_limit_s)
        c_sat = np.zeros(nv)
        c_sat[idx["s"]] = -1.0
        sat = _linprog(c_sat, a_ub, b_ub, idx["x"], time_limit_s)
        thr_t = float("nan")
        if target * total <= sat * (1 - 1e-9):
            row = np.zeros((1, nv))
            row[0, idx["s"]] = -1.0
            thr_t = _linprog(c_thr, sp.vstack([a_ub, sp.csr_matrix(row)]).tocsr(),
                             np.concatenate([b_ub, [-target * total]]), idx["x"], time_limit_s)
        return RABound(throughput_bw=thr * up, satisfaction_ratio=min(sat / max(total, 1e-300) * up, 1.0),
                       throughput_bw_at_target=thr_t * up, target=target, solve_s=time.perf_counter() - t0,
                       n_vars=nv, n_rows=a_ub.shape[0])
    thr = 0.0
    nv = nr = 0
    best = np.zeros(n_u)  # Σ_t max_c f_cu(P_max) [bit/Hz]
    for t in range(n_t):
        steps = np.array([t])
        a_ub, b_ub, idx, total = _lp(core, data, *pairs(steps), steps, n_tangents)
        c_thr = np.zeros(a_ub.shape[1])
        c_thr[idx["r"]] = -1.0
        thr += _linprog(c_thr, a_ub, b_ub, idx["x"], time_limit_s)
        nv, nr = max(nv, a_ub.shape[1]), max(nr, a_ub.shape[0])
        _, cc, uu = pairs(steps)
        snr = np.asarray(core.p_max)[cc] * np.power(10.0, data.gain_db[t, cc, uu] / 10.0) / core.noise_w
        f_full = core.cfg.step_s * np.log2(1.0 + snr)
        top = np.zeros(n_u)
        np.maximum.at(top, uu, f_full)
        best += top
    dem = data.demand_bits / core.bw
    sat = float(np.minimum(dem, best).sum()) / max(float(dem.sum()), 1e-300)
    feasible = target <= sat
    return RABound(throughput_bw=thr * up, satisfaction_ratio=min(sat * up, 1.0),
                   throughput_bw_at_target=thr * up if feasible else float("nan"), target=target,
                   solve_s=time.perf_counter() - t0, n_vars=nv, n_rows=nr)


class ResourceAllocationBound:
    """The upper bound as a row of ``mndt compare`` (an oracle that sees the episode; not a policy).

    Args:
        env: ``mndt/ResourceAllocation-v0``.
        target: satisfaction target of the constrained throughput bound.
        cells_per_user: 0 = all cells (bound for every policy), else the top-k candidates.
        n_tangents: tangent points of the rate function.
        coupled: one LP over the episode or per-step LPs (see :func:`solve_bound`).
    """

    sees_future = True
    gap_metric = "throughput_bw"
    gap_label = "throughput below the bound [% of the bound]"

    def __init__(self, env: Any, target: float = 0.95, cells_per_user: int = 0, n_tangents: int = 6,
                 coupled: bool | None = None) -> None:
        self.env = env
        self.core = _core(env)
        self.target, self.cells_per_user, self.n_tangents, self.coupled = target, cells_per_user, n_tangents, coupled
        self.last: RABound | None = None

    def evaluate(self, seed: int | None) -> dict[str, float]:
        """Bounds of the episode reset with ``seed``, keyed like the env's ``episode_metrics``."""
        b = solve_bound(self.core, episode_data(self.env, seed), self.target, self.cells_per_user, self.n_tangents,
                        self.coupled)
        self.last = b
        return {"throughput_bw": b.throughput_bw, "satisfaction_ratio": b.satisfaction_ratio,
                "throughput_bw_at_target": b.throughput_bw_at_target, "solve_s": b.solve_s}

    def gap(self, row: dict[str, Any], oracle_row: dict[str, Any]) -> float | None:
        """Throughput below the tightest bound that holds for the row [% of that bound].

        Rows reaching the target satisfaction are measured against ``throughput_bw_at_target``, others
        against ``throughput_bw``.
        """
        thr = row.get("throughput_bw")
        if thr is None:
            return None
        bound = oracle_row.get("throughput_bw")
        bt = oracle_row.get("throughput_bw_at_target")
        if row.get("satisfaction_ratio", 0.0) >= self.target and bt is not None and np.isfinite(bt):
            bound = bt
        if bound is None or not np.isfinite(bound) or bound <= 0:
            return None
        return 100.0 * (bound - float(thr)) / bound
