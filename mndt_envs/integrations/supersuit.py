"""SuperSuit + Stable-Baselines3 parameter sharing over the suite's PettingZoo envs, without glue.

:func:`sb3_vec_env` builds SuperSuit's usual chain (``pettingzoo_env_to_vec_env_v1`` then
``concat_vec_envs_v1(base_class="stable_baselines3")``: every agent of every copy is one
sub-env of one SB3 ``VecEnv``) and adds what the suite's envs need:

* ``Dict`` actions (resource allocation) are flattened first
  (:class:`~mndt_envs.wrappers.FlatActionParallel`), so SB3's PPO accepts them;
* ``Dict(observation, action_mask)`` observations (cell sleep) go through
  :class:`MaskedVecEnv`: the policy sees ``"observation"`` and ``action_masks()`` serves the
  masks, so sb3-contrib's ``MaskablePPO`` enforces them (``masks=False`` keeps the ``Dict``
  observation for a ``MultiInputPolicy``, the mask then being only an input).

Example (``pip install supersuit``)::

    from stable_baselines3 import PPO
    from mndt_envs.integrations.supersuit import sb3_vec_env

    venv = sb3_vec_env("resource_allocation_v0", n_envs=2)
    PPO("MlpPolicy", venv, n_steps=32).learn(256)
"""

from __future__ import annotations

from typing import Any

import numpy as np
from gymnasium import spaces
from stable_baselines3.common.vec_env import VecEnv, VecEnvWrapper

from ..registration import parallel_env
from ..wrappers.flat_action import FlatActionParallel, needs_flat_action

__all__ = ["sb3_vec_env", "MaskedVecEnv", "SuperSuitVecEnv", "prepare_parallel_env"]


class SuperSuitVecEnv(VecEnvWrapper):  # type: ignore[misc]
    """Completes SuperSuit's SB3 wrapper where SB3 and sb3-contrib call what it lacks.

    SuperSuit 3.x's ``SB3VecEnvWrapper`` forwards ``seed`` and ``has_attr`` to its
    ``ConcatVecEnv``, which has neither (SB3 seeds every model at construction; MaskablePPO
    asks ``has_attr("action_masks")``). Here ``seed`` is kept for the next ``reset`` (passed to
    ``ConcatVecEnv.reset(seed=...)``) and ``has_attr`` answers from ``get_attr``.

    Args:
        venv: the ``SB3VecEnvWrapper`` returned by ``concat_vec_envs_v1(..., base_class="stable_baselines3")``.
    """

    def __init__(self, venv: Any) -> None:
        super().__init__(venv)
        self._pending_seed: int | None = None

    def seed(self, seed: int | None = None) -> list[int | None]:
        self._pending_seed = seed
        return [seed for _ in range(self.num_envs)]

    def reset(self) -> Any:
        if self._pending_seed is None:
            return self.venv.reset()
        seed, self._pending_seed = self._pending_seed, None
        inner: Any = self.venv
        obs, inner.reset_infos = inner.venv.reset(seed=seed)
        return obs

    def step_wait(self) -> Any:
        return self.venv.step_wait()

    def has_attr(self, attr_name: str) -> bool:
        try:
            self.get_attr(attr_name)
        except AttributeError:
            return False
        return True


