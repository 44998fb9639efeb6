"""Optional parts of podseek, installed as pip extras, and the one message for a missing one.

A base install (``pip install podseek``) ingests, indexes and searches with the
USE-multilingual numpy engine. The heavy parts come with extras, named after what they are
for (pyproject.toml lists their packages):

- ``encoders``: torch and sentence-transformers, for e5-small, minilm and trained models
  (and their ONNX query engine), and for any device other than the CPU;
- ``train``: fine-tuning (the encoders, datasets, accelerate);
- ``generate``: the gemma-270m and seq2seq query generators (transformers, torch, gguf);
- ``serve``: the HTTP API (fastapi, uvicorn, prometheus-client);
- ``evaluate``: the evaluation report (ranx, scikit-learn, matplotlib, plotly);
- ``transcribe``: speech recognition (faster-whisper and the packaged Whisper base weights);
- ``milvus``, ``ray``, ``llama``: the Milvus backend, Ray clusters, the llama.cpp engine;
- ``all``: all of them but ``llama`` (it compiles from source).

A feature checks its extra where it starts (:func:`require`), not when podseek is imported,
so ``podseek --help`` and every other command work without it.
"""

import importlib

from podseek.errors import PodseekError

EXTRAS = (
    "encoders",
    "train",
    "generate",
    "serve",
    "evaluate",
    "transcribe",
    "milvus",
    "ray",
    "llama",
    "all",
)


class MissingExtra(PodseekError):
    """A feature needs packages of an extra that is not installed."""


def install_command(extra: str) -> str:
    return f"pip install 'podseek[{extra}]'"


def installed(module: str) -> bool:
    """Whether ``module`` imports (a missing or broken package does not)."""
    try:
        importlib.import_module(module)
    except ImportError:
        return False
    return True


def require(extra: str, *modules: str, what: str | None = None) -> None:
    """Raise :class:`MissingExtra` unless every module in ``modules`` imports.

    Args:
        extra: the extra that installs them (one of :data:`EXTRAS`).
        modules: import names, checked in order; the first missing one is named.
        what: the feature, as the message starts (``podseek train``, ``the minilm model``);
            ``podseek <extra>`` by default.

    Example:
        >>> require("train", "sentence_transformers")  # doctest: +SKIP
        MissingExtra: podseek train needs the "train" extra (sentence_transformers is not
        installed): pip install 'podseek[train]'
    """
    if extra not in EXTRAS:
        raise ValueError(f"unknown extra {extra!r}: use one of {', '.join(EXTRAS)}")
    for module in modules:
        if not installed(module):
            raise MissingExtra(
                f'{what or f"podseek {extra}"} needs the "{extra}" extra ({module} is not '
                f"installed): {install_command(extra)}"
            )
