"""A fourth task written against the contract alone: per-cell power levels (docs/contributing/new_task.md).

Every step each cell picks a power level (0: -6 dB, 1: -3 dB, 2: its reference power); users attach to
the strongest cell and the reward is the users' mean SINR-based spectral efficiency minus a power price.
The cost is the share of users below the coverage threshold.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
from gymnasium import spaces as gspaces  # `spaces` is a method name of the core

from mndt_envs.config import apply_overrides, split_config
from mndt_envs.envs.base import MaskedTaskEnv
from mndt_envs.parallel.base import MaskedTaskParallelEnv
from mndt_envs.tasks.contract import EpisodeOverError, Feature, StepResult
from mndt_envs.tasks.validators import as_real_array, check_bounds, check_int, check_range
from mndt_envs.twin.network import NetworkTwin

LEVELS_DB = np.array([-6.0, -3.0, 0.0])  # [dB] power offsets of the three actions


@dataclass(frozen=True)
class PowerLevelsConfig:
    """The task's parameters (``config={"task": {...}}``)."""

    episode_steps: int = 10
    step_s: float = 60.0  # [s]
    power_price: float = 0.5  # reward per unit of mean power level (0 = free)

    def __post_init__(self) -> None:
        check_int("task", "episode_steps", self.episode_steps, 1, 10_000)
        check_range("task", "step_s", self.step_s, 0.0, 86_400.0, lo_open=True)
        check_range("task", "power_price", self.power_price, 0.0, 100.0)


FEATURES = (
    Feature("level", "1", 0.0, 1.0, description="own power level / 2"),
    Feature("served_share", "1", 0.0, 1.0, description="share of the users it serves"),
    Feature("mean_se", "10 bit/s/Hz", 0.0, 1.0, description="mean spectral efficiency of its users / 10"),
)


class PowerLevelsCore:
    """Task core of the power-levels task (implements ``TaskCore``; one agent per cell)."""

    features = FEATURES
    agent_features = FEATURES

    def __init__(self, scenario: Any = "toy", config: dict[str, Any] | None = None) -> None:
        scen, task = split_config(config)
        self.cfg = apply_overrides(PowerLevelsConfig(), task, "task")
        self.twin = NetworkTwin(scenario, scen)
        self.n = int(self.twin.cells.n)
        self.agent_ids = tuple(f"cell_{i}" for i in range(self.n))
        self.level = np.full(self.n, 2, dtype=np.int64)  # (n,) current action of every cell
        self.t = 0
        self.rng = np.random.default_rng(0)
        self._kpi = self._evaluate()

    # --- episode
    def reset(self, rng: np.random.Generator) -> dict[str, Any]:
        self.rng, self.t = rng, 0
        self.twin.reset(rng, horizon_s=self.cfg.episode_steps * self.cfg.step_s)
        self.level = np.full(self.n, 2, dtype=np.int64)
        self._kpi = self._evaluate()
        return {"n_cells": self.n}

    def validate_action(self, action: Any) -> np.ndarray:
        a = as_real_array(action, "action (one power level per cell)", (self.n,), "int")
        check_bounds(a, "action", 0, 2)
        return a

    def step(self, action: Any) -> StepResult:
        if self.t >= self.cfg.episode_steps:
            raise EpisodeOverError("PowerLevelsCore.step(): the episode is over; call reset()")
        self.level = self.validate_action(action).astype(np.int64)  # a copy: never keep the caller's array
        self.twin.advance(self.cfg.step_s, self.rng)
        self.t += 1
        self._kpi = k = self._evaluate()
        power_term = -self.cfg.power_price * float(self.level.mean()) / 2.0
        reward = k["mean_se"] + power_term
        done = self.t >= self.cfg.episode_steps
        return StepResult(reward=reward, agent_rewards=np.full(self.n, reward), cost=k["uncovered"],
                          terminated=False, truncated=done,
                          reward_terms={"spectral_efficiency": k["mean_se"], "power": power_term},
                          kpis=dict(k), episode=self.episode_metrics() if done else None)

    def step_agents(self, actions: Any) -> StepResult:
        return self.step(np.asarray(actions).reshape(self.n))

    def _evaluate(self) -> dict[str, Any]:
        p = self.twin.cells.ref_power_dbm + LEVELS_DB[self.level]  # (n,) [dBm]
        rsrp = self.twin.rsrp(p)  # (n, n_users) [dBm]
        serving = np.argmax(rsrp, axis=0)
        lin = 10.0 ** (rsrp / 10.0)  # [mW]
        sig = lin[serving, np.arange(lin.shape[1])]
        noise_mw = self.twin.noise_w * 1e3  # [mW] per RB, like RSRP
        se = np.log2(1.0 + sig / (lin.sum(axis=0) - sig + noise_mw))  # (n_users,) [bit/s/Hz]
        thr = self.twin.cfg.radio.coverage_threshold_dbm
        self._serving, self._se = serving, se
        return {"mean_se": float(se.mean()), "uncovered": float((rsrp.max(axis=0) < thr).mean())}

    def episode_metrics(self) -> dict[str, float]:
        return {"final_mean_se": self._kpi["mean_se"], "steps": float(self.t)}

    # --- observations, spaces, masks
    def agent_observations(self) -> np.ndarray:
        count = np.bincount(self._serving, minlength=self.n)
        se = np.bincount(self._serving, weights=self._se, minlength=self.n) / np.maximum(count, 1)
        return np.stack([self.level / 2.0, count / max(len(self._serving), 1),
                         np.minimum(se / 10.0, 1.0)], axis=1).astype(np.float32)

    def observation(self) -> dict[str, np.ndarray]:
        return {"observation": self.agent_observations(), "action_mask": self.action_mask()}

    def spaces(self) -> tuple[gspaces.Space, gspaces.Space]:
        obs = gspaces.Dict({"observation": gspaces.Box(0.0, 1.0, (self.n, 3), np.float32),
                           "action_mask": gspaces.Box(0, 1, (3 * self.n,), np.int8)})
        return obs, gspaces.MultiDiscrete(np.full(self.n, 3))

    def agent_spaces(self) -> tuple[gspaces.Space, gspaces.Space]:
        return gspaces.Box(0.0, 1.0, (3,), np.float32), gspaces.Discrete(3)

    def agent_action_masks(self) -> np.ndarray:
        return np.ones((self.n, 3), dtype=np.int8)  # every level is always legal here

    def action_mask(self) -> np.ndarray:
        return self.agent_action_masks().reshape(-1)


class PowerLevelsEnv(MaskedTaskEnv):
    """Per-cell power levels, single agent.

    ## Description
    Every step each cell picks a power level; users attach to the strongest cell.

    ## Action Space
    ``MultiDiscrete([3] * n_cells)``: 0 = -6 dB, 1 = -3 dB, 2 = reference power.

    ## Observation Space
    ``Dict(observation=Box(0, 1, (n_cells, 3)), action_mask=Box(0, 1, (3 n_cells,), int8))``; per cell:

    ## Rewards
    Mean spectral efficiency minus ``power_price`` × mean level / 2; ``info["cost"]``: uncovered share.

    ## Episode End
    Truncated after ``episode_steps`` steps.
    """

    core_cls = PowerLevelsCore


class PowerLevelsParallelEnv(MaskedTaskParallelEnv):
    """Per-cell power levels, one agent per cell.

    ## Observation Space
    Per cell:
    """

    core_cls = PowerLevelsCore
    metadata = {"name": "power_levels_v0", "render_modes": ["rgb_array"], "is_parallelizable": True}
