"""Validate the ray-traced path gain of the default city against 3GPP TR 38.901 UMi / UMa.

For every ray-traced site and every outdoor map cell that a ray reached (cells filled
with the 38.901 value itself are excluded), the link is classified LoS or NLoS
geometrically (the straight segment from the antenna to the receiver at 1.5 m height
clears every building, checked on the building-height raster), and the ray-traced path
loss ``PL_RT = -path gain`` is compared with the 38.901 formula of the same class at
the same 2-D distance and antenna heights. Per distance bin and class the table gives
the number of links, the median of ``PL_RT`` and the median and spread
(inter-quartile range) of ``PL_RT - PL_38901`` for UMi street canyon and UMa.

Usage::

    python benchmarks/validate_38901.py [--preset helsinki] [--png docs/img/validate_38901.png]
"""

from __future__ import annotations

import argparse
import math
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
BINS_M = (10.0, 50.0, 100.0, 200.0, 400.0, 800.0, 1500.0)


def los_mask(tx: np.ndarray, pts: np.ndarray, h_ut: float, height_map: np.ndarray, x0: float, y0: float,
             cs: float, step: float) -> np.ndarray:
    """Geometric LoS from ``tx`` (3,) to ``pts`` (n, 2) at ``h_ut`` over a building-height raster."""
    ny, nx = height_map.shape
    d = np.hypot(pts[:, 0] - tx[0], pts[:, 1] - tx[1])
    n_s = max(2, int(np.ceil(d.max() / step)))
    los = np.ones(len(pts), dtype=bool)
    for k in range(1, n_s):
        f = k / n_s
        x = tx[0] + (pts[:, 0] - tx[0]) * f
        y = tx[1] + (pts[:, 1] - tx[1]) * f
        z = tx[2] + (h_ut - tx[2]) * f
        ix = np.clip(np.rint((x - x0) / cs).astype(int), 0, nx - 1)
        iy = np.clip(np.rint((y - y0) / cs).astype(int), 0, ny - 1)
        los &= height_map[iy, ix] < z
    return los


