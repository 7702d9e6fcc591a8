"""The resource-allocation task core (implements :class:`mndt_envs.tasks.contract.TaskCore`, one agent per BS).

A step: validate the action for the configured mode, turn it into an :class:`Allocation` (matching in
demand mode, repair in direct mode, per-BS slots in the multi-agent form), evaluate it on the twin
(SINR with inter-cell interference on shared RBs, Shannon rates), update the demand bookkeeping and
advance the twin.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from gymnasium import spaces as gspaces

from ...config import ConfigError, ScenarioConfig, apply_overrides, split_config
from ...twin import radio
from ...twin.defaults import UniformDemand
from ...twin.network import NetworkTwin
from ..contract import ActionError, EpisodeOverError, Feature, StepResult
from ..validators import as_real_array, check_bounds
from .allocation import Allocation, allocate_direct
from .config import AGENT_FEATURES, FEATURES, ResourceAllocationConfig
from .links import Links, compute_links
from .matching import match, match_exact
from .state import RAState
from .stations import bs_allocation, bs_observation, bs_slots, per_bs

__all__ = ["ResourceAllocationCore"]

_DIRECT_KEYS = ("association", "rb", "power")


class ResourceAllocationCore:
    """The task core: observation, action → allocation → throughput, reward, cost.

    Args:
        scenario: preset name, dict or :class:`ScenarioConfig` of the twin.
        config: overrides; the ``"task"`` key holds :class:`ResourceAllocationConfig` fields,
            the other keys override the scenario.
    """

    features: tuple[Feature, ...] = FEATURES
    agent_features: tuple[Feature, ...] = AGENT_FEATURES

    def __init__(self, scenario: str | ScenarioConfig | dict[str, Any] = "toy",
                 config: dict[str, Any] | None = None) -> None:
        scen_over, task_over = split_config(config)
        self.cfg: ResourceAllocationConfig = apply_overrides(ResourceAllocationConfig(), task_over, "task")
        self.twin = NetworkTwin(scenario, scen_over)
        cells = self.twin.cells
        self.n_cells = int(cells.n)
        self.n_users = int(self.twin.n_users)
        rb_avail = int(np.min(cells.n_rb))
        if self.cfg.n_rb > rb_avail:
            raise ConfigError(
                f"task.n_rb = {self.cfg.n_rb}: more RBs requested than the cells have; allowed values are "
                f"0 (all) to {rb_avail} (radio.n_rb of the scenario)")
        self.n_rb = self.cfg.n_rb or rb_avail
        self.k_max = self.cfg.k_max
        self.cap = min(self.k_max, self.n_rb)  # users a BS can serve in one step
        self.k = min(self.cfg.n_candidates, self.n_cells)
        self.bw = float(self.twin.cfg.radio.rb_bandwidth_hz)  # [Hz]
        self.noise_w = float(self.twin.noise_w)  # [W] per RB
        self.p_max = np.asarray(self.twin.max_power_w, dtype=np.float64)  # (n_cells,) [W]
        self.max_demand_bits = float(self.twin.cfg.traffic.max_demand_rb_s * self.bw)  # [bit]
        self.horizon_s = self.cfg.episode_steps * self.cfg.step_s
        self.agent_ids: tuple[str, ...] = tuple(f"bs_{i}" for i in range(self.n_cells))
        self.rng = np.random.default_rng(0)
        self.state = RAState.initial(np.zeros(self.n_users))
        self.last_info: dict[str, Any] = {}  # info of the last step (empty after reset)
        self.last_alloc: Allocation | None = None  # allocation of the last step
        self._override: Allocation | None = None  # queued by override_next()
        k, u = self.k, self.n_users
        self.links = Links(glin=np.zeros((self.n_cells, u), dtype=np.float32), cand=np.zeros((k, u), dtype=np.int64),
                           cand_gain_db=np.zeros((k, u), dtype=np.float32), rate_est=np.zeros((k, u)))
        self._slots: np.ndarray | None = None  # per-BS slots of the current step (computed lazily)

    # ------------------------------------------------------------------ episode
    def reset(self, rng: np.random.Generator) -> dict[str, Any]:
        """Start an episode: users, demand and fading drawn from ``rng``."""
        self.rng = rng
        self.twin.reset(rng, horizon_s=self.horizon_s)
        self.state = RAState.initial(self._episode_demand())
        self.last_info = {}
        self._override = None
        self.update_channel()
        return {"satisfaction_ratio": 0.0, "episode_demand_bits": float(self.total.sum())}

    def _episode_demand(self) -> np.ndarray:
        """(n_users,) [bit] each user's demand over the episode, from the twin's demand model."""
        dm = self.twin.demand_model
        if isinstance(dm, UniformDemand):
            total = np.asarray(dm.total, dtype=np.float64)
        else:
            dt = self.cfg.step_s
            total = sum((np.asarray(dm.demand(k * dt, dt), dtype=np.float64)
                         for k in range(self.cfg.episode_steps)), np.zeros(self.n_users))
        return np.array(total, dtype=np.float64)

    def update_channel(self) -> None:
        """Linear gains, top-k candidate cells and full-load rate estimates for the current step."""
        self.links = compute_links(self.twin, self.k, self.cfg.use_fading, self.p_max, self.n_rb, self.noise_w,
                                   self.bw, self.cfg.step_s)
        self._slots = None

    # ------------------------------------------------------------------ actions
    def validate_action(self, action: Any) -> Allocation:
        """The single-agent action of the configured mode as a (repaired) :class:`Allocation`."""
        if isinstance(action, Allocation):  # explicit allocation (reference policies), repaired as in "direct"
            return allocate_direct(self, action.serving.astype(np.int64), action.rb.astype(np.int64),
                                   np.clip(action.power_w / self.p_max[np.maximum(action.serving, 0)], 0, 1))
        if self.cfg.action_mode == "demand":
            return self.demand_action(action)
        return self.direct_action(action)

    def direct_action(self, action: Any) -> Allocation:
        """Validate a direct-mode action (a dict with exactly three fields) and repair it into an allocation."""
        if not isinstance(action, dict):
            raise ActionError("action: expected a dict with keys 'association', 'rb', 'power', "
                              f"got {type(action).__name__}")
        missing = set(_DIRECT_KEYS) - set(action)
        if missing:
            raise ActionError(f"action: missing field(s) {sorted(missing)}; expected 'association', 'rb', 'power'")
        extra = set(action) - set(_DIRECT_KEYS)
        if extra:
            raise ActionError(f"action: unknown field(s) {sorted(map(str, extra))}; expected exactly "
                              "'association', 'rb', 'power'")
        shape = (self.n_users,)
        a = as_real_array(action["association"], "action field 'association'", shape, "int")
        check_bounds(a, "action field 'association'", 0, self.k)
        r = as_real_array(action["rb"], "action field 'rb'", shape, "int")
        check_bounds(r, "action field 'rb'", 0, self.n_rb - 1)
        p = as_real_array(action["power"], "action field 'power'", shape, "float").astype(np.float64)
        check_bounds(p, "action field 'power'", 0.0, 1.0)
        users = np.arange(self.n_users)
        a = a.astype(np.int64)
        serving = np.where(a < self.k, self.cand[np.minimum(a, self.k - 1), users], -1)
        return allocate_direct(self, serving, r.astype(np.int64), p)

    def demand_action(self, action: Any) -> Allocation:
        """Validate a demand-mode action (per-user share of the remaining demand in [0, 1]) and match it."""
        a = self._demand_fraction(action)
        requested = a * self.remaining  # (n_users,) [bit]
        return self.match(requested, a > 0)

    def _demand_fraction(self, action: Any) -> np.ndarray:
        a = as_real_array(action, "action field 'demand_fraction'", (self.n_users,), "float").astype(np.float64)
        check_bounds(a, "action field 'demand_fraction'", 0.0, 1.0)
        return a

    def match(self, requested: np.ndarray, eligible: np.ndarray) -> Allocation:
        """Demand-mode allocation for ``requested`` single-step demands [bit] of ``eligible`` users."""
        return match(self, requested, eligible)

    def match_exact(self, w: np.ndarray) -> np.ndarray:
        """Exact max-weight capacitated association for edge weights ``w`` (k, n_users)."""
        return match_exact(self, w)

    def allocate_direct(self, serving: np.ndarray, rb: np.ndarray, power_frac: np.ndarray) -> Allocation:
        """Repair a per-user (cell, RB, power fraction) proposal into a feasible allocation."""
        return allocate_direct(self, serving, rb, power_frac)

    def override_next(self, alloc: Allocation) -> None:
        """Use ``alloc`` (repaired like a direct action) instead of the next step's action.

        For reference policies that no action mode can express (the element twin's default
        allocator): their ``predict`` queues the allocation here and returns a valid placeholder
        action. Cleared by :meth:`reset` and consumed by the next :meth:`step`.
        """
        self._override = alloc

    # ------------------------------------------------------------------ step
    def step(self, action: Any) -> StepResult:
        """Validate ``action`` for the configured mode, allocate and apply."""
        self._check_live()
        if self._override is not None and not isinstance(action, Allocation):
            if self.cfg.action_mode == "demand":  # the placeholder action must still be valid
                self._demand_fraction(action)
            action, self._override = self._override, None
        return self.apply(self.validate_action(action))

    def step_agents(self, actions: Any) -> StepResult:
        """Per-BS decisions ``{"rb": (n_cells, cap) int, "power": (n_cells, cap)}`` (RB ``n_rb`` = do not serve)."""
        self._check_live()
        rb = np.asarray(actions["rb"], dtype=np.int64)
        power = np.asarray(actions["power"], dtype=np.float64)
        check_bounds(power, "actions[...]['power']", 0.0, 1.0)
        slots = self.slots
        return self.apply(bs_allocation(self, slots, rb, power), slots)

    def _check_live(self) -> None:
        if self.state.t >= self.cfg.episode_steps:
            raise EpisodeOverError("ResourceAllocationCore.step(): the episode is over (terminated); call reset()")

    def apply(self, alloc: Allocation, slots: np.ndarray | None = None) -> StepResult:
        """Evaluate an allocation on the twin, update demands, advance time (``slots``: per-BS costs)."""
        st, c = self.state, self.cfg
        on = alloc.serving >= 0
        rb_power = np.zeros((self.n_cells, self.n_rb))  # (n_cells, n_rb) [W]
        rb_power[alloc.serving[on], alloc.rb[on]] = alloc.power_w[on]
        sinr = radio.sinr_allocated(self.glin, rb_power, alloc.serving, alloc.rb, self.noise_w)
        st.rate = radio.shannon_rate(sinr, self.bw)  # (n_users,) [bit/s]
        thr = st.rate * c.step_s  # [bit]
        due = st.remaining / self.steps_left  # [bit] the step's share of the remaining demand
        sat = np.minimum(st.remaining, thr)
        st.unmet = np.maximum(due - sat, 0.0)
        st.remaining = st.remaining - sat
        st.satisfied += sat
        st.throughput += thr
        st.serving = alloc.serving.copy()
        self.last_alloc = alloc
        total_demand = max(float(st.total.sum()), 1e-12)
        thr_bw = float(thr.sum()) / self.bw  # [bit/Hz] throughput in units of bandwidth
        reward = thr_bw / (self.n_users * c.step_s)  # mean spectral efficiency per user [bit/s/Hz]
        cost = float(st.unmet.sum()) / total_demand
        st.ep_reward += reward
        st.ep_cost += cost
        st.t += 1
        terminated = st.t >= c.episode_steps
        agent_r, agent_c = per_bs(self, alloc, slots)
        kpis = self._kpis(alloc, thr_bw, float(st.satisfied.sum()) / total_demand)
        res = StepResult(reward=reward, agent_rewards=agent_r, cost=cost, terminated=terminated, truncated=False,
                         reward_terms={"throughput": reward}, kpis=kpis,
                         episode=self.episode_metrics() if terminated else None, agent_costs=agent_c)
        self.last_info = res.info()
        if not terminated:
            self.twin.advance(c.step_s, self.rng)
            self.update_channel()
        return res

    def _kpis(self, alloc: Allocation, thr_bw: float, sat_ratio: float) -> dict[str, Any]:
        st = self.state
        return {"throughput_bw": thr_bw, "unmet_bits": float(st.unmet.sum()), "satisfaction_ratio": sat_ratio,
                "episode_throughput_bw": float(st.throughput.sum()) / self.bw,
                "episode_satisfied_bits": float(st.satisfied.sum()), "episode_demand_bits": float(st.total.sum()),
                "served_users": int((alloc.serving >= 0).sum()), "repairs": dict(alloc.repairs),
                "n_repairs": int(sum(alloc.repairs.values()))}

    def episode_metrics(self) -> dict[str, float]:
        """Headline KPIs of the episode so far."""
        st = self.state
        total_demand = max(float(st.total.sum()), 1e-12)
        return {"throughput_bw": float(st.throughput.sum()) / self.bw,
                "satisfaction_ratio": float(st.satisfied.sum()) / total_demand,
                "satisfied_users": float(np.mean(st.remaining <= 1e-9 * np.maximum(st.total, 1.0))),
                "episode_cost": st.ep_cost, "episode_reward": st.ep_reward}

    # ------------------------------------------------------------------ observations, spaces
    def observation(self) -> dict[str, np.ndarray]:
        """The observation dict (see the env docstring); all float32 in [0, 1]."""
        rem = np.clip(self.remaining / max(self.max_demand_bits, 1e-12), 0.0, 1.0)
        return {
            "time_left": np.array([self.steps_left / self.cfg.episode_steps], dtype=np.float32),
            "remaining_demand": rem.astype(np.float32),
            "max_power": (self.p_max / self.p_max.max()).astype(np.float32),
            "gains": np.clip((self.cand_gain_db.T + 160.0) / 160.0, 0.0, 1.0).astype(np.float32),
            "association": ((self.serving + 1) / self.n_cells).astype(np.float32),
        }

    @property
    def slots(self) -> np.ndarray:
        """(n_cells, cap) the users in each BS's slots this step, −1 = empty."""
        if self._slots is None:
            self._slots = bs_slots(self)
        return self._slots

    def bs_slots(self) -> np.ndarray:
        """(n_cells, cap) users in each BS's slots (see :func:`.stations.bs_slots`)."""
        return bs_slots(self)

    def bs_observation(self, slots: np.ndarray) -> np.ndarray:
        """(n_cells, 2 + 3·cap) per-BS observations for ``slots``."""
        return bs_observation(self, slots)

    def agent_observations(self) -> np.ndarray:
        """(n_cells, 2 + 3·cap) per-BS observations of the current step."""
        return bs_observation(self, self.slots)

    def spaces(self) -> tuple[gspaces.Space, gspaces.Space]:
        """(Dict observation, Box demand fractions or Dict(association, rb, power) in direct mode)."""
        u, n = self.n_users, self.n_cells
        obs = gspaces.Dict({
            "time_left": gspaces.Box(0.0, 1.0, (1,), np.float32),
            "remaining_demand": gspaces.Box(0.0, 1.0, (u,), np.float32),
            "max_power": gspaces.Box(0.0, 1.0, (n,), np.float32),
            "gains": gspaces.Box(0.0, 1.0, (u, self.k), np.float32),
            "association": gspaces.Box(0.0, 1.0, (u,), np.float32),
        })
        if self.cfg.action_mode == "demand":
            return obs, gspaces.Box(0.0, 1.0, (u,), np.float32)
        return obs, gspaces.Dict({"association": gspaces.MultiDiscrete(np.full(u, self.k + 1)),
                                  "rb": gspaces.MultiDiscrete(np.full(u, self.n_rb)),
                                  "power": gspaces.Box(0.0, 1.0, (u,), np.float32)})

    def agent_spaces(self) -> tuple[gspaces.Space, gspaces.Space]:
        """(Box(0, 1, (2 + 3·cap,)), Dict(rb=MultiDiscrete([n_rb + 1] * cap), power=Box(0, 1, (cap,))))."""
        act = gspaces.Dict({"rb": gspaces.MultiDiscrete(np.full(self.cap, self.n_rb + 1)),
                            "power": gspaces.Box(0.0, 1.0, (self.cap,), np.float32)})
        return gspaces.Box(0.0, 1.0, (2 + 3 * self.cap,), np.float32), act

    def action_mask(self) -> None:
        """No action masks in this task."""
        return None

    def agent_action_masks(self) -> None:
        """No action masks in this task."""
        return None

    # ------------------------------------------------------------------ read-only views
    @property
    def steps_left(self) -> int:
        """Steps remaining in the episode (including the current one)."""
        return self.cfg.episode_steps - self.state.t

    t = property(lambda self: self.state.t, doc="Steps taken in the episode.")
    total = property(lambda self: self.state.total, doc="(n_users,) [bit] episode demand.")
    remaining = property(lambda self: self.state.remaining, doc="(n_users,) [bit] demand not yet satisfied.")
    satisfied = property(lambda self: self.state.satisfied, doc="(n_users,) [bit] cumulative satisfied demand.")
    throughput = property(lambda self: self.state.throughput, doc="(n_users,) [bit] cumulative throughput.")
    serving = property(lambda self: self.state.serving, doc="(n_users,) last step's serving cell, −1 = none.")
    rate = property(lambda self: self.state.rate, doc="(n_users,) [bit/s] last step's rate.")
    unmet = property(lambda self: self.state.unmet, doc="(n_users,) [bit] last step's unmet due demand.")
    ep_cost = property(lambda self: self.state.ep_cost, doc="Sum of the episode's step costs.")
    ep_reward = property(lambda self: self.state.ep_reward, doc="Sum of the episode's step rewards.")
    glin = property(lambda self: self.links.glin, doc="(n_cells, n_users) float32 linear gains of the step.")
    cand = property(lambda self: self.links.cand, doc="(k, n_users) candidate cells, strongest first.")
    cand_gain_db = property(lambda self: self.links.cand_gain_db, doc="(k, n_users) [dB] candidate gains.")
    rate_est = property(lambda self: self.links.rate_est, doc="(k, n_users) [bit] full-load rate per step.")
