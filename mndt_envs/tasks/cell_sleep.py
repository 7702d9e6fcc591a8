"""Cell sleep (paper 002 §IV.B, Fig. 4; SPEC §4): the task core shared by both env forms.

The area is split into square grids (default 100 m). A cell *covers* a grid when its
RSRP at the grid centre (``ref_power_dbm + channel gain``, outdoor, large-scale) reaches the
coverage threshold; the cover relation is computed once at construction. Every decision
step (default 30 min) each cell is set **on (0)**, **sleep (1)** or **off (2)**; a site is
off iff all its cells are off.

Per step (array operations only; sparse cover matrices precomputed):

* Demand ``d_g`` [bit/s] of each grid (mean offered rate over the step) comes from a
  model drawn at reset (``demand_source="diurnal"``, the documented model in
  :func:`diurnal_profile`, or ``"lstm"``, the traffic twin's ``demand_series``).
* The demand of a grid is split across its **active** (on) covering cells in proportion to
  their capacities: ``load_c = cap_c Σ_g A[c,g] d_g / Σ_c' A[c',g] cap_c' on_c'``. Load above
  ``max_utilisation · cap_c`` is unserved, as is the demand of a grid with no active cell.
* Capacity of a cell [bit/s] = ``n_rb · B_RB · SE_c``, with ``SE_c = log2(1 + SINR)`` of the
  median full-load SINR over the grids it best-serves (grid centres; all cells on and fully
  loaded, :func:`mndt_envs.twin.radio.sinr_load`), capped at ``max_spectral_efficiency``.
* Power: EARTH per cell (:func:`radio.earth_power_w`, ``P_out = P_max · utilisation`` when on,
  ``P_sleep`` when asleep or waking up, 0 when off), plus per site a BBU while any cell is not
  off and air conditioning proportional to the site total (:func:`radio.site_power_w`).
* Switching: a cost [W-equivalent for one step] per commanded transition of a cell (on↔sleep
  cheap, to/from off expensive) and per site on↔off. A cell commanded out of off *wakes up*
  for ``wakeup_steps`` steps (power of sleep, serves nothing) before it reaches its target.

Rewards: global ``-(Σ site power + Σ switching costs) / reward_scale_w - unserved_penalty ·
unserved [Gbit]``; per cell (multi-agent) ``-(own power · (1 + aircon) + equal share of its
site's BBU/air-con overhead + own switching cost + share of the site's switching cost) /
reward_scale_w - unserved_penalty · blamed unserved [Gbit]``, the unserved traffic of a grid
being blamed on its covering cells that are not on (:meth:`CellSleepCore._blame`); the per-cell
rewards sum to the global one.
``info["cost"]`` = unserved traffic in the step [Gbit].

Masks (the paper's two "masks", also observation features): **mask 1** of a cell: the demand
of its grids can still be met if it sleeps or closes (for an on cell: it is the sole active
server of no grid with demand, and its load × ``mask_headroom`` fits in the spare capacity of
the active cells sharing a grid with it; for a cell not on: its grids are met now). **Mask 2**:
its site would be off if it closed (all other cells of the site are off). With
``hard_constraints`` the action mask forbids sleep/off where mask 1 is false. Masks are per
cell; with ``joint_masks`` a candidate also makes room for the less-loaded candidates around it
leaving in the same step, but simultaneous switching can still leave traffic unserved, which
shows in the cost (and in the reward through ``unserved_penalty``).
"""

from __future__ import annotations

import math
import pathlib
import warnings
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import scipy.sparse as sp

from ..config import ConfigError, ScenarioConfig, _check_choice, _check_int, _check_range, apply_overrides
from ..twin import radio
from ..twin.network import NetworkTwin

try:  # scipy's own CSR kernels, called without the dispatch of ``@`` (same arithmetic, less overhead)
    from scipy.sparse._sparsetools import csr_matvec as _csr_matvec
except ImportError:  # pragma: no cover
    _csr_matvec = None

if TYPE_CHECKING:  # pragma: no cover
    from rich.console import Console

__all__ = [
    "CellSleepConfig",
    "CellSleepCore",
    "diurnal_profile",
    "ON",
    "SLEEP",
    "OFF",
    "WAKING",
    "N_ACTIONS",
    "N_FEATURES",
    "FEATURE_NAMES",
    "demo",
]

ON, SLEEP, OFF, WAKING = 0, 1, 2, 3  # cell statuses (WAKING: commanded out of off, not serving yet)
N_ACTIONS = 3
STEPS_PER_HOUR_MIN = 60.0
HISTORY = 4  # past demand steps in the observation (paper: "the last four steps")

