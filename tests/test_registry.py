"""Registry-wide checks: every registered env and parallel env (DESIGN convention 9)."""

from __future__ import annotations

import importlib
import subprocess
import sys

import gymnasium as gym
import pytest

import mndt_envs
from mndt_envs import testing
from mndt_envs.registration import TASKS, load_entry, parallel_env, task

IDS = [t.name for t in TASKS]


@pytest.fixture(params=TASKS, ids=IDS)
def spec(request):
    return request.param


def test_every_id_registered(spec) -> None:
    assert spec.env_id in gym.registry
    assert spec.env_id.startswith("mndt/") and spec.env_id.endswith("-v0")


def test_register_is_idempotent() -> None:
    n = len(gym.registry)
    importlib.reload(mndt_envs)
    mndt_envs.register_envs()
    assert len(gym.registry) == n


def test_make_with_module_prefix(spec) -> None:
    env = gym.make(f"mndt_envs:{spec.env_id}", **spec.test_kwargs)
    env.close()


def test_check_env(spec) -> None:
    testing.check_gym_env(spec.env_id, **spec.test_kwargs)


def test_determinism(spec) -> None:
    testing.check_determinism(spec.env_id, **spec.test_kwargs)


def test_pickle(spec) -> None:
    testing.check_pickle(spec.env_id, **spec.test_kwargs)


def test_spec_json(spec) -> None:
    testing.check_spec_json(spec.env_id, **spec.test_kwargs)


def test_render(spec) -> None:
    testing.check_render(spec.env_id, **spec.test_kwargs)


def test_action_masks(spec) -> None:
    testing.check_action_mask(spec.env_id, **spec.test_kwargs)


def test_parallel_api(spec) -> None:
    testing.check_parallel_env(spec.parallel_name, **spec.test_kwargs)


def test_parallel_spaces_by_identity(spec) -> None:
    env = parallel_env(spec.parallel_name, **spec.test_kwargs)
    env.reset(seed=0)
    a = env.possible_agents[0]
    assert env.observation_space(a) is env.observation_space(a)
    assert env.action_space(a) is env.action_space(a)
    env.close()


def test_baselines_predict(spec) -> None:
    env = gym.make(spec.env_id, **spec.test_kwargs)
    obs, _ = env.reset(seed=0)
    for name, entry in spec.baselines.items():
        policy = load_entry(entry)(env)
        action, state = policy.predict(obs, deterministic=True)
        assert env.action_space.contains(action), f"{name} proposes an action outside the action space"
        env.step(action)
    env.close()


def test_env_docstring_sections(spec) -> None:
    doc = load_entry(spec.env_entry).__doc__ or ""
    for section in ("## Description", "## Action Space", "## Observation Space", "## Rewards", "## Episode End"):
        assert section in doc, f"{spec.env_entry} docstring lacks {section}"


def test_unknown_names() -> None:
    with pytest.raises(KeyError, match="known"):
        parallel_env("nope_v0")
    with pytest.raises(KeyError, match="known tasks"):
        task("nope")


def test_import_is_light() -> None:
    code = ("import sys, mndt_envs; heavy = [m for m in ('torch', 'sionna', 'mitsuba', 'osmnx', 'matplotlib') "
            "if m in sys.modules]; print(','.join(heavy))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip()
    assert out == "", f"import mndt_envs pulls in heavy modules: {out}"
