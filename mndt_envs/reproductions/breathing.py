"""Paper 001 §7 evaluation: a day of hourly CPICH load balancing, Static vs BDBA vs BFDBA.

Two scenarios of different antenna density, each over one tidal hotspot day (24 one-hour
periods, the same users and MR data for every policy):

* ``dense``: the ``toy`` layout (7 three-sector sites, ISD 350 m, 21 antennas on 1 km²) with 2,000 users;
* ``paper``: the ``paper`` layout (13 three-sector micro sites, ISD 500 m, + 145 indoor picos =
  184 antennas on 4 km²) with 8,000 users; coverage threshold -112 dBm (at -105 dBm the
  reference network itself covers only 85% and leaves no room to lower any power).

Per policy: mean over the day of the per-period std of busy degrees and over-busy share,
their reduction vs the static network, the minimum coverage (must stay >= C_min), and the
run time per period. Writes a markdown table, per-period bar plots (Fig. 6 analogue) and
before/after coverage maps under ``--out`` (default ``runs/reproduce/breathing``), and the numbers
to ``lb_breathing.json`` there.

Run: ``mndt reproduce breathing [--seeds 0 1] [--scenarios dense paper] [--mlp-check]``
"""

from __future__ import annotations

import os

# one BLAS thread: the dense pseudo-inverse of a few hundred antennas is ~100x slower with an
# oversubscribed multi-threaded OpenBLAS on a shared 2-core machine
for _var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import argparse  # noqa: E402
import copy  # noqa: E402
import json  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import Any  # noqa: E402

import numpy as np  # noqa: E402

SCENARIOS: dict[str, dict[str, Any]] = {
    "dense": {"scenario": "toy", "config": {"users": {"n_users": 2000}, "task": {}}},
    "paper": {"scenario": "paper", "config": {"users": {"n_users": 8000},
                                              "task": {"coverage_threshold_dbm": -112.0}}},
}


def policies() -> list[tuple[str, Any, dict[str, Any]]]:
    """The compared policies: (row name, baseline class, keyword arguments)."""
    from mndt_envs.baselines.load_balancing import BDBA, BFDBA, Static

    return [
        ("static", Static, {}),
        ("BDBA (global)", BDBA, {"target": "global"}),
        ("BFDBA (global)", BFDBA, {"target": "global"}),
        ("BDBA (local)", BDBA, {"target": "local"}),
        ("BFDBA (local)", BFDBA, {"target": "local"}),
        ("BDBA (paper: no active set)", BDBA, {"target": "global", "active_set": False}),
    ]


def run_day(env: Any, cls: Any, kw: dict[str, Any]) -> dict[str, Any]:
    """Run one day with ``cls(env, **kw)``: per-period rows, episode metrics and policy time per period."""
    pol = cls(env, **kw)
    obs = env.unwrapped.core.global_obs()
    rows, t_pol = [], []
    done = False
    while not done:
        t0 = time.perf_counter()
        act, _ = pol.predict(obs)
        t_pol.append(time.perf_counter() - t0)
        obs, _, term, trunc, info = env.step(act)
        rows.append({"hour": info["hour"], "std": info["std_busy"], "over": info["over_busy_share"],
                     "coverage": info["coverage"], "cost": info["cost"]})
        done = term or trunc
    return {"rows": rows, "t_policy": float(np.median(t_pol)), "metrics": info["episode_metrics"]}


