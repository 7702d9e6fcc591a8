"""Fuzzed configurations (issue 15): every generated config works or is refused with the field's name.

For each task, hypothesis draws one to three fields of the scenario (``radio``, ``sites``, ``users``,
``traffic``, ``channel``, top-level) or of the task's own config, and a value for each: valid values,
edge values (0, negatives, huge, NaN, infinities), and values of the wrong type (strings for numbers,
numbers for booleans and paths, ``None``, lists, dicts). The env is built from the ``toy`` preset,
reset and stepped once with a random (masked) action. It must either work or raise
``ConfigError``/``ValueError`` whose message names one of the drawn fields, never another exception
type, and never take more than 30 s of CPU time (a hang detector; the wall clock gets a generous
bound). The memory guard is set to 400 MiB so that huge sizes are refused before they allocate and
each example stays fast. Examples are bounded (``FUZZ_EXAMPLES``, default 25 per task) and
derandomised, so CI runs the same cases every time; raise ``FUZZ_EXAMPLES`` for a longer local run
and set ``FUZZ_SEED`` for another random sample.

Actions are fuzzed as well: valid samples, NaN/inf/huge values, wrong dtypes (bool, complex,
strings), wrong shapes, ``None``, scalars, ragged lists and dicts through the single-agent env, and
action dicts with malformed values, missing or unknown agents, or no dict at all through the
parallel env. Each step must work or raise ``ValueError`` (the adapters' ``ActionError``).

The ray-traced channel model is not drawn (a ray-traced build takes minutes on a CPU; it is covered
by ``tests/test_raytraced.py``).
"""

from __future__ import annotations

import dataclasses
import importlib
import math
import os
import time
import typing
import warnings
from typing import Any

import gymnasium as gym
import numpy as np
import pytest
from hypothesis import HealthCheck, event, given, seed, settings
from hypothesis import strategies as st

import mndt_envs  # noqa: F401
from mndt_envs.config import ConfigError, ScenarioConfig
from mndt_envs.registration import TASKS

EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES", "25"))
SEED = os.environ.get("FUZZ_SEED")  # set: a different random sample instead of the fixed CI one
TIME_LIMIT_S = 30.0  # CPU seconds per example (a busy hang); the wall clock gets WALL_LIMIT_S (a blocked one)
WALL_LIMIT_S = 300.0  # generous: CI machines and shared development boxes are often loaded

# string fields with a closed set of values (plus a wrong one); paths get missing files
STRING_CHOICES: dict[str, list[Any]] = {
    "layout": ["hex", "random", "csv", "rooftop", "grid"],
    "mobility": ["straight", "static", "road", "tidal", "twin", "teleport"],
    "model": ["statistical", "uniform", "lstm", "nonsense"],
    "scenario": ["auto", "uma", "umi", "rma"],
    "los": ["random", "los", "nlos", "maybe"],
    "o2i": ["low", "high", "medium"],
    "fading": ["none", "rayleigh", "rician", "nakagami"],
    "source": ["", "bundled:helsinki", "bundled:atlantis", "/nonexistent/city.osm", "sionna:nope"],
    "csv_path": ["", "/nonexistent/sites.csv"],
    "weights": ["", "/nonexistent/weights.pt"],
    "macro_kind": ["macro", "micro", "pico", "femto"],
    "small_kind": ["macro", "micro", "pico", "femto"],
    "name": ["toy", "x", ""],
}
WRONG_TYPES = st.sampled_from([None, "3", "yes", [], [1, 2], {"a": 1}, True, 1j])


def _leaf_fields(cls: type, prefix: tuple[str, ...]) -> list[tuple[tuple[str, ...], Any, Any]]:
    hints = typing.get_type_hints(cls)
    out = []
    for f in dataclasses.fields(cls):
        tp = hints[f.name]
        if isinstance(tp, type) and dataclasses.is_dataclass(tp):
            out += _leaf_fields(tp, (*prefix, f.name))
            continue
        default = f.default if f.default is not dataclasses.MISSING else (
            f.default_factory() if f.default_factory is not dataclasses.MISSING else None)  # type: ignore[misc]
        out.append(((*prefix, f.name), tp, default))
    return out


