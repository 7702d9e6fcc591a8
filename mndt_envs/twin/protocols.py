"""The small interfaces through which channel, mobility and demand models plug into the twin.

Coordinates are a local metric frame: x east, y north, metres, origin at the
lower-left corner of the scenario area; heights in metres above ground.
"""

from __future__ import annotations

from typing import Protocol, runtime_checkable

import numpy as np

__all__ = ["ChannelModel", "MobilityModel", "DemandModel"]


@runtime_checkable
class ChannelModel(Protocol):
    """Large-scale channel from every cell to arbitrary user positions."""

    def gain_db(self, xy: np.ndarray, indoor: np.ndarray) -> np.ndarray:
        """Large-scale gain [dB] including the cells' antenna patterns.

        Args:
            xy: user positions (n_users, 2) [m], at the radio config's UE height.
            indoor: (n_users,) bool, users inside buildings (O2I loss applies).

        Returns:
            (n_cells, n_users) float32 gain [dB] (negative path loss + antenna gain).
        """
        ...


@runtime_checkable
class MobilityModel(Protocol):
    """Positions of the users over time."""

    def reset(self, rng: np.random.Generator, n_users: int) -> None:
        """Place ``n_users`` users and draw their trajectories' parameters from ``rng``."""
        ...

    def advance(self, dt: float, rng: np.random.Generator) -> None:
        """Move every user by ``dt`` seconds."""
        ...

    @property
    def positions(self) -> np.ndarray:
        """(n_users, 2) float64 [m]."""
        ...

    @property
    def indoor(self) -> np.ndarray:
        """(n_users,) bool."""
        ...


@runtime_checkable
class DemandModel(Protocol):
    """Traffic demand of the users over time."""

    def reset(self, rng: np.random.Generator, n_users: int, horizon_s: float) -> None:
        """Draw the demand of ``n_users`` users over an episode of ``horizon_s`` seconds."""
        ...

    def demand(self, t: float, dt: float) -> np.ndarray:
        """(n_users,) float64 [bit] demanded in ``[t, t + dt)``."""
        ...
