"""Cell sleep: the task's constants, observation features and :class:`CellSleepConfig`."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from ...config import ConfigError
from ..contract import Feature
from ..validators import check_bool, check_choice, check_int, check_range

__all__ = ["ON", "SLEEP", "OFF", "WAKING", "N_ACTIONS", "HISTORY", "FEATURE_NAMES", "FEATURES", "N_FEATURES",
           "P_NORM_W", "CellSleepConfig"]

ON, SLEEP, OFF, WAKING = 0, 1, 2, 3  # cell statuses (WAKING: commanded out of off, not serving yet)
N_ACTIONS = 3  # actions per cell: ON, SLEEP, OFF
HISTORY = 4  # past demand steps in the observation (paper: "the last four steps")
P_NORM_W = 130.0  # [W] normalisation of power features (EARTH macro P_0)

# one row per cell; the order is the observation's column order
FEATURES: tuple[Feature, ...] = (
    Feature("tod_sin", "1", -1.0, 1.0, description="sine of the time of day"),
    Feature("tod_cos", "1", -1.0, 1.0, description="cosine of the time of day"),
    *(Feature(f"demand_t-{k}", "1", 0.0, 10.0, description=f"utilisation with every cell on, {k} step(s) ago "
              "(capped at 10)") for k in range(1, HISTORY + 1)),
    Feature("kind_macro", "1", 0.0, 1.0, description="one-hot cell kind"),
    Feature("kind_micro", "1", 0.0, 1.0, description="one-hot cell kind"),
    Feature("kind_pico", "1", 0.0, 1.0, description="one-hot cell kind"),
    Feature("p0", "130 W", 0.0, 10.0, description="EARTH P_0 (load-independent power when on)"),
    Feature("p_sleep", "130 W", 0.0, 10.0, description="power asleep"),
    Feature("p_load_max", "130 W", 0.0, 10.0, description="Δ_p · P_max (power slope at full load)"),
    Feature("capacity", "max capacity", 0.0, 1.0, description="cell capacity / the largest cell capacity"),
    Feature("status_on", "1", 0.0, 1.0, description="one-hot own status"),
    Feature("status_sleep", "1", 0.0, 1.0, description="one-hot own status"),
    Feature("status_off", "1", 0.0, 1.0, description="one-hot own status"),
    Feature("status_waking", "1", 0.0, 1.0, description="one-hot own status (leaving off, not serving yet)"),
    Feature("site_on", "1", 0.0, 1.0, description="the cell's site is on (a cell of it is not off)"),
    Feature("site_cells_on", "1", 0.0, 1.0, description="share of the site's cells that are on"),
    Feature("mask_grid_ok", "1", 0.0, 1.0, description="mask 1: the cell's grids stay served if it sleeps/closes"),
    Feature("mask_site_closable", "1", 0.0, 1.0, description="mask 2: the site would be off if the cell closed"),
    Feature("utilisation", "1", 0.0, 10.0, description="load / capacity in the last step (capped at 10)"),
)
FEATURE_NAMES: tuple[str, ...] = tuple(f.name for f in FEATURES)
N_FEATURES = len(FEATURES)
F = {name: i for i, name in enumerate(FEATURE_NAMES)}  # feature name -> observation column
STATIC_FEATURES = ("kind_macro", "kind_micro", "kind_pico", "p0", "p_sleep", "p_load_max", "capacity")

DemandSource = Literal["diurnal", "lstm"]
UncoveredGrids = Literal["drop", "error"]


@dataclass(frozen=True)
class CellSleepConfig:
    """Parameters of the cell-sleep task (env kwarg ``config={"task": {...}}``).

    Attributes:
        grid_m: side of a square grid [m].
        step_min: decision period [min] (paper: 30).
        days: episode length in days (48 steps per day at 30 min); the paper trains on day 1
            (``days=1``) and evaluates on the week (``days=7``).
        start_day: first day of the episode in the weekly demand model (0 = Monday).
        episode_steps: if > 0, the episode length in steps (overrides ``days``).
        demand_source: ``"diurnal"`` (documented diurnal + weekly model from the env rng) or
            ``"lstm"`` (``mndt_envs.twin.traffic.generator.demand_series``).
        peak_load: network-wide mean demand at the weekday peak as a share of the total capacity.
        spatial_sigma: log-normal spread of the grids' mean demand (hot spots).
        business_share: mean share of the "business" profile in a grid's mix (rest residential).
        noise_sigma: log-normal per-grid, per-step demand noise.
        day_sigma: log-normal per-grid, per-day amplitude variation.
        coverage_threshold_dbm: RSRP [dBm] for a cell to cover a grid (None: the scenario's).
        max_spectral_efficiency: cap on a cell's spectral efficiency [bit/s/Hz].
        max_utilisation: usable share of a cell's capacity.
        max_cells_per_grid: a grid is served by at most its k strongest covering cells (0: all);
            keeps the cover matrices sparse (like the top-k cells of a measurement report).
        uncovered_grids: ``"drop"`` (grids no cell covers carry no demand; one warning) or ``"error"``.
        hard_constraints: the action mask forbids sleep/off where mask 1 says the cell's grids would
            be left unmet (else every action is legal).
        mask_headroom: demand margin used by the masks (load × headroom must fit).
        joint_masks: mask 1 accounts for neighbours leaving in the same step: candidates are
            ranked by load, and a cell may leave only if the spare capacity of the cells sharing a
            grid with it also absorbs every less-loaded candidate among them (their load and the
            spare they no longer offer). This reduces, but cannot remove, the risk of neighbours
            leaving together (more-loaded candidates may leave as well): per-cell masks cannot
            express a joint constraint, so the residual shows in ``info["cost"]`` and the penalty.
        strict: an action the mask forbids raises ``ValueError``; otherwise it is replaced by
            "on" and counted in ``info["illegal_actions"]``.
        wakeup_steps: steps a cell needs to wake up from off (0: immediately).
        switch_cost_sleep_w: cost of an on↔sleep transition [W-equivalent over one step].
        switch_cost_off_w: cost of a transition to or from off [W-equivalent].
        switch_cost_site_w: cost of a site switching on↔off [W-equivalent].
        bbu_power_w: BBU power per active site [W] (None: the scenario's ``sites.bbu_power_w``).
        aircon_factor: air conditioning as a share of site power (None: the scenario's).
        reward_scale_w: rewards are powers divided by this [W].
        unserved_penalty: reward penalty per Gbit of unserved traffic (0: constraint in the cost only);
            in the multi-agent rewards it is blamed on the cells that could have served it.
    """

    grid_m: float = 100.0  # [m]
    step_min: float = 30.0  # [min]
    days: int = 7
    start_day: int = 0
    episode_steps: int = 0
    demand_source: DemandSource = "diurnal"
    peak_load: float = 0.35
    spatial_sigma: float = 0.7
    business_share: float = 0.5
    noise_sigma: float = 0.15
    day_sigma: float = 0.1
    coverage_threshold_dbm: float | None = None  # [dBm]
    max_spectral_efficiency: float = 6.0  # [bit/s/Hz]
    max_utilisation: float = 1.0
    max_cells_per_grid: int = 6
    uncovered_grids: UncoveredGrids = "drop"
    hard_constraints: bool = True
    mask_headroom: float = 1.1
    joint_masks: bool = True
    strict: bool = False
    wakeup_steps: int = 1
    switch_cost_sleep_w: float = 5.0  # [W·step]
    switch_cost_off_w: float = 50.0  # [W·step]
    switch_cost_site_w: float = 100.0  # [W·step]
    bbu_power_w: float | None = None  # [W]
    aircon_factor: float | None = None
    reward_scale_w: float = 1000.0  # [W]
    unserved_penalty: float = 10.0  # [1/Gbit]

    def __post_init__(self) -> None:
        s = "task"
        check_range(s, "grid_m", self.grid_m, 1.0, 10_000.0)
        check_range(s, "step_min", self.step_min, 1.0, 1440.0)
        if abs(1440.0 / self.step_min - round(1440.0 / self.step_min)) > 1e-9:
            raise ConfigError(f"task.step_min = {self.step_min!r}: must divide a day (1440 min) evenly")
        check_int(s, "days", self.days, 1, 3650)
        check_int(s, "start_day", self.start_day, 0, 3650)
        check_int(s, "episode_steps", self.episode_steps, 0, 10_000_000)
        check_choice(s, "demand_source", self.demand_source, ("diurnal", "lstm"))
        check_range(s, "peak_load", self.peak_load, 0.0, 100.0)
        check_range(s, "spatial_sigma", self.spatial_sigma, 0.0, 5.0)
        check_range(s, "business_share", self.business_share, 0.0, 1.0)
        check_range(s, "noise_sigma", self.noise_sigma, 0.0, 5.0)
        check_range(s, "day_sigma", self.day_sigma, 0.0, 5.0)
        if self.coverage_threshold_dbm is not None:
            check_range(s, "coverage_threshold_dbm", self.coverage_threshold_dbm, -156.0, -31.0)
        check_range(s, "max_spectral_efficiency", self.max_spectral_efficiency, 0.0, 100.0, lo_open=True)
        check_range(s, "max_utilisation", self.max_utilisation, 0.0, 1.0, lo_open=True)
        check_int(s, "max_cells_per_grid", self.max_cells_per_grid, 0, 100_000)
        check_choice(s, "uncovered_grids", self.uncovered_grids, ("drop", "error"))
        for name in ("hard_constraints", "strict", "joint_masks"):
            check_bool(s, name, getattr(self, name))
        check_range(s, "mask_headroom", self.mask_headroom, 0.0, 10.0)
        check_int(s, "wakeup_steps", self.wakeup_steps, 0, 1000)
        for name in ("switch_cost_sleep_w", "switch_cost_off_w", "switch_cost_site_w"):
            check_range(s, name, getattr(self, name), 0.0, 1e6)
        if self.bbu_power_w is not None:
            check_range(s, "bbu_power_w", self.bbu_power_w, 0.0, 10_000.0)
        if self.aircon_factor is not None:
            check_range(s, "aircon_factor", self.aircon_factor, 0.0, 2.0)
        check_range(s, "reward_scale_w", self.reward_scale_w, 0.0, 1e9, lo_open=True)
        check_range(s, "unserved_penalty", self.unserved_penalty, 0.0, 1e9)

    @property
    def steps_per_day(self) -> int:
        """Decision steps per day."""
        return int(round(1440.0 / self.step_min))

    @property
    def n_steps(self) -> int:
        """Steps per episode."""
        return self.episode_steps if self.episode_steps > 0 else self.days * self.steps_per_day
