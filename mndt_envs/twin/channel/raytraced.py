"""Ray-traced large-scale channel: Sionna RT radio maps over a city, cached, bilinear lookup.

Build (once per scenario, cached by a content hash):

1. the city's geometry (:func:`mndt_envs.twin.geometry.load_city`) is extruded into a
   Mitsuba scene (:func:`mndt_envs.twin.scene.build_scene`), or a Sionna built-in scene is used;
2. one isotropic transmitter per distinct antenna position (the three sectors of a
   macro site share one ray-traced map; their 38.901 sector patterns are applied at
   lookup, along the direct bearing to the user);
3. ``RadioMapSolver`` computes the path gain on a plane at the UE height (1.5 m) over
   the scenario area with :func:`cell_size_for` cells, ``max_depth`` interactions,
   :func:`rays_for` rays (``channel.samples_per_tx`` or :func:`ray_budget`), the diffraction /
   refraction switches and diffuse reflection when ``channel.scattering_coefficient > 0``;
4. (site, map cell) pairs that no ray reached are filled (:func:`fill_radio_maps`, numpy
   only): ray-sampling holes in the open from reached neighbours of the same geometric
   class (mean linear power), the rest with 3GPP TR 38.901 (UMa for macro sites above
   15 m, else UMi street canyon), **LoS or NLoS by the geometric line of sight**
   (:func:`geometric_los` over a building-height raster), plus the mean O2I loss where the
   cell lies inside a building (or the transmitter does); the build summary reports the
   figures of :func:`map_figures` (ray-traced share, reached cells, filled LoS pairs, speckle);
5. the maps (float32 dB) are written to the artifact cache atomically with sha256
   verification, so a killed build leaves nothing a later run would trust.

Lookup: ``gain_db(xy, indoor)`` interpolates every map bilinearly at the users'
positions (vectorised), adds the antenna pattern and, for indoor users standing in an
outdoor map cell, the mean O2I loss.
"""

from __future__ import annotations

import hashlib
import io
import json
import math
import tempfile
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from ..antenna import antenna_gain_db
from .statistical import (
    o2i_loss,
    pathloss_uma_los,
    pathloss_uma_nlos,
    pathloss_umi_los,
    pathloss_umi_nlos,
    uma_cells,
)

if TYPE_CHECKING:
    from ...config import ScenarioConfig
    from ..cache import ArtifactCache
    from ..geometry import CityGeometry
    from ..sites import Cells

__all__ = [
    "HeightRaster",
    "RT_FORMAT",
    "RadioMaps",
    "RayTracedChannel",
    "build_note",
    "build_radio_maps",
    "cell_size_for",
    "fill_radio_maps",
    "geometric_los",
    "map_figures",
    "mean_o2i_db",
    "ray_budget",
    "rays_for",
    "speckle_share",
    "trace_path_gain",
]

RT_FORMAT = "rt-4"  # bump when the stored maps change meaning (rt-3: welded meshes; rt-4: LoS-aware fill)
MEAN_INDOOR_DISTANCE_M = 25.0 / 3.0  # [m] E[min(U(0,25), U(0,25))], 38.901 §7.4.3.1
_TX_BATCH = 4  # transmitters per solver call (progress granularity)
_RAY_CHUNK = 1_000_000  # most rays per transmitter in one solver call (progress granularity)
DEFAULT_CELL_SIZE_M = 5.0  # [m] map cell when channel.cell_size_m is None and the area is <= LARGE_AREA_M2
LARGE_AREA_CELL_SIZE_M = 10.0  # [m] map cell for larger areas
LARGE_AREA_M2 = 1e6  # [m^2]
RAY_SPACING_CELLS = 0.8  # ray_budget: ray spacing at the map's extent, in map cells
MIN_RAYS, MAX_RAYS = 200_000, 8_000_000  # ray_budget clipping
MAX_TABLE_BYTES = 512 * 2**20  # [B] largest precomputed lookup table (path gain + antenna per cell)

Progress = Callable[[str, float], None]  # (stage description, fraction done in [0, 1])


def mean_o2i_db(fc_ghz: float, model: str = "low") -> float:
    """Mean 38.901 O2I penetration loss [dB] (through-wall + mean indoor distance, no spread)."""
    return float(o2i_loss(fc_ghz, model, np.asarray(MEAN_INDOOR_DISTANCE_M), np.asarray(0.0)))


