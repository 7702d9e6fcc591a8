"""Minimum coverage powers ``p_min(k)`` (paper 001 §6.2): raise the least-covered antennas step by step.

Re-exported by :mod:`mndt_envs.tasks.coverage` (its historical home).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import scipy.sparse as sp
from scipy.sparse.csgraph import connected_components

__all__ = ["min_coverage_powers"]


def min_coverage_powers(
    p_lo: np.ndarray,
    p_hi: np.ndarray,
    coverage_fn: Callable[[np.ndarray], np.ndarray],
    adjacency: sp.csr_matrix,
    c_min: float | np.ndarray,
    eps_db: float = 0.5,
    max_iter: int = 10_000,
    parallel: bool = True,
) -> tuple[np.ndarray, np.ndarray]:
    """Minimum coverage powers ``p^min`` (paper 001 §6.2).

    Starting from ``p_lo``: label the antennas whose neighbourhood coverage is below
    ``c_min``; in every connected component of the labelled antennas (edges between
    neighbours), raise by ``eps_db`` the power of the lowest-coverage antenna that
    is still below ``p_hi``; recompute; repeat until every antenna meets ``c_min``
    or nothing can be raised.

    ``parallel=True`` (default) raises, in the same iteration, every labelled antenna
    whose coverage is the lowest among its labelled neighbours (a local minimum;
    ties broken by index). The lowest antenna of each component is always one of
    them, so this is the paper's rule applied to all local minima at once: the same
    result when a component has a single local minimum, and far fewer iterations on
    large networks. ``parallel=False`` is the strictly sequential per-component rule.

    Args:
        p_lo: (n,) lowest allowed powers [dBm].
        p_hi: (n,) highest allowed powers [dBm]; must be >= ``p_lo``.
        coverage_fn: powers (n,) → neighbourhood coverage (n,) (exact MR method or the MLP).
        adjacency: (n, n) neighbour graph; disconnected graphs are fine (components are independent).
        c_min: required neighbourhood coverage in [0, 1], scalar or (n,).
        eps_db: power increment [dB].
        max_iter: iteration cap.
        parallel: raise all local minima per iteration (see above).

    Returns:
        (p_min (n,) [dBm], feasible (n,) bool: the antenna meets ``c_min`` at ``p_min``).
    """
    p_lo = np.asarray(p_lo, dtype=np.float64)
    p_hi = np.asarray(p_hi, dtype=np.float64)
    adj = _check_pmin_inputs(p_lo, p_hi, adjacency, eps_db)
    n = len(p_lo)
    req = np.broadcast_to(np.asarray(c_min, dtype=np.float64), (n,))
    coo = sp.triu(adj, k=1).tocoo()
    er, ec = np.concatenate([coo.row, coo.col]), np.concatenate([coo.col, coo.row])  # directed edge list
    p = p_lo.copy()
    cov = np.asarray(coverage_fn(p), dtype=np.float64)
    for _ in range(max_iter):
        tgt = _raise_targets(cov, req, p, p_hi, er, ec, parallel)
        if tgt is None:
            break
        p[tgt] = np.minimum(p[tgt] + eps_db, p_hi[tgt])
        cov = np.asarray(coverage_fn(p), dtype=np.float64)
    return p, cov >= req


def _check_pmin_inputs(p_lo: np.ndarray, p_hi: np.ndarray, adjacency: sp.csr_matrix, eps_db: float,
                       ) -> sp.csr_matrix:
    """Validate the inputs of :func:`min_coverage_powers`; the adjacency as a bool CSR matrix."""
    if p_lo.shape != p_hi.shape:
        raise ValueError(f"min_coverage_powers: p_lo {p_lo.shape} and p_hi {p_hi.shape} differ in shape")
    if np.any(np.isnan(p_lo)) or np.any(np.isnan(p_hi)):
        raise ValueError("min_coverage_powers: p_lo and p_hi must not contain NaN")
    if np.any(p_lo > p_hi):
        bad = np.flatnonzero(p_lo > p_hi)
        raise ValueError(f"min_coverage_powers: p_min > p_max for antennas {bad[:10].tolist()} "
                         f"(e.g. {p_lo[bad[0]]:.1f} > {p_hi[bad[0]]:.1f} dBm)")
    if not eps_db > 0:
        raise ValueError(f"min_coverage_powers: eps_db = {eps_db!r} must be > 0")
    n = len(p_lo)
    adj = sp.csr_matrix(adjacency, dtype=bool)
    if adj.shape != (n, n):
        raise ValueError(f"min_coverage_powers: adjacency {adj.shape} does not match {n} antennas")
    return adj


def _raise_targets(cov: np.ndarray, req: np.ndarray, p: np.ndarray, p_hi: np.ndarray, er: np.ndarray,
                   ec: np.ndarray, parallel: bool) -> np.ndarray | None:
    """(n,) bool antennas whose power rises by one increment this iteration; ``None`` when nothing can rise."""
    n = len(p)
    fail = cov < req
    raisable = p < p_hi - 1e-9
    cand = fail & raisable
    # failing antennas already at p_hi can only be helped by their neighbours
    stuck = fail & ~raisable
    helpers = np.zeros(n, dtype=bool)
    if stuck.any():
        e = stuck[er] & raisable[ec] & ~fail[ec]
        helpers[ec[e]] = True
    if not cand.any() and not helpers.any():
        return None
    e = cand[er] & cand[ec]
    r, c = er[e], ec[e]
    if parallel:
        beaten = (cov[c] < cov[r]) | ((cov[c] == cov[r]) & (c < r))
        tgt = cand.copy()
        tgt[r[beaten]] = False
    else:
        idx = np.flatnonzero(cand)
        pos = np.full(n, -1)
        pos[idx] = np.arange(len(idx))
        g = sp.coo_matrix((np.ones(len(r)), (pos[r], pos[c])), shape=(len(idx), len(idx)))
        _, comp = connected_components(g.tocsr(), directed=False)
        order = np.lexsort((cov[idx], comp))
        tgt = np.zeros(n, dtype=bool)
        tgt[idx[order[np.r_[True, np.diff(comp[order]) != 0]]]] = True
    return tgt | helpers
