"""City geometry from OpenStreetMap: building footprints with heights, and the road graph.

The loader reads a local OSM XML file (``osmnx.features_from_xml`` for buildings,
``osmnx.graph_from_xml`` for roads) and projects everything into the twin's local metric
frame: x east, y north, metres, origin at the lower-left corner of the file's
``<bounds>`` (or of its nodes when the file has none). The projection is a transverse
Mercator centred on the area, so grid north is true north at the centre.

Building heights: the ``height`` tag, else ``building:levels`` × 3 m, else a typical
height of the ``building`` type (:data:`TYPE_HEIGHTS_M`: houses 7 m, apartments 18 m,
offices 21 m, ...), else ``channel.default_building_height_m``; where each height came from
is kept in the building's tags (``mndt:height_source``) and
:attr:`CityGeometry.default_height_share` is the share not taken from a height or levels tag.

The scenario area must match the file's extent (:func:`check_area`): a file much larger
than the area (a whole country for a 1 km twin) or much smaller is a configuration error.

Real extracts are clipped: some ways reference nodes that the file does not contain
(osmnx then fails with "Some edges missing nodes"). The loader truncates such ways to
their longest run of present nodes (roads), drops those that cannot be repaired (closed
building outlines, ways with fewer than two nodes left) and reports both counts in a
warning and in :attr:`CityGeometry.n_ways_truncated` / :attr:`CityGeometry.n_ways_dropped`.

Online use (not exercised by the tests): ``osmnx.features_from_place(name, tags={"building": True})``
or ``osmnx.features_from_bbox(bbox, ...)`` fetch the same data from Overpass; save it with
an OSM tool (e.g. ``osmium extract``) and pass the file to :func:`load_city`.

Sources: a path to an OSM file: ``.osm`` XML (``.osm.bz2``/``.osm.gz`` also read) or
``.osm.pbf`` (read with the pip package ``osmium``),
``"bundled:helsinki"`` (the clip of central Helsinki shipped in ``mndt_envs/data``), or
``"sionna:<scene>"`` (a Sionna RT built-in scene; footprints are recovered from the
roofs of its meshes and it has no road graph).

Parsed cities are cached (see :mod:`mndt_envs.twin.cache`) keyed by the file's sha256,
so a second load takes a fraction of a second.
"""

from __future__ import annotations

import bz2
import gzip
import math
import os
import re
import tempfile
import warnings
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from .cache import sha256_file
from .city import HEIGHT_SOURCE_TAG, CityGeometry, GeometryError

if TYPE_CHECKING:
    import networkx as nx
    from shapely.geometry import Polygon

    from ..config import ScenarioConfig

__all__ = [
    "BUNDLED",
    "TYPE_HEIGHTS_M",
    "check_area",
    "LEVEL_HEIGHT_M",
    "CityGeometry",
    "GeometryError",
    "load_city",
    "resolve_osm_source",
    "rooftop_sites",
    "sites_for_area",
]

LEVEL_HEIGHT_M = 3.0  # [m] per building level
DATA_DIR = Path(__file__).resolve().parent.parent / "data"
BUNDLED = {"helsinki": DATA_DIR / "helsinki.osm"}
_LOADER_VERSION = "city-5"  # bump when the parsed output or its cached format changes
_MIN_BUILDING_AREA_M2 = 4.0  # [m^2] smaller footprints are noise


# --------------------------------------------------------------------------- sources


def resolve_osm_source(source: str | os.PathLike[str]) -> Path:
    """The file behind an OSM source string (``bundled:<name>`` or a path).

    Raises:
        GeometryError: unknown bundled name, missing file, a directory or a PBF file.
    """
    s = str(source)
    if s.startswith("bundled:"):
        name = s.split(":", 1)[1]
        if name not in BUNDLED:
            raise GeometryError(f"source = {s!r}: unknown bundled city; available: {', '.join(sorted(BUNDLED))}")
        p = BUNDLED[name]
        if not p.is_file():
            raise GeometryError(f"source = {s!r}: the packaged file {p} is missing (broken installation)")
        return p
    p = Path(s).expanduser()
    if not p.exists():
        raise GeometryError(f"OSM file {str(p)!r} not found")
    if p.is_dir():
        raise GeometryError(f"OSM file {str(p)!r} is a directory, expected an OSM XML file")
    return p


