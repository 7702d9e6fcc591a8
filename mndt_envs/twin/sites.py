"""Base-station twin: sites, cells and their engineering parameters (SPEC §1–2).

A :class:`Cells` holds one array per parameter, indexed by cell. Cells belong to
sites (one site = one BBU; a macro site usually has three sectors).
"""

from __future__ import annotations

import csv
import math
import os
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..config import ConfigError, ScenarioConfig
from .city import CityGeometry, GeometryError

__all__ = ["Cells", "POWER_MODEL", "build_cells", "hex_sites", "cells_from_csv", "make_cells", "sites_from_csv"]

# EARTH power model per radio unit (Auer et al. 2011; SPEC §2):
# P_max [W], P_0 [W], delta_p [-], P_sleep [W]
POWER_MODEL: dict[str, tuple[float, float, float, float]] = {
    "macro": (20.0, 130.0, 4.7, 75.0),
    "micro": (6.3, 56.0, 2.6, 39.0),
    "pico": (0.13, 6.8, 4.0, 4.3),
}
KINDS = ("macro", "micro", "pico")


@dataclass
class Cells:
    """All cells of a network, one entry per cell (arrays of shape (n_cells,))."""

    x: np.ndarray  # [m]
    y: np.ndarray  # [m]
    height: np.ndarray  # [m] antenna height above ground
    azimuth_deg: np.ndarray  # [deg] boresight, clockwise from north; NaN = omni
    tilt_deg: np.ndarray  # [deg] downtilt
    max_power_dbm: np.ndarray  # [dBm] max total transmit power
    site: np.ndarray  # (n_cells,) int site index
    kind: np.ndarray  # (n_cells,) int index into KINDS (power-model class)
    indoor: np.ndarray  # (n_cells,) bool, cell inside a building
    n_rb: np.ndarray  # (n_cells,) int resource blocks
    ref_power_dbm: np.ndarray = field(default_factory=lambda: np.zeros(0))  # [dBm] per-RB reference power

    def __post_init__(self) -> None:
        n = len(self.x)
        for name in ("y", "height", "azimuth_deg", "tilt_deg", "max_power_dbm", "site", "kind", "indoor", "n_rb"):
            if len(getattr(self, name)) != n:
                raise ValueError(f"Cells.{name} has {len(getattr(self, name))} entries, expected {n}")
        if n == 0:
            raise ConfigError("the scenario has no cells: set sites.n_sites or sites.n_small_cells > 0")

    @property
    def n(self) -> int:
        """Number of cells."""
        return len(self.x)

    @property
    def n_sites(self) -> int:
        """Number of sites."""
        return int(self.site.max()) + 1

    @property
    def xy(self) -> np.ndarray:
        """(n_cells, 2) positions [m]."""
        return np.stack([self.x, self.y], axis=1)

    @property
    def kind_names(self) -> list[str]:
        """Power-model class name per cell."""
        return [KINDS[k] for k in self.kind]


def hex_sites(n_sites: int, isd_m: float, center: tuple[float, float]) -> np.ndarray:
    """First ``n_sites`` positions of a hexagonal grid spiralling out from ``center``.

    Returns:
        (n_sites, 2) [m].
    """
    # axial coordinates, rings walked as in the usual hex-grid ring algorithm
    dirs = [(1, 0), (1, -1), (0, -1), (-1, 0), (-1, 1), (0, 1)]
    pts = [(0.0, 0.0)]
    ring = 1
    while len(pts) < n_sites:
        q, r = dirs[4][0] * ring, dirs[4][1] * ring
        for d in range(6):
            for _ in range(ring):
                pts.append((isd_m * (q + r / 2.0), isd_m * (r * math.sqrt(3) / 2.0)))
                q, r = q + dirs[d][0], r + dirs[d][1]
        ring += 1
    arr = np.asarray(pts[:n_sites], dtype=np.float64)
    return arr + np.asarray(center)


def _sector_cells(site_xy: np.ndarray, sectors: int, height: float, power: float, tilt: float,
                  kind: int, n_rb: int, site_offset: int = 0) -> dict[str, np.ndarray]:
    n = len(site_xy)
    if sectors == 1:
        az = np.full(n, np.nan)
    else:
        az = np.tile(np.arange(sectors) * 360.0 / sectors, n)
    rep = sectors if sectors > 1 else 1
    xy = np.repeat(site_xy, rep, axis=0)
    m = len(xy)
    return {
        "x": xy[:, 0], "y": xy[:, 1], "height": np.full(m, height), "azimuth_deg": az if sectors > 1 else az,
        "tilt_deg": np.full(m, tilt), "max_power_dbm": np.full(m, power),
        "site": np.repeat(np.arange(n), rep) + site_offset, "kind": np.full(m, kind, dtype=np.int64),
        "indoor": np.zeros(m, dtype=bool), "n_rb": np.full(m, n_rb, dtype=np.int64),
    }


