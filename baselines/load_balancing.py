"""Baselines of CPICH load balancing (paper 001): Static, BDBA and BFDBA.

The algorithm math is in plain functions usable outside the env:

* :func:`estimate_jacobian`: ``J = ∂b/∂p`` from MRs by central differences ±δ (SPEC §5, step 2),
  with per-antenna sampling of at most ``S`` MRs (Remark 4.1);
* :func:`min_norm_solve`: minimum-norm ``Δp = J⁺ (b* − b)`` (dense pseudo-inverse by SVD via
  ``numpy.linalg.lstsq`` for small ``n``, ``scipy.sparse.linalg.lsmr`` for large ``n``);
* :func:`bdba_step` / :func:`bfdba_step`: one period's power update with smoothing ``α`` and the
  projection onto ``[p_min, p_max]`` (eq. 18); BFDBA uses only the diagonal, ``Δp_i = (b*_i − b_i)/(J_ii + β)``.

The classes wrap these for ``mndt/LoadBalancing-v0`` with SB3's ``predict`` interface; they read the
period's MRs, busy degrees and bounds from the task core (``env.unwrapped.core``) and return the power
change [dB] as the env's action.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import scipy.sparse as sp

from mndt_envs.tasks.coverage import mr_rsrp
from mndt_envs.tasks.load_balancing import target_busy_degree

__all__ = [
    "estimate_jacobian",
    "min_norm_solve",
    "bdba_step",
    "bfdba_step",
    "Static",
    "BDBA",
    "BFDBA",
]


def _sample_mask(serving: np.ndarray, n: int, s: int | None, rng: np.random.Generator | None,
                 ) -> tuple[np.ndarray, np.ndarray]:
    """Sample about ``s`` MRs per serving antenna; return (mask (U,), scale (n,) = served / sampled).

    Each MR of antenna ``j`` is kept with probability ``min(1, s / N_j)`` (Bernoulli sampling,
    O(U) without sorting); counts are scaled back by ``N_j / kept_j``.
    """
    counts = np.bincount(serving, minlength=n).astype(np.float64)
    if s is None or s <= 0 or len(serving) == 0:
        return np.ones(len(serving), dtype=bool), np.ones(n)
    gen = rng if rng is not None else np.random.default_rng(0)
    prob = np.minimum(1.0, s / np.maximum(counts, 1.0))
    keep = gen.random(len(serving), dtype=np.float32) < prob[serving]
    kept = np.bincount(serving[keep], minlength=n).astype(np.float64)
    return keep, np.where(kept > 0, counts / np.maximum(kept, 1.0), 1.0)


def estimate_jacobian(ids: np.ndarray, rsrp_dbm: np.ndarray, n_cells: int, delta_db: float = 1.0,
                      u_max: float | np.ndarray = 1.0, samples_per_antenna: int | None = None,
                      rng: np.random.Generator | None = None) -> sp.csr_matrix:
    """Jacobian ``J = ∂b/∂p`` [1/dB] of the busy degrees w.r.t. CPICH powers, from MRs.

    For antenna ``j`` and neighbour ``i``: ``n_ij`` = MRs served by ``j`` in which ``i``
    becomes strongest when ``j``'s RSRP is lowered by ``δ``; ``m_ij`` = MRs served by
    ``i`` in which ``j`` becomes strongest when ``j``'s RSRP is raised by ``δ``. Then
    ``J_ij = −(n_ij + m_ij) / (2 δ U_max)`` (i ≠ j) and ``J_jj = −Σ_{i≠j} J_ij``, so every
    column sums to zero (a Laplacian, Lemma 5.1). With ``samples_per_antenna = S`` at
    most ``S`` MRs per serving antenna are examined and the counts are scaled back up.

    Args:
        ids: (U, k) int MR cell ids, serving cell first; -1 = empty entry.
        rsrp_dbm: (U, k) RSRP [dBm] of the entries under the current powers (NaN/-inf for empty).
        n_cells: number of antennas ``n``.
        delta_db: perturbation ``δ`` [dB] (> 0).
        u_max: users at busy degree 1 (scalar, or (n,) per antenna, e.g. PRB totals).
        samples_per_antenna: ``S``; None = all MRs.
        rng: generator for the sampling.

    Returns:
        (n, n) sparse J. MRs without a serving entry are ignored; an empty MR set gives J = 0.
    """
    ids = np.asarray(ids)
    rsrp = np.asarray(rsrp_dbm, dtype=np.float32)
    if ids.ndim != 2 or rsrp.shape != ids.shape:
        raise ValueError(f"estimate_jacobian: ids {ids.shape} and rsrp {rsrp.shape} must both be (n_mrs, k)")
    if not delta_db > 0:
        raise ValueError(f"estimate_jacobian: delta_db = {delta_db!r} must be > 0")
    if ids.size and ids.max() >= n_cells:
        raise ValueError(f"estimate_jacobian: cell id {ids.max()} >= n_cells = {n_cells}")
    ok = ids[:, 0] >= 0 if ids.shape[0] else np.zeros(0, dtype=bool)
    if not ok.all():
        ids, rsrp = ids[ok], rsrp[ok]
    if ids.shape[0] == 0 or ids.shape[1] < 2:
        return sp.csr_matrix((n_cells, n_cells))
    serving = ids[:, 0]
    keep, scale = _sample_mask(serving, n_cells, samples_per_antenna, rng)
    if not keep.all():
        ids, rsrp, serving = ids[keep], rsrp[keep], serving[keep]
    w = scale[serving]  # (U,) weight of each sampled MR
    r0 = rsrp[:, 0]
    oid = ids[:, 1:]
    orsrp = np.where(oid >= 0, rsrp[:, 1:], np.float32(-np.inf))
    # n_ij: lower the serving antenna j by δ; the strongest other entry i takes over
    bo = np.argmax(orsrp, axis=1)
    best_other = orsrp[np.arange(len(bo)), bo]
    takeover = best_other > r0 - delta_db
    n_i = oid[np.arange(len(bo)), bo][takeover]
    n_j = serving[takeover]
    n_w = w[takeover]
    # m_ij: MRs served by i; raising entry j by δ makes it strongest
    win = (orsrp + delta_db > r0[:, None]) & (oid >= 0)
    m_i = np.broadcast_to(serving[:, None], oid.shape)[win]
    m_j = oid[win]
    m_w = np.broadcast_to(w[:, None], oid.shape)[win]
    rows = np.concatenate([n_i, m_i])
    cols = np.concatenate([n_j, m_j])
    vals = np.concatenate([n_w, m_w])
    good = rows != cols
    umax = np.broadcast_to(np.asarray(u_max, dtype=np.float64), (n_cells,))
    off = sp.coo_matrix((-vals[good] / (2.0 * delta_db * umax[rows[good]]), (rows[good], cols[good])),
                        shape=(n_cells, n_cells)).tocsr()
    off.sum_duplicates()
    diag = -np.asarray(off.sum(axis=0)).ravel()
    return (off + sp.diags(diag)).tocsr()


def min_norm_solve(jac: Any, rhs: np.ndarray, solver: str = "auto", dense_max_n: int = 600,
                   rcond: float = 1e-6) -> np.ndarray:
    """Minimum-norm (least-squares) solution of ``J Δp = rhs``.

    Args:
        jac: (n, n) dense or sparse J.
        rhs: (n,) ``b* − b``.
        solver: ``"pinv"`` (SVD: ``numpy.linalg.lstsq``), ``"lsmr"`` (``scipy.sparse.linalg.lsmr``, from 0,
            which converges to the minimum-norm least-squares solution), ``"auto"`` (pinv up to
            ``dense_max_n`` antennas, lsmr beyond).
        dense_max_n: size limit of the dense solver in ``"auto"``.
        rcond: relative cut-off of small singular values (a truncated pseudo-inverse; in ``lsmr`` a
            Tikhonov damping ``rcond·‖J‖₁`` when ``rcond > 1e-4``).

    Returns:
        (n,) Δp [dB]. A zero J (no neighbours anywhere) gives Δp = 0.

    Raises:
        ValueError: non-finite J or rhs, or shape mismatch (checked before any SVD).
    """
    from scipy.sparse.linalg import lsmr

    r = np.asarray(rhs, dtype=np.float64)
    n = r.shape[0]
    if jac.shape != (n, n):
        raise ValueError(f"min_norm_solve: J {jac.shape} does not match rhs ({n},)")
    data = jac.data if sp.issparse(jac) else np.asarray(jac)
    if not np.all(np.isfinite(data)) or not np.all(np.isfinite(r)):
        raise ValueError("min_norm_solve: J and b* − b must be finite (NaN/inf in busy degrees or MRs)")
    if (sp.issparse(jac) and jac.nnz == 0) or not np.any(data):
        return np.zeros(n)
    if solver not in ("auto", "pinv", "lsmr"):
        raise ValueError(f"solver = {solver!r}: allowed values are 'auto', 'pinv', 'lsmr'")
    if solver == "pinv" or (solver == "auto" and n <= dense_max_n):
        dense = jac.toarray() if sp.issparse(jac) else np.asarray(jac, dtype=np.float64)
        try:
            return np.linalg.lstsq(dense, r, rcond=rcond)[0]
        except np.linalg.LinAlgError:  # SVD did not converge: fall back to the iterative solver
            pass
    a = sp.csr_matrix(jac)
    # Tikhonov damping ~ rcond·‖J‖₁ plays the role of the SVD cut-off in the iterative solver
    damp = rcond * float(abs(a).sum(axis=0).max()) if rcond > 1e-4 else 0.0
    return np.asarray(lsmr(a, r, damp=damp, atol=1e-8, btol=1e-8, maxiter=20 * n)[0])


def _project(p: np.ndarray, p_min: np.ndarray, p_max: np.ndarray) -> np.ndarray:
    p_min, p_max = np.asarray(p_min, dtype=np.float64), np.asarray(p_max, dtype=np.float64)
    if np.any(p_min > p_max):
        bad = np.flatnonzero(p_min > p_max)
        raise ValueError(f"p_min > p_max for antennas {bad[:10].tolist()}: the projection [p_min, p_max] is empty")
    return np.clip(p, p_min, p_max)


def bdba_step(p: np.ndarray, b: np.ndarray, jac: Any, p_min: np.ndarray, p_max: np.ndarray, alpha: float = 0.5,
              target: str = "global", adjacency: Any = None, solver: str = "auto", rcond: float = 1e-6,
              active_set: bool = False) -> np.ndarray:
    """One BDBA period: ``p ← Π_[p_min, p_max](p + α J⁺ (b* − b))``; returns the new powers [dBm].

    Args:
        p: (n,) current powers [dBm].
        b: (n,) busy degrees.
        jac: (n, n) J (dense or sparse).
        p_min: (n,) lower bounds [dBm].
        p_max: (n,) upper bounds [dBm]; ``p_min > p_max`` raises ``ValueError``.
        alpha: smoothing α in (0, 1].
        target: ``"global"`` | ``"local"``.
        adjacency: neighbour graph (for ``"local"``).
        solver: see :func:`min_norm_solve`.
        rcond: relative singular-value cut-off of the pseudo-inverse.
        active_set: re-solve once without the antennas whose step would leave ``[p_min, p_max]``
            (they are held at their bound), so the other antennas compensate (an extension of the paper).
    """
    if not 0 < alpha <= 1:
        raise ValueError(f"alpha = {alpha!r}: allowed values are in (0, 1]")
    b = np.asarray(b, dtype=np.float64)
    p = np.asarray(p, dtype=np.float64)
    r = target_busy_degree(b, target, adjacency) - b
    dp = min_norm_solve(jac, r, solver, rcond=rcond)
    if active_set:
        out = ((p + alpha * dp) < np.asarray(p_min) - 1e-9) | ((p + alpha * dp) > np.asarray(p_max) + 1e-9)
        if out.any() and not out.all():
            free = np.flatnonzero(~out)
            jd = sp.csr_matrix(jac) if sp.issparse(jac) else sp.csr_matrix(np.asarray(jac))
            held = np.clip(p + alpha * dp, p_min, p_max) - p  # the bounded antennas' actual steps
            r2 = r - jd[:, np.flatnonzero(out)] @ held[out] / alpha
            sub = jd[:, free]
            dense = sub.toarray()
            dp2 = np.linalg.lstsq(dense, r2, rcond=rcond)[0] if len(free) <= 600 else \
                np.asarray(__import__("scipy.sparse.linalg", fromlist=["lsmr"]).lsmr(sub, r2)[0])
            dp = held / alpha
            dp[free] = dp2
    return _project(p + alpha * dp, p_min, p_max)


def bfdba_step(p: np.ndarray, b: np.ndarray, jac_diag: np.ndarray, p_min: np.ndarray, p_max: np.ndarray,
               alpha: float = 0.5, beta: float = 0.01, target: str = "global", adjacency: Any = None) -> np.ndarray:
    """One BFDBA period: ``Δp_i = (b*_i − b_i) / (J_ii + β)``, then smoothing and projection; new powers [dBm]."""
    if not 0 < alpha <= 1:
        raise ValueError(f"alpha = {alpha!r}: allowed values are in (0, 1]")
    if not beta > 0:
        raise ValueError(f"beta = {beta!r}: must be > 0")
    b = np.asarray(b, dtype=np.float64)
    d = np.asarray(jac_diag, dtype=np.float64)
    if not np.all(np.isfinite(d)) or not np.all(np.isfinite(b)):
        raise ValueError("bfdba_step: busy degrees and J_ii must be finite")
    dp = (target_busy_degree(b, target, adjacency) - b) / (np.maximum(d, 0.0) + beta)
    return _project(np.asarray(p, dtype=np.float64) + alpha * dp, p_min, p_max)


def jacobian_diagonal(ids: np.ndarray, rsrp_dbm: np.ndarray, n_cells: int, delta_db: float = 1.0,
                      u_max: float | np.ndarray = 1.0, samples_per_antenna: int | None = None,
                      rng: np.random.Generator | None = None) -> np.ndarray:
    """Only ``J_jj`` (n,), in O(U k): the same counts as :func:`estimate_jacobian`, summed per column."""
    ids = np.asarray(ids)
    rsrp = np.asarray(rsrp_dbm, dtype=np.float32)
    if ids.ndim != 2 or rsrp.shape != ids.shape:
        raise ValueError(f"jacobian_diagonal: ids {ids.shape} and rsrp {rsrp.shape} must both be (n_mrs, k)")
    ok = ids[:, 0] >= 0 if ids.shape[0] else np.zeros(0, dtype=bool)
    if not ok.all():
        ids, rsrp = ids[ok], rsrp[ok]
    if ids.shape[0] == 0 or ids.shape[1] < 2:
        return np.zeros(n_cells)
    serving = ids[:, 0]
    keep, scale = _sample_mask(serving, n_cells, samples_per_antenna, rng)
    if not keep.all():
        ids, rsrp, serving = ids[keep], rsrp[keep], serving[keep]
    w = scale[serving]
    umax = np.broadcast_to(np.asarray(u_max, dtype=np.float64), (n_cells,))
    r0 = rsrp[:, 0]
    oid = ids[:, 1:]
    orsrp = np.where(oid >= 0, rsrp[:, 1:], np.float32(-np.inf))
    bo = np.argmax(orsrp, axis=1)
    rows_u = np.arange(len(bo))
    takeover = (orsrp[rows_u, bo] > r0 - delta_db) & (oid[rows_u, bo] != serving)
    win = (orsrp + delta_db > r0[:, None]) & (oid >= 0) & (oid != serving[:, None])
    # column j collects -J_ij over i: n-terms in the serving antenna's column, m-terms in the entry's column
    col_n = np.bincount(serving[takeover], weights=w[takeover] / umax[oid[rows_u, bo][takeover]],
                        minlength=n_cells)
    wm = np.broadcast_to((w / umax[serving])[:, None], oid.shape)[win]
    col_m = np.bincount(oid[win], weights=wm, minlength=n_cells)
    return (col_n + col_m) / (2.0 * delta_db)


class _Base:
    """Shared plumbing: the task core behind a (possibly wrapped) ``mndt/LoadBalancing-v0``."""

    def __init__(self, env: Any) -> None:
        self.env = env
        core = getattr(env.unwrapped, "core", None)
        if core is None:
            raise ValueError("load-balancing baselines need mndt/LoadBalancing-v0 (env.unwrapped.core)")
        self.core = core

    def _action(self, p_new: np.ndarray) -> np.ndarray:
        c = self.core
        return np.clip(p_new - c.powers_dbm, -c.cfg.max_step_db, c.cfg.max_step_db).astype(np.float32)

    def predict(self, observation: Any, state: Any = None, episode_start: Any = None,
                deterministic: bool = True) -> tuple[np.ndarray, None]:
        """SB3-style: (power change per antenna [dB], None)."""
        return self._action(self.powers()), None

    def powers(self) -> np.ndarray:
        """The powers [dBm] the policy wants for the next period."""
        return self.core.powers_dbm


class Static(_Base):
    """The static network: no adjustment (power change 0)."""


class BDBA(_Base):
    """Busy-Degree Balancing Algorithm (paper 001 §4), Jacobian by MR perturbation and pseudo-inverse.

    Args:
        env: ``mndt/LoadBalancing-v0`` (possibly wrapped).
        target: ``"global"`` or ``"local"`` busy-degree target; None = the task's ``target``.
        alpha: smoothing factor α in (0, 1].
        delta_db: MR perturbation δ [dB].
        samples_per_antenna: S, MRs examined per antenna (None = all).
        solver: ``"auto"`` | ``"pinv"`` | ``"lsmr"``.
        seed: seed of the MR sampling.
        rcond: relative singular-value cut-off of the pseudo-inverse.
        active_set: re-solve without antennas pushed past their bounds (default True; False = the
            paper's plain projected update).
    """

    def __init__(self, env: Any, target: str | None = None, alpha: float = 0.5, delta_db: float = 2.0,
                 samples_per_antenna: int | None = 200, solver: str = "auto", seed: int = 0,
                 rcond: float = 0.05, active_set: bool = True) -> None:
        super().__init__(env)
        self.target = target or self.core.cfg.target
        self.alpha, self.delta_db, self.s, self.solver = alpha, delta_db, samples_per_antenna, solver
        self.rcond, self.active_set = rcond, active_set
        self.rng = np.random.default_rng(seed)
        self.last_jacobian: sp.csr_matrix | None = None

    def powers(self) -> np.ndarray:
        c = self.core
        p = c.powers_dbm
        ids, att = c.mrs()
        jac = estimate_jacobian(ids, mr_rsrp(ids, att, p), c.n, self.delta_db, c.u_max, self.s, self.rng)
        self.last_jacobian = jac
        return bdba_step(p, c.busy, jac, c.p_min, c.p_max, self.alpha, self.target, c.adjacency, self.solver,
                         self.rcond, self.active_set)


class BFDBA(_Base):
    """Busy-degree Fast Distributed Balancing Algorithm (paper 001): diagonal of J only, with β.

    Args:
        env: ``mndt/LoadBalancing-v0`` (possibly wrapped).
        target: ``"global"`` or ``"local"``; None = the task's ``target``.
        alpha: smoothing factor α in (0, 1].
        beta: β > 0 added to ``J_ii``.
        delta_db: MR perturbation δ [dB].
        samples_per_antenna: S (None = all).
        seed: seed of the MR sampling.
    """

    def __init__(self, env: Any, target: str | None = None, alpha: float = 0.5, beta: float = 0.01,
                 delta_db: float = 2.0, samples_per_antenna: int | None = 200, seed: int = 0) -> None:
        super().__init__(env)
        self.target = target or self.core.cfg.target
        self.alpha, self.beta, self.delta_db, self.s = alpha, beta, delta_db, samples_per_antenna
        self.rng = np.random.default_rng(seed)

    def powers(self) -> np.ndarray:
        c = self.core
        p = c.powers_dbm
        ids, att = c.mrs()
        d = jacobian_diagonal(ids, mr_rsrp(ids, att, p), c.n, self.delta_db, c.u_max, self.s, self.rng)
        return bfdba_step(p, c.busy, d, c.p_min, c.p_max, self.alpha, self.beta, self.target, c.adjacency)