def mlp_check(out: Path, seed: int = 0) -> str:
    """§6.2 on one period of the paper layout: monotone MLP vs the exact MR method, and p_min from each."""
    import torch

    from mndt_envs.tasks import coverage as cov
    from mndt_envs.tasks.load_balancing import LoadBalancingCore

    torch.set_num_threads(1)
    spec = SCENARIOS["paper"]
    cfg = copy.deepcopy(spec["config"])
    cfg["task"].update(episode_steps=1, pmin_method="none", start_hour=12.0)
    core = LoadBalancingCore(spec["scenario"], cfg)
    rng = np.random.default_rng(seed)
    core.reset(rng)
    ids, att = core.mrs_of(core.period, core.p_ref, rng)
    t0 = time.perf_counter()
    ids_r, att_r, w = cov.remove_redundant_mrs(ids, att, dominated=False)
    ids_d, _, _ = cov.remove_redundant_mrs(ids, att, dominated=True)
    t_red = time.perf_counter() - t0
    adj = cov.neighbour_graph(ids_r, core.n)
    inc = cov.incidence(ids_r, core.n, w)

    def exact(p: np.ndarray) -> np.ndarray:
        return cov.neighbourhood_coverage(ids_r, att_r, p, core.threshold_dbm, inc, w)

    t0 = time.perf_counter()
    model = cov.MonotoneCoverageMLP.fit(ids_r, att_r, adj, core.p_lo, core.p_max, core.threshold_dbm, rng,
                                        weights=w, n_samples=512, epochs=400)
    t_fit = time.perf_counter() - t0
    ptest = rng.uniform(core.p_lo, core.p_max, (100, core.n))
    y = np.stack([exact(p) for p in ptest])
    t0 = time.perf_counter()
    yhat = model.predict(ptest)
    t_pred = (time.perf_counter() - t0) / len(ptest)
    t0 = time.perf_counter()
    for p in ptest[:20]:
        exact(p)
    t_exact = (time.perf_counter() - t0) / 20
    req = np.minimum(core.cfg.c_min, exact(core.p_ref) - core.cfg.coverage_slack - 1e-9)
    top = np.minimum(core.p_ref, core.p_max)
    t0 = time.perf_counter()
    pe, oke = cov.min_coverage_powers(core.p_lo, top, exact, adj, req, core.cfg.pmin_eps_db)
    t_pe = time.perf_counter() - t0
    t0 = time.perf_counter()
    pm, _ = cov.min_coverage_powers(core.p_lo, top, model.predict, adj, req, core.cfg.pmin_eps_db)
    t_pm = time.perf_counter() - t0
    okm_raw = exact(pm) >= req
    pf, okf = cov.min_coverage_powers(pm, top, exact, adj, req, core.cfg.pmin_eps_db)
    lines = [
        f"Monotone MLP check (paper layout, {core.n} antennas, one period at 12:00, {len(ids):,} MRs; "
        f"{len(ids_r):,} after merging duplicates, {len(ids_d):,} after also removing dominated MRs, {t_red:.2f} s):",
        "",
        "| quantity | value |",
        "|---|---|",
        f"| MLP training (512 random power vectors, 400 Adam steps, all antennas at once) | {t_fit:.1f} s, "
        f"train MSE {model.final_loss:.2e} |",
        f"| test MSE / MAE of neighbourhood coverage (100 random power vectors) | {np.mean((yhat - y) ** 2):.2e} / "
        f"{np.mean(np.abs(yhat - y)):.4f} |",
        f"| one coverage evaluation: MLP / exact MR method | {1e3 * t_pred:.2f} ms / {1e3 * t_exact:.2f} ms |",
        f"| p_min, exact method | {t_pe:.2f} s, feasible {oke.mean():.3f}, mean p_min - p_ref "
        f"{np.mean(pe - core.p_ref):.2f} dB |",
        f"| p_min, MLP | {t_pm:.2f} s, meets the requirement by the exact method at {okm_raw.mean():.3f} of antennas, "
        f"mean abs. difference to p_min(exact) {np.mean(np.abs(pm - pe)):.2f} dB |",
        f"| p_min, MLP + exact fallback | feasible {okf.mean():.3f}, mean abs. difference to exact "
        f"{np.mean(np.abs(pf - pe)):.2f} dB |",
    ]
    text = "\n".join(lines)
    (out / "lb_mlp_check.md").write_text(text + "\n")
    return text


