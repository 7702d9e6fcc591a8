"""Single-agent Gymnasium adapter of the cell-sleep task (``mndt/CellSleep-v0``)."""

from __future__ import annotations

from typing import Any

import gymnasium as gym
import numpy as np
from gymnasium import spaces

from ..config import split_config
from ..tasks.cell_sleep import N_ACTIONS, N_FEATURES, CellSleepCore

__all__ = ["CellSleepEnv"]


class CellSleepEnv(gym.Env[dict[str, np.ndarray], np.ndarray]):
    """Switch cells on, to sleep or off every 30 min to save energy (paper 002 §IV.B).

    ## Description
    A network twin (``scenario``) is split into square grids (``task.grid_m``, 100 m); a cell
    covers a grid where its RSRP reaches the coverage threshold. Each grid's demand follows a
    diurnal + weekly series (or the LSTM traffic twin) and is split across the grid's active
    cells in proportion to their capacities; what exceeds a cell's capacity, or has no active
    cell, is unserved. Power: EARTH model per cell (load-dependent when on, sleep power when
    asleep or waking up, 0 when off), a BBU per site while any of its cells is not off, and air
    conditioning proportional to site power. A site is off iff all its cells are off. See
    :mod:`mndt_envs.tasks.cell_sleep` for the equations and
    :class:`mndt_envs.tasks.cell_sleep.CellSleepConfig` for every parameter.

    ## Action Space
    ``MultiDiscrete([3] * n_cells)``: per cell 0 = on, 1 = sleep, 2 = off. A cell leaving off
    needs ``task.wakeup_steps`` steps (default 1) before it serves. Illegal actions (see the mask)
    raise ``ValueError`` with ``task.strict=True``; otherwise they are replaced by "on" and
    counted in ``info["illegal_actions"]``. Wrong shapes, non-integers or values outside
    {0, 1, 2} raise ``ValueError``.

    ## Observation Space
    ``Dict``: ``"observation"``: ``Box(n_cells, 22)`` float32 per-cell features (time of day
    sin/cos; the cell's grids' demand over the last 4 steps as the utilisation the cell would
    have with every cell on; device parameters: kind one-hot, P_0, P_sleep, Δ_p·P_max (÷130 W),
    capacity ÷ max; own status one-hot on/sleep/off/waking; site on and share of its cells on;
    the paper's two masks (grid demand met if this cell sleeps/closes; site closable if this
    cell closes); last utilisation). ``"action_mask"``: ``Box(0, 1, (3 n_cells,), int8)``, the
    flattened per-cell mask of legal actions (also returned by :meth:`action_masks` for
    sb3-contrib's ``MaskablePPO``). With ``task.hard_constraints`` (default) sleep/off is
    forbidden where the cell's grids could not be served without it.

    ## Rewards
    ``-(total network power [W] + switching costs [W-equivalent]) / task.reward_scale_w``
    (default 1 kW), minus ``task.unserved_penalty`` per Gbit unserved (default 10).
    ``info["cost"]`` = unserved traffic in the step [Gbit]; ``info["reward_terms"]`` splits the
    reward; ``info["agent_rewards"]`` holds the per-cell rewards of the multi-agent form.

    ## Episode End
    Truncated after ``task.days`` days (default 7 = 336 steps of 30 min) or
    ``task.episode_steps`` if > 0; never terminated. The last step's ``info["episode_metrics"]``
    holds energy [kWh], energy of always-on [kWh], % saved, unserved [Gbit and %], switches.
    """

    metadata = {"render_modes": ["rgb_array"], "render_fps": 4}

    def __init__(self, scenario: str = "toy", config: dict[str, Any] | None = None,
                 render_mode: str | None = None) -> None:
        scen_over, task_over = split_config(config)
        self.core = CellSleepCore(scenario, scen_over, task_over)
        n = self.core.n_cells
        if render_mode not in (None, "rgb_array"):
            raise ValueError(f"render_mode = {render_mode!r}: allowed values are None, 'rgb_array'")
        self.render_mode = render_mode
        self.action_space = spaces.MultiDiscrete(np.full(n, N_ACTIONS, dtype=np.int64))
        self.observation_space = spaces.Dict({  # type: ignore[assignment]
            "observation": spaces.Box(-1.0, 10.0, (n, N_FEATURES), dtype=np.float32),
            "action_mask": spaces.Box(0, 1, (n * N_ACTIONS,), dtype=np.int8),
        })

    def _obs(self) -> dict[str, np.ndarray]:
        return {"observation": self.core.observation(), "action_mask": self.core.action_mask.reshape(-1).copy()}

    def reset(self, *, seed: int | None = None,
              options: dict[str, Any] | None = None) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
        super().reset(seed=seed)
        self.core.reset(self.np_random)
        return self._obs(), {"n_cells": self.core.n_cells, "n_grids": self.core.n_grids}

    def step(self, action: np.ndarray) -> tuple[dict[str, np.ndarray], float, bool, bool, dict[str, Any]]:
        out = self.core.step(action)
        info = {k: v for k, v in out.items() if k not in ("reward", "terms", "done")}
        info["reward_terms"] = out["terms"]
        return self._obs(), float(out["reward"]), False, bool(out["done"]), info

    def action_masks(self) -> np.ndarray:
        """Flattened (3 n_cells,) int8 mask of legal actions (sb3-contrib ``MaskablePPO``)."""
        return self.core.action_mask.reshape(-1).copy()

    def render(self) -> np.ndarray | None:
        if self.render_mode == "rgb_array":
            return self.core.render()
        return None
