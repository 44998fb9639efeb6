"""``podseek evaluate`` end to end on a real tiny workspace: the catalog fixtures, a split of
title pseudo-queries, MiniLM and a copy of it fine-tuned for two steps, judged folders in
BEIR and TREC form."""

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from podseek.beir import write_jsonl, write_qrels
from podseek.catalog.store import CatalogStore
from podseek.cli import app
from podseek.config import Settings, get_settings
from podseek.queries.split import SplitShares
from podseek.training.train import TrainSettings, train_model
from tests.search_catalog import make_split

runner = CliRunner()


def run(*args: str):
    return runner.invoke(app, list(args), catch_exceptions=False)


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """A workspace with a split and a tuned MiniLM, and two judged folders of its episodes
    (built once: training is the slow part)."""
    root = tmp_path_factory.mktemp("evaluate")
    home = make_split(root / "ws", SplitShares(0.3, 0.4))
    with CatalogStore(home / "catalog.sqlite") as catalog:
        titles = {e.id: e.episode_title for e in catalog.iter_episodes() if e.episode_title}
    settings = TrainSettings(batch_size=4, epochs=1, learning_rate=1e-4, save_steps=100)
    train_model("minilm", home / "pairs", home, "tuned", settings, False)

    ids = sorted(titles)
    beir = root / "handwritten"
    beir.mkdir()
    write_jsonl(
        beir / "queries.jsonl",
        [{"_id": f"h{n}", "text": titles[i], "metadata": {"lang": "en"}} for n, i in enumerate(ids)]
        + [{"_id": "lost", "text": "an episode this catalog never had"}],
    )
    judged = [(f"h{n}", i, 2) for n, i in enumerate(ids)] + [("lost", "elsewhere:1", 1)]
    write_qrels(beir / "qrels" / "dev.tsv", [*judged, ("h0", "elsewhere:2", 1)])
    trec = root / "trec"
    trec.mkdir()
    (trec / "queries.tsv").write_text(f"1\t{titles[ids[0]]}\n2\t{titles[ids[1]]}\n")
    (trec / "test.qrels").write_text(f"1 0 {ids[0]} 1\n2 0 {ids[1]} 2\n2 0 {ids[2]} 0\n")
    return {"home": home, "beir": beir, "trec": trec}


@pytest.fixture
def workspace(trained: dict[str, Path], monkeypatch: pytest.MonkeyPatch) -> Iterator[Settings]:
    """Settings of the trained workspace (shared by this module's tests)."""
    monkeypatch.setenv("PODSEEK_HOME", str(trained["home"]))
    monkeypatch.chdir(trained["home"].parent)
    get_settings.cache_clear()
    yield get_settings()
    get_settings.cache_clear()


