"""CPICH load balancing: :class:`LoadBalancingConfig` and the observation features."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

from ...config import ConfigError
from ..contract import Feature
from ..validators import check_choice, check_int, check_range

__all__ = ["LoadBalancingConfig", "FEATURES", "AGENT_FEATURES", "Mobility", "Target", "PminMethod"]

Mobility = Literal["tidal", "static", "twin"]
Target = Literal["global", "local"]
PminMethod = Literal["exact", "mlp", "none"]

# single agent: blocks of n entries (one per antenna), then the hour; s = max(p_up_db, p_down_db) [dB]
FEATURES: tuple[Feature, ...] = (
    Feature("busy", "1", 0.0, "n_users/U_max", "n", "busy degree (users served / U_max) of every antenna"),
    Feature("p_norm", "s dB", "-p_down_db/s", "p_up_db/s", "n", "CPICH power relative to the reference"),
    Feature("p_min_norm", "s dB", "-p_down_db/s", "p_up_db/s", "n", "p_min(k) of the period, same scale"),
    Feature("nb_coverage", "1", 0.0, 1.0, "n", "share of covered users in {i} ∪ N(i)"),
    Feature("hour_sin", "1", -1.0, 1.0, description="sine of the hour of day"),
    Feature("hour_cos", "1", -1.0, 1.0, description="cosine of the hour of day"),
)
# one antenna: own entries, then M = max_neighbours neighbour slots (by MR co-occurrence over the day)
AGENT_FEATURES: tuple[Feature, ...] = (
    Feature("busy", "1", 0.0, "n_users/U_max", description="own busy degree"),
    Feature("p_norm", "s dB", "-p_down_db/s", "p_up_db/s", description="own power relative to the reference"),
    Feature("p_min_norm", "s dB", "-p_down_db/s", "p_up_db/s", description="own p_min(k)"),
    Feature("nb_coverage", "1", 0.0, 1.0, description="coverage of the own neighbourhood"),
    Feature("hour_sin", "1", -1.0, 1.0, description="sine of the hour of day"),
    Feature("hour_cos", "1", -1.0, 1.0, description="cosine of the hour of day"),
    Feature("nb_busy", "1", 0.0, "n_users/U_max", "M", "neighbours' busy degrees (0 = padding)"),
    Feature("nb_p_norm", "s dB", "min(-p_down_db/s, 0)", "max(p_up_db/s, 0)", "M", "neighbours' powers"),
    Feature("nb_present", "1", 0.0, 1.0, "M", "1 = neighbour, 0 = padding"),
)


@dataclass(frozen=True)
class LoadBalancingConfig:
    """Parameters of the load-balancing task (env kwarg ``config={"task": {...}}``)."""

    episode_steps: int = 24  # periods per episode (24 one-hour periods = one day)
    period_s: float = 3600.0  # [s] sampling period
    start_hour: float = 0.0  # [h] hour of day of the reset period
    mobility: Mobility = "tidal"  # "tidal" (built-in hotspot day) | "static" (tidal layout frozen) | "twin"
    n_business: int = 3  # business hotspots (busy by day)
    n_residential: int = 3  # residential hotspots (busy by night)
    hotspot_radius_m: float = 0.0  # [m] std of users around a hotspot; 0 = 15% of the area's width
    background_share: float = 0.5  # share of users spread uniformly (never in a hotspot)
    jitter_m: float = 15.0  # [m] per-period random displacement of every user
    u_max: float = 0.0  # users at busy degree 1; 0 = auto (2 × users per antenna)
    b_over: float = 0.8  # over-busy threshold on the busy degree
    target: Target = "global"  # busy-degree target (reward and baselines)
    over_busy_penalty: float = 1.0  # reward weight of the over-busy share
    c_min: float = 0.8  # required coverage rate (global; and neighbourhood for p_min)
    coverage_threshold_dbm: float = float("nan")  # [dBm] NaN = the scenario's radio.coverage_threshold_dbm
    max_step_db: float = 3.0  # [dB] action bound per period (actions are clipped to it)
    p_up_db: float = 6.0  # [dB] p_max = reference power + p_up_db
    p_down_db: float = 9.0  # [dB] lowest power = reference power - p_down_db (start of the p_min procedure)
    pmin_method: PminMethod = "exact"  # "exact" | "mlp" (monotone MLP, exact fallback) | "none" (p_min = lowest)
    coverage_slack: float = 0.02  # neighbourhoods below c_min at reference powers may lose at most this coverage
    pmin_eps_db: float = 1.0  # [dB] power increment of the p_min procedure
    n_candidates: int = 8  # strongest cells kept per user (association/coverage under changed powers)
    max_neighbours: int = 8  # neighbours per antenna in the multi-agent observation (padding/truncation)

    def __post_init__(self) -> None:
        s = "task"
        check_int(s, "episode_steps", self.episode_steps, 1, 10_000)
        check_range(s, "period_s", self.period_s, 1.0, 86_400.0)
        check_range(s, "start_hour", self.start_hour, 0.0, 24.0)
        check_choice(s, "mobility", self.mobility, ("tidal", "static", "twin"))
        check_int(s, "n_business", self.n_business, 0, 1000)
        check_int(s, "n_residential", self.n_residential, 0, 1000)
        if self.n_business + self.n_residential == 0 and self.background_share < 1.0:
            raise ConfigError("task.n_business + task.n_residential = 0: needs a hotspot unless background_share = 1")
        check_range(s, "hotspot_radius_m", self.hotspot_radius_m, 0.0, 100_000.0)
        check_range(s, "background_share", self.background_share, 0.0, 1.0)
        check_range(s, "jitter_m", self.jitter_m, 0.0, 10_000.0)
        check_range(s, "u_max", self.u_max, 0.0, 1e9)
        check_range(s, "b_over", self.b_over, 0.0, 100.0, lo_open=True)
        check_choice(s, "target", self.target, ("global", "local"))
        check_range(s, "over_busy_penalty", self.over_busy_penalty, 0.0, 1e6)
        check_range(s, "c_min", self.c_min, 0.0, 1.0)
        if not (isinstance(self.coverage_threshold_dbm, float) and math.isnan(self.coverage_threshold_dbm)):
            check_range(s, "coverage_threshold_dbm", self.coverage_threshold_dbm, -156.0, -31.0)
        check_range(s, "max_step_db", self.max_step_db, 0.0, 40.0, lo_open=True)
        check_range(s, "p_up_db", self.p_up_db, -40.0, 40.0)
        check_range(s, "p_down_db", self.p_down_db, -40.0, 40.0)
        if -self.p_down_db > self.p_up_db:
            raise ConfigError(
                f"task.p_down_db = {self.p_down_db!r}: the lowest power (reference - p_down_db) exceeds "
                f"p_max (reference + p_up_db = {self.p_up_db!r}); need p_down_db >= -p_up_db (p_min <= p_max)"
            )
        check_choice(s, "pmin_method", self.pmin_method, ("exact", "mlp", "none"))
        check_range(s, "coverage_slack", self.coverage_slack, 0.0, 1.0)
        check_range(s, "pmin_eps_db", self.pmin_eps_db, 0.0, 10.0, lo_open=True)
        check_int(s, "n_candidates", self.n_candidates, 1, 64)
        check_int(s, "max_neighbours", self.max_neighbours, 1, 256)
