"""Road and indoor mobility of the twin's users (paper 002 §III.A, SPEC §1 and §7).

* :class:`RoadMobility`: outdoor users on the road graph. Each user has three anchor places
  (home, work, other) taken from the city's buildings (by their OSM ``building`` tag; the nearest
  graph node is the entrance) and an origin–destination schedule: a Markov chain over
  home/work/other with exponential dwell times. Trips follow an A* route
  (:func:`networkx.astar_path`, weight = edge ``length``, heuristic = straight-line distance).
  Vehicles move by the Krauss car-following model (SUMO's defaults); leaders are the vehicles
  ahead on the same edge. Pedestrians walk at a speed drawn from N(1.34, 0.26) m/s and use every
  edge in both directions; vehicles only use drivable edges in their direction.
* :class:`IndoorMobility`: users inside buildings under a simple social force: attraction to a
  destination point in the building, exponential repulsion from the building's walls and from
  other users in the same building. A step that would leave the polygon is rejected.
* :class:`MixedMobility`: outdoor + indoor users in one :class:`~mndt_envs.twin.protocols.MobilityModel`.
* :func:`make_mobility`: the factory for ``users.mobility = "road"``.

Everything per step is vectorised over users (no Python loop over users; only the few users that
start a new trip in a step look up their route, from a per-instance route cache).

Coordinates: the local metric frame of :mod:`mndt_envs.twin.protocols` (x east, y north, metres).
Edges are followed as straight segments between their end nodes, parameterised by the edge's
``length`` attribute (curved OSM geometries are not traced).
"""

from __future__ import annotations

import math
import weakref
from dataclasses import dataclass
from typing import Any

import numpy as np

from .defaults import StoredPositions

__all__ = [
    "KraussParams",
    "krauss_speed",
    "RoadMobility",
    "RoadNetwork",
    "road_network",
    "IndoorMobility",
    "MixedMobility",
    "make_mobility",
    "TidalHotspotMobility",
    "HOME_TAGS",
    "WORK_TAGS",
]

# OSM building=* values that make a building a home or a workplace; everything else is "other".
HOME_TAGS = frozenset({
    "residential", "apartments", "house", "detached", "terrace", "dormitory", "semidetached_house", "bungalow",
    "houseboat", "static_caravan", "cabin", "farm",
})
WORK_TAGS = frozenset({
    "commercial", "office", "retail", "industrial", "warehouse", "supermarket", "university", "school", "college",
    "hospital", "government", "public", "civic", "kindergarten", "manufacture", "hotel", "train_station",
    "transportation", "bank",
})
# highway=* values that cars may not use
NON_DRIVABLE = frozenset({
    "footway", "pedestrian", "path", "steps", "cycleway", "bridleway", "corridor", "elevator", "escalator",
    "platform", "track", "proposed", "construction", "abandoned", "bus_guideway", "raceway", "via_ferrata",
})
HOME, WORK, OTHER = 0, 1, 2
# next activity given the current one (rows: home, work, other)
ACTIVITY_CHAIN = np.array([[0.0, 0.6, 0.4], [0.5, 0.0, 0.5], [0.7, 0.3, 0.0]])


@dataclass(frozen=True)
class KraussParams:
    """Krauss car-following parameters (SPEC §7; SUMO's defaults).

    Attributes:
        accel: maximum acceleration a [m/s²].
        decel: maximum deceleration b [m/s²].
        tau: driver reaction time τ [s].
        sigma: driver imperfection σ in [0, 1].
        length: vehicle length + minimum gap [m] (SUMO: 5 m + 2.5 m).
    """

    accel: float = 2.6
    decel: float = 4.5
    tau: float = 1.0
    sigma: float = 0.5
    length: float = 7.5


def krauss_speed(v: np.ndarray, v_leader: np.ndarray, gap: np.ndarray, v_max: np.ndarray, dt: float,
                 eta: np.ndarray, p: KraussParams) -> np.ndarray:
    """One Krauss update (Krauß et al. 1997), vectorised.

    ``v_safe = v_l + (g − v_l τ) / ((v + v_l)/(2b) + τ)``; ``v_des = min(v_max, v + aΔt, v_safe)``;
    ``v' = max(0, v_des − η σ a Δt)``.

    Args:
        v: (n,) current speeds [m/s].
        v_leader: (n,) leader speeds [m/s] (any value where ``gap`` is inf).
        gap: (n,) bumper-to-bumper gap to the leader minus the minimum gap [m]; ``inf`` = free road.
        v_max: (n,) desired maximum speeds [m/s].
        dt: step [s].
        eta: (n,) U(0, 1) draws for the dawdling.
        p: model parameters.

    Returns:
        (n,) new speeds [m/s].
    """
    free = ~np.isfinite(gap)
    g = np.where(free, 0.0, np.maximum(gap, 0.0))
    vl = np.where(free, 0.0, v_leader)
    v_safe = vl + (g - vl * p.tau) / ((v + vl) / (2.0 * p.decel) + p.tau)
    v_safe = np.where(free, np.inf, v_safe)
    v_des = np.minimum(np.minimum(v_max, v + p.accel * dt), v_safe)
    return np.maximum(0.0, v_des - eta * p.sigma * p.accel * dt)


def _parse_maxspeed(val: Any) -> float:
    """OSM ``maxspeed`` → m/s (NaN if missing/unparsable); lists take the minimum."""
    if val is None:
        return math.nan
    if isinstance(val, (list, tuple)):
        vals = [_parse_maxspeed(v) for v in val]
        vals = [v for v in vals if math.isfinite(v)]
        return min(vals) if vals else math.nan
    s = str(val).strip().lower()
    try:
        if s.endswith("mph"):
            return float(s[:-3].strip()) * 0.44704
        return float(s.split()[0]) / 3.6
    except (ValueError, IndexError):
        return math.nan


def _highway_of(d: dict) -> set[str]:
    h = d.get("highway", "")
    return {str(x) for x in h} if isinstance(h, (list, tuple)) else {str(h)}


def _random_points_in(polys: list, idx: np.ndarray, rng: np.random.Generator, max_tries: int = 50) -> np.ndarray:
    """Uniform random points inside ``polys[idx[i]]`` (rejection sampling in the bounding boxes)."""
    import shapely

    idx = np.asarray(idx, dtype=np.int64)
    out = np.empty((idx.size, 2))
    if idx.size == 0:
        return out
    geoms = np.asarray(polys, dtype=object)
    bounds = shapely.bounds(geoms)  # (nb, 4)
    todo = np.arange(idx.size)
    for _ in range(max_tries):
        b = bounds[idx[todo]]
        x = rng.uniform(b[:, 0], b[:, 2])
        y = rng.uniform(b[:, 1], b[:, 3])
        ok = shapely.contains_xy(geoms[idx[todo]], x, y)
        out[todo[ok], 0], out[todo[ok], 1] = x[ok], y[ok]
        todo = todo[~ok]
        if todo.size == 0:
            return out
    # thin / odd polygons: a representative point is always inside
    rp = shapely.point_on_surface(geoms[idx[todo]])
    out[todo, 0], out[todo, 1] = shapely.get_x(rp), shapely.get_y(rp)
    return out


