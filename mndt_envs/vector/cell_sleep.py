"""Batched vector env of ``mndt/CellSleep-v0`` (``gym.make_vec(..., vectorization_mode="vector_entry_point")``)."""

from __future__ import annotations

from typing import Any

import numpy as np

from ..batched.cell_sleep import BatchedCellSleepCore
from .base import BatchedVectorEnv

__all__ = ["CellSleepVectorEnv"]


class CellSleepVectorEnv(BatchedVectorEnv):
    """``num_envs`` cell-sleep episodes stepped as one array program (:class:`BatchedCellSleepCore`).

    Spaces, rewards, costs and infos are those of :class:`mndt_envs.envs.cell_sleep.CellSleepEnv`, batched:
    observations ``{"observation": (N, n_cells, 22) float32, "action_mask": (N, 3 n_cells) int8}``,
    actions ``(N, n_cells)`` in {0 on, 1 sleep, 2 off}, and :meth:`action_masks` the ``(N, 3 n_cells)``
    bool masks for sb3-contrib's ``MaskablePPO``.

    Args:
        num_envs: batch size.
        scenario: preset name (as the single env).
        config: the single env's ``config`` kwarg.
        backend: ``"numpy"`` or ``"torch"`` (the core's arithmetic; observations are returned as numpy).
        device: torch device (``None``: CUDA when available).
        render_mode: must be None.
        max_episode_steps: ignored (the core ends episodes itself); accepted from Gymnasium's ``make_vec``.
    """

    def __init__(self, num_envs: int = 1, scenario: Any = "toy", config: dict[str, Any] | None = None,
                 backend: str = "numpy", device: str | None = None, render_mode: str | None = None,
                 max_episode_steps: int | None = None) -> None:
        core = BatchedCellSleepCore(num_envs, scenario, config, backend=backend, device=device)
        super().__init__(core, *core.base.spaces(), render_mode)  # the single env's spaces

    def _observe(self) -> dict[str, np.ndarray]:
        xp = self.xp
        return {"observation": np.asarray(xp.to_numpy(self.core.observation())),
                "action_mask": np.asarray(xp.to_numpy(self.core.action_mask)).reshape(self.num_envs, -1).copy()}

    def _reset_info(self, rows: np.ndarray) -> dict[str, Any]:
        n = self.num_envs
        return {"n_cells": np.full(n, self.core.n_cells), "n_grids": np.full(n, self.core.n_grids)}

    def action_masks(self) -> np.ndarray:
        """(N, 3 n_cells) bool: legal actions of every sub-env (``MaskablePPO``)."""
        return np.asarray(self.xp.to_numpy(self.core.action_mask)).reshape(self.num_envs, -1).astype(bool)
