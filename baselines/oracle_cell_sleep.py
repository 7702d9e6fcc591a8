"""Offline optimum of cell sleep: a MILP over cells × steps with the whole week's demand known.

**An oracle, not a policy.** It reads the episode's demand of every grid at every step before the
first step (perfect knowledge of the future), which no network controller has. It exists to tell how
far the policies are from the best any policy could do on the same week.

The model (all quantities of :class:`~mndt_envs.tasks.cell_sleep.CellSleepCore`, read through its
public attributes; the demand series by replaying the seeded episode with every cell on, which is
possible because the demand does not depend on the actions):

* binary per cell and step: on / sleep / off, the rest of the unit being *waking* (sleep power,
  serves nothing); a cell on or asleep at ``t`` was not off at any of ``t-1 … t-wakeup_steps``;
* a site is alive while any of its cells is not off (BBU and air conditioning);
* demand routing ``x[c, g, t] ≥ 0`` of grid ``g``'s demand to covering cell ``c`` (any split, only
  on cells, at most ``cap_use`` per cell), the rest unserved;
* cost per step = site power (EARTH per cell with ``P_out = P_max · served load / capacity``, BBU,
  air conditioning) + switching costs (cells and sites) + ``unserved_penalty`` per Gbit unserved, the
  task's own reward with the sign flipped, summed over the episode.

**Why the optimum bounds the return of every policy** (``objective="return"``, the default). Take any
policy's trajectory on the same episode. Its statuses are feasible here (the core's wake-up rule is the
constraint above; the MILP does not need the action mask, a restriction of policies), and the core's
proportional split of each grid's demand over its on cells, scaled down where a cell is over capacity,
is one feasible routing ``x`` with the same unserved traffic. Its cost here is at most its cost in the
core: the same cell, BBU and air-conditioning powers (the core's ``P_out`` counts load up to the capacity,
at least the served load used here), the same site switches, and cell switching charged as
``(c_off - c_sleep)·|Δoff| + c_sleep·|Δon|`` per status change, which never exceeds the core's charge per
commanded change summed over the episode (a wake-up off → waking → on costs ``c_off`` in both; every
other change costs at most the core's). So the MILP's minimum is at most the policy's cost, i.e. its
return is an **upper bound** on the return of every policy. When HiGHS stops at its time limit the
certified value is its dual bound (``bound_return``), reported with the gap.

``objective="energy"``: minimise energy alone with every grid's servable demand served; the optimum is
then a **lower bound on the energy** of every policy that leaves no traffic unserved (same argument,
without the cost terms).
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import numpy as np
import scipy.sparse as sp

from mndt_envs.baselines._core import task_core
from mndt_envs.tasks.cell_sleep import CellSleepCore

__all__ = ["CellSleepOracle", "OraclePlan", "demand_series", "solve_offline"]

SEES_FUTURE = True


def _core(env: Any) -> CellSleepCore:
    return task_core(env, CellSleepCore,
                     "the cell-sleep oracle needs mndt/CellSleep-v0 (env.unwrapped.core) or a CellSleepCore")


def demand_series(env: Any, seed: int | None) -> np.ndarray:
    """(n_steps, n_grids) [bit/s] demand of every step of the episode reset with ``seed``.

    Replays the episode with every cell on (the demand does not depend on the actions) on the core, reset
    with the generator the env's ``reset(seed=seed)`` would give it, and reads the core's public ``demand``
    after each step. Leaves the core at the end of that episode (reset the env before using it again).
    """
    from gymnasium.utils import seeding

    core = _core(env)
    core.reset(seeding.np_random(seed)[0])  # the generator ``env.reset(seed=seed)`` hands to the core
    rows = []
    on = np.zeros(core.n_cells, dtype=np.int64)
    for _ in range(core.n_steps):
        core.step(on)
        rows.append(np.array(core.demand, dtype=np.float64))
    return np.stack(rows)


@dataclass
class OraclePlan:
    """Solution of the offline MILP.

    Attributes:
        status: (n_steps, n_cells) int8 statuses 0 on / 1 sleep / 2 off / 3 waking.
        cost_w: cost of the plan found [W-equivalent summed over steps]: its power under the core's service
            model (:func:`_plan_power`), its switching costs as the MILP charges them and the unserved penalty.
        bound_cost_w: HiGHS's dual bound on the objective (≤ cost_w; equal when solved to optimality).
        energy_kwh: energy of the plan [kWh].
        energy_always_on_kwh: energy with every cell on and the same demand [kWh] (as the core counts it).
        unserved_gbit: unserved traffic of the plan [Gbit].
        switches: cell status changes of the plan (waking → on/sleep not counted).
        site_switches: site on↔off changes.
        solve_s: wall time of the solve [s].
        mip_gap: relative gap HiGHS reports at the end.
        status_msg: HiGHS's message.
        n_vars, n_binary, n_rows: size of the model.
    """

    status: np.ndarray
    cost_w: float
    bound_cost_w: float
    energy_kwh: float
    energy_always_on_kwh: float
    unserved_gbit: float
    switches: int
    site_switches: int
    solve_s: float
    mip_gap: float
    status_msg: str
    n_vars: int
    n_binary: int
    n_rows: int


class _Vars:
    """Column index allocator."""

    def __init__(self) -> None:
        self.n = 0

    def add(self, *shape: int) -> np.ndarray:
        k = int(np.prod(shape))
        idx = np.arange(self.n, self.n + k).reshape(shape)
        self.n += k
        return idx


def _routing_rows(add: Any, coo: Any, cat: Any, rg: np.ndarray, rid: np.ndarray, on: np.ndarray, x: np.ndarray,
                  u: np.ndarray, grid_of: np.ndarray, cell_of: np.ndarray, cap: np.ndarray, dm: np.ndarray, n_t: int,
                  n_e: int, n_c: int, n_g: int) -> None:
    """Rows of the explicit routing model: demand balance, cell capacity, routing only to on cells."""
    # demand balance: Σ_c x[c, g, t] + u[g, t] = d[g, t]
    add(coo(cat(rg[:, grid_of], rg), cat(x, u), 1.0, n_t * n_g), dm.ravel(), dm.ravel())
    # capacity: Σ_g x[c, g, t] <= cap_c on[c, t]
    add(coo(cat(rid[:, cell_of], rid), cat(x, on), cat(np.ones((n_t, n_e)), -np.broadcast_to(cap, (n_t, n_c))),
            n_t * n_c), -np.inf, 0.0)
    # tighter LP relaxation (same MILP): x[c, g, t] <= d[g, t] on[c, t]
    re = np.arange(n_t * n_e).reshape(n_t, n_e)
    add(coo(cat(re, re), cat(x, on[:, cell_of]), cat(np.ones((n_t, n_e)), -dm[:, grid_of]), n_t * n_e),
        -np.inf, 0.0)


def solve_offline(core: CellSleepCore, demand: np.ndarray, objective: str = "return", time_limit_s: float = 300.0,
                  mip_rel_gap: float = 1e-4, routing: bool = False, relax_off: bool = True,
                  switching: bool = True, verbose: bool = False) -> OraclePlan:
    """Solve the offline MILP for a known demand series with HiGHS (``scipy.optimize.milp``).

    Args:
        core: the task core (scenario, cells, power model, costs; its public attributes only).
        demand: (n_steps, n_grids) [bit/s] demand of each step (see :func:`demand_series`).
        objective: ``"return"`` (energy + switching + unserved penalty, the task's negated reward) or
            ``"energy"`` (energy only, all servable demand served).
        time_limit_s: HiGHS time limit [s]; on hitting it the plan is the best found and the bound
            HiGHS's dual bound.
        mip_rel_gap: relative optimality gap at which HiGHS stops.
        routing: model the split of each grid's demand over its on cells explicitly (``x[c, g, t]``; slow:
            a facility-location MILP) instead of the aggregated relaxation (default; see the module doc).
        switching: charge switching costs (False: dropped, a relaxation; used per step by
            :func:`solve_per_step`).
        relax_off: the off indicators (and hence site liveness) are continuous in [0, 1] (default; a
            relaxation, much faster to solve); False keeps them binary.
        verbose: print HiGHS's log.

    Returns:
        The :class:`OraclePlan`.
    """
    from scipy.optimize import Bounds, LinearConstraint, milp

    if objective not in ("return", "energy"):
        raise ValueError(f"objective = {objective!r}: allowed values are 'return', 'energy'")
    d = np.asarray(demand, dtype=np.float64)
    if d.ndim != 2 or d.shape[1] != core.n_grids:
        raise ValueError(f"demand: expected shape (n_steps, {core.n_grids}), got {d.shape}")
    if not np.all(np.isfinite(d)) or d.min() < 0:
        raise ValueError("demand: must be finite and non-negative [bit/s]")
    cfg = core.cfg
    n_t, n_g = d.shape
    n_c, n_s = core.n_cells, core.n_sites
    site = np.asarray(core.site)
    air = 1.0 + core.aircon
    to_kwh = core.step_s / 3.6e6
    unit = 1e6  # demand in Mbit/s inside the model
    dm = d / unit
    cap = np.asarray(core.cap_use, dtype=np.float64) / unit  # (n_c,) [Mbit/s]
    full_cap = np.asarray(core.cap, dtype=np.float64) / unit
    slope = core.delta_p * core.p_max_w / full_cap  # (n_c,) [W per Mbit/s] load-dependent power
    a = sp.csr_matrix(core.A)
    cell_of, grid_of = a.nonzero()  # the cover pairs
    n_e = len(cell_of)

    v = _Vars()
    on, off = v.add(n_t, n_c), v.add(n_t, n_c)  # the rest of a unit: idle (sleep or waking, same power)
    alive = v.add(n_t, n_s)
    d_off, d_on, d_site = v.add(n_t, n_c), v.add(n_t, n_c), v.add(n_t, n_s)
    x = v.add(n_t, n_e) if routing else np.zeros((n_t, 0), dtype=np.int64)
    u = v.add(n_t, n_g)
    nv = v.n
    cost = np.zeros(nv)
    lo = np.zeros(nv)
    hi = np.full(nv, np.inf)
    integ = np.zeros(nv, dtype=np.uint8)
    hi[on] = hi[off] = 1.0
    integ[on] = 1
    if not relax_off:
        integ[off] = 1
    hi[alive] = 1.0
    # power [W] per step: cells (p0 on, p_sleep asleep or waking = 1 - on - off), load, BBU; all × air
    p0, ps = core.p0_w, core.p_sleep_w
    cost[on] = air * (p0 - ps)[None, :]
    cost[off] = air * (-ps)[None, :]
    const_w = air * float(ps.sum()) * n_t  # the "1" of the sleep term
    cost[alive] = air * core.bbu_w
    min_slope = np.full(n_g, np.inf)  # (n_g,) cheapest load-dependent power among a grid's covering cells
    np.minimum.at(min_slope, grid_of, slope[cell_of])
    if routing:
        cost[x] = air * slope[cell_of][None, :]
    else:  # served load at the cheapest covering cell: Σ_g min_slope_g (d_g - u_g)
        cost[u] -= air * min_slope[None, :]
        const_w += air * float((dm * min_slope[None, :]).sum())
    hi[u] = dm
    if objective == "return" and switching:
        sw = core.switch_cost_w
        c_sleep, c_off = float(sw[0, 1]), float(min(sw[0, 2], sw[1, 2], sw[2, 0], sw[2, 1]))
        cost[d_off] = max(c_off - c_sleep, 0.0)
        cost[d_on] = min(c_sleep, c_off)
        cost[d_site] = cfg.switch_cost_site_w
    if objective == "return":
        cost[u] = cfg.reward_scale_w * cfg.unserved_penalty * core.step_s * unit / 1e9
    else:
        # unserved only where even the all-on network cannot serve (never cheaper than serving)
        cost[u] = 1e6
    rows: list[sp.csr_matrix] = []
    rlo: list[np.ndarray] = []
    rhi: list[np.ndarray] = []

    def add(m: sp.spmatrix, low: np.ndarray | float, high: np.ndarray | float) -> None:
        m = sp.csr_matrix(m)
        rows.append(m)
        rlo.append(np.broadcast_to(np.asarray(low, dtype=np.float64), (m.shape[0],)))
        rhi.append(np.broadcast_to(np.asarray(high, dtype=np.float64), (m.shape[0],)))

    def cat(*arrs: Any) -> np.ndarray:
        return np.concatenate([np.ravel(np.asarray(q, dtype=np.float64)) for q in arrs])

    def coo(r: np.ndarray, c: np.ndarray, val: np.ndarray | float, n_rows: int) -> sp.coo_matrix:
        r, c = np.asarray(r).ravel().astype(np.int64), np.asarray(c).ravel().astype(np.int64)
        vv = np.asarray(val, dtype=np.float64)
        vv = vv.ravel() if vv.size == r.size else np.broadcast_to(vv, r.shape)
        return sp.coo_matrix((vv, (r, c)), shape=(n_rows, nv))

    nc_all = n_t * n_c
    rid = np.arange(nc_all).reshape(n_t, n_c)
    # one status at a time: on + off <= 1 (the rest: idle, i.e. asleep or waking)
    add(coo(cat(rid, rid), cat(on, off), 1.0, nc_all), -np.inf, 1.0)
    # wake-up: on_t + off_{t-j} <= 1 for j = 1..W (initial statuses all on)
    for j in range(1, cfg.wakeup_steps + 1):
        if j >= n_t:
            break
        r = np.arange((n_t - j) * n_c).reshape(n_t - j, n_c)
        add(coo(cat(r, r), cat(on[j:], off[:-j]), 1.0, r.size), -np.inf, 1.0)
    # site alive >= 1 - off of each of its cells:  alive[site(c)] + off_c >= 1
    add(coo(cat(rid, rid), cat(alive[:, site], off), 1.0, nc_all), 1.0, np.inf)
    # |Δ| linearisations (previous step 0: on = 1, off = 0, alive = 1)
    for var, dvar, init, n_k in ((off, d_off, 0.0, n_c), (on, d_on, 1.0, n_c), (alive, d_site, 1.0, n_s)):
        r = np.arange(n_t * n_k).reshape(n_t, n_k)
        for sign in (1.0, -1.0):
            m = coo(cat(r, r), cat(dvar, var), cat(
                np.ones((n_t, n_k)), np.full((n_t, n_k), -sign)), n_t * n_k).tocsr()
            m2 = coo(r[1:], var[:-1], sign, n_t * n_k).tocsr() if n_t > 1 else None
            rhs = np.zeros((n_t, n_k))
            rhs[0] = -sign * init  # d >= sign (v_t - v_{t-1})  ->  d - sign v_t + sign v_{t-1} >= 0
            add(m + m2 if m2 is not None else m, rhs.ravel(), np.inf)
    rg = np.arange(n_t * n_g).reshape(n_t, n_g)
    if not routing:
        # served demand needs an on covering cell:  Σ_{c ∋ g} on_c + u_g / d_g >= 1
        pos = dm > 0
        inv = np.where(pos, 1.0 / np.where(pos, dm, 1.0), 0.0)
        add(coo(cat(rg[:, grid_of], rg), cat(on[:, cell_of], u), cat(np.ones((n_t, n_e)), inv), n_t * n_g),
            pos.astype(np.float64).ravel(), np.inf)
        # and fits in their capacity:  Σ_{c ∋ g} cap_c on_c + u_g >= d_g
        add(coo(cat(rg[:, grid_of], rg), cat(on[:, cell_of], u), cat(np.broadcast_to(cap[cell_of], (n_t, n_e)),
                                                                        np.ones((n_t, n_g))), n_t * n_g),
            dm.ravel(), np.inf)
        # and all served demand fits in the on cells' total capacity:  Σ_c cap_c on_c + Σ_g u_g >= Σ_g d_g
        rt = np.repeat(np.arange(n_t), n_c)
        add(coo(cat(rt, np.repeat(np.arange(n_t), n_g)), cat(on, u), cat(np.broadcast_to(cap, (n_t, n_c)),
                                                                          np.ones((n_t, n_g))), n_t),
            dm.sum(axis=1), np.inf)
    else:
        _routing_rows(add, coo, cat, rg, rid, on, x, u, grid_of, cell_of, cap, dm, n_t, n_e, n_c, n_g)
    big = sp.vstack(rows).tocsr()
    big = sp.vstack(rows).tocsr()
    cons = LinearConstraint(big, np.concatenate(rlo), np.concatenate(rhi))
    t0 = time.perf_counter()
    res = milp(cost, constraints=cons, integrality=integ, bounds=Bounds(lo, hi),
               options={"time_limit": float(time_limit_s), "mip_rel_gap": mip_rel_gap, "disp": verbose,
                        "presolve": True})
    solve_s = time.perf_counter() - t0
    if res.x is None:
        raise RuntimeError(f"cell-sleep oracle: HiGHS found no solution ({res.message})")
    z = res.x
    st = np.full((n_t, n_c), 1, dtype=np.int8)  # idle: asleep, or waking for wakeup_steps after off
    st[z[on] > 0.5] = 0
    st[z[off] > 0.5] = 2
    for t in range(1, n_t):
        after_off = np.zeros(n_c, dtype=bool)
        for j in range(1, cfg.wakeup_steps + 1):
            if t - j >= 0:
                after_off |= st[t - j] == 2
        st[t] = np.where((st[t] == 1) & after_off, 3, st[t])
    power, served = _plan_power(core, st, d)
    unserved = np.maximum(d.sum(axis=1) - served, 0.0)
    _, p_all = _always_on_power(core, d)
    prev = np.vstack([np.zeros((1, n_c), dtype=np.int8), st[:-1]])
    switches = int(((st != prev) & (prev != 3)).sum())  # a wake-up's completion is not a new command
    alive_v = np.stack([np.bincount(site, weights=(st[t] != 2), minlength=n_s) > 0 for t in range(n_t)])
    alive_prev = np.vstack([np.ones((1, n_s), dtype=bool), alive_v[:-1]])
    bound = getattr(res, "mip_dual_bound", None)
    bound = float(res.fun) if bound is None or not np.isfinite(bound) else float(bound)
    gap = getattr(res, "mip_gap", None)
    sw = core.switch_cost_w
    c_sleep, c_off = float(sw[0, 1]), float(sw[0, 2])
    on_m = np.vstack([np.ones((1, n_c)), st == 0]).astype(np.float64)
    off_m = np.vstack([np.zeros((1, n_c)), st == 2]).astype(np.float64)
    sw_w = (max(c_off - c_sleep, 0.0) * np.abs(np.diff(off_m, axis=0)).sum() + min(c_sleep, c_off)
            * np.abs(np.diff(on_m, axis=0)).sum() + cfg.switch_cost_site_w * float((alive_v != alive_prev).sum()))
    pen_w = cfg.reward_scale_w * cfg.unserved_penalty * float(unserved.sum()) * core.step_s / 1e9
    return OraclePlan(
        status=st, cost_w=float(power.sum()) + sw_w + pen_w, bound_cost_w=bound + const_w,
        energy_kwh=float(power.sum() * to_kwh), energy_always_on_kwh=float(p_all.sum() * to_kwh),
        unserved_gbit=float(unserved.sum() * core.step_s / 1e9), switches=switches,
        site_switches=int((alive_v != alive_prev).sum()), solve_s=solve_s,
        mip_gap=float(gap) if gap is not None else 0.0,
        status_msg=str(res.message), n_vars=nv, n_binary=int(integ.sum()), n_rows=int(big.shape[0]))


def solve_per_step(core: CellSleepCore, demand: np.ndarray, objective: str = "return", time_limit_s: float = 300.0,
                   routing: bool = False, progress: bool = False) -> OraclePlan:
    """The decomposed relaxation: each step's optimum on its own (no switching costs, no wake-up delay).

    Dropping the constraints and the non-negative costs that link consecutive steps is a relaxation of
    :func:`solve_offline`'s model, so the sum of the per-step optima still bounds every policy (see the
    module doc), and each step is a small MILP (cells × grids of one step) that HiGHS solves exactly in well
    under a second. It is looser than the coupled model: a cell may be off in one step and on in the next.

    Args:
        core: the task core.
        demand: (n_steps, n_grids) [bit/s].
        objective: ``"return"`` or ``"energy"``.
        time_limit_s: time limit of the whole loop [s] (split over the steps).
        routing: explicit routing per step (see :func:`solve_offline`).
        progress: show a progress bar.

    Returns:
        An :class:`OraclePlan` whose ``bound_cost_w`` is the sum of the per-step dual bounds and whose
        statuses are the per-step optima (not executable as a whole: wake-ups are ignored).
    """
    d = np.asarray(demand, dtype=np.float64)
    n_t = d.shape[0]
    it: Any = range(n_t)
    if progress:
        from tqdm import tqdm

        it = tqdm(it, desc="cell-sleep oracle (per step)", unit="step")
    st = np.zeros((n_t, core.n_cells), dtype=np.int8)
    bound = cost = 0.0
    t0 = time.perf_counter()
    worst_gap = 0.0
    per = max(time_limit_s / max(n_t, 1), 1.0)
    for t in it:
        p = solve_offline(core, d[t:t + 1], objective, per, routing=routing, relax_off=False, switching=False)
        st[t] = p.status[0]
        bound += p.bound_cost_w
        cost += p.cost_w
        worst_gap = max(worst_gap, p.mip_gap)
    solve_s = time.perf_counter() - t0
    power, served = _plan_power(core, st, d)
    _, p_all = _always_on_power(core, d)
    to_kwh = core.step_s / 3.6e6
    unserved = np.maximum(d.sum(axis=1) - served, 0.0)
    alive = np.stack([np.bincount(core.site, weights=(st[t] != 2), minlength=core.n_sites) > 0 for t in range(n_t)])
    return OraclePlan(status=st, cost_w=cost, bound_cost_w=bound, energy_kwh=float(power.sum() * to_kwh),
                      energy_always_on_kwh=float(p_all.sum() * to_kwh),
                      unserved_gbit=float(unserved.sum() * core.step_s / 1e9),
                      switches=int((np.diff(np.vstack([np.zeros((1, core.n_cells)), st]), axis=0) != 0).sum()),
                      site_switches=int((np.diff(np.vstack([np.ones((1, core.n_sites)), alive]), axis=0) != 0).sum()),
                      solve_s=solve_s, mip_gap=worst_gap, status_msg=f"{n_t} per-step MILPs", n_vars=0, n_binary=0,
                      n_rows=0)


def _always_on_power(core: CellSleepCore, d: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(utilisation (n_t, n_cells), power [W] (n_t,)) of the always-on network, as the core counts it."""
    util_all = np.stack([core.A @ (row / core.denom_all) for row in d])
    p_all = ((core.p0_w + core.delta_p * np.minimum(util_all, 1.0) * core.p_max_w).sum(axis=1)
             + core.bbu_w * core.n_sites) * (1.0 + core.aircon)
    return util_all, p_all