class MaskedVecEnv(VecEnvWrapper):  # type: ignore[misc]
    """An SB3 ``VecEnv`` with ``Dict(observation, action_mask)`` observations, made MaskablePPO-ready.

    Observations become their ``"observation"`` part; the masks of the latest observations are
    served as ``bool`` arrays by ``action_masks()`` and ``env_method("action_masks")``.
    ``infos[i]["terminal_observation"]`` is reduced the same way.

    Args:
        venv: the wrapped SB3 ``VecEnv``.
        obs_key: key of the features.
        mask_key: key of the action mask.
    """

    def __init__(self, venv: VecEnv, obs_key: str = "observation", mask_key: str = "action_mask") -> None:
        sp = venv.observation_space
        if not (isinstance(sp, spaces.Dict) and {obs_key, mask_key} <= set(sp.spaces)):
            raise ValueError(f"MaskedVecEnv needs Dict observations with keys {obs_key!r} and {mask_key!r}, got {sp}")
        super().__init__(venv, observation_space=sp[obs_key])
        self.obs_key, self.mask_key = obs_key, mask_key
        self._masks: np.ndarray | None = None

    def _split(self, obs: Any) -> np.ndarray:
        self._masks = np.asarray(obs[self.mask_key]).reshape(self.num_envs, -1).astype(bool)
        return np.asarray(obs[self.obs_key])

    def reset(self) -> np.ndarray:
        return self._split(self.venv.reset())

    def step_wait(self) -> Any:
        obs, rew, done, infos = self.venv.step_wait()
        for info in infos:
            term = info.get("terminal_observation")
            if isinstance(term, dict) and self.obs_key in term:
                info["terminal_observation"] = term[self.obs_key]
        return self._split(obs), rew, done, infos

    def action_masks(self) -> np.ndarray:
        """(num_envs, n_actions) ``bool`` masks of the latest observations."""
        if self._masks is None:
            raise RuntimeError("action_masks() before reset(): no observation yet")
        return self._masks

    def has_attr(self, attr_name: str) -> bool:
        return attr_name == "action_masks" or bool(self.venv.has_attr(attr_name))

    def env_method(self, method_name: str, *args: Any, indices: Any = None, **kwargs: Any) -> list[Any]:
        if method_name == "action_masks":
            idx = range(self.num_envs) if indices is None else [indices] if isinstance(indices, int) else indices
            m = self.action_masks()
            return [m[i] for i in idx]
        return list(self.venv.env_method(method_name, *args, indices=indices, **kwargs))


def prepare_parallel_env(name: str, flat_action: str = "multidiscrete", power_levels: int = 5,
                         **kwargs: Any) -> Any:
    """``mndt_envs.parallel_env(name, **kwargs)`` with ``Dict`` actions flattened (SuperSuit/SB3-ready)."""
    penv = parallel_env(name, **kwargs)
    if any(needs_flat_action(penv.action_space(a)) for a in penv.possible_agents):
        penv = FlatActionParallel(penv, flat_action, power_levels)
    return penv


def sb3_vec_env(name: str, n_envs: int = 1, masks: bool = True, flat_action: str = "multidiscrete",
                power_levels: int = 5, **kwargs: Any) -> VecEnv:
    """An SB3 ``VecEnv`` of all agents of ``n_envs`` copies of a parallel env (SuperSuit's chain).

    Args:
        name: the parallel env's name (``"cell_sleep_v0"``).
        n_envs: copies of the env (each contributes one sub-env per agent).
        masks: wrap masked observations in :class:`MaskedVecEnv` (for ``MaskablePPO``).
        flat_action: flat form of ``Dict`` actions (``"multidiscrete"`` or ``"box"``).
        power_levels: values per continuous action element in ``"multidiscrete"`` form.
        **kwargs: the env's kwargs (``scenario``, ``config``).
    """
    import supersuit as ss

    if int(n_envs) != n_envs or n_envs < 1:
        raise ValueError(f"n_envs = {n_envs!r}: must be an integer >= 1")
    penv = prepare_parallel_env(name, flat_action, power_levels, **kwargs)
    venv = ss.pettingzoo_env_to_vec_env_v1(penv)
    venv = SuperSuitVecEnv(ss.concat_vec_envs_v1(venv, int(n_envs), num_cpus=0, base_class="stable_baselines3"))
    sp = venv.observation_space
    if masks and isinstance(sp, spaces.Dict) and {"observation", "action_mask"} <= set(sp.spaces):
        venv = MaskedVecEnv(venv)
    return venv
