"""Model fixtures shared by the model tests (e5-small's expanded folder, ``e5_folder``, is a
session fixture of tests/conftest.py: the training tests use it too)."""

from pathlib import Path

import pytest

from podseek.models.e5_small import e5_small_encoder


@pytest.fixture(scope="session")
def e5(e5_folder: Path):
    return e5_small_encoder(e5_folder)
