"""RLlib integration: registration, the multi-agent adapter, the masked module, `mndt train --backend rllib`."""

from __future__ import annotations

import csv
import json

import numpy as np
import pytest

pytest.importorskip("ray.rllib")

import ray  # noqa: E402
from gymnasium import spaces  # noqa: E402
from typer.testing import CliRunner  # noqa: E402

from mndt_envs.integrations import rllib as rl  # noqa: E402

SMALL = {
    "cell_sleep_v0": {"scenario": "toy", "config": {"task": {"episode_steps": 12}}},
    "load_balancing_v0": {"scenario": "toy", "config": {"task": {"episode_steps": 6}}},
    "resource_allocation_v0": {"scenario": "toy", "config": {"users": {"n_users": 30}}},
}


@pytest.fixture(scope="module")
def local_ray():
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    yield
    ray.shutdown()


def test_register_all_registers_every_env():
    from ray.tune.registry import ENV_CREATOR, _global_registry

    names = rl.register_all()
    assert len(names) == 6 and "cell_sleep_v0" in names and "mndt/CellSleep-v0" in names
    for n in names:
        assert _global_registry.contains(ENV_CREATOR, n)
    with pytest.raises(KeyError, match="known"):
        rl.is_multi_agent("cell_sleep_v9")


def test_multi_agent_env_masks_flat_actions_and_episode_cost():
    from mndt_envs.integrations.common import step_cost

    env = rl.MndtMultiAgentEnv("cell_sleep_v0", SMALL["cell_sleep_v0"])
    obs, _ = env.reset(seed=0)
    a0 = env.possible_agents[0]
    assert obs[a0]["action_mask"].dtype == np.int8  # masks keep PettingZoo's int8 form
    assert rl.agent_kind(a0) == "cell"
    cost = 0.0
    while True:
        acts = {a: int(np.flatnonzero(obs[a]["action_mask"])[-1]) for a in env.agents}  # most aggressive legal
        obs, rew, term, trunc, infos = env.step(acts)
        cost += step_cost("cell_sleep_v0", infos)
        if term["__all__"] or trunc["__all__"]:
            break
    summary = infos[a0]["mndt_episode"]
    assert summary["cost"] == pytest.approx(cost) and summary["cost"] > 0  # all-off leaves traffic unserved
    assert summary["unserved_gbit"] == pytest.approx(cost)  # cost is the unserved traffic
    ra = rl.MndtMultiAgentEnv("resource_allocation_v0", SMALL["resource_allocation_v0"])
    assert all(isinstance(s, spaces.MultiDiscrete) for s in ra.action_spaces.values())
    ra.reset(seed=0)
    ra.step({a: ra.action_spaces[a].sample() for a in ra.agents})


def test_single_agent_creator_flattens_and_keeps_the_mask():
    env = rl.make_single_agent("mndt/CellSleep-v0", SMALL["cell_sleep_v0"])
    sp = env.observation_space
    assert isinstance(sp, spaces.Dict) and sp["observation"].shape == (21 * 22,)
    assert sp["action_mask"].shape == (63,)
    obs, _ = env.reset(seed=0)
    assert sp.contains(obs)
    ra = rl.make_single_agent("mndt/ResourceAllocation-v0", {"scenario": "toy", "config": {
        "task": {"action_mode": "direct"}, "users": {"n_users": 30}}})
    assert isinstance(ra.action_space, spaces.MultiDiscrete) and len(ra.observation_space.shape) == 1