def _pbf_to_xml(p: Path) -> bytes:
    """OSM XML of a PBF file (pyosmium; header bounds kept as ``<bounds>``)."""
    try:
        import osmium
    except ImportError:
        raise GeometryError(
            f"OSM file {str(p)!r} is PBF, which needs the `osmium` package (pip install osmium); "
            f"or convert it to OSM XML (.osm)"
        ) from None
    try:
        reader = osmium.io.Reader(str(p))
        header = reader.header()
        reader.close()
        with tempfile.TemporaryDirectory(prefix="mndt-pbf-") as tmp:
            out = Path(tmp) / "city.osm"
            writer = osmium.SimpleWriter(str(out), header=header)
            try:
                for obj in osmium.FileProcessor(str(p)):
                    writer.add(obj)
            finally:
                writer.close()
            return out.read_bytes()
    except RuntimeError as exc:
        raise GeometryError(f"OSM file {str(p)!r}: not a readable PBF file ({exc})") from None


def source_sha256(p: Path) -> str:
    """sha256 of an OSM file as stored (the cache identity of a city; no decompression or conversion)."""
    return sha256_file(p)


def _read_bytes(p: Path) -> bytes:
    raw = p.read_bytes()
    if not raw.strip():
        raise GeometryError(f"OSM file {str(p)!r} is empty")
    if p.name.endswith(".pbf"):
        return _pbf_to_xml(p)
    try:
        if p.name.endswith(".bz2"):
            raw = bz2.decompress(raw)
        elif p.name.endswith(".gz"):
            raw = gzip.decompress(raw)
    except (OSError, EOFError, ValueError) as exc:
        raise GeometryError(
            f"OSM file {str(p)!r}: cannot decompress ({exc}); the file is truncated or corrupt"
        ) from None
    if not raw.strip():
        raise GeometryError(f"OSM file {str(p)!r} is empty")
    return raw


@dataclass
class _Cleaned:
    buildings_xml: bytes  # building ways/relations and their nodes
    roads_xml: bytes  # highway ways and their nodes
    bounds: tuple[float, float, float, float]  # minlat, minlon, maxlat, maxlon [deg]
    n_nodes: int
    n_ways: int
    dropped: int
    truncated: int


def _parse_and_repair(raw: bytes, where: str) -> _Cleaned:
    """Validate OSM XML and repair ways that reference absent nodes."""
    try:
        root = ET.fromstring(raw)
    except ET.ParseError as exc:
        msg = str(exc)
        head = raw.lstrip()[:200]
        if not head.startswith(b"<"):
            raise GeometryError(f"OSM file {where!r} is not XML ({msg}); expected OSM XML (<osm> ... </osm>)") from None
        if "no element found" in msg or "unclosed token" in msg:
            raise GeometryError(
                f"OSM file {where!r} is truncated ({msg}): the XML ends before </osm>; download or extract it again"
            ) from None
        raise GeometryError(f"OSM file {where!r} is malformed XML ({msg})") from None
    if root.tag != "osm":
        raise GeometryError(f"OSM file {where!r}: root element is <{root.tag}>, expected <osm> (not an OSM XML file)")
    coords: dict[str, tuple[float, float]] = {}
    for n in root.iter("node"):
        try:
            coords[n.attrib["id"]] = (float(n.attrib["lat"]), float(n.attrib["lon"]))
        except (KeyError, ValueError):
            raise GeometryError(f"OSM file {where!r}: node {n.attrib.get('id', '?')} has no valid lat/lon") from None
    if not coords:
        raise GeometryError(f"OSM file {where!r} contains no nodes")
    dropped = truncated = 0
    ways = root.findall("way")
    kept_ways: set[str] = set()
    for w in ways:
        nds = w.findall("nd")
        present = [nd.attrib.get("ref") in coords for nd in nds]
        if all(present):
            if len(nds) >= 2:
                kept_ways.add(w.attrib.get("id", ""))
            continue
        is_area = len(nds) > 2 and nds[0].attrib.get("ref") == nds[-1].attrib.get("ref")
        # longest contiguous run of present nodes
        best, cur, best_end = 0, 0, -1
        for i, ok in enumerate(present):
            cur = cur + 1 if ok else 0
            if cur > best:
                best, best_end = cur, i
        if is_area or best < 2:
            root.remove(w)
            dropped += 1
            continue
        keep = set(range(best_end - best + 1, best_end + 1))
        for i, nd in enumerate(nds):
            if i not in keep:
                w.remove(nd)
        truncated += 1
        kept_ways.add(w.attrib.get("id", ""))
    # relations: remove members that are no longer in the file
    for r in root.findall("relation"):
        for m in r.findall("member"):
            t, ref = m.attrib.get("type"), m.attrib.get("ref")
            if (t == "way" and ref not in kept_ways) or (t == "node" and ref not in coords):
                r.remove(m)
    b = root.find("bounds")
    if b is not None:
        try:
            bounds = (float(b.attrib["minlat"]), float(b.attrib["minlon"]), float(b.attrib["maxlat"]),
                      float(b.attrib["maxlon"]))
        except (KeyError, ValueError):
            raise GeometryError(f"OSM file {where!r}: <bounds> lacks valid minlat/minlon/maxlat/maxlon") from None
    else:
        arr = np.asarray(list(coords.values()))
        bounds = (float(arr[:, 0].min()), float(arr[:, 1].min()), float(arr[:, 0].max()), float(arr[:, 1].max()))
    if not (bounds[2] > bounds[0] and bounds[3] > bounds[1]):
        raise GeometryError(f"OSM file {where!r}: the area {bounds} has zero extent")
    return _Cleaned(_subset(root, "building"), _subset(root, "highway"), bounds, len(coords), len(ways), dropped,
                    truncated)


