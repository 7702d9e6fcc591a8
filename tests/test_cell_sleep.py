"""Cell sleep (issue 6): energy accounting, site status, demand split, masks, bad input, both APIs."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest

import mndt_envs  # noqa: F401
from mndt_envs.config import ConfigError
from mndt_envs.parallel.cell_sleep import CellSleepParallelEnv
from mndt_envs.tasks.cell_sleep import HISTORY, OFF, ON, SLEEP, WAKING, CellSleepConfig, CellSleepCore

TINY = {"width_m": 300.0, "height_m": 300.0, "sites": {"n_sites": 1, "sectors": 3},
        "channel": {"fading": "none", "shadowing": False}, "users": {"n_users": 5}}
TWO_SITES = {"width_m": 600.0, "height_m": 300.0, "sites": {"n_sites": 2, "sectors": 3, "isd_m": 300.0},
             "channel": {"fading": "none", "shadowing": False}, "users": {"n_users": 5}}


def tiny(**task) -> CellSleepCore:
    core = CellSleepCore("toy", TINY, {"episode_steps": 4, "wakeup_steps": 0, "hard_constraints": False, **task})
    core.reset(np.random.default_rng(0))
    return core


def fix_demand(core: CellSleepCore, d: np.ndarray) -> None:
    """Replace the episode's demand by a constant per-grid series [bit/s]."""
    core.demand_model.series = np.tile(np.asarray(d, dtype=np.float64), (core.n_steps + HISTORY, 1))


def hand_split(core: CellSleepCore, on: np.ndarray, d: np.ndarray) -> tuple[np.ndarray, float]:
    """Loads and unserved by explicit loops over grids and cells."""
    A = core.A.toarray() > 0
    load = np.zeros(core.n_cells)
    unserved = 0.0
    for g in range(core.n_grids):
        act = [c for c in range(core.n_cells) if A[c, g] and on[c]]
        if not act:
            unserved += d[g]
            continue
        tot = sum(core.cap[c] for c in act)
        for c in act:
            load[c] += d[g] * core.cap[c] / tot
    unserved += float(np.maximum(load - core.cap_use, 0.0).sum())
    return load, unserved


def test_energy_accounting_by_hand():
    core = tiny()
    assert core.n_cells == 3 and core.n_sites == 1
    d = np.full(core.n_grids, 0.02 * core.cap.sum() / core.n_grids)  # light load
    fix_demand(core, d)
    out = core.step(np.array([ON, SLEEP, OFF]))
    load, _ = hand_split(core, np.array([True, False, False]), d)
    u0 = load[0] / core.cap[0]
    # EARTH macro: P0 = 130 W, delta_p = 4.7, P_max = 20 W, P_sleep = 75 W; BBU 100 W; air-con 10 %
    expected = (130.0 + 4.7 * 20.0 * u0 + 75.0 + 0.0 + 100.0) * 1.1
    assert out.kpis["power_w"] == pytest.approx(expected, rel=1e-9)
    assert core.totals.energy_kwh == pytest.approx(expected * 1800 / 3.6e6)
    # switching: on->sleep 5 W, on->off 50 W (cell), no site change
    assert out.reward_terms["switching"] == pytest.approx(-(5.0 + 50.0) / 1000.0)
    assert out.reward == pytest.approx(-(expected + 55.0) / 1000.0 - out.cost * 10.0)  # penalty 10/Gbit
    # all off: the site is off, nothing is consumed and all demand is unserved
    out = core.step(np.array([OFF, OFF, OFF]))
    assert out.kpis["power_w"] == 0.0 and out.kpis["sites_on"] == 0
    assert out.kpis["unserved_bps"] == pytest.approx(d.sum())
    assert out.cost == pytest.approx(d.sum() * 1800 / 1e9)
    # cell switches on->off 50 + sleep->off 50, site on->off 100
    assert out.reward_terms["switching"] == pytest.approx(-(50.0 + 50.0 + 100.0) / 1000.0)


def test_always_on_reference_matches_all_on_power():
    core = tiny()
    out = core.step(np.zeros(3, dtype=int))
    assert out.kpis["power_w"] == pytest.approx(out.kpis["power_always_on_w"], rel=1e-9)


def test_site_off_iff_all_cells_off():
    core = CellSleepCore("toy", TWO_SITES, {"episode_steps": 20, "hard_constraints": False})
    assert core.n_sites == 2
    core.reset(np.random.default_rng(1))
    rng = np.random.default_rng(2)
    for _ in range(19):
        a = rng.integers(0, 3, core.n_cells)
        a[core.site == 0] = rng.choice([OFF, SLEEP])  # site 0: all off or all asleep
        out = core.step(a)
        alive = np.array([(core.status[core.site == s] != OFF).any() for s in range(core.n_sites)])
        assert np.array_equal(core.state.site_alive_count > 0, alive)
        assert out.kpis["sites_on"] == alive.sum()
        assert alive[0] == (a[0] != OFF)
        off_sites = ~alive
        # an off site consumes nothing: the network power is that of the alive sites only
        assert (out.kpis["power_w"] == 0.0) == (not alive.any())
        if off_sites.all():
            break


