"""Schemathesis against the running app's OpenAPI schema (issue 16): every operation, the writes
with the key, valid and invalid requests alike. No answer may be a 5xx, every answer must
match the schema (status, content type, body), and after the run the catalog and the index
hold the same records.
"""

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from hypothesis import given
from hypothesis import strategies as st
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from podseek.catalog.store import CatalogStore
from podseek.config import Settings
from podseek.index.episode_index import EpisodeIndex
from podseek.serve.app import create_app
from tests.fuzz.fuzzing import CASES, FAST, SLOW, STATUSES
from tests.search_catalog import minilm_home

KEY = "fuzz-key"
AUTH = {"Authorization": f"Bearer {KEY}"}
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
]
OPERATIONS = [
    ("/api/search", "GET"),
    ("/api/episodes/{episode_id}", "GET"),
    ("/api/episodes", "POST"),
    ("/api/episodes/{episode_id}", "DELETE"),
    ("/api/episodes/{episode_id}/similar", "GET"),
    ("/api/suggest", "GET"),
    ("/api/clicks", "POST"),
    ("/api/facets", "GET"),
    ("/healthz", "GET"),
    ("/readyz", "GET"),
]
MODES = [schemathesis.GenerationMode.POSITIVE, schemathesis.GenerationMode.NEGATIVE]


@pytest.fixture(scope="module")
def home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    home = tmp_path_factory.mktemp("fuzz-api")
    return minilm_home(home)


@pytest.fixture(scope="module")
def schema(home: Path) -> Iterator[Any]:
    settings = Settings(_env_file=None, home=home, model="minilm", api_key=KEY)
    app = create_app(settings)
    app.state.service.load()  # what the lifespan does; schemathesis calls the app directly
    yield schemathesis.openapi.from_asgi("/openapi.json", app)


def in_step(home: Path) -> bool:
    with CatalogStore(home / "catalog.sqlite") as catalog:
        wanted = catalog.content_hashes()
    index = EpisodeIndex(home / "index")
    try:
        return index.backend.content_hashes() == wanted
    finally:
        index.backend.close()


def fuzz(schema: Any, home: Path, path: str, method: str, run: Any) -> None:
    operation = schema[path][method]
    strategy = st.one_of(operation.as_strategy(generation_mode=mode) for mode in MODES)
    name = f"api {method} {path}"

    @run
    @given(case=strategy)
    def call(case: Any) -> None:
        CASES[name] += 1
        response = case.call_and_validate(headers=AUTH, checks=CHECKS)
        STATUSES[name][response.status_code] += 1

    call()
    assert in_step(home)


@pytest.mark.parametrize(("path", "method"), OPERATIONS, ids=[f"{m} {p}" for p, m in OPERATIONS])
def test_api_answers_every_request_within_its_schema(
    schema: Any, home: Path, path: str, method: str
) -> None:
    fuzz(schema, home, path, method, FAST if method != "POST" else _fewer(FAST))


@pytest.mark.slow
@pytest.mark.parametrize(("path", "method"), OPERATIONS, ids=[f"{m} {p}" for p, m in OPERATIONS])
def test_api_answers_every_request_within_its_schema_long(
    schema: Any, home: Path, path: str, method: str
) -> None:
    fuzz(schema, home, path, method, SLOW if method != "POST" else _fewer(SLOW))


def _fewer(run: Any) -> Any:
    """Writes re-encode and re-index: a third of the cases keeps the run short."""
    from hypothesis import settings

    return settings(run, max_examples=max(run.max_examples // 3, 30))
