"""Periodic part of a traffic series from its strongest FFT components (paper 000 §2.3).

``X^p(t) = Σ_k a_k cos(2π f_k t + φ_k)`` over the ``K`` components of the training series' real
FFT with the largest magnitude (the DC term counts as one component). The periodic part can be
evaluated at any sample index, so it extrapolates beyond the training data; the residual
``X^r = X − X^p`` is what the LSTM learns.

With short training series (a few hundred samples) ``K = 50`` would fit noise: choose ``K`` in
proportion to the length (the paper's 50 components for 4,176 samples is ≈ 1.2 %), and pass
``base_period`` (e.g. 24 for hourly data) so the fit uses a whole number of periods, which puts the
daily harmonics exactly on FFT bins.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = ["FFTPeriodic"]


@dataclass(frozen=True)
class FFTPeriodic:
    """The ``K`` strongest sinusoids of a series.

    Attributes:
        freqs: (K,) frequencies [cycles per sample].
        amps: (K,) amplitudes (series units).
        phases: (K,) phases [rad] referred to sample index 0 of the training series.
    """

    freqs: np.ndarray
    amps: np.ndarray
    phases: np.ndarray

    @classmethod
    def fit(cls, x: np.ndarray, k: int, base_period: int | None = None) -> FFTPeriodic:
        """Keep the ``k`` strongest components of ``x``.

        Args:
            x: (T,) finite training series.
            k: number of components (>= 1; the DC term counts as one).
            base_period: if given, the FFT uses the last ``n·base_period`` samples (the largest whole
                number of periods), phases still referred to index 0 of ``x``.

        Returns:
            The fitted periodic model.
        """
        x = np.asarray(x, dtype=np.float64).ravel()
        if x.size < 2 or not np.all(np.isfinite(x)):
            raise ValueError("FFTPeriodic.fit: need at least 2 finite samples")
        if isinstance(k, bool) or not isinstance(k, int) or k < 1:
            raise ValueError(f"FFTPeriodic.fit: k = {k!r}, expected an integer >= 1")
        offset = 0
        if base_period:
            n = (x.size // base_period) * base_period
            if n >= base_period:
                offset = x.size - n
        seg = x[offset:]
        n = seg.size
        spec = np.fft.rfft(seg)
        mag = np.abs(spec)
        order = np.argsort(mag)[::-1][: min(k, mag.size)]
        freqs = np.fft.rfftfreq(n)[order]
        # one-sided amplitude: DC and Nyquist once, other bins twice
        scale = np.where((order == 0) | ((n % 2 == 0) & (order == n // 2)), 1.0, 2.0) / n
        amps = mag[order] * scale
        phases = np.angle(spec[order]) - 2.0 * np.pi * freqs * offset  # refer to index 0 of x
        return cls(freqs.astype(np.float64), amps.astype(np.float64), np.mod(phases, 2.0 * np.pi))

    @property
    def k(self) -> int:
        """Number of components."""
        return int(self.freqs.size)

    def __call__(self, t: np.ndarray | int) -> np.ndarray:
        """Periodic part at sample indices ``t`` (any real values; index 0 = first training sample).

        Args:
            t: scalar, (T,) or any-shaped array of sample indices.

        Returns:
            Array of the shape of ``t``.
        """
        t = np.asarray(t, dtype=np.float64)
        ang = 2.0 * np.pi * self.freqs * t[..., None] + self.phases
        return (self.amps * np.cos(ang)).sum(axis=-1)

    def series(self, start: int, n: int) -> np.ndarray:
        """Periodic part at indices ``start, …, start + n − 1``."""
        return self(np.arange(start, start + n))
