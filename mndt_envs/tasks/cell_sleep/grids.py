"""Cell sleep, built once per env: the grid raster, the cover relation and the cells' capacities.

A cell *covers* a grid when its RSRP at the grid centre (``ref_power_dbm + channel gain``, outdoor,
large-scale) reaches the coverage threshold (at most the ``max_cells_per_grid`` strongest per grid).
Capacity of a cell [bit/s] = ``n_rb · B_RB · SE_c``, ``SE_c = log2(1 + SINR)`` of the median full-load
SINR over the grids it best-serves, capped at ``max_spectral_efficiency``.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp

from ...config import ConfigError
from ...twin import radio
from ...twin.network import NetworkTwin
from .config import CellSleepConfig

__all__ = ["Coverage", "Capacity", "build_coverage", "build_capacity"]


@dataclass
class Coverage:
    """The grids and which cells cover them (sparse, float64 0/1 matrices).

    Attributes:
        grid_shape: (ny, nx) of the full raster.
        grid_index: (n_grids,) index of each covered grid into the ny*nx raster.
        grid_xy: (n_grids, 2) [m] grid centres.
        gain_db: (n_cells, n_grids) [dB] channel gain cell -> grid centre.
        cover: (n_cells, n_grids) CSR, 1 where the cell covers the grid.
        cover_t: (n_grids, n_cells) CSR, its transpose.
        neighbours: (n_cells, n_cells) CSR, 1 where two cells share a grid (incl. the diagonal), sorted.
        n_cover: (n_grids,) covering cells per grid.
    """

    grid_shape: tuple[int, int]
    grid_index: np.ndarray
    grid_xy: np.ndarray
    gain_db: np.ndarray
    cover: sp.csr_matrix
    cover_t: sp.csr_matrix
    neighbours: sp.csr_matrix
    n_cover: np.ndarray

    @property
    def n_grids(self) -> int:
        """Number of covered grids."""
        return len(self.grid_index)


@dataclass
class Capacity:
    """Per-cell capacities.

    Attributes:
        spectral_eff: (n_cells,) [bit/s/Hz].
        cap: (n_cells,) [bit/s] capacity.
        cap_use: (n_cells,) [bit/s] usable capacity (``max_utilisation · cap``).
        denom_all: (n_grids,) [bit/s] capacity of a grid's cells, all on.
    """

    spectral_eff: np.ndarray
    cap: np.ndarray
    cap_use: np.ndarray
    denom_all: np.ndarray


def _grid_centres(width_m: float, height_m: float, g: float) -> tuple[tuple[int, int], np.ndarray]:
    nx, ny = max(1, math.ceil(width_m / g)), max(1, math.ceil(height_m / g))
    gx = np.minimum((np.arange(nx) + 0.5) * g, width_m)
    gy = np.minimum((np.arange(ny) + 0.5) * g, height_m)
    return (ny, nx), np.stack(np.meshgrid(gx, gy), axis=-1).reshape(-1, 2)  # (n_all_grids, 2) [m]


def _check_covered(covered: np.ndarray, thr: float, rsrp: np.ndarray, cfg: CellSleepConfig) -> None:
    n_unc = int((~covered).sum())
    if not covered.any():
        raise ConfigError(
            f"task.coverage_threshold_dbm = {thr!r}: no grid is covered by any cell (best RSRP "
            f"{rsrp.max():.1f} dBm); lower the threshold or add cells")
    if n_unc:
        msg = f"cell sleep: {n_unc} of {len(covered)} grids ({cfg.grid_m:g} m) have no cell with RSRP >= {thr:g} dBm"
        if cfg.uncovered_grids == "error":
            raise ConfigError(f"task.uncovered_grids = 'error': {msg}")
        warnings.warn(msg + "; they are dropped (no demand)", stacklevel=4)


# [bytes] per (cell, grid) at the peak of build_coverage/build_capacity: the gain, RSRP and partition copies
# (float64), the channel's own temporaries and the 0/1 matrices (a conservative sum)
_BYTES_PER_CELL_GRID = 48.0


def _check_grid_memory(twin: NetworkTwin, cfg: CellSleepConfig) -> None:
    """Refuse a ``grid_m`` whose dense (cells x grids) arrays would not fit the memory limit."""
    from ...twin.memory import check_memory

    sc = twin.cfg
    n_all = max(1, math.ceil(sc.width_m / cfg.grid_m)) * max(1, math.ceil(sc.height_m / cfg.grid_m))
    need = _BYTES_PER_CELL_GRID * int(twin.cells.n) * n_all
    check_memory(sc, n_cells=int(twin.cells.n),
                 extra={f"task.grid_m = {cfg.grid_m:g} m: {n_all:,} grids x {int(twin.cells.n)} cells": need})


def build_coverage(twin: NetworkTwin, cfg: CellSleepConfig) -> Coverage:
    """Grids of ``cfg.grid_m`` over the twin's area and the cells covering each (uncovered ones dropped)."""
    sc = twin.cfg
    _check_grid_memory(twin, cfg)
    shape, xy = _grid_centres(sc.width_m, sc.height_m, cfg.grid_m)
    ch = twin.channel
    gain_fn = getattr(ch, "link_gain_db", None) or ch.gain_db  # exact per-link gain when offered
    gain = np.asarray(gain_fn(xy, np.zeros(len(xy), dtype=bool)), dtype=np.float64)  # (n_cells, n_all) [dB]
    thr = sc.radio.coverage_threshold_dbm if cfg.coverage_threshold_dbm is None else cfg.coverage_threshold_dbm
    rsrp = twin.cells.ref_power_dbm[:, None] + gain  # (n_cells, n_all_grids) [dBm]
    cover = rsrp >= thr
    k = cfg.max_cells_per_grid
    if 0 < k < int(twin.cells.n):  # keep the k strongest covering cells of each grid
        kth = -np.partition(-rsrp, k - 1, axis=0)[k - 1]  # (n_all_grids,) k-th best RSRP
        cover &= rsrp >= kth[None, :]
    covered = np.asarray(cover.any(axis=0))
    _check_covered(covered, thr, rsrp, cfg)
    cov = cover[:, covered]
    a = sp.csr_matrix(cov.astype(np.float64))  # (n_cells, n_grids) cover
    at = sp.csr_matrix(cov.T.astype(np.float64))  # (n_grids, n_cells)
    nb = sp.csr_matrix(((a @ at) > 0).astype(np.float64))  # (n_cells, n_cells) cells sharing a grid (incl. self)
    nb.sort_indices()
    return Coverage(grid_shape=shape, grid_index=np.flatnonzero(covered), grid_xy=xy[covered],
                    gain_db=gain[:, covered], cover=a, cover_t=at, neighbours=nb,
                    n_cover=np.asarray(cov.sum(axis=0), dtype=np.float64))


