"""Memory guard: estimate what a scenario will allocate and refuse it before allocating.

:func:`estimate_bytes` itemises the large arrays a twin allocates (the statistical
channel's frozen fields over the area grid and its per-cell gain maps, the per-link
``(n_cells, n_users)`` arrays of every update, the ray-traced radio maps and the
parsing of an OSM file); :func:`check_memory` raises :class:`~mndt_envs.config.ConfigError`
naming the estimate, its largest items and the limit when the estimate exceeds the limit.
:class:`~mndt_envs.twin.network.NetworkTwin` calls it before it builds the channel.

The limit is ``$MNDT_MEMORY_LIMIT`` if set: a size (``"8GiB"``, ``"500MB"``, bytes), a
share of the machine's RAM (``"0.5"`` or ``"50%"``) or ``"none"`` (no guard); else
:data:`DEFAULT_SHARE` of the machine's physical RAM. :func:`set_memory_limit` changes it
for the process.

The per-item factors were measured (peak resident memory of twin builds and steps, see
``docs/hardening.md``); the estimate aims to be within a factor of about 1.5 of the peak
of the twin (a task adds its own, usually smaller, arrays).
"""

from __future__ import annotations

import math
import os
import re
from pathlib import Path
from typing import TYPE_CHECKING

from ..config import ConfigError

if TYPE_CHECKING:
    from ..config import ScenarioConfig

__all__ = ["DEFAULT_SHARE", "check_memory", "estimate_bytes", "memory_limit_bytes", "set_memory_limit",
           "total_ram_bytes", "format_bytes"]

DEFAULT_SHARE = 0.5  # default limit: this share of the machine's physical RAM
ENV_VAR = "MNDT_MEMORY_LIMIT"
BASE_BYTES = 150 * 2**20  # interpreter, numpy/scipy and small arrays

# bytes per element, measured (peak RSS) on the statistical twin
FIELD_BYTES_PER_CELL_POINT = 16.0  # 3 frozen float32 fields + the lazily built float32 gain map, per (cell, point)
FIELD_BUILD_BYTES_PER_CELL_POINT = 12.0  # temporaries while the fields are drawn (measured peak: 21-24 B in all)
LINK_BYTES = 48.0  # per (cell, user) link: distances, path loss, LoS, shadowing, gains, fading (measured 28-42 B)
RT_BYTES_PER_TX_CELL = 16.0  # ray-traced map per (transmitter, map cell): solver output, fill, stored map
OSM_BYTES_PER_FILE_BYTE = 25.0  # parsing OSM XML (ElementTree, osmnx frames) per byte of the file (measured 17)

_override: int | None | float = None
_UNITS = {"": 1, "b": 1, "k": 1e3, "kb": 1e3, "m": 1e6, "mb": 1e6, "g": 1e9, "gb": 1e9, "t": 1e12, "tb": 1e12,
          "kib": 2**10, "mib": 2**20, "gib": 2**30, "tib": 2**40}


def format_bytes(n: float) -> str:
    """``n`` bytes as a short human-readable size (GiB/MiB)."""
    if n >= 2**30:
        return f"{n / 2**30:.1f} GiB"
    return f"{n / 2**20:.0f} MiB"


