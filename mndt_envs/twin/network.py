"""The network twin: cells, users, demand and channel assembled into one object.

A :class:`NetworkTwin` is built once per scenario (sites, and the frozen parts of
the wireless environment such as shadowing maps, seeded by ``cfg.seed``). Each
episode calls :meth:`reset` with the env's generator; :meth:`advance` moves time.
The state is exposed as read-only arrays shaped (n_cells, n_users) or (n_users,).
The twin never imports gymnasium or pettingzoo.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ..config import ScenarioConfig, make_config
from . import radio
from .channel import make_channel
from .channel.fading import Fading
from .defaults import StaticMobility, StraightLineMobility, UniformDemand
from .memory import check_memory
from .protocols import ChannelModel, DemandModel, MobilityModel
from .sites import KINDS, POWER_MODEL, Cells, make_cells

__all__ = ["NetworkTwin", "make_mobility", "make_demand"]


def make_mobility(cfg: ScenarioConfig) -> MobilityModel:
    """The mobility model named by ``cfg.users.mobility``."""
    u = cfg.users
    if u.mobility == "road":
        from .geometry import load_city
        from .mobility import make_mobility as make_road_mobility

        return make_road_mobility(cfg, load_city(cfg.channel.source, cfg))
    cls = StaticMobility if u.mobility == "static" else StraightLineMobility
    return cls(cfg.width_m, cfg.height_m, (u.speed_min_mps, u.speed_max_mps), u.indoor_fraction)


def make_demand(cfg: ScenarioConfig) -> DemandModel:
    """The demand model named by ``cfg.traffic.model``."""
    if cfg.traffic.model == "lstm":
        from .traffic.generator import LSTMDemand

        return LSTMDemand.from_config(cfg)
    return UniformDemand(cfg.traffic.max_demand_rb_s * cfg.radio.rb_bandwidth_hz)


def _readonly(a: np.ndarray) -> np.ndarray:
    v = a.view()
    v.flags.writeable = False
    return v


class NetworkTwin:
    """Cells + users + demand + channel, advanced in time.

    Args:
        scenario: preset name, config dict or :class:`ScenarioConfig`.
        overrides: nested overrides applied to the preset.
        mobility: a :class:`MobilityModel` replacing the configured one.
        demand: a :class:`DemandModel` replacing the configured one.
        channel: a :class:`ChannelModel` replacing the configured one.
    """

    def __init__(self, scenario: str | ScenarioConfig | dict[str, Any] = "toy",
                 overrides: dict[str, Any] | None = None, *, mobility: MobilityModel | None = None,
                 demand: DemandModel | None = None, channel: ChannelModel | None = None) -> None:
        self.cfg = make_config(scenario, overrides)
        if channel is None:
            check_memory(self.cfg)  # before anything large (an OSM file, the sites) is read
        layout_rng = np.random.default_rng(self.cfg.seed)
        self.cells: Cells = make_cells(self.cfg, layout_rng)
        if channel is None:
            check_memory(self.cfg, n_cells=self.cells.n)  # refuse before the channel allocates
        self.channel: ChannelModel = channel if channel is not None else make_channel(
            self.cfg, self.cells, np.random.default_rng([self.cfg.seed, 1]))
        self.mobility: MobilityModel = mobility if mobility is not None else make_mobility(self.cfg)
        self.demand_model: DemandModel = demand if demand is not None else make_demand(self.cfg)
        ch = self.cfg.channel
        self.fading = Fading(ch.fading, ch.doppler_hz, ch.rician_k_db, seed=self.cfg.seed)
        r = self.cfg.radio
        self.noise_w = float(radio.dbm_to_w(r.noise_per_rb_dbm))  # [W] per RB
        self.max_power_w = radio.dbm_to_w(self.cells.max_power_dbm)  # (n_cells,) [W]
        pm = np.array([POWER_MODEL[k] for k in KINDS])[self.cells.kind]  # (n_cells, 4)
        self.power_model = {"p_max_w": pm[:, 0], "p0_w": pm[:, 1], "delta_p": pm[:, 2], "p_sleep_w": pm[:, 3]}
        self.t = 0.0  # [s]
        self._large: np.ndarray = np.zeros((self.cells.n, 0), dtype=np.float32)
        self._gain: np.ndarray = self._large
        self._lin: dict[bool, np.ndarray] = {}
        self.n_users = self.cfg.users.n_users

    # ---------------------------------------------------------------- time
    def reset(self, rng: np.random.Generator, horizon_s: float = 3600.0) -> None:
        """Start an episode: place users, draw demand and fading from ``rng``."""
        self.t = 0.0
        self.mobility.reset(rng, self.n_users)
        self.demand_model.reset(rng, self.n_users, horizon_s)
        self.fading.reset(rng, (self.cells.n, self.n_users))
        self._update_gains()

    def advance(self, dt: float, rng: np.random.Generator) -> None:
        """Move time by ``dt`` seconds: users move, large-scale gains and fading update."""
        if not dt > 0:
            raise ValueError(f"advance(dt={dt!r}): dt must be > 0 seconds")
        self.mobility.advance(dt, rng)
        self.fading.advance(rng, dt)
        self.t += dt
        self._update_gains()

    def _update_gains(self) -> None:
        self._large = self.channel.gain_db(self.mobility.positions, self.mobility.indoor)
        fad = self.fading.gain_db()
        self._gain = self._large + fad if isinstance(fad, np.ndarray) else self._large
        self._lin = {}  # linear gains, computed on demand once per update

    # ---------------------------------------------------------------- views
    @property
    def positions(self) -> np.ndarray:
        """(n_users, 2) [m]."""
        return _readonly(np.asarray(self.mobility.positions))

    @property
    def indoor(self) -> np.ndarray:
        """(n_users,) bool."""
        return _readonly(np.asarray(self.mobility.indoor))

    @property
    def large_scale_gain_db(self) -> np.ndarray:
        """(n_cells, n_users) [dB] path gain + antenna, no fast fading."""
        return _readonly(self._large)

    @property
    def gain_db(self) -> np.ndarray:
        """(n_cells, n_users) [dB] large-scale gain + small-scale fading."""
        return _readonly(self._gain)

    def gain_lin(self, fading: bool = True) -> np.ndarray:
        """(n_cells, n_users) linear power gain."""
        lin = self._lin.get(fading)
        if lin is None:
            g = self._gain if fading else self._large
            lin = np.power(np.float32(10.0), g * np.float32(0.1))
            self._lin[fading] = lin
        return _readonly(lin)

    def demand(self, dt: float) -> np.ndarray:
        """(n_users,) [bit] demanded over the next ``dt`` seconds."""
        return self.demand_model.demand(self.t, dt)

    # ---------------------------------------------------------------- KPIs
    def rsrp(self, ref_power_dbm: np.ndarray | None = None, fading: bool = False) -> np.ndarray:
        """(n_cells, n_users) RSRP [dBm] (large-scale by default, as UEs filter fast fading)."""
        p = self.cells.ref_power_dbm if ref_power_dbm is None else ref_power_dbm
        return radio.rsrp_dbm(p, self._gain if fading else self._large)

    def associate(self, active: np.ndarray | None = None,
                  ref_power_dbm: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
        """Best-server association: (serving (n_users,), best RSRP (n_users,) [dBm])."""
        return radio.best_server(self.rsrp(ref_power_dbm), active)

    def full_buffer_rates(self, load: np.ndarray | None = None,
                          active: np.ndarray | None = None) -> dict[str, np.ndarray]:
        """Best-server association and per-user spectral efficiency under a cell load.

        Args:
            load: (n_cells,) share of RBs in use (default 1: full buffer).
            active: (n_cells,) cells that serve and interfere (default all).

        Returns:
            dict with ``serving`` (n_users,), ``sinr`` (n_users,) linear and
            ``rate_per_rb`` (n_users,) [bit/s] on one RB.
        """
        n = self.cells.n
        act = np.ones(n, dtype=bool) if active is None else active
        lo = np.ones(n) if load is None else np.asarray(load, dtype=np.float64)
        serving, _ = self.associate(act)
        p_rb = self.max_power_w / self.cells.n_rb
        sinr = radio.sinr_load(self.gain_lin(), p_rb * act, lo * act, serving, self.noise_w)
        return {"serving": serving, "sinr": sinr,
                "rate_per_rb": radio.shannon_rate(sinr, self.cfg.radio.rb_bandwidth_hz)}

    def summary(self) -> dict[str, Any]:
        """Headline numbers of the twin as built (for tables and logs)."""
        serving, best = self.associate() if self._large.shape[1] else (np.zeros(0, int), np.zeros(0))
        kinds = np.bincount(self.cells.kind, minlength=len(KINDS))
        return {
            "scenario": self.cfg.name,
            "area_km2": self.cfg.width_m * self.cfg.height_m / 1e6,
            "sites": self.cells.n_sites,
            "cells": self.cells.n,
            "cells_by_kind": {KINDS[i]: int(kinds[i]) for i in range(len(KINDS)) if kinds[i]},
            "users": self.n_users,
            "channel": type(self.channel).__name__,
            "mobility": type(self.mobility).__name__,
            "demand": type(self.demand_model).__name__,
            "rb_per_cell": int(self.cells.n_rb[0]),
            "coverage": radio.coverage_rate(best, self.cfg.radio.coverage_threshold_dbm) if len(best) else float("nan"),
            "median_best_rsrp_dbm": float(np.median(best)) if len(best) else float("nan"),
            **self._map_id(),
        }

    def _map_id(self) -> dict[str, str]:
        """The ray-traced radio map's checksum (two twins with equal checksums share their channel)."""
        bs = getattr(self.channel, "build_summary", None)
        if isinstance(bs, dict) and isinstance(bs.get("maps_sha256"), str):
            return {"radio_map_sha256": bs["maps_sha256"]}
        return {}