def _task_config_class(name: str) -> type | None:
    """The task's config dataclass (``cell_sleep`` → ``CellSleepConfig``)."""
    mod = importlib.import_module(f"mndt_envs.tasks.{name}")
    obj = getattr(mod, "".join(w.capitalize() for w in name.split("_")) + "Config", None)
    return obj if isinstance(obj, type) and dataclasses.is_dataclass(obj) else None


SCENARIO_FIELDS = [f for f in _leaf_fields(ScenarioConfig, ()) if f[0] != ("channel", "model")]


def _numbers(tp: Any, default: Any) -> st.SearchStrategy[Any]:
    base = default if isinstance(default, (int, float)) and not isinstance(default, bool) else 1
    ints = st.one_of(st.integers(-3, 3), st.integers(0, 2 * max(1, abs(int(base)) if math.isfinite(base) else 1)),
                     st.sampled_from([10**6, 10**9, -(10**6)]))
    if tp is int:
        return ints
    scale = abs(float(base)) if base and math.isfinite(base) else 1.0
    return st.one_of(
        st.sampled_from([0.0, -1.0, 1e-300, 1e300, math.nan, math.inf, -math.inf]),
        st.floats(-2 * scale - 1, 2 * scale + 1, allow_nan=False),
        st.sampled_from([0.5, 1.0, 1.5, 2.0]).map(lambda k: k * float(base)),
        ints,
    )


def _value(path: tuple[str, ...], tp: Any, default: Any) -> st.SearchStrategy[Any]:
    name = path[-1]
    origin = typing.get_origin(tp)
    args = [a for a in typing.get_args(tp) if a is not type(None)]
    optional = origin in (typing.Union, getattr(__import__("types"), "UnionType", ())) and len(args) < len(
        typing.get_args(tp))
    core = args[0] if optional and len(args) == 1 else tp
    if typing.get_origin(core) is typing.Literal:
        good: st.SearchStrategy[Any] = st.sampled_from([*typing.get_args(core), "nonsense"])
    elif core is bool:
        good = st.booleans()
    elif core is str:
        good = st.sampled_from(STRING_CHOICES.get(name, [default if isinstance(default, str) else "", "nonsense"]))
    elif core in (int, float):
        good = _numbers(core, default)
    elif typing.get_origin(core) is tuple:
        good = st.lists(st.floats(-10, 100, allow_nan=False), max_size=4)
    else:
        good = st.just(default)
    if optional:
        good = st.one_of(good, st.none())
    return st.one_of(good, good, good, WRONG_TYPES)  # three valid-typed draws for one wrong type


def _set(d: dict[str, Any], path: tuple[str, ...], value: Any) -> None:
    for k in path[:-1]:
        d = d.setdefault(k, {})
    d[path[-1]] = value


def _masked_sample(space: gym.Space, obs: Any) -> Any:
    mask = obs.get("action_mask") if isinstance(obs, dict) else None
    if mask is not None and isinstance(space, gym.spaces.MultiDiscrete):
        parts = np.split(np.asarray(mask, dtype=np.int8).reshape(-1), np.cumsum(space.nvec.reshape(-1))[:-1])
        return space.sample(mask=tuple(p if p.any() else np.ones_like(p) for p in parts))
    return space.sample()


def _run(env_id: str, config: dict[str, Any]) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        env = gym.make(env_id, scenario="toy", config=config)
        try:
            obs, _ = env.reset(seed=0)
            env.action_space.seed(0)
            env.step(_masked_sample(env.action_space, obs))
        finally:
            env.close()


@pytest.fixture(autouse=True)
def _memory_limit(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MNDT_MEMORY_LIMIT", "400MiB")


@pytest.mark.parametrize("task", [t.name for t in TASKS])
@seed(int(SEED or 0))
@settings(max_examples=EXAMPLES, deadline=None, derandomize=SEED is None, database=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture,
                                 HealthCheck.data_too_large])