def main() -> None:
    """Compute the table (markdown on stdout) and the PNG."""
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--preset", default="helsinki")
    ap.add_argument("--png", type=Path, default=ROOT / "docs" / "img" / "validate_38901.png")
    args = ap.parse_args()

    import shapely

    from mndt_envs.config import make_config
    from mndt_envs.twin.channel.raytraced import RayTracedChannel
    from mndt_envs.twin.channel.statistical import (
        pathloss_uma_los,
        pathloss_uma_nlos,
        pathloss_umi_los,
        pathloss_umi_nlos,
    )
    from mndt_envs.twin.geometry import load_city
    from mndt_envs.twin.sites import make_cells

    cfg = make_config(args.preset)
    cells = make_cells(cfg, np.random.default_rng(0))
    ch = RayTracedChannel.from_config(cfg, cells)
    city = load_city(cfg.channel.source, cfg)
    m = ch.maps
    fc, h_ut = cfg.radio.carrier_ghz, cfg.radio.ue_height_m
    xc, yc = m.cell_centres()
    gx, gy = np.meshgrid(xc, yc)
    pts = np.column_stack([gx.ravel(), gy.ravel()])
    # building-height raster on the map grid
    hmap = np.zeros(len(pts))
    if city.buildings:
        tree = shapely.STRtree(city.buildings)
        pi, bi = tree.query(shapely.points(pts), predicate="within")
        np.maximum.at(hmap, pi, city.heights[bi])
    hmap = hmap.reshape(gx.shape)
    outdoor = ~m.indoor.ravel()
    rows = []
    d_all = []  # 2-D distances of every outdoor (site, map cell) pair [m]
    for t, tx in enumerate(m.tx_xyz):
        d_all.append(np.hypot(pts[outdoor, 0] - tx[0], pts[outdoor, 1] - tx[1]))
        ok = outdoor & m.reached[t].ravel()
        p = pts[ok]
        d2 = np.hypot(p[:, 0] - tx[0], p[:, 1] - tx[1])
        keep = d2 >= BINS_M[0]
        p, d2 = p[keep], d2[keep]
        los = los_mask(tx, p, h_ut, hmap, m.x0, m.y0, m.cell_size, m.cell_size / 2)
        pl_rt = -m.pg_db[t].ravel()[ok][keep]
        umi = np.where(los, pathloss_umi_los(d2, tx[2], h_ut, fc), pathloss_umi_nlos(d2, tx[2], h_ut, fc))
        uma = np.where(los, pathloss_uma_los(d2, tx[2], h_ut, fc), pathloss_uma_nlos(d2, tx[2], h_ut, fc))
        rows.append(np.column_stack([d2, los, pl_rt, pl_rt - umi, pl_rt - uma]))
    a = np.concatenate(rows)
    d_all_a = np.concatenate(d_all)
    n_all = len(d_all_a)
    s = ch.build_summary
    print(f"Validation of the ray-traced '{args.preset}' twin against 3GPP TR 38.901 "
          f"({s['rays_per_tx']:.0e} rays/tx, depth {s['max_depth']}, diffraction {s['diffraction']}, "
          f"{fc} GHz, {len(m.tx_xyz)} sites at {', '.join(f'{h:.0f}' for h in m.tx_xyz[:, 2])} m)")
    print(f"{len(a)} reached outdoor links of {n_all} outdoor (site, map cell) pairs "
          f"({100 * len(a) / max(n_all, 1):.1f}%); offset = PL_RT - PL_38901 [dB]\n")
    print("| distance [m] | reached | class | links | median PL_RT [dB] | offset vs UMi: median (IQR) | "
          "offset vs UMa: median (IQR) |")
    print("|---|---:|---|---:|---:|---:|---:|")
    for lo, hi in zip(BINS_M[:-1], BINS_M[1:], strict=True):
        in_bin = (d_all_a >= lo) & (d_all_a < hi)
        reach = ((a[:, 0] >= lo) & (a[:, 0] < hi)).sum() / max(int(in_bin.sum()), 1)
        for cls, name in ((1.0, "LoS"), (0.0, "NLoS")):
            sel = (a[:, 0] >= lo) & (a[:, 0] < hi) & (a[:, 1] == cls)
            if sel.sum() < 20:
                continue
            b = a[sel]

            def mi(col: int, b: np.ndarray = b) -> str:
                q1, q2, q3 = np.percentile(b[:, col], [25, 50, 75])
                return f"{q2:+.1f} ({q3 - q1:.1f})"

            print(f"| {lo:.0f}-{hi:.0f} | {100 * reach:.0f}% | {name} | {int(sel.sum())} | {np.median(b[:, 2]):.1f} | "
                  f"{mi(3)} | {mi(4)} |")
    for cls, name in ((1.0, "LoS"), (0.0, "NLoS")):
        sel = a[:, 1] == cls
        if sel.any():
            print(f"| all | {100 * len(a) / max(n_all, 1):.0f}% | {name} | {int(sel.sum())} | "
                  f"{np.median(a[sel, 2]):.1f} | "
                  f"{np.median(a[sel, 3]):+.1f} ({np.subtract(*np.percentile(a[sel, 3], [75, 25])):.1f}) | "
                  f"{np.median(a[sel, 4]):+.1f} ({np.subtract(*np.percentile(a[sel, 4], [75, 25])):.1f}) |")

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rng = np.random.default_rng(0)
    idx = rng.choice(len(a), size=min(len(a), 20000), replace=False)
    b = a[idx]
    fig, ax = plt.subplots(figsize=(8, 5.5), dpi=110)
    for cls, name, col in ((1.0, "ray-traced, geometric LoS", "tab:blue"), (0.0, "ray-traced, NLoS", "tab:orange")):
        sel = b[:, 1] == cls
        ax.scatter(b[sel, 0], b[sel, 2], s=2, alpha=0.25, color=col, label=name, rasterized=True)
    d = np.geomspace(BINS_M[0], a[:, 0].max(), 200)
    h_bs = float(np.median(m.tx_xyz[:, 2]))
    for f, lab, st in ((pathloss_umi_los, "UMi LoS", "b-"), (pathloss_umi_nlos, "UMi NLoS", "r-"),
                       (pathloss_uma_los, "UMa LoS", "b--"), (pathloss_uma_nlos, "UMa NLoS", "r--")):
        ax.plot(d, f(d, h_bs, h_ut, fc), st, lw=1.5, label=f"38.901 {lab} (h_BS {h_bs:.0f} m)")
    fspl = 20 * np.log10(4 * math.pi * np.hypot(d, h_bs - h_ut) * fc * 1e9 / 299_792_458.0)
    ax.plot(d, fspl, "k:", lw=1, label="free space")
    ax.set_xscale("log")
    ax.set_xlabel("2-D distance [m]")
    ax.set_ylabel("path loss [dB]")
    ax.set_title(f"Ray-traced path loss vs 3GPP TR 38.901 ({args.preset}, {fc} GHz)")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=8, markerscale=4, loc="lower right")
    fig.tight_layout()
    args.png.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(args.png)
    print(f"\nplot: {args.png.relative_to(ROOT) if args.png.is_relative_to(ROOT) else args.png}")


if __name__ == "__main__":
    main()
