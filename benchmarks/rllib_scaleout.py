"""RLlib scale-out on this machine: sampled env-steps/s with 1 vs 2 env runners (local Ray).

Usage: ``python benchmarks/rllib_scaleout.py [--env cell_sleep_v0] [--steps 2000] [--repeats 3]``
and, for the batched vector env (single-agent id, ``N`` envs stepped as one array program per
runner): ``python benchmarks/rllib_scaleout.py --env mndt/CellSleep-v0 --batched --envs-per-runner 16``

Builds the suite's PPO config (:func:`mndt_envs.integrations.rllib.ppo_config`) with ``K``
remote env runners for each ``K`` in ``--runners`` (all in the same run and the same local Ray
instance), then times sampling alone: every runner samples ``--steps`` env steps with the
current policy, concurrently; throughput is the total env steps over the wall time of the
slowest runner. As a reference measured in the same run, the env alone (no Ray, no policy) is
stepped in one process and in two concurrent processes: the ratio the machine itself allows.
The configurations' rounds alternate (K=1, K=2, K=1, ...) so that background
load hits them alike; median of ``--repeats`` rounds each, after one warm-up round. Prints a
table with env-steps/s and the ratio to ``K = 1``, and the load average before and after the
run (other processes share the cores).
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import os
import statistics
import time


def _plain_steps(env: str, scenario: str, steps: int, batched: int) -> float:
    """Step the env ``steps`` env steps without Ray (fixed legal actions); returns seconds."""
    import gymnasium as gym
    import numpy as np

    import mndt_envs
    from mndt_envs.integrations.rllib import is_multi_agent

    t0 = time.perf_counter()
    if is_multi_agent(env):
        penv = mndt_envs.parallel_env(env, scenario=scenario)
        penv.reset(seed=0)
        acts = {a: penv.action_space(a).sample() for a in penv.possible_agents}
        for _ in range(steps):
            if not penv.agents:
                penv.reset()
            penv.step(acts)
    else:
        venv = gym.make_vec(env, num_envs=max(batched, 1), vectorization_mode="vector_entry_point",
                            scenario=scenario)
        venv.reset(seed=0)
        act = np.zeros(venv.action_space.shape, dtype=venv.action_space.dtype)
        for _ in range(steps // max(batched, 1)):
            venv.step(act)
    return time.perf_counter() - t0


def plain_ratio(env: str, scenario: str, steps: int, batched: int, repeats: int) -> tuple[float, float]:
    """The machine's own ceiling: env-steps/s of 1 process and of 2 concurrent processes, no Ray."""
    ctx = mp.get_context("spawn")
    one, two = [], []
    with ctx.Pool(2) as pool:
        pool.starmap(_plain_steps, [(env, scenario, 10, batched)] * 2)  # warm-up: imports, twin
        for _ in range(repeats):
            t0 = time.perf_counter()
            pool.apply(_plain_steps, (env, scenario, steps, batched))
            one.append(steps / (time.perf_counter() - t0))
            t0 = time.perf_counter()
            pool.starmap(_plain_steps, [(env, scenario, steps, batched)] * 2)
            two.append(2 * steps / (time.perf_counter() - t0))
    return statistics.median(one), statistics.median(two)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--env", default="cell_sleep_v0", help="parallel name or Gymnasium id")
    ap.add_argument("--scenario", default="toy")
    ap.add_argument("--steps", type=int, default=2000, help="env steps per runner per round")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--runners", default="1,2", help="comma-separated env-runner counts")
    ap.add_argument("--envs-per-runner", type=int, default=1)
    ap.add_argument("--batched", action="store_true", help="batched vector env per runner (single-agent ids)")
    ap.add_argument("--worker-niceness", type=int, default=0,
                    help="niceness of Ray's worker processes (Ray's own default is 15)")
    args = ap.parse_args()
    for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ[var] = "1"
    # Ray starts its workers (the env runners) at niceness 15 so that the driver stays responsive; on
    # a machine shared with other jobs at niceness 0 they then get only the CPU time those leave
    # over, which 1 and 2 runners split alike. Niceness 0 lets the runners compete on equal terms.
    os.environ["RAY_worker_niceness"] = str(args.worker_niceness)

    import ray
    from rich.console import Console
    from rich.table import Table

    from mndt_envs.integrations.rllib import ppo_config

    counts = [int(k) for k in args.runners.split(",")]
    load0 = os.getloadavg()
    # all configurations live at once (idle runners use no CPU) and their rounds alternate, so a
    # change of the machine's background load during the run hits every configuration alike
    ray.init(num_cpus=sum(counts), include_dashboard=False, log_to_driver=False)
    algos = {}
    for k in counts:
        cfg = ppo_config(args.env, {"scenario": args.scenario}, num_env_runners=k,
                         num_envs_per_env_runner=args.envs_per_runner, train_batch_size=args.steps * k,
                         batched=args.batched)
        algos[k] = cfg.build_algo()

    def one_round(k: int, steps: int = args.steps) -> float:
        t0 = time.perf_counter()
        algos[k].env_runner_group.foreach_env_runner(
            lambda r, s=steps: sum(e.env_steps() for e in r.sample(num_timesteps=s)), local_env_runner=False)
        return time.perf_counter() - t0

    for k in counts:
        one_round(k, max(50, args.steps // 10))  # warm-up (env build, first forward passes)
    times: dict[int, list[float]] = {k: [] for k in counts}
    for _ in range(args.repeats):
        for k in counts:
            times[k].append(one_round(k))
    rows = []
    for k in counts:
        med = statistics.median(times[k])
        rows.append((k, args.steps * k, med, args.steps * k / med))
        algos[k].stop()
    ray.shutdown()
    load1 = os.getloadavg()
    base = rows[0][3]
    kind = "batched vector env" if args.batched else "env(s)"
    t = Table(title=f"RLlib sampling, {args.env} on '{args.scenario}', {args.envs_per_runner} {kind} per runner "
                    f"(median of {args.repeats})")
    for c in ("env runners", "env steps / round", "round [s]", "env-steps/s", "vs first"):
        t.add_column(c, justify="right")
    for k, n, med, sps in rows:
        t.add_row(str(k), str(n), f"{med:.2f}", f"{sps:.0f}", f"{sps / base:.2f}x")
    Console().print(t)
    p1, p2 = plain_ratio(args.env, args.scenario, args.steps * 4, args.envs_per_runner if args.batched else 0,
                         args.repeats)
    print(f"reference, same machine, no Ray or policy: the env alone steps {p1:.0f} env-steps/s in one process, "
          f"{p2:.0f} in two concurrent processes ({p2 / p1:.2f}x)")
    print(f"load average before {load0[0]:.2f} / after {load1[0]:.2f} (1-min), {os.cpu_count()} CPUs; "
          f"Ray worker niceness {args.worker_niceness}")


if __name__ == "__main__":
    main()
