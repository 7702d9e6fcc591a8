"""``mndt train``: train a policy on any suite env with SB3 (one machine) or RLlib (one machine or a Ray cluster).

A run writes, under ``--out`` (default ``runs/train/<env>-<backend>``):

* ``train.json``: what was trained (env, backend, env kwargs, sizes, time) — what
  ``mndt compare --policy DIR`` reads to evaluate the run;
* ``checkpoint/`` (RLlib, ``Algorithm.save_to_path``) or ``model.zip`` (SB3), refreshed every
  ``--checkpoint-every`` rows and at the end;
* ``curve.csv``: one row per RLlib iteration / SB3 rollout: env and agent steps, wall time,
  steps/s, mean episode return and cost of the episodes finished since the last row, and the
  task's own episode metrics;
* ``curve.png``: return, cost and the task's headline metric against env steps.

Names: a Gymnasium id (``mndt/CellSleep-v0``, single-agent) or a parallel name
(``cell_sleep_v0``, multi-agent, one policy shared by the agents of a kind).
"""

from __future__ import annotations

import csv
import json
import math
import time
from pathlib import Path
from typing import Any

import numpy as np
import typer
from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

from .cli_output import config_option
from .integrations.common import agent_kind, is_multi_agent, scalars, step_cost, step_reward
from .registration import task as task_spec
from .twin.cache import atomic_path

__all__ = ["train", "load_policy", "evaluate_run", "HEADLINE"]

console = Console()

#: The task metric plotted beside return and cost.
HEADLINE = {"cell_sleep": "saved_pct", "load_balancing": "mean_std_busy", "resource_allocation": "satisfaction_ratio"}


def _is_multi(name: str) -> bool:
    try:
        return is_multi_agent(name)
    except KeyError as exc:
        raise typer.BadParameter(str(exc.args[0])) from None


# --------------------------------------------------------------------------------------------- envs for SB3

def _sb3_env(name: str, kwargs: dict[str, Any], seed: int) -> Any:
    """The SB3 VecEnv of a run: shared-policy VecEnv over the agents, or a one-env DummyVecEnv."""
    if _is_multi(name):
        from .agents.vec_env import ParallelAgentsVecEnv
        from .integrations.supersuit import prepare_parallel_env

        return ParallelAgentsVecEnv(prepare_parallel_env(name, **kwargs), seed=seed)
    from stable_baselines3.common.vec_env import DummyVecEnv

    return DummyVecEnv([lambda: _sb3_single(name, kwargs)])


def _sb3_single(name: str, kwargs: dict[str, Any]) -> Any:
    import gymnasium as gym

    from .wrappers.flat_action import FlatAction, needs_flat_action

    env = gym.make(name, **kwargs)
    if needs_flat_action(env.action_space):
        env = FlatAction(env)
    return env


def _has_masks(venv: Any) -> bool:
    from gymnasium import spaces

    sp = venv.observation_space
    return bool(getattr(venv, "mask_key", None)) or (isinstance(sp, spaces.Dict) and "action_mask" in sp.spaces)


# --------------------------------------------------------------------------------------------- curve

