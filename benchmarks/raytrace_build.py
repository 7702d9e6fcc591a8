"""Ray-traced twin: cold build, warm load and per-step lookup on the default city (bundled Helsinki).

Targets (issues 3 and 10): cold build <= 60 s on 2 cores, warm load <= 1 s, gain lookup for
10,000 users <= 5 ms; the build figures of issue 10 (ray-traced outdoor pairs >= 55 %, outdoor
cells reached by >= 1 site >= 98 %, no LoS pair with an NLoS value, best-server jumps > 10 dB
between neighbouring outdoor cells <= 3 %) are printed from the cold build's summary.
Cold builds run in fresh processes with an empty cache (imports,
OSM parsing, scene, ray tracing, storing); warm loads run in fresh processes against
that cache (imports excluded and included are both reported). Medians over repeats.

Usage::

    python benchmarks/raytrace_build.py [--repeats 3] [--cold-repeats 2] [--users 10000] [--json out.json]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]

CHILD = r"""
import json, sys, time
t0 = time.perf_counter()
import numpy as np
from mndt_envs.config import make_config
from mndt_envs.twin.sites import make_cells
from mndt_envs.twin.channel.raytraced import RayTracedChannel
import mndt_envs.twin.geometry, networkx, shapely, pyproj  # noqa: F401  (lazy imports of a twin build)
t_imp = time.perf_counter() - t0
t1 = time.perf_counter()
cfg = make_config(sys.argv[1])
cells = make_cells(cfg, np.random.default_rng(0))
t_cells = time.perf_counter() - t1
t2 = time.perf_counter()
ch = RayTracedChannel.from_config(cfg, cells)
t_maps = time.perf_counter() - t2
out = {"imports_s": t_imp, "geometry_sites_s": t_cells, "maps_s": t_maps,
       "load_s": time.perf_counter() - t1, "total_s": time.perf_counter() - t0,
       "cached": ch.build_summary.get("cached"), "summary": ch.build_summary}
if len(sys.argv) > 2:
    n = int(sys.argv[2]); reps = int(sys.argv[3])
    rng = np.random.default_rng(1)
    xy = rng.uniform(0, [cfg.width_m, cfg.height_m], (n, 2))
    indoor = rng.random(n) < 0.3
    ch.gain_db(xy, indoor)  # builds the lookup table once
    ts, tp = [], []
    for _ in range(reps):
        xy = rng.uniform(0, [cfg.width_m, cfg.height_m], (n, 2))
        a = time.perf_counter(); ch.gain_db(xy, indoor); ts.append(time.perf_counter() - a)
        a = time.perf_counter(); ch.maps.lookup(xy); tp.append(time.perf_counter() - a)
    out["gain_ms"] = [t * 1e3 for t in ts]
    out["pathgain_ms"] = [t * 1e3 for t in tp]