# ============================================================================================
# road mobility
# ============================================================================================
@dataclass
class RoadNetwork:
    """The edge table and routing graphs of one road graph (read-only once built; shared by mobility models).

    One row per directed edge; walking adds the reverse direction of one-way edges (not drivable).

    Attributes:
        node_index: graph node -> row.
        node_xy: (n_nodes, 2) [m] node positions.
        edge_index: (row u, row v) -> edge id.
        edge_u, edge_v: (n_edges,) int end nodes.
        edge_len: (n_edges,) [m] lengths.
        edge_vmax: (n_edges,) [m/s] speed limits (``maxspeed``, else the speed cap; at most 40).
        edge_drive: (n_edges,) bool drivable.
        graphs: 0 -> undirected walking graph, 1 -> directed driving graph (integer nodes, weight ``length``).
        mode_nodes: 0/1 -> (k,) nodes of the largest (strongly) connected part of each mode's graph.
    """

    node_index: dict[Any, int]
    node_xy: np.ndarray
    edge_index: dict[tuple[int, int], int]
    edge_u: np.ndarray
    edge_v: np.ndarray
    edge_len: np.ndarray
    edge_vmax: np.ndarray
    edge_drive: np.ndarray
    graphs: dict[int, Any]
    mode_nodes: dict[int, np.ndarray]

    @property
    def n_edges(self) -> int:
        """Number of directed edges."""
        return int(self.edge_u.size)


_NETWORKS: weakref.WeakKeyDictionary[Any, dict[float, RoadNetwork]] = weakref.WeakKeyDictionary()


def road_network(graph: Any, speed_max_mps: float = 13.9) -> RoadNetwork:
    """The :class:`RoadNetwork` of ``graph`` (built once per graph object and speed cap, then shared).

    Raises:
        ValueError: nodes without ``x``/``y``, edges without a positive ``length``, no connected part.
    """
    try:
        per_graph = _NETWORKS.setdefault(graph, {})
    except TypeError:  # not weak-referenceable: no sharing
        per_graph = {}
    net = per_graph.get(float(speed_max_mps))
    if net is None:
        net = per_graph[float(speed_max_mps)] = _build_network(graph, speed_max_mps)
    return net


def _edge_rows(graph: Any, node_index: dict[Any, int]) -> tuple[dict[tuple[int, int], int], list[list[Any]]]:
    """Directed edges as rows [u, v, length, vmax, drivable]; parallel edges keep the shortest."""
    edge_index: dict[tuple[int, int], int] = {}
    rows: list[list[Any]] = []
    for u, v, _k, d in graph.edges(keys=True, data=True):
        length = d.get("length")
        if length is None or not np.isfinite(float(length)) or float(length) < 0:
            raise ValueError(f"RoadMobility: edge ({u}, {v}) has no valid 'length' attribute ({length!r})")
        iu, iv = node_index[u], node_index[v]
        length = max(float(length), 1e-3)
        drive = not (_highway_of(d) & NON_DRIVABLE)
        key = (iu, iv)
        if key in edge_index:  # parallel edges: keep the shortest (A* sees the same)
            row = rows[edge_index[key]]
            if length < row[2]:
                row[2], row[3] = length, _parse_maxspeed(d.get("maxspeed"))
            row[4] = row[4] or drive
            continue
        edge_index[key] = len(rows)
        rows.append([iu, iv, length, _parse_maxspeed(d.get("maxspeed")), drive])
    for j in range(len(rows)):  # reverse direction for pedestrians
        iu, iv, length, vmax, _ = rows[j]
        if (iv, iu) not in edge_index:
            edge_index[(iv, iu)] = len(rows)
            rows.append([iv, iu, length, vmax, False])
    return edge_index, rows


def _build_network(graph: Any, speed_max_mps: float) -> RoadNetwork:
    import networkx as nx

    nodes = list(graph.nodes)
    node_index = {n: i for i, n in enumerate(nodes)}
    try:
        node_xy = np.array([[float(graph.nodes[n]["x"]), float(graph.nodes[n]["y"])] for n in nodes])
    except KeyError as exc:
        raise ValueError(f"RoadMobility: graph node without coordinate attribute {exc}") from None
    edge_index, rows = _edge_rows(graph, node_index)
    edge_u = np.array([r[0] for r in rows], dtype=np.int64)
    edge_v = np.array([r[1] for r in rows], dtype=np.int64)
    edge_len = np.array([r[2] for r in rows])  # [m]
    vmax = np.array([r[3] for r in rows])
    edge_vmax = np.where(np.isfinite(vmax), np.minimum(vmax, 40.0), float(speed_max_mps))  # [m/s]
    edge_drive = np.array([r[4] for r in rows], dtype=bool)
    g_walk, g_drive = nx.Graph(), nx.DiGraph()  # integer node ids, weight = length
    for j in range(edge_u.size):
        u, v, w = int(edge_u[j]), int(edge_v[j]), float(edge_len[j])
        if not g_walk.has_edge(u, v) or g_walk[u][v]["length"] > w:
            g_walk.add_edge(u, v, length=w)
        if edge_drive[j]:
            g_drive.add_edge(u, v, length=w)
    # nodes usable by each mode: largest (strongly) connected component
    walk_nodes = max(nx.connected_components(g_walk), key=len) if g_walk.number_of_nodes() else set()
    drive_nodes = max(nx.strongly_connected_components(g_drive), key=len) if g_drive.number_of_nodes() else set()
    if len(drive_nodes) < 2:
        drive_nodes = set()
    mode_nodes = {0: np.array(sorted(walk_nodes), dtype=np.int64), 1: np.array(sorted(drive_nodes), dtype=np.int64)}
    if mode_nodes[0].size < 2:
        raise ValueError("RoadMobility: the road graph has no connected part with at least 2 nodes")
    return RoadNetwork(node_index=node_index, node_xy=node_xy, edge_index=edge_index, edge_u=edge_u, edge_v=edge_v,
                       edge_len=edge_len, edge_vmax=edge_vmax, edge_drive=edge_drive,
                       graphs={0: g_walk, 1: g_drive}, mode_nodes=mode_nodes)


