"""The city in the twin's local frame: :class:`CityGeometry` (buildings, heights, tags, roads).

A module of its own so that the loader (:mod:`.geometry`), the data-only cache format
(:mod:`.citystore`) and site placement (:mod:`.sites`) all import it without importing each other.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    import networkx as nx
    from shapely.geometry import Polygon

__all__ = ["HEIGHT_SOURCE_TAG", "CityGeometry", "GeometryError"]

HEIGHT_SOURCE_TAG = "mndt:height_source"  # added to each building's tags: height | levels | type | default


class GeometryError(ValueError):
    """The geometry source cannot be read; the message names the file and the problem."""


@dataclass
class CityGeometry:
    """Buildings and roads of a city in the local metric frame (x east, y north, metres).

    Attributes:
        buildings: footprints (shapely Polygons, holes allowed) [m].
        heights: (n_buildings,) height above ground [m].
        tags: OSM tags per building (``building``, ``building:material``, ...).
        roads: road graph (networkx MultiDiGraph), node attrs ``x``, ``y`` [m], edge attr ``length`` [m].
        width_m: extent of the area along x [m].
        height_m: extent of the area along y [m].
        origin_lat: latitude of the local origin (0, 0) [deg] (NaN for Sionna scenes).
        origin_lon: longitude of the local origin [deg] (NaN for Sionna scenes).
        crs: PROJ string of the projected frame before the shift to the origin ("" for Sionna scenes).
        source: what was loaded (``"bundled:helsinki"``, a path or ``"sionna:<name>"``).
        scene_offset: scene coordinates of the local origin [m] (non-zero for Sionna scenes).
        n_ways_dropped: ways referencing absent nodes that were removed.
        n_ways_truncated: ways referencing absent nodes that were cut to their present nodes.
        source_sha256: content hash of the source file ("" for Sionna scenes).
    """

    buildings: list[Polygon]
    heights: np.ndarray  # (n_buildings,) [m]
    tags: list[dict[str, str]]
    roads: nx.MultiDiGraph
    width_m: float  # [m]
    height_m: float  # [m]
    origin_lat: float  # [deg]
    origin_lon: float  # [deg]
    crs: str = ""
    source: str = ""
    scene_offset: tuple[float, float] = (0.0, 0.0)  # [m]
    n_ways_dropped: int = 0
    n_ways_truncated: int = 0
    source_sha256: str = ""
    _union: Any = field(default=None, repr=False, compare=False)

    @property
    def n_buildings(self) -> int:
        """Number of building footprints."""
        return len(self.buildings)

    @property
    def default_height_share(self) -> float:
        """Share of buildings whose height came from no ``height``/``building:levels`` tag (type or default)."""
        if not self.tags:
            return 0.0
        return sum(t.get(HEIGHT_SOURCE_TAG) in ("type", "default") for t in self.tags) / len(self.tags)

    def footprint_union(self) -> Any:
        """Union of all footprints (a shapely geometry, prepared for fast point tests)."""
        if self._union is None:
            import shapely

            u = shapely.union_all(self.buildings) if self.buildings else shapely.Polygon()
            shapely.prepare(u)
            self._union = u
        return self._union

    def inside_building(self, xy: np.ndarray) -> np.ndarray:
        """Whether each point lies inside a building footprint.

        Args:
            xy: (n, 2) positions [m].

        Returns:
            (n,) bool.
        """
        import shapely

        xy = np.asarray(xy, dtype=np.float64).reshape(-1, 2)
        if not self.buildings:
            return np.zeros(len(xy), dtype=bool)
        return np.asarray(shapely.contains_xy(self.footprint_union(), xy[:, 0], xy[:, 1]), dtype=bool)

    def latlon_to_local(self, lat: np.ndarray, lon: np.ndarray) -> np.ndarray:
        """Project WGS84 coordinates into the local frame.

        Returns:
            (n, 2) [m].
        """
        if not self.crs:
            raise GeometryError(f"{self.source}: this city has no geographic reference (Sionna scene)")
        from pyproj import Transformer

        tr = Transformer.from_crs("EPSG:4326", self.crs, always_xy=True)
        x, y = tr.transform(np.asarray(lon, dtype=np.float64), np.asarray(lat, dtype=np.float64))
        ox_, oy_ = tr.transform(self.origin_lon, self.origin_lat)
        return np.stack([np.asarray(x) - ox_, np.asarray(y) - oy_], axis=-1)

    def __getstate__(self) -> dict[str, Any]:
        state = dict(self.__dict__)
        state["_union"] = None
        return state
