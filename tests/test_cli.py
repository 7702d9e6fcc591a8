from __future__ import annotations

from typer.testing import CliRunner

from mndt_envs.cli import app

runner = CliRunner()


def test_info_lists_backends_and_envs() -> None:
    res = runner.invoke(app, ["info"])
    assert res.exit_code == 0, res.output
    assert "gymnasium" in res.output and "torch device" in res.output


def test_demo_twin_section(tmp_path) -> None:
    res = runner.invoke(app, ["demo", "--scenario", "toy", "--tasks", "none", "--out", str(tmp_path)])
    assert res.exit_code == 0, res.output
    assert (tmp_path / "twin_map.png").stat().st_size > 10_000
    assert "Twin 'toy'" in res.output


def test_compare_rejects_bad_json(tmp_path) -> None:
    res = runner.invoke(app, ["compare", "--config", "{not json", "--out", str(tmp_path)])
    assert res.exit_code != 0
    assert "not valid JSON" in res.output
    res = runner.invoke(app, ["compare", "--config", "[1, 2]", "--out", str(tmp_path)])
    assert res.exit_code != 0
    assert "must be a JSON object" in res.output


def test_compare_rejects_unknown_task(tmp_path) -> None:
    res = runner.invoke(app, ["compare", "--tasks", "teleportation", "--out", str(tmp_path)])
    assert res.exit_code != 0


def test_compare_writes_a_row_per_baseline(tmp_path) -> None:
    import csv

    res = runner.invoke(app, ["compare", "--tasks", "load_balancing", "--episodes", "1", "--out", str(tmp_path)])
    assert res.exit_code == 0, res.output
    rows = list(csv.DictReader((tmp_path / "compare.csv").open()))
    assert [r["baseline"] for r in rows] == ["static", "bdba", "bfdba"]
    ret = {r["baseline"]: float(r["return"]) for r in rows}
    assert ret["bdba"] > ret["static"] and ret["bfdba"] > ret["static"]  # balancing beats doing nothing
    assert (tmp_path / "compare.png").stat().st_size > 5_000


def test_compare_formats_fit_80_columns(tmp_path) -> None:
    import csv
    import io

    args = ["compare", "--tasks", "cell_sleep", "--episodes", "1", "--out", str(tmp_path),
            "--config", '{"task": {"episode_steps": 3}}']
    res = runner.invoke(app, args + ["--format", "markdown"])
    assert res.exit_code == 0, res.output
    table = [ln for ln in res.stdout.splitlines() if ln.startswith("|")]
    assert table[0].split("|")[1:-1] == [" metric ", " always_on ", " min_cells ", " load_threshold "]
    assert any(ln.startswith("| saved pct |") for ln in table)  # the task's key metric is a row
    assert max(len(ln) for ln in res.stdout.splitlines()) <= 80
    res = runner.invoke(app, args + ["--format", "csv"])
    assert res.exit_code == 0, res.output
    rows = list(csv.DictReader(io.StringIO(res.stdout)))
    assert [r["baseline"] for r in rows] == ["always_on", "min_cells", "load_threshold"]
    assert float(rows[1]["saved_pct"]) > 0.0  # minimal cells saves energy
    res = runner.invoke(app, args + ["--format", "html"])
    assert res.exit_code != 0 and "table, markdown, csv" in res.output


def test_compare_output_is_markdown_when_piped(tmp_path) -> None:
    # CliRunner's stdout is not a terminal: the default is Markdown, never a rich table cut to '…'
    res = runner.invoke(app, ["compare", "--tasks", "cell_sleep", "--episodes", "1", "--out", str(tmp_path),
                              "--config", '{"task": {"episode_steps": 2}}'])
    assert res.exit_code == 0, res.output
    assert "### mndt/CellSleep-v0" in res.stdout and "…" not in res.stdout


def test_split_columns_keeps_every_group_within_width() -> None:
    from mndt_envs.cli_output import split_columns

    header = ["metric"] + [f"policy_{i:02d}_long_name" for i in range(7)]
    body = [["mean std busy"] + ["-1.234e+05"] * 7]
    groups = split_columns(header, body, width=80)
    assert sorted(j for g in groups for j in g) == list(range(1, 8))
    widths = [max(len(header[j]), len(body[0][j])) + 3 for j in range(8)]
    assert all(widths[0] + 1 + sum(widths[j] for j in g) <= 80 for g in groups)
    assert len(groups) > 1


def test_reproduce_table2_runs_from_the_package(tmp_path) -> None:
    res = runner.invoke(app, ["reproduce", "table2", "--episodes", "1", "--scenario", "toy",
                              "--config", '{"users": {"n_users": 30}}', "--out", str(tmp_path)])
    assert res.exit_code == 0, res.output
    table = (tmp_path / "table2.md").read_text()
    assert "| PPO-Lagrangian (ours) |" in table and "| equal dividing |" in table  # the shipped agent was found
    assert (tmp_path / "resource_allocation_toy.png").stat().st_size > 10_000


def _flat(text: str) -> str:
    return " ".join(text.replace("│", " ").split())


