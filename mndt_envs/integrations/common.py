"""Conventions shared by the training integrations (no third-party imports).

How a parallel env's per-agent ``info["cost"]`` and rewards add up to the episode's figures:

* :data:`COST_SUMMED`: envs whose agents each report their own share of the cost (the step's
  cost is the sum over agents); in the others every agent reports the same, global cost.
* :data:`TEAM_REWARD`: envs whose agents all receive the same team reward (the step's reward is
  that value); in the others the per-agent rewards add up to the global reward.
"""

from __future__ import annotations

import re
from typing import Any

import numpy as np

from ..registration import TASKS

__all__ = ["COST_SUMMED", "TEAM_REWARD", "agent_kind", "env_names", "is_multi_agent", "step_cost", "step_reward",
           "scalars"]

COST_SUMMED = frozenset({"resource_allocation_v0"})
TEAM_REWARD = frozenset({"load_balancing_v0"})


def env_names() -> list[str]:
    """Every env name of the suite: the Gymnasium ids, then the parallel (PettingZoo) names."""
    return [t.env_id for t in TASKS] + [t.parallel_name for t in TASKS]


def is_multi_agent(name: str) -> bool:
    """True for a parallel (PettingZoo) name, False for a Gymnasium id; ``KeyError`` for others."""
    for t in TASKS:
        if name == t.parallel_name:
            return True
        if name == t.env_id:
            return False
    raise KeyError(f"unknown env {name!r}; known: {', '.join(env_names())}")


def agent_kind(agent_id: Any) -> str:
    """The policy shared by an agent: its id without the trailing index (``"cell_3"`` → ``"cell"``)."""
    return re.sub(r"_\d+$", "", str(agent_id))


def step_cost(name: str, infos: dict[Any, dict[str, Any]]) -> float:
    """The step's cost of parallel env ``name`` from its per-agent infos."""
    costs = [float(np.sum(i.get("cost", 0.0))) for i in infos.values()]
    if not costs:
        return 0.0
    return float(sum(costs)) if name in COST_SUMMED else costs[0]


def step_reward(name: str, rewards: dict[Any, float]) -> float:
    """The step's global reward of parallel env ``name`` from its per-agent rewards."""
    vals = [float(r) for r in rewards.values()]
    if not vals:
        return 0.0
    return vals[0] if name in TEAM_REWARD else float(sum(vals))


def scalars(d: Any) -> dict[str, float]:
    """The numeric entries of a metrics dict, as floats."""
    out: dict[str, float] = {}
    for k, v in dict(d or {}).items():
        if isinstance(v, (bool, int, float, np.integer, np.floating)):
            out[str(k)] = float(v)
    return out
