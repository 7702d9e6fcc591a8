"""Artifact cache keyed by a content hash of (kind, configuration, code version).

An entry is a directory holding files plus ``MANIFEST.json`` (size and sha256 of each
file). Entries are written into a temporary sibling directory and renamed into place
in one step, so a build killed half-way leaves nothing a later run would trust; on
read, every file is checked against the manifest and a mismatching entry is removed.

The root is ``$MNDT_CACHE`` if set, else ``$XDG_CACHE_HOME/mndt-envs`` (default
``~/.cache/mndt-envs``).
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
import warnings
from pathlib import Path
from typing import Any

__all__ = ["ArtifactCache", "cache_key", "default_cache_dir"]

MANIFEST = "MANIFEST.json"


def default_cache_dir() -> Path:
    """The cache root (see module doc)."""
    env = os.environ.get("MNDT_CACHE")
    if env:
        return Path(env).expanduser()
    xdg = os.environ.get("XDG_CACHE_HOME")
    base = Path(xdg).expanduser() if xdg else Path.home() / ".cache"
    return base / "mndt-envs"


def cache_key(kind: str, payload: Any, version: str | None = None) -> str:
    """Stable hex key of ``payload`` (JSON-serialisable) for artifacts of ``kind``."""
    if version is None:
        from .. import __version__ as version
    blob = json.dumps({"kind": kind, "payload": payload, "version": version}, sort_keys=True, default=str)
    return hashlib.sha256(blob.encode()).hexdigest()[:32]


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


class ArtifactCache:
    """Directory-per-entry cache with atomic writes and verified reads.

    Args:
        root: cache directory (default :func:`default_cache_dir`).
    """

    def __init__(self, root: str | Path | None = None) -> None:
        self.root = Path(root) if root is not None else default_cache_dir()

    def path(self, kind: str, key: str) -> Path:
        """Where the entry ``(kind, key)`` lives (it may not exist)."""
        return self.root / kind / key

    def get(self, kind: str, key: str) -> Path | None:
        """The verified entry directory, or ``None`` if absent or corrupt (corrupt ones are removed)."""
        d = self.path(kind, key)
        man = d / MANIFEST
        if not man.is_file():
            return None
        try:
            manifest = json.loads(man.read_text())
            for name, meta in manifest["files"].items():
                f = d / name
                if not f.is_file() or f.stat().st_size != meta["size"] or _sha256(f) != meta["sha256"]:
                    raise ValueError(f"{name} does not match the manifest")
        except (ValueError, KeyError, TypeError, OSError) as exc:
            warnings.warn(f"mndt-envs cache entry {d} is corrupt ({exc}); it will be rebuilt", stacklevel=2)
            shutil.rmtree(d, ignore_errors=True)
            return None
        return d

    def put(self, kind: str, key: str, files: dict[str, bytes | Path], meta: dict[str, Any] | None = None) -> Path:
        """Write an entry atomically and return its directory.

        Args:
            kind: artifact family (a sub-directory).
            key: content key (see :func:`cache_key`).
            files: name → content (bytes) or an existing file to copy.
            meta: extra JSON-serialisable metadata stored in the manifest.
        """
        final = self.path(kind, key)
        final.parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=f".{key}.", dir=final.parent))
        try:
            manifest: dict[str, Any] = {"files": {}, "meta": meta or {}}
            for name, content in files.items():
                if "/" in name or name in ("", ".", "..", MANIFEST):
                    raise ValueError(f"cache file name {name!r} is not allowed")
                dst = tmp / name
                if isinstance(content, Path):
                    shutil.copyfile(content, dst)
                else:
                    dst.write_bytes(content)
                manifest["files"][name] = {"size": dst.stat().st_size, "sha256": _sha256(dst)}
            (tmp / MANIFEST).write_text(json.dumps(manifest, indent=1, sort_keys=True))
            if final.exists():
                shutil.rmtree(final, ignore_errors=True)
            os.replace(tmp, final)
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
        return final

    def meta(self, kind: str, key: str) -> dict[str, Any]:
        """The metadata stored with an entry (``{}`` if absent)."""
        man = self.path(kind, key) / MANIFEST
        if not man.is_file():
            return {}
        return dict(json.loads(man.read_text()).get("meta", {}))
