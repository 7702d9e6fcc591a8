"""Every env runs on the ray-traced city preset by the config switch (issue: channel by config)."""

from __future__ import annotations

import warnings

import gymnasium as gym
import numpy as np
import pytest

import mndt_envs  # noqa: F401
from mndt_envs.twin import backend

CASES = [
    ("mndt/ResourceAllocation-v0", {"users": {"n_users": 100}}),
    ("mndt/CellSleep-v0", {"task": {"episode_steps": 3}}),
    ("mndt/LoadBalancing-v0", {"users": {"n_users": 300}, "task": {"episode_steps": 3}}),
]


@pytest.mark.skipif(not backend.raytracing_available(warn=False), reason="no ray-tracing backend (LLVM >= 16 / CUDA)")
@pytest.mark.parametrize(("env_id", "config"), CASES, ids=[c[0] for c in CASES])
def test_env_on_raytraced_city(env_id: str, config: dict) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the build reports its 38.901 fill share as a warning
        env = gym.make(env_id, scenario="helsinki", config=config)
        obs, _ = env.reset(seed=0)
    twin = env.unwrapped.core.twin
    assert type(twin.channel).__name__ == "RayTracedChannel"
    env.action_space.seed(0)
    for _ in range(2):
        obs, r, term, trunc, info = env.step(env.action_space.sample())
        assert np.isfinite(r) and env.observation_space.contains(obs)
    env.close()
