"""Load balancing: the episode's sampling periods (users' candidate cells, MRs, minimum coverage powers).

At ``reset`` the whole episode's periods are generated from the env's generator, like a day of MR data:
positions from the mobility model, the top ``n_candidates`` cells of every user as attenuations
``a = p_ref - RSRP`` (power-independent, so a period can be re-evaluated under any powers in
``O(n_users · n_candidates)``), MRs drawn with the twin's ``radio.measurement_reports`` and
``p_min(k)`` by the paper's minimum-coverage-power procedure (exact, or the monotone MLP with an exact
fallback).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np
import scipy.sparse as sp

from ...twin import radio
from .. import coverage as cov

if TYPE_CHECKING:  # pragma: no cover
    from .core import LoadBalancingCore

__all__ = ["PeriodData", "candidates", "make_period", "mrs_of", "mrs_from", "min_powers", "top_neighbours"]


@dataclass
class PeriodData:
    """One sampling period: users' candidate cells and the period's coverage bounds.

    Attributes:
        cand_ids: (n_users, n_candidates) int, strongest cells of each user (under reference powers).
        cand_att: (n_users, n_candidates) float32 attenuation ``p_ref - RSRP`` [dB] (large scale, no noise).
        positions: (n_users, 2) [m] users' positions.
        hour: hour of day [h].
        p_min: (n_cells,) minimum coverage powers ``p_min(k)`` [dBm] (filled by the core).
        pmin_feasible: (n_cells,) bool, antenna meets ``c_min`` at ``p_min`` (False: capped at p_max).
    """

    cand_ids: np.ndarray
    cand_att: np.ndarray
    positions: np.ndarray
    hour: float
    p_min: np.ndarray = field(default_factory=lambda: np.zeros(0))
    pmin_feasible: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=bool))


def candidates(p_ref: np.ndarray, rsrp_rows: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """The ``k`` strongest cells of each row of ``rsrp_rows`` (users, n_cells) [dBm], strongest first.

    Returns:
        (ids (users, k) int32, attenuations ``p_ref - RSRP`` (users, k) float32 [dB]).
    """
    n = rsrp_rows.shape[1]
    if k < n:
        part = np.argpartition(-rsrp_rows, kth=k - 1, axis=1)[:, :k]  # (U, k)
    else:
        part = np.broadcast_to(np.arange(n), (rsrp_rows.shape[0], n)).copy()
    vals = np.take_along_axis(rsrp_rows, part, axis=1)
    order = np.argsort(-vals, axis=1, kind="stable")
    ids = np.take_along_axis(part, order, axis=1).astype(np.int32)
    att = (p_ref[ids] - np.take_along_axis(vals, order, axis=1)).astype(np.float32)
    return ids, att


def make_period(core: LoadBalancingCore, hour: float) -> PeriodData:
    """The current positions' candidates under the reference powers (p_min filled later)."""
    rsrp = core.twin.rsrp(core.p_ref)  # (n_cells, n_users) [dBm] large scale
    ids, att = candidates(core.p_ref, np.ascontiguousarray(rsrp.T), core.k_cand)
    return PeriodData(ids, att, np.array(core.twin.positions), hour)


def mrs_of(core: LoadBalancingCore, period: PeriodData, p_dbm: np.ndarray, rng: np.random.Generator,
           ) -> tuple[np.ndarray, np.ndarray]:
    """MRs of ``period`` measured under powers ``p``: (ids (U, k), attenuations (U, k) [dB]).

    Uses ``radio.measurement_reports`` over the candidate cells (noise, 1 dB quantisation, reporting
    range, serving first); attenuation ``a = p - RSRP``.
    """
    return mrs_from(period.cand_ids, period.cand_att, p_dbm, core.k_mr, core.mr_noise_db, rng)


def mrs_from(cand_ids: np.ndarray, cand_att: np.ndarray, p_dbm: np.ndarray, k_mr: int, noise_db: float,
             rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """MRs of users with candidates ``cand_ids``/``cand_att`` (users, K) under powers ``p_dbm`` (see :func:`mrs_of`)."""
    rsrp = (np.asarray(p_dbm, dtype=np.float32)[cand_ids] - cand_att)  # (U, K)
    serving = np.argmax(rsrp, axis=1)
    slots, meas = radio.measurement_reports(rsrp.T, serving, k_mr, noise_db, rng)
    ok = slots >= 0
    ids = np.where(ok, np.take_along_axis(cand_ids, np.maximum(slots, 0), axis=1), -1)
    att = cov.mr_attenuation(ids, meas, np.asarray(p_dbm, dtype=np.float64))
    return ids, att


def min_powers(core: LoadBalancingCore, ids: np.ndarray, att: np.ndarray, rng: np.random.Generator,
               ) -> tuple[np.ndarray, np.ndarray]:
    """``p_min(k)`` [dBm] and its feasibility from one period's MRs (the paper's §6.2 procedure)."""
    c = core.cfg
    if c.pmin_method == "none":
        return core.p_lo.copy(), np.ones(core.n, dtype=bool)
    ids_r, att_r, w = cov.remove_redundant_mrs(ids, att, dominated=False)
    adj = cov.neighbour_graph(ids_r, core.n)
    inc = cov.incidence(ids_r, core.n, w)

    def exact(p: np.ndarray) -> np.ndarray:
        return cov.neighbourhood_coverage(ids_r, att_r, p, core.threshold_dbm, inc, w)

    # requirement: C_min, or the reference network's own neighbourhood coverage minus coverage_slack where
    # that is lower (a neighbourhood the static network cannot cover to C_min must not force p_max)
    req = np.minimum(c.c_min, exact(core.p_ref) - c.coverage_slack - 1e-9)
    # the reference powers meet ``req`` by construction, so p_min(k) never exceeds them (nor p_max)
    p_top = np.maximum(np.minimum(core.p_ref, core.p_max), core.p_lo)
    if c.pmin_method == "mlp":
        model = cov.MonotoneCoverageMLP.fit(ids_r, att_r, adj, core.p_lo, core.p_max, core.threshold_dbm, rng,
                                            weights=w, n_samples=256, epochs=200)
        p0, _ = cov.min_coverage_powers(core.p_lo, p_top, model.predict, adj, req, c.pmin_eps_db)
        # exact fallback: continue from the MLP's powers until the exact method agrees
        return cov.min_coverage_powers(p0, p_top, exact, adj, req, c.pmin_eps_db)
    return cov.min_coverage_powers(core.p_lo, p_top, exact, adj, req, c.pmin_eps_db)


def top_neighbours(n: int, max_neighbours: int, ids: np.ndarray) -> np.ndarray:
    """(n, max_neighbours) int: each antenna's neighbours by MR co-occurrence count, padded with -1."""
    m = max_neighbours
    kk = ids.shape[1]
    out = np.full((n, m), -1, dtype=np.int64)
    if kk < 2:
        return out
    ii, jj = np.triu_indices(kk, 1)
    a, b = ids[:, ii].ravel(), ids[:, jj].ravel()
    ok = (a >= 0) & (b >= 0) & (a != b)
    cnt = sp.coo_matrix((np.ones(int(ok.sum())), (a[ok], b[ok])), shape=(n, n)).tocsr()
    cnt = (cnt + cnt.T).toarray()  # (n, n): n is the number of antennas (hundreds)
    order = np.argsort(-cnt, axis=1, kind="stable")[:, :m]
    good = np.take_along_axis(cnt, order, axis=1) > 0
    out[:, : order.shape[1]] = np.where(good, order, -1)
    return out
