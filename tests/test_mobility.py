"""Road (A*, Krauss, pedestrians) and indoor (social force) mobility."""

from __future__ import annotations

import networkx as nx
import numpy as np
import pytest
import shapely
from shapely.geometry import Polygon, box

from mndt_envs.twin.mobility import (
    IndoorMobility,
    KraussParams,
    MixedMobility,
    RoadMobility,
    krauss_speed,
    make_mobility,
)
from mndt_envs.twin.protocols import MobilityModel


def grid_graph(n: int = 6, spacing: float = 100.0, one_way_row: bool = False) -> nx.MultiDiGraph:
    """n × n street grid, two-way 50 km/h residential streets plus a footway diagonal."""
    g = nx.MultiDiGraph()
    for i in range(n):
        for j in range(n):
            g.add_node(i * n + j, x=i * spacing, y=j * spacing)
    for i in range(n):
        for j in range(n):
            for di, dj in ((1, 0), (0, 1)):
                a, b = i + di, j + dj
                if a < n and b < n:
                    g.add_edge(i * n + j, a * n + b, length=spacing, highway="residential", maxspeed="50")
                    if not (one_way_row and j == 0):
                        g.add_edge(a * n + b, i * n + j, length=spacing, highway="residential", maxspeed="50")
    g.add_edge(0, n + 1, length=spacing * 2**0.5, highway="footway")
    return g


def buildings_for(n: int = 6, spacing: float = 100.0) -> tuple[list[Polygon], list[dict]]:
    polys = [box(i * spacing + 20, j * spacing + 20, i * spacing + 80, j * spacing + 80)
             for i in range(n - 1) for j in range(n - 1)]
    kinds = ["residential", "office", "retail", "yes", "apartments"]
    return polys, [{"building": kinds[k % len(kinds)]} for k in range(len(polys))]


def sorted_vehicle_gaps(m: RoadMobility) -> np.ndarray:
    e, s = m.edge_positions()
    veh = m.is_vehicle & m.travelling
    e, s = e[veh], s[veh]
    o = np.lexsort((-s, e))
    e, s = e[o], s[o]
    same = e[1:] == e[:-1]
    return (s[:-1] - s[1:])[same]


def test_krauss_formula_matches_spec() -> None:
    p = KraussParams()
    v, vl, g = np.array([10.0]), np.array([5.0]), np.array([20.0])
    expect_safe = 5.0 + (20.0 - 5.0 * 1.0) / ((10.0 + 5.0) / (2 * 4.5) + 1.0)
    out = krauss_speed(v, vl, g, np.array([30.0]), 1.0, np.array([0.0]), p)
    assert out[0] == pytest.approx(min(30.0, 10.0 + 2.6, expect_safe))
    # dawdling lowers by eta * sigma * a * dt; never negative
    out = krauss_speed(np.array([0.0]), np.array([0.0]), np.array([0.0]), np.array([10.0]), 1.0, np.array([1.0]), p)
    assert out[0] == 0.0
    # free road: accelerate by a*dt up to v_max
    out = krauss_speed(np.array([9.0]), np.array([0.0]), np.array([np.inf]), np.array([10.0]), 1.0,
                       np.array([0.0]), p)
    assert out[0] == pytest.approx(10.0)


def test_road_mobility_protocol_shapes_and_determinism() -> None:
    g = grid_graph()
    b, t = buildings_for()
    m1 = RoadMobility(g, b, t, vehicle_fraction=0.5)
    assert isinstance(m1, MobilityModel)
    m2 = RoadMobility(g, b, t, vehicle_fraction=0.5)
    for m in (m1, m2):
        m.reset(np.random.default_rng(3), 300)
        rng = np.random.default_rng(4)
        for _ in range(20):
            m.advance(1.0, rng)
    assert m1.positions.shape == (300, 2) and m1.positions.dtype == np.float64
    assert m1.indoor.shape == (300,) and not m1.indoor.any()
    np.testing.assert_array_equal(m1.positions, m2.positions)
    # everyone stays on the road network's bounding box
    assert m1.positions.min() >= -1e-6 and m1.positions.max() <= 500 + 1e-6