@dataclass
class RadioMaps:
    """Per-transmitter path-gain maps on a regular grid of the local frame.

    Attributes:
        pg_db: (n_tx, ny, nx) float32 path gain [dB], unreached cells already filled.
        reached: (n_tx, ny, nx) bool, a ray reached the cell.
        indoor: (ny, nx) bool, cell centre inside a building footprint.
        x0: x of the centre of cell (0, 0) [m].
        y0: y of the centre of cell (0, 0) [m].
        cell_size: [m].
        tx_xyz: (n_tx, 3) transmitter positions [m].
    """

    pg_db: np.ndarray
    reached: np.ndarray
    indoor: np.ndarray
    x0: float
    y0: float
    cell_size: float
    tx_xyz: np.ndarray
    _flat: np.ndarray = field(default=None, repr=False)  # type: ignore[arg-type,assignment]

    def __post_init__(self) -> None:
        self.pg_db = np.ascontiguousarray(self.pg_db, dtype=np.float32)
        self._flat = self.pg_db.reshape(self.pg_db.shape[0], -1)

    @property
    def shape(self) -> tuple[int, int]:
        """(ny, nx)."""
        return self.pg_db.shape[1], self.pg_db.shape[2]

    def cell_centres(self) -> tuple[np.ndarray, np.ndarray]:
        """Cell-centre coordinates: x (nx,) and y (ny,) [m]."""
        ny, nx = self.shape
        return self.x0 + self.cell_size * np.arange(nx), self.y0 + self.cell_size * np.arange(ny)

    def lookup(self, xy: np.ndarray) -> np.ndarray:
        """Bilinear interpolation of every map at ``xy`` (clamped to the grid).

        Args:
            xy: (n_users, 2) [m].

        Returns:
            (n_tx, n_users) float32 path gain [dB].
        """
        ny, nx = self.shape
        fx = (xy[:, 0] - self.x0) * (1.0 / self.cell_size)
        fy = (xy[:, 1] - self.y0) * (1.0 / self.cell_size)
        ix = np.clip(np.floor(fx).astype(np.intp), 0, max(nx - 2, 0))
        iy = np.clip(np.floor(fy).astype(np.intp), 0, max(ny - 2, 0))
        wx = np.clip(fx - ix, 0.0, 1.0).astype(np.float32)
        wy = np.clip(fy - iy, 0.0, 1.0).astype(np.float32)
        i00 = iy * nx + ix
        dx = 1 if nx > 1 else 0
        dy = nx if ny > 1 else 0
        g = self._flat
        top = g[:, i00] * (1.0 - wx) + g[:, i00 + dx] * wx
        bot = g[:, i00 + dy] * (1.0 - wx) + g[:, i00 + dy + dx] * wx
        return (top * (1.0 - wy) + bot * wy).astype(np.float32, copy=False)

    def nearest_indoor(self, xy: np.ndarray) -> np.ndarray:
        """(n_users,) bool: the map cell nearest to each position is inside a building."""
        ny, nx = self.shape
        ix = np.clip(np.rint((xy[:, 0] - self.x0) / self.cell_size).astype(np.intp), 0, nx - 1)
        iy = np.clip(np.rint((xy[:, 1] - self.y0) / self.cell_size).astype(np.intp), 0, ny - 1)
        return self.indoor[iy, ix]

    def to_bytes(self) -> bytes:
        """Serialise (npz, uncompressed)."""
        buf = io.BytesIO()
        np.savez(buf, pg_db=self.pg_db, reached=np.packbits(self.reached, axis=-1), reached_nx=self.pg_db.shape[2],
                 indoor=self.indoor, grid=np.array([self.x0, self.y0, self.cell_size]), tx_xyz=self.tx_xyz)
        return buf.getvalue()

    @classmethod
    def from_file(cls, path: str | Path) -> RadioMaps:
        """Load what :meth:`to_bytes` wrote."""
        with np.load(path, allow_pickle=False) as z:
            nx = int(z["reached_nx"])
            reached = np.unpackbits(z["reached"], axis=-1, count=nx).astype(bool)
            g = z["grid"]
            return cls(pg_db=z["pg_db"], reached=reached, indoor=z["indoor"].astype(bool), x0=float(g[0]),
                       y0=float(g[1]), cell_size=float(g[2]), tx_xyz=z["tx_xyz"])


def _unique_tx(cells: Cells) -> tuple[np.ndarray, np.ndarray]:
    """Distinct antenna positions: (n_tx, 3) [m] and the transmitter of each cell (n_cells,)."""
    xyz = np.stack([cells.x, cells.y, cells.height], axis=1).astype(np.float64)
    key = np.round(xyz * 100.0).astype(np.int64)  # cm
    _, first, inv = np.unique(key, axis=0, return_index=True, return_inverse=True)
    return xyz[first], inv.reshape(-1)


def _tx_flags(cfg: ScenarioConfig, cells: Cells, cell_to_tx: np.ndarray, n_tx: int) -> tuple[np.ndarray, np.ndarray]:
    """Per transmitter: uses UMa (else UMi) for the fill, and is indoors."""
    uma_c = uma_cells(cfg.channel.scenario, cells)  # as the statistical channel
    uma = np.zeros(n_tx, dtype=bool)
    indoor = np.zeros(n_tx, dtype=bool)
    uma[cell_to_tx] = uma_c
    indoor[cell_to_tx] = cells.indoor
    return uma, indoor


def _source_id(source: str) -> dict[str, str]:
    """Content identity of a geometry source for cache keys."""
    if source.startswith("sionna:"):
        import importlib.metadata

        from ..cache import sha256_file
        from ..scene import sionna_scene_path

        return {"sionna_scene": source, "sionna_rt": importlib.metadata.version("sionna-rt"),
                "xml_sha256": sha256_file(sionna_scene_path(source))}
    from ..geometry import resolve_osm_source, source_sha256

    return {"osm_file_sha256": source_sha256(resolve_osm_source(source))}


def _map_key(cfg: ScenarioConfig, tx_xyz: np.ndarray, uma: np.ndarray, tx_indoor: np.ndarray,
             materials: dict[str, str] | None) -> tuple[str, dict[str, Any]]:
    from ..cache import cache_key
    from ..geometry import _LOADER_VERSION

    ch = cfg.channel
    payload = {
        "source": _source_id(ch.source),
        "default_building_height_m": ch.default_building_height_m,
        "area": [cfg.width_m, cfg.height_m],
        "cell_size_m": cell_size_for(cfg),
        "ue_height_m": cfg.radio.ue_height_m,
        "carrier_ghz": cfg.radio.carrier_ghz,
        "max_depth": ch.max_depth,
        "samples_per_tx": rays_for(cfg),
        "scattering_coefficient": ch.scattering_coefficient,
        "geometry_loader": _LOADER_VERSION,
        "diffraction": ch.diffraction,
        "refraction": ch.refraction,
        "o2i": ch.o2i,
        "tx": np.round(tx_xyz, 2).tolist(),
        "uma": uma.tolist(),
        "tx_indoor": tx_indoor.tolist(),
        "materials": sorted((materials or {}).items()),
    }
    from ..._version import __version__ as pkg_version

    return cache_key("radiomap", payload, f"{RT_FORMAT}/{pkg_version}"), payload


def _materials_for(fc_ghz: float) -> tuple[str, str]:
    """(default building material, ground material) valid at ``fc_ghz`` (ITU-R P.2040 ranges)."""
    if not 1.0 <= fc_ghz <= 100.0:
        raise ValueError(
            f"radio.carrier_ghz = {fc_ghz}: Sionna RT's ITU materials cover 1-100 GHz; "
            f"use channel.model = 'statistical' for this carrier"
        )
    return "concrete", ("medium_dry_ground" if fc_ghz <= 10.0 else "concrete")


