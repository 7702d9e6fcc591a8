"""Resource allocation: the episode state (per-user demand bookkeeping) and running sums."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = ["RAState"]


@dataclass
class RAState:
    """Everything that changes during an episode (``u`` users).

    Attributes:
        t: steps taken.
        total: (u,) [bit] each user's demand over the episode (known at reset).
        remaining: (u,) [bit] demand not yet satisfied.
        satisfied: (u,) [bit] cumulative satisfied demand.
        throughput: (u,) [bit] cumulative throughput.
        serving: (u,) int last step's serving cell (−1 = none).
        rate: (u,) [bit/s] last step's rate.
        unmet: (u,) [bit] last step's unmet due demand.
        ep_cost: sum of the step costs.
        ep_reward: sum of the step rewards.
    """

    t: int
    total: np.ndarray
    remaining: np.ndarray
    satisfied: np.ndarray
    throughput: np.ndarray
    serving: np.ndarray
    rate: np.ndarray
    unmet: np.ndarray
    ep_cost: float = 0.0
    ep_reward: float = 0.0

    @classmethod
    def initial(cls, total: np.ndarray) -> RAState:
        """A fresh episode with demands ``total`` [bit]."""
        u = len(total)
        return cls(t=0, total=total, remaining=total.copy(), satisfied=np.zeros(u), throughput=np.zeros(u),
                   serving=np.full(u, -1, dtype=np.int64), rate=np.zeros(u), unmet=np.zeros(u))
