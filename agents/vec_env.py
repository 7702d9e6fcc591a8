"""Parameter sharing: a PettingZoo ``ParallelEnv`` seen as an SB3 ``VecEnv``, one sub-env per agent.

Every agent of the parallel env becomes one sub-environment, so one SB3 policy, value network
and rollout buffer serve all agents (the same view as SuperSuit's
``pettingzoo_env_to_vec_env_v1``, kept here because it also forwards action masks to
sb3-contrib's MaskablePPO). All agents end an episode together; the env then resets and the
last observation goes to ``infos[i]["terminal_observation"]`` (SB3 convention).

Masks: when the agents' observations are ``Dict(observation=..., action_mask=...)`` the policy
sees ``"observation"`` and each agent's ``"action_mask"`` row is served as a ``bool`` array by
``action_masks()`` / ``env_method("action_masks")`` (what MaskablePPO calls)::

    venv = ParallelAgentsVecEnv(mndt_envs.parallel_env("cell_sleep_v0"))
    model = MaskablePPO("MlpPolicy", venv)
"""

from __future__ import annotations

from typing import Any

import numpy as np


def _vec_base() -> type:
    from stable_baselines3.common.vec_env import VecEnv

    return VecEnv


class ParallelAgentsVecEnv(_vec_base()):  # type: ignore[misc]
    """SB3 ``VecEnv`` over the agents of a PettingZoo ``ParallelEnv`` (agent ``i`` = sub-env ``i``).

    Args:
        penv: the parallel env (all agents alive for the whole episode).
        seed: seed of the first reset (later resets continue the env's generator).
        obs_key: for ``Dict`` observations, the key holding the features (default: ``"observation"``
            when the observation is ``Dict(observation=..., action_mask=...)``).
        action_space: the per-agent action space seen by the policy (default: the env's).
    """

    def __init__(self, penv: Any, seed: int | None = 0, obs_key: str | None = None, action_space: Any = None) -> None:
        from gymnasium import spaces

        self.penv = penv
        self.agents = list(penv.possible_agents)
        a0 = self.agents[0]
        obs_space = penv.observation_space(a0)
        self.mask_key: str | None = None
        if isinstance(obs_space, spaces.Dict) and "action_mask" in obs_space.spaces:
            self.mask_key = "action_mask"
            if obs_key is None and "observation" in obs_space.spaces:
                obs_key = "observation"
        if obs_key is not None:
            obs_space = obs_space[obs_key]
        self.obs_key = obs_key
        super().__init__(len(self.agents), obs_space, action_space or penv.action_space(a0))
        self._seed = seed
        self._actions: np.ndarray | None = None
        self._masks: np.ndarray | None = None

    def _stack(self, obs: dict[str, Any]) -> np.ndarray:
        if self.mask_key is not None:
            self._masks = np.stack([np.asarray(obs[a][self.mask_key]).reshape(-1) for a in self.agents]).astype(bool)
        if self.obs_key is None:
            return np.stack([obs[a] for a in self.agents])
        return np.stack([obs[a][self.obs_key] for a in self.agents])

    def action_masks(self) -> np.ndarray:
        """(n_agents, n_actions) ``bool`` masks of the current step, one row per agent (sub-env)."""
        if self._masks is None:
            if self.mask_key is None:
                raise AttributeError(f"{type(self.penv).__name__} has no action masks (no 'action_mask' observation)")
            raise RuntimeError("action_masks() before reset(): no observation yet")
        return self._masks

    def _agent_actions(self, actions: np.ndarray) -> dict[str, Any]:
        """Per-agent actions in the parallel env's format."""
        return dict(zip(self.agents, actions.tolist()))

    def _rewards(self, rew: dict[str, float]) -> np.ndarray:
        """(n_agents,) training rewards (the env's per-agent rewards by default)."""
        return np.array([rew[a] for a in self.agents], dtype=np.float32)

    def reset(self) -> np.ndarray:
        obs, _ = self.penv.reset(seed=self._seed)
        self._seed = None
        return self._stack(obs)

    def step_async(self, actions: np.ndarray) -> None:
        self._actions = np.asarray(actions)

    def step_wait(self) -> tuple[np.ndarray, np.ndarray, np.ndarray, list[dict[str, Any]]]:
        assert self._actions is not None
        obs, rew, term, trunc, info = self.penv.step(self._agent_actions(self._actions))
        o = self._stack(obs)
        r = self._rewards(rew)
        done = np.array([bool(term[a] or trunc[a]) for a in self.agents])
        infos: list[dict[str, Any]] = [dict(info[a]) for a in self.agents]
        if done.any():
            for i, a in enumerate(self.agents):
                infos[i]["terminal_observation"] = o[i]
                infos[i]["TimeLimit.truncated"] = bool(trunc[a] and not term[a])
            o = self.reset()
        return o, r, done, infos

    def close(self) -> None:
        self.penv.close()

    def _idx(self, indices: Any) -> list[int]:
        if indices is None:
            return list(range(self.num_envs))
        return [indices] if isinstance(indices, int) else list(indices)

    def get_attr(self, attr_name: str, indices: Any = None) -> list[Any]:
        if attr_name == "render_mode":
            return [None for _ in self._idx(indices)]
        return [getattr(self.penv, attr_name) for _ in self._idx(indices)]

    def has_attr(self, attr_name: str) -> bool:
        if attr_name == "action_masks":
            return self.mask_key is not None or hasattr(self.penv, "action_masks")
        return hasattr(self.penv, attr_name)

    def set_attr(self, attr_name: str, value: Any, indices: Any = None) -> None:
        setattr(self.penv, attr_name, value)

    def env_method(self, method_name: str, *args: Any, indices: Any = None, **kwargs: Any) -> list[Any]:
        if method_name == "action_masks":  # per sub-env: that agent's row
            if self.mask_key is not None:
                m = self.action_masks()
            else:
                m = np.asarray(self.penv.action_masks()).reshape(self.num_envs, -1).astype(bool)
            return [m[i] for i in self._idx(indices)]
        return [getattr(self.penv, method_name)(*args, **kwargs) for _ in self._idx(indices)]

    def env_is_wrapped(self, wrapper_class: Any, indices: Any = None) -> list[bool]:
        return [False for _ in self._idx(indices)]