# --------------------------------------------------------------------------- sizing rules


def cell_size_for(cfg: ScenarioConfig) -> float:
    """Radio-map cell size [m]: ``channel.cell_size_m``, else 5 m up to 1 km² of area and 10 m above."""
    cs = cfg.channel.cell_size_m
    if cs is not None:
        return float(cs)
    return LARGE_AREA_CELL_SIZE_M if cfg.width_m * cfg.height_m > LARGE_AREA_M2 else DEFAULT_CELL_SIZE_M


def ray_budget(width_m: float, height_m: float, cell_size_m: float) -> int:
    """Rays per transmitter sized to the map (the rule used when ``channel.samples_per_tx`` is None).

    ``N`` rays from an isotropic source are spaced ``sqrt(4π/N)`` rad apart, i.e. ``L·sqrt(4π/N)``
    metres at range ``L``. Asking for :data:`RAY_SPACING_CELLS` of a map cell at the map's extent
    ``L = max(width, height)`` gives ``N = 4π (L / (RAY_SPACING_CELLS·cell))²``, rounded up to
    10⁵ and clipped to [:data:`MIN_RAYS`, :data:`MAX_RAYS`]. Bundled Helsinki (1 km, 5 m cells): 8·10⁵.
    """
    if cell_size_m <= 0:
        raise ValueError(f"cell_size_m = {cell_size_m}: must be > 0")
    n = 4.0 * math.pi * (max(width_m, height_m) / (RAY_SPACING_CELLS * cell_size_m)) ** 2
    n = math.ceil(n / 1e5) * 100_000
    return int(min(MAX_RAYS, max(MIN_RAYS, n)))


def rays_for(cfg: ScenarioConfig) -> int:
    """Rays per transmitter: ``channel.samples_per_tx``, else :func:`ray_budget` of the map."""
    n = cfg.channel.samples_per_tx
    if n is not None:
        return int(n)
    return ray_budget(cfg.width_m, cfg.height_m, cell_size_for(cfg))


# --------------------------------------------------------------------------- geometric line of sight


@dataclass
class HeightRaster:
    """Building heights on a regular raster (0 outside footprints).

    Attributes:
        h: (ny, nx) float32 height [m] of the footprint containing each raster cell's centre.
        res: raster cell size [m]; cell (0, 0) spans [0, res) x [0, res).
    """

    h: np.ndarray
    res: float

    @classmethod
    def from_city(cls, city: CityGeometry, width_m: float, height_m: float, res: float) -> HeightRaster:
        """Rasterise the city's footprints over ``[0, width] x [0, height]`` (cell centres inside a footprint)."""
        nx, ny = max(1, math.ceil(width_m / res)), max(1, math.ceil(height_m / res))
        h = np.zeros(ny * nx, dtype=np.float32)
        if city.buildings:
            import shapely

            gx, gy = np.meshgrid((np.arange(nx) + 0.5) * res, (np.arange(ny) + 0.5) * res)
            tree = shapely.STRtree(city.buildings)
            pi, bi = tree.query(shapely.points(gx.ravel(), gy.ravel()), predicate="within")
            np.maximum.at(h, pi, np.asarray(city.heights, dtype=np.float32)[bi])
        return cls(h=h.reshape(ny, nx), res=float(res))


def geometric_los(tx_xyz: np.ndarray, pts: np.ndarray, h_rx: float, raster: HeightRaster) -> np.ndarray:
    """Whether the straight segment from each transmitter to each point clears every building.

    The segment from the antenna ``(x, y, z)`` to ``(px, py, h_rx)`` is sampled every raster
    cell (vectorised over the points, nearest points retired first); it is blocked where a
    sample lies below the building height of its raster cell. The last raster cell before
    the receiver is not tested (an outdoor point beside a wall would be blocked by the
    rasterised wall itself).

    Args:
        tx_xyz: (n_tx, 3) [m].
        pts: (n, 2) receiver positions [m].
        h_rx: receiver height [m].
        raster: building heights.

    Returns:
        (n_tx, n) bool, True = line of sight.
    """
    tx_xyz = np.asarray(tx_xyz, dtype=np.float64).reshape(-1, 3)
    pts = np.asarray(pts, dtype=np.float64).reshape(-1, 2)
    out = np.ones((len(tx_xyz), len(pts)), dtype=bool)
    if len(pts) == 0 or not np.any(raster.h > 0):
        return out
    ny, nx = raster.h.shape
    hflat = raster.h.ravel()
    step = raster.res
    for t, (x0, y0, z0) in enumerate(tx_xyz):
        d = np.hypot(pts[:, 0] - x0, pts[:, 1] - y0)
        order = np.argsort(d, kind="stable")
        ds = d[order]
        px, py = pts[order, 0] - x0, pts[order, 1] - y0
        blocked = np.zeros(len(pts), dtype=bool)
        k = 1
        while True:
            s = k * step
            lo = int(np.searchsorted(ds, s + step, side="right"))  # points still farther than one cell
            if lo >= len(ds):
                break
            f = s / ds[lo:]
            ix = np.clip(((x0 + px[lo:] * f) / step).astype(np.intp), 0, nx - 1)
            iy = np.clip(((y0 + py[lo:] * f) / step).astype(np.intp), 0, ny - 1)
            z = z0 + (h_rx - z0) * f
            blocked[lo:] |= hflat[iy * nx + ix] > z
            k += 1
        out[t, order] = ~blocked
    return out


# --------------------------------------------------------------------------- fill and figures (numpy only)


