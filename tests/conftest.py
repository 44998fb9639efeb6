"""Shared fixtures: an empty workspace per test, and the shared real data when present."""

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

# Nothing may download at run time; make any accidental hub access fail fast.
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

from podseek.config import Settings, get_settings

REPO = Path(__file__).resolve().parent.parent


@pytest.fixture
def workspace(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Settings]:
    """Settings pointing at an empty workspace folder, for the library and the CLI alike."""
    monkeypatch.setenv("PODSEEK_HOME", str(tmp_path / "ws"))
    monkeypatch.chdir(tmp_path)  # no podseek.toml or .env of the developer's leaks in
    get_settings.cache_clear()
    yield get_settings()
    get_settings.cache_clear()


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """The shared real podcast data (``PODSEEK_DATA_DIR`` or ``../shared/data``)."""
    folder = Path(os.environ.get("PODSEEK_DATA_DIR") or REPO.parent / "shared" / "data")
    if not (folder / "listennotes-dec2017").is_dir():
        pytest.skip(f"shared podcast data not found at {folder} (set PODSEEK_DATA_DIR)")
    return folder
