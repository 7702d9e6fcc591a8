"""The task contract and the generic adapters, over every registered task (issues 15 items 3, 4, 6, 7 and 17)."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest

import mndt_envs  # noqa: F401
from mndt_envs.envs.base import feature_table
from mndt_envs.registration import TASKS, load_entry, parallel_env
from mndt_envs.tasks.contract import ActionError, EpisodeOverError, StepResult, TaskCore

IDS = [t.name for t in TASKS]


@pytest.fixture(params=TASKS, ids=IDS)
def spec(request):
    return request.param


def _single(spec):
    return gym.make(spec.env_id, **spec.test_kwargs)


def _legal_joint(penv, obs):
    out = {}
    for a in penv.agents:
        space = penv.action_space(a)
        o = obs[a]
        mask = o.get("action_mask") if isinstance(o, dict) else None
        out[a] = space.sample(mask=np.asarray(mask, dtype=np.int8)) if mask is not None else space.sample()
    return out


def _flat(o):
    return np.concatenate([np.ravel(v) for v in o.values()]) if isinstance(o, dict) else np.ravel(o)


def _run_to_end(env, act):
    while True:
        *_, term, trunc, _ = env.step(act())
        if term or trunc:
            return


def test_cores_implement_the_contract(spec) -> None:
    env = _single(spec)
    core = env.unwrapped.core
    assert isinstance(core, TaskCore)
    info = core.reset(np.random.default_rng(0))
    assert isinstance(info, dict)
    obs_space, act_space = core.spaces()
    a_obs, a_act = core.agent_spaces()
    assert obs_space.contains(core.observation())
    obs = core.agent_observations()
    assert len(obs) == len(core.agent_ids) and all(a_obs.contains(o) for o in obs)
    act_space.seed(0)
    res = core.step(act_space.sample(mask=None) if core.action_mask() is None
                    else np.zeros(act_space.shape, dtype=np.int64))
    assert isinstance(res, StepResult)
    assert res.agent_rewards.shape == (len(core.agent_ids),) and np.isfinite(res.reward) and res.cost >= 0
    info = res.info()
    assert info["cost"] == res.cost and info["reward_terms"] == res.reward_terms
    assert res.reward == pytest.approx(sum(res.reward_terms.values()))
    assert a_act.contains(a_act.sample())
    env.close()


def test_single_env_step_after_end_raises(spec) -> None:
    env = _single(spec)
    env.unwrapped.reset(seed=0)  # the core's own adapter, without Gymnasium's wrappers
    u = env.unwrapped
    with pytest.raises(EpisodeOverError):
        type(u)(**spec.test_kwargs).step(u.action_space.sample())  # never reset
    zero = (lambda: np.zeros(u.action_space.shape, dtype=u.action_space.dtype)) \
        if spec.name != "resource_allocation" else (lambda: u.action_space.sample())
    _run_to_end(u, zero)
    with pytest.raises(EpisodeOverError, match="call reset"):
        u.step(zero())
    with pytest.raises(RuntimeError):  # EpisodeOverError is a RuntimeError
        u.step(zero())
    u.reset(seed=1)
    u.step(zero())  # usable again after reset
    env.close()


def test_core_step_after_end_raises(spec) -> None:
    env = _single(spec)
    u = env.unwrapped
    u.reset(seed=0)
    zero = (lambda: np.zeros(u.action_space.shape, dtype=u.action_space.dtype)) \
        if spec.name != "resource_allocation" else (lambda: u.action_space.sample())
    _run_to_end(u, zero)
    with pytest.raises(EpisodeOverError):
        u.core.step(zero())


def test_parallel_step_after_end_raises(spec) -> None:
    penv = parallel_env(spec.parallel_name, **spec.test_kwargs)
    with pytest.raises(EpisodeOverError):
        penv.step({})
    obs, _ = penv.reset(seed=0)
    while penv.agents:
        obs, *_ = penv.step(_legal_joint(penv, obs))
    with pytest.raises(EpisodeOverError, match="call reset"):
        penv.step({a: penv.action_space(a).sample() for a in penv.possible_agents})
    penv.close()


@pytest.mark.parametrize("bad", ["none", "empty", "list", "missing", "unknown", "string", "ragged", "complex",
                                 "bool", "wrong_shape"])
def test_parallel_action_dict_validation(spec, bad) -> None:
    penv = parallel_env(spec.parallel_name, **spec.test_kwargs)
    obs, _ = penv.reset(seed=0)
    good = _legal_joint(penv, obs)
    a0 = penv.agents[0]
    space = penv.action_space(a0)
    acts: object
    if bad == "none":
        acts = None
    elif bad == "empty":
        acts = {}
    elif bad == "list":
        acts = [1, 2, 3]
    elif bad == "missing":
        acts = dict(good)
        del acts[penv.agents[-1]]
    elif bad == "unknown":
        acts = {**good, "nobody_7": good[a0]}
    else:
        value = {"string": "1", "ragged": [[0, 1], [2]], "complex": np.array(1 + 1j), "bool": True,
                 "wrong_shape": np.zeros((2, 7))}[bad]
        if isinstance(space, gym.spaces.Dict):  # resource allocation: a malformed field
            value = {**good[a0], "rb": value}
        acts = {**good, a0: value}
    t0 = penv.core.observation()
    with pytest.raises(ValueError) as exc:
        penv.step(acts)
    assert isinstance(exc.value, ActionError)
    msg = str(exc.value)
    assert "actions" in msg
    if bad in ("missing", "unknown"):
        assert (penv.agents[-1] if bad == "missing" else "nobody_7") in msg
    if bad in ("string", "ragged", "complex", "bool", "wrong_shape"):
        assert a0 in msg
    # nothing advanced: the same observation, and a good step still works
    t1 = penv.core.observation()
    np.testing.assert_array_equal(_flat(t0), _flat(t1))
    penv.step(good)
    penv.close()


def test_parallel_infos_are_separate_objects(spec) -> None:
    penv = parallel_env(spec.parallel_name, **spec.test_kwargs)
    obs, _ = penv.reset(seed=0)
    _, rew, _, _, infos = penv.step(_legal_joint(penv, obs))
    a, b = penv.possible_agents[:2]
    assert infos[a] is not infos[b]
    assert infos[a]["reward_terms"] is not infos[b]["reward_terms"]
    infos[a]["cost"] = -123.0
    assert infos[b]["cost"] != -123.0
    assert set(rew) == set(infos) == set(penv.possible_agents)
    assert all("global_reward" in i and "cost" in i for i in infos.values())
    penv.close()


@pytest.mark.parametrize("action", [np.array(["1.5"] * 3), "1.5", np.array([1 + 2j] * 3), None, {"a": 1},
                                    np.array([True, False, True]), [[0.0, 1.0], [2.0]]])
def test_load_balancing_rejects_lenient_actions(action) -> None:
    env = gym.make("mndt/LoadBalancing-v0", **next(t for t in TASKS if t.name == "load_balancing").test_kwargs)
    env.reset(seed=0)
    n = env.unwrapped.core.n
    if isinstance(action, np.ndarray) and action.shape == (3,):
        action = np.resize(action, n)
    with pytest.raises(ValueError, match="action"):
        env.step(action)


@pytest.mark.parametrize("shape", ["row", "col"])
def test_load_balancing_rejects_reshaped_actions(shape) -> None:
    env = gym.make("mndt/LoadBalancing-v0", **next(t for t in TASKS if t.name == "load_balancing").test_kwargs)
    env.reset(seed=0)
    n = env.unwrapped.core.n
    a = np.zeros((1, n) if shape == "row" else (n, 1), dtype=np.float32)
    with pytest.raises(ValueError, match="expected shape"):
        env.step(a)


def test_resource_allocation_rejects_extra_key_and_ragged() -> None:
    spec = next(t for t in TASKS if t.name == "resource_allocation")
    cfg = {**spec.test_kwargs["config"], "task": {"action_mode": "direct", "episode_steps": 3}}
    env = gym.make(spec.env_id, scenario="toy", config=cfg)
    env.reset(seed=0)
    good = env.action_space.sample()
    with pytest.raises(ValueError, match="unknown field"):
        env.step({**good, "extra": 1})
    env2 = gym.make(spec.env_id, **spec.test_kwargs)
    env2.reset(seed=0)
    with pytest.raises(ValueError, match="not array-like"):
        env2.step([[0.5, 0.5], [0.5]])
    with pytest.raises(ValueError, match="dtype"):
        env2.step(np.ones(env2.unwrapped.core.n_users, dtype=bool))


def test_cell_sleep_parallel_reports_illegal_actions() -> None:
    spec = next(t for t in TASKS if t.name == "cell_sleep")
    penv = parallel_env(spec.parallel_name, scenario="toy",
                        config={"task": {"episode_steps": 4, "peak_load": 5.0}})  # overloaded: nobody may leave
    obs, _ = penv.reset(seed=0)
    masks = penv.action_masks()
    assert masks.dtype == np.bool_ and masks.shape == (len(penv.possible_agents), 3)
    assert obs[penv.possible_agents[0]]["action_mask"].dtype == np.int8
    forbidden = [a for i, a in enumerate(penv.possible_agents) if not masks[i, 2]]
    assert forbidden, "an overloaded network should forbid closing cells"
    acts = {a: 2 if a in forbidden else 0 for a in penv.possible_agents}
    _, _, _, _, infos = penv.step(acts)
    flagged = {a for a, i in infos.items() if i["illegal_action"]}
    assert flagged == set(forbidden)
    assert all(i["illegal_actions"] == len(forbidden) for i in infos.values())


def test_masks_only_where_the_task_has_them(spec) -> None:
    penv = parallel_env(spec.parallel_name, **spec.test_kwargs)
    env = _single(spec)
    masked = penv.core.agent_action_masks() is not None
    assert hasattr(penv, "action_masks") == masked and hasattr(env.unwrapped, "action_masks") == masked


def test_single_action_masks_bool_obs_mask_int8() -> None:
    spec = next(t for t in TASKS if t.name == "cell_sleep")
    env = gym.make(spec.env_id, **spec.test_kwargs)
    obs, _ = env.reset(seed=0)
    m = env.unwrapped.action_masks()
    assert m.dtype == np.bool_ and obs["action_mask"].dtype == np.int8
    np.testing.assert_array_equal(m, obs["action_mask"].astype(bool))


def test_docstrings_carry_generated_observation_tables(spec) -> None:
    for entry, attr in ((spec.env_entry, "features"), (spec.parallel_entry, "agent_features")):
        cls = load_entry(entry)
        doc = cls.__doc__ or ""
        assert "| index | name | unit | range |" in doc, entry
        for f in getattr(cls.core_cls, attr):
            assert f"`{f.name}`" in doc, (entry, f.name)


def test_feature_table_indices() -> None:
    from mndt_envs.tasks.contract import Feature

    t = feature_table([Feature("a", "1", 0.0, 1.0), Feature("b", "dB", -1.0, "x", "n"), Feature("c", "1", 0, 1)])
    rows = t.splitlines()[2:]
    assert rows[0].startswith("| 0 | `a`") and rows[1].startswith("| 1 … n |") and rows[2].startswith("| n + 1 |")
    assert "[-1, x]" in rows[1]
    t = feature_table([Feature("a", "1", 0, 1, "n"), Feature("b", "1", 0, 1, "n", "x | y")])
    assert "| 0 … n - 1 |" in t and "| n … 2n - 1 |" in t and "x \\| y" in t


# ---------------------------------------------------------------- a fourth task through the contract alone
def test_example_task_through_the_generic_adapters() -> None:
    from example_task import PowerLevelsCore, PowerLevelsEnv, PowerLevelsParallelEnv
    from gymnasium.utils.env_checker import check_env
    from pettingzoo.test import parallel_api_test

    kw = {"scenario": "toy", "config": {"users": {"n_users": 40}, "task": {"episode_steps": 4}}}
    env = PowerLevelsEnv(**kw)
    assert isinstance(env.core, TaskCore) and isinstance(PowerLevelsCore("toy", kw["config"]), TaskCore)
    check_env(env, skip_render_check=True)
    obs, _ = env.reset(seed=0)
    total, steps = 0.0, 0
    while True:
        obs, r, term, trunc, info = env.step(np.full(env.core.n, 1))
        total, steps = total + r, steps + 1
        assert {"cost", "reward_terms", "mean_se"} <= set(info) and 0.0 <= info["cost"] <= 1.0
        if term or trunc:
            break
    assert steps == 4 and "episode_metrics" in info and env.action_masks().dtype == np.bool_
    with pytest.raises(EpisodeOverError):
        env.step(np.full(env.core.n, 1))
    env.reset(seed=0)
    with pytest.raises(ValueError, match="action"):
        env.step(np.full(env.core.n, 3))
    penv = PowerLevelsParallelEnv(**kw)
    parallel_api_test(penv, num_cycles=6)
    penv.reset(seed=0)
    assert penv.action_masks().dtype == np.bool_ and penv.action_masks().shape == (env.core.n, 3)
    assert "| index | name |" in (PowerLevelsEnv.__doc__ or "") and "`served_share`" in (PowerLevelsEnv.__doc__ or "")
    gym.register("mndt_test/PowerLevels-v0", entry_point=PowerLevelsEnv)
    try:
        e = gym.make("mndt_test/PowerLevels-v0", **kw)
        e.reset(seed=1)
        e.close()
    finally:
        del gym.registry["mndt_test/PowerLevels-v0"]


def test_new_task_docs_page_shows_the_example() -> None:
    from pathlib import Path

    root = Path(__file__).resolve().parents[1]
    page = (root / "docs" / "contributing" / "new_task.md").read_text()
    src = (root / "tests" / "example_task.py").read_text()
    core = src[src.index("class PowerLevelsCore"): src.index("class PowerLevelsEnv")].strip()
    assert core in page, "docs/contributing/new_task.md must show the example core of tests/example_task.py"


def test_check_task_core_on_every_task(spec) -> None:
    from mndt_envs.testing import check_task_core

    env = _single(spec)
    steps = check_task_core(env.unwrapped.core, seed=3)
    assert steps >= 1
    env.close()


def test_check_task_core_catches_a_broken_core() -> None:
    from example_task import PowerLevelsCore

    from mndt_envs.testing import check_task_core

    class NoEnd(PowerLevelsCore):
        def step(self, action):
            res = super().step(action)
            res.truncated = False
            res.episode = None
            self.t = 0
            return res

    kw = {"users": {"n_users": 20}, "task": {"episode_steps": 2}}
    assert check_task_core(PowerLevelsCore("toy", kw)) == 2
    with pytest.raises(AssertionError, match="no episode end"):
        check_task_core(NoEnd("toy", kw), max_steps=5)


def test_parallel_state_is_the_global_observation(spec) -> None:
    penv = parallel_env(spec.parallel_name, **spec.test_kwargs)
    penv.reset(seed=0)
    st = penv.state()
    if spec.name == "cell_sleep":
        assert st.shape == (len(penv.possible_agents), penv.core.features_matrix().shape[1])
    else:
        single, _ = penv.core.spaces()
        assert single.contains(st)
