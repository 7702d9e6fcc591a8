"""Time one 1-s mobility step for 13,000 users (median of repeats), road / indoor / mixed.

Usage::

    python benchmarks/mobility_step.py [--users 13000] [--repeats 30] [--osm FILE.osm | --osm bundled:helsinki]

Without ``--osm`` a synthetic 3 × 3 km street grid (31 × 31 nodes, 100 m blocks, 900 buildings) is
used. Timings exclude the first reset (A* route cache fill), reported separately, and a 30-step warm-up.
The target (issue 4) is ≤ 50 ms per step for 13,000 users on one core.
"""

from __future__ import annotations

import argparse
import os
import time

os.environ.setdefault("OMP_NUM_THREADS", "1")

import networkx as nx  # noqa: E402
import numpy as np  # noqa: E402
from shapely.geometry import box  # noqa: E402

from mndt_envs.twin.mobility import IndoorMobility, MixedMobility, RoadMobility  # noqa: E402


def synthetic_city(n: int = 31, spacing: float = 100.0):
    g = nx.MultiDiGraph()
    for i in range(n):
        for j in range(n):
            g.add_node(i * n + j, x=i * spacing, y=j * spacing)
    for i in range(n):
        for j in range(n):
            for di, dj in ((1, 0), (0, 1)):
                a, b = i + di, j + dj
                if a < n and b < n:
                    for u, v in ((i * n + j, a * n + b), (a * n + b, i * n + j)):
                        g.add_edge(u, v, length=spacing, highway="residential", maxspeed="50")
    blds = [box(i * spacing + 15, j * spacing + 15, i * spacing + 85, j * spacing + 85)
            for i in range(n - 1) for j in range(n - 1)]
    kinds = ["residential", "apartments", "office", "retail", "yes"]
    tags = [{"building": kinds[k % len(kinds)]} for k in range(len(blds))]
    return g, blds, tags


def osm_city(path: str):
    """Roads, buildings and tags of an OSM file (or ``bundled:helsinki``) via the twin's ``load_city``."""
    from mndt_envs.twin.geometry import load_city

    city = load_city(path, use_cache=False)
    return city.roads, list(city.buildings), list(city.tags)


def time_steps(model, rng, repeats: int, warmup: int = 30) -> tuple[float, float, float]:
    """Median wall [ms], p90 wall [ms] and median CPU time of this process [ms] of one 1-s step."""
    for _ in range(warmup):
        model.advance(1.0, rng)
    ts, cs = [], []
    for _ in range(repeats):
        c0, t0 = time.process_time(), time.perf_counter()
        model.advance(1.0, rng)
        ts.append(time.perf_counter() - t0)
        cs.append(time.process_time() - c0)
    return 1e3 * float(np.median(ts)), 1e3 * float(np.percentile(ts, 90)), 1e3 * float(np.median(cs))


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--users", type=int, default=13_000)
    ap.add_argument("--repeats", type=int, default=30)
    ap.add_argument("--osm", default="")
    args = ap.parse_args()
    g, blds, tags = osm_city(args.osm) if args.osm else synthetic_city()
    print(f"graph: {g.number_of_nodes()} nodes, {g.number_of_edges()} edges; {len(blds)} buildings; "
          f"{args.users} users")
    rows = []
    road = RoadMobility(g, blds, tags, vehicle_fraction=0.5)
    rng = np.random.default_rng(0)
    t0 = time.perf_counter()
    road.reset(rng, args.users)
    first_reset = time.perf_counter() - t0
    t0 = time.perf_counter()
    road.reset(rng, args.users)
    second_reset = time.perf_counter() - t0
    rows.append(("road (50 % vehicles)", *time_steps(road, rng, args.repeats)))
    print(f"road: first reset {first_reset:.2f} s (A* cache fill, {len(road._bank)} routes), "
          f"second reset {second_reset:.2f} s")
    indoor = IndoorMobility(blds)
    indoor.reset(rng, args.users)
    rows.append(("indoor (social force)", *time_steps(indoor, rng, args.repeats)))
    mixed = MixedMobility(road, IndoorMobility(blds), 0.3)
    mixed.reset(rng, args.users)
    rows.append(("mixed (30 % indoor)", *time_steps(mixed, rng, args.repeats)))
    print(f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores "
          "(CPU time = the step's own compute; wall time includes waiting for a shared core)")
    print(f"{'model':<24}{'wall median [ms]':>17}{'wall p90 [ms]':>14}{'CPU median [ms]':>16}")
    for name, med, p90, cpu in rows:
        print(f"{name:<24}{med:>17.1f}{p90:>14.1f}{cpu:>16.1f}")


if __name__ == "__main__":
    main()
