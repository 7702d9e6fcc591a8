"""CMDP resource allocation on the network twin (paper 002 §IV.A, §V.B; SPEC §3).

One task core shared by :class:`mndt_envs.envs.resource_allocation.ResourceAllocationEnv`
(Gymnasium) and :class:`mndt_envs.parallel.resource_allocation.ResourceAllocationParallelEnv`
(PettingZoo, one agent per BS).

Each step (``step_s`` seconds, 20 steps per episode by default) the policy decides, for every
user, a serving cell, a resource block (RB) and a transmit power; the twin turns this into an
SINR with inter-cell interference on shared RBs (:func:`mndt_envs.twin.radio.sinr_allocated`)
and a Shannon throughput. Constraints of SPEC §3 are enforced by construction (or repaired,
deterministically, and counted in ``info["repairs"]``):

* a user connects to at most one BS and takes at most one RB;
* a BS serves at most ``k_max`` users, and each of its RBs serves at most one user;
* the powers a BS puts on its RBs sum to at most its maximum power.

Demand: each user's total episode demand is what the twin's demand model supplies. With the
default :class:`~mndt_envs.twin.defaults.UniformDemand` that is uniform in
``[0, 60 × B_RB]`` bits (paper 002 §V.B), read as ``twin.demand_model.total`` after
``twin.reset(rng, horizon_s=episode_steps * step_s)``; for any other demand model the task sums
``demand_model.demand(t, step_s)`` over the episode's steps. The whole episode demand is known
at reset (the paper's "remaining demand" state).

Throughput "in units of bandwidth" (Table II) is ``Σ rate · step_s / B_RB`` [bit/Hz = RB·s at
1 bit/s/Hz]. Satisfied demand per user and step is ``min(remaining, throughput)``; the
satisfaction ratio is satisfied / demanded over the episode.

Package layout (read top-down): :mod:`.config` (:class:`ResourceAllocationConfig`, features),
:mod:`.allocation` (:class:`Allocation` and its repair), :mod:`.links` (the step's channel view),
:mod:`.matching` (demand mode), :mod:`.stations` (the per-BS multi-agent view), :mod:`.state`,
:mod:`.core` (:class:`ResourceAllocationCore`, the :class:`~mndt_envs.tasks.contract.TaskCore`) and
:mod:`.render` (drawing, imported lazily by the adapters). The demo lives in
:mod:`mndt_envs.demos.resource_allocation`.
"""

from __future__ import annotations

from .allocation import Allocation, Repairs
from .config import (
    ACTION_MODES,
    AGENT_FEATURES,
    EXACT_MATCH_LIMIT,
    FEATURES,
    POWER_SPLITS,
    ResourceAllocationConfig,
)
from .core import ResourceAllocationCore
from .links import Links
from .state import RAState

__all__ = [
    "ResourceAllocationConfig",
    "ResourceAllocationCore",
    "Allocation",
    "Repairs",
    "Links",
    "RAState",
    "ACTION_MODES",
    "POWER_SPLITS",
    "EXACT_MATCH_LIMIT",
    "FEATURES",
    "AGENT_FEATURES",
]
