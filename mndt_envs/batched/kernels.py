"""Compiled kernels of the batched engine: the sequential loops that numpy can only run one pass per item.

Each kernel is a plain loop compiled by ``numba.njit`` on its first call (no on-disk cache: the package
loads no code from caches) and has a numpy reference it equals exactly, ties included
(``tests/test_batched_kernels.py``).
"""

from __future__ import annotations

import numpy as np
from numba import njit

__all__ = ["greedy_order", "greedy_rbs", "top_k_sorted"]


@njit(cache=False, nogil=True)
def top_k_sorted(g: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """The ``k`` largest entries of each column of ``g`` (C, n), best first, ties by lower row.

    Equals :func:`mndt_envs.tasks.resource_allocation.links.top_k` followed by a stable descending sort of
    the values (``k`` argmax passes, each taking the first maximum) for finite ``g`` and ``k <= 4`` or ``k = C``.
    Returns (idx (k, n) int64, val (k, n) of ``g``'s dtype).
    """
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


def greedy_order(row: np.ndarray, key: np.ndarray) -> np.ndarray:
    """Users grouped by ``row``, each group by descending ``key``, ties by index: ``np.lexsort((arange, -key, row))``.

    Two stable numpy sorts (the second a radix sort on small row ids), ~3x faster than numba's mergesort.
    """
    order = np.argsort(-key, kind="stable")
    r = row[order]
    if len(r) and r.min() >= 0 and r.max() < 2**15:
        r = r.astype(np.int16)
    return order[np.argsort(r, kind="stable")]


@njit(cache=False, nogil=True)
def greedy_rbs(intf: np.ndarray, row: np.ndarray, order: np.ndarray, taken: np.ndarray) -> np.ndarray:
    """Greedy RB choice: users in ``order`` each take the least-interfered free RB of their row of ``taken`` (a BS).

    Args:
        intf: (n, n_rb) interference of each user on each RB.
        row: (n,) row of ``taken`` (the user's BS) of each user.
        order: (n,) the users in the order they choose (:func:`greedy_order`: per BS, by descending edge weight).
        taken: (n_rows, n_rb) bool, RBs already given away; updated in place.

    Returns:
        (n,) the RB of each user. A user finding no free RB gets RB 0 (``np.argmin`` of all-inf), as the
        numpy reference does; the caller never schedules more users on a BS than it has RBs.
    """
    n, n_rb = intf.shape
    got = np.zeros(n, dtype=np.int64)
    for q in range(n):
        i = order[q]
        r0 = row[i]
        best = np.inf
        arg = 0
        for r in range(n_rb):
            v = np.inf if taken[r0, r] else intf[i, r]
            if v < best:
                best = v
                arg = r
        taken[r0, arg] = True
        got[i] = arg
    return got
