"""Batched adapters: Gymnasium ``VectorEnv`` (each id's ``vector_entry_point``) and an SB3 ``VecEnv``.

``gym.make_vec("mndt/CellSleep-v0", num_envs=64, vectorization_mode="vector_entry_point", scenario="toy")``
returns a :class:`~mndt_envs.vector.cell_sleep.CellSleepVectorEnv` over the batched core
(:mod:`mndt_envs.batched`); :class:`~mndt_envs.vector.sb3.BatchedSB3VecEnv` serves the same cores to
stable-baselines3 (action masks forwarded for sb3-contrib's ``MaskablePPO``).
"""
