"""Radio KPIs of the twin (SPEC §2), vectorised over (cells × users).

Conventions: gains in dB as (n_cells, n_users) arrays; powers in dBm unless a
name ends in ``_w`` (watts) or ``_lin`` (linear); ``-1`` marks "no cell" / "no RB".
"""

from __future__ import annotations

import numpy as np

__all__ = [
    "dbm_to_w",
    "w_to_dbm",
    "rsrp_dbm",
    "best_server",
    "sinr_allocated",
    "sinr_load",
    "shannon_rate",
    "prb_utilisation",
    "busy_degree_from_users",
    "coverage_rate",
    "measurement_reports",
    "earth_power_w",
    "site_power_w",
    "RSRP_MIN_DBM",
    "RSRP_MAX_DBM",
]

RSRP_MIN_DBM = -156.0  # 3GPP reporting range (TS 38.133)
RSRP_MAX_DBM = -31.0


def dbm_to_w(p_dbm: np.ndarray | float) -> np.ndarray:
    """DBm → W."""
    return np.power(10.0, (np.asarray(p_dbm, dtype=np.float64) - 30.0) / 10.0)


def w_to_dbm(p_w: np.ndarray | float) -> np.ndarray:
    """W → dBm (−inf for 0 W)."""
    with np.errstate(divide="ignore"):
        return 10.0 * np.log10(np.asarray(p_w, dtype=np.float64)) + 30.0


def rsrp_dbm(ref_power_dbm: np.ndarray, gain_db: np.ndarray) -> np.ndarray:
    """RSRP [dBm] = per-RB reference power + gain, (n_cells, n_users)."""
    return ref_power_dbm[:, None].astype(np.float32) + gain_db


