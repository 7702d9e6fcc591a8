"""Batched cell sleep: ``N`` independent episodes of :mod:`mndt_envs.tasks.cell_sleep` in one array program.

The episodes share one twin (cells, cover relation, capacities, power model: built once by a
:class:`~mndt_envs.tasks.cell_sleep.CellSleepCore`); each has its own demand model (hot-spot
weights, business/residential mix, day amplitudes, noise stream), statuses and totals. State
arrays have a leading dimension ``N``; a step is a fixed number of dense products with the cover
matrices (``(N, n_cells) @ (n_cells, n_grids)`` and back) and element-wise arithmetic, written
over :class:`~mndt_envs.batched.xp.ArrayNamespace` so it runs on numpy (default) or torch.

Equivalence with the single env: episode ``i`` of a batch reset with seed ``s`` draws exactly what
``CellSleepEnv.reset(seed=s + i)`` draws (see :mod:`mndt_envs.batched.common`); the physics is the
same arithmetic, summed by dense products instead of CSR row sums, so floats agree to rounding
(observations within 1e-5, rewards to a relative 1e-9; tested), and the discrete state (statuses,
masks) is identical on the tested rollouts.

Python loops over episodes remain only where an episode's own generator must draw (reset, and one
noise block per episode every ``noise_block`` steps), never per step and cell.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from ..config import ConfigError, split_config
from ..tasks.cell_sleep import (
    HISTORY,
    N_ACTIONS,
    N_FEATURES,
    OFF,
    ON,
    SLEEP,
    WAKING,
    CellSleepCore,
    diurnal_profile,
)
from ..tasks.cell_sleep.config import F
from ..tasks.cell_sleep.dynamics import next_status
from ..tasks.contract import StepResult
from .common import batch_result, check_rows, episode_seeds, make_generators, positive_int, seed_rows
from .xp import get_namespace

__all__ = ["BatchedCellSleepCore"]

METRIC_KEYS = ("energy_kwh", "energy_always_on_kwh", "saved_pct", "demand_gbit", "unserved_gbit", "unserved_pct",
               "switches", "site_switches", "mean_cells_on", "mean_sites_on", "illegal_actions")
_TOTALS = ("energy_kwh", "energy_always_on_kwh", "demand_gbit", "unserved_gbit", "switches", "site_switches",
           "cells_on", "sites_on", "illegal_actions")


_ONE_HOT = np.eye(4, dtype=np.float32)  # observation columns status_on .. status_waking of each status

class BatchedCellSleepCore:
    """``n_envs`` cell-sleep episodes over one twin, stepped together.

    Args:
        n_envs: batch size ``N``.
        scenario: preset name, dict or ``ScenarioConfig`` (as the single env).
        config: the single env's ``config`` kwarg (scenario overrides + ``"task"``).
        backend: ``"numpy"`` (default) or ``"torch"``.
        device: torch device (``None``: CUDA when available).
        noise_block: demand-noise rows each episode draws at once (any value gives the same stream).
    """

    def __init__(self, n_envs: int, scenario: Any = "toy", config: dict[str, Any] | None = None, *,
                 backend: str = "numpy", device: str | None = None, noise_block: int = 48) -> None:
        positive_int("n_envs", n_envs)
        scen_over, task_over = split_config(config)
        self.base = CellSleepCore(scenario, scen_over, task_over)  # shared twin and precomputations
        b = self.base
        self.cfg = b.cfg
        if self.cfg.demand_source != "diurnal":
            raise ConfigError(f"task.demand_source = {self.cfg.demand_source!r}: the batched cell-sleep core supports "
                              "'diurnal' only; use the single env (mndt/CellSleep-v0 with gym.make) for 'lstm'")
        self.n_envs = int(n_envs)
        self.n_cells, self.n_grids, self.n_sites = b.n_cells, b.n_grids, b.n_sites
        self.n_steps = b.n_steps
        self.step_s = b.step_s
        self.noise_block = int(noise_block)
        self.xp = xp = get_namespace(backend, device)
        f64 = xp.float64
        a_dense = np.asarray(b.A.toarray(), dtype=np.float64)  # (n_cells, n_grids) cover
        self.A = xp.asarray(a_dense, f64)
        self.AT = xp.asarray(np.ascontiguousarray(a_dense.T), f64)  # (n_grids, n_cells)
        # float32 copies for the 0/1 products that only test "any" / "none" (integer sums: exact in float32)
        self.A32 = xp.asarray(a_dense, xp.float32)
        self.AT32 = xp.asarray(np.ascontiguousarray(a_dense.T), xp.float32)
        self.NT = xp.asarray(np.asarray(b.N.toarray(), dtype=np.float64).T, f64)  # (n_cells, n_cells), incl. self
        off = np.asarray(b.N.toarray(), dtype=bool)
        np.fill_diagonal(off, False)
        self.N_off = xp.asarray(off)  # (n_cells, n_cells) neighbours without self
        site_oh = np.zeros((self.n_cells, self.n_sites))
        site_oh[np.arange(self.n_cells), b.site] = 1.0
        self.S = xp.asarray(site_oh, f64)  # (n_cells, n_sites) one-hot site of each cell
        self.site = xp.asarray(b.site)
        self.cap = xp.asarray(b.cap, f64)
        self.cap_use = xp.asarray(b.cap_use, f64)
        self.inv_denom_all_np = 1.0 / b.denom_all
        self.inv_denom_all = xp.asarray(self.inv_denom_all_np, f64)
        self.n_cover = xp.asarray(b.n_cover, f64)
        self.p0_w, self.p_sleep_w = xp.asarray(b.p0_w, f64), xp.asarray(b.p_sleep_w, f64)
        self.delta_p, self.p_max_w = xp.asarray(b.delta_p, f64), xp.asarray(b.p_max_w, f64)
        self.cells_per_site = xp.asarray(b.cells_per_site, f64)
        self.switch_cost_flat = xp.asarray(np.asarray(b.switch_cost_w, dtype=np.float64).ravel(), f64)  # (9,)
        self.tie = xp.asarray(np.arange(self.n_cells) * 1e-9, f64)
        self.static = xp.asarray(b.static_features(), xp.float32)  # (n_cells, 7)
        self.bbu_w, self.aircon = b.bbu_w, b.aircon
        # demand model, shared parts: the diurnal profiles of every row of the episode (+ history)
        c = self.cfg
        n_rows = self.n_steps + HISTORY
        t0 = c.start_day * 24.0 - HISTORY * c.step_min / 60.0
        t_h = t0 + np.arange(n_rows) * c.step_min / 60.0
        bus, res = diurnal_profile(t_h)
        self._bus_np, self._res_np = bus, res
        self.bus, self.res = xp.asarray(bus, f64), xp.asarray(res, f64)
        self._day_np = ((t_h - t0) // 24.0).astype(np.int64)  # (n_rows,) day of the episode
        self.day = xp.asarray(self._day_np)
        self.n_days = int(self._day_np[-1]) + 1
        self.rngs: list[np.random.Generator] = make_generators(episode_seeds(0, self.n_envs))
        self._noise_rngs: list[np.random.Generator] = list(self.rngs)
        self._alloc_state()

    # ---------------------------------------------------------------- state
    def _alloc_state(self) -> None:
        xp, n, c, g = self.xp, self.n_envs, self.n_cells, self.n_grids
        self.t = np.zeros(n, dtype=np.int64)  # host copy: drives demand rows and episode ends
        self.status = xp.zeros((n, c), xp.int8)
        self.logical = xp.zeros((n, c), xp.int8)
        self.wake_left = xp.zeros((n, c), xp.int64)
        self.hist = xp.zeros((n, HISTORY, c))
        self.w = xp.zeros((n, g))
        self.mix = xp.zeros((n, g))
        self.day_f = xp.zeros((n, self.n_days, g))
        self.z = xp.zeros((n, self.noise_block, g))  # noise rows drawn ahead
        self.z_k0 = np.zeros(n, dtype=np.int64)  # demand row of each episode's first noise row
        self.demand = xp.zeros((n, g))
        self.totals = {k: xp.zeros((n,)) for k in _TOTALS}
        self._obs_buf: np.ndarray | None = None
        self._ar = xp.arange(n)
        self._flat3 = xp.arange(n * self.n_cells).reshape(n, self.n_cells) * N_ACTIONS  # row starts of action_mask

    # ---------------------------------------------------------------- demand
    def _draw_demand(self, i: int, rng: np.random.Generator) -> None:
        """Episode ``i``'s demand model from ``rng``: the draws of ``CellSleepCore._draw_demand``, in its order."""
        c, g, b = self.cfg, self.n_grids, self.base
        w = rng.lognormal(0.0, c.spatial_sigma, g) if c.spatial_sigma > 0 else np.ones(g)
        w *= b.denom_all / b.denom_all.mean()
        w *= c.peak_load * b.total_cap / w.sum()
        a = 8.0
        mix = rng.beta(a * c.business_share, a * (1 - c.business_share), g) \
            if 0 < c.business_share < 1 else np.full(g, c.business_share)
        day_f = np.exp(c.day_sigma * rng.standard_normal((self.n_days, g)))
        noise_rng = np.random.default_rng(rng.integers(0, 2**63 - 1))
        xp = self.xp
        self.w[i] = xp.asarray(w, xp.float64)
        self.mix[i] = xp.asarray(mix, xp.float64)
        self.day_f[i] = xp.asarray(day_f, xp.float64)
        self._noise_rngs[i] = noise_rng
        self._refill(i, 0)

    def _refill(self, i: int, k0: int) -> None:
        rows = min(self.noise_block, self.n_steps + HISTORY - k0)
        if self.xp.is_numpy:  # drawn in place: the same normals as standard_normal((rows, n_grids)), no copy
            self._noise_rngs[i].standard_normal(out=self.z[i, :rows])
            self.z[i, rows:] = 0.0
        else:
            z = np.zeros((self.noise_block, self.n_grids))
            z[:rows] = self._noise_rngs[i].standard_normal((rows, self.n_grids))
            self.z[i] = self.xp.asarray(z, self.xp.float64)
        self.z_k0[i] = k0

    def _demand_rows(self, k: np.ndarray, rows: np.ndarray | None = None) -> Any:
        """(N, n_grids) demand [bit/s] of row ``k[i]`` of each episode (HISTORY = the first step).

        Only the episodes in ``rows`` (default all) draw noise; the others' rows are placeholders.
        """
        xp = self.xp
        k = np.minimum(k, self.n_steps + HISTORY - 1)
        late = k - self.z_k0 >= self.noise_block
        need = np.flatnonzero(late if rows is None else late & rows)
        for i in need:  # one noise block per episode every noise_block steps
            self._refill(int(i), int(k[i]))
        sig = self.cfg.noise_sigma
        kk = xp.asarray(k)
        zi = xp.asarray(np.clip(k - self.z_k0, 0, self.noise_block - 1))
        z = self.z.reshape(-1, self.n_grids)[self._ar * self.noise_block + zi]  # (N, n_grids): row zi of each
        noise = xp.exp(sig * z - 0.5 * sig * sig)
        res_k = self.res[kk][:, None]
        prof = res_k + (self.bus[kk][:, None] - res_k) * self.mix
        return self.w * prof * self.day_f[self._ar, self.day[kk]] * noise

    # ---------------------------------------------------------------- episodes
    def reset(self, seed: int | list[int] | None = None, rows: Any = None) -> None:
        """Start new episodes in ``rows`` (default all).

        Args:
            seed: None (continue each row's generator; fresh entropy on the first reset), an int ``s``
                (row ``i`` gets ``default_rng(s + i)``) or one int per row of the batch.
            rows: episode rows to reset (bool mask or indices; default all).
        """
        mask, idx = seed_rows(self, seed, rows)
        if len(idx) == 0:
            return
        xp = self.xp
        for i in idx:  # the episodes' own generators draw their demand models
            self._draw_demand(int(i), self.rngs[i])
        m = xp.asarray(mask)
        m2 = m[:, None]
        self.t[idx] = 0
        self.status = xp.where(m2, xp.zeros((1, self.n_cells), xp.int8), self.status)
        self.logical = xp.where(m2, xp.zeros((1, self.n_cells), xp.int8), self.logical)
        self.wake_left = xp.where(m2, 0, self.wake_left)
        hist = xp.copy(self.hist)
        for k in range(HISTORY):  # past demand, served with every cell on
            d = self._demand_rows(np.full(self.n_envs, k), mask)
            hist[:, HISTORY - 1 - k] = (d * self.inv_denom_all) @ self.AT
        self.hist = xp.where(m[:, None, None], hist, self.hist)
        d = self._demand_rows(np.full(self.n_envs, HISTORY - 1), mask)
        self.demand = xp.where(m2, d, self.demand)
        for key in _TOTALS:
            self.totals[key] = xp.where(m, 0.0, self.totals[key])
        # physics of the current statuses (all on for the reset rows); other rows recomputed the same
        self._physics(self.demand)

    def _physics(self, d: Any) -> None:
        """Serve demand ``d`` (N, n_grids) [bit/s] with the current statuses; loads and masks (dense products)."""
        xp = self.xp
        on = self.status == ON
        onf = xp.astype(on, xp.float64)
        capw = self.cap * onf  # (N, n_cells)
        n = self.n_envs
        cat = np.concatenate if xp.is_numpy else xp.lib.cat
        two = cat([capw, onf], 0) @ self.A  # one product: (2N, n_grids)
        denom, n_act = two[:n], two[n:]  # active capacity, active covering cells
        self.n_act = n_act
        has = denom > 0
        pos = d > 0
        if xp.is_numpy:
            t0 = np.divide(d, denom, out=np.zeros_like(d), where=has)
        else:
            t0 = xp.where(has, d / xp.where(has, denom, 1.0), 0.0)
        self.d_over_denom = t0
        t1 = xp.astype((n_act == 1.0) & pos, xp.float64)
        t2 = d * self.inv_denom_all
        three = cat([t0, t1, t2], 0) @ self.AT  # one product: (3N, n_cells)
        load = capw * three[:n]  # (N, n_cells) [bit/s]
        sole = three[n: 2 * n]
        self.load = load
        self.lc = load / self.cap
        self.util_all = three[2 * n:]
        self.excess = xp.maximum(load - self.cap_use, 0.0)
        self.no_server = xp.where(has, 0.0, d)
        load_h = load * self.cfg.mask_headroom
        free = self.cap_use - load_h
        spare = xp.maximum(free, 0.0) * onf
        neigh_spare = spare @ self.NT - spare
        can_leave = on & (sole == 0) & (load_h <= neigh_spare + 1e-9)
        if self.cfg.joint_masks and bool(xp.any(can_leave)):
            inf = float("inf")
            prio = xp.where(can_leave, self.lc + self.tie, inf)  # (N, n_cells)
            give = load_h + spare
            ahead_m = (prio[:, None, :] < prio[:, :, None]) & self.N_off  # [b, c, c']: c' leaves before c
            ahead = (xp.astype(ahead_m, xp.float64) @ give[:, :, None])[:, :, 0]  # (N, n_cells)
            can_leave = can_leave & (load_h + ahead <= neigh_spare + 1e-9)
        over = on & (free < 0)
        unmet = (n_act == 0) & pos
        unmet = unmet | ((xp.astype(over, xp.float32) @ self.A32) > 0)
        self.mask_grid = xp.where(on, can_leave, (xp.astype(unmet, xp.float32) @ self.AT32) == 0)
        alive = xp.astype(self.status != OFF, xp.float64)
        self.site_alive_count = alive @ self.S  # (N, n_sites)
        self.mask_site = (self.site_alive_count[:, self.site] - alive) == 0
        ones = xp.full((self.n_envs, self.n_cells, 1), 1, xp.int8)
        mg = xp.astype(self.mask_grid, xp.int8)[:, :, None] if self.cfg.hard_constraints else ones
        cat = np.concatenate if xp.is_numpy else xp.lib.cat
        self.action_mask = cat([ones, mg, mg], 2)  # (N, n_cells, 3) int8

    def _blame(self, on: Any, rows: Any) -> Any:
        """(len(rows), n_cells) unserved traffic blamed on each cell, for the episodes ``rows`` (row by row)."""
        xp = self.xp
        load, excess = self.load[rows], self.excess[rows]
        lp = load > 0
        ratio = xp.where(lp, self.cap * excess / xp.where(lp, load, 1.0), 0.0)
        unmet = self.no_server[rows] + self.d_over_denom[rows] * (ratio @ self.A)
        n_off = self.n_cover - self.n_act[rows]
        has_off = n_off > 0
        cat = np.concatenate if xp.is_numpy else xp.lib.cat
        n = len(unmet)
        r01 = cat([xp.where(has_off, unmet / xp.where(has_off, n_off, 1.0), 0.0),
                   xp.where(has_off, 0.0, unmet / self.n_cover)], 0) @ self.AT  # one product: (2n, n_cells)
        return xp.astype(~on[rows], xp.float64) * r01[:n] + r01[n:]

    # ---------------------------------------------------------------- step
    def validate_actions(self, actions: Any) -> Any:
        """(N, n_cells) integers in {0, 1, 2}, as a backend array (clear errors otherwise)."""
        xp = self.xp
        a = xp.to_numpy(actions) if not xp.is_numpy or not isinstance(actions, np.ndarray) else actions
        a = np.asarray(a)
        shape = (self.n_envs, self.n_cells)
        if a.shape != shape:
            raise ValueError(f"actions: expected shape {shape} (one of 0 on / 1 sleep / 2 off per episode and cell), "
                             f"got shape {a.shape}")
        if a.dtype.kind == "f":
            if not np.all(np.isfinite(a)) or np.any(a != np.round(a)):
                raise ValueError("actions: expected integers 0 (on), 1 (sleep), 2 (off); got non-integer or NaN values")
        elif a.dtype.kind not in "iub":
            raise ValueError(f"actions: expected an integer array, got dtype {a.dtype}")
        a = a.astype(np.int64, copy=False)
        if a.size and (a.min() < 0 or a.max() >= N_ACTIONS):
            i, j = np.argwhere((a < 0) | (a >= N_ACTIONS))[0]
            raise ValueError(f"actions[{i}, {j}] = {a[i, j]}: allowed values are 0 (on), 1 (sleep), 2 (off)")
        return a if xp.is_numpy else xp.asarray(a)

    def step(self, actions: Any, active: Any = None) -> StepResult:
        """Apply one decision per episode (N, n_cells) and advance one period.

        Args:
            actions: (N, n_cells) ints 0 on / 1 sleep / 2 off.
            active: rows to step (default all); the others keep their state and draw nothing (the
                vector envs pass the rows that are about to be reset).
        """
        xp, c = self.xp, self.cfg
        act_np = check_rows(active, self.n_envs)
        a = self.validate_actions(actions)
        act = xp.asarray(act_np)
        every = bool(act_np.all())
        if not every:
            a = xp.where(act[:, None], a, xp.astype(self.logical, a.dtype))
        legal = self.action_mask.reshape(-1)[self._flat3 + a] > 0  # the mask of each chosen action (one gather)
        illegal = ~legal if every else ~legal & act[:, None]
        n_illegal = xp.sum(xp.astype(illegal, xp.float64), axis=1)
        if bool(xp.any(illegal)):
            if c.strict:
                ii, jj = np.argwhere(xp.to_numpy(illegal))[0]
                names = {ON: "on", SLEEP: "sleep", OFF: "off"}
                raise ValueError(f"actions: {int(xp.to_numpy(n_illegal).sum())} action(s) forbidden by the action "
                                 f"mask (episode {ii}: cell {jj} -> {names[int(xp.to_numpy(a)[ii, jj])]}); "
                                 "task.strict = True")
            a = xp.where(legal, a, 0)
        prev_logical = self.logical
        prev_alive = self.site_alive_count > 0
        logical = xp.astype(a, xp.int8)
        new, wl = next_status(self.status, self.wake_left, logical, c.wakeup_steps, xp.where,
                              xp.full((1, 1), WAKING, xp.int8))
        a2 = act[:, None]
        if every:
            self.wake_left, self.status, self.logical = wl, new, logical
        else:
            self.wake_left = xp.where(a2, wl, self.wake_left)
            self.status = xp.where(a2, new, self.status)
            self.logical = xp.where(a2, logical, self.logical)
        changed = (prev_logical != self.logical)
        cell_sw = self.switch_cost_flat[xp.astype(prev_logical, xp.int64) * 3 + xp.astype(self.logical, xp.int64)]
        self.t = self.t + act_np
        d = self._demand_rows(self.t + HISTORY - 1, act_np)
        if not every:
            d = xp.where(a2, d, self.demand)
        self.demand = d
        self._physics(d)
        alive = self.site_alive_count > 0  # (N, n_sites)
        site_changed = alive != prev_alive
        site_sw = xp.astype(site_changed, xp.float64) * c.switch_cost_site_w
        status = self.status
        on = status == ON
        unserved = xp.sum(self.no_server, axis=1) + xp.sum(self.excess, axis=1)  # (N,) [bit/s]
        state_e = xp.where(status == WAKING, SLEEP, status)
        p_out = xp.minimum(self.lc, 1.0) * self.p_max_w
        p_out = xp.clip(p_out, 0.0, self.p_max_w)
        cell_p = xp.where(state_e == ON, self.p0_w + self.delta_p * p_out,
                          xp.where(state_e == SLEEP, self.p_sleep_w, 0.0))  # (N, n_cells) [W] EARTH
        alive_f = xp.astype(alive, xp.float64)
        site_p = (cell_p @ self.S + self.bbu_w * alive_f) * (1.0 + self.aircon)  # (N, n_sites) [W]
        total_p = xp.sum(site_p, axis=1)
        cell_p_all = self.p0_w + self.delta_p * xp.minimum(self.util_all, 1.0) * self.p_max_w
        total_all = (xp.sum(cell_p_all, axis=1) + self.bbu_w * self.n_sites) * (1.0 + self.aircon)
        scale = c.reward_scale_w
        unserved_gbit = unserved * self.step_s / 1e9
        sw_total = xp.sum(cell_sw, axis=1) + xp.sum(site_sw, axis=1)
        reward = -(total_p + sw_total) / scale - c.unserved_penalty * unserved_gbit
        overhead = alive_f * (self.bbu_w * (1.0 + self.aircon))
        share = (overhead + site_sw) / self.cells_per_site  # (N, n_sites)
        agent_r = -(cell_p * (1.0 + self.aircon) + share[:, self.site] + cell_sw) / scale
        if c.unserved_penalty > 0 and bool(xp.any(unserved > 0)):  # only the episodes with unserved traffic
            rows = xp.asarray(np.flatnonzero(xp.to_numpy(unserved) > 0))
            blame = self._blame(on, rows) * self.step_s / 1e9
            agent_r[rows] = agent_r[rows] - c.unserved_penalty * blame
        hist = xp.copy(self.hist)
        hist[:, 1:] = self.hist[:, :-1]
        hist[:, 0] = self.util_all
        self.hist = hist if every else xp.where(a2[:, :, None], hist, self.hist)
        tot = self.totals
        to_kwh = self.step_s / 3.6e6
        actf = xp.astype(act, xp.float64)
        n_switches = xp.sum(xp.astype(changed, xp.float64), axis=1)
        n_site_switches = xp.sum(xp.astype(site_changed, xp.float64), axis=1)
        cells_on = xp.sum(xp.astype(on, xp.float64), axis=1)
        sites_on = xp.sum(alive_f, axis=1)
        demand_bps = xp.sum(d, axis=1)
        for k, v in (("energy_kwh", total_p * to_kwh), ("energy_always_on_kwh", total_all * to_kwh),
                     ("demand_gbit", demand_bps * self.step_s / 1e9), ("unserved_gbit", unserved_gbit),
                     ("switches", n_switches), ("site_switches", n_site_switches), ("cells_on", cells_on),
                     ("sites_on", sites_on), ("illegal_actions", n_illegal)):
            tot[k] = tot[k] + actf * v
        done = xp.asarray((self.t >= self.n_steps) & act_np)
        res = batch_result(
            reward=reward, agent_rewards=agent_r, cost=unserved_gbit,
            terminated=xp.zeros((self.n_envs,), xp.bool),
            truncated=done,
            reward_terms={"power": -total_p / scale, "switching": -sw_total / scale,
                          "unserved": -c.unserved_penalty * unserved_gbit},
            kpis={"power_w": total_p, "power_always_on_w": total_all, "demand_bps": demand_bps,
                  "unserved_bps": unserved, "switches": n_switches, "site_switches": n_site_switches,
                  "cells_on": cells_on, "sites_on": sites_on, "illegal_actions": n_illegal},
        )
        if bool(xp.any(done)):
            m = self.episode_metrics()
            ep: Any = {k: xp.where(done, v, float("nan")) for k, v in m.items()}
            res.episode = ep
        return res

    def episode_metrics(self) -> dict[str, Any]:
        """(N,) headline KPIs of each episode so far (the single core's ``episode_metrics``)."""
        xp, t = self.xp, self.totals
        n = xp.asarray(np.maximum(self.t, 1).astype(np.float64))
        e_on = t["energy_always_on_kwh"]
        saved = xp.where(e_on != 0, 100.0 * (1.0 - t["energy_kwh"] / xp.where(e_on != 0, e_on, 1.0)), 0.0)
        dem = t["demand_gbit"]
        return {
            "energy_kwh": t["energy_kwh"], "energy_always_on_kwh": e_on, "saved_pct": saved,
            "demand_gbit": dem, "unserved_gbit": t["unserved_gbit"],
            "unserved_pct": xp.where(dem != 0, 100.0 * t["unserved_gbit"] / xp.where(dem != 0, dem, 1.0), 0.0),
            "switches": t["switches"], "site_switches": t["site_switches"],
            "mean_cells_on": t["cells_on"] / n, "mean_sites_on": t["sites_on"] / n,
            "illegal_actions": t["illegal_actions"],
        }

    # ---------------------------------------------------------------- observation
    def observation(self) -> Any:
        """(N, n_cells, N_FEATURES) float32 per-cell features (the single core's, row by row)."""
        xp, c = self.xp, self.cfg
        spd = c.steps_per_day
        tod = 2.0 * math.pi * ((c.start_day * spd + self.t) % spd) / spd  # (N,) host
        n, nc = self.n_envs, self.n_cells
        f32 = xp.float32
        st = self.status
        site_on = xp.astype(self.site_alive_count > 0, f32)[:, self.site]
        share_on = ((xp.astype(st == ON, xp.float64) @ self.S) / self.cells_per_site)[:, self.site]
        hist = xp.minimum(xp.astype(self.hist, f32), 10.0)  # (N, HISTORY, n_cells)
        if xp.is_numpy:  # fill a buffer whose static columns are set once
            f = self._obs_buf
            if f is None or f.shape[0] != n:
                f = self._obs_buf = np.zeros((n, nc, N_FEATURES), dtype=np.float32)
                f[:, :, F["kind_macro"]: F["capacity"] + 1] = self.static[None]
            f[:, :, F["tod_sin"]] = np.sin(tod)[:, None]
            f[:, :, F["tod_cos"]] = np.cos(tod)[:, None]
            f[:, :, F["demand_t-1"]: F[f"demand_t-{HISTORY}"] + 1] = hist.transpose(0, 2, 1)
            f[:, :, F["status_on"]: F["status_waking"] + 1] = _ONE_HOT[st]  # rows of eye(4) by status
            f[:, :, F["site_on"]] = site_on
            f[:, :, F["site_cells_on"]] = share_on
            f[:, :, F["mask_grid_ok"]] = self.mask_grid
            f[:, :, F["mask_site_closable"]] = self.mask_site
            f[:, :, F["utilisation"]] = np.minimum(self.lc, 10.0)
            return f.copy()
        cols = [
            xp.asarray(np.repeat(np.sin(tod)[:, None], nc, 1), f32)[:, :, None],
            xp.asarray(np.repeat(np.cos(tod)[:, None], nc, 1), f32)[:, :, None],
            hist.permute(0, 2, 1),  # (torch: the numpy path returned above)
            (self.static[None] * xp.full((n, 1, 1), 1.0, f32)),
            xp.astype(st[:, :, None] == xp.asarray(np.arange(4, dtype=np.int8))[None, None, :], f32),
            site_on[:, :, None],
            xp.astype(share_on, f32)[:, :, None],
            xp.astype(self.mask_grid, f32)[:, :, None],
            xp.astype(self.mask_site, f32)[:, :, None],
            xp.astype(xp.minimum(self.lc, 10.0), f32)[:, :, None],
        ]
        cat = np.concatenate if xp.is_numpy else xp.lib.cat
        out = cat(cols, 2)
        assert out.shape[2] == N_FEATURES
        return out

    def action_masks(self) -> Any:
        """(N, n_cells, 3) int8: 1 where the action is legal."""
        return self.xp.copy(self.action_mask)
