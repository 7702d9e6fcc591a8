"""Cell sleep masks (the paper's two "masks", also observation features) and the action mask.

**Mask 1** of a cell: the demand of its grids can still be met if it sleeps or closes (for an on
cell: it is the sole active server of no grid with demand, and its load × ``mask_headroom`` fits in
the spare capacity of the active cells sharing a grid with it; for a cell not on: its grids are met
now). **Mask 2**: its site would be off if it closed (all other cells of the site are off). With
``hard_constraints`` the action mask forbids sleep/off where mask 1 is false. With ``joint_masks`` a
candidate also makes room for the less-loaded candidates around it leaving in the same step.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from .config import OFF, SLEEP
from .dynamics import Service
from .sparse import csr_mul, csr_rows

if TYPE_CHECKING:  # pragma: no cover
    from .core import CellSleepCore

__all__ = ["update_masks"]


def _joint(core: CellSleepCore, can_leave: np.ndarray, load_h: np.ndarray, spare: np.ndarray,
           neigh_spare: np.ndarray) -> None:
    """Neighbours leaving together: candidates leave in order of increasing load.

    A cell may leave only if the spare capacity around it also absorbs every less-loaded candidate of
    its neighbourhood (their load, and the spare they no longer offer). Only the rows of candidates
    matter (the others cannot leave anyway): their full rows of N are gathered (same entries in the
    same order, so the same per-row sums as over the whole of N). Updates ``can_leave`` in place.
    """
    prio, give = core.ws_prio, core.ws_give  # (n_cells + 1,): the last entry stands for the diagonal
    prio[:-1] = np.where(can_leave, core.state.lc + core.tie, np.inf)
    give[:-1] = load_h + spare
    cand = can_leave.nonzero()[0]  # (k,)
    ent, lens, ends = csr_rows(core.N.indptr, cand)
    cols = core.n_cols.take(ent)
    vals = np.where(prio.take(cols) < prio.take(cand).repeat(lens), give.take(cols), 0.0)
    ahead = np.add.reduceat(vals, ends - lens)  # (k,)
    can_leave[cand] = load_h.take(cand) + ahead <= neigh_spare.take(cand) + 1e-9


def update_masks(core: CellSleepCore, sv: Service) -> None:
    """Masks 1 and 2 and the action mask from the service just computed (state updated in place)."""
    st, cfg = core.state, core.cfg
    on = sv.on
    load_h = st.load * cfg.mask_headroom
    free = core.cap_use - load_h
    spare = np.maximum(free, 0.0) * sv.onf
    neigh_spare = csr_mul(core.N, spare) - spare
    can_leave = on & (sv.sole == 0) & (load_h <= neigh_spare + 1e-9)
    if cfg.joint_masks and can_leave.any():
        _joint(core, can_leave, load_h, spare, neigh_spare)
    over = on & (free < 0)
    unmet = (st.n_act == 0) & sv.pos
    if over.any():
        unmet |= csr_mul(core.AT, over.astype(np.float64)) > 0
    if unmet.any():
        st.mask_grid = np.where(on, can_leave, csr_mul(core.A, unmet.astype(np.float64)) == 0)
    else:  # every grid met: a cell that is not on can stay so
        st.mask_grid = can_leave | ~on
    alive = st.status != OFF
    st.site_alive_count = np.bincount(core.site, weights=alive, minlength=core.n_sites)  # (n_sites,)
    st.mask_site = (st.site_alive_count[core.site] - alive) == 0
    if cfg.hard_constraints:
        st.legal[:, SLEEP:OFF + 1] = st.mask_grid[:, None]  # sleep and off
