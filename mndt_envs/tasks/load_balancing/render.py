"""Drawing of the load-balancing state (matplotlib; imported lazily by the adapters, never by the core)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from ...render import best_server_grid, figure_to_rgb, new_figure

if TYPE_CHECKING:  # pragma: no cover
    from .core import LoadBalancingCore

__all__ = ["draw", "render"]


def draw(core: LoadBalancingCore, ax: Any, title: str = "", resolution: int = 90) -> Any:
    """Draw best-server regions under the current powers, coloured by their antenna's busy degree, on ``ax``.

    Returns the image artist (for a colour bar).
    """
    serving, _, ext = best_server_grid(core.twin, resolution, None, core.p)
    b = np.asarray(core.state.busy)
    img = np.where(serving >= 0, b[np.maximum(serving, 0)], np.nan)
    vmax = max(1.0, float(np.nanmax(img)) if np.isfinite(img).any() else 1.0)
    art = ax.imshow(img, origin="lower", extent=tuple(ext), cmap="RdYlGn_r", vmin=0.0, vmax=vmax,
                    interpolation="nearest")
    # region borders: where the best server changes
    edge = np.zeros(serving.shape, dtype=bool)
    edge[1:, :] |= serving[1:, :] != serving[:-1, :]
    edge[:, 1:] |= serving[:, 1:] != serving[:, :-1]
    ax.imshow(np.where(edge, 0.35, np.nan), origin="lower", extent=tuple(ext), cmap="gray", vmin=0, vmax=1,
              interpolation="nearest", alpha=0.35)
    pos = np.asarray(core.twin.positions)
    if len(pos):
        sample = pos[:: max(1, len(pos) // 1500)]
        ax.scatter(sample[:, 0], sample[:, 1], s=1.5, color="k", alpha=0.35)
    cells = core.twin.cells
    ax.scatter(cells.x, cells.y, s=18, marker="^", c="w", edgecolors="k", linewidths=0.6, zorder=4)
    ax.set_xlim(0, core.twin.cfg.width_m)
    ax.set_ylim(0, core.twin.cfg.height_m)
    ax.set_aspect("equal")
    ax.set_title(title or f"hour {core.period.hour:.0f}: std(b) = {core.state.std_busy:.3f}, "
                 f"coverage {core.state.coverage:.3f}", fontsize=9)
    return art

def render(core: LoadBalancingCore, title: str = "", path: str | Path | None = None, size_px: int = 560) -> np.ndarray:
    """RGB image (H, W, 3) uint8 of :meth:`draw` with a colour bar; saved as PNG if ``path``."""
    fig = new_figure(size_px)
    ax = fig.add_subplot(111)
    art = draw(core, ax, title)
    fig.colorbar(art, ax=ax, fraction=0.04, label="busy degree of the serving antenna")
    from ...legends import map_legend

    map_legend(ax, cells="antenna", cell_color="w", users="user (sample)",
               borders="boundary between best-server regions (ragged where shadowing varies)")
    ax.set_xlabel("x [m]")
    ax.set_ylabel("y [m]")
    return figure_to_rgb(fig, path)
