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
        b = core.base
        n = core.n
        s = b.cfg.max_step_db
        lo_p = np.float32(-b.cfg.p_down_db / b.p_scale)
        hi_p = np.float32(b.cfg.p_up_db / b.p_scale)
        low = np.concatenate([np.zeros(n), np.full(2 * n, lo_p), np.zeros(n), [-1.0, -1.0]]).astype(np.float32)
        high = np.concatenate([np.full(n, b.b_high), np.full(2 * n, hi_p), np.ones(n), [1.0, 1.0]]).astype(np.float32)
        obs_space = spaces.Box(low, high, dtype=np.float32)
        super().__init__(core, obs_space, spaces.Box(-s, s, (n,), np.float32), render_mode)
        self._low, self._high = low, high

    def _observe(self) -> np.ndarray:
        return np.clip(self.core.global_obs(), self._low, self._high)

    def _reset_info(self, rows: np.ndarray) -> dict[str, Any]:
        info = self.core.info()
        info["cost"] = np.zeros(self.num_envs)
        return info
