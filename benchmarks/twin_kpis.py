"""Time one radio step of the twin: RSRP + best-server association + SINR + Shannon rates.

Usage: ``python benchmarks/twin_kpis.py [--repeats 30] [--threads 1]``

For each scenario (``toy``: 21 cells x 200 users; ``paper``: 184 cells x 8,000 users)
it prints the median over repeats of
- the KPI step (what the issue targets: RSRP, association, per-RB SINR with
  inter-cell interference for a random full allocation, rates),
- the channel update on user movement (radio-map lookup of the large-scale gain),
- the fading update, and the whole ``NetworkTwin.advance``,
and, as a reference measured in the same run, the same KPI step written as a Python
loop over users (the ratio shows what vectorisation buys).
"""

from __future__ import annotations

import argparse
import os
import statistics
import time


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=30)
    ap.add_argument("--threads", type=int, default=1, help="BLAS/OpenMP threads (1 = one core)")
    args = ap.parse_args()
    for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ[var] = str(args.threads)

    import numpy as np
    from rich.console import Console
    from rich.table import Table

    from mndt_envs.twin import NetworkTwin, radio

    def median_ms(fn, repeats: int) -> float:
        fn()
        ts = []
        for _ in range(repeats):
            t0 = time.perf_counter()
            fn()
            ts.append(time.perf_counter() - t0)
        return 1e3 * statistics.median(ts)

    console = Console(width=140)
    table = Table(title=f"Twin step timings, median of {args.repeats} repeats, {args.threads} thread(s) [ms]")
    for col in ("scenario", "cells x users", "KPI step", "python-loop ref", "speed-up", "gain lookup",
                "fading", "advance"):
        table.add_column(col, justify="right")
    for name in ("toy", "paper"):
        tw = NetworkTwin(name)
        rng = np.random.default_rng(0)
        tw.reset(rng)
        n_c, n_u, n_rb = tw.cells.n, tw.n_users, int(tw.cells.n_rb[0])
        rb = rng.integers(0, n_rb, n_u)
        bw = tw.cfg.radio.rb_bandwidth_hz

        def kpi_step() -> np.ndarray:
            rsrp = tw.rsrp()
            serving, _ = radio.best_server(rsrp)
            counts = np.bincount(serving, minlength=n_c)
            p_rb = np.where(counts > 0, tw.max_power_w / n_rb, 0.0)[:, None] * np.ones((1, n_rb))
            sinr = radio.sinr_allocated(tw.gain_lin(), p_rb, serving, rb, tw.noise_w)
            return radio.shannon_rate(sinr, bw)

        g_lin = tw.gain_lin()

        def loop_step() -> list[float]:
            rsrp = tw.rsrp()
            serving, _ = radio.best_server(rsrp)
            p = tw.max_power_w / n_rb
            out = []
            for u in range(n_u):
                s = serving[u]
                sig = p[s] * g_lin[s, u]
                interf = sum(p[c] * g_lin[c, u] for c in range(n_c) if c != s)
                out.append(bw * np.log2(1 + sig / (interf + tw.noise_w)))
            return out

        kpi = median_ms(kpi_step, args.repeats)
        loop_reps = 3 if n_u * n_c > 100_000 else args.repeats
        ref = median_ms(loop_step, loop_reps)
        look = median_ms(lambda: tw.channel.gain_db(tw.positions, tw.indoor), args.repeats)
        fad = median_ms(lambda: (tw.fading.advance(rng, 1.0), tw.fading.gain_db()), args.repeats)
        adv = median_ms(lambda: tw.advance(1.0, rng), max(5, args.repeats // 3))
        table.add_row(name, f"{n_c} x {n_u}", f"{kpi:.2f}", f"{ref:.1f}", f"{ref / kpi:.0f}x", f"{look:.2f}",
                      f"{fad:.2f}", f"{adv:.2f}")
    console.print(table)


if __name__ == "__main__":
    main()
