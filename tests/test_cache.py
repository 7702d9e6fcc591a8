from __future__ import annotations

import os

import pytest

from mndt_envs.twin.cache import ArtifactCache, atomic_path, cache_key, default_cache_dir


def test_put_get_round_trip(tmp_path) -> None:
    c = ArtifactCache(tmp_path)
    key = cache_key("maps", {"a": 1})
    d = c.put("maps", key, {"gain.bin": b"\x00\x01" * 100}, meta={"cells": 3})
    assert c.get("maps", key) == d
    assert (d / "gain.bin").read_bytes() == b"\x00\x01" * 100
    assert c.meta("maps", key) == {"cells": 3}


def test_key_depends_on_payload_and_version() -> None:
    assert cache_key("k", {"a": 1}) == cache_key("k", {"a": 1})
    assert cache_key("k", {"a": 1}) != cache_key("k", {"a": 2})
    assert cache_key("k", {"a": 1}, version="0.1") != cache_key("k", {"a": 1}, version="0.2")


def test_corrupt_entry_is_not_trusted(tmp_path) -> None:
    c = ArtifactCache(tmp_path)
    d = c.put("maps", "abc", {"x.bin": b"hello world"})
    (d / "x.bin").write_bytes(b"hellO world")  # same size, different content
    with pytest.warns(UserWarning, match="corrupt"):
        assert c.get("maps", "abc") is None
    assert not d.exists()


def test_truncated_entry_is_not_trusted(tmp_path) -> None:
    c = ArtifactCache(tmp_path)
    d = c.put("maps", "abc", {"x.bin": b"0123456789"})
    (d / "x.bin").write_bytes(b"01234")
    with pytest.warns(UserWarning):
        assert c.get("maps", "abc") is None


def test_interrupted_write_leaves_no_entry(tmp_path) -> None:
    c = ArtifactCache(tmp_path)


    with pytest.raises(ValueError):
        c.put("maps", "abc", {"ok.bin": b"1", "../evil": b"2"})
    assert c.get("maps", "abc") is None
    parent = tmp_path / "maps"
    assert not parent.exists() or not any(p.name.startswith(".abc.") for p in parent.iterdir())
    c.put("maps", "abc", {"ok.bin": b"1"})
    with pytest.raises(OSError):
        c.put("maps", "abd", {"ok.bin": b"1", "gone.bin": tmp_path / "no-such-file"})
    assert not any(p.name.startswith(".abd.") for p in parent.iterdir())


def test_missing_manifest_means_absent(tmp_path) -> None:
    c = ArtifactCache(tmp_path)
    (tmp_path / "maps" / "abc").mkdir(parents=True)
    (tmp_path / "maps" / "abc" / "x.bin").write_bytes(b"partial")
    assert c.get("maps", "abc") is None


def test_env_override(monkeypatch, tmp_path) -> None:
    monkeypatch.setenv("MNDT_CACHE", str(tmp_path / "here"))
    assert default_cache_dir() == tmp_path / "here"
    monkeypatch.delenv("MNDT_CACHE")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    assert default_cache_dir() == tmp_path / "mndt-envs"
    assert os.environ.get("MNDT_CACHE") is None


# ---------------------------------------------------------------- issue 15: concurrency, schema, stale temporaries


def _stress_worker(root: str, seconds: float, wid: int, q) -> None:  # type: ignore[no-untyped-def]
    import hashlib
    import json
    import time
    import warnings

    c = ArtifactCache(root)
    out = {"put_errors": 0, "read_errors": 0, "corrupt_warnings": 0, "reads": 0, "puts": 0}
    t_end = time.time() + seconds
    while time.time() < t_end:
        payload = os.urandom(50_000 + 1000 * wid)  # every writer has different content for the same key
        with warnings.catch_warnings(record=True) as w:
            warnings.simplefilter("always")
            try:
                c.put("maps", "k", {"a.bin": payload, "b.bin": payload[:100]}, meta={"writer": wid})
                out["puts"] += 1
            except Exception:  # noqa: BLE001
                out["put_errors"] += 1
            try:
                d = c.get("maps", "k")
                if d is not None:
                    man = json.loads((d / "MANIFEST.json").read_text())
                    for name, meta in man["files"].items():
                        if hashlib.sha256((d / name).read_bytes()).hexdigest() != meta["sha256"]:
                            raise ValueError(f"{name} changed under the reader")
                    out["reads"] += 1
                got = c.load("maps", "k", lambda p: (p / "b.bin").read_bytes())
                if got is None or len(got) != 100:
                    raise ValueError("load() missed a published entry")
            except Exception:  # noqa: BLE001
                out["read_errors"] += 1
            out["corrupt_warnings"] += sum("corrupt" in str(x.message) for x in w)
    q.put(out)


