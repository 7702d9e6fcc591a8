"""The torch path of the batched resource-allocation core (``backend="torch"``, ``rb_solver="fast"``).

:class:`TorchResourceAllocation` holds the device side of a
:class:`~mndt_envs.batched.resource_allocation.BatchedResourceAllocationCore` built with
``backend="torch"``: the radio maps, the O2I map and the Jakes fading bank as tensors, the per-link
fading offsets, the channel of the step and the demand bookkeeping. Per step, on the device: the
radio-map lookup (bilinear, as ``StatisticalChannel.gain_db``) plus O2I, the fading gather, top-k
candidates, full-load rate estimates, the association (capacitated deferred acceptance in rounds of
tensor operations), the fast RB solver, the power split, SINR, rewards and bookkeeping. The host
keeps what the episodes' own generators draw (positions, destinations, speeds, fading offsets,
demands), the users' moves (numpy; positions copied to the device each step) and the step counters,
so termination is known without a device round trip.

The results are close to the numpy core's, not bit-identical: float32 sums run in other orders (the
fast solver's interference is a batched product instead of a running sum) and ``exp``/``log2`` may
round differently (``tests/test_batched_ra_torch.py`` bounds the differences).
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

import numpy as np

from ..tasks.resource_allocation import EXACT_MATCH_LIMIT
from ..tasks.resource_allocation.matching import exact_association
from .common import account_demand

if TYPE_CHECKING:  # pragma: no cover
    from .resource_allocation import BatchedResourceAllocationCore

__all__ = ["TorchResourceAllocation", "deferred_acceptance_torch", "group_rank_torch"]

_LN10_10 = math.log(10.0) / 10.0


def group_rank_torch(group: Any, key: Any) -> Any:
    """Rank of each element inside its group by descending ``key`` (ties: lower index first), torch tensors.

    Two stable sorts (``key`` descending, then ``group``); the rank is the position minus the group's start.
    """
    import torch

    n = group.shape[0]
    order = torch.sort(key, descending=True, stable=True).indices
    order = order[torch.sort(group[order], stable=True).indices]
    g_sorted = group[order]
    first = torch.searchsorted(g_sorted, g_sorted)  # each element's group start in the sorted order
    rank = torch.empty(n, dtype=torch.int64, device=group.device)
    rank[order] = torch.arange(n, device=group.device) - first
    return rank


def deferred_acceptance_torch(w: Any, cell_of: Any, cap: int) -> Any:
    """Capacitated deferred acceptance on tensors (``resource_allocation.matching.deferred_acceptance``).

    The same rounds (``tests/test_resource_allocation.py::_deferred_acceptance_reference``): every unheld
    user proposes to its next candidate (descending weight, ties by candidate index; never a −inf one);
    each BS keeps its ``cap`` heaviest holders (ties: lower user index), the others propose again; at most
    ``4k + 4`` rounds. Proposals are vectorised over all users; one host check per round ends the rounds.

    Args:
        w: (k, n) float64 edge weights (−inf = not allowed).
        cell_of: (k, n) int64 BS id of each candidate (>= 0).
        cap: users a BS keeps at most.

    Returns:
        (n,) int64 index into each user's candidates, −1 = unserved.
    """
    import torch

    k, n = w.shape
    dev = w.device
    users = torch.arange(n, device=dev)
    pref = torch.sort(-w, dim=0, stable=True).indices  # (k, n): candidates by descending weight
    nxt = torch.zeros(n, dtype=torch.int64, device=dev)
    held = torch.full((n,), -1, dtype=torch.int64, device=dev)
    sentinel = int(cell_of.max()) + 1 if n else 1  # the group of the users that hold nothing
    for _ in range(4 * k + 4):
        nxt_c = nxt.clamp(max=k - 1)
        cand_j = pref[nxt_c, users]
        prop = (held < 0) & (nxt < k) & torch.isfinite(w[cand_j, users])
        if not bool(prop.any()):
            break
        held = torch.where(prop, cand_j, held)
        nxt = nxt + prop.to(torch.int64)
        on = held >= 0
        hc = held.clamp(min=0)
        cell = torch.where(on, cell_of[hc, users], sentinel)
        key = torch.where(on, w[hc, users], 0.0)
        rank = group_rank_torch(cell, key)
        held = torch.where(on & (rank >= cap), -1, held)
    return held


def _top_k(g: Any, k: int) -> tuple[Any, Any]:
    """(indices, values), each (m, k, U): the ``k`` largest cells of each user of ``g`` (m, C, U), strongest first.

    Ties go to the lower cell: the order of a stable descending sort of the cells (the numpy core's candidates),
    by ``k`` max passes (``torch.max`` along a dimension returns the first maximum), ~10x a sort along the cell
    axis at paper scale on the CPU.
    """
    import torch

    if k >= g.shape[1]:
        srt = torch.sort(g, dim=1, descending=True, stable=True)
        return srt.indices[:, :k], srt.values[:, :k]
    work = g.clone()
    idx, val = [], []
    for _ in range(k):
        v, i = work.max(dim=1, keepdim=True)  # (m, 1, U)
        idx.append(i)
        val.append(v)
        work.scatter_(1, i, -math.inf)
    return torch.cat(idx, dim=1), torch.cat(val, dim=1)


class TorchResourceAllocation:
    """Device state and per-step arithmetic of a torch-backed batched resource-allocation core.

    Args:
        core: the batched core (sizes, configuration, host state and generators); its ``xp`` is torch.
    """

    def __init__(self, core: BatchedResourceAllocationCore) -> None:
        import torch

        self.torch = torch
        self.core = core
        self.dev = dev = torch.device(core.xp.device)
        n, c, u, k = core.n_envs, core.n_cells, core.n_users, core.k
        ch: Any = core.base.twin.channel
        if ch._maps is None:
            ch._build_maps()
        self.maps = torch.as_tensor(ch._maps, device=dev)  # (grid points, C) float32 [dB]
        self.grid = ch.grid
        self.o2i = torch.as_tensor(np.ascontiguousarray(ch._o2i).ravel(), device=dev)  # (grid points,) [dB]
        self.cell_indoor = torch.as_tensor(np.asarray(ch.cells.indoor, dtype=bool), device=dev)  # (C,)
        f32, f64, i64 = torch.float32, torch.float64, torch.int64
        self.p_max = torch.as_tensor(np.asarray(core.p_max, dtype=np.float64), device=dev)  # (C,) [W]
        self.p_rb_full = torch.as_tensor((core.p_max / core.n_rb).astype(np.float32), device=dev)  # (C,) [W]
        if core.fading_kind != "none":
            self.bank_db = torch.as_tensor(core._bank_db, device=dev)  # flat (n_seq · row,) float32 [dB]
            self.bank = torch.as_tensor(core._bank, device=dev) if core._los_amp > 0.0 else None  # complex64
            self.so = torch.zeros((n, c, u), dtype=i64, device=dev)
            self.off = torch.zeros((n, c, u), dtype=i64, device=dev)
            self.los = torch.zeros((n, c, u), dtype=torch.complex64, device=dev) if core._los_amp > 0.0 else None
        self.classes = [(torch.as_tensor(cls, dtype=i64, device=dev), cls) for cls in core._classes]
        self.class_of = torch.as_tensor(core._class_of, device=dev)
        # the core's state, as tensors (the core's attributes of the same names point to these)
        self.total = torch.zeros((n, u), dtype=f64, device=dev)
        self.remaining = torch.zeros((n, u), dtype=f64, device=dev)
        self.satisfied = torch.zeros((n, u), dtype=f64, device=dev)
        self.throughput = torch.zeros((n, u), dtype=f64, device=dev)
        self.serving = torch.full((n, u), -1, dtype=i64, device=dev)
        self.rate = torch.zeros((n, u), dtype=f64, device=dev)
        self.unmet = torch.zeros((n, u), dtype=f64, device=dev)
        self.ep_cost = torch.zeros(n, dtype=f64, device=dev)
        self.ep_reward = torch.zeros(n, dtype=f64, device=dev)
        self.large = torch.zeros((n, c, u), dtype=f32, device=dev)
        self.glin = torch.zeros((n, c, u), dtype=f32, device=dev)
        self.cand = torch.zeros((n, k, u), dtype=i64, device=dev)
        self.cand_gain_db = torch.zeros((n, k, u), dtype=f32, device=dev)
        self.rate_est = torch.zeros((n, k, u), dtype=f64, device=dev)

    STATE = ("total", "remaining", "satisfied", "throughput", "serving", "rate", "unmet", "ep_cost", "ep_reward",
             "large", "glin", "cand", "cand_gain_db", "rate_est")

    # ------------------------------------------------------------------ helpers
    def _ix(self, rows: np.ndarray) -> Any:
        """``rows`` (sorted, unique) as a slice when consecutive, else as an index tensor on the device."""
        if len(rows) and int(rows[-1]) - int(rows[0]) + 1 == len(rows):
            return slice(int(rows[0]), int(rows[-1]) + 1)
        return self.torch.as_tensor(rows, dtype=self.torch.int64, device=self.dev)

    def t(self, x: np.ndarray, dtype: Any = None) -> Any:
        """A host array on the device."""
        out = self.torch.as_tensor(np.ascontiguousarray(x), device=self.dev)
        return out if dtype is None else out.to(dtype)

    # ------------------------------------------------------------------ channel
    def gain_db(self, xy: Any, indoor: Any) -> Any:
        """(P, C) float32 large-scale gains [dB] at ``xy`` (P, 2) float64: ``StatisticalChannel.gain_db``, transposed.

        The same bilinear weights, corner order and float32 arithmetic as the twin's lookup, then O2I
        (``_apply_o2i``): outdoor cells lose the O2I loss of indoor users, indoor cells that of outdoor users.
        """
        torch = self.torch
        gr = self.grid
        fx = ((xy[:, 0] - gr.x0) / gr.step).clamp(0.0, gr.nx - 1.000001)
        fy = ((xy[:, 1] - gr.y0) / gr.step).clamp(0.0, gr.ny - 1.000001)
        ix, iy = fx.to(torch.int64), fy.to(torch.int64)
        wx, wy = (fx - ix).to(torch.float32), (fy - iy).to(torch.float32)
        i00 = iy * gr.nx + ix
        m = self.maps
        g = m[i00] * ((1 - wx) * (1 - wy))[:, None]
        for di, wc in ((1, wx * (1 - wy)), (gr.nx, (1 - wx) * wy), (gr.nx + 1, wx * wy)):
            g += m[i00 + di] * wc[:, None]
        gx = ((xy[:, 0] - gr.x0) / gr.step + 0.5).to(torch.int64).clamp(0, gr.nx - 1)  # _Grid.index
        gy = ((xy[:, 1] - gr.y0) / gr.step + 0.5).to(torch.int64).clamp(0, gr.ny - 1)
        o2i = self.o2i[gy * gr.nx + gx]  # (P,)
        lose = torch.where(indoor[:, None] != self.cell_indoor[None, :], o2i[:, None], 0.0)
        return g - lose

    def update_channel(self, rows: np.ndarray) -> None:
        """Gains, top-k candidates and full-load rate estimates of ``rows`` (the numpy core's ``_update_channel``)."""
        torch, core = self.torch, self.core
        ix = self._ix(rows)
        m, c, u, k = len(rows), core.n_cells, core.n_users, core.k
        xy = self.t(core.pos[rows].reshape(-1, 2), torch.float64)
        indoor = self.t(core.indoor[rows].ravel())
        large = self.gain_db(xy, indoor).reshape(m, u, c).transpose(1, 2).contiguous()  # (m, C, U)
        if core.fading_kind != "none" and core.cfg.use_fading:
            step = np.rint(core.fad_t[rows] * core._doppler * core._oversample).astype(np.int64)  # (m,) host
            st = self.t(step)[:, None, None]
            if step.max() < core._ext:  # the bank rows run on past their end: no modulo needed
                flat = self.so[ix] + st
            else:
                off = self.off[ix]
                flat = self.so[ix] - off + (off + st) % core.f_length
            if self.los is None:
                fad = self.bank_db.take(flat)
            else:
                assert self.bank is not None
                h = core._nlos_amp * self.bank.take(flat) + self.los[ix]
                p = h.real * h.real + h.imag * h.imag
                fad = 10.0 * torch.log10(p.clamp(min=1e-12))
            g_db = large + fad
        else:
            g_db = large
        glin = torch.exp(g_db * np.float32(_LN10_10))  # (m, C, U) float32
        self.large[ix] = large
        self.glin[ix] = glin
        cand, cand_db = _top_k(large, k)
        self.cand[ix] = cand
        self.cand_gain_db[ix] = cand_db
        p_rb = self.p_rb_full  # (C,) float32 [W]
        total_rx = torch.matmul(p_rb, glin)  # (m, U)
        sig = p_rb[cand] * torch.gather(glin, 1, cand)  # (m, k, U)
        sinr = sig / ((total_rx[:, None, :] - sig).clamp(min=0.0) + core.noise_w)
        rate = torch.log2(1.0 + sinr.clamp(min=0.0)).to(torch.float64) * float(core.bw)  # radio.shannon_rate
        self.rate_est[ix] = rate * core.cfg.step_s

    # ------------------------------------------------------------------ episodes
    def reset_rows(self, idx: np.ndarray) -> None:
        """Copy the host draws of the episodes ``idx`` to the device and zero their bookkeeping."""
        torch, core = self.torch, self.core
        ix = self._ix(idx)
        if core.fading_kind != "none":
            self.so[ix] = self.t(core.so[idx], torch.int64)
            self.off[ix] = self.t(core.off[idx], torch.int64)
            if self.los is not None:
                assert core.los is not None
                self.los[ix] = self.t(core.los[idx])
        self.total[ix] = self.t(core.total[idx], torch.float64)
        self.remaining[ix] = self.total[ix]
        for a in (self.satisfied, self.throughput, self.rate, self.unmet, self.ep_cost, self.ep_reward):
            a[ix] = 0.0
        self.serving[ix] = -1
        self.update_channel(idx)

    # ------------------------------------------------------------------ matching
    def associate(self, requested: Any, eligible: Any, ix: Any, m: int) -> Any:
        """(m, U) serving cell per user (−1 = unserved): the numpy core's association rule."""
        torch, core = self.torch, self.core
        eta = core.cfg.rate_weight
        re = self.rate_est[ix]  # (m, k, U)
        w = torch.minimum(re, requested[:, None, :]) + eta * re
        w = torch.where(eligible[:, None, :] & (re > 0), w, -math.inf)
        u, c, cap, k = core.n_users, core.n_cells, core.cap, core.k
        cand = self.cand[ix]
        if u * (c * cap + u) <= EXACT_MATCH_LIMIT:  # small scenarios: the exact Hungarian association, on the host
            wn, cn = w.cpu().numpy(), cand.cpu().numpy()
            held = self.t(np.stack([exact_association(wn[j], cn[j], c, cap) for j in range(m)]))
        else:
            wf = w.transpose(0, 1).reshape(k, m * u)
            cf = (cand + (torch.arange(m, device=self.dev) * c)[:, None, None]).transpose(0, 1).reshape(k, m * u)
            held = deferred_acceptance_torch(wf, cf, cap).reshape(m, u)
        got = torch.gather(cand, 1, held.clamp(min=0)[:, None, :])[:, 0]
        return torch.where(held >= 0, got, -1)

    def assign_rbs(self, serving: Any, requested: Any, glin: Any) -> tuple[Any, Any, Any]:
        """The fast solver on tensors: (rb (m, U), power (m, U) [W], on (m, U) bool).

        Classes in turn; within a class all BSs of all episodes at once, rank by rank: at rank ``q`` each BS's
        ``q``-th user (descending edge weight, ties lower index) takes its free RB with the least interference
        from the classes decided before (first minimum); the interference of every user on every RB grows by
        one batched product per class (``g[:, class, :]ᵀ @ p_rb[:, class, :]``).
        """
        torch, core = self.torch, self.core
        dev = self.dev
        m, u = serving.shape
        c, nrb, cap = core.n_cells, core.n_rb, core.cap
        f32, f64, i64 = torch.float32, torch.float64, torch.int64
        on = serving >= 0
        idx_on = torch.nonzero(on.reshape(-1)).reshape(-1)  # (n_on,) flat (episode, user), row-major
        n_on = int(idx_on.shape[0])
        ii, uu = idx_on // u, idx_on % u
        sv = serving.reshape(-1)[idx_on]
        grp = ii * c + sv  # global (episode, BS)
        counts = torch.zeros(m * c, dtype=i64, device=dev).index_add_(0, grp, torch.ones_like(grp))
        p_user = self.p_max[None, :] / counts.reshape(m, c).clamp(min=1).to(f64)  # (m, C) [W]
        bw_t = core.bw * core.cfg.step_s
        eta = core.cfg.rate_weight
        g_s = glin[ii, sv, uu].to(f64)
        pu = p_user[ii, sv]
        rate_s = bw_t * torch.log2(1.0 + pu * g_s / core.noise_w)
        key = torch.minimum(rate_s, requested[ii, uu]) + eta * rate_s
        rank = group_rank_torch(grp, key)
        # table[(episode, BS), rank] = the scheduled user (its index in idx_on), −1 = none; a spare last row and
        # column take the writes of absent users
        table = torch.full((m * c + 1, cap + 1), -1, dtype=i64, device=dev)
        table[grp, rank] = torch.arange(n_on, device=dev)
        width = counts.reshape(m, c).amax(dim=0).tolist()  # (C,) the most users of each BS over the episodes
        taken = torch.zeros((m * c + 1, nrb), dtype=torch.bool, device=dev)
        intf = torch.zeros((m, u, nrb), dtype=f32, device=dev)  # each user's interference per RB
        rb_on = torch.zeros(n_on + 1, dtype=i64, device=dev)  # the last entry takes the writes of absent users
        p_rb = torch.zeros(m * c * nrb + 1, dtype=f32, device=dev)  # flat (m, C, n_rb) + a spare entry
        ar = torch.arange(m, device=dev)
        pu32 = p_user.to(f32).reshape(-1)
        for cls, cls_np in self.classes:
            ranks = max(width[b] for b in cls_np.tolist())
            if ranks == 0:
                continue
            slots = (ar[:, None] * c + cls[None, :]).reshape(-1)  # (S,) every BS of the class in every episode
            e_s = slots // c
            for q in range(ranks):
                who = table[slots, q]  # (S,) the q-th user of each BS
                valid = who >= 0
                wc = who.clamp(min=0)
                v = intf[e_s, uu[wc]]  # (S, n_rb)
                v = v.masked_fill(taken[slots], math.inf)
                r = v.argmin(dim=1)  # first minimum over the free RBs
                rb_on[torch.where(valid, who, n_on)] = r
                taken[torch.where(valid, slots, m * c), r] = True
            who = table[slots, :cap].reshape(-1)  # the class's users: their power on their RBs
            valid = who >= 0
            wc = who.clamp(min=0)
            s_rep = slots.repeat_interleave(cap)
            flat = torch.where(valid, s_rep * nrb + rb_on[wc], m * c * nrb)
            p_rb[flat] = torch.where(valid, pu32[s_rep], 0.0)
            p3 = p_rb[:-1].reshape(m, c, nrb)
            intf += torch.bmm(glin[:, cls, :].transpose(1, 2), p3[:, cls, :])  # (m, U, n_rb)
        rb = torch.full((m * u,), -1, dtype=i64, device=dev)
        rb[idx_on] = rb_on[:n_on]
        rb = rb.reshape(m, u)
        p3 = p_rb[:-1].reshape(m, c, nrb)
        power = torch.zeros((m * u,), dtype=f64, device=dev)
        rbo = rb_on[:n_on]
        if core.cfg.power_split == "waterfill":
            tot = (glin[ii, :, uu] * p3[ii, :, rbo]).sum(dim=1)
            interf_u = tot - p3[ii, sv, rbo] * glin[ii, sv, uu]
            inr = interf_u.clamp(min=0.0).to(f64) + core.noise_w
            power[idx_on] = waterfill_torch(grp, inr / g_s.clamp(min=1e-300), self.p_max.repeat(m), m * c)
        else:
            power[idx_on] = pu
        return rb, power.reshape(m, u), on

    # ------------------------------------------------------------------ step
    def step_rows(self, a: Any, rows: np.ndarray, out: dict[str, Any], term: np.ndarray) -> tuple[Any, Any]:
        """Step the episodes ``rows``: the numpy core's ``_step_rows`` on tensors (``term`` is host numpy)."""
        torch, core = self.torch, self.core
        ix = self._ix(rows)
        m, u, c, nrb = len(rows), core.n_users, core.n_cells, core.n_rb
        f64 = torch.float64
        ar = a[ix]
        requested = ar * self.remaining[ix]
        glin = self.glin[ix]
        serving = self.associate(requested, ar > 0, ix, m)
        rb, power, on = self.assign_rbs(serving, requested, glin)
        s_idx = torch.where(on, serving, 0)
        r_idx = torch.where(on, rb, 0)
        rb_power = torch.zeros((m, c * nrb + 1), dtype=f64, device=self.dev)  # a spare column for the unscheduled
        rb_power.scatter_(1, torch.where(on, s_idx * nrb + r_idx, c * nrb), power)
        rb_power = rb_power[:, :-1].reshape(m, c, nrb)
        p_uc = torch.gather(rb_power.transpose(1, 2), 1, r_idx[:, :, None].expand(m, u, c))  # (m, U, C)
        total = (p_uc * glin.transpose(1, 2)).sum(dim=2)  # (m, U)
        sig_p = torch.gather(p_uc, 2, s_idx[:, :, None])[:, :, 0]
        sig_g = torch.gather(glin, 1, s_idx[:, None, :])[:, 0].to(f64)
        signal = sig_p * sig_g
        sinr = torch.where(on, signal / ((total - signal).clamp(min=0.0) + core.noise_w), 0.0)
        rate = float(core.bw) * torch.log2(1.0 + sinr.clamp(min=0.0))
        thr = rate * core.cfg.step_s
        steps_left = self.t((core.cfg.episode_steps - core.t[rows]).astype(np.float64))
        tb, rw, cs, total_demand = account_demand(core.xp, self, ix, serving, rate, thr, steps_left, core.bw,
                                                  core.cfg.step_s)
        core.t[rows] += 1
        out["reward"][ix], out["cost"][ix], out["thr_bw"][ix] = rw, cs, tb
        out["served"][ix] = on.sum(dim=1).to(f64)
        out["sat_ratio"][ix] = self.satisfied[ix].sum(dim=1) / total_demand
        term[rows] = core.t[rows] >= core.cfg.episode_steps
        go = rows[~term[rows]]
        if len(go):
            core._advance(go)
            self.update_channel(go)
        return rb, power

    def episode_metrics(self) -> dict[str, Any]:
        """(N,) metrics of each episode so far, as tensors."""
        total_demand = self.total.sum(dim=1).clamp(min=1e-12)
        return {
            "throughput_bw": self.throughput.sum(dim=1) / self.core.bw,
            "satisfaction_ratio": self.satisfied.sum(dim=1) / total_demand,
            "satisfied_users": (self.remaining <= 1e-9 * self.total.clamp(min=1.0)).to(self.torch.float64).mean(dim=1),
            "episode_cost": self.ep_cost.clone(),
            "episode_reward": self.ep_reward.clone(),
        }

    def observation(self) -> dict[str, Any]:
        """The single env's observation dict with a leading batch dimension, as float32 tensors."""
        torch, core = self.torch, self.core
        n = core.n_envs
        f32 = torch.float32
        rem = (self.remaining / max(core.max_demand_bits, 1e-12)).clamp(0.0, 1.0)
        steps_left = core.cfg.episode_steps - core.t
        pm = (core.p_max / core.p_max.max()).astype(np.float32)
        return {
            "time_left": self.t((steps_left / core.cfg.episode_steps).astype(np.float32)[:, None]),
            "remaining_demand": rem.to(f32),
            "max_power": self.t(np.broadcast_to(pm, (n, core.n_cells)).copy()),
            "gains": ((self.cand_gain_db.transpose(1, 2) + 160.0) / 160.0).clamp(0.0, 1.0).to(f32),
            "association": ((self.serving + 1) / core.n_cells).to(f32),
        }


def waterfill_torch(cell: Any, inv_gain: Any, p_max: Any, n_cells: int, iters: int = 40) -> Any:
    """:func:`~mndt_envs.tasks.resource_allocation.allocation.waterfill` on tensors (bisection on the water level)."""
    import torch

    dev = inv_gain.device
    lo = torch.zeros(n_cells, dtype=torch.float64, device=dev)
    floor_max = torch.zeros(n_cells, dtype=torch.float64, device=dev).scatter_reduce(0, cell, inv_gain, "amax")
    hi = floor_max + p_max
    for _ in range(iters):
        mid = 0.5 * (lo + hi)
        fill = (mid[cell] - inv_gain).clamp(min=0.0)
        used = torch.zeros(n_cells, dtype=torch.float64, device=dev).index_add_(0, cell, fill)
        over = used > p_max
        hi = torch.where(over, mid, hi)
        lo = torch.where(over, lo, mid)
    return (lo[cell] - inv_gain).clamp(min=0.0)