class _Curve:
    """Rows of the learning curve, written to CSV as they come (columns grow with new metrics)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.rows: list[dict[str, Any]] = []

    def add(self, row: dict[str, Any]) -> None:
        self.rows.append(row)
        keys: list[str] = []
        for r in self.rows:
            keys += [k for k in r if k not in keys]
        with atomic_path(self.path) as tmp, tmp.open("w", newline="") as fh:
            w = csv.DictWriter(fh, fieldnames=keys)
            w.writeheader()
            w.writerows(self.rows)

    def plot(self, path: Path, title: str, headline: str | None) -> None:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        cols = ["return", "cost"] + ([headline] if headline else [])
        fig, axes = plt.subplots(1, len(cols), figsize=(4.2 * len(cols), 3.3), squeeze=False)
        x = [r["env_steps"] for r in self.rows]
        for ax, c in zip(axes[0], cols):
            y = [r.get(c, float("nan")) for r in self.rows]
            ax.plot(x, [float("nan") if v is None else v for v in y], marker=".")
            ax.set_xlabel("env steps")
            ax.set_ylabel(c.replace("_", " "))
            ax.grid(alpha=0.3)
        fig.suptitle(title)
        fig.tight_layout()
        with atomic_path(path) as tmp:
            fig.savefig(tmp, dpi=110)
        plt.close(fig)


def _progress() -> Progress:
    return Progress(TextColumn("[bold]{task.description}"), BarColumn(), TextColumn("{task.completed:,.0f}/"
                    "{task.total:,.0f} env steps"), TextColumn("{task.fields[status]}"), TimeElapsedColumn(),
                    TimeRemainingColumn(), console=console, transient=False)


# --------------------------------------------------------------------------------------------- RLlib backend

def _ray_init(address: str, num_env_runners: int) -> None:
    import os

    import ray

    if ray.is_initialized():
        return
    if address == "local":
        ray.init(num_cpus=max(os.cpu_count() or 1, num_env_runners), include_dashboard=False, log_to_driver=False)
    elif address == "auto" or address.startswith("ray://") or ":" in address:
        ray.init(address=address, log_to_driver=False)
    else:
        raise typer.BadParameter(f"--address {address!r}: use 'local', 'auto', 'ray://<head>:10001' or '<head>:6379'")


def _train_rllib(name: str, kwargs: dict[str, Any], out: Path, env_steps: int, time_budget: float, seed: int,
                 num_env_runners: int, num_envs_per_env_runner: int, train_batch_size: int, minibatch_size: int,
                 num_epochs: int, lr: float, address: str, checkpoint_every: int, curve: _Curve) -> dict[str, Any]:
    from .integrations.rllib import ppo_config

    _ray_init(address, num_env_runners)
    cfg = ppo_config(name, kwargs, num_env_runners=num_env_runners, num_envs_per_env_runner=num_envs_per_env_runner,
                     train_batch_size=train_batch_size, minibatch_size=minibatch_size, num_epochs=num_epochs, lr=lr,
                     seed=seed)
    algo = cfg.build_algo()
    ckpt = (out / "checkpoint").resolve()
    t0 = time.perf_counter()
    done = 0
    it = 0
    with _progress() as prog:
        bar = prog.add_task(f"rllib {name}", total=env_steps, status="")
        while done < env_steps and (time_budget <= 0 or time.perf_counter() - t0 < time_budget):
            res = algo.train()
            it += 1
            er = res.get("env_runners", {})
            done = int(er.get("num_env_steps_sampled_lifetime", done))
            agents = er.get("num_agent_steps_sampled_lifetime", done)
            agent_steps = int(sum(agents.values())) if isinstance(agents, dict) else int(agents)
            wall = time.perf_counter() - t0
            row: dict[str, Any] = {"iteration": it, "env_steps": done, "agent_steps": agent_steps,
                                   "time_s": round(wall, 2), "env_steps_per_s": round(done / max(wall, 1e-9), 1),
                                   "return": _num(er.get("episode_return_mean")),
                                   "cost": _num(er.get("mndt/cost"))}
            row.update({k.removeprefix("mndt/"): _num(v) for k, v in er.items()
                        if k.startswith("mndt/") and k != "mndt/cost"})
            curve.add(row)
            if checkpoint_every and it % checkpoint_every == 0:
                algo.save_to_path(str(ckpt))
            prog.update(bar, completed=min(done, env_steps),
                        status=f"it {it}  return {_fmt(row['return'])}  cost {_fmt(row['cost'])}")
    algo.save_to_path(str(ckpt))
    algo.stop()
    return {"iterations": it, "env_steps": done, "train_s": time.perf_counter() - t0, "checkpoint": "checkpoint"}


def _num(v: Any) -> float | None:
    try:
        f = float(v)
    except (TypeError, ValueError):
        return None
    return None if math.isnan(f) else f


def _fmt(v: Any) -> str:
    return "–" if v is None else f"{v:.4g}"


# --------------------------------------------------------------------------------------------- SB3 backend

def _train_sb3(name: str, kwargs: dict[str, Any], out: Path, env_steps: int, time_budget: float, seed: int,
               train_batch_size: int, minibatch_size: int, num_epochs: int, lr: float, checkpoint_every: int,
               curve: _Curve) -> dict[str, Any]:
    import torch
    from stable_baselines3 import PPO
    from stable_baselines3.common.callbacks import BaseCallback

    torch.set_num_threads(1)
    multi = _is_multi(name)
    venv = _sb3_env(name, kwargs, seed)
    n = venv.num_envs
    masked = _has_masks(venv)
    from gymnasium import spaces

    policy = "MultiInputPolicy" if isinstance(venv.observation_space, spaces.Dict) else "MlpPolicy"
    n_steps = max(8, -(-train_batch_size // n))
    batch = min(minibatch_size, n_steps * n)
    common = {"n_steps": n_steps, "batch_size": batch, "n_epochs": num_epochs, "learning_rate": lr, "gamma": 0.95,
              "gae_lambda": 0.9, "ent_coef": 0.01, "seed": seed, "verbose": 0, "device": "cpu",
              "policy_kwargs": {"net_arch": [64, 64]}}
    if masked:
        from sb3_contrib import MaskablePPO

        model: Any = MaskablePPO(policy, venv, **common)
    else:
        model = PPO(policy, venv, **common)
    t0 = time.perf_counter()
    path = out / "model.zip"

    class CurveCallback(BaseCallback):  # type: ignore[misc]
        def __init__(self) -> None:
            super().__init__()
            self.ret, self.cost = 0.0, 0.0
            self.eps: list[dict[str, float]] = []
            self.rollouts = 0

        def _on_step(self) -> bool:
            infos = self.locals["infos"]
            rews = self.locals["rewards"]
            dones = self.locals["dones"]
            if multi:
                self.ret += step_reward(name, dict(enumerate(rews.tolist())))
                self.cost += step_cost(name, dict(enumerate(infos)))
                ended = bool(dones[0])
            else:
                self.ret += float(rews[0])
                self.cost += float(np.sum(infos[0].get("cost", 0.0)))
                ended = bool(dones[0])
            if ended:
                self.eps.append({"return": self.ret, "cost": self.cost, **scalars(infos[0].get("episode_metrics"))})
                self.ret, self.cost = 0.0, 0.0
            return not (time_budget > 0 and time.perf_counter() - t0 > time_budget)

        def _on_rollout_end(self) -> None:
            self.rollouts += 1
            steps = self.model.num_timesteps // n
            wall = time.perf_counter() - t0
            row: dict[str, Any] = {"iteration": self.rollouts, "env_steps": steps,
                                   "agent_steps": self.model.num_timesteps, "time_s": round(wall, 2),
                                   "env_steps_per_s": round(steps / max(wall, 1e-9), 1)}
            keys: list[str] = []
            for e in self.eps:
                keys += [k for k in e if k not in keys]
            row.update({k: (float(np.mean([e[k] for e in self.eps if k in e])) if self.eps else None)
                        for k in (["return", "cost"] + [k for k in keys if k not in ("return", "cost")])})
            self.eps = []
            curve.add(row)
            if checkpoint_every and self.rollouts % checkpoint_every == 0:
                model.save(path)
            prog.update(bar, completed=min(steps, env_steps),
                        status=f"rollout {self.rollouts}  return {_fmt(row['return'])}  cost {_fmt(row['cost'])}")

    with _progress() as prog:
        bar = prog.add_task(f"sb3 {name}", total=env_steps, status="")
        model.learn(env_steps * n, callback=CurveCallback())
    model.save(path)
    return {"iterations": len(curve.rows), "env_steps": model.num_timesteps // n,
            "train_s": time.perf_counter() - t0, "checkpoint": "model.zip",
            "algorithm": type(model).__name__}


# --------------------------------------------------------------------------------------------- command

def train(
    env: str = typer.Argument(..., help="Gymnasium id (single-agent) or parallel name (multi-agent, shared policy)."),
    backend: str = typer.Option("sb3", help="'sb3' (this machine) or 'rllib' (local Ray or a Ray cluster)."),
    scenario: str = typer.Option("toy", help="Scenario preset."),
    config: str = typer.Option("{}", help="JSON config overrides passed to the env."),
    env_steps: int = typer.Option(20_000, min=1, help="Stop after this many env steps."),
    time_budget: float = typer.Option(0.0, min=0.0, help="Also stop after this many seconds (0: no limit)."),
    num_env_runners: int = typer.Option(1, min=0, help="RLlib: remote env runners (0: sample in the driver)."),
    num_envs_per_env_runner: int = typer.Option(1, min=1, help="RLlib: envs per env runner."),
    address: str = typer.Option("local", help="RLlib: 'local' (start Ray here), 'auto' (join the running cluster) "
                                              "or 'ray://<head>:10001' (Ray Client)."),
    train_batch_size: int = typer.Option(4000, min=1, help="Agent steps (samples) per PPO update."),
    minibatch_size: int = typer.Option(256, min=1, help="PPO minibatch (samples)."),
    num_epochs: int = typer.Option(5, min=1, help="PPO epochs per update."),
    lr: float = typer.Option(3e-4, min=0.0, help="Learning rate."),
    seed: int = typer.Option(0, help="Seed."),
    checkpoint_every: int = typer.Option(10, min=0, help="Checkpoint every N iterations (0: at the end only)."),
    out: Path | None = typer.Option(None, help="Run directory (default runs/train/<env>-<backend>)."),
) -> None:
    """Train PPO on one env (SB3 or RLlib); write checkpoint, curve.csv, curve.png and train.json."""
    if backend not in ("sb3", "rllib"):
        raise typer.BadParameter(f"--backend {backend!r}: allowed values are 'sb3', 'rllib'")
    multi = _is_multi(env)
    overrides = config_option(config)
    kwargs = {"scenario": scenario, "config": overrides}
    spec = task_spec(env)
    out = out or Path("runs/train") / f"{env.replace('/', '_')}-{backend}"
    out.mkdir(parents=True, exist_ok=True)
    curve = _Curve(out / "curve.csv")
    console.print(f"training [bold]{env}[/] ({'multi-agent' if multi else 'single-agent'}) with [bold]{backend}[/] "
                  f"for {env_steps:,} env steps" + (f" or {time_budget:.0f} s" if time_budget else "") + f" → {out}")
    if backend == "rllib":
        res = _train_rllib(env, kwargs, out, env_steps, time_budget, seed, num_env_runners, num_envs_per_env_runner,
                           train_batch_size, minibatch_size, num_epochs, lr, address, checkpoint_every, curve)
    else:
        res = _train_sb3(env, kwargs, out, env_steps, time_budget, seed, train_batch_size, minibatch_size,
                         num_epochs, lr, checkpoint_every, curve)
    meta = {"env": env, "task": spec.name, "multi_agent": multi, "backend": backend, "env_kwargs": kwargs,
            "seed": seed, "train_batch_size": train_batch_size, "num_env_runners": num_env_runners,
            "address": address, **res}
    with atomic_path(out / "train.json") as tmp:
        tmp.write_text(json.dumps(meta, indent=1))
    if curve.rows:
        curve.plot(out / "curve.png", f"{env} ({backend})", HEADLINE.get(spec.name))
    last = curve.rows[-1] if curve.rows else {}
    console.print(f"[green]done[/]: {res['env_steps']:,} env steps in {res['train_s']:.0f} s; last return "
                  f"{_fmt(last.get('return'))}, cost {_fmt(last.get('cost'))}; wrote {out}/train.json, "
                  f"{res['checkpoint']}, curve.csv" + (", curve.png" if curve.rows else ""))


# --------------------------------------------------------------------------------------------- evaluation

class _Policy:
    """A trained run's policy: ``act(obs)`` for one observation (single-agent) or a dict of them."""

    def __init__(self, meta: dict[str, Any], run: Path) -> None:
        self.meta = meta
        self.multi = bool(meta["multi_agent"])
        self.backend = meta["backend"]
        if self.backend == "sb3":
            from stable_baselines3 import PPO

            cls: Any = PPO
            if meta.get("algorithm") == "MaskablePPO":
                from sb3_contrib import MaskablePPO

                cls = MaskablePPO
            self.model = cls.load(run / meta["checkpoint"], device="cpu")
        else:
            from ray.rllib.core.rl_module.rl_module import RLModule

            base = (run / meta["checkpoint"] / "learner_group" / "learner" / "rl_module").resolve()
            self.modules = {p.name: RLModule.from_checkpoint(str(p)) for p in base.iterdir() if p.is_dir()}

    def _rllib_act(self, module_id: str, obs: Any) -> np.ndarray:
        import torch
        from ray.rllib.core.columns import Columns

        def tens(x: Any) -> Any:
            if isinstance(x, dict):
                return {k: tens(v) for k, v in x.items()}
            return torch.as_tensor(np.asarray(x))

        module = self.modules[module_id]
        with torch.no_grad():
            out = module.forward_inference({Columns.OBS: tens(obs)})
            dist = module.get_inference_action_dist_cls().from_logits(out[Columns.ACTION_DIST_INPUTS])
            sample: Any = dist.to_deterministic().sample()
            act = np.asarray(sample.numpy())
        # RLlib's module-to-env step (normalize_actions=True, its default): Box actions leave the
        # policy in [-1, 1] and are mapped onto the space's bounds
        from ray.rllib.utils.spaces.space_utils import unsquash_action

        return np.asarray(unsquash_action(act, module.action_space))

    def act_batch(self, kind: str, obs: Any, masks: np.ndarray | None) -> np.ndarray:
        """Actions of a batch of observations (rows) of one agent kind."""
        if self.backend == "sb3":
            kw = {"action_masks": masks} if masks is not None else {}
            return np.asarray(self.model.predict(obs, deterministic=True, **kw)[0])
        return self._rllib_act(kind if self.multi else "default_policy", obs)


