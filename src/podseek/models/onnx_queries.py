"""A faster query path: the same sentence-transformers model run by ONNX Runtime, int8 weights.

Why: a search encodes one short query and waits for it, so the encoder's per-call cost is most
of a search's latency. ONNX Runtime runs the same graph with less overhead per call than
torch, and quantising its weights to int8 (dynamic quantisation, one scale per output
channel) cuts the time again (``make bench-query-engines``; docs/results.md). Episodes are
encoded in float32, the vectors the index holds: on the CPU by the float32 copy (the
``episode_engine`` setting; ONNX Runtime runs a model two to three times as fast as torch on
small batches, with the same vectors), elsewhere by torch. An int8 query
vector of e5-small or MiniLM agrees with the float32 one to a cosine of at least 0.99
(tests/models/test_onnx_queries.py), and dev-set quality is unchanged within its noise
(docs/results.md). A model whose int8 copy strays further (all-mpnet-base-v2's) keeps the
float32 export under the int8 engine: checked at export on a few sample queries.

sentence-transformers' own ONNX backend needs ``optimum-onnx``, which pins
``transformers<4.58``, older than ours; so we export with ``torch.onnx`` and quantise with
``onnxruntime.quantization`` ourselves. The exported files are cached per model fingerprint, so
a model is exported once (seconds, on the first search or ``podseek index``) and a retrained
model gets new files.
"""

import logging
import os
import shutil
import tempfile
import warnings
from collections.abc import Sequence
from enum import StrEnum
from pathlib import Path
from typing import Any

import numpy as np
from tqdm.auto import tqdm

from podseek.errors import PodseekError

FORMAT_VERSION = 2  # part of the cache key: bump it when the export or its checks change
# An int8 copy is kept only where its query vectors stay this close to float32's on
# SAMPLE_QUERIES: e5-small and MiniLM do; all-mpnet-base-v2 does not, and keeps float32.
INT8_MIN_COSINE = 0.98
FLOAT32_FILE = "query-float32.onnx"  # the float32 export, the name the onnx engine's file has
SAMPLE_QUERIES = (
    "query: healthy eating over the holidays",
    "query: revolutionary general ferrying troops over an icy river on christmas",
    "query: man who armored a bulldozer and wrecked his town",
    "query: true crime",
    "query: cómo dormir mejor",
    "query: Wie man über Weihnachten gesund bleibt",
)


class QueryEngine(StrEnum):
    """What encodes queries for a sentence-transformers encoder."""

    ONNX_INT8 = "onnx-int8"  # ONNX Runtime, int8 weights: fastest; cosine >= 0.99 to float32
    ONNX = "onnx"  # ONNX Runtime, float32: the same vectors as torch, faster
    TORCH = "torch"  # the model itself: no export


class EpisodeEngine(StrEnum):
    """What encodes episodes for a sentence-transformers encoder on the CPU."""

    ONNX = "onnx"  # ONNX Runtime, float32 (the query engine's float32 copy): the same vectors
    TORCH = "torch"  # the model itself


def can_export(model: Any) -> bool:
    """True for the pipelines we can export: a sentence-transformers model that starts with a
    Hugging Face transformer, followed by tensor-only modules (pooling, dense, normalise),
    which is every BERT-like encoder we ship. The USE port has its own numpy engine."""
    try:
        first = model[0]
    except (TypeError, IndexError, KeyError):
        return False
    return type(first).__name__ == "Transformer" and hasattr(first, "auto_model")


class _SentenceEmbedding:
    """``model(features)["sentence_embedding"]`` as a module with positional tensor inputs,
    which is what ``torch.onnx.export`` traces."""

    def __new__(cls, model: Any, names: Sequence[str]) -> Any:
        import torch

        class SentenceEmbedding(torch.nn.Module):
            def __init__(self) -> None:
                super().__init__()
                self.model = model

            def forward(self, *tensors: torch.Tensor) -> torch.Tensor:
                features = dict(zip(names, tensors, strict=True))
                features["modality"] = "text"
                return self.model(features)["sentence_embedding"]

        return SentenceEmbedding()


