"""Compiled kernels of the batched resource-allocation core: the fast solver's sequential greedy pass.

Each kernel is a plain loop compiled by ``numba.njit`` on its first call (no on-disk cache: the package
loads no code from caches) and has a numpy reference it equals exactly, ties included
(``tests/test_batched_kernels.py``). The top-k candidate kernel both cores share lives in
:mod:`mndt_envs.tasks.resource_allocation.links`.
"""

from __future__ import annotations

import numpy as np
from numba import njit

__all__ = ["class_greedy_rbs", "class_order"]


def class_order(cls: np.ndarray, group: np.ndarray) -> np.ndarray:
    """Indices sorted by ``cls``, then ``group``, then index (two radix sorts on small non-negative ints)."""
    def small(a: np.ndarray) -> np.ndarray:
        return a.astype(np.int16) if len(a) and a.max() < 2**15 else a
    order = np.argsort(small(group), kind="stable")
    return order[np.argsort(small(cls[order]), kind="stable")]


@njit(cache=False, nogil=True)
def class_greedy_rbs(glin: np.ndarray, ep: np.ndarray, user: np.ndarray, bs: np.ndarray, key: np.ndarray,
                     order: np.ndarray, class_start: np.ndarray, p_user: np.ndarray, n_rb: int,
                     ) -> tuple[np.ndarray, np.ndarray]:
    """The fast solver's RB assignment: BS classes in turn, inside a BS each user its least interfered free RB.

    Args:
        glin: (m, C, U) float32 linear gains of the episodes.
        ep: (n,) episode of each scheduled user.
        user: (n,) its user index in the episode.
        bs: (n,) its serving BS.
        key: (n,) edge weight: inside a BS, users choose by descending key (ties: lower index first).
        order: (n,) the users by class, then (episode, BS), then index (:func:`class_order`).
        class_start: (n_classes + 1,) where each class starts in ``order``; the classes decide in turn, every
            BS of a class (in every episode) against the interference of the classes decided before it.
        p_user: (m, C) [W] power of each BS's users (its fair share).
        n_rb: RBs per BS.

    Returns:
        (rb (n,) int64 the RB of each user, p_rb (m, C, n_rb) float32 [W] the power each BS puts on each RB).
        Each user's interference on each RB, ``Σ_b g[b, u] p_rb[b, r]`` over the decided BSs, is accumulated
        (float32) as the classes decide: one pass over the episode's users per RB taken.
    """
    m, c, u_n = glin.shape
    n = len(order)
    intf = np.zeros((m, n_rb, u_n), dtype=np.float32)  # (episode, RB, user): an RB's users contiguous
    free = np.ones(n_rb, dtype=np.bool_)
    p_rb = np.zeros((m, c, n_rb), dtype=np.float32)
    rb = np.zeros(n, dtype=np.int64)
    buf = np.empty(n, dtype=np.int64)
    for j in range(len(class_start) - 1):
        a, z = class_start[j], class_start[j + 1]
        g0 = a
        while g0 < z:  # each BS of the class: its users are order[g0:g1]
            e, b = ep[order[g0]], bs[order[g0]]
            g1 = g0 + 1
            while g1 < z and ep[order[g1]] == e and bs[order[g1]] == b:
                g1 += 1
            k = 0
            for q in range(g0, g1):  # insertion sort by descending key (stable: ties keep index order)
                i = order[q]
                pos = k
                while pos > 0 and key[buf[pos - 1]] < key[i]:
                    buf[pos] = buf[pos - 1]
                    pos -= 1
                buf[pos] = i
                k += 1
            free[:] = True
            for q in range(k):
                i = buf[q]
                uu = user[i]
                best = np.inf
                arg = 0
                for r in range(n_rb):  # branch-free first minimum over the free RBs
                    v = intf[e, r, uu] if free[r] else np.inf
                    lt = v < best
                    best = v if lt else best
                    arg = r if lt else arg
                free[arg] = False
                rb[i] = arg
            g0 = g1
        for q in range(a, z):  # then the class's power reaches every user of its episodes
            i = order[q]
            e, b, r = ep[i], bs[i], rb[i]
            p = np.float32(p_user[e, b])
            p_rb[e, b, r] = p
            row = intf[e, r]
            g = glin[e, b]
            for v in range(u_n):
                row[v] += p * g[v]
    return rb, p_rb
