"""Data-only serialisation of a :class:`~mndt_envs.twin.geometry.CityGeometry` for the artifact cache.

Nothing here can run code when it is read (no pickle): footprints are WKB in an npz
(``allow_pickle=False``), everything else is JSON.

* ``buildings.npz``: ``heights`` (n,) float64 [m], ``wkb`` (concatenated WKB bytes, uint8)
  and ``offsets`` (n + 1,) int64 into it.
* ``city.json``: the scalar fields, the building tags and the road graph (graph attributes,
  nodes with their attributes and edges ``(u, v, key, attributes)`` in insertion order, so a
  city read back iterates exactly like the one that was stored). Tuples are written as
  ``{"__tuple__": [...]}``; values must be JSON types (numbers, strings, booleans, None,
  lists, string-keyed dicts) or numpy scalars.

Reading validates every field; a malformed entry raises ``ValueError`` (which the cache
treats as a miss).
"""

from __future__ import annotations

import io
import json
import math
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from .city import CityGeometry

__all__ = ["FORMAT", "city_to_files", "city_from_dir", "city_from_files"]

FORMAT = "mndt-city/1"
JSON_FILE = "city.json"
NPZ_FILE = "buildings.npz"


def _enc(v: Any) -> Any:
    if v is None or isinstance(v, (bool, str)):
        return v
    if isinstance(v, (int, np.integer)):
        return int(v)
    if isinstance(v, (float, np.floating)):
        return float(v)
    if isinstance(v, np.bool_):
        return bool(v)
    if isinstance(v, tuple):
        return {"__tuple__": [_enc(x) for x in v]}
    if isinstance(v, list):
        return [_enc(x) for x in v]
    if isinstance(v, dict):
        if not all(isinstance(k, str) for k in v):
            raise ValueError(f"cannot store a dict with non-string keys: {list(v)[:3]!r}")
        if "__tuple__" in v:
            raise ValueError("cannot store a dict with the reserved key '__tuple__'")
        return {k: _enc(x) for k, x in v.items()}
    raise ValueError(f"cannot store a {type(v).__name__} in the city cache (data-only formats)")


def _dec(v: Any) -> Any:
    if isinstance(v, list):
        return [_dec(x) for x in v]
    if isinstance(v, dict):
        if set(v) == {"__tuple__"} and isinstance(v["__tuple__"], list):
            return tuple(_dec(x) for x in v["__tuple__"])
        return {k: _dec(x) for k, x in v.items()}
    return v


def city_to_files(city: CityGeometry) -> dict[str, bytes]:
    """The cache files of ``city`` (``city.json`` and ``buildings.npz``)."""
    import shapely

    wkb = [shapely.to_wkb(p) for p in city.buildings]
    offsets = np.zeros(len(wkb) + 1, dtype=np.int64)
    offsets[1:] = np.cumsum([len(b) for b in wkb])
    buf = io.BytesIO()
    np.savez(buf, heights=np.asarray(city.heights, dtype=np.float64),
             wkb=np.frombuffer(b"".join(wkb), dtype=np.uint8), offsets=offsets)
    g = city.roads
    doc = {
        "format": FORMAT,
        "width_m": float(city.width_m),
        "height_m": float(city.height_m),
        "origin_lat": float(city.origin_lat),
        "origin_lon": float(city.origin_lon),
        "crs": city.crs,
        "source": city.source,
        "scene_offset": [float(city.scene_offset[0]), float(city.scene_offset[1])],
        "n_ways_dropped": int(city.n_ways_dropped),
        "n_ways_truncated": int(city.n_ways_truncated),
        "source_sha256": city.source_sha256,
        "tags": [_enc(t) for t in city.tags],
        "roads": {
            "graph": _enc(dict(g.graph)),
            "nodes": [[_enc(n), _enc(d)] for n, d in g.nodes(data=True)],
            "edges": [[_enc(u), _enc(v), _enc(k), _enc(d)] for u, v, k, d in g.edges(keys=True, data=True)],
        },
    }
    return {JSON_FILE: json.dumps(doc, allow_nan=True).encode("utf-8"), NPZ_FILE: buf.getvalue()}


def _num(doc: dict[str, Any], key: str) -> float:
    v = doc.get(key)
    if isinstance(v, bool) or not isinstance(v, (int, float)):
        raise ValueError(f"city.json: {key} = {v!r} is not a number")
    return float(v)


