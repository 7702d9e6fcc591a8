"""Interop without glue: flat actions, mask forms, CostAsTuple order, shared VecEnv + MaskablePPO, SuperSuit."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest
from gymnasium import spaces
from gymnasium.wrappers import RecordEpisodeStatistics
from hypothesis import given, settings
from hypothesis import strategies as st

import mndt_envs
from mndt_envs.wrappers import CostAsTuple, FlatAction, FlatActionParallel, FlatActionSpace, sample_mask, sb3_mask

SMALL = {
    "cell_sleep_v0": {"config": {"task": {"episode_steps": 12}}},
    "load_balancing_v0": {"config": {"task": {"episode_steps": 6}}},
    "resource_allocation_v0": {"config": {"users": {"n_users": 30}}},
}

DICT_ACTION = spaces.Dict({
    "rb": spaces.MultiDiscrete([4, 4, 4]),
    "power": spaces.Box(0.0, 2.0, (3,), np.float32),
    "mode": spaces.Discrete(3, start=1),
})


@pytest.mark.parametrize("mode", ["multidiscrete", "box"])
@settings(max_examples=60, deadline=None)
@given(seed=st.integers(0, 2**31 - 1))
def test_flat_action_maps_into_the_structured_space(mode, seed):
    f = FlatActionSpace(DICT_ACTION, mode=mode, levels=5)
    f.flat_space.seed(seed)
    x = f.flat_space.sample()
    a = f.unflatten(x)
    assert DICT_ACTION.contains(a), a
    # on the grid the round trip is exact
    b = f.unflatten(f.flatten(a))
    for k in a:
        np.testing.assert_allclose(np.asarray(b[k], dtype=float), np.asarray(a[k], dtype=float), atol=1e-6)


def test_flat_action_multidiscrete_levels_and_errors():
    f = FlatActionSpace(DICT_ACTION, levels=5)
    assert isinstance(f.flat_space, spaces.MultiDiscrete)
    assert f.flat_space.nvec.tolist() == [3] + [5] * 3 + [4] * 3  # Dict keys sorted: mode, power, rb
    a = f.unflatten(np.array([2, 0, 2, 4, 3, 0, 1]))
    assert a["mode"] == 3 and a["rb"].tolist() == [3, 0, 1]
    np.testing.assert_allclose(a["power"], [0.0, 1.0, 2.0])
    with pytest.raises(ValueError, match="expected shape"):
        f.unflatten(np.zeros(3))
    with pytest.raises(ValueError, match="mode"):
        FlatActionSpace(DICT_ACTION, mode="continuous")
    with pytest.raises(TypeError, match="Dict or Tuple"):
        FlatActionSpace(spaces.Discrete(3))


def test_flat_action_wrappers_on_resource_allocation():
    env = FlatAction(gym.make("mndt/ResourceAllocation-v0", config={"task": {"action_mode": "direct"},
                                                                     "users": {"n_users": 30}}))
    assert isinstance(env.action_space, spaces.MultiDiscrete)
    env.reset(seed=0)
    env.action_space.seed(0)
    _, r, _, _, info = env.step(env.action_space.sample())
    assert np.isfinite(r) and "cost" in info
    penv = FlatActionParallel(mndt_envs.parallel_env("resource_allocation_v0", **SMALL["resource_allocation_v0"]))
    a0 = penv.possible_agents[0]
    assert isinstance(penv.action_space(a0), spaces.MultiDiscrete)
    assert penv.action_space(a0) is penv.action_space(penv.possible_agents[1])  # built once, by identity
    obs, _ = penv.reset(seed=0)
    _, rew, _, _, infos = penv.step({a: penv.action_space(a).sample() for a in penv.agents})
    assert set(rew) == set(penv.possible_agents) and all(np.isfinite(v) for v in rew.values())


def test_flat_parallel_env_passes_the_pettingzoo_api_test():
    from pettingzoo.test import parallel_api_test

    penv = FlatActionParallel(mndt_envs.parallel_env("resource_allocation_v0", **SMALL["resource_allocation_v0"]))
    parallel_api_test(penv, num_cycles=5)


def test_sample_mask_gives_gymnasiums_per_cell_tuple_and_respects_it():
    env = gym.make("mndt/CellSleep-v0", config={"task": {"episode_steps": 12}})
    obs, _ = env.reset(seed=0)
    space = env.action_space
    # forbid "off" (2) everywhere and "sleep" (1) for cell 0: the samples must obey
    m = obs["action_mask"].copy().reshape(-1, 3)
    m[:, 2] = 0
    m[0, 1] = 0
    tup = sample_mask(space, m.reshape(-1))
    assert isinstance(tup, tuple) and len(tup) == len(space.nvec)
    assert all(t.dtype == np.int8 and t.shape == (3,) for t in tup)
    space.seed(1)
    for _ in range(50):
        a = space.sample(mask=tup)
        assert np.all(m[np.arange(len(a)), a] == 1)
    assert sb3_mask(obs["action_mask"]).dtype == bool
    with pytest.raises(ValueError, match="sum"):
        sample_mask(space, np.ones(5, np.int8))
    with pytest.raises(TypeError):
        sample_mask(spaces.Box(0, 1, (2,)), np.ones(2))
    assert sample_mask(spaces.Discrete(3), [1, 0, 1]).tolist() == [1, 0, 1]


def test_cost_as_tuple_must_be_outermost():
    env = gym.make("mndt/CellSleep-v0", config={"task": {"episode_steps": 3}})
    good = CostAsTuple(RecordEpisodeStatistics(env))
    good.reset(seed=0)
    out = good.step(env.action_space.sample())
    assert len(out) == 6 and out[2] == out[5]["cost"]
    bad = RecordEpisodeStatistics(CostAsTuple(env))
    bad.reset(seed=0)
    with pytest.raises(TypeError, match="outermost"):
        bad.step(env.action_space.sample())

    class SafeWrapper(gym.Wrapper):
        accepts_cost_tuple = True

        def step(self, action):
            return self.env.step(action)

    ok = SafeWrapper(CostAsTuple(env))
    ok.reset(seed=0)
    assert len(ok.step(env.action_space.sample())) == 6


def test_shared_vec_env_forwards_masks_and_maskable_ppo_trains_through_it():
    import torch
    from sb3_contrib import MaskablePPO
    from sb3_contrib.common.maskable.utils import get_action_masks

    from mndt_envs.agents.vec_env import ParallelAgentsVecEnv

    torch.set_num_threads(1)
    penv = mndt_envs.parallel_env("cell_sleep_v0", **SMALL["cell_sleep_v0"])
    venv = ParallelAgentsVecEnv(penv, seed=0)  # no subclass, no obs_key: masks found in the observation
    assert venv.observation_space.shape == (22,)
    obs = venv.reset()
    masks = get_action_masks(venv)
    assert masks.shape == (venv.num_envs, 3) and masks.dtype == bool
    np.testing.assert_array_equal(masks, penv.action_masks().astype(bool))
    model = MaskablePPO("MlpPolicy", venv, n_steps=12, batch_size=84, n_epochs=1, seed=0, device="cpu",
                        policy_kwargs={"net_arch": [16]})
    model.learn(2 * 12 * venv.num_envs)
    # the trained policy never picks a masked action
    obs = venv.reset()
    for _ in range(12):
        m = venv.action_masks()
        act, _ = model.predict(obs, action_masks=m, deterministic=False)
        assert np.all(m[np.arange(len(act)), act])
        obs, *_ = venv.step(act)


@pytest.mark.parametrize("name", sorted(SMALL))
def test_supersuit_sb3_ppo_runs_on_every_parallel_env(name):
    pytest.importorskip("supersuit")
    import torch
    from stable_baselines3 import PPO

    from mndt_envs.integrations.supersuit import sb3_vec_env

    torch.set_num_threads(1)
    venv = sb3_vec_env(name, n_envs=2, **SMALL[name])
    n_agents = len(mndt_envs.parallel_env(name, **SMALL[name]).possible_agents)
    assert venv.num_envs == 2 * n_agents
    assert not isinstance(venv.action_space, spaces.Dict)
    model = PPO("MlpPolicy", venv, n_steps=8, batch_size=8 * venv.num_envs, n_epochs=1, seed=0, device="cpu",
                policy_kwargs={"net_arch": [16]})
    before = [p.detach().clone() for p in model.policy.parameters()]
    model.learn(2 * 8 * venv.num_envs)
    assert model.num_timesteps >= 2 * 8 * venv.num_envs
    assert any(not torch.equal(a, b) for a, b in zip(before, model.policy.parameters()))


def test_supersuit_maskable_ppo_enforces_cell_sleep_masks():
    pytest.importorskip("supersuit")
    import torch
    from sb3_contrib import MaskablePPO

    from mndt_envs.integrations.supersuit import MaskedVecEnv, sb3_vec_env

    torch.set_num_threads(1)
    venv = sb3_vec_env("cell_sleep_v0", n_envs=1, **SMALL["cell_sleep_v0"])
    assert isinstance(venv, MaskedVecEnv) and venv.has_attr("action_masks")
    model = MaskablePPO("MlpPolicy", venv, n_steps=12, batch_size=84, n_epochs=1, seed=0, device="cpu",
                        policy_kwargs={"net_arch": [16]})
    model.learn(12 * venv.num_envs)
    obs = venv.reset()
    for _ in range(12):
        m = venv.action_masks()
        act, _ = model.predict(obs, action_masks=m, deterministic=False)
        assert np.all(m[np.arange(len(act)), act])
        obs, *_ = venv.step(act)
    with pytest.raises(ValueError, match="action_mask"):
        MaskedVecEnv(sb3_vec_env("load_balancing_v0", **SMALL["load_balancing_v0"]))


@pytest.mark.parametrize("name", ["cell_sleep_v0", "mndt/ResourceAllocation-v0"])
def test_mndt_train_sb3_and_compare_policy(name, tmp_path):
    import csv
    import json

    from typer.testing import CliRunner

    from mndt_envs.cli import app

    out = tmp_path / "run"
    small = {"task": {"episode_steps": 4}, "users": {"n_users": 30}}
    cfg = {"task": {"episode_steps": 12}} if "cell" in name else small
    runner = CliRunner()
    res = runner.invoke(app, ["train", name, "--backend", "sb3", "--env-steps", "24", "--train-batch-size", "256",
                              "--minibatch-size", "64", "--num-epochs", "1", "--config", json.dumps(cfg),
                              "--out", str(out)])
    assert res.exit_code == 0, res.output
    meta = json.loads((out / "train.json").read_text())
    assert meta["algorithm"] == ("MaskablePPO" if "cell" in name else "PPO") and (out / "model.zip").exists()
    rows = list(csv.DictReader((out / "curve.csv").open()))
    assert rows and float(rows[-1]["env_steps"]) >= 24 and (out / "curve.png").exists()
    assert any(r["cost"] not in ("", None) for r in rows)
    task = "cell_sleep" if "cell" in name else "resource_allocation"
    res = runner.invoke(app, ["compare", "--tasks", task, "--episodes", "1", "--config", json.dumps(cfg),
                              "--policy", str(out), "--format", "csv", "--out", str(tmp_path / "cmp")])
    assert res.exit_code == 0, res.output
    table = list(csv.DictReader((tmp_path / "cmp" / "compare.csv").open()))
    trained = [r for r in table if r["baseline"] == "trained:run"]
    assert len(trained) == 1 and trained[0]["task"] == task
    assert len(table) == 1 + len(mndt_envs.registration.task(task).baselines)


def test_mndt_train_rejects_bad_input(tmp_path):
    from typer.testing import CliRunner

    from mndt_envs.cli import app

    runner = CliRunner()
    for args, needle in ((["train", "cell_sleep_v9"], "known"),
                         (["train", "cell_sleep_v0", "--backend", "torchrl"], "allowed values"),
                         (["train", "cell_sleep_v0", "--config", "{bad"], "JSON"),
                         (["train", "cell_sleep_v0", "--backend", "rllib", "--address", "cluster"], "ray://")):
        res = runner.invoke(app, [*args, "--out", str(tmp_path / "x")])
        assert res.exit_code != 0 and needle in res.output, res.output
