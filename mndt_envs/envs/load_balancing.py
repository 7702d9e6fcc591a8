"""Gymnasium env of the CPICH load-balancing task (``mndt/LoadBalancing-v0``), on the generic adapter."""

from __future__ import annotations

from ..tasks.load_balancing import LoadBalancingCore
from .base import TaskEnv

__all__ = ["LoadBalancingEnv"]


class LoadBalancingEnv(TaskEnv):
    """CPICH load balancing, the "breathing" network (paper 001), one agent controlling all antennas.

    ## Description
    Every step is a sampling period (default 1 h; an episode is ``episode_steps`` = 24
    periods, one day). Users move by the built-in tidal hotspot day (business areas busy
    by day, residential ones by night) or the scenario's mobility twin, attach to the
    strongest CPICH, and load their serving antenna. The agent changes the CPICH power of
    every antenna to balance the busy degrees ``b_i = |U_i| / U_max`` while keeping the
    coverage rate above ``c_min``. Powers are projected onto ``[p_min(k), p_max]``, where
    ``p_min(k)`` comes from the paper's minimum-coverage-power procedure on the period's
    measurement reports. Task parameters: :class:`mndt_envs.tasks.load_balancing.LoadBalancingConfig`
    (``config={"task": {...}}``); other ``config`` keys override the scenario.

    ## Action Space
    ``Box(-max_step_db, max_step_db, (n_cells,), float32)``: CPICH power change [dB] per
    antenna for the next period. Values outside the box are clipped to it (documented
    clipping); the new powers are then projected onto ``[p_min(k), p_max]``
    (``p_max = p_ref + p_up_db``). NaN/inf, a wrong shape (no reshaping of ``(1, n)``), strings,
    complex or boolean arrays raise ``ValueError``.

    ## Observation Space
    ``Box((4 n_cells + 2,), float32)``: busy degrees ``b`` (n, capped at ``n_users / U_max``),
    powers relative to the reference ``(p - p_ref) / s`` (n), ``p_min(k)`` on the same scale
    (n), each antenna's neighbourhood coverage (n; share of covered users served in
    ``{i} ∪ N(i)``), then ``sin``/``cos`` of the hour of day. ``s = max(p_up_db, p_down_db)``; ``n`` = antennas
    (cells).

    ## Rewards
    ``-std(b) - over_busy_penalty * share(b_i >= b_over)`` for the new period (``target="local"``:
    the RMS deviation from the neighbourhood means instead of the std). ``info["cost"]`` is the
    coverage shortfall ``max(0, c_min - C)``; ``info["reward_terms"]`` holds both reward terms.

    ## Episode End
    Truncated after ``episode_steps`` periods (never terminated). The last step's info has
    ``episode_metrics``: means over the periods of std of busy degrees, over-busy share,
    coverage and cost, and the minimum coverage.
    """

    core_cls = LoadBalancingCore
    renderer = "mndt_envs.tasks.load_balancing.render:render"
    metadata = {"render_modes": ["rgb_array"], "render_fps": 2}