def best_server(rsrp: np.ndarray, active: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Strongest-cell association.

    Args:
        rsrp: (n_cells, n_users) [dBm].
        active: (n_cells,) bool, cells that can serve (e.g. not asleep); default all.

    Returns:
        (serving (n_users,) int, −1 if no active cell; best RSRP (n_users,) [dBm], −inf if none).
    """
    if active is not None and not active.all():
        if not active.any():
            n = rsrp.shape[1]
            return np.full(n, -1, dtype=np.int64), np.full(n, -np.inf, dtype=np.float32)
        rsrp = np.where(active[:, None], rsrp, -np.inf)
    serving = np.argmax(rsrp, axis=0)
    best = np.take_along_axis(rsrp, serving[None, :], axis=0)[0]
    return serving.astype(np.int64), best


def sinr_allocated(
    gain_lin: np.ndarray,  # (n_cells, n_users) linear power gain
    rb_power_w: np.ndarray,  # (n_cells, n_rb) [W] power each cell transmits on each RB
    serving: np.ndarray,  # (n_users,) int, -1 = unserved
    rb: np.ndarray,  # (n_users,) int, -1 = no RB
    noise_w: float,  # [W] noise per RB
) -> np.ndarray:
    """SINR of each user on its RB with inter-cell interference on that RB.

    ``S = P[c(u), r(u)] g[c(u), u]``, ``I = Σ_{c ≠ c(u)} P[c, r(u)] g[c, u]``.

    Returns:
        (n_users,) linear SINR; 0 for users without a cell or RB.
    """
    ok = (serving >= 0) & (rb >= 0)
    s_idx = np.where(ok, serving, 0)
    r_idx = np.where(ok, rb, 0)
    p_on_rb = rb_power_w[:, r_idx]  # (n_cells, n_users): what every cell sends on u's RB
    total = np.einsum("cu,cu->u", p_on_rb, gain_lin)
    users = np.arange(len(serving))
    signal = rb_power_w[s_idx, r_idx] * gain_lin[s_idx, users]
    sinr = signal / (np.maximum(total - signal, 0.0) + noise_w)
    return np.where(ok, sinr, 0.0)


def sinr_load(
    gain_lin: np.ndarray,  # (n_cells, n_users)
    tx_power_rb_w: np.ndarray,  # (n_cells,) [W] power per RB when transmitting
    load: np.ndarray,  # (n_cells,) share of RBs in use, in [0, 1]
    serving: np.ndarray,  # (n_users,) int
    noise_w: float,
) -> np.ndarray:
    """Load-based (expected) SINR: interferers transmit on a share ``load`` of the RBs.

    Returns:
        (n_users,) linear SINR; 0 for unserved users.
    """
    ok = serving >= 0
    s_idx = np.where(ok, serving, 0)
    users = np.arange(len(serving))
    rx = tx_power_rb_w[:, None] * gain_lin  # (n_cells, n_users)
    signal = rx[s_idx, users]
    interference = (load[:, None] * rx).sum(axis=0) - load[s_idx] * signal
    sinr = signal / (np.maximum(interference, 0.0) + noise_w)
    return np.where(ok, sinr, 0.0)


def shannon_rate(sinr_lin: np.ndarray, bandwidth_hz: float | np.ndarray) -> np.ndarray:
    """Shannon rate [bit/s] = B log2(1 + SINR)."""
    return np.asarray(bandwidth_hz) * np.log2(1.0 + np.maximum(sinr_lin, 0.0))


def prb_utilisation(prb_used: np.ndarray, prb_total: np.ndarray) -> np.ndarray:
    """Busy degree ``b_i = PRB_used / PRB_total`` (paper 001 eq. 1–2), clipped to [0, 1]."""
    return np.clip(np.asarray(prb_used, dtype=np.float64) / np.maximum(prb_total, 1), 0.0, 1.0)


def busy_degree_from_users(serving: np.ndarray, n_cells: int, u_max: float) -> np.ndarray:
    """Busy degree from user counts, ``|U_i| / U_max`` (paper 001 §7)."""
    counts = np.bincount(serving[serving >= 0], minlength=n_cells)
    return counts / float(u_max)


def coverage_rate(best_rsrp_dbm: np.ndarray, threshold_dbm: float) -> float:
    """Share of users (or MRs) whose best RSRP reaches ``threshold_dbm``."""
    if best_rsrp_dbm.size == 0:
        return 1.0
    return float(np.mean(best_rsrp_dbm >= threshold_dbm))


def measurement_reports(
    rsrp: np.ndarray,  # (n_cells, n_users) [dBm] true RSRP
    serving: np.ndarray,  # (n_users,) int serving cell
    k: int,
    noise_db: float,
    rng: np.random.Generator,
) -> tuple[np.ndarray, np.ndarray]:
    """Per-user measurement reports: top-``k`` (cell, RSRP) pairs, serving cell first.

    RSRP gets Gaussian measurement noise of std ``noise_db``, is quantised to 1 dB and
    clipped to the 3GPP reporting range [−156, −31] dBm. Entries below the range are
    dropped (cell id −1, RSRP NaN), as a UE does not report cells it cannot detect.

    Returns:
        (cells (n_users, k) int, rsrp (n_users, k) float32 [dBm]).
    """
    n_cells, n_users = rsrp.shape
    k = min(k, n_cells)
    meas = rsrp.T + rng.normal(0.0, noise_db, size=(n_users, n_cells)).astype(np.float32) if noise_db > 0 else rsrp.T
    meas = np.asarray(meas, dtype=np.float32)
    users = np.arange(n_users)
    ok = serving >= 0
    s_idx = np.where(ok, serving, 0)
    # serving cell first, then the k-1 strongest of the others
    serving_val = meas[users, s_idx].copy()
    others = meas.copy()
    others[users[ok], s_idx[ok]] = -np.inf
    if k > 1:
        part = np.argpartition(-others, kth=k - 2, axis=1)[:, : k - 1]
        vals = np.take_along_axis(others, part, axis=1)
        order = np.argsort(-vals, axis=1)
        part = np.take_along_axis(part, order, axis=1)
        vals = np.take_along_axis(vals, order, axis=1)
        ids = np.concatenate([s_idx[:, None], part], axis=1)
        vals = np.concatenate([serving_val[:, None], vals], axis=1)
    else:
        ids, vals = s_idx[:, None], serving_val[:, None]
    ids = np.where(ok[:, None], ids, -1)
    vals = np.where(ok[:, None], vals, -np.inf)
    q = np.round(vals)
    below = q < RSRP_MIN_DBM
    q = np.clip(q, RSRP_MIN_DBM, RSRP_MAX_DBM)
    ids = np.where(below, -1, ids).astype(np.int64)
    q = np.where(below, np.nan, q).astype(np.float32)
    return ids, q


def earth_power_w(
    p_out_w: np.ndarray,  # (n,) [W] radiated power of each radio unit
    state: np.ndarray,  # (n,) int: 0 = on, 1 = sleep, 2 = off
    p0_w: np.ndarray,  # (n,) [W] static power when on
    delta_p: np.ndarray,  # (n,) load-dependence slope
    p_sleep_w: np.ndarray,  # (n,) [W]
    p_max_w: np.ndarray,  # (n,) [W]
) -> np.ndarray:
    """EARTH power-model input power per radio unit (Auer et al. 2011).

    ``P_in = P_0 + Δ_p P_out`` when on (``P_out`` clipped to [0, P_max]), ``P_sleep``
    when asleep, 0 when off.
    """
    p_out = np.clip(p_out_w, 0.0, p_max_w)
    return np.select([state == 0, state == 1], [p0_w + delta_p * p_out, p_sleep_w], 0.0)


def site_power_w(
    cell_power_w: np.ndarray,  # (n_cells,) [W] EARTH input power per cell
    cell_state: np.ndarray,  # (n_cells,) int 0 on / 1 sleep / 2 off
    site: np.ndarray,  # (n_cells,) int site index
    n_sites: int,
    bbu_w: float,
    aircon_factor: float,
) -> np.ndarray:
    """Total power per site [W]: its radio units + a BBU while any cell is not off, + air conditioning."""
    radio = np.bincount(site, weights=cell_power_w, minlength=n_sites)
    alive = np.bincount(site, weights=(cell_state != 2).astype(np.float64), minlength=n_sites) > 0
    return (radio + bbu_w * alive) * (1.0 + aircon_factor)
