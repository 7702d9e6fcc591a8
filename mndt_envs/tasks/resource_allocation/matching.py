"""Resource allocation, demand mode: users to BSs by matching, RBs by the Hungarian algorithm, then power.

Edge weight user–cell / user–RB: ``min(rate, requested) + η · rate``. Association: exact max-weight
matching (Hungarian on users × BS slots) when ``n_users · (n_cells · cap + n_users) ≤ EXACT_MATCH_LIMIT``,
else capacitated deferred acceptance (vectorised over users). RBs: per BS, in decreasing order of load,
the Hungarian algorithm between its users and its RBs with the interference of the BSs already decided.
Power: a fair split of P_max over the BS's users, or water-filling (``power_split``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
from numba import njit
from scipy.optimize import linear_sum_assignment

from .allocation import Allocation, Repairs, waterfill
from .config import EXACT_MATCH_LIMIT

if TYPE_CHECKING:  # pragma: no cover
    from .core import ResourceAllocationCore

__all__ = ["match", "match_exact", "match_deferred", "exact_association", "deferred_acceptance", "assign_rbs"]


def match(core: ResourceAllocationCore, requested: np.ndarray, eligible: np.ndarray) -> Allocation:
    """Demand-mode allocation for ``requested`` single-step demands [bit] of ``eligible`` users.

    Association: exact max-weight matching (Hungarian on users × BS slots) when
    ``n_users · (n_cells · cap + n_users) ≤ EXACT_MATCH_LIMIT``, else capacitated deferred
    acceptance. Then RBs per BS by the Hungarian algorithm and the power split.
    """
    u, eta = core.n_users, core.cfg.rate_weight
    users = np.arange(u)
    w = np.minimum(core.rate_est, requested[None, :]) + eta * core.rate_est  # (k, n_users)
    w = np.where(eligible[None, :] & (core.rate_est > 0), w, -np.inf)
    if u * (core.n_cells * core.cap + u) <= EXACT_MATCH_LIMIT:
        held = match_exact(core, w)
    else:
        held = match_deferred(core, w)
    serving = np.where(held >= 0, core.cand[np.maximum(held, 0), users], -1)
    return assign_rbs(core, serving, requested)

def match_exact(core: ResourceAllocationCore, w: np.ndarray) -> np.ndarray:
    """Max-weight capacitated association of the core's users (see :func:`exact_association`)."""
    return exact_association(w, core.cand, core.n_cells, core.cap)

