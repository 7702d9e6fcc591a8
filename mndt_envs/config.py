"""Scenario configuration: frozen dataclasses, named presets, JSON round-trip.

A :class:`ScenarioConfig` describes one twin (area, radio, sites, users, traffic,
channel). It is validated on construction; every error names the field, the value
and what is allowed. Configurations are built from a preset name plus nested
overrides::

    cfg = make_config("toy", {"users": {"n_users": 500}, "channel": {"fading": "none"}})

Everything is plain data (numbers, strings, tuples) so ``env.spec.to_json()`` works
and a configuration hashes to a stable cache key.
"""

from __future__ import annotations

import dataclasses
import json
import math
import types
import typing
from dataclasses import dataclass, field, fields, is_dataclass
from typing import Any, Literal, TypeVar, Union, get_args, get_origin, get_type_hints

import numpy as np

__all__ = [
    "ConfigError",
    "RadioConfig",
    "SitesConfig",
    "UsersConfig",
    "TrafficConfig",
    "ChannelConfig",
    "ScenarioConfig",
    "PRESETS",
    "make_config",
    "config_to_dict",
    "config_from_dict",
    "split_config",
    "apply_overrides",
]


class ConfigError(ValueError):
    """A configuration value is outside what is allowed."""


def _check_range(
    section: str, name: str, value: float, lo: float | None = None, hi: float | None = None,
    *, lo_open: bool = False,
) -> None:
    where = f"{section}.{name}"
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise ConfigError(f"{where} = {value!r}: expected a finite number")
    if lo is not None and (value < lo or (lo_open and value == lo)):
        op = ">" if lo_open else ">="
        rng = f"{op} {lo}" + (f" and <= {hi}" if hi is not None else "")
        raise ConfigError(f"{where} = {value!r}: allowed values are {rng}")
    if hi is not None and value > hi:
        rng = (f"> {lo} and " if lo_open else f">= {lo} and " if lo is not None else "") + f"<= {hi}"
        raise ConfigError(f"{where} = {value!r}: allowed values are {rng}")


def _check_choice(section: str, name: str, value: Any, allowed: tuple[str, ...]) -> None:
    if value not in allowed:
        raise ConfigError(f"{section}.{name} = {value!r}: allowed values are {', '.join(map(repr, allowed))}")


def _check_int(section: str, name: str, value: Any, lo: int, hi: int | None = None) -> None:
    if isinstance(value, bool) or not isinstance(value, int):
        raise ConfigError(f"{section}.{name} = {value!r}: expected an integer")
    _check_range(section, name, value, lo, hi)


def _type_name(tp: Any) -> str:
    if tp is type(None):
        return "None"
    origin = get_origin(tp)
    if origin is Literal:
        return "one of " + ", ".join(map(repr, get_args(tp)))
    if origin in (Union, types.UnionType):
        return " or ".join(_type_name(a) for a in get_args(tp))
    if origin is tuple:
        return "a list of " + " or ".join(sorted({_type_name(a) for a in get_args(tp) if a is not Ellipsis}))
    return {bool: "a boolean (true/false)", int: "an integer", float: "a number", str: "a string"}.get(
        tp, getattr(tp, "__name__", str(tp)))


_NO = object()


def _coerce(value: Any, tp: Any) -> Any:
    """``value`` as type ``tp`` if it is one (ints widen to floats, lists to tuples), else ``_NO``."""
    if tp is Any or tp is typing.Any:
        return value
    if tp is type(None):
        return None if value is None else _NO
    origin = get_origin(tp)
    if origin is Literal:
        return value if any(type(value) is type(a) and value == a for a in get_args(tp)) else _NO
    if origin in (Union, types.UnionType):
        for a in get_args(tp):
            v = _coerce(value, a)
            if v is not _NO:
                return v
        return _NO
    if tp is bool:
        return bool(value) if isinstance(value, (bool, np.bool_)) else _NO
    if isinstance(value, (bool, np.bool_)):
        return _NO  # a boolean is never a number or a string here
    if tp is int:
        return int(value) if isinstance(value, (int, np.integer)) else _NO
    if tp is float:
        return float(value) if isinstance(value, (int, float, np.integer, np.floating)) else _NO
    if tp is str:
        return value if isinstance(value, str) else _NO
    if origin is tuple:
        if not isinstance(value, (list, tuple)):
            return _NO
        args = [a for a in get_args(tp) if a is not Ellipsis]
        if not args:
            return tuple(value)
        out = []
        for item in value:
            v = _NO
            for a in args:
                v = _coerce(item, a)
                if v is not _NO:
                    break
            if v is _NO:
                return _NO
            out.append(v)
        return tuple(out)
    if isinstance(tp, type):
        return value if isinstance(value, tp) else _NO
    return value


