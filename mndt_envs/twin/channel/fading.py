"""Small-scale fading ``L_f(t)`` (SPEC §1): Rayleigh or Rician, Jakes-correlated in time.

Each link carries a complex scattered component that evolves as a first-order
Gauss–Markov process whose lag-``dt`` correlation is Jakes' ``J0(2π f_d dt)``.
The fading is flat over the carrier (one value per link); its power gain has mean 1
(0 dB on average), so the large-scale gain keeps its meaning.
"""

from __future__ import annotations

import math

import numpy as np
from scipy.special import j0

__all__ = ["Fading"]


class Fading:
    """Per-link small-scale power gain, evolving in time.

    Args:
        kind: ``"none"``, ``"rayleigh"`` or ``"rician"``.
        doppler_hz: maximum Doppler frequency f_d [Hz].
        rician_k_db: Rician K-factor [dB] (LoS / scattered power).
    """

    def __init__(self, kind: str, doppler_hz: float, rician_k_db: float = 9.0) -> None:
        self.kind = kind
        self.doppler_hz = doppler_hz
        k = 10.0 ** (rician_k_db / 10.0) if kind == "rician" else 0.0
        self._los_amp = math.sqrt(k / (k + 1.0))
        self._nlos_amp = math.sqrt(1.0 / (k + 1.0))
        self._h: np.ndarray | None = None  # (n_cells, n_users) complex64 scattered part
        self._phase: np.ndarray | None = None  # (n_cells, n_users) LoS phase

    def reset(self, rng: np.random.Generator, shape: tuple[int, int]) -> None:
        """Draw the initial fading state for ``shape`` = (n_cells, n_users) links."""
        if self.kind == "none":
            return
        self._h = self._cn(rng, shape)
        self._phase = rng.uniform(0.0, 2.0 * np.pi, shape).astype(np.float32)

    @staticmethod
    def _cn(rng: np.random.Generator, shape: tuple[int, int]) -> np.ndarray:
        z = rng.standard_normal((2, *shape), dtype=np.float32)
        return ((z[0] + 1j * z[1]) * np.float32(math.sqrt(0.5))).astype(np.complex64)

    def advance(self, rng: np.random.Generator, dt: float) -> None:
        """Evolve every link by ``dt`` seconds (correlation J0(2π f_d dt))."""
        if self.kind == "none" or self._h is None:
            return
        rho = float(j0(2.0 * math.pi * self.doppler_hz * dt))
        self._h *= np.complex64(rho)
        self._h += np.complex64(math.sqrt(max(0.0, 1.0 - rho * rho))) * self._cn(rng, self._h.shape)

    def gain_db(self) -> np.ndarray | float:
        """Power gain [dB] per link, (n_cells, n_users) float32, or 0.0 without fading."""
        if self.kind == "none" or self._h is None or self._phase is None:
            return 0.0
        h = self._nlos_amp * self._h
        if self._los_amp > 0.0:
            h = h + self._los_amp * np.exp(1j * self._phase).astype(np.complex64)
        p = h.real * h.real + h.imag * h.imag
        return (10.0 * np.log10(np.maximum(p, 1e-12))).astype(np.float32)
