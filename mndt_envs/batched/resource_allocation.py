"""Batched resource allocation: ``N`` episodes of :mod:`mndt_envs.tasks.resource_allocation` in one array program.

The episodes share one twin (cells, radio maps, the Jakes fading bank: built once by a
:class:`~mndt_envs.tasks.resource_allocation.ResourceAllocationCore`); each has its own users
(straight-line or static mobility), demands, fading offsets and generator. Per step, for all
episodes at once: the large-scale gains of all ``N × n_users`` positions in one radio-map lookup,
the fading in one gather from the bank, top-k candidate cells, full-load rate estimates, the
user–BS association (capacitated deferred acceptance, vectorised over all users of all episodes;
the exact Hungarian association of small scenarios runs per episode, as in the single core), RB
assignment, power split, SINR with inter-cell interference and the demand bookkeeping.

RB assignment (``rb_solver``):

* ``"exact"`` (default): the single core's algorithm — BSs in decreasing order of load, each
  solving a Hungarian assignment (``scipy.optimize.linear_sum_assignment``) of its users to its RBs
  with the interference of the BSs decided before it. The interference products are batched over
  episodes per BS rank; the assignments are one scipy call per (episode, active BS). Episode ``i``
  of a batch equals the single env seeded ``s + i`` (tested).
* ``"fast"``: no per-BS solver and a handful of passes instead of one per BS: the BSs are split once
  into ``rb_classes`` weakly coupled classes (default ``max(8, n_cells / 8)``; greedy colouring on
  the mean cross-gain between BSs); the classes decide in turn, all BSs of a class (in all episodes)
  at once; inside a BS the users (highest edge weight first) each take the free RB with the least
  interference from the classes decided before (a greedy assignment instead of the Hungarian one).
  One compiled kernel (:func:`~mndt_envs.batched.kernels.class_greedy_rbs`) runs the whole pass,
  accumulating each user's interference per RB as the classes decide.
  The throughput it loses against ``"exact"`` is measured by ``benchmarks/batched_allocation.py``.

Only ``action_mode="demand"`` (the default), ``users.mobility`` ``"straight"``/``"static"`` and the
default uniform demand are batched; other settings raise ``ConfigError`` naming the single env.

Backends: numpy (default; the compiled kernels above, worker ``threads`` over runs of episodes) or
torch (``backend="torch"``, ``device="cuda"`` where a GPU is present, else CPU tensors) with
``rb_solver="fast"`` and the statistical channel only. On torch the per-step arithmetic runs on the
device (:mod:`mndt_envs.batched.torch_ra`): the radio-map lookup and O2I of the statistical channel,
the fading gather from the bank, top-k candidates (k max passes: ties to the lower cell, as numpy),
the rate estimates, the deferred-acceptance rounds as tensor operations, the fast solver's classes
in turn (inside a class every BS of every episode at once, rank by rank; the interference from the
classes decided before by one batched product per class), SINR and the bookkeeping. The episodes'
generators, the users' moves and the step counters stay on the host (positions are copied to the
device each step); the exact Hungarian association of small scenarios runs on the host as on numpy.
State attributes (``glin``, ``remaining``, ...) are tensors, step results tensors (``terminated`` and
``truncated`` numpy); the results are close to the numpy core's, not bit-identical (float32 sums in
other orders).
"""

from __future__ import annotations

import math
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import numpy as np

from ..config import ConfigError
from ..tasks.contract import StepResult
from ..tasks.resource_allocation import EXACT_MATCH_LIMIT, ResourceAllocationCore
from ..tasks.resource_allocation.allocation import waterfill
from ..tasks.resource_allocation.links import candidates
from ..tasks.resource_allocation.matching import deferred_acceptance, exact_association
from ..twin import radio
from ..twin.channel.fading import jakes_bank
from ..twin.channel.statistical import StatisticalChannel
from ..twin.defaults import StaticMobility, StraightLineMobility, UniformDemand
from .common import account_demand, batch_result, check_rows, episode_seeds, make_generators, positive_int, seed_rows
from .kernels import class_greedy_rbs, class_order
from .torch_ra import TorchResourceAllocation
from .xp import get_namespace

__all__ = ["BatchedResourceAllocationCore", "RB_SOLVERS"]

RB_SOLVERS = ("exact", "fast")
_LN10_10 = math.log(10.0) / 10.0
METRIC_KEYS = ("throughput_bw", "satisfaction_ratio", "satisfied_users", "episode_cost", "episode_reward")


