from __future__ import annotations

import os

import pytest

from mndt_envs.twin.cache import ArtifactCache, cache_key, default_cache_dir


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
    assert not any(p.name.startswith(".abc.") for p in (tmp_path / "maps").iterdir())


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