def _subset(root: ET.Element, key: str) -> bytes:
    """OSM XML with only the ways (and multipolygon relations) tagged ``key`` and the nodes they use."""
    ways: dict[str, ET.Element] = {}
    rels: list[ET.Element] = []
    for r in root.iter("relation"):
        if any(t.attrib.get("k") == key for t in r.iter("tag")):
            rels.append(r)
    member_ways = {m.attrib.get("ref") for r in rels for m in r.iter("member") if m.attrib.get("type") == "way"}
    for w in root.iter("way"):
        wid = w.attrib.get("id", "")
        if wid in member_ways or any(t.attrib.get("k") == key for t in w.iter("tag")):
            ways[wid] = w
    refs = {nd.attrib.get("ref") for w in ways.values() for nd in w.iter("nd")}
    out = ET.Element("osm", version="0.6", generator="mndt-envs")
    out.extend(n for n in root.iter("node") if n.attrib.get("id") in refs)
    out.extend(ways.values())
    out.extend(rels)
    return ET.tostring(out, encoding="utf-8", xml_declaration=True)


_NUM = re.compile(r"[-+]?\d+(?:[.,]\d+)?")


# [m] typical height by ``building`` value where OSM has neither ``height`` nor ``building:levels``
# (levels x 3 m: houses lower than apartment blocks and offices); other values use the configured default
TYPE_HEIGHTS_M: dict[str, float] = {
    "house": 7.0, "detached": 7.0, "semidetached_house": 7.0, "bungalow": 4.0, "terrace": 9.0, "cabin": 4.0,
    "hut": 3.0, "farm": 7.0, "farm_auxiliary": 6.0, "barn": 7.0, "static_caravan": 3.0,
    "garage": 3.0, "garages": 3.0, "shed": 3.0, "carport": 3.0, "kiosk": 3.0, "roof": 4.0, "service": 3.0,
    "toilets": 3.0, "transformer_tower": 6.0, "bunker": 3.0, "container": 3.0,
    "residential": 15.0, "apartments": 18.0, "dormitory": 15.0,
    "commercial": 12.0, "retail": 8.0, "supermarket": 7.0, "office": 21.0, "hotel": 21.0,
    "industrial": 10.0, "warehouse": 9.0, "manufacture": 10.0,
    "school": 12.0, "kindergarten": 6.0, "college": 15.0, "university": 18.0, "hospital": 21.0,
    "public": 15.0, "civic": 15.0, "government": 18.0, "train_station": 12.0, "transportation": 9.0,
    "church": 18.0, "chapel": 8.0, "cathedral": 30.0, "mosque": 15.0, "temple": 12.0, "sports_hall": 12.0,
    "stadium": 20.0, "parking": 12.0,
}