@given(data=st.data())
def test_fuzzed_config_works_or_names_the_field(task: str, data: st.DataObject) -> None:
    spec = next(t for t in TASKS if t.name == task)
    cls = _task_config_class(task)
    assert cls is not None, f"mndt_envs.tasks.{task} exports no config dataclass to fuzz"
    pool = SCENARIO_FIELDS + _leaf_fields(cls, ("task",))
    n_fields = data.draw(st.integers(1, 3), label="number of fields")
    idx = [data.draw(st.integers(0, len(pool) - 1), label="field") for _ in range(n_fields)]
    chosen = [pool[i] for i in dict.fromkeys(idx)]  # (st.lists makes hypothesis discard many draws as invalid)
    config: dict[str, Any] = {}
    for path, tp, default in chosen:
        _set(config, path, data.draw(_value(path, tp, default), label=".".join(path)))
    t0, c0 = time.perf_counter(), time.process_time()
    try:
        _run(spec.env_id, config)
        event("works")
    except (ConfigError, ValueError) as exc:  # GeometryError is a ValueError
        event(f"refused: {type(exc).__name__}")
        msg = str(exc)
        names = [p[-1] for p, _, _ in chosen] + [".".join(p) for p, _, _ in chosen]
        assert any(n in msg for n in names), f"{type(exc).__name__} does not name a field of {config}: {msg}"
    cpu, wall = time.process_time() - c0, time.perf_counter() - t0
    assert cpu < TIME_LIMIT_S and wall < WALL_LIMIT_S, f"{config} took {cpu:.0f} s of CPU, {wall:.0f} s of wall time"


# ---------------------------------------------------------------- fuzzed actions


def _action_values(space: gym.Space) -> st.SearchStrategy[Any]:
    """Valid samples, edge values and malformed actions for ``space``."""
    sample = st.integers(0, 2**31 - 1).map(lambda s: (space.seed(s), space.sample())[1])
    shape = getattr(space, "shape", None) or ()
    n = int(np.prod(shape)) if shape else 1
    arrays = st.sampled_from([
        np.full(shape, np.nan), np.full(shape, np.inf), np.full(shape, -1e9), np.full(shape, 1e9),
        np.zeros(shape, dtype=bool), np.zeros(shape, dtype=complex), np.full(shape, "1.5"),
        np.zeros((1, n)), np.zeros((n, 1)), np.zeros(n + 1), np.zeros(0), np.zeros(shape, dtype=np.int64) - 1,
    ])
    wrong = st.sampled_from([None, "up", 3, 2.5, [], [1, [2, 3]], {"a": 1}, {}, object()])
    return st.one_of(sample, sample, arrays, wrong)


_ENVS: dict[str, Any] = {}
_PENVS: dict[str, Any] = {}


def _cached_env(task: str, parallel: bool) -> Any:
    """The task's Gymnasium (or PettingZoo parallel) test env, built once per module, reset to seed 0."""
    from mndt_envs.registration import parallel_env

    store = _PENVS if parallel else _ENVS
    env = store.get(task)
    if env is None:
        spec = next(t for t in TASKS if t.name == task)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            env = store[task] = (parallel_env(spec.parallel_name, **spec.test_kwargs) if parallel
                                 else gym.make(spec.env_id, **spec.test_kwargs))
    env.reset(seed=0)
    return env


@pytest.mark.parametrize("task", [t.name for t in TASKS])
@seed(int(SEED or 0))
@settings(max_examples=EXAMPLES, deadline=None, derandomize=SEED is None, database=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_fuzzed_single_action_works_or_is_a_value_error(task: str, data: st.DataObject) -> None:
    env = _cached_env(task, parallel=False)
    action = data.draw(_action_values(env.action_space), label="action")
    try:
        env.step(action)
        event("works")
    except ValueError:  # the adapters' ActionError is a ValueError
        event("refused: ValueError")


@pytest.mark.parametrize("task", [t.name for t in TASKS])
@seed(int(SEED or 0))
@settings(max_examples=EXAMPLES, deadline=None, derandomize=SEED is None, database=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_fuzzed_parallel_action_works_or_is_a_value_error(task: str, data: st.DataObject) -> None:
    env = _cached_env(task, parallel=True)
    agents = list(env.agents)
    kind = data.draw(st.sampled_from(["all", "missing", "unknown", "not a dict"]), label="dict")
    acts: Any = {a: data.draw(_action_values(env.action_space(a)), label=a) if i < 2 else env.action_space(a).sample()
                 for i, a in enumerate(agents)}
    if kind == "missing":
        acts.pop(agents[-1])
    elif kind == "unknown":
        acts["no_such_agent"] = acts[agents[0]]
    elif kind == "not a dict":
        acts = data.draw(st.sampled_from([None, [], list(acts.values()), 3]))
    try:
        env.step(acts)
        event("works")
    except ValueError:
        event("refused: ValueError")
