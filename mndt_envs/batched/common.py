"""What the batched cores share: per-episode seeding and the batched step result.

Seeding contract (the same as Gymnasium's ``SyncVectorEnv``): a batch of ``N`` episodes reset
with seed ``s`` gives episode ``i`` the generator ``numpy.random.default_rng(s + i)``, which is
exactly the generator of the single env reset with ``env.reset(seed=s + i)``. Every later
(auto)reset of slot ``i`` continues that generator, as the single env's ``reset()`` without a seed
does. So episode ``i`` of a batch seeded ``s`` and the single env seeded ``s + i`` draw the same
users, demand and fading and, under the same actions, give the same rollout (the tests check it).
``seed=None`` draws ``N`` fresh seeds from the operating system's entropy.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from ..tasks.contract import StepResult  # batched: every field with a leading dimension N

__all__ = ["StepResult", "batch_result", "episode_seeds", "make_generators", "check_rows", "seed_rows", "positive_int",
           "account_demand"]


def positive_int(name: str, value: Any) -> int:
    """``value`` as an int, or ``ValueError`` naming ``name`` unless it is an integer >= 1 (not a bool)."""
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        raise ValueError(f"{name} = {value!r}: expected an integer >= 1")
    return int(value)


def episode_seeds(seed: int | Sequence[int] | None, n: int) -> list[int]:
    """Per-episode integer seeds: ``seed + i`` for an int, the list itself for a sequence, fresh for None."""
    if seed is None:
        return [int(x) for x in np.random.SeedSequence().generate_state(n, dtype=np.uint64) >> np.uint64(1)]
    if isinstance(seed, (int, np.integer)) and not isinstance(seed, bool):
        if seed < 0:
            raise ValueError(f"seed = {seed!r}: must be a non-negative integer (or None)")
        return [int(seed) + i for i in range(n)]
    seeds = [int(s) for s in seed]  # type: ignore[union-attr]
    if len(seeds) != n:
        raise ValueError(f"seed: {len(seeds)} seeds given for {n} episodes; give one int, {n} ints or None")
    return seeds


def make_generators(seeds: Sequence[int]) -> list[np.random.Generator]:
    """One ``numpy.random.default_rng(seed)`` per episode (what ``gymnasium.Env.reset(seed=...)`` builds)."""
    return [np.random.default_rng(s) for s in seeds]


def check_rows(rows: Any, n: int) -> np.ndarray:
    """Episode rows to act on as a (n,) bool mask (``None`` = all; a bool mask or a list of indices)."""
    if rows is None:
        return np.ones(n, dtype=bool)
    r = np.asarray(rows)
    if r.dtype == np.bool_:
        if r.shape != (n,):
            raise ValueError(f"rows: boolean mask of shape {r.shape}, expected ({n},)")
        return r
    if r.dtype.kind not in "iu" or (r.size and (r.min() < 0 or r.max() >= n)):
        raise ValueError(f"rows: expected episode indices in [0, {n}) or a ({n},) bool mask, got {rows!r}")
    m = np.zeros(n, dtype=bool)
    m[r] = True
    return m


def seed_rows(core: Any, seed: int | Sequence[int] | None, rows: Any) -> tuple[np.ndarray, np.ndarray]:
    """The seeding step of a batched core's ``reset(seed, rows)``.

    Returns the rows to reset as a (n_envs,) bool mask (:func:`check_rows`) and as indices.

    With a ``seed``, each row to reset gets ``default_rng`` of its episode seed (:func:`episode_seeds`);
    without one, the rows keep their generators, except on the core's first reset, which gives every
    row a fresh one from the operating system's entropy. Reads ``core.n_envs`` and sets ``core.rngs``
    and ``core._seeded``.
    """
    mask = check_rows(rows, core.n_envs)
    idx = np.flatnonzero(mask)
    if seed is not None:
        seeds = episode_seeds(seed, core.n_envs)
        for i in idx:
            core.rngs[i] = np.random.default_rng(seeds[i])
    elif not getattr(core, "_seeded", False):
        core.rngs = make_generators(episode_seeds(None, core.n_envs))
    core._seeded = True
    return mask, idx


def batch_result(**fields: Any) -> StepResult:
    """A :class:`StepResult` whose fields are (N,)-leading arrays (the batched form of the contract)."""
    fields.setdefault("reward_terms", {})
    fields.setdefault("kpis", {})
    return StepResult(**fields)


def account_demand(xp: Any, st: Any, ix: Any, serving: Any, rate: Any, thr: Any, steps_left: Any, bw: float,
                   step_s: float) -> tuple[Any, Any, Any, Any]:
    """Resource allocation's demand bookkeeping for one step of the episodes ``ix``, on numpy or torch.

    Each user's due share is its remaining demand over the steps left; what the step delivered beyond the
    remaining demand is not counted; the shortfall against the due share is the unmet demand (the cost).
    Updates ``st``'s ``rate``, ``unmet``, ``remaining``, ``satisfied``, ``throughput``, ``serving``,
    ``ep_reward`` and ``ep_cost`` rows ``ix``.

    Args:
        xp: the array namespace (numpy or torch).
        st: the state holding those (N, n_users) / (N,) arrays and ``total`` (N, n_users) [bit].
        ix: the episodes (a slice or indices).
        serving: (m, n_users) serving cell of each user (−1 unserved).
        rate: (m, n_users) [bit/s] achieved rates.
        thr: (m, n_users) [bit] this step's throughput.
        steps_left: (m,) steps left in each episode, this one included.
        bw: bandwidth [Hz].
        step_s: step length [s].

    Returns:
        (throughput in units of bandwidth, reward, cost, total demand), each (m,).
    """
    rem = st.remaining[ix]
    due = rem / steps_left[:, None]
    sat = xp.minimum(rem, thr)
    unmet = xp.maximum(due - sat, 0.0)
    st.rate[ix] = rate
    st.unmet[ix] = unmet
    st.remaining[ix] = rem - sat
    st.satisfied[ix] += sat
    st.throughput[ix] += thr
    st.serving[ix] = serving
    total_demand = xp.maximum(xp.sum(st.total[ix], axis=1), 1e-12)
    tb = xp.sum(thr, axis=1) / bw
    rw = tb / (thr.shape[1] * step_s)
    cs = xp.sum(unmet, axis=1) / total_demand
    st.ep_reward[ix] += rw
    st.ep_cost[ix] += cs
    return tb, rw, cs, total_demand

