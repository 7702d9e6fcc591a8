"""Reproduce paper 000's three LSTM experiments (channel, C2TM traffic, KAIST user count).

Usage::

    python benchmarks/lstm_reproduce.py [--out runs/lstm_reproduce] [--max-seconds 480] [--only channel,users]
    python benchmarks/lstm_reproduce.py --out runs/lstm_reproduce --merge runs/a,runs/b,runs/c

Equivalent to ``mndt lstm reproduce``. Each experiment trains on one torch thread within
``--max-seconds`` [s]; needs ``../shared/data`` (C2TM, KAIST) and Sionna (channel).
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

from mndt_envs.twin.traffic.experiments import read_outputs, run_all, write_outputs


def main() -> None:
    """Run the experiments and write CSV / JSON / PNG."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", default="runs/lstm_reproduce")
    ap.add_argument("--max-seconds", type=float, default=480.0)
    ap.add_argument("--only", default="channel,traffic,users")
    ap.add_argument("--data-dir", default=None)
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
        res = run_all(args.data_dir, args.max_seconds, (name.strip(),))[0]
        res.details["wall_seconds"] = time.perf_counter() - t0
        results.append(res)
        print(json.dumps({"name": res.name, "rows": res.rows,
                          "details": {k: v for k, v in res.details.items() if k not in ("per_cluster_accuracy",
                                                                                       "example")}},
                         default=float), flush=True)
        write_outputs(results, out)
    print("wrote", out)


if __name__ == "__main__":
    main()