_HINTS: dict[type, dict[str, Any]] = {}


def _hints(cls: type) -> dict[str, Any]:
    h = _HINTS.get(cls)
    if h is None:
        try:
            h = get_type_hints(cls)
        except Exception:  # noqa: BLE001 - unresolvable annotations: no type check for that class
            h = {}
        _HINTS[cls] = h
    return h


def _typed(cls: type, where: str, name: str, value: Any) -> Any:
    """``value`` checked (and normalised) against the annotation of field ``name`` of ``cls``.

    Raises:
        ConfigError: naming ``where.name``, the value and the expected type.
    """
    tp = _hints(cls).get(name)
    if tp is None or (isinstance(tp, type) and is_dataclass(tp)):
        return value
    v = _coerce(value, tp)
    if v is _NO:
        raise ConfigError(f"{where}.{name} = {value!r}: expected {_type_name(tp)}, got {type(value).__name__}")
    return v


def _check_types(obj: Any, section: str) -> None:
    """Type-check every field of a config dataclass instance (frozen: normalised in place)."""
    for f in fields(obj):
        cur = getattr(obj, f.name)
        if is_dataclass(cur) and not isinstance(cur, type):
            continue
        v = _typed(type(obj), section, f.name, cur)
        if v is not cur:
            object.__setattr__(obj, f.name, v)


@dataclass(frozen=True)
class RadioConfig:
    """Radio parameters shared by every cell (SPEC §2)."""

    carrier_ghz: float = 2.0  # [GHz]
    rb_bandwidth_hz: float = 180e3  # [Hz] bandwidth of one resource block
    n_rb: int = 50  # resource blocks per cell
    noise_psd_dbm_hz: float = -174.0  # [dBm/Hz] thermal noise density
    noise_figure_db: float = 7.0  # [dB] receiver noise figure
    coverage_threshold_dbm: float = -105.0  # [dBm] RSRP needed for coverage
    mr_top_k: int = 6  # entries in a measurement report
    mr_noise_db: float = 2.0  # [dB] std of RSRP measurement noise
    ue_height_m: float = 1.5  # [m]

    def __post_init__(self) -> None:
        s = "radio"
        _check_types(self, s)
        _check_range(s, "carrier_ghz", self.carrier_ghz, 0.5, 100.0)
        _check_range(s, "rb_bandwidth_hz", self.rb_bandwidth_hz, 1e3, 1e8)  # LTE 180 kHz .. NR 960 kHz SCS
        _check_int(s, "n_rb", self.n_rb, 1, 10_000)
        _check_range(s, "noise_psd_dbm_hz", self.noise_psd_dbm_hz, -220.0, -100.0)
        _check_range(s, "noise_figure_db", self.noise_figure_db, 0.0, 30.0)
        _check_range(s, "coverage_threshold_dbm", self.coverage_threshold_dbm, -156.0, -31.0)
        _check_int(s, "mr_top_k", self.mr_top_k, 1, 32)
        _check_range(s, "mr_noise_db", self.mr_noise_db, 0.0, 20.0)
        _check_range(s, "ue_height_m", self.ue_height_m, 0.5, 300.0)

    @property
    def noise_per_rb_dbm(self) -> float:
        """Noise power in one resource block [dBm]."""
        return self.noise_psd_dbm_hz + self.noise_figure_db + 10.0 * math.log10(self.rb_bandwidth_hz)


SITE_LAYOUTS = ("hex", "random", "csv", "rooftop")


