"""PettingZoo adapter of the resource-allocation task (``resource_allocation_v0``): one agent per BS."""

from __future__ import annotations

from typing import Any

import numpy as np
from gymnasium import spaces
from pettingzoo import ParallelEnv

from ..tasks.resource_allocation import ResourceAllocationCore

__all__ = ["ResourceAllocationParallelEnv"]


class ResourceAllocationParallelEnv(ParallelEnv):  # type: ignore[misc]
    """Resource allocation with one agent per base station (same core as the Gymnasium env).

    | | |
    |---|---|
    | Agents | ``bs_0`` … ``bs_{n_cells-1}`` |
    | Action | ``Dict(rb=MultiDiscrete([n_rb+1]*cap), power=Box(0, 1, (cap,)))`` per BS |
    | Observation | ``Box(0, 1, (2 + 3·cap,))`` per BS |
    | Episode | ``episode_steps`` (20) steps, all agents end together |

    Each BS owns ``cap = min(k_max, n_rb)`` slots holding the users whose strongest cell it is
    (strongest first); association is therefore fixed to the strongest cell. Per slot the agent
    picks an RB (``n_rb`` = do not serve) and a share of its P_max. RB collisions and power
    shares summing above 1 are repaired as in the single-agent ``direct`` mode and counted in
    ``infos[agent]["repairs"]`` (shared). Observation per BS: time left, P_max / max P_max, then
    per slot the user's remaining demand, gain and a valid flag (see
    :meth:`ResourceAllocationCore.bs_observation`). Reward per BS: throughput of its users in the
    step in units of bandwidth divided by ``cap · step_s``; ``infos[agent]["cost"]``: unmet due
    demand of its users as a share of the episode's total demand.
    """

    metadata = {"name": "resource_allocation_v0", "render_modes": ["rgb_array"], "is_parallelizable": True}

    def __init__(self, scenario: str = "toy", config: dict[str, Any] | None = None,
                 render_mode: str | None = None) -> None:
        if render_mode is not None and render_mode != "rgb_array":
            raise ValueError(f"render_mode = {render_mode!r}: allowed values are None, 'rgb_array'")
        self.render_mode = render_mode
        self.core = ResourceAllocationCore(scenario, config)
        c = self.core
        self.possible_agents = [f"bs_{i}" for i in range(c.n_cells)]
        self.agents: list[str] = []
        self._obs_space = spaces.Box(0.0, 1.0, (2 + 3 * c.cap,), np.float32)
        self._act_space = spaces.Dict({
            "rb": spaces.MultiDiscrete(np.full(c.cap, c.n_rb + 1)),
            "power": spaces.Box(0.0, 1.0, (c.cap,), np.float32),
        })
        self._obs_spaces = {a: self._obs_space for a in self.possible_agents}
        self._act_spaces = {a: self._act_space for a in self.possible_agents}
        self._slots = np.zeros((c.n_cells, c.cap), dtype=np.int64)
        self._rng = np.random.default_rng()

    def observation_space(self, agent: str) -> spaces.Space[Any]:
        # spaces are built once in __init__ and returned by identity
        return self._obs_spaces[agent]

    def action_space(self, agent: str) -> spaces.Space[Any]:
        return self._act_spaces[agent]

    def _obs(self) -> dict[str, np.ndarray]:
        o = self.core.bs_observation(self._slots)
        return {a: o[i] for i, a in enumerate(self.possible_agents) if a in self.agents}

    def reset(self, seed: int | None = None,
              options: dict[str, Any] | None = None) -> tuple[dict[str, np.ndarray], dict[str, dict[str, Any]]]:
        if seed is not None or not hasattr(self, "_seeded"):
            self._rng = np.random.default_rng(seed)
            self._seeded = True
        self.agents = list(self.possible_agents)
        self.core.reset(self._rng)
        self._slots = self.core.bs_slots()
        return self._obs(), {a: {} for a in self.agents}

    def step(self, actions: dict[str, Any]) -> tuple[dict[str, np.ndarray], dict[str, float], dict[str, bool],
                                                     dict[str, bool], dict[str, dict[str, Any]]]:
        c = self.core
        rb = np.full((c.n_cells, c.cap), c.n_rb, dtype=np.int64)
        power = np.zeros((c.n_cells, c.cap))
        for i, a in enumerate(self.possible_agents):
            if a not in actions:
                continue
            act = actions[a]
            if not isinstance(act, dict) or "rb" not in act or "power" not in act:
                raise ValueError(f"action of {a}: expected a dict with fields 'rb' and 'power'")
            r = c._as_array(act["rb"], f"{a}.rb", (c.cap,), "int")
            c._check_bounds(r, f"{a}.rb", 0, c.n_rb)
            p = c._as_array(act["power"], f"{a}.power", (c.cap,), "float")
            c._check_bounds(p, f"{a}.power", 0.0, 1.0)
            rb[i], power[i] = r, p
        slots = self._slots
        alloc = c.bs_allocation(slots, rb, power)
        out = c.apply(alloc)
        thr_bits = c.rate * c.cfg.step_s
        on = alloc.serving >= 0
        per_bs = np.bincount(alloc.serving[on], weights=thr_bits[on], minlength=c.n_cells) / c.bw
        total = max(float(c.total.sum()), 1e-12)
        owner = np.full(c.n_users, -1, dtype=np.int64)
        valid = slots >= 0
        owner[slots[valid]] = np.nonzero(valid)[0]
        own = owner >= 0
        unmet_bs = np.bincount(owner[own], weights=c.unmet[own], minlength=c.n_cells) / total
        rewards = {a: float(per_bs[i] / (c.cap * c.cfg.step_s)) for i, a in enumerate(self.possible_agents)
                   if a in self.agents}
        infos: dict[str, dict[str, Any]] = {}
        for i, a in enumerate(self.possible_agents):
            if a in self.agents:
                infos[a] = {"cost": float(unmet_bs[i]), "repairs": out["info"]["repairs"],
                            "satisfaction_ratio": out["info"]["satisfaction_ratio"]}
                if out["terminated"]:
                    infos[a]["episode_metrics"] = out["info"]["episode_metrics"]
        done = bool(out["terminated"])
        if not done:
            self._slots = c.bs_slots()
        obs = self._obs()
        terms = {a: done for a in self.agents}
        truncs = {a: False for a in self.agents}
        if done:
            self.agents = []
        return obs, rewards, terms, truncs, infos

    def render(self) -> np.ndarray | None:
        if self.render_mode != "rgb_array":
            return None
        return self.core.render()

    def close(self) -> None:
        pass
