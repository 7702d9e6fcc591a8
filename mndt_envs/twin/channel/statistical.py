"""Statistical large-scale channel from 3GPP TR 38.901 (Table 7.4.1-1, 7.4.2-1, 7.4.3, 7.6.3.1).

Path loss for UMa (macro sites) and UMi street canyon (small cells), LoS probability,
log-normal shadow fading that is spatially correlated with the standard's
decorrelation distances, spatially consistent LoS states, and O2I penetration for
indoor users. All functions are vectorised over arrays of links.

Units: distances [m], heights [m], carrier ``fc`` [GHz], losses [dB].
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from numba import njit
from scipy.signal import lfilter
from scipy.special import ndtr

from ...config import ScenarioConfig
from ..antenna import antenna_gain_db
from ..sites import Cells

__all__ = [
    "pathloss_uma_los",
    "pathloss_uma_nlos",
    "pathloss_umi_los",
    "pathloss_umi_nlos",
    "los_probability_uma",
    "los_probability_umi",
    "o2i_loss",
    "correlated_field",
    "StatisticalChannel",
    "SHADOW_STD_DB",
    "SHADOW_CORR_M",
    "UMA_MIN_HEIGHT_M",
    "uma_cells",
]

C_LIGHT = 299_792_458.0  # [m/s]
# shadow-fading std [dB] and decorrelation distance [m] (Table 7.4.1-1, 7.5-6)
SHADOW_STD_DB = {("uma", True): 4.0, ("uma", False): 6.0, ("umi", True): 4.0, ("umi", False): 7.82}
SHADOW_CORR_M = {("uma", True): 37.0, ("uma", False): 50.0, ("umi", True): 10.0, ("umi", False): 13.0}
LOS_CORR_M = {"uma": 50.0, "umi": 50.0}  # Table 7.6.3.1-2
MIN_D2D_M = 10.0  # the formulas hold for d_2D >= 10 m
UMA_MIN_HEIGHT_M = 15.0  # [m] with channel.scenario "auto", macro cells above this use UMa, the others UMi


def uma_cells(scenario: str, cells: Cells) -> np.ndarray:
    """(n_cells,) bool: the cells whose links use UMa (else UMi) under ``channel.scenario``."""
    if scenario == "uma":
        return np.ones(cells.n, dtype=bool)
    if scenario == "umi":
        return np.zeros(cells.n, dtype=bool)
    return (cells.kind == 0) & (cells.height > UMA_MIN_HEIGHT_M)


def _d3d(d2d: np.ndarray, h_bs: np.ndarray | float, h_ut: np.ndarray | float) -> np.ndarray:
    return np.sqrt(np.maximum(d2d, MIN_D2D_M) ** 2 + (np.asarray(h_bs) - np.asarray(h_ut)) ** 2)


def pathloss_uma_los(d2d: np.ndarray, h_bs: np.ndarray | float, h_ut: np.ndarray | float, fc: float) -> np.ndarray:
    """UMa LoS path loss [dB] (PL1 below the breakpoint, PL2 beyond; h_E = 1 m)."""
    d2d = np.maximum(d2d, MIN_D2D_M)
    d3 = _d3d(d2d, h_bs, h_ut)
    d_bp = 4.0 * (np.asarray(h_bs) - 1.0) * (np.asarray(h_ut) - 1.0) * fc * 1e9 / C_LIGHT
    pl1 = 28.0 + 22.0 * np.log10(d3) + 20.0 * math.log10(fc)
    pl2 = 28.0 + 40.0 * np.log10(d3) + 20.0 * math.log10(fc) - 9.0 * np.log10(d_bp**2 + (np.asarray(h_bs) - h_ut) ** 2)
    return np.where(d2d <= d_bp, pl1, pl2)


def pathloss_uma_nlos(d2d: np.ndarray, h_bs: np.ndarray | float, h_ut: np.ndarray | float, fc: float) -> np.ndarray:
    """UMa NLoS path loss [dB] = max(PL_LoS, PL'_NLoS)."""
    d3 = _d3d(d2d, h_bs, h_ut)
    pl_n = 13.54 + 39.08 * np.log10(d3) + 20.0 * math.log10(fc) - 0.6 * (np.asarray(h_ut) - 1.5)
    return np.maximum(pathloss_uma_los(d2d, h_bs, h_ut, fc), pl_n)


def pathloss_umi_los(d2d: np.ndarray, h_bs: np.ndarray | float, h_ut: np.ndarray | float, fc: float) -> np.ndarray:
    """UMi street canyon LoS path loss [dB]."""
    d2d = np.maximum(d2d, MIN_D2D_M)
    d3 = _d3d(d2d, h_bs, h_ut)
    d_bp = 4.0 * (np.asarray(h_bs) - 1.0) * (np.asarray(h_ut) - 1.0) * fc * 1e9 / C_LIGHT
    pl1 = 32.4 + 21.0 * np.log10(d3) + 20.0 * math.log10(fc)
    pl2 = 32.4 + 40.0 * np.log10(d3) + 20.0 * math.log10(fc) - 9.5 * np.log10(d_bp**2 + (np.asarray(h_bs) - h_ut) ** 2)
    return np.where(d2d <= d_bp, pl1, pl2)


def pathloss_umi_nlos(d2d: np.ndarray, h_bs: np.ndarray | float, h_ut: np.ndarray | float, fc: float) -> np.ndarray:
    """UMi street canyon NLoS path loss [dB] = max(PL_LoS, PL'_NLoS)."""
    d3 = _d3d(d2d, h_bs, h_ut)
    pl_n = 35.3 * np.log10(d3) + 22.4 + 21.3 * math.log10(fc) - 0.3 * (np.asarray(h_ut) - 1.5)
    return np.maximum(pathloss_umi_los(d2d, h_bs, h_ut, fc), pl_n)


def los_probability_uma(d2d: np.ndarray, h_ut: float = 1.5) -> np.ndarray:
    """UMa LoS probability (Table 7.4.2-1)."""
    d = np.maximum(np.asarray(d2d), 1e-9)
    h = float(h_ut)
    p = 18.0 / d + np.exp(-d / 63.0) * (1.0 - 18.0 / d)
    if h > 13.0:
        c = ((h - 13.0) / 10.0) ** 1.5
        p = p * (1.0 + c * 1.25 * (d / 100.0) ** 3 * np.exp(-d / 150.0))
    return np.where(d <= 18.0, 1.0, np.minimum(p, 1.0))


def los_probability_umi(d2d: np.ndarray) -> np.ndarray:
    """UMi street canyon LoS probability (Table 7.4.2-1)."""
    d = np.maximum(np.asarray(d2d), 1e-9)
    p = 18.0 / d + np.exp(-d / 36.0) * (1.0 - 18.0 / d)
    return np.where(d <= 18.0, 1.0, p)


def o2i_loss(fc: float, model: str, d_in: np.ndarray, sigma_draw: np.ndarray) -> np.ndarray:
    """O2I building penetration [dB] (§7.4.3.1, Table 7.4.3-2).

    Args:
        fc: carrier [GHz].
        model: ``"low"`` (glass + concrete) or ``"high"`` (IRR glass + concrete).
        d_in: indoor 2-D distance [m] (inner loss 0.5 dB/m).
        sigma_draw: standard normal draws for the penetration-loss spread.
    """
    l_concrete = 5.0 + 4.0 * fc
    if model == "low":
        l_glass = 2.0 + 0.2 * fc
        pl_tw = 5.0 - 10.0 * math.log10(0.3 * 10 ** (-l_glass / 10.0) + 0.7 * 10 ** (-l_concrete / 10.0))
        sigma = 4.4
    else:
        l_irr = 23.0 + 0.3 * fc
        pl_tw = 5.0 - 10.0 * math.log10(0.7 * 10 ** (-l_irr / 10.0) + 0.3 * 10 ** (-l_concrete / 10.0))
        sigma = 6.5
    return pl_tw + 0.5 * d_in + sigma * sigma_draw


def correlated_field(rng: np.random.Generator, n: int, shape: tuple[int, int], step_m: float,
                     corr_m: float) -> np.ndarray:
    """``n`` unit-variance Gaussian fields with separable exponential correlation.

    ``E[X(p) X(q)] = exp(−|Δx|/d) exp(−|Δy|/d)``, made by first-order autoregressive
    filtering of white noise along each axis (the usual construction of
    Claussen-style correlated shadowing maps).

    Returns:
        (n, ny, nx) float32.
    """
    a = math.exp(-step_m / corr_m)
    w = rng.standard_normal((n, *shape)).astype(np.float64)
    # stationary start: the first sample already has unit variance
    b = [math.sqrt(1.0 - a * a)]
    for axis in (1, 2):
        first = np.take(w, [0], axis=axis)
        zi_shape = list(w.shape)
        zi_shape[axis] = 1
        zi = ((1.0 - b[0]) * first).reshape(zi_shape)  # makes y[0] = w[0]
        w = lfilter(b, [1.0, -a], w, axis=axis, zi=zi)[0]
    return w.astype(np.float32)



@njit(cache=False, nogil=True)
def _bilinear(m: np.ndarray, i00: np.ndarray, nx: int, wx: np.ndarray, wy: np.ndarray) -> np.ndarray:
    """(n, n_cells) bilinear interpolation of the map rows ``m`` (ny·nx, n_cells) float32 at each user.

    The four corners ``i00``, ``i00 + 1``, ``i00 + nx``, ``i00 + nx + 1`` weighted by the float32 products
    ``(1-wx)(1-wy)``, ``wx(1-wy)``, ``(1-wx)wy``, ``wx·wy`` and summed in that order: the same float32
    operations as the row gathers ``m.take(i00, axis=0) * w00 + ...`` in numpy, in one pass (compiled on the
    first call; no on-disk cache).
    """
    n = len(i00)
    c = m.shape[1]
    g = np.empty((n, c), dtype=m.dtype)
    one = np.float32(1.0)
    for u in range(n):
        a, b = wx[u], wy[u]
        w00 = (one - a) * (one - b)
        w01 = a * (one - b)
        w10 = (one - a) * b
        w11 = a * b
        r = i00[u]
        for k in range(c):
            x = m[r, k] * w00
            x += m[r + 1, k] * w01
            x += m[r + nx, k] * w10
            x += m[r + nx + 1, k] * w11
            g[u, k] = x
    return g

@dataclass
class _Grid:
    x0: float
    y0: float
    step: float
    nx: int
    ny: int

    def index(self, xy: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        ix = np.clip(((xy[:, 0] - self.x0) / self.step + 0.5).astype(np.int64), 0, self.nx - 1)
        iy = np.clip(((xy[:, 1] - self.y0) / self.step + 0.5).astype(np.int64), 0, self.ny - 1)
        return iy, ix


class StatisticalChannel:
    """TR 38.901 large-scale channel for every (cell, user) link.

    Macro cells use UMa (or UMi if ``channel.scenario="umi"``), small cells UMi
    street canyon. The environment is frozen per scenario (``cfg.seed``): shadowing,
    LoS-state and O2I fields are drawn once over a grid covering the area and
    looked up at the users' positions, so a user who comes back to a place sees the
    same large-scale gain.
    """

    def __init__(self, cfg: ScenarioConfig, cells: Cells, rng: np.random.Generator) -> None:
        self.cfg = cfg
        self.cells = cells
        self._runs: list[tuple[int, int, int]] | None = None  # see _indoor_runs
        ch = cfg.channel
        uma = uma_cells(ch.scenario, cells)
        self.uma = uma  # (n_cells,) bool
        step = ch.shadow_grid_m
        margin = step
        nx = int(math.ceil((cfg.width_m + 2 * margin) / step)) + 1
        ny = int(math.ceil((cfg.height_m + 2 * margin) / step)) + 1
        self.grid = _Grid(-margin, -margin, step, nx, ny)
        n = cells.n
        shape = (ny, nx)
        self._sf_los = np.empty((n, ny, nx), dtype=np.float32)
        self._sf_nlos = np.empty((n, ny, nx), dtype=np.float32)
        self._los_u = np.empty((n, ny, nx), dtype=np.float32)
        for is_uma, key in ((True, "uma"), (False, "umi")):
            idx = np.flatnonzero(uma == is_uma)
            if len(idx) == 0:
                continue
            if ch.shadowing:
                self._sf_los[idx] = SHADOW_STD_DB[(key, True)] * correlated_field(
                    rng, len(idx), shape, step, SHADOW_CORR_M[(key, True)])
                self._sf_nlos[idx] = SHADOW_STD_DB[(key, False)] * correlated_field(
                    rng, len(idx), shape, step, SHADOW_CORR_M[(key, False)])
            else:
                self._sf_los[idx] = 0.0
                self._sf_nlos[idx] = 0.0
            self._los_u[idx] = ndtr(correlated_field(rng, len(idx), shape, step, LOS_CORR_M[key])).astype(np.float32)
        # O2I: one indoor distance and penetration draw per place (shared by all cells)
        self._o2i = o2i_loss(
            cfg.radio.carrier_ghz, ch.o2i,
            np.minimum(rng.uniform(0, 25, shape), rng.uniform(0, 25, shape)),
            correlated_field(rng, 1, shape, step, 10.0)[0],
        ).astype(np.float32)
        self._cell_xyz = np.stack([cells.x, cells.y, cells.height], axis=1)
        self._maps: np.ndarray | None = None  # built lazily by gain_db

    def pathloss_db(self, xy: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Distance-dependent path loss and LoS state, without shadowing or antenna.

        Same formulas as :func:`pathloss_uma_los` and friends, fused per scenario group
        in float32 so that ``log10(d_3D)`` is computed once per link.

        Returns:
            (pathloss (n_cells, n_users) float32 [dB], los (n_cells, n_users) bool).
        """
        cfg = self.cfg
        fc = cfg.radio.carrier_ghz
        h_ut = cfg.radio.ue_height_m
        xy32 = xy.astype(np.float32)
        dx = xy32[None, :, 0] - self.cells.x.astype(np.float32)[:, None]
        dy = xy32[None, :, 1] - self.cells.y.astype(np.float32)[:, None]
        d2d = np.maximum(np.sqrt(dx * dx + dy * dy), np.float32(MIN_D2D_M))
        mode = cfg.channel.los
        if mode == "random":
            iy, ix = self.grid.index(xy)
            u = self._los_u[:, iy, ix]
        pl = np.empty(d2d.shape, dtype=np.float32)
        los = np.empty(d2d.shape, dtype=bool)
        log_fc = math.log10(fc)
        for is_uma in (True, False):
            rows = np.flatnonzero(self.uma == is_uma)
            if len(rows) == 0:
                continue
            d = d2d[rows]
            dh = (self.cells.height[rows] - h_ut).astype(np.float32)[:, None]
            log_d3 = np.log10(np.sqrt(d * d + dh * dh))
            d_bp = (4.0 * (self.cells.height[rows] - 1.0) * (h_ut - 1.0) * fc * 1e9 / C_LIGHT)[:, None]
            bp_term = np.log10(d_bp**2 + dh.astype(np.float64) ** 2).astype(np.float32)
            if is_uma:
                pl1 = 28.0 + 22.0 * log_d3 + 20.0 * log_fc
                pl2 = 28.0 + 40.0 * log_d3 + 20.0 * log_fc - 9.0 * bp_term
                pl_n = 13.54 + 39.08 * log_d3 + 20.0 * log_fc - 0.6 * (h_ut - 1.5)
            else:
                pl1 = 32.4 + 21.0 * log_d3 + 20.0 * log_fc
                pl2 = 32.4 + 40.0 * log_d3 + 20.0 * log_fc - 9.5 * bp_term
                pl_n = 35.3 * log_d3 + 22.4 + 21.3 * log_fc - 0.3 * (h_ut - 1.5)
            pl_los = np.where(d <= d_bp, pl1, pl2)
            if mode == "los":
                lo = np.ones(d.shape, dtype=bool)
            elif mode == "nlos":
                lo = np.zeros(d.shape, dtype=bool)
            else:
                p = los_probability_uma(d, h_ut) if is_uma else los_probability_umi(d)
                lo = u[rows] < p
            pl[rows] = np.where(lo, pl_los, np.maximum(pl_los, pl_n))
            los[rows] = lo
        return pl, los

    def link_gain_db(self, xy: np.ndarray, indoor: np.ndarray) -> np.ndarray:
        """Exact large-scale gain [dB] at ``xy``: antenna − path loss − shadowing − O2I.

        Returns:
            (n_cells, n_users) float32.
        """
        return self._apply_o2i(self._outdoor_gain_db(xy), xy, indoor)

    def _outdoor_gain_db(self, xy: np.ndarray) -> np.ndarray:
        pl, los = self.pathloss_db(xy)
        iy, ix = self.grid.index(xy)
        sf = np.where(los, self._sf_los[:, iy, ix], self._sf_nlos[:, iy, ix])
        user_xyz = np.column_stack([xy, np.full(len(xy), self.cfg.radio.ue_height_m)])
        g = antenna_gain_db(self._cell_xyz, self.cells.azimuth_deg, self.cells.tilt_deg, user_xyz)
        g -= pl
        g -= sf
        return g

    def _apply_o2i(self, g: np.ndarray, xy: np.ndarray, indoor: np.ndarray) -> np.ndarray:
        """Subtract (in place) the O2I loss: indoor users from outdoor cells, outdoor users from indoor cells.

        Works over runs of cells with the same indoor flag: each run's rows lose the O2I loss of the
        users on the other side of the wall (the others would lose an exact 0, so runs with nobody on
        the other side are skipped, as is the grid lookup when no run is left).
        """
        any_user = (bool(indoor.any()), not bool(indoor.all()))  # someone indoor, someone outdoor
        runs = [r for r in self._indoor_runs() if any_user[r[2]]]  # outdoor cells: needs someone indoor
        if runs:
            iy, ix = self.grid.index(xy)
            o2i = self._o2i[iy, ix]
            zero = np.float32(0.0)
            lose = (np.where(indoor, o2i, zero), np.where(indoor, zero, o2i))  # for outdoor cells, indoor cells
            for a, b, cell_indoor in runs:
                g[a:b] -= lose[cell_indoor]
        return g

    def _build_maps(self) -> None:
        gx = self.grid.x0 + self.grid.step * np.arange(self.grid.nx)
        gy = self.grid.y0 + self.grid.step * np.arange(self.grid.ny)
        pts = np.stack(np.meshgrid(gx, gy), axis=-1).reshape(-1, 2)  # row-major (iy, ix)
        maps = np.empty((len(pts), self.cells.n), dtype=np.float32)
        chunk = max(1, 2_000_000 // self.cells.n)
        for i in range(0, len(pts), chunk):
            maps[i: i + chunk] = self._outdoor_gain_db(pts[i: i + chunk]).T
        self._maps = maps  # (ny * nx, n_cells) [dB]: one contiguous row of cells per grid point

    def gain_db(self, xy: np.ndarray, indoor: np.ndarray) -> np.ndarray:
        """Large-scale gain [dB], (n_cells, n_users) float32, by bilinear lookup in per-cell radio maps.

        The maps hold :meth:`link_gain_db` (outdoor) on the ``channel.shadow_grid_m``
        grid, computed once; O2I is added per user. Use :meth:`link_gain_db` for the
        exact per-link value.
        """
        if self._maps is None:
            self._build_maps()
        assert self._maps is not None
        gr = self.grid
        fx = np.clip((xy[:, 0] - gr.x0) / gr.step, 0.0, gr.nx - 1.000001)
        fy = np.clip((xy[:, 1] - gr.y0) / gr.step, 0.0, gr.ny - 1.000001)
        ix, iy = fx.astype(np.int64), fy.astype(np.int64)
        wx, wy = (fx - ix).astype(np.float32), (fy - iy).astype(np.float32)
        i00 = iy * gr.nx + ix  # corners i00, +1, +nx, +nx+1 are in range (clipped above)
        g = _bilinear(self._maps, i00, gr.nx, wx, wy)
        return self._apply_o2i(np.ascontiguousarray(g.T), xy, indoor)

    def _indoor_runs(self) -> list[tuple[int, int, int]]:
        """(start, end, indoor flag) of the runs of consecutive cells with the same ``cells.indoor``."""
        runs = self._runs
        if runs is None:
            flag = np.asarray(self.cells.indoor, dtype=bool)
            cuts = [0, *(np.flatnonzero(flag[1:] != flag[:-1]) + 1).tolist(), len(flag)]
            runs = self._runs = [(a, b, int(flag[a])) for a, b in zip(cuts[:-1], cuts[1:]) if b > a]
        return runs
