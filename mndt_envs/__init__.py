"""mndt-envs: reinforcement-learning environments on a mobile-network digital twin.

Importing :mod:`mndt_envs` registers every Gymnasium id (``mndt/<Task>-v<N>``). Gymnasium itself is not
imported for that: when it is already loaded the ids are registered at once, otherwise right after its
first import (so ``import mndt_envs.twin`` stays free of Gymnasium, as the twin's layer rule asks).
"""

from __future__ import annotations

import importlib.abc
import importlib.machinery
import sys
from types import ModuleType
from typing import Any

from ._version import __version__
from .registration import parallel_env, register_envs

__all__ = ["__version__", "parallel_env", "register_envs"]


class _RegisterAfterGymnasium(importlib.abc.MetaPathFinder, importlib.abc.Loader):
    """Finds ``gymnasium`` like the normal path finder, runs it, then registers the suite's ids (once)."""

    def find_spec(self, fullname: str, path: Any = None, target: Any = None) -> Any:
        if fullname != "gymnasium":
            return None
        spec = importlib.machinery.PathFinder.find_spec(fullname, path)
        if spec is None or spec.loader is None:
            return spec
        self._loader = spec.loader
        spec.loader = self
        return spec

    def create_module(self, spec: Any) -> ModuleType | None:
        return self._loader.create_module(spec)  # type: ignore[attr-defined, no-any-return]

    def exec_module(self, module: ModuleType) -> None:
        self._loader.exec_module(module)  # type: ignore[attr-defined]
        _remove_hook()
        register_envs()


def _remove_hook() -> None:
    sys.meta_path[:] = [f for f in sys.meta_path if not isinstance(f, _RegisterAfterGymnasium)]


if "gymnasium" in sys.modules:
    register_envs()
elif not any(isinstance(f, _RegisterAfterGymnasium) for f in sys.meta_path):
    sys.meta_path.insert(0, _RegisterAfterGymnasium())
