"""Legends for the twin's maps: what the shading, markers, lines and grey pixels mean.

The map renderers (:func:`mndt_envs.render.render_map`, the tasks' ``render`` modules) draw
best-server regions, buildings, cells, users and user–cell lines; :func:`map_legend` adds one
legend under the axes naming each layer that is drawn, so a reader of a PNG never has to guess.
"""

from __future__ import annotations

from typing import Any

__all__ = ["map_legend"]


def map_legend(ax: Any, *, regions: str | None = None, buildings: bool = False, cells: str = "cell site",
               cell_color: str = "red", sectors: bool = False, users: str | None = None, user_color: str = "k",
               lines: str | None = None, borders: str | None = None, ncol: int = 2) -> Any:
    """Add a legend below ``ax`` with one entry per drawn layer; returns the matplotlib ``Legend``.

    Args:
        ax: the map's axes.
        regions: label of the shaded best-server regions (None: not drawn).
        buildings: buildings are drawn (grey footprints).
        cells: label of the cell markers (triangles).
        cell_color: face colour of the cell marker in the legend.
        sectors: sector azimuth arrows are drawn.
        users: label of the user dots (None: not drawn).
        user_color: colour of the user dot in the legend.
        lines: label of the user → serving-cell lines (None: not drawn).
        borders: label of the grey boundary pixels between regions (None: not drawn).
        ncol: legend columns.
    """
    from matplotlib.lines import Line2D
    from matplotlib.patches import Patch

    handles: list[Any] = [Line2D([], [], marker="^", ls="", ms=8, markerfacecolor=cell_color, markeredgecolor="k",
                                label=cells + (" (arrows: sector directions)" if sectors else ""))]
    if users:
        handles.append(Line2D([], [], marker="o", ls="", ms=4, color=user_color, label=users))
    if lines:
        handles.append(Line2D([], [], color="0.3", lw=0.8, label=lines))
    if buildings:
        handles.append(Patch(facecolor="0.55", alpha=0.8, label="building"))
    if regions:
        handles.append(Patch(facecolor="tab:blue", alpha=0.35, edgecolor="tab:orange", label=regions))
    if borders:
        handles.append(Patch(facecolor="0.35", alpha=0.6, label=borders))
    return ax.legend(handles=handles, loc="upper center", bbox_to_anchor=(0.5, -0.12), ncol=ncol, fontsize=7,
                     frameon=False, handlelength=1.6, columnspacing=1.2)
