"""Coverage from measurement reports (paper 001 §6, SPEC §5).

Everything here works on measurement reports (MRs) stored as two ``(n_mrs, k)``
arrays: ``ids`` (cell ids, ``-1`` = empty entry) and ``att`` (attenuation
``a = p_i - RSRP_i`` [dB] of each entry, NaN for empty entries). Attenuations do
not depend on the powers, so the RSRP of an entry under any power vector ``p`` is
``p[ids] - att`` and an MR is covered if ``max_i (p_i - a_i) >= RSRP_th``.

Definitions used throughout (written down where the paper is silent):

* neighbours ``N(i)``: antennas that appear together with ``i`` in some MR;
* the MRs *relevant* to antenna ``i`` are the MRs in which ``i`` appears; all
  their entries belong to ``{i} ∪ N(i)``, so the neighbourhood coverage of ``i``
  is a function of the powers of ``{i} ∪ N(i)`` only (what the monotone MLP learns);
* an antenna without relevant MRs has neighbourhood coverage 1 (nothing to cover);
  an MR without any valid entry is never covered; an empty MR set has coverage 1.

The monotone MLP (§6.2) needs torch, which is imported lazily.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import scipy.sparse as sp

__all__ = [
    "mr_attenuation",
    "mr_rsrp",
    "covered_mrs",
    "coverage_from_mrs",
    "remove_redundant_mrs",
    "neighbour_graph",
    "incidence",
    "neighbourhood_coverage",
    "MonotoneCoverageMLP",
    "min_coverage_powers",
]


def _check_mrs(ids: np.ndarray, att: np.ndarray, n_cells: int | None = None) -> None:
    if ids.ndim != 2 or att.shape != ids.shape:
        raise ValueError(f"MRs: ids {ids.shape} and att {att.shape} must both be (n_mrs, k)")
    if n_cells is not None and ids.size and (ids.max() >= n_cells or ids.min() < -1):
        raise ValueError(f"MRs: cell ids must lie in [-1, {n_cells - 1}], got [{ids.min()}, {ids.max()}]")


def mr_attenuation(ids: np.ndarray, rsrp_dbm: np.ndarray, p_dbm: np.ndarray) -> np.ndarray:
    """Attenuation ``a = p_i - RSRP_i`` [dB] of each MR entry, (n_mrs, k); NaN where ``ids < 0``.

    Args:
        ids: (n_mrs, k) int cell ids, -1 = empty.
        rsrp_dbm: (n_mrs, k) reported RSRP [dBm] (NaN for empty entries).
        p_dbm: (n_cells,) CPICH powers [dBm] in force when the MRs were measured.
    """
    _check_mrs(ids, rsrp_dbm, len(p_dbm))
    valid = ids >= 0
    return np.where(valid, np.asarray(p_dbm)[np.where(valid, ids, 0)] - rsrp_dbm, np.nan).astype(np.float32)


def mr_rsrp(ids: np.ndarray, att: np.ndarray, p_dbm: np.ndarray) -> np.ndarray:
    """RSRP [dBm] of each MR entry under powers ``p``, (n_mrs, k); -inf for empty entries."""
    valid = ids >= 0
    if valid.all():
        return np.asarray(p_dbm, dtype=np.float32)[ids] - att
    return np.where(valid, np.asarray(p_dbm, dtype=np.float32)[np.where(valid, ids, 0)] - att, -np.inf)


def covered_mrs(ids: np.ndarray, att: np.ndarray, p_dbm: np.ndarray, threshold_dbm: float) -> np.ndarray:
    """(n_mrs,) bool: the best entry of each MR reaches ``threshold_dbm`` under powers ``p``."""
    if ids.shape[0] == 0:
        return np.zeros(0, dtype=bool)
    return mr_rsrp(ids, att, p_dbm).max(axis=1) >= threshold_dbm


def coverage_from_mrs(ids: np.ndarray, att: np.ndarray, p_dbm: np.ndarray, threshold_dbm: float,
                      weights: np.ndarray | None = None) -> float:
    """Coverage rate ``C(p)`` = (weighted) share of covered MRs; 1.0 for an empty MR set."""
    _check_mrs(ids, att, len(p_dbm))
    if ids.shape[0] == 0:
        return 1.0
    cov = covered_mrs(ids, att, p_dbm, threshold_dbm)
    if weights is None:
        return float(cov.mean())
    return float(np.dot(cov, weights) / max(float(np.sum(weights)), 1e-12))


def remove_redundant_mrs(ids: np.ndarray, att: np.ndarray, dominated: bool = True,
                         ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Remove redundant MRs (paper 001 §6.1).

    Entries are put in a canonical order (by cell id). Two MRs are comparable when
    they hold the same set of antennas. Exact duplicates are merged into one MR
    whose weight is the number merged (this keeps :func:`coverage_from_mrs` exact).
    With ``dominated=True``, an MR ``y`` whose attenuations are entry-wise ``<=``
    those of another MR ``x`` with the same antennas is removed as well: whenever
    ``x`` is covered, so is ``y``, so ``y`` adds no constraint to the coverage
    requirement (SPEC §5). Its weight is dropped, so a coverage rate computed on the
    reduced set counts only the binding MRs (a conservative estimate).

    Args:
        ids: (n_mrs, k) int cell ids, -1 = empty.
        att: (n_mrs, k) attenuations [dB].
        dominated: also remove dominated MRs (not only duplicates).

    Returns:
        (ids (m, k), att (m, k), weights (m,) float) of the kept MRs, entries sorted by id.
    """
    _check_mrs(ids, att)
    if ids.shape[0] == 0:
        return ids.copy(), att.copy(), np.zeros(0)
    key = np.where(ids >= 0, ids, np.iinfo(np.int64).max)
    order = np.argsort(key, axis=1, kind="stable")
    ids_s = np.take_along_axis(ids, order, axis=1)
    att_s = np.take_along_axis(np.where(ids >= 0, att, np.nan), order, axis=1)
    att_q = np.where(ids_s >= 0, np.nan_to_num(att_s, nan=0.0), 0.0)
    rows = np.concatenate([ids_s.astype(np.float64), att_q.astype(np.float64)], axis=1)
    uniq, first, counts = np.unique(rows, axis=0, return_index=True, return_counts=True)
    ids_u, att_u, w = ids_s[first], att_s[first], counts.astype(np.float64)
    if not dominated or len(first) < 2:
        return ids_u, att_u, w
    # group by antenna set; inside each group drop MRs dominated (entry-wise <=) by another
    _, group = np.unique(ids_u, axis=0, return_inverse=True)
    group = np.asarray(group).ravel()
    keep = np.ones(len(ids_u), dtype=bool)
    a = np.nan_to_num(att_u, nan=0.0)
    gorder = np.argsort(group, kind="stable")
    bounds = np.flatnonzero(np.diff(group[gorder])) + 1
    for members in np.split(gorder, bounds):  # loop over antenna sets (offline, not in a step)
        if len(members) < 2:
            continue
        am = a[members]  # (g, k)
        le = (am[:, None, :] <= am[None, :, :]).all(axis=2)  # le[y, x]: y dominated by x
        np.fill_diagonal(le, False)
        keep[members[le.any(axis=1)]] = False
    return ids_u[keep], att_u[keep], w[keep]