def build_capacity(twin: NetworkTwin, cfg: CellSleepConfig, cv: Coverage) -> Capacity:
    """Capacity of every cell from the median full-load SINR over the grids it best-serves."""
    cells = twin.cells
    n_cells = int(cells.n)
    g_lin = np.power(10.0, cv.gain_db / 10.0)  # (n_cells, n_grids)
    rsrp = cells.ref_power_dbm[:, None] + cv.gain_db
    serving, _ = radio.best_server(rsrp)  # (n_grids,)
    p_rb = twin.max_power_w / cells.n_rb  # (n_cells,) [W]
    sinr = radio.sinr_load(g_lin, p_rb, np.ones(n_cells), serving, twin.noise_w)  # (n_grids,) full load
    se = np.minimum(np.log2(1.0 + np.maximum(sinr, 0.0)), cfg.max_spectral_efficiency)
    med = np.full(n_cells, np.nan)
    order = np.argsort(serving, kind="stable")
    bounds = np.searchsorted(serving[order], np.arange(n_cells + 1))
    for c in range(n_cells):  # once, at construction
        vals = se[order[bounds[c]: bounds[c + 1]]]
        if len(vals) == 0:  # best server of no grid: its covered grids, else the network median
            vals = se[cv.cover[c].indices]
        med[c] = np.median(vals) if len(vals) else np.nan
    med = np.where(np.isnan(med), np.nanmedian(med) if np.isfinite(med).any() else 1.0, med)
    spectral_eff = np.maximum(med, 0.05)  # (n_cells,) [bit/s/Hz]
    cap = cells.n_rb * twin.cfg.radio.rb_bandwidth_hz * spectral_eff  # (n_cells,) [bit/s]
    return Capacity(spectral_eff=spectral_eff, cap=cap, cap_use=cap * cfg.max_utilisation,
                    denom_all=cv.cover_t @ cap)
