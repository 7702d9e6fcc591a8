"""Oracles (issue 16): bounds checked against brute-force enumeration, never beaten by a baseline."""

from __future__ import annotations

import itertools
import math

import gymnasium as gym
import numpy as np
import pytest

import mndt_envs  # noqa: F401 - registers the ids
from mndt_envs.baselines.oracle_cell_sleep import CellSleepOracle, demand_series, solve_offline, solve_per_step
from mndt_envs.baselines.oracle_load_balancing import CentralisedReference
from mndt_envs.baselines.oracle_resource_allocation import ResourceAllocationBound, episode_data, solve_bound
from mndt_envs.evaluation import run_episode
from mndt_envs.registration import load_entry, task
from mndt_envs.twin import radio


def _ra_env(n_users: int, **task_kw: object) -> gym.Env:
    return gym.make("mndt/ResourceAllocation-v0", scenario="toy",
                    config={"users": {"n_users": n_users}, "task": {"episode_steps": 1, **task_kw}})


def test_ra_bound_equals_brute_force_for_one_user() -> None:
    """One user, one step: no interference exists, so the bound is the best cell at full power (exactly)."""
    env = _ra_env(1)
    core = env.unwrapped.core
    data = episode_data(env, 3)
    b = solve_bound(core, data, coupled=True)
    best = max(core.cfg.step_s * math.log2(1 + core.p_max[c] * 10 ** (data.gain_db[0, c, 0] / 10) / core.noise_w)
               for c in range(core.n_cells))
    assert b.throughput_bw == pytest.approx(best, rel=1e-5)
    assert b.throughput_bw >= best


def test_ra_bound_above_brute_force_enumeration() -> None:
    """Tiny instance: every association over two candidates and a grid of powers stays below the bound."""
    env = _ra_env(3, n_rb=1, n_candidates=2)
    core = env.unwrapped.core
    data = episode_data(env, 5)
    b = solve_bound(core, data, cells_per_user=2, coupled=True)
    g = np.power(10.0, data.gain_db[0] / 10.0)
    cand = data.cand[0]  # (2, 3)
    fracs = (0.1, 0.5, 1.0)
    best = 0.0
    for assoc in itertools.product(range(3), repeat=3):  # candidate 0, 1 or unserved
        serving = np.array([cand[a, u] if a < 2 else -1 for u, a in enumerate(assoc)])
        on = serving[serving >= 0]
        if len(on) != len(set(on.tolist())):  # one RB per cell: at most one user per cell
            continue
        for pw in itertools.product(fracs, repeat=3):
            rb_power = np.zeros((core.n_cells, 1))
            for u in range(3):
                if serving[u] >= 0:
                    rb_power[serving[u], 0] = pw[u] * core.p_max[serving[u]]
            sinr = radio.sinr_allocated(g, rb_power, serving, np.where(serving >= 0, 0, -1), core.noise_w)
            best = max(best, float(radio.shannon_rate(sinr, 1.0).sum()) * core.cfg.step_s)
    assert best > 0
    assert b.throughput_bw >= best * (1 - 1e-9)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_ra_no_baseline_beats_the_bound(seed: int) -> None:
    """Property over seeds: the baselines' throughput and satisfaction never exceed the bounds."""
    env = gym.make("mndt/ResourceAllocation-v0", scenario="toy",
                   config={"users": {"n_users": 40}, "task": {"episode_steps": 3}})
    oracle = ResourceAllocationBound(env)
    bound = oracle.evaluate(seed)
    for name, entry in task("resource_allocation").baselines.items():
        m = run_episode(env, load_entry(entry)(env), seed)["metrics"]
        assert m["throughput_bw"] <= bound["throughput_bw"], name
        assert m["satisfaction_ratio"] <= bound["satisfaction_ratio"] + 1e-12, name
        gap = oracle.gap(m, bound)
        assert gap is not None and gap >= 0.0


def _cs_env(steps: int) -> gym.Env:
    # one site of three sectors, two steps: 3^(3*2) action sequences to enumerate
    return gym.make("mndt/CellSleep-v0", scenario="toy",
                    config={"sites": {"n_sites": 1, "n_small_cells": 0},
                            "task": {"episode_steps": steps, "hard_constraints": False, "peak_load": 0.1}})


def test_cell_sleep_bound_above_brute_force_enumeration() -> None:
    """Every action sequence of a tiny instance returns at most the coupled and the per-step bounds."""
    env = _cs_env(2)
    core = env.unwrapped.core
    n = core.n_cells
    d = demand_series(env, 7)
    scale = core.cfg.reward_scale_w
    coupled = -solve_offline(core, d, "return", 60).bound_cost_w / scale
    per_step = -solve_per_step(core, d, "return", 60).bound_cost_w / scale
    assert per_step >= coupled - 1e-6  # the per-step model is a relaxation of the coupled one
    best = -np.inf
    for seq in itertools.product(itertools.product(range(3), repeat=n), repeat=2):
        env.reset(seed=7)
        ret = 0.0
        for a in seq:
            _, r, _, _, _ = env.step(np.array(a))
            ret += r
        best = max(best, ret)
    assert coupled >= best - 1e-6
    assert coupled - best < 0.05 * abs(best)  # and not absurdly loose on a tiny instance


