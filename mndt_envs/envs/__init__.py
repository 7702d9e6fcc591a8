"""Gymnasium envs of the task cores (``mndt/<Task>-v0``): declarations on :mod:`.base`'s generic adapter."""