def test_demand_split_proportional_to_capacity_and_excess_unserved():
    core = tiny()
    d = np.linspace(1.0, 2.0, core.n_grids) * core.cap.sum() / core.n_grids  # heavy: overloads cells
    fix_demand(core, d)
    for on in ([True, True, True], [True, False, True], [False, True, False]):
        on = np.array(on)
        out = core.step(np.where(on, ON, SLEEP))
        load, unserved = hand_split(core, on, d)
        np.testing.assert_allclose(core.load, load, rtol=1e-9)
        assert out.kpis["unserved_bps"] == pytest.approx(unserved, rel=1e-9)
        assert out.kpis["unserved_bps"] > 0


def test_masks_forbid_what_they_should():
    core = tiny(hard_constraints=True)
    d = np.full(core.n_grids, 1e3)  # tiny demand: every grid has some
    fix_demand(core, d)
    # cell 0 alone on: it is the sole active server of its grids -> may not sleep or close
    core.status[:] = [ON, SLEEP, SLEEP]
    core.logical[:] = core.status
    core.serve_demand(d)
    assert core.legal[0].tolist() == [1, 0, 0]
    assert not core.state.mask_grid[0]
    # a sleeping cell whose grids are unmet must turn on
    A = core.A.toarray() > 0
    only1 = A[1] & ~A[0]
    if only1.any():
        assert core.legal[1].tolist() == [1, 0, 0]
    # all on, tiny demand: some cell may leave, and "on" is always legal
    core.status[:] = ON
    core.logical[:] = ON
    core.serve_demand(d)
    assert core.legal[:, ON].all() and core.legal[:, SLEEP].any()
    # mask 2: the site can be closed by a cell iff the others are off
    core.status[:] = [ON, OFF, OFF]
    core.serve_demand(d)
    assert core.state.mask_site.tolist() == [True, False, False]
    # overloaded: no cell may leave
    core.status[:] = ON
    core.serve_demand(np.full(core.n_grids, core.cap.sum()))
    assert not core.legal[:, SLEEP].any() and not core.legal[:, OFF].any()
    # without hard constraints everything is legal
    soft = tiny()
    soft.serve_demand(np.full(soft.n_grids, soft.cap.sum()))
    assert soft.legal.all()


def test_strict_mode_illegal_action_error_and_lenient_replacement():
    env = gym.make("mndt/CellSleep-v0", scenario="toy", config={**TINY, "task": {"strict": True, "episode_steps": 4}})
    core = env.unwrapped.core
    env.reset(seed=0)
    fix_demand(core, np.full(core.n_grids, core.cap.sum()))
    env.step(np.zeros(3, dtype=int))  # heavy demand now observed: nobody may leave
    assert not core.legal[:, SLEEP].any()
    with pytest.raises(ValueError, match="forbidden by the action mask"):
        env.step(np.array([SLEEP, ON, ON]))
    env = gym.make("mndt/CellSleep-v0", scenario="toy", config={**TINY, "task": {"episode_steps": 4}})
    core = env.unwrapped.core
    env.reset(seed=0)
    fix_demand(core, np.full(core.n_grids, core.cap.sum()))
    env.step(np.zeros(3, dtype=int))
    _, _, _, _, info = env.step(np.array([SLEEP, OFF, ON]))
    assert info["illegal_actions"] == 2 and (core.status == ON).all()


@pytest.mark.parametrize("action, match", [
    (np.zeros(4, dtype=int), "expected shape"),
    (np.zeros((3, 1), dtype=int), "expected shape"),
    (np.array([0, 1, 3]), "allowed values"),
    (np.array([0, -1, 0]), "allowed values"),
    (np.array([0.0, np.nan, 1.0]), "NaN or inf"),
    (np.array([0.5, 1.0, 1.0]), "non-integer"),
    (np.array(["on", "off", "on"]), "dtype <U3 not allowed"),
    (np.array([True, False, True]), "dtype bool not allowed"),
    ([[0, 1], [2]], "not array-like"),
    ({"cell_0": 0}, "got dict"),
    (np.array([0, 1, 1j]), "dtype complex128 not allowed"),
])
def test_bad_actions(action, match):
    core = tiny()
    with pytest.raises(ValueError, match=match):
        core.step(action)


