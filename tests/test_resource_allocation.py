"""Tests of the resource-allocation task (SPEC §3): constraints, repairs, arithmetic, matching, bad input."""

from __future__ import annotations

import itertools

import gymnasium as gym
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import mndt_envs  # noqa: F401 - registers the ids
from mndt_envs.baselines.resource_allocation import EqualDividing, IgnoreDemands, NearestRandomFair
from mndt_envs.config import ConfigError
from mndt_envs.parallel.resource_allocation import ResourceAllocationParallelEnv
from mndt_envs.tasks.resource_allocation import Allocation, ResourceAllocationCore
from mndt_envs.tasks.resource_allocation.allocation import group_rank
from mndt_envs.tasks.resource_allocation.matching import deferred_acceptance
from mndt_envs.wrappers.cost import CostAsTuple

ENV_ID = "mndt/ResourceAllocation-v0"
SMALL = {"users": {"n_users": 60}, "task": {"k_max": 3, "episode_steps": 5}}


def small(mode: str = "demand", **task: object) -> gym.Env:
    cfg = {"users": {"n_users": 60}, "task": {"k_max": 3, "episode_steps": 5, "action_mode": mode, **task}}
    return gym.make(ENV_ID, scenario="toy", config=cfg)


def check_constraints(core: ResourceAllocationCore, alloc: Allocation) -> None:
    on = alloc.serving >= 0
    assert alloc.serving.shape == alloc.rb.shape == (core.n_users,)  # one BS and one RB per user
    assert np.all(alloc.rb[on] >= 0) and np.all(alloc.rb[on] < core.n_rb)
    assert np.all(alloc.power_w[~on] == 0)
    counts = np.bincount(alloc.serving[on], minlength=core.n_cells)
    assert counts.max(initial=0) <= core.k_max  # K_max users per BS
    pairs = alloc.serving[on] * core.n_rb + alloc.rb[on]
    assert len(np.unique(pairs)) == len(pairs)  # one user per RB of a BS
    p = np.bincount(alloc.serving[on], weights=alloc.power_w[on], minlength=core.n_cells)
    assert np.all(p <= core.p_max * (1 + 1e-9))  # sum of powers <= P_max


@pytest.mark.parametrize("mode", ["demand", "direct"])
def test_constraints_hold_for_random_actions(mode: str) -> None:
    env = small(mode)
    env.reset(seed=1)
    env.action_space.seed(1)
    core = env.unwrapped.core
    for _ in range(5):
        _, _, term, _, info = env.step(env.action_space.sample())
        assert core.last_alloc is not None
        check_constraints(core, core.last_alloc)
        assert {"k_max", "rb_moved", "rb_dropped", "power_scaled"} <= set(info["repairs"])
    assert term and "episode_metrics" in info


@pytest.mark.parametrize("policy", [EqualDividing, IgnoreDemands, NearestRandomFair])
def test_constraints_hold_for_baselines(policy: type) -> None:
    env = small("demand")
    obs, _ = env.reset(seed=2)
    pol = policy(env)
    core = env.unwrapped.core
    done = False
    while not done:
        act, _ = pol.predict(obs)
        obs, _, done, _, info = env.step(act)
        check_constraints(core, core.last_alloc)
    assert 0.0 <= info["episode_metrics"]["satisfaction_ratio"] <= 1.0


def test_direct_mode_reproduces_demand_matching() -> None:
    a, b = small("demand"), small("direct")
    a.reset(seed=3)
    b.reset(seed=3)
    pa, pb = EqualDividing(a), EqualDividing(b)
    ia = a.step(pa.predict(None)[0])[4]
    ib = b.step(pb.predict(None)[0])[4]
    assert ia["throughput_bw"] == pytest.approx(ib["throughput_bw"], rel=1e-6)


def test_parallel_env_constraints() -> None:
    env = ResourceAllocationParallelEnv("toy", SMALL)
    env.reset(seed=0)
    for a in env.possible_agents:
        env.action_space(a).seed(0)
    while env.agents:
        acts = {a: env.action_space(a).sample() for a in env.agents}
        _, rew, _, _, infos = env.step(acts)
        check_constraints(env.core, env.core.last_alloc)
        assert set(rew) == set(infos) and all("cost" in i for i in infos.values())


def test_repair_rules_counted() -> None:
    env = small("direct")
    env.reset(seed=4)
    core = env.unwrapped.core
    n = core.n_users
    best = core.cand[0].copy()
    act = {"association": np.zeros(n, dtype=np.int64), "rb": np.zeros(n, dtype=np.int64),
           "power": np.ones(n, dtype=np.float32)}
    _, _, _, _, info = env.step(act)
    counts = np.bincount(best, minlength=core.n_cells)
    kept = np.minimum(counts, core.k_max)
    rep = info["repairs"]
    assert rep["k_max"] == int(np.maximum(counts - core.k_max, 0).sum()) > 0
    assert rep["rb_moved"] == int(np.maximum(kept - 1, 0).sum()) > 0  # all but one move off RB 0
    assert rep["rb_dropped"] == 0
    assert rep["power_scaled"] == int((kept > 1).sum())  # shares of 1 each sum above 1
    assert info["n_repairs"] == sum(rep.values())
    check_constraints(core, core.last_alloc)


