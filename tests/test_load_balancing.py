"""Tests of CPICH load balancing (paper 001): coverage, MLP monotonicity, Jacobian, BDBA consensus, bad input."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp

from mndt_envs.baselines.load_balancing import (
    bdba_step,
    bfdba_step,
    estimate_jacobian,
    jacobian_diagonal,
    min_norm_solve,
)
from mndt_envs.config import ConfigError
from mndt_envs.tasks import coverage as cov
from mndt_envs.tasks.load_balancing import LoadBalancingConfig, target_busy_degree

# ----------------------------------------------------------------- a synthetic line network
X_CELLS = np.array([0.0, 1.0, 2.0, 3.0, 4.0])  # [km]


def line_mrs(n_users: int = 3000, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Users on a line, denser near the first cells; every MR lists all cells. Returns (ids, att)."""
    rng = np.random.default_rng(seed)
    x = np.concatenate([rng.uniform(-0.4, 1.5, n_users * 2 // 3), rng.uniform(1.5, 4.4, n_users - n_users * 2 // 3)])
    d = np.abs(x[:, None] - X_CELLS[None, :]) + 0.05
    att = (120.0 + 35.0 * np.log10(d)).astype(np.float32)  # path loss [dB]
    ids = np.broadcast_to(np.arange(len(X_CELLS)), att.shape).copy()
    # serving first (as in radio.measurement_reports): sort entries by RSRP at equal powers
    order = np.argsort(att, axis=1)
    return np.take_along_axis(ids, order, axis=1), np.take_along_axis(att, order, axis=1)


def busy(ids: np.ndarray, att: np.ndarray, p: np.ndarray, u_max: float) -> np.ndarray:
    r = cov.mr_rsrp(ids, att, p)
    serving = ids[np.arange(len(ids)), np.argmax(r, axis=1)]
    return np.bincount(serving, minlength=len(p)) / u_max


def ordered(ids: np.ndarray, att: np.ndarray, p: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """MR entries re-sorted so that the serving cell under ``p`` comes first; returns (ids, rsrp)."""
    r = cov.mr_rsrp(ids, att, p)
    o = np.argsort(-r, axis=1, kind="stable")
    return np.take_along_axis(ids, o, axis=1), np.take_along_axis(r, o, axis=1)


# ----------------------------------------------------------------- coverage from MRs
def test_coverage_hand_made_mrs_and_redundancy() -> None:
    ids = np.array([[0, 1], [0, 1], [1, 0], [0, 1], [2, -1], [-1, -1]])
    att = np.array([[100, 110], [100, 110], [110, 100], [105, 115], [90, np.nan], [np.nan, np.nan]], dtype=np.float32)
    p = np.array([0.0, 0.0, 0.0])
    # best RSRP: -100, -100, -100, -105, -90, none
    covd = cov.covered_mrs(ids, att, p, -102.0)
    assert covd.tolist() == [True, True, True, False, True, False]
    assert cov.coverage_from_mrs(ids, att, p, -102.0) == pytest.approx(4 / 6)
    # raising cell 0 by 3 dB covers the 4th MR
    assert cov.coverage_from_mrs(ids, att, np.array([3.0, 0.0, 0.0]), -102.0) == pytest.approx(5 / 6)
    # duplicates merge (rows 0, 1 and the reordered row 2 are the same MR) with weights; exact rate kept
    i2, a2, w = cov.remove_redundant_mrs(ids, att, dominated=False)
    assert w.sum() == len(ids) and len(i2) == 4
    assert cov.coverage_from_mrs(i2, a2, p, -102.0, w) == pytest.approx(4 / 6)
    # dominance: MR (100, 110) is entry-wise stronger than (105, 115) on the same antennas -> removed
    i3, a3, w3 = cov.remove_redundant_mrs(ids, att, dominated=True)
    assert len(i3) == 3
    assert not any((r[0] == 0 and r[1] == 1 and np.allclose(a, [100, 110])) for r, a in zip(i3, a3))


def test_neighbourhood_coverage_and_graph() -> None:
    ids = np.array([[0, 1], [1, 0], [2, -1]])
    att = np.array([[100, 104], [101, 103], [120, np.nan]], dtype=np.float32)
    adj = cov.neighbour_graph(ids, 4)
    assert adj[0, 1] and adj[1, 0] and not adj[0, 2] and adj.diagonal().sum() == 0
    nc = cov.neighbourhood_coverage(ids, att, np.zeros(4), -102.0)
    # antenna 0, 1 appear in MRs 0, 1 (both covered); antenna 2 in MR 2 (not covered); antenna 3: no MRs -> 1
    assert nc.tolist() == [1.0, 1.0, 0.0, 1.0]


def test_empty_mr_sets_are_handled() -> None:
    ids = np.zeros((0, 3), dtype=np.int64)
    att = np.zeros((0, 3), dtype=np.float32)
    assert cov.coverage_from_mrs(ids, att, np.zeros(3), -100.0) == 1.0
    assert cov.neighbourhood_coverage(ids, att, np.zeros(3), -100.0).tolist() == [1.0, 1.0, 1.0]
    assert estimate_jacobian(ids, att, 3).nnz == 0
    assert np.all(jacobian_diagonal(ids, att, 3) == 0)
    assert np.all(min_norm_solve(sp.csr_matrix((3, 3)), np.array([0.1, -0.1, 0.0])) == 0)
    i2, a2, w = cov.remove_redundant_mrs(ids, att)
    assert len(i2) == 0 and len(w) == 0
    with pytest.raises(ValueError, match="must both be"):
        cov.coverage_from_mrs(ids, np.zeros((2, 3)), np.zeros(3), -100.0)


# ----------------------------------------------------------------- monotone MLP
def test_mlp_is_monotone_in_every_input() -> None:
    torch = pytest.importorskip("torch")
    torch.set_num_threads(1)
    ids, att = line_mrs(600)
    ids, att = ids[:, :3], att[:, :3]
    n = len(X_CELLS)
    adj = cov.neighbour_graph(ids, n)
    lo, hi = np.full(n, 0.0), np.full(n, 20.0)
    model = cov.MonotoneCoverageMLP.fit(ids, att, adj, lo, hi, -100.0, np.random.default_rng(0), n_samples=64, hidden=8,
                                        epochs=80)
    rng = np.random.default_rng(1)
    ps = rng.uniform(lo, hi, (64, n))
    base = model.predict(ps)  # (64, n)
    assert base.shape == (64, n) and np.all((base >= 0) & (base <= 1))
    for j in range(n):
        up = ps.copy()
        up[:, j] += 2.0
        assert np.all(model.predict(up) >= base - 1e-6), f"prediction decreased when raising input {j}"
    # and it learned something: better than predicting the mean
    y = np.stack([cov.neighbourhood_coverage(ids, att, p, -100.0) for p in ps])
    assert np.mean((base - y) ** 2) < np.var(y) + 1e-9


# ----------------------------------------------------------------- minimum coverage powers
@pytest.mark.parametrize("parallel", [True, False])
def test_min_coverage_powers_meets_requirement(parallel: bool) -> None:
    ids, att = line_mrs(800)
    n = len(X_CELLS)
    adj = cov.neighbour_graph(ids[:, :3], n)
    inc = cov.incidence(ids[:, :3], n)

    def exact(p: np.ndarray) -> np.ndarray:
        return cov.neighbourhood_coverage(ids[:, :3], att[:, :3], p, -120.0, inc)

    lo, hi = np.full(n, -10.0), np.full(n, 20.0)
    assert exact(lo).min() < 0.95 <= exact(hi).min()
    p_min, ok = cov.min_coverage_powers(lo, hi, exact, adj, 0.95, 1.0, parallel=parallel)
    assert ok.all() and np.all(exact(p_min) >= 0.95)
    assert np.all((p_min >= lo) & (p_min <= hi)) and np.any(p_min < hi)


def test_min_coverage_powers_disconnected_graph_and_bad_bounds() -> None:
    # two islands (0-1 and 2-3) and an isolated antenna 4 without MRs
    ids = np.array([[0, 1]] * 5 + [[2, 3]] * 5)
    att = np.array([[100, 104]] * 5 + [[110, 112]] * 5, dtype=np.float32)
    adj = cov.neighbour_graph(ids, 5)
    assert adj[4].nnz == 0

    def exact(p: np.ndarray) -> np.ndarray:
        return cov.neighbourhood_coverage(ids, att, p, -100.0)

    p_min, ok = cov.min_coverage_powers(np.zeros(5), np.full(5, 20.0), exact, adj, 0.9)
    assert ok.all() and p_min[4] == 0.0 and p_min[0] >= 0.0 and max(p_min[2], p_min[3]) >= 10.0
    with pytest.raises(ValueError, match="p_min > p_max"):
        cov.min_coverage_powers(np.full(5, 5.0), np.zeros(5), exact, adj, 0.9)


# ----------------------------------------------------------------- Jacobian
def test_jacobian_sign_structure_laplacian_and_finite_difference() -> None:
    ids, att = line_mrs(3000)
    n, u_max = len(X_CELLS), 600.0
    p = np.zeros(n)
    oi, r = ordered(ids, att, p)
    jac = estimate_jacobian(oi[:, :4], r[:, :4], n, delta_db=1.0, u_max=u_max).toarray()
    off = jac[~np.eye(n, dtype=bool)]
    assert np.all(np.diag(jac) >= 0) and np.all(off <= 0)
    assert np.allclose(jac.sum(axis=0), 0.0, atol=1e-12)  # columns sum to zero (Lemma 5.1)
    assert np.allclose(np.diag(jac), jacobian_diagonal(oi[:, :4], r[:, :4], n, 1.0, u_max))
    assert jac[0, 4] == 0 and jac[0, 1] < 0  # only neighbours couple
    # agrees with a central finite difference of the true busy degrees
    fd = np.zeros((n, n))
    for j in range(n):
        e = np.zeros(n)
        e[j] = 1.0
        fd[:, j] = (busy(ids, att, p + e, u_max) - busy(ids, att, p - e, u_max)) / 2.0
    assert np.allclose(jac, fd, atol=0.02)
    # sampling S MRs per antenna gives an unbiased, similar estimate
    js = estimate_jacobian(oi[:, :4], r[:, :4], n, 1.0, u_max, samples_per_antenna=300,
                           rng=np.random.default_rng(0)).toarray()
    assert np.allclose(js.sum(axis=0), 0.0, atol=1e-12) and np.abs(js - jac).max() < 0.02


# ----------------------------------------------------------------- BDBA / BFDBA consensus
@pytest.mark.parametrize("algo", ["bdba", "bfdba"])
def test_busy_degrees_converge_on_static_traffic(algo: str) -> None:
    ids, att = line_mrs(3000)
    n, u_max = len(X_CELLS), 600.0
    p = np.zeros(n)
    lo, hi = np.full(n, -20.0), np.full(n, 20.0)
    b0 = busy(ids, att, p, u_max)
    stds = [np.std(b0)]
    for _ in range(25):
        b = busy(ids, att, p, u_max)
        oi, r = ordered(ids, att, p)
        if algo == "bdba":
            jac = estimate_jacobian(oi[:, :4], r[:, :4], n, 1.0, u_max)
            p = bdba_step(p, b, jac, lo, hi, alpha=0.5)
        else:
            d = jacobian_diagonal(oi[:, :4], r[:, :4], n, 1.0, u_max)
            p = bfdba_step(p, b, d, lo, hi, alpha=0.5, beta=0.01)
        stds.append(np.std(busy(ids, att, p, u_max)))
    assert stds[-1] < 0.25 * stds[0], stds
    b = busy(ids, att, p, u_max)
    assert np.abs(b - b.mean()).max() < 0.15  # consensus: every antenna near the mean


def test_targets_global_and_local() -> None:
    b = np.array([1.0, 0.0, 0.5, 0.5])
    assert np.allclose(target_busy_degree(b), 0.5)
    adj = sp.csr_matrix(np.array([[0, 1, 0, 0], [1, 0, 0, 0], [0, 0, 0, 0], [0, 0, 0, 0]], dtype=bool))
    assert np.allclose(target_busy_degree(b, "local", adj), [0.5, 0.5, 0.5, 0.5])
    with pytest.raises(ValueError):
        target_busy_degree(b, "local")


def test_solver_bad_input_and_disconnected_jacobian() -> None:
    # block-diagonal J (two islands) plus an isolated antenna: min-norm solution stays finite
    j = sp.block_diag([np.array([[0.1, -0.1], [-0.1, 0.1]]), np.array([[0.2, -0.2], [-0.2, 0.2]]),
                       np.zeros((1, 1))]).tocsr()
    r = np.array([0.1, -0.1, -0.05, 0.05, 0.0])
    for solver in ("pinv", "lsmr"):
        dp = min_norm_solve(j, r, solver, rcond=1e-6)
        assert np.all(np.isfinite(dp)) and dp[4] == 0 and np.allclose(j @ dp, r, atol=1e-6)
        assert abs(dp[0] + dp[1]) < 1e-6  # minimum norm: no component along the null space
    with pytest.raises(ValueError, match="finite"):
        min_norm_solve(j, np.array([np.nan, 0, 0, 0, 0]))
    with pytest.raises(ValueError, match="does not match"):
        min_norm_solve(j, np.zeros(3))
    with pytest.raises(ValueError, match="p_min > p_max"):
        bdba_step(np.zeros(5), np.zeros(5), j, np.ones(5), np.zeros(5))
    with pytest.raises(ValueError, match="alpha"):
        bfdba_step(np.zeros(5), np.zeros(5), np.ones(5), np.zeros(5), np.ones(5), alpha=0.0)


# ----------------------------------------------------------------- env and config
KW = {"scenario": "toy", "config": {"users": {"n_users": 300}, "task": {"episode_steps": 4}}}


def test_config_errors() -> None:
    with pytest.raises(ConfigError, match="p_min <= p_max"):
        LoadBalancingConfig(p_up_db=-5.0, p_down_db=2.0)
    with pytest.raises(ConfigError, match="task.target"):
        LoadBalancingConfig(target="nowhere")
    with pytest.raises(ConfigError, match="task.c_min"):
        LoadBalancingConfig(c_min=1.5)


def test_env_step_info_and_bad_actions() -> None:
    import gymnasium as gym

    import mndt_envs  # noqa: F401

    env = gym.make("mndt/LoadBalancing-v0", **KW)
    obs, _ = env.reset(seed=0)
    n = env.unwrapped.core.n
    assert env.observation_space.contains(obs) and obs.shape == (4 * n + 2,)
    with pytest.raises(ValueError, match="NaN"):
        env.step(np.full(n, np.nan, dtype=np.float32))
    with pytest.raises(ValueError, match="one per antenna"):
        env.step(np.zeros(n + 1, dtype=np.float32))
    core = env.unwrapped.core
    obs, r, term, trunc, info = env.step(np.full(n, 100.0, dtype=np.float32))  # clipped to max_step_db
    assert np.all(core.p <= core.p_max + 1e-9) and np.all(core.p - core.p_ref <= core.cfg.max_step_db + 1e-9)
    assert set(info["reward_terms"]) == {"std_busy", "over_busy"} and info["cost"] >= 0.0
    assert r == pytest.approx(sum(info["reward_terms"].values()))
    for _ in range(3):
        obs, r, term, trunc, info = env.step(np.zeros(n, dtype=np.float32))
    assert trunc and "episode_metrics" in info and info["episode_metrics"]["min_coverage"] <= 1.0


def test_bdba_reduces_imbalance_in_env() -> None:
    import copy

    import gymnasium as gym

    import mndt_envs  # noqa: F401
    from mndt_envs.baselines.load_balancing import BDBA, BFDBA, Static

    kw = {"scenario": "toy", "config": {"users": {"n_users": 1500}, "task": {"episode_steps": 6,
                                                                             "mobility": "static"}}}
    env0 = gym.make("mndt/LoadBalancing-v0", **kw)
    env0.reset(seed=3)
    res = {}
    for cls in (Static, BDBA, BFDBA):
        env = copy.deepcopy(env0)
        pol = cls(env)
        done = False
        while not done:
            _, _, te, tr, info = env.step(pol.predict(None)[0])
            done = te or tr
        res[cls.__name__] = info["std_busy"]
    assert res["BDBA"] < 0.85 * res["Static"] and res["BFDBA"] < 0.85 * res["Static"], res


def test_parallel_env_observations() -> None:
    from mndt_envs import parallel_env

    env = parallel_env("load_balancing_v0", **KW)
    obs, _ = env.reset(seed=0)
    m = env.core.cfg.max_neighbours
    a0 = env.possible_agents[0]
    assert obs[a0].shape == (6 + 3 * m,) and env.observation_space(a0).contains(obs[a0])
    with pytest.raises(ValueError, match="missing"):
        env.step({})
