"""Default user and demand models (paper 002 §V.B).

``StraightLineMobility``: each user moves in a straight line at a uniform speed from
a random start point to a random end point, then picks a new end point.
``StaticMobility``: users stay where they were placed.
``UniformDemand``: each user's total episode demand is uniform in
``[0, max_demand_rb_s × B_RB]`` bits, spread evenly over the episode.
"""

from __future__ import annotations

import numpy as np

__all__ = ["StraightLineMobility", "StaticMobility", "UniformDemand"]


class StoredPositions:
    """Mixin for mobility models that keep their users' state in ``_pos`` and ``_indoor``.

    Gives them the ``positions`` and ``indoor`` properties of the twin's ``MobilityModel``.
    """

    _pos: np.ndarray
    _indoor: np.ndarray

    @property
    def positions(self) -> np.ndarray:
        """(n_users, 2) [m]."""
        return self._pos

    @property
    def indoor(self) -> np.ndarray:
        """(n_users,) bool."""
        return self._indoor


class StraightLineMobility(StoredPositions):
    """Straight lines at constant speed between random points of the area.

    Args:
        width_m: area extent along x [m].
        height_m: area extent along y [m].
        speed_range_mps: (min, max) speed [m/s], uniform per leg.
        indoor_fraction: share of users flagged indoors (O2I loss).
    """

    def __init__(self, width_m: float, height_m: float, speed_range_mps: tuple[float, float],
                 indoor_fraction: float = 0.0) -> None:
        self.size = np.array([width_m, height_m])
        self.speed_range = speed_range_mps
        self.indoor_fraction = indoor_fraction
        self._pos = np.zeros((0, 2))
        self._dst = np.zeros((0, 2))
        self._speed = np.zeros(0)
        self._indoor = np.zeros(0, dtype=bool)

    def reset(self, rng: np.random.Generator, n_users: int) -> None:
        """Place users uniformly, draw destinations and speeds."""
        self._pos = rng.uniform(0.0, 1.0, (n_users, 2)) * self.size
        self._dst = rng.uniform(0.0, 1.0, (n_users, 2)) * self.size
        self._speed = rng.uniform(*self.speed_range, n_users)
        self._indoor = rng.random(n_users) < self.indoor_fraction

    def advance(self, dt: float, rng: np.random.Generator) -> None:
        """Move each user ``speed·dt`` towards its end point; arrived users get a new one."""
        delta = self._dst - self._pos
        dist = np.hypot(delta[:, 0], delta[:, 1])
        step = self._speed * dt
        arrived = dist <= step
        frac = np.where(arrived, 1.0, step / np.maximum(dist, 1e-12))
        self._pos = self._pos + delta * frac[:, None]
        n = int(arrived.sum())
        if n:
            self._dst[arrived] = rng.uniform(0.0, 1.0, (n, 2)) * self.size
            self._speed[arrived] = rng.uniform(*self.speed_range, n)


class StaticMobility(StraightLineMobility):
    """Users placed uniformly at random that never move."""

    def advance(self, dt: float, rng: np.random.Generator) -> None:
        """Nothing moves."""


class UniformDemand:
    """Total episode demand per user uniform in ``[0, max_bits]``, spread evenly in time.

    Args:
        max_bits: upper bound of a user's total demand over the episode [bit].
    """

    def __init__(self, max_bits: float) -> None:
        self.max_bits = max_bits
        self.total = np.zeros(0)  # (n_users,) [bit]
        self.horizon_s = 1.0

    def reset(self, rng: np.random.Generator, n_users: int, horizon_s: float) -> None:
        """Draw each user's total demand."""
        self.total = rng.uniform(0.0, self.max_bits, n_users)
        self.horizon_s = horizon_s

    def demand(self, t: float, dt: float) -> np.ndarray:
        """Bits demanded in ``[t, t + dt)`` (the total spread uniformly over the horizon)."""
        lo, hi = max(t, 0.0), min(t + dt, self.horizon_s)
        return self.total * max(hi - lo, 0.0) / self.horizon_s
