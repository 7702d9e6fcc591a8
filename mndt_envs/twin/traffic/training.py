"""Training the bundled weights (``mndt lstm train-traffic`` / ``mndt lstm train-users``), on training windows only.

* ``traffic_generator.pt``: the generator of :mod:`~mndt_envs.twin.traffic.generator`, fitted on the
  first :data:`TRAIN_DAYS` days of the Milan squares not in :data:`HELD_OUT_SQUARES`;
* ``traffic_forecaster.pt``: the shipped traffic forecaster (:data:`~.experiments.TRAFFIC_CONFIG`),
  fitted on the first :data:`TRAIN_DAYS` days of all 25 squares (the last week is its test week);
* ``user_count_lstm.pt``: the shipped user-count forecaster (:data:`~.experiments.USERS_CONFIG`),
  fitted on the first 450 samples (the paper's training part) of the nine KAIST cells.

Each weights file gets a JSON beside it: data source and licence, the exact training slice, the
seed, the CPU time and the git commit of the code that trained it.
"""

from __future__ import annotations

import json
import math
import subprocess
import time
from pathlib import Path
from typing import Any

import numpy as np

from mndt_envs.twin.cache import atomic_path
from mndt_envs.twin.traffic.fft import FFTPeriodic
from mndt_envs.twin.traffic.forecast import TRAFFIC_FORECASTER_WEIGHTS
from mndt_envs.twin.traffic.generator import (
    SLOTS_PER_DAY,
    SLOTS_PER_WEEK,
    TRAFFIC_WEIGHTS,
    USER_COUNT_WEIGHTS,
    LSTMTrafficGenerator,
)

__all__ = [
    "TRAIN_DAYS",
    "HELD_OUT_SQUARES",
    "MILAN_START_SLOT_OF_WEEK",
    "TRAFFIC_FORECASTER_WEIGHTS",
    "MILAN_SOURCE",
    "KAIST_SOURCE",
    "fit_generator",
    "train_generator",
    "train_traffic_forecaster",
    "train_user_count_forecaster",
    "git_commit",
]

TRAIN_DAYS = 23  # the Milan file has 30 days; the last 7 are the test / held-back week
HELD_OUT_SQUARES = (20, 21, 22, 23, 24)  # the last row of the 5 × 5 block: never seen by the generator
MILAN_START_SLOT_OF_WEEK = 4 * SLOTS_PER_DAY  # 2013-11-01 00:00 was a Friday (0 = Monday 00:00)
MILAN_SOURCE = ("Telecom Italia Big Data Challenge, Milan internet activity (Harvard Dataverse "
                "doi:10.7910/DVN/EGZHFV), 25 grid squares (rows/cols 41-45), 10-min slots from 2013-11-01; "
                "ODbL 1.0")
KAIST_SOURCE = "KAIST human mobility traces (Rhee et al., CRAWDAD ncsu/mobilitymodels), 60 traces, 30-s samples"


def git_commit() -> str:
    """The repository's HEAD commit (``"unknown"`` outside a git checkout), ``+dirty`` if the tree is modified."""
    root = Path(__file__).resolve().parents[3]
    try:
        head = subprocess.run(["git", "rev-parse", "HEAD"], cwd=root, capture_output=True, text=True, timeout=10,
                              check=True).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--", "mndt_envs/twin/traffic"], cwd=root,
                               capture_output=True, text=True, timeout=10, check=True).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    return head + ("+dirty" if dirty else "")


def _write_json(path: Path, info: dict[str, Any]) -> Path:
    out = path.with_suffix(".json")
    with atomic_path(out) as tmp:
        tmp.write_text(json.dumps(info, indent=1, default=float) + "\n")
    return out


