"""The cell-sleep task core: construction, ``reset`` and ``step`` in named phases, observations, spaces.

Implements :class:`mndt_envs.tasks.contract.TaskCore` (one agent per cell).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import scipy.sparse as sp
from gymnasium import spaces as gspaces

from ...config import ConfigError, ScenarioConfig, apply_overrides, split_config
from ...twin.network import NetworkTwin
from ..contract import ActionError, EpisodeOverError, Feature, StepResult
from ..validators import as_real_array
from .config import FEATURES, HISTORY, N_ACTIONS, N_FEATURES, OFF, ON, P_NORM_W, SLEEP, WAKING, CellSleepConfig, F
from .demand import DemandModel
from .dynamics import serve, transition
from .grids import build_capacity, build_coverage
from .masks import update_masks
from .reward import blame, network_power, rewards
from .state import CellSleepState, Totals

__all__ = ["CellSleepCore"]

_STATUSES = np.arange(4, dtype=np.int8)  # one-hot of the 4 statuses
_NAMES = {ON: "on", SLEEP: "sleep", OFF: "off"}


class CellSleepCore:
    """State, dynamics, rewards and masks of the cell-sleep task (no gymnasium/pettingzoo env here).

    Args:
        scenario: preset name, dict or :class:`ScenarioConfig`.
        config: the env's ``config``: scenario overrides plus a ``"task"`` dict of
            :class:`CellSleepConfig` fields.
        task: the older three-argument form ``(scenario, scenario_overrides, task)``: when given,
            ``config`` holds only the scenario overrides and ``task`` is a :class:`CellSleepConfig`
            or a dict of its fields.
    """

    features: tuple[Feature, ...] = FEATURES
    agent_features: tuple[Feature, ...] = FEATURES

    def __init__(self, scenario: str | ScenarioConfig | dict[str, Any] = "toy",
                 config: dict[str, Any] | None = None, task: CellSleepConfig | dict[str, Any] | None = None) -> None:
        task_over: Any
        if task is None:
            scen_over, task_over = split_config(config)
        else:
            scen_over, task_over = dict(config or {}), task
        self.cfg: CellSleepConfig = task_over if isinstance(task_over, CellSleepConfig) else apply_overrides(
            CellSleepConfig(), task_over, "task")
        self.twin = NetworkTwin(scenario, scen_over)
        self._build_static()
        self.agent_ids: tuple[str, ...] = tuple(f"cell_{i}" for i in range(self.n_cells))
        self.state = CellSleepState.initial(self.n_cells, self.n_grids, self.n_sites)
        self.totals = Totals()
        self._reset_workspaces()

    # ---------------------------------------------------------------- construction
    def _build_static(self) -> None:
        """Cells, sites, grids, cover matrices, capacities, power model and switching costs (once)."""
        sc, c = self.twin.cfg, self.cfg
        cells = self.twin.cells
        self.n_cells = int(cells.n)
        if self.n_cells == 0:
            raise ConfigError("sites: the scenario has zero cells; cell sleep needs at least one cell")
        self.n_sites = int(cells.n_sites)
        self.site = np.asarray(cells.site, dtype=np.int64)  # (n_cells,)
        self.step_s = c.step_min * 60.0  # [s]
        self.n_steps = c.n_steps
        self.bbu_w = float(sc.sites.bbu_power_w if c.bbu_power_w is None else c.bbu_power_w)  # [W]
        self.aircon = float(sc.sites.aircon_factor if c.aircon_factor is None else c.aircon_factor)
        self.coverage = cv = build_coverage(self.twin, c)
        self.grid_shape, self.grid_index, self.grid_xy = cv.grid_shape, cv.grid_index, cv.grid_xy
        self.n_grids, self.gain_db, self.n_cover = cv.n_grids, cv.gain_db, cv.n_cover
        self.A, self.AT, self.N = cv.cover, cv.cover_t, cv.neighbours  # kept for the hot path
        self.cell_n_grids = np.asarray(self.A.sum(axis=1), dtype=np.float64).ravel()  # (n_cells,)
        cp = build_capacity(self.twin, c, cv)
        self.spectral_eff, self.cap, self.cap_use, self.denom_all = cp.spectral_eff, cp.cap, cp.cap_use, cp.denom_all
        self.inv_denom_all = 1.0 / self.denom_all  # (n_grids,) [s/bit]: A @ (d / denom_all) = utilisation all on
        self.total_cap = float(self.cap.sum())  # [bit/s]
        pm = self.twin.power_model
        self.p0_w, self.p_sleep_w = pm["p0_w"], pm["p_sleep_w"]  # (n_cells,) [W]
        self.delta_p, self.p_max_w = pm["delta_p"], pm["p_max_w"]
        self.ws_power = np.zeros((4, self.n_cells))  # [W] EARTH power by status: on (per step), sleep, off, waking
        self.ws_power[SLEEP] = self.ws_power[WAKING] = self.p_sleep_w
        self.cells_per_site = np.bincount(self.site, minlength=self.n_sites).astype(np.float64)  # (n_sites,)
        sw = np.full((3, 3), c.switch_cost_off_w)  # [from, to] in logical statuses on/sleep/off [W]
        sw[ON, SLEEP] = sw[SLEEP, ON] = c.switch_cost_sleep_w
        np.fill_diagonal(sw, 0.0)
        self.switch_cost_w = sw
        self.demand_model = DemandModel(c, self.denom_all, self.total_cap)
        # neighbour pairs (c, c') grouped by c (the rows of N), the diagonal pointing at the last entry
        # of the workspaces (never ahead) so that no row is empty (np.add.reduceat needs that)
        rows = np.repeat(np.arange(self.n_cells), np.diff(self.N.indptr))
        self.n_cols = np.where(self.N.indices == rows, self.n_cells, self.N.indices)  # (nnz,); n_cells: diagonal
        self.tie = np.arange(self.n_cells) * 1e-9  # deterministic tie-break
        self.ws_prio = np.full(self.n_cells + 1, np.inf)  # workspaces; entry -1 (diagonal): never ahead
        self.ws_give = np.zeros(self.n_cells + 1)
        self._obs_buf = np.zeros((N_FEATURES, self.n_cells), dtype=np.float32)  # observation workspace
        self._obs_buf[F["kind_macro"]: F["capacity"] + 1] = self.static_features().T

    def static_features(self) -> np.ndarray:
        """(n_cells, 7) float32 per-cell features that never change (kind one-hot, power model, capacity)."""
        k = self.twin.cells.kind
        f = np.zeros((self.n_cells, 7), dtype=np.float32)
        f[np.arange(self.n_cells), k] = 1.0
        f[:, 3] = self.p0_w / P_NORM_W
        f[:, 4] = self.p_sleep_w / P_NORM_W
        f[:, 5] = self.delta_p * self.p_max_w / P_NORM_W
        f[:, 6] = self.cap / self.cap.max()
        return f

    def _reset_workspaces(self) -> None:
        n = self.n_cells
        self.ws_two = np.zeros((2, n))  # workspaces of the sparse products (one vector per row)
        self.ws_three = np.zeros((3, self.n_grids))
        self.ws_tt = np.zeros((2, self.n_grids))
        self._arange = np.arange(n)

    # ---------------------------------------------------------------- public structure
    def cover_matrix(self) -> sp.csr_matrix:
        """(n_cells, n_grids) CSR cover relation (1 where the cell covers the grid); do not modify."""
        return self.A

    def neighbour_matrix(self) -> sp.csr_matrix:
        """(n_cells, n_cells) CSR, 1 where two cells share a grid (diagonal included); do not modify."""
        return self.N

    # ---------------------------------------------------------------- episode
    def reset(self, rng: np.random.Generator) -> dict[str, Any]:
        """Start an episode: all cells on, a fresh demand series from ``rng``."""
        self.state = st = CellSleepState.initial(self.n_cells, self.n_grids, self.n_sites)
        self._reset_workspaces()
        self.demand_model.draw(rng)
        for k in range(HISTORY):  # past demand, served with every cell on
            st.demand = self.demand_model.row(k)
            st.hist[HISTORY - 1 - k] = self.A @ (st.demand * self.inv_denom_all)
        update_masks(self, serve(self, st.demand))
        self.totals = Totals()
        return {"n_cells": self.n_cells, "n_grids": self.n_grids}

    def validate_action(self, action: Any) -> np.ndarray:
        """Check and convert an action to (n_cells,) int64 in {0, 1, 2} (``ActionError`` otherwise)."""
        a = action if isinstance(action, np.ndarray) else None
        if a is not None and a.shape == (self.n_cells,) and a.dtype.kind in "iu" and a.min() >= 0 \
                and a.max() < N_ACTIONS:
            return a  # fast path: already valid integers
        a = as_real_array(action, "action", (self.n_cells,), "int")
        bad = (a < 0) | (a >= N_ACTIONS)
        if bad.any():
            i = int(np.flatnonzero(bad)[0])
            raise ActionError(f"action[{i}] = {a[i]}: allowed values are 0 (on), 1 (sleep), 2 (off)")
        return a

    def _apply_mask(self, a: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Phase 1: masked actions replaced by "on" (or ``ActionError`` with ``strict``); (actions, illegal)."""
        legal = self.state.legal[self._arange, a].astype(bool)
        if legal.all():
            return a, ~legal
        illegal = ~legal
        n_illegal = int(illegal.sum())
        if self.cfg.strict:
            bad = np.flatnonzero(illegal)
            desc = ", ".join(f"cell {i} -> {_NAMES[int(a[i])]}" for i in bad[:5])
            raise ActionError(f"action: {n_illegal} action(s) forbidden by the action mask ({desc}"
                              f"{', ...' if n_illegal > 5 else ''}); task.strict = True")
        return np.where(legal, a, ON), illegal

    def step(self, action: Any) -> StepResult:
        """Apply one decision (n_cells,) and advance one period (phases: mask, switch, serve, power, reward)."""
        st = self.state
        if st.t >= self.n_steps:
            raise EpisodeOverError("CellSleepCore.step(): the episode is over; call reset()")
        a, illegal = self._apply_mask(self.validate_action(action))
        prev_alive = st.site_alive_count > 0  # (n_sites,)
        cell_sw, changed = transition(self, a)
        st.t += 1
        d = self.demand_model.row(st.t + HISTORY - 1)
        st.demand = d
        sv = serve(self, d)
        update_masks(self, sv)
        alive = st.site_alive_count > 0  # (n_sites,)
        site_changed = alive != prev_alive
        site_sw = site_changed * self.cfg.switch_cost_site_w  # (n_sites,) [W]
        on = sv.on  # st.status == ON (the statuses do not change after serve)
        unserved = float(st.no_server.sum() + st.excess.sum())  # [bit/s]
        pw = network_power(self)
        reward, agent_r, terms = rewards(self, pw, cell_sw, site_sw, alive, unserved, on)
        st.hist[1:] = st.hist[:-1]
        st.hist[0] = st.util_all
        kpis = self._account(pw, float(d.sum()), unserved, int(changed.sum()), int(site_changed.sum()),
                             int(on.sum()), int(alive.sum()), int(illegal.sum()))
        kpis = {"agent_rewards": agent_r, **kpis}
        done = st.t >= self.n_steps
        return StepResult(reward=reward, agent_rewards=agent_r, cost=unserved * self.step_s / 1e9,
                          terminated=False, truncated=done, reward_terms=terms, kpis=kpis,
                          episode=self.episode_metrics() if done else None, agent_kpis={"illegal_action": illegal})

    def _account(self, pw: Any, demand_bps: float, unserved: float, n_switches: int, n_site_switches: int,
                 cells_on: int, sites_on: int, n_illegal: int) -> dict[str, Any]:
        """Phase 6: add the step to the episode totals; the step's KPIs."""
        tot = self.totals
        to_kwh = self.step_s / 3.6e6
        tot.energy_kwh += pw.total_w * to_kwh
        tot.energy_always_on_kwh += pw.always_on_w * to_kwh
        tot.demand_gbit += demand_bps * self.step_s / 1e9
        tot.unserved_gbit += unserved * self.step_s / 1e9
        tot.switches += n_switches
        tot.site_switches += n_site_switches
        tot.cells_on += cells_on
        tot.sites_on += sites_on
        tot.illegal_actions += n_illegal
        return {"power_w": pw.total_w, "power_always_on_w": pw.always_on_w, "demand_bps": demand_bps,
                "unserved_bps": unserved, "switches": n_switches, "site_switches": n_site_switches,
                "cells_on": cells_on, "sites_on": sites_on, "illegal_actions": n_illegal}

    def step_agents(self, actions: Any) -> StepResult:
        """One action per cell, stacked (n_cells,) in ``agent_ids`` order."""
        return self.step(np.asarray(actions).reshape(self.n_cells))

    def episode_metrics(self) -> dict[str, float]:
        """Headline KPIs of the episode so far (flat floats)."""
        t = self.totals
        n = max(self.state.t, 1)
        saved = 100.0 * (1.0 - t.energy_kwh / t.energy_always_on_kwh) if t.energy_always_on_kwh else 0.0
        return {
            "energy_kwh": t.energy_kwh,
            "energy_always_on_kwh": t.energy_always_on_kwh,
            "saved_pct": saved,
            "demand_gbit": t.demand_gbit,
            "unserved_gbit": t.unserved_gbit,
            "unserved_pct": 100.0 * t.unserved_gbit / t.demand_gbit if t.demand_gbit else 0.0,
            "switches": t.switches,
            "site_switches": t.site_switches,
            "mean_cells_on": t.cells_on / n,
            "mean_sites_on": t.sites_on / n,
            "illegal_actions": t.illegal_actions,
        }

    def serve_demand(self, d: np.ndarray) -> None:
        """Serve demand ``d`` (n_grids,) [bit/s] with the current statuses; update loads and masks (no step)."""
        self.state.demand = np.asarray(d, dtype=np.float64)
        update_masks(self, serve(self, self.state.demand))

    def blame(self) -> np.ndarray:
        """(n_cells,) [bit/s] unserved traffic of the last step attributed to each cell."""
        return blame(self)

    # ---------------------------------------------------------------- observations, spaces, masks
    def features_matrix(self) -> np.ndarray:
        """(n_cells, N_FEATURES) float32 per-cell features (see :data:`FEATURES`)."""
        st = self.state
        f = self._obs_buf  # (N_FEATURES, n_cells): one contiguous row per feature, static rows filled
        spd = self.cfg.steps_per_day
        tod = 2.0 * math.pi * ((self.cfg.start_day * spd + st.t) % spd) / spd
        f[F["tod_sin"]] = math.sin(tod)
        f[F["tod_cos"]] = math.cos(tod)
        np.minimum(st.hist, 10.0, out=f[F["demand_t-1"]: F[f"demand_t-{HISTORY}"] + 1])
        f[F["status_on"]: F["status_waking"] + 1] = st.status == _STATUSES[:, None]
        f[F["site_on"]] = (st.site_alive_count > 0)[self.site]
        f[F["site_cells_on"]] = (np.bincount(self.site, weights=st.status == ON, minlength=self.n_sites)
                                 / self.cells_per_site)[self.site]
        f[F["mask_grid_ok"]] = st.mask_grid
        f[F["mask_site_closable"]] = st.mask_site
        np.minimum(st.lc, 10.0, out=f[F["utilisation"]])
        return f.T.copy()  # (n_cells, N_FEATURES), C order

    def observation(self) -> dict[str, np.ndarray]:
        """``{"observation": (n_cells, N_FEATURES) float32, "action_mask": (3 n_cells,) int8}``."""
        return {"observation": self.features_matrix(), "action_mask": self.state.legal.reshape(-1).copy()}

    def agent_observations(self) -> list[dict[str, np.ndarray]]:
        """Per cell ``{"observation": (N_FEATURES,) float32, "action_mask": (3,) int8}``."""
        f = self.features_matrix()
        m = self.state.legal.copy()  # one copy; each agent gets its row
        return [{"observation": fi, "action_mask": mi} for fi, mi in zip(f, m)]

    def spaces(self) -> tuple[gspaces.Space, gspaces.Space]:
        """(Dict(observation, action_mask), MultiDiscrete([3] * n_cells))."""
        n = self.n_cells
        obs = gspaces.Dict({"observation": gspaces.Box(-1.0, 10.0, (n, N_FEATURES), dtype=np.float32),
                           "action_mask": gspaces.Box(0, 1, (n * N_ACTIONS,), dtype=np.int8)})
        return obs, gspaces.MultiDiscrete(np.full(n, N_ACTIONS, dtype=np.int64))

    def agent_spaces(self) -> tuple[gspaces.Space, gspaces.Space]:
        """(Dict(observation (22,), action_mask (3,)), Discrete(3))."""
        obs = gspaces.Dict({"observation": gspaces.Box(-1.0, 10.0, (N_FEATURES,), dtype=np.float32),
                           "action_mask": gspaces.Box(0, 1, (N_ACTIONS,), dtype=np.int8)})
        return obs, gspaces.Discrete(N_ACTIONS)

    def action_mask(self) -> np.ndarray:
        """Flattened (3 n_cells,) int8 mask of legal actions."""
        return self.state.legal.reshape(-1).copy()

    def agent_action_masks(self) -> np.ndarray:
        """(n_cells, 3) int8: 1 where the action is legal."""
        return self.state.legal.copy()

    # ---------------------------------------------------------------- read-only views of the state
    @property
    def t(self) -> int:
        """Steps taken in the episode."""
        return self.state.t

    @property
    def status(self) -> np.ndarray:
        """(n_cells,) int8 statuses ON/SLEEP/OFF/WAKING."""
        return self.state.status

    @property
    def logical(self) -> np.ndarray:
        """(n_cells,) int8 commanded statuses."""
        return self.state.logical

    @property
    def hist(self) -> np.ndarray:
        """(HISTORY, n_cells) float32 utilisation with every cell on, newest first."""
        return self.state.hist

    @property
    def demand(self) -> np.ndarray:
        """(n_grids,) [bit/s] the current step's demand."""
        return self.state.demand

    @property
    def load(self) -> np.ndarray:
        """(n_cells,) [bit/s] served load."""
        return self.state.load

    @property
    def legal(self) -> np.ndarray:
        """(n_cells, 3) int8 action mask (the live array; use :meth:`agent_action_masks` for a copy)."""
        return self.state.legal
