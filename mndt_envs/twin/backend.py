"""Ray-tracing backend selection for Sionna RT (Mitsuba 3 / Dr.Jit).

Dr.Jit's LLVM (CPU) backend needs libLLVM >= 16; older system libraries abort the
process with ``LLVM ERROR: Cannot select: fminimum``, so the library must be chosen
*before* mitsuba is imported. Search order:

1. the user's ``DRJIT_LIBLLVM_PATH`` (honoured unless its file name says LLVM < 16);
2. the file that the PyPI package ``karellen-llvm-core`` installs into ``<sys.prefix>/lib``;
3. the system (``/usr/lib/llvm-*/lib``, the linker's cache, Homebrew prefixes).

With an NVIDIA driver present the CUDA variant (``cuda_ad_mono_polarized``) is used,
otherwise ``llvm_ad_mono_polarized``. When neither works, :func:`raytracing_available`
returns False after one warning, and the twin uses the statistical 38.901 channel.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import glob
import importlib.metadata
import os
import re
import subprocess
import sys
import warnings
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

__all__ = [
    "MIN_LLVM_VERSION",
    "BackendInfo",
    "find_libllvm",
    "cuda_present",
    "configure",
    "init_mitsuba",
    "raytracing_available",
    "describe_backends",
]

MIN_LLVM_VERSION = 16
_VERSION_RE = re.compile(r"libLLVM(?:-(\d+))?(?:\.so|\.dylib)(?:\.(\d+))?")


@dataclass
class BackendInfo:
    """What was found and chosen."""

    llvm_path: str | None  # libLLVM file handed to Dr.Jit
    llvm_version: int | None  # its major version (from the file name)
    llvm_source: str | None  # "DRJIT_LIBLLVM_PATH" | "karellen-llvm-core" | "system"
    cuda: bool  # an NVIDIA driver (libcuda) is loadable
    variant: str | None  # Mitsuba variant that will be used
    available: bool  # ray tracing can run here
    reason: str  # why not, or what is used


_INFO: BackendInfo | None = None
_WARNED = False
_INITIALISED = False


def _llvm_version(path: str | Path) -> int | None:
    """Major LLVM version from a library file name (``libLLVM.so.23.1``, ``libLLVM-17.so``)."""
    name = Path(path).name
    m = _VERSION_RE.search(name)
    if not m:
        return None
    v = m.group(1) or m.group(2)
    if v is None:
        try:  # unversioned name: follow the symlink
            return _llvm_version(Path(path).resolve()) if Path(path).is_symlink() else None
        except OSError:
            return None
    return int(v)


def _system_candidates() -> list[str]:
    pats = [
        "/usr/lib/llvm-*/lib/libLLVM*.so*",
        "/usr/lib/x86_64-linux-gnu/libLLVM*.so*",
        "/usr/lib/aarch64-linux-gnu/libLLVM*.so*",
        "/usr/lib64/libLLVM*.so*",
        "/usr/lib/libLLVM*.so*",
        "/usr/local/lib/libLLVM*.so*",
        "/opt/homebrew/opt/llvm/lib/libLLVM.dylib",
        "/usr/local/opt/llvm/lib/libLLVM.dylib",
    ]
    out: list[str] = []
    for p in pats:
        out.extend(sorted(glob.glob(p)))
    try:
        ld = subprocess.run(["ldconfig", "-p"], capture_output=True, text=True, timeout=5, check=False).stdout
        out.extend(m.group(1) for m in re.finditer(r"=>\s*(\S*libLLVM[^\s]*)", ld))
    except (OSError, subprocess.SubprocessError):
        pass
    return out


def find_libllvm() -> tuple[str | None, int | None, str | None]:
    """Locate a libLLVM >= 16 for Dr.Jit.

    Returns:
        ``(path, major_version, source)``, or ``(None, None, None)`` when none is found.
    """
    user = os.environ.get("DRJIT_LIBLLVM_PATH")
    if user:
        v = _llvm_version(user)
        if not Path(user).is_file():
            warnings.warn(f"DRJIT_LIBLLVM_PATH={user} does not exist; searching for another libLLVM", stacklevel=2)
        elif v is not None and v < MIN_LLVM_VERSION:
            warnings.warn(
                f"DRJIT_LIBLLVM_PATH={user} is LLVM {v}; Dr.Jit needs >= {MIN_LLVM_VERSION}, searching for another",
                stacklevel=2,
            )
        else:
            return user, v, "DRJIT_LIBLLVM_PATH"
    lib = Path(sys.prefix) / "lib"
    for cand in sorted(glob.glob(str(lib / "libLLVM*.so*")) + glob.glob(str(lib / "libLLVM*.dylib")),
                       key=lambda p: -(_llvm_version(p) or 0)):
        v = _llvm_version(cand)
        if v is not None and v >= MIN_LLVM_VERSION and Path(cand).is_file():
            return str(Path(cand).resolve()), v, "karellen-llvm-core"
    best: tuple[str, int] | None = None
    for cand in _system_candidates():
        v = _llvm_version(cand)
        if v is not None and v >= MIN_LLVM_VERSION and Path(cand).is_file() and (best is None or v > best[1]):
            best = (cand, v)
    if best:
        return best[0], best[1], "system"
    return None, None, None


def cuda_present() -> bool:
    """Whether an NVIDIA driver (libcuda) can be loaded."""
    if os.environ.get("MNDT_DISABLE_CUDA"):
        return False
    for name in ("libcuda.so.1", "libcuda.so", ctypes.util.find_library("cuda")):
        if not name:
            continue
        try:
            ctypes.CDLL(name)
            return True
        except OSError:
            continue
    return False


def _installed(pkg: str) -> str | None:
    try:
        return importlib.metadata.version(pkg)
    except importlib.metadata.PackageNotFoundError:
        return None


def configure() -> BackendInfo:
    """Find the libraries and set ``DRJIT_LIBLLVM_PATH`` (idempotent; call before importing mitsuba)."""
    global _INFO
    if _INFO is not None:
        return _INFO
    path, ver, src = find_libllvm()
    if path:
        os.environ["DRJIT_LIBLLVM_PATH"] = path
    cuda = cuda_present()
    missing = [p for p in ("sionna-rt", "mitsuba", "drjit") if _installed(p) is None]
    if missing:
        info = BackendInfo(path, ver, src, cuda, None, False,
                           f"{', '.join(missing)} not installed (pip install sionna-rt)")
    elif cuda:
        info = BackendInfo(path, ver, src, cuda, "cuda_ad_mono_polarized", True, "CUDA (NVIDIA GPU)")
    elif path:
        info = BackendInfo(path, ver, src, cuda, "llvm_ad_mono_polarized", True,
                           f"LLVM {ver} on the CPU ({src}: {path})")
    else:
        info = BackendInfo(None, None, None, cuda, None, False,
                           f"no GPU and no libLLVM >= {MIN_LLVM_VERSION} (pip install karellen-llvm-core, "
                           f"or set DRJIT_LIBLLVM_PATH)")
    if "mitsuba" in sys.modules and info.available:
        mi = sys.modules["mitsuba"]
        try:
            cur = mi.variant()
        except Exception:  # noqa: BLE001
            cur = None
        if cur:
            info.variant = cur
    _INFO = info
    return info


def init_mitsuba() -> Any:
    """Configure, import mitsuba with the chosen variant and import ``sionna.rt``.

    Returns:
        The ``mitsuba`` module.

    Raises:
        RuntimeError: ray tracing is not available here (the reason is in the message).
    """
    global _INITIALISED
    info = configure()
    if not info.available:
        raise RuntimeError(f"Sionna RT cannot run here: {info.reason}")
    import mitsuba as mi

    if not _INITIALISED:
        if mi.variant() is None:
            try:
                mi.set_variant(str(info.variant))
            except Exception as exc:
                if info.variant and info.variant.startswith("cuda") and info.llvm_path:
                    mi.set_variant("llvm_ad_mono_polarized")
                    info.variant = "llvm_ad_mono_polarized"
                    info.reason = f"LLVM {info.llvm_version} on the CPU (CUDA failed: {exc})"
                else:
                    info.available = False
                    info.reason = f"mitsuba could not start variant {info.variant}: {exc}"
                    raise RuntimeError(f"Sionna RT cannot run here: {info.reason}") from exc
        info.variant = mi.variant()
        import sionna.rt  # noqa: F401  (registers the radio materials)

        _INITIALISED = True
    return mi


def raytracing_available(*, warn: bool = True) -> bool:
    """Whether Sionna RT can run here; otherwise warns once (the statistical channel is used)."""
    global _WARNED
    info = configure()
    ok = info.available
    if ok:
        try:
            init_mitsuba()
        except Exception as exc:  # noqa: BLE001
            info.available = False
            info.reason = str(exc)
            ok = False
    if not ok and warn and not _WARNED:
        warnings.warn(
            f"ray-traced channel unavailable ({info.reason}); using the statistical 3GPP TR 38.901 channel instead",
            RuntimeWarning,
            stacklevel=2,
        )
        _WARNED = True
    return ok


def describe_backends() -> dict[str, Any]:
    """Backend report for ``mndt info`` (does not import mitsuba).

    Returns:
        dict with ``raytracing`` (bool), ``variant``, ``reason``, ``llvm_path``,
        ``llvm_version``, ``llvm_source``, ``cuda`` and the versions of sionna-rt, mitsuba and drjit.
    """
    info = configure()
    d = asdict(info)
    d["raytracing"] = d.pop("available")
    d["versions"] = {p: _installed(p) for p in ("sionna-rt", "mitsuba", "drjit", "osmnx")}
    return d
