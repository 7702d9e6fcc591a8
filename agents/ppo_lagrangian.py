"""PPO-Lagrangian for the resource-allocation CMDP (paper 002 §IV.A), on SB3's PPO.

The paper's policy outputs a per-user *single-step demand* and lets a matching decide
association and RBs; it is trained with a safe-RL method (P3O). Here:

* **Scale-free policy** (:class:`DemandPolicyWrapper`): a per-user single-step demand needs a
  policy that works for any number of users (train on ``toy``, evaluate on ``paper``), so the
  PPO policy sees 8 summary features of the network and outputs 4 parameters ``θ`` that are
  shared by all users::

      a_u = clip(exp(1.5 (θ0 + θ1 z_rate_u + θ2 z_urgency_u)) / steps_left, 0, 1)   (unfinished users)
      a_u = 1 for the top θ3-share of finished users by rate, else 0          (best-effort traffic)

  ``z_rate`` is the standardised log of the user's best full-load rate, ``z_urgency`` the
  standardised log of ``remaining / (steps_left · rate)``. ``θ = 0`` is exactly the
  equal-dividing baseline, so PPO starts from it (action mean 0) and learns deviations.
* **Lagrangian** (:class:`LagrangianReward` + :class:`DualAscentCallback`): the reward becomes
  ``r − λ c`` with ``c = 1 − satisfaction ratio`` at the episode's last step (0 before), and
  after every rollout ``λ ← max(0, λ + lr_λ (mean episode c − budget))`` (dual ascent).
  The default budget (0.02) leaves a margin below the paper's 5 % (target satisfaction ≥ 95 %).

Run ``python -m mndt_envs.agents.ppo_lagrangian --help``; the trained model is saved as an SB3 zip.
"""

from __future__ import annotations

import argparse
import time
import warnings
from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np
from gymnasium import spaces

from mndt_envs.tasks.resource_allocation import ResourceAllocationCore

# SB3's progress bar uses tqdm.rich, which warns that it is experimental on every bar
warnings.filterwarnings("ignore", message="rich is experimental")

__all__ = ["DemandPolicyWrapper", "LagrangianReward", "DualAscentCallback", "Multiplier", "fractions_from_theta",
           "summary_features", "PPOLagrangianAgent", "train", "STAGES"]

N_FEATURES = 8
N_THETA = 4
ACTION_BOUND = 3.0  # the policy outputs x in [-3, 3]; θ = tanh(x)

# (name, scenario, config, default steps): training curriculum
STAGES: list[tuple[str, str, dict[str, Any], int]] = [
    ("toy", "toy", {}, 2_000),
    ("toy-dense", "toy", {"users": {"n_users": 700}}, 8_000),
    # paper 002's density (2,000 users and 48 cells per km², 30/24 dBm) on 1 x 1 km, another twin seed
    ("mid", "paper", {"seed": 1, "width_m": 1000.0, "height_m": 1000.0,
                      "sites": {"n_sites": 4, "n_small_cells": 36}, "users": {"n_users": 2000}}, 8_000),
]


def _z(x: np.ndarray, mask: np.ndarray) -> np.ndarray:
    if mask.sum() < 2:
        return np.zeros_like(x)
    m, s = x[mask].mean(), x[mask].std()
    return (x - m) / (s + 1e-6)


def fractions_from_theta(core: ResourceAllocationCore, theta: np.ndarray) -> np.ndarray:
    """Per-user single-step demand fractions (the demand-mode action) from shared parameters ``θ``."""
    theta = np.tanh(np.asarray(theta, dtype=np.float64))  # squash: PPO's Box(-3, 3) clipping keeps gradients
    steps_left = max(core.steps_left, 1)
    rate = np.maximum(core.rate_est.max(axis=0), 1.0)  # (n_users,) [bit] best full-load rate in a step
    unfinished = core.remaining > 0
    lr = np.log(rate)
    lu = np.log((core.remaining + 1.0) / (steps_left * rate))
    expo = 1.5 * (theta[0] + theta[1] * _z(lr, unfinished) + theta[2] * _z(lu, unfinished))
    a = np.where(unfinished, np.clip(np.exp(np.minimum(expo, 30.0)) / steps_left, 0.0, 1.0), 0.0)
    q = float(np.clip(theta[3], 0.0, 1.0))
    fin = ~unfinished
    if q > 0 and fin.any():
        thr = np.quantile(lr[fin], 1.0 - q)
        a = np.where(fin & (lr >= thr), 1.0, a)
    return a.astype(np.float32)


