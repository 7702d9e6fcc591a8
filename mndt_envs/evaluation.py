"""Running a policy with SB3's ``predict`` interface through whole episodes of a Gymnasium env.

One episode loop shared by ``mndt compare``, the demos and the reproduction scripts.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any

import numpy as np

__all__ = ["run_episode"]


def run_episode(env: Any, policy: Any, seed: int | None, record: Sequence[str] = (),
                deterministic: bool = True) -> dict[str, Any]:
    """Reset with ``seed`` and act with ``policy.predict`` until the episode ends.

    Args:
        env: a Gymnasium env.
        policy: anything with ``predict(obs, deterministic=...) -> (action, state)``.
        seed: reset seed.
        record: ``info`` keys whose per-step values are returned as arrays.
        deterministic: passed to ``predict``.

    Returns:
        dict with ``return`` (sum of rewards), ``cost`` (sum of ``info["cost"]``), ``steps``,
        ``wall_s``, ``metrics`` (the last step's ``info["episode_metrics"]``, or ``{}``) and one
        (steps,) array per recorded key.
    """
    obs, _ = env.reset(seed=seed)
    rows: dict[str, list[float]] = {k: [] for k in record}
    ret, cost, steps = 0.0, 0.0, 0
    t0 = time.perf_counter()
    while True:
        action, _ = policy.predict(obs, deterministic=deterministic)
        obs, r, term, trunc, info = env.step(action)
        ret += float(r)
        cost += float(np.sum(info.get("cost", 0.0)))
        steps += 1
        for k in rows:
            rows[k].append(float(info[k]))
        if term or trunc:
            break
    return {"return": ret, "cost": cost, "steps": steps, "wall_s": time.perf_counter() - t0,
            "metrics": dict(info.get("episode_metrics") or {}), **{k: np.array(v) for k, v in rows.items()}}
