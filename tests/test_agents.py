"""The learning agents' plumbing: shared-policy VecEnvs, short trainings, policies as baselines."""

from __future__ import annotations

import gymnasium as gym
import numpy as np

import mndt_envs  # noqa: F401


def test_cell_agents_vecenv_and_masked_training() -> None:
    from agents.cell_sleep import CellAgentsVecEnv, SharedPolicy, train
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
    from agents.load_balancing import AntennaVecEnv, train

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
