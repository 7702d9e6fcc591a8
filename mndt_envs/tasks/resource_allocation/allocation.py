"""Resource allocation: the :class:`Allocation` of one step and its deterministic repair into a feasible one.

Constraints of SPEC §3, enforced by construction or repaired (deterministically, counted in
``info["repairs"]``): a user connects to at most one BS and takes at most one RB; a BS serves at most
``k_max`` users and each of its RBs serves at most one user; the powers a BS puts on its RBs sum to at
most its maximum power.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:  # pragma: no cover
    from .core import ResourceAllocationCore

__all__ = ["Allocation", "Repairs", "group_rank", "waterfill", "allocate_direct"]


@dataclass
class Allocation:
    """One step's allocation (the result of either action mode, after repairs).

    Attributes:
        serving: (n_users,) int serving cell, −1 = unserved.
        rb: (n_users,) int RB index at the serving cell, −1 = none.
        power_w: (n_users,) [W] power on the user's RB.
        repairs: how many times each repair rule fired (:meth:`Repairs.as_dict`).
    """

    serving: np.ndarray
    rb: np.ndarray
    power_w: np.ndarray
    repairs: dict[str, int]


@dataclass
class Repairs:
    """Counts of the repair rules that fired in one step."""

    k_max: int = 0  # users beyond k_max at a BS, dropped (weakest first)
    rb_moved: int = 0  # users moved off a colliding RB to a free one of their BS
    rb_dropped: int = 0  # users dropped for lack of a free RB
    power_scaled: int = 0  # BSs whose power shares summed above 1

    def as_dict(self) -> dict[str, int]:
        """The counts by rule name (``info["repairs"]``); flat int fields, so no ``dataclasses.asdict`` recursion."""
        return dict(self.__dict__)


def group_rank(group: np.ndarray, key: np.ndarray) -> np.ndarray:
    """Rank of each element inside its group, by descending ``key`` (ties: lower index first)."""
    n = len(group)
    if n == 0:
        return np.zeros(0, dtype=np.int64)
    # the order of np.lexsort((arange, -key, group)) by two stable sorts (radix sort on small group ids)
    order = np.argsort(-key, kind="stable")
    g = group[order]
    if g.min() >= 0 and g.max() < 2**15:
        g = g.astype(np.int16)
    order = order[np.argsort(g, kind="stable")]
    g_sorted = group[order]
    start = np.concatenate(([0], np.flatnonzero(g_sorted[1:] != g_sorted[:-1]) + 1))
    first = np.repeat(start, np.diff(np.concatenate((start, [n]))))
    rank = np.empty(n, dtype=np.int64)
    rank[order] = np.arange(n) - first
    return rank


def waterfill(cell: np.ndarray, inv_gain: np.ndarray, p_max: np.ndarray, n_cells: int,
               iters: int = 40) -> np.ndarray:
    """Water-filling per cell by bisection on the water level (vectorised over cells).

    Args:
        cell: (n,) cell of each scheduled user.
        inv_gain: (n,) [W] interference-plus-noise over gain, the "floor" of each user.
        p_max: (n_cells,) [W] power budget per cell.
        n_cells: number of cells.
        iters: bisection iterations.

    Returns:
        (n,) [W] powers with ``Σ_cell p ≤ p_max``.
    """
    lo = np.zeros(n_cells)
    floor_max = np.zeros(n_cells)
    np.maximum.at(floor_max, cell, inv_gain)
    hi = floor_max + p_max
    for _ in range(iters):
        mid = 0.5 * (lo + hi)
        used = np.bincount(cell, weights=np.maximum(mid[cell] - inv_gain, 0.0), minlength=n_cells)
        over = used > p_max
        hi = np.where(over, mid, hi)
        lo = np.where(over, lo, mid)
    return np.maximum(lo[cell] - inv_gain, 0.0)


def allocate_direct(core: ResourceAllocationCore, serving: np.ndarray, rb: np.ndarray, power_frac: np.ndarray,
                    ) -> Allocation:
    """Repair a per-user (cell, RB, power fraction) proposal into a feasible allocation.

    Repair rules (deterministic, counted): users beyond ``k_max`` at a BS are dropped, keeping
    the strongest (ties: lower user index); users colliding on an RB of their BS keep the RB
    for the strongest, the others move to the BS's free RBs in index order (dropped if none);
    a BS whose power fractions sum above 1 has them scaled down to sum to 1.

    Args:
        core: the task core (sizes, gains of the step, power budgets).
        serving: (n_users,) int cell or −1.
        rb: (n_users,) int RB in [0, n_rb) (ignored where serving is −1; −1 = none).
        power_frac: (n_users,) share of the serving BS's maximum power in [0, 1].
    """
    u = core.n_users
    serving = np.where(rb >= 0, serving, -1).astype(np.int64)
    on = np.flatnonzero(serving >= 0)
    gain = core.glin[serving[on], on]
    repairs = Repairs()
    rank = group_rank(serving[on], gain)
    drop = rank >= core.k_max
    repairs.k_max = int(drop.sum())
    serving[on[drop]] = -1
    on, gain = on[~drop], gain[~drop]
    rb = np.where(serving >= 0, rb, -1).astype(np.int64)
    # RB collisions inside a BS: the strongest keeps the RB
    key = serving[on] * core.n_rb + rb[on]
    rank = group_rank(key, gain)
    coll = rank > 0
    if coll.any():
        occ = np.zeros((core.n_cells, core.n_rb), dtype=bool)
        occ[serving[on[~coll]], rb[on[~coll]]] = True
        free = np.argsort(occ, axis=1, kind="stable")  # (n_cells, n_rb) free RBs first
        n_free = core.n_rb - occ.sum(axis=1)
        cu = on[coll]
        r2 = group_rank(serving[cu], gain[coll])
        ok = r2 < n_free[serving[cu]]
        rb[cu[ok]] = free[serving[cu[ok]], r2[ok]]
        serving[cu[~ok]] = -1
        rb[cu[~ok]] = -1
        repairs.rb_moved = int(ok.sum())
        repairs.rb_dropped = int((~ok).sum())
    on = np.flatnonzero(serving >= 0)
    frac = np.zeros(u)
    frac[on] = power_frac[on]
    tot = np.bincount(serving[on], weights=frac[on], minlength=core.n_cells)
    scale = np.where(tot > 1.0, 1.0 / np.maximum(tot, 1e-300), 1.0)
    repairs.power_scaled = int((tot > 1.0 + 1e-9).sum())
    power = np.zeros(u)
    power[on] = frac[on] * scale[serving[on]] * core.p_max[serving[on]]
    return Allocation(serving, rb, power, repairs.as_dict())