@pytest.mark.parametrize("seed", [0, 1])
def test_cell_sleep_no_baseline_beats_the_bound(seed: int) -> None:
    env = gym.make("mndt/CellSleep-v0", scenario="toy", config={"task": {"episode_steps": 6}})
    oracle = CellSleepOracle(env)
    bound = oracle.evaluate(seed)
    for name, entry in task("cell_sleep").baselines.items():
        r = run_episode(env, load_entry(entry)(env), seed)
        assert r["return"] <= bound["return"] + 1e-6, name
        if r["metrics"]["unserved_gbit"] == 0:
            assert r["metrics"]["energy_kwh"] >= bound["energy_bound_kwh"] - 1e-9, name
        assert oracle.gap(r, bound) >= -1e-9


def test_load_balancing_reference_at_least_as_balanced_as_static() -> None:
    env = gym.make("mndt/LoadBalancing-v0", scenario="toy", config={"task": {"episode_steps": 3}})
    ref = CentralisedReference(env, restarts=2, iters=60)
    out = ref.evaluate(0)
    static = run_episode(env, load_entry(task("load_balancing").baselines["static"])(env), 0)["metrics"]
    assert out["mean_std_busy"] <= static["mean_std_busy"] + 1e-12
    assert out["min_coverage"] >= min(env.unwrapped.core.cfg.c_min, static["min_coverage"]) - 1e-12
    assert ref.gap(static, out) >= 0.0


def test_oracle_input_errors() -> None:
    env = _ra_env(2)
    data = episode_data(env, 0)
    with pytest.raises(ValueError, match="target"):
        solve_bound(env.unwrapped.core, data, target=1.5)
    with pytest.raises(ValueError, match="cells_per_user"):
        solve_bound(env.unwrapped.core, data, cells_per_user=99)
    cs = _cs_env(2)
    with pytest.raises(ValueError, match="objective"):
        solve_offline(cs.unwrapped.core, np.zeros((2, cs.unwrapped.core.n_grids)), "speed")
    with pytest.raises(ValueError, match="demand"):
        solve_offline(cs.unwrapped.core, np.zeros((2, 3)))


def test_compare_marks_oracle_rows_and_prints_gaps(tmp_path) -> None:
    import csv

    from typer.testing import CliRunner

    from mndt_envs.cli import app

    res = CliRunner().invoke(app, ["compare", "--tasks", "load_balancing", "--episodes", "1", "--oracles",
                                   "--config", '{"task": {"episode_steps": 2}}', "--out", str(tmp_path),
                                   "--format", "csv"])
    assert res.exit_code == 0, res.output
    rows = list(csv.DictReader((tmp_path / "compare.csv").open()))
    kinds = {r["baseline"]: r["kind"] for r in rows}
    oracle = [b for b, k in kinds.items() if k.startswith("oracle")]
    assert len(oracle) == 1 and "sees the future" in oracle[0]
    policies = [r for r in rows if r["kind"] == "policy"]
    assert {r["baseline"] for r in policies} == {"static", "bdba", "bfdba"}
    assert all(r["gap_to_centralised_reference_pct"] != "" for r in policies)


def test_tuned_constant_theta_family() -> None:
    """x = 0 is equal dividing (the family's origin); the shipped constants act in [0, 1]; bad x is refused."""
    from mndt_envs.baselines.resource_allocation import EqualDividing
    from mndt_envs.baselines.tuned_resource_allocation import TunedConstantTheta

    env = gym.make("mndt/ResourceAllocation-v0", scenario="toy", config={"users": {"n_users": 30}})
    env.reset(seed=0)
    a0, _ = TunedConstantTheta(env, np.zeros(4)).predict(None)
    np.testing.assert_allclose(a0, EqualDividing(env).fractions(), rtol=1e-6)
    a, _ = TunedConstantTheta(env).predict(None)
    assert a.shape == (30,) and np.all((a >= 0) & (a <= 1))
    with pytest.raises(ValueError, match="4 finite"):
        TunedConstantTheta(env, [0.0, np.nan, 0.0, 0.0])


def test_ra_per_step_bound_matches_the_coupled_lp() -> None:
    """The throughput LP has no coupling between steps: per-step solves give the same maximum."""
    env = gym.make("mndt/ResourceAllocation-v0", scenario="toy",
                   config={"users": {"n_users": 12}, "task": {"episode_steps": 2}})
    core = env.unwrapped.core
    data = episode_data(env, 4)
    joint = solve_bound(core, data, coupled=True)
    split = solve_bound(core, data, coupled=False)
    assert split.throughput_bw == pytest.approx(joint.throughput_bw, rel=1e-6)
    assert split.satisfaction_ratio >= joint.satisfaction_ratio - 1e-9
    assert split.throughput_bw_at_target >= joint.throughput_bw_at_target * (1 - 1e-6)


def test_tuned_constant_theta_direct_mode() -> None:
    from mndt_envs.baselines.tuned_resource_allocation import TunedConstantTheta

    env = gym.make("mndt/ResourceAllocation-v0", scenario="toy",
                   config={"users": {"n_users": 20}, "task": {"action_mode": "direct", "episode_steps": 2}})
    m = run_episode(env, TunedConstantTheta(env), 0)["metrics"]
    assert m["throughput_bw"] > 0
