"""Shared fixtures: an empty workspace per test, the shared real data when present, e5-small
expanded once per session, and a real Milvus Lite server (started once per session, by the
tests that ask for it)."""

import importlib.util
import os
from collections.abc import Iterator
from pathlib import Path

import pytest

# Nothing may download at run time; make any accidental hub access fail fast.
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
# Tests index with one encoder unless they test the ensemble (tests/search/test_ensemble.py
# and the Milvus and serving tests that set it): the default's second index would double
# every indexing test's time without testing anything more.
os.environ.setdefault("PODSEEK_ENSEMBLE_MODEL", "")

from podseek.config import Settings, get_settings
from podseek.errors import PodseekError
from podseek.index.milvus_backend import MILVUS_EXTRA

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


@pytest.fixture(scope="session")
def milvus_uri(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """``http://127.0.0.1:PORT`` of a Milvus Lite server with its data in a temporary folder.

    The server is ``milvus-lite server``, a separate process as a real Milvus would be, so
    the tests go through gRPC and pymilvus exactly as production does.
    """
    if not all(importlib.util.find_spec(name) for name in ("pymilvus", "milvus_lite")):
        pytest.skip(MILVUS_EXTRA)
    from podseek.index.milvus_lite import milvus_lite_server

    try:
        with milvus_lite_server(tmp_path_factory.mktemp("milvus")) as (uri, _):
            yield uri
    except PodseekError as error:
        pytest.fail(str(error))


@pytest.fixture(scope="session")
def e5_folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """e5-small expanded from its packaged 4-bit weights, once per session (20-40 s)."""
    from podseek.models.e5_small import expand_e5_small

    return expand_e5_small(tmp_path_factory.mktemp("ws") / "models" / "e5-small")