class BatchedResourceAllocationCore:
    """``n_envs`` resource-allocation episodes (demand action mode) over one twin, stepped together.

    Args:
        n_envs: batch size ``N``.
        scenario: preset name, dict or ``ScenarioConfig``.
        config: the single env's ``config`` kwarg (scenario overrides + ``"task"``).
        backend: ``"numpy"`` (default) or ``"torch"`` (``rb_solver="fast"`` and the statistical channel only;
            see the module docstring).
        device: torch device (``None``: ``"cuda"`` when available, else ``"cpu"``; ``"cuda"`` without a GPU raises);
            None or ``"cpu"`` for numpy.
        rb_solver: ``"exact"`` (the single core's per-BS Hungarian, sequential over BSs; numpy only) or ``"fast"``.
        rb_classes: BS classes of the fast solver (0: ``max(8, ceil(n_cells / 8))``; more classes are closer to
            deciding the BSs one by one, and slower).
        threads: worker threads; the episodes are cut into ``threads`` runs stepped concurrently (numpy and
            the compiled kernels release the GIL). Results do not depend on it: episodes never interact.
            Numpy only: torch runs its own parallel kernels, so ``threads > 1`` with torch raises.
    """

    def __init__(self, n_envs: int, scenario: Any = "toy", config: dict[str, Any] | None = None, *,
                 backend: str = "numpy", device: str | None = None, rb_solver: str = "exact",
                 rb_classes: int = 0, threads: int = 1) -> None:
        positive_int("n_envs", n_envs)
        self.threads = positive_int("threads", threads)
        self._pool: ThreadPoolExecutor | None = None
        if rb_solver not in RB_SOLVERS:
            raise ValueError(f"rb_solver = {rb_solver!r}: allowed values are {', '.join(map(repr, RB_SOLVERS))}")
        if backend == "torch":
            _check_torch(rb_solver, device, self.threads)
        self.xp = get_namespace(backend, device)
        self.base = b = ResourceAllocationCore(scenario, config)
        self.cfg = b.cfg
        tw = b.twin
        if backend == "torch" and type(tw.channel) is not StatisticalChannel:
            raise ConfigError(f"channel.model = {tw.cfg.channel.model!r}: backend='torch' supports the 'statistical' "
                              "channel only (its radio-map lookup runs on the device); use backend='numpy'")
        if self.cfg.action_mode != "demand":
            raise ConfigError(f"task.action_mode = {self.cfg.action_mode!r}: the batched core supports 'demand'; "
                              "use the single env (gym.make('mndt/ResourceAllocation-v0')) for 'direct'")
        if type(tw.mobility) not in (StraightLineMobility, StaticMobility):
            raise ConfigError(f"users.mobility = {tw.cfg.users.mobility!r}: the batched core supports 'straight' and "
                              "'static'; use the single env for road mobility")
        if type(tw.demand_model) is not UniformDemand:
            raise ConfigError(f"traffic.model = {tw.cfg.traffic.model!r}: the batched core supports the uniform "
                              "demand of paper 002; use the single env for other demand models")
        self.rb_solver = rb_solver
        self.n_envs = n = int(n_envs)
        self.n_cells, self.n_users = c, u = b.n_cells, b.n_users
        self.n_rb, self.k, self.cap, self.k_max = b.n_rb, b.k, b.cap, b.k_max
        self.bw, self.noise_w = b.bw, b.noise_w
        self.p_max = b.p_max  # (n_cells,) [W]
        self.max_demand_bits = b.max_demand_bits
        self.horizon_s = b.horizon_s
        self.static_users = type(tw.mobility) is StaticMobility
        mob = tw.mobility
        self.size = np.asarray(mob.size, dtype=np.float64)  # type: ignore[attr-defined]
        self.speed_range: tuple[float, float] = tuple(mob.speed_range)  # type: ignore[attr-defined]
        self.indoor_fraction = mob.indoor_fraction  # type: ignore[attr-defined]
        self.max_bits = tw.demand_model.max_bits  # type: ignore[attr-defined]
        # fading: the twin's bank (same seed, same synthesis), read by flat index
        f = tw.fading
        self.fading_kind = f.kind
        self._doppler, self._oversample = f.doppler_hz, f.oversample
        self.f_length = f.length
        if f.kind != "none":
            bank = jakes_bank(np.random.default_rng([f.seed, 7]), f.n_seq, f.length, f.oversample)
            # each sequence continued periodically for an episode's worth of samples: bank[s, (o + i) % L]
            # is bank_ext[s, o + i] for every i < ext (the sequences are periodic with period L)
            self._ext = min(f.length, int(math.ceil(self.horizon_s * f.doppler_hz * f.oversample)) + 2)
            bank = np.concatenate([bank, bank[:, : self._ext]], axis=1)
            self._row = f.length + self._ext  # stride of a sequence in the flat bank
            self._bank = bank.ravel()
            p = bank.real**2 + bank.imag**2
            self._bank_db = (10.0 * np.log10(np.maximum(p, 1e-12))).astype(np.float32).ravel()
            kk = 10.0 ** (tw.cfg.channel.rician_k_db / 10.0) if f.kind == "rician" else 0.0
            self._los_amp = math.sqrt(kk / (kk + 1.0))
            self._nlos_amp = math.sqrt(1.0 / (kk + 1.0))
        self.rngs: list[np.random.Generator] = make_generators(episode_seeds(0, n))
        self._seeded = False
        if isinstance(rb_classes, bool) or not isinstance(rb_classes, (int, np.integer)) or rb_classes < 0:
            raise ValueError(f"rb_classes = {rb_classes!r}: expected an integer >= 0 (0 = automatic)")
        self.n_classes = int(rb_classes) or max(8, math.ceil(b.n_cells / 8))
        self._classes = self._rb_classes() if rb_solver == "fast" else []
        self._class_of = np.zeros(c, dtype=np.int64)  # class of each BS
        for j, cls in enumerate(self._classes):
            self._class_of[cls] = j
        # state
        self.t = np.zeros(n, dtype=np.int64)
        self.pos = np.zeros((n, u, 2))
        self.dst = np.zeros((n, u, 2))
        self.speed = np.zeros((n, u))
        self.indoor = np.zeros((n, u), dtype=bool)
        self.fad_t = np.zeros(n)  # [s] fading time of each episode
        self.off = np.zeros((n, c, u), dtype=np.int32)  # time offset of each link in its sequence
        self.so = np.zeros((n, c, u), dtype=np.int32)  # flat index of each link's first sample in the bank
        self.los: np.ndarray | None = None
        self.total = np.zeros((n, u))
        self.remaining = np.zeros((n, u))
        self.satisfied = np.zeros((n, u))
        self.throughput = np.zeros((n, u))
        self.serving = np.full((n, u), -1, dtype=np.int64)
        self.rate = np.zeros((n, u))
        self.unmet = np.zeros((n, u))
        self.ep_cost = np.zeros(n)
        self.ep_reward = np.zeros(n)
        self.large = np.zeros((n, c, u), dtype=np.float32)
        self.glin = np.zeros((n, c, u), dtype=np.float32)
        self.cand = np.zeros((n, self.k, u), dtype=np.int64)
        self.cand_gain_db = np.zeros((n, self.k, u), dtype=np.float32)
        self.rate_est = np.zeros((n, self.k, u))
        self._eu = np.arange(n)[:, None] * u + np.arange(u)[None, :]  # (N, U) global user index
        self._dev: TorchResourceAllocation | None = None
        if not self.xp.is_numpy:  # the device state; the core's state attributes become its tensors
            self._dev = dev = TorchResourceAllocation(self)
            for name in dev.STATE:
                setattr(self, name, getattr(dev, name))
            self.total = np.zeros((n, u))  # the host keeps the demands it draws; the device a copy

    def _ix(self, rows: np.ndarray) -> Any:
        """``rows`` (sorted, unique) as an index: a slice (views, not copies) when they are consecutive."""
        if len(rows) and int(rows[-1]) - int(rows[0]) + 1 == len(rows):
            return slice(int(rows[0]), int(rows[-1]) + 1)
        return rows

    def _shards(self, rows: np.ndarray) -> list[np.ndarray]:
        """``rows`` cut into at most ``threads`` runs of episodes (one per worker thread)."""
        k = min(self.threads, len(rows))
        return [rows] if k <= 1 else [r for r in np.array_split(rows, k) if len(r)]

    def _map(self, fn: Any, rows: np.ndarray) -> list[Any]:
        """``fn(shard)`` for each shard of ``rows``, in the worker threads when there are several (shard order)."""
        shards = self._shards(rows)
        if len(shards) == 1:
            return [fn(shards[0])]
        if self._pool is None:
            self._pool = ThreadPoolExecutor(max_workers=self.threads, thread_name_prefix="mndt-batched-ra")
        return list(self._pool.map(fn, shards))

    def close(self) -> None:
        """Stop the worker threads (a later step starts them again)."""
        if self._pool is not None:
            self._pool.shutdown(wait=True)
            self._pool = None

    # ------------------------------------------------------------------ fast solver set-up
    def _rb_classes(self) -> list[np.ndarray]:
        """BSs split into ``n_classes`` weakly coupled classes (greedy colouring on the mean cross-gain)."""
        tw = self.base.twin
        rng = np.random.default_rng(tw.cfg.seed)
        xy = rng.uniform(0.0, 1.0, (2000, 2)) * self.size
        g = np.asarray(tw.channel.gain_db(xy, np.zeros(len(xy), dtype=bool)), dtype=np.float64)  # (C, P)
        best = np.argmax(g, axis=0)
        glin = 10.0 ** (g / 10.0)
        c = self.n_cells
        coup = np.zeros((c, c))  # coup[a, b]: interference from b onto the users a serves, over a's signal
        for a in range(c):  # once, at construction
            m = best == a
            if m.any():
                coup[a] = glin[:, m].mean(axis=1) / max(glin[a, m].mean(), 1e-300)
        coup = coup + coup.T
        np.fill_diagonal(coup, 0.0)
        k = min(c, self.n_classes)
        cls = np.full(c, -1, dtype=np.int64)
        for a in np.argsort(-coup.sum(axis=1), kind="stable"):
            load = np.array([coup[a, cls == j].sum() for j in range(k)])
            cls[a] = int(np.argmin(load))
        return [np.flatnonzero(cls == j) for j in range(k) if (cls == j).any()]

    # ------------------------------------------------------------------ episodes
    def reset(self, seed: int | list[int] | None = None, rows: Any = None) -> None:
        """Start episodes in ``rows`` (default all); ``seed`` as :meth:`BatchedCellSleepCore.reset`."""
        _, idx = seed_rows(self, seed, rows)
        if len(idx) == 0:
            return
        c, u = self.n_cells, self.n_users
        shape = (c, u)
        for i in idx:  # each episode's generator, in the order of NetworkTwin.reset
            rng = self.rngs[i]
            self.pos[i] = rng.uniform(0.0, 1.0, (u, 2)) * self.size
            self.dst[i] = rng.uniform(0.0, 1.0, (u, 2)) * self.size
            self.speed[i] = rng.uniform(self.speed_range[0], self.speed_range[1], u)
            self.indoor[i] = rng.random(u) < self.indoor_fraction
            self.total[i] = rng.uniform(0.0, self.max_bits, u)
            if self.fading_kind != "none":
                seq = rng.integers(0, self.base.twin.fading.n_seq, shape, dtype=np.int32)
                self.off[i] = rng.integers(0, self.f_length, shape, dtype=np.int32)
                self.so[i] = seq * np.int32(self._row) + self.off[i]
                if self._los_amp > 0.0:
                    if self.los is None:
                        self.los = np.zeros((self.n_envs, c, u), dtype=np.complex64)
                    phase = rng.uniform(0.0, 2.0 * np.pi, shape)
                    self.los[i] = (self._los_amp * np.exp(1j * phase)).astype(np.complex64)
        self.t[idx] = 0
        self.fad_t[idx] = 0.0
        if self._dev is not None:
            self._dev.reset_rows(idx)
            return
        self.remaining[idx] = self.total[idx]
        for a in (self.satisfied, self.throughput, self.rate, self.unmet):
            a[idx] = 0.0
        self.serving[idx] = -1
        self.ep_cost[idx] = 0.0
        self.ep_reward[idx] = 0.0
        self._map(self._update_channel, idx)

    def _advance(self, rows: np.ndarray) -> None:
        """Move the users of ``rows`` by one step (StraightLineMobility.advance, batched) and the fading clock."""
        ix = self._ix(rows)  # a slice when every episode is in rows: views, not copies
        dt = self.cfg.step_s
        self.fad_t[ix] += dt
        if self.static_users:
            return
        pos, dst = self.pos[ix], self.dst[ix]
        delta = dst - pos
        dist = np.hypot(delta[..., 0], delta[..., 1])
        step = self.speed[ix] * dt
        arrived = dist <= step
        frac = np.where(arrived, 1.0, step / np.maximum(dist, 1e-12))
        self.pos[ix] = pos + delta * frac[..., None]
        jj, uu = np.nonzero(arrived)  # (episode, user) of each arrival, grouped by episode
        if len(jj) == 0:
            return
        counts = np.bincount(jj, minlength=len(rows)).tolist()
        lo, hi = self.speed_range
        dst, spd = [], []
        for j in np.flatnonzero(counts).tolist():  # the episodes' own generators draw the new legs, in their order
            rng = self.rngs[rows[j]]
            dst.append(rng.uniform(0.0, 1.0, (counts[j], 2)))
            spd.append(rng.uniform(lo, hi, counts[j]))
        ii = rows[jj]
        self.dst[ii, uu] = np.concatenate(dst) * self.size
        self.speed[ii, uu] = np.concatenate(spd)

    def _update_channel(self, rows: np.ndarray) -> None:
        """Gains, top-k candidates and full-load rate estimates of ``rows`` (the single core's ``_update_channel``)."""
        ix = self._ix(rows)  # a slice when every episode is in rows: views, not copies
        m, c, u, k = len(rows), self.n_cells, self.n_users, self.k
        tw = self.base.twin
        xy = self.pos[ix].reshape(-1, 2)
        g_cu = np.asarray(tw.channel.gain_db(xy, self.indoor[ix].ravel()), dtype=np.float32)  # (C, m·U)
        large = np.ascontiguousarray(g_cu.reshape(c, m, u).transpose(1, 0, 2))  # (m, C, U)
        if self.fading_kind != "none" and self.cfg.use_fading:
            step = np.rint(self.fad_t[ix] * self._doppler * self._oversample).astype(np.int64)  # (m,) bank sample
            if step.max() < self._ext:  # the bank rows run on past their end: no modulo needed
                flat = self.so[ix] + step.astype(np.int32)[:, None, None]
            else:
                flat = self.so[ix] - self.off[ix] + (self.off[ix] + step[:, None, None]) % self.f_length
            if self.los is None:
                fad = self._bank_db.take(flat)  # take: ~1.5x faster than fancy indexing
            else:
                h = self._nlos_amp * self._bank[flat] + self.los[ix]
                p = h.real * h.real + h.imag * h.imag
                fad = (10.0 * np.log10(np.maximum(p, 1e-12))).astype(np.float32)
            g_db = large + fad
        else:
            g_db = large
        glin = np.exp(np.asarray(g_db, dtype=np.float32) * np.float32(_LN10_10))  # (m, C, U)
        self.large[ix] = large
        self.glin[ix] = glin
        cand_f, vals_f = candidates(g_cu, k)  # the single core's candidates, all users in one pass
        cand = cand_f.reshape(k, m, u).transpose(1, 0, 2)
        self.cand[ix] = cand
        self.cand_gain_db[ix] = vals_f.astype(np.float32).reshape(k, m, u).transpose(1, 0, 2)
        p_rb = (self.p_max / self.n_rb).astype(np.float32)  # (C,) [W]
        total_rx = np.matmul(p_rb, glin)  # (m, U): one p_rb @ glin[j] per episode, the single core's product
        sig = p_rb[cand] * np.take_along_axis(glin, cand, axis=1)  # (m, k, U)
        sinr = sig / (np.maximum(total_rx[:, None, :] - sig, 0.0) + self.noise_w)
        self.rate_est[ix] = radio.shannon_rate(sinr, self.bw) * self.cfg.step_s  # f64

    # ------------------------------------------------------------------ actions
    def validate_actions(self, actions: Any) -> np.ndarray:
        """(N, n_users) float demand fractions in [0, 1] (clear errors otherwise)."""
        try:
            a = np.asarray(actions)
        except Exception as e:  # noqa: BLE001 - anything not array-like
            raise ValueError(f"actions: not array-like ({e})") from e
        shape = (self.n_envs, self.n_users)
        if a.dtype == np.bool_ or a.dtype.kind not in "iuf":
            raise ValueError(f"actions: dtype {a.dtype} not allowed; expected floats (demand fractions in [0, 1])")
        if a.shape != shape:
            raise ValueError(f"actions: shape {a.shape}, expected {shape} (one demand fraction per episode and user)")
        a = a.astype(np.float64)
        if not np.all(np.isfinite(a)):
            raise ValueError("actions: contains NaN or inf; expected demand fractions in [0, 1]")
        if a.size and (a.min() < 0.0 or a.max() > 1.0):
            bad = a[(a < 0.0) | (a > 1.0)][0]
            raise ValueError(f"actions: value {bad!r} out of bounds; allowed range [0.0, 1.0]")
        return a

    # ------------------------------------------------------------------ matching
    def _associate(self, requested: np.ndarray, eligible: np.ndarray, rows: np.ndarray) -> np.ndarray:
        """(m, U) serving cell per user of ``rows`` (−1 = unserved): the single core's association rule."""
        ix = self._ix(rows)  # a slice when every episode is in rows: views, not copies
        eta = self.cfg.rate_weight
        re = self.rate_est[ix]  # (m, k, U)
        w = np.minimum(re, requested[:, None, :]) + eta * re
        w = np.where(eligible[:, None, :] & (re > 0), w, -np.inf)
        u, c, cap = self.n_users, self.n_cells, self.cap
        cand = self.cand[ix]
        if u * (c * cap + u) <= EXACT_MATCH_LIMIT:
            held = np.stack([exact_association(w[j], cand[j], c, cap) for j in range(len(rows))])
        else:
            held = self._match_deferred(w, cand)
        return np.where(held >= 0, np.take_along_axis(cand, np.maximum(held, 0)[:, None, :], axis=1)[:, 0], -1)

    def _match_deferred(self, w: np.ndarray, cand: np.ndarray) -> np.ndarray:
        """Capacitated deferred acceptance over all users of all episodes at once (cells ``e·C + c``)."""
        m, k, u = w.shape
        wf = w.transpose(1, 0, 2).reshape(k, m * u)  # (k, m·U)
        cf = (cand + (np.arange(m) * self.n_cells)[:, None, None]).transpose(1, 0, 2).reshape(k, m * u)
        return deferred_acceptance(wf, cf, self.cap).reshape(m, u)

    def _assign_rbs(self, serving: np.ndarray, requested: np.ndarray, rows: np.ndarray,
                    ) -> tuple[np.ndarray, np.ndarray]:
        """(rb (m, U), power (m, U) [W]) for the association ``serving`` of ``rows``."""
        ix = self._ix(rows)  # a slice when every episode is in rows: views, not copies
        m, u, c, nrb = len(rows), self.n_users, self.n_cells, self.n_rb
        on = serving >= 0
        cell_g = (np.arange(m)[:, None] * c + serving)[on]  # global (episode, cell) of each scheduled user
        counts = np.bincount(cell_g, minlength=m * c).reshape(m, c)  # (m, C) users per BS
        p_user = self.p_max[None, :] / np.maximum(counts, 1)  # (m, C) [W]
        glin = self.glin[ix]
        rb = np.full((m, u), -1, dtype=np.int64)
        inr = np.zeros((m, u))
        bw_t = self.bw * self.cfg.step_s
        eta = self.cfg.rate_weight
        if self.rb_solver == "fast":
            ii, uu = np.nonzero(on)
            sv = serving[on]
            eu = ii * c + sv  # global (episode, cell) of each scheduled user
            g_s = glin[ii, sv, uu].astype(np.float64)  # (n_on,) gain to the serving cell
            rate_s = bw_t * np.log2(1.0 + p_user[ii, sv] * g_s / self.noise_w)  # [bit] interference-free
            key = np.minimum(rate_s, requested[ii, uu]) + eta * rate_s  # edge weight: strongest request first
            # inside each BS, users by descending edge weight take their least interfered free RB; the classes in turn
            cls = self._class_of[sv]
            order = class_order(cls, eu)
            class_start = np.searchsorted(cls[order], np.arange(len(self._classes) + 1))
            rb_on, p_rb = class_greedy_rbs(glin, ii, uu, sv, key, order, class_start, p_user, nrb)
            rb[on] = rb_on
            if self.cfg.power_split == "waterfill":
                tot = np.einsum("nc,nc->n", glin[ii, :, uu], p_rb[ii, :, rb_on])
                interf_u = tot - p_rb[ii, sv, rb_on] * glin[ii, sv, uu]
                inr[on] = np.maximum(interf_u, 0.0) + self.noise_w
        else:
            from scipy.optimize import linear_sum_assignment

            p_rb = np.zeros((m, c, nrb), dtype=np.float32)
            order = np.argsort(-counts, axis=1, kind="stable")  # (m, C) BSs by decreasing load
            n_act = (counts > 0).sum(axis=1)
            g_t = glin.transpose(0, 2, 1)  # (m, U, C)
            for j in range(int(n_act.max()) if m else 0):  # BS rank: the single core's sequential order
                live = np.flatnonzero(n_act > j)
                for e in live:  # one Hungarian assignment per (episode, BS), as in the single core
                    cc = order[e, j]
                    s = np.flatnonzero(serving[e] == cc)
                    interf = g_t[e, s] @ p_rb[e]  # (n_s, n_rb) [W] from the BSs decided so far
                    sig = p_user[e, cc] * glin[e, cc, s]
                    rate = bw_t * np.log2(1.0 + sig[:, None] / (interf + self.noise_w))
                    wm = np.minimum(rate, requested[e, s][:, None]) + eta * rate
                    r_, c_ = linear_sum_assignment(wm, maximize=True)
                    rb[e, s[r_]] = c_
                    p_rb[e, cc, c_] = p_user[e, cc]
                    inr[e, s[r_]] = interf[r_, c_] + self.noise_w
        power = np.zeros((m, u))
        if self.cfg.power_split == "waterfill":
            ii, uu = np.nonzero(on)
            grp = ii * c + serving[on]
            g = glin[ii, serving[on], uu].astype(np.float64)
            pm = np.tile(self.p_max, m)
            power[on] = waterfill(grp, inr[on] / np.maximum(g, 1e-300), pm, m * c)  # groups = episode × cell
        else:
            power[on] = p_user[np.nonzero(on)[0], serving[on]]
        return rb, power

    # ------------------------------------------------------------------ step
    def _step_rows(self, a: np.ndarray, rows: np.ndarray, out: dict[str, np.ndarray], term: np.ndarray,
                   ) -> tuple[np.ndarray, np.ndarray]:
        """Step the episodes ``rows`` (a run of one shard), writing their entries of ``out`` and ``term``."""
        ix = self._ix(rows)  # a slice when the rows are consecutive: views, not copies
        c = self.n_cells
        reward, cost, thr_bw, served, sat_ratio = (out[k] for k in ("reward", "cost", "thr_bw", "served", "sat_ratio"))
        ar = a[ix]
        requested = ar * self.remaining[ix]
        serving = self._associate(requested, ar > 0, rows)
        rb, power = self._assign_rbs(serving, requested, rows)
        m = len(rows)
        on = serving >= 0
        rb_power = np.zeros((m, c, self.n_rb))
        ii = np.nonzero(on)[0]
        rb_power[ii, serving[on], rb[on]] = power[on]
        glin = self.glin[ix]
        s_idx = np.where(on, serving, 0)
        r_idx = np.where(on, rb, 0)
        # (m, C, U) power of every cell on each user's RB, laid out (m, U, C) in memory: the layout (and so the
        # summation order of the einsum) of the single core's ``rb_power[:, rb]``
        p_uc = np.ascontiguousarray(rb_power.transpose(0, 2, 1)[np.arange(m)[:, None], r_idx])  # (m, U, C)
        p_on_rb = p_uc.transpose(0, 2, 1)
        total = np.einsum("mcu,mcu->mu", p_on_rb, glin)
        sig_p = np.take_along_axis(p_on_rb, s_idx[:, None, :], axis=1)[:, 0]
        sig_g = np.take_along_axis(glin, s_idx[:, None, :], axis=1)[:, 0]
        signal = sig_p * sig_g
        sinr = np.where(on, signal / (np.maximum(total - signal, 0.0) + self.noise_w), 0.0)
        rate = np.asarray(self.bw) * np.log2(1.0 + np.maximum(sinr, 0.0))
        thr = rate * self.cfg.step_s
        steps_left = (self.cfg.episode_steps - self.t[ix]).astype(np.float64)
        tb, rw, cs, total_demand = account_demand(self.xp, self, ix, serving, rate, thr, steps_left, self.bw,
                                                  self.cfg.step_s)
        self.t[ix] += 1
        reward[ix], cost[ix], thr_bw[ix] = rw, cs, tb
        served[ix] = on.sum(axis=1)
        sat_ratio[ix] = self.satisfied[ix].sum(axis=1) / total_demand
        term[ix] = self.t[ix] >= self.cfg.episode_steps
        go = rows[~term[ix]]
        if len(go):
            self._advance(go)
            self._update_channel(go)
        return rb, power

    def step(self, actions: Any, active: Any = None) -> StepResult:
        """One step of every active episode: ``actions`` (N, n_users) demand fractions in [0, 1]."""
        if self._dev is not None:
            return self._step_torch(actions, active)
        act = check_rows(active, self.n_envs)
        a = self.validate_actions(actions)
        rows = np.flatnonzero(act)
        n = self.n_envs
        out = {key: np.zeros(n) for key in ("reward", "cost", "thr_bw", "served", "sat_ratio")}
        term = np.zeros(n, dtype=bool)
        if len(rows):
            parts = self._map(lambda r: self._step_rows(a, r, out, term), rows)
            self.last_rb = np.concatenate([p[0] for p in parts])
            self.last_power = np.concatenate([p[1] for p in parts])
        reward, cost, thr_bw, served, sat_ratio = (out[k] for k in ("reward", "cost", "thr_bw", "served", "sat_ratio"))
        res = batch_result(
            reward=reward, agent_rewards=None, cost=cost, terminated=term, truncated=np.zeros(n, dtype=bool),
            reward_terms={"throughput": reward},
            kpis={"throughput_bw": thr_bw, "unmet_bits": self.unmet.sum(axis=1) * act,
                  "satisfaction_ratio": sat_ratio, "episode_throughput_bw": self.throughput.sum(axis=1) / self.bw,
                  "episode_satisfied_bits": self.satisfied.sum(axis=1),
                  "episode_demand_bits": self.total.sum(axis=1), "served_users": served},
        )
        if term.any():
            ep: Any = {k: np.where(term, v, np.nan) for k, v in self.episode_metrics().items()}
            res.episode = ep
        return res

    def _step_torch(self, actions: Any, active: Any) -> StepResult:
        """:meth:`step` on the torch backend: the same fields, as tensors (``terminated``, ``truncated``: numpy)."""
        dev = self._dev
        assert dev is not None
        xp = self.xp
        act = check_rows(active, self.n_envs)
        a = self.validate_actions(xp.to_numpy(actions) if not isinstance(actions, np.ndarray) else actions)
        rows = np.flatnonzero(act)
        n = self.n_envs
        out = {key: xp.zeros((n,)) for key in ("reward", "cost", "thr_bw", "served", "sat_ratio")}
        term = np.zeros(n, dtype=bool)
        if len(rows):
            self.last_rb, self.last_power = dev.step_rows(xp.asarray(a, xp.float64), rows, out, term)
        reward, cost, thr_bw, served, sat_ratio = (out[k] for k in ("reward", "cost", "thr_bw", "served", "sat_ratio"))
        res = batch_result(
            reward=reward, agent_rewards=None, cost=cost, terminated=term, truncated=np.zeros(n, dtype=bool),
            reward_terms={"throughput": reward},
            kpis={"throughput_bw": thr_bw, "unmet_bits": dev.unmet.sum(dim=1) * xp.asarray(act, xp.float64),
                  "satisfaction_ratio": sat_ratio, "episode_throughput_bw": dev.throughput.sum(dim=1) / self.bw,
                  "episode_satisfied_bits": dev.satisfied.sum(dim=1),
                  "episode_demand_bits": dev.total.sum(dim=1), "served_users": served},
        )
        if term.any():
            tt = xp.asarray(term)
            res.episode = {k: xp.where(tt, v, math.nan) for k, v in dev.episode_metrics().items()}
        return res

    def episode_metrics(self) -> dict[str, Any]:
        """(N,) metrics of each episode so far (the single core's ``episode_metrics``; tensors on torch)."""
        if self._dev is not None:
            return self._dev.episode_metrics()
        total_demand = np.maximum(self.total.sum(axis=1), 1e-12)
        return {
            "throughput_bw": self.throughput.sum(axis=1) / self.bw,
            "satisfaction_ratio": self.satisfied.sum(axis=1) / total_demand,
            "satisfied_users": np.mean(self.remaining <= 1e-9 * np.maximum(self.total, 1.0), axis=1),
            "episode_cost": self.ep_cost.copy(),
            "episode_reward": self.ep_reward.copy(),
        }

    # ------------------------------------------------------------------ observation
    def observation(self) -> dict[str, Any]:
        """The single env's observation dict with a leading batch dimension (float32 in [0, 1]; tensors on torch)."""
        if self._dev is not None:
            return self._dev.observation()
        n = self.n_envs
        rem = np.clip(self.remaining / max(self.max_demand_bits, 1e-12), 0.0, 1.0)
        steps_left = self.cfg.episode_steps - self.t
        return {
            "time_left": (steps_left / self.cfg.episode_steps).astype(np.float32)[:, None],
            "remaining_demand": rem.astype(np.float32),
            "max_power": np.broadcast_to((self.p_max / self.p_max.max()).astype(np.float32), (n, self.n_cells)).copy(),
            "gains": np.clip((self.cand_gain_db.transpose(0, 2, 1) + 160.0) / 160.0, 0.0, 1.0).astype(np.float32),
            "association": ((self.serving + 1) / self.n_cells).astype(np.float32),
        }


def _check_torch(rb_solver: str, device: str | None, threads: int) -> None:
    """Clear errors for the settings the torch backend does not run (before the twin is built)."""
    if rb_solver != "fast":
        raise ValueError(f"rb_solver = {rb_solver!r} with backend='torch': the exact solver runs on 'numpy' only "
                         "(one scipy Hungarian assignment per BS); use rb_solver='fast' with torch")
    if threads > 1:
        raise ValueError(f"threads = {threads} with backend='torch': worker threads apply to the numpy backend only "
                         "(torch runs its own parallel kernels); use threads=1")
    try:
        import torch
    except ImportError as e:
        raise ValueError("backend = 'torch': torch is not installed; use backend='numpy'") from e
    if device is None:
        return
    try:
        dev = torch.device(device)
    except (RuntimeError, TypeError) as e:
        raise ValueError(f"device = {device!r}: not a torch device ({e}); use 'cpu', 'cuda' or None") from e
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"device = {device!r}: torch sees no CUDA device here; use device='cpu' (or None: CUDA "
                         "when available, else the CPU)")
    if dev.type not in ("cpu", "cuda"):
        raise ValueError(f"device = {device!r}: the torch backend runs on 'cpu' or 'cuda'")
