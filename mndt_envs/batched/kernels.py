"""Compiled kernels of the batched engine: the sequential loops that numpy can only run one pass per item.

Each kernel is a plain loop compiled by ``numba.njit`` on its first call (no on-disk cache: the package
loads no code from caches) and has a numpy reference it equals exactly, ties included
(``tests/test_batched_kernels.py``).
"""

from __future__ import annotations

import numpy as np
from numba import njit

__all__ = ["class_greedy_rbs", "class_order", "top_k_sorted"]


def top_k_sorted(g: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """The ``k`` largest entries of each column of ``g`` (C, n), best first, ties by lower row.

    Equals :func:`mndt_envs.tasks.resource_allocation.links.top_k` followed by a stable descending sort of
    the values (``k`` argmax passes, each taking the first maximum) for finite ``g`` and ``k <= 4`` or ``k = C``.
    Returns (idx (k, n) int64, val (k, n) of ``g``'s dtype). ``k = 3`` (the tasks' default) runs a branch-free
    kernel the compiler vectorises over the columns (~10x the generic insertion loop).
    """
    if k == 3 and g.shape[0] >= 3:
        i0, i1, i2, v0, v1, v2 = _top3(g)
        return np.stack((i0, i1, i2)).astype(np.int64), np.stack((v0, v1, v2))
    return _top_k_insert(g, k)


@njit(cache=False, nogil=True)
def _top3(g: np.ndarray) -> tuple[np.ndarray, ...]:
    """Top 3 of each column by selects (no branches, separate arrays: vectorised over the columns)."""
    c, n = g.shape
    v0 = np.full(n, -np.inf, dtype=g.dtype)
    v1 = v0.copy()
    v2 = v0.copy()
    i0 = np.zeros(n, dtype=np.int32)
    i1 = i0.copy()
    i2 = i0.copy()
    for cc in range(c):
        x = g[cc]
        ci = np.int32(cc)
        for u in range(n):
            xu = x[u]
            a0, a1, a2 = v0[u], v1[u], v2[u]
            b0, b1, b2 = xu > a0, xu > a1, xu > a2  # strict: an equal value of a lower row stays first
            v2[u] = a1 if b1 else (xu if b2 else a2)
            i2[u] = i1[u] if b1 else (ci if b2 else i2[u])
            v1[u] = a0 if b0 else (xu if b1 else a1)
            i1[u] = i0[u] if b0 else (ci if b1 else i1[u])
            v0[u] = xu if b0 else a0
            i0[u] = ci if b0 else i0[u]
    return i0, i1, i2, v0, v1, v2


@njit(cache=False, nogil=True)
def _top_k_insert(g: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Top ``k`` of each column by insertion (any ``k``)."""
    c, n = g.shape
    idx = np.zeros((k, n), dtype=np.int64)
    val = np.full((k, n), -np.inf, dtype=g.dtype)
    for cc in range(c):  # rows outer: each pass reads one contiguous row
        filled = min(cc, k)  # values kept so far, per column
        for u in range(n):
            x = g[cc, u]
            if filled == k and not x > val[k - 1, u]:
                continue
            # insertion: x goes after every kept value >= x (an equal value of a lower row stays first)
            pos = min(filled, k - 1)
            while pos > 0 and val[pos - 1, u] < x:
                val[pos, u] = val[pos - 1, u]
                idx[pos, u] = idx[pos - 1, u]
                pos -= 1
            val[pos, u] = x
            idx[pos, u] = cc
    return idx, val


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
