"""Non-learning baselines for ``mndt/CellSleep-v0`` (paper 002 §IV.B, SPEC §4).

Each class is built as ``Cls(env)`` on the single-agent env (possibly wrapped) and has SB3's
``predict(observation, state=None, episode_start=None, deterministic=True) -> (action, None)``.
Every baseline respects the observation's action mask: a choice the mask forbids becomes "on".
"""

from __future__ import annotations

from typing import Any

import numpy as np

from mndt_envs.baselines._core import task_core
from mndt_envs.tasks.cell_sleep import N_ACTIONS, OFF, ON, SLEEP, CellSleepCore

__all__ = ["AlwaysOn", "MinimalCells", "LoadThreshold"]


def _core(env: Any) -> CellSleepCore:
    return task_core(env, CellSleepCore,
                     "cell-sleep baselines need the mndt/CellSleep-v0 env (env.unwrapped.core)")


def _apply_mask(action: np.ndarray, observation: Any, n: int) -> np.ndarray:
    mask = observation.get("action_mask") if isinstance(observation, dict) else None
    if mask is None:
        return action
    m = np.asarray(mask).reshape(n, N_ACTIONS).astype(bool)
    return np.where(m[np.arange(n), action], action, ON)


class AlwaysOn:
    """The original network: every cell on all the time (paper Fig. 4 "original consumption")."""

    def __init__(self, env: Any) -> None:
        self.n = _core(env).n_cells

    def predict(self, observation: Any, state: Any = None, episode_start: Any = None,
                deterministic: bool = True) -> tuple[np.ndarray, None]:
        return np.zeros(self.n, dtype=np.int64), None


class MinimalCells:
    """The minimal number of cells per grid that meets the load (Peng et al., MobiCom 2011).

    Each step, from the last observed grid demand × ``headroom``: grids are taken in order of
    decreasing demand; a grid's demand is first placed on the remaining capacity of cells already
    selected that cover it, then cells covering it are selected in order of decreasing remaining
    capacity until the demand fits (greedy set cover with capacities). Cells not selected go to
    ``idle`` ("off", as Peng et al. power cells down; or "sleep"). Cells whose site keeps another
    selected cell are put to sleep rather than off when ``idle="off"`` would not close the site
    (no BBU saving, and sleep wakes without delay).
    """

    def __init__(self, env: Any, headroom: float = 1.2, idle: str = "off") -> None:
        if idle not in ("off", "sleep"):
            raise ValueError(f"idle = {idle!r}: allowed values are 'off', 'sleep'")
        self.core = _core(env)
        self.headroom = headroom
        self.idle = OFF if idle == "off" else SLEEP
        A = self.core.cover_matrix().tocsc()
        self._cells_of = [A.indices[A.indptr[g]: A.indptr[g + 1]] for g in range(self.core.n_grids)]

    def select(self, demand: np.ndarray) -> np.ndarray:
        """(n_cells,) bool: the greedy minimal set of cells for grid demand [bit/s]."""
        core = self.core
        rem = core.cap_use.astype(np.float64).copy()
        chosen = np.zeros(core.n_cells, dtype=bool)
        for g in np.argsort(-demand, kind="stable"):
            need = demand[g] * self.headroom
            if need <= 0:
                break
            cells = self._cells_of[g]
            for pool in (cells[chosen[cells]], cells[~chosen[cells]]):
                for c in pool[np.argsort(-rem[pool], kind="stable")]:
                    if need <= 0:
                        break
                    take = min(rem[c], need)
                    if take <= 0:
                        continue
                    rem[c] -= take
                    need -= take
                    chosen[c] = True
            if need > 0:  # cannot be met: every covering cell on
                chosen[cells] = True
        return chosen

    def predict(self, observation: Any, state: Any = None, episode_start: Any = None,
                deterministic: bool = True) -> tuple[np.ndarray, None]:
        core = self.core
        chosen = self.select(core.demand)
        site_needed = np.bincount(core.site, weights=chosen, minlength=core.n_sites)[core.site] > 0
        idle = np.where(site_needed, SLEEP, self.idle) if self.idle == OFF else np.full(core.n_cells, SLEEP)
        action = np.where(chosen, ON, idle).astype(np.int64)
        return _apply_mask(action, observation, core.n_cells), None


class LoadThreshold:
    """Load-threshold sleeping with hysteresis.

    A cell's load indicator is the utilisation it would have with every cell on (its grids'
    last demand, the first demand feature of the observation). An on cell may go to sleep when
    the indicator drops below ``low``; a sleeping (or off) cell wakes when it rises above
    ``high`` (``high > low``: the hysteresis band keeps cells from flapping). Only one cell per
    neighbourhood (cells sharing a grid) goes to sleep per step, the least loaded first, so
    that neighbours do not leave together; the action mask (hard constraints) keeps a cell on
    where its grids would otherwise be unmet.
    """

    def __init__(self, env: Any, low: float = 0.08, high: float = 0.15) -> None:
        if not 0 <= low < high:
            raise ValueError(f"low = {low!r}, high = {high!r}: need 0 <= low < high")
        self.core = _core(env)
        self.low, self.high = low, high
        N = self.core.neighbour_matrix().tocsr()
        self._neigh = [N.indices[N.indptr[c]: N.indptr[c + 1]] for c in range(self.core.n_cells)]

    def predict(self, observation: Any, state: Any = None, episode_start: Any = None,
                deterministic: bool = True) -> tuple[np.ndarray, None]:
        core = self.core
        n = core.n_cells
        util = core.hist[0]  # (n_cells,) utilisation with every cell on, last step
        logical = core.logical
        mask = np.asarray(observation["action_mask"]).reshape(n, N_ACTIONS).astype(bool) \
            if isinstance(observation, dict) and "action_mask" in observation else np.ones((n, N_ACTIONS), bool)
        action = np.where(logical == ON, ON, np.where(util > self.high, ON, SLEEP)).astype(np.int64)
        cand = np.flatnonzero((logical == ON) & (util < self.low) & mask[:, SLEEP])
        blocked = np.zeros(n, dtype=bool)
        for c in cand[np.argsort(util[cand], kind="stable")]:
            if not blocked[c]:
                action[c] = SLEEP
                blocked[self._neigh[c]] = True
        return _apply_mask(action, observation, n), None