def _height_and_source(tags: dict[str, Any], default_m: float) -> tuple[float, str]:
    """Building height [m] and where it came from: ``height`` tag, levels x 3 m, building type, default."""
    h = tags.get("height")
    if isinstance(h, str) and h.strip():
        m = _NUM.search(h)
        if m:
            v = float(m.group(0).replace(",", "."))
            if "ft" in h or "'" in h:
                v *= 0.3048
            if 0.5 <= v <= 1000.0:
                return v, "height"
    lv = tags.get("building:levels")
    if isinstance(lv, str) and lv.strip():
        m = _NUM.search(lv)
        if m:
            v = float(m.group(0).replace(",", "."))
            if 0.0 < v <= 300.0:
                return LEVEL_HEIGHT_M * v, "levels"
    kind = str(tags.get("building", "")).strip().lower()
    if kind in TYPE_HEIGHTS_M:
        return TYPE_HEIGHTS_M[kind], "type"
    return float(default_m), "default"


def _parse_height(tags: dict[str, Any], default_m: float) -> float:
    """Building height [m] from OSM tags (``height``, else levels × 3 m, else by type, else default)."""
    return _height_and_source(tags, default_m)[0]


def _local_crs(bounds: tuple[float, float, float, float]) -> tuple[str, float, float, float, float]:
    """Transverse Mercator centred on the bounds; returns (crs, x0, y0, width, height) of the bounds [m]."""
    from pyproj import Transformer

    minlat, minlon, maxlat, maxlon = bounds
    lat_c, lon_c = (minlat + maxlat) / 2.0, (minlon + maxlon) / 2.0
    crs = f"+proj=tmerc +lat_0={lat_c:.9f} +lon_0={lon_c:.9f} +k=1 +x_0=0 +y_0=0 +ellps=WGS84 +units=m +no_defs"
    tr = Transformer.from_crs("EPSG:4326", crs, always_xy=True)
    xs, ys = tr.transform([minlon, maxlon, minlon, maxlon, lon_c, lon_c],
                          [minlat, minlat, maxlat, maxlat, minlat, maxlat])
    x0, y0 = min(xs), min(ys)
    return crs, float(x0), float(y0), float(max(xs) - x0), float(max(ys) - y0)


# --------------------------------------------------------------------------- loading


def load_city(
    source: str | os.PathLike[str],
    cfg: ScenarioConfig | None = None,
    *,
    default_height_m: float | None = None,
    use_cache: bool = True,
) -> CityGeometry:
    """Load a city's buildings and roads into the local metric frame.

    Args:
        source: ``"bundled:helsinki"``, a path to an OSM XML file, or ``"sionna:<scene>"``.
        cfg: scenario; ``cfg.channel.default_building_height_m`` is the height of buildings
            without ``height``/``building:levels`` tags.
        default_height_m: overrides the configuration's default height [m].
        use_cache: reuse (and store) the parsed city in the artifact cache.

    Returns:
        The city. An area without buildings gives an empty building list (ground only).

    Raises:
        GeometryError: the file is missing, empty, not OSM XML or truncated.
    """
    if default_height_m is None:
        default_height_m = cfg.channel.default_building_height_m if cfg is not None else 12.0
    s = str(source)
    if not s:
        raise GeometryError("source = '': name an OSM file, 'bundled:helsinki' or 'sionna:<scene>'")
    if s.startswith("sionna:"):
        return _cached(lambda: _load_sionna_city(s), {"sionna": s, "version": _pkg_version("sionna-rt")}, use_cache)
    path = resolve_osm_source(s)
    sha = source_sha256(path)  # of the file as stored: a PBF or a .bz2 is converted only on a cache miss
    dh = float(default_height_m)
    city = _cached(lambda: _load_osm(_read_bytes(path), s, sha, dh), {"sha256": sha, "default_height_m": dh},
                   use_cache, meta={"source": s, "sha256": sha})
    city.source = s  # a hit may have been cached under another name of the same file
    _warn_repairs(city, s)
    return city


def _pkg_version(name: str) -> str:
    import importlib.metadata

    try:
        return importlib.metadata.version(name)
    except importlib.metadata.PackageNotFoundError:
        return "none"