FEATURE_NAMES: tuple[str, ...] = (
    "tod_sin", "tod_cos",
    "demand_t-1", "demand_t-2", "demand_t-3", "demand_t-4",
    "kind_macro", "kind_micro", "kind_pico", "p0", "p_sleep", "p_load_max", "capacity",
    "status_on", "status_sleep", "status_off", "status_waking",
    "site_on", "site_cells_on",
    "mask_grid_ok", "mask_site_closable",
    "utilisation",
)
N_FEATURES = len(FEATURE_NAMES)
_NOISE_BLOCK = 32  # demand noise rows drawn at once
_P_NORM_W = 130.0  # [W] normalisation of power features (EARTH macro P_0)
_STATUSES = np.arange(4, dtype=np.int8)  # one-hot of the 4 statuses


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
    demand_source: str = "diurnal"
    peak_load: float = 0.35
    spatial_sigma: float = 0.7
    business_share: float = 0.5
    noise_sigma: float = 0.15
    day_sigma: float = 0.1
    coverage_threshold_dbm: float | None = None  # [dBm]
    max_spectral_efficiency: float = 6.0  # [bit/s/Hz]
    max_utilisation: float = 1.0
    max_cells_per_grid: int = 6
    uncovered_grids: str = "drop"
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
        _check_range(s, "grid_m", self.grid_m, 1.0, 10_000.0)
        _check_range(s, "step_min", self.step_min, 1.0, 1440.0)
        if abs(1440.0 / self.step_min - round(1440.0 / self.step_min)) > 1e-9:
            raise ConfigError(f"task.step_min = {self.step_min!r}: must divide a day (1440 min) evenly")
        _check_int(s, "days", self.days, 1, 3650)
        _check_int(s, "start_day", self.start_day, 0, 3650)
        _check_int(s, "episode_steps", self.episode_steps, 0, 10_000_000)
        _check_choice(s, "demand_source", self.demand_source, ("diurnal", "lstm"))
        _check_range(s, "peak_load", self.peak_load, 0.0, 100.0)
        _check_range(s, "spatial_sigma", self.spatial_sigma, 0.0, 5.0)
        _check_range(s, "business_share", self.business_share, 0.0, 1.0)
        _check_range(s, "noise_sigma", self.noise_sigma, 0.0, 5.0)
        _check_range(s, "day_sigma", self.day_sigma, 0.0, 5.0)
        if self.coverage_threshold_dbm is not None:
            _check_range(s, "coverage_threshold_dbm", self.coverage_threshold_dbm, -156.0, -31.0)
        _check_range(s, "max_spectral_efficiency", self.max_spectral_efficiency, 0.0, 100.0, lo_open=True)
        _check_range(s, "max_utilisation", self.max_utilisation, 0.0, 1.0, lo_open=True)
        _check_int(s, "max_cells_per_grid", self.max_cells_per_grid, 0, 100_000)
        _check_choice(s, "uncovered_grids", self.uncovered_grids, ("drop", "error"))
        for name in ("hard_constraints", "strict", "joint_masks"):
            if not isinstance(getattr(self, name), bool):
                raise ConfigError(f"task.{name} = {getattr(self, name)!r}: expected true or false")
        _check_range(s, "mask_headroom", self.mask_headroom, 0.0, 10.0)
        _check_int(s, "wakeup_steps", self.wakeup_steps, 0, 1000)
        for name in ("switch_cost_sleep_w", "switch_cost_off_w", "switch_cost_site_w"):
            _check_range(s, name, getattr(self, name), 0.0, 1e6)
        if self.bbu_power_w is not None:
            _check_range(s, "bbu_power_w", self.bbu_power_w, 0.0, 10_000.0)
        if self.aircon_factor is not None:
            _check_range(s, "aircon_factor", self.aircon_factor, 0.0, 2.0)
        _check_range(s, "reward_scale_w", self.reward_scale_w, 0.0, 1e9, lo_open=True)
        _check_range(s, "unserved_penalty", self.unserved_penalty, 0.0, 1e9)

    @property
    def steps_per_day(self) -> int:
        """Decision steps per day."""
        return int(round(1440.0 / self.step_min))

    @property
    def n_steps(self) -> int:
        """Steps per episode."""
        return self.episode_steps if self.episode_steps > 0 else self.days * self.steps_per_day


def _csr_mul(m: sp.csr_matrix, x: np.ndarray) -> np.ndarray:
    """``m @ x`` for a float64 CSR matrix and a float64 vector, or ``(m @ x.T).T`` for a (k, n) stack.

    Calls scipy's own kernel without the dispatch of ``@``, one product per vector (faster than the
    multi-vector kernel; the same sums in the same order).
    """
    if _csr_matvec is None or x.dtype != np.float64:  # pragma: no cover
        return np.asarray(m @ x.T).T
    nr, nc = m.shape
    if x.ndim == 1:
        y = np.zeros(nr)
        _csr_matvec(nr, nc, m.indptr, m.indices, m.data, x, y)
        return y
    y = np.zeros((len(x), nr))
    for xi, yi in zip(x, y):
        _csr_matvec(nr, nc, m.indptr, m.indices, m.data, xi, yi)
    return y


