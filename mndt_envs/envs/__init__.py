"""Gymnasium adapters of the task cores (registered as ``mndt/<Task>-v0``)."""
