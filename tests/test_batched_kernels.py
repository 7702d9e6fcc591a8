"""The batched engine's compiled kernels equal their numpy references exactly, ties included."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from mndt_envs.batched.kernels import greedy_order, greedy_rbs, top_k_sorted
from mndt_envs.tasks.resource_allocation.allocation import group_rank
from mndt_envs.tasks.resource_allocation.links import top_k


def _top_k_reference(g: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    c, n = g.shape
    users = np.arange(n)
    part = top_k(g, k, c, n)
    vals = g[part, users]
    order = np.argsort(-vals, axis=0, kind="stable")
    return part[order, users], vals[order, users]


@settings(max_examples=60, deadline=None)
@given(st.integers(1, 9), st.integers(1, 30), st.integers(1, 5), st.integers(0, 2**31 - 1))
def test_top_k_sorted_equals_numpy_top_k(c: int, n: int, k: int, seed: int) -> None:
    k = c if k == 5 else min(k, c)  # top_k's argmax passes (k <= 4) or every cell (its ties are defined there)
    rng = np.random.default_rng(seed)
    g = rng.integers(-3, 3, (c, n)).astype(np.float32)  # few distinct values: many ties
    g[:, ::2] += rng.normal(0.0, 1.0, (c, len(range(0, n, 2)))).astype(np.float32)
    idx, val = top_k_sorted(g, k)
    ref_idx, ref_val = _top_k_reference(g, k)
    np.testing.assert_array_equal(idx, ref_idx)
    np.testing.assert_array_equal(val, ref_val)
    assert val.dtype == np.float32


def _greedy_reference(intf: np.ndarray, row: np.ndarray, key: np.ndarray, taken: np.ndarray) -> np.ndarray:
    """Rank by rank (rank inside each row by descending key, ties by index), each user its least interfered free RB."""
    rank = group_rank(row, key)
    got = np.zeros(len(row), dtype=np.int64)
    for q in range(int(rank.max()) + 1 if len(row) else 0):
        sel = np.flatnonzero(rank == q)
        r = np.argmin(np.where(taken[row[sel]], np.inf, intf[sel]), axis=1)
        taken[row[sel], r] = True
        got[sel] = r
    return got


@settings(max_examples=60, deadline=None)
@given(st.integers(1, 40), st.integers(1, 6), st.integers(1, 8), st.integers(0, 2**31 - 1))
def test_greedy_rbs_equals_rank_by_rank_reference(n: int, n_rows: int, n_rb: int, seed: int) -> None:
    rng = np.random.default_rng(seed)
    row = np.sort(rng.integers(0, n_rows, n))
    while np.bincount(row).max() > n_rb:  # a BS never gets more users than RBs (the caller's capacity)
        row = np.sort(rng.integers(0, n_rows, n))
        n = max(1, n - 1)
        row = row[:n]
    intf = rng.integers(0, 3, (n, n_rb)).astype(np.float32)  # ties between RBs
    key = rng.integers(0, 4, n).astype(np.float64)  # ties between users
    taken = rng.random((n_rows, n_rb)) < 0.2
    taken[np.bincount(row, minlength=n_rows) + taken.sum(axis=1) > n_rb] = False  # room for every user
    t_ref = taken.copy()
    got = greedy_rbs(intf, row, greedy_order(row, key), taken)
    np.testing.assert_array_equal(got, _greedy_reference(intf, row, key, t_ref))
    np.testing.assert_array_equal(taken, t_ref)
    pairs = row * n_rb + got
    assert len(np.unique(pairs)) == n, "an RB of a row goes to one user"
