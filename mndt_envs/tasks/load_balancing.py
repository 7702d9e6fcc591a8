"""CPICH load balancing, the "breathing" network (paper 001; SPEC §5).

One task core shared by :class:`mndt_envs.envs.load_balancing.LoadBalancingEnv`
(single agent, one Box action over all antennas) and
:class:`mndt_envs.parallel.load_balancing.LoadBalancingParallelEnv` (one agent per
antenna).

Per sampling period (default 1 h, 24 per day):

1. users' positions come from a mobility model: the built-in *tidal hotspot* day
   (:class:`TidalHotspotMobility`: business hotspots busy by day, residential ones
   by night; seeded), the tidal layout frozen (``mobility="static"``), or the
   scenario's own mobility twin (``mobility="twin"``);
2. the large-scale RSRP of the top ``n_candidates`` cells of every user is kept as
   attenuations ``a = p_ref - RSRP`` (power-independent), so the period can be
   re-evaluated under any CPICH power vector in ``O(n_users · n_candidates)``;
3. users attach to the strongest CPICH (best server among the candidates);
4. busy degree ``b_i = |U_i| / U_max``; metrics: std of busy degrees, share of
   over-busy antennas (``b_i >= b_over``), coverage rate (best RSRP >= threshold);
5. measurement reports (MRs) are drawn from the candidates with the twin's
   ``radio.measurement_reports`` (noise, 1 dB quantisation, top-k, serving first),
   lazily, for the algorithms that need them (BDBA/BFDBA, coverage procedures);
6. ``p_min(k)``: minimum coverage powers of the period (§6.2), from the period's MRs
   measured under the reference powers, by the exact MR method (default) or the
   monotone MLP with an exact fallback.

Timing: at ``reset`` the whole episode's periods are generated (positions, candidates,
``p_min(k)``) from the env's generator, like a day of MR data in the paper; a ``step``
only re-evaluates the next period under the new powers (vectorised, no Python loop
over users or cells).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import scipy.sparse as sp

from ..config import ConfigError, _check_choice, _check_int, _check_range, apply_overrides, make_config, split_config
from ..twin import radio
from ..twin.network import NetworkTwin
from . import coverage as cov

if TYPE_CHECKING:
    from rich.console import Console

__all__ = [
    "LoadBalancingConfig",
    "TidalHotspotMobility",
    "PeriodData",
    "LoadBalancingCore",
    "target_busy_degree",
    "busy_metrics",
    "demo",
]


@dataclass(frozen=True)
class LoadBalancingConfig:
    """Parameters of the load-balancing task (env kwarg ``config={"task": {...}}``)."""

    episode_steps: int = 24  # periods per episode (24 one-hour periods = one day)
    period_s: float = 3600.0  # [s] sampling period
    start_hour: float = 0.0  # [h] hour of day of the reset period
    mobility: str = "tidal"  # "tidal" (built-in hotspot day) | "static" (tidal layout frozen) | "twin"
    n_business: int = 3  # business hotspots (busy by day)
    n_residential: int = 3  # residential hotspots (busy by night)
    hotspot_radius_m: float = 0.0  # [m] std of users around a hotspot; 0 = 15% of the area's width
    background_share: float = 0.5  # share of users spread uniformly (never in a hotspot)
    jitter_m: float = 15.0  # [m] per-period random displacement of every user
    u_max: float = 0.0  # users at busy degree 1; 0 = auto (2 × users per antenna)
    b_over: float = 0.8  # over-busy threshold on the busy degree
    target: str = "global"  # "global" | "local" busy-degree target (reward and baselines)
    over_busy_penalty: float = 1.0  # reward weight of the over-busy share
    c_min: float = 0.8  # required coverage rate (global; and neighbourhood for p_min)
    coverage_threshold_dbm: float = float("nan")  # [dBm] NaN = the scenario's radio.coverage_threshold_dbm
    max_step_db: float = 3.0  # [dB] action bound per period (actions are clipped to it)
    p_up_db: float = 6.0  # [dB] p_max = reference power + p_up_db
    p_down_db: float = 9.0  # [dB] lowest power = reference power - p_down_db (start of the p_min procedure)
    pmin_method: str = "exact"  # "exact" | "mlp" (monotone MLP, exact fallback) | "none" (p_min = lowest power)
    coverage_slack: float = 0.02  # neighbourhoods below c_min at reference powers may lose at most this coverage
    pmin_eps_db: float = 1.0  # [dB] power increment of the p_min procedure
    n_candidates: int = 8  # strongest cells kept per user (association/coverage under changed powers)
    max_neighbours: int = 8  # neighbours per antenna in the multi-agent observation (padding/truncation)

    def __post_init__(self) -> None:
        s = "task"
        _check_int(s, "episode_steps", self.episode_steps, 1, 10_000)
        _check_range(s, "period_s", self.period_s, 1.0, 86_400.0)
        _check_range(s, "start_hour", self.start_hour, 0.0, 24.0)
        _check_choice(s, "mobility", self.mobility, ("tidal", "static", "twin"))
        _check_int(s, "n_business", self.n_business, 0, 1000)
        _check_int(s, "n_residential", self.n_residential, 0, 1000)
        if self.n_business + self.n_residential == 0 and self.background_share < 1.0:
            raise ConfigError("task.n_business + task.n_residential = 0: needs a hotspot unless background_share = 1")
        _check_range(s, "hotspot_radius_m", self.hotspot_radius_m, 0.0, 100_000.0)
        _check_range(s, "background_share", self.background_share, 0.0, 1.0)
        _check_range(s, "jitter_m", self.jitter_m, 0.0, 10_000.0)
        _check_range(s, "u_max", self.u_max, 0.0, 1e9)
        _check_range(s, "b_over", self.b_over, 0.0, 100.0, lo_open=True)
        _check_choice(s, "target", self.target, ("global", "local"))
        _check_range(s, "over_busy_penalty", self.over_busy_penalty, 0.0, 1e6)
        _check_range(s, "c_min", self.c_min, 0.0, 1.0)
        if not math.isnan(self.coverage_threshold_dbm):
            _check_range(s, "coverage_threshold_dbm", self.coverage_threshold_dbm, -156.0, -31.0)
        _check_range(s, "max_step_db", self.max_step_db, 0.0, 40.0, lo_open=True)
        _check_range(s, "p_up_db", self.p_up_db, -40.0, 40.0)
        _check_range(s, "p_down_db", self.p_down_db, -40.0, 40.0)
        if -self.p_down_db > self.p_up_db:
            raise ConfigError(
                f"task.p_down_db = {self.p_down_db!r}: the lowest power (reference - p_down_db) exceeds "
                f"p_max (reference + p_up_db = {self.p_up_db!r}); need p_down_db >= -p_up_db (p_min <= p_max)"
            )
        _check_choice(s, "pmin_method", self.pmin_method, ("exact", "mlp", "none"))
        _check_range(s, "coverage_slack", self.coverage_slack, 0.0, 1.0)
        _check_range(s, "pmin_eps_db", self.pmin_eps_db, 0.0, 10.0, lo_open=True)
        _check_int(s, "n_candidates", self.n_candidates, 1, 64)
        _check_int(s, "max_neighbours", self.max_neighbours, 1, 256)


def _p_work(hour: float) -> float:
    """Share of hotspot users at their business hotspot at ``hour`` (tidal profile, peak ~13 h)."""
    h = (hour - 13.0 + 12.0) % 24.0 - 12.0
    return 0.05 + 0.8 * math.exp(-((h / 4.5) ** 4))


class TidalHotspotMobility:
    """Built-in "hotspot-moving" tidal day (implements the twin's ``MobilityModel``).

    Hotspot users have a home (residential hotspot) and a workplace (business hotspot),
    each a Gaussian offset around the hotspot centre. At hour ``h`` a user is at work
    iff its fixed random threshold ``v_u < p_work(h)`` (0.05 at night, 0.85 at 13 h),
    so the business areas fill by day and empty at night. Background users sit
    uniformly. Every period all users move by a random jitter. Seeded from ``rng``.

    Args:
        width_m, height_m: area [m].
        n_business, n_residential: hotspot counts.
        radius_m: std of users around a hotspot centre [m].
        background_share: share of users spread uniformly.
        jitter_m: per-advance random displacement std [m].
        start_hour: hour of day at ``reset``.
        frozen: positions never change after ``reset`` (``mobility="static"``).
        indoor_fraction: share of users flagged indoors (O2I loss; the scenario's ``users.indoor_fraction``).
    """

    def __init__(self, width_m: float, height_m: float, n_business: int, n_residential: int, radius_m: float,
                 background_share: float, jitter_m: float, start_hour: float, frozen: bool = False,
                 indoor_fraction: float = 0.0) -> None:
        self.size = np.array([width_m, height_m])
        self.n_business, self.n_residential = n_business, n_residential
        self.radius_m, self.background_share, self.jitter_m = radius_m, background_share, jitter_m
        self.start_hour, self.frozen = start_hour, frozen
        self.indoor_fraction = indoor_fraction
        self.hour = start_hour
        self._home = np.zeros((0, 2))
        self._work = np.zeros((0, 2))
        self._v = np.zeros(0)
        self._bg = np.zeros(0, dtype=bool)
        self._pos = np.zeros((0, 2))
        self._indoor = np.zeros(0, dtype=bool)
        self.centres = np.zeros((0, 2))

    def reset(self, rng: np.random.Generator, n_users: int) -> None:
        """Draw hotspots, homes, workplaces and thresholds; place users at ``start_hour``."""
        nb, nr = self.n_business, self.n_residential
        self.centres = rng.uniform(0.15, 0.85, (nb + nr, 2)) * self.size
        wb = rng.dirichlet(np.ones(max(nb, 1)) * 2.0)
        wr = rng.dirichlet(np.ones(max(nr, 1)) * 2.0)
        work_h = rng.choice(max(nb, 1), n_users, p=wb)
        home_h = nb + rng.choice(max(nr, 1), n_users, p=wr) if nr else work_h
        work_h = work_h if nb else home_h
        self._work = self.centres[work_h] + rng.normal(0.0, self.radius_m, (n_users, 2))
        self._home = self.centres[home_h] + rng.normal(0.0, self.radius_m, (n_users, 2))
        self._bg = rng.random(n_users) < self.background_share
        bg_pos = rng.uniform(0.0, 1.0, (n_users, 2)) * self.size
        self._home = np.where(self._bg[:, None], bg_pos, self._home)
        self._work = np.where(self._bg[:, None], bg_pos, self._work)
        self._v = rng.random(n_users)
        self._indoor = rng.random(n_users) < self.indoor_fraction
        self.hour = self.start_hour
        self._place(np.zeros((n_users, 2)))

    def _place(self, jitter: np.ndarray) -> None:
        at_work = self._v < _p_work(self.hour)
        pos = np.where(at_work[:, None], self._work, self._home) + jitter
        self._pos = np.clip(pos, 0.0, self.size)

    def advance(self, dt: float, rng: np.random.Generator) -> None:
        """Move time by ``dt`` seconds: users switch between home and work by the tidal profile, plus jitter."""
        if self.frozen:
            return
        self.hour = (self.hour + dt / 3600.0) % 24.0
        self._place(rng.normal(0.0, self.jitter_m, self._pos.shape))

    @property
    def positions(self) -> np.ndarray:
        """(n_users, 2) [m]."""
        return self._pos

    @property
    def indoor(self) -> np.ndarray:
        """(n_users,) bool."""
        return self._indoor


@dataclass
class PeriodData:
    """One sampling period: users' candidate cells and the period's coverage bounds.

    Attributes:
        cand_ids: (n_users, n_candidates) int, strongest cells of each user (under reference powers).
        cand_att: (n_users, n_candidates) float32 attenuation ``p_ref - RSRP`` [dB] (large scale, no noise).
        positions: (n_users, 2) [m] users' positions.
        hour: hour of day [h].
        p_min: (n_cells,) minimum coverage powers ``p_min(k)`` [dBm] (filled by the core).
        pmin_feasible: (n_cells,) bool, antenna meets ``c_min`` at ``p_min`` (False: capped at p_max).
    """

    cand_ids: np.ndarray
    cand_att: np.ndarray
    positions: np.ndarray
    hour: float
    p_min: np.ndarray = field(default_factory=lambda: np.zeros(0))
    pmin_feasible: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=bool))


def target_busy_degree(b: np.ndarray, target: str = "global", adjacency: sp.spmatrix | None = None,
                       weights: np.ndarray | None = None) -> np.ndarray:
    """Target busy degrees ``b*`` (SPEC §5).

    Args:
        b: (n,) busy degrees.
        target: ``"global"`` (mean over all antennas, weighted by ``weights`` e.g. PRB
            totals) or ``"local"`` (mean over ``{i} ∪ N(i)``).
        adjacency: (n, n) neighbour graph (needed for ``"local"``).
        weights: (n,) antenna weights (PRB totals); default equal.

    Returns:
        (n,) targets.
    """
    b = np.asarray(b, dtype=np.float64)
    w = np.ones_like(b) if weights is None else np.asarray(weights, dtype=np.float64)
    if target == "global":
        return np.full_like(b, float(np.dot(w, b) / max(w.sum(), 1e-12)))
    if target == "local":
        if adjacency is None:
            raise ValueError("target_busy_degree(target='local') needs the neighbour adjacency")
        a = sp.csr_matrix(adjacency, dtype=np.float64) + sp.identity(len(b), format="csr")
        return np.asarray(a @ (w * b)).ravel() / np.maximum(np.asarray(a @ w).ravel(), 1e-12)
    raise ValueError(f"target = {target!r}: allowed values are 'global', 'local'")


def busy_metrics(b: np.ndarray, b_over: float, target: str = "global",
                 adjacency: sp.spmatrix | None = None) -> dict[str, float]:
    """Imbalance metrics of busy degrees: std (around the global or local target) and over-busy share."""
    b = np.asarray(b, dtype=np.float64)
    if b.size == 0:
        return {"std_busy": 0.0, "over_busy_share": 0.0, "imbalance": 0.0}
    std = float(np.std(b))
    imb = std if target == "global" else float(np.sqrt(np.mean((b - target_busy_degree(b, target, adjacency)) ** 2)))
    return {"std_busy": std, "over_busy_share": float(np.mean(b >= b_over)), "imbalance": imb}


_CHANNEL_CACHE: dict[str, Any] = {}


class LoadBalancingCore:
    """The load-balancing problem: periods, powers, busy degrees, coverage, reward, cost.

    Args:
        scenario: preset name or scenario dict / config.
        config: env ``config`` kwarg: scenario overrides plus a ``"task"`` dict of
            :class:`LoadBalancingConfig` fields.
    """

    def __init__(self, scenario: Any = "toy", config: dict[str, Any] | None = None) -> None:
        scen_over, task_over = split_config(config)
        self.cfg: LoadBalancingConfig = apply_overrides(LoadBalancingConfig(), task_over, "task")
        # CPICH RSRP is filtered over the period: the task uses large-scale gains only.
        scen_over = dict(scen_over)
        scen_over.setdefault("channel", {})
        if isinstance(scen_over["channel"], dict):
            scen_over["channel"] = {"fading": "none", **scen_over["channel"]}
        scfg = make_config(scenario, scen_over)
        c = self.cfg
        key = scfg.to_json()
        mobility = None
        if c.mobility != "twin":
            radius = c.hotspot_radius_m or 0.15 * scfg.width_m
            mobility = TidalHotspotMobility(scfg.width_m, scfg.height_m, c.n_business, c.n_residential, radius,
                                            c.background_share, c.jitter_m, c.start_hour, frozen=c.mobility == "static",
                                            indoor_fraction=scfg.users.indoor_fraction)
        self.twin = NetworkTwin(scfg, mobility=mobility, channel=_CHANNEL_CACHE.get(key))
        if len(_CHANNEL_CACHE) > 8:
            _CHANNEL_CACHE.clear()
        _CHANNEL_CACHE[key] = self.twin.channel
        cells = self.twin.cells
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
        # episode state
        self.periods: list[PeriodData] = []
        self.k = 0
        self.p = self.p_ref.copy()
        self.adjacency = sp.csr_matrix((self.n, self.n), dtype=bool)
        self._a_hat = sp.identity(self.n, format="csr")
        self.neighbours = np.full((self.n, c.max_neighbours), -1, dtype=np.int64)
        self._state: dict[str, Any] = {}
        self._mr_seed = 0
        self._mrs: tuple[np.ndarray, np.ndarray] | None = None
        self.history: list[dict[str, float]] = []

    # ------------------------------------------------------------ periods
    def _candidates(self, rsrp: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        k = self.k_cand
        if k < self.n:
            part = np.argpartition(-rsrp, kth=k - 1, axis=0)[:k].T  # (U, k)
        else:
            part = np.broadcast_to(np.arange(self.n), (rsrp.shape[1], self.n)).copy()
        vals = np.take_along_axis(rsrp.T, part, axis=1)
        order = np.argsort(-vals, axis=1, kind="stable")
        ids = np.take_along_axis(part, order, axis=1).astype(np.int32)
        att = (self.p_ref[ids] - np.take_along_axis(vals, order, axis=1)).astype(np.float32)
        return ids, att

    def _make_period(self, hour: float) -> PeriodData:
        rsrp = self.twin.rsrp(self.p_ref)  # (n_cells, n_users) [dBm] large scale
        ids, att = self._candidates(rsrp)
        return PeriodData(ids, att, np.array(self.twin.positions), hour)

    def mrs_of(self, period: PeriodData, p_dbm: np.ndarray, rng: np.random.Generator,
               ) -> tuple[np.ndarray, np.ndarray]:
        """MRs of ``period`` measured under powers ``p``: (ids (U, k), attenuations (U, k) [dB]).

        Uses ``radio.measurement_reports`` over the candidate cells (noise, 1 dB
        quantisation, reporting range, serving first); attenuation ``a = p - RSRP``.
        """
        rsrp = (np.asarray(p_dbm, dtype=np.float32)[period.cand_ids] - period.cand_att)  # (U, K)
        serving = np.argmax(rsrp, axis=1)
        slots, meas = radio.measurement_reports(rsrp.T, serving, self.k_mr, self.mr_noise_db, rng)
        ok = slots >= 0
        ids = np.where(ok, np.take_along_axis(period.cand_ids, np.maximum(slots, 0), axis=1), -1)
        att = cov.mr_attenuation(ids, meas, np.asarray(p_dbm, dtype=np.float64))
        return ids, att

    def _pmin(self, ids: np.ndarray, att: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
        c = self.cfg
        if c.pmin_method == "none":
            return self.p_lo.copy(), np.ones(self.n, dtype=bool)
        ids_r, att_r, w = cov.remove_redundant_mrs(ids, att, dominated=False)
        adj = cov.neighbour_graph(ids_r, self.n)
        inc = cov.incidence(ids_r, self.n, w)

        def exact(p: np.ndarray) -> np.ndarray:
            return cov.neighbourhood_coverage(ids_r, att_r, p, self.threshold_dbm, inc, w)

        # requirement: C_min, or the reference network's own neighbourhood coverage minus coverage_slack where
        # that is lower (a neighbourhood the static network cannot cover to C_min must not force p_max)
        req = np.minimum(c.c_min, exact(self.p_ref) - c.coverage_slack - 1e-9)
        # the reference powers meet ``req`` by construction, so p_min(k) never exceeds them (nor p_max)
        p_top = np.maximum(np.minimum(self.p_ref, self.p_max), self.p_lo)
        if c.pmin_method == "mlp":
            model = cov.MonotoneCoverageMLP.fit(ids_r, att_r, adj, self.p_lo, self.p_max, self.threshold_dbm, rng,
                                                weights=w, n_samples=256, epochs=200)
            p0, _ = cov.min_coverage_powers(self.p_lo, p_top, model.predict, adj, req, c.pmin_eps_db)
            # exact fallback: continue from the MLP's powers until the exact method agrees
            return cov.min_coverage_powers(p0, p_top, exact, adj, req, c.pmin_eps_db)
        return cov.min_coverage_powers(self.p_lo, p_top, exact, adj, req, c.pmin_eps_db)

    def reset(self, rng: np.random.Generator) -> None:
        """Generate the episode's periods (positions, candidates, ``p_min(k)``) and evaluate period 0."""
        c = self.cfg
        horizon = c.period_s * (c.episode_steps + 1)
        self.twin.reset(rng, horizon)
        self.periods = []
        pooled: list[np.ndarray] = []
        for k in range(c.episode_steps + 1):  # loop over periods (not users/cells)
            if k:
                self.twin.advance(c.period_s, rng)
            pd = self._make_period((c.start_hour + k * c.period_s / 3600.0) % 24.0)
            ids, att = self.mrs_of(pd, self.p_ref, rng)
            pd.p_min, pd.pmin_feasible = self._pmin(ids, att, rng)
            pooled.append(ids)
            self.periods.append(pd)
        all_ids = np.concatenate(pooled)
        self.adjacency = cov.neighbour_graph(all_ids, self.n)
        self._a_hat = (self.adjacency.astype(np.float64) + sp.identity(self.n, format="csr")).tocsr()
        self.neighbours = self._top_neighbours(all_ids)
        self.k = 0
        self.p = self.p_ref.copy()
        self.history = []
        self._evaluate(rng)

    def _top_neighbours(self, ids: np.ndarray) -> np.ndarray:
        """(n, max_neighbours) int: each antenna's neighbours by co-occurrence count, padded with -1."""
        m = self.cfg.max_neighbours
        kk = ids.shape[1]
        out = np.full((self.n, m), -1, dtype=np.int64)
        if kk < 2:
            return out
        ii, jj = np.triu_indices(kk, 1)
        a, b = ids[:, ii].ravel(), ids[:, jj].ravel()
        ok = (a >= 0) & (b >= 0) & (a != b)
        cnt = sp.coo_matrix((np.ones(int(ok.sum())), (a[ok], b[ok])), shape=(self.n, self.n)).tocsr()
        cnt = (cnt + cnt.T).toarray()  # (n, n): n is the number of antennas (hundreds)
        order = np.argsort(-cnt, axis=1, kind="stable")[:, :m]
        good = np.take_along_axis(cnt, order, axis=1) > 0
        out[:, : order.shape[1]] = np.where(good, order, -1)
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

    def evaluate(self, p_dbm: np.ndarray, period: PeriodData | None = None) -> dict[str, Any]:
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
        return {"serving": serving, "best_rsrp": best, "busy": b, "nb_coverage": nb_cov,
                "coverage": float(covered.mean()) if covered.size else 1.0, **m}

    def _evaluate(self, rng: np.random.Generator) -> None:
        self._state = self.evaluate(self.p)
        self._mr_seed = int(rng.integers(2**63 - 1))
        self._mrs = None

    @property
    def state(self) -> dict[str, Any]:
        """The current period's evaluation (busy degrees, coverage, ...)."""
        return self._state

    @property
    def busy(self) -> np.ndarray:
        """(n,) busy degrees of the current period."""
        return np.asarray(self._state["busy"])

    def mrs(self) -> tuple[np.ndarray, np.ndarray]:
        """The current period's MRs under the current powers (drawn lazily, seeded at the step)."""
        if self._mrs is None:
            self._mrs = self.mrs_of(self.period, self.p, np.random.default_rng(self._mr_seed))
        return self._mrs

    def project(self, p_dbm: np.ndarray) -> np.ndarray:
        """Project powers onto ``[p_min(k), p_max]`` (eq. 18)."""
        return np.clip(p_dbm, self.p_min, self.p_max)

    def check_action(self, delta_db: Any, name: str = "action") -> np.ndarray:
        """Validate a power change (n,) [dB]: shape and finiteness; clip to ``±max_step_db`` (documented)."""
        a = np.asarray(delta_db, dtype=np.float64)
        if a.shape != (self.n,):
            a = a.reshape(-1) if a.size == self.n else a
            if a.shape != (self.n,):
                raise ValueError(f"{name}: expected {self.n} power changes [dB] (one per antenna), got shape "
                                 f"{np.shape(delta_db)}")
        if not np.all(np.isfinite(a)):
            bad = np.flatnonzero(~np.isfinite(a))
            raise ValueError(f"{name}: power changes must be finite dB values; NaN/inf at antennas "
                             f"{bad[:10].tolist()}")
        return np.clip(a, -self.cfg.max_step_db, self.cfg.max_step_db)

    def step(self, delta_db: Any, rng: np.random.Generator) -> tuple[float, float, bool, dict[str, Any]]:
        """Apply power changes [dB], move to the next period and evaluate it.

        Returns:
            (reward, cost, truncated, info).
        """
        d = self.check_action(delta_db)
        self.p = self.project(self.p + d)
        self.k += 1
        self._evaluate(rng)
        s = self._state
        c = self.cfg
        std_term = -(s["imbalance"] if c.target == "local" else s["std_busy"])
        over_term = -c.over_busy_penalty * s["over_busy_share"]
        reward = std_term + over_term
        cost = max(0.0, c.c_min - s["coverage"])
        row = {"std_busy": s["std_busy"], "over_busy_share": s["over_busy_share"], "imbalance": s["imbalance"],
               "coverage": s["coverage"], "cost": cost, "power_change_db": float(np.mean(self.p - self.p_ref))}
        self.history.append(row)
        truncated = self.k >= c.episode_steps
        info = self.info()
        info.update(cost=cost, reward_terms={"std_busy": std_term, "over_busy": over_term})
        if truncated:
            info["episode_metrics"] = self.episode_metrics()
        return float(reward), float(cost), truncated, info

    def info(self) -> dict[str, Any]:
        """Step info: the period's KPIs."""
        s = self._state
        return {"hour": self.period.hour, "period": self.k, "std_busy": s["std_busy"],
                "over_busy_share": s["over_busy_share"], "coverage": s["coverage"],
                "busy": np.asarray(s["busy"]).copy(), "p_dbm": self.p.copy(), "cost": 0.0,
                "p_min_infeasible": int((~self.period.pmin_feasible).sum())}

    def episode_metrics(self) -> dict[str, float]:
        """Means over the episode's stepped periods (the paper's §7 metrics)."""
        if not self.history:
            return {}
        keys = self.history[0].keys()
        out = {f"mean_{k}": float(np.mean([h[k] for h in self.history])) for k in keys}
        out["min_coverage"] = float(np.min([h["coverage"] for h in self.history]))
        return out

    # ------------------------------------------------------------ observations
    def hour_features(self) -> tuple[float, float]:
        """(sin, cos) of the hour of day."""
        ang = 2.0 * math.pi * self.period.hour / 24.0
        return math.sin(ang), math.cos(ang)

    def p_norm(self, p: np.ndarray) -> np.ndarray:
        """Powers relative to the reference, divided by the larger of ``p_up_db``, ``p_down_db``."""
        return (np.asarray(p) - self.p_ref) / self.p_scale

    def global_obs(self) -> np.ndarray:
        """Single-agent observation: [b (n), p_norm (n), p_min_norm (n), nb_coverage (n), sin h, cos h]."""
        s = self._state
        sh, ch = self.hour_features()
        return np.concatenate([np.minimum(s["busy"], self.b_high), self.p_norm(self.p), self.p_norm(self.p_min),
                               s["nb_coverage"], [sh, ch]]).astype(np.float32)

    def agent_obs(self) -> np.ndarray:
        """Per-antenna observations (n, 5 + 3·max_neighbours).

        Row ``i``: [b_i, p_norm_i, p_min_norm_i, nb_coverage_i, sin h, cos h, then for
        each of the ``max_neighbours`` strongest neighbours (by MR co-occurrence):
        its b, its p_norm, and 1 (present) / 0 (padding; b = p_norm = 0)].
        """
        s = self._state
        b = np.minimum(s["busy"], self.b_high)
        pn = self.p_norm(self.p)
        sh, ch = self.hour_features()
        nb = self.neighbours
        present = nb >= 0
        idx = np.maximum(nb, 0)
        own = np.stack([b, pn, self.p_norm(self.p_min), s["nb_coverage"], np.full(self.n, sh), np.full(self.n, ch)],
                       axis=1)
        return np.concatenate([own, np.where(present, b[idx], 0.0), np.where(present, pn[idx], 0.0),
                               present.astype(np.float64)], axis=1).astype(np.float32)

    def draw(self, ax: Any, title: str = "", resolution: int = 90) -> Any:
        """Draw best-server regions under the current powers, coloured by their antenna's busy degree, on ``ax``.

        Returns the image artist (for a colour bar).
        """
        from ..render import best_server_grid

        serving, _, ext = best_server_grid(self.twin, resolution, None, self.p)
        b = np.asarray(self._state["busy"])
        img = np.where(serving >= 0, b[np.maximum(serving, 0)], np.nan)
        vmax = max(1.0, float(np.nanmax(img)) if np.isfinite(img).any() else 1.0)
        art = ax.imshow(img, origin="lower", extent=tuple(ext), cmap="RdYlGn_r", vmin=0.0, vmax=vmax,
                        interpolation="nearest")
        # region borders: where the best server changes
        edge = np.zeros(serving.shape, dtype=bool)
        edge[1:, :] |= serving[1:, :] != serving[:-1, :]
        edge[:, 1:] |= serving[:, 1:] != serving[:, :-1]
        ax.imshow(np.where(edge, 0.0, np.nan), origin="lower", extent=tuple(ext), cmap="gray", vmin=0, vmax=1,
                  interpolation="nearest", alpha=0.5)
        pos = np.asarray(self.twin.positions)
        if len(pos):
            sample = pos[:: max(1, len(pos) // 1500)]
            ax.scatter(sample[:, 0], sample[:, 1], s=1.5, color="k", alpha=0.35)
        cells = self.twin.cells
        ax.scatter(cells.x, cells.y, s=18, marker="^", c="w", edgecolors="k", linewidths=0.6, zorder=4)
        ax.set_xlim(0, self.twin.cfg.width_m)
        ax.set_ylim(0, self.twin.cfg.height_m)
        ax.set_aspect("equal")
        ax.set_title(title or f"hour {self.period.hour:.0f}: std(b) = {self._state['std_busy']:.3f}, "
                     f"coverage {self._state['coverage']:.3f}", fontsize=9)
        return art

    def render(self, title: str = "", path: str | Path | None = None, size_px: int = 560) -> np.ndarray:
        """RGB image (H, W, 3) uint8 of :meth:`draw` with a colour bar; saved as PNG if ``path``."""
        from ..render import figure_to_rgb, new_figure

        fig = new_figure(size_px)
        ax = fig.add_subplot(111)
        art = self.draw(ax, title)
        fig.colorbar(art, ax=ax, fraction=0.04, label="busy degree of the serving antenna")
        ax.set_xlabel("x [m]")
        ax.set_ylabel("y [m]")
        return figure_to_rgb(fig, path)


def demo(console: Console, outdir: Path) -> None:
    """Run a short tidal day on the toy scenario with Static, BDBA and BFDBA; table + before/after PNG."""
    import time

    import gymnasium as gym
    from rich.table import Table

    from mndt_envs.baselines.load_balancing import BDBA, BFDBA, Static

    outdir = Path(outdir)
    outdir.mkdir(parents=True, exist_ok=True)
    kw: dict[str, Any] = {"scenario": "toy",
                          "config": {"users": {"n_users": 600}, "task": {"episode_steps": 12, "start_hour": 6.0}}}
    table = Table(title="load_balancing (toy, 600 users, 06:00-18:00, seed 0)")
    for col in ("policy", "mean std(b)", "mean over-busy", "min coverage", "ms / period"):
        table.add_column(col)
    for name, cls in (("static", Static), ("BDBA", BDBA), ("BFDBA", BFDBA)):
        env = gym.make("mndt/LoadBalancing-v0", **kw)
        pol = cls(env)
        obs, _ = env.reset(seed=0)
        done, dt = False, 0.0
        info: dict[str, Any] = {}
        while not done:
            t0 = time.perf_counter()
            act, _ = pol.predict(obs)
            dt += time.perf_counter() - t0
            obs, _, term, trunc, info = env.step(act)
            done = term or trunc
        m = info["episode_metrics"]
        table.add_row(name, f"{m['mean_std_busy']:.3f}", f"{m['mean_over_busy_share']:.3f}",
                      f"{m['min_coverage']:.3f}", f"{1e3 * dt / 12:.1f}")
        if name == "BDBA":
            env.unwrapped.core.render(path=outdir / "load_balancing_bdba.png")  # type: ignore[attr-defined]
        env.close()
    console.print(table)
    console.print(f"map: {outdir / 'load_balancing_bdba.png'}")
