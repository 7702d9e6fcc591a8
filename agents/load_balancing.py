"""Shared-policy PPO over antennas for CPICH load balancing, compared with BDBA/BFDBA on the same days.

Every antenna of ``load_balancing_v0`` is one agent; all agents share one SB3 PPO policy (and value
network and experience), by presenting the antennas as the sub-environments of an SB3 ``VecEnv``
(:class:`AntennaVecEnv`). Each agent sees its own and its neighbours' busy degrees and powers, its
neighbourhood coverage and the hour of day, and outputs its own power change [dB]. Every agent gets the
team reward (``-std(b) - penalty · over-busy share``).

Evaluation runs the trained policy and the baselines in ``mndt/LoadBalancing-v0`` on the same seeded
days (same users and MR data for every policy).

Run: ``python -m mndt_envs.agents.load_balancing --timesteps 200000`` (outputs under ``runs/load_balancing``)
"""

from __future__ import annotations

import argparse
import copy
import json
import time
import warnings
from pathlib import Path
from typing import Any

import numpy as np

from .vec_env import ParallelAgentsVecEnv

# SB3's progress bar uses tqdm.rich, which warns that it is experimental on every bar
warnings.filterwarnings("ignore", message="rich is experimental")

__all__ = ["AntennaVecEnv", "SharedPolicy", "train", "evaluate", "main"]

DEFAULT_ENV: dict[str, Any] = {"scenario": "toy", "config": {"users": {"n_users": 2000}, "task": {}}}


class AntennaVecEnv(ParallelAgentsVecEnv):
    """SB3 ``VecEnv`` view of ``load_balancing_v0``: sub-environment ``i`` is antenna ``i``.

    Args:
        env_kwargs: ``scenario``/``config`` of the parallel env.
        seed: seed of the first reset (later resets continue the env's generator).
        reward: ``"team"`` (every antenna gets the env's team reward) or ``"local"`` (training-time
            shaping for credit assignment: antenna ``i`` gets ``-|b_i - b*_i| - penalty·[b_i >= b_over]``
            with the task's target ``b*``; evaluation always uses the env's team metrics).
    """

    def __init__(self, env_kwargs: dict[str, Any] | None = None, seed: int = 0, reward: str = "team") -> None:
        from mndt_envs.parallel.load_balancing import LoadBalancingParallelEnv

        if reward not in ("team", "local"):
            raise ValueError(f"reward = {reward!r}: allowed values are 'team', 'local'")
        self.reward = reward
        super().__init__(LoadBalancingParallelEnv(**(env_kwargs or DEFAULT_ENV)), seed)

    def _agent_actions(self, actions: np.ndarray) -> dict[str, Any]:
        return {a: actions[i].reshape(1) for i, a in enumerate(self.agents)}

    def _rewards(self, rew: dict[str, float]) -> np.ndarray:
        if self.reward == "team":
            return super()._rewards(rew)
        from mndt_envs.tasks.load_balancing import target_busy_degree

        core = self.penv.core
        b = core.busy
        tgt = target_busy_degree(b, core.cfg.target, core.adjacency)
        return (-np.abs(b - tgt) - core.cfg.over_busy_penalty * (b >= core.cfg.b_over)).astype(np.float32)


class SharedPolicy:
    """A trained shared per-antenna policy used as a controller of the single-agent env (SB3 ``predict``)."""

    def __init__(self, env: Any, model: Any) -> None:
        self.core = env.unwrapped.core
        self.model = model

    def predict(self, observation: Any, state: Any = None, episode_start: Any = None,
                deterministic: bool = True) -> tuple[np.ndarray, None]:
        obs = np.clip(self.core.agent_obs(), self.model.observation_space.low, self.model.observation_space.high)
        act, _ = self.model.predict(obs, deterministic=deterministic)
        return np.asarray(act, dtype=np.float32).reshape(-1), None


