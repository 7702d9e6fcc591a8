"""Compiled kernels of the batched load-balancing reset: loops over every user and every period of a reset.

Each kernel is a plain loop compiled by ``numba.njit`` on its first call (no on-disk cache: the package
loads no code from caches) and equals a numpy reference exactly (``tests/test_batched_lb_speed.py``,
random inputs with ties):

- :func:`candidate_rows` and :func:`mr_rows` equal :func:`~mndt_envs.tasks.load_balancing.periods.candidates`
  and :func:`~mndt_envs.tasks.load_balancing.periods.mrs_from` on every row they do not flag. A row is
  flagged where the reference's result depends on how ``np.argpartition`` orders equal values (a tie
  among the values that decide the selection or its order) or where it holds a NaN; the caller
  recomputes the flagged rows with the reference (both work row by row, so a subset of rows gives the
  same rows).
- :func:`pair_counts` gives the pairs of ``coverage.neighbour_graph`` and the row sums of
  ``coverage.incidence``, per block (period) of MRs; :func:`block_coverage` gives
  ``coverage.neighbourhood_coverage``; :func:`block_min_powers` runs ``pmin.min_coverage_powers`` with that
  coverage, block by block.
"""

from __future__ import annotations

import numpy as np
from numba import njit

__all__ = ["block_coverage", "block_min_powers", "candidate_rows", "mr_rows", "pair_counts", "weighted_row_sums"]


_BLOCK = 256  # users per pass of the column kernels (their per-user state stays in the L1 cache)


@njit(cache=False, nogil=True, inline="always")
def _insert(val: np.ndarray, idx: np.ndarray, cv: np.ndarray, ci: np.ndarray, slots: int, fill: int,
            nb: int) -> None:  # pragma: no cover - compiled
    """Insert ``(cv[u], ci[u])`` into the kept lists ``val/idx[:slots, u]`` of the block's ``nb`` columns.

    Compare-exchange down the list in the order (value descending, id ascending), branch-free so the
    compiler vectorises over the columns; slot ``fill`` is still empty (taken unconditionally).
    """
    for p in range(slots):
        free = p == fill
        for u in range(nb):
            v, i, x, j = val[p, u], idx[p, u], cv[u], ci[u]
            sw = (x > v) | ((x == v) & (j < i)) | free
            val[p, u] = x if sw else v
            idx[p, u] = j if sw else i
            cv[u] = v if sw else x
            ci[u] = i if sw else j


