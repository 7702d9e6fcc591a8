"""Batched vector env of ``mndt/ResourceAllocation-v0`` (demand action mode)."""

from __future__ import annotations

from typing import Any

import numpy as np

from ..batched.resource_allocation import BatchedResourceAllocationCore
from .base import BatchedVectorEnv

__all__ = ["ResourceAllocationVectorEnv"]


class ResourceAllocationVectorEnv(BatchedVectorEnv):
    """``num_envs`` resource-allocation episodes stepped as one array program.

    Spaces, rewards, costs and infos are those of
    :class:`mndt_envs.envs.resource_allocation.ResourceAllocationEnv` (demand mode), batched: actions
    ``(N, n_users)`` demand fractions in [0, 1]; observations the single env's dict with a leading ``N``.

    Args:
        num_envs: batch size.
        scenario: preset name (as the single env).
        config: the single env's ``config`` kwarg.
        rb_solver: ``"exact"`` (the single env's per-BS Hungarian; same rollouts) or ``"fast"``
            (BS classes in turn, greedy per-user RBs; see :mod:`mndt_envs.batched.resource_allocation`).
        rb_classes: BS classes of the fast solver (0: automatic).
        backend: ``"numpy"`` or ``"torch"`` (with ``rb_solver="fast"`` and the statistical channel; the core's
            arithmetic; observations, rewards and infos are returned as numpy).
        device: torch device (``None``: CUDA when available); None or ``"cpu"`` for numpy.
        render_mode: must be None.
        max_episode_steps: ignored (accepted from Gymnasium's ``make_vec``).
        threads: worker threads stepping runs of episodes concurrently (the same results for any value; numpy
            only, 1 with torch).
    """

    def __init__(self, num_envs: int = 1, scenario: Any = "toy", config: dict[str, Any] | None = None,
                 rb_solver: str = "exact", rb_classes: int = 0, backend: str = "numpy", device: str | None = None,
                 render_mode: str | None = None, max_episode_steps: int | None = None, threads: int = 1) -> None:
        core = BatchedResourceAllocationCore(num_envs, scenario, config, backend=backend, device=device,
                                             rb_solver=rb_solver, rb_classes=rb_classes, threads=threads)
        super().__init__(core, *core.base.spaces(), render_mode)  # the single env's spaces (demand mode)

    def close_extras(self, **kwargs: Any) -> None:
        """Stop the core's worker threads."""
        self.core.close()

    def _observe(self) -> dict[str, np.ndarray]:
        xp = self.xp
        return {k: np.asarray(xp.to_numpy(v)) for k, v in self.core.observation().items()}

    def _reset_info(self, rows: np.ndarray) -> dict[str, Any]:
        return {"satisfaction_ratio": np.zeros(self.num_envs),
                "episode_demand_bits": np.asarray(self.core.total).sum(axis=1)}
