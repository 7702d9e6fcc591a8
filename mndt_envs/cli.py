"""Command line: ``mndt info | demo | compare | twin ... | lstm ...``."""

from __future__ import annotations

import csv
import importlib
import platform
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import typer
from rich.console import Console
from rich.table import Table

from . import __version__
from .registration import TASKS, load_entry

app = typer.Typer(help="mndt-envs: RL environments on a mobile-network digital twin.", no_args_is_help=True,
                  add_completion=False)
console = Console()


def _mount(module: str, attr: str, name: str, help_text: str) -> None:
    try:
        sub = getattr(importlib.import_module(module), attr)
    except (ImportError, AttributeError):
        return
    app.add_typer(sub, name=name, help=help_text)


_mount("mndt_envs.cli_twin", "twin_app", "twin", "Build a city twin: OSM geometry, scene, ray-traced radio maps.")
_mount("mndt_envs.cli_lstm", "lstm_app", "lstm", "LSTM twin generators: train, reproduce paper 000.")
_mount("mndt_envs.cli_reproduce", "reproduce_app", "reproduce",
       "Paper reproductions from the installed package: table2 (paper 002), breathing (paper 001), lstm (paper 000).")
try:  # `mndt train` (SB3 / RLlib backends)
    from .cli_train import train as _train

    app.command(name="train")(_train)
except ImportError:  # pragma: no cover - a broken optional dependency must not take the other commands down
    pass


def _version(mod: str) -> str:
    try:
        from importlib.metadata import version

        return version(mod)
    except Exception:
        return "not installed"


@app.command()
def info() -> None:
    """Versions, ray-tracing backends found and the torch device."""
    t = Table(title=f"mndt-envs {__version__}")
    t.add_column("component")
    t.add_column("value")
    t.add_row("python", platform.python_version())
    for pkg in ("numpy", "scipy", "gymnasium", "pettingzoo", "stable-baselines3", "sb3-contrib", "torch",
                "sionna-rt", "sionna", "mitsuba", "drjit", "osmnx"):
        t.add_row(pkg, _version(pkg))
    try:
        from .twin import backend

        for k, v in backend.describe_backends().items():
            t.add_row(f"ray tracing: {k}", str(v))
    except ImportError:
        t.add_row("ray tracing", "backend module not available")
    try:
        import torch

        dev = "cuda" if torch.cuda.is_available() else "cpu"
        t.add_row("torch device", f"{dev} ({torch.get_num_threads()} threads)")
    except ImportError:
        t.add_row("torch device", "torch not installed")
    t.add_row("registered envs", ", ".join(x.env_id for x in TASKS))
    t.add_row("parallel envs", ", ".join(x.parallel_name for x in TASKS))
    console.print(t)


def twin_table(summary: dict[str, Any], build_s: float) -> Table:
    """A rich table of :meth:`NetworkTwin.summary`."""
    t = Table(title=f"Twin '{summary['scenario']}'")
    t.add_column("quantity")
    t.add_column("value", justify="right")
    for k, v in summary.items():
        if isinstance(v, float):
            v = f"{v:.3g}"
        t.add_row(k.replace("_", " "), str(v))
    t.add_row("build time (s)", f"{build_s:.2f}")
    return t


