"""Baselines of the resource-allocation task (paper 002 §V.B, Table II).

Each is built as ``Cls(env)`` and has SB3's ``predict``. They work in both action modes:

* :class:`EqualDividing`: single-step demand = remaining demand / remaining steps (paper's
  "equally dividing"); association and RBs by the env's matching.
* :class:`IgnoreDemands`: requests every user's whole remaining demand each step (users with
  nothing left too, at the lowest priority), so the matching maximises throughput only
  (paper's "ignoring demands").
* :class:`NearestRandomFair`: the element twin's default: nearest BS (distance), a random RB of
  it, P_max shared equally by its users; users with no remaining demand are not served. No action
  mode can express it, so ``predict`` queues the explicit
  :class:`~mndt_envs.tasks.resource_allocation.Allocation` with the core's ``override_next`` (used,
  and repaired like a direct action, by the next ``step``) and returns a valid placeholder action
  (all zeros / nobody served), as the registry's tests require actions inside the action space.

In ``direct`` mode the first two compute the env's matching themselves and return the
equivalent ``{"association", "rb", "power"}`` dict.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from mndt_envs.tasks.resource_allocation import Allocation, ResourceAllocationCore

__all__ = ["EqualDividing", "IgnoreDemands", "NearestRandomFair"]


class _Base:
    def __init__(self, env: Any, seed: int = 0) -> None:
        self.env = env
        self.core: ResourceAllocationCore = env.unwrapped.core
        self.rng = np.random.default_rng(seed)

    def fractions(self) -> np.ndarray:
        raise NotImplementedError

    def predict(self, observation: Any, state: Any = None, episode_start: Any = None,
                deterministic: bool = True) -> tuple[Any, None]:
        """Action for the current step (reads the task core's state)."""
        c = self.core
        frac = self.fractions().astype(np.float32)
        if c.cfg.action_mode == "demand":
            return frac, None
        alloc = c.match(frac * c.remaining, frac > 0)
        users = np.arange(c.n_users)
        hit = c.cand == alloc.serving[None, :]
        assoc = np.where(alloc.serving >= 0, np.argmax(hit, axis=0), c.k)
        rb = np.maximum(alloc.rb, 0)
        p = np.where(alloc.serving >= 0, alloc.power_w / c.p_max[np.maximum(alloc.serving, 0)], 0.0)
        del users
        return {"association": assoc.astype(np.int64), "rb": rb.astype(np.int64),
                "power": np.clip(p, 0, 1).astype(np.float32)}, None


class EqualDividing(_Base):
    """Single-step demand = remaining / steps left (paper 002 "equally dividing")."""

    def fractions(self) -> np.ndarray:
        c = self.core
        return np.where(c.remaining > 0, 1.0 / max(c.steps_left, 1), 0.0)


class IgnoreDemands(_Base):
    """Request everything from everyone: throughput-maximising matching (paper 002 "ignoring demands")."""

    def fractions(self) -> np.ndarray:
        return np.ones(self.core.n_users)


class NearestRandomFair(_Base):
    """Nearest BS, random RB, fair power split (the element twin's default)."""

    def predict(self, observation: Any, state: Any = None, episode_start: Any = None,
                deterministic: bool = True) -> tuple[Any, None]:
        """Queue the allocation on the env's core; return a valid placeholder action (ignored by ``step``)."""
        c = self.core
        pos = np.asarray(c.twin.positions)  # (n_users, 2) [m]
        xy = np.stack([c.twin.cells.x, c.twin.cells.y], axis=1)  # (n_cells, 2) [m]
        d2 = (xy[:, 0:1] - pos[None, :, 0]) ** 2 + (xy[:, 1:2] - pos[None, :, 1]) ** 2  # (n_cells, n_users)
        nearest = np.argmin(d2, axis=0)
        serving = np.where(c.remaining > 0, nearest, -1).astype(np.int64)
        rb = self.rng.integers(0, c.n_rb, c.n_users)
        on = serving >= 0
        counts = np.bincount(serving[on], minlength=c.n_cells)
        n_served = np.minimum(np.maximum(counts, 1), c.cap)
        power = np.where(on, c.p_max[np.maximum(serving, 0)] / n_served[np.maximum(serving, 0)], 0.0)
        c.override_next(Allocation(serving, np.where(on, rb, -1), power, {}))
        if c.cfg.action_mode == "demand":
            return np.zeros(c.n_users, dtype=np.float32), None
        return {"association": np.full(c.n_users, c.k, dtype=np.int64), "rb": np.zeros(c.n_users, dtype=np.int64),
                "power": np.zeros(c.n_users, dtype=np.float32)}, None
