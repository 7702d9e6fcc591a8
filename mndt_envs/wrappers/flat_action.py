"""Flat actions: a ``Dict`` action space seen as one ``MultiDiscrete`` or one ``Box``.

The resource-allocation envs act with ``Dict`` actions (``rb``: ``MultiDiscrete``, ``power``:
``Box``; the single-agent ``direct`` mode adds ``association``). Most learners (SB3's PPO,
SuperSuit's vector envs, RLlib's default models) want one flat space. :class:`FlatActionSpace`
maps between the two; :class:`FlatAction` (Gymnasium) and :class:`FlatActionParallel`
(PettingZoo) apply it to an env.

Two flat forms:

* ``"multidiscrete"`` (default): discrete parts keep their choices; each ``Box`` element becomes
  ``levels`` evenly spaced values from ``low`` to ``high`` (e.g. power shares 0, .25, .5, .75, 1).
* ``"box"``: everything in one ``Box(0, 1)``; a discrete element with ``n`` choices takes choice
  ``min(floor(x n), n - 1)``, a ``Box`` element ``low + x (high - low)``.
"""

from __future__ import annotations

from typing import Any

import gymnasium as gym
import numpy as np
from gymnasium import spaces

__all__ = ["FlatActionSpace", "FlatAction", "FlatActionParallel", "needs_flat_action"]

_MODES = ("multidiscrete", "box")


def needs_flat_action(space: spaces.Space[Any]) -> bool:
    """True when ``space`` is a ``Dict``/``Tuple`` action space (what PPO-style learners reject)."""
    return isinstance(space, (spaces.Dict, spaces.Tuple))


class FlatActionSpace:
    """Map between a ``Dict``/``Tuple`` of ``Discrete``/``MultiDiscrete``/``Box`` and one flat space.

    Args:
        space: the structured action space.
        mode: ``"multidiscrete"`` or ``"box"`` (see the module docstring).
        levels: values per ``Box`` element in ``"multidiscrete"`` mode (>= 2).

    Attributes:
        space: the structured space.
        flat_space: the flat space (``MultiDiscrete`` or ``Box(0, 1)``, float32).
    """

    def __init__(self, space: spaces.Space[Any], mode: str = "multidiscrete", levels: int = 5) -> None:
        if mode not in _MODES:
            raise ValueError(f"mode = {mode!r}: allowed values are {', '.join(map(repr, _MODES))}")
        if int(levels) != levels or levels < 2:
            raise ValueError(f"levels = {levels!r}: must be an integer >= 2 (values per continuous element)")
        items: list[tuple[Any, spaces.Space[Any]]]
        if isinstance(space, spaces.Dict):
            items = list(space.spaces.items())
        elif isinstance(space, spaces.Tuple):
            items = list(enumerate(space.spaces))
        else:
            raise TypeError(f"FlatActionSpace: expected a Dict or Tuple action space, got {space}")
        self.space = space
        self.mode = mode
        self.levels = int(levels)
        # per part: (key, kind, shape, discrete sizes or (low, high))
        self._parts: list[tuple[Any, str, tuple[int, ...], np.ndarray, np.ndarray]] = []
        nvec: list[np.ndarray] = []
        for key, sub in items:
            if isinstance(sub, spaces.Discrete):
                n = np.array([sub.n], dtype=np.int64)
                self._parts.append((key, "discrete", (), n, np.array([sub.start], dtype=np.int64)))
                nvec.append(n)
            elif isinstance(sub, spaces.MultiDiscrete):
                n = np.asarray(sub.nvec, dtype=np.int64).reshape(-1)
                self._parts.append((key, "multidiscrete", tuple(sub.shape), n,
                                    np.asarray(sub.start, dtype=np.int64).reshape(-1)))
                nvec.append(n)
            elif isinstance(sub, spaces.Box):
                lo = np.asarray(sub.low, dtype=np.float64).reshape(-1)
                hi = np.asarray(sub.high, dtype=np.float64).reshape(-1)
                if not (np.all(np.isfinite(lo)) and np.all(np.isfinite(hi))):
                    raise ValueError(f"action part {key!r}: FlatActionSpace needs finite Box bounds, got {sub}")
                self._parts.append((key, "box", tuple(sub.shape), lo, hi))
                nvec.append(np.full(lo.size, self.levels, dtype=np.int64))
            else:
                raise TypeError(f"action part {key!r}: {sub} is not Discrete, MultiDiscrete or Box")
        self._nvec = np.concatenate(nvec)
        if mode == "multidiscrete":
            self.flat_space: spaces.Space[Any] = spaces.MultiDiscrete(self._nvec)
        else:
            self.flat_space = spaces.Box(0.0, 1.0, (int(self._nvec.size),), np.float32)

    def unflatten(self, flat: Any) -> Any:
        """The structured action of a flat one (validated against ``flat_space``'s shape)."""
        x = np.asarray(flat)
        if x.shape != (self._nvec.size,):
            raise ValueError(f"flat action: expected shape ({self._nvec.size},) for {self.flat_space}, "
                             f"got {x.shape}")
        out: dict[Any, Any] = {}
        i = 0
        for key, kind, shape, a, b in self._parts:
            size = 1 if kind == "discrete" else int(np.prod(shape))
            seg = x[i:i + size]
            i += size
            if kind == "box":
                if self.mode == "multidiscrete":
                    frac = np.clip(seg.astype(np.int64), 0, self.levels - 1) / (self.levels - 1)
                else:
                    frac = np.clip(seg.astype(np.float64), 0.0, 1.0)
                val: Any = (a + frac * (b - a)).reshape(shape).astype(np.float32)
            else:
                if self.mode == "multidiscrete":
                    idx = np.clip(seg.astype(np.int64), 0, a - 1)
                else:
                    idx = np.minimum(np.floor(np.clip(seg.astype(np.float64), 0.0, 1.0) * a).astype(np.int64), a - 1)
                idx = idx + b
                val = int(idx[0]) if kind == "discrete" else idx.reshape(shape)
            out[key] = val
        if isinstance(self.space, spaces.Tuple):
            return tuple(out[k] for k in range(len(out)))
        return out

    def flatten(self, action: Any) -> np.ndarray:
        """The flat action nearest to a structured one (inverse of :meth:`unflatten` on the grid)."""
        vals = [action[k] for k, *_ in self._parts]
        segs: list[np.ndarray] = []
        for v, (_key, kind, _shape, a, b) in zip(vals, self._parts):
            arr = np.asarray(v).reshape(-1)
            if kind == "box":
                frac = np.clip((arr.astype(np.float64) - a) / np.where(b > a, b - a, 1.0), 0.0, 1.0)
                segs.append(np.rint(frac * (self.levels - 1)) if self.mode == "multidiscrete" else frac)
            else:
                idx = arr.astype(np.int64) - b
                segs.append(idx.astype(np.float64) if self.mode == "multidiscrete" else (idx + 0.5) / a)
        flat = np.concatenate(segs)
        return flat.astype(np.int64) if self.mode == "multidiscrete" else flat.astype(np.float32)


