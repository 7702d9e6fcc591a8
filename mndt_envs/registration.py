"""The registry of tasks: Gymnasium ids, PettingZoo factories, baselines and demo hooks.

Each problem is one :class:`TaskSpec` in :data:`TASKS`. Importing :mod:`mndt_envs`
registers every Gymnasium id (``mndt/<Task>-v<N>``) once; a second import is
harmless. ``gym.make("mndt_envs:mndt/X-v0")`` also works, since Gymnasium imports
the module before the lookup.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass, field
from typing import Any

__all__ = ["TaskSpec", "TASKS", "register_envs", "parallel_env", "load_entry", "task"]


@dataclass(frozen=True)
class TaskSpec:
    """One problem of the suite, in its single-agent and multi-agent forms.

    Attributes:
        name: short name (``"cell_sleep"``).
        env_id: Gymnasium id (``"mndt/CellSleep-v0"``).
        env_entry: ``"module:Class"`` of the gymnasium.Env adapter.
        parallel_name: PettingZoo name (``"cell_sleep_v0"``).
        parallel_entry: ``"module:Class"`` of the pettingzoo.ParallelEnv adapter.
        baselines: baseline name → ``"module:Class"``; each class is built as
            ``Class(env)`` for the single-agent env and has SB3's ``predict``.
        demo: ``"module:function"`` called as ``fn(console, outdir)`` by ``mndt demo``.
        max_episode_steps: passed to Gymnasium's registry (None: the env ends episodes itself).
        test_kwargs: small, fast kwargs used by the registry-wide tests.
        vector_entry: ``"module:Class"`` of the batched ``gymnasium.vector.VectorEnv`` (Gymnasium's
            ``vector_entry_point``: ``gym.make_vec(id, num_envs, vectorization_mode="vector_entry_point")``).
        oracles: oracle name → ``"module:Class"``: bounds and references that **see the future** (never
            policies a network could run); each class is built as ``Class(env)`` and has
            ``evaluate(seed) -> metrics`` and ``gap(row, oracle_row) -> %`` (``mndt compare --oracles``).
    """

    name: str
    env_id: str
    env_entry: str
    parallel_name: str
    parallel_entry: str
    baselines: dict[str, str] = field(default_factory=dict)
    demo: str | None = None
    max_episode_steps: int | None = None
    test_kwargs: dict[str, Any] = field(default_factory=dict)
    vector_entry: str | None = None
    oracles: dict[str, str] = field(default_factory=dict)


# One entry per problem.
TASKS: list[TaskSpec] = [
    TaskSpec(
        name="resource_allocation",
        env_id="mndt/ResourceAllocation-v0",
        env_entry="mndt_envs.envs.resource_allocation:ResourceAllocationEnv",
        vector_entry="mndt_envs.vector.resource_allocation:ResourceAllocationVectorEnv",
        parallel_name="resource_allocation_v0",
        parallel_entry="mndt_envs.parallel.resource_allocation:ResourceAllocationParallelEnv",
        baselines={
            "equal_dividing": "mndt_envs.baselines.resource_allocation:EqualDividing",
            "ignore_demands": "mndt_envs.baselines.resource_allocation:IgnoreDemands",
            "nearest_random_fair": "mndt_envs.baselines.resource_allocation:NearestRandomFair",
            "tuned_constant": "mndt_envs.baselines.tuned_resource_allocation:TunedConstantTheta",
        },
        oracles={"upper_bound": "mndt_envs.baselines.oracle_resource_allocation:ResourceAllocationBound"},
        demo="mndt_envs.demos.resource_allocation:demo",
        test_kwargs={"scenario": "toy", "config": {"users": {"n_users": 30}}},
    ),
    TaskSpec(
        name="cell_sleep",
        env_id="mndt/CellSleep-v0",
        env_entry="mndt_envs.envs.cell_sleep:CellSleepEnv",
        vector_entry="mndt_envs.vector.cell_sleep:CellSleepVectorEnv",
        parallel_name="cell_sleep_v0",
        parallel_entry="mndt_envs.parallel.cell_sleep:CellSleepParallelEnv",
        baselines={
            "always_on": "mndt_envs.baselines.cell_sleep:AlwaysOn",
            "min_cells": "mndt_envs.baselines.cell_sleep:MinimalCells",
            "load_threshold": "mndt_envs.baselines.cell_sleep:LoadThreshold",
        },
        oracles={"offline_bound": "mndt_envs.baselines.oracle_cell_sleep:CellSleepOracle"},
        demo="mndt_envs.demos.cell_sleep:demo",
        test_kwargs={"scenario": "toy", "config": {"task": {"episode_steps": 12}}},
    ),
    TaskSpec(
        name="load_balancing",
        env_id="mndt/LoadBalancing-v0",
        env_entry="mndt_envs.envs.load_balancing:LoadBalancingEnv",
        vector_entry="mndt_envs.vector.load_balancing:LoadBalancingVectorEnv",
        parallel_name="load_balancing_v0",
        parallel_entry="mndt_envs.parallel.load_balancing:LoadBalancingParallelEnv",
        baselines={
            "static": "mndt_envs.baselines.load_balancing:Static",
            "bdba": "mndt_envs.baselines.load_balancing:BDBA",
            "bfdba": "mndt_envs.baselines.load_balancing:BFDBA",
        },
        oracles={"centralised_reference": "mndt_envs.baselines.oracle_load_balancing:CentralisedReference"},
        demo="mndt_envs.demos.load_balancing:demo",
        test_kwargs={"scenario": "toy", "config": {"task": {"episode_steps": 6}}},
    ),
]

_registered = False


def load_entry(entry: str) -> Any:
    """Import ``"package.module:attr"``."""
    mod, _, attr = entry.partition(":")
    return getattr(importlib.import_module(mod), attr)


def task(name: str) -> TaskSpec:
    """The :class:`TaskSpec` named ``name`` (its short name, env id or parallel name)."""
    for t in TASKS:
        if name in (t.name, t.env_id, t.parallel_name):
            return t
    allowed = ", ".join(sorted(t.name for t in TASKS)) or "(none registered)"
    raise KeyError(f"unknown task {name!r}; known tasks: {allowed}")


def register_envs() -> None:
    """Register every task's Gymnasium id (idempotent)."""
    global _registered
    if _registered:
        return
    from gymnasium.envs.registration import register, registry

    for t in TASKS:
        if t.env_id not in registry:
            register(id=t.env_id, entry_point=t.env_entry, max_episode_steps=t.max_episode_steps,
                     vector_entry_point=t.vector_entry)
    _registered = True


def parallel_env(name: str, **kwargs: Any) -> Any:
    """Build the PettingZoo ``ParallelEnv`` registered as ``name`` (e.g. ``"cell_sleep_v0"``)."""
    spec = None
    for t in TASKS:
        if name == t.parallel_name:
            spec = t
    if spec is None:
        allowed = ", ".join(sorted(t.parallel_name for t in TASKS)) or "(none registered)"
        raise KeyError(f"unknown parallel env {name!r}; known: {allowed}")
    return load_entry(spec.parallel_entry)(**kwargs)
