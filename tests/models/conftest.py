"""Model fixtures shared by the model tests: e5-small is expanded once per test session."""

from pathlib import Path

import pytest

from podseek.models.e5_small import e5_small_encoder, expand_e5_small


@pytest.fixture(scope="session")
def e5_folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return expand_e5_small(tmp_path_factory.mktemp("ws") / "models" / "e5-small")


@pytest.fixture(scope="session")
def e5(e5_folder: Path):
    return e5_small_encoder(e5_folder)
