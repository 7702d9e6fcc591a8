"""``mndt lstm …``: train the traffic-twin weights, compare forecasters, validate the generator, reproduce paper 000.

Mounted by :mod:`mndt_envs.cli` as ``app.add_typer(lstm_app, name="lstm")``; also runnable alone with
``python -m mndt_envs.cli_lstm``. Every command that reads real data takes ``--data-dir`` (default:
``$MNDT_DATA_DIR``, else ``../shared/data`` beside the repository).
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import typer

__all__ = ["lstm_app", "default_data_dir"]

lstm_app = typer.Typer(help="LSTM twin generators: train bundled weights, compare forecasters, validate the "
                       "generator, reproduce paper 000.", no_args_is_help=True)


def default_data_dir() -> Path:
    """``$MNDT_DATA_DIR`` if set, else ``../shared/data`` beside the repository root."""
    env = os.environ.get("MNDT_DATA_DIR")
    if env:
        return Path(env)
    return Path(__file__).resolve().parents[1].parent / "shared" / "data"


def _data_dir(data_dir: Path | None, needs: str = "milan/ and kaist/") -> Path:
    d = data_dir or default_data_dir()
    if not d.is_dir():
        raise typer.BadParameter(f"{d}: data folder not found (needs {needs}; see shared/data/README.md, or set "
                                 "--data-dir / MNDT_DATA_DIR)")
    return d


def _threads(n: int) -> None:
    import torch

    torch.set_num_threads(n)


def _training_setup(data_dir: Path | None, needs: str, out_dir: Path | None) -> tuple[Path, Path]:
    """The checked data folder and the weights folder of a ``train-*`` command."""
    from mndt_envs.twin.traffic import generator as g

    d = _data_dir(data_dir, needs)
    return d, (Path(out_dir) if out_dir else g.WEIGHTS_DIR)


@lstm_app.command("train-traffic")
def train_traffic(
    data_dir: Path = typer.Option(None, help="Data folder with milan/milan_grid_25sq_10min.csv."),
    out_dir: Path = typer.Option(None, help="Where to write the weights (default: the package's data/weights)."),
    max_seconds: float = typer.Option(150.0, help="CPU budget per model [s]."),
    seed: int = typer.Option(0, help="Seed."),
    threads: int = typer.Option(1, help="torch threads."),
) -> None:
    """Retrain the bundled traffic generator and traffic forecaster on the Milan training part (+ JSON beside)."""
    from mndt_envs.twin.traffic import generator as g
    from mndt_envs.twin.traffic import training as t

    d, out = _training_setup(data_dir, "milan/milan_grid_25sq_10min.csv", out_dir)
    gen = t.train_generator(d, out / g.TRAFFIC_WEIGHTS.name, max_seconds=max_seconds, seed=seed, verbose=False,
                            threads=threads)
    fc = t.train_traffic_forecaster(d, out / t.TRAFFIC_FORECASTER_WEIGHTS.name, max_seconds=max_seconds, seed=seed,
                                    threads=threads)
    typer.echo(f"traffic generator: {gen.n_templates} templates, LSTM hidden {gen.hidden}, rho {gen.rho:.3f}; "
               f"traffic forecaster: {fc.n_parameters} parameters, alpha {fc.alpha}; written to {out} (+ .json)")


@lstm_app.command("train-users")
def train_users(
    data_dir: Path = typer.Option(None, help="Data folder with kaist/."),
    out_dir: Path = typer.Option(None, help="Where to write the weights (default: the package's data/weights)."),
    max_seconds: float = typer.Option(60.0, help="CPU budget [s]."),
    seed: int = typer.Option(0, help="Seed."),
    threads: int = typer.Option(1, help="torch threads."),
) -> None:
    """Retrain the bundled per-cell user-count forecaster on the KAIST training part (+ JSON beside)."""
    from mndt_envs.twin.traffic import generator as g
    from mndt_envs.twin.traffic import training as t

    d, out = _training_setup(data_dir, "kaist/", out_dir)
    m = t.train_user_count_forecaster(d, out / g.USER_COUNT_WEIGHTS.name, max_seconds=max_seconds, seed=seed,
                                      threads=threads)
    typer.echo(f"user-count forecaster: {m.n_parameters} parameters, alpha {m.alpha}; written to {out} (+ .json)")


@lstm_app.command("compare")
def compare(
    only: str = typer.Option("traffic,users,channel", help="Comma-separated subset of traffic, users, channel."),
    data_dir: Path = typer.Option(None, help="Data folder (milan/, kaist/)."),
    out: Path = typer.Option(Path("runs/lstm_compare"), help="Output folder (JSON + Markdown)."),
    seeds: int = typer.Option(3, help="Seeds of the learned models."),
    max_seconds: float = typer.Option(60.0, help="CPU budget per model fit [s] (channel: per LSTM)."),
) -> None:
    """The shipped forecasters against persistence, seasonal-naive, a linear model (and the LSTMs), same windows."""
    from rich.console import Console
    from rich.markdown import Markdown

    from mndt_envs.twin.traffic import experiments as ex

    _threads(1)
    names = [s.strip() for s in only.split(",") if s.strip()]
    bad = [n for n in names if n not in ("traffic", "users", "channel")]
    if bad:
        raise typer.BadParameter(f"--only: unknown {', '.join(bad)}; allowed: traffic, users, channel")
    out.mkdir(parents=True, exist_ok=True)
    con = Console()
    sd = tuple(range(seeds))
    for name in names:
        if name == "traffic":
            res: Any = ex.run_traffic_forecasters(_data_dir(data_dir), seeds=sd, max_seconds=max_seconds)
            md = ex.summary_markdown(res) + "\n\n" + ex.comparison_markdown(
                res, "Milan traffic, P 144 → L 12, rolling origin and generalisation")
        elif name == "users":
            res = ex.run_user_forecasters(_data_dir(data_dir), seeds=sd, max_seconds=max_seconds)
            md = ex.summary_markdown(res) + "\n\n" + ex.comparison_markdown(
                res, "KAIST user counts (centre cell), P 50 → L 10")
        else:
            r = ex.run_channel(max_seconds=max_seconds, seeds=sd)
            res = {"name": r.name, "rows": r.rows, "details": r.details}
            md = ex.channel_markdown(r)
        (out / f"{name}.json").write_text(json.dumps(res, indent=1, default=float))
        (out / f"{name}.md").write_text(md + "\n")
        con.print(Markdown(md))
    typer.echo(f"wrote {out}")


@lstm_app.command("validate")
def validate(
    data_dir: Path = typer.Option(None, help="Data folder with milan/milan_grid_25sq_10min.csv."),
    weights: Path = typer.Option(None, help="Generator weights (default: bundled)."),
    png: Path = typer.Option(Path("docs/img/traffic_generator_validation.png"), help="Figure to write."),
    n_gen: int = typer.Option(100, help="Generated series."),
    seed: int = typer.Option(0, help="Seed of the generated series."),
    hours: bool = typer.Option(False, help="Also print every hour of the daily profile."),
) -> None:
    """Generated vs held-back real Milan series: daily profile, weekday/weekend, quantiles, ACF, neighbour xcorr."""
    import numpy as np
    from rich.console import Console
    from rich.table import Table

    from mndt_envs.twin.traffic.experiments import milan_matrix
    from mndt_envs.twin.traffic.generator import LSTMTrafficGenerator
    from mndt_envs.twin.traffic.realism import format_rows, plot_comparison, validation_data
    from mndt_envs.twin.traffic.training import MILAN_START_SLOT_OF_WEEK, TRAIN_DAYS

    d = _data_dir(data_dir, "milan/milan_grid_25sq_10min.csv")
    gen = LSTMTrafficGenerator.load(weights)
    x = milan_matrix(d)
    v = validation_data(x, gen, np.random.default_rng(seed), test_start=TRAIN_DAYS * 144, n_gen=n_gen,
                        start_slot_of_week_0=MILAN_START_SLOT_OF_WEEK)
    table = Table(title=f"Traffic generator vs the held-back Milan week (days {TRAIN_DAYS}-29, 25 squares; "
                        f"{n_gen} generated cells; load / series mean)")
    for col in ("statistic", "real median", "real min … max", "generated median", "generated 5–95 %", "within"):
        table.add_column(col)
    for row in format_rows(v["rows"], profile_hours=hours):
        table.add_row(*row)
    Console().print(table)
    n_ok = sum(r.ok for r in v["rows"])
    typer.echo(f"{n_ok}/{len(v['rows'])} statistics (every profile hour counted) within the real spread")
    path = plot_comparison(v["real_x"], v["gen_x"], v["real"], v["gen"], png,
                           title="traffic generator (orange) vs held-back Milan week (blue)")
    typer.echo(f"wrote {path}")


@lstm_app.command("reproduce")
def reproduce(
    out: Path = typer.Option(Path("runs/lstm_reproduce"), help="Output folder for CSV / JSON / PNG."),
    data_dir: Path = typer.Option(None, help="Data folder (milan/, kaist/)."),
    max_seconds: float = typer.Option(480.0, help="CPU budget per experiment [s]."),
    only: str = typer.Option("channel,traffic,users", help="Comma-separated subset."),
) -> None:
    """Paper 000 as written: channel, Milan traffic and KAIST user-count LSTMs; print the table; write CSV / PNG."""
    from rich.console import Console
    from rich.markdown import Markdown

    from mndt_envs.twin.traffic.experiments import markdown_table, run_all, write_outputs

    names = tuple(s.strip() for s in only.split(",") if s.strip())
    needs_data = any(n in ("traffic", "users") for n in names)
    d = _data_dir(data_dir) if needs_data else data_dir
    results = run_all(d, max_seconds, names, verbose=False)
    paths = write_outputs(results, out)
    Console().print(Markdown(markdown_table(results)))
    typer.echo(f"wrote {paths['csv']}, {paths['png']}")


if __name__ == "__main__":
    lstm_app()
