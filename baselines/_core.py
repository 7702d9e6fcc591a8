"""The task core behind an env, for the baselines and oracles that read it."""

from __future__ import annotations

from typing import Any, TypeVar

__all__ = ["task_core"]

C = TypeVar("C")


def task_core(env: Any, cls: type[C], needs: str) -> C:
    """``env.unwrapped.core`` (or ``env`` itself when it is already a core) as a ``cls``.

    Raises:
        TypeError: ``needs`` (the message naming the env or core the caller needs) when it is not one.
    """
    core = getattr(getattr(env, "unwrapped", env), "core", env)
    if not isinstance(core, cls):
        raise TypeError(needs)
    return core