@pytest.mark.slow  # 2.5 min: kept out of the default run's 15 minutes
def test_evaluate_writes_the_report_with_every_model_mode_and_set(
    workspace: Settings, trained: dict[str, Path]
) -> None:
    result = run(
        "evaluate", "--qrels", str(trained["beir"]), "--qrels", str(trained["trec"]),
        "--run", "first", "--sample", "6", "--json",
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert [m["label"] for m in report["models"]] == ["base (minilm)", "tuned"]
    assert report["models"][1]["training"]["base"] == "minilm"
    assert set(report["retrieval"]) == {"held-out", "handwritten", "trec"}

    held_out = report["retrieval"]["held-out"]
    rows = {
        "keyword (BM25)",
        "base (minilm) / semantic",
        "base (minilm) / hybrid",
        "tuned / semantic",
        "tuned / hybrid",
    }
    assert set(held_out["rows"]) == rows
    split = json.loads((workspace.pairs_dir / "split.json").read_text())["splits"]
    assert held_out["queries"] == split["test"]["queries"]
    assert held_out["corpus_episodes"] == split["test"]["episodes"]  # held-out episodes only
    for row in rows - {"keyword (BM25)"}:  # every held-out episode is within 30 of 4
        assert held_out["rows"][row]["recall@30"] == 1.0
    assert set(held_out["curves"]["tuned / semantic"]) == {
        "1",
        "2",
        "3",
        "5",
        "10",
        "20",
        "30",
        "50",
        "100",
    }

    handwritten = report["retrieval"]["handwritten"]
    assert handwritten["corpus_episodes"] == 12  # the whole catalog
    assert handwritten["skipped"] == {
        "judgments of episodes not in the catalog": 2,
        "queries with no relevant episode in the catalog": 1,
    }
    # titles as queries: the base encoder puts most of them first
    assert handwritten["rows"]["base (minilm) / semantic"]["mrr@10"] > 0.6
    assert handwritten["languages"]["en"]["queries"] == handwritten["queries"]
    assert report["retrieval"]["trec"]["queries"] == 2

    in_batch = report["in_batch"]["dev"]
    assert in_batch["queries"] == split["dev"]["queries"] and in_batch["batches"] == 1
    assert 0 < in_batch["rows"]["tuned"]["mrr@5"] <= 1
    assert report["in_batch"]["test"]["queries"] == split["test"]["queries"]

    folder = workspace.home / "reports" / "first"
    for name in ("report.md", "report.json", "pca.png", "pca-3d.html", "recall-at-k.png"):
        assert (folder / name).is_file(), name
    markdown = (folder / "report.md").read_text()
    assert "| keyword (BM25) |" in markdown and "In-batch re-ranking (eval split" in markdown
    assert "fine-tuned from minilm" in markdown and "split seed 0" in markdown

    again = run("evaluate", "--models", "tuned", "--modes", "semantic", "--run", "second")
    assert again.exit_code == 0, again.output
    assert "indexed" not in again.stderr  # the evaluation indexes are reused
    assert "| tuned / semantic |" in again.stdout and "keyword" not in again.stdout


def fails(*args: str, message: str) -> None:
    result = run("evaluate", *args)
    assert result.exit_code == 1, result.output
    assert message in result.stderr and len(result.stderr.strip().splitlines()) == 1


def test_user_mistakes_are_one_line(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Checked before any model loads: a workspace with a split is enough (no training)."""
    home = make_split(tmp_path / "ws")
    monkeypatch.setenv("PODSEEK_HOME", str(home))
    monkeypatch.chdir(tmp_path)
    get_settings.cache_clear()
    fails("--models", "nope", message="unknown model 'nope'")
    fails("--modes", "fast", message="unknown mode 'fast'")
    fails("--qrels", str(home / "missing"), message="no such folder")
    fails("--run", "../up", message="plain folder name")
    empty = tmp_path / "empty"
    empty.mkdir()
    fails("--qrels", str(empty), message="one qrels file")
    monkeypatch.setenv("PODSEEK_HOME", str(tmp_path / "empty-ws"))
    get_settings.cache_clear()
    fails(message="nothing to evaluate on")
    get_settings.cache_clear()


@pytest.mark.slow  # 1.5 min (a whole evaluation first): kept out of the default run's 15 min
def test_a_run_name_is_not_reused(workspace: Settings) -> None:
    assert run("evaluate", "--run", "once", "--sample", "0", "--modes", "keyword").exit_code == 0
    fails("--run", "once", message="exists; choose another --run")


@pytest.mark.slow  # the module's trained model (1.5 min): kept out of the default 15 minutes
def test_the_tuned_model_indexes_searches_and_serves_by_name(workspace: Settings) -> None:
    from fastapi.testclient import TestClient

    from podseek.serve.app import create_app

    with CatalogStore(workspace.catalog_path) as catalog:
        episode = next(e for e in catalog.iter_episodes() if e.episode_title)
    indexed = run("index", "--model", "tuned", "--json")
    assert indexed.exit_code == 0, indexed.output
    assert json.loads(indexed.stdout)["model"] == "tuned"
    found = run("search", "--mode", "semantic", "--json", episode.episode_title)
    assert found.exit_code == 0, found.output
    assert json.loads(found.stdout)["results"][0]["data"][0]["id"] == episode.id
    with TestClient(create_app()) as client:
        answer = client.get("/api/search", params={"q": episode.episode_title, "mode": "semantic"})
        assert answer.status_code == 200 and answer.json()["data"][0]["id"] == episode.id


@pytest.mark.slow  # 2.5 min (training, then two evaluations): kept out of the default 15 min
def test_evaluate_reuses_the_workspace_index_in_milvus(
    workspace: Settings, trained: dict[str, Path], milvus_uri: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With the workspace index on a Milvus server, the catalog's retrieval searches it there
    (no evaluation index is built) and scores as a LanceDB index does."""
    import shutil
    import uuid

    def evaluate(name: str) -> dict:
        result = run(
            "evaluate", "--models", "tuned", "--modes", "semantic,hybrid", "--qrels",
            str(trained["beir"]), "--run", name, "--sample", "0", "--json",
        )  # fmt: skip
        assert result.exit_code == 0, result.output
        assert "indexed" not in result.stderr or name.startswith("lancedb")
        return json.loads(result.stdout)["retrieval"]["handwritten"]["rows"]

    on_lancedb = evaluate(f"lancedb-{uuid.uuid4().hex[:6]}")
    monkeypatch.setenv("PODSEEK_BACKEND", "milvus")
    monkeypatch.setenv("PODSEEK_MILVUS_URI", milvus_uri)
    monkeypatch.setenv("PODSEEK_MILVUS_COLLECTION", f"t{uuid.uuid4().hex[:10]}")
    get_settings.cache_clear()
    indexed = run("index", "--model", "tuned", "--json")
    assert indexed.exit_code == 0, indexed.output
    assert json.loads(indexed.stdout)["backend"] == f"milvus at {milvus_uri}"
    shutil.rmtree(workspace.home / "evaluation" / "catalog", ignore_errors=True)

    on_milvus = evaluate(f"milvus-{uuid.uuid4().hex[:6]}")
    assert not (workspace.home / "evaluation" / "catalog").exists()  # the workspace index
    for row in ("tuned / semantic", "tuned / hybrid"):
        for metric in ("recall@10", "mrr@10", "ndcg@10"):
            assert on_milvus[row][metric] == pytest.approx(on_lancedb[row][metric]), (row, metric)


def test_one_split_of_a_beir_folder_is_a_set_named_by_folder_and_split(tmp_path: Path) -> None:
    from podseek.evaluation.evaluate import judged_folder_set

    folder = tmp_path / "handwritten"
    folder.mkdir()
    write_jsonl(
        folder / "queries.jsonl", [{"_id": "a", "text": "one"}, {"_id": "b", "text": "two"}]
    )
    write_qrels(folder / "qrels" / "dev.tsv", [("a", "ep:1", 2), ("a", "elsewhere:9", 1)])
    write_qrels(folder / "qrels" / "test.tsv", [("b", "ep:2", 2)])
    dev = judged_folder_set(folder / "qrels" / "dev.tsv", {"ep:1", "ep:2"})
    assert dev.key == "handwritten dev" and dev.queries.queries == {"a": "one"}
    assert dev.queries.qrels == {"a": {"ep:1": 2}} and dev.skipped
    assert judged_folder_set(folder, {"ep:1", "ep:2"}).queries.queries == {"b": "two"}
