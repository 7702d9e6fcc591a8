"""Compiled kernels of the batched load-balancing reset: row-wise loops over every user of every period.

Each kernel is a plain loop compiled by ``numba.njit`` on its first call (no on-disk cache: the package
loads no code from caches). The selection kernels equal their numpy references
(:func:`~mndt_envs.tasks.load_balancing.periods.candidates`, :func:`~mndt_envs.tasks.load_balancing.periods.mrs_from`)
on every row they do not flag: a row is flagged where the references' result depends on how
``np.argpartition`` orders equal values (a tie among the values that decide the selection or its order)
or where it holds a NaN, and the caller recomputes the flagged rows with the reference (both references
work row by row, so a subset of rows gives the same rows). ``tests/test_batched_lb_speed.py`` checks
every kernel against its reference on random inputs with ties.
"""

from __future__ import annotations

import numpy as np
from numba import njit

__all__ = ["candidate_rows", "mr_rows", "pair_counts", "covered_counts"]


@njit(cache=False, nogil=True)
def candidate_rows(rsrp: np.ndarray, p_ref: np.ndarray, k: int,
                   ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:  # pragma: no cover - compiled
    """The ``k`` strongest cells of each column of ``rsrp`` (n_cells, users) float32 [dBm], strongest first.

    Returns (ids (users, k) int32, attenuations ``p_ref - RSRP`` (users, k) float32, flagged (users,) bool):
    ``periods.candidates`` on ``rsrp.T`` wherever not flagged. Flagged: a NaN in the column, or, for
    ``k < n_cells``, two equal values among the ``k + 1`` largest.
    """
    n, users = rsrp.shape
    kk = min(k + 1, n)  # kept values: the selection and, when k < n, the first one left out
    ids = np.zeros((users, k), dtype=np.int32)
    att = np.zeros((users, k), dtype=np.float32)
    flag = np.zeros(users, dtype=np.bool_)
    val = np.empty(kk, dtype=rsrp.dtype)
    idx = np.empty(kk, dtype=np.int64)
    for u in range(users):
        filled = 0
        bad = False
        for c in range(n):
            x = rsrp[c, u]
            if x != x:
                bad = True
                continue
            if filled == kk and not x > val[kk - 1]:
                continue
            # insertion after every kept value >= x: equal values keep the order of their cells
            pos = min(filled, kk - 1)
            while pos > 0 and val[pos - 1] < x:
                val[pos] = val[pos - 1]
                idx[pos] = idx[pos - 1]
                pos -= 1
            val[pos] = x
            idx[pos] = c
            filled = min(filled + 1, kk)
        if k < n:
            for j in range(kk - 1):
                if val[j] == val[j + 1]:
                    bad = True
        flag[u] = bad
        if bad:
            continue
        for j in range(min(k, n)):
            ids[u, j] = idx[j]
            att[u, j] = np.float32(p_ref[idx[j]] - np.float64(val[j]))
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
    meas = np.empty(kc, dtype=np.float32)
    val = np.empty(max(k, 1), dtype=np.float32)
    idx = np.empty(max(k, 1), dtype=np.int64)
    slot = np.empty(k, dtype=np.int64)
    q = np.empty(k, dtype=np.float32)
    ninf = np.float32(-np.inf)
    for u in range(users):
        bad = False
        s = 0
        best = ninf
        for j in range(kc):
            r = p32[cand_ids[u, j]] - cand_att[u, j]  # float32
            if r != r:
                bad = True
            if j == 0 or r > best:
                best = r
                s = j
            meas[j] = r + np.float32(noise[u, j]) if use_noise else r
            if meas[j] != meas[j]:
                bad = True
        if bad:
            flag[u] = True
            continue
        slot[0] = s
        q[0] = meas[s]
        if k > 1:
            # the k largest non-serving measurements (the serving one counts as -inf), best first
            filled = 0
            for j in range(kc):
                x = ninf if j == s else meas[j]
                if filled == k and not x > val[k - 1]:
                    continue
                pos = min(filled, k - 1)
                while pos > 0 and val[pos - 1] < x:
                    val[pos] = val[pos - 1]
                    idx[pos] = idx[pos - 1]
                    pos -= 1
                val[pos] = x
                idx[pos] = j
                filled = min(filled + 1, k)
            for j in range(k - 1):
                if val[j] == val[j + 1]:
                    bad = True
            if bad:
                flag[u] = True
                continue
            for j in range(k - 1):
                slot[j + 1] = idx[j]
                q[j + 1] = val[j]
        for j in range(k):
            v = np.float32(np.rint(np.float64(q[j])))  # 1 dB quantisation (round half to even, as np.round)
            if v < lo:
                continue  # below the reporting range: not reported (-1, NaN)
            v = min(max(v, np.float32(lo)), np.float32(hi))
            c = cand_ids[u, slot[j]]
            ids[u, j] = c
            att[u, j] = np.float32(p64[c] - np.float64(v))
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
    nb = rows // rows_per_block
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
def covered_counts(ids: np.ndarray, att: np.ndarray, p: np.ndarray, thr: float, rows_per_block: int, n: int,
                   todo: np.ndarray, num: np.ndarray) -> None:  # pragma: no cover - compiled
    """Covered MRs per antenna, ``incidence @ covered_mrs(...)`` of each block in ``todo``, written into ``num``.

    Args:
        ids: (rows, k) antenna ids in [0, n) of each block's MRs (-1 = empty).
        att: (rows, k) float32 attenuations [dB].
        p: (n_blocks · n,) powers [dBm] (antenna ``i`` of block ``b`` at ``b · n + i``).
        thr: coverage threshold [dBm], as float64 (an MR is covered when its best RSRP ``>= thr``).
        rows_per_block: MRs per block.
        n: antennas per block.
        todo: (n_blocks,) bool, the blocks to recount (the others' entries of ``num`` are left as they are).
        num: (n_blocks · n,) float64, updated in place.
    """
    rows, k = ids.shape
    nb = len(todo)
    p32 = p.astype(np.float32)
    for b in range(nb):
        if not todo[b]:
            continue
        base = b * n
        for i in range(n):
            num[base + i] = 0.0
        for r in range(b * rows_per_block, (b + 1) * rows_per_block):
            best = np.float32(-np.inf)
            nan = False
            for i in range(k):
                a = ids[r, i]
                if a < 0:
                    continue
                v = p32[base + a] - att[r, i]  # float32, as coverage.mr_rsrp
                if v != v:
                    nan = True
                elif v > best:
                    best = v
            if nan or not np.float64(best) >= thr:
                continue
            for i in range(k):
                a = ids[r, i]
                if a >= 0:
                    num[base + a] += 1.0
