"""Batched CPICH load balancing: ``N`` episodes of :mod:`mndt_envs.tasks.load_balancing` in one array program.

The episodes share one twin (cells, radio maps; a :class:`~mndt_envs.tasks.load_balancing.LoadBalancingCore`
built once); each has its own mobility (a copy of the configured model), demand draw, generator and
its whole day of periods. A reset of ``m`` episodes is batched too, which is where this task spends
its time (the single env: ~95 % of a run is ``reset``):

1. each episode's generator draws, in the single core's order, the users (mobility reset), the
   demand, and per period the mobility step and the measurement-report noise (small draws, one
   Python loop over the resetting episodes and their periods);
2. the large-scale gains of all positions of all periods of all resetting episodes come from one
   radio-map lookup, the top-``n_candidates`` cells and the MRs from one compiled row-wise pass each
   (:mod:`~mndt_envs.batched.kernels_lb`; the rows whose result hinges on ties go to the single core's
   ``periods.candidates``/``periods.mrs_from``, so every row equals theirs);
3. ``p_min(k)`` of every period of every resetting episode comes from one compiled pass that runs the
   minimum-coverage-power procedure (``cov.min_coverage_powers``, exact coverage) period by period, on
   the blocks of the disjoint union of their neighbour graphs (antenna ``i`` of period ``j`` is antenna
   ``j·n + i`` of the union): the procedure's rule is local to connected components, so each block's
   run is its run in the union, and each period gets exactly its own result;
4. the episodes' neighbour graphs and top neighbours come from the same per-block pair counts
   (one compiled pass), summed over each episode's periods.

A step evaluates every episode's period under its new powers with arrays (N, n_users, n_candidates)
and dense (N, n, n) neighbourhood sums, written over :class:`~mndt_envs.batched.xp.ArrayNamespace`.

Supported: ``pmin_method`` ``"exact"`` or ``"none"`` (the MLP is trained per period from the env's
generator; use the single env), the uniform demand, fading ``"none"`` (the task's default).
"""

from __future__ import annotations

import copy
import inspect
import math
from typing import Any

import numpy as np

from ..config import ConfigError
from ..tasks import coverage as cov
from ..tasks.contract import StepResult
from ..tasks.load_balancing import LoadBalancingCore
from ..tasks.load_balancing.periods import candidates, mrs_from
from ..twin import radio
from ..twin.defaults import UniformDemand
from . import kernels_lb
from .common import batch_result, check_rows, episode_seeds, make_generators, positive_int, seed_rows
from .xp import get_namespace

__all__ = ["BatchedLoadBalancingCore"]

# ``cov.min_coverage_powers``' iteration cap (its default, which the single core uses)
_PMIN_MAX_ITER = int(inspect.signature(cov.min_coverage_powers).parameters["max_iter"].default)
_HIST = ("std_busy", "over_busy_share", "imbalance", "coverage", "cost", "power_change_db")


class _Replay:
    """Stands in for a generator inside ``radio.measurement_reports``: returns the pre-drawn noise."""

    def __init__(self, noise: np.ndarray) -> None:
        self.noise = noise

    def normal(self, loc: float, scale: float, size: tuple[int, int]) -> np.ndarray:
        if tuple(size) != self.noise.shape:
            raise RuntimeError(f"replayed MR noise has shape {self.noise.shape}, asked for {size}")
        return self.noise