def test_wakeup_from_off_takes_configured_steps():
    core = CellSleepCore("toy", TINY, {"episode_steps": 8, "wakeup_steps": 2, "hard_constraints": False})
    core.reset(np.random.default_rng(0))
    core.step(np.array([OFF, ON, ON]))
    assert core.status[0] == OFF
    core.step(np.array([ON, ON, ON]))
    assert core.status[0] == WAKING and core.load[0] == 0.0  # waking: sleep power, serves nothing
    core.step(np.array([ON, ON, ON]))
    assert core.status[0] == WAKING
    core.step(np.array([ON, ON, ON]))
    assert core.status[0] == ON and core.load[0] > 0


@pytest.mark.parametrize("task, match", [
    ({"grid_m": -5.0}, "task.grid_m"),
    ({"demand_source": "csv"}, "task.demand_source"),
    ({"step_min": 7.0}, "task.step_min"),
    ({"days": 0}, "task.days"),
    ({"max_utilisation": 0.0}, "task.max_utilisation"),
    ({"strict": "yes"}, "task.strict"),
    ({"no_such_field": 1}, "task.no_such_field"),
    ({"coverage_threshold_dbm": -31.0}, "no grid is covered"),
])
def test_bad_configs(task, match):
    with pytest.raises(ConfigError, match=match):
        CellSleepCore("toy", TINY, task)


def test_zero_cells_and_uncovered_grids():
    with pytest.raises(ConfigError, match="at least one cell"):
        gym.make("mndt/CellSleep-v0", config={"sites": {"n_sites": 0}})
    big = {"width_m": 3000.0, "height_m": 3000.0, "sites": {"n_sites": 1}, "users": {"n_users": 5},
           "channel": {"fading": "none", "shadowing": False, "shadow_grid_m": 50.0}}
    with pytest.raises(ConfigError, match="uncovered_grids"):
        CellSleepCore("toy", big, {"uncovered_grids": "error", "grid_m": 200.0})
    with pytest.warns(UserWarning, match="dropped"):
        core = CellSleepCore("toy", big, {"grid_m": 200.0})
    assert 0 < core.n_grids < 225


def test_lstm_source_works():
    core = CellSleepCore("toy", TINY, {"demand_source": "lstm", "episode_steps": 4})
    core.reset(np.random.default_rng(0))
    assert core.step(np.zeros(3, dtype=int)).kpis["demand_bps"] >= 0


def test_diurnal_demand_shape_and_episode_length():
    cfg = CellSleepConfig()
    assert cfg.n_steps == 336 and CellSleepConfig(days=1).n_steps == 48
    env = gym.make("mndt/CellSleep-v0", config={"task": {"days": 1}})
    env.reset(seed=3)
    dem, n = [], 0
    while True:
        _, _, term, trunc, info = env.step(np.zeros(21, dtype=int))
        dem.append(info["demand_bps"])
        n += 1
        if term or trunc:
            break
    assert n == 48 and "episode_metrics" in info
    dem = np.array(dem)
    assert dem[8:12].mean() < 0.5 * dem[24:44].max()  # night trough below the day/evening peak


@pytest.mark.parametrize("penalty", [0.0, 1.0])
def test_parallel_rewards_sum_to_global_and_spaces_identity(penalty):
    penv = CellSleepParallelEnv("toy", {"task": {"episode_steps": 5, "unserved_penalty": penalty,
                                                 "hard_constraints": False}})
    obs, _ = penv.reset(seed=0)
    a0 = penv.agents[0]
    assert penv.observation_space(a0) is penv.observation_space(a0)
    assert penv.observation_space(a0) is penv.observation_space(penv.agents[1])
    assert obs[a0]["action_mask"].dtype == np.int8
    for _ in range(5):
        acts = {a: int(penv.action_space(a).sample(mask=obs[a]["action_mask"])) for a in penv.agents}
        obs, rew, term, trunc, info = penv.step(acts)
        assert sum(rew.values()) == pytest.approx(info[a0]["global_reward"], rel=1e-9)
        assert info[a0]["cost"] >= 0
    assert penv.agents == [] and all(trunc.values())


def test_single_agent_masks_and_metrics():
    env = gym.make("mndt/CellSleep-v0", config={"task": {"episode_steps": 3}})
    obs, _ = env.reset(seed=0)
    m = env.unwrapped.action_masks()
    assert m.dtype == np.bool_ and m.shape == (63,) and np.array_equal(m, obs["action_mask"].astype(bool))
    assert obs["action_mask"].dtype == np.int8
    assert obs["observation"].shape == (21, 22) and env.observation_space.contains(obs)
    for _ in range(3):
        obs, r, term, trunc, info = env.step(np.zeros(21, dtype=int))
    assert trunc and info["episode_metrics"]["saved_pct"] == pytest.approx(0.0, abs=1e-9)
