"""A small array namespace so the batched cores run on numpy arrays or torch tensors.

The batched cores write their per-step arithmetic against :class:`ArrayNamespace` (``self.xp``):
numpy on the CPU by default, or torch (``backend="torch"``, ``device="cuda"`` where a GPU is
present, CPU tensors otherwise). Only the handful of operations the cores need are wrapped, each
with the same meaning on both libraries; everything else is a plain operator (``+``, ``@``,
comparisons) that numpy arrays and torch tensors share.

Randomness never lives here: every episode draws from its own ``numpy.random.Generator`` (the
seeding contract of the single envs), and the draws are moved to the backend's device.
"""

from __future__ import annotations

from typing import Any

import numpy as np

__all__ = ["ArrayNamespace", "get_namespace", "BACKENDS"]

BACKENDS = ("numpy", "torch")


class ArrayNamespace:
    """Array operations over numpy (default) or torch.

    Args:
        backend: ``"numpy"`` or ``"torch"``.
        device: torch device (``"cpu"``, ``"cuda"``; ``None`` = ``"cuda"`` when available, else ``"cpu"``);
            must be ``None`` or ``"cpu"`` for numpy.
    """

    def __init__(self, backend: str = "numpy", device: str | None = None) -> None:
        if backend not in BACKENDS:
            raise ValueError(f"backend = {backend!r}: allowed values are {', '.join(map(repr, BACKENDS))}")
        self.name = backend
        if backend == "numpy":
            if device not in (None, "cpu"):
                raise ValueError(f"device = {device!r}: the numpy backend runs on 'cpu' only; use backend='torch'")
            self.device = "cpu"
            self.lib: Any = np
            self.float64: Any = np.float64
            self.float32: Any = np.float32
            self.int64: Any = np.int64
            self.int8: Any = np.int8
            self.bool: Any = np.bool_
        else:
            import torch

            if device is None:
                device = "cuda" if torch.cuda.is_available() else "cpu"
            self.device = str(device)
            self.lib = torch
            self.float64 = torch.float64
            self.float32 = torch.float32
            self.int64 = torch.int64
            self.int8 = torch.int8
            self.bool = torch.bool
        self.is_numpy = backend == "numpy"

    # ------------------------------------------------------------------ creation and transfer
    def asarray(self, x: Any, dtype: Any = None) -> Any:
        """``x`` as an array of this backend (copied to the device for torch)."""
        if self.is_numpy:
            return np.asarray(x if not _is_torch(x) else x.detach().cpu().numpy(), dtype=dtype)
        t = self.lib.as_tensor(x if not isinstance(x, np.ndarray) else np.ascontiguousarray(x), device=self.device)
        return t if dtype is None else t.to(dtype)

    def to_numpy(self, x: Any) -> np.ndarray:
        """A numpy array of ``x`` (a view for numpy, a host copy for torch)."""
        if isinstance(x, np.ndarray):
            return x
        if _is_torch(x):
            return x.detach().cpu().numpy()
        return np.asarray(x)

    def zeros(self, shape: tuple[int, ...], dtype: Any = None) -> Any:
        """Zeros of ``shape``."""
        dtype = self.float64 if dtype is None else dtype
        return np.zeros(shape, dtype) if self.is_numpy else self.lib.zeros(shape, dtype=dtype, device=self.device)

    def full(self, shape: tuple[int, ...], value: Any, dtype: Any = None) -> Any:
        """``value`` everywhere."""
        dtype = self.float64 if dtype is None else dtype
        if self.is_numpy:
            return np.full(shape, value, dtype)
        return self.lib.full(shape, value, dtype=dtype, device=self.device)

    def arange(self, n: int, dtype: Any = None) -> Any:
        """0, 1, ..., n-1."""
        dtype = self.int64 if dtype is None else dtype
        return np.arange(n, dtype=dtype) if self.is_numpy else self.lib.arange(n, dtype=dtype, device=self.device)

    def copy(self, x: Any) -> Any:
        """A copy of ``x``."""
        return x.copy() if self.is_numpy else x.clone()

    def astype(self, x: Any, dtype: Any) -> Any:
        """``x`` converted to ``dtype``."""
        return x.astype(dtype) if self.is_numpy else x.to(dtype)

    # ------------------------------------------------------------------ element-wise
    def where(self, cond: Any, a: Any, b: Any) -> Any:
        """``a`` where ``cond`` else ``b`` (scalars allowed)."""
        if self.is_numpy:
            return np.where(cond, a, b)
        return self.lib.where(cond, self._t(a, b), self._t(b, a))

    def maximum(self, a: Any, b: Any) -> Any:
        """Element-wise maximum (scalars allowed)."""
        return np.maximum(a, b) if self.is_numpy else self.lib.maximum(self._t(a, b), self._t(b, a))

    def minimum(self, a: Any, b: Any) -> Any:
        """Element-wise minimum (scalars allowed)."""
        return np.minimum(a, b) if self.is_numpy else self.lib.minimum(self._t(a, b), self._t(b, a))

    def clip(self, x: Any, lo: Any, hi: Any) -> Any:
        """Clip to ``[lo, hi]``."""
        if self.is_numpy:
            return np.clip(x, lo, hi)
        return self.lib.minimum(self.lib.maximum(x, self._t(lo, x)), self._t(hi, x))

    def exp(self, x: Any) -> Any:
        """Exponential."""
        return self.lib.exp(x)

    def log2(self, x: Any) -> Any:
        """Base-2 logarithm."""
        return self.lib.log2(x)

    def sin(self, x: Any) -> Any:
        """Sine."""
        return self.lib.sin(x)

    def cos(self, x: Any) -> Any:
        """Cosine."""
        return self.lib.cos(x)

    # ------------------------------------------------------------------ reductions and indexing
    def sum(self, x: Any, axis: int | None = None) -> Any:
        """Sum (over ``axis``)."""
        if self.is_numpy:
            return np.sum(x, axis=axis)
        return x.sum() if axis is None else x.sum(dim=axis)

    def any(self, x: Any, axis: int | None = None) -> Any:
        """Logical or (over ``axis``)."""
        if self.is_numpy:
            return np.any(x, axis=axis)
        return x.any() if axis is None else x.any(dim=axis)

    def all(self, x: Any, axis: int | None = None) -> Any:
        """Logical and (over ``axis``)."""
        if self.is_numpy:
            return np.all(x, axis=axis)
        return x.all() if axis is None else x.all(dim=axis)

    def argmax(self, x: Any, axis: int) -> Any:
        """Index of the maximum along ``axis`` (first on ties)."""
        return np.argmax(x, axis=axis) if self.is_numpy else self.lib.argmax(x, dim=axis)

    def take_along_axis(self, x: Any, idx: Any, axis: int) -> Any:
        """``x`` gathered at ``idx`` along ``axis`` (shapes broadcast as in numpy for numpy; equal ranks)."""
        if self.is_numpy:
            return np.take_along_axis(x, idx, axis=axis)
        return self.lib.gather(x, axis, idx)

    def segment_sum(self, values: Any, index: Any, n_bins: int) -> Any:
        """Per-row sums into bins: ``out[b, j] = Σ_i values[b, i] [index[b, i] == j]``, (B, n_bins).

        ``index`` entries outside ``[0, n_bins)`` are ignored.
        """
        b = index.shape[0]
        ok = (index >= 0) & (index < n_bins)
        if self.is_numpy:
            flat = np.where(ok, index, n_bins) + (n_bins + 1) * np.arange(b)[:, None]
            v = np.broadcast_to(values, index.shape)
            out = np.bincount(flat.ravel(), weights=v.ravel(), minlength=b * (n_bins + 1))
            return out.reshape(b, n_bins + 1)[:, :n_bins]
        torch = self.lib
        v = torch.broadcast_to(torch.as_tensor(values, device=self.device), index.shape).to(self.float64)
        out = torch.zeros((b, n_bins + 1), dtype=self.float64, device=self.device)
        out.scatter_add_(1, torch.where(ok, index, n_bins), v)
        return out[:, :n_bins]

    # ------------------------------------------------------------------ helpers
    def _t(self, a: Any, like: Any) -> Any:
        """A scalar as a 0-d tensor with the dtype and device of ``like`` (torch only)."""
        if isinstance(a, self.lib.Tensor):
            return a
        if isinstance(like, self.lib.Tensor):
            return self.lib.as_tensor(a, dtype=like.dtype if not isinstance(a, bool) else None, device=like.device)
        return self.lib.as_tensor(a, device=self.device)


def _is_torch(x: Any) -> bool:
    return type(x).__module__.startswith("torch")


def get_namespace(backend: str = "numpy", device: str | None = None) -> ArrayNamespace:
    """The :class:`ArrayNamespace` of ``backend`` on ``device``."""
    return ArrayNamespace(backend, device)
