"""``render_mode="human"`` without pygame: a matplotlib window showing an env's RGB frames.

The envs draw their frames with matplotlib (``render_mode="rgb_array"``); :class:`MatplotlibViewer`
shows those frames in a window, updated in place at every call. pygame is used only if a caller
asks for it; it is not a dependency. On a machine without a display (matplotlib's non-interactive
``Agg`` backend) the viewer keeps the last frame in its figure and never raises, so code written
for a desktop also runs in CI.

    viewer = MatplotlibViewer("mndt/CellSleep-v0")
    viewer.show(env.render())      # env made with render_mode="rgb_array"
    viewer.close()
"""

from __future__ import annotations

from typing import Any

import numpy as np

__all__ = ["MatplotlibViewer", "HumanRender"]


class MatplotlibViewer:
    """One matplotlib window that displays RGB frames.

    Args:
        title: window title.
        fps: frames per second to pace ``show`` on an interactive backend (0: no pause).
    """

    def __init__(self, title: str = "mndt-envs", fps: float = 4.0) -> None:
        self.title = title
        self.fps = fps
        self.fig: Any = None
        self._im: Any = None
        self.frames_shown = 0

    @property
    def interactive(self) -> bool:
        """True when matplotlib's backend opens windows (False for Agg and other file backends)."""
        import matplotlib

        return matplotlib.get_backend().lower() not in ("agg", "pdf", "ps", "svg", "cairo", "template")

    def show(self, frame: Any) -> None:
        """Display an (H, W, 3) uint8 frame.

        Raises:
            ValueError: the frame is not an (H, W, 3) or (H, W, 4) array.
        """
        frame = np.asarray(frame)
        if frame.ndim != 3 or frame.shape[2] not in (3, 4):
            raise ValueError(f"frame of shape {frame.shape}: expected (height, width, 3) RGB")
        import matplotlib.pyplot as plt

        if self.fig is None or not plt.fignum_exists(self.fig.number):
            self.fig = plt.figure(self.title, figsize=(frame.shape[1] / 100, frame.shape[0] / 100), dpi=100)
            ax = self.fig.add_axes((0.0, 0.0, 1.0, 1.0))
            ax.set_axis_off()
            self._im = ax.imshow(frame)
        else:
            self._im.set_data(frame)
        self.frames_shown += 1
        if self.interactive:
            self.fig.canvas.draw_idle()
            plt.pause(1.0 / self.fps if self.fps > 0 else 1e-3)
        else:
            self.fig.canvas.draw()

    def close(self) -> None:
        """Close the window."""
        if self.fig is not None:
            import matplotlib.pyplot as plt

            plt.close(self.fig)
            self.fig = None
            self._im = None


class HumanRender:
    """Gymnasium wrapper giving an ``rgb_array`` env a ``"human"`` mode through :class:`MatplotlibViewer`.

    ``HumanRender(gym.make(env_id, render_mode="rgb_array"))``: every ``step``/``reset`` shows the
    new frame, as Gymnasium's ``human`` mode does; ``render()`` returns None.
    """

    def __new__(cls, env: Any, fps: float | None = None) -> Any:
        import gymnasium as gym

        class _HumanRender(gym.Wrapper):  # type: ignore[type-arg]
            def __init__(self, env: Any) -> None:
                super().__init__(env)
                if env.render_mode != "rgb_array":
                    raise ValueError(f"render_mode = {env.render_mode!r}: HumanRender needs an env made with "
                                     "render_mode='rgb_array'")
                rate = fps or env.metadata.get("render_fps", 4)
                self.viewer = MatplotlibViewer(str(getattr(env.spec, "id", "mndt-envs")), float(rate))

            @property
            def render_mode(self) -> str:  # type: ignore[override]
                return "human"

            def reset(self, **kwargs: Any) -> Any:
                out = self.env.reset(**kwargs)
                self.viewer.show(self.env.render())
                return out

            def step(self, action: Any) -> Any:
                out = self.env.step(action)
                self.viewer.show(self.env.render())
                return out

            def render(self) -> None:
                return None

            def close(self) -> None:
                self.viewer.close()
                super().close()

        return _HumanRender(env)