def train(timesteps: int, env_kwargs: dict[str, Any] | None = None, seed: int = 0, log: str | None = None,
          reward: str = "team", progress: bool = True) -> Any:
    """Train shared-policy PPO; ``timesteps`` counts agent-steps (antennas × periods); ``progress``: SB3's bar."""
    import torch
    from stable_baselines3 import PPO

    torch.set_num_threads(1)
    venv = AntennaVecEnv(env_kwargs, seed=seed, reward=reward)
    model = PPO("MlpPolicy", venv, n_steps=48, batch_size=max(12 * venv.num_envs, 64), n_epochs=10,
                learning_rate=3e-4, gamma=0.9, gae_lambda=0.9, ent_coef=0.0,
                policy_kwargs={"net_arch": [64, 64], "log_std_init": -0.5},
                seed=seed, verbose=0, device="cpu")
    model.learn(total_timesteps=timesteps, progress_bar=progress)
    if log:
        model.save(log)
    return model


def evaluate(model: Any, seeds: list[int], env_kwargs: dict[str, Any] | None = None) -> dict[str, Any]:
    """Mean day metrics of the PPO policy and the baselines on the same seeded days."""
    import gymnasium as gym

    import mndt_envs  # noqa: F401
    from mndt_envs.baselines.load_balancing import BDBA, BFDBA, Static

    kw = env_kwargs or DEFAULT_ENV
    pols: list[tuple[str, Any]] = [("static", Static), ("BDBA", BDBA), ("BFDBA", BFDBA),
                                   ("PPO (shared)", lambda e: SharedPolicy(e, model))]
    out: dict[str, list[dict[str, float]]] = {name: [] for name, _ in pols}
    for seed in seeds:
        env0 = gym.make("mndt/LoadBalancing-v0", **kw)
        env0.reset(seed=seed)
        for name, cls in pols:
            env = copy.deepcopy(env0)
            pol = cls(env)
            obs, done, ret, t = env.unwrapped.core.global_obs(), False, 0.0, []  # type: ignore[attr-defined]
            info: dict[str, Any] = {}
            while not done:
                t0 = time.perf_counter()
                act, _ = pol.predict(obs)
                t.append(time.perf_counter() - t0)
                obs, r, term, trunc, info = env.step(act)
                ret += float(r)
                done = term or trunc
            out[name].append({**info["episode_metrics"], "return": ret, "ms_per_period": 1e3 * float(np.median(t))})
    return {name: {k: float(np.mean([r[k] for r in runs])) for k in runs[0]} for name, runs in out.items()}


def main() -> None:
    """Train, evaluate against the baselines on the same days, write ``lb_agent.md``/``.json``."""
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--timesteps", type=int, default=200_000, help="agent-steps (antennas × periods)")
    ap.add_argument("--eval-seeds", type=int, nargs="+", default=[100, 101, 102])
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--reward", choices=["team", "local"], default="team", help="training reward per antenna")
    ap.add_argument("--out", default="runs/load_balancing", help="tables (the docs' copies live in docs/img)")
    ap.add_argument("--model", default="runs/load_balancing/lb_ppo_shared.zip")
    args = ap.parse_args()
    Path(args.model).parent.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    model = train(args.timesteps, seed=args.seed, log=args.model, reward=args.reward)
    t_train = time.perf_counter() - t0
    res = evaluate(model, args.eval_seeds)
    lines = [f"Shared-policy PPO over antennas ({args.timesteps:,} agent-steps, {args.reward} training reward, "
             f"{t_train / 60:.1f} min on 1 CPU thread), dense scenario, evaluation days (seeds) {args.eval_seeds}:", "",
             "| policy | day return | mean std(b) | mean over-busy share | min coverage | ms / period |",
             "|---|---|---|---|---|---|"]
    for name, m in res.items():
        lines.append(f"| {name} | {m['return']:.3f} | {m['mean_std_busy']:.4f} | {m['mean_over_busy_share']:.4f} | "
                     f"{m['min_coverage']:.4f} | {m['ms_per_period']:.2f} |")
    text = "\n".join(lines)
    print(text)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "lb_agent.md").write_text(text + "\n")
    summary = {"timesteps": args.timesteps, "reward": args.reward, "train_s": t_train, "results": res}
    (out / "lb_agent.json").write_text(json.dumps(summary, indent=1))


if __name__ == "__main__":
    main()