def _csr_rows(indptr: np.ndarray, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Entries of the given (non-empty list of) rows of a CSR structure, concatenated in order.

    Returns:
        (entries, row lengths, row ends in the concatenation).
    """
    start = indptr.take(rows)
    lens = indptr.take(rows + 1) - start
    ends = lens.cumsum()
    ent = (start - (ends - lens)).repeat(lens) + np.arange(ends[-1])
    return ent, lens, ends


# ---------------------------------------------------------------- demand model
def _bumps(h: np.ndarray, centres: tuple[float, ...], widths: tuple[float, ...],
           heights: tuple[float, ...]) -> np.ndarray:
    out = np.zeros_like(h)
    for c, w, a in zip(centres, widths, heights):
        d = (h - c + 12.0) % 24.0 - 12.0  # wrap around midnight
        out += a * np.exp(-0.5 * (d / w) ** 2)
    return out


def diurnal_profile(t_h: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The two daily traffic profiles of the diurnal demand model, in [0, 1].

    ``t_h`` is the time in hours since Monday 00:00. **Business**: peaks at 11:00 and 15:00,
    floor 0.08, weekend days scaled by 0.45. **Residential**: a midday bump at 13:00 (0.55) and
    the evening peak at 21:00, floor 0.12, Saturday ×1.1 and Sunday ×1.15. Both are normalised to
    a weekday maximum of 1. A grid's demand is
    ``peak · w_g · (β_g busi + (1 − β_g) resi) · e^{σ_day ε_{g,day}} · e^{σ ε_{g,t}}`` with hot-spot
    weights ``w_g`` (log-normal, ``spatial_sigma``), mixes ``β_g ~ Beta`` with mean
    ``business_share``, and the noise terms ε standard normal, all drawn from the env rng.

    Returns:
        (business, residential), each shaped like ``t_h``.
    """
    h = np.asarray(t_h, dtype=np.float64) % 24.0
    day = (np.asarray(t_h, dtype=np.float64) // 24.0).astype(np.int64) % 7
    bus, res = _daily(h)
    bus = bus * np.where(day >= 5, 0.45, 1.0)
    res = res * np.select([day == 5, day == 6], [1.1, 1.15], 1.0)
    return bus, res


def _daily_raw(h: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    bus = 0.08 + _bumps(h, (11.0, 15.0), (2.0, 2.2), (0.85, 0.8))
    res = 0.12 + _bumps(h, (13.0, 21.0), (2.5, 2.2), (0.45, 0.88))
    return bus, res


_H = np.linspace(0.0, 24.0, 2881)
_NORM = tuple(float(x.max()) for x in _daily_raw(_H))


def _daily(h: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    bus, res = _daily_raw(h)
    return bus / _NORM[0], res / _NORM[1]


def _lstm_generator() -> Any:
    try:
        from ..twin.traffic.generator import demand_series  # type: ignore[import-not-found,unused-ignore]
    except ImportError as exc:
        raise ConfigError(
            "task.demand_source = 'lstm': needs mndt_envs.twin.traffic.generator.demand_series (the LSTM "
            f"traffic twin), which is not available ({exc}); use demand_source='diurnal'"
        ) from exc
    return demand_series


def _lstm_series(n_series: int, n_steps: int, step_s: float, rng: np.random.Generator,
                 start_hour: float) -> np.ndarray:
    """Normalised load series (1 = the traffic twin's busy-hour level), aligned to ``start_hour``."""
    demand_series = _lstm_generator()
    try:
        out = demand_series(n_series, n_steps, step_s, rng, peak_bps=1.0, start_hour=start_hour)
    except TypeError:  # a generator without those options: scale by its maximum instead
        out = demand_series(n_series, n_steps, step_s, rng)
        out = np.asarray(out, dtype=np.float64) / max(float(np.max(out)), 1e-12)
    out = np.asarray(out, dtype=np.float64)
    if out.shape != (n_series, n_steps):
        raise ValueError(f"demand_series returned shape {out.shape}, expected {(n_series, n_steps)}")
    return np.maximum(out, 0.0)


# ---------------------------------------------------------------- the core
class CellSleepCore:
    """State, dynamics, rewards and masks of the cell-sleep task (no gymnasium/pettingzoo here).

    Args:
        scenario: preset name, dict or :class:`ScenarioConfig`.
        scenario_overrides: nested overrides of the scenario.
        task: a :class:`CellSleepConfig` or a dict of overrides of the defaults.
    """

    def __init__(self, scenario: str | ScenarioConfig | dict[str, Any] = "toy",
                 scenario_overrides: dict[str, Any] | None = None,
                 task: CellSleepConfig | dict[str, Any] | None = None) -> None:
        self.cfg: CellSleepConfig = task if isinstance(task, CellSleepConfig) else apply_overrides(
            CellSleepConfig(), task, "task")
        if self.cfg.demand_source == "lstm":
            _lstm_generator()  # fail at construction with a clear message if the traffic twin is missing
        self.twin = NetworkTwin(scenario, scenario_overrides)
        sc = self.twin.cfg
        cells = self.twin.cells
        self.n_cells = int(cells.n)
        if self.n_cells == 0:
            raise ConfigError("sites: the scenario has zero cells; cell sleep needs at least one cell")
        self.n_sites = int(cells.n_sites)
        self.site = np.asarray(cells.site, dtype=np.int64)  # (n_cells,)
        self.step_s = self.cfg.step_min * 60.0  # [s]
        self.bbu_w = float(sc.sites.bbu_power_w if self.cfg.bbu_power_w is None else self.cfg.bbu_power_w)
        self.aircon = float(sc.sites.aircon_factor if self.cfg.aircon_factor is None else self.cfg.aircon_factor)
        self._build_grids(sc)
        self._build_capacity(sc)
        pm = self.twin.power_model
        self.p0_w, self.p_sleep_w = pm["p0_w"], pm["p_sleep_w"]  # (n_cells,) [W]
        self.delta_p, self.p_max_w = pm["delta_p"], pm["p_max_w"]
        self.cells_per_site = np.bincount(self.site, minlength=self.n_sites).astype(np.float64)  # (n_sites,)
        c = self.cfg
        sw = np.full((3, 3), c.switch_cost_off_w)  # [from, to] in logical statuses on/sleep/off
        sw[ON, SLEEP] = sw[SLEEP, ON] = c.switch_cost_sleep_w
        np.fill_diagonal(sw, 0.0)
        self.switch_cost_w = sw
        self._static = self._static_features()
        self._obs_buf = np.zeros((N_FEATURES, self.n_cells), dtype=np.float32)  # observation workspace
        self._obs_buf[6:13] = self._static.T
        self._steps_per_day = self.cfg.steps_per_day
        self.n_steps = c.n_steps
        self.t = 0
        self._reset_state()

    # ---------------------------------------------------------------- construction
    def _build_grids(self, sc: ScenarioConfig) -> None:
        g = self.cfg.grid_m
        nx, ny = max(1, math.ceil(sc.width_m / g)), max(1, math.ceil(sc.height_m / g))
        gx = np.minimum((np.arange(nx) + 0.5) * g, sc.width_m)
        gy = np.minimum((np.arange(ny) + 0.5) * g, sc.height_m)
        xy = np.stack(np.meshgrid(gx, gy), axis=-1).reshape(-1, 2)  # (n_all_grids, 2) [m]
        ch = self.twin.channel
        gain_fn = getattr(ch, "link_gain_db", None) or ch.gain_db  # exact per-link gain when offered
        indoor = np.zeros(len(xy), dtype=bool)
        gain = np.asarray(gain_fn(xy, indoor), dtype=np.float64)  # (n_cells, n_all_grids) [dB]
        thr = sc.radio.coverage_threshold_dbm if self.cfg.coverage_threshold_dbm is None \
            else self.cfg.coverage_threshold_dbm
        rsrp = self.twin.cells.ref_power_dbm[:, None] + gain  # (n_cells, n_all_grids) [dBm]
        cover = rsrp >= thr
        k = self.cfg.max_cells_per_grid
        if 0 < k < self.n_cells:  # keep the k strongest covering cells of each grid
            kth = -np.partition(-rsrp, k - 1, axis=0)[k - 1]  # (n_all_grids,) k-th best RSRP
            cover &= rsrp >= kth[None, :]
        covered = cover.any(axis=0)
        n_unc = int((~covered).sum())
        if not covered.any():
            raise ConfigError(
                f"task.coverage_threshold_dbm = {thr!r}: no grid is covered by any cell (best RSRP "
                f"{rsrp.max():.1f} dBm); lower the threshold or add cells")
        if n_unc:
            msg = (f"cell sleep: {n_unc} of {len(xy)} grids ({self.cfg.grid_m:g} m) have no cell with RSRP >= "
                   f"{thr:g} dBm")
            if self.cfg.uncovered_grids == "error":
                raise ConfigError(f"task.uncovered_grids = 'error': {msg}")
            warnings.warn(msg + "; they are dropped (no demand)", stacklevel=3)
        self.grid_shape = (ny, nx)
        self.grid_index = np.flatnonzero(covered)  # (n_grids,) index into the ny*nx raster
        self.grid_xy = xy[covered]  # (n_grids, 2) [m]
        self.n_grids = int(covered.sum())
        self.gain_db = gain[:, covered]  # (n_cells, n_grids) [dB]
        cov = cover[:, covered]
        self.A = sp.csr_matrix(cov.astype(np.float64))  # (n_cells, n_grids) cover
        self.AT = sp.csr_matrix(cov.T.astype(np.float64))  # (n_grids, n_cells)
        co = (self.A @ self.AT) > 0
        self.N = sp.csr_matrix(co.astype(np.float64))  # (n_cells, n_cells) cells sharing a grid (incl. self)
        self.n_cover = np.asarray(cov.sum(axis=0), dtype=np.float64)  # (n_grids,)
        self.cell_n_grids = np.asarray(cov.sum(axis=1), dtype=np.float64)  # (n_cells,)
        # neighbour pairs (c, c') grouped by c (the rows of N), the diagonal pointing at the last entry
        # of the workspaces (never ahead) so that no row is empty (np.add.reduceat needs that)
        self.N.sort_indices()
        rows = np.repeat(np.arange(self.n_cells), np.diff(self.N.indptr))
        self._n_cols = np.where(self.N.indices == rows, self.n_cells, self.N.indices)  # (nnz,); n_cells: diagonal
        self._tie = np.arange(self.n_cells) * 1e-9  # deterministic tie-break
        self._prio = np.full(self.n_cells + 1, np.inf)  # workspaces; entry -1 (diagonal): never ahead
        self._give = np.zeros(self.n_cells + 1)

    def _build_capacity(self, sc: ScenarioConfig) -> None:
        cells = self.twin.cells
        g_lin = np.power(10.0, self.gain_db / 10.0)  # (n_cells, n_grids)
        rsrp = cells.ref_power_dbm[:, None] + self.gain_db
        serving, _ = radio.best_server(rsrp)  # (n_grids,)
        p_rb = self.twin.max_power_w / cells.n_rb  # (n_cells,) [W]
        ones = np.ones(self.n_cells)
        sinr = radio.sinr_load(g_lin, p_rb, ones, serving, self.twin.noise_w)  # (n_grids,) full load
        se = np.minimum(np.log2(1.0 + np.maximum(sinr, 0.0)), self.cfg.max_spectral_efficiency)
        med = np.full(self.n_cells, np.nan)
        order = np.argsort(serving, kind="stable")
        bounds = np.searchsorted(serving[order], np.arange(self.n_cells + 1))
        for c in range(self.n_cells):  # once, at construction
            vals = se[order[bounds[c]: bounds[c + 1]]]
            if len(vals) == 0:  # best server of no grid: its covered grids, else the network median
                vals = se[self.A[c].indices]
            med[c] = np.median(vals) if len(vals) else np.nan
        med = np.where(np.isnan(med), np.nanmedian(med) if np.isfinite(med).any() else 1.0, med)
        self.spectral_eff = np.maximum(med, 0.05)  # (n_cells,) [bit/s/Hz]
        self.cap = cells.n_rb * sc.radio.rb_bandwidth_hz * self.spectral_eff  # (n_cells,) [bit/s]
        self.cap_use = self.cap * self.cfg.max_utilisation  # (n_cells,) [bit/s]
        self.denom_all = self.AT @ self.cap  # (n_grids,) [bit/s] capacity of a grid's cells, all on
        self._inv_denom_all = 1.0 / self.denom_all  # (n_grids,) [s/bit]: A @ (d / denom_all) = utilisation all on
        # mean demand weights per grid: proportional to the capacity that covers it (network planning)
        self.total_cap = float(self.cap.sum())

    def _static_features(self) -> np.ndarray:
        k = self.twin.cells.kind
        f = np.zeros((self.n_cells, 7), dtype=np.float32)
        f[np.arange(self.n_cells), k] = 1.0
        f[:, 3] = self.p0_w / _P_NORM_W
        f[:, 4] = self.p_sleep_w / _P_NORM_W
        f[:, 5] = self.delta_p * self.p_max_w / _P_NORM_W
        f[:, 6] = self.cap / self.cap.max()
        return f

    # ---------------------------------------------------------------- demand
    def _draw_demand(self, rng: np.random.Generator) -> None:
        """Draw the episode's demand model from ``rng``; rows are produced by :meth:`_demand_row`.

        Per grid: hot-spot weight, business/residential mix and per-day amplitudes at reset; the
        per-step noise is drawn step by step from a generator seeded from ``rng`` (cheap resets;
        same seed, same series). With ``demand_source="lstm"`` the whole series is drawn here.
        """
        c = self.cfg
        n = self.n_steps + HISTORY
        t0 = c.start_day * 24.0 - HISTORY * c.step_min / 60.0
        t_h = t0 + np.arange(n) * c.step_min / 60.0  # (n,) [h since Monday 00:00]
        w = rng.lognormal(0.0, c.spatial_sigma, self.n_grids) if c.spatial_sigma > 0 else np.ones(self.n_grids)
        w *= self.denom_all / self.denom_all.mean()  # planners put capacity where traffic is
        w *= c.peak_load * self.total_cap / w.sum()  # [bit/s] network demand at the weekday peak
        self._w = w
        self._series: np.ndarray | None = None
        if c.demand_source == "lstm":
            s = _lstm_series(self.n_grids, n, self.step_s, rng, start_hour=t0 % 24.0).T  # (n, n_grids)
            self._series = w[None, :] * s
            return
        a = 8.0
        self._mix = rng.beta(a * c.business_share, a * (1 - c.business_share), self.n_grids) \
            if 0 < c.business_share < 1 else np.full(self.n_grids, c.business_share)
        self._bus, self._res = diurnal_profile(t_h)  # (n,) each
        self._day = ((t_h - t0) // 24.0).astype(np.int64)  # (n,) day of the episode
        self._day_f = np.exp(c.day_sigma * rng.standard_normal((int(self._day[-1]) + 1, self.n_grids)))
        self._noise_rng = np.random.default_rng(rng.integers(0, 2**63 - 1))
        self._z_block = np.empty((0, self.n_grids))  # noise rows drawn ahead (one per call)
        self._d_block = np.empty((0, self.n_grids))  # the demand rows computed with them
        self._d_k0 = 0  # row of the demand model of the block's first row
        self._d_i = 0  # next row of the block

    def _demand_row(self, k: int) -> np.ndarray:
        """(n_grids,) demand [bit/s] of row ``k`` (row HISTORY is the episode's first step)."""
        if self._series is not None:
            return self._series[k]
        # Each call uses the next row of the noise stream. Rows are asked for in sequence, so the next
        # _NOISE_BLOCK rows are computed at once (same stream, same element-wise arithmetic as row by row).
        sig = self.cfg.noise_sigma
        i = self._d_i
        if i >= len(self._z_block):
            kk = np.arange(k, min(k + _NOISE_BLOCK, len(self._day)))  # (b,)
            self._z_block = self._noise_rng.standard_normal((len(kk), self.n_grids))
            noise = np.exp(sig * self._z_block - 0.5 * sig * sig)
            prof = self._res[kk, None] + (self._bus[kk] - self._res[kk])[:, None] * self._mix
            self._d_block = self._w * prof * self._day_f[self._day[kk]] * noise  # (b, n_grids)
            self._d_k0, i = k, 0
        self._d_i = i + 1
        if k == self._d_k0 + i:
            return self._d_block[i]
        noise = np.exp(sig * self._z_block[i] - 0.5 * sig * sig)  # out of sequence: this row alone
        prof = self._res[k] + (self._bus[k] - self._res[k]) * self._mix
        return self._w * prof * self._day_f[self._day[k]] * noise

    # ---------------------------------------------------------------- episode
    def _reset_state(self) -> None:
        n = self.n_cells
        self.status = np.zeros(n, dtype=np.int8)  # ON/SLEEP/OFF/WAKING
        self.logical = np.zeros(n, dtype=np.int8)  # commanded status (target while waking)
        self.wake_left = np.zeros(n, dtype=np.int64)
        self.hist = np.zeros((HISTORY, n), dtype=np.float32)
        self.load = np.zeros(n)
        self.demand = np.zeros(self.n_grids)
        self.mask_grid = np.ones(n, dtype=bool)
        self.mask_site = np.zeros(n, dtype=bool)
        self.action_mask = np.ones((n, N_ACTIONS), dtype=np.int8)
        self._arange = np.arange(n)
        self._two = np.zeros((2, n))  # workspaces of the sparse products (one vector per row)
        self._three = np.zeros((3, self.n_grids))
        self._tt = np.zeros((2, self.n_grids))
        self._lc = np.zeros(n)  # load / capacity
        self.totals: dict[str, float] = {}

    def reset(self, rng: np.random.Generator) -> None:
        """Start an episode: all cells on, a fresh demand series from ``rng``."""
        self._reset_state()
        self.t = 0
        self._draw_demand(rng)
        for k in range(HISTORY):  # past demand, served with every cell on
            self.demand = self._demand_row(k)
            self.hist[HISTORY - 1 - k] = self.A @ (self.demand * self._inv_denom_all)
        self._physics(self.demand)
        self.totals = {k: 0.0 for k in ("energy_kwh", "energy_always_on_kwh", "demand_gbit", "unserved_gbit",
                                         "switches", "site_switches", "cells_on", "sites_on", "illegal_actions")}

    def _physics(self, d: np.ndarray) -> None:
        """Serve demand ``d`` (n_grids,) [bit/s] with the current statuses; update loads and masks.

        Sets ``load`` (n_cells,) [bit/s], ``excess`` (n_cells,) [bit/s] above capacity,
        ``no_server`` (n_grids,) [bit/s] demand of grids without an active cell, ``util_all``
        (n_cells,) utilisation with every cell on, and the masks. Five sparse products.
        """
        on = self.status == ON
        capw, onf = self._two  # (n_cells,) each: active capacity, 1 where on
        np.multiply(self.cap, on, out=capw)
        np.copyto(onf, on)
        denom, n_act = _csr_mul(self.AT, self._two)  # (n_grids,) each: active capacity, active cell count
        self._n_act = n_act  # (n_grids,) active covering cells
        has = denom > 0
        pos = d > 0
        three = self._three
        three[0].fill(0.0)
        np.divide(d, denom, out=three[0], where=has)
        three[1] = (n_act == 1.0) & pos
        np.multiply(d, self._inv_denom_all, out=three[2])
        csum = _csr_mul(self.A, three)  # (3, n_cells)
        load = capw * csum[0]  # (n_cells,) [bit/s]
        self.load = load
        self._lc = load / self.cap  # (n_cells,) utilisation
        self.util_all = csum[2]
        self.excess = np.maximum(load - self.cap_use, 0.0)
        self.no_server = np.where(has, 0.0, d)
        # masks (paper: grid demand met if this cell sleeps/closes; site closable if it closes)
        load_h = load * self.cfg.mask_headroom
        free = self.cap_use - load_h
        spare = np.maximum(free, 0.0) * onf
        neigh_spare = _csr_mul(self.N, spare) - spare
        can_leave = on & (csum[1] == 0) & (load_h <= neigh_spare + 1e-9)
        if self.cfg.joint_masks and can_leave.any():
            # neighbours leaving together: candidates leave in order of increasing load; a cell may
            # leave only if the spare capacity around it also absorbs every less-loaded candidate
            # of its neighbourhood (their load, and the spare they no longer offer). Only the rows of
            # candidates matter (the others cannot leave anyway): gather their full rows of N (same
            # entries in the same order, so the same per-row sums as over the whole of N).
            prio, give = self._prio, self._give  # (n_cells + 1,): the last entry stands for the diagonal
            prio[:-1] = np.where(can_leave, self._lc + self._tie, np.inf)
            give[:-1] = load_h + spare
            cand = can_leave.nonzero()[0]  # (k,)
            ent, lens, ends = _csr_rows(self.N.indptr, cand)
            cols = self._n_cols.take(ent)
            vals = np.where(prio.take(cols) < prio.take(cand).repeat(lens), give.take(cols), 0.0)
            ahead = np.add.reduceat(vals, ends - lens)  # (k,)
            can_leave[cand] = load_h.take(cand) + ahead <= neigh_spare.take(cand) + 1e-9
        over = on & (free < 0)
        unmet = (n_act == 0) & pos
        if over.any():
            unmet |= _csr_mul(self.AT, over.astype(np.float64)) > 0
        if unmet.any():
            self.mask_grid = np.where(on, can_leave, _csr_mul(self.A, unmet.astype(np.float64)) == 0)
        else:  # every grid met: a cell that is not on can stay so
            self.mask_grid = can_leave | ~on
        alive = self.status != OFF
        self.site_alive_count = np.bincount(self.site, weights=alive, minlength=self.n_sites)  # (n_sites,)
        self.mask_site = (self.site_alive_count[self.site] - alive) == 0
        m = self.action_mask
        if self.cfg.hard_constraints:
            m[:, SLEEP:OFF + 1] = self.mask_grid[:, None]  # sleep and off

    def _blame(self, d: np.ndarray, on: np.ndarray | None = None) -> np.ndarray:
        """(n_cells,) [bit/s] unserved traffic attributed to each cell (sums to the total unserved).

        Each grid's unmet demand (no active cell, or its share of its cells' excess load) is
        blamed on the covering cells that are not on (they could have served it), equally; if all
        its covering cells are on, on all of them equally.
        """
        if on is None:
            on = self.status == ON
        ratio = np.divide(self.cap * self.excess, self.load, out=np.zeros(self.n_cells), where=self.load > 0)
        unmet = self.no_server + self._three[0] * _csr_mul(self.AT, ratio)  # (n_grids,); _three[0] = d / denom
        n_off = self.n_cover - self._n_act
        has_off = n_off > 0
        tt = self._tt  # (2, n_grids): to the cells not on, to all cells
        tt[0].fill(0.0)
        np.divide(unmet, n_off, out=tt[0], where=has_off)
        tt[1] = np.where(has_off, 0.0, unmet / self.n_cover)
        r = _csr_mul(self.A, tt)  # (2, n_cells)
        return (~on) * r[0] + r[1]

    # ---------------------------------------------------------------- step
    def validate_action(self, action: Any) -> np.ndarray:
        """Check and convert an action to (n_cells,) int64 in {0, 1, 2}."""
        a = np.asarray(action)
        if a.shape == (self.n_cells,) and a.dtype.kind in "iu" and a.min() >= 0 and a.max() < N_ACTIONS:
            return a  # fast path: already valid integers
        if a.shape != (self.n_cells,):
            raise ValueError(f"action: expected shape ({self.n_cells},) (one of 0 on / 1 sleep / 2 off per cell), "
                             f"got shape {a.shape}")
        if a.dtype.kind == "f":
            if not np.all(np.isfinite(a)) or np.any(a != np.round(a)):
                raise ValueError("action: expected integers 0 (on), 1 (sleep), 2 (off); got non-integer or NaN values")
        elif a.dtype.kind not in "iub":
            raise ValueError(f"action: expected an integer array, got dtype {a.dtype}")
        a = a.astype(np.int64)
        bad = (a < 0) | (a >= N_ACTIONS)
        if bad.any():
            i = int(np.flatnonzero(bad)[0])
            raise ValueError(f"action[{i}] = {a[i]}: allowed values are 0 (on), 1 (sleep), 2 (off)")
        return a

    def step(self, action: Any) -> dict[str, Any]:
        """Apply one decision (n_cells,) and advance one period.

        Returns:
            dict with ``reward`` (global), ``agent_rewards`` (n_cells,), ``cost`` [Gbit unserved],
            ``terms`` (reward terms), ``done`` and the step's KPIs.
        """
        a = self.validate_action(action)
        legal = self.action_mask[self._arange, a].astype(bool)
        n_illegal = 0 if legal.all() else int((~legal).sum())
        if n_illegal:
            if self.cfg.strict:
                bad = np.flatnonzero(~legal)
                names = {ON: "on", SLEEP: "sleep", OFF: "off"}
                desc = ", ".join(f"cell {i} -> {names[int(a[i])]}" for i in bad[:5])
                raise ValueError(f"action: {n_illegal} action(s) forbidden by the action mask ({desc}"
                                 f"{', ...' if n_illegal > 5 else ''}); task.strict = True")
            a = np.where(legal, a, ON)
        c = self.cfg
        prev_logical = self.logical
        prev_alive = self.site_alive_count > 0  # (n_sites,)
        # transitions
        status = self.status
        waking = status == WAKING
        logical = a.astype(np.int8)
        not_off = logical != OFF
        from_off = (status == OFF) & not_off
        new = logical
        wl = np.where(waking, self.wake_left - 1, 0)
        if c.wakeup_steps > 0:
            wl = np.where(from_off, c.wakeup_steps, wl)
            still = (from_off | waking) & not_off & (wl > 0)
            new = np.where(still, np.int8(WAKING), logical)  # int8
        self.wake_left = np.where(new == WAKING, wl, 0)
        self.status = new if new is not logical else logical.copy()
        self.logical = logical
        changed = prev_logical != logical
        cell_sw = self.switch_cost_w[prev_logical, self.logical]  # (n_cells,) [W]
        # demand and service
        self.t += 1
        d = self._demand_row(self.t + HISTORY - 1)
        self.demand = d
        self._physics(d)
        alive = self.site_alive_count > 0  # (n_sites,)
        site_changed = alive != prev_alive
        site_sw = site_changed * c.switch_cost_site_w  # (n_sites,) [W]
        status = self.status
        on = status == ON
        unserved = float(self.no_server.sum() + self.excess.sum())  # [bit/s]
        # power (EARTH per cell, BBU + air conditioning per site); a waking cell draws sleep power
        state_e = np.where(status == WAKING, SLEEP, status)
        p_out = np.minimum(self._lc, 1.0) * self.p_max_w  # (n_cells,) [W]
        cell_p = radio.earth_power_w(p_out, state_e, self.p0_w, self.delta_p, self.p_sleep_w, self.p_max_w)  # [W]
        site_p = radio.site_power_w(cell_p, state_e, self.site, self.n_sites, self.bbu_w, self.aircon)  # [W]
        total_p = float(site_p.sum())
        # always-on reference (same demand)
        util_all = self.util_all  # (n_cells,) utilisation with every cell on
        cell_p_all = self.p0_w + self.delta_p * np.minimum(util_all, 1.0) * self.p_max_w
        total_all = (float(cell_p_all.sum()) + self.bbu_w * self.n_sites) * (1.0 + self.aircon)
        # rewards
        scale = c.reward_scale_w
        unserved_gbit = unserved * self.step_s / 1e9
        sw_total = float(cell_sw.sum() + site_sw.sum())
        reward = -(total_p + sw_total) / scale - c.unserved_penalty * unserved_gbit
        overhead = alive * (self.bbu_w * (1.0 + self.aircon))  # (n_sites,) [W] BBU + its air conditioning
        share = (overhead + site_sw) / self.cells_per_site  # (n_sites,) [W] per cell of the site
        agent_r = -(cell_p * (1.0 + self.aircon) + share[self.site] + cell_sw) / scale
        if c.unserved_penalty > 0 and unserved > 0:
            agent_r = agent_r - c.unserved_penalty * self._blame(d, on) * self.step_s / 1e9
        # observation state
        self.hist[1:] = self.hist[:-1]
        self.hist[0] = util_all
        # totals
        tot = self.totals
        to_kwh = self.step_s / 3.6e6
        tot["energy_kwh"] += total_p * to_kwh
        tot["energy_always_on_kwh"] += total_all * to_kwh
        demand_bps = float(d.sum())
        n_switches, n_site_switches = int(changed.sum()), int(site_changed.sum())
        cells_on, sites_on = int(on.sum()), int(alive.sum())
        tot["demand_gbit"] += demand_bps * self.step_s / 1e9
        tot["unserved_gbit"] += unserved_gbit
        tot["switches"] += n_switches
        tot["site_switches"] += n_site_switches
        tot["cells_on"] += cells_on
        tot["sites_on"] += sites_on
        tot["illegal_actions"] += n_illegal
        done = self.t >= self.n_steps
        out: dict[str, Any] = {
            "reward": reward,
            "agent_rewards": agent_r,
            "cost": unserved_gbit,
            "terms": {"power": -total_p / scale, "switching": -sw_total / scale,
                      "unserved": -c.unserved_penalty * unserved_gbit},
            "power_w": total_p,
            "power_always_on_w": total_all,
            "demand_bps": demand_bps,
            "unserved_bps": unserved,
            "switches": n_switches,
            "site_switches": n_site_switches,
            "cells_on": cells_on,
            "sites_on": sites_on,
            "illegal_actions": n_illegal,
            "done": done,
        }
        if done:
            out["episode_metrics"] = self.episode_metrics()
        return out

    def episode_metrics(self) -> dict[str, float]:
        """Headline KPIs of the episode so far (flat floats)."""
        t = self.totals
        n = max(self.t, 1)
        saved = 100.0 * (1.0 - t["energy_kwh"] / t["energy_always_on_kwh"]) if t["energy_always_on_kwh"] else 0.0
        return {
            "energy_kwh": t["energy_kwh"],
            "energy_always_on_kwh": t["energy_always_on_kwh"],
            "saved_pct": saved,
            "demand_gbit": t["demand_gbit"],
            "unserved_gbit": t["unserved_gbit"],
            "unserved_pct": 100.0 * t["unserved_gbit"] / t["demand_gbit"] if t["demand_gbit"] else 0.0,
            "switches": t["switches"],
            "site_switches": t["site_switches"],
            "mean_cells_on": t["cells_on"] / n,
            "mean_sites_on": t["sites_on"] / n,
            "illegal_actions": t["illegal_actions"],
        }

    # ---------------------------------------------------------------- observation
    def observation(self) -> np.ndarray:
        """(n_cells, N_FEATURES) float32 per-cell features (see :data:`FEATURE_NAMES`)."""
        f = self._obs_buf  # (N_FEATURES, n_cells): one contiguous row per feature, static rows filled
        spd = self._steps_per_day
        tod = 2.0 * math.pi * ((self.cfg.start_day * spd + self.t) % spd) / spd
        f[0] = math.sin(tod)
        f[1] = math.cos(tod)
        np.minimum(self.hist, 10.0, out=f[2:6])
        st = self.status
        f[13:17] = st == _STATUSES[:, None]
        f[17] = (self.site_alive_count > 0)[self.site]
        f[18] = (np.bincount(self.site, weights=st == ON, minlength=self.n_sites) / self.cells_per_site)[self.site]
        f[19] = self.mask_grid
        f[20] = self.mask_site
        np.minimum(self._lc, 10.0, out=f[21])
        return f.T.copy()  # (n_cells, N_FEATURES), C order

    def action_masks(self) -> np.ndarray:
        """(n_cells, 3) int8: 1 where the action is legal."""
        return self.action_mask.copy()

    # ---------------------------------------------------------------- rendering
    def render(self, size_px: int = 640) -> np.ndarray:
        """(H, W, 3) uint8: grids coloured by demand, cells by status (on/sleep/off/waking)."""
        from matplotlib.lines import Line2D

        from ..render import figure_to_rgb, new_figure

        sc = self.twin.cfg
        fig = new_figure(size_px)
        ax = fig.add_subplot(111)
        ny, nx = self.grid_shape
        img = np.full(ny * nx, np.nan)
        img[self.grid_index] = self.demand / 1e6
        g = self.cfg.grid_m
        im = ax.imshow(img.reshape(ny, nx), origin="lower", extent=(0, nx * g, 0, ny * g), cmap="Blues",
                       interpolation="nearest", vmin=0.0)
        fig.colorbar(im, ax=ax, fraction=0.04, label="grid demand [Mbit/s]")
        cells = self.twin.cells
        colours = np.array(["#2ca02c", "#ff7f0e", "#7f7f7f", "#9467bd"])
        # sectors of a site share a position: draw each cell a little way along its azimuth
        az = np.radians(np.nan_to_num(cells.azimuth_deg))
        off = np.where(np.isnan(cells.azimuth_deg), 0.0, 0.025 * max(sc.width_m, sc.height_m))  # [m]
        ax.scatter(cells.x, cells.y, c="k", s=8, zorder=4)
        ax.scatter(cells.x + off * np.sin(az), cells.y + off * np.cos(az), c=colours[self.status], s=55,
                   marker="o", edgecolors="k", zorder=5)
        handles = [Line2D([], [], marker="o", ls="", color=col, markeredgecolor="k", label=lab)
                   for col, lab in zip(colours, ("on", "sleep", "off", "waking"))]
        ax.legend(handles=handles, loc="upper right", fontsize=7)
        ax.set_xlim(0, sc.width_m)
        ax.set_ylim(0, sc.height_m)
        ax.set_aspect("equal")
        ax.set_xlabel("x [m]")
        ax.set_ylabel("y [m]")
        day, k = divmod(self.cfg.start_day * self.cfg.steps_per_day + self.t, self.cfg.steps_per_day)
        hh = k * self.cfg.step_min / 60.0
        ax.set_title(f"cell sleep: day {day + 1} {int(hh):02d}:{int(round(60 * (hh % 1))):02d}, "
                     f"{int((self.status == ON).sum())}/{self.n_cells} cells on", fontsize=9)
        return figure_to_rgb(fig)


# ---------------------------------------------------------------- demo
def run_policy(env: Any, policy: Any, seed: int) -> dict[str, Any]:
    """Run one episode of the single-agent env with ``policy.predict``; per-step series + metrics."""
    from ..evaluation import run_episode

    r = run_episode(env, policy, seed, record=("power_w", "demand_bps", "unserved_bps", "cells_on"))
    return {"return": r["return"], "metrics": r["metrics"],
            **{k: r[k] for k in ("power_w", "demand_bps", "unserved_bps", "cells_on")}}


def demo(console: Console, outdir: pathlib.Path) -> None:
    """Two days on the toy scenario with the three baselines: energy table + PNG of power over time."""
    import gymnasium as gym
    from rich.table import Table

    from mndt_envs.baselines.cell_sleep import AlwaysOn, LoadThreshold, MinimalCells

    kw: dict[str, Any] = {"scenario": "toy", "config": {"task": {"days": 2}}}
    results = {}
    for name, cls in (("always_on", AlwaysOn), ("min_cells", MinimalCells), ("load_threshold", LoadThreshold)):
        env = gym.make("mndt/CellSleep-v0", **kw)
        results[name] = run_policy(env, cls(env), seed=0)
        env.close()
    table = Table(title="Cell sleep, toy scenario (21 cells), 2 days, seed 0")
    for col in ("policy", "energy (kWh)", "saved", "unserved (%)", "switches"):
        table.add_column(col)
    for name, res in results.items():
        m = res["metrics"]
        saved = round(m["saved_pct"], 1) + 0.0  # no "-0.0"
        table.add_row(name, f"{m['energy_kwh']:.1f}", f"{saved:.1f} %", f"{m['unserved_pct']:.3f}",
                      f"{m['switches']:.0f}")
    console.print(table)
    outdir.mkdir(parents=True, exist_ok=True)
    path = outdir / "cell_sleep_demo.png"
    plot_week(results, path, step_min=30.0)
    console.print(f"saved {path}")


def plot_week(results: dict[str, dict[str, Any]], path: pathlib.Path, step_min: float = 30.0) -> None:
    """Paper Fig. 4 analogue: network power per policy (top) and total traffic demand (bottom)."""
    import matplotlib

    matplotlib.use("Agg", force=False)
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(10, 5.5), dpi=100)
    FigureCanvasAgg(fig)
    ax1, ax2 = fig.subplots(2, 1, sharex=True, gridspec_kw={"height_ratios": [2, 1]})
    first = next(iter(results.values()))
    t_d = (np.arange(len(first["power_w"])) + 1) * step_min / 1440.0  # [days]
    for name, res in results.items():
        ax1.plot(t_d, res["power_w"] / 1e3, lw=1.2, label=name)
    ax1.set_ylabel("network power [kW]")
    ax1.legend(fontsize=8, ncol=len(results))
    ax1.grid(alpha=0.3)
    ax2.plot(t_d, first["demand_bps"] / 1e6, color="k", lw=1.0, label="demand")
    for name, res in results.items():
        if res["unserved_bps"].any():
            ax2.plot(t_d, res["unserved_bps"] / 1e6, lw=0.8, ls="--", label=f"unserved ({name})")
    ax2.set_ylabel("traffic [Mbit/s]")
    ax2.set_xlabel("time [days]")
    ax2.legend(fontsize=7, ncol=2)
    ax2.grid(alpha=0.3)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path)
