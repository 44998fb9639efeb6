"""``podseek queries`` and ``podseek pairs``, driven the way a user runs them."""

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from podseek.beir import load_beir
from podseek.cli import app
from podseek.config import Settings

FIXTURES = Path(__file__).resolve().parent.parent / "catalog" / "fixtures"
LOG = Path(__file__).resolve().parent.parent / "queries" / "fixtures" / "search_sessions.jsonl"
runner = CliRunner()


def run(*args: str):
    return runner.invoke(app, list(args), catch_exceptions=False)


def test_generate_show_import_and_split(workspace: Settings) -> None:
    assert run("ingest", "listennotes", str(FIXTURES / "listennotes")).exit_code == 0
    assert run("ingest", "rss", str(FIXTURES / "show.xml")).exit_code == 0
    assert run("index", "--model", "minilm").exit_code == 0

    result = run("queries", "generate", "--generator", "title", "--round-trip-k", "3", "--json")
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    assert summary["generation"]["generated"] == summary["generation"]["eligible"] == 7
    assert summary["filters"]["generated"] == 7
    assert summary["pairs"] == summary["filters"]["kept"] > 0

    again = run("queries", "generate", "--generator", "title", "--round-trip-k", "3")
    assert again.exit_code == 0 and "0 episodes generated for" in again.output
    assert "7 already done" in again.output

    shown = json.loads(run("queries", "show", "--n", "2", "--json").stdout)
    assert len(shown["episodes"]) == 2 and shown["run"]["generator"] == "title"
    assert all(q["kept"] in (True, False) for e in shown["episodes"] for q in e["queries"])
    assert "(+ kept, - removed by a filter)" in run("queries", "show").output

    imported = run("queries", "import-logs", str(LOG))
    assert imported.exit_code == 0
    assert "click pairs" in imported.output and "skipped:" in imported.output

    split = run("pairs", "split", "--eval", "0.2", "--test", "0.2", "--seed", "1")
    assert split.exit_code == 0, split.output
    pairs = workspace.home / "pairs"
    assert {len(load_beir(pairs, name).queries) > 0 for name in ("train", "dev", "test")} == {True}


def test_user_mistakes_are_one_line(workspace: Settings, tmp_path: Path) -> None:
    def fails(*args: str, message: str) -> None:
        result = run(*args)
        assert result.exit_code == 1, result.output
        assert message in result.stderr and len(result.stderr.strip().splitlines()) == 1

    fails("queries", "generate", message="the catalog at")
    assert run("ingest", "listennotes", str(FIXTURES / "listennotes")).exit_code == 0
    fails("queries", "generate", "--generator", "title", message="run `podseek index` first")
    fails("queries", "generate", "--generator", "gpt-9", "--round-trip-k", "0", message="unknown")
    fails("queries", "generate", "--generator", "title", "--engine", "x", message="--engine")
    missing = str(tmp_path / "missing.gguf")
    fails(
        "queries",
        "generate",
        "--generator",
        f"gguf:{missing}",
        "--round-trip-k",
        "0",
        message="no such GGUF file",
    )
    fails("queries", "show", message="no queries yet")
    fails("pairs", "split", message="no query-episode pairs")
    fails("queries", "import-logs", str(tmp_path / "nope.jsonl"), message="not found")
    assert run("queries", "generate", "--generator", "title", "--round-trip-k", "0").exit_code == 0
    fails(
        "queries",
        "generate",
        "--generator",
        "title",
        "--round-trip-k",
        "0",
        "--per-episode",
        "2",
        message="--restart",
    )
    fails("pairs", "split", "--eval", "0.6", "--test", "0.6", message="leave some episodes")


def test_ctrl_c_during_generation_keeps_batches_and_says_how_to_continue(
    workspace: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    from podseek.queries import generators

    assert run("ingest", "listennotes", str(FIXTURES / "listennotes")).exit_code == 0
    calls = {"n": 0}
    real = generators.TitleGenerator.generate

    def interrupted_on_second_batch(self, episodes, per_episode, seed):
        calls["n"] += 1
        if calls["n"] == 2:
            raise KeyboardInterrupt
        return real(self, episodes, per_episode, seed)

    monkeypatch.setattr(generators.TitleGenerator, "generate", interrupted_on_second_batch)
    args = ("queries", "generate", "--generator", "title", "--round-trip-k", "0", "--batch", "1")
    result = run(*args)
    assert result.exit_code == 130
    assert "interrupted after 1 of 4 episodes" in result.stderr
    assert "run the same command again" in result.stderr
    monkeypatch.undo()
    again = run(*args)
    assert again.exit_code == 0 and "1 already done" in again.output
