"""The one interface every encoder offers: how to encode a query and how to encode an episode.

Queries and episodes may be encoded differently (e5 wants "query: " / "passage: " prefixes;
episodes are long and get a length cap), so the two are separate methods. Vectors are float32
and L2-normalised, so that a dot product is the cosine similarity.
"""

from collections.abc import Sequence
from typing import Any, Protocol

import numpy as np

from podseek.models.device import CPU, Device

# Whether the half-precision path casts the weights too, not only the activations: measured on
# an H200 by benchmarks/scale_throughput.py (docs/scale.md).
HALF_WEIGHTS = True
# The largest batch the CPU's ONNX episode engine runs (benchmarks/encode_engines.py).
EPISODE_ENGINE_BATCH = 4


class Encoder(Protocol):
    """A text encoder podseek can index and search with."""

    name: str  # "use-multilingual", "minilm", "e5-small", or a folder path
    dimension: int

    def encode_queries(
        self, texts: Sequence[str], batch_size: int = 64, show_progress: bool = False
    ) -> np.ndarray:
        """(len(texts), dimension) float32, L2-normalised."""
        ...

    def encode_episodes(
        self, texts: Sequence[str], batch_size: int = 64, show_progress: bool = False
    ) -> np.ndarray:
        """(len(texts), dimension) float32, L2-normalised."""
        ...


class SentenceTransformerEncoder:
    """An :class:`Encoder` over a sentence-transformers model (a folder or a loaded model).

    Args:
        model: a ``SentenceTransformer`` or the path of a sentence-transformers folder.
        name: the name the index records.
        query_prefix / episode_prefix: text put before queries / episodes (e5: "query: ").
        max_seq_length: token cap for episodes (and queries); ``None`` keeps the model's.
        device: where the model runs (:func:`podseek.models.device.resolve_device`); on CUDA
            with a half type, encoding runs under autocast and vectors come back float32.
        half_weights: on such a device, also keep the weights in the half type (autocast
            still runs layer norms, softmax and the final normalisation in float32).
    """

    def __init__(
        self,
        model: Any,
        name: str,
        query_prefix: str = "",
        episode_prefix: str = "",
        max_seq_length: int | None = None,
        device: Device = CPU,
        half_weights: bool = HALF_WEIGHTS,
    ) -> None:
        if not hasattr(model, "encode"):
            from sentence_transformers import SentenceTransformer
            from transformers.utils import logging as transformers_logging

            transformers_logging.disable_progress_bar()  # no "Loading weights" bar per command
            model = SentenceTransformer(str(model), device=device.name, local_files_only=True)
        elif str(model.device) != device.name:
            model = model.to(device.name)
        if device.is_cuda and device.half is not None and half_weights:
            import torch

            model = model.to(getattr(torch, device.half))
        if max_seq_length is not None:
            model.max_seq_length = max_seq_length
        self.model = model
        self.name = name
        self.query_prefix = query_prefix
        self.episode_prefix = episode_prefix
        self.device = device
        self.dimension = int(model.get_embedding_dimension())
        # a faster copy of the model for queries (see podseek.models.onnx_queries), or None
        self.query_engine: Any = None
        # its float32 copy for episodes on the CPU (the same vectors, faster), or None
        self.episode_engine: Any = None

    def prepare_queries(self) -> None:
        """Get the query engine ready (an export the first time), so no search waits for it."""
        if self.query_engine is not None:
            self.query_engine.prepare()

    def _encode(
        self, texts: Sequence[str], prefix: str, batch_size: int, show_progress: bool
    ) -> np.ndarray:
        # sentence-transformers sorts a batch by length before padding, so mixed lengths cost
        # little; we only add the prefix and ask for normalised vectors.
        if not texts:
            return np.empty((0, self.dimension), dtype=np.float32)
        with self.device.autocast():
            vectors = self.model.encode(
                [prefix + text for text in texts],
                batch_size=batch_size,
                show_progress_bar=show_progress,
                convert_to_tensor=True,
                normalize_embeddings=True,
            )
        # float32 on the host; under autocast the pooled vector is normalised again in float32
        vectors = vectors.float()
        if self.device.half is not None:
            vectors = vectors / vectors.norm(dim=-1, keepdim=True).clamp_min(1e-12)
        return vectors.cpu().numpy().astype(np.float32, copy=False).reshape(-1, self.dimension)

    def encode_queries(
        self, texts: Sequence[str], batch_size: int = 64, show_progress: bool = False
    ) -> np.ndarray:
        if self.query_engine is not None:
            return self.query_engine.encode([self.query_prefix + t for t in texts], batch_size)
        return self._encode(texts, self.query_prefix, batch_size, show_progress)

    def encode_episodes(
        self, texts: Sequence[str], batch_size: int = 64, show_progress: bool = False
    ) -> np.ndarray:
        if self.episode_engine is not None and texts:
            # ONNX Runtime on the CPU is fastest on small batches (docs/results.md)
            batch = min(batch_size, EPISODE_ENGINE_BATCH)
            prefixed = [self.episode_prefix + text for text in texts]
            return self.episode_engine.encode(prefixed, batch, by_length=True)
        return self._encode(texts, self.episode_prefix, batch_size, show_progress)