@app.command()
def demo(
    scenario: str = typer.Option("helsinki", help="Scenario preset for the twin section."),
    out: Path = typer.Option(Path("runs/demo"), help="Output directory."),
    tasks: str = typer.Option("all", help="Comma-separated task names whose demo sections run, or 'all'/'none'."),
) -> None:
    """The main job: build the default twin, print its summary, render its map, run each task's demo."""
    import numpy as np
    from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

    from .cli_output import capture_notes, ray_tracing_line
    from .render import render_map
    from .twin import NetworkTwin

    out.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    notes: list[str] = []
    msg = f"Building the '{scenario}' twin (a first run ray-traces the city, ~40 s; later runs load the cache)"
    if not console.is_terminal:
        console.print(msg + " ...", highlight=False)
    with Progress(SpinnerColumn(), TextColumn("{task.description}"), TimeElapsedColumn(), console=console,
                  transient=True) as spin, capture_notes(notes):
        spin.add_task(msg, total=None)
        twin = NetworkTwin(scenario)
        twin.reset(np.random.default_rng(0))
    build_s = time.perf_counter() - t0
    table = twin_table(twin.summary(), build_s)
    ray_line = ray_tracing_line(getattr(twin.channel, "build_summary", None))
    if ray_line:
        table.add_row("ray tracing", ray_line)
    console.print(table)
    for note in notes:  # warnings of the build, one line each (the ray-tracing note is the row above)
        if not (ray_line and note.startswith(("ray tracing reached", "ray-traced"))):
            console.print(f"[yellow]note:[/] {note}", highlight=False)
    buildings = None
    if twin.cfg.channel.source:
        try:
            from .twin.geometry import load_city

            buildings = load_city(twin.cfg.channel.source, twin.cfg).buildings
        except Exception as exc:  # the map is still useful without outlines
            console.print(f"[yellow]building outlines unavailable: {exc}[/]")
    serving, _ = twin.associate()
    png = out / "twin_map.png"
    with console.status("Rendering the map ..."):
        render_map(twin, lines=serving, buildings=buildings, path=png,
                   title=f"{twin.cfg.name}: cells, best-server regions, users")
    console.print(f"map written to [bold]{png}[/]")
    wanted = {x.name for x in TASKS} if tasks == "all" else set() if tasks == "none" else set(tasks.split(","))
    for spec in TASKS:
        if spec.name not in wanted or spec.demo is None:
            continue
        console.rule(f"[bold]{spec.name}")
        t1 = time.perf_counter()
        load_entry(spec.demo)(console, out / spec.name)
        console.print(f"[dim]{spec.name} section: {time.perf_counter() - t1:.1f} s[/]")
    console.print(f"[green]demo done in {time.perf_counter() - t0:.1f} s; outputs under {out}[/]")


def evaluate(env_id: str, policy_entry: str, episodes: int, seed: int, kwargs: dict[str, Any],
             on_episode: Callable[[], None] | None = None) -> dict[str, float]:
    """Run ``episodes`` seeded episodes of a baseline on an env; mean return, cost and episode metrics.

    ``on_episode`` is called after every episode (progress display).
    """
    import gymnasium as gym
    import numpy as np

    from .evaluation import run_episode

    env = gym.make(env_id, **kwargs)
    policy = load_entry(policy_entry)(env)
    runs = []
    for ep in range(episodes):
        runs.append(run_episode(env, policy, seed + ep))
        if on_episode is not None:
            on_episode()
    rets = [r["return"] for r in runs]
    costs = [r["cost"] for r in runs]
    steps = [r["steps"] for r in runs]
    times = [r["wall_s"] for r in runs]
    metrics: dict[str, list[float]] = {}
    for r in runs:
        for k, v in r["metrics"].items():
            if isinstance(v, (int, float, np.floating, np.integer)):
                metrics.setdefault(k, []).append(float(v))
    env.close()
    row = {"return": float(np.mean(rets)), "return_std": float(np.std(rets)), "cost": float(np.mean(costs)),
           "steps": float(np.mean(steps)), "wall_s": float(np.mean(times))}
    row.update({k: float(np.mean(v)) for k, v in metrics.items()})
    return row


