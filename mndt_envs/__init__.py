"""mndt-envs: reinforcement-learning environments on a mobile-network digital twin."""

from __future__ import annotations

__version__ = "0.1.0"

from .registration import parallel_env, register_envs  # noqa: E402

register_envs()

__all__ = ["__version__", "parallel_env", "register_envs"]
