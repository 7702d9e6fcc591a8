"""Loaders for real traffic data: Telecom Italia Milan (raw TSV and the 25-square grid CSV), C2TM, KAIST.

Every error names the file and the problem (missing or extra columns, non-numeric values, NaNs,
non-monotonic timestamps, series too short for a forecaster).

Gap and NaN handling (documented choices)
------------------------------------------
* **Milan raw** (Harvard Dataverse doi:10.7910/DVN/EGZHFV, "sms-call-internet-mi"): tab-separated,
  no header, ``square_id, time_ms, country_code, sms_in, sms_out, call_in, call_out, internet``;
  one row per (square, 10-min slot, country code). The dataset leaves a field *empty* when there
  was no activity of that kind and trailing empty fields may be cut off, so empty/missing fields
  count as 0. Rows are summed over country codes. A (square, slot) with no row at all inside the
  file's time span also had no activity and is 0. A field that is present but not a number (e.g.
  ``abc`` or the text ``nan``) is an error. ``time_ms`` is the slot start in ms since the Unix
  epoch (UTC); the index is returned in Europe/Rome local time. Within one square the timestamps
  must not decrease (the files are sorted by square, then time).
* **C2TM** (``bs,thour,users,packets,bytes``): one row per base station (cluster) and hour; a
  missing hour is a *gap* (no measurement), not a zero. :func:`load_c2tm` returns hourly series
  with NaN in the gaps; :func:`contiguous_segments` linearly interpolates gaps of at most
  ``max_gap`` samples and splits the series at longer gaps. Explicit empty or NaN values in a row
  are errors (the published file has none). Timestamps must strictly increase within a station.
* **Milan grid CSV** (``milan_grid_25sq_10min.csv``): the internet activity of a 5 × 5 block of
  squares, one column per square (row-major in the block), one row per 10-min slot, no header, no
  gaps; rows start at 2013-11-01 00:00 Europe/Rome. Every value must be a finite number ≥ 0.
* **KAIST** (``KAIST_30sec_NNN.txt``): whitespace-separated ``t[s] x[m] y[m]`` every 30 s; timestamps
  must increase. :func:`load_kaist` puts all traces on a common 30-s clock (NaN after a trace ends).
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np

__all__ = [
    "TrafficDataError",
    "MILAN_COLUMNS",
    "C2TM_COLUMNS",
    "load_milan_raw",
    "load_milan_grid",
    "grid_neighbour_pairs",
    "load_c2tm",
    "load_kaist",
    "kaist_cell_counts",
    "contiguous_segments",
    "require_length",
]

MILAN_COLUMNS = ("square_id", "time_ms", "country_code", "sms_in", "sms_out", "call_in", "call_out", "internet")
MILAN_ACTIVITIES = MILAN_COLUMNS[3:]
C2TM_COLUMNS = ("bs", "thour", "users", "packets", "bytes")
C2TM_VALUES = ("users", "packets", "bytes")


class TrafficDataError(ValueError):
    """A traffic data file is malformed; the message names the file and the problem."""


def require_length(series: np.ndarray, p: int, horizon: int, where: str) -> None:
    """Raise :class:`TrafficDataError` unless ``series`` has at least ``P + L`` finite values.

    Args:
        series: 1-D series.
        p: input window P.
        horizon: horizon L.
        where: file / series name for the message.
    """
    series = np.asarray(series, dtype=np.float64)
    if series.size < p + horizon:
        raise TrafficDataError(
            f"{where}: series has {series.size} samples, shorter than P + L = {p} + {horizon} = {p + horizon}")
    if not np.all(np.isfinite(series)):
        raise TrafficDataError(f"{where}: series contains NaN/inf values (fill gaps with contiguous_segments first)")


def load_milan_raw(path: str | Path, activity: str = "internet", squares: list[int] | None = None):  # noqa: ANN201
    """Read a raw Milan "sms-call-internet" file and aggregate it per square and 10-min slot.

    Args:
        path: the raw TSV file (no header).
        activity: one of ``sms_in, sms_out, call_in, call_out, internet`` or ``"total"`` (sum of all five).
        squares: keep only these square ids (None = all).

    Returns:
        ``pandas.DataFrame``: index = slot start (tz-aware, Europe/Rome, regular 10-min grid over the
        file's span), one column per square id, values = activity summed over country codes
        (dataset units; missing = 0, see the module docstring).

    Raises:
        TrafficDataError: unreadable file, wrong number of columns, non-numeric values, decreasing timestamps.
        FileNotFoundError: no such file.
    """
    import pandas as pd

    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: Milan raw file not found")
    if activity not in (*MILAN_ACTIVITIES, "total"):
        raise TrafficDataError(f"{path}: activity {activity!r} unknown; allowed: {', '.join(MILAN_ACTIVITIES)}, total")
    rows: list[list[str]] = []
    with path.open("r", encoding="utf-8") as fh:
        for lineno, line in enumerate(fh, start=1):
            line = line.rstrip("\r\n")
            if not line.strip():
                continue
            parts = line.split("\t")
            if len(parts) > len(MILAN_COLUMNS):
                raise TrafficDataError(
                    f"{path}:{lineno}: {len(parts)} tab-separated fields, expected at most {len(MILAN_COLUMNS)} "
                    f"({', '.join(MILAN_COLUMNS)})")
            if len(parts) < 3 or not parts[0].strip() or not parts[1].strip():
                raise TrafficDataError(
                    f"{path}:{lineno}: missing columns; square_id, time_ms and country_code are required "
                    f"(got {len(parts)} field(s))")
            rows.append(parts + [""] * (len(MILAN_COLUMNS) - len(parts)))
    if not rows:
        raise TrafficDataError(f"{path}: no data rows")
    arr = np.array(rows, dtype=object)
    num = np.zeros(arr.shape, dtype=np.float64)
    for j, name in enumerate(MILAN_COLUMNS):
        col = arr[:, j]
        empty = np.array([not str(v).strip() for v in col])
        if j < 3 and empty.any():
            raise TrafficDataError(f"{path}:{int(np.argmax(empty)) + 1}: column {name!r} is empty")
        try:
            vals = np.array([float(v) if str(v).strip() else 0.0 for v in col])
        except ValueError:
            bad = next(i for i, v in enumerate(col) if str(v).strip() and not _is_float(v))
            raise TrafficDataError(f"{path}:{bad + 1}: column {name!r} value {col[bad]!r} is not a number") from None
        if not np.all(np.isfinite(vals)):
            bad = int(np.argmax(~np.isfinite(vals)))
            raise TrafficDataError(f"{path}:{bad + 1}: column {name!r} is NaN/inf ({col[bad]!r}); "
                                   "missing activity must be an empty field")
        num[:, j] = vals
    sq = num[:, 0].astype(np.int64)
    tms = num[:, 1].astype(np.int64)
    # timestamps must not decrease within a square
    same = sq[1:] == sq[:-1]
    dec = same & (tms[1:] < tms[:-1])
    if dec.any():
        i = int(np.argmax(dec)) + 1
        raise TrafficDataError(f"{path}:{i + 1}: non-monotonic timestamps for square {sq[i]} "
                               f"({tms[i]} after {tms[i - 1]})")
    if np.any(tms % 600_000 != 0):
        i = int(np.argmax(tms % 600_000 != 0))
        raise TrafficDataError(f"{path}:{i + 1}: time_ms {tms[i]} is not on the 10-min grid")
    if activity == "total":
        value = num[:, 3:].sum(axis=1)
    else:
        value = num[:, MILAN_COLUMNS.index(activity)]
    df = pd.DataFrame({"square_id": sq, "time_ms": tms, "value": value})
    if squares is not None:
        df = df[df.square_id.isin(list(squares))]
        if df.empty:
            raise TrafficDataError(f"{path}: none of the squares {list(squares)[:10]} is in the file")
    agg = df.groupby(["time_ms", "square_id"]).value.sum().unstack("square_id")
    full = np.arange(agg.index.min(), agg.index.max() + 600_000, 600_000)
    agg = agg.reindex(full).fillna(0.0)
    agg.index = pd.to_datetime(agg.index, unit="ms", utc=True).tz_convert("Europe/Rome")
    agg.index.name = "slot_start"
    agg.columns.name = "square_id"
    return agg


def load_milan_grid(path: str | Path, start: str = "2013-11-01 00:00", tz: str = "Europe/Rome",
                    grid_shape: tuple[int, int] = (5, 5)):  # noqa: ANN201
    """Read the Milan grid CSV (one column per square, one row per 10-min slot; paper 000 §3.2's data).

    Args:
        path: the CSV (no header, floats, comma-separated).
        start: local time of the first row.
        tz: time zone of ``start``.
        grid_shape: (rows, cols) of the block of squares; columns are the squares in row-major order.

    Returns:
        ``pandas.DataFrame``: index = slot start (tz-aware, 10-min grid), columns ``0 … n−1`` (square
        position in the block, row-major), values = internet activity (dataset units).
        ``df.attrs["grid_shape"]`` holds ``grid_shape``.

    Raises:
        TrafficDataError: ragged rows, non-numeric, NaN/inf or negative values, column count ≠ rows·cols.
        FileNotFoundError: no such file.
    """
    import pandas as pd

    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: Milan grid CSV not found")
    rows: list[list[float]] = []
    with path.open("r", encoding="utf-8") as fh:
        for lineno, line in enumerate(fh, start=1):
            if not line.strip():
                continue
            parts = line.strip().split(",")
            try:
                vals = [float(v) for v in parts]
            except ValueError:
                bad = next(v for v in parts if not _is_float(v))
                raise TrafficDataError(f"{path}:{lineno}: value {bad!r} is not a number") from None
            if rows and len(vals) != len(rows[0]):
                raise TrafficDataError(f"{path}:{lineno}: {len(vals)} columns, the first row has {len(rows[0])}")
            if not all(math.isfinite(v) for v in vals):
                raise TrafficDataError(f"{path}:{lineno}: NaN/inf value; the grid file has no gaps")
            if min(vals) < 0:
                raise TrafficDataError(f"{path}:{lineno}: negative activity {min(vals)}")
            rows.append(vals)
    if not rows:
        raise TrafficDataError(f"{path}: no data rows")
    n_sq = len(rows[0])
    if n_sq != grid_shape[0] * grid_shape[1]:
        raise TrafficDataError(f"{path}: {n_sq} columns, expected rows × cols = {grid_shape[0]} × {grid_shape[1]}")
    idx = pd.date_range(pd.Timestamp(start, tz=tz), periods=len(rows), freq="10min", name="slot_start")
    df = pd.DataFrame(np.array(rows), index=idx, columns=range(n_sq))
    df.columns.name = "square"
    df.attrs["grid_shape"] = tuple(grid_shape)
    return df


def grid_neighbour_pairs(grid_shape: tuple[int, int]) -> list[tuple[int, int]]:
    """Pairs ``(i, j)`` of edge-adjacent squares of a row-major ``rows × cols`` block (``i < j``)."""
    r, c = grid_shape
    out = []
    for a in range(r):
        for b in range(c):
            i = a * c + b
            if b + 1 < c:
                out.append((i, i + 1))
            if a + 1 < r:
                out.append((i, i + c))
    return out


def load_kaist(kaist_dir: str | Path, n_samples: int | None = None, step_s: float = 30.0) -> np.ndarray:
    """All KAIST traces on a common clock ``t = 0, 30, 60, …`` s.

    Args:
        kaist_dir: folder with ``KAIST_30sec_*.txt``.
        n_samples: samples per trace (None = up to the longest trace).
        step_s: clock step [s].

    Returns:
        (n_traces, n_samples, 2) positions [m], linearly interpolated; NaN after a trace's last sample.

    Raises:
        FileNotFoundError: no traces in the folder.
        TrafficDataError: a file without 3 columns or with non-increasing timestamps.
    """
    files = sorted(Path(kaist_dir).glob("KAIST_30sec_*.txt"))
    if not files:
        raise FileNotFoundError(f"{kaist_dir}: no KAIST_30sec_*.txt traces")
    data = []
    for f in files:
        d = np.loadtxt(f, ndmin=2)
        if d.shape[1] < 3:
            raise TrafficDataError(f"{f}: expected 3 whitespace-separated columns t x y, got {d.shape[1]}")
        if np.any(np.diff(d[:, 0]) <= 0):
            raise TrafficDataError(f"{f}: non-monotonic timestamps")
        data.append(d)
    if n_samples is None:
        n_samples = int(max(d[-1, 0] for d in data) // step_s) + 1
    tgrid = np.arange(n_samples) * step_s
    pos = np.full((len(files), n_samples, 2), np.nan)
    for i, d in enumerate(data):
        ok = (tgrid >= d[0, 0]) & (tgrid <= d[-1, 0])
        pos[i, ok, 0] = np.interp(tgrid[ok], d[:, 0], d[:, 1])
        pos[i, ok, 1] = np.interp(tgrid[ok], d[:, 0], d[:, 2])
    return pos


def kaist_cell_counts(pos: np.ndarray, fit_samples: int, cell_m: float = 800.0, grid: int = 3,
                      lattice_m: float = 100.0) -> tuple[np.ndarray, dict]:
    """Users per cell of a ``grid × grid`` layout placed over the densest area of the *fitting* samples.

    Paper 000 §3.3: nine 0.8 km square cells (2.4 km in all) where most positions fall, a BS at each
    cell centre, nearest-BS association. The window is chosen from ``pos[:, :fit_samples]`` only (the
    training part), so test positions do not steer it.

    Args:
        pos: (n_traces, n_samples, 2) positions [m] (NaN = absent), as from :func:`load_kaist`.
        fit_samples: samples used to place the grid.
        cell_m: cell side [m].
        grid: cells per side.
        lattice_m: resolution of the search for the densest window [m].

    Returns:
        ``counts`` (grid·grid, n_samples) users per cell (row-major, centre = ``grid·grid // 2``) and
        a dict with the grid origin [m] and the number of traces.
    """
    pts = pos[:, :fit_samples].reshape(-1, 2)
    pts = pts[np.isfinite(pts[:, 0])]
    if len(pts) == 0:
        raise ValueError("kaist_cell_counts: no positions in the fitting samples")
    side = grid * cell_m
    x0, y0 = pts.min(axis=0)
    nx = int(np.ceil((pts[:, 0].max() - x0) / lattice_m)) + 1
    ny = int(np.ceil((pts[:, 1].max() - y0) / lattice_m)) + 1
    hist, _, _ = np.histogram2d(pts[:, 0], pts[:, 1], bins=[nx, ny],
                                range=[[x0, x0 + nx * lattice_m], [y0, y0 + ny * lattice_m]])
    w = int(round(side / lattice_m))
    c = np.zeros((nx + 1, ny + 1))
    c[1:, 1:] = hist.cumsum(0).cumsum(1)
    wx, wy = max(1, min(w, nx)), max(1, min(w, ny))
    sums = c[wx:, wy:] - c[:-wx, wy:] - c[wx:, :-wy] + c[:-wx, :-wy]
    ix, iy = np.unravel_index(int(np.argmax(sums)), sums.shape)
    ox, oy = x0 + ix * lattice_m, y0 + iy * lattice_m
    centres = np.array([(ox + (a + 0.5) * cell_m, oy + (b + 0.5) * cell_m) for b in range(grid) for a in range(grid)])
    d2 = ((pos[:, :, None, :] - centres[None, None, :, :]) ** 2).sum(-1)  # (users, t, bs)
    present = np.isfinite(pos[..., 0])
    nearest = np.argmin(np.where(np.isfinite(d2), d2, np.inf), axis=-1)
    counts = np.stack([((nearest == k) & present).sum(axis=0) for k in range(grid * grid)]).astype(np.float64)
    return counts, {"origin_m": (float(ox), float(oy)), "n_traces": int(pos.shape[0]),
                    "points_in_grid": float(sums.max())}


def _is_float(v: object) -> bool:
    try:
        float(str(v))
    except ValueError:
        return False
    return True


def load_c2tm(path: str | Path, value: str = "bytes") -> dict:
    """Read the C2TM hourly traffic CSV into one hourly series per base station / cluster.

    Args:
        path: CSV with header ``bs,thour,users,packets,bytes`` (``thour`` like ``2012-08-16 10:00:00+08:00``).
        value: which column to return: ``users``, ``packets`` or ``bytes``.

    Returns:
        ``{bs: pandas.Series}``: hourly, tz-aware index from the station's first to last hour, NaN in gaps
        (missing hours), in file order of first appearance. Index in Asia/Shanghai time (the file's +08:00).

    Raises:
        TrafficDataError: missing columns, NaN/empty/non-numeric values, unparsable or non-monotonic timestamps,
        timestamps not on the hour.
        FileNotFoundError: no such file.
    """
    import pandas as pd

    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: C2TM CSV not found")
    if value not in C2TM_VALUES:
        raise TrafficDataError(f"{path}: value {value!r} unknown; allowed: {', '.join(C2TM_VALUES)}")
    try:
        df = pd.read_csv(path, dtype=str, keep_default_na=False)
    except Exception as exc:  # noqa: BLE001 - re-raised with the file name
        raise TrafficDataError(f"{path}: cannot parse as CSV ({exc})") from exc
    cols = [c.strip() for c in df.columns]
    df.columns = cols
    missing = [c for c in C2TM_COLUMNS if c not in cols]
    if missing:
        raise TrafficDataError(f"{path}: missing column(s) {', '.join(missing)}; expected header "
                               f"{','.join(C2TM_COLUMNS)}, got {','.join(cols)}")
    if df.empty:
        raise TrafficDataError(f"{path}: no data rows")
    for c in (*C2TM_VALUES, "bs", "thour"):
        s = df[c].str.strip()
        bad = s.eq("") | s.str.lower().isin(["nan", "na", "null", "none"])
        if bad.any():
            i = int(np.argmax(bad.to_numpy()))
            raise TrafficDataError(f"{path}:{i + 2}: column {c!r} is NaN/empty; C2TM gaps must be missing rows")
        if c in C2TM_VALUES:
            v = pd.to_numeric(s, errors="coerce")
            if v.isna().any():
                i = int(np.argmax(v.isna().to_numpy()))
                raise TrafficDataError(f"{path}:{i + 2}: column {c!r} value {df[c].iloc[i]!r} is not a number")
            df[c] = v.astype(np.float64)
    try:
        t = pd.to_datetime(df["thour"].str.strip(), utc=True)
    except (ValueError, TypeError) as exc:
        raise TrafficDataError(f"{path}: column 'thour' has unparsable timestamps ({exc})") from exc
    if t.isna().any():
        i = int(np.argmax(t.isna().to_numpy()))
        raise TrafficDataError(f"{path}:{i + 2}: column 'thour' timestamp {df['thour'].iloc[i]!r} unparsable")
    off_hour = (t.dt.minute != 0) | (t.dt.second != 0)
    if off_hour.any():
        i = int(np.argmax(off_hour.to_numpy()))
        raise TrafficDataError(f"{path}:{i + 2}: timestamp {df['thour'].iloc[i]!r} is not on the hour")
    df["t"] = t
    out: dict = {}
    for bs, g in df.groupby("bs", sort=False):
        tt = g["t"]
        d = tt.diff().dt.total_seconds().to_numpy()[1:]
        if np.any(d <= 0):
            i = int(np.argmax(d <= 0)) + 1
            raise TrafficDataError(
                f"{path}:{g.index[i] + 2}: non-monotonic timestamps for bs {bs!r} "
                f"({g['thour'].iloc[i]} after {g['thour'].iloc[i - 1]})")
        idx = pd.DatetimeIndex(tt).tz_convert("Asia/Shanghai")  # C2TM's +08:00 local time
        s = pd.Series(g[value].to_numpy(), index=idx, name=str(bs))
        out[str(bs)] = s.asfreq("h")
    return out


def contiguous_segments(series, max_gap: int = 3, min_length: int = 1) -> list:  # noqa: ANN001
    """Fill short gaps by linear interpolation and split at long ones.

    Args:
        series: ``pandas.Series`` on a regular grid with NaN in gaps (as from :func:`load_c2tm`).
        max_gap: longest run of missing samples that is interpolated; longer runs split the series.
        min_length: drop segments shorter than this.

    Returns:
        List of gap-free ``pandas.Series``, in time order.
    """
    v = series.to_numpy(dtype=np.float64)
    isn = ~np.isfinite(v)
    # lengths of NaN runs
    filled = series.interpolate(method="linear", limit_area="inside")
    run_id = np.cumsum(~isn)
    long_gap = np.zeros(v.size, dtype=bool)
    if isn.any():
        ids, counts = np.unique(run_id[isn], return_counts=True)
        for rid, cnt in zip(ids, counts, strict=True):
            if cnt > max_gap:
                long_gap[isn & (run_id == rid)] = True
    keep = ~long_gap & np.isfinite(filled.to_numpy(dtype=np.float64))
    segs = []
    start = None
    for i, k in enumerate(np.append(keep, False)):
        if k and start is None:
            start = i
        elif not k and start is not None:
            if i - start >= min_length:
                segs.append(filled.iloc[start:i])
            start = None
    return segs