print("RESULT " + json.dumps(out, default=str))
"""


def _run(preset: str, cache: str, extra: list[str]) -> dict:
    env = dict(os.environ, MNDT_CACHE=cache, PYTHONWARNINGS="ignore")
    env["PYTHONPATH"] = str(ROOT) + os.pathsep + env.get("PYTHONPATH", "")
    t = time.perf_counter()
    res = subprocess.run([sys.executable, "-c", CHILD, preset, *extra], capture_output=True, text=True, env=env,
                         cwd=ROOT, check=False)
    wall = time.perf_counter() - t
    line = next((ln for ln in res.stdout.splitlines() if ln.startswith("RESULT ")), None)
    if res.returncode != 0 or line is None:
        raise SystemExit(f"benchmark child failed ({res.returncode}):\n{res.stdout[-2000:]}\n{res.stderr[-4000:]}")
    out = json.loads(line[len("RESULT "):])
    out["process_wall_s"] = wall
    return out


def main() -> None:
    """Run the benchmark and print a table."""
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--preset", default="helsinki")
    ap.add_argument("--cold-repeats", type=int, default=2)
    ap.add_argument("--repeats", type=int, default=3, help="warm-load repeats")
    ap.add_argument("--users", type=int, default=10_000)
    ap.add_argument("--lookups", type=int, default=50)
    ap.add_argument("--json", type=Path, default=None)
    args = ap.parse_args()

    cold, warm = [], []
    with tempfile.TemporaryDirectory(prefix="mndt-bench-") as tmp:
        for i in range(args.cold_repeats):
            cache = str(Path(tmp) / f"cold{i}")
            cold.append(_run(args.preset, cache, []))
            assert cold[-1]["cached"] is False
        cache = str(Path(tmp) / "cold0")
        for _ in range(args.repeats):
            warm.append(_run(args.preset, cache, [str(args.users), str(args.lookups)]))
            assert warm[-1]["cached"] is True
    med = statistics.median
    s = cold[0]["summary"]
    rows = [
        ("cold build, fresh process (s)", med(r["process_wall_s"] for r in cold), 60.0),
        ("  of which imports (s)", med(r["imports_s"] for r in cold), None),
        ("  of which OSM geometry + sites (s)", med(r["geometry_sites_s"] for r in cold), None),
        ("  of which scene + ray tracing + store (s)", med(r["maps_s"] for r in cold), None),
        ("  of which ray tracing alone (s)", med(r["summary"]["time_raytrace_s"] for r in cold), None),
        ("  of which LoS test + fill (s)", med(r["summary"]["time_fill_s"] for r in cold), None),
        ("warm load, after imports (s)", med(r["load_s"] for r in warm), 1.0),
        ("  of which radio maps from cache (s)", med(r["maps_s"] for r in warm), None),
        ("warm load incl. imports, fresh process (s)", med(r["process_wall_s"] for r in warm), None),
        (f"gain_db {args.users} users x {s['cells']} cells (ms)",
         med(t for r in warm for t in r["gain_ms"]), 5.0),
        ("  10th percentile, least contended (ms)",
         float(np.percentile([t for r in warm for t in r["gain_ms"]], 10)), None),
        (f"path-gain lookup {args.users} users x {s['transmitters']} maps (ms)",
         med(t for r in warm for t in r["pathgain_ms"]), None),
    ]
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print(f"\nRay-traced twin '{args.preset}': {s['buildings']} buildings, {s['cells']} cells "
          f"({s['transmitters']} ray-traced sites), grid {s['grid'][0]}x{s['grid'][1]} at {s['cell_size_m']} m, "
          f"{s['rays_per_tx']:.0e} rays/tx, depth {s['max_depth']}, {s['variant']}, {os.cpu_count()} CPU cores, "
          f"load average {load:.1f}")
    figs = [("outdoor (site, cell) pairs ray-traced", 100 * s["ray_traced_outdoor_pairs"], ">= 55 %"),
            ("outdoor cells reached by >= 1 site", 100 * s["ray_reached_outdoor_cells"], ">= 98 %"),
            ("LoS outdoor pairs no ray reached (filled 38.901 LoS / neighbours)", 100 * s["los_pairs_filled"], ""),
            ("LoS pairs given an NLoS value (count)", s["los_pairs_given_nlos"], "0"),
            ("outdoor cells whose best server is a 38.901 value", 100 * s["fill_38901_best_server_cells"], ""),
            ("neighbouring outdoor cells with a > 10 dB best-server jump", 100 * s["speckle_share_10db"], "<= 3 %")]
    print(f"| {'build figure (cold build)':<66} | {'value':>7} | target |")
    print(f"|{'-' * 68}|{'-' * 9}|--------|")
    for name, val, target in figs:
        print(f"| {name:<66} | {val:>7.1f} | {target:>6} |")
    print()
    print(f"| {'measure':<52} | {'median':>9} | {'target':>7} | ok |")
    print(f"|{'-' * 54}|{'-' * 11}|{'-' * 9}|----|")
    for name, val, target in rows:
        ok = "" if target is None else ("yes" if val <= target else "NO")
        tg = "" if target is None else f"{target:g}"
        print(f"| {name:<52} | {val:>9.3f} | {tg:>7} | {ok:>2} |")
    if args.json:
        args.json.write_text(json.dumps({"cold": cold, "warm": warm, "rows": rows}, indent=1, default=str))


if __name__ == "__main__":
    main()
