"""Loaders for real traffic data: Telecom Italia Milan (raw TSV) and C2TM (hourly CSV).

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
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

__all__ = [
    "TrafficDataError",
    "MILAN_COLUMNS",
    "C2TM_COLUMNS",
    "load_milan_raw",
    "load_c2tm",
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
