"""PettingZoo ``ParallelEnv`` of the cell-sleep task (``cell_sleep_v0``): one agent per cell, generic adapter."""

from __future__ import annotations

from ..tasks.cell_sleep import CellSleepCore
from .base import MaskedTaskParallelEnv

__all__ = ["CellSleepParallelEnv"]


class CellSleepParallelEnv(MaskedTaskParallelEnv):
    """Cell sleep with one agent per cell (paper 002 §IV.B; the primary form).

    | | |
    |---|---|
    | Agents | ``cell_0`` … ``cell_{n-1}``, one per cell, all alive until the episode ends |
    | Action space | ``Discrete(3)`` per agent: 0 on, 1 sleep, 2 off |
    | Observation space | ``Dict(observation=Box(-1, 10, (22,), float32), action_mask=Box(0, 1, (3,), int8))`` |
    | Reward | ``-(own power (1 + aircon) + share of site BBU/air-con + own switching) / 1 kW - 10 blamed Gbit`` |
    | Info | ``cost`` (unserved Gbit, global), ``global_reward``, ``reward_terms``, KPIs, ``illegal_action`` |

    ``illegal_action`` is true when the agent's action was forbidden by its mask and replaced by "on".

    The per-agent features are those of :class:`mndt_envs.envs.cell_sleep.CellSleepEnv` (one row
    each); the per-agent rewards sum to the global reward (``info["global_reward"]``), unserved
    traffic being blamed on the covering cells that were not on. Episodes end by truncation after
    ``task.days`` days; then ``agents`` is empty. Same kwargs as the single-agent env.

    ## Observation Space
    Per agent ``Dict(observation, action_mask)``; the ``observation`` entries:
    """

    core_cls = CellSleepCore
    renderer = "mndt_envs.tasks.cell_sleep.render:render"
    metadata = {"name": "cell_sleep_v0", "render_modes": ["rgb_array"], "is_parallelizable": True}
