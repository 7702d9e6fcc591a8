"""CMDP resource allocation on the network twin (paper 002 §IV.A, §V.B; SPEC §3).

One task core shared by :class:`mndt_envs.envs.resource_allocation.ResourceAllocationEnv`
(Gymnasium) and :class:`mndt_envs.parallel.resource_allocation.ResourceAllocationParallelEnv`
(PettingZoo, one agent per BS).

Each step (``step_s`` seconds, 20 steps per episode by default) the policy decides, for every
user, a serving cell, a resource block (RB) and a transmit power; the twin turns this into an
SINR with inter-cell interference on shared RBs (:func:`mndt_envs.twin.radio.sinr_allocated`)
and a Shannon throughput. Constraints of SPEC §3 are enforced by construction (or repaired,
deterministically, and counted in ``info["repairs"]``):

* a user connects to at most one BS and takes at most one RB;
* a BS serves at most ``k_max`` users, and each of its RBs serves at most one user;
* the powers a BS puts on its RBs sum to at most its maximum power.

Demand: each user's total episode demand is what the twin's demand model supplies. With the
default :class:`~mndt_envs.twin.defaults.UniformDemand` that is uniform in
``[0, 60 × B_RB]`` bits (paper 002 §V.B), read as ``twin.demand_model.total`` after
``twin.reset(rng, horizon_s=episode_steps * step_s)``; for any other demand model the task sums
``demand_model.demand(t, step_s)`` over the episode's steps. The whole episode demand is known
at reset (the paper's "remaining demand" state).

Throughput "in units of bandwidth" (Table II) is ``Σ rate · step_s / B_RB`` [bit/Hz = RB·s at
1 bit/s/Hz]. Satisfied demand per user and step is ``min(remaining, throughput)``; the
satisfaction ratio is satisfied / demanded over the episode.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from ..config import (
    ConfigError,
    ScenarioConfig,
    _check_choice,
    _check_int,
    _check_range,
    apply_overrides,
    split_config,
)
from ..twin import radio
from ..twin.defaults import UniformDemand
from ..twin.network import NetworkTwin

if TYPE_CHECKING:
    from rich.console import Console

__all__ = ["ResourceAllocationConfig", "ResourceAllocationCore", "Allocation", "demo"]

ACTION_MODES = ("demand", "direct")
EXACT_MATCH_LIMIT = 50_000  # users × (slots + users) up to which association is matched exactly (dense LSA)
POWER_SPLITS = ("fair", "waterfill")
_LN10_10 = math.log(10.0) / 10.0


@dataclass(frozen=True)
class ResourceAllocationConfig:
    """Parameters of the resource-allocation task (the ``"task"`` key of the env's ``config``).

    Attributes:
        episode_steps: decision steps per episode (paper: 20).
        step_s: [s] duration of one step (throughput is rate × step_s).
        action_mode: ``"demand"`` (per-user single-step demand fractions; association and RB
            by matching, paper 002's decoupling) or ``"direct"`` (association, RB and power
            per user; for small scenarios).
        k_max: most users a BS serves in one step (K_max of SPEC §3; the paper gives no value).
        n_rb: RBs per BS the task allocates (0 = all of the scenario's ``radio.n_rb``).
        n_candidates: candidate cells per user (top-k by large-scale gain).
        power_split: ``"fair"`` (P_max shared equally by a BS's scheduled users) or
            ``"waterfill"`` (water-filling on the interference-plus-noise estimate) in demand mode.
        rate_weight: η, weight of the achievable rate in the matching's edge weight
            ``min(rate, requested demand) + η · rate``.
        use_fading: SINR and rates use the small-scale fading (True) or large-scale gains only.
    """

    episode_steps: int = 20
    step_s: float = 1.0  # [s]
    action_mode: str = "demand"
    k_max: int = 32
    n_rb: int = 0
    n_candidates: int = 3
    power_split: str = "fair"
    rate_weight: float = 0.1
    use_fading: bool = True

    def __post_init__(self) -> None:
        s = "task"
        _check_int(s, "episode_steps", self.episode_steps, 1, 100_000)
        _check_range(s, "step_s", self.step_s, 0.0, 86_400.0, lo_open=True)
        _check_choice(s, "action_mode", self.action_mode, ACTION_MODES)
        _check_int(s, "k_max", self.k_max, 1, 1_000_000)
        _check_int(s, "n_rb", self.n_rb, 0, 1_000_000)
        _check_int(s, "n_candidates", self.n_candidates, 1, 64)
        _check_choice(s, "power_split", self.power_split, POWER_SPLITS)
        _check_range(s, "rate_weight", self.rate_weight, 0.0, 100.0)
        if not isinstance(self.use_fading, bool):
            raise ConfigError(f"task.use_fading = {self.use_fading!r}: expected True or False")


@dataclass
class Allocation:
    """One step's allocation (the result of either action mode, after repairs).

    Attributes:
        serving: (n_users,) int serving cell, −1 = unserved.
        rb: (n_users,) int RB index at the serving cell, −1 = none.
        power_w: (n_users,) [W] power on the user's RB.
        repairs: how many times each repair rule fired.
    """

    serving: np.ndarray
    rb: np.ndarray
    power_w: np.ndarray
    repairs: dict[str, int]


def _group_rank(group: np.ndarray, key: np.ndarray) -> np.ndarray:
    """Rank of each element inside its group, by descending ``key`` (ties: lower index first)."""
    n = len(group)
    if n == 0:
        return np.zeros(0, dtype=np.int64)
    order = np.lexsort((np.arange(n), -key, group))
    g_sorted = group[order]
    start = np.concatenate(([0], np.flatnonzero(g_sorted[1:] != g_sorted[:-1]) + 1))
    first = np.repeat(start, np.diff(np.concatenate((start, [n]))))
    rank = np.empty(n, dtype=np.int64)
    rank[order] = np.arange(n) - first
    return rank


def _waterfill(cell: np.ndarray, inv_gain: np.ndarray, p_max: np.ndarray, n_cells: int,
               iters: int = 40) -> np.ndarray:
    """Water-filling per cell by bisection on the water level (vectorised over cells).

    Args:
        cell: (n,) cell of each scheduled user.
        inv_gain: (n,) [W] interference-plus-noise over gain, the "floor" of each user.
        p_max: (n_cells,) [W] power budget per cell.
        n_cells: number of cells.
        iters: bisection iterations.

    Returns:
        (n,) [W] powers with ``Σ_cell p ≤ p_max``.
    """
    lo = np.zeros(n_cells)
    floor_max = np.zeros(n_cells)
    np.maximum.at(floor_max, cell, inv_gain)
    hi = floor_max + p_max
    for _ in range(iters):
        mid = 0.5 * (lo + hi)
        used = np.bincount(cell, weights=np.maximum(mid[cell] - inv_gain, 0.0), minlength=n_cells)
        over = used > p_max
        hi = np.where(over, mid, hi)
        lo = np.where(over, lo, mid)
    return np.maximum(lo[cell] - inv_gain, 0.0)


class ResourceAllocationCore:
    """The task core: observation, action → allocation → throughput, reward, cost.

    Args:
        scenario: preset name, dict or :class:`ScenarioConfig` of the twin.
        config: overrides; the ``"task"`` key holds :class:`ResourceAllocationConfig` fields,
            the other keys override the scenario.
    """

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
        self.rng = np.random.default_rng(0)
        u, c = self.n_users, self.n_cells
        self.total = np.zeros(u)  # (n_users,) [bit] episode demand
        self.remaining = np.zeros(u)  # (n_users,) [bit]
        self.satisfied = np.zeros(u)  # (n_users,) [bit] cumulative
        self.throughput = np.zeros(u)  # (n_users,) [bit] cumulative
        self.serving = np.full(u, -1, dtype=np.int64)  # last step's association
        self.rate = np.zeros(u)  # (n_users,) [bit/s] last step
        self.unmet = np.zeros(u)  # (n_users,) [bit] last step's unmet due demand
        self.t = 0
        self.ep_cost = 0.0
        self.ep_reward = 0.0
        self.last_info: dict[str, Any] = {}  # info of the last step (empty after reset)
        self.last_alloc: Allocation | None = None  # allocation of the last step
        self._override: Allocation | None = None  # queued by override_next()
        self._glin = np.zeros((c, u), dtype=np.float32)
        self.cand = np.zeros((self.k, u), dtype=np.int64)  # (k, n_users) candidate cells, strongest first
        self.cand_gain_db = np.zeros((self.k, u), dtype=np.float32)
        self.rate_est = np.zeros((self.k, u))  # (k, n_users) [bit] per step on one RB at full load

    # ------------------------------------------------------------------ episode
    @property
    def steps_left(self) -> int:
        """Steps remaining in the episode (including the current one)."""
        return self.cfg.episode_steps - self.t

    def reset(self, rng: np.random.Generator) -> None:
        """Start an episode: users, demand and fading drawn from ``rng``."""
        self.rng = rng
        self.twin.reset(rng, horizon_s=self.horizon_s)
        dm = self.twin.demand_model
        if isinstance(dm, UniformDemand):
            total = np.asarray(dm.total, dtype=np.float64)
        else:
            dt = self.cfg.step_s
            total = sum((np.asarray(dm.demand(k * dt, dt), dtype=np.float64)
                         for k in range(self.cfg.episode_steps)), np.zeros(self.n_users))
        self.total = np.array(total, dtype=np.float64)
        self.remaining = self.total.copy()
        self.satisfied = np.zeros(self.n_users)
        self.throughput = np.zeros(self.n_users)
        self.serving = np.full(self.n_users, -1, dtype=np.int64)
        self.rate = np.zeros(self.n_users)
        self.unmet = np.zeros(self.n_users)
        self.t = 0
        self.ep_cost = 0.0
        self.ep_reward = 0.0
        self.last_info = {}
        self._override = None
        self._update_channel()

    def _update_channel(self) -> None:
        """Linear gains, top-k candidate cells and full-load rate estimates for the current step."""
        tw = self.twin
        g_db = tw.gain_db if self.cfg.use_fading else tw.large_scale_gain_db
        self._glin = np.exp(np.asarray(g_db, dtype=np.float32) * np.float32(_LN10_10))  # (n_cells, n_users)
        large = np.asarray(tw.large_scale_gain_db)
        k = self.k
        users = np.arange(self.n_users)
        if k <= 4 and k < self.n_cells:
            # a few argmax passes beat np.argpartition along the cell axis by ~3x here
            work = np.array(large, dtype=np.float32)
            part = np.empty((k, self.n_users), dtype=np.int64)
            for j in range(k):
                part[j] = np.argmax(work, axis=0)
                work[part[j], users] = -np.inf
        elif k < self.n_cells:
            part = np.argpartition(-large, k - 1, axis=0)[:k]  # (k, n_users)
        else:
            part = np.broadcast_to(np.arange(self.n_cells)[:, None], (k, self.n_users)).copy()
        vals = large[part, users]
        order = np.argsort(-vals, axis=0, kind="stable")
        self.cand = np.take_along_axis(part, order, axis=0)
        self.cand_gain_db = np.take_along_axis(vals, order, axis=0).astype(np.float32)
        # full-load estimate: every cell sends P_max / n_rb on every RB
        p_rb = (self.p_max / self.n_rb).astype(np.float32)  # (n_cells,) [W]
        total_rx = p_rb @ self._glin  # (n_users,) [W]
        sig = p_rb[self.cand] * self._glin[self.cand, users]  # (k, n_users)
        sinr = sig / (np.maximum(total_rx - sig, 0.0) + self.noise_w)
        self.rate_est = radio.shannon_rate(sinr, self.bw) * self.cfg.step_s

    # ------------------------------------------------------------------ validation
    def _as_array(self, value: Any, field: str, shape: tuple[int, ...], kind: str) -> np.ndarray:
        try:
            arr = np.asarray(value)
        except Exception as e:  # noqa: BLE001 - anything not array-like
            raise ValueError(f"action field {field!r}: not array-like ({e})") from e
        if arr.dtype == np.bool_ or arr.dtype.kind not in ("i", "u", "f"):
            raise ValueError(f"action field {field!r}: dtype {arr.dtype} not allowed; expected "
                             f"{'integers' if kind == 'int' else 'floats'}")
        if arr.shape != shape:
            raise ValueError(f"action field {field!r}: shape {arr.shape}, expected {shape}")
        if arr.dtype.kind == "f" and not np.all(np.isfinite(arr)):
            raise ValueError(f"action field {field!r}: contains NaN or inf")
        if kind == "int" and arr.dtype.kind == "f":
            if not np.all(arr == np.round(arr)):
                raise ValueError(f"action field {field!r}: dtype {arr.dtype} with non-integer values; "
                                 "expected integers")
            arr = arr.astype(np.int64)
        return arr

    def _check_bounds(self, arr: np.ndarray, field: str, lo: float, hi: float) -> None:
        if arr.size and (arr.min() < lo or arr.max() > hi):
            bad = arr[(arr < lo) | (arr > hi)][0]
            raise ValueError(f"action field {field!r}: value {bad!r} out of bounds; allowed range [{lo}, {hi}]")

    # ------------------------------------------------------------------ allocation: direct
    def allocate_direct(self, serving: np.ndarray, rb: np.ndarray, power_frac: np.ndarray) -> Allocation:
        """Repair a per-user (cell, RB, power fraction) proposal into a feasible allocation.

        Repair rules (deterministic, counted): users beyond ``k_max`` at a BS are dropped, keeping
        the strongest (ties: lower user index); users colliding on an RB of their BS keep the RB
        for the strongest, the others move to the BS's free RBs in index order (dropped if none);
        a BS whose power fractions sum above 1 has them scaled down to sum to 1.

        Args:
            serving: (n_users,) int cell or −1.
            rb: (n_users,) int RB in [0, n_rb) (ignored where serving is −1; −1 = none).
            power_frac: (n_users,) share of the serving BS's maximum power in [0, 1].
        """
        u = self.n_users
        users = np.arange(u)
        serving = np.where(rb >= 0, serving, -1).astype(np.int64)
        on = np.flatnonzero(serving >= 0)
        gain = self._glin[serving[on], on]
        repairs = {"k_max": 0, "rb_moved": 0, "rb_dropped": 0, "power_scaled": 0}
        rank = _group_rank(serving[on], gain)
        drop = rank >= self.k_max
        repairs["k_max"] = int(drop.sum())
        serving[on[drop]] = -1
        on, gain = on[~drop], gain[~drop]
        rb = np.where(serving >= 0, rb, -1).astype(np.int64)
        # RB collisions inside a BS: the strongest keeps the RB
        key = serving[on] * self.n_rb + rb[on]
        rank = _group_rank(key, gain)
        coll = rank > 0
        if coll.any():
            occ = np.zeros((self.n_cells, self.n_rb), dtype=bool)
            occ[serving[on[~coll]], rb[on[~coll]]] = True
            free = np.argsort(occ, axis=1, kind="stable")  # (n_cells, n_rb) free RBs first
            n_free = self.n_rb - occ.sum(axis=1)
            cu = on[coll]
            r2 = _group_rank(serving[cu], gain[coll])
            ok = r2 < n_free[serving[cu]]
            rb[cu[ok]] = free[serving[cu[ok]], r2[ok]]
            serving[cu[~ok]] = -1
            rb[cu[~ok]] = -1
            repairs["rb_moved"] = int(ok.sum())
            repairs["rb_dropped"] = int((~ok).sum())
        on = np.flatnonzero(serving >= 0)
        frac = np.zeros(u)
        frac[on] = power_frac[on]
        tot = np.bincount(serving[on], weights=frac[on], minlength=self.n_cells)
        scale = np.where(tot > 1.0, 1.0 / np.maximum(tot, 1e-300), 1.0)
        repairs["power_scaled"] = int((tot > 1.0 + 1e-9).sum())
        power = np.zeros(u)
        power[on] = frac[on] * scale[serving[on]] * self.p_max[serving[on]]
        del users
        return Allocation(serving, rb, power, repairs)

    def direct_action(self, action: Any) -> Allocation:
        """Validate a direct-mode action (a dict) and repair it into an :class:`Allocation`."""
        if not isinstance(action, dict):
            raise ValueError("action: expected a dict with keys 'association', 'rb', 'power', "
                             f"got {type(action).__name__}")
        missing = {"association", "rb", "power"} - set(action)
        if missing:
            raise ValueError(f"action: missing field(s) {sorted(missing)}; expected 'association', 'rb', 'power'")
        shape = (self.n_users,)
        a = self._as_array(action["association"], "association", shape, "int")
        self._check_bounds(a, "association", 0, self.k)
        r = self._as_array(action["rb"], "rb", shape, "int")
        self._check_bounds(r, "rb", 0, self.n_rb - 1)
        p = self._as_array(action["power"], "power", shape, "float").astype(np.float64)
        self._check_bounds(p, "power", 0.0, 1.0)
        users = np.arange(self.n_users)
        a = a.astype(np.int64)
        serving = np.where(a < self.k, self.cand[np.minimum(a, self.k - 1), users], -1)
        return self.allocate_direct(serving, r.astype(np.int64), p)

    # ------------------------------------------------------------------ allocation: demand
    def demand_action(self, action: Any) -> Allocation:
        """Validate a demand-mode action and turn it into an allocation by matching.

        ``action[u]`` in [0, 1] is user ``u``'s single-step demand as a share of its remaining
        demand; ``requested[u] = action[u] · remaining[u]``. Users with ``action[u] = 0`` are not
        scheduled. Edge weight user–cell / user–RB: ``min(rate, requested) + η · rate``.

        1. Association: capacitated deferred acceptance over each user's top-k candidate cells
           (users propose in order of weight; a BS keeps its ``min(k_max, n_rb)`` best proposals),
           vectorised over users (a stable bipartite matching).
        2. RB choice: per BS, in decreasing order of load, the Hungarian algorithm
           (``scipy.optimize.linear_sum_assignment``) between its users and its RBs, the rate on
           each RB estimated with the interference of the BSs already decided.
        3. Power: fair split of P_max over the BS's users, or water-filling (``power_split``).
        """
        a = self._as_array(action, "demand_fraction", (self.n_users,), "float").astype(np.float64)
        self._check_bounds(a, "demand_fraction", 0.0, 1.0)
        requested = a * self.remaining  # (n_users,) [bit]
        return self.match(requested, a > 0)

    def match(self, requested: np.ndarray, eligible: np.ndarray) -> Allocation:
        """Demand-mode allocation for ``requested`` single-step demands [bit] of ``eligible`` users.

        Association: exact max-weight matching (Hungarian on users × BS slots) when
        ``n_users · (n_cells · cap + n_users) ≤ EXACT_MATCH_LIMIT``, else capacitated deferred
        acceptance. Then RBs per BS by the Hungarian algorithm and the power split.
        """
        u, eta = self.n_users, self.cfg.rate_weight
        users = np.arange(u)
        w = np.minimum(self.rate_est, requested[None, :]) + eta * self.rate_est  # (k, n_users)
        w = np.where(eligible[None, :] & (self.rate_est > 0), w, -np.inf)
        if u * (self.n_cells * self.cap + u) <= EXACT_MATCH_LIMIT:
            held = self._match_exact(w)
        else:
            held = self._match_deferred(w)
        serving = np.where(held >= 0, self.cand[np.maximum(held, 0), users], -1)
        return self._assign_rbs(serving, requested)

    def _match_exact(self, w: np.ndarray) -> np.ndarray:
        """Max-weight capacitated association by the Hungarian algorithm on users × (BS slots + none).

        Returns:
            (n_users,) index into the user's candidates, −1 = unserved.
        """
        from scipy.optimize import linear_sum_assignment

        u, k, cap = self.n_users, self.k, self.cap
        users = np.arange(u)
        big = -1e18
        m = np.full((u, self.n_cells * cap + u), big)
        for j in range(k):  # a handful of candidates
            ok = np.isfinite(w[j])
            cols = self.cand[j][ok, None] * cap + np.arange(cap)[None, :]
            m[users[ok, None], cols] = w[j][ok, None]
        m[users, self.n_cells * cap + users] = 0.0  # "not served"
        rows, cols = linear_sum_assignment(m, maximize=True)
        cell = np.where(cols < self.n_cells * cap, cols // cap, -1)
        held = np.full(u, -1, dtype=np.int64)
        hit = (self.cand[:, rows] == cell[None, :]) & (cell[None, :] >= 0)
        held[rows] = np.where(hit.any(axis=0), np.argmax(hit, axis=0), -1)
        return held

    def _match_deferred(self, w: np.ndarray) -> np.ndarray:
        """Capacitated deferred acceptance (users propose by weight; a BS keeps its best ``cap``).

        Returns:
            (n_users,) index into the user's candidates, −1 = unserved.
        """
        u, k = self.n_users, self.k
        users = np.arange(u)
        pref = np.argsort(-w, axis=0, kind="stable")  # (k, n_users)
        nxt = np.zeros(u, dtype=np.int64)
        held = np.full(u, -1, dtype=np.int64)  # candidate index held by each user
        for _ in range(4 * k + 4):  # each user proposes at most k times; cap the rounds
            prop = (held < 0) & (nxt < k)
            if prop.any():
                pw = w[pref[np.minimum(nxt, k - 1), users], users]
                prop &= np.isfinite(pw)
            if not prop.any():
                break
            pu = np.flatnonzero(prop)
            held[pu] = pref[nxt[pu], pu]
            nxt[pu] += 1
            pool = np.flatnonzero(held >= 0)
            cell = self.cand[held[pool], pool]
            rank = _group_rank(cell, w[held[pool], pool])
            held[pool[rank >= self.cap]] = -1  # rejected: propose to the next preference
        return held

    def _assign_rbs(self, serving: np.ndarray, requested: np.ndarray) -> Allocation:
        """RBs by the Hungarian algorithm per BS (interference of decided BSs), then the power split."""
        from scipy.optimize import linear_sum_assignment

        u, eta = self.n_users, self.cfg.rate_weight
        on = np.flatnonzero(serving >= 0)
        rb = np.full(u, -1, dtype=np.int64)
        power = np.zeros(u)
        if len(on) == 0:
            return Allocation(serving, rb, power, {"k_max": 0, "rb_moved": 0, "rb_dropped": 0, "power_scaled": 0})
        cell_on = serving[on]
        counts = np.bincount(cell_on, minlength=self.n_cells)
        p_user = self.p_max / np.maximum(counts, 1)  # (n_cells,) [W] fair share
        p_rb = np.zeros((self.n_cells, self.n_rb), dtype=np.float32)  # decided cells' RB powers
        order = np.argsort(cell_on, kind="stable")
        starts = np.r_[0, np.cumsum(np.bincount(cell_on, minlength=self.n_cells))]
        inr = np.zeros(u)  # [W] estimated interference + noise on the chosen RB
        bw_t = self.bw * self.cfg.step_s
        g_on = np.ascontiguousarray(self._glin[:, on].T)  # (n_on, n_cells) gains of the scheduled users
        pos = np.empty(u, dtype=np.int64)
        pos[on] = np.arange(len(on))
        for c in np.argsort(-counts, kind="stable")[: int((counts > 0).sum())]:
            s = on[order[starts[c]: starts[c + 1]]]
            interf = g_on[pos[s]] @ p_rb  # (n_s, n_rb) [W] from the BSs decided so far
            sig = p_user[c] * self._glin[c, s]  # (n_s,) [W]
            rate = bw_t * np.log2(1.0 + sig[:, None] / (interf + self.noise_w))  # (n_s, n_rb) [bit]
            wm = np.minimum(rate, requested[s][:, None]) + eta * rate
            rows, cols = linear_sum_assignment(wm, maximize=True)
            rb[s[rows]] = cols
            p_rb[c, cols] = p_user[c]
            inr[s[rows]] = interf[rows, cols] + self.noise_w
        if self.cfg.power_split == "waterfill":
            g = self._glin[cell_on, on].astype(np.float64)
            power[on] = _waterfill(cell_on, inr[on] / np.maximum(g, 1e-300), self.p_max, self.n_cells)
        else:
            power[on] = p_user[cell_on]
        return Allocation(serving, rb, power, {"k_max": 0, "rb_moved": 0, "rb_dropped": 0, "power_scaled": 0})

    # ------------------------------------------------------------------ per-BS view (PettingZoo)
    def bs_slots(self) -> np.ndarray:
        """(n_cells, cap) users in each BS's slots, −1 = empty.

        A BS's slots hold the users whose strongest cell (large-scale gain) it is, strongest
        first, at most ``min(k_max, n_rb)`` of them (the rest are not served by this agent).
        """
        best = self.cand[0]
        users = np.arange(self.n_users)
        rank = _group_rank(best, self.cand_gain_db[0].astype(np.float64))
        keep = rank < self.cap
        slots = np.full((self.n_cells, self.cap), -1, dtype=np.int64)
        slots[best[keep], rank[keep]] = users[keep]
        return slots

    def bs_observation(self, slots: np.ndarray) -> np.ndarray:
        """(n_cells, 2 + 3·cap) per-BS observations in [0, 1].

        Per BS: time left, P_max / max P_max, then per slot the user's remaining demand
        (normalised as in :meth:`observation`), its gain ``(G_dB + 160) / 160`` and a valid flag.
        """
        valid = slots >= 0
        s = np.maximum(slots, 0)
        rem = np.clip(self.remaining[s] / max(self.max_demand_bits, 1e-12), 0.0, 1.0) * valid
        gain = np.clip((self.cand_gain_db[0][s] + 160.0) / 160.0, 0.0, 1.0) * valid
        head = np.stack([np.full(self.n_cells, self.steps_left / self.cfg.episode_steps),
                         self.p_max / self.p_max.max()], axis=1)
        return np.concatenate([head, rem, gain, valid.astype(np.float64)], axis=1).astype(np.float32)

    def bs_allocation(self, slots: np.ndarray, rb: np.ndarray, power: np.ndarray) -> Allocation:
        """Allocation from per-BS slot decisions (rb (n_cells, cap), ``n_rb`` = none; power shares)."""
        valid = (slots >= 0) & (rb < self.n_rb)
        users = slots[valid]
        serving = np.full(self.n_users, -1, dtype=np.int64)
        r = np.full(self.n_users, -1, dtype=np.int64)
        frac = np.zeros(self.n_users)
        serving[users] = np.nonzero(valid)[0]
        r[users] = rb[valid]
        frac[users] = power[valid]
        return self.allocate_direct(serving, r, frac)

    # ------------------------------------------------------------------ step
    def apply(self, alloc: Allocation) -> dict[str, Any]:
        """Evaluate an allocation on the twin, update demands, advance time.

        Returns:
            dict with ``reward``, ``cost``, ``terminated`` and the ``info`` dict.
        """
        on = alloc.serving >= 0
        rb_power = np.zeros((self.n_cells, self.n_rb))  # (n_cells, n_rb) [W]
        rb_power[alloc.serving[on], alloc.rb[on]] = alloc.power_w[on]
        sinr = radio.sinr_allocated(self._glin, rb_power, alloc.serving, alloc.rb, self.noise_w)
        self.rate = radio.shannon_rate(sinr, self.bw)  # (n_users,) [bit/s]
        thr = self.rate * self.cfg.step_s  # [bit]
        due = self.remaining / self.steps_left  # [bit] the step's share of the remaining demand
        sat = np.minimum(self.remaining, thr)
        self.unmet = np.maximum(due - sat, 0.0)
        self.remaining = self.remaining - sat
        self.satisfied += sat
        self.throughput += thr
        self.serving = alloc.serving.copy()
        self.last_alloc = alloc
        total_demand = max(float(self.total.sum()), 1e-12)
        thr_bw = float(thr.sum()) / self.bw  # [bit/Hz] throughput in units of bandwidth
        reward = thr_bw / (self.n_users * self.cfg.step_s)  # mean spectral efficiency per user [bit/s/Hz]
        cost = float(self.unmet.sum()) / total_demand
        self.ep_reward += reward
        self.ep_cost += cost
        self.t += 1
        terminated = self.t >= self.cfg.episode_steps
        sat_ratio = float(self.satisfied.sum()) / total_demand
        info: dict[str, Any] = {
            "cost": cost,
            "reward_terms": {"throughput": reward},
            "throughput_bw": thr_bw,
            "unmet_bits": float(self.unmet.sum()),
            "satisfaction_ratio": sat_ratio,
            "episode_throughput_bw": float(self.throughput.sum()) / self.bw,
            "episode_satisfied_bits": float(self.satisfied.sum()),
            "episode_demand_bits": float(self.total.sum()),
            "served_users": int(on.sum()),
            "repairs": dict(alloc.repairs),
            "n_repairs": int(sum(alloc.repairs.values())),
        }
        self.last_info = info
        if terminated:
            info["episode_metrics"] = {
                "throughput_bw": info["episode_throughput_bw"],
                "satisfaction_ratio": sat_ratio,
                "satisfied_users": float(np.mean(self.remaining <= 1e-9 * np.maximum(self.total, 1.0))),
                "episode_cost": self.ep_cost,
                "episode_reward": self.ep_reward,
            }
        else:
            self.twin.advance(self.cfg.step_s, self.rng)
            self._update_channel()
        return {"reward": reward, "cost": cost, "terminated": terminated, "info": info}

    def override_next(self, alloc: Allocation) -> None:
        """Use ``alloc`` (repaired like a direct action) instead of the next step's action.

        For reference policies that no action mode can express (the element twin's default
        allocator): their ``predict`` queues the allocation here and returns a valid placeholder
        action. Cleared by :meth:`reset` and consumed by the next :meth:`step`.
        """
        self._override = alloc

    def step(self, action: Any) -> dict[str, Any]:
        """Validate ``action`` for the configured mode, allocate and apply."""
        if self._override is not None and not isinstance(action, Allocation):
            if self.cfg.action_mode == "demand":  # the placeholder action must still be valid
                self._check_bounds(self._as_array(action, "demand_fraction", (self.n_users,), "float"),
                                   "demand_fraction", 0.0, 1.0)
            action, self._override = self._override, None
        if isinstance(action, Allocation):  # explicit allocation (reference policies), repaired as in "direct"
            alloc = self.allocate_direct(action.serving.astype(np.int64), action.rb.astype(np.int64),
                                         np.clip(action.power_w / self.p_max[np.maximum(action.serving, 0)], 0, 1))
        elif self.cfg.action_mode == "demand":
            alloc = self.demand_action(action)
        else:
            alloc = self.direct_action(action)
        return self.apply(alloc)

    # ------------------------------------------------------------------ observation
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

    # ------------------------------------------------------------------ rendering
    def render(self) -> np.ndarray:
        """RGB map: cells coloured by users served, users by unmet demand, association lines."""
        from ..render import render_map

        counts = np.bincount(self.serving[self.serving >= 0], minlength=self.n_cells).astype(float)
        unmet_rb_s = self.remaining / self.bw  # [RB·s at 1 bit/s/Hz]
        sat = float(self.satisfied.sum()) / max(float(self.total.sum()), 1e-12)
        return render_map(self.twin, cell_values=counts, cell_label="users served", user_values=unmet_rb_s,
                          user_label="remaining demand [×B·s]", regions=False, lines=self.serving,
                          title=f"resource allocation: step {self.t}/{self.cfg.episode_steps}, "
                                f"satisfaction {100 * sat:.1f}%")


# ---------------------------------------------------------------------- demo
def demo(console: Console, outdir: Path) -> None:
    """Run the three baselines on ``toy`` with 700 users (capacity-limited) for two seeded episodes.

    Prints a table (throughput in units of bandwidth, satisfaction ratio, episode cost) and saves
    a map of the last episode's end to ``outdir / "resource_allocation.png"``.
    """
    import time

    import gymnasium as gym
    from rich.table import Table

    from ..evaluation import run_episode
    from ..registration import load_entry, task

    spec = task("resource_allocation")
    table = Table(title="Resource allocation (toy, 21 cells, 700 users, 2 episodes): baselines")
    for col in ("policy", "throughput [×B]", "satisfaction", "episode cost", "s/episode"):
        table.add_column(col)
    env = gym.make(spec.env_id, scenario="toy", config={"users": {"n_users": 700}})
    for name, entry in spec.baselines.items():
        pol = load_entry(entry)(env)
        t0 = time.perf_counter()
        runs = [run_episode(env, pol, ep) for ep in range(2)]
        thr = [r["metrics"]["throughput_bw"] for r in runs]
        sat = [r["metrics"]["satisfaction_ratio"] for r in runs]
        cost = [r["cost"] for r in runs]
        table.add_row(name, f"{np.mean(thr):.4g}", f"{100 * np.mean(sat):.2f}%", f"{np.mean(cost):.3f}",
                      f"{(time.perf_counter() - t0) / 2:.2f}")
    console.print(table)
    core = env.unwrapped.core  # type: ignore[attr-defined]
    outdir = Path(outdir)
    outdir.mkdir(parents=True, exist_ok=True)
    from ..render import render_map

    path = outdir / "resource_allocation.png"
    render_map(core.twin, user_values=core.remaining / core.bw, user_label="remaining demand [×B·s]",
               regions=False, lines=core.serving, title="resource allocation (toy, 700 users), end of an episode",
               path=path)
    console.print(f"saved {path}")
    env.close()
