"""The one PettingZoo adapter: any :class:`~mndt_envs.tasks.contract.TaskCore` as a ``ParallelEnv``.

Owns what every multi-agent form needs and the cores must not repeat: seeding (a generator made at
the first ``reset`` or at any seeded one, then kept), validation of the action dict (``None``, ``{}``,
missing or unknown agents, wrong types/shapes/dtypes: one :class:`~mndt_envs.tasks.contract.ActionError`,
a ``ValueError``, naming the agent), the "episode over" error, per-agent info dicts (separate objects:
the agent's ``cost``, ``global_reward``, ``reward_terms``, the scalar KPIs of the step, per-agent KPIs
such as ``illegal_action``, and ``episode_metrics`` at the end) and masks.
"""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np
from gymnasium import spaces
from pettingzoo import ParallelEnv

from ..envs.base import check_render_mode, close_viewer, render_task, setup_task_class
from ..tasks.contract import EpisodeOverError, StepResult
from ..tasks.validators import check_agent_dict, stack_agent_actions

__all__ = ["TaskParallelEnv", "MaskedTaskParallelEnv"]


def _scalar_kpis(kpis: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for k, v in kpis.items():
        if isinstance(v, (bool, int, float, np.bool_, np.integer, np.floating)):
            out[k] = v
        elif isinstance(v, dict) and all(isinstance(x, (int, float)) for x in v.values()):
            out[k] = v
    return out


class TaskParallelEnv(ParallelEnv):
    """Generic PettingZoo ``ParallelEnv`` over a task core (subclasses set ``core_cls`` and ``metadata``)."""

    core_cls: ClassVar[type]
    renderer: ClassVar[str | None] = None
    metadata: dict[str, Any] = {"name": "task_v0", "render_modes": ["rgb_array"],
                                          "is_parallelizable": True, "render_fps": 4}

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        setup_task_class(cls, "agent_features")

    def __init__(self, scenario: Any = "toy", config: dict[str, Any] | None = None,
                 render_mode: str | None = None) -> None:
        check_render_mode(render_mode, self.metadata)
        self.render_mode = render_mode
        self.core = self.core_cls(scenario, config)
        self.possible_agents: list[str] = list(self.core.agent_ids)
        self.agents: list[str] = []
        self._index = {a: i for i, a in enumerate(self.possible_agents)}
        obs_space, act_space = self.core.agent_spaces()
        self._act_space = act_space
        self._obs_spaces = dict.fromkeys(self.possible_agents, obs_space)  # built once, shared by identity
        self._act_spaces = dict.fromkeys(self.possible_agents, act_space)
        self._rng: np.random.Generator | None = None

    def observation_space(self, agent: str) -> spaces.Space:
        return self._obs_spaces[agent]

    def action_space(self, agent: str) -> spaces.Space:
        return self._act_spaces[agent]

    def _observations(self) -> dict[str, Any]:
        return dict(zip(self.possible_agents, self.core.agent_observations()))

    def reset(self, seed: int | None = None, options: dict[str, Any] | None = None,
              ) -> tuple[dict[str, Any], dict[str, dict[str, Any]]]:
        if seed is not None or self._rng is None:
            self._rng = np.random.default_rng(seed)
        self.core.reset(self._rng)
        self.agents = list(self.possible_agents)
        if self.render_mode == "human":
            self.render()
        return self._observations(), {a: {} for a in self.agents}

    def step(self, actions: dict[str, Any]) -> tuple[dict[str, Any], dict[str, float], dict[str, bool],
                                                     dict[str, bool], dict[str, dict[str, Any]]]:
        if not self.agents:
            raise EpisodeOverError(f"{type(self).__name__}.step(): the episode is over (or never started); "
                                   "call reset() first")
        check_agent_dict(actions, self.agents, self._index)
        names = self.possible_agents
        stacked = stack_agent_actions(self._act_space, [actions[a] for a in names], names)
        res = self.core.step_agents(stacked)
        obs = self._observations()
        rewards = dict(zip(names, np.asarray(res.agent_rewards, dtype=np.float64).tolist()))
        terms = dict.fromkeys(names, bool(res.terminated))
        truncs = dict.fromkeys(names, bool(res.truncated))
        infos = self._infos(res)
        if res.done:
            self.agents = []
        if self.render_mode == "human":
            self.render()
        return obs, rewards, terms, truncs, infos

    def _infos(self, res: StepResult) -> dict[str, dict[str, Any]]:
        """One info dict per agent (separate objects, nested dicts copied too)."""
        base = _scalar_kpis(res.kpis)
        base["cost"] = float(res.cost)
        base["global_reward"] = float(res.reward)
        nested = [k for k, v in base.items() if isinstance(v, dict)]
        base["reward_terms"] = res.reward_terms
        nested.append("reward_terms")
        if res.episode is not None:
            base["episode_metrics"] = res.episode
            nested.append("episode_metrics")
        columns = {k: np.asarray(v).tolist() for k, v in res.agent_kpis.items()}
        if res.agent_costs is not None:
            columns["cost"] = np.asarray(res.agent_costs, dtype=np.float64).tolist()
        infos: dict[str, dict[str, Any]] = {}
        for i, a in enumerate(self.possible_agents):
            d = base.copy()
            for k in nested:
                d[k] = base[k].copy()
            for k, col in columns.items():
                d[k] = col[i]
            infos[a] = d
        return infos

    def state(self) -> Any:
        """Global state: the single-agent observation of the same core (its ``"observation"`` part if masked)."""
        obs = self.core.observation()
        return obs["observation"] if isinstance(obs, dict) and "action_mask" in obs else obs

    def render(self) -> Any:
        """The map as an (H, W, 3) uint8 array (``rgb_array``), or shown in a matplotlib window (``human``)."""
        return render_task(self, float(self.metadata.get("render_fps", 4)))

    def close(self) -> None:
        close_viewer(self)


class MaskedTaskParallelEnv(TaskParallelEnv):
    """:class:`TaskParallelEnv` of a task with action masks (the shared-policy VecEnvs read :meth:`action_masks`)."""

    def action_masks(self) -> np.ndarray:
        """(n_agents, n_actions) bool masks of legal actions in ``possible_agents`` order (int8 in observations)."""
        return np.asarray(self.core.agent_action_masks(), dtype=bool)
