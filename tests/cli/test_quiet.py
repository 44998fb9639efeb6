"""A stage's output is its own: the libraries' bars, log lines and warnings only with
``--verbose`` (:mod:`podseek.cli.quiet`). Commands run as a user runs them, in a child
process with none of the quieting variables set, since this test process may hold them."""

import importlib.util
import os
import subprocess
import sys
from functools import partial
from pathlib import Path

import pytest

from podseek.catalog.ingest import ingest
from podseek.catalog.sources.listennotes import ListenNotesSource
from podseek.catalog.store import CatalogStore
from podseek.cli import quiet

FIXTURES = Path(__file__).resolve().parent.parent / "catalog" / "fixtures"
# what the libraries print while podseek expands e5-small (transformers' loading and saving
# bars), trains (sentence-transformers' model card bar, the tokenizer's notice) and reads the
# Gemma GGUF
NOTICES = (
    "Loading weights",
    "Writing model shards",
    "Computing widget examples",
    "PAD/BOS/EOS",
    "de-quantizing GGUF",
)


def clean_env(home: Path) -> dict[str, str]:
    """This process's environment without the quieting variables, and the workspace."""
    env = {k: v for k, v in os.environ.items() if k not in quiet.ENVIRONMENT}
    env.pop(quiet.VERBOSE_ENV, None)
    return {**env, "PODSEEK_HOME": str(home), "HF_HUB_OFFLINE": "1"}


def podseek(home: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "podseek", *args],
        env=clean_env(home),
        capture_output=True,
        text=True,
        timeout=600,
    )


def tiny_workspace(home: Path) -> Path:
    with CatalogStore(home / "catalog.sqlite") as catalog:
        ingest(catalog, ListenNotesSource(FIXTURES / "listennotes"), progress=False)
    return home


@pytest.mark.slow  # 1.5 min (expands e5-small): kept out of the default run's 15 minutes
def test_index_prints_its_summary_and_no_library_notices(tmp_path: Path) -> None:
    """A first ``index`` with e5-small expands the packaged weights through transformers,
    which draws its own bars: none of them reach the user."""
    result = podseek(tiny_workspace(tmp_path), "index", "--model", "e5-small")
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("index built in lancedb with e5-small: 4 episodes")
    assert [n for n in NOTICES if n in result.stderr] == [], result.stderr
    assert "Expanding e5-small" in result.stderr  # podseek's own bar stays


@pytest.mark.slow
def test_index_with_verbose_shows_the_library_notices(tmp_path: Path) -> None:
    result = podseek(tiny_workspace(tmp_path), "--verbose", "index", "--model", "e5-small")
    assert result.returncode == 0, result.stderr
    assert "Loading weights" in result.stderr and "Writing model shards" in result.stderr
    assert result.stdout.startswith("index built in lancedb with e5-small: 4 episodes")


# A library's three channels, through their real code paths: a logger, a bar, a warning.
CHANNELS = """
import sys, warnings
from podseek.cli import quiet
quiet.apply(verbose=sys.argv[1] == "verbose")
from transformers.utils import logging
logging.get_logger("transformers.tokenization_utils_base").warning("NOTICE-LOG")
for _ in logging.tqdm(range(2), desc="NOTICE-BAR"):
    pass
warnings.warn_explicit("NOTICE-WARNING", UserWarning, "x.py", 1, module="transformers.x")
warnings.warn_explicit("NOTICE-RANX", UserWarning, "r.py", 1, module="ranx.metrics.recall")
# numba's way: a compiled kernel's warning carries its file and no module
warnings.warn_explicit("NOTICE-NUMBA", UserWarning, sys.argv[2], 29)
warnings.warn_explicit("OWN-DATASETS", UserWarning, "/home/me/datasets/run.py", 1)
warnings.warn_explicit("OWN-WARNING", UserWarning, "y.py", 1, module="podseek.x")
"""


@pytest.mark.parametrize("verbose", [False, True])
def test_verbose_lets_the_libraries_through(tmp_path: Path, verbose: bool) -> None:
    mode = "verbose" if verbose else "quiet"
    kernel = str(Path(importlib.util.find_spec("ranx").origin).parent / "metrics" / "recall.py")
    result = subprocess.run(
        [sys.executable, "-c", CHANNELS, mode, kernel],
        env=clean_env(tmp_path),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    notices = ["NOTICE-LOG", "NOTICE-BAR", "NOTICE-WARNING", "NOTICE-RANX", "NOTICE-NUMBA"]
    shown = [n for n in notices if n in result.stderr]
    assert shown == (notices if verbose else [])
    assert "OWN-WARNING" in result.stderr  # podseek's own warnings are never hidden
    assert "OWN-DATASETS" in result.stderr  # nor a user's file in a folder named as a library


def test_plain_tqdm_modules_are_disabled_when_they_load(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "podseek_fake_bars.py").write_text("from tqdm import tqdm\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    finder = quiet._QuietOnImport(["podseek_fake_bars"])
    monkeypatch.setattr(sys, "meta_path", [finder, *sys.meta_path])
    monkeypatch.delitem(sys.modules, "podseek_fake_bars", raising=False)
    import podseek_fake_bars  # type: ignore[import-not-found]

    assert isinstance(podseek_fake_bars.tqdm, partial)
    assert podseek_fake_bars.tqdm.keywords == {"disable": True}
    sys.modules.pop("podseek_fake_bars")


@pytest.mark.parametrize("module", quiet.PLAIN_TQDM)
def test_the_plain_tqdm_modules_still_draw_bars_with_tqdm(module: str) -> None:
    """The names in PLAIN_TQDM still name the modules that draw those bars (found without
    importing them: sentence-transformers takes seconds to import)."""
    package, _, rest = module.partition(".")
    spec = importlib.util.find_spec(package)
    assert spec is not None and spec.origin is not None
    source = Path(spec.origin).parent.joinpath(*rest.split(".")).with_suffix(".py")
    assert "tqdm(" in source.read_text(encoding="utf-8")
