"""Cell sleep: power, switching costs, rewards and the blame of unserved traffic.

Power: EARTH per cell (:func:`radio.earth_power_w`, ``P_out = P_max · utilisation`` when on,
``P_sleep`` when asleep or waking up, 0 when off), plus per site a BBU while any cell is not off and
air conditioning proportional to the site total (:func:`radio.site_power_w`).

Rewards: global ``-(Σ site power + Σ switching costs) / reward_scale_w - unserved_penalty · unserved
[Gbit]``; per cell ``-(own power · (1 + aircon) + equal share of its site's BBU/air-con overhead + own
switching cost + share of the site's switching cost) / reward_scale_w - unserved_penalty · blamed
unserved [Gbit]``; the per-cell rewards sum to the global one.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from .config import ON
from .sparse import csr_mul

if TYPE_CHECKING:  # pragma: no cover
    from .core import CellSleepCore

__all__ = ["Power", "network_power", "blame", "rewards"]


@dataclass
class Power:
    """One step's power draw.

    Attributes:
        cell_w: (n_cells,) [W] EARTH power of each cell.
        total_w: [W] network total (sites incl. BBU and air conditioning).
        always_on_w: [W] the same demand served with every cell on.
    """

    cell_w: np.ndarray
    total_w: float
    always_on_w: float


def network_power(core: CellSleepCore) -> Power:
    """EARTH power per cell, site totals, and the always-on reference under the same demand."""
    st = core.state
    # radio.earth_power_w and radio.site_power_w, the same arithmetic without their general-purpose
    # calls: P_out = P_max min(utilisation, 1) is within [0, P_max] already (their clip is the identity),
    # a waking cell draws sleep power, and a site is alive iff one of its cells is not off (the count
    # update_masks keeps).
    tab = core.ws_power  # (4, n_cells) [W] by status: on (filled here), sleep, off (0), waking (sleep)
    np.multiply(np.minimum(st.lc, 1.0), core.p_max_w, out=tab[ON])  # P_out [W]
    np.multiply(core.delta_p, tab[ON], out=tab[ON])
    np.add(core.p0_w, tab[ON], out=tab[ON])
    cell_p = np.choose(st.status, tab)  # (n_cells,) [W]
    radio_w = np.bincount(core.site, weights=cell_p, minlength=core.n_sites)
    site_p = (radio_w + core.bbu_w * (st.site_alive_count > 0)) * (1.0 + core.aircon)  # (n_sites,) [W]
    cell_p_all = core.p0_w + core.delta_p * np.minimum(st.util_all, 1.0) * core.p_max_w
    total_all = (float(cell_p_all.sum()) + core.bbu_w * core.n_sites) * (1.0 + core.aircon)
    return Power(cell_w=cell_p, total_w=float(site_p.sum()), always_on_w=total_all)


def blame(core: CellSleepCore, on: np.ndarray | None = None) -> np.ndarray:
    """(n_cells,) [bit/s] unserved traffic attributed to each cell (sums to the total unserved).

    Each grid's unmet demand (no active cell, or its share of its cells' excess load) is blamed on
    the covering cells that are not on (they could have served it), equally; if all its covering
    cells are on, on all of them equally.
    """
    st = core.state
    if on is None:
        on = st.status == 0
    if st.excess.any():
        ratio = np.divide(core.cap * st.excess, st.load, out=np.zeros(core.n_cells), where=st.load > 0)
        unmet = st.no_server + core.ws_three[0] * csr_mul(core.AT, ratio)  # (n_grids,); ws_three[0] = d / denom
    else:  # no cell over its usable capacity: the product above would add exact zeros
        unmet = st.no_server
    n_off = core.n_cover - st.n_act
    has_off = n_off > 0
    tt = core.ws_tt  # (2, n_grids): to the cells not on, to all cells
    tt[0].fill(0.0)
    np.divide(unmet, n_off, out=tt[0], where=has_off)
    tt[1] = np.where(has_off, 0.0, unmet / core.n_cover)
    r = csr_mul(core.A, tt)  # (2, n_cells)
    return (~on) * r[0] + r[1]


def rewards(core: CellSleepCore, pw: Power, cell_sw: np.ndarray, site_sw: np.ndarray, alive: np.ndarray,
            unserved_bps: float, on: np.ndarray) -> tuple[float, np.ndarray, dict[str, float]]:
    """(global reward, (n_cells,) per-cell rewards, reward terms) of the step."""
    c = core.cfg
    scale = c.reward_scale_w
    unserved_gbit = unserved_bps * core.step_s / 1e9
    sw_total = float(cell_sw.sum() + site_sw.sum())
    reward = -(pw.total_w + sw_total) / scale - c.unserved_penalty * unserved_gbit
    overhead = alive * (core.bbu_w * (1.0 + core.aircon))  # (n_sites,) [W] BBU + its air conditioning
    share = (overhead + site_sw) / core.cells_per_site  # (n_sites,) [W] per cell of the site
    agent_r = -(pw.cell_w * (1.0 + core.aircon) + share[core.site] + cell_sw) / scale
    if c.unserved_penalty > 0 and unserved_bps > 0:
        agent_r = agent_r - c.unserved_penalty * blame(core, on) * core.step_s / 1e9
    terms = {"power": -pw.total_w / scale, "switching": -sw_total / scale,
             "unserved": -c.unserved_penalty * unserved_gbit}
    return reward, agent_r, terms
