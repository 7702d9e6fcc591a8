"""PettingZoo env of the CPICH load-balancing task (``load_balancing_v0``): one agent per antenna, generic adapter."""

from __future__ import annotations

from ..tasks.load_balancing import LoadBalancingCore
from .base import TaskParallelEnv

__all__ = ["LoadBalancingParallelEnv"]


class LoadBalancingParallelEnv(TaskParallelEnv):
    """CPICH load balancing with one agent per antenna (``antenna_0`` … ``antenna_{n-1}``).

    | | |
    |---|---|
    | Agents | one per antenna (cell), all present for the whole episode |
    | Action | ``Box(-max_step_db, max_step_db, (1,))``: own CPICH power change [dB] (clipped, then |
    | | projected onto ``[p_min(k), p_max]``) |
    | Observation | ``Box((6 + 3 M,))``, ``M = max_neighbours`` |
    | Reward | the team reward of the single-agent env, the same for every agent |

    Observation of antenna ``i``: ``[b_i, p_norm_i, p_min_norm_i, nb_coverage_i, sin h, cos h]``,
    then the busy degrees of its ``M`` strongest neighbours (by MR co-occurrence over the day),
    their ``p_norm``, and a presence flag (1 = neighbour, 0 = padding with b = p_norm = 0).
    Antennas with fewer than ``M`` neighbours are padded; with more, the weaker ones are left out.
    ``info[agent]["cost"]`` is the coverage shortfall ``max(0, c_min - C)`` (shared), with the
    period's scalar KPIs (``coverage``, ``std_busy``, ...), ``global_reward`` and ``reward_terms``.
    Episodes are truncated after ``episode_steps`` periods. See
    :class:`mndt_envs.envs.load_balancing.LoadBalancingEnv` for the dynamics.

    ## Observation Space
    Per antenna, ``M = max_neighbours``:
    """

    core_cls = LoadBalancingCore
    renderer = "mndt_envs.tasks.load_balancing.render:render"
    metadata = {"render_modes": ["rgb_array"], "name": "load_balancing_v0", "is_parallelizable": True}
