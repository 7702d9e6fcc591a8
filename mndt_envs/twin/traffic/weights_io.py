"""Reading and writing the torch weights files of the traffic models (generator, forecasters).

One place for the atomic write and for the checked read that turns every failure into an
error naming the file.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

from ..cache import atomic_path

__all__ = ["WEIGHTS_DIR", "load_state_file", "save_state_atomic"]

#: The package's folder of shipped weights files (``mndt_envs/data/weights``).
WEIGHTS_DIR = Path(__file__).resolve().parents[2] / "data" / "weights"

T = TypeVar("T")


def save_state_atomic(state: dict[str, Any], path: Path) -> None:
    """``torch.save(state)`` to ``path`` atomically (temporary file beside it + rename); creates the folder."""
    import torch

    with atomic_path(path) as tmp:
        torch.save(state, tmp)


def load_state_file(path: Path, build: Callable[[Any], T], *, missing: str, unreadable: str,
                    errors: tuple[type[Exception], ...]) -> T:
    """``build(state)`` for the torch state stored in ``path``.

    Args:
        path: the weights file.
        build: turns the loaded state into the model (a ``from_state`` class method).
        missing: message (after ``"{path}: "``) of the ``FileNotFoundError`` when there is no such file.
        unreadable: message (after ``"{path}: "``, before the cause) when torch cannot read the file.
        errors: the exceptions of ``build`` that mean a malformed state; re-raised as ``ValueError``.

    Raises:
        FileNotFoundError: no such file.
        ValueError: the file cannot be read, or ``build`` rejects its content.
    """
    import torch

    if not path.is_file():
        raise FileNotFoundError(f"{path}: {missing}")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # noqa: BLE001 - re-raised with the file name
        raise ValueError(f"{path}: {unreadable} ({exc})") from exc
    try:
        return build(state)
    except errors as exc:
        raise ValueError(f"{path}: {exc}") from exc
