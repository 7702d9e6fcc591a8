"""MkDocs hooks: pages generated from the code at build time.

Markers in a page are replaced by generated Markdown:

* ``<!-- mndt:config-table ClassName -->``: a table of a configuration dataclass (field, type,
  default, meaning), read from the class itself, so it can never drift from the code. The class
  is found by name in :mod:`mndt_envs.config` and every module under :mod:`mndt_envs.tasks`.
  The meaning comes from the class docstring's ``Attributes:`` section or, failing that, from the
  field's trailing ``# comment`` in the source.
* ``<!-- mndt:readme -->``: the repository's README (the front door), with its ``docs/`` links
  made relative to the site.
* ``<!-- mndt:cli-reference -->``: the help of every ``mndt`` command and sub-command, from the
  Typer/Click application.

Every page in the navigation is a real file under ``docs/``: a missing one fails ``mkdocs build --strict``.
"""

from __future__ import annotations

import dataclasses
import importlib
import inspect
import pkgutil
import re
import typing
from pathlib import Path
from typing import Any

CONFIG_RE = re.compile(r"<!--\s*mndt:config-table\s+([A-Za-z_][A-Za-z0-9_]*)\s*-->")
CLI_RE = re.compile(r"<!--\s*mndt:cli-reference\s*-->")
README_RE = re.compile(r"<!--\s*mndt:readme\s*-->")
ROOT = Path(__file__).resolve().parents[1]


def _config_modules() -> list[Any]:
    mods = [importlib.import_module("mndt_envs.config")]
    tasks = importlib.import_module("mndt_envs.tasks")
    for info in pkgutil.walk_packages(tasks.__path__, "mndt_envs.tasks."):
        try:
            mods.append(importlib.import_module(info.name))
        except Exception:  # noqa: BLE001 - a half-written module must not hide the others
            continue
    return mods


def find_dataclass(name: str) -> type:
    """The configuration dataclass called ``name``."""
    for mod in _config_modules():
        obj = getattr(mod, name, None)
        if inspect.isclass(obj) and dataclasses.is_dataclass(obj):
            return obj
    raise LookupError(f"config-table: no dataclass named {name!r} in mndt_envs.config or mndt_envs.tasks")


def _attribute_docs(cls: type) -> dict[str, str]:
    doc = inspect.getdoc(cls) or ""
    out: dict[str, str] = {}
    m = re.search(r"^Attributes:\n(.*?)(?:\n\S|\Z)", doc, flags=re.S | re.M)
    if not m:
        return out
    cur = None
    for line in m.group(1).splitlines():
        hit = re.match(r"^    (\w+)(?: \([^)]*\))?:\s*(.*)$", line)
        if hit:
            cur = hit.group(1)
            out[cur] = hit.group(2).strip()
        elif cur and line.strip():
            out[cur] += " " + line.strip()
    return out


def _comment_docs(cls: type) -> dict[str, str]:
    try:
        src = inspect.getsource(cls)
    except (OSError, TypeError):
        return {}
    out = {}
    for m in re.finditer(r"^\s+(\w+)\s*:[^=\n]+=[^#\n]*#\s*(.+)$", src, flags=re.M):
        out[m.group(1)] = m.group(2).strip()
    return out


def _type_str(tp: Any) -> str:
    s = tp if isinstance(tp, str) else getattr(tp, "__name__", None) or str(tp)
    return str(s).replace("typing.", "").replace("NoneType", "None")


def _default(f: dataclasses.Field[Any]) -> str:
    if f.default is not dataclasses.MISSING:
        v = f.default
    elif f.default_factory is not dataclasses.MISSING:
        v = f.default_factory()
    else:
        return "required"
    if dataclasses.is_dataclass(v):
        return f"`{type(v).__name__}()`"
    return f"`{v!r}`"


def config_table(name: str) -> str:
    """Markdown table of the fields of the dataclass ``name``."""
    cls = find_dataclass(name)
    try:
        hints = typing.get_type_hints(cls)
    except Exception:  # noqa: BLE001 - fall back to the raw annotations
        hints = {}
    docs = {**_comment_docs(cls), **_attribute_docs(cls)}
    lines = [f"`{cls.__module__}.{cls.__name__}`", "", "| field | type | default | meaning |", "|---|---|---|---|"]
    for f in dataclasses.fields(cls):
        tp = _type_str(hints.get(f.name, f.type)).replace(" | ", " or ")
        meaning = docs.get(f.name, "").replace("|", "\\|")
        lines.append(f"| `{f.name}` | `{tp}` | {_default(f).replace('|', '&#124;')} | {meaning} |")
    return "\n".join(lines) + "\n"


def cli_reference() -> str:
    """Markdown with the ``--help`` of every command of ``mndt``, as the terminal shows it."""
    import typer.main
    from typer.testing import CliRunner

    from mndt_envs.cli import app

    runner = CliRunner()
    parts: list[str] = []

    def walk(cmd: Any, path: list[str]) -> None:
        env = {"COLUMNS": "100", "TERMINAL_WIDTH": "100", "NO_COLOR": "1", "_TYPER_FORCE_DISABLE_TERMINAL": "1"}
        res = runner.invoke(app, path[1:] + ["--help"], prog_name="mndt", env=env)
        if res.exit_code != 0:
            raise RuntimeError(f"cli-reference: `{' '.join(path)} --help` failed: {res.output}")
        text = re.sub(r"\x1b\[[0-9;]*m", "", res.output).rstrip()
        level = "#" * min(2 + len(path) - 1, 4)
        parts.append(f"{level} `{' '.join(path)}`\n\n```text\n{text}\n```\n")
        for name, sub in (getattr(cmd, "commands", None) or {}).items():  # a group's sub-commands, in order
            if not getattr(sub, "hidden", False):
                walk(sub, path + [name])

    walk(typer.main.get_command(app), ["mndt"])
    return "\n".join(parts)


def on_page_markdown(markdown: str, page: Any, config: Any, files: Any) -> str:
    """Replace the generation markers of a page."""
    if README_RE.search(markdown):
        text = (ROOT / "README.md").read_text(encoding="utf-8")
        text = text.replace("](docs/", "](")
        markdown = README_RE.sub(lambda m: text, markdown)
    markdown = CONFIG_RE.sub(lambda m: config_table(m.group(1)), markdown)
    if CLI_RE.search(markdown):
        markdown = CLI_RE.sub(lambda m: cli_reference(), markdown)
    return markdown