def _int(doc: dict[str, Any], key: str) -> int:
    v = doc.get(key)
    if isinstance(v, bool) or not isinstance(v, int) or v < 0:
        raise ValueError(f"city.json: {key} = {v!r} is not a count")
    return v


def _str(doc: dict[str, Any], key: str) -> str:
    v = doc.get(key)
    if not isinstance(v, str):
        raise ValueError(f"city.json: {key} = {v!r} is not a string")
    return v


def city_from_files(json_bytes: bytes, npz_bytes: bytes) -> CityGeometry:
    """Inverse of :func:`city_to_files`.

    Raises:
        ValueError: the data are malformed (wrong format tag, types or sizes).
    """
    import networkx as nx
    import shapely

    from .city import CityGeometry

    doc = json.loads(json_bytes.decode("utf-8"))
    if not isinstance(doc, dict) or doc.get("format") != FORMAT:
        raise ValueError(f"city.json: not a {FORMAT} document")
    with np.load(io.BytesIO(npz_bytes), allow_pickle=False) as z:
        if set(z.files) != {"heights", "wkb", "offsets"}:
            raise ValueError(f"buildings.npz: unexpected arrays {sorted(z.files)}")
        heights, wkb, offsets = z["heights"], z["wkb"], z["offsets"]
    n = len(heights)
    if heights.dtype != np.float64 or heights.ndim != 1 or wkb.dtype != np.uint8 or offsets.dtype != np.int64 \
            or offsets.shape != (n + 1,) or offsets[0] != 0 or offsets[-1] != len(wkb) or np.any(np.diff(offsets) < 0):
        raise ValueError("buildings.npz: inconsistent heights/wkb/offsets")
    raw = wkb.tobytes()
    polys = list(shapely.from_wkb([raw[offsets[i]:offsets[i + 1]] for i in range(n)])) if n else []
    if any(p is None or p.geom_type != "Polygon" for p in polys):
        raise ValueError("buildings.npz: a footprint is not a polygon")
    tags = doc.get("tags")
    if not isinstance(tags, list) or len(tags) != n or not all(
            isinstance(t, dict) and all(isinstance(k, str) and isinstance(v, str) for k, v in t.items()) for t in tags):
        raise ValueError("city.json: tags must be one string-to-string object per building")
    roads = doc.get("roads")
    if not isinstance(roads, dict) or not isinstance(roads.get("graph"), dict) \
            or not isinstance(roads.get("nodes"), list) or not isinstance(roads.get("edges"), list):
        raise ValueError("city.json: roads must hold graph, nodes and edges")
    g = nx.MultiDiGraph()
    g.graph.update(_dec(roads["graph"]))
    for item in roads["nodes"]:
        if not (isinstance(item, list) and len(item) == 2 and isinstance(item[1], dict)):
            raise ValueError("city.json: a road node is not [id, attributes]")
        g.add_node(_dec(item[0]), **_dec(item[1]))
    for item in roads["edges"]:
        if not (isinstance(item, list) and len(item) == 4 and isinstance(item[3], dict)):
            raise ValueError("city.json: a road edge is not [u, v, key, attributes]")
        u, v = _dec(item[0]), _dec(item[1])
        if u not in g or v not in g:
            raise ValueError("city.json: a road edge references an absent node")
        g.add_edge(u, v, key=_dec(item[2]), **_dec(item[3]))
    off = doc.get("scene_offset")
    if not (isinstance(off, list) and len(off) == 2 and all(isinstance(x, (int, float)) for x in off)):
        raise ValueError("city.json: scene_offset must be two numbers")
    width, height = _num(doc, "width_m"), _num(doc, "height_m")
    if not (math.isfinite(width) and math.isfinite(height) and width > 0 and height > 0):
        raise ValueError("city.json: the area must have a positive finite extent")
    return CityGeometry(
        buildings=polys, heights=heights, tags=tags, roads=g, width_m=width, height_m=height,
        origin_lat=_num(doc, "origin_lat"), origin_lon=_num(doc, "origin_lon"), crs=_str(doc, "crs"),
        source=_str(doc, "source"), scene_offset=(float(off[0]), float(off[1])),
        n_ways_dropped=_int(doc, "n_ways_dropped"), n_ways_truncated=_int(doc, "n_ways_truncated"),
        source_sha256=_str(doc, "source_sha256"),
    )


def city_from_dir(d: Path) -> CityGeometry:
    """Read a city from a cache entry directory holding :func:`city_to_files`'s files."""
    return city_from_files((d / JSON_FILE).read_bytes(), (d / NPZ_FILE).read_bytes())
