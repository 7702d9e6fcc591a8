"""Terminal output of the command line: result tables that fit 80 columns, the compare plot, warnings as notes.

``mndt compare`` prints one table per env with the metrics as rows and the policies as columns
(a policy per column keeps the table narrow; wide sets of policies are split into several tables
that repeat the metric column). ``--format`` picks a rich table (a terminal), Markdown (the
default when stdout is not a terminal: CI logs, pipes) or CSV.
"""

from __future__ import annotations

import csv
import io
import sys
import warnings
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

__all__ = ["FORMATS", "KEY_METRICS", "default_format", "fmt_value", "split_columns", "render_results",
           "plot_compare", "capture_notes", "ray_tracing_line", "config_option"]

FORMATS = ("table", "markdown", "csv")

# the metrics beside the return and the cost in compare.png (and first in the tables), per task
KEY_METRICS: dict[str, list[tuple[str, str]]] = {
    "resource_allocation": [("throughput_bw", "throughput (× bandwidth)"),
                            ("satisfaction_ratio", "satisfaction ratio")],
    "cell_sleep": [("saved_pct", "energy saved vs always-on [%]"), ("unserved_pct", "unserved traffic [%]")],
    "load_balancing": [("mean_std_busy", "mean std of busy degrees"), ("min_coverage", "min coverage")],
}
_FIRST = ["return", "return_std", "cost"]
_ID_KEYS = ("task", "baseline")


def default_format(stream: Any = None) -> str:
    """``"table"`` when ``stream`` (default stdout) is a terminal, else ``"markdown"``."""
    stream = sys.stdout if stream is None else stream
    isatty = getattr(stream, "isatty", None)
    return "table" if isatty is not None and isatty() else "markdown"


def fmt_value(v: Any) -> str:
    """Four significant digits for numbers; everything else as ``str``."""
    if isinstance(v, bool) or v is None:
        return "" if v is None else str(v)
    if isinstance(v, (int, float)):
        return f"{v:.4g}"
    return str(v)


def _metric_order(task: str, rows: Sequence[dict[str, Any]]) -> list[str]:
    keys: list[str] = []
    for r in rows:
        keys += [k for k in r if k not in keys and k not in _ID_KEYS]
    first = _FIRST + [k for k, _ in KEY_METRICS.get(task, [])]
    return [k for k in first if k in keys] + [k for k in keys if k not in first]


def split_columns(header: Sequence[str], body: Sequence[Sequence[str]], width: int = 80,
                  pad: int = 3) -> list[list[int]]:
    """Groups of value-column indices (1..n) such that each group plus column 0 fits ``width``.

    Each column costs its widest cell plus ``pad`` (separators); a single column wider than the
    budget still gets a group of its own.
    """
    widths = [max([len(header[j])] + [len(r[j]) for r in body]) + pad for j in range(len(header))]
    groups: list[list[int]] = []
    cur: list[int] = []
    used = widths[0] + 1
    for j in range(1, len(header)):
        if cur and used + widths[j] > width:
            groups.append(cur)
            cur, used = [], widths[0] + 1
        cur.append(j)
        used += widths[j]
    if cur:
        groups.append(cur)
    return groups


def _grid(task: str, rows: Sequence[dict[str, Any]]) -> tuple[list[str], list[list[str]]]:
    """Transposed table of one task: header ``metric, <policy>...``, one body row per metric."""
    metrics = _metric_order(task, rows)
    header = ["metric"] + [str(r["baseline"]) for r in rows]
    body = [[m.replace("_", " ")] + [fmt_value(r.get(m)) for r in rows] for m in metrics]
    return header, body


def _markdown(title: str, header: list[str], body: list[list[str]], width: int) -> str:
    parts = [f"### {title}", ""]
    for group in split_columns(header, body, width):
        cols = [0] + group
        parts.append("| " + " | ".join(header[j] for j in cols) + " |")
        parts.append("|" + "|".join("---" if j == 0 else "---:" for j in cols) + "|")
        parts += ["| " + " | ".join(r[j] for j in cols) + " |" for r in body]
        parts.append("")
    return "\n".join(parts)


