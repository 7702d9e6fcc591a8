"""SB3 PPO on the batched vector env against ``SubprocVecEnv`` with 2 processes (issue 12): wall time for 200k steps.

Both arms train the same PPO (MultiInputPolicy or MlpPolicy, same hyper-parameters, same rollout size per
update: ``n_envs × n_steps`` = ``--rollout`` transitions) for ``--steps`` environment steps on the toy
scenario; only the environment differs: ``make_sb3_vec_env(id, N)`` (one process, the batched core) or
``SubprocVecEnv`` of 2 single envs (Gymnasium envs in two worker processes, SB3's usual way to use two
cores). Prints the wall times, their ratio, and the environment's share (steps/s of collection).

    python benchmarks/sb3_batched.py --task cs --steps 200000 --n-envs 64
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path
from typing import Any

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
os.environ.setdefault("OMP_NUM_THREADS", "1")

import gymnasium as gym  # noqa: E402

import mndt_envs  # noqa: E402, F401

IDS = {"cs": "mndt/CellSleep-v0", "ra": "mndt/ResourceAllocation-v0", "lb": "mndt/LoadBalancing-v0"}


def _make(env_id: str, kw: dict[str, Any]) -> Any:
    def f() -> gym.Env[Any, Any]:

        return gym.make(env_id, **kw)

    return f


def train(venv: Any, steps: int, rollout: int, seed: int) -> float:
    """Wall seconds of PPO.learn for ``steps`` steps on ``venv``."""
    import torch
    from stable_baselines3 import PPO

    torch.set_num_threads(1)
    policy = "MultiInputPolicy" if isinstance(venv.observation_space, gym.spaces.Dict) else "MlpPolicy"
    n_steps = max(1, rollout // venv.num_envs)
    model = PPO(policy, venv, n_steps=n_steps, batch_size=512, n_epochs=4, seed=seed, device="cpu", verbose=0)
    t0 = time.perf_counter()
    model.learn(total_timesteps=steps)
    return time.perf_counter() - t0


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--task", default="cs", choices=list(IDS))
    ap.add_argument("--steps", type=int, default=200_000)
    ap.add_argument("--n-envs", type=int, default=64, help="batch size of the batched arm")
    ap.add_argument("--rollout", type=int, default=4096, help="transitions per PPO update (both arms)")
    ap.add_argument("--rb-solver", default="exact", choices=["exact", "fast"], help="resource allocation only")
    ap.add_argument("--json", type=Path, default=None)
    a = ap.parse_args(argv)
    from stable_baselines3.common.vec_env import SubprocVecEnv

    from mndt_envs.vector.sb3 import make_sb3_vec_env

    env_id = IDS[a.task]
    kw: dict[str, Any] = {"scenario": "toy"}
    bkw = dict(kw, rb_solver=a.rb_solver) if a.task == "ra" else kw
    batched = make_sb3_vec_env(env_id, a.n_envs, **bkw)
    t_batched = train(batched, a.steps, a.rollout, 0)
    batched.close()
    sub = SubprocVecEnv([_make(env_id, kw) for _ in range(2)])
    t_sub = train(sub, a.steps, a.rollout, 0)
    sub.close()
    res = {"task": a.task, "env_id": env_id, "steps": a.steps, "n_envs_batched": a.n_envs, "rollout": a.rollout,
           "wall_s_batched": t_batched, "wall_s_subproc2": t_sub, "speedup": t_sub / t_batched}
    print(f"PPO {a.steps:,} steps on {env_id} (toy), rollout {a.rollout} per update, 4 epochs, batch 512:")
    print(f"  batched vector env (N={a.n_envs}, 1 process): {t_batched:8.1f} s")
    print(f"  SubprocVecEnv(2) of single envs            : {t_sub:8.1f} s")
    print(f"  speed-up: {t_sub / t_batched:.2f}x")
    if a.json:
        a.json.write_text(json.dumps(res, indent=1))



if __name__ == "__main__":
    main()
