"""PettingZoo ``ParallelEnv`` adapter of the cell-sleep task (``cell_sleep_v0``): one agent per cell."""

from __future__ import annotations

from typing import Any

import numpy as np
from gymnasium import spaces
from pettingzoo import ParallelEnv

from ..config import split_config
from ..tasks.cell_sleep import N_ACTIONS, N_FEATURES, CellSleepCore

__all__ = ["CellSleepParallelEnv"]


class CellSleepParallelEnv(ParallelEnv):
    """Cell sleep with one agent per cell (paper 002 §IV.B; the primary form).

    | | |
    |---|---|
    | Agents | ``cell_0`` … ``cell_{n-1}``, one per cell, all alive until the episode ends |
    | Action space | ``Discrete(3)`` per agent: 0 on, 1 sleep, 2 off |
    | Observation space | ``Dict(observation=Box(-1, 10, (22,), float32), action_mask=Box(0, 1, (3,), int8))`` |
    | Reward | ``-(own power (1 + aircon) + share of site BBU/air-con + own switching) / 1 kW - 10 blamed Gbit`` |
    | Info | ``cost`` (unserved traffic of the step, Gbit, global), ``global_reward``, ``reward_terms`` |

    The per-agent features are those of :class:`mndt_envs.envs.cell_sleep.CellSleepEnv` (one row
    each); the per-agent rewards sum to the global reward (``info["global_reward"]``), unserved
    traffic being blamed on the covering cells that were not on. Episodes end by truncation after
    ``task.days`` days; then ``agents`` is empty. Same kwargs as the single-agent env.
    """

    metadata = {"name": "cell_sleep_v0", "render_modes": ["rgb_array"], "is_parallelizable": True}

    def __init__(self, scenario: str = "toy", config: dict[str, Any] | None = None,
                 render_mode: str | None = None) -> None:
        scen_over, task_over = split_config(config)
        self.core = CellSleepCore(scenario, scen_over, task_over)
        if render_mode not in (None, "rgb_array"):
            raise ValueError(f"render_mode = {render_mode!r}: allowed values are None, 'rgb_array'")
        self.render_mode = render_mode
        self.possible_agents = [f"cell_{i}" for i in range(self.core.n_cells)]
        self.agents: list[str] = []
        self._index = {a: i for i, a in enumerate(self.possible_agents)}
        obs_space = spaces.Dict({
            "observation": spaces.Box(-1.0, 10.0, (N_FEATURES,), dtype=np.float32),
            "action_mask": spaces.Box(0, 1, (N_ACTIONS,), dtype=np.int8),
        })
        act_space = spaces.Discrete(N_ACTIONS)
        self._obs_spaces = {a: obs_space for a in self.possible_agents}  # built once, shared by identity
        self._act_spaces = {a: act_space for a in self.possible_agents}
        self._rng = np.random.default_rng()

    def observation_space(self, agent: str) -> spaces.Space:
        return self._obs_spaces[agent]

    def action_space(self, agent: str) -> spaces.Space:
        return self._act_spaces[agent]

    def _obs(self) -> dict[str, dict[str, np.ndarray]]:
        f = self.core.observation()
        m = self.core.action_mask.copy()  # one copy; each agent gets its row
        return {a: {"observation": fi, "action_mask": mi} for a, fi, mi in zip(self.possible_agents, f, m)}

    def reset(self, seed: int | None = None,
              options: dict[str, Any] | None = None) -> tuple[dict[str, Any], dict[str, Any]]:
        if seed is not None or not hasattr(self, "_seeded"):
            self._rng = np.random.default_rng(seed)
            self._seeded = True
        self.core.reset(self._rng)
        self.agents = list(self.possible_agents)
        return self._obs(), {a: {} for a in self.agents}

    def step(self, actions: dict[str, Any]) -> tuple[dict[str, Any], dict[str, float], dict[str, bool],
                                                     dict[str, bool], dict[str, Any]]:
        if not self.agents:
            raise RuntimeError("step() called after the episode ended; call reset()")
        missing = [a for a in self.agents if a not in actions]
        if missing:
            raise ValueError(f"actions: missing actions for agents {missing[:5]}{' ...' if len(missing) > 5 else ''}")
        unknown = [a for a in actions if a not in self._index]
        if unknown:
            raise ValueError(f"actions: unknown agents {unknown[:5]}; agents are cell_0 .. cell_{len(self._index) - 1}")
        try:
            act = np.array([actions[a] for a in self.possible_agents])  # possible_agents[i] is cell i
        except (TypeError, ValueError) as exc:
            raise ValueError(f"actions: each agent's action must be one integer 0 (on), 1 (sleep), 2 (off): {exc}") \
                from exc
        out = self.core.step(act)
        obs = self._obs()
        rewards = dict(zip(self.possible_agents, out["agent_rewards"].tolist()))
        done = bool(out["done"])
        terms = dict.fromkeys(self.possible_agents, False)
        truncs = dict.fromkeys(self.possible_agents, done)
        shared = {"cost": out["cost"], "global_reward": out["reward"], "reward_terms": out["terms"]}
        if done:
            shared["episode_metrics"] = out["episode_metrics"]
        infos = dict.fromkeys(self.possible_agents, shared)
        if done:
            self.agents = []
        return obs, rewards, terms, truncs, infos

    def action_masks(self) -> np.ndarray:
        """(n_cells, 3) int8 mask of legal actions, one row per agent in ``possible_agents`` order."""
        return self.core.action_masks()

    def render(self) -> np.ndarray | None:
        if self.render_mode == "rgb_array":
            return self.core.render()
        return None

    def state(self) -> np.ndarray:
        """Global state: all agents' features stacked, (n_cells, 22)."""
        return self.core.observation()

    def close(self) -> None:
        pass
