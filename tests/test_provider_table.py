"""README's provider table is generated from the registry (scripts/provider_table.py) and kept in step with it."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

import pytest

import tollway
from tollway.registry import ALIASES, PROVIDERS

ROOT = Path(__file__).resolve().parent.parent


def load_script() -> ModuleType:
    spec = importlib.util.spec_from_file_location("provider_table", ROOT / "scripts" / "provider_table.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules.setdefault("provider_table", module)
    spec.loader.exec_module(module)
    return module


script = load_script()


def test_readme_section_is_what_the_script_generates() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert readme.count(script.START) == 1
    assert readme.count(script.END) == 1
    start = readme.index(script.START)
    end = readme.index(script.END) + len(script.END)
    assert readme[start:end] == script.render_section(), (
        "README's provider table is stale: run `python scripts/provider_table.py --write`"
    )
    assert readme[:start].rstrip().endswith(script.HEADING)


def test_table_has_one_row_per_provider_and_lists_every_alias() -> None:
    table = script.render_table()
    rows = table.splitlines()[2:]
    assert len(rows) == len(PROVIDERS)
    assert [row.split(" | ")[0].strip("| `") for row in rows] == sorted(PROVIDERS)
    for alias, target in ALIASES.items():
        (row,) = [r for r in rows if r.startswith(f"| `{target}` |")]
        assert f"`{alias}`" in row
    assert all(row.count(" | ") == 5 for row in rows)  # no stray "|" splits a cell
    groq = next(r for r in rows if r.startswith("| `groq` |"))
    assert "OpenAIAdapter" in groq
    assert "`https://api.groq.com/openai/v1`" in groq
    assert "`GROQ_API_KEY`" in groq
    lm_studio = next(r for r in rows if r.startswith("| `lm_studio` |"))
    assert "(optional)" in lm_studio
    assert f"{len(tollway.provider_list)} addressable" in script.render_section()


def test_update_replaces_only_the_section_and_is_idempotent() -> None:
    text = f"# T\n\nintro\n\n{script.HEADING}\n\n{script.START}\nold table\n{script.END}\n\n## After\nkept\n"
    updated = script.update_readme(text)
    assert "old table" not in updated
    assert updated.startswith("# T\n\nintro\n")
    assert updated.endswith(f"{script.END}\n\n## After\nkept\n")
    assert script.update_readme(updated) == updated


def test_update_appends_heading_and_markers_when_missing() -> None:
    updated = script.update_readme("# T\n\nbody\n")
    assert updated.startswith("# T\n\nbody\n\n## Providers\n\n<!-- providers:start -->")
    assert updated.endswith(f"{script.END}\n")


def test_main_prints_or_writes(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert script.main([]) == 0
    assert capsys.readouterr().out == script.render_table() + "\n"
    readme = tmp_path / "README.md"
    readme.write_text("# T\n", encoding="utf-8")
    assert script.main(["--write", "--readme", str(readme)]) == 0
    assert readme.read_text(encoding="utf-8") == script.update_readme("# T\n")
