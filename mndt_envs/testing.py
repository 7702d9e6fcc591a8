"""Reusable checks run over the whole registry (DESIGN convention 9).

Every task added to :data:`mndt_envs.registration.TASKS` is covered by
``tests/test_registry.py`` through these functions; users can run them on their own
environments too.
"""

from __future__ import annotations

import json
import pickle
from typing import Any

import gymnasium as gym
import numpy as np

__all__ = [
    "rollout",
    "check_gym_env",
    "check_determinism",
    "check_pickle",
    "check_spec_json",
    "check_render",
    "check_action_mask",
    "check_parallel_env",
    "check_task_core",
]


def _sample(env: gym.Env, obs: Any) -> Any:
    mask = obs.get("action_mask") if isinstance(obs, dict) else None
    if mask is not None and hasattr(env.action_space, "nvec"):
        return _masked_multidiscrete_sample(env.action_space, np.asarray(mask))
    if mask is not None and isinstance(env.action_space, gym.spaces.Discrete):
        return env.action_space.sample(mask=np.asarray(mask, dtype=np.int8))
    return env.action_space.sample()


def _masked_multidiscrete_sample(space: Any, flat_mask: np.ndarray) -> np.ndarray:
    nvec = np.asarray(space.nvec).ravel()
    out = np.empty(len(nvec), dtype=space.dtype)
    offs = np.concatenate([[0], np.cumsum(nvec)])
    for i in range(len(nvec)):
        legal = np.flatnonzero(flat_mask[offs[i]: offs[i + 1]])
        out[i] = space.np_random.choice(legal) if len(legal) else 0
    return out.reshape(np.asarray(space.nvec).shape)


def rollout(env: gym.Env, seed: int, n_steps: int) -> list[tuple[Any, float, bool, bool]]:
    """Reset with ``seed`` and take ``n_steps`` seeded random (legal) actions."""
    obs, _ = env.reset(seed=seed)
    env.action_space.seed(seed)
    out = [(obs, 0.0, False, False)]
    for _ in range(n_steps):
        obs, r, term, trunc, _ = env.step(_sample(env, obs))
        out.append((obs, float(r), bool(term), bool(trunc)))
        if term or trunc:
            obs, _ = env.reset()
    return out


def check_gym_env(env_id: str, **kwargs: Any) -> None:
    """Gymnasium's ``check_env`` on the unwrapped env (passive checks included)."""
    from gymnasium.utils.env_checker import check_env

    env = gym.make(env_id, **kwargs)
    try:
        check_env(env.unwrapped, skip_render_check=True)
    finally:
        env.close()


def check_determinism(env_id: str, n_steps: int = 8, **kwargs: Any) -> None:
    """Two envs reset with the same seed give identical rollouts; another seed differs."""
    from gymnasium.utils.env_checker import data_equivalence

    a, b, c = (gym.make(env_id, **kwargs) for _ in range(3))
    ra, rb, rc = rollout(a, 123, n_steps), rollout(b, 123, n_steps), rollout(c, 456, n_steps)
    for i, (x, y) in enumerate(zip(ra, rb)):
        assert data_equivalence(x, y, exact=True), f"{env_id}: rollouts with the same seed differ at step {i}"
    assert not data_equivalence(ra, rc), f"{env_id}: rollouts with different seeds are identical"
    for e in (a, b, c):
        e.close()


def check_pickle(env_id: str, **kwargs: Any) -> None:
    """The env pickles after a reset and the copy continues identically."""
    from gymnasium.utils.env_checker import data_equivalence

    env = gym.make(env_id, **kwargs)
    obs, _ = env.reset(seed=7)
    env2 = pickle.loads(pickle.dumps(env))
    env.action_space.seed(3)
    act = _sample(env, obs)
    o1 = env.step(act)
    o2 = env2.step(act)
    assert data_equivalence(o1[:4], o2[:4], exact=True), f"{env_id}: unpickled copy diverges"
    env.close()
    env2.close()


def check_spec_json(env_id: str, **kwargs: Any) -> None:
    """``env.spec.to_json()`` round-trips (kwargs are plain data)."""
    env = gym.make(env_id, **kwargs)
    assert env.spec is not None
    text = env.spec.to_json()
    back = gym.envs.registration.EnvSpec.from_json(text)
    assert back.id == env_id and json.loads(text)["kwargs"] == json.loads(back.to_json())["kwargs"]
    env.close()


