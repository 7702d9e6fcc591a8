"""PettingZoo adapter of the CPICH load-balancing task (``load_balancing_v0``): one agent per antenna."""

from __future__ import annotations

import functools
from typing import Any

import numpy as np
from gymnasium import spaces
from pettingzoo import ParallelEnv

from ..tasks.load_balancing import LoadBalancingCore

__all__ = ["LoadBalancingParallelEnv"]


class LoadBalancingParallelEnv(ParallelEnv):
    """CPICH load balancing with one agent per antenna (``antenna_0`` … ``antenna_{n-1}``).

    | | |
    |---|---|
    | Agents | one per antenna (cell), all present for the whole episode |
    | Action | ``Box(-max_step_db, max_step_db, (1,))``: own CPICH power change [dB] (clipped, then |
    | | projected onto ``[p_min(k), p_max]``) |
    | Observation | ``Box((6 + 3 M,))``, ``M = max_neighbours`` |
    | Reward | the team reward of the single-agent env, the same for every agent |

    Observation of antenna ``i``: ``[b_i, p_norm_i, p_min_norm_i, nb_coverage_i, sin h, cos h]``,
    then the busy degrees of its ``M`` strongest neighbours (by MR co-occurrence over the day),
    their ``p_norm``, and a presence flag (1 = neighbour, 0 = padding with b = p_norm = 0).
    Antennas with fewer than ``M`` neighbours are padded; with more, the weaker ones are left out.
    ``info[agent]["cost"]`` is the coverage shortfall ``max(0, c_min - C)`` (shared).
    Episodes are truncated after ``episode_steps`` periods. See
    :class:`mndt_envs.envs.load_balancing.LoadBalancingEnv` for the dynamics.
    """

    metadata = {"render_modes": ["rgb_array"], "name": "load_balancing_v0", "is_parallelizable": True}

    def __init__(self, scenario: str = "toy", config: dict[str, Any] | None = None,
                 render_mode: str | None = None) -> None:
        if render_mode is not None and render_mode != "rgb_array":
            raise ValueError(f"render_mode = {render_mode!r}: allowed values are None, 'rgb_array'")
        self.core = LoadBalancingCore(scenario, config)
        self.render_mode = render_mode
        self.possible_agents = [f"antenna_{i}" for i in range(self.core.n)]
        self.agents: list[str] = []
        c = self.core
        m = c.cfg.max_neighbours
        lo_p = -c.cfg.p_down_db / c.p_scale
        hi_p = c.cfg.p_up_db / c.p_scale
        low = np.concatenate([[0.0, lo_p, lo_p, 0.0, -1.0, -1.0], np.zeros(m), np.full(m, min(lo_p, 0.0)),
                              np.zeros(m)]).astype(np.float32)
        high = np.concatenate([[c.b_high, hi_p, hi_p, 1.0, 1.0, 1.0], np.full(m, c.b_high),
                               np.full(m, max(hi_p, 0.0)), np.ones(m)]).astype(np.float32)
        obs_space = spaces.Box(low, high, dtype=np.float32)
        act_space = spaces.Box(-c.cfg.max_step_db, c.cfg.max_step_db, (1,), np.float32)
        self._obs_spaces = {a: obs_space for a in self.possible_agents}
        self._act_spaces = {a: act_space for a in self.possible_agents}
        self._low, self._high = low, high
        self._rng = np.random.default_rng()

    @functools.cache  # noqa: B019 - spaces are built once and returned by identity
    def observation_space(self, agent: str) -> spaces.Space:
        return self._obs_spaces[agent]

    @functools.cache  # noqa: B019
    def action_space(self, agent: str) -> spaces.Space:
        return self._act_spaces[agent]

    def _observations(self) -> dict[str, np.ndarray]:
        o = np.clip(self.core.agent_obs(), self._low, self._high)
        return {a: o[i] for i, a in enumerate(self.possible_agents)}

    def reset(self, seed: int | None = None, options: dict[str, Any] | None = None,
              ) -> tuple[dict[str, np.ndarray], dict[str, dict[str, Any]]]:
        if seed is not None or not hasattr(self, "_seeded"):
            self._rng = np.random.default_rng(seed)
            self._seeded = True
        self.core.reset(self._rng)
        self.agents = list(self.possible_agents)
        return self._observations(), {a: {} for a in self.agents}

    def step(self, actions: dict[str, Any]) -> tuple[dict[str, np.ndarray], dict[str, float], dict[str, bool],
                                                    dict[str, bool], dict[str, dict[str, Any]]]:
        if not self.agents:
            raise RuntimeError("step() with no live agents: call reset()")
        delta = np.zeros(self.core.n)
        for i, a in enumerate(self.possible_agents):
            if a not in actions:
                raise ValueError(f"actions: missing the action of {a!r} (a power change [dB], shape (1,))")
            v = np.asarray(actions[a], dtype=np.float64).reshape(-1)
            if v.size != 1:
                raise ValueError(f"actions[{a!r}]: expected one power change [dB], got shape {np.shape(actions[a])}")
            delta[i] = v[0]
        reward, cost, truncated, info = self.core.step(delta, self._rng)
        obs = self._observations()
        agent_info = {"cost": cost, "coverage": info["coverage"], "std_busy": info["std_busy"]}
        if "episode_metrics" in info:
            agent_info["episode_metrics"] = info["episode_metrics"]
        rewards = {a: reward for a in self.agents}
        terms = {a: False for a in self.agents}
        truncs = {a: truncated for a in self.agents}
        infos = {a: dict(agent_info) for a in self.agents}
        if truncated:
            self.agents = []
        return obs, rewards, terms, truncs, infos

    def render(self) -> np.ndarray | None:
        if self.render_mode != "rgb_array":
            return None
        return self.core.render()

    def close(self) -> None:
        pass
