"""Drawing of the resource-allocation state (imported lazily by the adapters, never by the core)."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from ...render import render_map

if TYPE_CHECKING:  # pragma: no cover
    from .core import ResourceAllocationCore

__all__ = ["render"]


def render(core: ResourceAllocationCore) -> np.ndarray:
    """RGB map: cells coloured by users served, users by remaining demand, association lines."""
    counts = np.bincount(core.serving[core.serving >= 0], minlength=core.n_cells).astype(float)
    unmet_rb_s = core.remaining / core.bw  # [RB·s at 1 bit/s/Hz]
    sat = float(core.satisfied.sum()) / max(float(core.total.sum()), 1e-12)
    return render_map(core.twin, cell_values=counts, cell_label="users served", user_values=unmet_rb_s,
                      user_label="remaining demand [×B·s]", regions=False, lines=core.serving,
                      title=f"resource allocation: step {core.t}/{core.cfg.episode_steps}, "
                            f"satisfaction {100 * sat:.1f}%")