def fill_radio_maps(
    pg_lin: np.ndarray,
    *,
    tx_xyz: np.ndarray,
    uma: np.ndarray,
    tx_indoor: np.ndarray,
    indoor: np.ndarray,
    los: np.ndarray,
    cell_size: float,
    fc_ghz: float,
    h_ut: float,
    o2i_db: float,
    local_mean: bool = True,
) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """Path gain [dB] of every (transmitter, map cell): ray-traced where reached, else filled.

    Unreached pairs, in order:

    1. outdoor cells with at least 5 of their 8 neighbours reached by rays of the same
       geometric class (LoS or NLoS) take the mean *linear* path gain of those neighbours
       (ray-sampling holes; averaging across a shadow boundary would not be sound);
    2. the rest take 38.901 (UMa for ``uma`` transmitters, else UMi street canyon): the LoS
       formula where the pair has geometric line of sight, else NLoS; plus the mean O2I
       loss where the cell is inside a building or the transmitter is indoors.

    With ``local_mean`` the ray-traced (and hole-filled) outdoor values are then replaced
    by their local mean: the mean linear path gain over the 3 x 3 cells around each cell
    that are outdoors, ray-traced and of the same geometric class. This removes the
    Monte-Carlo noise of a finite ray count (few rays per far cell) without averaging
    across a LoS/NLoS boundary or mixing in 38.901 values; small-scale fading is modelled
    separately, so the map is meant to be the local-area mean.

    Args:
        pg_lin: (n_tx, ny, nx) linear path gain from the ray tracer, 0 = no ray.
        tx_xyz: (n_tx, 3) [m].
        uma: (n_tx,) bool.
        tx_indoor: (n_tx,) bool.
        indoor: (ny, nx) bool, cell centre inside a footprint.
        los: (n_tx, ny, nx) bool geometric line of sight (see :func:`geometric_los`).
        cell_size: [m]; cell (0, 0) is centred at (cell_size/2, cell_size/2).
        fc_ghz: carrier [GHz].
        h_ut: receiver height [m].
        o2i_db: mean O2I loss [dB].
        local_mean: replace the ray-traced outdoor values by their same-class 3 x 3 local mean.

    Returns:
        ``(pg_db (n_tx, ny, nx) float32, masks)`` with masks ``reached``, ``smoothed``,
        ``filled_los`` (38.901 LoS), ``filled_nlos`` (38.901 NLoS), each (n_tx, ny, nx) bool.
    """
    n_tx, ny, nx = pg_lin.shape
    reached = pg_lin > 0.0
    smoothed = np.zeros_like(reached)
    out = np.where(reached, pg_lin, 0.0).astype(np.float64)
    for cls in (True, False):
        sel = los == cls
        filled, interp = _fill_monte_carlo_holes(np.where(sel, out, 0.0), reached & sel, indoor)
        interp &= sel
        out[interp] = filled[interp]
        smoothed |= interp
    have = reached | smoothed
    if local_mean:
        out = _local_mean(out, have & ~indoor[None], los)
    pg_db = np.empty((n_tx, ny, nx), dtype=np.float32)
    pg_db[have] = 10.0 * np.log10(out[have])
    xc = (np.arange(nx) + 0.5) * cell_size
    yc = (np.arange(ny) + 0.5) * cell_size
    gx, gy = np.meshgrid(xc, yc)
    filled_los = np.zeros_like(reached)
    filled_nlos = np.zeros_like(reached)
    for i in range(n_tx):
        miss = ~have[i]
        if not miss.any():
            continue
        d2d = np.hypot(gx[miss] - tx_xyz[i, 0], gy[miss] - tx_xyz[i, 1])
        los_i = los[i][miss] & ~indoor[miss]
        fl, fn = (pathloss_uma_los, pathloss_uma_nlos) if uma[i] else (pathloss_umi_los, pathloss_umi_nlos)
        pl = np.where(los_i, fl(d2d, tx_xyz[i, 2], h_ut, fc_ghz), fn(d2d, tx_xyz[i, 2], h_ut, fc_ghz))
        pl = pl + np.where(indoor[miss] | tx_indoor[i], o2i_db, 0.0)
        pg_db[i][miss] = -pl
        fl_mask = np.zeros((ny, nx), dtype=bool)
        fl_mask[miss] = los_i
        filled_los[i] = fl_mask
        filled_nlos[i] = miss & ~fl_mask
    return pg_db, {"reached": reached, "smoothed": smoothed, "filled_los": filled_los, "filled_nlos": filled_nlos}


def _local_mean(lin: np.ndarray, valid: np.ndarray, los: np.ndarray) -> np.ndarray:
    """Mean of ``lin`` over the valid 3 x 3 neighbourhood of the same LoS class, on valid cells (others kept)."""
    _, ny, nx = lin.shape
    out = lin.copy()
    for cls in (True, False):
        w = valid & (los == cls)
        wp = np.pad(w.astype(np.float64), ((0, 0), (1, 1), (1, 1)))
        vp = np.pad(np.where(w, lin, 0.0), ((0, 0), (1, 1), (1, 1)))
        ssum = np.zeros(lin.shape)
        cnt = np.zeros(lin.shape)
        for dy in (0, 1, 2):
            for dx in (0, 1, 2):
                ssum += vp[:, dy:dy + ny, dx:dx + nx]
                cnt += wp[:, dy:dy + ny, dx:dx + nx]
        out[w] = ssum[w] / cnt[w]
    return out


def speckle_share(best_db: np.ndarray, outdoor: np.ndarray, jump_db: float = 10.0) -> float:
    """Share of pairs of edge-neighbouring outdoor map cells whose best-server values differ by > ``jump_db``."""
    jumps = n = 0
    for a, b, oa, ob in ((best_db[:, 1:], best_db[:, :-1], outdoor[:, 1:], outdoor[:, :-1]),
                         (best_db[1:], best_db[:-1], outdoor[1:], outdoor[:-1])):
        both = oa & ob
        n += int(both.sum())
        jumps += int((np.abs(a - b)[both] > jump_db).sum())
    return jumps / n if n else 0.0


