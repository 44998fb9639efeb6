"""Third-party notices off unless ``--verbose``: one place, applied when a command starts.

A stage prints one progress bar and its summary line. The libraries under it would add their
own output: transformers' bars ("Loading weights", "Writing model shards"), its advisory log
lines (the tokenizer's PAD/BOS notice), sentence-transformers' model-card bar ("Computing
widget examples"), the GGUF reader's bar, huggingface_hub's and datasets' bars, and Python
warnings raised in their code (ranx's included). None of it is something a podseek user acts
on, and it buries the stage's own lines. ``--verbose`` (or ``PODSEEK_VERBOSE=1``, which the
pipeline's child stages inherit) lets all of it through.

The CLI imports those libraries lazily, inside commands, so the environment variables set
here are read when they load; a library already loaded (a test process, say) is told
directly. llama.cpp's engine quiets itself: it opens the model with ``verbose=False`` and
reads llama.cpp's log levels by their current numbers (:mod:`podseek.queries.generators`).
"""

import importlib.abc
import importlib.machinery
import logging
import os
import sys
import warnings
from collections.abc import Sequence
from functools import partial
from types import ModuleType
from typing import Any

VERBOSE_ENV = "PODSEEK_VERBOSE"  # "1": what --verbose sets, for child processes to see

# Read by the libraries when they load (set only where the user has not chosen a value).
ENVIRONMENT = {
    "TRANSFORMERS_VERBOSITY": "error",
    "TRANSFORMERS_NO_ADVISORY_WARNINGS": "1",
    "HF_HUB_VERBOSITY": "error",
    "HF_HUB_DISABLE_PROGRESS_BARS": "1",  # transformers' own bars follow this switch too
    "HF_DATASETS_DISABLE_PROGRESS_BARS": "1",
    "DATASETS_VERBOSITY": "error",
}
# Loggers of the libraries that log through the standard module (warnings would otherwise
# reach stderr through logging's last-resort handler).
LOGGERS = ("transformers", "sentence_transformers", "huggingface_hub", "datasets", "accelerate")
# Python warnings raised in these packages' code (ranx's numba kernels warn of an unsafe
# integer cast on every evaluation). numba reports a compiled function's warnings by its file,
# and a warning with a file but no module is matched by that path without ".py", hence the
# optional site-packages prefix.
WARNING_MODULES = (
    r"(.*[/\\](site|dist)-packages[/\\])?"
    r"(transformers|sentence_transformers|huggingface_hub|datasets|accelerate|ranx|numba)"
    r"([./\\]|$)"
)
# Modules whose bars are plain tqdm, which no library switch turns off: their ``tqdm`` name is
# replaced, when they load, by one that is disabled.
PLAIN_TQDM = (
    "sentence_transformers.base.model_card",  # "Computing widget examples" when training
    "transformers.modeling_gguf_pytorch_utils",  # "Converting and de-quantizing GGUF tensors"
)


def is_verbose(verbose: bool = False) -> bool:
    """``--verbose`` on this command, or on a parent process that started it."""
    return verbose or os.environ.get(VERBOSE_ENV, "") not in ("", "0")


def apply(verbose: bool = False) -> None:
    """Silence third-party notices for the rest of this process, unless ``verbose``; with
    ``verbose``, record it in the environment so that child stages are verbose too."""
    if is_verbose(verbose):
        os.environ[VERBOSE_ENV] = "1"
        return
    for name, value in ENVIRONMENT.items():
        os.environ.setdefault(name, value)
    for name in LOGGERS:
        logging.getLogger(name).setLevel(logging.ERROR)
    warnings.filterwarnings("ignore", module=WARNING_MODULES)
    _silence_loaded()
    for module in PLAIN_TQDM:
        if module in sys.modules:
            _disable_tqdm(sys.modules[module])
    if not any(isinstance(finder, _QuietOnImport) for finder in sys.meta_path):
        sys.meta_path.insert(0, _QuietOnImport(PLAIN_TQDM))


def _silence_loaded() -> None:
    """The libraries already imported read their environment variables too early."""
    if "transformers" in sys.modules:
        from transformers.utils import logging as transformers_logging

        transformers_logging.set_verbosity_error()
        transformers_logging.disable_progress_bar()
    if "huggingface_hub" in sys.modules:
        from huggingface_hub.utils import disable_progress_bars

        disable_progress_bars()
    if "datasets" in sys.modules:
        from datasets.utils.tqdm import disable_progress_bars as disable_datasets_bars

        disable_datasets_bars()


def _disable_tqdm(module: ModuleType) -> None:
    bar = getattr(module, "tqdm", None)
    if bar is not None and not isinstance(bar, partial):
        module.tqdm = partial(bar, disable=True)  # type: ignore[attr-defined]


class _QuietOnImport(importlib.abc.MetaPathFinder):
    """Finds the modules of :data:`PLAIN_TQDM` with the other finders, and disables their
    ``tqdm`` once they have run (they bind it at import, so it cannot be done earlier)."""

    def __init__(self, modules: Sequence[str]) -> None:
        self.modules = frozenset(modules)

    def find_spec(
        self, name: str, path: Sequence[str] | None, target: ModuleType | None = None
    ) -> importlib.machinery.ModuleSpec | None:
        if name not in self.modules:
            return None
        for finder in sys.meta_path:
            if finder is self or not hasattr(finder, "find_spec"):
                continue
            spec = finder.find_spec(name, path, target)
            if spec is not None and spec.loader is not None:
                spec.loader = _QuietLoader(spec.loader)
                return spec
        return None


class _QuietLoader(importlib.abc.Loader):
    """The module's own loader, then :func:`_disable_tqdm`."""

    def __init__(self, loader: Any) -> None:
        self.loader = loader

    def __getattr__(self, name: str) -> Any:  # get_source, resource readers, ...
        return getattr(self.loader, name)

    def create_module(self, spec: importlib.machinery.ModuleSpec) -> ModuleType | None:
        return self.loader.create_module(spec)

    def exec_module(self, module: ModuleType) -> None:
        self.loader.exec_module(module)
        _disable_tqdm(module)