def export_onnx(model: Any, target: Path, quantize: bool) -> Path:
    """Export ``model`` (a ``SentenceTransformer``) to ``target`` (an ``.onnx`` file), once.

    The float32 copy is kept beside ``target`` as :data:`FLOAT32_FILE` whatever is asked: the
    episode engine runs it, and an int8 copy is quantised from it. Each file is written under
    a temporary name and renamed into place, so a crash or a second process never leaves a
    half-written model behind.
    """
    if target.is_file():
        return target
    if not can_export(model):
        raise PodseekError(f"{type(model[0]).__name__} models cannot be exported to ONNX")
    target.parent.mkdir(parents=True, exist_ok=True)
    float_copy = target.with_name(FLOAT32_FILE)
    work = Path(tempfile.mkdtemp(prefix=f".{target.stem}.", dir=target.parent))
    try:
        if not float_copy.is_file():
            os.replace(_export_float32(model, work), float_copy)
        chosen = float_copy
        if quantize:
            from onnxruntime.quantization import QuantType, quantize_dynamic

            int8 = work / "model-int8.onnx"
            # per-channel scales keep e5-small's query vectors at cosine >= 0.995 to float32;
            # one scale per tensor drops that to about 0.98 and costs dev-set recall.
            # (The quantiser logs a hint about static-quantisation pre-processing on the root
            # logger; it does not apply to dynamic quantisation.)
            root = logging.getLogger()
            level = root.level
            root.setLevel(logging.ERROR)
            try:
                quantize_dynamic(float_copy, int8, weight_type=QuantType.QInt8, per_channel=True)
            finally:
                root.setLevel(level)
            # a model whose int8 copy strays keeps float32 for its queries
            if agreement(float_copy, int8, model) >= INT8_MIN_COSINE:
                chosen = int8
        if chosen != target:
            if chosen == float_copy:  # the same file under the int8 engine's name
                chosen = work / "model-float32.onnx"
                try:
                    os.link(float_copy, chosen)
                except OSError:
                    shutil.copyfile(float_copy, chosen)
            os.replace(chosen, target)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return target


def _export_float32(model: Any, work: Path) -> Path:
    """``model`` exported by torch's tracer to ``work/model.onnx``, float32."""
    import torch

    sample = model.preprocess(["query: a short sample text"])
    names = [name for name, value in sample.items() if isinstance(value, torch.Tensor)]
    wrapper = _SentenceEmbedding(model, names)
    was_training = model.training
    model.eval()
    float_file = work / "model.onnx"
    with torch.no_grad(), warnings.catch_warnings():
        # the tracer warns about Python-side branches in transformers that do not depend
        # on the input's values; the parity tests check the graph it writes
        warnings.simplefilter("ignore")
        torch.onnx.export(
            wrapper,
            tuple(sample[name] for name in names),
            str(float_file),
            input_names=names,
            output_names=["sentence_embedding"],
            dynamic_axes={
                **{name: {0: "batch", 1: "tokens"} for name in names},
                "sentence_embedding": {0: "batch"},
            },
            opset_version=17,
            dynamo=False,  # the TorchScript exporter handles transformers' masks as-is
        )
    model.train(was_training)  # the exporter may leave the model in training mode
    return float_file


def agreement(first: Path, second: Path, model: Any) -> float:
    """The lowest cosine between two exported copies' vectors of :data:`SAMPLE_QUERIES`."""
    import onnxruntime

    features = model.preprocess(list(SAMPLE_QUERIES))
    vectors = []
    for path in (first, second):
        session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
        feed = {node.name: features[node.name].numpy() for node in session.get_inputs()}
        found = session.run(None, feed)[0]
        vectors.append(found / np.linalg.norm(found, axis=1, keepdims=True).clip(1e-12))
    return float((vectors[0] * vectors[1]).sum(axis=1).min())


