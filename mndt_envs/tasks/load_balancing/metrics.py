"""Load-balancing metrics: busy-degree targets and imbalance (pure functions, used by the core and baselines)."""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

__all__ = ["target_busy_degree", "busy_metrics"]


def target_busy_degree(b: np.ndarray, target: str = "global", adjacency: sp.spmatrix | None = None,
                       weights: np.ndarray | None = None) -> np.ndarray:
    """Target busy degrees ``b*`` (SPEC §5).

    Args:
        b: (n,) busy degrees.
        target: ``"global"`` (mean over all antennas, weighted by ``weights`` e.g. PRB
            totals) or ``"local"`` (mean over ``{i} ∪ N(i)``).
        adjacency: (n, n) neighbour graph (needed for ``"local"``).
        weights: (n,) antenna weights (PRB totals); default equal.

    Returns:
        (n,) targets.
    """
    b = np.asarray(b, dtype=np.float64)
    w = np.ones_like(b) if weights is None else np.asarray(weights, dtype=np.float64)
    if target == "global":
        return np.full_like(b, float(np.dot(w, b) / max(w.sum(), 1e-12)))
    if target == "local":
        if adjacency is None:
            raise ValueError("target_busy_degree(target='local') needs the neighbour adjacency")
        a = sp.csr_matrix(adjacency, dtype=np.float64) + sp.identity(len(b), format="csr")
        return np.asarray(a @ (w * b)).ravel() / np.maximum(np.asarray(a @ w).ravel(), 1e-12)
    raise ValueError(f"target = {target!r}: allowed values are 'global', 'local'")


def busy_metrics(b: np.ndarray, b_over: float, target: str = "global",
                 adjacency: sp.spmatrix | None = None) -> dict[str, float]:
    """Imbalance metrics of busy degrees: std (around the global or local target) and over-busy share."""
    b = np.asarray(b, dtype=np.float64)
    if b.size == 0:
        return {"std_busy": 0.0, "over_busy_share": 0.0, "imbalance": 0.0}
    std = float(np.std(b))
    imb = std if target == "global" else float(np.sqrt(np.mean((b - target_busy_degree(b, target, adjacency)) ** 2)))
    return {"std_busy": std, "over_busy_share": float(np.mean(b >= b_over)), "imbalance": imb}
