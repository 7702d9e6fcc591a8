"""The torch backend of the batched resource-allocation core (on CPU tensors) against the numpy core."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest

import mndt_envs  # noqa: F401
from mndt_envs.batched.resource_allocation import BatchedResourceAllocationCore
from mndt_envs.config import ConfigError

torch = pytest.importorskip("torch")

SMALL = {"users": {"n_users": 60}, "task": {"episode_steps": 4, "power_split": "waterfill"},
         "channel": {"fading": "rician"}}  # exact association (host), water-filling, Rician fading


def _pair(n: int, config: dict | None = None) -> tuple[BatchedResourceAllocationCore, BatchedResourceAllocationCore]:
    cn = BatchedResourceAllocationCore(n, "toy", config, rb_solver="fast")
    ct = BatchedResourceAllocationCore(n, "toy", config, rb_solver="fast", backend="torch", device="cpu")
    return cn, ct


def _check_channel(cn: BatchedResourceAllocationCore, ct: BatchedResourceAllocationCore, tag: str) -> None:
    for name in ("large", "glin", "cand_gain_db"):
        np.testing.assert_allclose(getattr(ct, name).numpy(), getattr(cn, name), rtol=1e-5, err_msg=f"{tag} {name}")
    # the rate estimates: rtol 1e-5, plus what the float32 rounding of the received total power (a few ulps; the
    # two libraries sum the cells in other orders) becomes once the signal is subtracted from it, plus the float32
    # rounding of 1 + SINR at low SINR (a few ulps of 1.0)
    eps = 4 * float(np.finfo(np.float32).eps)
    p_rb = (cn.p_max / cn.n_rb).astype(np.float64)
    glin = cn.glin.astype(np.float64)
    total = np.einsum("c,mcu->mu", p_rb, glin)[:, None, :]
    sig = p_rb[cn.cand] * np.take_along_axis(glin, cn.cand, axis=1)
    interf = np.maximum(total - sig, 0.0)
    bt = float(cn.bw) * cn.cfg.step_s
    lo = np.log2(1.0 + sig / (interf + eps * total + cn.noise_w))
    hi = np.log2(1.0 + sig / (np.maximum(interf - eps * total, 0.0) + cn.noise_w))
    tol = 1e-5 * np.abs(cn.rate_est) + bt * (hi - lo) + bt * eps / np.log(2.0)
    err = np.abs(ct.rate_est.numpy() - cn.rate_est)
    assert np.all(err <= tol), f"{tag} rate_est: max excess {np.max(err - tol)} bits"
    cand_t = ct.cand.numpy()
    diff = cand_t != cn.cand
    if diff.any():  # only where the gains tie within float32 rounding
        large = cn.large
        ga = np.take_along_axis(large, cn.cand, axis=1)[diff]
        gb = np.take_along_axis(large, cand_t, axis=1)[diff]
        np.testing.assert_allclose(ga, gb, rtol=1e-6, err_msg=f"{tag} candidates differ beyond a tie")


def _check_feasible(core: BatchedResourceAllocationCore, res: object, rows: np.ndarray) -> None:
    serving = core.serving.numpy()[rows]
    rb, power = core.last_rb.numpy(), core.last_power.numpy()
    for j in range(len(rows)):
        on = serving[j] >= 0
        assert np.all(rb[j][on] >= 0) and np.all(rb[j][on] < core.n_rb)
        key = serving[j][on] * core.n_rb + rb[j][on]
        assert len(np.unique(key)) == len(key), "an RB of a BS serves at most one user"
        counts = np.bincount(serving[j][on], minlength=core.n_cells)
        assert counts.max(initial=0) <= core.cap
        p_bs = np.bincount(serving[j][on], weights=power[j][on], minlength=core.n_cells)
        assert np.all(p_bs <= core.p_max * (1 + 1e-9)), "power per BS <= P_max"
        assert np.all(power[j][~on] == 0.0)
    for x in (res.reward, res.cost):  # type: ignore[attr-defined]
        v = x.numpy()
        assert np.all(np.isfinite(v)) and np.all(v >= 0.0)


@pytest.mark.parametrize("config", [None, SMALL], ids=["toy", "small"])
def test_torch_channel_equals_numpy(config: dict | None) -> None:
    n = 3
    cn, ct = _pair(n, config)
    cn.reset(seed=11)
    ct.reset(seed=11)
    _check_channel(cn, ct, "reset")
    rng = np.random.default_rng(0)
    for t in range(4):
        a = rng.random((n, cn.n_users)) * (rng.random((n, cn.n_users)) < 0.8)
        rn, rt = cn.step(a), ct.step(a)
        np.testing.assert_array_equal(rn.terminated, rt.terminated)
        if not rn.terminated.any():  # the channel of the next step (an ended episode keeps its last one)
            _check_channel(cn, ct, f"step {t}")
        if rn.terminated.any():
            cn.reset(rows=rn.terminated)
            ct.reset(rows=rt.terminated)


@pytest.mark.parametrize("config", [None, SMALL], ids=["toy", "small"])
def test_torch_steps_are_feasible(config: dict | None) -> None:
    n = 3
    _, ct = _pair(n, config)
    ct.reset(seed=2)
    rng = np.random.default_rng(1)
    active = np.array([True, False, True])
    for t in range(6):
        act = active if t % 2 else None
        rows = np.flatnonzero(active) if act is not None else np.arange(n)
        res = ct.step(rng.random((n, ct.n_users)), active=act)
        _check_feasible(ct, res, rows)
        if res.terminated.any():
            ct.reset(rows=res.terminated)
    obs = ct.observation()
    assert set(obs) == {"time_left", "remaining_demand", "max_power", "gains", "association"}


def test_torch_throughput_close_to_numpy() -> None:
    """Over seeded toy episodes, the mean episode throughput of torch and numpy (fast solver) within 1 %."""
    n = 4
    cn, ct = _pair(n, {"task": {"episode_steps": 6}})
    totals = {}
    for core in (cn, ct):
        core.reset(seed=21)
        rng = np.random.default_rng(5)
        done = []
        while len(done) < 2 * n:
            res = core.step(rng.random((n, core.n_users)))
            if res.terminated.any():
                ep = res.episode["throughput_bw"]
                ep = ep.numpy() if hasattr(ep, "numpy") else ep
                done.extend(ep[res.terminated].tolist())
                core.reset(rows=res.terminated)
        totals[core.xp.name] = float(np.mean(done))
    assert totals["torch"] == pytest.approx(totals["numpy"], rel=0.01)


def test_torch_bad_input() -> None:
    with pytest.raises(ValueError, match="'numpy' only"):
        BatchedResourceAllocationCore(2, "toy", backend="torch")  # exact solver
    with pytest.raises(ValueError, match="threads = 2"):
        BatchedResourceAllocationCore(2, "toy", rb_solver="fast", backend="torch", device="cpu", threads=2)
    with pytest.raises(ValueError, match="device = 'tpu9'"):
        BatchedResourceAllocationCore(2, "toy", rb_solver="fast", backend="torch", device="tpu9")
    if not torch.cuda.is_available():
        with pytest.raises(ValueError, match="no CUDA device"):
            BatchedResourceAllocationCore(2, "toy", rb_solver="fast", backend="torch", device="cuda")
    with pytest.raises(ConfigError, match="'statistical'"):
        BatchedResourceAllocationCore(2, "toy", {"channel": {"model": "raytraced", "source": "bundled:helsinki"}},
                                      rb_solver="fast", backend="torch", device="cpu")
    core = BatchedResourceAllocationCore(2, "toy", SMALL, rb_solver="fast", backend="torch", device="cpu")
    core.reset(seed=0)
    with pytest.raises(ValueError, match=r"out of bounds; allowed range \[0.0, 1.0\]"):
        core.step(torch.full((2, 60), 1.5))
    with pytest.raises(ValueError, match=r"shape \(60,\), expected \(2, 60\)"):
        core.step(np.zeros(60))


def test_torch_vector_env() -> None:
    venv = gym.make_vec("mndt/ResourceAllocation-v0", num_envs=4, vectorization_mode="vector_entry_point",
                        scenario="toy", rb_solver="fast", backend="torch", device="cpu",
                        config={"task": {"episode_steps": 2}})
    obs, info = venv.reset(seed=0)
    assert venv.observation_space.contains(obs)
    assert all(isinstance(v, np.ndarray) for v in obs.values())
    venv.action_space.seed(0)
    for _ in range(4):  # an autoreset included
        obs, rew, term, trunc, info = venv.step(venv.action_space.sample())
        assert venv.observation_space.contains(obs)
        assert isinstance(rew, np.ndarray) and rew.shape == (4,) and np.all(np.isfinite(rew))
        assert term.dtype == bool and isinstance(info["cost"], np.ndarray)
    venv.close()
