"""The batched load-balancing reset's compiled kernels equal their numpy references exactly, ties included."""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp
from hypothesis import given, settings
from hypothesis import strategies as st

from mndt_envs.batched import kernels_lb
from mndt_envs.batched.load_balancing import _Replay, period_candidates, period_mrs
from mndt_envs.tasks import coverage as cov
from mndt_envs.tasks.load_balancing.periods import candidates, mrs_from


def _bits_equal(a: np.ndarray, b: np.ndarray) -> None:
    assert a.dtype == b.dtype and a.shape == b.shape
    np.testing.assert_array_equal(a.view(np.uint8), b.view(np.uint8))


def _rsrp(rng: np.random.Generator, n: int, users: int, tie_share: float) -> np.ndarray:
    """(n, users) float32 [dBm]: continuous values, a share of them rounded to a few dB (ties), a few -inf/NaN."""
    g = rng.normal(-95.0, 12.0, (n, users)).astype(np.float32)
    tie = rng.random((n, users)) < tie_share
    g[tie] = np.round(g[tie] / 4.0) * 4.0
    g[rng.random((n, users)) < 0.01] = -np.inf
    g[rng.random((n, users)) < 0.003] = np.nan
    return g


@settings(max_examples=60, deadline=None)
@given(st.integers(1, 12), st.integers(1, 14), st.integers(0, 60), st.floats(0.0, 1.0), st.integers(0, 2**31 - 1))
def test_candidates_equal_reference(n: int, k: int, users: int, tie_share: float, seed: int) -> None:
    rng = np.random.default_rng(seed)
    g = _rsrp(rng, n, users, tie_share)
    p_ref = rng.normal(18.0, 2.0, n)
    ids, att = period_candidates(p_ref, g, k)
    ref_ids, ref_att = candidates(p_ref, np.ascontiguousarray(g.T), min(k, n))
    _bits_equal(ids, ref_ids)
    _bits_equal(att, ref_att)


def test_candidate_kernel_flags_only_ties_and_nan() -> None:
    rng = np.random.default_rng(3)
    g = rng.normal(-95.0, 12.0, (21, 500)).astype(np.float32)  # distinct values: nothing to flag
    assert not kernels_lb.candidate_rows(g, np.zeros(21), 8)[2].any()
    g[:, 7] = np.round(g[:, 7])
    g[0, 7] = g[1, 7] = g[:, 7].max() + 1.0  # the strongest two tie
    g[3, 9] = np.nan
    assert np.flatnonzero(kernels_lb.candidate_rows(g, np.zeros(21), 8)[2]).tolist() == [7, 9]


@settings(max_examples=60, deadline=None)
@given(st.integers(1, 9), st.integers(1, 8), st.integers(0, 60), st.sampled_from([0.0, 0.5, 2.0]),
       st.floats(0.0, 1.0), st.integers(0, 2**31 - 1))
def test_mrs_equal_reference(kc: int, k_mr: int, users: int, noise_db: float, tie_share: float, seed: int) -> None:
    rng = np.random.default_rng(seed)
    n = kc + 3
    g = _rsrp(rng, n, users, tie_share)
    g[rng.random((n, users)) < 0.05] = -170.0  # below the reporting range
    p = rng.normal(18.0, 2.0, n)
    with np.errstate(invalid="ignore"):
        ids, att = candidates(p, np.ascontiguousarray(g.T), kc)
    noise = rng.normal(0.0, noise_db, (users, kc)) if noise_db > 0 else np.zeros((users, kc))
    tie = rng.random((users, kc)) < tie_share
    noise[tie] = np.round(noise[tie])  # integer noise on integer RSRPs: tied measurements
    got = period_mrs(ids, att, p, k_mr, noise_db, noise)
    ref = mrs_from(ids, att, p, k_mr, noise_db, _Replay(noise))  # type: ignore[arg-type]
    for a, b in zip(got, ref):
        _bits_equal(a, b)


@settings(max_examples=40, deadline=None)
@given(st.integers(1, 6), st.integers(1, 7), st.integers(1, 12), st.integers(1, 5), st.integers(0, 2**31 - 1))
def test_pair_counts_equal_reference(n_blocks: int, per_block: int, n: int, k: int, seed: int) -> None:
    rng = np.random.default_rng(seed)
    ids = rng.integers(-1, n, (n_blocks * per_block, k))  # repeats within an MR included
    cnt, tot = kernels_lb.pair_counts(ids, per_block, n)
    block = np.repeat(np.arange(n_blocks), per_block)[:, None]
    uid = np.where(ids >= 0, ids + block * n, -1)
    ii, jj = np.triu_indices(k, 1)
    a, b = uid[:, ii].ravel(), uid[:, jj].ravel()
    ok = (a >= 0) & (b >= 0) & (a != b)
    ref = np.bincount(a[ok] * n + b[ok] % n, minlength=n_blocks * n * n).reshape(n_blocks, n, n).astype(np.float64)
    _bits_equal(cnt, ref + ref.transpose(0, 2, 1))
    inc = cov.incidence(uid, n_blocks * n)
    _bits_equal(tot, np.asarray(inc.sum(axis=1)).ravel())


