"""The ONNX query engines: the same vectors as the model (float32), or nearly (int8).

Measured on e5-small (benchmarks/query_engines.py): float32 ONNX agrees with torch to a cosine
of 0.99999+; int8 with per-channel scales to min 0.995, mean 0.997 on the dev queries (a
512-token text: 0.98). A wrong input order, a missing prefix or pooling over padding drops far
below 0.99, which is what the int8 test asks of real queries.
"""

import os
from pathlib import Path

import numpy as np
import pytest
import torch

from podseek.errors import PodseekError
from podseek.index.episode_index import encoder_device
from podseek.models.device import CPU, Device
from podseek.models.minilm import minilm_encoder
from podseek.models.onnx_queries import EpisodeEngine, OnnxQueryEncoder, QueryEngine, can_export
from podseek.models.registry import _named, load_encoder

QUERIES = [
    "healthy eating over the christmas holidays",
    "paying off the mortgage before I retire",
    "an Weihnachten gesund essen",
    "cómo ahorrar para la jubilación",
    "comment parler à ses enfants de la mort",
    "hur man börjar springa",
    "интервью с основателем стартапа",
    "a long question " * 200,  # truncated to the model's limit, like the model does
]


def cosines(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return (a * b).sum(axis=1)


@pytest.fixture(scope="module")
def minilm():
    return minilm_encoder()


def test_float32_engine_gives_the_models_vectors(minilm, tmp_path: Path) -> None:
    engine = OnnxQueryEncoder(minilm.model, tmp_path, "fp", QueryEngine.ONNX)
    expected = minilm.encode_queries(QUERIES)
    got = engine.encode(QUERIES, batch_size=3)  # batches mix lengths: padding must not count
    assert got.shape == expected.shape and got.dtype == np.float32
    assert cosines(got, expected).min() > 0.99999
    assert np.allclose(np.linalg.norm(got, axis=1), 1.0, atol=1e-5)


@pytest.mark.slow  # 1 min (exports and quantises e5-small): kept out of the default 15 minutes;
# the int8 engine itself runs in every default search test (MiniLM's)
def test_int8_engine_is_close_on_multilingual_e5(e5, tmp_path: Path) -> None:
    engine = OnnxQueryEncoder(e5.model, tmp_path, "fp", QueryEngine.ONNX_INT8)
    prefixed = [e5.query_prefix + q for q in QUERIES]
    expected = e5.encode_queries(QUERIES)
    got = engine.encode(prefixed)
    similarity = cosines(got, expected)
    assert similarity[:-1].min() > 0.99
    # int8 error grows with length: 512 tokens of one repeated phrase measured 0.980
    assert similarity[-1] > 0.95
    # each query is still nearest to its own float32 vector among all of them
    assert (got @ expected.T).argmax(axis=1).tolist() == list(range(len(QUERIES)))
    # the int8 file is about a quarter of the float32 weights
    assert engine.path.stat().st_size < 150e6


def test_encoder_routes_queries_through_the_engine(tmp_path: Path) -> None:
    encoder = load_encoder("minilm", tmp_path, QueryEngine.ONNX)
    assert encoder.query_engine is not None
    encoder.prepare_queries()
    assert encoder.query_engine.path.is_file()
    assert encoder.query_engine.path.is_relative_to(tmp_path / "models" / ".onnx")
    routed = encoder.encode_queries(QUERIES[:3])
    assert np.array_equal(routed, encoder.query_engine.encode(QUERIES[:3]))
    assert load_encoder("minilm", tmp_path).query_engine is None


def test_the_episode_engine_gives_the_models_episode_vectors(tmp_path: Path) -> None:
    """On the CPU, episodes go through the float32 copy: the model's vectors, each in its
    place, though the engine batches them by length."""
    encoder = load_encoder("minilm", tmp_path, QueryEngine.ONNX_INT8, CPU, EpisodeEngine.ONNX)
    assert encoder.episode_engine is not None and encoder.episode_engine.path.name == (
        "query-float32.onnx"
    )
    texts = [QUERIES[-1], *QUERIES[:4], "x", QUERIES[-1][:300], *QUERIES[4:7]]
    expected = load_encoder("minilm", tmp_path).encode_episodes(texts)
    got = encoder.encode_episodes(texts, batch_size=32)
    assert got.shape == expected.shape and got.dtype == np.float32
    assert cosines(got, expected).min() > 0.99999
    assert encoder.encode_episodes([]).shape == (0, encoder.dimension)
    threads = torch.get_num_threads()
    assert encoder_device(encoder) == f"cpu ({threads} threads, fp32) through ONNX Runtime"
    # the int8 query engine is quantised from the same float32 export, not exported again
    exported = encoder.episode_engine.path.stat().st_mtime_ns
    encoder.prepare_queries()
    assert encoder.query_engine.path.name == "query-int8.onnx"
    assert encoder.episode_engine.path.stat().st_mtime_ns == exported
    assert sorted(p.name for p in exported_files(tmp_path)) == [
        "query-float32.onnx",
        "query-int8.onnx",
    ]


def test_the_episode_engine_is_the_float32_query_engine_and_only_on_the_cpu(
    tmp_path: Path,
) -> None:
    shared = load_encoder("minilm", tmp_path, QueryEngine.ONNX, CPU, EpisodeEngine.ONNX)
    assert shared.episode_engine is shared.query_engine  # one session, one export
    assert load_encoder("minilm", tmp_path, QueryEngine.ONNX).episode_engine is None
    on_gpu = minilm_encoder()
    on_gpu.device = Device("cuda:0")  # as loaded there: torch encodes its episodes
    named = _named(on_gpu, "minilm", "fp", tmp_path, QueryEngine.ONNX, EpisodeEngine.ONNX)
    assert named.query_engine is not None and named.episode_engine is None


def exported_files(home: Path) -> list[Path]:
    return [p for p in (home / "models" / ".onnx").rglob("*") if p.is_file()]


def test_export_is_cached_per_fingerprint(minilm, tmp_path: Path) -> None:
    first = OnnxQueryEncoder(minilm.model, tmp_path, "v1", QueryEngine.ONNX)
    first.prepare()
    written = first.path.stat().st_mtime_ns
    again = OnnxQueryEncoder(minilm.model, tmp_path, "v1", QueryEngine.ONNX)
    again.prepare()
    assert again.path == first.path and again.path.stat().st_mtime_ns == written
    retrained = OnnxQueryEncoder(minilm.model, tmp_path, "v2", QueryEngine.ONNX)
    assert retrained.path != first.path
    # no temporary files are left beside the exports
    assert [p.name for p in first.path.parent.iterdir()] == [first.path.name]


def test_a_damaged_export_is_refused_then_rebuilt(minilm, tmp_path: Path) -> None:
    engine = OnnxQueryEncoder(minilm.model, tmp_path, "x", QueryEngine.ONNX)
    engine.path.parent.mkdir(parents=True)
    engine.path.write_bytes(b"not an onnx model")
    with pytest.raises(PodseekError, match="cannot load the query engine"):
        engine.prepare()
    assert not engine.path.exists()
    assert engine.encode(QUERIES[:1]).shape == (1, minilm.dimension)
    assert os.path.getsize(engine.path) > 1e6


def test_models_without_a_transformer_keep_their_own_engine(tmp_path: Path) -> None:
    use = load_encoder("use-multilingual", tmp_path, QueryEngine.ONNX_INT8)
    assert getattr(use, "query_engine", None) is None
    assert not can_export(object())
