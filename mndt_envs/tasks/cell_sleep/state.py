"""Cell sleep: the episode state (one dataclass) and the episode's running totals."""

from __future__ import annotations

from dataclasses import dataclass, fields

import numpy as np

from .config import HISTORY, N_ACTIONS

__all__ = ["CellSleepState", "Totals"]


@dataclass
class CellSleepState:
    """Everything that changes during an episode (``n`` cells, ``g`` grids, ``s`` sites).

    Attributes:
        t: steps taken in the episode.
        status: (n,) int8 ON/SLEEP/OFF/WAKING.
        logical: (n,) int8 commanded status (the target while waking).
        wake_left: (n,) int64 steps until a waking cell serves.
        hist: (HISTORY, n) float32 utilisation with every cell on, newest first.
        demand: (g,) [bit/s] demand of the current step.
        load: (n,) [bit/s] served load.
        lc: (n,) load / capacity.
        util_all: (n,) utilisation with every cell on.
        excess: (n,) [bit/s] load above usable capacity.
        no_server: (g,) [bit/s] demand of grids without an active cell.
        n_act: (g,) active (on) covering cells.
        site_alive_count: (s,) cells of each site that are not off.
        mask_grid: (n,) bool, mask 1 (the cell's grids stay served if it leaves).
        mask_site: (n,) bool, mask 2 (the site would be off if it closed).
        legal: (n, N_ACTIONS) int8 action mask (1 = legal).
    """

    t: int
    status: np.ndarray
    logical: np.ndarray
    wake_left: np.ndarray
    hist: np.ndarray
    demand: np.ndarray
    load: np.ndarray
    lc: np.ndarray
    util_all: np.ndarray
    excess: np.ndarray
    no_server: np.ndarray
    n_act: np.ndarray
    site_alive_count: np.ndarray
    mask_grid: np.ndarray
    mask_site: np.ndarray
    legal: np.ndarray

    @classmethod
    def initial(cls, n_cells: int, n_grids: int, n_sites: int) -> CellSleepState:
        """Every cell on, nothing served yet."""
        return cls(t=0, status=np.zeros(n_cells, dtype=np.int8), logical=np.zeros(n_cells, dtype=np.int8),
                   wake_left=np.zeros(n_cells, dtype=np.int64), hist=np.zeros((HISTORY, n_cells), dtype=np.float32),
                   demand=np.zeros(n_grids), load=np.zeros(n_cells), lc=np.zeros(n_cells), util_all=np.zeros(n_cells),
                   excess=np.zeros(n_cells), no_server=np.zeros(n_grids), n_act=np.zeros(n_grids),
                   site_alive_count=np.zeros(n_sites), mask_grid=np.ones(n_cells, dtype=bool),
                   mask_site=np.zeros(n_cells, dtype=bool), legal=np.ones((n_cells, N_ACTIONS), dtype=np.int8))


@dataclass
class Totals:
    """Running sums over the episode (for :meth:`CellSleepCore.episode_metrics`)."""

    energy_kwh: float = 0.0  # [kWh]
    energy_always_on_kwh: float = 0.0  # [kWh] the same demand with every cell on
    demand_gbit: float = 0.0  # [Gbit]
    unserved_gbit: float = 0.0  # [Gbit]
    switches: float = 0.0  # cell transitions commanded
    site_switches: float = 0.0  # sites switched on/off
    cells_on: float = 0.0  # sum over steps of the cells on
    sites_on: float = 0.0  # sum over steps of the sites on
    illegal_actions: float = 0.0  # masked actions replaced by "on"

    def as_dict(self) -> dict[str, float]:
        """The totals by name."""
        return {f.name: getattr(self, f.name) for f in fields(self)}