def read_sites_csv(path: str | Path, default_height_m: float = 25.0) -> np.ndarray:
    """Read site rows from a CSV with ``lat``/``latitude``, ``lon``/``lng``/``longitude`` columns.

    Optional ``height`` [m above ground] and ``azimuth`` [deg] columns (defaults
    ``default_height_m`` and NaN = not given).

    Returns:
        (n_rows, 4) array of lat [deg], lon [deg], height [m], azimuth [deg].
    """
    p = Path(path)
    if not p.is_file():
        raise ConfigError(f"sites.csv_path = {str(path)!r}: file not found")
    with p.open(newline="", encoding="utf-8-sig") as fh:
        reader = csv.DictReader(fh)
        cols = {c.strip().lower(): c for c in (reader.fieldnames or [])}
        latk = next((cols[c] for c in ("lat", "latitude") if c in cols), None)
        lonk = next((cols[c] for c in ("lon", "lng", "longitude") if c in cols), None)
        if latk is None or lonk is None:
            missing = [n for n, k in (("lat", latk), ("lon", lonk)) if k is None]
            raise ConfigError(
                f"{p}: missing column(s) {missing}; expected lat|latitude, lon|lng|longitude[, height, azimuth]"
            )
        hk, azk = cols.get("height"), cols.get("azimuth")
        rows = []
        for i, row in enumerate(reader, start=2):
            try:
                lat, lon = float(row[latk]), float(row[lonk])
                h = float(row[hk]) if hk and row[hk] else default_height_m
                az = float(row[azk]) if azk and row[azk] else math.nan
            except (ValueError, TypeError) as exc:
                raise ConfigError(f"{p}:{i}: not a number ({exc})") from None
            if not (-90 <= lat <= 90 and -180 <= lon <= 180):
                raise ConfigError(f"{p}:{i}: lat={lat}, lon={lon} outside [-90, 90] x [-180, 180]")
            if h <= 0:
                raise ConfigError(f"{p}:{i}: height={h} m must be > 0")
            rows.append((lat, lon, h, az))
    if not rows:
        raise ConfigError(f"{p}: no site rows")
    return np.asarray(rows, dtype=np.float64)


