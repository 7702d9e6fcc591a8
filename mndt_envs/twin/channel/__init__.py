"""Channel models: statistical TR 38.901, ray-traced (Sionna RT), small-scale fading."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from ...config import ScenarioConfig
    from ..protocols import ChannelModel
    from ..sites import Cells

__all__ = ["make_channel"]


def make_channel(cfg: ScenarioConfig, cells: Cells, rng: np.random.Generator) -> ChannelModel:
    """The channel model named by ``cfg.channel.model``.

    ``"raytraced"`` falls back to the statistical model, with one warning naming what
    is missing, when no ray-tracing backend can run here.
    """
    if cfg.channel.model == "raytraced":
        from .. import backend

        if backend.raytracing_available():
            from .raytraced import RayTracedChannel

            return RayTracedChannel.from_config(cfg, cells, rng)
    from .statistical import StatisticalChannel

    return StatisticalChannel(cfg, cells, rng)