def neighbour_graph(ids: np.ndarray, n_cells: int, min_count: int = 1) -> sp.csr_matrix:
    """Symmetric neighbour adjacency (n_cells, n_cells) bool: antennas appearing together in ``>= min_count`` MRs."""
    _check_mrs(ids, ids.astype(np.float32), n_cells)
    k = ids.shape[1]
    if ids.shape[0] == 0 or k < 2:
        return sp.csr_matrix((n_cells, n_cells), dtype=bool)
    ii, jj = np.triu_indices(k, 1)
    a, b = ids[:, ii].ravel(), ids[:, jj].ravel()
    ok = (a >= 0) & (b >= 0) & (a != b)
    a, b = a[ok], b[ok]
    m = sp.coo_matrix((np.ones(len(a)), (a, b)), shape=(n_cells, n_cells)).tocsr()
    m = m + m.T
    m.data = (m.data >= min_count).astype(np.float64)
    m.eliminate_zeros()
    m.setdiag(0)
    m.eliminate_zeros()
    return m.astype(bool).tocsr()


def incidence(ids: np.ndarray, n_cells: int, weights: np.ndarray | None = None) -> sp.csr_matrix:
    """(n_cells, n_mrs) sparse incidence: entry ``[i, u]`` = weight of MR ``u`` if antenna ``i`` appears in it."""
    n_mrs, k = ids.shape
    u = np.repeat(np.arange(n_mrs), k)
    c = ids.ravel()
    ok = c >= 0
    w = np.ones(n_mrs) if weights is None else np.asarray(weights, dtype=np.float64)
    m = sp.coo_matrix((w[u[ok]], (c[ok], u[ok])), shape=(n_cells, n_mrs)).tocsr()
    m.sum_duplicates()
    return m