def test_satisfaction_arithmetic() -> None:
    env = small("demand")
    env.reset(seed=5)
    core = env.unwrapped.core
    total = core.total.copy()
    assert np.all(total >= 0) and np.all(total <= core.max_demand_bits)
    assert np.array_equal(total, core.twin.demand_model.total)
    pol = IgnoreDemands(env)
    done, sat_prev, thr_sum = False, np.zeros(core.n_users), 0.0
    while not done:
        rem_before = core.remaining.copy()
        _, r, done, _, info = env.step(pol.predict(None)[0])
        thr = core.rate * core.cfg.step_s
        step_sat = core.satisfied - sat_prev
        np.testing.assert_allclose(step_sat, np.minimum(rem_before, thr))
        sat_prev = core.satisfied.copy()
        thr_sum += info["throughput_bw"]
        assert info["throughput_bw"] == pytest.approx(thr.sum() / core.bw)
        assert r == pytest.approx(thr.sum() / core.bw / (core.n_users * core.cfg.step_s))
    m = info["episode_metrics"]
    np.testing.assert_allclose(core.satisfied + core.remaining, total)
    assert m["satisfaction_ratio"] == pytest.approx(core.satisfied.sum() / total.sum())
    assert m["throughput_bw"] == pytest.approx(thr_sum)
    # last-step cost is the unmet remainder, as a share of the total demand
    assert info["cost"] == pytest.approx(core.remaining.sum() / total.sum())


def test_matching_is_optimal_on_a_tiny_case() -> None:
    cfg = {"sites": {"n_sites": 1, "sectors": 3}, "users": {"n_users": 6}, "radio": {"n_rb": 2},
           "task": {"k_max": 2, "n_candidates": 3}}
    core = ResourceAllocationCore("toy", cfg)
    rng = np.random.default_rng(0)
    for trial in range(3):
        core.reset(np.random.default_rng(trial))
        req = rng.uniform(0, core.rate_est.max(), core.n_users)
        w = np.minimum(core.rate_est, req[None, :]) + core.cfg.rate_weight * core.rate_est
        held = core.match_exact(w)
        got = sum(w[h, u] for u, h in enumerate(held) if h >= 0)
        best = 0.0
        for choice in itertools.product(range(-1, core.k), repeat=core.n_users):
            cells = [core.cand[h, u] for u, h in enumerate(choice) if h >= 0]
            if cells and np.bincount(cells).max() > core.cap:
                continue
            best = max(best, sum(w[h, u] for u, h in enumerate(choice) if h >= 0))
        assert got == pytest.approx(best, rel=1e-9)
        alloc = core.match(req, np.ones(core.n_users, dtype=bool))
        check_constraints(core, alloc)


def _deferred_acceptance_reference(w: np.ndarray, cell_of: np.ndarray, cap: int) -> np.ndarray:
    """The rounds of capacitated deferred acceptance in numpy (the statement the compiled pass is checked against)."""
    k, u = w.shape
    users = np.arange(u)
    pref = np.argsort(-w, axis=0, kind="stable")  # (k, n_users)
    nxt = np.zeros(u, dtype=np.int64)
    held = np.full(u, -1, dtype=np.int64)
    for _ in range(4 * k + 4):
        prop = (held < 0) & (nxt < k)
        if prop.any():
            prop &= np.isfinite(w[pref[np.minimum(nxt, k - 1), users], users])
        if not prop.any():
            break
        pu = np.flatnonzero(prop)
        held[pu] = pref[nxt[pu], pu]
        nxt[pu] += 1
        pool = np.flatnonzero(held >= 0)
        cell = cell_of[held[pool], pool]
        rank = group_rank(cell, w[held[pool], pool])  # descending weight, ties by lower user index
        held[pool[rank >= cap]] = -1
    return held


@settings(max_examples=80, deadline=None)
@given(st.integers(1, 4), st.integers(1, 40), st.integers(1, 6), st.integers(1, 5), st.integers(0, 2**31 - 1))
def test_deferred_acceptance_equals_numpy_rounds(k: int, u: int, n_cells: int, cap: int, seed: int) -> None:
    rng = np.random.default_rng(seed)
    w = rng.integers(0, 4, (k, u)).astype(np.float64)  # few values: ties between users and between candidates
    w[rng.random((k, u)) < 0.2] = -np.inf  # candidates not allowed
    cell_of = np.stack([rng.permutation(n_cells)[: k] if k <= n_cells else rng.integers(0, n_cells, k)
                        for _ in range(u)], axis=1)
    held = deferred_acceptance(w, cell_of, cap)
    np.testing.assert_array_equal(held, _deferred_acceptance_reference(w, cell_of, cap))
    on = held >= 0
    assert np.all(np.isfinite(w[held[on], np.flatnonzero(on)])), "nobody is held by a forbidden candidate"
    assert np.bincount(cell_of[held[on], np.flatnonzero(on)], minlength=n_cells).max(initial=0) <= cap


