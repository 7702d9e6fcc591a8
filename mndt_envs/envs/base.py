"""The one Gymnasium adapter: any :class:`~mndt_envs.tasks.contract.TaskCore` as a ``gymnasium.Env``.

A task's env is a few declarative lines::

    class CellSleepEnv(MaskedTaskEnv):
        \"\"\"... ## Description / ## Action Space / ## Observation Space / ## Rewards / ## Episode End\"\"\"

        core_cls = CellSleepCore
        renderer = "mndt_envs.tasks.cell_sleep.render:render"

The adapter owns seeding (``reset(seed=...)`` seeds ``np_random``, which the core keeps for the
episode), the "episode over" error, the info dict (:meth:`StepResult.info`) and rendering; the
observation table of the class docstring is generated from the core's ``features``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, ClassVar

import gymnasium as gym
import numpy as np

from ..registration import load_entry
from ..tasks.contract import EpisodeOverError, Feature

__all__ = ["TaskEnv", "MaskedTaskEnv", "feature_table", "load_renderer"]


def _fmt_offset(terms: dict[str, int]) -> str:
    """``{"": 1, "n": 2}`` -> ``"2n + 1"`` (symbolic index of an observation entry)."""
    out = " + ".join((f"{c}{s}" if c != 1 else s) for s, c in terms.items() if s and c)
    const = terms.get("", 0)
    if not out:
        return str(const)
    return out + (f" + {const}" if const > 0 else f" - {-const}" if const < 0 else "")


def _fmt_num(x: float | str) -> str:
    if isinstance(x, str):
        return x
    if np.isinf(x):
        return "-inf" if x < 0 else "inf"
    return f"{x:g}"


def feature_table(features: Sequence[Feature]) -> str:
    """A Markdown table (index, name, unit, range, description) of an observation's entries."""
    rows = ["| index | name | unit | range | description |", "|---|---|---|---|---|"]
    off: dict[str, int] = {"": 0}
    for f in features:
        start = _fmt_offset(off)
        if f.size == "1":
            idx = start
        else:
            end = dict(off)
            end[f.size] = end.get(f.size, 0) + 1
            end[""] = end.get("", 0) - 1
            idx = f"{start} … {_fmt_offset(end)}"
        desc = f.description.replace("|", "\\|")  # a pipe would end the Markdown cell
        rows.append(f"| {idx} | `{f.name}` | {f.unit} | [{_fmt_num(f.low)}, {_fmt_num(f.high)}] | {desc} |")
        key = "" if f.size == "1" else f.size
        off[key] = off.get(key, 0) + 1
    return "\n".join(rows)


def insert_table(doc: str | None, features: Sequence[Feature], section: str = "## Observation Space") -> str | None:
    """``doc`` with :func:`feature_table` appended to its ``section`` (unchanged without features)."""
    if not doc or not features or section not in doc:
        return doc
    lines = doc.split("\n")
    i = next(k for k, ln in enumerate(lines) if ln.strip() == section)
    indent = lines[i][: len(lines[i]) - len(lines[i].lstrip())]
    j = next((k for k in range(i + 1, len(lines)) if lines[k].strip().startswith("## ")), len(lines))
    while j > i + 1 and not lines[j - 1].strip():
        j -= 1
    table = [indent + ln for ln in feature_table(features).split("\n")]
    return "\n".join(lines[:j] + [""] + table + lines[j:])


def load_renderer(entry: str | None) -> Any:
    """Import a ``"module:function"`` renderer (called as ``fn(core) -> (H, W, 3) uint8``)."""
    return None if entry is None else load_entry(entry)


def setup_task_class(cls: Any, features_attr: str) -> None:
    """Class set-up of an adapter subclass (``__init_subclass__``) shared by the Gymnasium and PettingZoo forms.

    Adds the ``"human"`` render mode where ``"rgb_array"`` is offered (its frames in a matplotlib
    window) and appends the table of the core's ``features_attr`` to the class docstring.
    """
    modes = list(cls.metadata.get("render_modes", []))
    if "rgb_array" in modes and "human" not in modes:  # "human": the rgb_array frames in a matplotlib window
        cls.metadata = {**cls.metadata, "render_modes": [*modes, "human"]}
    core = cls.__dict__.get("core_cls")
    if core is not None:
        cls.__doc__ = insert_table(cls.__doc__, getattr(core, features_attr, ()))


