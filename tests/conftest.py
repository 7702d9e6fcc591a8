from __future__ import annotations

import os
from pathlib import Path

import pytest

SHARED_DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"


@pytest.fixture(autouse=True, scope="session")
def _isolated_cache(tmp_path_factory: pytest.TempPathFactory) -> None:
    """Every test session writes its artifacts into a private cache."""
    os.environ.setdefault("MNDT_CACHE", str(tmp_path_factory.mktemp("mndt-cache")))


@pytest.fixture
def shared_data() -> Path:
    """The real data of ../shared/data; skips when absent (a user's machine)."""
    if not SHARED_DATA.is_dir():
        pytest.skip(f"real data folder {SHARED_DATA} is absent")
    return SHARED_DATA
