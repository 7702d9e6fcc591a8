"""Safety-Gymnasium style 6-tuple: ``obs, reward, cost, terminated, truncated, info``."""

from __future__ import annotations

from typing import Any

import gymnasium as gym

__all__ = ["CostAsTuple"]


class CostAsTuple(gym.Wrapper):  # type: ignore[type-arg]
    """Return ``info["cost"]`` as a separate element of ``step``'s result.

    ``step`` returns ``(obs, reward, cost, terminated, truncated, info)`` as in Safety-Gymnasium;
    ``reset`` is unchanged. A missing ``info["cost"]`` raises ``KeyError`` naming the env.

    Args:
        env: an env that puts a float ``"cost"`` in ``info`` at every step.
    """

    def step(self, action: Any) -> tuple[Any, float, float, bool, bool, dict[str, Any]]:  # type: ignore[override]
        obs, reward, terminated, truncated, info = self.env.step(action)
        if "cost" not in info:
            raise KeyError(f"{self.env}: info has no 'cost'; CostAsTuple needs envs that report one")
        return obs, float(reward), float(info["cost"]), terminated, truncated, info