def render_results(rows: Sequence[dict[str, Any]], fmt: str, titles: dict[str, str], console: Any,
                   width: int = 80) -> None:
    """Print ``compare``'s rows (one dict per policy, with ``task`` and ``baseline``) in ``fmt``.

    Args:
        rows: result rows.
        fmt: ``"table"``, ``"markdown"`` or ``"csv"``.
        titles: task name → table title.
        console: a rich ``Console`` on stdout.
        width: the line budget for ``markdown`` (``table`` uses the console's width, at most 100).
    """
    if fmt not in FORMATS:
        raise ValueError(f"format {fmt!r}: allowed values are {', '.join(FORMATS)}")
    if fmt == "csv":
        keys: list[str] = list(_ID_KEYS)
        for r in rows:
            keys += [k for k in r if k not in keys]
        buf = io.StringIO()
        w = csv.DictWriter(buf, fieldnames=keys, lineterminator="\n")
        w.writeheader()
        w.writerows({k: (repr(v) if isinstance(v, float) else v) for k, v in r.items()} for r in rows)
        console.file.write(buf.getvalue())
        console.file.flush()
        return
    from rich.table import Table

    tasks = list(dict.fromkeys(r["task"] for r in rows))
    for task in tasks:
        sub = [r for r in rows if r["task"] == task]
        header, body = _grid(task, sub)
        title = titles.get(task, task)
        if fmt == "markdown":
            console.file.write(_markdown(title, header, body, width) + "\n")
            console.file.flush()
            continue
        for group in split_columns(header, body, min(console.width, 100)):
            t = Table(title=title, title_justify="left")
            for j in [0] + group:
                t.add_column(header[j], justify="left" if j == 0 else "right", overflow="fold")
            for line in body:
                t.add_row(*[line[j] for j in [0] + group])
            console.print(t)


def plot_compare(rows: Sequence[dict[str, Any]], path: Path) -> dict[str, list[str]]:
    """One row of bar charts per task: mean return (± std), mean episode cost and the task's key metrics.

    Returns:
        task → the labels of its panels, in order.
    """
    import matplotlib

    matplotlib.use("Agg", force=False)
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    tasks = list(dict.fromkeys(r["task"] for r in rows))
    panels: dict[str, list[tuple[str, str]]] = {}
    for task in tasks:
        sub = [r for r in rows if r["task"] == task]
        extra = [(k, lab) for k, lab in KEY_METRICS.get(task, []) if any(k in r for r in sub)]
        if not extra:  # unknown task: its first two episode metrics
            extra = [(k, k.replace("_", " ")) for k in _metric_order(task, sub)
                     if k not in _FIRST + ["steps", "wall_s"]][:2]
        panels[task] = [("return", "mean episode return"), ("cost", "mean episode cost")] + extra
    ncol = max(len(p) for p in panels.values())
    fig = Figure(figsize=(3.2 * ncol, 2.9 * len(tasks)))
    FigureCanvasAgg(fig)
    axes = fig.subplots(len(tasks), ncol, squeeze=False)
    for i, task in enumerate(tasks):
        sub = [r for r in rows if r["task"] == task]
        names = [str(r["baseline"]) for r in sub]
        for j in range(ncol):
            ax = axes[i][j]
            if j >= len(panels[task]):
                ax.set_visible(False)
                continue
            key, label = panels[task][j]
            vals = [float(r.get(key, float("nan"))) for r in sub]
            err = [float(r.get("return_std", 0.0)) for r in sub] if key == "return" else None
            bars = ax.bar(range(len(sub)), vals, yerr=err, color=[f"C{k}" for k in range(len(sub))])
            ax.bar_label(bars, labels=[fmt_value(v) for v in vals], fontsize=7)
            ax.margins(y=0.15)
            ax.set_xticks(range(len(sub)), names, rotation=30, ha="right", fontsize=8)
            ax.set_title(f"{task}: {label}" if j == 0 else label, fontsize=9)
            ax.tick_params(axis="y", labelsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    return {task: [label for _, label in p] for task, p in panels.items()}


def ray_tracing_line(build_summary: dict[str, Any] | None) -> str | None:
    """The build's one-line note on how much of the map rays reached (None when the channel is not ray-traced).

    Ray reach is not RSRP coverage: the summary names it ``ray_traced_outdoor_pairs`` /
    ``ray_reached_outdoor_cells`` and the twin table labels the row "ray tracing".
    """
    s = build_summary or {}
    if isinstance(s.get("note"), str) and s["note"]:
        return " ".join(s["note"].split())
    return None


@contextmanager
def capture_notes(notes: list[str]) -> Iterator[None]:
    """Collect warnings raised inside the block as one-line notes (``message`` only) instead of printing them."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        yield
    seen: set[str] = set()
    for w in caught:
        if issubclass(w.category, DeprecationWarning):
            continue
        msg = " ".join(str(w.message).split())
        if msg not in seen:
            seen.add(msg)
            notes.append(msg)


def config_option(text: str) -> dict[str, Any]:
    """The ``--config`` option of the commands: a JSON object of scenario / task overrides.

    Raises:
        typer.BadParameter: the text is not valid JSON, or not a JSON object.
    """
    import json

    import typer

    try:
        overrides = json.loads(text)
    except json.JSONDecodeError as exc:
        raise typer.BadParameter(f"--config is not valid JSON: {exc}") from None
    if not isinstance(overrides, dict):
        raise typer.BadParameter(f"--config must be a JSON object ({{...}}), got {type(overrides).__name__}")
    return overrides
