"""Cell sleep dynamics: status transitions and serving the demand (array operations only).

* Switching: a cell commanded out of off *wakes up* for ``wakeup_steps`` steps (power of sleep, serves
  nothing) before it reaches its target; a site is off iff all its cells are off.
* Service: the demand of a grid is split across its **active** (on) covering cells in proportion to
  their capacities: ``load_c = cap_c Σ_g A[c,g] d_g / Σ_c' A[c',g] cap_c' on_c'``. Load above
  ``max_utilisation · cap_c`` is unserved, as is the demand of a grid with no active cell.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from .config import OFF, ON, WAKING
from .sparse import csr_mul

if TYPE_CHECKING:  # pragma: no cover
    from .core import CellSleepCore

__all__ = ["Service", "next_status", "transition", "serve"]


@dataclass
class Service:
    """Intermediate results of :func:`serve` that the masks reuse.

    Attributes:
        on: (n_cells,) bool, cells on.
        onf: (n_cells,) float 1 where on.
        pos: (n_grids,) bool, grids with demand.
        sole: (n_cells,) number of demanding grids the cell is the only active server of.
    """

    on: np.ndarray
    onf: np.ndarray
    pos: np.ndarray
    sole: np.ndarray


def next_status(status: Any, wake_left: Any, logical: Any, wakeup_steps: int, where: Callable[..., Any],
                waking: Any) -> tuple[Any, Any]:
    """The statuses after commanding ``logical``, and the wake-up steps left (per cell; any leading shape).

    A cell commanded on or to sleep from off wakes for ``wakeup_steps`` steps first (status WAKING, counting
    down while the command holds); every other command takes effect at once. Written with comparisons,
    ``&``/``|`` and ``where`` only, so it runs on numpy arrays (the single core) and on the batched core's
    numpy or torch arrays; ``waking`` is the WAKING status as a value of ``status``'s dtype.

    Returns:
        (new statuses, wake-up steps left: 0 unless the new status is WAKING).
    """
    is_waking = status == WAKING
    not_off = logical != OFF
    from_off = (status == OFF) & not_off
    new = logical
    wl = where(is_waking, wake_left - 1, 0)
    if wakeup_steps > 0:
        wl = where(from_off, wakeup_steps, wl)
        still = (from_off | is_waking) & not_off & (wl > 0)
        new = where(still, waking, logical)
    return new, where(new == WAKING, wl, 0)


def transition(core: CellSleepCore, a: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Apply the (legal) commanded statuses ``a`` (n_cells,); the cells' switching costs [W] and changes."""
    st, c = core.state, core.cfg
    prev_logical = st.logical
    logical = a.astype(np.int8)
    new, st.wake_left = next_status(st.status, st.wake_left, logical, c.wakeup_steps, np.where, np.int8(WAKING))
    st.status = new if new is not logical else logical.copy()
    st.logical = logical
    changed = prev_logical != logical
    return core.switch_cost_w[prev_logical, logical], changed  # (n_cells,) [W], (n_cells,) bool


def serve(core: CellSleepCore, d: np.ndarray) -> Service:
    """Serve demand ``d`` (n_grids,) [bit/s] with the current statuses; update loads (five sparse products).

    Sets the state's ``load``, ``lc``, ``util_all``, ``excess``, ``no_server`` and ``n_act``.
    """
    st = core.state
    on = st.status == ON
    capw, onf = core.ws_two  # (n_cells,) each: active capacity, 1 where on
    np.multiply(core.cap, on, out=capw)
    np.copyto(onf, on)
    denom, n_act = csr_mul(core.AT, core.ws_two)  # (n_grids,) each: active capacity, active cell count
    st.n_act = n_act
    has = denom > 0
    pos = d > 0
    three = core.ws_three
    three[0].fill(0.0)
    np.divide(d, denom, out=three[0], where=has)
    three[1] = (n_act == 1.0) & pos
    np.multiply(d, core.inv_denom_all, out=three[2])
    csum = csr_mul(core.A, three)  # (3, n_cells)
    load = capw * csum[0]  # (n_cells,) [bit/s]
    st.load = load
    st.lc = load / core.cap  # (n_cells,) utilisation
    st.util_all = csum[2]
    st.excess = np.maximum(load - core.cap_use, 0.0)
    st.no_server = np.where(has, 0.0, d)
    return Service(on=on, onf=onf, pos=pos, sole=csum[1])
