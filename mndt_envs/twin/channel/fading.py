"""Small-scale fading ``L_f(t)`` (SPEC §1): Rayleigh or Rician, Jakes-correlated in time.

A bank of ``n_seq`` complex Gaussian sequences with Jakes' Doppler spectrum
``S(f) ∝ 1/sqrt(1 − (f/f_d)²)`` for ``|f| < f_d`` is synthesised once by the spectral
(IDFT) method, sampled every ``1/(oversample · f_d)`` seconds; its autocorrelation is
Jakes' ``J0(2π f_d τ)``. Each (cell, user) link reads one sequence of the bank at its own
random time offset, so a step costs one gather per link instead of drawing fresh random
numbers for every link. The fading is flat over the carrier (one value per link) and
its power gain has mean 1 (0 dB on average), so the large-scale gain keeps its meaning.
Rician links add a LoS component of power ``K/(K+1)`` with a random fixed phase.
"""

from __future__ import annotations

import math

import numpy as np

__all__ = ["Fading", "jakes_bank"]


def jakes_bank(rng: np.random.Generator, n_seq: int, length: int, oversample: float) -> np.ndarray:
    """``n_seq`` unit-power complex sequences with a Jakes Doppler spectrum.

    Args:
        rng: randomness.
        n_seq: number of independent sequences.
        length: samples per sequence (the sequences are periodic with this length).
        oversample: samples per ``1/f_d`` (the Doppler spectrum spans ``length/oversample`` bins each side).

    Returns:
        (n_seq, length) complex64.
    """
    f = np.fft.fftfreq(length) * oversample  # in units of f_d
    inside = np.abs(f) < 1.0
    s = np.zeros(length)
    s[inside] = 1.0 / np.sqrt(1.0 - f[inside] ** 2)
    # the band edges are integrable singularities: cap them at the next bin's value
    edge = np.abs(f) == np.abs(f[inside]).max()
    s[edge] = s[inside & ~edge].max() if (inside & ~edge).any() else 1.0
    amp = np.sqrt(s / s.sum())
    z = (rng.standard_normal((n_seq, length)) + 1j * rng.standard_normal((n_seq, length))) * math.sqrt(0.5)
    h = np.fft.ifft(z * amp, axis=1) * length  # ifft divides by length; sum(amp**2) = 1
    return h.astype(np.complex64)


class Fading:
    """Per-link small-scale power gain, evolving in time.

    Args:
        kind: ``"none"``, ``"rayleigh"`` or ``"rician"``.
        doppler_hz: maximum Doppler frequency f_d [Hz] (0: static fading per link).
        rician_k_db: Rician K-factor [dB] (LoS / scattered power).
        n_seq: sequences in the bank.
        length: samples per sequence.
        oversample: samples per ``1/f_d``.
        seed: seed of the sequence bank, drawn once per scenario (episodes draw each link's
            sequence, offset and LoS phase from their own generator).
    """

    def __init__(self, kind: str, doppler_hz: float, rician_k_db: float = 9.0, *, n_seq: int = 64,
                 length: int = 8192, oversample: float = 8.0, seed: int = 0) -> None:
        self.kind = kind
        self.doppler_hz = doppler_hz
        k = 10.0 ** (rician_k_db / 10.0) if kind == "rician" else 0.0
        self._los_amp = math.sqrt(k / (k + 1.0))
        self._nlos_amp = math.sqrt(1.0 / (k + 1.0))
        self.n_seq, self.length, self.oversample = n_seq, length, oversample
        self.seed = seed
        self._bank: np.ndarray | None = None  # (n_seq, length) complex64
        self._seq: np.ndarray | None = None  # (n_cells, n_users) int32 sequence of each link
        self._off: np.ndarray | None = None  # (n_cells, n_users) int32 time offset of each link
        self._los: np.ndarray | None = None  # (n_cells, n_users) complex64 LoS component
        self._bank_db2: np.ndarray | None = None  # (n_seq * 2 length,) the same rows twice each, flat
        self._flat: np.ndarray | None = None  # (n_cells, n_users) int64 ``seq * 2 length + off`` of each link
        self.t = 0.0  # [s]

    def reset(self, rng: np.random.Generator, shape: tuple[int, int]) -> None:
        """Draw each link's sequence, offset and LoS phase for ``shape`` = (n_cells, n_users).

        The sequence bank itself is synthesised once, on the first reset, from ``seed``.
        """
        self.t = 0.0
        if self.kind == "none":
            return
        if self._bank is None:
            self._bank = jakes_bank(np.random.default_rng([self.seed, 7]), self.n_seq, self.length, self.oversample)
            p = self._bank.real**2 + self._bank.imag**2
            bank_db = (10.0 * np.log10(np.maximum(p, 1e-12))).astype(np.float32)  # (n_seq, length) [dB]
            # each row twice: offset + (index mod length) < 2 length reads row[(offset + index) mod length]
            self._bank_db2 = np.concatenate([bank_db, bank_db], axis=1).ravel()
        self._los = None
        self._seq = rng.integers(0, self.n_seq, shape, dtype=np.int32)
        self._off = rng.integers(0, self.length, shape, dtype=np.int32)
        self._flat = self._seq.astype(np.int64) * (2 * self.length) + self._off
        if self._los_amp > 0.0:
            phase = rng.uniform(0.0, 2.0 * np.pi, shape)
            self._los = (self._los_amp * np.exp(1j * phase)).astype(np.complex64)

    def advance(self, rng: np.random.Generator, dt: float) -> None:
        """Move every link ``dt`` seconds along its sequence."""
        self.t += dt

    def _index(self) -> int:
        return int(round(self.t * self.doppler_hz * self.oversample))

    def coefficients(self) -> np.ndarray:
        """Complex channel coefficient per link now, (n_cells, n_users) complex64 (mean power 1)."""
        if self._bank is None or self._seq is None or self._off is None:
            raise RuntimeError("Fading.coefficients() before reset() (or with kind='none')")
        idx = (self._off + self._index()) % self.length
        h = self._bank[self._seq, idx]
        if self._los is not None:
            h = self._nlos_amp * h + self._los
        return h

    def gain_db(self) -> np.ndarray | float:
        """Power gain [dB] per link, (n_cells, n_users) float32, or 0.0 without fading."""
        if self.kind == "none" or self._bank is None:
            return 0.0
        if self._los is None:
            # Rayleigh: gather the power of the bank directly, ``bank_db[seq, (off + index) % length]``
            # as one flat take from the doubled rows (the same values, no modulo per link)
            assert self._flat is not None and self._bank_db2 is not None
            return self._bank_db2.take(self._flat + self._index() % self.length)
        h = self.coefficients()
        p = h.real * h.real + h.imag * h.imag
        return (10.0 * np.log10(np.maximum(p, 1e-12))).astype(np.float32)
