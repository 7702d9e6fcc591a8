"""Scene builder: building footprints → closed triangle meshes + ground → Mitsuba XML for Sionna RT.

Each footprint (holes allowed) is extruded from z = 0 to its height into a closed,
outward-oriented triangle mesh: walls along every ring, a roof triangulated by
constrained Delaunay triangulation, and a floor with the roof's triangles reversed.
Buildings are grouped by radio material into one binary PLY per material, plus a
ground rectangle; the XML refers to Sionna's ITU materials (``itu-radio-material``).

Materials: concrete by default; per building tag through ``materials``, a mapping
``"key=value" → ITU material name`` checked in order (e.g.
``{"building:material=glass": "glass", "building=church": "brick"}``); see
:data:`DEFAULT_TAG_MATERIALS`.

Sionna RT's built-in scenes are named ``"sionna:<name>"`` (``"sionna:munich"``).
"""

from __future__ import annotations

import importlib.util
import os
import re
import xml.etree.ElementTree as ET
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from shapely.geometry import Polygon

    from .geometry import CityGeometry

__all__ = [
    "DEFAULT_TAG_MATERIALS",
    "ITU_MATERIALS",
    "SceneError",
    "build_scene",
    "building_material",
    "extrude_polygon",
    "read_ply",
    "read_scene_meshes",
    "sionna_scene_names",
    "sionna_scene_path",
    "write_ply",
]

# ITU-R P.2040 materials known to Sionna RT (sionna/rt/radio_materials/itu.py)
ITU_MATERIALS = (
    "concrete", "brick", "plasterboard", "wood", "glass", "ceiling_board", "chipboard", "plywood", "marble",
    "floorboard", "metal", "very_dry_ground", "medium_dry_ground", "wet_ground",
)
DEFAULT_TAG_MATERIALS: dict[str, str] = {
    "building:material=glass": "glass",
    "building:material=brick": "brick",
    "building:material=wood": "wood",
    "building:material=timber_framing": "wood",
    "building:material=metal": "metal",
    "building:material=steel": "metal",
    "building:material=stone": "marble",
    "building:material=marble": "marble",
    "building:material=concrete": "concrete",
    "building:material=plaster": "concrete",
}
WALL_THICKNESS_M = 0.2  # [m] slab thickness of the ITU materials


class SceneError(ValueError):
    """A scene cannot be built or loaded; the message names the problem."""


# --------------------------------------------------------------------------- meshes


