"""Batched vector envs: registration, spaces, next-step autoreset against SyncVectorEnv, infos, SB3 adapter."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest
from gymnasium.vector import AutoresetMode

import mndt_envs  # noqa: F401
from mndt_envs.registration import TASKS
from mndt_envs.vector.base import BatchedVectorEnv
from mndt_envs.vector.sb3 import BatchedSB3VecEnv, make_sb3_vec_env

KW = {
    "mndt/ResourceAllocation-v0": {"scenario": "toy",
                                   "config": {"users": {"n_users": 30}, "task": {"episode_steps": 3}}},
    "mndt/CellSleep-v0": {"scenario": "toy", "config": {"task": {"episode_steps": 3}}},
    "mndt/LoadBalancing-v0": {"scenario": "toy", "config": {"task": {"episode_steps": 3}}},
}


@pytest.mark.parametrize("env_id", [t.env_id for t in TASKS])
def test_make_vec_returns_batched_env_with_single_env_spaces(env_id: str) -> None:
    venv = gym.make_vec(env_id, num_envs=3, vectorization_mode="vector_entry_point", **KW[env_id])
    assert isinstance(venv, BatchedVectorEnv) and venv.num_envs == 3
    assert venv.metadata["autoreset_mode"] == AutoresetMode.NEXT_STEP
    single = gym.make(env_id, **KW[env_id])
    assert venv.single_observation_space == single.observation_space
    assert venv.single_action_space == single.action_space
    obs, _ = venv.reset(seed=0)
    assert venv.observation_space.contains(obs)
    venv.action_space.seed(0)
    _, rew, term, trunc, info = venv.step(venv.action_space.sample())
    assert rew.shape == (3,) and term.dtype == bool and trunc.dtype == bool
    assert info["cost"].shape == (3,) and info["_cost"].all()


@pytest.mark.parametrize("env_id", [t.env_id for t in TASKS])
def test_batched_vector_env_equals_sync_vector_env(env_id: str) -> None:
    """Same seeds, same actions: the same rollout as Gymnasium's SyncVectorEnv of single envs (autoresets included)."""
    n = 2
    batched = gym.make_vec(env_id, num_envs=n, vectorization_mode="vector_entry_point", **KW[env_id])
    sync = gym.make_vec(env_id, num_envs=n, vectorization_mode="sync", **KW[env_id])
    ob, _ = batched.reset(seed=5)
    os_, _ = sync.reset(seed=5)
    sync.action_space.seed(1)
    saw_reset = False
    for t in range(8):  # episodes of 3 steps: autoresets at steps 4 and 8
        for a, b in zip(gym.vector.utils.iterate(batched.observation_space, ob),
                        gym.vector.utils.iterate(sync.observation_space, os_)):
            if isinstance(a, dict):
                for k in a:
                    np.testing.assert_allclose(a[k], b[k], atol=1e-5, err_msg=f"step {t} {k}")
            else:
                np.testing.assert_allclose(a, b, atol=1e-5, err_msg=f"step {t}")
        act = sync.action_space.sample()
        ob, rb, tb, trb, ib = batched.step(act)
        os_, rs, ts, trs, is_ = sync.step(act)
        np.testing.assert_allclose(rb, rs, rtol=1e-9, atol=1e-12, err_msg=f"step {t}")
        np.testing.assert_array_equal(tb, ts)
        np.testing.assert_array_equal(trb, trs)
        has = is_.get("_cost", np.zeros(n, dtype=bool))
        np.testing.assert_array_equal(ib["_cost"], has)
        if has.any():
            np.testing.assert_allclose(ib["cost"][has], is_["cost"][has], rtol=1e-9, atol=1e-15)
        if "episode_metrics" in is_:
            np.testing.assert_array_equal(ib["_episode_metrics"], is_["_episode_metrics"])
        saw_reset |= bool(np.any(tb | trb))
    assert saw_reset


def test_next_step_autoreset_and_masks() -> None:
    venv = gym.make_vec("mndt/CellSleep-v0", num_envs=4, vectorization_mode="vector_entry_point",
                        **KW["mndt/CellSleep-v0"])
    obs, info = venv.reset(seed=0)
    assert (info["n_cells"] == 21).all()
    act = np.zeros((4, 21), dtype=np.int64)
    for _ in range(3):
        obs, rew, term, trunc, info = venv.step(act)
    assert trunc.all() and not term.any()
    assert info["_episode_metrics"].all() and np.all(info["episode_metrics"]["energy_kwh"] > 0)
    obs, rew, term, trunc, info = venv.step(act)  # the reset step: actions ignored
    assert (rew == 0).all() and not (term | trunc).any()
    assert not info["_cost"].any() and info["_n_cells"].all()
    masks = venv.action_masks()
    assert masks.shape == (4, 63) and masks.dtype == bool
    np.testing.assert_array_equal(masks, obs["action_mask"].astype(bool))
    with pytest.raises(ValueError, match="render_mode"):
        gym.make_vec("mndt/CellSleep-v0", num_envs=2, vectorization_mode="vector_entry_point", render_mode="rgb_array")


def test_reset_mask_resets_only_masked_envs() -> None:
    venv = gym.make_vec("mndt/LoadBalancing-v0", num_envs=3, vectorization_mode="vector_entry_point",
                        **KW["mndt/LoadBalancing-v0"])
    venv.reset(seed=0)
    venv.step(np.ones((3, venv.single_action_space.shape[0]), dtype=np.float32))
    venv.reset(options={"reset_mask": np.array([True, False, False])})
    assert venv.core.k.tolist() == [0, 1, 1]


def test_sb3_vec_env_same_step_reset_and_masks() -> None:
    venv = make_sb3_vec_env("mndt/CellSleep-v0", 3, **KW["mndt/CellSleep-v0"])
    assert isinstance(venv, BatchedSB3VecEnv)
    venv.seed(4)
    obs = venv.reset()
    assert obs["observation"].shape == (3, 21, 22)
    from sb3_contrib.common.maskable.utils import get_action_masks, is_masking_supported

    assert is_masking_supported(venv)
    assert get_action_masks(venv).shape == (3, 63)
    for _ in range(3):
        venv.step_async(np.zeros((3, 21), dtype=np.int64))
        obs, rew, done, infos = venv.step_wait()
        assert rew.dtype == np.float32 and all("cost" in i for i in infos)
    assert done.all()
    assert infos[0]["TimeLimit.truncated"] and "energy_kwh" in infos[0]["episode_metrics"]
    assert infos[0]["terminal_observation"]["observation"].shape == (21, 22)
    # the returned observation is the next episode's first (same-step reset): time of day back at the start
    single = gym.make("mndt/CellSleep-v0", **KW["mndt/CellSleep-v0"])
    first, _ = single.reset(seed=4)
    single.step(np.zeros(21, dtype=np.int64))
    np.testing.assert_allclose(obs["observation"][0, :, :2], first["observation"][:, :2], atol=1e-6)


def test_sb3_maskable_ppo_trains_on_batched_env() -> None:
    from sb3_contrib import MaskablePPO

    venv = make_sb3_vec_env("mndt/CellSleep-v0", 4, **KW["mndt/CellSleep-v0"])
    model = MaskablePPO("MultiInputPolicy", venv, n_steps=16, batch_size=32, n_epochs=1, seed=0, device="cpu")
    model.learn(total_timesteps=64)
    assert model.num_timesteps >= 64
