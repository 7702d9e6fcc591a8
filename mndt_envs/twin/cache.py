"""Artifact cache keyed by a content hash of (kind, configuration, code version).

An entry is a directory holding data files plus ``MANIFEST.json`` (size and sha256 of each
file, and free-form metadata). The guarantees:

* **Atomic publication.** A writer fills a private temporary sibling directory and renames it
  into place in one step, so a build killed half-way leaves nothing a later run would trust.
* **Per-key lock.** Publishing, verifying and removing an entry happen under an exclusive
  file lock per ``(kind, key)`` (:mod:`filelock`, ``<kind>/.<key>.lock``); readers that use
  :meth:`ArtifactCache.load` also read under it. Locks are released by the kernel when a
  process dies, so a killed process never blocks the others.
* **Entries are immutable.** The first complete entry of a key wins: a later ``put`` of the
  same key keeps the published entry (and returns it) instead of replacing it, so a reader
  never sees an entry change or vanish under it. Only an entry that fails verification under
  the lock is removed.
* **Verified reads.** The manifest is checked against a schema (every file listed with an
  integer size and a sha256; no unlisted files), then every file's size and hash. Any failure
  to read or verify (and any exception from a :meth:`ArtifactCache.load` reader) is a miss:
  a warning, the entry is removed, ``None`` is returned and the caller rebuilds.
* **Data only.** Entries hold data formats (npz without pickles, JSON, WKB); nothing loaded
  from the cache runs code.
* **Stale temporaries are cleaned.** Temporary directories of writers that died (their lock
  is free) and that are older than :attr:`ArtifactCache.stale_after_s` are removed by the
  next ``put`` in the same kind.

The root is ``$MNDT_CACHE`` if set, else ``$XDG_CACHE_HOME/mndt-envs`` (default
``~/.cache/mndt-envs``).
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import tempfile
import time
import warnings
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypeVar

from filelock import FileLock, Timeout

__all__ = ["ArtifactCache", "CacheEntryError", "atomic_path", "cache_key", "default_cache_dir", "sha256_file"]

MANIFEST = "MANIFEST.json"
_TMP = ".tmp-"  # temporary directories: .<key>.tmp-<random>
_TRASH = ".trash-"  # entries being removed: .<key>.trash-<random>
_HEX64 = re.compile(r"[0-9a-f]{64}")
T = TypeVar("T")


class CacheEntryError(ValueError):
    """A cache entry does not verify (bad manifest, missing, extra or altered file)."""


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
        from .._version import __version__ as version
    blob = json.dumps({"kind": kind, "payload": payload, "version": version}, sort_keys=True, default=str)
    return hashlib.sha256(blob.encode()).hexdigest()[:32]


def sha256_file(path: Path) -> str:
    """Hex sha256 of a file's bytes."""
    h = hashlib.sha256()
    with path.open("rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


@contextmanager
def atomic_path(path: str | Path) -> Iterator[Path]:
    """A temporary file beside ``path`` to write; it replaces ``path`` in one rename when the block succeeds.

    The temporary name is unique (concurrent writers never share one) and keeps ``path``'s suffix, so
    writers that pick the format from the name (matplotlib, ``torch.save``) write the right one; on an
    error the temporary file is removed and ``path`` is left as it was. Creates the folder.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, name = tempfile.mkstemp(prefix=f".{path.stem}.", suffix=path.suffix, dir=path.parent)
    os.close(fd)
    tmp = Path(name)
    try:
        yield tmp
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def _valid_name(name: Any) -> bool:
    return isinstance(name, str) and name not in ("", ".", "..", MANIFEST) and "/" not in name and "\\" not in name \
        and not name.startswith(".") and "\x00" not in name


def _check_manifest(manifest: Any) -> dict[str, dict[str, Any]]:
    """The ``files`` table of a manifest that follows the schema.

    Raises:
        CacheEntryError: naming what is wrong.
    """
    if not isinstance(manifest, dict):
        raise CacheEntryError(f"manifest is a {type(manifest).__name__}, expected an object")
    files = manifest.get("files")
    if not isinstance(files, dict):
        raise CacheEntryError(f"manifest 'files' is {type(files).__name__}, expected an object")
    if not files:
        raise CacheEntryError("manifest lists no files")
    if not isinstance(manifest.get("meta", {}), dict):
        raise CacheEntryError("manifest 'meta' is not an object")
    for name, meta in files.items():
        if not _valid_name(name):
            raise CacheEntryError(f"manifest file name {name!r} is not allowed")
        if not isinstance(meta, dict):
            raise CacheEntryError(f"manifest entry of {name!r} is not an object")
        size, sha = meta.get("size"), meta.get("sha256")
        if isinstance(size, bool) or not isinstance(size, int) or size < 0:
            raise CacheEntryError(f"manifest size of {name!r} is {size!r}, expected an integer >= 0")
        if not isinstance(sha, str) or not _HEX64.fullmatch(sha):
            raise CacheEntryError(f"manifest sha256 of {name!r} is {sha!r}, expected 64 hex digits")
    return files


class ArtifactCache:
    """Directory-per-entry cache with atomic writes, per-key locks and verified reads.

    Args:
        root: cache directory (default :func:`default_cache_dir`).
        lock_timeout_s: how long to wait for a key's lock before giving up (a miss for readers,
            :class:`filelock.Timeout` — an ``OSError`` — for writers) [s].
        stale_after_s: age after which an unlocked temporary directory counts as abandoned [s].
    """

    def __init__(self, root: str | Path | None = None, *, lock_timeout_s: float = 300.0,
                 stale_after_s: float = 3600.0) -> None:
        self.root = Path(root) if root is not None else default_cache_dir()
        self.lock_timeout_s = float(lock_timeout_s)
        self.stale_after_s = float(stale_after_s)

    # ------------------------------------------------------------------ paths and locks
    def path(self, kind: str, key: str) -> Path:
        """Where the entry ``(kind, key)`` lives (it may not exist)."""
        if not _valid_name(kind) or not _valid_name(key):
            raise ValueError(f"cache kind/key {kind!r}/{key!r}: expected plain names without '/' or a leading '.'")
        return self.root / kind / key

    def lock(self, kind: str, key: str) -> FileLock:
        """The exclusive lock of entry ``(kind, key)`` (a :class:`filelock.FileLock`)."""
        d = self.path(kind, key).parent
        return FileLock(str(d / f".{key}.lock"), timeout=self.lock_timeout_s)

    @contextmanager
    def _locked(self, kind: str, key: str, *, create: bool) -> Iterator[bool]:
        """Hold the key's lock; yields False (unlocked) where the cache is read-only and nothing exists."""
        parent = self.path(kind, key).parent
        try:
            if create:
                parent.mkdir(parents=True, exist_ok=True)
            lk = self.lock(kind, key)
            lk.acquire()
        except Timeout:
            raise
        except OSError:
            if create:
                raise
            yield False  # read-only or absent cache: verify without the lock (nothing can be written there)
            return
        try:
            yield True
        finally:
            lk.release()

    # ------------------------------------------------------------------ reading
    def _verify(self, d: Path) -> dict[str, Any]:
        """The manifest of entry ``d`` if the entry verifies.

        Raises:
            CacheEntryError, OSError, ValueError: the entry is absent or does not verify.
        """
        man = d / MANIFEST
        manifest = json.loads(man.read_text(encoding="utf-8"))
        files = _check_manifest(manifest)
        present = {p.name for p in d.iterdir() if p.name != MANIFEST}
        extra = sorted(present - set(files))
        if extra:
            raise CacheEntryError(f"files not in the manifest: {', '.join(extra[:5])}")
        for name, meta in files.items():
            f = d / name
            if not f.is_file() or f.is_symlink():
                raise CacheEntryError(f"{name} is missing")
            if f.stat().st_size != meta["size"] or sha256_file(f) != meta["sha256"]:
                raise CacheEntryError(f"{name} does not match the manifest")
        return manifest

    def _discard(self, d: Path, why: Exception, *, stacklevel: int = 4) -> None:
        """Remove a corrupt entry (caller holds the key's lock) with one warning.

        ``stacklevel`` is that of the warning as seen from here; the default points at the
        caller of the public method that called this one.
        """
        warnings.warn(f"mndt-envs cache entry {d} is corrupt ({why}); it will be rebuilt", stacklevel=stacklevel)
        self._remove(d)

    def _verified(self, d: Path, locked: bool) -> bool:
        """Whether entry ``d`` verifies; a corrupt one is removed (with a warning) when ``locked``.

        An entry that vanished (``FileNotFoundError``) is a plain miss. Called by :meth:`_read` (for :meth:`get` and
        :meth:`load`) with the key's lock held when ``locked``.
        """
        try:
            self._verify(d)
        except FileNotFoundError:
            return False
        except Exception as exc:  # noqa: BLE001 - any failure to verify is a miss
            if locked:
                self._discard(d, exc, stacklevel=6)  # one frame deeper than in _read
            return False
        return True

    def _remove(self, d: Path) -> None:
        if not d.exists():
            return
        trash = d.parent / f".{d.name}{_TRASH}{os.urandom(4).hex()}"
        try:
            os.replace(d, trash)
        except OSError:
            trash = d
        shutil.rmtree(trash, ignore_errors=True)

    def get(self, kind: str, key: str) -> Path | None:
        """The verified entry directory, or ``None`` if absent or corrupt (a corrupt one is removed).

        The entry is verified under the key's lock. A published entry is never replaced, so the
        returned directory stays valid; to read it under the lock as well (and turn any read
        error into a miss) use :meth:`load`.
        """
        return self._read(kind, key, lambda d: d)

    def load(self, kind: str, key: str, reader: Callable[[Path], T]) -> T | None:
        """``reader(entry_dir)`` on the verified entry, under the key's lock; ``None`` on a miss.

        Any exception raised while verifying or by ``reader`` makes the entry a miss: it is
        removed with a warning and ``None`` is returned, so the caller rebuilds.
        """
        return self._read(kind, key, reader)

    def _read(self, kind: str, key: str, reader: Callable[[Path], T]) -> T | None:
        """The body of :meth:`get` and :meth:`load` (warnings point past their caller, as before)."""
        d = self.path(kind, key)
        if not (d / MANIFEST).is_file():
            return None
        try:
            with self._locked(kind, key, create=False) as locked:
                if not self._verified(d, locked):
                    return None
                try:
                    return reader(d)
                except Exception as exc:  # noqa: BLE001 - an unreadable entry is a miss
                    if locked:
                        self._discard(d, exc, stacklevel=5)
                    return None
        except Timeout:
            warnings.warn(f"mndt-envs cache entry {d} stayed locked for {self.lock_timeout_s:.0f} s; "
                          "treating it as a miss", stacklevel=3)
            return None

    def meta(self, kind: str, key: str) -> dict[str, Any]:
        """The metadata stored with an entry (``{}`` if absent or unreadable)."""
        man = self.path(kind, key) / MANIFEST
        try:
            manifest = json.loads(man.read_text(encoding="utf-8"))
            _check_manifest(manifest)
        except Exception:  # noqa: BLE001 - absent or corrupt: no metadata
            return {}
        return dict(manifest.get("meta", {}))

    def manifest(self, kind: str, key: str) -> dict[str, Any] | None:
        """The verified manifest of an entry (files with sizes and sha256, and meta), or ``None``."""
        return self.load(kind, key, lambda d: json.loads((d / MANIFEST).read_text(encoding="utf-8")))

    # ------------------------------------------------------------------ writing
    def put(self, kind: str, key: str, files: Mapping[str, bytes | Path],
            meta: dict[str, Any] | None = None) -> Path:
        """Write an entry atomically and return its directory.

        If a valid entry of the same key is already published (another process got there
        first), it is kept and returned: entries are immutable.

        Args:
            kind: artifact family (a sub-directory).
            key: content key (see :func:`cache_key`).
            files: name → content (bytes) or an existing file to copy (at least one file).
            meta: extra JSON-serialisable metadata stored in the manifest.
        """
        for name in files:
            if not _valid_name(name):
                raise ValueError(f"cache file name {name!r} is not allowed (plain names, no '/', no leading '.')")
        if not files:
            raise ValueError("a cache entry needs at least one file")
        final = self.path(kind, key)
        final.parent.mkdir(parents=True, exist_ok=True)
        self.clean_stale(kind)
        tmp = Path(tempfile.mkdtemp(prefix=f".{key}{_TMP}", dir=final.parent))
        tmp_lock = FileLock(str(tmp) + ".lock", timeout=0)
        tmp_lock.acquire()  # marks the temporary directory as live for clean_stale()
        try:
            manifest: dict[str, Any] = {"files": {}, "meta": meta or {}}
            for name, content in files.items():
                dst = tmp / name
                if isinstance(content, Path):
                    shutil.copyfile(content, dst)
                else:
                    dst.write_bytes(content)
                manifest["files"][name] = {"size": dst.stat().st_size, "sha256": sha256_file(dst)}
            with (tmp / MANIFEST).open("w", encoding="utf-8") as fh:
                fh.write(json.dumps(manifest, indent=1, sort_keys=True))
                fh.flush()
                os.fsync(fh.fileno())
            with self._locked(kind, key, create=True):
                if final.exists():
                    try:
                        self._verify(final)
                        return final  # first complete entry wins
                    except Exception:  # noqa: BLE001 - absent, partial or corrupt: replace it
                        self._remove(final)
                os.replace(tmp, final)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
            tmp_lock.release()
            Path(str(tmp) + ".lock").unlink(missing_ok=True)
        return final

    def clean_stale(self, kind: str) -> int:
        """Remove abandoned temporary and trash directories of ``kind``; returns how many.

        A temporary directory is abandoned when it is older than :attr:`stale_after_s` and
        its writer's lock is free (the writer died: the kernel released its lock).
        """
        parent = self.root / kind
        if not parent.is_dir():
            return 0
        now = time.time()
        removed = 0
        for p in parent.iterdir():
            if not p.name.startswith(".") or not p.is_dir() or p.is_symlink():
                continue
            try:
                if now - p.stat().st_mtime < self.stale_after_s:
                    continue
            except OSError:
                continue
            lock_path = Path(str(p) + ".lock")
            lk = FileLock(str(lock_path), timeout=0)
            try:
                lk.acquire()
            except (Timeout, OSError):
                continue  # its writer is alive
            try:
                shutil.rmtree(p, ignore_errors=True)
                removed += 1
            finally:
                lk.release()
                lock_path.unlink(missing_ok=True)
        return removed
