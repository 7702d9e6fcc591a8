"""``mndt lstm …``: retrain the bundled traffic-twin weights and reproduce paper 000's experiments.

Mounted by :mod:`mndt_envs.cli` as ``app.add_typer(lstm_app, name="lstm")``; also runnable alone with
``python -m mndt_envs.cli_lstm``.
"""

from __future__ import annotations

from pathlib import Path

import typer

__all__ = ["lstm_app"]

lstm_app = typer.Typer(help="LSTM twin generators: retrain bundled weights, reproduce paper 000's experiments.",
                       no_args_is_help=True)


def _data_dir(data_dir: Path | None) -> Path:
    from mndt_envs.twin.traffic.experiments import default_data_dir

    d = data_dir or default_data_dir()
    if not d.is_dir():
        raise typer.BadParameter(f"{d}: data folder not found (needs c2tm/ and kaist/, see shared/data/README.md)")
    return d


@lstm_app.command("train-traffic")
def train_traffic(
    data_dir: Path = typer.Option(None, help="Shared data folder (default ../shared/data)."),
    out_dir: Path = typer.Option(None, help="Where to write the weights (default: the package's data/weights)."),
    max_seconds: float = typer.Option(240.0, help="Training budget per model [s]."),
    hidden: int = typer.Option(64, help="LSTM hidden size of the shipped generator (paper: 200)."),
    seed: int = typer.Option(0, help="Seed."),
    threads: int = typer.Option(1, help="torch threads."),
) -> None:
    """Retrain the bundled traffic generator (C2TM) and user-count forecaster (KAIST)."""
    import torch

    from mndt_envs.twin.traffic import generator as g

    torch.set_num_threads(threads)
    d = _data_dir(data_dir)
    out = out_dir or g.WEIGHTS_DIR
    gen = g.train_generator(d, Path(out) / g.TRAFFIC_WEIGHTS.name, hidden=hidden, max_seconds=max_seconds, seed=seed,
                            verbose=True)
    uc = g.train_user_count_forecaster(d, Path(out) / g.USER_COUNT_WEIGHTS.name, hidden=hidden,
                                       max_seconds=max_seconds, seed=seed)
    typer.echo(f"traffic generator: {gen.n_templates} templates, {gen.model.n_parameters} parameters; "
               f"user-count forecaster: {uc.n_parameters} parameters; written to {out}")


@lstm_app.command("reproduce")
def reproduce(
    out: Path = typer.Option(Path("runs/lstm_reproduce"), help="Output folder for CSV / JSON / PNG."),
    data_dir: Path = typer.Option(None, help="Shared data folder (default ../shared/data)."),
    max_seconds: float = typer.Option(480.0, help="Training budget per experiment [s]."),
    only: str = typer.Option("channel,traffic,users", help="Comma-separated subset."),
) -> None:
    """Run the channel, traffic and user-count experiments; print the table; write CSV / PNG."""
    from rich.console import Console
    from rich.table import Table

    from mndt_envs.twin.traffic.experiments import PAPER_ACCURACY, run_all, write_outputs

    names = tuple(s.strip() for s in only.split(",") if s.strip())
    needs_data = any(n in ("traffic", "users") for n in names)
    d = _data_dir(data_dir) if needs_data else data_dir
    results = run_all(d, max_seconds, names, verbose=False)
    paths = write_outputs(results, out)
    table = Table(title="Paper 000 reproduction: accuracy = 1 − WAPE")
    for col in ("experiment", "method", "accuracy", "paper", "RMSE", "MAE", "notes"):
        table.add_column(col)
    for res in results:
        for m, r in res.rows.items():
            notes = ""
            if "cluster_median" in r:
                notes = f"per-cluster median {100 * r['cluster_median']:.1f} % (IQR {100 * r['cluster_q25']:.1f}–" \
                        f"{100 * r['cluster_q75']:.1f})"
            table.add_row(res.name, m, f"{100 * r['accuracy']:.1f} %",
                          f"{100 * PAPER_ACCURACY[res.name]:.1f} %" if m.startswith("LSTM") else "",
                          f"{r['rmse']:.4g}", f"{r['mae']:.4g}", notes)
    Console().print(table)
    typer.echo(f"wrote {paths['csv']}, {paths['png']}")


if __name__ == "__main__":
    lstm_app()
