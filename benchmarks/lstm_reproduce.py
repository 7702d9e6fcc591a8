"""Reproduce paper 000's three LSTM experiments (channel §3.1, Milan traffic §3.2, KAIST user counts §3.3).

Usage::

    python benchmarks/lstm_reproduce.py [--out runs/lstm_reproduce] [--max-seconds 480] [--only traffic,users]
    python benchmarks/lstm_reproduce.py --out runs/lstm_reproduce --merge runs/a,runs/b,runs/c

Equivalent to ``mndt lstm reproduce``. Each experiment trains on one torch thread within
``--max-seconds`` of CPU time; needs the data folder (``--data-dir``, default ``../shared/data``) for
traffic and users, and Sionna for the channel.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

from mndt_envs.twin.traffic.experiments import read_outputs, run_all, write_outputs

DEFAULT_DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"


def main() -> None:
    """Run the experiments and write CSV / JSON / Markdown / PNG."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", default="runs/lstm_reproduce")
    ap.add_argument("--max-seconds", type=float, default=480.0)
    ap.add_argument("--only", default="channel,traffic,users")
    ap.add_argument("--data-dir", default=str(DEFAULT_DATA))
    ap.add_argument("--merge", default="", help="comma-separated output folders of earlier runs to merge into --out")
    args = ap.parse_args()
    out = Path(args.out)
    if args.merge:
        res = read_outputs([Path(p) for p in args.merge.split(",")])
        order = {"channel": 0, "traffic": 1, "users": 2}
        res.sort(key=lambda r: order.get(r.name, 9))
        print(write_outputs(res, out))
        return
    results = []
    for name in args.only.split(","):
        t0 = time.perf_counter()
        res = run_all(Path(args.data_dir), args.max_seconds, (name.strip(),))[0]
        res.details["wall_seconds"] = time.perf_counter() - t0
        results.append(res)
        print(json.dumps({"name": res.name, "rows": res.rows,
                          "details": {k: v for k, v in res.details.items() if k != "per_square_accuracy"}},
                         default=float), flush=True)
        write_outputs(results, out)
    print("wrote", out)


if __name__ == "__main__":
    main()
