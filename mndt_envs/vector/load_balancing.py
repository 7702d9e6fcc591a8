"""Batched vector env of ``mndt/LoadBalancing-v0``."""

from __future__ import annotations

from typing import Any

import numpy as np
from gymnasium import spaces

from ..batched.load_balancing import BatchedLoadBalancingCore
from .base import BatchedVectorEnv

__all__ = ["LoadBalancingVectorEnv"]


class LoadBalancingVectorEnv(BatchedVectorEnv):
    """``num_envs`` load-balancing episodes reset and stepped as one array program.

    Spaces, rewards, costs and infos are those of :class:`mndt_envs.envs.load_balancing.LoadBalancingEnv`,
    batched: actions ``(N, n_cells)`` power changes [dB]; observations ``(N, 4 n_cells + 2)``.

    Args:
        num_envs: batch size.
        scenario: preset name (as the single env).
        config: the single env's ``config`` kwarg.
        backend: ``"numpy"`` or ``"torch"`` (the step's arithmetic).
        device: torch device (``None``: CUDA when available).
        render_mode: must be None.
        max_episode_steps: ignored (accepted from Gymnasium's ``make_vec``).
    """

    def __init__(self, num_envs: int = 1, scenario: Any = "toy", config: dict[str, Any] | None = None,
                 backend: str = "numpy", device: str | None = None, render_mode: str | None = None,
                 max_episode_steps: int | None = None) -> None:
        core = BatchedLoadBalancingCore(num_envs, scenario, config, backend=backend, device=device)
        obs_space, act_space = core.base.spaces()  # the single env's spaces
        assert isinstance(obs_space, spaces.Box)
        super().__init__(core, obs_space, act_space, render_mode)
        self._low, self._high = obs_space.low, obs_space.high

    def _observe(self) -> np.ndarray:
        return np.clip(self.core.global_obs(), self._low, self._high)

    def _reset_info(self, rows: np.ndarray) -> dict[str, Any]:
        info = self.core.info()
        info["cost"] = np.zeros(self.num_envs)
        return info
