"""Gymnasium adapter of the CPICH load-balancing task (``mndt/LoadBalancing-v0``)."""

from __future__ import annotations

from typing import Any

import gymnasium as gym
import numpy as np
from gymnasium import spaces

from ..tasks.load_balancing import LoadBalancingCore

__all__ = ["LoadBalancingEnv"]


class LoadBalancingEnv(gym.Env[np.ndarray, np.ndarray]):
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
    (``p_max = p_ref + p_up_db``). NaN/inf or a wrong number of entries raise ``ValueError``.

    ## Observation Space
    ``Box((4 n_cells + 2,), float32)``: busy degrees ``b`` (n, capped at ``n_users / U_max``),
    powers relative to the reference ``(p - p_ref) / s`` (n), ``p_min(k)`` on the same scale
    (n), each antenna's neighbourhood coverage (n; share of covered users served in
    ``{i} ∪ N(i)``), then ``sin``/``cos`` of the hour of day. ``s = max(p_up_db, p_down_db)``.

    ## Rewards
    ``-std(b) - over_busy_penalty * share(b_i >= b_over)`` for the new period (``target="local"``:
    the RMS deviation from the neighbourhood means instead of the std). ``info["cost"]`` is the
    coverage shortfall ``max(0, c_min - C)``; ``info["reward_terms"]`` holds both reward terms.

    ## Episode End
    Truncated after ``episode_steps`` periods (never terminated). The last step's info has
    ``episode_metrics``: means over the periods of std of busy degrees, over-busy share,
    coverage and cost, and the minimum coverage.
    """

    metadata = {"render_modes": ["rgb_array"], "render_fps": 2}

    def __init__(self, scenario: str = "toy", config: dict[str, Any] | None = None,
                 render_mode: str | None = None) -> None:
        if render_mode is not None and render_mode not in self.metadata["render_modes"]:
            raise ValueError(f"render_mode = {render_mode!r}: allowed values are None, 'rgb_array'")
        self.core = LoadBalancingCore(scenario, config)
        self.render_mode = render_mode
        n = self.core.n
        s = self.core.cfg.max_step_db
        self.action_space = spaces.Box(-s, s, (n,), np.float32)
        c = self.core
        lo_p = np.float32(-c.cfg.p_down_db / c.p_scale)
        hi_p = np.float32(c.cfg.p_up_db / c.p_scale)
        low = np.concatenate([np.zeros(n), np.full(2 * n, lo_p), np.zeros(n), [-1.0, -1.0]]).astype(np.float32)
        high = np.concatenate([np.full(n, c.b_high), np.full(2 * n, hi_p), np.ones(n), [1.0, 1.0]]).astype(np.float32)
        self.observation_space = spaces.Box(low, high, dtype=np.float32)

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None,
              ) -> tuple[np.ndarray, dict[str, Any]]:
        super().reset(seed=seed)
        self.core.reset(self.np_random)
        return self._obs(), self.core.info()

    def _obs(self) -> np.ndarray:
        o = self.core.global_obs()
        space = self.observation_space
        assert isinstance(space, spaces.Box)
        return np.clip(o, space.low, space.high)

    def step(self, action: np.ndarray) -> tuple[np.ndarray, float, bool, bool, dict[str, Any]]:
        if self.core.k >= self.core.cfg.episode_steps:
            raise RuntimeError("step() after the episode was truncated: call reset()")
        reward, _, truncated, info = self.core.step(action, self.np_random)
        return self._obs(), reward, False, truncated, info

    def render(self) -> np.ndarray | None:
        if self.render_mode != "rgb_array":
            return None
        return self.core.render()