class RoadMobility:
    """Outdoor users on a road graph: OD schedules, A* routes, Krauss vehicles, pedestrians.

    Implements :class:`~mndt_envs.twin.protocols.MobilityModel`.

    Args:
        graph: ``networkx.MultiDiGraph``; node attributes ``x``, ``y`` [m] in the local frame; edge attribute
            ``length`` [m]; optional ``highway`` (non-drivable types are walk-only) and ``maxspeed`` (km/h).
        buildings: shapely Polygons in the same frame (home/work/other anchors); None or empty = random nodes.
        tags: per-building OSM tag dicts (``building`` decides home/work/other); None = all "other".
        vehicle_fraction: share of users that drive [0, 1].
        speed_max_mps: cap of vehicles' desired speed where an edge has no ``maxspeed`` [m/s].
        krauss: car-following parameters.
        dwell_mean_s: mean dwell time at (home, work, other) [s] (exponential). Compressed versus real life so
            that second-scale episodes see trips; raise them for realistic daily schedules.
        max_anchors: at most this many distinct anchor nodes per category (bounds the route cache).
        pedestrian_speed: (mean, std) of walking speeds [m/s] (SPEC §7: N(1.34, 0.26)), clipped to [0.5, 2.5].

    Raises:
        ValueError: graph without nodes/edges, nodes without ``x``/``y``, edges without a positive ``length``.
    """

    def __init__(
        self,
        graph: Any,
        buildings: list | None = None,
        tags: list[dict] | None = None,
        *,
        vehicle_fraction: float = 0.5,
        speed_max_mps: float = 13.9,
        krauss: KraussParams | None = None,
        dwell_mean_s: tuple[float, float, float] = (600.0, 600.0, 300.0),
        max_anchors: int = 16,
        pedestrian_speed: tuple[float, float] = (1.34, 0.26),
    ) -> None:
        if graph is None or graph.number_of_nodes() == 0 or graph.number_of_edges() == 0:
            raise ValueError("RoadMobility: the road graph has no nodes or no edges")
        if not 0.0 <= vehicle_fraction <= 1.0:
            raise ValueError(f"RoadMobility: vehicle_fraction = {vehicle_fraction!r}, allowed [0, 1]")
        self.krauss = krauss or KraussParams()
        self.vehicle_fraction = float(vehicle_fraction)
        self.dwell_mean_s = np.asarray(dwell_mean_s, dtype=np.float64)
        self.ped_speed = pedestrian_speed
        self.max_anchors = int(max_anchors)
        net = road_network(graph, speed_max_mps)  # edge table and routing graphs, shared per graph (read-only)
        self.network = net
        self._node_index, self.node_xy, self._edge_index = net.node_index, net.node_xy, net.edge_index
        self.edge_u, self.edge_v, self.edge_len = net.edge_u, net.edge_v, net.edge_len
        self.edge_vmax, self.edge_drive, self.n_edges = net.edge_vmax, net.edge_drive, net.n_edges
        self._g, self._mode_nodes = net.graphs, net.mode_nodes
        if self._mode_nodes[1].size == 0 and self.vehicle_fraction > 0:
            self.vehicle_fraction = 0.0  # no drivable network: everyone walks
        self._anchor_cands = self._anchor_candidates(buildings, tags)

        # route cache: (mode, origin, destination) -> route id; routes stored as edge ids in one bank
        self._route_ids: dict[tuple[int, int, int], int] = {}
        self._bank: list[np.ndarray] = []
        self._bank_flat = np.zeros(0, dtype=np.int64)
        self._bank_off = np.zeros(0, dtype=np.int64)
        self._bank_len = np.zeros(0, dtype=np.int64)
        self._bank_total = np.zeros(0)  # [m] route lengths
        self._n = 0
        self._xy = np.zeros((0, 2))

    def _anchor_candidates(self, buildings: list | None, tags: list[dict] | None,
                           ) -> dict[tuple[int, int], np.ndarray]:
        """(mode, category) -> candidate anchor nodes: the nearest node of each mode to the buildings."""
        from scipy.spatial import cKDTree

        out: dict[tuple[int, int], np.ndarray] = {}
        centroids, cats = self._building_anchors(buildings, tags)
        for mode in (0, 1):
            mn = self._mode_nodes[mode]
            if mn.size == 0:
                continue
            tree = cKDTree(self.node_xy[mn])
            for cat in (HOME, WORK, OTHER):
                if centroids is not None and np.any(cats == cat):
                    _, nn = tree.query(centroids[cats == cat])
                    cand = np.unique(mn[np.atleast_1d(nn)])
                elif centroids is not None and centroids.shape[0]:
                    _, nn = tree.query(centroids)
                    cand = np.unique(mn[np.atleast_1d(nn)])
                else:
                    cand = mn
                out[(mode, cat)] = cand
        return out

    # ---------------------------------------------------------------------------------------
    @staticmethod
    def _building_anchors(buildings: list | None, tags: list[dict] | None) -> tuple[np.ndarray | None, np.ndarray]:
        if not buildings:
            return None, np.zeros(0, dtype=np.int64)
        import shapely

        geoms = np.asarray(buildings, dtype=object)
        c = shapely.centroid(geoms)
        centroids = np.stack([shapely.get_x(c), shapely.get_y(c)], axis=1)
        cats = np.full(len(buildings), OTHER, dtype=np.int64)
        if tags is not None:
            if len(tags) != len(buildings):
                raise ValueError(f"RoadMobility: {len(tags)} tag dicts for {len(buildings)} buildings")
            for i, t in enumerate(tags):
                b = str((t or {}).get("building", "")).lower()
                cats[i] = HOME if b in HOME_TAGS else WORK if b in WORK_TAGS else OTHER
        ok = np.all(np.isfinite(centroids), axis=1)
        return centroids[ok], cats[ok]

    def _route(self, mode: int, o: int, d: int) -> int:
        """Route id of the A* path ``o → d`` for ``mode`` (cached); -1 if there is none."""
        import networkx as nx

        key = (mode, o, d)
        rid = self._route_ids.get(key)
        if rid is not None:
            return rid
        g = self._g[mode]
        xy = self.node_xy

        def h(a: int, b: int) -> float:  # straight-line distance [m]: admissible for length weights
            return float(math.hypot(xy[a, 0] - xy[b, 0], xy[a, 1] - xy[b, 1]))

        try:
            path = nx.astar_path(g, o, d, heuristic=h, weight="length")
        except (nx.NetworkXNoPath, nx.NodeNotFound):
            self._route_ids[key] = -1
            return -1
        edges = np.array([self._edge_index[(a, b)] for a, b in zip(path[:-1], path[1:], strict=True)],
                         dtype=np.int64)
        if mode == 1:  # the drive routing graph only has drivable directed edges; map to one of them
            edges = np.array([self._drive_edge(a, b) for a, b in zip(path[:-1], path[1:], strict=True)],
                             dtype=np.int64)
        rid = len(self._bank)
        self._bank.append(edges)
        self._bank_flat = np.concatenate([self._bank_flat, edges])
        self._bank_off = np.append(self._bank_off, self._bank_flat.size - edges.size)
        self._bank_len = np.append(self._bank_len, edges.size)
        self._bank_total = np.append(self._bank_total, self.edge_len[edges].sum())
        self._route_ids[key] = rid
        return rid

    def _drive_edge(self, a: int, b: int) -> int:
        j = self._edge_index[(a, b)]
        if not self.edge_drive[j]:
            raise RuntimeError(f"RoadMobility: drive route uses non-drivable edge {a}->{b}")  # pragma: no cover
        return j

    def route_nodes(self, user: int) -> list[int]:
        """Graph node indices of user ``user``'s current route (empty when dwelling)."""
        if self._state[user] != 1:
            return []
        r = self._rid[user]
        edges = self._bank_flat[self._bank_off[r]: self._bank_off[r] + self._bank_len[r]]
        return [int(self.edge_u[edges[0]])] + [int(x) for x in self.edge_v[edges]]

    # ---------------------------------------------------------------------------------------
    def reset(self, rng: np.random.Generator, n_users: int) -> None:
        """Draw anchors, speeds and initial states of ``n_users`` users."""
        n = int(n_users)
        if n < 0:
            raise ValueError(f"RoadMobility.reset: n_users = {n_users!r}, expected >= 0")
        self._n = n
        veh = rng.random(n) < self.vehicle_fraction
        self._mode = veh.astype(np.int64)  # 1 vehicle, 0 pedestrian
        self._anchors = np.zeros((n, 3), dtype=np.int64)  # node index of home, work, other
        for mode in (0, 1):
            sel = np.flatnonzero(self._mode == mode)
            if sel.size == 0:
                continue
            for cat in (HOME, WORK, OTHER):
                cand = self._anchor_cands[(mode, cat)]
                if cand.size > self.max_anchors:  # fixed per-instance subset so the route cache stays bounded
                    cand = cand[np.linspace(0, cand.size - 1, self.max_anchors).astype(np.int64)]
                self._anchors[sel, cat] = cand[rng.integers(0, cand.size, size=sel.size)]
        ps = np.clip(rng.normal(self.ped_speed[0], self.ped_speed[1], size=n), 0.5, 2.5)
        self._v_ped = ps  # [m/s] walking speed
        self._v_des_factor = np.clip(rng.normal(1.0, 0.1, size=n), 0.8, 1.2)  # drivers' speed factor (SUMO speedFactor)
        self._activity = rng.choice(3, size=n, p=[0.5, 0.3, 0.2])
        self._state = np.zeros(n, dtype=np.int64)  # 0 dwelling, 1 travelling
        self._dwell = rng.exponential(self.dwell_mean_s[self._activity])  # [s] remaining dwell
        self._rid = np.full(n, -1, dtype=np.int64)
        self._ridx = np.zeros(n, dtype=np.int64)  # index of the current edge within the route
        self._s = np.zeros(n)  # [m] position along the current edge
        self._v = np.zeros(n)  # [m/s]
        self._dest = self._activity.copy()
        self._xy = self.node_xy[self._anchors[np.arange(n), self._activity]].copy()
        # a share of users starts mid-trip: mean trip time ~ 1 km / speed
        trip_s = np.where(veh, 1000.0 / 8.0, 1000.0 / 1.34)
        p_trip = trip_s / (trip_s + self.dwell_mean_s[self._activity])
        start = np.flatnonzero(rng.random(n) < p_trip)
        self._start_trips(start, rng, mid_trip=True)
        # random mid-trip placement may overlap vehicles: keep the front ones, park the rest at their origin
        veh, e, _ = self.vehicle_order()
        if veh.size:
            s = self._clamp_platoons(veh, e, self._s[veh])
            bad = s < 0.0
            self._s[veh] = np.maximum(s, 0.0)
            park = veh[bad]
            self._state[park] = 0
            self._v[park] = 0.0
            self._dwell[park] = rng.exponential(30.0, size=park.size)
            self._xy[park] = self.node_xy[self._anchors[park, self._activity[park]]]
            self._update_xy(veh[~bad])

    def _start_trips(self, users: np.ndarray, rng: np.random.Generator, mid_trip: bool = False) -> None:
        """Pick the next activity of ``users`` and put them on the A* route to it."""
        if users.size == 0:
            return
        cur = self._activity[users]
        u01 = rng.random(users.size)
        cum = np.cumsum(ACTIVITY_CHAIN[cur], axis=1)
        nxt = (u01[:, None] > cum).sum(axis=1).clip(0, 2)
        o = self._anchors[users, cur]
        d = self._anchors[users, nxt]
        modes = self._mode[users]
        rids = np.array([self._route(int(m), int(a), int(b)) if a != b else -1
                         for m, a, b in zip(modes, o, d, strict=True)], dtype=np.int64)
        ok = rids >= 0
        # no route (or same node): stay and dwell again at the new activity
        bad = users[~ok]
        self._activity[bad] = nxt[~ok]
        self._dwell[bad] = rng.exponential(self.dwell_mean_s[nxt[~ok]])
        self._state[bad] = 0
        us, r = users[ok], rids[ok]
        if us.size == 0:
            return
        self._state[us] = 1
        self._rid[us] = r
        self._dest[us] = nxt[ok]
        self._ridx[us] = 0
        self._s[us] = 0.0
        self._v[us] = 0.0
        if mid_trip:  # random point along the route
            frac = rng.random(us.size) * self._bank_total[r]
            self._ridx[us], self._s[us] = self._locate(r, frac)
            veh = self._mode[us] == 1
            e = self._edge_of(us)
            self._v[us[veh]] = 0.5 * self.edge_vmax[e[veh]]
        self._update_xy(us)

    def _locate(self, rids: np.ndarray, dist: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Edge index within route and offset for a distance along each route (small loop over edges)."""
        idx = np.zeros(rids.size, dtype=np.int64)
        rem = dist.copy()
        for _ in range(int(self._bank_len[rids].max(initial=1))):
            e = self._bank_flat[self._bank_off[rids] + idx]
            more = (rem > self.edge_len[e]) & (idx < self._bank_len[rids] - 1)
            if not more.any():
                break
            rem[more] -= self.edge_len[e[more]]
            idx[more] += 1
        e = self._bank_flat[self._bank_off[rids] + idx]
        return idx, np.minimum(rem, self.edge_len[e])

    def _edge_of(self, users: np.ndarray) -> np.ndarray:
        return self._bank_flat[self._bank_off[self._rid[users]] + self._ridx[users]]

    def _update_xy(self, users: np.ndarray) -> None:
        e = self._edge_of(users)
        f = (self._s[users] / self.edge_len[e])[:, None]
        self._xy[users] = self.node_xy[self.edge_u[e]] * (1.0 - f) + self.node_xy[self.edge_v[e]] * f

    # ---------------------------------------------------------------------------------------
    def vehicle_order(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Travelling vehicles sorted by (edge, position descending): users, edges, leader-or-(-1)."""
        veh = np.flatnonzero((self._state == 1) & (self._mode == 1))
        if veh.size == 0:
            return veh, veh, veh
        e = self._edge_of(veh)
        order = np.lexsort((-self._s[veh], e))
        veh, e = veh[order], e[order]
        leader = np.full(veh.size, -1, dtype=np.int64)
        same = e[1:] == e[:-1]
        leader[1:][same] = veh[:-1][same]
        return veh, e, leader

    def _clamp_platoons(self, veh: np.ndarray, e: np.ndarray, s_new: np.ndarray) -> np.ndarray:
        """Segmented clamp: along each edge (rows sorted front first) ``s[i] <= s[i−1] − length``."""
        if veh.size == 0:
            return s_new
        L = self.krauss.length
        grp = np.concatenate([[0], np.cumsum(e[1:] != e[:-1])])
        first = np.concatenate([[0], np.flatnonzero(e[1:] != e[:-1]) + 1])
        rank = np.arange(veh.size) - first[grp]
        big = 1e7
        w = s_new + rank * L - grp * big
        return np.minimum.accumulate(w) + grp * big - rank * L

    def advance(self, dt: float, rng: np.random.Generator) -> None:
        """Move every user by ``dt`` seconds (Krauss for vehicles, constant walking speed for pedestrians)."""
        if dt < 0:
            raise ValueError(f"RoadMobility.advance: dt = {dt!r} must be >= 0")
        if self._n == 0 or dt == 0:
            return
        # 1. dwelling users whose dwell ends start a trip
        dw = self._state == 0
        self._dwell[dw] -= dt
        self._start_trips(np.flatnonzero(dw & (self._dwell <= 0.0)), rng)
        started = dw & (self._state == 1)
        trav = self._state == 1
        # 2. pedestrians
        ped = np.flatnonzero(trav & (self._mode == 0))
        self._s[ped] += self._v_ped[ped] * dt
        self._v[ped] = self._v_ped[ped]
        # 3. vehicles: Krauss with the leader ahead on the same edge
        self._drive(dt, rng)
        # 4. edge transitions (possibly several short edges in one step) and arrivals
        old_edge = np.full(self._n, -1, dtype=np.int64)
        movers = np.flatnonzero(trav)
        old_edge[movers] = self._edge_of(movers)
        old_edge[started] = -1  # vehicles starting a trip enter their first edge like any entrant
        old_ridx = self._ridx.copy()
        arrived = self._cross_edges()
        # 5. vehicles that entered a new edge queue behind the vehicles already on it
        self._fix_entries(old_edge, old_ridx, rng)
        trav_now = np.flatnonzero(self._state == 1)
        self._update_xy(trav_now)
        # 6. arrivals: dwell at the destination activity
        a = np.flatnonzero(arrived)
        if a.size:
            self._activity[a] = self._dest[a]
            self._dwell[a] = rng.exponential(self.dwell_mean_s[self._activity[a]])
            self._v[a] = 0.0

    def _drive(self, dt: float, rng: np.random.Generator) -> None:
        """Vehicles: Krauss speeds with the leader ahead on the same edge; no overtaking, never backwards."""
        veh, e, leader = self.vehicle_order()
        if not veh.size:
            return
        has = leader >= 0
        gap = np.full(veh.size, np.inf)
        gap[has] = self._s[leader[has]] - self._s[veh[has]] - self.krauss.length
        vl = np.zeros(veh.size)
        vl[has] = self._v[leader[has]]
        vmax = self.edge_vmax[e] * self._v_des_factor[veh]
        v_new = krauss_speed(self._v[veh], vl, gap, vmax, dt, rng.random(veh.size), self.krauss)
        s_old = self._s[veh]
        s_new = self._clamp_platoons(veh, e, s_old + v_new * dt)
        s_new = np.maximum(s_new, s_old)  # never backwards (old state was gap-consistent)
        self._v[veh] = (s_new - s_old) / dt
        self._s[veh] = s_new

    def _cross_edges(self) -> np.ndarray:
        """Move travellers past the ends of their edges (several short edges in one step); (n,) bool arrived."""
        arrived = np.zeros(self._n, dtype=bool)
        for _ in range(64):
            m = np.flatnonzero(self._state == 1)
            ecur = self._edge_of(m)
            over = self._s[m] >= self.edge_len[ecur]
            if not over.any():
                break
            m, ecur = m[over], ecur[over]
            last = self._ridx[m] >= self._bank_len[self._rid[m]] - 1
            done = m[last]
            arrived[done] = True
            self._s[done] = self.edge_len[ecur[last]]
            self._update_xy(done)
            self._state[done] = 0
            go = m[~last]
            self._s[go] -= self.edge_len[ecur[~last]]
            self._ridx[go] += 1
        return arrived

    def _fix_entries(self, old_edge: np.ndarray, old_ridx: np.ndarray, rng: np.random.Generator) -> None:
        """Clamp vehicles that changed edge behind the vehicles that stayed; if no room, wait at the junction."""
        for _ in range(4):
            veh = np.flatnonzero((self._state == 1) & (self._mode == 1))
            if veh.size == 0:
                return
            e = self._edge_of(veh)
            entered = e != old_edge[veh]
            if not entered.any():
                return
            order = np.lexsort((-self._s[veh], entered, e))  # per edge: stayers first, then entrants
            veh, e, entered = veh[order], e[order], entered[order]
            s = self._clamp_platoons(veh, e, self._s[veh])
            s = np.where(entered, s, self._s[veh])
            fail = entered & (s < 0.0)
            self._s[veh] = np.maximum(s, 0.0)
            if not fail.any():
                return
            # no room on the new edge: back to the end of the previous edge, stopped; a vehicle that could not
            # even enter its first edge stays parked and retries in a few seconds
            f = veh[fail]
            unstart = f[(old_edge[f] == -1) & (self._ridx[f] == 0)]
            if unstart.size:
                self._state[unstart] = 0
                self._v[unstart] = 0.0
                self._s[unstart] = 0.0
                self._dwell[unstart] = rng.uniform(1.0, 5.0, size=unstart.size)
                self._xy[unstart] = self.node_xy[self._anchors[unstart, self._activity[unstart]]]
                f = np.setdiff1d(f, unstart)
            self._ridx[f] = np.maximum(self._ridx[f] - 1, old_ridx[f])
            self._s[f] = self.edge_len[self._edge_of(f)]
            self._v[f] = 0.0
            # followers on the previous edge must stay behind the stopped vehicle
            veh, e, _ = self.vehicle_order()
            ent = self._edge_of(veh) != old_edge[veh]
            stay_s = self._clamp_platoons(veh, e, self._s[veh])
            self._s[veh] = np.where(ent, self._s[veh], np.minimum(self._s[veh], stay_s))

    # ---------------------------------------------------------------------------------------
    @property
    def positions(self) -> np.ndarray:
        """(n_users, 2) float64 [m]."""
        return self._xy

    @property
    def indoor(self) -> np.ndarray:
        """(n_users,) bool: road users are outdoors."""
        return np.zeros(self._n, dtype=bool)

    @property
    def speeds(self) -> np.ndarray:
        """(n_users,) current speeds [m/s] (0 while dwelling)."""
        return np.where(self._state == 1, self._v, 0.0)

    @property
    def is_vehicle(self) -> np.ndarray:
        """(n_users,) bool."""
        return self._mode == 1

    @property
    def travelling(self) -> np.ndarray:
        """(n_users,) bool: on a trip (else dwelling at an anchor)."""
        return self._state == 1

    def edge_positions(self) -> tuple[np.ndarray, np.ndarray]:
        """(edge id or −1, offset [m]) of every user; −1 while dwelling."""
        e = np.full(self._n, -1, dtype=np.int64)
        t = np.flatnonzero(self._state == 1)
        e[t] = self._edge_of(t)
        return e, np.where(self._state == 1, self._s, 0.0)


# ============================================================================================
# indoor mobility
# ============================================================================================
def _indoor_polygons(buildings: list | None, max_wall_edges: int, min_area_m2: float) -> list:
    """Building outlines usable indoors: largest part, at least ``min_area_m2``, simplified to few walls."""
    import shapely

    polys = []
    for b in buildings or []:
        if b is None or b.is_empty:
            continue
        if b.geom_type == "MultiPolygon":
            b = max(b.geoms, key=lambda g: g.area)
        if b.geom_type != "Polygon" or b.area < min_area_m2:
            continue
        tol = 0.25
        while len(b.exterior.coords) - 1 > max_wall_edges:
            b = b.simplify(tol)
            tol *= 2
        if b.is_valid and not b.is_empty and b.geom_type == "Polygon":
            polys.append(shapely.Polygon(b.exterior))  # ignore courtyards (interior rings)
    if not polys:
        raise ValueError(f"IndoorMobility: no building polygon with area >= {min_area_m2} m²")
    return polys


def _wall_segments(polys: list, ne: int) -> tuple[np.ndarray, np.ndarray]:
    """(n_buildings, ne, 2) wall start points and directions [m], padded with far-away walls."""
    nb = len(polys)
    a = np.full((nb, ne, 2), np.nan)
    b = np.full((nb, ne, 2), np.nan)
    for i, p in enumerate(polys):
        c = np.asarray(p.exterior.coords)
        a[i, : len(c) - 1] = c[:-1]
        b[i, : len(c) - 1] = c[1:]
    pad = np.isnan(a[..., 0])
    a[pad], b[pad] = 1e6, 1e6 + 1.0  # padding walls far away: their force underflows to 0
    return a, b - a


class IndoorMobility:
    """Users inside buildings under a social force (Helbing-style, simplified).

    ``dv/dt = (v0 ê_dest − v)/τ_r + Σ_walls A_w e^{(r − d_w)/B_w} n_w + Σ_others A_p e^{(2r − d_ij)/B_p} n_ij``,
    integrated with a semi-implicit Euler scheme in sub-steps of at most ``substep_s``; speeds are capped at
    ``1.3 v0``; a move that would leave the building is rejected (the user stops). At the destination
    (within 0.5 m) a user pauses for an exponential time and then draws a new destination in the same building.

    Implements :class:`~mndt_envs.twin.protocols.MobilityModel`.

    Args:
        buildings: shapely Polygons (local frame [m]); users are spread over them in proportion to area.
        desired_speed: (mean, std) of v0 [m/s].
        relax_s: τ_r [s].
        wall: (A_w [m/s²], B_w [m]).
        person: (A_p [m/s²], B_p [m]); interactions within ``interaction_m`` only.
        radius_m: body radius r [m].
        pause_mean_s: mean pause at a destination [s].
        max_wall_edges: polygons are simplified until they have at most this many edges.
        substep_s: integration sub-step [s].
        min_area_m2: buildings smaller than this are not used.
    """

    def __init__(
        self,
        buildings: list,
        *,
        desired_speed: tuple[float, float] = (1.0, 0.2),
        relax_s: float = 0.5,
        wall: tuple[float, float] = (5.0, 0.3),
        person: tuple[float, float] = (3.0, 0.4),
        radius_m: float = 0.25,
        interaction_m: float = 2.0,
        pause_mean_s: float = 30.0,
        max_wall_edges: int = 24,
        substep_s: float = 1.0,
        min_area_m2: float = 20.0,
    ) -> None:
        import shapely

        polys = _indoor_polygons(buildings, max_wall_edges, min_area_m2)
        self.polys = polys
        self._geoms = np.asarray(polys, dtype=object)
        shapely.prepare(self._geoms)
        self.area = shapely.area(self._geoms)
        ne = max(len(p.exterior.coords) - 1 for p in polys)
        a, ab = _wall_segments(polys, ne)
        # (n_buildings, max_edges) wall segments: start point, direction, 1/|direction|²
        self._wax, self._way, self._wabx, self._waby = a[..., 0], a[..., 1], ab[..., 0], ab[..., 1]
        self._winv = 1.0 / np.maximum((ab * ab).sum(-1), 1e-12)
        self._nedges = np.array([len(p.exterior.coords) - 1 for p in polys])
        self._edge_caps = sorted({c for c in (4, 6, 8, 12, 16, 24, 32, 48, 64) if c < ne} | {ne})

        self.v0 = desired_speed
        self.relax_s = relax_s
        self.wall = wall
        self.person = person
        self.radius = radius_m
        self.interaction_m = interaction_m
        self.pause_mean_s = pause_mean_s
        self.substep_s = substep_s
        self._n = 0
        self._xy = np.zeros((0, 2))

    def reset(self, rng: np.random.Generator, n_users: int) -> None:
        """Assign users to buildings (∝ area) and place them uniformly inside."""
        n = int(n_users)
        self._n = n
        p = self.area / self.area.sum()
        self._bid = rng.choice(len(self.polys), size=n, p=p)
        self._xy = _random_points_in(self.polys, self._bid, rng)
        self._dest = _random_points_in(self.polys, self._bid, rng)
        self._vel = np.zeros((n, 2))
        self._v0 = np.clip(rng.normal(self.v0[0], self.v0[1], size=n), 0.3, 2.0)
        self._pause = rng.exponential(self.pause_mean_s, size=n) * (rng.random(n) < 0.5)

    def _wall_force(self, xy: np.ndarray) -> np.ndarray:
        """(n, 2) repulsion [m/s²] from the walls of each user's own building.

        Users are grouped by their building's number of walls so that simple buildings do not pay for the
        padding of the most complex one.
        """
        ne = self._nedges[self._bid]
        f = np.zeros_like(xy)
        lo = 0
        for cap in self._edge_caps:
            sel = np.flatnonzero((ne > lo) & (ne <= cap))
            if sel.size:
                f[sel] = self._wall_force_exact(xy[sel], self._bid[sel], cap)
            lo = cap
        return f

    def _wall_force_exact(self, xy: np.ndarray, b: np.ndarray, cap: int) -> np.ndarray:
        w_ = slice(0, cap)
        ax, ay = self._wax[b, w_], self._way[b, w_]  # (n, cap)
        abx, aby, inv = self._wabx[b, w_], self._waby[b, w_], self._winv[b, w_]
        px = xy[:, 0:1] - ax
        py = xy[:, 1:2] - ay
        t = np.clip((px * abx + py * aby) * inv, 0.0, 1.0)
        dx = px - t * abx  # wall → user
        dy = py - t * aby
        d = np.maximum(np.sqrt(dx * dx + dy * dy), 1e-9)
        w = self.wall[0] * np.exp((self.radius - d) / self.wall[1]) / d
        return np.stack([(w * dx).sum(1), (w * dy).sum(1)], axis=1)

    def _person_force(self, xy: np.ndarray) -> np.ndarray:
        from scipy.spatial import cKDTree

        f = np.zeros_like(xy)
        if xy.shape[0] < 2:
            return f
        pairs = cKDTree(xy, balanced_tree=False, compact_nodes=False).query_pairs(
            self.interaction_m, output_type="ndarray")
        if pairs.size == 0:
            return f
        i, j = pairs[:, 0], pairs[:, 1]
        same = self._bid[i] == self._bid[j]
        i, j = i[same], j[same]
        diff = xy[i] - xy[j]
        d = np.maximum(np.sqrt((diff * diff).sum(1)), 1e-6)
        mag = self.person[0] * np.exp((2 * self.radius - d) / self.person[1])
        fij = (mag / d)[:, None] * diff
        np.add.at(f, i, fij)
        np.add.at(f, j, -fij)
        return f

    def advance(self, dt: float, rng: np.random.Generator) -> None:
        """Integrate the social force for ``dt`` seconds."""
        import shapely

        if dt < 0:
            raise ValueError(f"IndoorMobility.advance: dt = {dt!r} must be >= 0")
        if self._n == 0 or dt == 0:
            return
        n_sub = max(1, int(math.ceil(dt / self.substep_s)))
        h = dt / n_sub
        for _ in range(n_sub):
            paused = self._pause > 0
            self._pause = np.maximum(self._pause - h, 0.0)
            to = self._dest - self._xy
            dist = np.sqrt((to * to).sum(1))
            e = to / np.maximum(dist, 1e-9)[:, None]
            drive = (self._v0 * np.minimum(1.0, dist / 1.0))[:, None] * e  # slow down within 1 m
            ext = self._wall_force(self._xy) + self._person_force(self._xy)  # [m/s²]
            # semi-implicit Euler for the relaxation term (stable for any h / τ_r)
            vel = (self._vel + h * (drive / self.relax_s + ext)) / (1.0 + h / self.relax_s)
            sp = np.sqrt((vel * vel).sum(1))
            cap = 1.3 * self._v0
            vel *= np.minimum(1.0, cap / np.maximum(sp, 1e-12))[:, None]
            vel[paused] = 0.0
            new = self._xy + vel * h
            inside = shapely.contains_xy(self._geoms[self._bid], new[:, 0], new[:, 1])
            self._xy = np.where(inside[:, None], new, self._xy)
            self._vel = np.where(inside[:, None], vel, 0.0)
            arrived = (dist < 0.5) & ~paused
            if arrived.any():
                k = np.flatnonzero(arrived)
                self._dest[k] = _random_points_in(self.polys, self._bid[k], rng)
                self._pause[k] = rng.exponential(self.pause_mean_s, size=k.size)

    @property
    def positions(self) -> np.ndarray:
        """(n_users, 2) float64 [m]."""
        return self._xy

    @property
    def indoor(self) -> np.ndarray:
        """(n_users,) bool: all True."""
        return np.ones(self._n, dtype=bool)

    @property
    def building(self) -> np.ndarray:
        """(n_users,) index into :attr:`polys` of each user's building."""
        return self._bid


# ============================================================================================
# composition and factory
# ============================================================================================
class MixedMobility:
    """Outdoor and indoor users in one model: the first ``n − round(f·n)`` users are outdoor.

    Args:
        outdoor: the outdoor model (e.g. :class:`RoadMobility`).
        indoor: the indoor model (e.g. :class:`IndoorMobility`) or None (everyone outdoor).
        indoor_fraction: share of users indoors [0, 1].
    """

    def __init__(self, outdoor: Any, indoor: Any | None, indoor_fraction: float) -> None:
        if not 0.0 <= indoor_fraction <= 1.0:
            raise ValueError(f"MixedMobility: indoor_fraction = {indoor_fraction!r}, allowed [0, 1]")
        if indoor is None and indoor_fraction > 0:
            raise ValueError("MixedMobility: indoor_fraction > 0 needs an indoor model (buildings)")
        self.outdoor, self.indoor_model, self.indoor_fraction = outdoor, indoor, float(indoor_fraction)
        self._n_in = 0
        self._n_out = 0

    def reset(self, rng: np.random.Generator, n_users: int) -> None:
        """Split the users and reset both parts."""
        self._n_in = int(round(self.indoor_fraction * n_users)) if self.indoor_model is not None else 0
        self._n_out = int(n_users) - self._n_in
        self.outdoor.reset(rng, self._n_out)
        if self.indoor_model is not None:
            self.indoor_model.reset(rng, self._n_in)

    def advance(self, dt: float, rng: np.random.Generator) -> None:
        """Advance both parts."""
        self.outdoor.advance(dt, rng)
        if self.indoor_model is not None and self._n_in:
            self.indoor_model.advance(dt, rng)

    @property
    def positions(self) -> np.ndarray:
        """(n_users, 2) float64 [m]: outdoor users first."""
        if self.indoor_model is None or self._n_in == 0:
            return self.outdoor.positions
        return np.concatenate([self.outdoor.positions, self.indoor_model.positions])

    @property
    def indoor(self) -> np.ndarray:
        """(n_users,) bool."""
        return np.concatenate([np.zeros(self._n_out, dtype=bool), np.ones(self._n_in, dtype=bool)])


def make_mobility(cfg: Any, city: Any) -> Any:
    """Mobility model for ``cfg.users.mobility == "road"`` on a city (``CityGeometry``).

    Outdoor users follow :class:`RoadMobility` on ``city.roads`` (anchors from ``city.buildings`` /
    ``city.tags``), a share ``cfg.users.indoor_fraction`` of users follows :class:`IndoorMobility` in
    ``city.buildings``. Vehicles' desired speed is capped by ``cfg.users.speed_max_mps`` where an edge
    has no ``maxspeed``.

    Args:
        cfg: a :class:`~mndt_envs.config.ScenarioConfig`.
        city: an object with ``roads`` (MultiDiGraph, node ``x``/``y`` [m], edge ``length`` [m]),
            ``buildings`` (list of Polygons) and ``tags`` (list of dicts).

    Returns:
        A :class:`MixedMobility` (a :class:`~mndt_envs.twin.protocols.MobilityModel`).

    Raises:
        ValueError: mobility is not ``"road"``, or the city has no road graph.
    """
    users = cfg.users
    if users.mobility != "road":
        raise ValueError(f"make_mobility: users.mobility = {users.mobility!r}; this factory builds 'road' mobility "
                         "(straight/static are the twin's defaults)")
    roads = getattr(city, "roads", None)
    if roads is None or roads.number_of_edges() == 0:
        raise ValueError("make_mobility: users.mobility = 'road' needs a city with a road graph (city.roads is empty)")
    buildings = list(getattr(city, "buildings", None) or [])
    tags = getattr(city, "tags", None)
    tags = list(tags) if tags is not None and len(tags) == len(buildings) else None
    outdoor = RoadMobility(roads, buildings, tags, vehicle_fraction=users.vehicle_fraction,
                           speed_max_mps=max(users.speed_max_mps, 0.1))
    indoor = None
    if users.indoor_fraction > 0 and buildings:
        indoor = IndoorMobility(buildings)
    frac = users.indoor_fraction if indoor is not None else 0.0
    return MixedMobility(outdoor, indoor, frac)


def tidal_work_share(hour: float) -> float:
    """Share of hotspot users at their business hotspot at ``hour`` (tidal profile, peak ~13 h)."""
    h = (hour - 13.0 + 12.0) % 24.0 - 12.0
    return 0.05 + 0.8 * math.exp(-((h / 4.5) ** 4))


class TidalHotspotMobility(StoredPositions):
    """Built-in "hotspot-moving" tidal day (implements the twin's ``MobilityModel``).

    Hotspot users have a home (residential hotspot) and a workplace (business hotspot),
    each a Gaussian offset around the hotspot centre. At hour ``h`` a user is at work
    iff its fixed random threshold ``v_u < p_work(h)`` (0.05 at night, 0.85 at 13 h),
    so the business areas fill by day and empty at night. Background users sit
    uniformly. Every period all users move by a random jitter. Seeded from ``rng``.

    Args:
        width_m, height_m: area [m].
        n_business, n_residential: hotspot counts.
        radius_m: std of users around a hotspot centre [m].
        background_share: share of users spread uniformly.
        jitter_m: per-advance random displacement std [m].
        start_hour: hour of day at ``reset``.
        frozen: positions never change after ``reset`` (``mobility="static"``).
        indoor_fraction: share of users flagged indoors (O2I loss; the scenario's ``users.indoor_fraction``).
    """

    def __init__(self, width_m: float, height_m: float, n_business: int, n_residential: int, radius_m: float,
                 background_share: float, jitter_m: float, start_hour: float, frozen: bool = False,
                 indoor_fraction: float = 0.0) -> None:
        self.size = np.array([width_m, height_m])
        self.n_business, self.n_residential = n_business, n_residential
        self.radius_m, self.background_share, self.jitter_m = radius_m, background_share, jitter_m
        self.start_hour, self.frozen = start_hour, frozen
        self.indoor_fraction = indoor_fraction
        self.hour = start_hour
        self._home = np.zeros((0, 2))
        self._work = np.zeros((0, 2))
        self._v = np.zeros(0)
        self._bg = np.zeros(0, dtype=bool)
        self._pos = np.zeros((0, 2))
        self._indoor = np.zeros(0, dtype=bool)
        self.centres = np.zeros((0, 2))

    def reset(self, rng: np.random.Generator, n_users: int) -> None:
        """Draw hotspots, homes, workplaces and thresholds; place users at ``start_hour``."""
        nb, nr = self.n_business, self.n_residential
        self.centres = rng.uniform(0.15, 0.85, (nb + nr, 2)) * self.size
        wb = rng.dirichlet(np.ones(max(nb, 1)) * 2.0)
        wr = rng.dirichlet(np.ones(max(nr, 1)) * 2.0)
        work_h = rng.choice(max(nb, 1), n_users, p=wb)
        home_h = nb + rng.choice(max(nr, 1), n_users, p=wr) if nr else work_h
        work_h = work_h if nb else home_h
        self._work = self.centres[work_h] + rng.normal(0.0, self.radius_m, (n_users, 2))
        self._home = self.centres[home_h] + rng.normal(0.0, self.radius_m, (n_users, 2))
        self._bg = rng.random(n_users) < self.background_share
        bg_pos = rng.uniform(0.0, 1.0, (n_users, 2)) * self.size
        self._home = np.where(self._bg[:, None], bg_pos, self._home)
        self._work = np.where(self._bg[:, None], bg_pos, self._work)
        self._v = rng.random(n_users)
        self._indoor = rng.random(n_users) < self.indoor_fraction
        self.hour = self.start_hour
        self._place(np.zeros((n_users, 2)))

    def _place(self, jitter: np.ndarray) -> None:
        at_work = self._v < tidal_work_share(self.hour)
        pos = np.where(at_work[:, None], self._work, self._home) + jitter
        self._pos = np.clip(pos, 0.0, self.size)

    def advance(self, dt: float, rng: np.random.Generator) -> None:
        """Move time by ``dt`` seconds: users switch between home and work by the tidal profile, plus jitter."""
        if self.frozen:
            return
        self.hour = (self.hour + dt / 3600.0) % 24.0
        self._place(rng.normal(0.0, self.jitter_m, self._pos.shape))