def summary_features(core: ResourceAllocationCore) -> np.ndarray:
    """8 scale-free features of the network state (and of its last step), in [0, 1]."""
    last_info = core.last_info
    total = max(float(core.total.sum()), 1e-12)
    unfinished = core.remaining > 0
    rate = np.maximum(core.rate_est.max(axis=0), 1.0)
    slots = core.cap * core.n_cells
    f = [
        core.steps_left / core.cfg.episode_steps,
        float(core.remaining.sum()) / total,
        float(core.satisfied.sum()) / total,
        float(unfinished.mean()),
        float(np.clip(np.log2(rate / (core.bw * core.cfg.step_s) + 1.0).mean() / 8.0, 0.0, 1.0)),
        float(np.clip(unfinished.sum() / slots / 3.0, 0.0, 1.0)),
        float(np.clip((last_info or {}).get("served_users", 0) / core.n_users, 0.0, 1.0)),
        float(np.clip(10.0 * (last_info or {}).get("cost", 0.0), 0.0, 1.0)),
    ]
    return np.asarray(f, dtype=np.float32)


class DemandPolicyWrapper(gym.Wrapper):  # type: ignore[type-arg]
    """Scale-free view of ``mndt/ResourceAllocation-v0`` (demand mode) for SB3.

    Observation ``Box(0, 1, (8,))`` (see :func:`summary_features`), action ``Box(-3, 3, (4,))``
    (``x``, ``θ = tanh(x)``, see :func:`fractions_from_theta`). Reward: the step's throughput divided by the
    episode's total demand (both in bits), so an episode's return is throughput / demand.
    ``info["lag_cost"]`` = 1 − satisfaction ratio at the last step, 0 before.
    """

    def __init__(self, env: gym.Env) -> None:  # type: ignore[type-arg]
        super().__init__(env)
        self.core: ResourceAllocationCore = env.unwrapped.core  # type: ignore[attr-defined]
        if self.core.cfg.action_mode != "demand":
            raise ValueError("DemandPolicyWrapper needs task.action_mode = 'demand'")
        self.observation_space = spaces.Box(0.0, 1.0, (N_FEATURES,), np.float32)
        self.action_space = spaces.Box(-ACTION_BOUND, ACTION_BOUND, (N_THETA,), np.float32)

    def reset(self, **kwargs: Any) -> tuple[np.ndarray, dict[str, Any]]:
        _, info = self.env.reset(**kwargs)
        return summary_features(self.core), info

    def step(self, action: Any) -> tuple[np.ndarray, float, bool, bool, dict[str, Any]]:
        frac = fractions_from_theta(self.core, np.asarray(action))
        _, _, term, trunc, info = self.env.step(frac)
        reward = info["throughput_bw"] * self.core.bw / max(info["episode_demand_bits"], 1e-12)
        info["lag_cost"] = (1.0 - info["satisfaction_ratio"]) if term else 0.0
        return summary_features(self.core), float(reward), term, trunc, info


class Multiplier:
    """The Lagrange multiplier λ, shared by the reward wrapper and the dual-ascent callback."""

    def __init__(self, value: float = 0.0) -> None:
        self.value = value


class LagrangianReward(gym.Wrapper):  # type: ignore[type-arg]
    """Reward ``r − λ · info["lag_cost"]``; ``info["raw_reward"]`` keeps ``r``."""

    def __init__(self, env: gym.Env, lam: Multiplier) -> None:  # type: ignore[type-arg]
        super().__init__(env)
        self.lam = lam

    def step(self, action: Any) -> tuple[Any, float, bool, bool, dict[str, Any]]:
        obs, r, term, trunc, info = self.env.step(action)
        info["raw_reward"] = r
        return obs, float(r - self.lam.value * info["lag_cost"]), term, trunc, info


def _callback_cls() -> Any:
    from stable_baselines3.common.callbacks import BaseCallback

    class _DualAscent(BaseCallback):  # type: ignore[misc]
        def __init__(self, lam: Multiplier, budget: float, lr: float, log: list[dict[str, float]]) -> None:
            super().__init__()
            self.lam, self.budget, self.lr, self.log = lam, budget, lr, log
            self.costs: list[float] = []
            self.returns: list[float] = []

        def _on_step(self) -> bool:
            for info in self.locals["infos"]:
                if "episode_metrics" in info:
                    self.costs.append(1.0 - info["episode_metrics"]["satisfaction_ratio"])
                    self.returns.append(info["episode_metrics"]["throughput_bw"])
            return True

        def _on_rollout_end(self) -> None:
            if self.costs:
                c = float(np.mean(self.costs))
                self.lam.value = max(0.0, self.lam.value + self.lr * (c - self.budget))
                self.log.append({"timesteps": float(self.num_timesteps), "cost": c, "lambda": self.lam.value,
                                 "throughput_bw": float(np.mean(self.returns))})
                self.logger.record("lagrangian/lambda", self.lam.value)
                self.logger.record("lagrangian/episode_cost", c)
            self.costs, self.returns = [], []

    return _DualAscent