@dataclass(frozen=True)
class SitesConfig:
    """Where the cells are and what they are (SPEC §1, paper 002 Table I).

    ``layout``: ``"hex"`` (macro sites on a hexagonal grid), ``"random"`` (macro sites
    uniformly at random), ``"csv"`` (``csv_path`` with ``lat, lon, height, azimuth``
    columns), ``"rooftop"`` (on the city's buildings; needs an OSM channel source; antennas
    ``mast_above_roof_m`` above the roof; ``n_sites = 0`` derives the count from the area and ``isd_m``).
    """

    layout: str = "hex"
    n_sites: int = 7  # macro sites
    sectors: int = 3  # cells per macro site (1 = omni)
    isd_m: float = 350.0  # [m] inter-site distance on the hex grid
    macro_height_m: float = 25.0  # [m]
    mast_above_roof_m: float = 15.0  # [m] rooftop layout: antenna height above the roof it stands on
    macro_power_dbm: float = 43.0  # [dBm] max transmit power of a macro cell
    macro_tilt_deg: float = 8.0  # [deg] downtilt (mechanical + electrical)
    macro_kind: str = "macro"  # EARTH power-model class of macro cells
    n_small_cells: int = 0  # indoor/outdoor small cells
    small_height_m: float = 6.0  # [m]
    small_power_dbm: float = 24.0  # [dBm]
    small_kind: str = "micro"  # EARTH power-model class of small cells
    small_indoor: bool = True  # small cells placed indoors (O2I on their links)
    ref_power_offset_db: float = -10.0  # [dB] CPICH/reference power relative to per-RB share
    csv_path: str = ""
    bbu_power_w: float = 100.0  # [W] baseband unit of a site, while any of its cells is on or asleep
    aircon_factor: float = 0.1  # air-conditioning power as a share of the site's radio + BBU power

    def __post_init__(self) -> None:
        s = "sites"
        _check_types(self, s)
        _check_range(s, "bbu_power_w", self.bbu_power_w, 0.0, 10_000.0)
        _check_range(s, "aircon_factor", self.aircon_factor, 0.0, 2.0)
        _check_choice(s, "layout", self.layout, SITE_LAYOUTS)
        _check_int(s, "n_sites", self.n_sites, 0, 100_000)
        _check_int(s, "sectors", self.sectors, 1, 6)
        _check_range(s, "isd_m", self.isd_m, 10.0, 100_000.0)
        _check_range(s, "macro_height_m", self.macro_height_m, 1.0, 300.0)
        _check_range(s, "mast_above_roof_m", self.mast_above_roof_m, 0.5, 100.0)
        _check_range(s, "macro_power_dbm", self.macro_power_dbm, -10.0, 60.0)
        _check_range(s, "macro_tilt_deg", self.macro_tilt_deg, -20.0, 45.0)
        _check_choice(s, "macro_kind", self.macro_kind, ("macro", "micro", "pico"))
        _check_int(s, "n_small_cells", self.n_small_cells, 0, 1_000_000)
        _check_range(s, "small_height_m", self.small_height_m, 1.0, 100.0)
        _check_range(s, "small_power_dbm", self.small_power_dbm, -10.0, 60.0)
        _check_choice(s, "small_kind", self.small_kind, ("macro", "micro", "pico"))
        _check_range(s, "ref_power_offset_db", self.ref_power_offset_db, -40.0, 0.0)
        if self.layout == "csv" and not self.csv_path:
            raise ConfigError(
                "sites.csv_path = '': layout 'csv' needs the path of a CSV with lat, lon, height, azimuth"
            )
        if self.layout in ("hex", "random") and self.n_sites == 0 and self.n_small_cells == 0:
            raise ConfigError("sites.n_sites = 0 and sites.n_small_cells = 0: a scenario needs at least one cell")


