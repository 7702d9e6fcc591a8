"""The network twin: geometry, channel, sites, users, traffic and radio KPIs.

Nothing in this package imports gymnasium or pettingzoo.
"""

from __future__ import annotations

from .network import NetworkTwin

__all__ = ["NetworkTwin"]