def load_policy(run: Path) -> tuple[dict[str, Any], _Policy]:
    """``train.json`` of a run directory and its policy."""
    meta_path = Path(run) / "train.json"
    if not meta_path.exists():
        raise FileNotFoundError(f"{run}: no train.json; pass a directory written by `mndt train`")
    meta = json.loads(meta_path.read_text())
    return meta, _Policy(meta, Path(run))


def evaluate_run(run: Path, episodes: int, seed: int, env_kwargs: dict[str, Any]) -> tuple[str, dict[str, float]]:
    """Evaluate a trained run like ``mndt compare`` evaluates a baseline; returns (task name, row).

    A single-agent run acts on the Gymnasium env; a multi-agent run on the parallel env, its
    return being the global reward (the per-agent rewards summed, or the team reward) and its
    cost the step costs summed (:mod:`mndt_envs.integrations.common`).
    """
    meta, pol = load_policy(run)
    rows = [(_episode_multi if pol.multi else _episode_single)(meta, pol, env_kwargs, seed + ep)
            for ep in range(episodes)]
    metrics: dict[str, list[float]] = {}
    for r in rows:
        for k, v in r["metrics"].items():
            metrics.setdefault(k, []).append(v)
    rets = [r["return"] for r in rows]
    row = {"return": float(np.mean(rets)), "return_std": float(np.std(rets)),
           "cost": float(np.mean([r["cost"] for r in rows])), "steps": float(np.mean([r["steps"] for r in rows])),
           "wall_s": float(np.mean([r["wall_s"] for r in rows]))}
    row.update({k: float(np.mean(v)) for k, v in metrics.items()})
    return str(meta["task"]), row