def total_ram_bytes() -> int:
    """Physical memory of the machine (bytes)."""
    try:
        return int(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES"))
    except (ValueError, OSError, AttributeError):  # not POSIX: assume 8 GiB
        return 8 * 2**30


def _parse_limit(text: str) -> int | None:
    """A limit string as bytes (None: no guard).

    Raises:
        ConfigError: the string is not a size, a share or "none".
    """
    s = text.strip().lower().replace(" ", "")
    if s in ("none", "off", "0", "inf", "unlimited"):
        return None
    m = re.fullmatch(r"(\d+(?:\.\d+)?)(%)?", s)
    if m:
        v = float(m.group(1))
        share = v / 100.0 if m.group(2) else v
        if m.group(2) or v <= 1.0:
            if not 0.0 < share <= 1.0:
                raise ConfigError(f"{ENV_VAR} = {text!r}: a share of RAM must be in (0, 100%]")
            return int(share * total_ram_bytes())
        return int(v)
    m = re.fullmatch(r"(\d+(?:\.\d+)?)([a-z]+)", s)
    if m and m.group(2) in _UNITS:
        return int(float(m.group(1)) * _UNITS[m.group(2)])
    raise ConfigError(f"{ENV_VAR} = {text!r}: expected a size (e.g. '8GiB', '500MB'), a share of RAM "
                      f"('0.5' or '50%') or 'none'")


def set_memory_limit(limit: int | float | str | None) -> None:
    """Set the process's memory limit.

    Args:
        limit: bytes (int), a share of RAM (float in (0, 1]), a string as for
            ``$MNDT_MEMORY_LIMIT``, or ``None`` to go back to the environment variable / default.
    """
    global _override
    if limit is None:
        _override = None
    elif isinstance(limit, str):
        _override = _parse_limit(limit) or math.inf
    elif isinstance(limit, float) and 0.0 < limit <= 1.0:
        _override = int(limit * total_ram_bytes())
    elif isinstance(limit, (int, float)) and not isinstance(limit, bool) and limit > 0:
        _override = int(limit)
    else:
        raise ConfigError(f"memory limit = {limit!r}: expected bytes > 0, a share of RAM in (0, 1], a string "
                          "such as '8GiB' or '50%', or None")


def memory_limit_bytes() -> float:
    """The limit in bytes (``math.inf`` when the guard is off)."""
    if _override is not None:
        return float(_override)
    env = os.environ.get(ENV_VAR)
    if env:
        v = _parse_limit(env)
        return math.inf if v is None else float(v)
    return DEFAULT_SHARE * total_ram_bytes()


def _expected_cells(cfg: ScenarioConfig) -> int:
    s = cfg.sites
    if s.layout in ("hex", "random", "rooftop"):
        return s.n_sites * s.sectors + s.n_small_cells
    return max(1, s.n_sites) * s.sectors + s.n_small_cells  # csv: known once the file is read


def estimate_bytes(cfg: ScenarioConfig, n_cells: int | None = None, n_tx: int | None = None) -> dict[str, float]:
    """Itemised peak-memory estimate [bytes] of building and stepping the twin of ``cfg``.

    Args:
        cfg: the scenario.
        n_cells: the number of cells, when known (else derived from ``cfg.sites``).
        n_tx: distinct transmitter positions of a ray-traced channel (else one per site).

    Returns:
        item → bytes; ``"total"`` is their sum.
    """
    n = int(n_cells if n_cells is not None else _expected_cells(cfg))
    u = cfg.users.n_users
    ch = cfg.channel
    out: dict[str, float] = {"base": float(BASE_BYTES)}
    out["per-link arrays (cells x users)"] = LINK_BYTES * n * u
    step = ch.shadow_grid_m
    nx = math.ceil((cfg.width_m + 2 * step) / step) + 1
    ny = math.ceil((cfg.height_m + 2 * step) / step) + 1
    stat = (FIELD_BYTES_PER_CELL_POINT + FIELD_BUILD_BYTES_PER_CELL_POINT) * n * float(nx) * float(ny)
    if ch.model == "raytraced":
        tx = n_tx if n_tx is not None else max(1, cfg.sites.n_sites + cfg.sites.n_small_cells)
        from .channel.raytraced import cell_size_for

        cs = cell_size_for(cfg)
        rt = RT_BYTES_PER_TX_CELL * tx * float(math.ceil(cfg.width_m / cs)) * float(math.ceil(cfg.height_m / cs))
        # the statistical model is the fallback when ray tracing cannot run: count the larger of the two
        if rt >= stat:
            out["ray-traced radio maps (transmitters x map cells)"] = rt
        else:
            out["shadowing/LoS fields and gain maps (cells x grid)"] = stat
    else:
        out["shadowing/LoS fields and gain maps (cells x grid)"] = stat
    src = ch.source
    if src and not src.startswith(("bundled:", "sionna:")):
        try:
            size = Path(src).expanduser().stat().st_size
        except OSError:
            size = 0
        if src.endswith((".bz2", ".gz")):
            size *= 10  # compressed OSM XML expands about tenfold
        if size:
            out["OSM parsing"] = OSM_BYTES_PER_FILE_BYTE * size
    out["total"] = float(sum(out.values()))
    return out


def check_memory(cfg: ScenarioConfig, n_cells: int | None = None, n_tx: int | None = None,
                 extra: dict[str, float] | None = None) -> dict[str, float]:
    """Raise before allocating when the estimate of ``cfg`` exceeds the memory limit.

    Args:
        cfg: the scenario.
        n_cells: the number of cells, when known.
        n_tx: ray-traced transmitter positions, when known.
        extra: further items (name → bytes), e.g. a task's own arrays.

    Returns:
        The itemised estimate (see :func:`estimate_bytes`).

    Raises:
        ConfigError: naming the estimate, its largest items, the limit and how to change it.
    """
    est = estimate_bytes(cfg, n_cells, n_tx)
    if extra:
        est.pop("total")
        est.update(extra)
        est["total"] = float(sum(est.values()))
    limit = memory_limit_bytes()
    if est["total"] > limit:
        items = sorted(((v, k) for k, v in est.items() if k not in ("total", "base")), reverse=True)[:3]
        top = "; ".join(f"{k} {format_bytes(v)}" for v, k in items)
        raise ConfigError(
            f"scenario {cfg.name!r} needs an estimated {format_bytes(est['total'])} of memory, more than the limit "
            f"of {format_bytes(limit)} ({top}). Reduce users.n_users, the cells (sites.n_sites, sites.sectors, "
            f"sites.n_small_cells, sites.csv_path) or the area (width_m, height_m, channel.source), or raise "
            f"channel.shadow_grid_m / channel.cell_size_m; or raise the limit with ${ENV_VAR} (e.g. '32GiB', '80%', "
            f"'none') or mndt_envs.twin.memory.set_memory_limit()"
        )
    return est
