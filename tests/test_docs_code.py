"""Every Python block of the README and of the docs pages runs as written.

Blocks of one page run in order in one namespace (a page reads top to bottom), in a temporary
working directory. A block may opt out only with a reason, given in an HTML comment on the line
just above its fence::

    <!-- docs-test: skip (needs the Milan data folder) -->
    ```python
    ...
    ```

Blocks marked ``text``, ``bash`` or anything but ``python`` are not run.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
FENCE = re.compile(r"^(?P<indent>[ ]*)```(?P<info>[^\n`]*)\n(?P<body>.*?)^(?P=indent)```[ ]*$", re.M | re.S)
SKIP = re.compile(r"<!--\s*docs-test:\s*skip\s*(?P<reason>\(.*?\))?\s*-->\s*$")


def pages() -> list[Path]:
    docs = sorted(p for p in (ROOT / "docs").rglob("*.md") if "img" not in p.relative_to(ROOT / "docs").parts)
    return [ROOT / "README.md", *docs]


def python_blocks(text: str) -> list[tuple[int, str, str | None]]:
    """``(line, code, skip reason or None)`` of every ```python block."""
    out = []
    for m in FENCE.finditer(text):
        lang = m.group("info").strip().split()[0] if m.group("info").strip() else ""
        if lang not in ("python", "py"):
            continue
        line = text.count("\n", 0, m.start()) + 1
        before = text[: m.start()].rstrip("\n").rsplit("\n", 1)[-1]
        skip = SKIP.search(before)
        reason = None
        if skip:
            reason = (skip.group("reason") or "").strip("() ")
            if not reason:
                raise ValueError(f"line {line}: a skipped block must give a reason: <!-- docs-test: skip (why) -->")
        indent = len(m.group("indent"))
        body = "\n".join(ln[indent:] for ln in m.group("body").splitlines())
        out.append((line, body, reason))
    return out


def test_collector_finds_blocks_and_needs_a_reason() -> None:
    text = ("intro\n```python\nx = 1\n```\n<!-- docs-test: skip (needs data) -->\n```python\nraise SystemExit\n```\n"
            "```bash\nmake test\n```\n  ```python\n  y = x + 1\n  ```\n")
    blocks = python_blocks(text)
    assert [(b[1], b[2]) for b in blocks] == [("x = 1", None), ("raise SystemExit", "needs data"), ("y = x + 1", None)]
    with pytest.raises(ValueError, match="must give a reason"):
        python_blocks("<!-- docs-test: skip -->\n```python\npass\n```\n")


def test_readme_and_docs_have_python_blocks() -> None:
    assert len(python_blocks((ROOT / "README.md").read_text())) >= 1
    assert sum(len(python_blocks(p.read_text())) for p in pages()) >= 8


def pages_with_code() -> list[Path]:
    """The pages with at least one ```python block (a page without one has nothing to run)."""
    return [p for p in pages() if python_blocks(p.read_text(encoding="utf-8"))]


@pytest.mark.parametrize("page", pages_with_code(), ids=lambda p: str(p.relative_to(ROOT)))
def test_page_code_runs(page: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    blocks = python_blocks(page.read_text(encoding="utf-8"))
    runnable = [b for b in blocks if b[2] is None]
    if not runnable:
        pytest.skip(f"every block skipped: {blocks[0][2]}")
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("MPLBACKEND", "Agg")
    ns: dict[str, object] = {"__name__": f"docs_{page.stem}"}
    for line, code, _ in runnable:
        try:
            exec(compile(code, f"{page.relative_to(ROOT)}:{line}", "exec", dont_inherit=True), ns)  # noqa: S102
        except Exception as exc:
            raise AssertionError(f"{page.relative_to(ROOT)}, block at line {line} fails: "
                                 f"{type(exc).__name__}: {exc}") from exc