def test_astar_routes_are_valid_shortest_paths() -> None:
    g = grid_graph(one_way_row=True)
    m = RoadMobility(g, *buildings_for(), vehicle_fraction=0.5)
    m.reset(np.random.default_rng(0), 200)
    checked = 0
    for u in range(200):
        nodes = m.route_nodes(u)
        if not nodes:
            continue
        checked += 1
        graph = g if m.is_vehicle[u] else g.to_undirected()
        for a, b in zip(nodes[:-1], nodes[1:]):
            assert graph.has_edge(a, b), f"route of user {u} uses a non-edge {a}->{b}"
        if m.is_vehicle[u]:
            for a, b in zip(nodes[:-1], nodes[1:]):
                assert g[a][b][0].get("highway") != "footway"
        length = sum(min(d["length"] for d in graph.get_edge_data(a, b).values()) if graph.is_multigraph()
                     else graph[a][b]["length"] for a, b in zip(nodes[:-1], nodes[1:]))
        best = nx.shortest_path_length(graph if not m.is_vehicle[u] else nx.DiGraph(
            [(a, b, {"length": d["length"]}) for a, b, d in g.edges(data=True) if d.get("highway") != "footway"]),
            nodes[0], nodes[-1], weight="length")
        assert length == pytest.approx(best)
    assert checked > 20


def test_krauss_no_collisions_and_speed_limits() -> None:
    g = grid_graph(n=4)
    m = RoadMobility(g, *buildings_for(4), vehicle_fraction=1.0, dwell_mean_s=(5.0, 5.0, 5.0))
    m.reset(np.random.default_rng(1), 400)  # dense: many vehicles per edge
    rng = np.random.default_rng(2)
    L = m.krauss.length
    vmax = 50 / 3.6 * 1.2 + 1e-9
    moved = 0.0
    for _ in range(60):
        before = m.positions.copy()
        m.advance(1.0, rng)
        moved += np.abs(m.positions - before).sum()
        gaps = sorted_vehicle_gaps(m)
        assert gaps.size == 0 or gaps.min() >= L - 1e-6, f"collision: gap {gaps.min():.3f} m < {L} m"
        sp = m.speeds
        assert sp.min() >= 0.0 and sp.max() <= vmax
        step = np.hypot(*(m.positions - before).T)
        assert step.max() <= vmax * 1.0 + 1e-6  # no teleporting
    assert moved > 0


def test_pedestrian_speeds() -> None:
    m = RoadMobility(grid_graph(), *buildings_for(), vehicle_fraction=0.0)
    m.reset(np.random.default_rng(0), 2000)
    v = m._v_ped
    assert abs(v.mean() - 1.34) < 0.03 and abs(v.std() - 0.26) < 0.03
    rng = np.random.default_rng(1)
    for _ in range(5):
        m.advance(1.0, rng)
    assert m.speeds.max() <= 2.5


def test_road_mobility_rejects_bad_graphs() -> None:
    with pytest.raises(ValueError, match="no nodes or no edges"):
        RoadMobility(nx.MultiDiGraph())
    g = nx.MultiDiGraph()
    g.add_node(0, x=0.0, y=0.0)
    g.add_node(1, x=1.0, y=0.0)
    g.add_edge(0, 1)
    with pytest.raises(ValueError, match="length"):
        RoadMobility(g)
    g2 = nx.MultiDiGraph()
    g2.add_node(0)
    g2.add_node(1, x=1.0, y=0.0)
    g2.add_edge(0, 1, length=1.0)
    with pytest.raises(ValueError, match="coordinate"):
        RoadMobility(g2)


