"""Gymnasium env of the resource-allocation task (``mndt/ResourceAllocation-v0``), on the generic adapter."""

from __future__ import annotations

from ..tasks.resource_allocation import ResourceAllocationCore
from .base import TaskEnv

__all__ = ["ResourceAllocationEnv"]


class ResourceAllocationEnv(TaskEnv):
    """Dynamic wireless resource allocation as a constrained MDP (paper 002 §IV.A).

    ## Description
    Users move over the twin's area (straight lines by default) and each has a total demand
    for the episode (uniform in ``[0, 60 × B_RB]`` bits by default). Every step (1 s, 20 steps)
    each user may be given one BS and one resource block (RB) of it with a transmit power; the
    twin computes the SINR with inter-cell interference on shared RBs and the Shannon throughput.
    Constraints (SPEC §3): one BS per user, at most ``k_max`` users per BS, one user per RB of a
    BS and one RB per user, Σ power ≤ P_max per BS. Goal: maximise throughput while the
    satisfaction ratio (satisfied / demanded over the episode) stays ≥ 95 %.

    Kwargs: ``scenario`` (preset name, default ``"toy"``), ``config`` (overrides; its ``"task"``
    key holds :class:`~mndt_envs.tasks.resource_allocation.ResourceAllocationConfig` fields such
    as ``action_mode``, ``k_max``, ``n_rb``, ``n_candidates``, ``power_split``),
    ``render_mode`` (``None`` or ``"rgb_array"``).

    ## Action Space
    ``action_mode="demand"`` (default): ``Box(0, 1, (n_users,), float32)``, each user's
    single-step demand as a share of its remaining demand (0 = do not schedule). Association is
    by capacitated deferred acceptance over the user's top-k cells and RB choice by the
    Hungarian algorithm per BS, both on edge weights ``min(rate, requested) + η·rate``; power is
    a fair (or water-filling) split. Values outside [0, 1], NaN, wrong shape or dtype (strings,
    booleans, complex, ragged lists) raise ``ValueError`` (SB3 clips Box actions before ``step``).

    ``action_mode="direct"``: ``Dict(association=MultiDiscrete([k+1]*n_users)`` (index into the
    user's top-k candidate cells, strongest first; ``k`` = not served),
    ``rb=MultiDiscrete([n_rb]*n_users)``, ``power=Box(0, 1, (n_users,))`` (share of the BS's
    P_max)); exactly those three keys (an unknown key raises ``ValueError``).
    Infeasible combinations are repaired deterministically and counted in
    ``info["repairs"]``: users beyond ``k_max`` at a BS dropped (weakest first), RB collisions
    moved to the BS's free RBs, power shares scaled to sum ≤ 1 per BS.

    In either mode ``step`` also accepts an explicit
    :class:`~mndt_envs.tasks.resource_allocation.Allocation` (serving cell, RB and power [W] per
    user), repaired like a direct action; a reference policy that no action mode can express
    (``mndt_envs.baselines.resource_allocation.NearestRandomFair``) queues one with
    ``env.unwrapped.core.override_next(alloc)``, which replaces the next step's (validated) action.

    ## Observation Space
    ``Dict`` of float32 arrays in [0, 1] (``FlattenObservation``-friendly):
    ``time_left`` (1,) steps left / episode steps; ``remaining_demand`` (n_users,) remaining
    bits / (max_demand_rb_s · B_RB); ``max_power`` (n_cells,) P_max / max P_max;
    ``gains`` (n_users, k) top-k large-scale gains, ``(G_dB + 160) / 160``;
    ``association`` (n_users,) (serving cell + 1) / n_cells of the last step (0 = none).

    ## Rewards
    Throughput of the step in units of bandwidth divided by ``n_users · step_s`` (the mean
    spectral efficiency per user, bit/s/Hz). ``info["cost"]``: unmet part of the step's due
    demand (remaining / steps left) as a share of the episode's total demand; the episode's last
    step's due demand is everything still remaining. ``info["satisfaction_ratio"]`` (so far),
    ``info["reward_terms"]``, ``info["repairs"]``, and at the last step
    ``info["episode_metrics"]`` (``throughput_bw``: episode throughput in units of bandwidth;
    ``satisfaction_ratio``; ...).

    ## Episode End
    Terminates after ``episode_steps`` (20) steps; never truncates by itself. ``step`` after the
    end raises :class:`~mndt_envs.tasks.contract.EpisodeOverError` until ``reset``.
    """

    core_cls = ResourceAllocationCore
    renderer = "mndt_envs.tasks.resource_allocation.render:render"
    metadata = {"render_modes": ["rgb_array"], "render_fps": 4}
