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