def period_candidates(p_ref: np.ndarray, rsrp: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """``periods.candidates(p_ref, rsrp.T, k)`` for ``rsrp`` (n_cells, users) [dBm].

    The compiled selection, and the reference for the rows it flags (ties or NaN: there the result is
    ``np.argpartition``'s).
    """
    k = min(k, rsrp.shape[0])  # as the reference: all cells when k >= n_cells
    ids, att, redo = kernels_lb.candidate_rows(rsrp, np.asarray(p_ref, dtype=np.float64), k)
    if redo.any():
        r = np.flatnonzero(redo)
        ids[r], att[r] = candidates(p_ref, np.ascontiguousarray(rsrp[:, r].T), k)
    return ids, att


def period_mrs(cand_ids: np.ndarray, cand_att: np.ndarray, p_dbm: np.ndarray, k_mr: int, noise_db: float,
               noise: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``periods.mrs_from`` with the measurement noise ``noise`` (users, K) drawn beforehand.

    The compiled MRs, and the reference for the rows it flags (ties or NaN).
    """
    p64 = np.asarray(p_dbm, dtype=np.float64)
    noise = np.asarray(noise, dtype=np.float64)
    ids, att, redo = kernels_lb.mr_rows(cand_ids, cand_att, p64.astype(np.float32), p64, noise, noise_db > 0,
                                        k_mr, radio.RSRP_MIN_DBM, radio.RSRP_MAX_DBM)
    if redo.any():
        r = np.flatnonzero(redo)
        ids[r], att[r] = mrs_from(cand_ids[r], cand_att[r], p64, k_mr, noise_db,
                                  _Replay(noise[r]))  # type: ignore[arg-type]
    return ids, att


class BatchedLoadBalancingCore:
    """``n_envs`` load-balancing episodes over one twin, reset and stepped together.

    Args:
        n_envs: batch size ``N``.
        scenario: preset name, dict or ``ScenarioConfig``.
        config: the single env's ``config`` kwarg (scenario overrides + ``"task"``).
        backend: ``"numpy"`` (default) or ``"torch"`` (the step's arithmetic; resets run on numpy).
        device: torch device (``None``: CUDA when available).
        reset_chunk: most episodes reset in one batched pass (bounds the memory of a reset).
    """

    def __init__(self, n_envs: int, scenario: Any = "toy", config: dict[str, Any] | None = None, *,
                 backend: str = "numpy", device: str | None = None, reset_chunk: int = 64) -> None:
        positive_int("n_envs", n_envs)
        self.reset_chunk = positive_int("reset_chunk", reset_chunk)
        self.base = b = LoadBalancingCore(scenario, config)
        self.cfg = c = b.cfg
        tw = b.twin
        if c.pmin_method == "mlp":
            raise ConfigError("task.pmin_method = 'mlp': the batched core supports 'exact' and 'none' (the MLP is "
                              "trained per period from the env's generator); use the single env for 'mlp'")
        if tw.fading.kind != "none":
            raise ConfigError(f"channel.fading = {tw.fading.kind!r}: the batched load-balancing core supports 'none' "
                              "(the task's default: CPICH RSRP is filtered over the period)")
        if type(tw.demand_model) is not UniformDemand:
            raise ConfigError(f"traffic.model = {tw.cfg.traffic.model!r}: the batched core supports the uniform "
                              "demand; use the single env for other demand models")
        self.xp = xp = get_namespace(backend, device)
        self.n_envs = n = int(n_envs)
        self.n, self.n_users = int(b.n), int(b.n_users)
        self.k_cand, self.k_mr = b.k_cand, b.k_mr
        self.n_periods = c.episode_steps + 1
        self.p_ref, self.p_max, self.p_lo = b.p_ref, b.p_max, b.p_lo  # (n,) [dBm]
        self.hours = np.array([(c.start_hour + k * c.period_s / 3600.0) % 24.0 for k in range(self.n_periods)])
        self.mobility = [copy.deepcopy(tw.mobility) for _ in range(n)]
        self.rngs: list[np.random.Generator] = make_generators(episode_seeds(0, n))
        self._seeded = False
        nn, u, kc, npd = self.n, self.n_users, self.k_cand, self.n_periods
        self.cand_ids = np.zeros((n, npd, u, kc), dtype=np.int32)
        self.cand_att = np.zeros((n, npd, u, kc), dtype=np.float32)
        self.p_min_all = np.zeros((n, npd, nn))
        self.feasible = np.ones((n, npd, nn), dtype=bool)
        self.a_hat = np.zeros((n, nn, nn))  # (N, n, n) neighbour graph + identity
        self.neighbours = np.full((n, nn, c.max_neighbours), -1, dtype=np.int64)
        self.k = np.zeros(n, dtype=np.int64)
        self.p = np.tile(self.p_ref, (n, 1))
        self.mr_seed = np.zeros(n, dtype=np.int64)
        self.hist = np.zeros((n, c.episode_steps, len(_HIST)))
        self.busy = np.zeros((n, nn))
        self.nb_coverage = np.ones((n, nn))
        self.state: dict[str, np.ndarray] = {}
        self._a_hat_x = xp.asarray(self.a_hat)

    # ------------------------------------------------------------------ reset
    def reset(self, seed: int | list[int] | None = None, rows: Any = None) -> None:
        """Start episodes in ``rows`` (default all): their periods, ``p_min(k)``, graphs; evaluate period 0."""
        _, idx = seed_rows(self, seed, rows)
        if len(idx) == 0:
            return
        for j in range(0, len(idx), self.reset_chunk):  # at most reset_chunk episodes per pass (memory)
            self._reset_chunk(idx[j: j + self.reset_chunk])
        self._a_hat_x = self.xp.asarray(self.a_hat)
        self.k[idx] = 0
        self.p[idx] = self.p_ref
        self.hist[idx] = 0.0
        self._evaluate()
        for i in idx:
            self.mr_seed[i] = int(self.rngs[i].integers(2**63 - 1))

    def _reset_chunk(self, idx: np.ndarray) -> None:
        """Periods, ``p_min(k)`` and graphs of the episodes ``idx`` (one batched pass)."""
        c, u, npd, nn, kc = self.cfg, self.n_users, self.n_periods, self.n, self.k_cand
        b = self.base
        tw = b.twin
        m = len(idx)
        pos = np.zeros((m, npd, u, 2))
        indoor = np.zeros((m, u), dtype=bool)
        noise = np.zeros((m, npd, u, kc))
        horizon = c.period_s * (c.episode_steps + 1)
        dm = tw.demand_model
        for j, i in enumerate(idx):  # each episode's generator, in the single core's order of draws
            rng, mob = self.rngs[i], self.mobility[i]
            mob.reset(rng, u)
            dm.reset(rng, u, horizon)  # type: ignore[call-arg]
            indoor[j] = np.asarray(mob.indoor)
            for k in range(npd):
                if k:
                    mob.advance(c.period_s, rng)
                pos[j, k] = np.asarray(mob.positions)
                if b.mr_noise_db > 0:  # rng.normal(0.0, mr_noise_db, (u, kc)): its draws, scaled below
                    rng.standard_normal(out=noise[j, k])
        # numpy's normal(loc, scale) is ``loc + scale * standard_normal`` (the same draws, the same products)
        noise = 0.0 + b.mr_noise_db * noise
        # candidates of all users of all periods of the resetting episodes: one radio-map lookup
        xy = pos.reshape(-1, 2)
        ind = np.repeat(indoor[:, None, :], npd, axis=1).reshape(-1)
        rsrp = radio.rsrp_dbm(self.p_ref, np.asarray(tw.channel.gain_db(xy, ind)))  # (n, m·npd·U)
        ids, att = period_candidates(self.p_ref, rsrp, kc)  # (m·npd·U, K) each, as the single core
        self.cand_ids[idx] = ids.reshape(m, npd, u, kc)
        self.cand_att[idx] = att.reshape(m, npd, u, kc)
        # MRs under the reference powers (row-wise, so one call for all)
        mr_ids, mr_att = period_mrs(ids, att, self.p_ref, self.k_mr, b.mr_noise_db, noise.reshape(-1, kc))
        # p_min of every period: one procedure on the disjoint union of the periods' graphs (block = period)
        counts, tot = kernels_lb.pair_counts(mr_ids, u, nn)  # (m·npd, n, n), (m·npd·n,)
        pmin, feas = self._pmin_union(mr_ids, mr_att, counts, tot)
        self.p_min_all[idx] = pmin.reshape(m, npd, nn)
        self.feasible[idx] = feas.reshape(m, npd, nn)
        # each episode's neighbour graph (MRs pooled over its periods) and top neighbours
        # (the same pairs as the periods' graphs: OR their blocks, episode by episode)
        ep_cnt = counts.reshape(m, npd, nn, nn).sum(axis=1)  # (m, n, n) co-occurrences over the periods
        self.a_hat[idx] = (ep_cnt > 0) + np.eye(nn)[None]  # an edge in any period
        self.neighbours[idx] = self._top_neighbours(ep_cnt)

    def _pmin_union(self, ids: np.ndarray, att: np.ndarray, counts: np.ndarray, tot: np.ndarray,
                    ) -> tuple[np.ndarray, np.ndarray]:
        """``p_min`` and feasibility of every block (episode × period) of the union.

        ``ids``/``att``: (blocks · U, k) MRs (antenna ids within their block), block by block; ``counts``: the
        blocks' pair counts; ``tot``: MR entries per union antenna (the row sums of ``cov.incidence``).
        """
        c = self.cfg
        n_blocks = len(counts)
        nt = n_blocks * self.n
        p_lo = np.tile(self.p_lo, n_blocks)
        if c.pmin_method == "none":
            return p_lo, np.ones(nt, dtype=bool)
        # The single core merges duplicate MRs (weights = counts) before the procedure; merging changes no
        # coverage value here (coverages are ratios of integer counts, exact in any order), so the union
        # keeps every MR with weight 1.
        thr = self.base.threshold_dbm
        # ``covered_mrs`` compares float32 RSRPs with the threshold in numpy's promotion (a Python float: float32)
        thr_cmp = float(np.asarray(thr, dtype=np.result_type(np.float32, thr)))
        rows_per_block = len(ids) // n_blocks
        cov_ref = kernels_lb.block_coverage(ids, att, np.tile(self.p_ref, n_blocks), thr_cmp, rows_per_block, tot)
        req = np.minimum(c.c_min, cov_ref - c.coverage_slack - 1e-9)
        p_top = np.tile(np.maximum(np.minimum(self.p_ref, self.p_max), self.p_lo), n_blocks)
        # ``cov.min_coverage_powers`` with the exact coverage, block by block (each block's run is its run in
        # the union: the rule is local to connected components)
        return kernels_lb.block_min_powers(ids, att, rows_per_block, counts, tot, p_lo, p_top,
                                           np.ascontiguousarray(req), float(c.pmin_eps_db), thr_cmp, _PMIN_MAX_ITER)

    def _top_neighbours(self, cnt: np.ndarray) -> np.ndarray:
        """(m, n, max_neighbours): each antenna's neighbours by MR co-occurrence counts ``cnt`` (m, n, n).

        The single core's rule: most frequent first, ties by index, -1 padding.
        """
        mm, nn = cnt.shape[0], self.n
        mx = self.cfg.max_neighbours
        out = np.full((mm, nn, mx), -1, dtype=np.int64)
        order = np.argsort(-cnt, axis=2, kind="stable")[:, :, :mx]
        good = np.take_along_axis(cnt, order, axis=2) > 0
        out[:, :, : order.shape[2]] = np.where(good, order, -1)
        return out

    # ------------------------------------------------------------------ evaluation
    def p_min(self) -> np.ndarray:
        """(N, n) ``p_min(k)`` of each episode's current period, never above ``p_max`` [dBm]."""
        k = np.minimum(self.k, self.n_periods - 1)
        return np.minimum(self.p_min_all[np.arange(self.n_envs), k], self.p_max)

    def _evaluate(self) -> None:
        """Association, busy degrees, coverage and imbalance of every episode's period under its powers."""
        xp = self.xp
        n = self.n_envs
        k = np.minimum(self.k, self.n_periods - 1)
        ar = np.arange(n)
        ids = xp.asarray(self.cand_ids[ar, k].astype(np.int64))  # (N, U, K)
        att = xp.asarray(self.cand_att[ar, k])
        p32 = xp.asarray(self.p.astype(np.float32))
        if xp.is_numpy:  # flat gathers (take_along_axis builds full index grids)
            rsrp = p32.ravel().take(ids + (ar * self.n)[:, None, None]) - att  # (N, U, K) [dBm]
            kc = rsrp.shape[2]
            flat = np.argmax(rsrp, axis=2).ravel() + kc * np.arange(n * self.n_users)
            serving = ids.ravel().take(flat).reshape(n, self.n_users)
            best = rsrp.ravel().take(flat).reshape(n, self.n_users)
        else:
            pe = p32[:, None, :].expand(-1, self.n_users, -1)
            rsrp = xp.take_along_axis(pe, ids, axis=2) - att  # (N, U, K) [dBm]
            best_k = xp.argmax(rsrp, axis=2)[:, :, None]
            serving = xp.take_along_axis(ids, best_k, axis=2)[:, :, 0]
            best = xp.take_along_axis(rsrp, best_k, axis=2)[:, :, 0]
        covered = best >= self.base.threshold_dbm
        counts = xp.segment_sum(1.0, serving, self.n)  # (N, n)
        busy = counts / self.base.u_max
        cc = xp.segment_sum(xp.astype(covered, xp.float64), serving, self.n)
        a = self._a_hat_x
        tot = (a @ counts[:, :, None])[:, :, 0]
        num = (a @ cc[:, :, None])[:, :, 0]
        nb_cov = xp.where(tot > 0, num / xp.maximum(tot, 1e-12), 1.0)
        b_np = np.asarray(xp.to_numpy(busy))
        std = np.std(b_np, axis=1)
        over = np.mean(b_np >= self.cfg.b_over, axis=1)
        if self.cfg.target == "local":
            a_np = self.a_hat
            # neighbourhood means, summed column by column: the order of a CSR row sum (bit-identical)
            num_b = kernels_lb.weighted_row_sums(a_np, np.ascontiguousarray(b_np, dtype=np.float64))
            tgt = num_b / np.maximum(a_np.sum(axis=2), 1e-12)
            imb = np.sqrt(np.mean((b_np - tgt) ** 2, axis=1))
        else:
            imb = std
        cov_rate = np.asarray(xp.to_numpy(xp.sum(xp.astype(covered, xp.float64), axis=1))) / self.n_users
        self.busy = b_np
        self.nb_coverage = np.asarray(xp.to_numpy(nb_cov))
        self.state = {"std_busy": std, "over_busy_share": over, "imbalance": imb, "coverage": cov_rate}

    # ------------------------------------------------------------------ step
    def check_actions(self, delta_db: Any) -> np.ndarray:
        """(N, n) finite power changes [dB], clipped to ``±max_step_db`` (the single core's rule)."""
        a = np.asarray(delta_db, dtype=np.float64)
        shape = (self.n_envs, self.n)
        if a.shape != shape:
            raise ValueError(f"actions: expected {shape} power changes [dB] (one per episode and antenna), got shape "
                             f"{np.shape(delta_db)}")
        if not np.all(np.isfinite(a)):
            i, j = np.argwhere(~np.isfinite(a))[0]
            raise ValueError(f"actions: power changes must be finite dB values; NaN/inf at episode {i}, antenna {j}")
        return np.clip(a, -self.cfg.max_step_db, self.cfg.max_step_db)

    def step(self, actions: Any, active: Any = None) -> StepResult:
        """Apply power changes (N, n) [dB] to the active episodes, move them to their next period and evaluate."""
        act = check_rows(active, self.n_envs)
        d = self.check_actions(actions)
        c = self.cfg
        rows = np.flatnonzero(act)
        self.p[rows] = np.clip(self.p[rows] + d[rows], self.p_min()[rows], self.p_max)
        self.k[rows] += 1
        self._evaluate()
        for i in rows:  # each episode's generator draws its MR seed, as the single core does
            self.mr_seed[i] = int(self.rngs[i].integers(2**63 - 1))
        s = self.state
        std_term = -(s["imbalance"] if c.target == "local" else s["std_busy"])
        over_term = -c.over_busy_penalty * s["over_busy_share"]
        reward = std_term + over_term
        cost = np.maximum(0.0, c.c_min - s["coverage"])
        pc = np.mean(self.p - self.p_ref, axis=1)
        row = np.stack([s["std_busy"], s["over_busy_share"], s["imbalance"], s["coverage"], cost, pc], axis=1)
        kk = np.clip(self.k - 1, 0, c.episode_steps - 1)
        self.hist[rows, kk[rows]] = row[rows]
        trunc = act & (self.k >= c.episode_steps)
        z = ~act
        res = batch_result(
            reward=np.where(z, 0.0, reward), agent_rewards=None, cost=np.where(z, 0.0, cost),
            terminated=np.zeros(self.n_envs, dtype=bool), truncated=trunc,
            reward_terms={"std_busy": std_term, "over_busy": over_term},
            kpis={**self.info(), "cost": cost},
        )
        if trunc.any():
            ep: Any = {}
            for i in np.flatnonzero(trunc):
                for key, v in self.episode_metrics(int(i)).items():
                    ep.setdefault(key, np.full(self.n_envs, np.nan))[i] = v
            res.episode = ep
        return res

    def info(self) -> dict[str, np.ndarray]:
        """(N, ...) per-episode step info (the single core's ``info``)."""
        k = np.minimum(self.k, self.n_periods - 1)
        s = self.state
        return {"hour": self.hours[k], "period": self.k.copy(), "std_busy": s["std_busy"],
                "over_busy_share": s["over_busy_share"], "coverage": s["coverage"], "busy": self.busy.copy(),
                "p_dbm": self.p.copy(), "p_min_infeasible": (~self.feasible[np.arange(self.n_envs), k]).sum(axis=1)}

    def episode_metrics(self, i: int) -> dict[str, float]:
        """Means over episode ``i``'s stepped periods (the single core's ``episode_metrics``)."""
        h = self.hist[i, : int(self.k[i])]
        if len(h) == 0:
            return {}
        out = {f"mean_{key}": float(np.mean(h[:, j].tolist())) for j, key in enumerate(_HIST)}
        out["min_coverage"] = float(np.min(h[:, 3].tolist()))
        return out

    # ------------------------------------------------------------------ observation
    def global_obs(self) -> np.ndarray:
        """(N, 4 n + 2) float32: the single env's observation per episode (before its clipping to the box)."""
        b = self.base
        k = np.minimum(self.k, self.n_periods - 1)
        ang = 2.0 * math.pi * self.hours[k] / 24.0
        hh = np.stack([np.sin(ang), np.cos(ang)], axis=1)
        return np.concatenate([np.minimum(self.busy, b.b_high), (self.p - self.p_ref) / b.p_scale,
                               (self.p_min() - self.p_ref) / b.p_scale, self.nb_coverage, hh],
                              axis=1).astype(np.float32)
