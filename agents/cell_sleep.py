"""Shared-policy PPO across cells for cell sleep (paper 002 §IV.B), with action masks.

One policy, value network and experience buffer shared by every cell (parameter sharing): the
PettingZoo env ``cell_sleep_v0`` is viewed as an SB3 ``VecEnv`` whose sub-environments are the
cells (:class:`CellAgentsVecEnv`, our equivalent of SuperSuit's ``pettingzoo_env_to_vec_env``),
and sb3-contrib's ``MaskablePPO`` is trained on it, reading each cell's legal actions through
``env_method("action_masks")``. Each cell is rewarded with its own power, its share of its
site's power and its own switching cost (the paper's per-agent reward); the policy sees the
cell's features, which include the paper's two masks (the paper gives the masks to the value
network only; here both networks see them).

As in the paper the agent is trained on day 1 (``days=1``) and evaluated on the week
(``days=7``). The script trains, evaluates the agent and the three baselines over the week,
writes the README table (weekly kWh, % saved vs always-on, unserved traffic, switches) and the
Fig. 4 analogue (power and traffic over the week)::

    python -m mndt_envs.agents.cell_sleep --timesteps 300000          # outputs under runs/cell_sleep
"""

from __future__ import annotations

import argparse
import json
import pathlib
import time
import warnings
from typing import Any

import numpy as np
from gymnasium import spaces

from .vec_env import ParallelAgentsVecEnv

# SB3's progress bar uses tqdm.rich, which warns that it is experimental on every bar
warnings.filterwarnings("ignore", message="rich is experimental")

__all__ = ["CellAgentsVecEnv", "SharedPolicy", "train", "evaluate", "main"]


class CellAgentsVecEnv(ParallelAgentsVecEnv):
    """A PettingZoo cell-sleep ``ParallelEnv`` as an SB3 ``VecEnv`` with one sub-env per cell.

    Observations are the agents' ``"observation"`` features (n_cells, 22); masks come from
    ``env_method("action_masks")`` (MaskablePPO's interface).
    """

    def __init__(self, penv: Any, seed: int = 0) -> None:
        super().__init__(penv, seed, obs_key="observation",
                         action_space=spaces.Discrete(penv.action_space(penv.possible_agents[0]).n))

    def action_masks(self) -> np.ndarray:
        return self.penv.action_masks().astype(bool)

    def env_method(self, method_name: str, *args: Any, indices: Any = None, **kwargs: Any) -> list[Any]:
        if method_name == "action_masks":
            m = self.action_masks()
            return [m[i] for i in self._idx(indices)]
        return super().env_method(method_name, *args, indices=indices, **kwargs)

    def has_attr(self, attr_name: str) -> bool:
        return attr_name == "action_masks" or hasattr(self.penv, attr_name)

    def seed(self, seed: int | None = None) -> list[Any]:
        self._seed = seed
        return [seed for _ in range(self.num_envs)]

    def close(self) -> None:
        self.penv.close()

    def get_images(self) -> list[Any]:
        return []


class SharedPolicy:
    """The trained shared policy as a baseline-style policy for the single-agent env.

    ``predict`` takes the single-agent observation (``"observation"`` (n_cells, 22) and the
    flattened ``"action_mask"``) and returns one action per cell.
    """

    def __init__(self, model: Any) -> None:
        self.model = model

    def predict(self, observation: dict[str, np.ndarray], state: Any = None, episode_start: Any = None,
                deterministic: bool = True) -> tuple[np.ndarray, None]:
        feats = np.asarray(observation["observation"])
        masks = np.asarray(observation["action_mask"]).reshape(len(feats), -1).astype(bool)
        act, _ = self.model.predict(feats, deterministic=deterministic, action_masks=masks)
        return np.asarray(act, dtype=np.int64), None