@dataclass(frozen=True)
class UsersConfig:
    """User population and its movement (SPEC §1, §7)."""

    n_users: int = 200
    mobility: str = "straight"  # "straight" | "static" | "road" (road network; needs OSM)
    speed_min_mps: float = 0.5  # [m/s]
    speed_max_mps: float = 15.0  # [m/s]
    indoor_fraction: float = 0.0  # share of users indoors (O2I loss)
    vehicle_fraction: float = 0.5  # share of outdoor road users that drive (road mobility)

    def __post_init__(self) -> None:
        s = "users"
        _check_types(self, s)
        _check_int(s, "n_users", self.n_users, 1, 10_000_000)
        _check_choice(s, "mobility", self.mobility, ("straight", "static", "road"))
        _check_range(s, "speed_min_mps", self.speed_min_mps, 0.0, 100.0)
        _check_range(s, "speed_max_mps", self.speed_max_mps, 0.0, 100.0)
        if self.speed_max_mps < self.speed_min_mps:
            raise ConfigError(
                f"users.speed_max_mps = {self.speed_max_mps!r}: must be >= users.speed_min_mps ({self.speed_min_mps!r})"
            )
        _check_range(s, "indoor_fraction", self.indoor_fraction, 0.0, 1.0)
        _check_range(s, "vehicle_fraction", self.vehicle_fraction, 0.0, 1.0)


@dataclass(frozen=True)
class TrafficConfig:
    """Traffic demand (SPEC §3, §6).

    ``model="uniform"``: each user's episode demand is uniform in
    ``[0, max_demand_rb_s * rb_bandwidth]`` bits (paper 002 §V.B: 60 RB-seconds);
    ``model="lstm"``: per-cell/grid series from the FFT + LSTM traffic twin.
    """

    model: str = "uniform"  # "uniform" | "lstm"
    max_demand_rb_s: float = 60.0  # [RB·s at 1 bit/s/Hz] upper bound of a user's episode demand
    weights: str = ""  # pretrained weights for the LSTM traffic twin ("" = bundled)

    def __post_init__(self) -> None:
        s = "traffic"
        _check_types(self, s)
        _check_choice(s, "model", self.model, ("uniform", "lstm"))
        _check_range(s, "max_demand_rb_s", self.max_demand_rb_s, 0.0, 1e6)


@dataclass(frozen=True)
class ChannelConfig:
    """Channel model (SPEC §2): statistical TR 38.901 or Sionna RT ray tracing."""

    model: str = "statistical"  # "statistical" | "raytraced"
    scenario: str = "auto"  # 38.901 scenario for macro cells: "auto" | "uma" | "umi"
    shadowing: bool = True  # log-normal shadow fading, spatially correlated
    shadow_grid_m: float = 10.0  # [m] resolution of the correlated shadowing field
    los: str = "random"  # "random" (38.901 LoS probability) | "los" | "nlos"
    o2i: str = "low"  # O2I penetration model for indoor users: "low" | "high"
    fading: str = "rayleigh"  # small-scale fading: "none" | "rayleigh" | "rician"
    rician_k_db: float = 9.0  # [dB] K-factor for Rician fading
    doppler_hz: float = 10.0  # [Hz] max Doppler of the Jakes time correlation
    # ray tracing (model="raytraced")
    source: str = ""  # "" | path to .osm | "bundled:helsinki" | "sionna:<scene>"
    cell_size_m: float | None = None  # [m] radio-map resolution; None: 5 m up to 1 km^2 of area, 10 m above
    max_depth: int = 3  # ray interactions
    samples_per_tx: int | None = None  # rays per transmitter; None: sized to the map (raytraced.ray_budget)
    scattering_coefficient: float = 0.0  # diffuse reflection of the buildings' ITU materials (0 = off), in [0, 1]
    diffraction: bool = True
    refraction: bool = False
    default_building_height_m: float = 12.0  # [m] when OSM has neither height nor levels

    def __post_init__(self) -> None:
        s = "channel"
        _check_types(self, s)
        _check_choice(s, "model", self.model, ("statistical", "raytraced"))
        _check_choice(s, "scenario", self.scenario, ("auto", "uma", "umi"))
        _check_range(s, "shadow_grid_m", self.shadow_grid_m, 1.0, 1000.0)
        _check_choice(s, "los", self.los, ("random", "los", "nlos"))
        _check_choice(s, "o2i", self.o2i, ("low", "high"))
        _check_choice(s, "fading", self.fading, ("none", "rayleigh", "rician"))
        _check_range(s, "rician_k_db", self.rician_k_db, -20.0, 40.0)
        _check_range(s, "doppler_hz", self.doppler_hz, 0.0, 10_000.0)
        if self.cell_size_m is not None:
            _check_range(s, "cell_size_m", self.cell_size_m, 0.1, 1000.0)
        _check_int(s, "max_depth", self.max_depth, 0, 20)
        if self.samples_per_tx is not None:
            _check_int(s, "samples_per_tx", self.samples_per_tx, 1, 10**9)
        _check_range(s, "scattering_coefficient", self.scattering_coefficient, 0.0, 1.0)
        _check_range(s, "default_building_height_m", self.default_building_height_m, 1.0, 500.0)
        if self.model == "raytraced" and not self.source:
            raise ConfigError(
                "channel.source = '': the ray-traced channel needs a geometry source "
                "(a .osm path, 'bundled:helsinki' or 'sionna:<scene>')"
            )


