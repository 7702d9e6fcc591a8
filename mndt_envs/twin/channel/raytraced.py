"""Ray-traced large-scale channel: Sionna RT radio maps over a city, cached, bilinear lookup.

Build (once per scenario, cached by a content hash):

1. the city's geometry (:func:`mndt_envs.twin.geometry.load_city`) is extruded into a
   Mitsuba scene (:func:`mndt_envs.twin.scene.build_scene`), or a Sionna built-in scene is used;
2. one isotropic transmitter per distinct antenna position (the three sectors of a
   macro site share one ray-traced map; their 38.901 sector patterns are applied at
   lookup, along the direct bearing to the user);
3. ``RadioMapSolver`` computes the path gain on a plane at the UE height (1.5 m) over
   the scenario area with ``channel.cell_size_m`` cells, ``max_depth`` interactions,
   ``samples_per_tx`` rays, and the diffraction / refraction switches;
4. map cells that no ray reached get the 38.901 NLoS path loss (UMa for macro sites
   above 15 m, else UMi street canyon), plus the mean O2I penetration loss where the
   map cell lies inside a building (or the transmitter does); they are counted in
   :attr:`RayTracedChannel.build_summary` (``fallback_share``), never left at zero;
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
from .statistical import o2i_loss, pathloss_uma_nlos, pathloss_umi_nlos

if TYPE_CHECKING:
    from ...config import ScenarioConfig
    from ..cache import ArtifactCache
    from ..geometry import CityGeometry
    from ..sites import Cells

__all__ = ["RadioMaps", "RayTracedChannel", "build_radio_maps", "mean_o2i_db", "RT_FORMAT"]

RT_FORMAT = "rt-3"  # bump when the stored maps change meaning (rt-3: welded meshes)
MEAN_INDOOR_DISTANCE_M = 25.0 / 3.0  # [m] E[min(U(0,25), U(0,25))], 38.901 §7.4.3.1
UMA_MIN_HEIGHT_M = 15.0  # [m] macro sites above this use UMa (as the statistical channel)
_TX_BATCH = 16  # transmitters per solver call (progress granularity)
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
    macro = cells.kind == 0
    if cfg.channel.scenario == "uma":
        uma_c = np.ones(cells.n, dtype=bool)
    elif cfg.channel.scenario == "umi":
        uma_c = np.zeros(cells.n, dtype=bool)
    else:
        uma_c = macro & (cells.height > UMA_MIN_HEIGHT_M)
    uma = np.zeros(n_tx, dtype=bool)
    indoor = np.zeros(n_tx, dtype=bool)
    uma[cell_to_tx] = uma_c
    indoor[cell_to_tx] = cells.indoor
    return uma, indoor


def _source_id(source: str) -> dict[str, str]:
    """Content identity of a geometry source for cache keys."""
    if source.startswith("sionna:"):
        import importlib.metadata

        from ..scene import sionna_scene_path

        p = sionna_scene_path(source)
        return {"sionna_scene": source, "sionna_rt": importlib.metadata.version("sionna-rt"),
                "xml_sha256": hashlib.sha256(p.read_bytes()).hexdigest()}
    from ..geometry import _read_bytes, resolve_osm_source

    return {"osm_sha256": hashlib.sha256(_read_bytes(resolve_osm_source(source))).hexdigest()}


def _map_key(cfg: ScenarioConfig, tx_xyz: np.ndarray, uma: np.ndarray, tx_indoor: np.ndarray,
             materials: dict[str, str] | None) -> tuple[str, dict[str, Any]]:
    from ..cache import cache_key

    ch = cfg.channel
    payload = {
        "source": _source_id(ch.source),
        "default_building_height_m": ch.default_building_height_m,
        "area": [cfg.width_m, cfg.height_m],
        "cell_size_m": ch.cell_size_m,
        "ue_height_m": cfg.radio.ue_height_m,
        "carrier_ghz": cfg.radio.carrier_ghz,
        "max_depth": ch.max_depth,
        "samples_per_tx": ch.samples_per_tx,
        "diffraction": ch.diffraction,
        "refraction": ch.refraction,
        "o2i": ch.o2i,
        "tx": np.round(tx_xyz, 2).tolist(),
        "uma": uma.tolist(),
        "tx_indoor": tx_indoor.tolist(),
        "materials": sorted((materials or {}).items()),
    }
    try:
        from ... import __version__ as pkg_version
    except ImportError:
        pkg_version = "0"
    return cache_key("radiomap", payload, f"{RT_FORMAT}/{pkg_version}"), payload


def _materials_for(fc_ghz: float) -> tuple[str, str]:
    """(default building material, ground material) valid at ``fc_ghz`` (ITU-R P.2040 ranges)."""
    if not 1.0 <= fc_ghz <= 100.0:
        raise ValueError(
            f"radio.carrier_ghz = {fc_ghz}: Sionna RT's ITU materials cover 1-100 GHz; "
            f"use channel.model = 'statistical' for this carrier"
        )
    return "concrete", ("medium_dry_ground" if fc_ghz <= 10.0 else "concrete")


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
    """Ray-trace the path-gain maps of all transmitters (no caching; see :meth:`RayTracedChannel.from_config`).

    Args:
        cfg: scenario (area, radio, channel settings).
        tx_xyz: (n_tx, 3) transmitter positions in the local frame [m].
        uma: (n_tx,) bool, fill unreached cells with UMa (else UMi) NLoS.
        tx_indoor: (n_tx,) bool, transmitter indoors (O2I on the fill).
        city: the geometry (buildings for the scene and the indoor mask).
        materials: per-tag material rules for :func:`mndt_envs.twin.scene.build_scene`.
        progress: callback ``(stage, fraction)``.
        seed: ray sampling seed.

    Returns:
        (maps, summary) where summary has the timings [s] and coverage figures.
    """
    from .. import backend
    from ..scene import build_scene, sionna_scene_path

    ch = cfg.channel
    fc = cfg.radio.carrier_ghz
    h_ut = cfg.radio.ue_height_m
    cs = float(ch.cell_size_m)
    if cs <= 0:
        raise ValueError(f"channel.cell_size_m = {cs}: must be > 0")
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
            xml = build_scene(city, tmp, materials=materials, default_material=default_mat, ground_material=ground_mat)
        scene = load_scene(str(xml), merge_shapes=True)
    offx, offy = city.scene_offset
    scene.frequency = fc * 1e9
    scene.tx_array = PlanarArray(num_rows=1, num_cols=1, pattern="iso", polarization="V")
    scene.rx_array = PlanarArray(num_rows=1, num_cols=1, pattern="iso", polarization="V")
    t_scene = time.perf_counter() - t0
    report("scene", 1.0)

    W, H = cfg.width_m, cfg.height_m
    nx, ny = max(1, math.ceil(W / cs)), max(1, math.ceil(H / cs))
    size = [nx * cs, ny * cs]
    center = mi.Point3f(offx + size[0] / 2.0, offy + size[1] / 2.0, h_ut)
    solver = RadioMapSolver()
    n_tx = len(tx_xyz)
    pg = np.zeros((n_tx, ny, nx), dtype=np.float32)
    t1 = time.perf_counter()
    for b0 in range(0, n_tx, _TX_BATCH):
        report("ray tracing", b0 / n_tx)
        for name in list(scene.transmitters):
            scene.remove(name)
        idx = range(b0, min(n_tx, b0 + _TX_BATCH))
        for i in idx:
            x, y, z = tx_xyz[i]
            scene.add(Transmitter(name=f"tx{i}", position=mi.Point3f(float(x + offx), float(y + offy), float(z))))
        rm = solver(scene, center=center, orientation=mi.Point3f(0.0, 0.0, 0.0), size=mi.Point2f(*size),
                    cell_size=mi.Point2f(cs, cs), samples_per_tx=int(ch.samples_per_tx), max_depth=int(ch.max_depth),
                    los=True, specular_reflection=True, diffuse_reflection=False, refraction=bool(ch.refraction),
                    diffraction=bool(ch.diffraction), seed=seed)
        pg[b0: b0 + len(idx)] = np.asarray(rm.path_gain.numpy(), dtype=np.float32)[:, :ny, :nx]
    report("ray tracing", 1.0)
    t_solve = time.perf_counter() - t1

    # fill the unreached cells
    report("fill", 0.0)
    xc = (np.arange(nx) + 0.5) * cs
    yc = (np.arange(ny) + 0.5) * cs
    gx, gy = np.meshgrid(xc, yc)
    indoor = city.inside_building(np.stack([gx.ravel(), gy.ravel()], axis=1)).reshape(ny, nx)
    reached = pg > 0.0
    pg, interp = _fill_monte_carlo_holes(pg, reached, indoor)
    have = reached | interp
    pg_db = np.empty_like(pg)
    pg_db[have] = 10.0 * np.log10(pg[have])
    o2i = mean_o2i_db(fc, ch.o2i)
    for i in range(n_tx):
        miss = ~have[i]
        if not miss.any():
            continue
        d2d = np.hypot(gx[miss] - tx_xyz[i, 0], gy[miss] - tx_xyz[i, 1])
        f = pathloss_uma_nlos if uma[i] else pathloss_umi_nlos
        pl = f(d2d, tx_xyz[i, 2], h_ut, fc)
        pl = pl + np.where(indoor[miss] | tx_indoor[i], o2i, 0.0)
        pg_db[i][miss] = -pl
    report("fill", 1.0)
    _warn_buried_transmitters(tx_xyz, reached, city)
    maps = RadioMaps(pg_db=pg_db, reached=reached, indoor=indoor, x0=cs / 2.0, y0=cs / 2.0, cell_size=cs,
                     tx_xyz=np.asarray(tx_xyz, dtype=np.float64))
    outdoor = ~indoor
    n_out = max(int(outdoor.sum()) * n_tx, 1)
    best = np.argmax(pg_db, axis=0)  # strongest transmitter per map cell
    best_fallback = ~np.take_along_axis(have, best[None], axis=0)[0]
    summary = {
        "source": ch.source,
        "buildings": city.n_buildings,
        "transmitters": n_tx,
        "grid": [ny, nx],
        "cell_size_m": cs,
        "rays_per_tx": int(ch.samples_per_tx),
        "max_depth": int(ch.max_depth),
        "diffraction": bool(ch.diffraction),
        "refraction": bool(ch.refraction),
        "carrier_ghz": fc,
        "variant": str(mi.variant()),
        "time_scene_s": round(t_scene, 3),
        "time_raytrace_s": round(t_solve, 3),
        "coverage": float(reached.mean()),  # share of (tx, map cell) pairs a ray reached
        "interpolated_cells": int(interp.sum()),  # Monte-Carlo holes filled from reached neighbours
        "fallback_share": float(1.0 - have.mean()),  # share of (tx, map cell) pairs with the 38.901 value
        "fallback_cells": int((~have).sum()),
        "fallback_share_outdoor": float((~have & outdoor[None]).sum() / n_out),
        # outdoor map cells whose strongest transmitter's value is the 38.901 fill
        "fallback_share_best_server": float((best_fallback & outdoor).sum() / max(int(outdoor.sum()), 1)),
        "indoor_share": float(indoor.mean()),
    }
    return maps, summary


def _warn_buried_transmitters(tx_xyz: np.ndarray, reached: np.ndarray, city: CityGeometry) -> None:
    """Warn about antennas inside a building below its roof: their rays cannot leave (refraction off)."""
    if not city.buildings:
        return
    import shapely

    tree = shapely.STRtree(city.buildings)
    pi, bi = tree.query(shapely.points(tx_xyz[:, :2]), predicate="within")
    for i, b in zip(pi, bi, strict=True):
        x, y, z = tx_xyz[i]
        if z < city.heights[b]:
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

        def read_maps(d: Path) -> tuple[RadioMaps, str]:
            m = RadioMaps.from_file(d / "maps.npz")
            if m.pg_db.shape[0] != len(tx_xyz):
                raise ValueError("transmitter count differs")
            return m, json.loads((d / "MANIFEST.json").read_text())["files"]["maps.npz"]["sha256"]

        if use_cache:
            got = store.load("radiomap", key, read_maps)  # verified under the key's lock; unreadable = a miss
            if got is not None:
                maps, maps_sha = got
                summary = dict(store.meta("radiomap", key), maps_sha256=maps_sha)
                summary.update(cached=True, cache_key=key, time_load_s=round(time.perf_counter() - t0, 4))
                return cls(cfg, cells, maps, cell_to_tx, summary)
        if city is None:
            from ..geometry import load_city

            city = load_city(cfg.channel.source, cfg)
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
                    maps, summary["maps_sha256"] = got
            except OSError as exc:
                warnings.warn(f"could not store the radio maps in the cache ({exc})", stacklevel=2)
        summary = dict(summary, cached=False, cache_key=key)
        if summary["fallback_share_outdoor"] > 0.0:
            warnings.warn(
                f"ray tracing reached {100 * summary['coverage']:.1f}% of the (transmitter, map cell) pairs; "
                f"{summary['fallback_cells']} unreached cells use the 38.901 NLoS(+O2I) value "
                f"({100 * summary['fallback_share_outdoor']:.1f}% of outdoor cells)",
                stacklevel=2,
            )
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
