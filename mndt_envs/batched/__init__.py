"""Batched task cores: ``N`` independent episodes over one twin, stepped as one array program.

* :class:`~mndt_envs.batched.cell_sleep.BatchedCellSleepCore`
* :class:`~mndt_envs.batched.resource_allocation.BatchedResourceAllocationCore`
* :class:`~mndt_envs.batched.load_balancing.BatchedLoadBalancingCore`

Arrays have a leading batch dimension ``N``; the per-step arithmetic is written over
:class:`~mndt_envs.batched.xp.ArrayNamespace` (numpy by default, torch tensors with
``backend="torch"``). Seeding: episode ``i`` of a batch reset with seed ``s`` is the single env
reset with ``seed=s + i`` (:mod:`mndt_envs.batched.common`). The Gymnasium and SB3 adapters are in
:mod:`mndt_envs.vector`.
"""

from .common import StepResult, episode_seeds

__all__ = ["StepResult", "episode_seeds"]
