"""PettingZoo ParallelEnvs of the task cores (``mndt_envs.parallel_env(name)``), on :mod:`.base`'s generic adapter."""