def extrude_polygon(poly: Polygon, height: float, base: float = 0.0) -> tuple[np.ndarray, np.ndarray]:
    """Extrude a footprint into a closed, welded, outward-oriented triangle mesh.

    The mesh is watertight: walls, roof and floor share their vertices, so every edge
    belongs to exactly two faces wound in opposite directions (a 2-manifold). Sionna RT
    finds diffraction wedges through this adjacency (Mitsuba's directed-edge table); a
    mesh whose triangles each own their vertices has no wedge and never diffracts.

    Args:
        poly: footprint in the local frame [m]; holes (courtyards) allowed.
        height: top of the building [m] above ground.
        base: bottom of the building [m].

    Returns:
        ``(vertices (n, 3) float32 [m], faces (m, 3) int32)``; every face is wound
        counter-clockwise seen from outside (right-hand normal points out).
    """
    import shapely
    from shapely.geometry.polygon import orient

    if height <= base:
        raise SceneError(f"building height {height} m must be above its base {base} m")
    poly = orient(shapely.remove_repeated_points(poly, 1e-3), 1.0)  # exterior CCW, holes CW
    rings: list[np.ndarray] = []
    for ring in [poly.exterior, *poly.interiors]:
        xy = np.asarray(ring.coords, dtype=np.float64)[:-1]
        if len(xy) >= 3:
            rings.append(xy)
    if not rings:
        return np.zeros((0, 3), np.float32), np.zeros((0, 3), np.int32)
    xy_all = np.concatenate(rings)  # one footprint vertex per ring corner
    n = len(xy_all)
    # vertex i (bottom) and n + i (top) of footprint corner i
    verts = np.concatenate([np.column_stack([xy_all, np.full(n, base)]),
                            np.column_stack([xy_all, np.full(n, height)])])
    faces: list[np.ndarray] = []
    start = 0
    for xy in rings:
        k = len(xy)
        a = start + np.arange(k)
        b = start + (np.arange(k) + 1) % k
        # for an edge a→b of a CCW exterior (or CW hole), (a0, b0, b1) has the outward normal
        faces.append(np.column_stack([a, b, b + n]))
        faces.append(np.column_stack([a, b + n, a + n]))
        start += k
    # roof and floor: constrained Delaunay triangles of the footprint, mapped onto its corners
    index = {(round(x, 6), round(y, 6)): i for i, (x, y) in enumerate(xy_all.tolist())}
    tris = shapely.constrained_delaunay_triangles(poly)
    tri_xy = np.asarray([np.asarray(t.exterior.coords)[:3] for t in tris.geoms]).reshape(-1, 3, 2)
    if len(tri_xy):
        e1, e2 = tri_xy[:, 1] - tri_xy[:, 0], tri_xy[:, 2] - tri_xy[:, 0]
        cross = e1[:, 0] * e2[:, 1] - e1[:, 1] * e2[:, 0]
        tri_xy = tri_xy[np.abs(cross) > 1e-9]
        cross = cross[np.abs(cross) > 1e-9]
        tri_xy[cross < 0] = tri_xy[cross < 0][:, ::-1]  # CCW seen from above
        extra: list[tuple[float, float]] = []
        idx = np.empty(tri_xy.shape[:2], dtype=np.int64)
        for t, tri in enumerate(tri_xy.tolist()):
            for c, (x, y) in enumerate(tri):
                j = index.get((round(x, 6), round(y, 6)))
                if j is None:  # a point that is no corner (not expected from a CDT): its own vertex
                    j = index[(round(x, 6), round(y, 6))] = n + n + len(extra)
                    extra.append((x, y))
                idx[t, c] = j
        if extra:
            # extra point e: bottom copy at 2n + e, top copy at 2n + m + e
            ex = np.asarray(extra)
            m = len(ex)
            verts = np.concatenate([verts, np.column_stack([ex, np.full(m, base)]),
                                    np.column_stack([ex, np.full(m, height)])])
            bottom, top = idx, np.where(idx < n, idx + n, idx + m)
        else:
            bottom, top = idx, idx + n
        faces.append(top)  # roof, normal +z
        faces.append(bottom[:, ::-1])  # floor, normal -z
    return verts.astype(np.float32), np.concatenate(faces).astype(np.int32)


def write_ply(path: str | os.PathLike[str], vertices: np.ndarray, faces: np.ndarray) -> None:
    """Write a binary little-endian PLY (float x, y, z; uchar-counted int vertex_indices)."""
    v = np.ascontiguousarray(vertices, dtype="<f4")
    f = np.asarray(faces, dtype="<i4")
    header = (
        "ply\nformat binary_little_endian 1.0\n"
        f"element vertex {len(v)}\nproperty float x\nproperty float y\nproperty float z\n"
        f"element face {len(f)}\nproperty list uchar int vertex_indices\nend_header\n"
    ).encode("ascii")
    rec = np.zeros(len(f), dtype=[("n", "u1"), ("i", "<i4", (3,))])
    rec["n"] = 3
    rec["i"] = f
    with open(path, "wb") as fh:
        fh.write(header)
        fh.write(v.tobytes())
        fh.write(rec.tobytes())