def neighbourhood_coverage(ids: np.ndarray, att: np.ndarray, p_dbm: np.ndarray, threshold_dbm: float,
                           inc: sp.csr_matrix | None = None, weights: np.ndarray | None = None) -> np.ndarray:
    """Per-antenna neighbourhood coverage (n_cells,): covered share of the MRs in which the antenna appears.

    Args:
        ids: (n_mrs, k) int MR cell ids.
        att: (n_mrs, k) attenuations [dB].
        p_dbm: (n_cells,) powers [dBm].
        threshold_dbm: coverage threshold [dBm].
        inc: precomputed :func:`incidence` (saves time when called repeatedly).
        weights: (n_mrs,) MR weights (from :func:`remove_redundant_mrs`).

    Returns:
        (n_cells,) in [0, 1]; 1 for antennas without relevant MRs.
    """
    n = len(p_dbm)
    m = incidence(ids, n, weights) if inc is None else inc
    if ids.shape[0] == 0:
        return np.ones(n)
    covd = covered_mrs(ids, att, p_dbm, threshold_dbm).astype(np.float64)
    tot = np.asarray(m.sum(axis=1)).ravel()
    num = m @ covd
    return np.where(tot > 0, num / np.maximum(tot, 1e-12), 1.0)


@dataclass
class MonotoneCoverageMLP:
    """Per-antenna monotone MLPs predicting neighbourhood coverage from the neighbourhood's powers (§6.2).

    One small network per antenna, trained all at once as a batched tensor model:
    inputs are the normalised powers ``(p - p_lo) / (p_hi - p_lo)`` of ``{i} ∪ N(i)``
    (padded to the largest neighbourhood; padded inputs get weight 0), one sigmoid
    hidden layer, a sigmoid output. Every weight is ``softplus(θ) >= 0``, so the
    output is non-decreasing in every input power.

    Attributes:
        members: (n, d) int, antenna ids of each input slot (slot 0 = the antenna itself), -1 = padding.
        p_lo, p_hi: (n_cells,) normalisation bounds [dBm].
        params: torch tensors ``w1 (n, d, h), b1 (n, h), w2 (n, h), b2 (n,)`` (raw θ for weights).
    """

    members: np.ndarray
    p_lo: np.ndarray
    p_hi: np.ndarray
    params: dict[str, Any]
    final_loss: float = float("nan")

    @staticmethod
    def members_from_graph(adjacency: sp.csr_matrix) -> np.ndarray:
        """(n, 1 + max degree) int: each antenna then its neighbours, padded with -1."""
        adj = sp.csr_matrix(adjacency)
        n = adj.shape[0]
        deg = np.diff(adj.indptr)
        d = 1 + (int(deg.max()) if n else 0)
        out = np.full((n, d), -1, dtype=np.int64)
        out[:, 0] = np.arange(n)
        rows = np.repeat(np.arange(n), deg)
        pos = np.arange(len(adj.indices)) - np.repeat(adj.indptr[:-1], deg)
        out[rows, 1 + pos] = adj.indices
        return out

    @classmethod
    def fit(cls, ids: np.ndarray, att: np.ndarray, adjacency: sp.csr_matrix, p_lo: np.ndarray, p_hi: np.ndarray,
            threshold_dbm: float, rng: np.random.Generator, n_samples: int = 512, hidden: int = 16,
            epochs: int = 400, lr: float = 0.05, weights: np.ndarray | None = None) -> MonotoneCoverageMLP:
        """Train on random power vectors labelled by the exact MR method.

        Args:
            ids: (n_mrs, k) MR cell ids (e.g. after :func:`remove_redundant_mrs`).
            att: (n_mrs, k) attenuations [dB].
            adjacency: neighbour graph (n, n).
            p_lo: (n,) lower end of the power range sampled uniformly and used for normalisation [dBm].
            p_hi: (n,) upper end of that range [dBm].
            threshold_dbm: coverage threshold [dBm].
            rng: generator for the samples and the initial weights.
            n_samples: random power vectors.
            hidden: hidden units per antenna.
            epochs: full-batch Adam steps.
            lr: learning rate.
            weights: MR weights.
        """
        import torch

        n = len(p_lo)
        if np.any(p_hi <= p_lo):
            raise ValueError("MonotoneCoverageMLP.fit: p_hi must be > p_lo for every antenna")
        inc = incidence(ids, n, weights)
        u = rng.random((n_samples, n))
        ps = p_lo + u * (p_hi - p_lo)  # (T, n) [dBm]
        y = np.stack([neighbourhood_coverage(ids, att, p, threshold_dbm, inc) for p in ps])  # (T, n)
        members = cls.members_from_graph(adjacency)
        x = np.where(members[None] >= 0, u[:, np.maximum(members, 0)], 0.0)  # (T, n, d)
        d = members.shape[1]
        g = torch.Generator().manual_seed(int(rng.integers(2**31)))
        params = {
            "w1": (torch.randn(n, d, hidden, generator=g) * 0.5 - 1.0).requires_grad_(),
            "b1": (torch.randn(n, hidden, generator=g) * 0.5).requires_grad_(),
            "w2": (torch.randn(n, hidden, generator=g) * 0.5 - 1.0).requires_grad_(),
            "b2": torch.zeros(n).requires_grad_(),
        }
        mask = torch.as_tensor(members >= 0, dtype=torch.float32)
        xt = torch.as_tensor(x, dtype=torch.float32)
        yt = torch.as_tensor(y, dtype=torch.float32)
        # plain Adam on the raw parameters (avoids importing torch.optim, which is slow to load)
        m1 = {k: torch.zeros_like(v) for k, v in params.items()}
        m2 = {k: torch.zeros_like(v) for k, v in params.items()}
        beta1, beta2, eps = 0.9, 0.999, 1e-8
        loss = torch.zeros(())
        for t in range(1, epochs + 1):
            loss = torch.mean((cls._forward(params, mask, xt) - yt) ** 2)
            grads = torch.autograd.grad(loss, list(params.values()))
            with torch.no_grad():
                for (k, v), grad in zip(params.items(), grads):
                    m1[k].mul_(beta1).add_(grad, alpha=1 - beta1)
                    m2[k].mul_(beta2).addcmul_(grad, grad, value=1 - beta2)
                    step = lr * (m1[k] / (1 - beta1**t)) / ((m2[k] / (1 - beta2**t)).sqrt() + eps)
                    v.sub_(step)
        det = {k: v.detach() for k, v in params.items()}
        return cls(members=members, p_lo=np.asarray(p_lo, float), p_hi=np.asarray(p_hi, float), params=det,
                   final_loss=float(loss.detach()))

    @staticmethod
    def _forward(params: dict[str, Any], mask: Any, x: Any) -> Any:
        import torch

        w1 = torch.nn.functional.softplus(params["w1"]) * mask[:, :, None]  # (n, d, h) >= 0
        w2 = torch.nn.functional.softplus(params["w2"])  # (n, h) >= 0
        h = torch.sigmoid(torch.einsum("tnd,ndh->tnh", x, w1) + params["b1"])
        return torch.sigmoid(torch.einsum("tnh,nh->tn", h, w2) + params["b2"])

    def predict(self, p_dbm: np.ndarray) -> np.ndarray:
        """Predicted neighbourhood coverage: (n,) for ``p`` (n,), or (T, n) for a batch (T, n)."""
        import torch

        p = np.atleast_2d(np.asarray(p_dbm, dtype=np.float64))
        u = (p - self.p_lo) / (self.p_hi - self.p_lo)
        x = np.where(self.members[None] >= 0, u[:, np.maximum(self.members, 0)], 0.0)
        mask = torch.as_tensor(self.members >= 0, dtype=torch.float32)
        with torch.no_grad():
            out = self._forward(self.params, mask, torch.as_tensor(x, dtype=torch.float32)).numpy()
        return out[0].astype(np.float64) if np.ndim(p_dbm) == 1 else out.astype(np.float64)


from .pmin import min_coverage_powers  # noqa: E402 - the p_min procedure, re-exported here
