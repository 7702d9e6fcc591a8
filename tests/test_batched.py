"""Batched task cores: episode i of a batch seeded s is the single env seeded s + i; errors; backends."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import mndt_envs  # noqa: F401
from mndt_envs.batched.cell_sleep import BatchedCellSleepCore
from mndt_envs.batched.common import check_rows, episode_seeds
from mndt_envs.batched.load_balancing import BatchedLoadBalancingCore
from mndt_envs.batched.resource_allocation import BatchedResourceAllocationCore
from mndt_envs.batched.xp import get_namespace
from mndt_envs.config import ConfigError
from mndt_envs.tasks.resource_allocation.allocation import group_rank

CS_CFG = {"task": {"episode_steps": 5}}
RA_SMALL = {"users": {"n_users": 30}, "task": {"episode_steps": 4}}  # exact (Hungarian) association
RA_MID = {"users": {"n_users": 120}, "task": {"episode_steps": 4}}  # deferred acceptance over all episodes
LB_CFG = {"task": {"episode_steps": 4}}


def _has_torch() -> bool:
    try:
        import torch  # noqa: F401
    except ImportError:
        return False
    return True


# ---------------------------------------------------------------------- seeding helpers
def test_episode_seeds_follow_gymnasium() -> None:
    assert episode_seeds(7, 3) == [7, 8, 9]
    assert episode_seeds([1, 5], 2) == [1, 5]
    fresh = episode_seeds(None, 4)
    assert len(set(fresh)) == 4 and all(s >= 0 for s in fresh)
    with pytest.raises(ValueError, match="3 seeds given for 2"):
        episode_seeds([1, 2, 3], 2)
    with pytest.raises(ValueError, match="non-negative"):
        episode_seeds(-1, 2)


def test_check_rows() -> None:
    assert check_rows(None, 3).all()
    assert check_rows([0, 2], 3).tolist() == [True, False, True]
    with pytest.raises(ValueError, match=r"indices in \[0, 3\)"):
        check_rows([3], 3)
    with pytest.raises(ValueError, match="shape"):
        check_rows(np.ones(2, dtype=bool), 3)


@settings(max_examples=40, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 4), st.floats(-10, 10)), min_size=1, max_size=40))
def test_group_rank_is_rank_by_descending_key(items: list[tuple[int, float]]) -> None:
    group = np.array([g for g, _ in items])
    key = np.array([k for _, k in items])
    rank = group_rank(group, key)
    for g in np.unique(group):
        idx = np.flatnonzero(group == g)
        order = sorted(idx, key=lambda i: (-key[i], i))  # descending key, ties by index
        assert [int(rank[i]) for i in order] == list(range(len(idx)))


# ---------------------------------------------------------------------- cell sleep
def _cs_compare(n: int, member: int, backend: str = "numpy") -> None:
    env = gym.make("mndt/CellSleep-v0", scenario="toy", config=CS_CFG)
    obs, _ = env.reset(seed=10 + member)
    core = BatchedCellSleepCore(n, "toy", CS_CFG, backend=backend)
    core.reset(seed=10)
    xp = core.xp
    rng = np.random.default_rng(0)
    for t in range(12):  # through two episode ends (5 steps each) and autoresets
        np.testing.assert_allclose(xp.to_numpy(core.observation())[member], obs["observation"], atol=1e-5, rtol=0)
        assert (xp.to_numpy(core.action_masks())[member].reshape(-1) == obs["action_mask"]).all(), t
        acts = rng.integers(0, 3, (n, core.n_cells))
        obs, r, _, trunc, info = env.step(acts[member])
        res = core.step(acts)
        assert float(xp.to_numpy(res.reward)[member]) == pytest.approx(r, rel=1e-9, abs=0)
        np.testing.assert_allclose(xp.to_numpy(res.agent_rewards)[member], info["agent_rewards"], rtol=1e-9, atol=1e-12)
        assert float(xp.to_numpy(res.cost)[member]) == pytest.approx(info["cost"], rel=1e-9, abs=1e-15)
        assert float(xp.to_numpy(res.kpis["illegal_actions"])[member]) == info["illegal_actions"]
        assert bool(xp.to_numpy(res.truncated)[member]) == trunc
        if trunc:
            for k, v in info["episode_metrics"].items():
                assert float(xp.to_numpy(res.episode[k])[member]) == pytest.approx(v, rel=1e-9), k
            obs, _ = env.reset()
            core.reset(rows=xp.to_numpy(res.truncated))


def test_cell_sleep_n1_equals_single_env() -> None:
    _cs_compare(1, 0)


def test_cell_sleep_member_of_8_equals_single_env() -> None:
    _cs_compare(8, 6)


@pytest.mark.skipif(not _has_torch(), reason="torch not installed")
def test_cell_sleep_torch_cpu_equals_single_env() -> None:
    _cs_compare(3, 2, backend="torch")


def test_cell_sleep_inactive_rows_keep_state_and_draw_nothing() -> None:
    core = BatchedCellSleepCore(3, "toy", CS_CFG)
    core.reset(seed=1)
    before = core.observation().copy(), core.status.copy()
    state = core.rngs[1].bit_generator.state
    acts = np.full((3, core.n_cells), 1)
    core.step(acts, active=np.array([True, False, True]))
    assert core.rngs[1].bit_generator.state == state
    np.testing.assert_array_equal(core.status[1], before[1][1])
    assert core.t.tolist() == [1, 0, 1]


def test_cell_sleep_bad_actions() -> None:
    core = BatchedCellSleepCore(2, "toy", CS_CFG)
    core.reset(seed=0)
    with pytest.raises(ValueError, match=r"expected shape \(2, 21\)"):
        core.step(np.zeros((1, core.n_cells), dtype=int))
    with pytest.raises(ValueError, match=r"actions\[1, 0\] = 3: allowed values are 0 \(on\), 1 \(sleep\), 2 \(off\)"):
        a = np.zeros((2, core.n_cells), dtype=int)
        a[1, 0] = 3
        core.step(a)
    with pytest.raises(ValueError, match="n_envs = 0"):
        BatchedCellSleepCore(0, "toy")
    with pytest.raises(ConfigError, match="'diurnal' only"):
        BatchedCellSleepCore(2, "toy", {"task": {"demand_source": "lstm"}})
    with pytest.raises(ValueError, match="backend = 'jax'"):
        BatchedCellSleepCore(2, "toy", backend="jax")


# ---------------------------------------------------------------------- resource allocation
def _ra_compare(cfg: dict, n: int, member: int) -> None:
    env = gym.make("mndt/ResourceAllocation-v0", scenario="toy", config=cfg)
    obs, _ = env.reset(seed=20 + member)
    core = BatchedResourceAllocationCore(n, "toy", cfg, rb_solver="exact")
    core.reset(seed=20)
    rng = np.random.default_rng(0)
    for t in range(9):  # two episode ends (4 steps) and autoresets
        bo = core.observation()
        for k, v in obs.items():
            np.testing.assert_array_equal(bo[k][member], v, err_msg=f"step {t}: {k}")
        acts = (rng.random((n, core.n_users)) * (rng.random((n, core.n_users)) < 0.8)).astype(np.float32)
        obs, r, term, _, info = env.step(acts[member])
        res = core.step(acts)
        assert res.reward[member] == r, t  # bit-identical
        assert res.cost[member] == info["cost"], t
        assert res.kpis["satisfaction_ratio"][member] == info["satisfaction_ratio"]
        np.testing.assert_array_equal(core.serving[member], env.unwrapped.core.serving)
        assert bool(res.terminated[member]) == term
        if term:
            for k, v in info["episode_metrics"].items():
                assert res.episode[k][member] == v, k
            obs, _ = env.reset()
            core.reset(rows=res.terminated)


def test_resource_allocation_n1_equals_single_env_exact_matching() -> None:
    _ra_compare(RA_SMALL, 1, 0)


def test_resource_allocation_member_of_8_equals_single_env_deferred_acceptance() -> None:
    _ra_compare(RA_MID, 8, 5)


def test_resource_allocation_waterfill_rician_member_equals_single_env() -> None:
    cfg = {"users": {"n_users": 60}, "task": {"episode_steps": 4, "power_split": "waterfill"},
           "channel": {"fading": "rician"}}
    _ra_compare(cfg, 3, 1)


def test_resource_allocation_fast_solver_is_feasible() -> None:
    core = BatchedResourceAllocationCore(4, "toy", RA_MID, rb_solver="fast")
    core.reset(seed=3)
    rng = np.random.default_rng(1)
    for _ in range(3):
        res = core.step(rng.random((4, core.n_users)))
        assert np.all(res.reward >= 0) and np.all(res.cost >= 0)
        rb, serving = core.last_rb, core.serving
        for e in range(4):
            on = serving[e] >= 0
            assert np.all(rb[e][on] >= 0) and np.all(rb[e][on] < core.n_rb)
            pairs = serving[e][on] * core.n_rb + rb[e][on]
            assert len(np.unique(pairs)) == on.sum(), "an RB of a BS serves at most one user"
            assert np.bincount(serving[e][on], minlength=core.n_cells).max() <= core.cap
            power = np.bincount(serving[e][on], weights=core.last_power[e][on], minlength=core.n_cells)
            assert np.all(power <= core.p_max * (1 + 1e-9)), "sum of powers <= P_max per BS"


@pytest.mark.parametrize("solver", ["fast", "exact"])
def test_resource_allocation_threads_do_not_change_results(solver: str) -> None:
    """Episodes never interact: the runs stepped by worker threads give the one-thread rollouts bit for bit."""
    cores = [BatchedResourceAllocationCore(7, "toy", RA_MID, rb_solver=solver, threads=t) for t in (1, 3)]
    for core in cores:
        core.reset(seed=4)
    rng = np.random.default_rng(2)
    for t in range(6):  # an episode end (4 steps) and partial resets
        acts = rng.random((7, cores[0].n_users))
        active = rng.random(7) < 0.8
        res = [core.step(acts, active) for core in cores]
        np.testing.assert_array_equal(res[0].reward, res[1].reward, err_msg=f"step {t}")
        for name in ("serving", "remaining", "glin", "rate_est"):
            np.testing.assert_array_equal(getattr(cores[0], name), getattr(cores[1], name), err_msg=name)
        np.testing.assert_array_equal(cores[0].last_rb, cores[1].last_rb)
        for core, r in zip(cores, res):
            core.reset(rows=r.terminated)
    cores[1].close()


def test_resource_allocation_errors() -> None:
    with pytest.raises(ConfigError, match="'direct'"):
        BatchedResourceAllocationCore(2, "toy", {"task": {"action_mode": "direct"}, "users": {"n_users": 10}})
    with pytest.raises(ValueError, match="'numpy' only"):
        BatchedResourceAllocationCore(2, "toy", backend="torch")
    with pytest.raises(ValueError, match="rb_solver = 'greedy'"):
        BatchedResourceAllocationCore(2, "toy", rb_solver="greedy")
    with pytest.raises(ValueError, match="threads = 0"):
        BatchedResourceAllocationCore(2, "toy", threads=0)
    core = BatchedResourceAllocationCore(2, "toy", RA_SMALL)
    core.reset(seed=0)
    with pytest.raises(ValueError, match=r"out of bounds; allowed range \[0.0, 1.0\]"):
        core.step(np.full((2, 30), 1.5))
    with pytest.raises(ValueError, match=r"shape \(30,\), expected \(2, 30\)"):
        core.step(np.zeros(30))


# ---------------------------------------------------------------------- load balancing
def _lb_compare(n: int, member: int, backend: str = "numpy", cfg: dict | None = None) -> None:
    cfg = LB_CFG if cfg is None else cfg
    env = gym.make("mndt/LoadBalancing-v0", scenario="toy", config=cfg)
    obs, _ = env.reset(seed=30 + member)
    core = BatchedLoadBalancingCore(n, "toy", cfg, backend=backend)
    core.reset(seed=30)
    rng = np.random.default_rng(0)
    for t in range(9):
        o = np.clip(core.global_obs()[member], env.observation_space.low, env.observation_space.high)
        np.testing.assert_array_equal(o, obs, err_msg=f"step {t}")
        acts = rng.uniform(-3.0, 3.0, (n, core.n)).astype(np.float32)
        obs, r, _, trunc, info = env.step(acts[member])
        res = core.step(acts)
        assert res.reward[member] == r and res.cost[member] == info["cost"], t
        np.testing.assert_array_equal(res.kpis["p_dbm"][member], info["p_dbm"])
        assert bool(res.truncated[member]) == trunc
        if trunc:
            for k, v in info["episode_metrics"].items():
                assert res.episode[k][member] == v, k
            obs, _ = env.reset()
            core.reset(rows=res.truncated)


def test_load_balancing_n1_equals_single_env() -> None:
    _lb_compare(1, 0)


def test_load_balancing_member_of_8_equals_single_env() -> None:
    _lb_compare(8, 3)


def test_load_balancing_local_target_member_equals_single_env() -> None:
    _lb_compare(3, 2, cfg={"task": {"episode_steps": 4, "target": "local", "n_candidates": 4}})


@pytest.mark.skipif(not _has_torch(), reason="torch not installed")
def test_load_balancing_torch_cpu_equals_single_env() -> None:
    _lb_compare(2, 1, backend="torch")


def test_load_balancing_errors() -> None:
    with pytest.raises(ConfigError, match="'mlp'"):
        BatchedLoadBalancingCore(2, "toy", {"task": {"pmin_method": "mlp"}})
    core = BatchedLoadBalancingCore(2, "toy", LB_CFG)
    core.reset(seed=0)
    with pytest.raises(ValueError, match="NaN/inf at episode 1, antenna 4"):
        a = np.zeros((2, core.n))
        a[1, 4] = np.nan
        core.step(a)


# ---------------------------------------------------------------------- array namespace
@pytest.mark.skipif(not _has_torch(), reason="torch not installed")
def test_segment_sum_same_on_numpy_and_torch() -> None:
    rng = np.random.default_rng(0)
    idx = rng.integers(-1, 6, (4, 50))
    vals = rng.random((4, 50))
    xn, xt = get_namespace("numpy"), get_namespace("torch", "cpu")
    idx5 = np.where(idx == 5, -1, idx)  # out-of-range bins are ignored
    ref5 = np.stack([np.bincount(i[i >= 0], weights=v[i >= 0], minlength=5) for i, v in zip(idx5, vals)])
    np.testing.assert_allclose(xn.segment_sum(vals, idx, 5), ref5)
    np.testing.assert_allclose(xt.to_numpy(xt.segment_sum(xt.asarray(vals), xt.asarray(idx), 5)), ref5)
    with pytest.raises(ValueError, match="numpy backend runs on 'cpu' only"):
        get_namespace("numpy", "cuda")