@dataclass(frozen=True)
class ScenarioConfig:
    """One twin: an area with cells, users, traffic and a channel model."""

    name: str = "custom"
    seed: int = 0  # seed of the fixed parts of the twin: site layout, shadowing, LoS states
    width_m: float = 1000.0  # [m] area extent along x (east)
    height_m: float = 1000.0  # [m] area extent along y (north)
    radio: RadioConfig = field(default_factory=RadioConfig)
    sites: SitesConfig = field(default_factory=SitesConfig)
    users: UsersConfig = field(default_factory=UsersConfig)
    traffic: TrafficConfig = field(default_factory=TrafficConfig)
    channel: ChannelConfig = field(default_factory=ChannelConfig)

    def __post_init__(self) -> None:
        _check_types(self, "scenario")
        for sub, cls in (("radio", RadioConfig), ("sites", SitesConfig), ("users", UsersConfig),
                         ("traffic", TrafficConfig), ("channel", ChannelConfig)):
            if not isinstance(getattr(self, sub), cls):
                raise ConfigError(f"{sub} = {getattr(self, sub)!r}: expected a dict of {sub} fields")
        _check_int("scenario", "seed", self.seed, 0, 2**63 - 1)
        _check_range("scenario", "width_m", self.width_m, 10.0, 100_000.0)
        _check_range("scenario", "height_m", self.height_m, 10.0, 100_000.0)
        if self.sites.layout == "rooftop" and self.channel.source == "":
            raise ConfigError("sites.layout = 'rooftop': needs channel.source to name a city (OSM file or scene)")
        if self.users.mobility == "road" and self.channel.source == "":
            raise ConfigError("users.mobility = 'road': needs channel.source to name a city with a road network")

    def to_dict(self) -> dict[str, Any]:
        """Plain nested dict (JSON-serialisable)."""
        return config_to_dict(self)

    def to_json(self) -> str:
        """Canonical JSON (sorted keys) used for cache keys."""
        return json.dumps(self.to_dict(), sort_keys=True)

    def replace(self, overrides: dict[str, Any] | None = None) -> ScenarioConfig:
        """A copy with nested ``overrides`` applied (unknown keys are errors)."""
        return _apply(self, overrides or {}, "scenario")


T = TypeVar("T")


def config_to_dict(cfg: Any) -> dict[str, Any]:
    """Nested dict of a (frozen) dataclass configuration."""
    return dataclasses.asdict(cfg)


def _apply(cfg: T, overrides: dict[str, Any], where: str) -> T:
    if not isinstance(overrides, dict):
        raise ConfigError(f"{where}: overrides must be a dict, got {type(overrides).__name__}")
    known = {f.name: f for f in fields(cfg)}  # type: ignore[arg-type]
    changes: dict[str, Any] = {}
    for key, value in overrides.items():
        if key not in known:
            raise ConfigError(f"{where}.{key}: unknown field; allowed fields are {', '.join(sorted(known))}")
        current = getattr(cfg, key)
        if is_dataclass(current) and not isinstance(current, type):
            if is_dataclass(value) and not isinstance(value, type):
                changes[key] = value
            else:
                changes[key] = _apply(current, value, key if where == "scenario" else f"{where}.{key}")
        else:
            value = _typed(type(cfg), where, key, value)
            if isinstance(current, tuple) and isinstance(value, list):
                value = tuple(value)
            changes[key] = value
    return dataclasses.replace(cfg, **changes)  # type: ignore[type-var]