def map_figures(pg_db: np.ndarray, masks: dict[str, np.ndarray], indoor: np.ndarray,
                los: np.ndarray) -> dict[str, float]:
    """Build figures of a filled map, named apart from the RSRP coverage of the network.

    Returns:
        ``ray_traced_outdoor_pairs`` (share of outdoor (site, cell) pairs a ray reached),
        ``ray_reached_outdoor_cells`` (share of outdoor cells reached by >= 1 site),
        ``smoothed_outdoor_pairs`` (filled from reached neighbours), ``fill_38901_outdoor_pairs``,
        ``los_outdoor_pairs`` (geometric LoS), ``los_pairs_filled`` (share of the LoS outdoor pairs
        that no ray reached), ``los_pairs_given_nlos`` (count; 0 by construction),
        ``fill_38901_best_server_cells`` (outdoor cells whose strongest site is a 38.901 value) and
        ``speckle_share_10db`` (edge-neighbouring outdoor cells with a > 10 dB best-server path-gain jump).
    """
    outdoor = ~indoor
    n_tx = pg_db.shape[0]
    n_out = max(int(outdoor.sum()), 1)
    pairs = max(n_out * n_tx, 1)
    reached, smoothed = masks["reached"], masks["smoothed"]
    fill = masks["filled_los"] | masks["filled_nlos"]
    los_out = los & outdoor[None]
    best = np.argmax(pg_db, axis=0)
    best_fill = np.take_along_axis(fill, best[None], axis=0)[0]
    return {
        "ray_traced_outdoor_pairs": float((reached & outdoor[None]).sum() / pairs),
        "ray_reached_outdoor_cells": float((reached.any(axis=0) & outdoor).sum() / n_out),
        "smoothed_outdoor_pairs": float((smoothed & outdoor[None]).sum() / pairs),
        "fill_38901_outdoor_pairs": float((fill & outdoor[None]).sum() / pairs),
        "los_outdoor_pairs": float(los_out.sum() / pairs),
        "los_pairs_filled": float((los_out & ~reached).sum() / max(int(los_out.sum()), 1)),
        "los_pairs_given_nlos": int((los_out & masks["filled_nlos"]).sum()),
        "fill_38901_best_server_cells": float((best_fill & outdoor).sum() / n_out),
        "speckle_share_10db": speckle_share(pg_db.max(axis=0), outdoor),
    }


def trace_path_gain(
    cfg: ScenarioConfig,
    tx_xyz: np.ndarray,
    city: CityGeometry,
    *,
    cell_size: float,
    rays: int,
    materials: dict[str, str] | None = None,
    progress: Progress | None = None,
    seed: int = 42,
) -> tuple[np.ndarray, dict[str, Any]]:
    """Ray-trace the linear path gain of every transmitter on the map grid (Sionna RT; no fill).

    Transmitters are traced :data:`_TX_BATCH` at a time and the rays in chunks of at most
    :data:`_RAY_CHUNK` per transmitter (independent seeds, averaged), so the progress
    callback moves during tracing.

    Returns:
        ``(pg (n_tx, ny, nx) float64 linear path gain, 0 where no ray arrived, info)``;
        info has ``time_scene_s``, ``time_raytrace_s`` and ``variant``.
    """
    from .. import backend
    from ..scene import build_scene, sionna_scene_path

    ch = cfg.channel
    fc = cfg.radio.carrier_ghz
    cs = float(cell_size)
    default_mat, ground_mat = _materials_for(fc)
    report = progress or (lambda stage, frac: None)
    t0 = time.perf_counter()
    mi = backend.init_mitsuba()
    from sionna.rt import PlanarArray, RadioMapSolver, Transmitter, load_scene

    report("scene", 0.0)
    with tempfile.TemporaryDirectory(prefix="mndt-scene-") as tmp:
        if ch.source.startswith("sionna:"):
            xml = sionna_scene_path(ch.source)
        else:
            xml = build_scene(city, tmp, materials=materials, default_material=default_mat, ground_material=ground_mat,
                              scattering_coefficient=float(ch.scattering_coefficient))
        scene = load_scene(str(xml), merge_shapes=True)
    if ch.source.startswith("sionna:") and ch.scattering_coefficient > 0:
        for mat in scene.radio_materials.values():
            mat.scattering_coefficient = float(ch.scattering_coefficient)
    offx, offy = city.scene_offset
    scene.frequency = fc * 1e9
    scene.tx_array = PlanarArray(num_rows=1, num_cols=1, pattern="iso", polarization="V")
    scene.rx_array = PlanarArray(num_rows=1, num_cols=1, pattern="iso", polarization="V")
    t_scene = time.perf_counter() - t0
    report("scene", 1.0)

    nx, ny = max(1, math.ceil(cfg.width_m / cs)), max(1, math.ceil(cfg.height_m / cs))
    size = [nx * cs, ny * cs]
    center = mi.Point3f(offx + size[0] / 2.0, offy + size[1] / 2.0, cfg.radio.ue_height_m)
    solver = RadioMapSolver()
    n_tx = len(tx_xyz)
    pg = np.zeros((n_tx, ny, nx), dtype=np.float64)
    n_chunks = max(1, math.ceil(rays / _RAY_CHUNK))
    per_chunk = math.ceil(rays / n_chunks)
    batches = list(range(0, n_tx, _TX_BATCH))
    steps, done = len(batches) * n_chunks, 0
    t1 = time.perf_counter()
    report("ray tracing", 0.0)
    for b0 in batches:
        for name in list(scene.transmitters):
            scene.remove(name)
        idx = range(b0, min(n_tx, b0 + _TX_BATCH))
        for i in idx:
            x, y, z = tx_xyz[i]
            scene.add(Transmitter(name=f"tx{i}", position=mi.Point3f(float(x + offx), float(y + offy), float(z))))
        for c in range(n_chunks):
            rm = solver(scene, center=center, orientation=mi.Point3f(0.0, 0.0, 0.0), size=mi.Point2f(*size),
                        cell_size=mi.Point2f(cs, cs), samples_per_tx=int(per_chunk), max_depth=int(ch.max_depth),
                        los=True, specular_reflection=True, diffuse_reflection=bool(ch.scattering_coefficient > 0),
                        refraction=bool(ch.refraction), diffraction=bool(ch.diffraction), seed=seed + 1000 * c)
            pg[b0: b0 + len(idx)] += np.asarray(rm.path_gain.numpy(), dtype=np.float64)[:, :ny, :nx] / n_chunks
            done += 1
            report("ray tracing", done / steps)
    t_solve = time.perf_counter() - t1
    return pg, {"time_scene_s": round(t_scene, 3), "time_raytrace_s": round(t_solve, 3), "variant": str(mi.variant())}