def test_indoor_users_stay_inside() -> None:
    l_shape = Polygon([(0, 0), (30, 0), (30, 10), (10, 10), (10, 30), (0, 30)])
    polys = [l_shape, box(50, 0, 70, 15)]
    m = IndoorMobility(polys, pause_mean_s=2.0)
    assert isinstance(m, MobilityModel)
    m.reset(np.random.default_rng(0), 300)
    rng = np.random.default_rng(1)
    geoms = np.asarray(m.polys, dtype=object)
    start = m.positions.copy()
    for _ in range(60):
        m.advance(1.0, rng)
        assert shapely.contains_xy(geoms[m.building], m.positions[:, 0], m.positions[:, 1]).all()
    assert m.indoor.all()
    assert np.hypot(*(m.positions - start).T).mean() > 1.0  # they do move


def test_indoor_repulsion_separates_users() -> None:
    m = IndoorMobility([box(0, 0, 20, 20)], pause_mean_s=1e9)
    m.reset(np.random.default_rng(0), 2)
    m._xy[:] = [[10.0, 10.0], [10.3, 10.0]]
    m._dest[:] = m._xy  # no attraction
    m._pause[:] = 0.0
    m.advance(1.0, np.random.default_rng(0))
    assert abs(m.positions[1, 0] - m.positions[0, 0]) > 0.3


def test_mixed_and_factory_with_munich(shared_data) -> None:  # noqa: ANN001
    ox = pytest.importorskip("osmnx")
    from mndt_envs.config import make_config

    path = shared_data / "osm" / "munich_tiny.osm"
    if not path.is_file():
        pytest.skip(f"{path} absent")
    g = ox.project_graph(ox.graph_from_xml(path, retain_all=False))
    # shift to a local frame
    xs = np.array([d["x"] for _, d in g.nodes(data=True)])
    ys = np.array([d["y"] for _, d in g.nodes(data=True)])
    for _, d in g.nodes(data=True):
        d["x"] -= xs.min()
        d["y"] -= ys.min()

    class City:
        roads = g
        buildings = [box(10, 10, 40, 30), box(60, 60, 90, 100)]
        tags = [{"building": "house"}, {"building": "office"}]

    cfg = make_config("toy", {"users": {"mobility": "road", "indoor_fraction": 0.25},
                              "channel": {"source": str(path)}})
    mob = make_mobility(cfg, City())
    assert isinstance(mob, MixedMobility)
    mob.reset(np.random.default_rng(0), 40)
    rng = np.random.default_rng(1)
    for _ in range(10):
        mob.advance(1.0, rng)
    assert mob.positions.shape == (40, 2)
    assert mob.indoor.sum() == 10
    assert np.all(np.isfinite(mob.positions))


def test_road_network_built_once_per_graph_and_shared_read_only() -> None:
    from mndt_envs.twin.mobility import road_network

    g = grid_graph(5, 80.0, one_way_row=True)
    a, b = RoadMobility(g), RoadMobility(g, vehicle_fraction=0.2)
    assert a.network is b.network is road_network(g)  # edge table and routing graphs built once
    assert road_network(g, speed_max_mps=5.0) is not a.network  # another speed cap: another table
    n = a.network
    assert n.n_edges == n.edge_u.size == len(n.edge_index) and np.all(n.edge_len > 0)
    # every edge can be walked both ways; a reverse added for walking is never drivable
    for u, v in zip(n.edge_u.tolist(), n.edge_v.tolist()):
        assert (v, u) in n.edge_index
    one_way = [j for j in range(n.n_edges) if n.edge_drive[j]
               and not n.edge_drive[n.edge_index[(int(n.edge_v[j]), int(n.edge_u[j]))]]]
    assert one_way, "the one-way row should leave drivable edges without a drivable reverse"
    rng = np.random.default_rng(0)
    a.reset(rng, 30)
    b.reset(np.random.default_rng(0), 30)
    for _ in range(10):
        a.advance(1.0, rng)
    assert np.isfinite(a.positions).all() and n is road_network(g)