_PLY_TYPES = {
    "char": "i1", "int8": "i1", "uchar": "u1", "uint8": "u1", "short": "i2", "int16": "i2", "ushort": "u2",
    "uint16": "u2", "int": "i4", "int32": "i4", "uint": "u4", "uint32": "u4", "float": "f4", "float32": "f4",
    "double": "f8", "float64": "f8",
}


def read_ply(path: str | os.PathLike[str]) -> tuple[np.ndarray, np.ndarray]:
    """Read vertices and triangles of a PLY file (ascii or binary little-endian).

    Returns:
        ``(vertices (n, 3) float64, faces (m, 3) int64)``; polygons are fan-triangulated.
    """
    data = Path(path).read_bytes()
    end = data.find(b"end_header")
    if not data.startswith(b"ply") or end < 0:
        raise SceneError(f"{path}: not a PLY file")
    body_start = data.index(b"\n", end) + 1
    lines = data[:end].decode("ascii", "replace").splitlines()
    fmt = ""
    elements: list[tuple[str, int, list[tuple[str, ...]]]] = []
    for ln in lines:
        p = ln.split()
        if not p:
            continue
        if p[0] == "format":
            fmt = p[1]
        elif p[0] == "element":
            elements.append((p[1], int(p[2]), []))
        elif p[0] == "property" and elements:
            elements[-1][2].append(tuple(p[1:]))
    verts = np.zeros((0, 3))
    faces: list[list[int]] = []
    if fmt == "ascii":
        toks = data[body_start:].split()
        pos = 0
        vl: list[tuple[float, float, float]] = []
        for name, count, props in elements:
            for _ in range(count):
                row: dict[str, object] = {}
                for pr in props:
                    if pr[0] == "list":
                        n = int(toks[pos])
                        row[pr[-1]] = [int(x) for x in toks[pos + 1: pos + 1 + n]]
                        pos += 1 + n
                    else:
                        row[pr[-1]] = float(toks[pos])
                        pos += 1
                if name == "vertex":
                    vl.append((float(row["x"]), float(row["y"]), float(row["z"])))  # type: ignore[arg-type]
                elif name == "face":
                    faces.append(list(row.get("vertex_indices", row.get("vertex_index", []))))  # type: ignore[arg-type,call-overload]
        verts = np.asarray(vl, dtype=np.float64).reshape(-1, 3)
    elif fmt == "binary_little_endian":
        off = body_start
        for name, count, props in elements:
            if all(pr[0] != "list" for pr in props):
                dt = np.dtype([(pr[-1], "<" + _PLY_TYPES[pr[0]]) for pr in props])
                arr = np.frombuffer(data, dtype=dt, count=count, offset=off)
                off += dt.itemsize * count
                if name == "vertex":
                    verts = np.stack([arr["x"], arr["y"], arr["z"]], axis=1).astype(np.float64)
            else:
                if len(props) == 1 and props[0][0] == "list":
                    ct, it = _PLY_TYPES[props[0][1]], _PLY_TYPES[props[0][2]]
                    # fast path: all triangles
                    dt = np.dtype([("n", "<" + ct), ("i", "<" + it, (3,))])
                    fast = np.frombuffer(data, dtype=dt, count=count, offset=off) if off + dt.itemsize * count <= len(
                        data) else None
                    if fast is not None and np.all(fast["n"] == 3):
                        arr = fast
                        faces.extend(arr["i"].tolist())
                        off += dt.itemsize * count
                        continue
                # generic (slow) path
                for _ in range(count):
                    row_i: list[int] = []
                    for pr in props:
                        if pr[0] == "list":
                            ctd, itd = np.dtype("<" + _PLY_TYPES[pr[1]]), np.dtype("<" + _PLY_TYPES[pr[2]])
                            n = int(np.frombuffer(data, ctd, 1, off)[0])
                            off += ctd.itemsize
                            vals = np.frombuffer(data, itd, n, off)
                            off += itd.itemsize * n
                            if pr[-1] in ("vertex_indices", "vertex_index"):
                                row_i = vals.astype(int).tolist()
                        else:
                            off += np.dtype(_PLY_TYPES[pr[0]]).itemsize
                    if name == "face":
                        faces.append(row_i)
    else:
        raise SceneError(f"{path}: PLY format {fmt!r} is not supported (ascii or binary_little_endian)")
    tri: list[tuple[int, int, int]] = []
    for f in faces:
        for k in range(1, len(f) - 1):
            tri.append((f[0], f[k], f[k + 1]))
    return verts, np.asarray(tri, dtype=np.int64).reshape(-1, 3)