def build_radio_maps(
    cfg: ScenarioConfig,
    tx_xyz: np.ndarray,
    uma: np.ndarray,
    tx_indoor: np.ndarray,
    city: CityGeometry,
    *,
    materials: dict[str, str] | None = None,
    progress: Progress | None = None,
    seed: int = 42,
) -> tuple[RadioMaps, dict[str, Any]]:
    """Ray-trace and fill the path-gain maps of all transmitters (no caching; see :meth:`RayTracedChannel.from_config`).

    Args:
        cfg: scenario (area, radio, channel settings).
        tx_xyz: (n_tx, 3) transmitter positions in the local frame [m].
        uma: (n_tx,) bool, fill unreached cells with UMa (else UMi).
        tx_indoor: (n_tx,) bool, transmitter indoors (O2I on the fill).
        city: the geometry (buildings for the scene, the indoor mask and the line-of-sight test).
        materials: per-tag material rules for :func:`mndt_envs.twin.scene.build_scene`.
        progress: callback ``(stage, fraction)``.
        seed: ray sampling seed.

    Returns:
        (maps, summary) where summary has the timings [s] and the figures of :func:`map_figures`.
    """
    ch = cfg.channel
    fc = cfg.radio.carrier_ghz
    h_ut = cfg.radio.ue_height_m
    cs = cell_size_for(cfg)
    if cs <= 0:
        raise ValueError(f"channel.cell_size_m = {cs}: must be > 0")
    rays = rays_for(cfg)
    _materials_for(fc)
    report = progress or (lambda stage, frac: None)
    tx_xyz = np.asarray(tx_xyz, dtype=np.float64)
    pg, info = trace_path_gain(cfg, tx_xyz, city, cell_size=cs, rays=rays, materials=materials, progress=report,
                               seed=seed)
    n_tx, ny, nx = pg.shape
    report("fill", 0.0)
    t2 = time.perf_counter()
    xc = (np.arange(nx) + 0.5) * cs
    yc = (np.arange(ny) + 0.5) * cs
    gx, gy = np.meshgrid(xc, yc)
    pts = np.stack([gx.ravel(), gy.ravel()], axis=1)
    indoor = city.inside_building(pts).reshape(ny, nx)
    raster = HeightRaster.from_city(city, nx * cs, ny * cs, min(cs / 2.0, 2.5))
    los = geometric_los(tx_xyz, pts, h_ut, raster).reshape(n_tx, ny, nx)
    report("fill", 0.5)
    pg_db, masks = fill_radio_maps(pg, tx_xyz=tx_xyz, uma=uma, tx_indoor=tx_indoor, indoor=indoor, los=los,
                                   cell_size=cs, fc_ghz=fc, h_ut=h_ut, o2i_db=mean_o2i_db(fc, ch.o2i))
    figures = map_figures(pg_db, masks, indoor, los)
    t_fill = time.perf_counter() - t2
    report("fill", 1.0)
    reached = masks["reached"]
    buried_pairs = _buried_transmitters(tx_xyz, city)
    buried = sorted({i for i, _ in buried_pairs})
    _warn_buried_transmitters(tx_xyz, reached, city, buried_pairs)
    maps = RadioMaps(pg_db=pg_db, reached=reached, indoor=indoor, x0=cs / 2.0, y0=cs / 2.0, cell_size=cs,
                     tx_xyz=tx_xyz)
    fill = masks["filled_los"] | masks["filled_nlos"]
    summary: dict[str, Any] = {
        "source": ch.source,
        "buildings": city.n_buildings,
        "default_height_share": float(city.default_height_share),
        "transmitters": n_tx,
        "grid": [ny, nx],
        "cell_size_m": cs,
        "rays_per_tx": int(rays),
        "rays_rule": "channel.samples_per_tx" if ch.samples_per_tx is not None else "ray_budget(area, cell size)",
        "max_depth": int(ch.max_depth),
        "diffraction": bool(ch.diffraction),
        "refraction": bool(ch.refraction),
        "scattering_coefficient": float(ch.scattering_coefficient),
        "carrier_ghz": fc,
        **info,
        "time_fill_s": round(t_fill, 3),
        **figures,
        "smoothed_pairs": int(masks["smoothed"].sum()),
        "fill_38901_pairs": int(fill.sum()),
        "indoor_share": float(indoor.mean()),
        "buried_transmitters": [int(i) for i in buried],
    }
    return maps, summary


def _buried_transmitters(tx_xyz: np.ndarray, city: CityGeometry) -> list[tuple[int, int]]:
    """(antenna, building) pairs of antennas inside a building footprint below its roof (rays cannot leave)."""
    if not city.buildings:
        return []
    import shapely

    tree = shapely.STRtree(city.buildings)
    pi, bi = tree.query(shapely.points(tx_xyz[:, :2]), predicate="within")
    return [(int(i), int(b)) for i, b in zip(pi, bi, strict=True) if tx_xyz[i, 2] < city.heights[b]]


def build_note(summary: dict[str, Any]) -> str:
    """One line on how much of the map is ray-traced and what was filled (for summaries and demos)."""
    s = summary
    if "ray_traced_outdoor_pairs" not in s:
        return ""
    note = (f"ray-traced {100 * s['ray_traced_outdoor_pairs']:.0f}% of outdoor (site, cell) pairs, "
            f"{100 * s['ray_reached_outdoor_cells']:.0f}% of outdoor cells reached by >= 1 site; "
            f"the rest filled from reached neighbours or 3GPP 38.901 (LoS/NLoS by geometry)")
    if s.get("buried_transmitters"):
        note += f"; {len(s['buried_transmitters'])} antenna(s) below a roof (rays cannot leave)"
    return note