def check_render_mode(render_mode: str | None, metadata: dict[str, Any]) -> None:
    """Raise ``ValueError`` naming the allowed values unless ``render_mode`` is ``None`` or one of ``metadata``'s."""
    if render_mode is not None and render_mode not in metadata["render_modes"]:
        raise ValueError(f"render_mode = {render_mode!r}: allowed values are None, "
                         + ", ".join(repr(m) for m in metadata["render_modes"]))


def render_task(env: Any, fps: float) -> Any:
    """``env.render()`` of an adapter: the frame (``rgb_array``), or shown in a matplotlib window (``human``).

    Args:
        env: the adapter (``render_mode``, ``renderer``, ``core``; its window is kept as ``env._viewer``).
        fps: frame rate of the window.
    """
    if env.render_mode not in ("rgb_array", "human") or env.renderer is None:
        return None
    frame = load_renderer(env.renderer)(env.core)
    if env.render_mode == "rgb_array":
        return frame
    if getattr(env, "_viewer", None) is None:
        from ..viewer import MatplotlibViewer  # pygame is not needed

        env._viewer = MatplotlibViewer(type(env).__name__, fps)
    env._viewer.show(frame)
    return None


def close_viewer(env: Any) -> None:
    """Close the matplotlib window of :func:`render_task`, if one is open."""
    if getattr(env, "_viewer", None) is not None:
        env._viewer.close()
        env._viewer = None


class TaskEnv(gym.Env[Any, Any]):
    """Generic single-agent env over a task core (subclasses set ``core_cls`` and a docstring).

    Kwargs: ``scenario`` (preset name, dict or config; default ``"toy"``), ``config`` (scenario
    overrides plus ``"task"``), ``render_mode`` (``None``, ``"rgb_array"``, or ``"human"``: a matplotlib
    window, no pygame needed).
    """

    core_cls: ClassVar[type]
    renderer: ClassVar[str | None] = None
    metadata: dict[str, Any] = {"render_modes": ["rgb_array"], "render_fps": 4}

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        setup_task_class(cls, "features")

    def __init__(self, scenario: Any = "toy", config: dict[str, Any] | None = None,
                 render_mode: str | None = None) -> None:
        check_render_mode(render_mode, self.metadata)
        self.render_mode = render_mode
        self.core = self.core_cls(scenario, config)
        self.observation_space, self.action_space = self.core.spaces()
        self._episode_over = True  # until the first reset

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None) -> tuple[Any, dict[str, Any]]:
        super().reset(seed=seed)
        info = self.core.reset(self.np_random)
        self._episode_over = False
        if self.render_mode == "human":
            self.render()
        return self.core.observation(), info

    def step(self, action: Any) -> tuple[Any, float, bool, bool, dict[str, Any]]:
        if self._episode_over:
            raise EpisodeOverError(f"{type(self).__name__}.step(): the episode is over (or never started); "
                                   "call reset() first")
        res = self.core.step(action)
        self._episode_over = res.done
        if self.render_mode == "human":
            self.render()
        return self.core.observation(), float(res.reward), bool(res.terminated), bool(res.truncated), res.info()

    def render(self) -> Any:
        """The map as an (H, W, 3) uint8 array (``rgb_array``), or shown in a matplotlib window (``human``)."""
        return render_task(self, float(self.metadata.get("render_fps", 4)))

    def close(self) -> None:
        close_viewer(self)
        super().close()


class MaskedTaskEnv(TaskEnv):
    """:class:`TaskEnv` of a task with action masks (sb3-contrib's ``MaskablePPO`` reads :meth:`action_masks`)."""

    def action_masks(self) -> np.ndarray:
        """Flattened bool mask of legal actions (``True`` = legal); the observation's mask stays int8."""
        m = self.core.action_mask()
        return np.asarray(m, dtype=bool)