# --------------------------------------------------------------------------- materials


def building_material(tags: Mapping[str, str], materials: Mapping[str, str] | None = None,
                      default: str = "concrete") -> str:
    """ITU material of a building from its OSM tags.

    Args:
        tags: the building's OSM tags.
        materials: ``"key=value" → material`` rules, checked in order before
            :data:`DEFAULT_TAG_MATERIALS`; ``"key"`` alone matches any value.
        default: material when no rule matches.
    """
    for rules in (materials or {}, DEFAULT_TAG_MATERIALS):
        for rule, mat in rules.items():
            k, _, v = rule.partition("=")
            if k in tags and (not v or str(tags[k]).strip().lower() == v.lower()):
                return mat
    return default


def _check_material(name: str, where: str) -> str:
    if name not in ITU_MATERIALS:
        raise SceneError(f"{where} = {name!r}: unknown ITU material; allowed: {', '.join(ITU_MATERIALS)}")
    return name


# --------------------------------------------------------------------------- scenes


def build_scene(
    city: CityGeometry,
    out_dir: str | os.PathLike[str],
    *,
    materials: Mapping[str, str] | None = None,
    default_material: str = "concrete",
    ground_material: str = "medium_dry_ground",
    ground_margin_m: float = 100.0,
    scattering_coefficient: float = 0.0,
) -> Path:
    """Write a Mitsuba scene (XML + PLY meshes) of the city that ``sionna.rt.load_scene`` loads.

    Args:
        city: buildings in the local frame.
        out_dir: directory to write ``scene.xml`` and ``meshes/*.ply`` into (created).
        materials: per-tag material rules (see :func:`building_material`).
        default_material: ITU material of buildings without a matching rule.
        ground_material: ITU material of the ground plane.
        ground_margin_m: the ground extends this far beyond the area and the buildings [m].
        scattering_coefficient: diffuse-reflection coefficient S in [0, 1] of the building
            materials (the ground stays specular); 0 disables diffuse reflection.

    Returns:
        Path of ``scene.xml``.
    """
    _check_material(default_material, "default_material")
    _check_material(ground_material, "ground_material")
    for rule, mat in (materials or {}).items():
        _check_material(mat, f"materials[{rule!r}]")
    if not 0.0 <= scattering_coefficient <= 1.0:
        raise SceneError(f"scattering_coefficient = {scattering_coefficient}: allowed values are in [0, 1]")
    out = Path(out_dir)
    (out / "meshes").mkdir(parents=True, exist_ok=True)
    groups: dict[str, tuple[list[np.ndarray], list[np.ndarray], list[int]]] = {}
    for poly, h, tags in zip(city.buildings, city.heights, city.tags, strict=True):
        mat = building_material(tags, materials, default_material)
        v, f = extrude_polygon(poly, float(h))
        g = groups.setdefault(mat, ([], [], [0]))
        g[0].append(v)
        g[1].append(f + g[2][0])
        g[2][0] += len(v)
    # ground: a rectangle covering the area, the buildings and a margin
    xmin, ymin, xmax, ymax = 0.0, 0.0, city.width_m, city.height_m
    if city.buildings:
        import shapely

        b = shapely.total_bounds(city.buildings)
        xmin, ymin, xmax, ymax = min(xmin, b[0]), min(ymin, b[1]), max(xmax, b[2]), max(ymax, b[3])
    m = ground_margin_m
    gv = np.array([[xmin - m, ymin - m, 0], [xmax + m, ymin - m, 0], [xmax + m, ymax + m, 0], [xmin - m, ymax + m, 0]],
                  dtype=np.float32)
    gf = np.array([[0, 1, 2], [0, 2, 3]], dtype=np.int32)  # normal +z
    root = ET.Element("scene", version="2.1.0")
    used = sorted({*groups, ground_material})
    for mat in used:
        b = ET.SubElement(root, "bsdf", type="itu-radio-material", id=f"mat-itu_{mat}")
        ET.SubElement(b, "string", name="type", value=mat)
        ET.SubElement(b, "float", name="thickness", value=f"{WALL_THICKNESS_M}")
        if scattering_coefficient > 0 and mat in groups:
            ET.SubElement(b, "float", name="scattering_coefficient", value=f"{scattering_coefficient}")
    shapes = [("ground", ground_material, gv, gf)]
    for mat, (vs, fs, _) in sorted(groups.items()):
        shapes.append((f"buildings_{mat}", mat, np.concatenate(vs), np.concatenate(fs)))
    for name, mat, v, f in shapes:
        if len(f) == 0:
            continue
        write_ply(out / "meshes" / f"{name}.ply", v, f)
        s = ET.SubElement(root, "shape", type="ply", id=f"mesh-{name}")
        ET.SubElement(s, "string", name="filename", value=f"meshes/{name}.ply")
        ET.SubElement(s, "boolean", name="face_normals", value="true")
        ET.SubElement(s, "ref", id=f"mat-itu_{mat}", name="bsdf")
    ET.indent(root)
    xml = out / "scene.xml"
    ET.ElementTree(root).write(xml, encoding="utf-8", xml_declaration=False)
    return xml