def config_from_dict(data: dict[str, Any]) -> ScenarioConfig:
    """Inverse of :func:`config_to_dict`."""
    return ScenarioConfig().replace(data)


PRESETS: dict[str, ScenarioConfig] = {
    # 7 three-sector macro sites (21 cells), 200 users, 1 x 1 km, statistical channel.
    "toy": ScenarioConfig(
        name="toy",
        width_m=1000.0,
        height_m=1000.0,
        radio=RadioConfig(n_rb=25),
        sites=SitesConfig(layout="hex", n_sites=7, sectors=3, isd_m=350.0, macro_power_dbm=43.0),
        users=UsersConfig(n_users=200),
    ),
    # Paper 002 Table I / §V.B: 2 x 2 km, 39 outdoor cells at 30 dBm, 145 indoor at 24 dBm,
    # 8,000 users, 180 kHz RBs, -174 dBm/Hz. 13 three-sector sites give the 39 outdoor cells.
    # RBs per cell: 45 channels as in Table I (the "184 resource blocks" of §V.B is one per BS).
    "paper": ScenarioConfig(
        name="paper",
        width_m=2000.0,
        height_m=2000.0,
        radio=RadioConfig(n_rb=45, rb_bandwidth_hz=180e3, noise_psd_dbm_hz=-174.0),
        sites=SitesConfig(
            layout="hex", n_sites=13, sectors=3, isd_m=500.0, macro_power_dbm=30.0, macro_kind="micro",
            macro_height_m=20.0,
            n_small_cells=145, small_power_dbm=24.0, small_kind="pico", small_indoor=True,
        ),
        users=UsersConfig(n_users=8000, speed_min_mps=0.5, speed_max_mps=15.0, indoor_fraction=0.3),
    ),
    # Central Helsinki from OpenStreetMap (bundled), ray-traced channel, rooftop sites, road mobility.
    "helsinki": ScenarioConfig(
        name="helsinki",
        width_m=1000.0,
        height_m=1000.0,
        radio=RadioConfig(n_rb=50, carrier_ghz=3.5),
        sites=SitesConfig(layout="rooftop", n_sites=0, sectors=3, macro_power_dbm=43.0),  # n_sites 0: from isd_m
        users=UsersConfig(n_users=500, mobility="road"),
        channel=ChannelConfig(model="raytraced", source="bundled:helsinki"),
    ),
}


def make_config(scenario: str | ScenarioConfig | dict[str, Any] = "toy",
                overrides: dict[str, Any] | None = None) -> ScenarioConfig:
    """Build a configuration from a preset name (or a config / dict) plus nested overrides."""
    if isinstance(scenario, ScenarioConfig):
        base = scenario
    elif isinstance(scenario, dict):
        base = config_from_dict(scenario)
    elif isinstance(scenario, str):
        if scenario not in PRESETS:
            allowed = ", ".join(map(repr, PRESETS))
            raise ConfigError(f"scenario = {scenario!r}: unknown preset; allowed values are {allowed}")
        base = PRESETS[scenario]
    else:
        raise ConfigError(f"scenario = {scenario!r}: expected a preset name, a dict or a ScenarioConfig")
    return base.replace(overrides) if overrides else base


def split_config(config: dict[str, Any] | None) -> tuple[dict[str, Any], dict[str, Any]]:
    """Split an env's ``config`` kwarg into (scenario overrides, task overrides).

    The ``"task"`` key holds the task's own parameters; every other key overrides the
    scenario (``radio``, ``sites``, ``users``, ``traffic``, ``channel``, ``seed``, ...).
    """
    if config is None:
        return {}, {}
    if not isinstance(config, dict):
        raise ConfigError(f"config = {config!r}: expected a dict of overrides")
    rest = dict(config)
    task = rest.pop("task", {})
    if not isinstance(task, dict):
        raise ConfigError(f"config['task'] = {task!r}: expected a dict of task parameters")
    return rest, task


def apply_overrides(cfg: T, overrides: dict[str, Any] | None, where: str) -> T:
    """Apply nested ``overrides`` to any frozen config dataclass (errors name ``where.field``)."""
    return _apply(cfg, overrides or {}, where) if overrides else cfg
