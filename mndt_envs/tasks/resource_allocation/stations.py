"""Resource allocation, the per-BS view of the multi-agent form: slots, observations, allocations.

Each BS owns ``cap = min(k_max, n_rb)`` slots holding the users whose strongest cell it is (strongest
first); association is therefore fixed to the strongest cell. Per slot the agent picks an RB (``n_rb``
= do not serve) and a share of its P_max.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from .allocation import Allocation, allocate_direct, group_rank

if TYPE_CHECKING:  # pragma: no cover
    from .core import ResourceAllocationCore

__all__ = ["bs_slots", "bs_observation", "bs_allocation", "per_bs"]


def bs_slots(core: ResourceAllocationCore) -> np.ndarray:
    """(n_cells, cap) users in each BS's slots, −1 = empty (at most ``cap`` per BS, strongest first)."""
    best = core.cand[0]
    users = np.arange(core.n_users)
    rank = group_rank(best, core.cand_gain_db[0].astype(np.float64))
    keep = rank < core.cap
    slots = np.full((core.n_cells, core.cap), -1, dtype=np.int64)
    slots[best[keep], rank[keep]] = users[keep]
    return slots


def bs_observation(core: ResourceAllocationCore, slots: np.ndarray) -> np.ndarray:
    """(n_cells, 2 + 3·cap) per-BS observations in [0, 1].

    Per BS: time left, P_max / max P_max, then per slot the user's remaining demand (normalised as in
    the single-agent observation), its gain ``(G_dB + 160) / 160`` and a valid flag.
    """
    valid = slots >= 0
    s = np.maximum(slots, 0)
    rem = np.clip(core.remaining[s] / max(core.max_demand_bits, 1e-12), 0.0, 1.0) * valid
    gain = np.clip((core.cand_gain_db[0][s] + 160.0) / 160.0, 0.0, 1.0) * valid
    head = np.stack([np.full(core.n_cells, core.steps_left / core.cfg.episode_steps),
                     core.p_max / core.p_max.max()], axis=1)
    return np.concatenate([head, rem, gain, valid.astype(np.float64)], axis=1).astype(np.float32)


def bs_allocation(core: ResourceAllocationCore, slots: np.ndarray, rb: np.ndarray, power: np.ndarray) -> Allocation:
    """Allocation from per-BS slot decisions (rb (n_cells, cap), ``n_rb`` = none; power shares), repaired."""
    valid = (slots >= 0) & (rb < core.n_rb)
    users = slots[valid]
    serving = np.full(core.n_users, -1, dtype=np.int64)
    r = np.full(core.n_users, -1, dtype=np.int64)
    frac = np.zeros(core.n_users)
    serving[users] = np.nonzero(valid)[0]
    r[users] = rb[valid]
    frac[users] = power[valid]
    return allocate_direct(core, serving, r, frac)


def per_bs(core: ResourceAllocationCore, alloc: Allocation, slots: np.ndarray | None,
           ) -> tuple[np.ndarray, np.ndarray | None]:
    """Per-BS rewards (throughput of its users in units of bandwidth / (cap · step_s)) and costs.

    The cost of a BS is the unmet due demand of the users in its slots as a share of the episode's
    total demand (``None`` without slots).
    """
    thr_bits = core.rate * core.cfg.step_s
    on = alloc.serving >= 0
    rew = np.bincount(alloc.serving[on], weights=thr_bits[on], minlength=core.n_cells) / core.bw
    rew = rew / (core.cap * core.cfg.step_s)
    if slots is None:
        return rew, None
    total = max(float(core.total.sum()), 1e-12)
    owner = np.full(core.n_users, -1, dtype=np.int64)
    valid = slots >= 0
    owner[slots[valid]] = np.nonzero(valid)[0]
    own = owner >= 0
    return rew, np.bincount(owner[own], weights=core.unmet[own], minlength=core.n_cells) / total