def exact_association(w: np.ndarray, cand: np.ndarray, n_cells: int, cap: int) -> np.ndarray:
    """Max-weight capacitated association by the Hungarian algorithm on users × (BS slots + none).

    Args:
        w: (k, n_users) edge weights user–candidate (−inf = not allowed).
        cand: (k, n_users) candidate cells of each user.
        n_cells: number of BSs.
        cap: users a BS serves at most.

    Returns:
        (n_users,) index into the user's candidates, −1 = unserved.
    """
    k, u = w.shape
    users = np.arange(u)
    big = -1e18
    m = np.full((u, n_cells * cap + u), big)
    for j in range(k):  # a handful of candidates
        ok = np.isfinite(w[j])
        cols = cand[j][ok, None] * cap + np.arange(cap)[None, :]
        m[users[ok, None], cols] = w[j][ok, None]
    m[users, n_cells * cap + users] = 0.0  # "not served"
    rows, cols = linear_sum_assignment(m, maximize=True)
    cell = np.where(cols < n_cells * cap, cols // cap, -1)
    held = np.full(u, -1, dtype=np.int64)
    hit = (cand[:, rows] == cell[None, :]) & (cell[None, :] >= 0)
    held[rows] = np.where(hit.any(axis=0), np.argmax(hit, axis=0), -1)
    return held

def match_deferred(core: ResourceAllocationCore, w: np.ndarray) -> np.ndarray:
    """Capacitated deferred acceptance of the core's users (see :func:`deferred_acceptance`)."""
    return deferred_acceptance(w, core.cand, core.cap)

def deferred_acceptance(w: np.ndarray, cell_of: np.ndarray, cap: int) -> np.ndarray:
    """Capacitated deferred acceptance (users propose by weight; a BS keeps its best ``cap``).

    Rounds of simultaneous proposals: every unheld user proposes to its next candidate (by descending
    weight, ties by candidate index; never to a −inf one); each BS holding more than ``cap`` keeps the
    ``cap`` heaviest (ties: lower user index) and rejects the rest, who propose again next round; at most
    ``4k + 4`` rounds. One compiled pass (:func:`_deferred_acceptance`); ``tests/test_resource_allocation.py``
    holds the numpy statement of the same rounds it is checked against.

    Args:
        w: (k, n_users) edge weights user–candidate (−inf = not allowed).
        cell_of: (k, n_users) BS id of each candidate (any ids ≥ 0: the batched core numbers the BSs
            of all its episodes together).
        cap: users a BS serves at most.

    Returns:
        (n_users,) index into the user's candidates, −1 = unserved.
    """
    w = np.ascontiguousarray(w, dtype=np.float64)
    cell_of = np.ascontiguousarray(cell_of, dtype=np.int64)
    if w.shape != cell_of.shape or w.ndim != 2:
        raise ValueError(f"deferred_acceptance: w {w.shape} and cell_of {cell_of.shape} must be the same (k, n_users)")
    n_ids = int(cell_of.max()) + 1 if cell_of.size else 1
    if cell_of.size and int(cell_of.min()) < 0:
        raise ValueError("deferred_acceptance: cell ids must be >= 0")
    return _deferred_acceptance(w, cell_of, int(cap), n_ids)


@njit(cache=False, nogil=True)
def _deferred_acceptance(w: np.ndarray, cell_of: np.ndarray, cap: int, n_ids: int) -> np.ndarray:
    """The rounds of :func:`deferred_acceptance` (integer bookkeeping and comparisons only: no float arithmetic)."""
    k, u = w.shape
    pref = np.empty((k, u), dtype=np.int64)  # np.argsort(-w, axis=0, kind="stable")
    for v in range(u):
        for j in range(k):
            pos = j
            while pos > 0 and -w[pref[pos - 1, v], v] > -w[j, v]:
                pref[pos, v] = pref[pos - 1, v]
                pos -= 1
            pref[pos, v] = j
    nxt = np.zeros(u, dtype=np.int64)
    held = np.full(u, -1, dtype=np.int64)
    counts = np.zeros(n_ids, dtype=np.int64)
    start = np.zeros(n_ids + 1, dtype=np.int64)
    members = np.empty(u, dtype=np.int64)
    for _ in range(4 * k + 4):  # each user proposes at most k times; cap the rounds
        any_prop = False
        for v in range(u):  # this round's proposals (each user's depends on its own state only)
            if held[v] < 0 and nxt[v] < k and np.isfinite(w[pref[nxt[v], v], v]):
                held[v] = pref[nxt[v], v]
                nxt[v] += 1
                any_prop = True
        if not any_prop:
            break
        counts[:] = 0
        for v in range(u):
            if held[v] >= 0:
                counts[cell_of[held[v], v]] += 1
        if counts.max() <= cap:  # no BS holds more than cap proposals: nobody is rejected
            continue
        for c in range(n_ids):
            start[c + 1] = start[c] + counts[c]
        fill = start[:-1].copy()
        for v in range(u):  # each BS's holders, in user order
            if held[v] >= 0:
                c = cell_of[held[v], v]
                members[fill[c]] = v
                fill[c] += 1
        for c in range(n_ids):
            if counts[c] <= cap:
                continue
            mem = members[start[c]: start[c + 1]]  # in user order
            for q in range(1, len(mem)):  # insertion sort by descending weight (stable: ties by user index)
                v = mem[q]
                x = w[held[v], v]
                pos = q
                while pos > 0 and w[held[mem[pos - 1]], mem[pos - 1]] < x:
                    mem[pos] = mem[pos - 1]
                    pos -= 1
                mem[pos] = v
            for q in range(cap, len(mem)):
                held[mem[q]] = -1  # rejected: proposes to its next preference
    return held


def assign_rbs(core: ResourceAllocationCore, serving: np.ndarray, requested: np.ndarray) -> Allocation:
    """RBs by the Hungarian algorithm per BS (interference of decided BSs), then the power split."""
    u, eta = core.n_users, core.cfg.rate_weight
    on = np.flatnonzero(serving >= 0)
    rb = np.full(u, -1, dtype=np.int64)
    power = np.zeros(u)
    if len(on) == 0:
        return Allocation(serving, rb, power, Repairs().as_dict())
    cell_on = serving[on]
    counts = np.bincount(cell_on, minlength=core.n_cells)
    p_user = core.p_max / np.maximum(counts, 1)  # (n_cells,) [W] fair share
    p_rb = np.zeros((core.n_cells, core.n_rb), dtype=np.float32)  # decided cells' RB powers
    order = np.argsort(cell_on, kind="stable")
    starts = [0, *np.cumsum(counts).tolist()]  # users of BS c: starts[c]:starts[c + 1] in ``order``
    inr = np.zeros(u)  # [W] estimated interference + noise on the chosen RB
    bw_t = core.bw * core.cfg.step_s
    # the scheduled users grouped by serving cell (a BS's users are the slice starts[c]:starts[c + 1]),
    # with everything per user gathered once: gains to every cell, own signal, request
    s_all = on[order]
    c_all = cell_on[order]
    g_all = np.ascontiguousarray(core.glin[:, s_all].T)  # (n_on, n_cells) gains of the scheduled users
    sig_all = (p_user[c_all] * core.glin[c_all, s_all])[:, None]  # (n_on, 1) [W] own signal at the fair share
    req_all = requested[s_all][:, None]  # (n_on, 1) [bit]
    p_user_l = p_user.tolist()
    wf = core.cfg.power_split == "waterfill"
    rb_all = np.full(len(s_all), -1, dtype=np.int64)  # RB of each scheduled user, in s_all order
    inr_all = np.zeros(len(s_all))  # [W] its interference + noise (for water-filling)
    for c in np.argsort(-counts, kind="stable")[: int((counts > 0).sum())].tolist():
        a, b = starts[c], starts[c + 1]
        in_n = g_all[a:b] @ p_rb  # (n_s, n_rb) [W] interference of the BSs decided so far
        in_n += core.noise_w  # + noise (float32, as ``in_n + noise_w``)
        rate = np.divide(sig_all[a:b], in_n)  # rate = bw_t log2(1 + sig / in_n) [bit], (n_s, n_rb), in place
        rate += 1.0
        np.log2(rate, out=rate)
        rate *= bw_t
        wm = np.minimum(rate, req_all[a:b])
        wm += eta * rate
        rows, cols = linear_sum_assignment(wm, maximize=True)
        rb_all[a:b][rows] = cols
        p_rb[c, cols] = p_user_l[c]
        if wf:
            inr_all[a:b][rows] = in_n[rows, cols]
    rb[s_all] = rb_all
    inr[s_all] = inr_all
    if wf:
        g = core.glin[cell_on, on].astype(np.float64)
        power[on] = waterfill(cell_on, inr[on] / np.maximum(g, 1e-300), core.p_max, core.n_cells)
    else:
        power[on] = p_user[cell_on]
    return Allocation(serving, rb, power, Repairs().as_dict())
