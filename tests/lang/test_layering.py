"""The dependency direction of ARCHITECTURE.md: ``tisslang`` depends on
nothing of ours (runtime, model and tools may import it, never the reverse)."""

from __future__ import annotations

import ast
import re
from pathlib import Path

TISSLANG = Path(__file__).parents[2] / "tisslang"
OURS = ("runtime", "model", "tools")


def imported_packages(path: Path) -> set[str]:
    """Top-level packages a module imports, function-level imports included."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            found.add(node.module.split(".")[0])
    return found


def test_tisslang_imports_nothing_of_ours():
    offenders = {path.name: sorted(imported_packages(path) & set(OURS))
                 for path in sorted(TISSLANG.glob("*.py"))}
    assert {name: found for name, found in offenders.items() if found} == {}


def test_the_documents_source_files_cite_are_in_the_repository():
    root = TISSLANG.parent
    cited = re.compile(r"(?<![\w/.-])((?:docs/)?[A-Z][A-Za-z_]*\.md|docs/[\w-]+\.md)\b")
    missing = set()
    for package in ("tisslang", "runtime", "model", "tools"):
        for path in sorted((root / package).rglob("*")):
            if path.suffix in (".py", ".lark"):
                text = path.read_text(encoding="utf-8")
                missing |= {f"{path.relative_to(root)}: {name}" for name in cited.findall(text)
                            if not (root / name).is_file()}
    assert sorted(missing) == []
