"""Fixtures for the synthetic-query tests: the small real catalog and a query store."""

from collections.abc import Iterator
from pathlib import Path

import pytest

from podseek.catalog.store import CatalogStore
from podseek.queries.store import QueryStore
from tests.search_catalog import fill_catalog


@pytest.fixture
def catalog(tmp_path: Path) -> Iterator[CatalogStore]:
    """12 records (10 episodes, 2 shows) in English, German and French."""
    with CatalogStore(tmp_path / "catalog.sqlite") as store:
        yield fill_catalog(store)


@pytest.fixture
def queries(tmp_path: Path) -> Iterator[QueryStore]:
    with QueryStore(tmp_path / "queries.sqlite") as store:
        yield store
