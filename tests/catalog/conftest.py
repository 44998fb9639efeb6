"""Fixtures of the catalog tests."""

from collections.abc import Iterator
from pathlib import Path

import pytest

from podseek.catalog.store import CatalogStore


@pytest.fixture
def store(tmp_path: Path) -> Iterator[CatalogStore]:
    """An empty catalog on disk."""
    with CatalogStore(tmp_path / "catalog.sqlite") as catalog:
        yield catalog
