"""Load-balancing demo (``mndt demo load_balancing``): a tidal morning-to-evening with Static, BDBA and BFDBA."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # pragma: no cover
    from rich.console import Console

__all__ = ["demo"]


def demo(console: Console, outdir: Path) -> None:
    """Run a short tidal day on the toy scenario with Static, BDBA and BFDBA; table + before/after PNG."""
    import time

    import gymnasium as gym
    from rich.table import Table

    from mndt_envs.baselines.load_balancing import BDBA, BFDBA, Static
    from mndt_envs.tasks.load_balancing.render import render

    outdir = Path(outdir)
    outdir.mkdir(parents=True, exist_ok=True)
    kw: dict[str, Any] = {"scenario": "toy",
                          "config": {"users": {"n_users": 600}, "task": {"episode_steps": 12, "start_hour": 6.0}}}
    table = Table(title="load_balancing (toy, 600 users, 06:00-18:00, seed 0)")
    for col in ("policy", "mean std(b)", "mean over-busy", "min coverage", "ms / period"):
        table.add_column(col)
    for name, cls in (("static", Static), ("BDBA", BDBA), ("BFDBA", BFDBA)):
        env = gym.make("mndt/LoadBalancing-v0", **kw)
        pol = cls(env)
        obs, _ = env.reset(seed=0)
        done, dt = False, 0.0
        info: dict[str, Any] = {}
        while not done:
            t0 = time.perf_counter()
            act, _ = pol.predict(obs)
            dt += time.perf_counter() - t0
            obs, _, term, trunc, info = env.step(act)
            done = term or trunc
        m = info["episode_metrics"]
        table.add_row(name, f"{m['mean_std_busy']:.3f}", f"{m['mean_over_busy_share']:.3f}",
                      f"{m['min_coverage']:.3f}", f"{1e3 * dt / 12:.1f}")
        if name == "BDBA":
            render(env.unwrapped.core, path=outdir / "load_balancing_bdba.png")  # type: ignore[attr-defined]
        env.close()
    console.print(table)
    console.print(f"map: {outdir / 'load_balancing_bdba.png'}")