def _cached(make: Any, payload: dict[str, Any], use_cache: bool,
            meta: dict[str, Any] | None = None) -> CityGeometry:
    """``make()`` through the artifact cache (data-only CityGeometry files, sha256-verified).

    ``payload`` keys the entry; ``meta`` (default ``payload``) is stored with it.
    """
    if not use_cache:
        return make()
    from .cache import ArtifactCache, cache_key
    from .citystore import city_from_dir, city_to_files

    cache = ArtifactCache()
    key = cache_key("city", payload, _LOADER_VERSION)
    hit = cache.load("city", key, city_from_dir)  # data only (JSON + WKB npz); unreadable = miss
    if hit is not None:
        return hit
    city = make()
    try:
        cache.put("city", key, city_to_files(city), meta=payload if meta is None else meta)
    except (OSError, ValueError) as exc:  # read-only cache, or an attribute JSON cannot hold: still usable
        warnings.warn(f"could not cache the parsed city ({exc})", stacklevel=3)
    return city


def _warn_repairs(city: CityGeometry, where: str) -> None:
    if city.n_ways_dropped or city.n_ways_truncated:
        warnings.warn(
            f"{where}: {city.n_ways_dropped + city.n_ways_truncated} ways reference nodes outside the extract; "
            f"{city.n_ways_truncated} truncated to their present nodes, {city.n_ways_dropped} dropped",
            stacklevel=3,
        )


def _load_osm(raw: bytes, where: str, sha: str, default_height_m: float) -> CityGeometry:
    import osmnx as ox

    cleaned = _parse_and_repair(raw, where)
    crs, x0, y0, width, height = _local_crs(cleaned.bounds)
    with tempfile.TemporaryDirectory(prefix="mndt-city-") as tmp:
        fb, fr = Path(tmp) / "buildings.osm", Path(tmp) / "roads.osm"
        fb.write_bytes(cleaned.buildings_xml)
        fr.write_bytes(cleaned.roads_xml)
        buildings, heights, tags = _buildings(ox, str(fb), crs, x0, y0, default_height_m)
        roads = _roads(ox, str(fr), crs, x0, y0, width, height)
    from pyproj import Transformer

    lon0, lat0 = Transformer.from_crs(crs, "EPSG:4326", always_xy=True).transform(x0, y0)
    return CityGeometry(
        buildings=buildings, heights=heights, tags=tags, roads=roads, width_m=width, height_m=height,
        origin_lat=float(lat0), origin_lon=float(lon0), crs=crs, source=where,
        n_ways_dropped=cleaned.dropped, n_ways_truncated=cleaned.truncated, source_sha256=sha,
    )


def _buildings(ox: Any, path: str, crs: str, x0: float, y0: float,
               default_height_m: float) -> tuple[list[Polygon], np.ndarray, list[dict[str, str]]]:
    import shapely
    from shapely.geometry import MultiPolygon, Polygon

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            gdf = ox.features_from_xml(path, tags={"building": True})
    except Exception as exc:
        if "InsufficientResponse" in type(exc).__name__:
            return [], np.zeros(0), []
        raise GeometryError(f"osmnx could not read the buildings: {exc}") from exc
    if len(gdf) == 0 or "building" not in gdf.columns:
        return [], np.zeros(0), []
    gdf = gdf[gdf["building"].astype(str) != "no"]
    gdf = gdf[gdf.geometry.geom_type.isin(["Polygon", "MultiPolygon"])]
    if len(gdf) == 0:
        return [], np.zeros(0), []
    gdf = gdf.to_crs(crs)
    keep_cols = [c for c in gdf.columns if c != "geometry" and (c.startswith("building") or c in (
        "height", "min_height", "roof:shape", "name", "amenity"))]
    polys: list[Polygon] = []
    hs: list[float] = []
    tags: list[dict[str, str]] = []
    for geom, row in zip(gdf.geometry.values, gdf[keep_cols].to_dict("records"), strict=True):
        t = {k: str(v) for k, v in row.items() if isinstance(v, str) or (v is not None and not _isnan(v))}
        h, src = _height_and_source(t, default_height_m)
        t[HEIGHT_SOURCE_TAG] = src
        geom = shapely.affinity.translate(geom, -x0, -y0)
        if not geom.is_valid:
            geom = shapely.make_valid(geom)
        parts = list(geom.geoms) if isinstance(geom, (MultiPolygon, shapely.GeometryCollection)) else [geom]
        for g in parts:
            if isinstance(g, Polygon) and g.area >= _MIN_BUILDING_AREA_M2:
                polys.append(shapely.geometry.polygon.orient(g, 1.0))
                hs.append(h)
                tags.append(t)
    return polys, np.asarray(hs, dtype=np.float64), tags


