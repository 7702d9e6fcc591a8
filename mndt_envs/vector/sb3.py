"""A stable-baselines3 ``VecEnv`` over a batched core, so SB3 (and sb3-contrib) train on it directly.

SB3 resets a finished sub-env inside the same ``step`` (its ``VecEnv`` convention): the returned
observation is the new episode's first, the last one is in ``infos[i]["terminal_observation"]``, and
``infos[i]["TimeLimit.truncated"]`` marks time-limit ends. ``infos[i]`` also holds ``cost``, the
reward terms, the step KPIs and, at an episode's end, ``episode_metrics``. ``env_method("action_masks")``
returns each sub-env's flat bool mask (cell sleep), which is what ``MaskablePPO`` asks for.

Seeding: ``seed(s)`` then ``reset()`` seeds sub-env ``i`` with ``s + i`` (SB3's and Gymnasium's rule),
the single env reset with ``seed=s + i`` drawing the same episode.

Example::

    venv = make_sb3_vec_env("mndt/CellSleep-v0", 64, scenario="toy")
    model = sb3_contrib.MaskablePPO("MultiInputPolicy", venv, n_steps=64)
"""

from __future__ import annotations

from typing import Any

import gymnasium as gym
import numpy as np
from stable_baselines3.common.vec_env.base_vec_env import VecEnv, VecEnvIndices

from .base import BatchedVectorEnv

__all__ = ["BatchedSB3VecEnv", "make_sb3_vec_env"]


class BatchedSB3VecEnv(VecEnv):
    """SB3 ``VecEnv`` view of a :class:`~mndt_envs.vector.base.BatchedVectorEnv` (its core stepped directly).

    Args:
        venv: the batched Gymnasium vector env (``gym.make_vec(..., vectorization_mode="vector_entry_point")``).
    """

    def __init__(self, venv: BatchedVectorEnv) -> None:
        if not isinstance(venv, BatchedVectorEnv):
            raise TypeError(f"BatchedSB3VecEnv: expected a mndt_envs batched vector env, got {type(venv).__name__}; "
                            "build one with gym.make_vec(id, num_envs, vectorization_mode='vector_entry_point')")
        self.venv = venv
        self.core = venv.core
        self.render_mode = None
        super().__init__(venv.num_envs, venv.single_observation_space, venv.single_action_space)
        self._actions: Any = None

    # ------------------------------------------------------------------ core API
    def reset(self) -> Any:
        seeds = None if any(s is None for s in self._seeds) else [int(s) for s in self._seeds]  # type: ignore[arg-type]
        self.core.reset(seed=seeds)
        self.venv._started = True
        self.venv._autoreset[:] = False
        self._reset_seeds()
        self._reset_options()
        return self.venv._observe()

    def step_async(self, actions: np.ndarray) -> None:
        self._actions = actions

    def step_wait(self) -> tuple[Any, np.ndarray, np.ndarray, list[dict[str, Any]]]:
        xp = self.venv.xp
        res = self.core.step(self.venv._convert_actions(self._actions))
        term = np.asarray(xp.to_numpy(res.terminated), dtype=bool)
        trunc = np.asarray(xp.to_numpy(res.truncated), dtype=bool)
        done = term | trunc
        n = self.num_envs
        infos: list[dict[str, Any]] = [{} for _ in range(n)]
        cost = np.asarray(xp.to_numpy(res.cost))
        terms = {k: np.asarray(xp.to_numpy(v)) for k, v in res.reward_terms.items()}
        for i in range(n):  # SB3's info format is a list of dicts
            infos[i]["cost"] = float(cost[i])
            infos[i]["reward_terms"] = {k: float(v[i]) for k, v in terms.items()}
        rewards = np.asarray(xp.to_numpy(res.reward), dtype=np.float32)
        if done.any():
            last = self.venv._observe()
            ep = {k: np.asarray(xp.to_numpy(v)) for k, v in (res.episode or {}).items()}
            for i in np.flatnonzero(done).tolist():
                if isinstance(last, dict):
                    infos[i]["terminal_observation"] = {k: v[i] for k, v in last.items()}
                else:
                    infos[i]["terminal_observation"] = last[i]
                infos[i]["TimeLimit.truncated"] = bool(trunc[i] and not term[i])
                infos[i]["episode_metrics"] = {k: float(v[i]) for k, v in ep.items()}
            self.core.reset(rows=done)
        return self.venv._observe(), rewards, done, infos

    def close(self) -> None:
        self.venv.close()

    # ------------------------------------------------------------------ attribute access
    def get_attr(self, attr_name: str, indices: VecEnvIndices = None) -> list[Any]:
        if attr_name == "action_masks" and self.venv.action_masks() is None:
            raise AttributeError("action_masks: this task has no action masks")
        if attr_name == "render_mode":
            return [None for _ in self._get_indices(indices)]
        value = getattr(self.venv, attr_name)
        return [value for _ in self._get_indices(indices)]

    def set_attr(self, attr_name: str, value: Any, indices: VecEnvIndices = None) -> None:
        setattr(self.venv, attr_name, value)

    def env_method(self, method_name: str, *method_args: Any, indices: VecEnvIndices = None,
                   **method_kwargs: Any) -> list[Any]:
        idx = list(self._get_indices(indices))
        if method_name == "action_masks":
            masks = self.venv.action_masks()
            if masks is None:
                raise AttributeError("action_masks: this task has no action masks")
            return [masks[i] for i in idx]
        out = getattr(self.venv, method_name)(*method_args, **method_kwargs)
        return [out for _ in idx]

    def env_is_wrapped(self, wrapper_class: type[gym.Wrapper], indices: VecEnvIndices = None) -> list[bool]:
        return [False for _ in self._get_indices(indices)]

    def action_masks(self) -> np.ndarray | None:
        """(N, n_actions) bool masks (cell sleep), or None."""
        return self.venv.action_masks()


def make_sb3_vec_env(env_id: str, num_envs: int, **kwargs: Any) -> BatchedSB3VecEnv:
    """The SB3 ``VecEnv`` over the batched core of ``env_id`` (kwargs: ``scenario``, ``config``, ...)."""
    import mndt_envs  # noqa: F401 - registers the ids

    venv = gym.make_vec(env_id, num_envs=num_envs, vectorization_mode="vector_entry_point", **kwargs)
    return BatchedSB3VecEnv(venv)  # type: ignore[arg-type]