def test_masked_module_never_samples_a_masked_action():
    import torch
    from ray.rllib.core.columns import Columns
    from ray.rllib.core.rl_module.rl_module import RLModuleSpec

    obs_space = spaces.Dict({"observation": spaces.Box(-1, 1, (4,), np.float32),
                             "action_mask": spaces.Box(0, 1, (3,), np.int8)})
    module = RLModuleSpec(module_class=rl.MaskedPPOTorchRLModule, observation_space=obs_space,
                          action_space=spaces.Discrete(3), model_config={"fcnet_hiddens": [8]}).build()
    n = 200
    mask = np.zeros((n, 3), np.int8)
    mask[np.arange(n), np.arange(n) % 3] = 1  # exactly one legal action per row
    batch = {Columns.OBS: {"observation": torch.randn(n, 4), "action_mask": torch.as_tensor(mask)}}
    for out in (module.forward_exploration(batch), module.forward_inference(batch)):
        dist = module.get_exploration_action_dist_cls().from_logits(out[Columns.ACTION_DIST_INPUTS])
        np.testing.assert_array_equal(dist.sample().numpy(), np.arange(n) % 3)
    assert module.compute_values(batch).shape == (n,)
    with pytest.raises(ValueError, match="action_mask"):
        RLModuleSpec(module_class=rl.MaskedPPOTorchRLModule, observation_space=spaces.Box(0, 1, (3,)),
                     action_space=spaces.Discrete(3)).build()


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(SMALL))
def test_mndt_train_rllib_one_iteration(name, local_ray, tmp_path):
    from mndt_envs.cli import app

    out = tmp_path / name
    cfg = json.dumps(SMALL[name]["config"])
    res = CliRunner().invoke(app, ["train", name, "--backend", "rllib", "--env-steps", "1", "--config", cfg,
                                   "--train-batch-size", "256", "--minibatch-size", "32", "--num-epochs", "1",
                                   "--num-env-runners", "1" if name == "cell_sleep_v0" else "0", "--out", str(out)])
    assert res.exit_code == 0, res.output
    meta = json.loads((out / "train.json").read_text())
    assert meta["iterations"] == 1 and meta["multi_agent"] and meta["backend"] == "rllib"
    assert (out / "checkpoint" / "rllib_checkpoint.json").exists() and (out / "curve.png").exists()
    rows = list(csv.DictReader((out / "curve.csv").open()))
    assert len(rows) == 1 and float(rows[0]["env_steps"]) >= 32
    assert rows[0]["cost"] != "" and float(rows[0]["cost"]) >= 0  # cost channel reached the metrics
    from mndt_envs.cli_train import evaluate_run

    task, row = evaluate_run(out, 1, 0, SMALL[name])  # the checkpoint acts through `mndt compare --policy`
    assert task == name.removesuffix("_v0") and row["steps"] > 0 and np.isfinite(row["return"])
    if name == "cell_sleep_v0":
        assert float(rows[0]["illegal_actions"]) == 0  # the masked module enforced the masks while sampling
        assert row["steps"] == 12 and row["illegal_actions"] == 0


@pytest.mark.slow
def test_single_agent_dict_action_trains_one_iteration(local_ray):
    cfg = rl.ppo_config("mndt/ResourceAllocation-v0", {"scenario": "toy", "config": {
        "task": {"action_mode": "direct"}, "users": {"n_users": 30}}}, train_batch_size=64, minibatch_size=32,
        num_epochs=1)
    algo = cfg.build_algo()
    try:
        res = algo.train()
        assert res["env_runners"]["num_env_steps_sampled_lifetime"] >= 64
        assert "mndt/cost" in res["env_runners"]  # 20-step episodes ended: cost reached the metrics
    finally:
        algo.stop()


@pytest.mark.slow
def test_batched_vector_env_samples_through_rllib(local_ray):
    cfg = rl.ppo_config("mndt/CellSleep-v0", {"scenario": "toy", "config": {"task": {"episode_steps": 12}}},
                        num_envs_per_env_runner=4, batched=True, train_batch_size=96, minibatch_size=48, num_epochs=1)
    algo = cfg.build_algo()
    try:
        er = algo.train()["env_runners"]
        assert er["num_env_steps_sampled_lifetime"] >= 96 and er["num_episodes"] >= 4
        assert er["mndt/illegal_actions"] == 0 and er["mndt/cost"] == pytest.approx(er["mndt/unserved_gbit"])
    finally:
        algo.stop()
    with pytest.raises(ValueError, match="multi-agent"):
        rl.ppo_config("cell_sleep_v0", batched=True)