def check_render(env_id: str, **kwargs: Any) -> None:
    """``render_mode="rgb_array"`` returns an (H, W, 3) uint8 image that is not blank."""
    env = gym.make(env_id, render_mode="rgb_array", **kwargs)
    env.reset(seed=0)
    img: Any = env.render()
    assert isinstance(img, np.ndarray) and img.ndim == 3 and img.shape[2] == 3 and img.dtype == np.uint8
    assert img.std() > 0, f"{env_id}: rendered image is blank"
    env.close()


def check_action_mask(env_id: str, n_steps: int = 5, **kwargs: Any) -> None:
    """If the env exposes ``action_masks()``, masks are int8/bool with at least one legal action per head."""
    env = gym.make(env_id, **kwargs)
    obs, _ = env.reset(seed=0)
    fn = getattr(env.unwrapped, "action_masks", None)
    if fn is None:
        env.close()
        return
    for _ in range(n_steps):
        m = np.asarray(fn())
        assert m.dtype in (np.int8, np.bool_), f"{env_id}: action mask dtype {m.dtype}"
        nvec = np.asarray(getattr(env.action_space, "nvec", [getattr(env.action_space, "n", len(m))])).ravel()
        offs = np.concatenate([[0], np.cumsum(nvec)])
        for i in range(len(nvec)):
            assert m[offs[i]: offs[i + 1]].any(), f"{env_id}: head {i} has no legal action"
        obs, *_ = env.step(_sample(env, obs))
    env.close()


def check_parallel_env(name: str, num_cycles: int = 20, **kwargs: Any) -> None:
    """PettingZoo's ``parallel_api_test`` and ``parallel_seed_test`` on a registered parallel env."""
    from pettingzoo.test import parallel_api_test, parallel_seed_test

    from .registration import parallel_env

    env = parallel_env(name, **kwargs)
    parallel_api_test(env, num_cycles=num_cycles)
    env.close()
    parallel_seed_test(lambda: parallel_env(name, **kwargs), num_cycles=min(num_cycles, 10))


def check_task_core(core: Any, seed: int = 0, max_steps: int = 10_000) -> int:
    """Run a task core through one seeded episode checking the contract (:class:`~.tasks.contract.TaskCore`).

    Checks: the protocol's methods exist; observations lie in the declared spaces (single and per agent);
    every step returns a :class:`~.tasks.contract.StepResult` with one reward per agent, finite reward and
    cost, reward terms summing to the reward; masks (where the task has them) are int8 with a legal action
    per agent; the episode ends with ``episode`` metrics; a further ``step`` raises ``EpisodeOverError``.
    Actions are sampled from the spaces (legal under the masks).

    Returns:
        the number of steps of the episode.
    """
    from .tasks.contract import EpisodeOverError, StepResult, TaskCore

    assert isinstance(core, TaskCore), f"{type(core).__name__} does not implement TaskCore"
    rng = np.random.default_rng(seed)
    assert isinstance(core.reset(rng), dict), "reset() must return the reset info dict"
    obs_space, act_space = core.spaces()
    a_obs, a_act = core.agent_spaces()
    act_space.seed(seed)
    n = len(core.agent_ids)
    for t in range(max_steps):
        assert obs_space.contains(core.observation()), f"step {t}: observation() outside spaces()[0]"
        per = core.agent_observations()
        assert len(per) == n and all(a_obs.contains(o) for o in per), f"step {t}: agent observation outside space"
        mask = core.action_mask()
        if mask is not None:
            m = np.asarray(core.agent_action_masks())
            assert m.dtype == np.int8 and m.shape[0] == n and m.any(axis=1).all(), f"step {t}: bad agent masks"
            action = _masked_multidiscrete_sample(act_space, np.asarray(mask))
        else:
            action = act_space.sample()
        res = core.step(action)
        assert isinstance(res, StepResult), f"step {t}: step() must return a StepResult"
        assert np.shape(res.agent_rewards) == (n,), f"step {t}: agent_rewards shape {np.shape(res.agent_rewards)}"
        assert np.isfinite(res.reward) and np.isfinite(res.cost), f"step {t}: non-finite reward or cost"
        assert abs(sum(res.reward_terms.values()) - res.reward) <= 1e-9 * max(1.0, abs(res.reward)), \
            f"step {t}: reward terms do not sum to the reward"
        if res.done:
            assert res.episode is not None, "the last step must carry the episode metrics"
            try:
                core.step(action)
            except EpisodeOverError:
                return t + 1
            raise AssertionError("step() after the end of the episode must raise EpisodeOverError")
        assert res.episode is None, f"step {t}: episode metrics before the end"
    raise AssertionError(f"no episode end within {max_steps} steps")
