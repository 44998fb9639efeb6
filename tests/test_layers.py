"""podseek's packages import in one direction only: none imports a package above it.

The order, lowest first, is :data:`LAYERS`. A package may import itself and anything below
it. Every import counts: at the top of a module, inside a function, under
``TYPE_CHECKING``; a cycle hidden in a lazy import is still a cycle.
"""

import ast
from collections.abc import Iterator
from pathlib import Path

SOURCE = Path(__file__).resolve().parents[1] / "src" / "podseek"

# Lowest first. errors and extras are what every layer raises with; config is the settings
# (settings_doc writes their page); catalog the episodes; models the encoders and
# generators; beir the data format the stages hand each other; then the stages, each above
# what it reads; scale runs stages on Ray; serve, pipeline and the command line sit on top.
LAYERS = (
    "errors",
    "extras",
    "config",
    "settings_doc",
    "catalog",
    "models",
    "beir",
    "index",
    "search",
    "queries",
    "training",
    "evaluation",
    "scale",
    "serve",
    "pipeline",
    "cli",
    "__main__",
)
RANK = {name: rank for rank, name in enumerate(LAYERS)}


def package_of(path: Path) -> str:
    """``index`` for src/podseek/index/episode_index.py, ``beir`` for src/podseek/beir.py."""
    parts = path.relative_to(SOURCE).parts
    return parts[0] if len(parts) > 1 else path.stem


def imported_packages(source: str, path: Path) -> Iterator[tuple[str, int]]:
    """The podseek packages ``source`` imports (relative imports resolved against ``path``),
    with the line of each import; every import in the file, wherever it is."""
    module = list(path.relative_to(SOURCE.parent).with_suffix("").parts)  # podseek, pkg, mod
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = module[: len(module) - node.level]
                names = [".".join([*base, node.module] if node.module else base)]
            else:
                names = [node.module or ""]
            if names[0] == "podseek":  # from podseek import beir
                names = [f"podseek.{alias.name}" for alias in node.names]
        else:
            continue
        for name in names:
            parts = name.split(".")
            if parts[0] == "podseek" and len(parts) > 1:
                yield parts[1], node.lineno


def violations(source: str, path: Path) -> list[str]:
    """Each import in ``source`` (the file at ``path``) of a package above the file's own, or
    of a package :data:`LAYERS` does not place."""
    own = package_of(path)
    found = []
    where = path.relative_to(SOURCE.parent)
    for imported, line in imported_packages(source, path):
        if imported not in RANK or own not in RANK:
            unplaced = imported if imported not in RANK else own
            found.append(f"{where}:{line}: {unplaced} has no place in LAYERS")
        elif RANK[imported] > RANK[own]:
            found.append(f"{where}:{line}: {own} imports {imported}, which is above it")
    return found


def test_no_package_imports_a_package_above_it() -> None:
    files = sorted(SOURCE.rglob("*.py"))
    assert len(files) > 50  # the tree is there: the check cannot pass on nothing
    found = [v for path in files for v in violations(path.read_text(encoding="utf-8"), path)]
    assert not found, "\n".join(found)


def test_every_package_has_a_place() -> None:
    packages = {package_of(path) for path in SOURCE.rglob("*.py")} - {"__init__"}
    assert packages <= set(LAYERS), packages - set(LAYERS)


def test_the_check_finds_an_import_of_a_higher_package() -> None:
    """A planted violation in each place an import can hide is found."""
    index_module = SOURCE / "index" / "planted.py"
    top = "from podseek.scale.ray_jobs import RayRun\n"
    lazy = "def f():\n    import podseek.scale.ray_jobs\n"
    typing = (
        "from typing import TYPE_CHECKING\n"
        "if TYPE_CHECKING:\n    from podseek.scale import ray_jobs\n"
    )
    from_package = "from podseek import serve\n"
    for source in (top, lazy, typing, from_package):
        assert len(violations(source, index_module)) == 1, source
    relative = "from ..scale.ray_jobs import RayRun\n"
    assert violations(relative, index_module) == [
        "podseek/index/planted.py:1: index imports scale, which is above it"
    ]
    assert violations("from podseek.nowhere import x\n", index_module)  # unplaced package


def test_imports_of_the_same_or_a_lower_package_pass() -> None:
    search_module = SOURCE / "search" / "planted.py"
    source = (
        "from podseek.search.fusion import fuse\n"
        "from podseek.catalog.cleaning import content_words\n"
        "from . import snippets\n"
        "import numpy\n"
    )
    assert violations(source, search_module) == []