@settings(max_examples=40, deadline=None)
@given(st.integers(1, 6), st.integers(1, 7), st.integers(1, 12), st.integers(1, 5), st.integers(0, 2**31 - 1))
def test_block_coverage_equals_neighbourhood_coverage(n_blocks: int, per_block: int, n: int, k: int,
                                                      seed: int) -> None:
    rng = np.random.default_rng(seed)
    ids = rng.integers(-1, n, (n_blocks * per_block, k))  # repeats within an MR included
    att = np.round(rng.normal(120.0, 8.0, ids.shape)).astype(np.float32)  # whole dB: RSRPs on the threshold
    att[rng.random(ids.shape) < 0.05] = np.nan
    p = np.round(rng.normal(15.0, 3.0, n_blocks * n) * 2.0) / 2.0
    thr = -105.0
    block = np.repeat(np.arange(n_blocks), per_block)[:, None]
    uid = np.where(ids >= 0, ids + block * n, -1)
    with np.errstate(invalid="ignore"):
        ref = cov.neighbourhood_coverage(uid, att, p, thr)
    _, tot = kernels_lb.pair_counts(ids, per_block, n)
    _bits_equal(kernels_lb.block_coverage(ids, att, p, thr, per_block, tot), ref)


@settings(max_examples=80, deadline=None)
@given(st.integers(1, 5), st.integers(1, 30), st.integers(2, 9), st.integers(2, 5), st.sampled_from([0.5, 1.0, 3.0]),
       st.integers(0, 2**31 - 1))
def test_block_min_powers_equal_min_coverage_powers(n_blocks: int, per_block: int, n: int, k: int, eps: float,
                                                    seed: int) -> None:
    rng = np.random.default_rng(seed)
    k = min(k, n)
    ids = np.stack([rng.permutation(n)[:k] for _ in range(n_blocks * per_block)]).reshape(-1, k)
    ids[rng.random(ids.shape) < 0.1] = -1
    att = np.round(rng.normal(122.0, 6.0, ids.shape)).astype(np.float32)  # whole dB: coverage ties
    att[ids < 0] = np.nan
    nt = n_blocks * n
    p_lo = np.round(rng.uniform(5.0, 15.0, nt))
    p_hi = np.where(rng.random(nt) < 0.3, p_lo, p_lo + np.round(rng.uniform(0.0, 12.0, nt)))  # some stuck at p_lo
    req = np.minimum(rng.choice([0.5, 0.8, 0.95, 1.0], nt), rng.random(nt) + 0.3)
    thr = -105.0
    cnt, tot = kernels_lb.pair_counts(ids, per_block, n)
    block = np.repeat(np.arange(n_blocks), per_block)[:, None]
    uid = np.where(ids >= 0, ids + block * n, -1)
    inc = cov.incidence(uid, nt)
    b, i, j = np.nonzero(cnt > 0)
    adj = sp.csr_matrix((np.ones(len(b), dtype=bool), (b * n + i, b * n + j)), shape=(nt, nt))

    def exact(p: np.ndarray) -> np.ndarray:
        return cov.neighbourhood_coverage(uid, att, p, thr, inc)

    ref_p, ref_ok = cov.min_coverage_powers(p_lo, p_hi, exact, adj, req, eps)
    got_p, got_ok = kernels_lb.block_min_powers(ids, att, per_block, cnt, tot, p_lo, p_hi, req, eps, thr, 10_000)
    _bits_equal(got_p, ref_p)
    _bits_equal(got_ok, ref_ok)
    for cap in (0, 1, 3):  # the iteration cap cuts every block where the union's run is cut
        ref_p, ref_ok = cov.min_coverage_powers(p_lo, p_hi, exact, adj, req, eps, max_iter=cap)
        got_p, got_ok = kernels_lb.block_min_powers(ids, att, per_block, cnt, tot, p_lo, p_hi, req, eps, thr, cap)
        _bits_equal(got_p, ref_p)
        _bits_equal(got_ok, ref_ok)


def test_weighted_row_sums_equals_the_column_by_column_sum() -> None:
    rng = np.random.default_rng(5)
    a = (rng.random((3, 7, 7)) < 0.4) + np.eye(7)[None]
    b = rng.random((3, 7)) * 1e3
    ref = np.zeros_like(b)
    for j in range(7):  # the order of a CSR row sum
        ref += a[:, :, j] * b[:, None, j]
    np.testing.assert_array_equal(kernels_lb.weighted_row_sums(a, b), ref)