def _warn_buried_transmitters(tx_xyz: np.ndarray, reached: np.ndarray, city: CityGeometry,
                              pairs: list[tuple[int, int]]) -> None:
    """Warn about antennas inside a building below its roof (``pairs`` of :func:`_buried_transmitters`)."""
    for i, b in pairs:
        x, y, z = tx_xyz[i]
        warnings.warn(
            f"transmitter at ({x:.1f}, {y:.1f}, {z:.1f}) m is inside a building footprint below its roof "
            f"({city.heights[b]:.1f} m); rays reached {100 * reached[i].mean():.1f}% of the map, the rest is "
            f"38.901 fill. Put the antenna above the roof or outside.",
            stacklevel=3,
        )


def _fill_monte_carlo_holes(pg: np.ndarray, reached: np.ndarray,
                            indoor: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Fill isolated unreached outdoor cells from their reached neighbours (ray-sampling holes).

    A cell no ray hit, outside buildings, with at least 5 of its 8 neighbours reached
    gets the mean linear path gain of those neighbours: with a finite number of rays
    per transmitter, far cells in the open are missed by chance, not by shadowing.

    Args:
        pg: (n_tx, ny, nx) linear path gain (0 where unreached).
        reached: (n_tx, ny, nx) bool.
        indoor: (ny, nx) bool.

    Returns:
        (path gain with holes filled, (n_tx, ny, nx) bool mask of the filled cells).
    """
    lin = np.pad(np.where(reached, pg, 0.0), ((0, 0), (1, 1), (1, 1)))
    cnt = np.pad(reached.astype(np.float32), ((0, 0), (1, 1), (1, 1)))
    ny, nx = pg.shape[1:]
    s = np.zeros(pg.shape, dtype=np.float64)
    c = np.zeros(pg.shape, dtype=np.float32)
    for dy in (0, 1, 2):
        for dx in (0, 1, 2):
            if dy == 1 and dx == 1:
                continue
            s += lin[:, dy:dy + ny, dx:dx + nx]
            c += cnt[:, dy:dy + ny, dx:dx + nx]
    interp = ~reached & ~indoor[None] & (c >= 5)
    out = pg.copy()
    out[interp] = (s[interp] / c[interp]).astype(pg.dtype)
    return out, interp


class RayTracedChannel:
    """Large-scale channel from Sionna RT radio maps (implements :class:`~mndt_envs.twin.protocols.ChannelModel`).

    Args:
        cfg: the scenario.
        cells: the cells (positions, heights, azimuths, tilts).
        maps: the per-transmitter path-gain maps.
        cell_to_tx: (n_cells,) map index of each cell.
        summary: build summary (see :attr:`build_summary`).
    """

    def __init__(self, cfg: ScenarioConfig, cells: Cells, maps: RadioMaps, cell_to_tx: np.ndarray,
                 summary: dict[str, Any]) -> None:
        self.cfg = cfg
        self.cells = cells
        self.maps = maps
        self.cell_to_tx = np.asarray(cell_to_tx, dtype=np.intp)
        if len(self.cell_to_tx) != cells.n:
            raise ValueError(f"cell_to_tx has {len(self.cell_to_tx)} entries for {cells.n} cells")
        #: buildings, cells, transmitters, grid, rays, times [s], coverage, fallback share, cache status
        self.build_summary: dict[str, Any] = summary
        self._cell_xyz = np.stack([cells.x, cells.y, cells.height], axis=1)
        self._o2i_db = mean_o2i_db(cfg.radio.carrier_ghz, cfg.channel.o2i)
        self._table_sig: tuple[bytes, ...] | None = None
        self._table_cache: np.ndarray | None = None

    @classmethod
    def from_config(
        cls,
        cfg: ScenarioConfig,
        cells: Cells,
        rng: np.random.Generator | None = None,
        *,
        city: CityGeometry | None = None,
        cache: ArtifactCache | None = None,
        use_cache: bool = True,
        materials: dict[str, str] | None = None,
        progress: Progress | None = None,
    ) -> RayTracedChannel:
        """Load the scenario's radio maps from the cache, or ray-trace and cache them.

        Args:
            cfg: scenario with ``channel.model = "raytraced"`` and a ``channel.source``.
            cells: the cells.
            rng: unused (the ray tracer's seed is fixed so that cached maps are reproducible);
                accepted for the common channel-constructor signature.
            city: the already loaded geometry (else loaded from ``cfg.channel.source``).
            cache: artifact cache (default location if None).
            use_cache: False forces a rebuild and stores nothing.
            materials: per-tag material rules for the scene.
            progress: callback ``(stage, fraction)``.
        """
        del rng
        from ..cache import ArtifactCache

        t0 = time.perf_counter()
        if not cfg.channel.source:
            raise ValueError("channel.source = '': the ray-traced channel needs a geometry source")
        tx_xyz, cell_to_tx = _unique_tx(cells)
        uma, tx_indoor = _tx_flags(cfg, cells, cell_to_tx, len(tx_xyz))
        key, _ = _map_key(cfg, tx_xyz, uma, tx_indoor, materials)
        store = cache if cache is not None else ArtifactCache()

        def read_maps(d: Path) -> tuple[RadioMaps, str, dict[str, Any]]:
            """The maps, their sha256 and the stored build summary."""
            m = RadioMaps.from_file(d / "maps.npz")
            if m.pg_db.shape[0] != len(tx_xyz):
                raise ValueError("transmitter count differs")
            man = json.loads((d / "MANIFEST.json").read_text())
            return m, man["files"]["maps.npz"]["sha256"], dict(man.get("meta", {}))

        if use_cache:
            got = store.load("radiomap", key, read_maps)  # verified under the key's lock; unreadable = a miss
            if got is not None:
                maps, maps_sha, stored = got
                summary = dict(stored, maps_sha256=maps_sha)
                summary.update(cached=True, cache_key=key, time_load_s=round(time.perf_counter() - t0, 4),
                               note=build_note(summary))
                return cls(cfg, cells, maps, cell_to_tx, summary)
        from ..geometry import check_area, load_city

        if city is None:
            city = load_city(cfg.channel.source, cfg)
        check_area(city, cfg.width_m, cfg.height_m)
        maps, summary = build_radio_maps(cfg, tx_xyz, uma, tx_indoor, city, materials=materials, progress=progress)
        summary["cells"] = cells.n
        summary["time_total_s"] = round(time.perf_counter() - t0, 3)
        blob = maps.to_bytes()
        summary["maps_sha256"] = hashlib.sha256(blob).hexdigest()  # identifies the map (the unit of reproducibility)
        if use_cache:
            try:
                store.put("radiomap", key, {"maps.npz": blob}, meta=summary)
                # another process may have published this key first: its map is the one every user of the key gets
                got = store.load("radiomap", key, read_maps)
                if got is not None and got[1] != summary["maps_sha256"]:
                    maps, summary["maps_sha256"] = got[:2]
            except OSError as exc:
                warnings.warn(f"could not store the radio maps in the cache ({exc})", stacklevel=2)
        summary = dict(summary, cached=False, cache_key=key)
        summary["note"] = build_note(summary)
        return cls(cfg, cells, maps, cell_to_tx, summary)

    def path_gain_db(self, xy: np.ndarray) -> np.ndarray:
        """Ray-traced path gain per cell, without antenna pattern or O2I.

        Args:
            xy: (n_users, 2) [m].

        Returns:
            (n_cells, n_users) float32 [dB].
        """
        xy = np.asarray(xy, dtype=np.float64).reshape(-1, 2)
        return self.maps.lookup(xy)[self.cell_to_tx]

    def _table(self) -> np.ndarray | None:
        """Corner-interleaved table of path gain + antenna gain per grid square, rebuilt when cells change.

        Shape ((ny-1)·(nx-1), 4, n_cells) float32: the four corner values of every grid
        square for every cell, so a lookup is one contiguous gather per user. None when it
        would exceed :data:`MAX_TABLE_BYTES` (then the antenna gain is computed per call).
        """
        c = self.cells
        sig = (c.x.tobytes(), c.y.tobytes(), c.height.tobytes(), c.azimuth_deg.tobytes(), c.tilt_deg.tobytes())
        if self._table_sig == sig:
            return self._table_cache
        ny, nx = self.maps.shape
        self._table_sig = sig
        self._table_cache = None
        if ny < 2 or nx < 2 or (ny - 1) * (nx - 1) * 4 * c.n * 4 > MAX_TABLE_BYTES:
            return None
        xc, yc = self.maps.cell_centres()
        gx, gy = np.meshgrid(xc, yc)
        grid_xyz = np.column_stack([gx.ravel(), gy.ravel(), np.full(gx.size, self.cfg.radio.ue_height_m)])
        cell_xyz = np.stack([c.x, c.y, c.height], axis=1)
        full = antenna_gain_db(cell_xyz, c.azimuth_deg, c.tilt_deg, grid_xyz)  # (n_cells, ny*nx)
        full += self.maps.pg_db.reshape(self.maps.pg_db.shape[0], -1)[self.cell_to_tx]
        g = np.ascontiguousarray(full.T).reshape(ny, nx, c.n)
        t = np.empty((ny - 1, nx - 1, 4, c.n), dtype=np.float32)
        t[:, :, 0] = g[:-1, :-1]
        t[:, :, 1] = g[:-1, 1:]
        t[:, :, 2] = g[1:, :-1]
        t[:, :, 3] = g[1:, 1:]
        self._table_cache = t.reshape(-1, 4, c.n)
        return self._table_cache

    def gain_db(self, xy: np.ndarray, indoor: np.ndarray) -> np.ndarray:
        """Large-scale gain [dB]: ray-traced path gain + 38.901 antenna gain − O2I.

        The antenna gain is evaluated on the map grid and interpolated with the path
        gain (exact at the grid points; within a few metres of a site the steep vertical
        pattern is smoothed over one cell).

        Args:
            xy: (n_users, 2) positions [m] at the UE height.
            indoor: (n_users,) bool; indoor users standing in an outdoor map cell get the
                mean O2I loss (map cells inside buildings already include it).

        Returns:
            (n_cells, n_users) float32.
        """
        xy = np.asarray(xy, dtype=np.float64).reshape(-1, 2)
        table = self._table()
        if table is None:
            user_xyz = np.column_stack([xy, np.full(len(xy), self.cfg.radio.ue_height_m)])
            g = self.maps.lookup(xy)[self.cell_to_tx]
            g += antenna_gain_db(self._cell_xyz, self.cells.azimuth_deg, self.cells.tilt_deg, user_xyz)
        else:
            m = self.maps
            ny, nx = m.shape
            fx = (xy[:, 0] - m.x0) * (1.0 / m.cell_size)
            fy = (xy[:, 1] - m.y0) * (1.0 / m.cell_size)
            ix = np.clip(np.floor(fx).astype(np.intp), 0, nx - 2)
            iy = np.clip(np.floor(fy).astype(np.intp), 0, ny - 2)
            wx = np.clip(fx - ix, 0.0, 1.0).astype(np.float32)
            wy = np.clip(fy - iy, 0.0, 1.0).astype(np.float32)
            w = np.stack([(1.0 - wx) * (1.0 - wy), wx * (1.0 - wy), (1.0 - wx) * wy, wx * wy], axis=1)  # (n, 4)
            v = np.take(table, iy * (nx - 1) + ix, axis=0)  # (n, 4, n_cells), one contiguous row per user
            g = np.ascontiguousarray(np.matmul(w[:, None, :], v)[:, 0, :].T)  # (n_cells, n)
        indoor = np.asarray(indoor, dtype=bool)
        if indoor.any():
            extra = indoor & ~self.maps.nearest_indoor(xy)
            g -= np.where(extra, np.float32(self._o2i_db), np.float32(0.0))[None, :]
        return g.astype(np.float32, copy=False)
