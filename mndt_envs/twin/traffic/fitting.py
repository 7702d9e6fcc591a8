"""The mini-batch training pieces the traffic forecasters share (Adam epochs, CPU budget, early stopping)."""

from __future__ import annotations

import copy
import math
import time
from collections.abc import Callable
from typing import Any

import numpy as np

__all__ = ["BestWeights", "as_series_list", "fit_epochs", "out_of_budget", "train_epoch"]


def as_series_list(train: np.ndarray | list[np.ndarray], fn: str) -> list[np.ndarray]:
    """The training series as a list of float64 arrays (one array = one series).

    Raises:
        ValueError: no series (the message starts with the trainer's name ``fn``).
    """
    series_list = [np.asarray(train, dtype=np.float64)] if isinstance(train, np.ndarray) else [
        np.asarray(s, dtype=np.float64) for s in train]
    if not series_list:
        raise ValueError(f"{fn}: no training series")
    return series_list


def out_of_budget(t0: float, max_seconds: float | None) -> bool:
    """Whether more than ``max_seconds`` of process CPU time have passed since ``t0`` (never if None)."""
    return max_seconds is not None and time.process_time() - t0 > max_seconds


def train_epoch(net: Any, opt: Any, x: Any, y: Any, batch_loss: Callable[[Any, Any], Any], rs: np.random.Generator,
                batch_size: int, t0: float, max_seconds: float | None) -> float:
    """One epoch over ``(x, y)`` in an order drawn from ``rs``; returns the mean training loss.

    Each mini-batch: ``batch_loss(net(x[b]), y[b])``, backward, gradient norm clipped at 1, one
    optimiser step. The epoch stops early once the CPU budget is spent (:func:`out_of_budget`).
    """
    import torch

    net.train()
    perm = torch.from_numpy(rs.permutation(len(x)))
    tot, seen = 0.0, 0
    for i in range(0, len(x), batch_size):
        if out_of_budget(t0, max_seconds):
            break  # budget spent mid-epoch
        b = perm[i:i + batch_size]
        opt.zero_grad()
        loss = batch_loss(net(x[b]), y[b])
        loss.backward()
        torch.nn.utils.clip_grad_norm_(net.parameters(), 1.0)
        opt.step()
        tot += float(loss.detach()) * len(b)
        seen += len(b)
    return tot / max(seen, 1)


class BestWeights:
    """Early stopping: keeps a copy of the weights of the best validation score (lower is better).

    Args:
        min_delta: an epoch counts as an improvement only if its score is below ``best - min_delta``.
    """

    def __init__(self, min_delta: float) -> None:
        self.min_delta = min_delta
        self.best = math.inf
        self.state: dict[str, Any] | None = None
        self.bad = 0  # epochs since the last improvement

    def update(self, net: Any, score: float) -> None:
        """Record an epoch's validation ``score`` (copies ``net``'s weights on an improvement)."""
        if score < self.best - self.min_delta:
            self.best, self.state, self.bad = score, copy.deepcopy(net.state_dict()), 0
        else:
            self.bad += 1

    def restore(self, net: Any) -> None:
        """Load the best weights into ``net`` (unchanged if no score was recorded)."""
        if self.state is not None:
            net.load_state_dict(self.state)


def fit_epochs(net: Any, epochs: int, run_epoch: Callable[[], dict[str, float]],
               validate: Callable[[], tuple[str, float]] | None, keeper: BestWeights, patience: int, t0: float,
               max_seconds: float | None, history: list[dict[str, float]],
               log: Callable[[dict[str, float]], str] | None = None) -> None:
    """The epoch loop of the traffic forecasters: train, validate, keep the best weights, stop early.

    Each epoch appends ``{"epoch": e, **run_epoch(), name: score}`` to ``history`` (``validate`` returns
    the score's name and value; without it no score is recorded and only the CPU budget stops the loop),
    prints ``log(record)`` if given, and stops after ``patience`` epochs without improvement or once the
    CPU budget since ``t0`` is spent. The best weights are loaded back and ``net`` is left in eval mode.
    """
    for epoch in range(epochs):
        rec = {"epoch": float(epoch), **run_epoch()}
        if validate is not None:
            name, score = validate()
            rec[name] = score
            keeper.update(net, score)
        history.append(rec)
        if log is not None:
            print(log(rec), flush=True)
        if validate is not None and keeper.bad >= patience:
            break
        if out_of_budget(t0, max_seconds):
            break
    keeper.restore(net)
    net.eval()
