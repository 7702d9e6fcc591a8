"""Single-agent Gymnasium env of the cell-sleep task (``mndt/CellSleep-v0``), on the generic adapter."""

from __future__ import annotations

from ..tasks.cell_sleep import CellSleepCore
from .base import MaskedTaskEnv

__all__ = ["CellSleepEnv"]


class CellSleepEnv(MaskedTaskEnv):
    """Switch cells on, to sleep or off every 30 min to save energy (paper 002 §IV.B).

    ## Description
    A network twin (``scenario``) is split into square grids (``task.grid_m``, 100 m); a cell
    covers a grid where its RSRP reaches the coverage threshold. Each grid's demand follows a
    diurnal + weekly series (or the LSTM traffic twin) and is split across the grid's active
    cells in proportion to their capacities; what exceeds a cell's capacity, or has no active
    cell, is unserved. Power: EARTH model per cell (load-dependent when on, sleep power when
    asleep or waking up, 0 when off), a BBU per site while any of its cells is not off, and air
    conditioning proportional to site power. A site is off iff all its cells are off. See
    :mod:`mndt_envs.tasks.cell_sleep` for the equations and
    :class:`mndt_envs.tasks.cell_sleep.CellSleepConfig` for every parameter.

    ## Action Space
    ``MultiDiscrete([3] * n_cells)``: per cell 0 = on, 1 = sleep, 2 = off. A cell leaving off
    needs ``task.wakeup_steps`` steps (default 1) before it serves. Illegal actions (see the mask)
    raise ``ValueError`` with ``task.strict=True``; otherwise they are replaced by "on" and
    counted in ``info["illegal_actions"]``. Wrong shapes, non-integers or values outside
    {0, 1, 2} raise ``ValueError``.

    ## Observation Space
    ``Dict``: ``"observation"``: ``Box(n_cells, 22)`` float32 per-cell features (time of day
    sin/cos; the cell's grids' demand over the last 4 steps as the utilisation the cell would
    have with every cell on; device parameters: kind one-hot, P_0, P_sleep, Δ_p·P_max (÷130 W),
    capacity ÷ max; own status one-hot on/sleep/off/waking; site on and share of its cells on;
    the paper's two masks (grid demand met if this cell sleeps/closes; site closable if this
    cell closes); last utilisation). ``"action_mask"``: ``Box(0, 1, (3 n_cells,), int8)``, the
    flattened per-cell mask of legal actions (:meth:`action_masks` returns it as a bool array for
    sb3-contrib's ``MaskablePPO``). With ``task.hard_constraints`` (default) sleep/off is
    forbidden where the cell's grids could not be served without it.

    ## Rewards
    ``-(total network power [W] + switching costs [W-equivalent]) / task.reward_scale_w``
    (default 1 kW), minus ``task.unserved_penalty`` per Gbit unserved (default 10).
    ``info["cost"]`` = unserved traffic in the step [Gbit]; ``info["reward_terms"]`` splits the
    reward; ``info["agent_rewards"]`` holds the per-cell rewards of the multi-agent form.

    ## Episode End
    Truncated after ``task.days`` days (default 7 = 336 steps of 30 min) or
    ``task.episode_steps`` if > 0; never terminated. The last step's ``info["episode_metrics"]``
    holds energy [kWh], energy of always-on [kWh], % saved, unserved [Gbit and %], switches.
    """

    core_cls = CellSleepCore
    renderer = "mndt_envs.tasks.cell_sleep.render:render"
    metadata = {"render_modes": ["rgb_array"], "render_fps": 4}