def train(scenario: str = "toy", timesteps: int = 300_000, seed: int = 0, log: pathlib.Path | None = None,
          config: dict[str, Any] | None = None, progress: bool = True) -> Any:
    """Train MaskablePPO with parameter sharing on day 1 (``days=1``); ``progress`` shows SB3's progress bar."""
    import torch
    from sb3_contrib import MaskablePPO

    from mndt_envs.parallel.cell_sleep import CellSleepParallelEnv

    torch.set_num_threads(1)
    cfg = dict(config or {})
    cfg["task"] = {**cfg.get("task", {}), "days": 1, "start_day": 0}
    penv = CellSleepParallelEnv(scenario, cfg)
    venv = CellAgentsVecEnv(penv, seed=seed)
    n = venv.num_envs
    n_steps = max(8, 2048 // n)  # ~2k samples per rollout
    model = MaskablePPO("MlpPolicy", venv, n_steps=n_steps, batch_size=256, n_epochs=5, learning_rate=3e-4,
                        gamma=0.95, gae_lambda=0.9, ent_coef=0.01, seed=seed, verbose=0,
                        policy_kwargs={"net_arch": [64, 64]}, device="cpu")
    from stable_baselines3.common.callbacks import BaseCallback

    t0 = time.time()
    every = max(n * n_steps, timesteps // 20)

    class _Log(BaseCallback):
        """Append elapsed time and samples to ``log`` about every ``every`` samples."""

        def __init__(self) -> None:
            super().__init__()
            self.next = every

        def _on_step(self) -> bool:
            if log is not None and self.num_timesteps >= self.next:
                self.next += every
                with log.open("a") as f:
                    f.write(f"{time.time() - t0:7.1f}s {self.num_timesteps} samples\n")
            return True

    model.learn(timesteps, callback=_Log(), progress_bar=progress)
    return model


def evaluate(scenario: str, policies: dict[str, Any], seed: int = 0, days: int = 7,
             config: dict[str, Any] | None = None) -> dict[str, dict[str, Any]]:
    """Run each policy factory ``fn(env) -> policy`` over ``days`` days on the single-agent env."""
    import gymnasium as gym

    import mndt_envs  # noqa: F401
    from mndt_envs.demos.cell_sleep import run_policy

    cfg = dict(config or {})
    cfg["task"] = {**cfg.get("task", {}), "days": days, "start_day": 0}
    out = {}
    for name, make in policies.items():
        env = gym.make("mndt/CellSleep-v0", scenario=scenario, config=cfg)
        out[name] = run_policy(env, make(env), seed=seed)
        env.close()
    return out


def markdown_table(results: dict[str, dict[str, Any]]) -> str:
    """The README table: weekly kWh, % saved vs always-on, unserved traffic, switches."""
    lines = ["| policy | energy [kWh] | saved vs always-on | unserved [Gbit] | unserved [% of demand] | cell switches "
             "| site switches | mean cells on |",
             "|---|---:|---:|---:|---:|---:|---:|---:|"]
    for name, res in results.items():
        m = res["metrics"]
        saved = round(m["saved_pct"], 1) + 0.0  # no "-0.0"
        lines.append(f"| {name} | {m['energy_kwh']:.1f} | {saved:.1f} % | {m['unserved_gbit']:.1f} | "
                     f"{m['unserved_pct']:.3f} | {m['switches']:.0f} | {m['site_switches']:.0f} | "
                     f"{m['mean_cells_on']:.1f} |")
    return "\n".join(lines)


def render_snapshot(scenario: str, policy: Any, path: pathlib.Path, seed: int = 0, step: int = 8) -> None:
    """Run ``policy`` for ``step`` steps of day 1 (default to 04:00) and save the rendered map."""
    import gymnasium as gym
    import matplotlib.pyplot as plt

    import mndt_envs  # noqa: F401

    env = gym.make("mndt/CellSleep-v0", scenario=scenario, config={"task": {"days": 1}}, render_mode="rgb_array")
    obs, _ = env.reset(seed=seed)
    for _ in range(step):
        obs, *_ = env.step(policy.predict(obs)[0])
    frame: Any = env.render()
    assert isinstance(frame, np.ndarray)
    plt.imsave(path, frame)
    env.close()


def main(argv: list[str] | None = None) -> None:
    """Train on day 1, evaluate agent + baselines on the week, write table, JSON and PNG."""
    from mndt_envs.baselines.cell_sleep import AlwaysOn, LoadThreshold, MinimalCells
    from mndt_envs.demos.cell_sleep import plot_week

    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--scenario", default="toy")
    p.add_argument("--timesteps", type=int, default=300_000, help="agent samples (cells x steps)")
    p.add_argument("--seed", type=int, default=0, help="training seed")
    p.add_argument("--eval-seed", type=int, default=1000, help="seed of the evaluation week")
    p.add_argument("--out", type=pathlib.Path, default=pathlib.Path("runs/cell_sleep"),
                   help="tables and figures (the docs' copies live in docs/img)")
    p.add_argument("--model", type=pathlib.Path, default=pathlib.Path("runs/cell_sleep/cell_sleep_ppo.zip"))
    p.add_argument("--load", action="store_true", help="load --model instead of training")
    args = p.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    args.model.parent.mkdir(parents=True, exist_ok=True)
    t0 = time.time()
    if args.load:
        from sb3_contrib import MaskablePPO

        model = MaskablePPO.load(args.model, device="cpu")
    else:
        model = train(args.scenario, args.timesteps, args.seed, log=args.model.with_suffix(".log"))
        model.save(args.model)
    t_train = time.time() - t0
    policies = {"always_on": AlwaysOn, "min_cells": MinimalCells, "load_threshold": LoadThreshold,
                "shared_ppo": lambda env: SharedPolicy(model)}
    res = evaluate(args.scenario, policies, seed=args.eval_seed)
    table = markdown_table(res)
    print(table)
    stem = f"cell_sleep_week_{args.scenario}"
    (args.out / f"{stem}.md").write_text(table + "\n")
    (args.out / f"{stem}.json").write_text(json.dumps(
        {"scenario": args.scenario, "timesteps": None if args.load else args.timesteps, "train_seed": args.seed,
         "eval_seed": args.eval_seed, "train_s": None if args.load else t_train,
         "metrics": {k: v["metrics"] for k, v in res.items()}}, indent=1))
    plot_week(res, args.out / f"{stem}.png")
    render_snapshot(args.scenario, SharedPolicy(model), args.out / f"cell_sleep_map_{args.scenario}.png",
                    seed=args.eval_seed)
    print(f"train {t_train:.0f} s; wrote {args.out / stem}.md/.json/.png")


if __name__ == "__main__":
    main()
