"""Many processes on one cache key: put, get + read back, load; count errors (issue 15, item 8).

Each of ``--procs`` processes loops for ``--seconds``: ``put`` an entry of the same key with its
own content (as two cold builds of one ray-traced twin would), ``get`` it and re-hash every file
against the manifest, and ``load`` it. Counted: failed puts, reads that failed after ``get``
returned the entry, and "corrupt" warnings. ``--module`` loads another ``cache.py`` (for example the
version before the per-key lock: ``git show 2a1dff0~1:mndt_envs/twin/cache.py > /tmp/old_cache.py``)
to compare.

    python benchmarks/cache_stress.py [--procs 6] [--seconds 10] [--module /tmp/old_cache.py]
"""

from __future__ import annotations

import argparse
import hashlib
import importlib.util
import json
import multiprocessing as mp
import os
import tempfile
import time
import warnings
from typing import Any


def _cache_module(path: str) -> Any:
    if not path:
        from mndt_envs.twin import cache

        return cache
    spec = importlib.util.spec_from_file_location("cache_under_test", path)
    assert spec is not None and spec.loader is not None
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def worker(args: tuple[str, str, float, int]) -> dict[str, int]:
    """One process's loop; returns its counts."""
    module, root, seconds, wid = args
    c = _cache_module(module).ArtifactCache(root)
    out = {"puts": 0, "put_errors": 0, "reads": 0, "read_errors": 0, "corrupt_warnings": 0}
    t_end = time.time() + seconds
    while time.time() < t_end:
        payload = os.urandom(200_000 + 1000 * wid)
        with warnings.catch_warnings(record=True) as w:
            warnings.simplefilter("always")
            try:
                c.put("maps", "k", {"a.bin": payload, "b.bin": payload[:1000]}, meta={"writer": wid})
                out["puts"] += 1
            except Exception:  # noqa: BLE001 - counted
                out["put_errors"] += 1
            try:
                d = c.get("maps", "k")
                if d is not None:
                    man = json.loads((d / "MANIFEST.json").read_text())
                    for name, meta in man["files"].items():
                        if hashlib.sha256((d / name).read_bytes()).hexdigest() != meta["sha256"]:
                            raise ValueError(f"{name} changed under the reader")
                    out["reads"] += 1
            except Exception:  # noqa: BLE001 - counted
                out["read_errors"] += 1
            out["corrupt_warnings"] += sum("corrupt" in str(x.message) for x in w)
    return out


def main() -> None:
    """Run the workload and print the totals."""
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--procs", type=int, default=6)
    ap.add_argument("--seconds", type=float, default=10.0)
    ap.add_argument("--module", default="", help="path of a cache.py to test instead of mndt_envs.twin.cache")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="mndt-cache-stress-") as root, mp.Pool(args.procs) as pool:
        res = pool.map(worker, [(args.module, root, args.seconds, i) for i in range(args.procs)])
    total = {k: sum(r[k] for r in res) for k in res[0]}
    from rich.console import Console
    from rich.table import Table

    tab = Table(title=f"{args.procs} processes x {args.seconds:.0f} s on one key ({args.module or 'mndt_envs'})")
    for k in total:
        tab.add_column(k.replace("_", " "), justify="right")
    tab.add_row(*(f"{v:,}" for v in total.values()))
    Console().print(tab)


if __name__ == "__main__":
    main()