@app.command()
def compare(
    episodes: int = typer.Option(3, min=1, help="Seeded episodes per (env, baseline)."),
    seed: int = typer.Option(0, help="Seed of the first episode."),
    scenario: str = typer.Option("toy", help="Scenario preset."),
    config: str = typer.Option("{}", help="JSON config overrides passed to every env."),
    tasks: str = typer.Option("all", help="Comma-separated task names, or 'all'."),
    out: Path = typer.Option(Path("runs/compare"), help="Output directory for CSV and plots."),
    fmt: str | None = typer.Option(None, "--format", help="Output format: table | markdown | csv "
                                   "(default: table in a terminal, markdown when piped)."),
    policy: list[Path] = typer.Option([], "--policy", help="A run directory of `mndt train` (repeatable): its "
                                      "policy gets a column beside the baselines of its task."),
    oracles: bool = typer.Option(False, "--oracles/--no-oracles", help="Add each task's oracle (bounds and "
                                 "references that see the future; minutes per episode) and every policy's "
                                 "optimality gap to it."),
) -> None:
    """Evaluate every registered baseline on every env; print a table, write CSV and a plot.

    One table per env, one row per metric and one column per policy (readable at 80 columns).

    compare.csv and compare.png (return, cost and the task's key metrics side by side) go to --out.
    """
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    from .cli_output import FORMATS, config_option, default_format, plot_compare, render_results

    fmt = fmt or default_format()
    if fmt not in FORMATS:
        raise typer.BadParameter(f"--format {fmt!r}: allowed values are {', '.join(FORMATS)}")
    # results go to stdout in the chosen format; progress and file notes to stderr
    log = Console(stderr=True)
    overrides = config_option(config)
    out.mkdir(parents=True, exist_ok=True)
    wanted = {x.name for x in TASKS} if tasks == "all" else set(tasks.split(","))
    unknown = wanted - {x.name for x in TASKS}
    if unknown:
        raise typer.BadParameter(f"unknown task(s) {sorted(unknown)}; known: {[x.name for x in TASKS]}")
    rows: list[dict[str, Any]] = []
    jobs = [(spec, name, entry) for spec in TASKS if spec.name in wanted for name, entry in spec.baselines.items()]
    with Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                  console=log, transient=True) as bar:
        todo = bar.add_task("episodes", total=len(jobs) * episodes)
        for spec, name, entry in jobs:
            bar.update(todo, description=f"{spec.name} / {name}")
            t_job = time.perf_counter()
            res = evaluate(spec.env_id, entry, episodes, seed, {"scenario": scenario, "config": overrides},
                           on_episode=lambda: bar.advance(todo))
            rows.append({"task": spec.name, "baseline": name, **res})
            log.print(f"{spec.name} / {name}: return {res['return']:.4g}, cost {res['cost']:.4g} "
                      f"({time.perf_counter() - t_job:.1f} s)", highlight=False)
    for run in policy:  # trained policies (`mndt train`), evaluated on the same seeds
        from .cli_train import evaluate_run

        task_name, res = evaluate_run(run, episodes, seed, {"scenario": scenario, "config": overrides})
        if task_name in wanted:
            rows.append({"task": task_name, "baseline": f"trained:{Path(run).name}", **res})
            log.print(f"{task_name} / trained:{Path(run).name}: return {res['return']:.4g}, cost {res['cost']:.4g}",
                      highlight=False)
    if oracles:
        rows += _oracle_rows(rows, wanted, episodes, seed, {"scenario": scenario, "config": overrides}, log)
    titles = {spec.name: f"{spec.env_id} on '{scenario}' ({episodes} episode{'s' * (episodes > 1)} each)"
              for spec in TASKS}
    render_results(rows, fmt, titles, console)
    keys: list[str] = []
    for r in rows:
        keys += [k for k in r if k not in keys]
    csv_path = out / "compare.csv"
    with csv_path.open("w", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=keys)
        w.writeheader()
        w.writerows(rows)
    if rows:
        plot_compare(rows, out / "compare.png")
    log.print(f"wrote {csv_path}" + (f" and {out / 'compare.png'}" if rows else " (no baselines registered)"),
              highlight=False)


ORACLE_TAG = " [oracle: sees the future]"


def _oracle_rows(rows: list[dict[str, Any]], wanted: set[str], episodes: int, seed: int, kwargs: dict[str, Any],
                 log: Console) -> list[dict[str, Any]]:
    """Rows of the tasks' oracles on the same seeds; adds ``gap_to_<oracle>_pct`` to the policies' rows.

    An oracle row is marked in its name and by ``kind = "oracle (sees the future)"``: a bound or reference
    computed with knowledge no network has, never a policy.
    """
    import gymnasium as gym
    import numpy as np

    out: list[dict[str, Any]] = []
    for spec in TASKS:
        if spec.name not in wanted:
            continue
        for name, entry in spec.oracles.items():
            env = gym.make(spec.env_id, **kwargs)
            oracle = load_entry(entry)(env)
            t0 = time.perf_counter()
            with log.status(f"{spec.name} / oracle {name}: {episodes} episode(s) ..."):
                runs = [oracle.evaluate(seed + ep) for ep in range(episodes)]
            env.close()
            keys = list(dict.fromkeys(k for r in runs for k in r))
            orow: dict[str, Any] = {"task": spec.name, "baseline": name + ORACLE_TAG,
                                    "kind": "oracle (sees the future)"}
            orow.update({k: float(np.mean([r.get(k, np.nan) for r in runs])) for k in keys})
            log.print(f"{spec.name} / oracle {name}: {time.perf_counter() - t0:.1f} s", highlight=False)
            for r in rows:
                if r["task"] == spec.name:
                    r.setdefault("kind", "policy")
                    g = oracle.gap(r, orow)
                    if g is not None:
                        r[f"gap_to_{name}_pct"] = float(g)
            out.append(orow)
    return out


def main() -> None:
    """Entry point of the ``mndt`` script."""
    try:
        app()
    except KeyboardInterrupt:
        sys.exit(130)


if __name__ == "__main__":
    main()
