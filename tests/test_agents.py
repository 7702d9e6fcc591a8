"""The learning agents' plumbing: shared-policy VecEnvs, short trainings, policies as baselines."""

from __future__ import annotations

import gymnasium as gym
import numpy as np

import mndt_envs  # noqa: F401


def test_cell_agents_vecenv_and_masked_training() -> None:
    from mndt_envs.agents.cell_sleep import CellAgentsVecEnv, SharedPolicy, train
    from mndt_envs.parallel.cell_sleep import CellSleepParallelEnv

    penv = CellSleepParallelEnv("toy", {"task": {"episode_steps": 3}})
    venv = CellAgentsVecEnv(penv, seed=0)
    obs = venv.reset()
    assert obs.shape == (venv.num_envs, *venv.observation_space.shape) and venv.num_envs == 21
    masks = np.stack(venv.env_method("action_masks"))
    assert masks.shape == (21, 3) and masks[:, 0].all()  # "on" is always legal
    ends = 0
    for _ in range(6):  # two episodes of 3 steps: auto-reset with terminal observations
        venv.step_async(np.zeros(21, dtype=np.int64))
        obs, rew, done, infos = venv.step_wait()
        assert rew.shape == (21,) and np.all(np.isfinite(rew)) and np.all(rew <= 0)
        if done.all():
            ends += 1
            assert all("terminal_observation" in i for i in infos)
    assert ends == 2
    model = train("toy", timesteps=64, seed=0, config={"task": {"episode_steps": 4}})
    env = gym.make("mndt/CellSleep-v0", scenario="toy", config={"task": {"episode_steps": 4}})
    o, _ = env.reset(seed=0)
    action, _ = SharedPolicy(model).predict(o)
    assert env.action_space.contains(action)
    legal = o["action_mask"].reshape(21, 3)[np.arange(21), action]
    assert legal.all(), "the masked policy chose an illegal action"


def test_antenna_vecenv_team_and_local_rewards_and_training() -> None:
    from mndt_envs.agents.load_balancing import AntennaVecEnv, train

    kw = {"scenario": "toy", "config": {"users": {"n_users": 300}, "task": {"episode_steps": 3}}}
    for reward in ("team", "local"):
        venv = AntennaVecEnv(kw, seed=0, reward=reward)
        venv.reset()
        venv.step_async(np.zeros((venv.num_envs, 1), dtype=np.float32))
        obs, rew, done, infos = venv.step_wait()
        assert rew.shape == (venv.num_envs,)
        if reward == "team":
            assert np.allclose(rew, rew[0])  # one team reward for every antenna
        else:
            assert rew.std() > 0  # local shaping differs per antenna
    model = train(48, kw, seed=0)
    assert model.num_timesteps >= 48


def _ra_env(n_users: int = 60) -> gym.Env:
    return gym.make("mndt/ResourceAllocation-v0", scenario="toy", config={"users": {"n_users": n_users}})


def test_ppo_lagrangian_zero_theta_is_equal_dividing() -> None:
    from mndt_envs.agents.ppo_lagrangian import fractions_from_theta
    from mndt_envs.baselines.resource_allocation import EqualDividing

    env = _ra_env()
    env.reset(seed=3)
    core = env.unwrapped.core
    for _ in range(3):
        ed = EqualDividing(env).fractions()
        assert np.allclose(fractions_from_theta(core, np.zeros(4)), ed)
        env.step(ed.astype(np.float32))


def test_shipped_ppo_lagrangian_agent_runs_and_meets_demand_on_toy() -> None:
    from pathlib import Path

    from mndt_envs.agents.ppo_lagrangian import PPOLagrangianAgent

    shipped = Path(__file__).resolve().parents[1] / "mndt_envs" / "data" / "weights" / "ra_ppo_lagrangian.zip"
    env = _ra_env(200)
    agent = PPOLagrangianAgent(env, shipped)
    obs, _ = env.reset(seed=1000)
    done = False
    while not done:
        action, _ = agent.predict(obs)
        assert env.action_space.contains(action)
        obs, r, term, trunc, info = env.step(action)
        done = term or trunc
    assert info["episode_metrics"]["satisfaction_ratio"] >= 0.95


def test_dual_ascent_raises_lambda_when_the_constraint_is_violated(tmp_path) -> None:
    from mndt_envs.agents.ppo_lagrangian import train

    # a budget of 0 can only be met with every demand satisfied: lambda must grow from 0
    model, log = train(tmp_path / "m.zip", stages=[("toy-dense", "toy", {"users": {"n_users": 700}}, 400)],
                       budget=0.0)
    assert (tmp_path / "m.zip").is_file() and log
    assert log[-1]["lambda"] > 0.0