def DualAscentCallback(lam: Multiplier, budget: float = 0.02, lr: float = 200.0,  # noqa: N802 - factory
                       log: list[dict[str, float]] | None = None) -> Any:
    """SB3 callback: ``λ ← max(0, λ + lr (mean episode cost − budget))`` after each rollout."""
    return _callback_cls()(lam, budget, lr, log if log is not None else [])


class PPOLagrangianAgent:
    """A trained model used on a raw demand-mode env (any size): SB3-style ``predict``.

    Args:
        env: the ``mndt/ResourceAllocation-v0`` env (demand mode), possibly wrapped.
        model: an SB3 ``PPO`` trained on :class:`DemandPolicyWrapper`, or a path to its zip.
    """

    def __init__(self, env: gym.Env, model: Any) -> None:  # type: ignore[type-arg]
        if isinstance(model, (str, Path)):
            from stable_baselines3 import PPO

            model = PPO.load(str(model), device="cpu")
        self.model = model
        self.core: ResourceAllocationCore = env.unwrapped.core  # type: ignore[attr-defined]

    def predict(self, observation: Any, state: Any = None, episode_start: Any = None,
                deterministic: bool = True) -> tuple[np.ndarray, None]:
        """Demand fractions for the current step."""
        theta, _ = self.model.predict(summary_features(self.core), deterministic=deterministic)
        return fractions_from_theta(self.core, theta), None


def make_env(scenario: str, config: dict[str, Any], lam: Multiplier) -> gym.Env:  # type: ignore[type-arg]
    """Wrapped training env."""
    import mndt_envs  # noqa: F401 - registers the ids

    env = gym.make("mndt/ResourceAllocation-v0", scenario=scenario, config=config)
    return LagrangianReward(DemandPolicyWrapper(env), lam)


def train(out: Path, stages: list[tuple[str, str, dict[str, Any], int]] | None = None, seed: int = 0,
          budget: float = 0.02, lam_lr: float = 200.0, init: Path | None = None,
          progress: bool = True) -> tuple[Any, list[dict[str, float]]]:
    """Train PPO-Lagrangian through the curriculum ``stages``; save ``out`` (SB3 zip); ``progress``: SB3's bar.

    ``init``: continue from a saved model (λ starts again at 0).

    Returns:
        (model, log of (timesteps, episode cost, λ, throughput) after each rollout).
    """
    import torch
    from stable_baselines3 import PPO
    from stable_baselines3.common.vec_env import DummyVecEnv

    torch.set_num_threads(1)
    lam = Multiplier(0.0)
    log: list[dict[str, float]] = []
    model = PPO.load(str(init), device="cpu") if init else None
    for name, scen, cfg, steps in stages or STAGES:
        if steps <= 0:
            continue
        t0 = time.perf_counter()
        def _factory(s: str = scen, c: dict[str, Any] = cfg) -> gym.Env:
            return make_env(s, c, lam)

        venv = DummyVecEnv([_factory])
        venv.seed(seed)
        if model is None:
            model = PPO("MlpPolicy", venv, n_steps=200, batch_size=100, n_epochs=10, learning_rate=1e-3,
                        gamma=0.99, gae_lambda=0.95, ent_coef=0.0, policy_kwargs={"net_arch": [32, 32],
                                                                                  "log_std_init": -1.0},
                        seed=seed, device="cpu", verbose=0)
        else:
            model.set_env(venv)
        print(f"stage {name}: {steps} steps on {scen!r}", flush=True)
        model.learn(total_timesteps=steps, callback=DualAscentCallback(lam, budget, lam_lr, log),
                    reset_num_timesteps=False, progress_bar=progress)
        last = log[-1] if log else {}
        print(f"stage {name}: {steps} steps in {time.perf_counter() - t0:.0f}s; last rollout {last}", flush=True)
    assert model is not None
    out.parent.mkdir(parents=True, exist_ok=True)
    model.save(str(out))
    return model, log


def main(argv: list[str] | None = None) -> None:
    """Command line: train and save the model and the λ/cost log."""
    import json

    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--out", type=Path, default=Path("runs/resource_allocation/ppo_lagrangian.zip"))
    for name, _, _, steps in STAGES:
        p.add_argument(f"--steps-{name}", type=int, default=steps, help=f"timesteps on stage {name!r}")
    p.add_argument("--budget", type=float, default=0.02, help="budget on 1 - satisfaction ratio")
    p.add_argument("--lam-lr", type=float, default=200.0)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--init", type=Path, default=None, help="continue training this saved model")
    a = p.parse_args(argv)
    stages = [(n, s, c, getattr(a, f"steps_{n.replace('-', '_')}")) for n, s, c, _ in STAGES]
    _, log = train(a.out, stages, a.seed, a.budget, a.lam_lr, a.init)
    a.out.with_suffix(".log.json").write_text(json.dumps(log, indent=1))
    print(f"saved {a.out}")


if __name__ == "__main__":
    main()
