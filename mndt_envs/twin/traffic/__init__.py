"""Traffic twin: data loaders, FFT periodic part, forecasters, the traffic generator and its realism checks.

Paper 000 (LIANG et al., ZTE Technology Journal 2023) §2.3: the periodic part of a base
station's traffic is the sum of its strongest FFT components; an LSTM handles the residual.

Submodules are imported lazily so ``import mndt_envs`` stays fast (torch is only imported when
a model is trained or a weights file is read)::

    from mndt_envs.twin.traffic.generator import LSTMDemand, demand_series, load_user_count_forecaster
    from mndt_envs.twin.traffic.forecast import ResidualForecaster, load_traffic_forecaster
    from mndt_envs.twin.traffic.lstm import train_forecaster, accuracy          # paper 000's LSTM
    from mndt_envs.twin.traffic.loaders import load_milan_grid, load_kaist, load_c2tm

``training`` (fitting the bundled weights) and ``experiments`` (paper 000 §3 and the comparisons)
take the data folder as an argument and are not imported by the runtime generator.
"""

from __future__ import annotations

__all__ = ["loaders", "fft", "lstm", "forecast", "generator", "realism", "training", "experiments"]