class FlatAction(gym.ActionWrapper):  # type: ignore[type-arg]
    """Gymnasium wrapper: the env's ``Dict`` action space as one flat space (see :class:`FlatActionSpace`).

    Example::

        env = FlatAction(gym.make("mndt/ResourceAllocation-v0", config={"task": {"action_mode": "direct"}}))
        env.action_space  # MultiDiscrete([...])

    Args:
        env: an env with a ``Dict``/``Tuple`` action space.
        mode: ``"multidiscrete"`` or ``"box"``.
        levels: values per continuous element in ``"multidiscrete"`` mode.
    """

    def __init__(self, env: gym.Env, mode: str = "multidiscrete", levels: int = 5) -> None:  # type: ignore[type-arg]
        super().__init__(env)
        self.flat = FlatActionSpace(env.action_space, mode, levels)
        self.action_space = self.flat.flat_space

    def action(self, action: Any) -> Any:
        return self.flat.unflatten(action)


def _parallel_wrapper_base() -> type:
    from pettingzoo.utils.wrappers import BaseParallelWrapper

    return BaseParallelWrapper


class FlatActionParallel(_parallel_wrapper_base()):  # type: ignore[misc]
    """PettingZoo wrapper: every agent's ``Dict`` action space as one flat space.

    Agents whose action space is not a ``Dict``/``Tuple`` are left unchanged. Flat spaces are
    built once per distinct structured space and returned by identity.

    Args:
        env: a PettingZoo ``ParallelEnv``.
        mode: ``"multidiscrete"`` or ``"box"``.
        levels: values per continuous element in ``"multidiscrete"`` mode.
    """

    def __init__(self, env: Any, mode: str = "multidiscrete", levels: int = 5) -> None:
        super().__init__(env)
        self.metadata = env.metadata
        self._flat: dict[str, FlatActionSpace] = {}
        by_space: dict[int, FlatActionSpace] = {}
        for a in env.possible_agents:
            sp = env.action_space(a)
            if needs_flat_action(sp):
                if id(sp) not in by_space:
                    by_space[id(sp)] = FlatActionSpace(sp, mode, levels)
                self._flat[a] = by_space[id(sp)]

    def action_space(self, agent: str) -> spaces.Space[Any]:
        f = self._flat.get(agent)
        return f.flat_space if f is not None else self.env.action_space(agent)

    def observation_space(self, agent: str) -> spaces.Space[Any]:
        return self.env.observation_space(agent)

    def step(self, actions: dict[str, Any]) -> Any:
        conv = {a: (self._flat[a].unflatten(act) if a in self._flat else act) for a, act in actions.items()}
        return self.env.step(conv)
