"""Drawing of the cell-sleep state (matplotlib; imported lazily by the env adapters, never by the core)."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from ...render import figure_to_rgb, new_figure
from .config import ON

if TYPE_CHECKING:  # pragma: no cover
    from .core import CellSleepCore

__all__ = ["render"]


def render(core: CellSleepCore, size_px: int = 640) -> np.ndarray:
    """(H, W, 3) uint8: grids coloured by demand, cells by status (on/sleep/off/waking)."""
    from matplotlib.lines import Line2D

    sc = core.twin.cfg
    fig = new_figure(size_px)
    ax = fig.add_subplot(111)
    ny, nx = core.grid_shape
    img = np.full(ny * nx, np.nan)
    img[core.grid_index] = core.demand / 1e6
    g = core.cfg.grid_m
    im = ax.imshow(img.reshape(ny, nx), origin="lower", extent=(0, nx * g, 0, ny * g), cmap="Blues",
                   interpolation="nearest", vmin=0.0)
    fig.colorbar(im, ax=ax, fraction=0.04, label="grid demand [Mbit/s]")
    cells = core.twin.cells
    colours = np.array(["#2ca02c", "#ff7f0e", "#7f7f7f", "#9467bd"])
    # sectors of a site share a position: draw each cell a little way along its azimuth
    az = np.radians(np.nan_to_num(cells.azimuth_deg))
    off = np.where(np.isnan(cells.azimuth_deg), 0.0, 0.025 * max(sc.width_m, sc.height_m))  # [m]
    ax.scatter(cells.x, cells.y, c="k", s=8, zorder=4)
    ax.scatter(cells.x + off * np.sin(az), cells.y + off * np.cos(az), c=colours[core.status], s=55,
               marker="o", edgecolors="k", zorder=5)
    handles = [Line2D([], [], marker="o", ls="", color=col, markeredgecolor="k", label=lab)
               for col, lab in zip(colours, ("on", "sleep", "off", "waking"))]
    ax.legend(handles=handles, loc="upper right", fontsize=7)
    ax.set_xlim(0, sc.width_m)
    ax.set_ylim(0, sc.height_m)
    ax.set_aspect("equal")
    ax.set_xlabel("x [m]")
    ax.set_ylabel("y [m]")
    day, k = divmod(core.cfg.start_day * core.cfg.steps_per_day + core.t, core.cfg.steps_per_day)
    hh = k * core.cfg.step_min / 60.0
    ax.set_title(f"cell sleep: day {day + 1} {int(hh):02d}:{int(round(60 * (hh % 1))):02d}, "
                 f"{int((core.status == ON).sum())}/{core.n_cells} cells on", fontsize=9)
    return figure_to_rgb(fig)
