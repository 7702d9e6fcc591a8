"""A ``gymnasium.vector.VectorEnv`` over a batched task core (Gymnasium's next-step autoreset).

Each step first resets the sub-envs whose episode ended at the previous step (their actions are
ignored and they return the reset observation, reward 0, ``terminated = truncated = False`` and the
reset info), and steps the others; this is Gymnasium 1.x's default ``AutoresetMode.NEXT_STEP``, as in
``SyncVectorEnv``. Infos follow the vector convention: every key holds an ``(N,)`` array (or a dict
of them) and ``info["_key"]`` marks the sub-envs that have it. ``info["cost"]`` is always present.

Seeding: ``reset(seed=s)`` gives sub-env ``i`` the generator of the single env reset with
``seed=s + i`` (:mod:`mndt_envs.batched.common`); later autoresets continue each sub-env's generator.
"""

from __future__ import annotations

from typing import Any

import gymnasium as gym
import numpy as np
from gymnasium.vector import AutoresetMode
from gymnasium.vector.utils import batch_space

from ..tasks.contract import StepResult

__all__ = ["BatchedVectorEnv", "stack_info"]


def stack_info(values: dict[str, Any], has: np.ndarray, xp: Any) -> dict[str, Any]:
    """A vector info dict: each value as a numpy (N, ...) array (nested dicts recursively) plus its ``_key`` mask."""
    out: dict[str, Any] = {}
    for k, v in values.items():
        if isinstance(v, dict):
            out[k] = stack_info(v, has, xp)
        else:
            out[k] = np.asarray(xp.to_numpy(v))
        out[f"_{k}"] = has
    return out


class BatchedVectorEnv(gym.vector.VectorEnv):
    """Base class of the batched vector envs; a task subclass sets the core and the spaces.

    Subclasses implement :meth:`_observe` (the batched observation as numpy) and may override
    :meth:`_convert_actions` and :meth:`_reset_info`.
    """

    metadata = {"autoreset_mode": AutoresetMode.NEXT_STEP, "render_modes": []}

    def __init__(self, core: Any, single_observation_space: gym.Space[Any], single_action_space: gym.Space[Any],
                 render_mode: str | None = None) -> None:
        if render_mode is not None:
            raise ValueError(f"render_mode = {render_mode!r}: the batched vector envs do not render; allowed: None "
                             "(render a single env, gym.make(...), instead)")
        self.core = core
        self.xp = core.xp
        self.num_envs = int(core.n_envs)
        self.single_observation_space = single_observation_space
        self.single_action_space = single_action_space
        self.observation_space = batch_space(single_observation_space, self.num_envs)
        self.action_space = batch_space(single_action_space, self.num_envs)
        self.render_mode = None
        self._autoreset = np.zeros(self.num_envs, dtype=bool)
        self._started = False

    # ------------------------------------------------------------------ to implement
    def _observe(self) -> Any:
        raise NotImplementedError

    def _convert_actions(self, actions: Any) -> Any:
        return actions

    def _reset_info(self, rows: np.ndarray) -> dict[str, Any]:
        return {}

    # ------------------------------------------------------------------ API
    def reset(self, *, seed: int | list[int] | None = None,
              options: dict[str, Any] | None = None) -> tuple[Any, dict[str, Any]]:
        """Reset every sub-env (``seed``: None, an int ``s`` (sub-env ``i`` seeded ``s + i``) or one int each).

        ``options={"reset_mask": mask}`` resets only the masked sub-envs (Gymnasium's convention).
        """
        mask = np.ones(self.num_envs, dtype=bool)
        if options and "reset_mask" in options:
            mask = np.asarray(options["reset_mask"], dtype=bool)
            if mask.shape != (self.num_envs,):
                raise ValueError(f"options['reset_mask']: shape {mask.shape}, expected ({self.num_envs},)")
        if isinstance(seed, (int, np.integer)) and not isinstance(seed, bool):
            from gymnasium.utils import seeding

            self._np_random, self._np_random_seed = seeding.np_random(int(seed))  # the vector env's own generator
        self.core.reset(seed=seed, rows=mask)
        self._autoreset = np.where(mask, False, self._autoreset)
        self._started = True
        return self._observe(), stack_info(self._reset_info(mask), mask, self.xp)

    def step(self, actions: Any) -> tuple[Any, np.ndarray, np.ndarray, np.ndarray, dict[str, Any]]:
        """Step the running sub-envs, reset those that ended at the previous step (next-step autoreset)."""
        if not self._started:
            raise gym.error.ResetNeeded("step() before reset(): call reset() first")
        ar = self._autoreset
        res: StepResult = self.core.step(self._convert_actions(actions), active=~ar)
        if ar.any():
            self.core.reset(rows=ar)
        xp = self.xp
        ran = ~ar
        rewards = np.where(ran, xp.to_numpy(res.reward), 0.0).astype(np.float64)
        term = np.asarray(xp.to_numpy(res.terminated), dtype=bool) & ran
        trunc = np.asarray(xp.to_numpy(res.truncated), dtype=bool) & ran
        info = self._step_info(res, ran)
        if ar.any():
            for k, v in stack_info(self._reset_info(ar), ar, xp).items():
                info.setdefault(k, v)
        self._autoreset = term | trunc
        return self._observe(), rewards, term, trunc, info

    def _step_info(self, res: StepResult, ran: np.ndarray) -> dict[str, Any]:
        xp = self.xp
        vals: dict[str, Any] = {"cost": res.cost, "reward_terms": res.reward_terms, **res.kpis}
        info = stack_info(vals, ran, xp)
        info["cost"] = np.where(ran, info["cost"], 0.0)
        if res.episode is not None:
            done = (np.asarray(xp.to_numpy(res.terminated), bool) | np.asarray(xp.to_numpy(res.truncated), bool)) & ran
            info.update(stack_info({"episode_metrics": res.episode}, done, xp))
        return info

    def action_masks(self) -> np.ndarray | None:
        """(N, n_actions) bool masks of legal flat actions (sb3-contrib's convention), or None if unmasked."""
        return None

    def close_extras(self, **kwargs: Any) -> None:
        """Nothing to release (one process, no sub-processes)."""