def main(argv: list[str] | None = None) -> None:
    """Command line of the reproduction (``mndt reproduce breathing``)."""
    ap = argparse.ArgumentParser(prog="mndt reproduce breathing", description=(__doc__ or "").split("\n")[0])
    ap.add_argument("--mlp-check", action="store_true", help="only run the monotone-MLP check (§6.2)")
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1])
    ap.add_argument("--scenarios", nargs="+", default=list(SCENARIOS))
    ap.add_argument("--out", default="runs/reproduce/breathing")
    args = ap.parse_args(argv)

    import gymnasium as gym
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    import mndt_envs  # noqa: F401
    from mndt_envs.tasks.load_balancing.render import draw

    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    if args.mlp_check:
        print(mlp_check(out))
        return
    results: dict[str, Any] = {}
    lines = []
    for scen in args.scenarios:
        spec = SCENARIOS[scen]
        res: dict[str, Any] = {}
        c_min = None
        for seed in args.seeds:
            env0 = gym.make("mndt/LoadBalancing-v0", **spec)
            t0 = time.perf_counter()
            env0.reset(seed=seed)
            t_reset = time.perf_counter() - t0
            core = env0.unwrapped.core  # type: ignore[attr-defined]
            c_min = core.cfg.c_min
            print(f"[{scen} seed {seed}] {core.n} antennas, {core.n_users} users, reset {t_reset:.1f} s", flush=True)
            for name, cls, kw in policies():
                env = copy.deepcopy(env0)
                r = run_day(env, cls, kw)
                res.setdefault(name, []).append(r)
                m = r["metrics"]
                print(f"  {name:30s} std {m['mean_std_busy']:.4f} over {m['mean_over_busy_share']:.4f} "
                      f"covmin {m['min_coverage']:.4f} t {1e3 * r['t_policy']:.1f} ms", flush=True)
            if seed == args.seeds[0]:
                # before/after maps at the period with the largest static imbalance
                env_s, env_b = copy.deepcopy(env0), copy.deepcopy(env0)
                from mndt_envs.baselines.load_balancing import BDBA, Static

                ps, pb = Static(env_s), BDBA(env_b)
                stat = res["static"][-1]["rows"]
                worst = int(np.argmax([row["std"] for row in stat]))
                for _ in range(worst + 1):
                    env_s.step(ps.predict(None)[0])
                    env_b.step(pb.predict(None)[0])
                fig, axes = plt.subplots(1, 2, figsize=(11, 5.2))
                for ax, e, lab in ((axes[0], env_s, "static"), (axes[1], env_b, "BDBA")):
                    c = e.unwrapped.core  # type: ignore[attr-defined]
                    art = draw(c, ax, f"{scen}, {lab}, hour {c.period.hour:.0f}: std(b) = {c.state['std_busy']:.3f}, "
                                     f"over-busy {c.state['over_busy_share']:.2f}")
                fig.colorbar(art, ax=axes, fraction=0.025, label="busy degree of the serving antenna")
                from mndt_envs.legends import map_legend

                for ax in axes:
                    map_legend(ax, cells="antenna", cell_color="w", users="user (sample)",
                               borders="boundary between best-server regions")
                fig.savefig(out / f"lb_map_{scen}.png", dpi=100)
                plt.close(fig)
        # aggregate
        summ = {}
        st = np.mean([r["metrics"]["mean_std_busy"] for r in res["static"]])
        so = np.mean([r["metrics"]["mean_over_busy_share"] for r in res["static"]])
        for name, runs in res.items():
            s = float(np.mean([r["metrics"]["mean_std_busy"] for r in runs]))
            o = float(np.mean([r["metrics"]["mean_over_busy_share"] for r in runs]))
            summ[name] = {
                "mean_std_busy": s, "mean_over_busy_share": o,
                "std_reduction_pct": 100.0 * (1 - s / st) if st > 0 else 0.0,
                "over_reduction_pct": 100.0 * (1 - o / so) if so > 0 else 0.0,
                "min_coverage": float(np.min([r["metrics"]["min_coverage"] for r in runs])),
                "ms_per_period": 1e3 * float(np.median([r["t_policy"] for r in runs])),
            }
        results[scen] = {"summary": summ, "c_min": c_min, "seeds": args.seeds,
                         "per_period": {k: [r["rows"] for r in v] for k, v in res.items()}}
        lines.append(f"\n**{scen}** (C_min = {c_min}, seeds {args.seeds}, 24 periods each)\n")
        lines.append("| policy | mean std(b) | reduction | mean over-busy share | reduction | min coverage "
                     "| ms / period |")
        lines.append("|---|---|---|---|---|---|---|")
        for name, m in summ.items():
            lines.append(f"| {name} | {m['mean_std_busy']:.4f} | {m['std_reduction_pct']:.1f}% | "
                         f"{m['mean_over_busy_share']:.4f} | {m['over_reduction_pct']:.1f}% | "
                         f"{m['min_coverage']:.4f} | {m['ms_per_period']:.1f} |")
        # per-period bar plots (first seed), Fig. 6 analogue
        show = ["static", "BDBA (global)", "BFDBA (global)"]
        fig, axes = plt.subplots(2, 1, figsize=(11, 6), sharex=True)
        hours = [row["hour"] for row in res["static"][0]["rows"]]
        x = np.arange(len(hours))
        wdt = 0.27
        for j, name in enumerate(show):
            rows = res[name][0]["rows"]
            axes[0].bar(x + (j - 1) * wdt, [r["std"] for r in rows], wdt, label=name)
            axes[1].bar(x + (j - 1) * wdt, [r["over"] for r in rows], wdt, label=name)
        axes[0].set_ylabel("std of busy degrees")
        axes[1].set_ylabel("over-busy share")
        axes[1].set_xticks(x, [f"{h:.0f}" for h in hours])
        axes[1].set_xlabel("hour of day")
        axes[0].legend(ncol=3, fontsize=8)
        axes[0].set_title(f"{scen}: per-period imbalance over a tidal day (seed {args.seeds[0]})")
        fig.tight_layout()
        fig.savefig(out / f"lb_breathing_{scen}.png", dpi=110)
        plt.close(fig)
    text = "\n".join(lines)
    print(text)
    (out / "lb_breathing.md").write_text(text + "\n")
    (out / "lb_breathing.json").write_text(json.dumps(results, indent=1))


if __name__ == "__main__":
    main()