def _isnan(v: Any) -> bool:
    try:
        return bool(math.isnan(v))
    except TypeError:
        return False


def _roads(ox: Any, path: str, crs: str, x0: float, y0: float, width: float, height: float) -> nx.MultiDiGraph:
    """Road graph in the local frame, restricted to the area, largest strongly connected component."""
    import networkx as nx
    from pyproj import Transformer

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            g = ox.graph_from_xml(path, retain_all=True, simplify=False)
    except Exception as exc:  # noqa: BLE001 - osmnx raises InsufficientResponseError when nothing matches
        if "InsufficientResponse" in type(exc).__name__:
            return nx.MultiDiGraph()
        raise GeometryError(f"osmnx could not read the road graph: {exc}") from exc
    if len(g) == 0:
        return nx.MultiDiGraph()
    ids = list(g.nodes)
    lon = np.fromiter((g.nodes[n]["x"] for n in ids), dtype=np.float64, count=len(ids))
    lat = np.fromiter((g.nodes[n]["y"] for n in ids), dtype=np.float64, count=len(ids))
    xs, ys = Transformer.from_crs("EPSG:4326", crs, always_xy=True).transform(lon, lat)
    for n, x, y in zip(ids, np.asarray(xs) - x0, np.asarray(ys) - y0, strict=True):
        d = g.nodes[n]
        d["x"], d["y"] = float(x), float(y)  # [m] local frame
    for n, lo, la in zip(ids, lon, lat, strict=True):
        g.nodes[n]["lon"], g.nodes[n]["lat"] = float(lo), float(la)  # [deg]
    inside = [n for n, d in g.nodes(data=True) if 0.0 <= d["x"] <= width and 0.0 <= d["y"] <= height]
    sub = g.subgraph(inside)
    if len(sub) == 0:
        return nx.MultiDiGraph()
    comp = max(nx.strongly_connected_components(sub), key=len)
    out = nx.MultiDiGraph(g.subgraph(comp))
    out.graph = {"crs": crs, "local_origin_m": (x0, y0), "simplified": False}
    return out


# --------------------------------------------------------------------------- Sionna scenes


def _load_sionna_city(source: str) -> CityGeometry:
    """Footprints of a Sionna RT built-in scene, recovered from its roofs (upward faces above 1 m)."""
    import networkx as nx
    import shapely

    from . import scene as scene_mod

    xml_path = scene_mod.sionna_scene_path(source)
    verts_faces = scene_mod.read_scene_meshes(xml_path)
    all_v = np.concatenate([v for v, _ in verts_faces.values()]) if verts_faces else np.zeros((0, 3))
    if len(all_v) == 0:
        raise GeometryError(f"source = {source!r}: the scene has no meshes")
    mn = all_v.min(axis=0)
    mx = all_v.max(axis=0)
    tris_2d: list[np.ndarray] = []
    tri_z: list[np.ndarray] = []
    for v, f in verts_faces.values():
        if len(f) == 0:
            continue
        t = v[f]  # (n, 3, 3)
        nrm = np.cross(t[:, 1] - t[:, 0], t[:, 2] - t[:, 0])
        ln = np.linalg.norm(nrm, axis=1)
        ok = ln > 1e-9
        up = ok & (np.abs(nrm[:, 2]) > 0.7 * np.where(ok, ln, 1.0)) & (t[:, :, 2].min(axis=1) > 1.0)
        tris_2d.append(t[up][:, :, :2])
        tri_z.append(t[up][:, :, 2].mean(axis=1))
    tri = np.concatenate(tris_2d) if tris_2d else np.zeros((0, 3, 2))
    zs = np.concatenate(tri_z) if tri_z else np.zeros(0)
    polys: list[Polygon] = []
    heights: list[float] = []
    if len(tri):
        tri_polys = shapely.polygons(np.concatenate([tri, tri[:, :1]], axis=1))
        merged = shapely.union_all(shapely.buffer(tri_polys, 0.05, join_style="mitre"))
        parts = list(merged.geoms) if hasattr(merged, "geoms") else [merged]
        tree = shapely.STRtree(tri_polys)
        for p in parts:
            if p.area < _MIN_BUILDING_AREA_M2 or p.geom_type != "Polygon":
                continue
            idx = tree.query(p, predicate="contains")
            h = float(zs[idx].max()) if len(idx) else float(mx[2])
            polys.append(shapely.affinity.translate(shapely.geometry.polygon.orient(p, 1.0), -mn[0], -mn[1]))
            heights.append(h)
    return CityGeometry(
        buildings=polys, heights=np.asarray(heights), tags=[{"building": "yes"} for _ in polys],
        roads=nx.MultiDiGraph(), width_m=float(mx[0] - mn[0]), height_m=float(mx[1] - mn[1]),
        origin_lat=math.nan, origin_lon=math.nan, crs="", source=source,
        scene_offset=(float(mn[0]), float(mn[1])),
    )