def _plan_power(core: CellSleepCore, st: np.ndarray, d: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Power [W] and served traffic [bit/s] per step of a status plan under the core's documented service model.

    Each grid's demand is split over its on covering cells in proportion to their capacities; load above a
    cell's usable capacity is unserved (the core's ``_physics``, restated here from its documentation).
    """
    n_t, n_c = st.shape
    a = sp.csr_matrix(core.A)
    cap = np.asarray(core.cap, dtype=np.float64)
    air = 1.0 + core.aircon
    power = np.zeros(n_t)
    served = np.zeros(n_t)
    for t in range(n_t):
        on = st[t] == 0
        denom = a.T @ (cap * on)  # (n_grids,)
        share = np.divide(d[t], denom, out=np.zeros_like(denom), where=denom > 0)
        load = cap * on * (a @ share)  # (n_cells,) [bit/s]
        excess = np.maximum(load - core.cap_use, 0.0)
        served[t] = float(load.sum() - excess.sum())
        state = np.where(st[t] == 3, 1, st[t])
        cell_p = np.where(state == 0, core.p0_w + core.delta_p * np.minimum(load / cap, 1.0) * core.p_max_w,
                          np.where(state == 2, 0.0, core.p_sleep_w))
        alive = np.bincount(core.site, weights=(state != 2), minlength=core.n_sites) > 0
        power[t] = (cell_p.sum() + core.bbu_w * alive.sum()) * air
    return power, served


class CellSleepOracle:
    """The offline optimum as a row of ``mndt compare`` (an oracle that sees the week's demand; not a policy).

    Args:
        env: ``mndt/CellSleep-v0`` (its core's scenario and task settings are used).
        objective: ``"return"`` or ``"energy"`` (see :func:`solve_offline`).
        time_limit_s: HiGHS time limit per episode [s].
        coupled: solve the whole episode as one MILP (:func:`solve_offline`; tractable for a few steps only)
            instead of the per-step relaxation (:func:`solve_per_step`, default; the week in about two minutes).
        progress: progress bar over the steps.
    """

    sees_future = True
    gap_metric = "return"
    gap_label = "gap to the bound on the return [% of |bound|]"

    def __init__(self, env: Any, objective: str = "return", time_limit_s: float = 300.0, coupled: bool = False,
                 progress: bool = False) -> None:
        self.env = env
        self.core = _core(env)
        self.objective = objective
        self.time_limit_s = time_limit_s
        self.coupled, self.progress = coupled, progress
        self.last_plan: OraclePlan | None = None

    def evaluate(self, seed: int | None) -> dict[str, float]:
        """Solve the episode reset with ``seed``; metrics keyed like the env's ``episode_metrics``."""
        d = demand_series(self.env, seed)
        plan = (solve_offline(self.core, d, self.objective, self.time_limit_s) if self.coupled
                else solve_per_step(self.core, d, self.objective, self.time_limit_s, progress=self.progress))
        self.last_plan = plan
        scale = self.core.cfg.reward_scale_w
        return {
            "return": -plan.bound_cost_w / scale if self.objective == "return" else float("nan"),
            "energy_bound_kwh": plan.bound_cost_w * self.core.step_s / 3.6e6 if not self.coupled else float("nan"),
            "energy_kwh": plan.energy_kwh,
            "energy_always_on_kwh": plan.energy_always_on_kwh,
            "saved_pct": 100.0 * (1.0 - plan.energy_kwh / plan.energy_always_on_kwh),
            "unserved_gbit": plan.unserved_gbit,
            "switches": float(plan.switches),
            "site_switches": float(plan.site_switches),
            "mean_cells_on": float((plan.status == 0).sum(axis=1).mean()),
            "solve_s": plan.solve_s,
            "mip_gap": plan.mip_gap,
        }

    @staticmethod
    def gap(row: dict[str, Any], oracle_row: dict[str, Any]) -> float | None:
        """Optimality gap [%] of a policy's row: how far its return is below the bound, in % of |bound|."""
        b, r = oracle_row.get("return"), row.get("return")
        if b is None or r is None or not np.isfinite(b) or b == 0:
            return None
        return 100.0 * (b - float(r)) / abs(b)
