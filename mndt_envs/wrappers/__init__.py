"""Wrappers: Safety-Gymnasium cost tuple, flat actions and action-mask forms."""

from .cost import CostAsTuple
from .flat_action import FlatAction, FlatActionParallel, FlatActionSpace, needs_flat_action
from .masks import sample_mask, sb3_mask

__all__ = ["CostAsTuple", "FlatAction", "FlatActionParallel", "FlatActionSpace", "needs_flat_action", "sample_mask",
           "sb3_mask"]