class OnnxQueryEncoder:
    """Encodes queries with an exported copy of a sentence-transformers model.

    Tokenisation is the model's own (``model.preprocess``: same truncation and special
    tokens), so only the forward pass changes.

    Args:
        model: the loaded ``SentenceTransformer``.
        cache_dir: where exported files are kept, one folder per model fingerprint.
        fingerprint: identifies the weights (see ``registry.folder_fingerprint``).
        engine: ``onnx-int8`` or ``onnx``.
        threads: ONNX Runtime's intra-op threads (default: all cores).
    """

    def __init__(
        self,
        model: Any,
        cache_dir: Path,
        fingerprint: str,
        engine: QueryEngine = QueryEngine.ONNX_INT8,
        threads: int | None = None,
    ) -> None:
        engine = QueryEngine(engine)
        if engine is QueryEngine.TORCH:
            raise ValueError("OnnxQueryEncoder runs the onnx engines only")
        self.model = model
        self.engine = engine
        name = "int8" if engine is QueryEngine.ONNX_INT8 else "float32"
        self.path = Path(cache_dir) / f"{fingerprint}-v{FORMAT_VERSION}" / f"query-{name}.onnx"
        self.threads = threads
        # ONNX Runtime's threads spin a while after each run, waiting for more work: the
        # fastest for one model alone, but they hold the cores another session needs next
        self.spinning = True
        self._session: Any = None

    def prepare(self) -> Path:
        """Export the model if it has not been exported yet, and open it."""
        if self._session is None:
            import onnxruntime

            if not self.path.is_file():
                with tqdm(total=1, desc=f"Exporting the {self.engine} query engine", unit="model"):
                    export_onnx(self.model, self.path, self.engine is QueryEngine.ONNX_INT8)
            options = onnxruntime.SessionOptions()
            options.intra_op_num_threads = self.threads or os.cpu_count() or 1
            if not self.spinning:
                options.add_session_config_entry("session.intra_op.allow_spinning", "0")
            options.log_severity_level = 3  # no warnings on stderr for a normal load
            try:
                self._session = onnxruntime.InferenceSession(
                    str(self.path), options, providers=["CPUExecutionProvider"]
                )
            except Exception as error:  # a damaged cache file: export again on the next call
                self.path.unlink(missing_ok=True)
                raise PodseekError(f"{self.path}: cannot load the query engine: {error}") from error
            self._inputs = [node.name for node in self._session.get_inputs()]
        return self.path

    def share_cores(self) -> None:
        """Take turns with other sessions: from the next query on, this session's threads
        sleep as soon as a run ends instead of spinning (the session is opened again)."""
        if self.spinning:
            self.spinning = False
            self._session = None

    def encode(
        self, texts: Sequence[str], batch_size: int = 64, by_length: bool = False
    ) -> np.ndarray:
        """L2-normalised float32 vectors, in the order of ``texts`` (which already carry
        their prefix). ``by_length`` batches them in order of length, as sentence-transformers
        does, so that a batch pads little (episodes); otherwise in their order: an int8
        copy's activations are quantised per batch, so a query's vector depends a little on
        the queries it is batched with, and a benchmark's batches stay as they were."""
        self.prepare()
        session, inputs = self._session, self._inputs
        if session is None:  # share_cores() closed it in between
            self.prepare()
            session, inputs = self._session, self._inputs
        lengths = [-len(text) for text in texts] if by_length else [0] * len(texts)
        order = np.argsort(lengths, kind="stable")
        parts = []
        for start in range(0, len(texts), batch_size):
            batch = [texts[i] for i in order[start : start + batch_size]]
            features = self.model.preprocess(batch)
            feed = {name: features[name].numpy() for name in inputs}
            parts.append(session.run(None, feed)[0])
        vectors = np.empty((len(texts), parts[0].shape[1]), dtype=np.float32)
        vectors[order] = np.concatenate(parts)
        # the graph normalises already; once more in float32 keeps dot product == cosine
        return vectors / np.linalg.norm(vectors, axis=1, keepdims=True).clip(1e-12)