def sites_from_csv(
    path: str | os.PathLike[str],
    city: CityGeometry,
    *,
    area: tuple[float, float] | None = None,
    default_height_m: float = 25.0,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Real sites from a CSV, georeferenced into the city's local frame.

    Columns (case-insensitive): ``lat``/``latitude``, ``lon``/``lng``/``longitude``, optional
    ``height`` [m above ground] and ``azimuth`` [deg]. Sites outside the area are dropped
    with a warning; all outside is an error.

    Args:
        path: the CSV file.
        city: the city (its projection and origin).
        area: (width, height) [m] (default: the city's extent).
        default_height_m: antenna height when the CSV has none [m].

    Returns:
        ``(xy (n, 2) [m], height (n,) [m], azimuth (n,) [deg], NaN = not given)``.
    """
    p = Path(path)
    a = read_sites_csv(p, default_height_m)
    xy = city.latlon_to_local(a[:, 0], a[:, 1])
    w, h_ = area if area is not None else (city.width_m, city.height_m)
    inside = (xy[:, 0] >= 0) & (xy[:, 0] <= w) & (xy[:, 1] >= 0) & (xy[:, 1] <= h_)
    if not inside.any():
        raise GeometryError(
            f"{p}: all {len(a)} sites lie outside the {w:.0f} x {h_:.0f} m area of {city.source} "
            f"(lat {city.origin_lat:.5f}.., lon {city.origin_lon:.5f}..)"
        )
    if not inside.all():
        warnings.warn(f"{p}: {int((~inside).sum())} of {len(a)} sites lie outside the area and are dropped",
                      stacklevel=2)
    return xy[inside], a[inside, 2], a[inside, 3]


def cells_from_csv(path: str | Path, center_m: tuple[float, float] = (0.0, 0.0)) -> np.ndarray:
    """Sites of a CSV (see :func:`read_sites_csv`) in a local frame without a city.

    Positions are projected by an equirectangular projection about the sites'
    centroid, which is placed at ``center_m``. On a city, use
    :func:`sites_from_csv`, which uses the city's projection.

    Returns:
        (n_rows, 4) array of x [m], y [m], height [m], azimuth [deg].
    """
    a = read_sites_csv(path)
    lat0, lon0 = a[:, 0].mean(), a[:, 1].mean()
    r_earth = 6_371_000.0
    x = np.radians(a[:, 1] - lon0) * r_earth * math.cos(math.radians(lat0)) + center_m[0]
    y = np.radians(a[:, 0] - lat0) * r_earth + center_m[1]
    return np.stack([x, y, a[:, 2], a[:, 3]], axis=1)


def build_cells(cfg: ScenarioConfig, rng: np.random.Generator, macro_xy: np.ndarray | None = None) -> Cells:
    """Place the scenario's cells.

    Args:
        cfg: the scenario.
        rng: randomness for random layouts (small cells, random macro sites).
        macro_xy: (n_sites, 2) macro site positions overriding the layout (rooftop placement).
    """
    s = cfg.sites
    W, H = cfg.width_m, cfg.height_m
    n_rb = cfg.radio.n_rb
    parts: list[dict[str, np.ndarray]] = []
    macro_kind = KINDS.index(s.macro_kind)
    if macro_xy is not None:
        parts.append(_sector_cells(macro_xy, s.sectors, s.macro_height_m, s.macro_power_dbm, s.macro_tilt_deg,
                                   macro_kind, n_rb))
    elif s.layout == "hex" and s.n_sites > 0:
        xy = hex_sites(s.n_sites, s.isd_m, (W / 2.0, H / 2.0))
        parts.append(_sector_cells(xy, s.sectors, s.macro_height_m, s.macro_power_dbm, s.macro_tilt_deg,
                                   macro_kind, n_rb))
    elif s.layout == "random" and s.n_sites > 0:
        xy = rng.uniform([0.0, 0.0], [W, H], size=(s.n_sites, 2))
        parts.append(_sector_cells(xy, s.sectors, s.macro_height_m, s.macro_power_dbm, s.macro_tilt_deg,
                                   macro_kind, n_rb))
    elif s.layout == "csv":
        rows = cells_from_csv(s.csv_path, (W / 2.0, H / 2.0))
        outside = (rows[:, 0] < 0) | (rows[:, 0] > W) | (rows[:, 1] < 0) | (rows[:, 1] > H)
        if outside.all():
            raise ConfigError(
                f"sites.csv_path = {s.csv_path!r}: all {len(rows)} sites lie outside the "
                f"{W:.0f} x {H:.0f} m area; enlarge width_m/height_m"
            )
        if outside.any():
            warnings.warn(f"sites.csv_path: {int(outside.sum())} of {len(rows)} sites lie outside the "
                          f"{W:.0f} x {H:.0f} m area and are dropped", stacklevel=2)
        rows = rows[~outside]
        part = _sector_cells(rows[:, :2], s.sectors, s.macro_height_m, s.macro_power_dbm, s.macro_tilt_deg,
                             macro_kind, n_rb)
        part["height"] = np.repeat(rows[:, 2], s.sectors if s.sectors > 1 else 1)
        parts.append(part)
    n_macro_sites = int(parts[0]["site"].max()) + 1 if parts else 0
    if s.n_small_cells > 0:
        xy = rng.uniform([0.0, 0.0], [W, H], size=(s.n_small_cells, 2))
        small = _sector_cells(xy, 1, s.small_height_m, s.small_power_dbm, 0.0, KINDS.index(s.small_kind), n_rb,
                              site_offset=n_macro_sites)
        small["indoor"] = np.full(s.n_small_cells, s.small_indoor)
        parts.append(small)
    if not parts:
        raise ConfigError("the scenario has no cells: set sites.n_sites or sites.n_small_cells > 0")
    merged = {k: np.concatenate([p[k] for p in parts]) for k in parts[0]}
    cells = Cells(**merged)
    # per-RB reference (CPICH) power: equal split of max power over RBs, plus an offset
    cells.ref_power_dbm = cells.max_power_dbm - 10.0 * np.log10(cells.n_rb) + s.ref_power_offset_db
    return cells


def make_cells(cfg: ScenarioConfig, rng: np.random.Generator) -> Cells:
    """Cells for ``cfg``, dispatching rooftop placement to the city geometry."""
    if cfg.sites.layout == "rooftop":
        from .geometry import check_area, load_city, rooftop_sites, sites_for_area  # lazy: osmnx

        city = load_city(cfg.channel.source, cfg)
        check_area(city, cfg.width_m, cfg.height_m)
        n = cfg.sites.n_sites or sites_for_area(cfg.width_m, cfg.height_m, cfg.sites.isd_m)
        xy, roof_h = rooftop_sites(city, n, rng, area=(cfg.width_m, cfg.height_m))
        cells = build_cells(cfg, rng, macro_xy=xy)
        n_sec = cfg.sites.sectors
        cells.height[: len(xy) * n_sec] = np.repeat(roof_h, n_sec) + cfg.sites.mast_above_roof_m
        return cells
    if cfg.sites.layout == "csv" and cfg.channel.source:
        from .geometry import check_area, load_city

        city = load_city(cfg.channel.source, cfg)
        check_area(city, cfg.width_m, cfg.height_m)
        xy, height, _ = sites_from_csv(cfg.sites.csv_path, city, area=(cfg.width_m, cfg.height_m))
        cells = build_cells(cfg, rng, macro_xy=xy)
        n_sec = cfg.sites.sectors
        cells.height[: len(xy) * n_sec] = np.repeat(height, n_sec)
        return cells
    return build_cells(cfg, rng)
