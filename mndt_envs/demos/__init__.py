"""``mndt demo`` hooks, one module per task: short runs of the baselines with a table and a PNG.

Demos sit above the task cores and the envs (they build envs with ``gym.make`` and run baselines); no
task core imports them.
"""
