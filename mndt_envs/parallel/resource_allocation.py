"""PettingZoo env of the resource-allocation task (``resource_allocation_v0``): one agent per BS, generic adapter."""

from __future__ import annotations

from ..tasks.resource_allocation import ResourceAllocationCore
from .base import TaskParallelEnv

__all__ = ["ResourceAllocationParallelEnv"]


class ResourceAllocationParallelEnv(TaskParallelEnv):
    """Resource allocation with one agent per base station (same core as the Gymnasium env).

    | | |
    |---|---|
    | Agents | ``bs_0`` … ``bs_{n_cells-1}`` |
    | Action | ``Dict(rb=MultiDiscrete([n_rb+1]*cap), power=Box(0, 1, (cap,)))`` per BS |
    | Observation | ``Box(0, 1, (2 + 3·cap,))`` per BS |
    | Episode | ``episode_steps`` (20) steps, all agents end together |

    Each BS owns ``cap = min(k_max, n_rb)`` slots holding the users whose strongest cell it is
    (strongest first); association is therefore fixed to the strongest cell. Per slot the agent
    picks an RB (``n_rb`` = do not serve) and a share of its P_max. RB collisions and power
    shares summing above 1 are repaired as in the single-agent ``direct`` mode and counted in
    ``infos[agent]["repairs"]``. Every live agent must act (a missing, unknown or malformed
    action raises ``ValueError``). Observation per BS: time left, P_max / max P_max, then
    per slot the user's remaining demand, gain and a valid flag (see
    :meth:`ResourceAllocationCore.bs_observation`). Reward per BS: throughput of its users in the
    step in units of bandwidth divided by ``cap · step_s``; ``infos[agent]["cost"]``: unmet due
    demand of its users as a share of the episode's total demand.

    ## Observation Space
    Per BS, ``cap = min(k_max, n_rb)``:
    """

    core_cls = ResourceAllocationCore
    renderer = "mndt_envs.tasks.resource_allocation.render:render"
    metadata = {"name": "resource_allocation_v0", "render_modes": ["rgb_array"], "is_parallelizable": True}
