"""3GPP TR 38.901 §7.3 sector antenna pattern (Table 7.3-1).

Vertical cut ``A_V(θ) = −min(12 ((θ − θ_tilt)/θ_3dB)², SLA_V)``, horizontal cut
``A_H(φ) = −min(12 (φ/φ_3dB)², A_m)``, combined ``A = −min(−(A_V + A_H), A_m)``,
plus the element's maximum directional gain. θ_3dB = φ_3dB = 65°, SLA_V = A_m = 30 dB,
G_max = 8 dBi. Omni cells (azimuth NaN) get the vertical cut only, with no
horizontal attenuation and 0 dBi peak.
"""

from __future__ import annotations

import numpy as np

__all__ = ["antenna_gain_db", "HPBW_DEG", "MAX_ATTENUATION_DB", "MAX_GAIN_DBI"]

HPBW_DEG = 65.0  # [deg] half-power beam width, both cuts
MAX_ATTENUATION_DB = 30.0  # [dB] A_m and SLA_V
MAX_GAIN_DBI = 8.0  # [dBi] element gain at boresight


def antenna_gain_db(
    cell_xyz: np.ndarray,  # (n_cells, 3) [m]
    azimuth_deg: np.ndarray,  # (n_cells,) [deg] clockwise from north; NaN = omni
    tilt_deg: np.ndarray,  # (n_cells,) [deg] downtilt
    user_xyz: np.ndarray,  # (n_users, 3) [m]
) -> np.ndarray:
    """Antenna gain [dBi] of every cell towards every user, (n_cells, n_users) float32."""
    n_cells, n_users = len(cell_xyz), len(user_xyz)
    uxyz = user_xyz.astype(np.float32)
    cxyz = cell_xyz.astype(np.float32)
    dx = uxyz[None, :, 0] - cxyz[:, None, 0]
    dy = uxyz[None, :, 1] - cxyz[:, None, 1]
    dz = uxyz[None, :, 2] - cxyz[:, None, 2]
    d2 = np.sqrt(dx * dx + dy * dy)
    # zenith angle: 90 deg at the horizon, > 90 deg below it
    theta = np.degrees(np.arctan2(d2, dz))
    theta -= (90.0 + tilt_deg.astype(np.float32))[:, None]
    theta *= np.float32(1.0 / HPBW_DEG)
    a = np.minimum(12.0 * theta * theta, np.float32(MAX_ATTENUATION_DB))  # -A_V
    sector = np.flatnonzero(~np.isnan(azimuth_deg))
    if len(sector):
        # bearing clockwise from north, relative to boresight, wrapped to [-180, 180)
        phi = np.degrees(np.arctan2(dx[sector], dy[sector]))
        phi -= azimuth_deg[sector].astype(np.float32)[:, None]
        phi = (phi + 180.0) % 360.0 - 180.0
        phi *= np.float32(1.0 / HPBW_DEG)
        a[sector] += np.minimum(12.0 * phi * phi, np.float32(MAX_ATTENUATION_DB))  # -A_H
    np.minimum(a, np.float32(MAX_ATTENUATION_DB), out=a)
    g = np.zeros(n_cells, dtype=np.float32)
    g[sector] = MAX_GAIN_DBI
    del n_users
    return g[:, None] - a
