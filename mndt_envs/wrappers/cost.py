"""Safety-Gymnasium style 6-tuple: ``obs, reward, cost, terminated, truncated, info``."""

from __future__ import annotations

import sys
from typing import Any

import gymnasium as gym

__all__ = ["CostAsTuple"]


class CostAsTuple(gym.Wrapper):  # type: ignore[type-arg]
    """Return ``info["cost"]`` as a separate element of ``step``'s result.

    ``step`` returns ``(obs, reward, cost, terminated, truncated, info)`` as in Safety-Gymnasium;
    ``reset`` is unchanged. A missing ``info["cost"]`` raises ``KeyError`` naming the env.

    **Apply it last (outermost).** Every Gymnasium wrapper expects the 5-tuple from the env it
    wraps, so a wrapper put *on top of* ``CostAsTuple`` cannot read its 6-tuple. Such a wrapper
    is detected at its first ``step`` and a ``TypeError`` says so (instead of Python's "too many
    values to unpack"). Wrap in this order::

        env = CostAsTuple(FlattenObservation(gym.make("mndt/ResourceAllocation-v0")))

    A wrapper written for the 6-tuple (a safe-RL library's own) may sit on top if its class sets
    ``accepts_cost_tuple = True``.

    Args:
        env: an env that puts a float ``"cost"`` in ``info`` at every step.
    """

    def step(self, action: Any) -> tuple[Any, float, float, bool, bool, dict[str, Any]]:  # type: ignore[override]
        caller = sys._getframe(1).f_locals.get("self")
        if isinstance(caller, gym.Wrapper) and caller is not self and caller.env is self \
                and not getattr(caller, "accepts_cost_tuple", False):
            raise TypeError(f"CostAsTuple must be the outermost wrapper: {type(caller).__name__} wraps it and expects "
                            "Gymnasium's 5-tuple (obs, reward, terminated, truncated, info) from step(). Apply "
                            f"CostAsTuple last, e.g. CostAsTuple({type(caller).__name__}(env)).")
        obs, reward, terminated, truncated, info = self.env.step(action)
        if "cost" not in info:
            raise KeyError(f"{self.env}: info has no 'cost'; CostAsTuple needs envs that report one")
        return obs, float(reward), float(info["cost"]), terminated, truncated, info
