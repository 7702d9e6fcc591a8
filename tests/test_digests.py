"""Seeded rollouts of every env (single and parallel) are bit-identical to the recorded ones.

The fixture ``tests/data/rollout_digests.json`` holds one SHA-256 per (env, variant, seed, policy):
the digest of every observation, reward, termination flag and the step infos' physics (``cost``,
``reward_terms``, KPIs, ``episode_metrics``) along a seeded rollout that runs through the end of an
episode and into the next one. A refactor that changes any number by one ulp fails here.

Regenerate (only when a change of the dynamics is intended, and say so in the commit)::

    MNDT_UPDATE_DIGESTS=1 .venv/bin/pytest tests/test_digests.py
"""

from __future__ import annotations

import hashlib
import json
import os
import struct
from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np
import pytest

from mndt_envs.registration import TASKS, load_entry, parallel_env

FIXTURE = Path(__file__).parent / "data" / "rollout_digests.json"
UPDATE = os.environ.get("MNDT_UPDATE_DIGESTS") == "1"
SEEDS = (0, 3)

# task -> variant -> extra task overrides (merged into the spec's test kwargs)
VARIANTS: dict[str, dict[str, dict[str, Any]]] = {
    "cell_sleep": {"default": {}, "soft": {"hard_constraints": False, "wakeup_steps": 2}},
    "load_balancing": {"default": {}, "local": {"target": "local", "mobility": "static"}},
    "resource_allocation": {"default": {"episode_steps": 5}, "direct": {"episode_steps": 5, "action_mode": "direct"},
                            "waterfill": {"episode_steps": 4, "power_split": "waterfill"}},
}
# single-agent info keys that are not physics (bookkeeping that may be renamed) are still digested:
# every key the env reports is part of the behaviour.


class _Digest:
    """SHA-256 over a canonical byte encoding of nested python/numpy data."""

    def __init__(self) -> None:
        self.h = hashlib.sha256()

    def add(self, x: Any) -> None:
        h = self.h
        if isinstance(x, dict):
            h.update(b"{")
            for k in sorted(x, key=str):
                h.update(str(k).encode() + b":")
                self.add(x[k])
            h.update(b"}")
        elif isinstance(x, (list, tuple)):
            h.update(b"[")
            for v in x:
                self.add(v)
            h.update(b"]")
        elif isinstance(x, (bool, np.bool_)):
            h.update(b"T" if x else b"F")
        elif isinstance(x, (int, np.integer)):
            h.update(b"i" + str(int(x)).encode())
        elif isinstance(x, (float, np.floating)):
            h.update(b"f" + struct.pack("<d", float(x)))
        elif isinstance(x, np.ndarray):
            a = np.ascontiguousarray(x)
            kind = "b" if a.dtype == np.bool_ else a.dtype.kind  # int8 vs int64 of the same values: same digest
            a = a.astype(np.float64) if kind == "f" else a.astype(np.int64) if kind in "iub" else a
            h.update(f"a{kind}{a.shape}".encode() + a.tobytes())
        elif x is None:
            h.update(b"N")
        else:
            h.update(b"s" + str(x).encode())

    def hexdigest(self) -> str:
        return self.h.hexdigest()[:32]


def _kwargs(task_name: str, variant: str) -> dict[str, Any]:
    spec = next(t for t in TASKS if t.name == task_name)
    kw = json.loads(json.dumps(spec.test_kwargs))
    kw.setdefault("config", {}).setdefault("task", {}).update(VARIANTS[task_name][variant])
    return kw


def _sample(space: gym.Space, rng: np.random.Generator, mask: np.ndarray | None = None) -> Any:
    """A random action from ``space`` drawn from ``rng`` (legal under ``mask`` where given)."""
    if isinstance(space, gym.spaces.Dict):
        return {k: _sample(space[k], rng) for k in sorted(space.spaces)}
    if isinstance(space, gym.spaces.Discrete):
        legal = np.arange(space.n) if mask is None else np.flatnonzero(mask)
        return int(space.start + legal[rng.integers(len(legal))])
    if isinstance(space, gym.spaces.MultiDiscrete):
        nvec = np.asarray(space.nvec).ravel()
        if mask is None:
            return (rng.random(len(nvec)) * nvec).astype(np.int64)
        m = np.asarray(mask).reshape(len(nvec), -1).astype(bool)
        out = np.zeros(len(nvec), dtype=np.int64)
        for i in range(len(nvec)):
            legal = np.flatnonzero(m[i])
            out[i] = legal[rng.integers(len(legal))]
        return out
    if isinstance(space, gym.spaces.Box):
        return rng.uniform(space.low, space.high).astype(space.dtype)
    raise TypeError(space)