def test_reproduce_rejects_bad_options(tmp_path) -> None:
    res = runner.invoke(app, ["reproduce", "breathing", "--scenarios", "moon", "--out", str(tmp_path)])
    assert res.exit_code != 0 and "allowed scenarios are dense, paper" in _flat(res.output)
    res = runner.invoke(app, ["reproduce", "table2", "--model", str(tmp_path / "none.zip")])
    assert res.exit_code != 0 and "no such file" in _flat(res.output)
    res = runner.invoke(app, ["reproduce", "lstm", "--help"])  # forwarded to `mndt lstm reproduce`
    assert res.exit_code == 0 and "--max-seconds" in res.output


def test_compare_plot_puts_cost_and_task_metrics_beside_the_return(tmp_path) -> None:
    from mndt_envs.cli_output import plot_compare

    rows = [{"task": "resource_allocation", "baseline": b, "return": r, "return_std": 0.1, "cost": c,
             "throughput_bw": t, "satisfaction_ratio": s}
            for b, r, c, t, s in (("equal_dividing", 40.0, 0.01, 1.2e3, 0.99),
                                  ("ignore_demands", 70.0, 0.2, 2.8e3, 0.9))]
    rows.append({"task": "my_task", "baseline": "noop", "return": 1.0, "return_std": 0.0, "cost": 0.0,
                 "steps": 3.0, "wall_s": 0.1, "widgets": 4.0})
    panels = plot_compare(rows, tmp_path / "c.png")
    assert panels["resource_allocation"] == ["mean episode return", "mean episode cost", "throughput (× bandwidth)",
                                             "satisfaction ratio"]
    assert panels["my_task"] == ["mean episode return", "mean episode cost", "widgets"]  # unknown task: its metrics
    assert (tmp_path / "c.png").stat().st_size > 10_000


def test_build_warnings_become_one_line_notes() -> None:
    import warnings

    from mndt_envs.cli_output import capture_notes, ray_tracing_line

    notes: list[str] = []
    with capture_notes(notes):
        warnings.warn("ray tracing reached 13% of the pairs;\n   the rest use 38.901", stacklevel=1)
        warnings.warn("ray tracing reached 13% of the pairs;\n   the rest use 38.901", stacklevel=1)
        warnings.warn("old API", DeprecationWarning, stacklevel=1)
    assert notes == ["ray tracing reached 13% of the pairs; the rest use 38.901"]
    assert ray_tracing_line(None) is None and ray_tracing_line({"cells": 3}) is None
    note = {"note": "ray-traced 58% of pairs\n filled the rest"}
    assert ray_tracing_line(note) == "ray-traced 58% of pairs filled the rest"


def test_human_render_without_pygame_shows_frames() -> None:
    import gymnasium as gym
    import numpy as np
    import pytest

    from mndt_envs.viewer import HumanRender, MatplotlibViewer

    env = HumanRender(gym.make("mndt/LoadBalancing-v0", scenario="toy", render_mode="rgb_array",
                               config={"users": {"n_users": 100}, "task": {"episode_steps": 2}}))
    assert env.render_mode == "human"
    env.reset(seed=0)
    env.step(env.action_space.sample())
    assert env.viewer.frames_shown == 2 and env.render() is None
    img = env.viewer.fig.axes[0].images[0].get_array()
    assert img.shape[2] == 3 and img.std() > 0  # the map, not a blank frame
    env.close()
    with pytest.raises(ValueError, match="height, width, 3"):
        MatplotlibViewer().show(np.zeros((4, 4)))
    with pytest.raises(ValueError, match="rgb_array"):
        HumanRender(gym.make("mndt/LoadBalancing-v0", scenario="toy"))


def test_map_legend_names_every_drawn_layer() -> None:
    from mndt_envs.legends import map_legend
    from mndt_envs.render import new_figure

    ax = new_figure(300).add_subplot(111)
    leg = map_legend(ax, regions="best-server region", buildings=True, sectors=True, users="user",
                     lines="user → serving cell", borders="boundary")
    labels = [t.get_text() for t in leg.get_texts()]
    assert labels == ["cell site (arrows: sector directions)", "user", "user → serving cell", "building",
                      "best-server region", "boundary"]
    leg = map_legend(ax, cells="antenna")
    assert [t.get_text() for t in leg.get_texts()] == ["antenna"]


def test_render_mode_human_is_a_matplotlib_window_on_every_env() -> None:
    import gymnasium as gym

    from mndt_envs.registration import TASKS

    for spec in TASKS:
        env = gym.make(spec.env_id, render_mode="human", **spec.test_kwargs)
        assert "human" in env.unwrapped.metadata["render_modes"]
        env.reset(seed=0)
        env.step(env.action_space.sample())
        viewer = env.unwrapped._viewer
        assert viewer.frames_shown == 2 and env.render() is None  # a frame per reset and step, nothing returned
        env.close()
        assert env.unwrapped._viewer is None


def test_render_mode_human_on_every_parallel_env() -> None:
    import mndt_envs
    from mndt_envs.registration import TASKS

    for spec in TASKS:
        env = mndt_envs.parallel_env(spec.parallel_name, render_mode="human", **spec.test_kwargs)
        assert "human" in env.metadata["render_modes"]
        env.reset(seed=0)
        env.step({a: env.action_space(a).sample() for a in env.agents})
        assert env._viewer.frames_shown == 2 and env.render() is None
        env.close()
        assert env._viewer is None
