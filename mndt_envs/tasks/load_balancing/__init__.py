"""CPICH load balancing, the "breathing" network (paper 001; SPEC §5).

One task core shared by :class:`mndt_envs.envs.load_balancing.LoadBalancingEnv`
(single agent, one Box action over all antennas) and
:class:`mndt_envs.parallel.load_balancing.LoadBalancingParallelEnv` (one agent per
antenna).

Per sampling period (default 1 h, 24 per day):

1. users' positions come from a mobility model: the built-in *tidal hotspot* day
   (:class:`mndt_envs.twin.mobility.TidalHotspotMobility`: business hotspots busy by day, residential ones
   by night; seeded), the tidal layout frozen (``mobility="static"``), or the
   scenario's own mobility twin (``mobility="twin"``);
2. the large-scale RSRP of the top ``n_candidates`` cells of every user is kept as
   attenuations ``a = p_ref - RSRP`` (power-independent), so the period can be
   re-evaluated under any CPICH power vector in ``O(n_users · n_candidates)``;
3. users attach to the strongest CPICH (best server among the candidates);
4. busy degree ``b_i = |U_i| / U_max``; metrics: std of busy degrees, share of
   over-busy antennas (``b_i >= b_over``), coverage rate (best RSRP >= threshold);
5. measurement reports (MRs) are drawn from the candidates with the twin's
   ``radio.measurement_reports`` (noise, 1 dB quantisation, top-k, serving first),
   lazily, for the algorithms that need them (BDBA/BFDBA, coverage procedures);
6. ``p_min(k)``: minimum coverage powers of the period (§6.2), from the period's MRs
   measured under the reference powers, by the exact MR method (default) or the
   monotone MLP with an exact fallback.

Timing: at ``reset`` the whole episode's periods are generated (positions, candidates,
``p_min(k)``) from the env's generator, like a day of MR data in the paper; a ``step``
only re-evaluates the next period under the new powers (vectorised, no Python loop
over users or cells).

Package layout (read top-down): :mod:`.config` (:class:`LoadBalancingConfig`, observation features),
:mod:`.metrics` (busy-degree targets and imbalance), :mod:`.periods` (the episode's periods, MRs and
``p_min``), :mod:`.state` (a period's evaluation, the history rows), :mod:`.core`
(:class:`LoadBalancingCore`, the :class:`~mndt_envs.tasks.contract.TaskCore`), :mod:`.render`
(drawing, imported lazily by the adapters). The demo lives in :mod:`mndt_envs.demos.load_balancing`.
"""

from __future__ import annotations

from ...twin.mobility import TidalHotspotMobility
from .config import AGENT_FEATURES, FEATURES, LoadBalancingConfig
from .core import LoadBalancingCore
from .metrics import busy_metrics, target_busy_degree
from .periods import PeriodData
from .state import Evaluation, HistoryRow

__all__ = [
    "LoadBalancingConfig",
    "TidalHotspotMobility",
    "PeriodData",
    "Evaluation",
    "HistoryRow",
    "LoadBalancingCore",
    "target_busy_degree",
    "busy_metrics",
    "FEATURES",
    "AGENT_FEATURES",
]