def test_many_processes_on_one_key_have_zero_errors(tmp_path) -> None:
    import multiprocessing as mp

    if "fork" not in mp.get_all_start_methods():
        pytest.skip("needs the fork start method")
    ctx = mp.get_context("fork")
    q = ctx.Queue()
    procs = [ctx.Process(target=_stress_worker, args=(str(tmp_path), 3.0, i, q)) for i in range(5)]
    for p in procs:
        p.start()
    results = [q.get(timeout=60) for _ in procs]
    for p in procs:
        p.join(timeout=30)
    total = {k: sum(r[k] for r in results) for k in results[0]}
    assert total["puts"] > 20 and total["reads"] > 20, total
    assert total["put_errors"] == 0 and total["read_errors"] == 0 and total["corrupt_warnings"] == 0, total
    leftovers = [p.name for p in (tmp_path / "maps").iterdir() if p.name.startswith(".") and p.is_dir()]
    assert leftovers == []


def test_published_entry_is_immutable(tmp_path) -> None:
    c = ArtifactCache(tmp_path)
    d1 = c.put("maps", "k", {"x.bin": b"first"})
    d2 = c.put("maps", "k", {"x.bin": b"second writer"})
    assert d1 == d2 and (d1 / "x.bin").read_bytes() == b"first"


@pytest.mark.parametrize(
    "manifest",
    [
        {"files": {}},
        {"files": []},
        {"files": {"maps.npz": {"size": "1", "sha256": "0" * 64}}},
        {"files": {"maps.npz": {"size": 1, "sha256": "nothex"}}},
        {"files": {"../maps.npz": {"size": 1, "sha256": "0" * 64}}},
        {"files": {"maps.npz": []}},
        [],
        "text",
    ],
)
def test_manifest_schema_is_validated(tmp_path, manifest) -> None:
    import json

    c = ArtifactCache(tmp_path)
    d = c.put("radiomap", "k", {"maps.npz": b"PK\x03\x04 not really a zip"})
    (d / "MANIFEST.json").write_text(json.dumps(manifest))
    with pytest.warns(UserWarning, match="corrupt"):
        assert c.get("radiomap", "k") is None
    assert not d.exists()
    assert c.meta("radiomap", "k") == {}


def test_unreadable_entry_is_a_miss(tmp_path) -> None:
    import zipfile

    import numpy as np

    c = ArtifactCache(tmp_path)
    c.put("radiomap", "k", {"maps.npz": b"PK\x03\x04 not really a zip"})  # verifies: the bytes are what was written

    def read(d):  # type: ignore[no-untyped-def]
        with np.load(d / "maps.npz", allow_pickle=False) as z:
            return z["pg_db"]

    with pytest.raises(zipfile.BadZipFile):
        read(c.get("radiomap", "k"))
    with pytest.warns(UserWarning, match="corrupt"):
        assert c.load("radiomap", "k", read) is None
    assert c.get("radiomap", "k") is None


def test_stale_temporaries_are_cleaned(tmp_path) -> None:
    import time

    from filelock import FileLock

    c = ArtifactCache(tmp_path, stale_after_s=60.0)
    parent = tmp_path / "maps"
    parent.mkdir()
    old = time.time() - 3600
    dead = parent / ".abc.tmp-dead"  # a writer killed an hour ago
    legacy = parent / ".abc.x1y2z3"  # the former naming
    live = parent / ".abc.tmp-live"  # an old temporary whose writer still holds its lock
    fresh = parent / ".abc.tmp-fresh"  # a writer that just started
    for p in (dead, legacy, live, fresh):
        p.mkdir()
        (p / "partial.bin").write_bytes(b"x")
    for p in (dead, legacy, live):
        os.utime(p, (old, old))
    held = FileLock(str(live) + ".lock", timeout=0)
    held.acquire()
    try:
        c.put("maps", "other", {"x.bin": b"1"})
    finally:
        held.release()
    names = {p.name for p in parent.iterdir() if p.is_dir()}
    assert names == {"other", live.name, fresh.name}


def test_atomic_path_replaces_on_success_and_keeps_the_old_file_on_error(tmp_path) -> None:
    target = tmp_path / "sub" / "fig.png"
    with atomic_path(target) as tmp:
        assert tmp.parent == target.parent and tmp.suffix == ".png" and tmp != target
        tmp.write_bytes(b"one")
    assert target.read_bytes() == b"one"
    with pytest.raises(RuntimeError, match="writer failed"), atomic_path(target) as tmp:
        tmp.write_bytes(b"half")
        raise RuntimeError("writer failed")
    assert target.read_bytes() == b"one", "a failed write leaves the old file"
    assert sorted(p.name for p in target.parent.iterdir()) == ["fig.png"], "no temporary file is left behind"
