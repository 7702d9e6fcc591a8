"""Scene builder: closed outward meshes, PLY round trip, Mitsuba XML that Sionna RT loads."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path

import networkx as nx
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from shapely.geometry import Polygon, box

from mndt_envs.twin import backend
from mndt_envs.twin.geometry import CityGeometry
from mndt_envs.twin.scene import (
    SceneError,
    build_scene,
    building_material,
    extrude_polygon,
    read_ply,
    read_scene_meshes,
    sionna_scene_path,
    write_ply,
)


def _city(polys: list[Polygon], heights: list[float], tags: list[dict[str, str]] | None = None) -> CityGeometry:
    return CityGeometry(buildings=polys, heights=np.asarray(heights, dtype=float),
                        tags=tags or [{"building": "yes"} for _ in polys], roads=nx.MultiDiGraph(),
                        width_m=100.0, height_m=100.0, origin_lat=60.0, origin_lon=25.0)


def _check_closed_outward(v: np.ndarray, f: np.ndarray, volume: float) -> None:
    t = v[f].astype(np.float64)
    # divergence theorem: outward faces give +volume
    vol = np.einsum("ij,ij->i", t[:, 0], np.cross(t[:, 1], t[:, 2])).sum() / 6.0
    assert vol == pytest.approx(volume, rel=1e-4)
    # closed: after merging coincident vertices every directed edge has its reverse
    key = {tuple(p): i for i, p in enumerate(np.round(v.astype(np.float64), 4).tolist())}
    idx = np.array([[key[tuple(p)] for p in tri] for tri in np.round(t, 4).tolist()])
    edges = {(a, b) for tri in idx for a, b in ((tri[0], tri[1]), (tri[1], tri[2]), (tri[2], tri[0]))}
    assert all((b, a) in edges for a, b in edges)


def test_extrude_box_is_closed_and_outward() -> None:
    v, f = extrude_polygon(box(0, 0, 10, 20), 15.0)
    assert v.dtype == np.float32 and f.dtype == np.int32
    _check_closed_outward(v, f, 10 * 20 * 15)
    # roof normals point up
    t = v[f]
    n = np.cross(t[:, 1] - t[:, 0], t[:, 2] - t[:, 0])
    top = np.all(t[:, :, 2] == 15.0, axis=1)
    assert top.any() and np.all(n[top, 2] > 0)


def _check_welded(v: np.ndarray, f: np.ndarray) -> None:
    """Watertight by index (no merging): every directed edge once, with its reverse; no duplicate vertices."""
    assert len(np.unique(np.round(v, 4), axis=0)) == len(v)
    directed = [(int(a), int(b)) for tri in f for a, b in ((tri[0], tri[1]), (tri[1], tri[2]), (tri[2], tri[0]))]
    assert len(set(directed)) == len(directed)  # consistent orientation: no edge twice in one direction
    edges = set(directed)
    assert all((b, a) in edges for a, b in edges)  # closed 2-manifold: each edge shared by two faces


def test_extrusion_is_welded_so_edges_are_shared() -> None:
    # a wall quad and the roof must share the roof edge, or Sionna RT finds no diffraction wedge
    for poly in (box(0, 0, 10, 20), box(0, 0, 30, 30).difference(box(10, 10, 20, 20)),
                 Polygon([(0, 0), (20, 0), (20, 5), (5, 5), (5, 20), (0, 20)])):
        v, f = extrude_polygon(poly, 12.0)
        _check_welded(v, f)
        n_corners = len(poly.exterior.coords) - 1 + sum(len(r.coords) - 1 for r in poly.interiors)
        assert len(v) == 2 * n_corners


@settings(max_examples=40, deadline=None)
@given(st.lists(st.tuples(st.floats(-50, 50), st.floats(-50, 50)), min_size=3, max_size=12),
       st.floats(1.0, 80.0))
def test_extrusion_of_random_footprints_is_watertight(pts: list[tuple[float, float]], height: float) -> None:
    import shapely

    poly = shapely.convex_hull(shapely.MultiPoint(pts)).buffer(0)
    if poly.geom_type != "Polygon" or poly.area < 1.0:
        return
    poly = shapely.simplify(poly, 0.01)
    v, f = extrude_polygon(poly, height)
    _check_welded(v, f)
    _check_closed_outward(v, f, poly.area * height)


def test_extrude_with_hole_and_concave() -> None:
    courtyard = box(0, 0, 30, 30).difference(box(10, 10, 20, 20))
    assert len(courtyard.interiors) == 1
    v, f = extrude_polygon(courtyard, 9.0)
    _check_closed_outward(v, f, courtyard.area * 9.0)
    ell = Polygon([(0, 0), (20, 0), (20, 5), (5, 5), (5, 20), (0, 20)])  # concave, given clockwise below
    v, f = extrude_polygon(Polygon(list(ell.exterior.coords)[::-1]), 4.0)
    _check_closed_outward(v, f, ell.area * 4.0)
    with pytest.raises(SceneError, match="above its base"):
        extrude_polygon(box(0, 0, 1, 1), 0.0)


def test_ply_round_trip(tmp_path: Path) -> None:
    v, f = extrude_polygon(box(0, 0, 3, 4), 5.0)
    write_ply(tmp_path / "a.ply", v, f)
    v2, f2 = read_ply(tmp_path / "a.ply")
    np.testing.assert_allclose(v2, v)
    np.testing.assert_array_equal(f2, f)
    (tmp_path / "b.ply").write_text(
        "ply\nformat ascii 1.0\nelement vertex 4\nproperty float x\nproperty float y\nproperty float z\n"
        "element face 1\nproperty list uchar int vertex_indices\nend_header\n0 0 0\n1 0 0\n1 1 0\n0 1 0\n4 0 1 2 3\n"
    )
    v3, f3 = read_ply(tmp_path / "b.ply")
    assert v3.shape == (4, 3) and f3.tolist() == [[0, 1, 2], [0, 2, 3]]
    (tmp_path / "c.ply").write_text("not a ply")
    with pytest.raises(SceneError, match="not a PLY"):
        read_ply(tmp_path / "c.ply")


def test_materials_by_tag() -> None:
    assert building_material({"building": "yes"}) == "concrete"
    assert building_material({"building:material": "Glass"}) == "glass"
    assert building_material({"building": "church"}, {"building=church": "brick"}) == "brick"
    assert building_material({"building": "shed"}, {"building": "wood"}) == "wood"
    assert building_material({}, default="metal") == "metal"


def test_build_scene_files(tmp_path: Path) -> None:
    city = _city([box(10, 10, 30, 40), box(50, 50, 70, 60)], [20.0, 10.0],
                 [{"building": "yes"}, {"building": "yes", "building:material": "glass"}])
    xml = build_scene(city, tmp_path / "s")
    root = ET.parse(xml).getroot()
    mats = {b.find("string").attrib["value"] for b in root.iter("bsdf")}
    assert mats == {"concrete", "glass", "medium_dry_ground"}
    meshes = read_scene_meshes(xml)
    assert set(meshes) == {"mesh-ground", "mesh-buildings_concrete", "mesh-buildings_glass"}
    gv, _ = meshes["mesh-ground"]
    assert gv[:, 0].min() < 0 and gv[:, 0].max() > 100 and np.all(gv[:, 2] == 0)
    with pytest.raises(SceneError, match="unknown ITU material"):
        build_scene(city, tmp_path / "t", materials={"building": "unobtainium"})


def test_scattering_coefficient_on_building_materials_only(tmp_path: Path) -> None:
    city = _city([box(10, 10, 30, 40)], [20.0])
    root = ET.parse(build_scene(city, tmp_path / "s", scattering_coefficient=0.3)).getroot()
    s = {b.find("string").attrib["value"]: b.find("float[@name='scattering_coefficient']") for b in root.iter("bsdf")}
    assert s["concrete"] is not None and float(s["concrete"].attrib["value"]) == pytest.approx(0.3)
    assert s["medium_dry_ground"] is None  # the ground stays specular
    root = ET.parse(build_scene(city, tmp_path / "t")).getroot()
    assert root.find(".//float[@name='scattering_coefficient']") is None  # 0 = off, Sionna's default
    with pytest.raises(SceneError, match=r"scattering_coefficient = 1.5: allowed values are in \[0, 1\]"):
        build_scene(city, tmp_path / "u", scattering_coefficient=1.5)


def test_ground_only_scene(tmp_path: Path) -> None:
    xml = build_scene(_city([], []), tmp_path / "g")
    assert set(read_scene_meshes(xml)) == {"mesh-ground"}


def test_sionna_scene_names() -> None:
    p = sionna_scene_path("sionna:munich")
    assert p.name == "munich.xml" and p.is_file()
    with pytest.raises(SceneError, match="unknown Sionna scene"):
        sionna_scene_path("sionna:atlantis")
    with pytest.raises(SceneError, match="expected 'sionna:<name>'"):
        sionna_scene_path("sionna:../etc")


def test_sionna_loads_built_scene(tmp_path: Path) -> None:
    if not backend.raytracing_available(warn=False):
        pytest.skip(f"Sionna RT unavailable here: {backend.describe_backends()['reason']}")
    from sionna.rt import load_scene

    city = _city([box(10, 10, 30, 40), box(40, 40, 60, 60).difference(box(45, 45, 55, 55))], [20.0, 10.0])
    scene = load_scene(str(build_scene(city, tmp_path / "s")), merge_shapes=False)
    names = set(scene.objects)
    assert {"ground", "buildings_concrete"} <= names
    assert scene.objects["buildings_concrete"].radio_material.name == "itu_concrete"
