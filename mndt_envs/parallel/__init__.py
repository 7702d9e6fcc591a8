"""PettingZoo ParallelEnv adapters of the task cores (``mndt_envs.parallel_env(name)``)."""