@njit(cache=False, nogil=True)
def candidate_rows(rsrp: np.ndarray, p_ref: np.ndarray, k: int,
                   ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:  # pragma: no cover - compiled
    """The ``k`` strongest cells of each column of ``rsrp`` (n_cells, users) float32 [dBm], strongest first.

    Args:
        rsrp: (n_cells, users) RSRP [dBm].
        p_ref: (n_cells,) float64 reference powers [dBm].
        k: cells per user, at most ``n_cells``.

    Returns:
        (ids (users, k) int32, attenuations ``p_ref - RSRP`` (users, k) float32, flagged (users,) bool):
        ``periods.candidates`` on ``rsrp.T`` wherever not flagged. Flagged: a NaN in the column, or, for
        ``k < n_cells``, two equal values among the ``k + 1`` largest.
    """
    n, users = rsrp.shape
    kk = min(k + 1, n)  # kept values: the selection and, when k < n, the first one left out
    ids = np.zeros((users, k), dtype=np.int32)
    att = np.zeros((users, k), dtype=np.float32)
    flag = np.zeros(users, dtype=np.bool_)
    val = np.empty((kk, _BLOCK), dtype=rsrp.dtype)  # kept values of each user of the block, best first
    idx = np.empty((kk, _BLOCK), dtype=np.int32)
    cv = np.empty(_BLOCK, dtype=rsrp.dtype)  # the value being inserted, per user
    ci = np.empty(_BLOCK, dtype=np.int32)
    nan = np.zeros(_BLOCK, dtype=np.bool_)
    for u0 in range(0, users, _BLOCK):
        nb = min(_BLOCK, users - u0)
        nan[:] = False
        for c in range(n):  # cells outer, users inner: every pass is a branch-free loop over the block
            for u in range(nb):
                x = rsrp[c, u0 + u]
                nan[u] |= x != x
                cv[u] = x
                ci[u] = c
            # insertion by compare-exchange down the kept list, in the order (value descending, cell ascending):
            # equal values keep the order of their cells (the stable order); slot c is free while c < kk
            _insert(val, idx, cv, ci, min(c + 1, kk), c, nb)
        for u in range(nb):
            g = u0 + u
            bad = nan[u]
            if k < n:
                for j in range(kk - 1):
                    bad |= val[j, u] == val[j + 1, u]
            flag[g] = bad
            if bad:
                continue
            for j in range(k):
                c = idx[j, u]
                ids[g, j] = c
                att[g, j] = np.float32(p_ref[c] - np.float64(val[j, u]))
    return ids, att, flag


@njit(cache=False, nogil=True)
def mr_rows(cand_ids: np.ndarray, cand_att: np.ndarray, p32: np.ndarray, p64: np.ndarray, noise: np.ndarray,
            use_noise: bool, k_mr: int, lo: float, hi: float,
            ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:  # pragma: no cover - compiled
    """Each user's MR over its candidates: ``periods.mrs_from`` with the noise ``noise`` (users, K) pre-drawn.

    Args:
        cand_ids: (users, K) int32 candidate cells.
        cand_att: (users, K) float32 their attenuations [dB].
        p32: (n_cells,) the powers the MRs are measured under [dBm], float32.
        p64: the same powers, float64.
        noise: (users, K) float64 measurement noise [dB].
        use_noise: add ``noise`` (the reference draws noise only for ``noise_db > 0``).
        k_mr: entries per MR (at most ``K``).
        lo: lower end of the reporting range [dBm] (``radio.RSRP_MIN_DBM``).
        hi: upper end (``radio.RSRP_MAX_DBM``).

    Returns (ids (users, k) int32, attenuations (users, k) float32, flagged (users,) bool), ``k = min(k_mr, K)``:
    ``mrs_from`` wherever not flagged. Flagged: a NaN among the RSRPs or measurements, or two equal values
    among the ``k`` largest measurements of the non-serving candidates (serving one at -inf).
    """
    users, kc = cand_ids.shape
    k = min(k_mr, kc)
    ids = np.full((users, k), -1, dtype=np.int32)
    att = np.full((users, k), np.nan, dtype=np.float32)
    flag = np.zeros(users, dtype=np.bool_)
    meas = np.empty((kc, _BLOCK), dtype=np.float32)
    best = np.empty(_BLOCK, dtype=np.float32)  # serving cell: the first strongest candidate (np.argmax)
    srv = np.empty(_BLOCK, dtype=np.int32)
    nan = np.zeros(_BLOCK, dtype=np.bool_)
    kk = max(k, 1)
    val = np.empty((kk, _BLOCK), dtype=np.float32)  # the k largest non-serving measurements, best first
    idx = np.empty((kk, _BLOCK), dtype=np.int32)
    cv = np.empty(_BLOCK, dtype=np.float32)
    ci = np.empty(_BLOCK, dtype=np.int32)
    ninf = np.float32(-np.inf)
    flo, fhi = np.float32(lo), np.float32(hi)
    for u0 in range(0, users, _BLOCK):
        nb = min(_BLOCK, users - u0)
        nan[:] = False
        for j in range(kc):
            for u in range(nb):
                g = u0 + u
                r = p32[cand_ids[g, j]] - cand_att[g, j]  # float32
                m = r + np.float32(noise[g, j]) if use_noise else r
                nan[u] |= (r != r) | (m != m)
                sw = (j == 0) | (r > best[u])
                best[u] = r if sw else best[u]
                srv[u] = j if sw else srv[u]
                meas[j, u] = m
        if k > 1:
            for j in range(kc):  # compare-exchange insertion, as in candidate_rows
                for u in range(nb):
                    cv[u] = ninf if j == srv[u] else meas[j, u]
                    ci[u] = j
                _insert(val, idx, cv, ci, min(j + 1, k), j, nb)
        for u in range(nb):
            g = u0 + u
            bad = nan[u]
            if k > 1:
                for j in range(k - 1):
                    bad |= val[j, u] == val[j + 1, u]
            flag[g] = bad
            if bad:
                continue
            for j in range(k):
                sl = srv[u] if j == 0 else idx[j - 1, u]
                v = meas[sl, u] if j == 0 else val[j - 1, u]
                v = np.float32(np.rint(np.float64(v)))  # 1 dB quantisation (round half to even, as np.round)
                if v < flo:
                    continue  # below the reporting range: not reported (-1, NaN)
                v = min(max(v, flo), fhi)
                c = cand_ids[g, sl]
                ids[g, j] = c
                att[g, j] = np.float32(p64[c] - np.float64(v))
    return ids, att, flag


@njit(cache=False, nogil=True)
def pair_counts(ids: np.ndarray, rows_per_block: int, n: int) -> tuple[np.ndarray, np.ndarray]:  # pragma: no cover
    """Per block of ``rows_per_block`` MRs: antenna pair co-occurrences and MR counts per antenna.

    Args:
        ids: (rows, k) antenna ids in [0, n), -1 = empty; rows ``b · rows_per_block ...`` form block ``b``.
        rows_per_block: MRs per block.
        n: antennas per block.

    Returns:
        (counts (n_blocks, n, n) float64: symmetric, ``[b, i, j]`` = MRs of block ``b`` holding ``i`` and
        ``j != i``; tot (n_blocks · n,) float64: MR entries of antenna ``i`` of block ``b`` at ``b · n + i``).
    """
    rows, k = ids.shape
    nb = rows // rows_per_block if rows_per_block > 0 else 0
    cnt = np.zeros((nb, n, n), dtype=np.float64)
    tot = np.zeros(nb * n, dtype=np.float64)
    for r in range(rows):
        b = r // rows_per_block
        for i in range(k):
            a = ids[r, i]
            if a < 0:
                continue
            tot[b * n + a] += 1.0
            for j in range(i + 1, k):
                c = ids[r, j]
                if c >= 0 and c != a:
                    cnt[b, a, c] += 1.0
                    cnt[b, c, a] += 1.0
    return cnt, tot


@njit(cache=False, nogil=True)
def _block_coverage(ids: np.ndarray, att: np.ndarray, p: np.ndarray, thr: float, r0: int, r1: int,
                    tot: np.ndarray, cov: np.ndarray) -> None:  # pragma: no cover - compiled
    """Neighbourhood coverage of one block (MR rows ``r0:r1``) under its powers ``p`` (n,), into ``cov`` (n,)."""
    n = len(p)
    k = ids.shape[1]
    num = np.zeros(n)
    for r in range(r0, r1):
        best = np.float32(-np.inf)
        nan = False
        for i in range(k):
            a = ids[r, i]
            if a < 0:
                continue
            v = np.float32(p[a]) - att[r, i]  # float32, as coverage.mr_rsrp
            if v != v:
                nan = True
            elif v > best:
                best = v
        if nan or not np.float64(best) >= thr:
            continue
        for i in range(k):
            a = ids[r, i]
            if a >= 0:
                num[a] += 1.0
    for i in range(n):
        cov[i] = num[i] / max(tot[i], 1e-12) if tot[i] > 0 else 1.0


@njit(cache=False, nogil=True)
def block_coverage(ids: np.ndarray, att: np.ndarray, p: np.ndarray, thr: float, rows_per_block: int,
                   tot: np.ndarray) -> np.ndarray:  # pragma: no cover - compiled
    """``cov.neighbourhood_coverage`` of every block under the powers ``p`` (blocks · n,) [dBm].

    Args:
        ids: (blocks · rows_per_block, k) antenna ids in [0, n) of each block's MRs (-1 = empty).
        att: (rows, k) float32 attenuations [dB].
        p: (blocks · n,) powers (antenna ``i`` of block ``b`` at ``b · n + i``).
        thr: coverage threshold [dBm], as float64: an MR is covered when its best RSRP ``>= thr`` (pass the
            threshold as ``cov.covered_mrs`` compares it with float32 RSRPs).
        rows_per_block: MRs per block.
        tot: (blocks · n,) MR entries per antenna (:func:`pair_counts`).

    Returns:
        (blocks · n,) covered share of the MRs holding each antenna; 1 where it is in none.
    """
    nt = len(p)
    nb = ids.shape[0] // rows_per_block if rows_per_block > 0 else 0
    n = nt // nb if nb > 0 else 0
    out = np.ones(nt)
    for b in range(nb):
        s = b * n
        _block_coverage(ids, att, p[s: s + n], thr, b * rows_per_block, (b + 1) * rows_per_block,
                        tot[s: s + n], out[s: s + n])
    return out


@njit(cache=False, nogil=True)
def block_min_powers(ids: np.ndarray, att: np.ndarray, rows_per_block: int, counts: np.ndarray, tot: np.ndarray,
                     p_lo: np.ndarray, p_hi: np.ndarray, req: np.ndarray, eps_db: float, thr: float,
                     max_iter: int) -> tuple[np.ndarray, np.ndarray]:  # pragma: no cover - compiled
    """``pmin.min_coverage_powers`` (``parallel=True``) with the exact MR coverage, run block by block.

    The procedure's rule is local to the neighbour graph's components, so on a disjoint union of blocks each
    block follows the same sequence of powers as in the union's run: a block stops where it has nothing to
    raise (the union's run leaves it unchanged from then on), after at most ``max_iter`` raises.

    Args:
        ids: (blocks · rows_per_block, k) antenna ids in [0, n) of each block's MRs (-1 = empty).
        att: (rows, k) float32 attenuations [dB].
        rows_per_block: MRs per block.
        counts: (blocks, n, n) pair counts (:func:`pair_counts`): ``> 0`` is the block's neighbour graph.
        tot: (blocks · n,) MR entries per antenna (:func:`pair_counts`).
        p_lo: (blocks · n,) lowest powers [dBm].
        p_hi: (blocks · n,) highest powers [dBm], ``>= p_lo``.
        req: (blocks · n,) required neighbourhood coverage.
        eps_db: power increment [dB], ``> 0``.
        thr: coverage threshold [dBm], as float64 (as :func:`block_coverage`).
        max_iter: iteration cap.

    Returns:
        (p_min (blocks · n,) [dBm], feasible (blocks · n,) bool: the antenna meets ``req`` at ``p_min``).
    """
    nb, n, _ = counts.shape
    p_out = np.empty(nb * n)
    ok_out = np.zeros(nb * n, dtype=np.bool_)
    cov = np.empty(n)
    fail = np.empty(n, dtype=np.bool_)
    cand = np.empty(n, dtype=np.bool_)
    tgt = np.empty(n, dtype=np.bool_)
    helper = np.empty(n, dtype=np.bool_)
    for b in range(nb):
        s = b * n
        p = p_lo[s: s + n].copy()
        hi, rq, tt = p_hi[s: s + n], req[s: s + n], tot[s: s + n]
        adj = counts[b]
        r0, r1 = b * rows_per_block, (b + 1) * rows_per_block
        _block_coverage(ids, att, p, thr, r0, r1, tt, cov)
        for _ in range(max_iter):
            # pmin._raise_targets: failing antennas below p_hi that are the lowest among their failing
            # neighbours (ties: lower index), and the raisable, passing neighbours of failing antennas at p_hi
            anyt = False
            for i in range(n):
                fail[i] = cov[i] < rq[i]
                cand[i] = fail[i] and p[i] < hi[i] - 1e-9
                helper[i] = False
            for i in range(n):
                if fail[i] and not cand[i]:  # stuck at p_hi: its neighbours may help
                    for j in range(n):
                        if j != i and adj[i, j] > 0 and not fail[j] and p[j] < hi[j] - 1e-9:
                            helper[j] = True
            for r in range(n):
                t = cand[r]
                if t:
                    for c in range(n):
                        if c != r and cand[c] and adj[r, c] > 0 and (cov[c] < cov[r] or (cov[c] == cov[r] and c < r)):
                            t = False
                            break
                tgt[r] = t or helper[r]
                anyt |= cand[r] or helper[r]
            if not anyt:
                break
            for i in range(n):
                if tgt[i]:
                    p[i] = min(p[i] + eps_db, hi[i])
            _block_coverage(ids, att, p, thr, r0, r1, tt, cov)
        for i in range(n):
            p_out[s + i] = p[i]
            ok_out[s + i] = cov[i] >= rq[i]
    return p_out, ok_out


@njit(cache=False, nogil=True)
def weighted_row_sums(a: np.ndarray, b: np.ndarray) -> np.ndarray:  # pragma: no cover - compiled
    """``out[e, i] = Σ_j a[e, i, j] · b[e, j]`` summed over ``j`` in increasing order (the order of a CSR row sum).

    Args:
        a: (N, n, n) float64 weights (the episodes' neighbour graphs with identity).
        b: (N, n) float64 values (busy degrees).
    """
    m, n, _ = a.shape
    out = np.zeros((m, n))
    for e in range(m):
        for i in range(n):
            acc = 0.0
            for j in range(n):
                acc += a[e, i, j] * b[e, j]
            out[e, i] = acc
    return out