# --------------------------------------------------------------------------- area


MAX_EXTENT_M = 50_000.0  # [m] largest city extent the twin accepts (ray tracing a region; the frame's distortion)


def check_area(city: CityGeometry, width_m: float, height_m: float) -> None:
    """Check that the scenario area ``[0, width] x [0, height]`` matches the city's extent.

    The local frame's origin is the lower-left corner of the file's bounds, so the area
    must cover most of the file and lie within it: a file more than twice as wide or tall
    as the area (e.g. a country extract for a 1 km twin, whose cells would all sit in one
    corner) or an area reaching more than 25 % beyond the file (sites and users in a
    void) is refused.

    Raises:
        ConfigError: naming both extents and what to change.
    """
    from ..config import ConfigError

    if city.source.startswith("sionna:"):
        return
    cw, chh = city.width_m, city.height_m
    where = f"channel.source = {city.source!r}"
    if max(cw, chh) > MAX_EXTENT_M:
        raise ConfigError(
            f"{where}: the file's bounds span {cw / 1000:.1f} x {chh / 1000:.1f} km (more than "
            f"{MAX_EXTENT_M / 1000:.0f} km); clip it to the city, e.g. `osmium extract -b minlon,minlat,maxlon,maxlat`"
        )
    if cw > 2.0 * width_m or chh > 2.0 * height_m or width_m > 1.25 * cw or height_m > 1.25 * chh:
        raise ConfigError(
            f"{where}: the file's bounds span {cw:.0f} x {chh:.0f} m but the scenario area is "
            f"width_m x height_m = {width_m:.0f} x {height_m:.0f} m (allowed: the area within 0.5-1.25 times the "
            f"file's extent on each axis); set width_m/height_m to about the file's extent or clip the file"
        )


# --------------------------------------------------------------------------- sites


ROOF_BONUS_PER_M = 2.0  # [m of distance per m of roof height] placement score bonus of taller roofs
ROOF_BONUS_CAP_M = 30.0  # [m] roof height above which a roof scores no better (no landmark preference)
MAST_EDGE_INSET_M = 1.0  # [m] a mast stands this far inside the roof's outline, at a corner
LANDMARK_TYPES = frozenset({"church", "cathedral", "chapel", "mosque", "temple", "synagogue", "shrine", "tower",
                            "transformer_tower", "water_tower", "bell_tower"})


def sites_for_area(width_m: float, height_m: float, isd_m: float) -> int:
    """Macro-site count of an area at a target inter-site distance: area / hexagon area √3/2·ISD², >= 1."""
    return max(1, int(round(width_m * height_m / (math.sqrt(3.0) / 2.0 * isd_m**2))))


def _roof_edge_point(poly: Polygon, target: np.ndarray, inset: float) -> tuple[float, float]:
    """A point on the roof near its outline: the exterior corner nearest ``target``, moved ``inset`` inward."""
    from shapely.geometry import Point
    from shapely.ops import nearest_points

    corners = np.asarray(poly.exterior.coords)[:-1]
    c = corners[int(np.argmin(np.hypot(corners[:, 0] - target[0], corners[:, 1] - target[1])))]
    inner = poly.buffer(-inset)
    if inner.is_empty:
        p = poly.representative_point()
        return float(p.x), float(p.y)
    q = nearest_points(inner, Point(c))[0]
    if not poly.contains(q):
        q = poly.representative_point()
    return float(q.x), float(q.y)