def _episode_single(meta: dict[str, Any], pol: _Policy, env_kwargs: dict[str, Any], seed: int) -> dict[str, Any]:
    from .evaluation import run_episode

    name = meta["env"]
    if pol.backend == "rllib":
        from .integrations.rllib import make_single_agent

        env = make_single_agent(name, env_kwargs)
    else:
        env = _sb3_single(name, env_kwargs)

    class Predict:
        def predict(self, obs: Any, deterministic: bool = True) -> tuple[Any, None]:
            batch = {k: np.asarray(v)[None] for k, v in obs.items()} if isinstance(obs, dict) else np.asarray(obs)[None]
            masks = None
            if pol.backend == "sb3" and isinstance(obs, dict) and "action_mask" in obs:
                masks = np.asarray(obs["action_mask"]).astype(bool)[None]
            return pol.act_batch("default_policy", batch, masks)[0], None

    res = run_episode(env, Predict(), seed)
    env.close()
    return {"return": res["return"], "cost": res["cost"], "steps": res["steps"], "wall_s": res["wall_s"],
            "metrics": scalars(res["metrics"])}


def _episode_multi(meta: dict[str, Any], pol: _Policy, env_kwargs: dict[str, Any], seed: int) -> dict[str, Any]:
    from .integrations.supersuit import prepare_parallel_env

    name = meta["env"]
    penv = prepare_parallel_env(name, **env_kwargs)
    obs, _ = penv.reset(seed=seed)
    ret = cost = 0.0
    steps = 0
    metrics: dict[str, float] = {}
    t0 = time.perf_counter()
    while penv.agents:
        actions: dict[str, Any] = {}
        by_kind: dict[str, list[str]] = {}
        for a in penv.agents:
            by_kind.setdefault(agent_kind(a), []).append(a)
        for kind, ags in by_kind.items():
            first = obs[ags[0]]
            masks = None
            if isinstance(first, dict):
                batch: Any = {k: np.stack([np.asarray(obs[a][k]) for a in ags]) for k in first}
                if pol.backend == "sb3":
                    masks = batch.get("action_mask")
                    masks = None if masks is None else masks.astype(bool)
                    batch = batch["observation"]
            else:
                batch = np.stack([np.asarray(obs[a]) for a in ags])
            acts = pol.act_batch(kind, batch, masks)
            actions.update({a: acts[i] for i, a in enumerate(ags)})
        obs, rew, _, _, infos = penv.step(actions)
        ret += step_reward(name, rew)
        cost += step_cost(name, infos)
        steps += 1
        for i in infos.values():
            if "episode_metrics" in i:
                metrics = scalars(i["episode_metrics"])
                break
    penv.close()
    return {"return": ret, "cost": cost, "steps": steps, "wall_s": time.perf_counter() - t0, "metrics": metrics}