def _step_info(info: dict[str, Any]) -> dict[str, Any]:
    return info


def single_digest(task_name: str, variant: str, seed: int, policy: str) -> str:
    spec = next(t for t in TASKS if t.name == task_name)
    env = gym.make(spec.env_id, **_kwargs(task_name, variant))
    pol = load_entry(spec.baselines[policy])(env) if policy != "random" else None
    rng = np.random.default_rng(1000 + seed)
    d = _Digest()
    obs, _ = env.reset(seed=seed)
    d.add(obs)
    episodes = 0
    for _ in range(200):
        if pol is None:
            mask = obs.get("action_mask") if isinstance(obs, dict) else None
            act = _sample(env.action_space, rng, mask)
        else:
            act, _ = pol.predict(obs, deterministic=True)
        obs, r, term, trunc, info = env.step(act)
        d.add([obs, float(r), bool(term), bool(trunc), _step_info(info)])
        if term or trunc:
            episodes += 1
            if episodes == 2:
                break
            obs, _ = env.reset()  # second episode from the env's own generator
            d.add(obs)
    env.close()
    assert episodes == 2
    return d.hexdigest()


def parallel_digest(task_name: str, variant: str, seed: int) -> str:
    spec = next(t for t in TASKS if t.name == task_name)
    env = parallel_env(spec.parallel_name, **_kwargs(task_name, variant))
    rng = np.random.default_rng(2000 + seed)
    d = _Digest()
    obs, _ = env.reset(seed=seed)
    d.add(obs)
    episodes = 0
    for _ in range(200):
        acts = {}
        for a in env.agents:
            o = obs[a]
            mask = o.get("action_mask") if isinstance(o, dict) else None
            acts[a] = _sample(env.action_space(a), rng, mask)
        obs, rew, terms, truncs, infos = env.step(acts)
        phys = {a: {k: v for k, v in i.items() if k in ("cost", "episode_metrics")} for a, i in infos.items()}
        d.add([obs, rew, terms, truncs, phys])
        if not env.agents:
            episodes += 1
            if episodes == 2:
                break
            obs, _ = env.reset()
            d.add(obs)
    env.close()
    assert episodes == 2
    return d.hexdigest()


def _cases() -> list[tuple[str, str, str, int, str]]:
    out = []
    for t in TASKS:
        for variant in VARIANTS.get(t.name, {"default": {}}):
            for seed in SEEDS:
                out.append(("single", t.name, variant, seed, "random"))
                out.append(("parallel", t.name, variant, seed, "random"))
            if variant == "default":
                for b in t.baselines:
                    out.append(("single", t.name, variant, SEEDS[0], b))
    return out


CASES = _cases()


def _key(case: tuple[str, str, str, int, str]) -> str:
    return "/".join(map(str, case))


def _load() -> dict[str, str]:
    return json.loads(FIXTURE.read_text()) if FIXTURE.exists() else {}


@pytest.mark.parametrize("case", CASES, ids=_key)
def test_rollout_digest(case: tuple[str, str, str, int, str]) -> None:
    form, task_name, variant, seed, policy = case
    got = (single_digest(task_name, variant, seed, policy) if form == "single"
           else parallel_digest(task_name, variant, seed))
    key = _key(case)
    if UPDATE:
        data = _load()
        data[key] = got
        FIXTURE.parent.mkdir(parents=True, exist_ok=True)
        tmp = FIXTURE.with_suffix(".tmp")
        tmp.write_text(json.dumps(dict(sorted(data.items())), indent=1) + "\n")
        os.replace(tmp, FIXTURE)
        return
    want = _load().get(key)
    if want is None and policy != "random":  # a baseline added after the recording: nothing to compare with yet
        pytest.skip(f"no recorded digest for {key} (a new baseline); record with MNDT_UPDATE_DIGESTS=1")
    if want is None:
        pytest.fail(f"no recorded digest for {key}; record with MNDT_UPDATE_DIGESTS=1")
    assert got == want, f"{key}: seeded rollout differs from the recorded one"


def test_digest_is_sensitive() -> None:
    """The encoding tells one ulp apart and int8 from float32 of the same values."""
    a, b = _Digest(), _Digest()
    a.add(np.array([1.0, 2.0], dtype=np.float32))
    b.add(np.array([1.0, np.nextafter(np.float32(2.0), np.float32(3.0))], dtype=np.float32))
    assert a.hexdigest() != b.hexdigest()
    c, e = _Digest(), _Digest()
    c.add({"x": np.array([1, 0], dtype=np.int8)})
    e.add({"x": np.array([1.0, 0.0], dtype=np.float32)})
    assert c.hexdigest() != e.hexdigest()