def test_deferred_acceptance_bad_input() -> None:
    with pytest.raises(ValueError, match="same"):
        deferred_acceptance(np.zeros((2, 3)), np.zeros((3, 2), dtype=np.int64), 1)
    with pytest.raises(ValueError, match=">= 0"):
        deferred_acceptance(np.zeros((1, 2)), np.array([[0, -1]]), 1)


def test_deferred_acceptance_respects_capacity() -> None:
    core = ResourceAllocationCore("toy", {"users": {"n_users": 900}, "task": {"k_max": 10}})
    core.reset(np.random.default_rng(0))
    alloc = core.match(core.remaining, np.ones(core.n_users, dtype=bool))  # 900 x 1110 > exact limit
    check_constraints(core, alloc)
    assert (alloc.serving >= 0).sum() == core.n_cells * core.cap  # every slot is used when oversubscribed


@pytest.mark.parametrize(("action", "match"), [
    (np.zeros(59, dtype=np.float32), "demand_fraction.*shape"),
    (np.zeros(60, dtype=np.bool_), "demand_fraction.*dtype"),
    (np.array(["a"] * 60), "demand_fraction.*dtype"),
    (np.full(60, np.nan, dtype=np.float32), "demand_fraction.*NaN"),
    (np.full(60, 1.5, dtype=np.float32), "demand_fraction.*out of bounds"),
    (np.full(60, -0.1), "demand_fraction.*out of bounds"),
])
def test_bad_demand_actions(action: np.ndarray, match: str) -> None:
    env = small("demand")
    env.reset(seed=0)
    with pytest.raises(ValueError, match=match):
        env.step(action)


def test_bad_direct_actions() -> None:
    env = small("direct")
    env.reset(seed=0)
    good = env.action_space.sample()
    with pytest.raises(ValueError, match="missing field"):
        env.step({"association": good["association"], "rb": good["rb"]})
    with pytest.raises(ValueError, match="'association'.*out of bounds"):
        env.step({**good, "association": np.full(60, 99)})
    with pytest.raises(ValueError, match="'rb'.*non-integer"):
        env.step({**good, "rb": np.full(60, 0.5)})
    with pytest.raises(ValueError, match="'power'.*NaN"):
        env.step({**good, "power": np.full(60, np.nan, dtype=np.float32)})
    with pytest.raises(ValueError, match="'rb'.*shape"):
        env.step({**good, "rb": np.zeros((60, 2), dtype=np.int64)})
    with pytest.raises(ValueError, match="expected a dict"):
        env.step(np.zeros(60))


@pytest.mark.parametrize(("task", "match"), [
    ({"k_max": 0}, "task.k_max"),
    ({"n_rb": 26}, "task.n_rb.*more RBs"),
    ({"action_mode": "joint"}, "task.action_mode"),
    ({"episode_steps": 0}, "task.episode_steps"),
    ({"bogus": 1}, "task.bogus"),
])
def test_bad_config_fails_at_construction(task: dict, match: str) -> None:
    with pytest.raises(ConfigError, match=match):
        ResourceAllocationCore("toy", {"task": task})


def test_cost_as_tuple() -> None:
    env = CostAsTuple(small("demand"))
    env.reset(seed=0)
    out = env.step(env.action_space.sample())
    assert len(out) == 6 and out[2] == out[5]["cost"] and out[2] >= 0


def test_non_uniform_demand_is_summed_over_the_episode() -> None:
    class Ramp:
        def reset(self, rng: np.random.Generator, n_users: int, horizon_s: float) -> None:
            self.n = n_users

        def demand(self, t: float, dt: float) -> np.ndarray:
            return np.full(self.n, 1000.0 * (t + 1.0) * dt)

    core = ResourceAllocationCore("toy", SMALL)
    core.twin.demand_model = Ramp()
    core.reset(np.random.default_rng(0))
    np.testing.assert_allclose(core.total, 1000.0 * sum(k + 1.0 for k in range(5)))


def test_observation_in_space_and_render() -> None:
    env = gym.make(ENV_ID, scenario="toy", config=SMALL, render_mode="rgb_array")
    obs, _ = env.reset(seed=0)
    assert env.observation_space.contains(obs)
    img = env.render()
    assert img.ndim == 3 and img.std() > 0
