"""``mndt reproduce table2 | breathing | lstm``: the paper reproductions, from an installed wheel.

Each command runs code shipped in the package (:mod:`mndt_envs.reproductions`, the traffic twin's
experiments) and writes its tables and figures under ``runs/reproduce/<name>`` by default.
"""

from __future__ import annotations

from pathlib import Path

import typer

from .cli_output import config_option

__all__ = ["reproduce_app"]

reproduce_app = typer.Typer(help="Paper reproductions: table2 (paper 002), breathing (paper 001), lstm (paper 000).",
                            no_args_is_help=True, add_completion=False)


@reproduce_app.command()
def table2(
    episodes: int = typer.Option(3, min=1, help="Seeded episodes (seeds 1000, 1001, ...)."),
    model: Path | None = typer.Option(None, help="SB3 zip of the agent (default: the shipped model)."),
    scenario: str = typer.Option("paper", help="Scenario preset."),
    config: str = typer.Option("{}", help="JSON overrides of the scenario / task."),
    out: Path = typer.Option(Path("runs/reproduce/table2"), help="Output folder (CSV, Markdown, map)."),
) -> None:
    """Paper 002 Table II analogue: the PPO-Lagrangian agent and three baselines (~15 s on `paper`)."""
    config_option(config)  # checked here: a clear error before the run starts
    from .reproductions.table2 import main

    argv = ["--episodes", str(episodes), "--scenario", scenario, "--config", config, "--out", str(out)]
    if model is not None:
        if not model.is_file():
            raise typer.BadParameter(f"--model {model}: no such file")
        argv += ["--model", str(model)]
    main(argv)


@reproduce_app.command()
def breathing(
    seeds: str = typer.Option("0,1", help="Comma-separated day seeds."),
    scenarios: str = typer.Option("dense,paper", help="Comma-separated layouts: dense, paper."),
    mlp_check: bool = typer.Option(False, "--mlp-check", help="Only the monotone-MLP check of §6.2."),
    out: Path = typer.Option(Path("runs/reproduce/breathing"), help="Output folder (tables, plots, maps)."),
) -> None:
    """Paper 001 §7: a tidal day of CPICH load balancing, Static vs BDBA vs BFDBA (~30 s)."""
    from .reproductions.breathing import SCENARIOS, main

    try:
        seed_list = [int(s) for s in seeds.split(",") if s.strip()]
    except ValueError:
        raise typer.BadParameter(f"--seeds {seeds!r}: expected comma-separated integers, e.g. 0,1") from None
    scen = [s.strip() for s in scenarios.split(",") if s.strip()]
    unknown = sorted(set(scen) - set(SCENARIOS))
    if unknown or not scen or not seed_list:
        raise typer.BadParameter(f"--scenarios {scenarios!r} / --seeds {seeds!r}: allowed scenarios are "
                                 f"{', '.join(SCENARIOS)}; at least one seed")
    argv = ["--seeds", *map(str, seed_list), "--scenarios", *scen, "--out", str(out)]
    main(argv + (["--mlp-check"] if mlp_check else []))


@reproduce_app.command(context_settings={"allow_extra_args": True, "ignore_unknown_options": True},
                       add_help_option=False)
def lstm(ctx: typer.Context) -> None:
    """Paper 000's three LSTM experiments; the options of `mndt lstm reproduce` (see its --help)."""
    import typer.main

    from .cli_lstm import lstm_app

    typer.main.get_command(lstm_app).main(["reproduce", *ctx.args], prog_name="mndt lstm",
                                          standalone_mode=False)
