"""The load-balancing task core (implements :class:`mndt_envs.tasks.contract.TaskCore`, one agent per antenna).

``reset`` generates the episode's periods; ``step`` applies power changes, projects the powers onto
``[p_min(k), p_max]`` (eq. 18), moves to the next period and evaluates it (vectorised, no Python loop
over users or cells).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import scipy.sparse as sp
from gymnasium import spaces as gspaces

from ...config import apply_overrides, make_config, split_config
from ...twin.mobility import TidalHotspotMobility
from ...twin.network import NetworkTwin
from .. import coverage as cov
from ..contract import EpisodeOverError, Feature, StepResult
from ..validators import as_real_array
from .config import AGENT_FEATURES, FEATURES, LoadBalancingConfig
from .metrics import busy_metrics
from .periods import PeriodData, make_period, min_powers, mrs_of, top_neighbours
from .state import Evaluation, HistoryRow

__all__ = ["LoadBalancingCore"]


class LoadBalancingCore:
    """The load-balancing problem: periods, powers, busy degrees, coverage, reward, cost.

    Args:
        scenario: preset name or scenario dict / config.
        config: env ``config`` kwarg: scenario overrides plus a ``"task"`` dict of
            :class:`LoadBalancingConfig` fields.
    """

    features: tuple[Feature, ...] = FEATURES
    agent_features: tuple[Feature, ...] = AGENT_FEATURES

    def __init__(self, scenario: Any = "toy", config: dict[str, Any] | None = None) -> None:
        scen_over, task_over = split_config(config)
        self.cfg: LoadBalancingConfig = apply_overrides(LoadBalancingConfig(), task_over, "task")
        self.twin = _build_twin(scenario, scen_over, self.cfg)
        self._derive()
        self.agent_ids: tuple[str, ...] = tuple(f"antenna_{i}" for i in range(self.n))
        self._spaces = self._build_spaces()
        # episode state
        self.periods: list[PeriodData] = []
        self.k = 0  # current period
        self.p = self.p_ref.copy()  # (n,) [dBm] current powers
        self.adjacency = sp.csr_matrix((self.n, self.n), dtype=bool)
        self._a_hat = sp.identity(self.n, format="csr")
        self.neighbours = np.full((self.n, self.cfg.max_neighbours), -1, dtype=np.int64)
        self._eval: Evaluation | None = None
        self._rng = np.random.default_rng(0)
        self._mr_seed = 0
        self._mrs: tuple[np.ndarray, np.ndarray] | None = None
        self.history: list[HistoryRow] = []

    def _derive(self) -> None:
        """Sizes, power bounds [dBm] and normalisations from the twin and the config."""
        c, scfg, cells = self.cfg, self.twin.cfg, self.twin.cells
        self.n = cells.n
        self.n_users = self.twin.n_users
        self.k_cand = min(c.n_candidates, self.n)
        self.k_mr = min(scfg.radio.mr_top_k, self.k_cand)
        self.mr_noise_db = scfg.radio.mr_noise_db
        self.threshold_dbm = (scfg.radio.coverage_threshold_dbm if math.isnan(c.coverage_threshold_dbm)
                              else c.coverage_threshold_dbm)
        self.p_ref = np.asarray(cells.ref_power_dbm, dtype=np.float64)  # (n,) [dBm]
        self.p_max = self.p_ref + c.p_up_db  # (n,) [dBm]
        self.p_lo = self.p_ref - c.p_down_db  # (n,) [dBm]
        self.u_max = c.u_max if c.u_max > 0 else max(2.0 * self.n_users / self.n, 1.0)
        self.p_scale = max(abs(c.p_up_db), abs(c.p_down_db), 1e-6)  # [dB] power normalisation of observations
        self.b_high = float(self.n_users / self.u_max)

    def _build_spaces(self) -> dict[str, gspaces.Box]:
        """Observation bounds computed once (single and per-agent) and the action boxes."""
        c, n, m = self.cfg, self.n, self.cfg.max_neighbours
        lo_p, hi_p = -c.p_down_db / self.p_scale, c.p_up_db / self.p_scale
        low = np.concatenate([np.zeros(n), np.full(2 * n, np.float32(lo_p)), np.zeros(n), [-1.0, -1.0]])
        high = np.concatenate([np.full(n, self.b_high), np.full(2 * n, np.float32(hi_p)), np.ones(n), [1.0, 1.0]])
        a_low = np.concatenate([[0.0, lo_p, lo_p, 0.0, -1.0, -1.0], np.zeros(m), np.full(m, min(lo_p, 0.0)),
                                np.zeros(m)])
        a_high = np.concatenate([[self.b_high, hi_p, hi_p, 1.0, 1.0, 1.0], np.full(m, self.b_high),
                                 np.full(m, max(hi_p, 0.0)), np.ones(m)])
        s = c.max_step_db
        return {"obs": gspaces.Box(low.astype(np.float32), high.astype(np.float32), dtype=np.float32),
                "act": gspaces.Box(-s, s, (n,), np.float32),
                "agent_obs": gspaces.Box(a_low.astype(np.float32), a_high.astype(np.float32), dtype=np.float32),
                "agent_act": gspaces.Box(-s, s, (1,), np.float32)}

    # ------------------------------------------------------------ episode
    def reset(self, rng: np.random.Generator) -> dict[str, Any]:
        """Generate the episode's periods (positions, candidates, ``p_min(k)``) and evaluate period 0."""
        c = self.cfg
        self._rng = rng
        self.twin.reset(rng, c.period_s * (c.episode_steps + 1))
        self.periods = []
        pooled: list[np.ndarray] = []
        for k in range(c.episode_steps + 1):  # loop over periods (not users/cells)
            if k:
                self.twin.advance(c.period_s, rng)
            pd = make_period(self, (c.start_hour + k * c.period_s / 3600.0) % 24.0)
            ids, att = mrs_of(self, pd, self.p_ref, rng)
            pd.p_min, pd.pmin_feasible = min_powers(self, ids, att, rng)
            pooled.append(ids)
            self.periods.append(pd)
        all_ids = np.concatenate(pooled)
        self.adjacency = cov.neighbour_graph(all_ids, self.n)
        self._a_hat = (self.adjacency.astype(np.float64) + sp.identity(self.n, format="csr")).tocsr()
        self.neighbours = top_neighbours(self.n, c.max_neighbours, all_ids)
        self.k = 0
        self.p = self.p_ref.copy()
        self.history = []
        self._evaluate(rng)
        return self.info()

    def validate_action(self, action: Any) -> np.ndarray:
        """Power changes (n,) [dB]: strict shape/dtype, finite; clipped to ``±max_step_db`` (documented)."""
        a = as_real_array(action, "action (power changes [dB], one per antenna)", (self.n,), "float")
        return np.clip(a.astype(np.float64), -self.cfg.max_step_db, self.cfg.max_step_db)

    def check_action(self, delta_db: Any, name: str = "action") -> np.ndarray:
        """Same as :meth:`validate_action` (kept name)."""
        return self.validate_action(delta_db)

    def step(self, action: Any, rng: np.random.Generator | None = None) -> StepResult:
        """Apply power changes [dB], move to the next period and evaluate it (``rng``: the reset's by default)."""
        if self.k >= self.cfg.episode_steps:
            raise EpisodeOverError("LoadBalancingCore.step(): the episode is over (truncated); call reset()")
        d = self.validate_action(action)
        return self._advance(d, self._rng if rng is None else rng)

    def step_agents(self, actions: Any) -> StepResult:
        """One power change per antenna, stacked (n, 1) in ``agent_ids`` order (clipped like the single form)."""
        if self.k >= self.cfg.episode_steps:
            raise EpisodeOverError("LoadBalancingCore.step_agents(): the episode is over (truncated); call reset()")
        d = np.asarray(actions, dtype=np.float64).reshape(self.n)
        return self._advance(np.clip(d, -self.cfg.max_step_db, self.cfg.max_step_db), self._rng)

    def _advance(self, d: np.ndarray, rng: np.random.Generator) -> StepResult:
        """Phases: project the new powers, next period, evaluate, reward and cost, history."""
        self.p = self.project(self.p + d)
        self.k += 1
        self._evaluate(rng)
        s, c = self.state, self.cfg
        std_term = -(s.imbalance if c.target == "local" else s.std_busy)
        over_term = -c.over_busy_penalty * s.over_busy_share
        reward = float(std_term + over_term)
        cost = float(max(0.0, c.c_min - s.coverage))
        self.history.append(HistoryRow(s.std_busy, s.over_busy_share, s.imbalance, s.coverage, cost,
                                       float(np.mean(self.p - self.p_ref))))
        truncated = self.k >= c.episode_steps
        return StepResult(reward=reward, agent_rewards=np.full(self.n, reward), cost=cost, terminated=False,
                          truncated=truncated, reward_terms={"std_busy": std_term, "over_busy": over_term},
                          kpis=self.info(), episode=self.episode_metrics() if truncated else None)

    def info(self) -> dict[str, Any]:
        """The period's KPIs (the step info without ``cost`` and ``reward_terms``)."""
        s = self.state
        return {"hour": self.period.hour, "period": self.k, "std_busy": s.std_busy,
                "over_busy_share": s.over_busy_share, "coverage": s.coverage,
                "busy": np.asarray(s.busy).copy(), "p_dbm": self.p.copy(),
                "p_min_infeasible": int((~self.period.pmin_feasible).sum())}

    def episode_metrics(self) -> dict[str, float]:
        """Means over the episode's stepped periods (the paper's §7 metrics)."""
        if not self.history:
            return {}
        out = {f"mean_{k}": float(np.mean([getattr(h, k) for h in self.history])) for k in HistoryRow.names()}
        out["min_coverage"] = float(np.min([h.coverage for h in self.history]))
        return out

    # ------------------------------------------------------------ evaluation
    @property
    def period(self) -> PeriodData:
        """The current period's data."""
        return self.periods[self.k]

    @property
    def p_min(self) -> np.ndarray:
        """(n,) ``p_min(k)`` of the current period [dBm] (never above ``p_max``)."""
        return np.minimum(self.period.p_min, self.p_max)

    def evaluate(self, p_dbm: np.ndarray, period: PeriodData | None = None) -> Evaluation:
        """Association, busy degrees and coverage of a period under powers ``p`` (no state change)."""
        pd = self.period if period is None else period
        rsrp = np.asarray(p_dbm, dtype=np.float32)[pd.cand_ids] - pd.cand_att  # (U, K) [dBm]
        kc = rsrp.shape[1]
        flat = np.argmax(rsrp, axis=1) + kc * np.arange(rsrp.shape[0])
        serving = pd.cand_ids.ravel()[flat]
        best = rsrp.ravel()[flat]
        covered = best >= self.threshold_dbm
        counts = np.bincount(serving, minlength=self.n).astype(np.float64)
        b = counts / self.u_max
        a = self._a_hat
        cc = np.bincount(serving, weights=covered.astype(np.float64), minlength=self.n)
        tot = np.asarray(a @ counts).ravel()
        nb_cov = np.where(tot > 0, np.asarray(a @ cc).ravel() / np.maximum(tot, 1e-12), 1.0)
        m = busy_metrics(b, self.cfg.b_over, self.cfg.target, a - sp.identity(self.n, format="csr")
                         if self.cfg.target == "local" else None)
        return Evaluation(serving=serving, best_rsrp=best, busy=b, nb_coverage=nb_cov,
                          coverage=float(covered.mean()) if covered.size else 1.0, **m)

    def _evaluate(self, rng: np.random.Generator) -> None:
        self._eval = self.evaluate(self.p)
        self._mr_seed = int(rng.integers(2**63 - 1))
        self._mrs = None

    @property
    def state(self) -> Evaluation:
        """The current period's evaluation (busy degrees, coverage, ...)."""
        if self._eval is None:
            raise EpisodeOverError("LoadBalancingCore: no period evaluated yet; call reset()")
        return self._eval

    @property
    def powers_dbm(self) -> np.ndarray:
        """(n,) [dBm] a copy of the current CPICH powers."""
        return self.p.copy()

    @property
    def busy(self) -> np.ndarray:
        """(n,) busy degrees of the current period."""
        return np.asarray(self.state.busy)

    def mrs(self) -> tuple[np.ndarray, np.ndarray]:
        """The current period's MRs under the current powers (drawn lazily, seeded at the step)."""
        if self._mrs is None:
            self._mrs = mrs_of(self, self.period, self.p, np.random.default_rng(self._mr_seed))
        return self._mrs

    def mrs_of(self, period: PeriodData, p_dbm: np.ndarray, rng: np.random.Generator,
               ) -> tuple[np.ndarray, np.ndarray]:
        """MRs of ``period`` measured under powers ``p`` (see :func:`.periods.mrs_of`)."""
        return mrs_of(self, period, p_dbm, rng)

    def project(self, p_dbm: np.ndarray) -> np.ndarray:
        """Project powers onto ``[p_min(k), p_max]`` (eq. 18)."""
        return np.clip(p_dbm, self.p_min, self.p_max)

    # ------------------------------------------------------------ observations and spaces
    def hour_features(self) -> tuple[float, float]:
        """(sin, cos) of the hour of day."""
        ang = 2.0 * math.pi * self.period.hour / 24.0
        return math.sin(ang), math.cos(ang)

    def p_norm(self, p: np.ndarray) -> np.ndarray:
        """Powers relative to the reference, divided by the larger of ``p_up_db``, ``p_down_db``."""
        return (np.asarray(p) - self.p_ref) / self.p_scale

    def global_obs(self) -> np.ndarray:
        """Single-agent observation (unclipped): [b (n), p_norm (n), p_min_norm (n), nb_coverage (n), sin h, cos h]."""
        s = self.state
        sh, ch = self.hour_features()
        return np.concatenate([np.minimum(s.busy, self.b_high), self.p_norm(self.p), self.p_norm(self.p_min),
                               s.nb_coverage, [sh, ch]]).astype(np.float32)

    def agent_obs(self) -> np.ndarray:
        """Per-antenna observations (n, 6 + 3·max_neighbours), unclipped (see ``agent_features``)."""
        s = self.state
        b = np.minimum(s.busy, self.b_high)
        pn = self.p_norm(self.p)
        sh, ch = self.hour_features()
        nb = self.neighbours
        present = nb >= 0
        idx = np.maximum(nb, 0)
        own = np.stack([b, pn, self.p_norm(self.p_min), s.nb_coverage, np.full(self.n, sh), np.full(self.n, ch)],
                       axis=1)
        return np.concatenate([own, np.where(present, b[idx], 0.0), np.where(present, pn[idx], 0.0),
                               present.astype(np.float64)], axis=1).astype(np.float32)

    def observation(self) -> np.ndarray:
        """:meth:`global_obs` clipped to the observation space."""
        sp_ = self._spaces["obs"]
        return np.clip(self.global_obs(), sp_.low, sp_.high)

    def agent_observations(self) -> np.ndarray:
        """:meth:`agent_obs` clipped to the agent observation space, (n, 6 + 3 M)."""
        sp_ = self._spaces["agent_obs"]
        return np.clip(self.agent_obs(), sp_.low, sp_.high)

    def spaces(self) -> tuple[gspaces.Space, gspaces.Space]:
        """(Box (4 n + 2,), Box(-max_step_db, max_step_db, (n,)))."""
        return self._spaces["obs"], self._spaces["act"]

    def agent_spaces(self) -> tuple[gspaces.Space, gspaces.Space]:
        """(Box (6 + 3 M,), Box(-max_step_db, max_step_db, (1,)))."""
        return self._spaces["agent_obs"], self._spaces["agent_act"]

    def action_mask(self) -> None:
        """No action masks in this task."""
        return None

    def agent_action_masks(self) -> None:
        """No action masks in this task."""
        return None


def _build_twin(scenario: Any, scen_over: dict[str, Any], c: LoadBalancingConfig) -> NetworkTwin:
    """The twin with large-scale gains only (CPICH RSRP is filtered over the period) and the task's mobility."""
    scen_over = dict(scen_over)
    scen_over.setdefault("channel", {})
    if isinstance(scen_over["channel"], dict):
        scen_over["channel"] = {"fading": "none", **scen_over["channel"]}
    scfg = make_config(scenario, scen_over)
    mobility = None
    if c.mobility != "twin":
        radius = c.hotspot_radius_m or 0.15 * scfg.width_m
        mobility = TidalHotspotMobility(scfg.width_m, scfg.height_m, c.n_business, c.n_residential, radius,
                                        c.background_share, c.jitter_m, c.start_hour, frozen=c.mobility == "static",
                                        indoor_fraction=scfg.users.indoor_fraction)
    return NetworkTwin(scfg, mobility=mobility)

