"""Task cores: observation, action → twin configuration, reward, cost and masks, one package per problem.

Every core implements :class:`mndt_envs.tasks.contract.TaskCore` and returns a
:class:`~mndt_envs.tasks.contract.StepResult` per step; :mod:`mndt_envs.tasks.validators` holds the
public config and action validators. Packages: :mod:`.cell_sleep`, :mod:`.load_balancing`,
:mod:`.resource_allocation` (plus the shared MR-coverage procedures of :mod:`.coverage` and
:mod:`.pmin`). Cores import nothing above them (``tests/test_layers.py``).
"""