def sionna_scene_names() -> list[str]:
    """Names of the scenes shipped with Sionna RT (without importing it)."""
    base = _sionna_scenes_dir()
    if base is None:
        return []
    return sorted(p.name for p in base.iterdir() if p.is_dir() and (p / f"{p.name}.xml").is_file())


def _sionna_scenes_dir() -> Path | None:
    spec = importlib.util.find_spec("sionna")
    if spec is None or not spec.submodule_search_locations:
        return None
    for loc in spec.submodule_search_locations:
        d = Path(loc) / "rt" / "scenes"
        if d.is_dir():
            return d
    return None


def sionna_scene_path(source: str) -> Path:
    """The XML file of a Sionna built-in scene named ``"sionna:<name>"``."""
    name = source.split(":", 1)[1] if source.startswith("sionna:") else source
    if not re.fullmatch(r"[A-Za-z0-9_]+", name or ""):
        raise SceneError(f"scene = {source!r}: expected 'sionna:<name>'")
    base = _sionna_scenes_dir()
    if base is None:
        raise SceneError(f"scene = {source!r}: sionna-rt is not installed (pip install sionna-rt)")
    p = base / name / f"{name}.xml"
    if not p.is_file():
        raise SceneError(f"scene = {source!r}: unknown Sionna scene; available: {', '.join(sionna_scene_names())}")
    return p


def read_scene_meshes(xml_path: str | os.PathLike[str]) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Vertices and triangles of every PLY shape of a Mitsuba scene XML.

    Returns:
        shape id → ``(vertices (n, 3) [m], faces (m, 3))``.
    """
    xml_path = Path(xml_path)
    root = ET.parse(xml_path).getroot()
    out: dict[str, tuple[np.ndarray, np.ndarray]] = {}
    for s in root.iter("shape"):
        if s.attrib.get("type") != "ply":
            continue
        fn = s.find("string[@name='filename']")
        if fn is None:
            continue
        out[s.attrib.get("id", fn.attrib["value"])] = read_ply(xml_path.parent / fn.attrib["value"])
    return out
