"""Sparse helpers of the cell-sleep dynamics: CSR products without ``@``'s dispatch, gathered CSR rows."""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

try:  # scipy's own CSR kernels, called without the dispatch of ``@`` (same arithmetic, less overhead)
    from scipy.sparse._sparsetools import csr_matvec as _csr_matvec
except ImportError:  # pragma: no cover
    _csr_matvec = None

__all__ = ["csr_mul", "csr_rows"]


def csr_mul(m: sp.csr_matrix, x: np.ndarray) -> np.ndarray:
    """``m @ x`` for a float64 CSR matrix and a float64 vector, or ``(m @ x.T).T`` for a (k, n) stack.

    Calls scipy's own kernel without the dispatch of ``@``, one product per vector (faster than the
    multi-vector kernel; the same sums in the same order).
    """
    if _csr_matvec is None or x.dtype != np.float64:  # pragma: no cover
        return np.asarray(m @ x.T).T
    nr, nc = m.shape
    if x.ndim == 1:
        y = np.zeros(nr)
        _csr_matvec(nr, nc, m.indptr, m.indices, m.data, x, y)
        return y
    y = np.zeros((len(x), nr))
    for xi, yi in zip(x, y):
        _csr_matvec(nr, nc, m.indptr, m.indices, m.data, xi, yi)
    return y


def csr_rows(indptr: np.ndarray, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Entries of the given (non-empty list of) rows of a CSR structure, concatenated in order.

    Returns:
        (entries, row lengths, row ends in the concatenation).
    """
    start = indptr.take(rows)
    lens = indptr.take(rows + 1) - start
    ends = lens.cumsum()
    ent = (start - (ends - lens)).repeat(lens) + np.arange(ends[-1])
    return ent, lens, ends