# --------------------------------------------------------------------------------------------
# the generator
# --------------------------------------------------------------------------------------------
def _gen_net(hidden: int, layers: int) -> Any:
    from torch import nn

    class _GenNet(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.lstm = nn.LSTM(input_size=3, hidden_size=hidden, num_layers=layers, batch_first=True)
            self.head = nn.Linear(hidden, 2)

        def forward(self, x: Any) -> Any:
            out, _ = self.lstm(x)
            return self.head(out)

    return _GenNet()


def _gen_inputs(r: np.ndarray, start_slot: int) -> tuple[np.ndarray, np.ndarray]:
    """Inputs ``[r_t, sin, cos(time of day of slot t+1)]`` (T−1, 3) and targets ``r_{t+1}`` (T−1,)."""
    slots = start_slot + np.arange(1, r.size)
    ang = 2.0 * np.pi * (slots % SLOTS_PER_DAY) / SLOTS_PER_DAY
    return np.stack([r[:-1], np.sin(ang), np.cos(ang)], axis=1), r[1:]


def fit_generator(x: np.ndarray, *, start_slot_of_week: int = MILAN_START_SLOT_OF_WEEK,
                  neighbour_pairs: list[tuple[int, int]] | None = None, k: int = 50, hidden: int = 64,
                  layers: int = 2, chunk: int = 288, batch_size: int = 32, lr: float = 3e-3,
                  max_seconds: float = 150.0, max_epochs: int = 400, seed: int = 0,
                  verbose: bool = False) -> LSTMTrafficGenerator:
    """Fit the generator to training series.

    Args:
        x: (n_squares, T) training traffic (positive; 10-min slots), T ≥ one week.
        start_slot_of_week: slot of the week (0 = Monday 00:00) of ``x[:, 0]``.
        neighbour_pairs: index pairs of neighbouring rows of ``x`` (for the common innovation share; None = all).
        k: FFT components of each square's average week (paper: 50).
        hidden: LSTM hidden size.
        layers: LSTM layers.
        chunk: training sequence length [slots].
        batch_size: sequences per step.
        lr: Adam learning rate.
        max_seconds: CPU-time budget of the LSTM fit.
        max_epochs: upper bound on passes (one pass = ``n_squares · T / chunk`` sequences).
        seed: seed.
        verbose: print progress.

    Returns:
        The fitted generator.
    """
    import torch

    x = np.asarray(x, dtype=np.float64)
    if x.ndim != 2 or x.shape[1] < SLOTS_PER_WEEK + chunk or not np.all(np.isfinite(x)) or np.any(x < 0):
        raise ValueError(f"fit_generator: x must be (n_squares, T >= {SLOTS_PER_WEEK + chunk}) finite and >= 0, "
                         f"got shape {x.shape}")
    n_sq, t_len = x.shape
    n_weeks = t_len // SLOTS_PER_WEEK
    offset = t_len - n_weeks * SLOTS_PER_WEEK
    freqs, amps, phases, t0s, res, peaks, log_means = [], [], [], [], [], [], []
    for s in x:
        m = float(s.mean())
        u = np.log(np.maximum(s, 1e-3 * m) / m)
        week = u[offset:].reshape(n_weeks, SLOTS_PER_WEEK).mean(axis=0)
        per = FFTPeriodic.fit(week, k)
        freqs.append(per.freqs)
        amps.append(per.amps)
        phases.append(per.phases)
        t0s.append((start_slot_of_week + offset) % SLOTS_PER_WEEK)
        res.append(u - per(np.arange(t_len) - offset))
        hourly = np.exp(per(np.arange(SLOTS_PER_WEEK))).reshape(-1, 6).mean(axis=1)
        peaks.append(float(hourly.max()))
        log_means.append(math.log(m))
    res_std = float(np.std(np.concatenate(res)))
    z = [r / res_std for r in res]
    inputs, targets = zip(*(_gen_inputs(r, start_slot_of_week) for r in z), strict=True)
    n_val = max(chunk, int(0.1 * (t_len - 1)))
    torch.manual_seed(seed)
    rs = np.random.default_rng(seed)
    net = _gen_net(hidden, layers)
    opt = torch.optim.Adam(net.parameters(), lr=lr)
    xin = torch.from_numpy(np.stack(inputs).astype(np.float32))  # (n_sq, T-1, 3)
    tgt = torch.from_numpy(np.stack(targets).astype(np.float32))
    n_tr = xin.shape[1] - n_val

    def nll(xb: Any, yb: Any) -> Any:
        o = net(xb)
        ls = o[..., 1].clamp(-6.0, 2.0)
        return (0.5 * ((yb - o[..., 0]) * torch.exp(-ls)) ** 2 + ls).mean()

    best, best_state, bad = math.inf, None, 0
    t0 = time.process_time()
    steps_per_epoch = max(1, n_sq * n_tr // (chunk * batch_size))
    history = []
    for epoch in range(max_epochs):
        net.train()
        tot = 0.0
        for _ in range(steps_per_epoch):
            sq = rs.integers(0, n_sq, batch_size)
            st = rs.integers(0, n_tr - chunk, batch_size)
            idx = torch.from_numpy(st[:, None] + np.arange(chunk)[None, :])
            xb = xin[torch.from_numpy(sq)[:, None], idx]
            yb = tgt[torch.from_numpy(sq)[:, None], idx]
            opt.zero_grad()
            loss = nll(xb, yb)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(net.parameters(), 1.0)
            opt.step()
            tot += float(loss.detach())
        net.eval()
        with torch.no_grad():
            o = net(xin)  # full sequences: the validation part is conditioned on the true past
            ls = o[..., 1].clamp(-6.0, 2.0)
            val = float((0.5 * ((tgt - o[..., 0]) * torch.exp(-ls)) ** 2 + ls)[:, n_tr:].mean())
        history.append({"epoch": epoch, "train_nll": tot / steps_per_epoch, "val_nll": val,
                        "cpu_seconds": time.process_time() - t0})
        if verbose:
            print(f"generator epoch {epoch:3d} train NLL {tot / steps_per_epoch:.4f} val NLL {val:.4f} "
                  f"{time.process_time() - t0:.0f}s cpu", flush=True)
        if val < best - 1e-4:
            best, best_state, bad = val, {k_: v.clone() for k_, v in net.state_dict().items()}, 0
        else:
            bad += 1
        if bad >= 15 or time.process_time() - t0 > max_seconds:
            break
    if best_state is not None:
        net.load_state_dict(best_state)
    net.eval()
    with torch.no_grad():
        o = net(xin).numpy().astype(np.float64)
    e = (np.stack(targets) - o[..., 0]) / np.exp(np.clip(o[..., 1], -6.0, 2.0))  # standardised innovations
    pairs = neighbour_pairs or [(i, j) for i in range(n_sq) for j in range(i + 1, n_sq)]
    rho = float(np.clip(np.mean([np.corrcoef(e[i], e[j])[0, 1] for i, j in pairs]), 0.0, 0.95)) if pairs else 0.0
    sd = net.state_dict()
    lstm = [(sd[f"lstm.weight_ih_l{i}"].numpy().astype(np.float64), sd[f"lstm.weight_hh_l{i}"].numpy().astype(
        np.float64), (sd[f"lstm.bias_ih_l{i}"] + sd[f"lstm.bias_hh_l{i}"]).numpy().astype(np.float64))
        for i in range(layers)]
    gen = LSTMTrafficGenerator(
        lstm=lstm, head=(sd["head.weight"].numpy().astype(np.float64), sd["head.bias"].numpy().astype(np.float64)),
        freqs=np.array(freqs), amps=np.array(amps), phases=np.array(phases),
        t0_slot_of_week=np.array(t0s, dtype=np.int64), res_std=res_std, rho=rho,
        scale_sigma=float(np.std(log_means)), peak_norm=float(np.median(peaks)))
    gen.meta = {"fit_history": history[-1] if history else {}, "epochs": len(history), "best_val_nll": best,
                "hidden": hidden, "layers": layers, "k": k}
    return gen


def train_generator(data_dir: str | Path, out: str | Path = TRAFFIC_WEIGHTS, *, max_seconds: float = 150.0,
                    seed: int = 0, hidden: int = 64, layers: int = 2, k: int = 50,
                    verbose: bool = False, threads: int = 1) -> LSTMTrafficGenerator:
    """Fit the generator on the Milan training part (first 23 days of 20 squares); save it + its JSON.

    Training runs on ``threads`` torch threads (set process-wide).
    """
    import torch

    from mndt_envs.twin.traffic.experiments import milan_matrix
    from mndt_envs.twin.traffic.loaders import grid_neighbour_pairs

    torch.set_num_threads(threads)
    x = milan_matrix(data_dir)
    train_sq = [i for i in range(x.shape[0]) if i not in HELD_OUT_SQUARES]
    pos = {sq: n for n, sq in enumerate(train_sq)}
    pairs = [(pos[a], pos[b]) for a, b in grid_neighbour_pairs((5, 5)) if a in pos and b in pos]
    t0 = time.process_time()
    gen = fit_generator(x[train_sq, : TRAIN_DAYS * SLOTS_PER_DAY], neighbour_pairs=pairs, k=k, hidden=hidden,
                        layers=layers, max_seconds=max_seconds, seed=seed, verbose=verbose)
    out = Path(out)
    gen.save(out)
    info = {"file": out.name, "what": "traffic generator: weekly FFT templates (top-50 per square) + Gaussian "
            "autoregressive LSTM on the log-load residual", "data": MILAN_SOURCE,
            "training_slice": f"squares {train_sq} (row-major in the 5x5 block), slots 0-{TRAIN_DAYS * 144 - 1} "
            f"(days 0-{TRAIN_DAYS - 1})", "held_back": f"squares {list(HELD_OUT_SQUARES)} and days "
            f"{TRAIN_DAYS}-29 of all squares", "seed": seed, "cpu_seconds": time.process_time() - t0,
            "rho": gen.rho, "scale_sigma": gen.scale_sigma, "peak_norm": gen.peak_norm, "res_std": gen.res_std,
            "commit": git_commit(), "command": "mndt lstm train-traffic", **gen.meta}
    _write_json(out, info)
    gen.meta = info
    return gen


# --------------------------------------------------------------------------------------------
# the forecasters
# --------------------------------------------------------------------------------------------
def train_traffic_forecaster(data_dir: str | Path, out: str | Path = TRAFFIC_FORECASTER_WEIGHTS, *,
                             max_seconds: float = 120.0, seed: int = 0, threads: int = 1) -> Any:
    """Fit the shipped Milan traffic forecaster on days 0–22 of all squares and save it + its JSON.

    Training runs on ``threads`` torch threads (set process-wide).
    """
    import torch

    from mndt_envs.twin.traffic.experiments import TRAFFIC_CONFIG, milan_matrix
    from mndt_envs.twin.traffic.forecast import train_residual_forecaster

    torch.set_num_threads(threads)
    x = milan_matrix(data_dir)
    n = TRAIN_DAYS * SLOTS_PER_DAY
    t0 = time.process_time()
    m = train_residual_forecaster([s[:n] for s in x], max_seconds=max_seconds, seed=seed, **TRAFFIC_CONFIG)
    info = {"file": Path(out).name, "what": "traffic forecaster: residual over seasonal-naive (1 day), P = 144 "
            "recent + 48 week-ago slots -> L = 12, per-window scaling, MLP 128-128 + linear, L1",
            "data": MILAN_SOURCE, "training_slice": f"all 25 squares, slots 0-{n - 1} (days 0-{TRAIN_DAYS - 1}); "
            "the last 15 % of those windows validate (early stopping, alpha)", "test": f"days {TRAIN_DAYS}-29",
            "seed": seed, "alpha": m.alpha, "cpu_seconds": time.process_time() - t0, "commit": git_commit(),
            "command": "mndt lstm train-traffic", **{k: v for k, v in m.meta.items() if k != "val_error_by_alpha"}}
    m.meta = info
    m.save(out)
    _write_json(Path(out), info)
    return m


def train_user_count_forecaster(data_dir: str | Path, out: str | Path = USER_COUNT_WEIGHTS, *,
                                max_seconds: float = 60.0, seed: int = 0, n_train: int = 450, threads: int = 1) -> Any:
    """Fit the shipped user-count forecaster on the first ``n_train`` KAIST samples of the nine cells; save + JSON.

    Training runs on ``threads`` torch threads (set process-wide).
    """
    import torch

    from mndt_envs.twin.traffic.experiments import USERS_CONFIG, kaist_counts
    from mndt_envs.twin.traffic.forecast import train_residual_forecaster

    torch.set_num_threads(threads)
    counts, grid = kaist_counts(data_dir, n_train, n_train)
    t0 = time.process_time()
    m = train_residual_forecaster(list(counts), max_seconds=max_seconds, seed=seed, **USERS_CONFIG)
    info = {"file": Path(out).name, "what": "user-count forecaster: residual over persistence, P = 50 -> L = 10 "
            "(30-s slots), per-window scaling (no clipping at the training range), MLP 64-64 + linear, L1",
            "data": KAIST_SOURCE, "training_slice": f"samples 0-{n_train - 1} of the 9 cells of the 3x3 grid "
            f"(0.8 km cells) placed on those samples, origin {grid['origin_m']} m",
            "seed": seed, "alpha": m.alpha, "cpu_seconds": time.process_time() - t0, "commit": git_commit(),
            "command": "mndt lstm train-users", **{k: v for k, v in m.meta.items() if k != "val_error_by_alpha"}}
    m.meta = info
    m.save(out)
    _write_json(Path(out), info)
    return m
