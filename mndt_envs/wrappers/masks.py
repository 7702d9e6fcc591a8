"""Action masks in the three forms the ecosystem expects.

The envs keep PettingZoo/Gymnasium's convention in observations: ``obs["action_mask"]`` is a
flat ``int8`` array (1 = legal). Two other forms are needed around it:

* sb3-contrib's ``MaskablePPO`` reads ``env.action_masks()`` as a flat ``bool`` array
  (:func:`sb3_mask`);
* Gymnasium's ``MultiDiscrete.sample(mask=...)`` takes a *tuple* of per-dimension ``int8``
  masks, one per cell (:func:`sample_mask`)::

      obs, _ = env.reset(seed=0)
      action = env.action_space.sample(mask=sample_mask(env.action_space, obs["action_mask"]))
"""

from __future__ import annotations

from typing import Any

import numpy as np
from gymnasium import spaces

__all__ = ["sample_mask", "sb3_mask"]


def sb3_mask(mask: Any) -> np.ndarray:
    """The flat ``bool`` mask sb3-contrib documents for ``action_masks()``."""
    return np.asarray(mask).reshape(-1).astype(bool)


def sample_mask(space: spaces.Space[Any], mask: Any) -> Any:
    """The ``mask`` argument of ``space.sample`` for a flat ``int8`` action mask.

    Args:
        space: a ``Discrete`` or a one-dimensional ``MultiDiscrete`` action space.
        mask: the flat mask (``obs["action_mask"]``, length ``n`` or ``sum(nvec)``), or a 2-D
            array with one row per ``MultiDiscrete`` dimension.

    Returns:
        For ``Discrete``: the ``(n,) int8`` mask. For ``MultiDiscrete``: a tuple of ``int8``
        arrays, one per dimension (``len(nvec)`` entries of lengths ``nvec[i]``).

    Raises:
        ValueError: when the mask's size does not match the space.
        TypeError: for other spaces.
    """
    m = np.asarray(mask)
    if isinstance(space, spaces.Discrete):
        if m.size != space.n:
            raise ValueError(f"mask has {m.size} entries; {space} needs {space.n}")
        return m.reshape(-1).astype(np.int8)
    if isinstance(space, spaces.MultiDiscrete):
        nvec = np.asarray(space.nvec)
        if nvec.ndim != 1:
            raise ValueError(f"sample_mask supports one-dimensional MultiDiscrete spaces, got nvec shape {nvec.shape}")
        flat = m.reshape(-1).astype(np.int8)
        if flat.size != int(nvec.sum()):
            raise ValueError(f"mask has {flat.size} entries; {space} needs sum(nvec) = {int(nvec.sum())}")
        cuts = np.cumsum(nvec)[:-1]
        return tuple(np.split(flat, cuts))
    raise TypeError(f"sample_mask: expected a Discrete or MultiDiscrete space, got {space}")