def rooftop_sites(
    city: CityGeometry,
    n_sites: int,
    rng: np.random.Generator,
    *,
    area: tuple[float, float] | None = None,
    min_roof_area_m2: float = 150.0,
) -> tuple[np.ndarray, np.ndarray]:
    """Macro sites on rooftops, spread to cover the area, masts at a roof edge.

    Target points are the centres of ``n_sites`` k-means clusters of a uniform grid over
    the area (initialised from ``rng``); each target takes the best free roof near it,
    scoring distance minus :data:`ROOF_BONUS_PER_M` per metre of roof height, the height
    capped at :data:`ROOF_BONUS_CAP_M` (taller roofs see farther, but a dome or a tower
    is no better than an ordinary tall roof); places of worship and towers are skipped.
    The mast stands at the roof corner nearest the target, :data:`MAST_EDGE_INSET_M`
    inside the outline, so that the roof does not shadow the streets below it (as
    operators mount antennas). Without buildings (ground only) the targets themselves are
    returned with roof height 0, with a warning.

    Args:
        city: the city.
        n_sites: number of sites (>= 1; see :func:`sites_for_area`).
        rng: randomness for the k-means initialisation.
        area: (width, height) [m] of the area to cover (default: the city's extent).
        min_roof_area_m2: smallest roof that can carry a site [m^2].

    Returns:
        ``(xy (n_sites, 2) [m], roof_height (n_sites,) [m])``.
    """
    if n_sites < 1:
        raise GeometryError(f"n_sites = {n_sites}: rooftop placement needs at least one site")
    w, h = area if area is not None else (city.width_m, city.height_m)
    # uniform grid over the area
    step = max(w, h) / 60.0
    gx, gy = np.meshgrid(np.arange(step / 2, w, step), np.arange(step / 2, h, step))
    pts = np.stack([gx.ravel(), gy.ravel()], axis=1)
    centres = pts[rng.choice(len(pts), size=min(n_sites, len(pts)), replace=False)]
    for _ in range(30):  # Lloyd iterations
        d = ((pts[:, None, :] - centres[None, :, :]) ** 2).sum(-1)
        lab = d.argmin(1)
        new = np.array([pts[lab == k].mean(0) if np.any(lab == k) else centres[k] for k in range(len(centres))])
        if np.allclose(new, centres, atol=1e-3):
            break
        centres = new
    cand: list[int] = []
    cand_xy: list[tuple[float, float]] = []
    cand_h: list[float] = []
    for i, (poly, hb) in enumerate(zip(city.buildings, city.heights, strict=True)):
        if poly.area < min_roof_area_m2:
            continue
        if str(city.tags[i].get("building", "")).lower() in LANDMARK_TYPES:
            continue
        p = poly.representative_point() if not poly.contains(poly.centroid) else poly.centroid
        if 0.0 <= p.x <= w and 0.0 <= p.y <= h:
            cand.append(i)
            cand_xy.append((p.x, p.y))
            cand_h.append(float(hb))
    if not cand_xy:
        warnings.warn(
            f"{city.source}: no roof of >= {min_roof_area_m2:.0f} m^2 inside the area; "
            f"{n_sites} sites placed on the ground at coverage points",
            stacklevel=2,
        )
        return centres.astype(np.float64), np.zeros(len(centres))
    cxy = np.asarray(cand_xy)
    ch = np.asarray(cand_h)
    bonus = ROOF_BONUS_PER_M * np.minimum(ch, ROOF_BONUS_CAP_M)
    free = np.ones(len(cxy), dtype=bool)
    out_xy = np.zeros((len(centres), 2))
    out_h = np.zeros(len(centres))
    for k, c in enumerate(centres):
        if not free.any():
            free[:] = True
        dist = np.hypot(cxy[:, 0] - c[0], cxy[:, 1] - c[1])
        score = np.where(free, dist - bonus, np.inf)
        j = int(np.argmin(score))
        free[j] = False
        out_xy[k] = _roof_edge_point(city.buildings[cand[j]], c, MAST_EDGE_INSET_M)
        out_h[k] = ch[j]
    return out_xy, out_h
