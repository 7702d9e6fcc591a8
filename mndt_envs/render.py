"""Matplotlib map of the twin: buildings, cells, best-server regions, users → RGB array or PNG.

Imported lazily by the envs' ``render()`` (matplotlib is not loaded by ``import mndt_envs``).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from .twin.network import NetworkTwin

__all__ = ["render_map", "best_server_grid", "new_figure", "figure_to_rgb"]


def new_figure(size_px: int = 640, dpi: int = 100) -> Any:
    """A square off-screen matplotlib ``Figure`` (Agg canvas), independent of pyplot's state."""
    import matplotlib

    matplotlib.use("Agg", force=False)
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(size_px / dpi, size_px / dpi), dpi=dpi)
    FigureCanvasAgg(fig)
    return fig


def figure_to_rgb(fig: Any, path: str | Path | None = None) -> np.ndarray:
    """Lay out and draw ``fig``; return its (H, W, 3) uint8 pixels and save a PNG if ``path``."""
    fig.tight_layout()
    fig.canvas.draw()
    img = np.asarray(fig.canvas.buffer_rgba())[..., :3].copy()
    if path is not None:
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        fig.savefig(path)
    return img


def best_server_grid(twin: NetworkTwin, resolution: int = 80, active: np.ndarray | None = None,
                     ref_power_dbm: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Best-server cell and RSRP on a regular grid over the area (outdoor, large-scale).

    Returns:
        (serving (res, res) int, best RSRP (res, res) [dBm], extent [x0, x1, y0, y1]).
    """
    cfg = twin.cfg
    xs = np.linspace(0.0, cfg.width_m, resolution)
    ys = np.linspace(0.0, cfg.height_m, resolution)
    pts = np.stack(np.meshgrid(xs, ys), axis=-1).reshape(-1, 2)
    g = twin.channel.gain_db(pts, np.zeros(len(pts), dtype=bool))
    from .twin import radio

    p = twin.cells.ref_power_dbm if ref_power_dbm is None else ref_power_dbm
    serving, best = radio.best_server(radio.rsrp_dbm(p, g), active)
    extent = np.array([0.0, cfg.width_m, 0.0, cfg.height_m])
    return serving.reshape(resolution, resolution), best.reshape(resolution, resolution), extent


def render_map(
    twin: NetworkTwin,
    *,
    cell_values: np.ndarray | None = None,
    cell_label: str = "",
    cell_cmap: str = "viridis",
    user_values: np.ndarray | None = None,
    user_label: str = "",
    regions: bool = True,
    active: np.ndarray | None = None,
    ref_power_dbm: np.ndarray | None = None,
    lines: np.ndarray | None = None,
    buildings: list[Any] | None = None,
    title: str = "",
    path: str | Path | None = None,
    size_px: int = 640,
    legend: bool = True,
) -> np.ndarray:
    """Draw the network and return an (H, W, 3) uint8 image (and save a PNG if ``path``).

    Args:
        twin: the network twin.
        cell_values: (n_cells,) values colouring the cells (e.g. busy degree, status).
        cell_label: colour-bar label of the cell values.
        cell_cmap: matplotlib colour map of the cell values.
        user_values: (n_users,) values colouring the users (e.g. rate, unmet demand).
        user_label: colour-bar label of the user values.
        regions: shade best-server regions.
        active: (n_cells,) cells that can serve (for the regions).
        ref_power_dbm: (n_cells,) reference powers used for the regions.
        lines: (n_users,) serving cell per user; a sample of association lines is drawn.
        buildings: shapely polygons to outline.
        title: figure title.
        path: where to save a PNG.
        size_px: image size.
        legend: add a legend under the map naming every drawn layer (:func:`mndt_envs.legends.map_legend`).
    """
    fig = new_figure(size_px)
    ax = fig.add_subplot(111)
    if regions:
        serving, best, ext = best_server_grid(twin, 80, active, ref_power_dbm)
        ax.imshow(np.where(serving >= 0, serving % 20, np.nan), origin="lower", extent=tuple(ext), cmap="tab20",
                  alpha=0.35, interpolation="nearest")
    for poly in buildings or []:
        for geom in getattr(poly, "geoms", [poly]):
            x, y = geom.exterior.xy
            ax.fill(x, y, color="0.55", alpha=0.8, lw=0.3)
    _draw_users(fig, ax, twin, user_values, user_label, lines)
    _draw_cells(fig, ax, twin, cell_values, cell_label, cell_cmap)
    ax.set_xlim(0, twin.cfg.width_m)
    ax.set_ylim(0, twin.cfg.height_m)
    ax.set_aspect("equal")
    ax.set_xlabel("x [m]")
    ax.set_ylabel("y [m]")
    ax.set_title(title or f"{twin.cfg.name}: {twin.cells.n} cells, {twin.n_users} users", fontsize=9)
    if legend:
        from .legends import map_legend

        n_lines = int(np.count_nonzero(np.asarray(lines) >= 0)) if lines is not None else 0
        map_legend(ax, regions="best-server region (one colour per cell)" if regions else None,
                   buildings=bool(buildings), sectors=bool((~np.isnan(twin.cells.azimuth_deg)).any()),
                   cells=f"cell (colour: {cell_label or 'value'})" if cell_values is not None else "cell",
                   cell_color="tab:green" if cell_values is not None else "red",
                   users=(f"user (colour: {user_label or 'value'})" if user_values is not None else "user")
                   if twin.n_users else None,
                   user_color="tab:purple" if user_values is not None else "k",
                   lines=f"user → serving cell ({min(200, n_lines)} of {n_lines} shown)" if n_lines else None)
    return figure_to_rgb(fig, path)


def _draw_users(fig: Any, ax: Any, twin: NetworkTwin, user_values: np.ndarray | None, user_label: str,
                lines: np.ndarray | None) -> None:
    """Users (coloured by ``user_values``) and a sample of association lines."""
    cells = twin.cells
    pos = np.asarray(twin.positions)
    if lines is not None and len(pos):
        sample = np.flatnonzero(np.asarray(lines) >= 0)[:200]
        for u in sample:
            c = lines[u]
            ax.plot([pos[u, 0], cells.x[c]], [pos[u, 1], cells.y[c]], color="0.3", lw=0.4, alpha=0.6)
    if len(pos):
        if user_values is not None:
            sc = ax.scatter(pos[:, 0], pos[:, 1], c=user_values, s=6, cmap="plasma", zorder=3)
            fig.colorbar(sc, ax=ax, fraction=0.04, label=user_label)
        else:
            ax.scatter(pos[:, 0], pos[:, 1], s=4, color="k", alpha=0.6, zorder=3)


def _draw_cells(fig: Any, ax: Any, twin: NetworkTwin, cell_values: np.ndarray | None, cell_label: str,
                cell_cmap: str) -> None:
    """Cells as triangles (coloured by ``cell_values``) with their sector azimuths."""
    cells = twin.cells
    if cell_values is not None:
        sc = ax.scatter(cells.x, cells.y, c=cell_values, s=60, marker="^", cmap=cell_cmap, edgecolors="k", zorder=4)
        fig.colorbar(sc, ax=ax, fraction=0.04, label=cell_label)
    else:
        ax.scatter(cells.x, cells.y, s=60, marker="^", color="red", edgecolors="k", zorder=4)
    sect = ~np.isnan(cells.azimuth_deg)
    if sect.any():
        az = np.radians(cells.azimuth_deg[sect])
        ax.quiver(cells.x[sect], cells.y[sect], np.sin(az), np.cos(az), scale=30, width=0.003, zorder=4)
