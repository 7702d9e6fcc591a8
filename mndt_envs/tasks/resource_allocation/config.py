"""Resource allocation: :class:`ResourceAllocationConfig`, constants and the observation features."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from ..contract import Feature
from ..validators import check_bool, check_choice, check_int, check_range

__all__ = ["ResourceAllocationConfig", "ACTION_MODES", "POWER_SPLITS", "EXACT_MATCH_LIMIT", "FEATURES",
           "AGENT_FEATURES", "ActionMode", "PowerSplit"]

ActionMode = Literal["demand", "direct"]
PowerSplit = Literal["fair", "waterfill"]
ACTION_MODES: tuple[str, ...] = ("demand", "direct")
POWER_SPLITS: tuple[str, ...] = ("fair", "waterfill")
EXACT_MATCH_LIMIT = 50_000  # users × (slots + users) up to which association is matched exactly (dense LSA)

# the single-agent observation is a Dict: one entry per key
FEATURES: tuple[Feature, ...] = (
    Feature("time_left", "1", 0.0, 1.0, "1", "steps left / episode steps"),
    Feature("remaining_demand", "max demand", 0.0, 1.0, "n_users", "remaining bits / (max_demand_rb_s · B_RB)"),
    Feature("max_power", "1", 0.0, 1.0, "n_cells", "P_max / max P_max"),
    Feature("gains", "1", 0.0, 1.0, "n_users·k", "top-k large-scale gains (G_dB + 160) / 160, (n_users, k)"),
    Feature("association", "1", 0.0, 1.0, "n_users", "(serving cell + 1) / n_cells of the last step (0 = none)"),
)
# one base station, cap = min(k_max, n_rb) slots of users whose strongest cell it is (strongest first)
AGENT_FEATURES: tuple[Feature, ...] = (
    Feature("time_left", "1", 0.0, 1.0, description="steps left / episode steps"),
    Feature("max_power", "1", 0.0, 1.0, description="own P_max / max P_max"),
    Feature("slot_remaining", "max demand", 0.0, 1.0, "cap", "remaining demand of the slot's user"),
    Feature("slot_gain", "1", 0.0, 1.0, "cap", "the slot user's gain (G_dB + 160) / 160"),
    Feature("slot_valid", "1", 0.0, 1.0, "cap", "1 = a user holds the slot"),
)


@dataclass(frozen=True)
class ResourceAllocationConfig:
    """Parameters of the resource-allocation task (the ``"task"`` key of the env's ``config``).

    Attributes:
        episode_steps: decision steps per episode (paper: 20).
        step_s: [s] duration of one step (throughput is rate × step_s).
        action_mode: ``"demand"`` (per-user single-step demand fractions; association and RB
            by matching, paper 002's decoupling) or ``"direct"`` (association, RB and power
            per user; for small scenarios).
        k_max: most users a BS serves in one step (K_max of SPEC §3; the paper gives no value).
        n_rb: RBs per BS the task allocates (0 = all of the scenario's ``radio.n_rb``).
        n_candidates: candidate cells per user (top-k by large-scale gain).
        power_split: ``"fair"`` (P_max shared equally by a BS's scheduled users) or
            ``"waterfill"`` (water-filling on the interference-plus-noise estimate) in demand mode.
        rate_weight: η, weight of the achievable rate in the matching's edge weight
            ``min(rate, requested demand) + η · rate``.
        use_fading: SINR and rates use the small-scale fading (True) or large-scale gains only.
    """

    episode_steps: int = 20
    step_s: float = 1.0  # [s]
    action_mode: ActionMode = "demand"
    k_max: int = 32
    n_rb: int = 0
    n_candidates: int = 3
    power_split: PowerSplit = "fair"
    rate_weight: float = 0.1
    use_fading: bool = True

    def __post_init__(self) -> None:
        s = "task"
        check_int(s, "episode_steps", self.episode_steps, 1, 100_000)
        check_range(s, "step_s", self.step_s, 0.0, 86_400.0, lo_open=True)
        check_choice(s, "action_mode", self.action_mode, ACTION_MODES)
        check_int(s, "k_max", self.k_max, 1, 1_000_000)
        check_int(s, "n_rb", self.n_rb, 0, 1_000_000)
        check_int(s, "n_candidates", self.n_candidates, 1, 64)
        check_choice(s, "power_split", self.power_split, POWER_SPLITS)
        check_range(s, "rate_weight", self.rate_weight, 0.0, 100.0)
        check_bool(s, "use_fading", self.use_fading)
