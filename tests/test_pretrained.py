"""The shipped models load by name through the public API and do their job."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest

import mndt_envs  # noqa: F401 - registers the ids
from mndt_envs import pretrained
from mndt_envs.evaluation import run_episode


def test_every_shipped_model_is_listed_and_present() -> None:
    assert pretrained.available() == list(pretrained.MODELS)
    for name in pretrained.MODELS:
        assert pretrained.path(name).stat().st_size > 1_000


def test_unknown_name_lists_the_known_ones() -> None:
    with pytest.raises(KeyError, match="ra_ppo_lagrangian, traffic_generator, traffic_forecaster, user_count_lstm"):
        pretrained.load("gpt")
    with pytest.raises(ValueError, match="only to ra_ppo_lagrangian"):
        pretrained.load("traffic_generator", env=object())


def test_ppo_lagrangian_acts_on_a_fresh_env() -> None:
    env = gym.make("mndt/ResourceAllocation-v0", scenario="toy",
                   config={"users": {"n_users": 60}, "task": {"action_mode": "demand"}})
    agent = pretrained.load("ra_ppo_lagrangian", env=env)
    obs, _ = env.reset(seed=3)
    action, _ = agent.predict(obs)
    assert env.action_space.contains(action.astype(env.action_space.dtype))
    res = run_episode(env, agent, seed=3)
    # the shipped agent keeps the satisfaction target on the small scenario it was trained on
    assert res["metrics"]["satisfaction_ratio"] >= 0.95
    assert pretrained.load("ppo_lagrangian").policy is not None  # alias; the bare SB3 model


def test_traffic_models_generate_and_forecast() -> None:
    gen = pretrained.load("traffic_generator")
    d = gen.generate(4, 48, 1800.0, np.random.default_rng(0))
    assert d.shape == (4, 48) and np.isfinite(d).all() and (d >= 0).all() and d.std() > 0
    f = pretrained.load("user_count_lstm")
    hist = np.random.default_rng(1).poisson(3.0, size=(2, f.p)).astype(np.float32)
    y = f.predict(hist)
    assert y.shape == (2, f.horizon) and np.isfinite(y).all()
    assert 0.0 <= float(np.median(y)) <= 20.0  # user counts of one cell, near the history's level
    f = pretrained.load("traffic_forecaster")
    hist = np.abs(np.random.default_rng(2).normal(100.0, 10.0, size=(3, f.context)))
    y = f.predict(hist)
    assert y.shape == (3, f.horizon) and np.isfinite(y).all() and 50.0 < float(np.median(y)) < 150.0
    for name in pretrained.MODELS:  # provenance beside every weights file
        assert pretrained.path(name).with_suffix(".json").is_file() or name == "ra_ppo_lagrangian"
