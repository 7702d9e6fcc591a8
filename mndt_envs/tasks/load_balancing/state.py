"""Load balancing: one period's evaluation under a power vector, and one row of the episode history."""

from __future__ import annotations

from dataclasses import dataclass, fields

import numpy as np

__all__ = ["Evaluation", "HistoryRow"]


@dataclass
class Evaluation:
    """Association, busy degrees and coverage of one period under given powers (``U`` users, ``n`` antennas).

    Attributes:
        serving: (U,) int serving antenna of each user (strongest CPICH among its candidates).
        best_rsrp: (U,) float32 [dBm] RSRP of the serving antenna.
        busy: (n,) busy degrees ``|U_i| / U_max``.
        nb_coverage: (n,) share of covered users among those served in ``{i} ∪ N(i)``.
        coverage: share of users whose best RSRP reaches the threshold.
        std_busy: std of the busy degrees.
        over_busy_share: share of antennas with ``b_i >= b_over``.
        imbalance: std (global target) or RMS deviation from the neighbourhood means (local target).
    """

    serving: np.ndarray
    best_rsrp: np.ndarray
    busy: np.ndarray
    nb_coverage: np.ndarray
    coverage: float
    std_busy: float
    over_busy_share: float
    imbalance: float

    def __getitem__(self, key: str) -> object:
        """Read a field by name (``ev["std_busy"]``), as the older dict result allowed."""
        return getattr(self, key)


@dataclass
class HistoryRow:
    """One stepped period's KPIs (the episode metrics are their means)."""

    std_busy: float
    over_busy_share: float
    imbalance: float
    coverage: float
    cost: float
    power_change_db: float  # [dB] mean power change from the reference

    @staticmethod
    def names() -> tuple[str, ...]:
        """Field names in order."""
        return tuple(f.name for f in fields(HistoryRow))
