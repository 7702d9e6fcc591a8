"""Traffic twin: data loaders, FFT periodic part, LSTM forecasters and the demand generator.

Paper 000 (LIANG et al., ZTE Technology Journal 2023) §2.3: the periodic part of a base
station's traffic is the sum of its strongest FFT components; an LSTM forecasts the residual.

Submodules are imported lazily so ``import mndt_envs`` stays fast (torch is only imported when
an LSTM is built)::

    from mndt_envs.twin.traffic.generator import LSTMDemand, demand_series
    from mndt_envs.twin.traffic.lstm import train_forecaster, accuracy
    from mndt_envs.twin.traffic.loaders import load_milan_raw, load_c2tm
"""

from __future__ import annotations

__all__ = ["loaders", "fft", "lstm", "generator", "experiments"]
