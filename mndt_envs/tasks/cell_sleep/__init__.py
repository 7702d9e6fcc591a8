"""Cell sleep (paper 002 §IV.B, Fig. 4; SPEC §4): the task core shared by both env forms.

The area is split into square grids (default 100 m). A cell *covers* a grid when its
RSRP at the grid centre (``ref_power_dbm + channel gain``, outdoor, large-scale) reaches the
coverage threshold; the cover relation is computed once at construction. Every decision
step (default 30 min) each cell is set **on (0)**, **sleep (1)** or **off (2)**; a site is
off iff all its cells are off.

Per step (array operations only; sparse cover matrices precomputed):

* Demand ``d_g`` [bit/s] of each grid (mean offered rate over the step) comes from a
  model drawn at reset (``demand_source="diurnal"``, the documented model in
  :func:`diurnal_profile`, or ``"lstm"``, the traffic twin's ``demand_series``).
* The demand of a grid is split across its **active** (on) covering cells in proportion to
  their capacities: ``load_c = cap_c Σ_g A[c,g] d_g / Σ_c' A[c',g] cap_c' on_c'``. Load above
  ``max_utilisation · cap_c`` is unserved, as is the demand of a grid with no active cell.
* Capacity of a cell [bit/s] = ``n_rb · B_RB · SE_c``, with ``SE_c = log2(1 + SINR)`` of the
  median full-load SINR over the grids it best-serves (grid centres; all cells on and fully
  loaded, :func:`mndt_envs.twin.radio.sinr_load`), capped at ``max_spectral_efficiency``.
* Power: EARTH per cell (:func:`radio.earth_power_w`, ``P_out = P_max · utilisation`` when on,
  ``P_sleep`` when asleep or waking up, 0 when off), plus per site a BBU while any cell is not
  off and air conditioning proportional to the site total (:func:`radio.site_power_w`).
* Switching: a cost [W-equivalent for one step] per commanded transition of a cell (on↔sleep
  cheap, to/from off expensive) and per site on↔off. A cell commanded out of off *wakes up*
  for ``wakeup_steps`` steps (power of sleep, serves nothing) before it reaches its target.

Rewards: global ``-(Σ site power + Σ switching costs) / reward_scale_w - unserved_penalty ·
unserved [Gbit]``; per cell (multi-agent) ``-(own power · (1 + aircon) + equal share of its
site's BBU/air-con overhead + own switching cost + share of the site's switching cost) /
reward_scale_w - unserved_penalty · blamed unserved [Gbit]``, the unserved traffic of a grid
being blamed on its covering cells that are not on (:func:`reward.blame`); the per-cell
rewards sum to the global one.
``info["cost"]`` = unserved traffic in the step [Gbit].

Masks (the paper's two "masks", also observation features): **mask 1** of a cell: the demand
of its grids can still be met if it sleeps or closes (for an on cell: it is the sole active
server of no grid with demand, and its load × ``mask_headroom`` fits in the spare capacity of
the active cells sharing a grid with it; for a cell not on: its grids are met now). **Mask 2**:
its site would be off if it closed (all other cells of the site are off). With
``hard_constraints`` the action mask forbids sleep/off where mask 1 is false. Masks are per
cell; with ``joint_masks`` a candidate also makes room for the less-loaded candidates around it
leaving in the same step, but simultaneous switching can still leave traffic unserved, which
shows in the cost (and in the reward through ``unserved_penalty``).

Package layout (read top-down): :mod:`.config` (constants, features, :class:`CellSleepConfig`),
:mod:`.demand` (the demand model), :mod:`.grids` (grids, cover relation, capacities; built once),
:mod:`.state` (the episode state), :mod:`.dynamics` (switching and service), :mod:`.masks`,
:mod:`.reward`, :mod:`.core` (:class:`CellSleepCore`, the :class:`~mndt_envs.tasks.contract.TaskCore`),
:mod:`.render` (drawing, imported lazily by the adapters). The demo lives in :mod:`mndt_envs.demos.cell_sleep`.
"""

from __future__ import annotations

from .config import (
    FEATURE_NAMES,
    FEATURES,
    HISTORY,
    N_ACTIONS,
    N_FEATURES,
    OFF,
    ON,
    SLEEP,
    WAKING,
    CellSleepConfig,
)
from .core import CellSleepCore
from .demand import DemandModel, diurnal_profile
from .state import CellSleepState, Totals

__all__ = [
    "CellSleepConfig",
    "CellSleepCore",
    "CellSleepState",
    "Totals",
    "DemandModel",
    "diurnal_profile",
    "ON",
    "SLEEP",
    "OFF",
    "WAKING",
    "N_ACTIONS",
    "N_FEATURES",
    "FEATURE_NAMES",
    "FEATURES",
    "HISTORY",
]
