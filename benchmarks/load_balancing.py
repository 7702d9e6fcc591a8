"""Speed of the load-balancing task and baselines at 200 antennas and 100,000 MRs (issue 7 §9).

Scenario: 67 three-sector macro sites (201 antennas) on a hexagonal grid over 3 x 3 km,
100,000 users (one MR each per period), tidal hotspot day. Measured per period, median of
repeats: the env step (apply powers, associate, busy degrees, coverage, reward), drawing the
period's MRs, the Jacobian estimate, the BDBA solve (pseudo-inverse and LSMR) and BFDBA.
Targets: BFDBA <= 0.1 s, BDBA <= 1 s per period, env step <= 10 ms. Reports the median wall time
and the median CPU time of the process (the work itself, when the machine is shared).

Run: ``.venv/bin/python benchmarks/load_balancing.py [--repeats 15]``
"""

from __future__ import annotations

import os

# one BLAS thread: the dense pseudo-inverse of a few hundred antennas is ~100x slower with an
# oversubscribed multi-threaded OpenBLAS on a shared 2-core machine
for _var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import argparse  # noqa: E402
import statistics  # noqa: E402
import time  # noqa: E402
from collections.abc import Callable  # noqa: E402

import numpy as np  # noqa: E402

CPU: list[float] = []  # CPU time of the last measurement (process time, one BLAS thread)


def _median(fn: Callable[[], object], repeats: int) -> float:
    """Median wall time of ``repeats`` calls; the median CPU time is appended to ``CPU``."""
    times, cpu = [], []
    for _ in range(repeats):
        c0 = time.process_time()
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
        cpu.append(time.process_time() - c0)
    CPU.append(statistics.median(cpu))
    return statistics.median(times)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--repeats", type=int, default=15)
    ap.add_argument("--users", type=int, default=100_000)
    ap.add_argument("--sites", type=int, default=67)
    args = ap.parse_args()

    import gymnasium as gym
    from rich.console import Console
    from rich.table import Table

    import mndt_envs  # noqa: F401
    from mndt_envs.baselines.load_balancing import BDBA, BFDBA, estimate_jacobian, jacobian_diagonal, min_norm_solve
    from mndt_envs.tasks.coverage import mr_rsrp

    cfg = {
        "width_m": 3000.0, "height_m": 3000.0,
        "sites": {"n_sites": args.sites, "isd_m": 350.0},
        "users": {"n_users": args.users},
        "task": {"episode_steps": args.repeats + 1, "pmin_method": "none"},
    }
    t0 = time.perf_counter()
    env = gym.make("mndt/LoadBalancing-v0", scenario="toy", config=cfg)
    core = env.unwrapped.core
    env.reset(seed=0)
    t_reset = time.perf_counter() - t0
    n = core.n
    ids, att = core.mrs()
    n_mrs = int((ids[:, 0] >= 0).sum())
    rng = np.random.default_rng(0)
    zero = np.zeros(n, dtype=np.float32)
    rows: list[tuple[str, float, str]] = []
    CPU.clear()
    # the env step: alternate between two power vectors so every step changes the association
    step = _median(lambda: env.step(zero), args.repeats)
    rows.append(("env step (powers -> association, busy, coverage, reward)", step, "<= 0.010 s"))
    rows.append(("draw the period's MRs (radio.measurement_reports over candidates)",
                 _median(lambda: (setattr(core, "_mrs", None), core.mrs()), args.repeats), "(data)"))
    ids, att = core.mrs()
    rsrp = mr_rsrp(ids, att, core.p)
    jac = estimate_jacobian(ids, rsrp, n, 2.0, core.u_max, 200, rng)
    rows.append(("Jacobian estimate, S = 200 MRs/antenna",
                 _median(lambda: estimate_jacobian(ids, rsrp, n, 2.0, core.u_max, 200, rng), args.repeats), ""))
    rows.append(("Jacobian estimate, all MRs",
                 _median(lambda: estimate_jacobian(ids, rsrp, n, 2.0, core.u_max, None, rng), args.repeats), ""))
    r = core.busy.mean() - core.busy
    rows.append(("min-norm solve, pseudo-inverse (lstsq/SVD)", _median(lambda: min_norm_solve(jac, r, "pinv"),
                                                                     args.repeats), ""))
    rows.append(("min-norm solve, scipy lsmr", _median(lambda: min_norm_solve(jac, r, "lsmr"), args.repeats), ""))
    rows.append(("J diagonal only (BFDBA), S = 200",
                 _median(lambda: jacobian_diagonal(ids, rsrp, n, 2.0, core.u_max, 200, rng), args.repeats), ""))
    bdba, bfdba = BDBA(env), BFDBA(env)
    obs = core.global_obs()
    t_bdba = _median(lambda: bdba.predict(obs), args.repeats)
    t_bfdba = _median(lambda: bfdba.predict(obs), args.repeats)
    rows.append(("BDBA per period (J + solve + projection; MRs given)", t_bdba, "<= 1 s"))
    rows.append(("BFDBA per period (J diagonal + update; MRs given)", t_bfdba, "<= 0.1 s"))
    table = Table(title=f"load_balancing speed: {n} antennas, {n_mrs:,} MRs, median of {args.repeats} "
                        f"(reset incl. twin build {t_reset:.1f} s)")
    table.add_column("operation")
    table.add_column("wall [ms]", justify="right")
    table.add_column("CPU [ms]", justify="right")
    table.add_column("target")
    for (name, t, tgt), c in zip(rows, CPU):
        table.add_row(name, f"{1e3 * t:.2f}", f"{1e3 * c:.2f}", tgt)
    Console().print(table)
    print(f"BFDBA/BDBA wall-time ratio: {t_bfdba / t_bdba:.3f}; CPU-time ratio: {CPU[-1] / CPU[-2]:.3f}")
    print(f"load average: {os.getloadavg()}")


if __name__ == "__main__":
    main()
