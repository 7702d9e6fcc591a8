"""Public validators for task configs and actions: every error names what is wrong and what is allowed.

Config fields (raise :class:`~mndt_envs.config.ConfigError`, a ``ValueError``): :func:`check_range`,
:func:`check_int`, :func:`check_choice`, :func:`check_bool`. Actions (raise
:class:`~mndt_envs.tasks.contract.ActionError`, a ``ValueError``): :func:`as_real_array` (strict
dtype/shape checks: no strings, complex, booleans, objects, ragged lists or reshaping),
:func:`check_bounds`, :func:`check_agent_dict` and :func:`stack_agent_actions` (the PettingZoo form).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Literal

import numpy as np
from gymnasium import spaces

from ..config import ConfigError, _check_choice, _check_int, _check_range
from .contract import ActionError

__all__ = [
    "check_range",
    "check_int",
    "check_choice",
    "check_bool",
    "as_real_array",
    "check_bounds",
    "check_agent_dict",
    "stack_agent_actions",
]


def check_range(section: str, name: str, value: Any, lo: float | None = None, hi: float | None = None,
                *, lo_open: bool = False) -> None:
    """``section.name`` is a finite number in ``[lo, hi]`` (``(lo, hi]`` with ``lo_open``)."""
    _check_range(section, name, value, lo, hi, lo_open=lo_open)


def check_int(section: str, name: str, value: Any, lo: int, hi: int | None = None) -> None:
    """``section.name`` is an integer (not a bool) in ``[lo, hi]``."""
    _check_int(section, name, value, lo, hi)


def check_choice(section: str, name: str, value: Any, allowed: Sequence[str]) -> None:
    """``section.name`` is one of ``allowed``."""
    _check_choice(section, name, value, tuple(allowed))


def check_bool(section: str, name: str, value: Any) -> None:
    """``section.name`` is ``True`` or ``False`` (not ``"no"``, not ``0``)."""
    if not isinstance(value, bool):
        raise ConfigError(f"{section}.{name} = {value!r}: expected true or false")


def _describe(value: Any) -> str:
    return type(value).__name__ if not isinstance(value, np.ndarray) else f"array of dtype {value.dtype}"


def as_real_array(value: Any, name: str, shape: tuple[int, ...], kind: Literal["int", "float"]) -> np.ndarray:
    """``value`` as an array of exactly ``shape`` with real numeric entries.

    Rejects strings, bytes, complex, booleans, objects, dicts, ragged lists, NaN/inf and any other shape
    (no silent reshaping). With ``kind="int"`` floats must hold whole numbers; they are returned as int64.
    The result may share memory with ``value``: copy it before keeping it as state.

    Raises:
        ActionError: naming ``name``, what was given and what is allowed.
    """
    want = "integers" if kind == "int" else "real numbers"
    if isinstance(value, (str, bytes, Mapping)) or value is None:
        raise ActionError(f"{name}: expected an array of shape {shape} of {want}, got {_describe(value)}")
    try:
        arr = np.asarray(value)
    except (TypeError, ValueError) as exc:  # ragged nested lists and the like
        raise ActionError(f"{name}: expected an array of shape {shape} of {want}; not array-like ({exc})") from exc
    if arr.dtype == np.bool_ or arr.dtype.kind not in "iuf":
        raise ActionError(f"{name}: dtype {arr.dtype} not allowed; expected {want} (shape {shape})")
    if arr.shape != shape:
        raise ActionError(f"{name}: expected shape {shape}, got shape {arr.shape}")
    if arr.dtype.kind == "f":
        if not np.all(np.isfinite(arr)):
            bad = np.flatnonzero(~np.isfinite(arr.ravel()))
            raise ActionError(f"{name}: NaN or inf at flat index {bad[:10].tolist()}; expected finite {want}")
        if kind == "int":
            if not np.all(arr == np.round(arr)):
                raise ActionError(f"{name}: dtype {arr.dtype} with non-integer values; expected integers")
            arr = arr.astype(np.int64)
    return arr


def check_bounds(arr: np.ndarray, name: str, lo: float, hi: float) -> None:
    """Every entry of ``arr`` is in ``[lo, hi]``, else :class:`ActionError` naming the first offender."""
    if arr.size and (arr.min() < lo or arr.max() > hi):
        flat = arr.ravel()
        i = int(np.flatnonzero((flat < lo) | (flat > hi))[0])
        where = f"[{i}]" if arr.ndim else ""
        raise ActionError(f"{name}{where} = {flat[i]!r}: out of bounds; allowed range [{lo}, {hi}]")


def check_agent_dict(actions: Any, live: Sequence[str], known: Mapping[str, int]) -> None:
    """``actions`` is a mapping with exactly one entry per live agent.

    Raises:
        ActionError: for ``None``, non-dicts, an empty dict, missing agents or unknown agents.
    """
    if not isinstance(actions, Mapping):
        raise ActionError(f"actions: expected a dict {{agent: action}} with one entry per live agent "
                          f"({len(live)} agents), got {_describe(actions)}")
    if len(actions) == len(live) and all(a in actions for a in live):
        return
    unknown = [a for a in actions if a not in known]
    if unknown:
        raise ActionError(f"actions: unknown agent(s) {unknown[:5]!r}; agents are {live[0]!r} .. {live[-1]!r}")
    missing = [a for a in live if a not in actions]
    if missing:
        more = " ..." if len(missing) > 5 else ""
        raise ActionError(f"actions: missing the action(s) of {len(missing)} agent(s) {missing[:5]!r}{more}; "
                          "every live agent must act")
    extra = [a for a in actions if a not in live]
    raise ActionError(f"actions: agent(s) {extra[:5]!r} are no longer live")


def _try_stack(values: Sequence[Any]) -> np.ndarray | None:
    """The values as one array, or ``None`` where any of them needs a closer look (the slow path)."""
    for v in values:
        t = type(v)
        if t is int or t is float:  # the common case, first
            continue
        if isinstance(v, (str, bytes, Mapping, bool, np.bool_)) or v is None or (
                isinstance(v, np.ndarray) and v.dtype.kind not in "iuf"):
            return None
    try:
        return np.asarray(values)
    except (TypeError, ValueError):  # ragged
        return None


def stack_agent_actions(space: spaces.Space, values: Sequence[Any], names: Sequence[str], field: str = "") -> Any:
    """Check each agent's action against the shared agent ``space``; stack them along a leading agent axis.

    ``Discrete``/``MultiDiscrete``: integers (whole floats accepted) inside the space; ``Box``: finite real
    numbers of the space's shape (bounds are left to the task, which may clip); ``Dict``: a dict with exactly
    the space's keys, each checked and stacked the same way (returns a dict of stacked arrays).

    Raises:
        ActionError: naming the first offending agent (and field).
    """
    if isinstance(space, spaces.Dict):
        keys = list(space.spaces)
        for v, a in zip(values, names):
            if not isinstance(v, Mapping) or set(v) != set(keys):
                got = sorted(map(str, v)) if isinstance(v, Mapping) else _describe(v)
                raise ActionError(f"actions[{a!r}]: expected a dict with exactly the keys {keys}, got {got}")
        return {k: stack_agent_actions(space.spaces[k], [v[k] for v in values], names, f"{field}.{k}" if field
                                       else k) for k in keys}
    n = len(values)
    shape: tuple[int, ...]
    lo: float
    hi: float
    if isinstance(space, spaces.Discrete):
        shape, kind, lo, hi = (), "int", int(space.start), int(space.start) + int(space.n) - 1
    elif isinstance(space, spaces.MultiDiscrete):
        shape, kind, lo, hi = tuple(space.shape), "int", 0, int(np.max(space.nvec)) - 1
    elif isinstance(space, spaces.Box):
        shape, kind, lo, hi = tuple(space.shape), "float", -np.inf, np.inf
    else:  # pragma: no cover - the suite's tasks use the spaces above
        raise TypeError(f"stack_agent_actions: unsupported space {space}")
    arr = _try_stack(values)
    good = arr is not None and arr.shape == (n, *shape) and arr.dtype != np.bool_
    if arr is not None and good and kind == "float":
        good = arr.dtype.kind in "iuf" and bool(np.isfinite(arr).all())
    elif arr is not None and good:
        good = arr.dtype.kind in "iu" and (arr.size == 0 or (arr.min() >= lo and arr.max() <= hi))
        if good and isinstance(space, spaces.MultiDiscrete):
            good = bool(np.all(arr < space.nvec))
    if good:
        return arr
    out = np.empty((n, *shape), dtype=np.int64 if kind == "int" else np.float64)
    for i, (v, a) in enumerate(zip(values, names)):  # slow path: find and name the offender
        label = f"actions[{a!r}]" + (f"[{field!r}]" if field else "")
        x = as_real_array(v, label, shape, kind)  # type: ignore[arg-type]
        if isinstance(space, spaces.MultiDiscrete):
            bad = (x < 0) | (x >= space.nvec)
            if bad.any():
                j = int(np.flatnonzero(bad.ravel())[0])
                raise ActionError(f"{label}[{j}] = {x.ravel()[j]}: allowed values are 0 .. "
                                  f"{int(np.asarray(space.nvec).ravel()[j]) - 1}")
        elif kind == "int":
            check_bounds(x, label, lo, hi)
        out[i] = x
    return out
