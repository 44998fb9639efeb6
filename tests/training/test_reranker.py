"""The cross-encoder re-ranker: trained by `podseek train-reranker` on a real small split with
negatives from the workspace's own search, then reordering the top of searches through the
library, the command line and the API. Real weights (MiniLM's transformer as the backbone),
a real LanceDB index."""

import json
from pathlib import Path

import numpy as np
import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from podseek.beir import load_corpus, load_qrels, load_queries
from podseek.cli import app
from podseek.config import RERANKER_RECORD, Settings, get_settings
from podseek.errors import PodseekError
from podseek.models.registry import load_encoder
from podseek.models.reranker import load_reranker
from podseek.search.engine import SearchMode
from podseek.search.rerank import min_max
from podseek.search.workspace import open_searcher
from podseek.serve.app import create_app
from podseek.training.reranker import RerankerSettings, labelled_rows, train_reranker
from tests.search_catalog import make_split

runner = CliRunner()
TRAIN = ("--negatives", "2", "--depth", "8", "--batch", "4", "--epochs", "4", "--lr", "1e-4")


def podseek(*args: str) -> dict:
    get_settings.cache_clear()  # the environment of the moment
    result = runner.invoke(app, [*args, "--json"], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


@pytest.fixture(scope="module")
def home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A split of title pseudo-queries, indexed with MiniLM, and a re-ranker trained on it."""
    home = make_split(tmp_path_factory.mktemp("reranker"))
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("PODSEEK_HOME", str(home))
        patch.setenv("PODSEEK_RERANKER", "")
        podseek("index", "--model", "minilm")
        report = podseek("train-reranker", "--base", "minilm", "--name", "rr", *TRAIN)
    assert report["name"] == "rr" and report["base"] == "minilm" and report["train_loss"] > 0
    get_settings.cache_clear()
    return home


@pytest.fixture
def settings(home: Path, monkeypatch: pytest.MonkeyPatch) -> Settings:
    monkeypatch.setenv("PODSEEK_HOME", str(home))
    monkeypatch.setenv("PODSEEK_RERANKER", "rr")
    get_settings.cache_clear()
    return get_settings()


def auc(positives: np.ndarray, negatives: np.ndarray) -> float:
    """How often a positive outscores a negative (ties count half)."""
    wins = (positives[:, None] > negatives[None, :]).sum()
    ties = (positives[:, None] == negatives[None, :]).sum()
    return float((wins + 0.5 * ties) / (len(positives) * len(negatives)))


def test_negatives_come_from_the_search_and_never_from_held_out_or_own_episodes(
    home: Path, settings: Settings
) -> None:
    pairs = home / "pairs"
    searcher = open_searcher(settings.model_copy(update={"reranker": None}))
    rows = labelled_rows(pairs, searcher, RerankerSettings(negatives=3, depth=8))
    corpus = load_corpus(pairs / "corpus.jsonl")
    queries, _ = load_queries(pairs / "queries.jsonl")
    train = load_qrels(pairs / "qrels" / "train.tsv")
    assert rows.positives == sum(len(judged) for judged in train.values()) == 8
    assert rows.labels.count(1.0) == rows.positives and rows.labels.count(0.0) > rows.positives
    held_out = {
        corpus[doc]
        for split in ("dev", "test")
        for judged in load_qrels(pairs / "qrels" / f"{split}.tsv").values()
        for doc in judged
    }
    answers = {queries[q]: {corpus[d] for d in judged} for q, judged in train.items()}
    # every negative is one of its query's top 8 in the workspace's hybrid search, and never
    # a held-out episode or one of the query's own answers
    ranked = searcher.rank(list(answers), k=8, mode=SearchMode.HYBRID, segments=False)
    rows_read = searcher.backend.fetch(sorted({d for hits in ranked for d, _ in hits}))
    tops = {
        query: {rows_read[d]["text"] for d, _ in hits}
        for query, hits in zip(answers, ranked, strict=True)
    }
    negatives = [
        (query, text)
        for query, text, label in zip(rows.queries, rows.documents, rows.labels, strict=True)
        if label == 0.0
    ]
    assert negatives
    for query, text in negatives:
        assert text in tops[query]
        assert text not in held_out and text not in answers[query]


def test_training_teaches_it_to_score_its_positives_above_its_negatives(
    home: Path, settings: Settings
) -> None:
    from sentence_transformers.cross_encoder import CrossEncoder

    from podseek.models.reranker import Reranker
    from podseek.training.reranker import backbone_folder

    searcher = open_searcher(settings.model_copy(update={"reranker": None}))
    rows = labelled_rows(home / "pairs", searcher, RerankerSettings(negatives=2, depth=8))
    labels = np.array(rows.labels)

    def separation(reranker: Reranker) -> float:
        scores = np.array(
            [reranker.score(q, [d])[0] for q, d in zip(rows.queries, rows.documents, strict=True)]
        )
        return auc(scores[labels == 1.0], scores[labels == 0.0])

    import torch

    torch.manual_seed(0)  # the head the training started from
    untrained = Reranker(CrossEncoder(str(backbone_folder("minilm", home)), num_labels=1), "x")
    trained = load_reranker("rr", home)
    assert trained.languages == {"en"}  # MiniLM's: the gate for other languages
    assert separation(trained) > max(separation(untrained), 0.8)
    record = json.loads((home / "models" / "rr" / RERANKER_RECORD).read_text())
    assert record["kind"] == "reranker" and record["positives"] == 8
    assert record["pairs"] == len(rows.labels) and record["loss_history"]


def test_searches_reorder_their_top_by_the_mix_and_keep_the_rest(settings: Settings) -> None:
    plain = open_searcher(settings.model_copy(update={"reranker": None}))
    reranked = open_searcher(settings.model_copy(update={"rerank_depth": 4}))
    reranker = reranked.reranker
    assert reranker is not None
    query = "bread baking at home"
    first = plain.rank([query], k=10, mode=SearchMode.HYBRID)[0]
    after = reranked.rank([query], k=10, mode=SearchMode.HYBRID)[0]
    top = first[:4]
    texts = [plain.backend.fetch([d])[d]["text"] for d, _ in top]
    own = reranker.score(query, texts)
    weight = settings.rerank_weight
    mix = weight * min_max(own) + (1 - weight) * min_max(np.array([s for _, s in top]))
    expected = [top[i][0] for i in np.argsort(-mix, kind="stable")]
    assert [d for d, _ in after[:4]] == expected
    assert all(1.0 <= s <= 2.0 for _, s in after[:4])
    assert after[4:] == first[4:]  # past the depth: the first stage's order and scores
    # weight 1: the re-ranker's order alone; keyword searches are left as ranked
    alone = open_searcher(settings.model_copy(update={"rerank_depth": 4, "rerank_weight": 1.0}))
    ordered = [top[i][0] for i in np.argsort(-own, kind="stable")]
    assert [d for d, _ in alone.rank([query], k=4)[0]] == ordered
    keyword = SearchMode.KEYWORD
    assert reranked.rank(["bread"], k=5, mode=keyword) == plain.rank(["bread"], k=5, mode=keyword)


def test_a_query_outside_the_rerankers_languages_is_left_as_ranked(settings: Settings) -> None:
    plain = open_searcher(settings.model_copy(update={"reranker": None}))
    reranked = open_searcher(settings)
    german = "die Geschichte des römischen Reiches und seiner Kaiser"
    assert reranked.rank([german], k=10) == plain.rank([german], k=10)
    assert reranked.rank(["bread baking at home"], k=10) != plain.rank(
        ["bread baking at home"], k=10
    )


def test_the_command_line_and_the_api_search_with_it(settings: Settings) -> None:
    query = "bread baking at home"
    library = [d for d, _ in open_searcher(settings).rank([query], k=5)[0]]
    found = podseek("search", query, "--k", "5")["results"][0]["data"]
    assert [r["id"] for r in found] == library
    with TestClient(create_app(get_settings())) as client:
        answer = client.get("/api/search", params={"q": query, "k": 5})
        assert answer.status_code == 200, answer.text
        assert [r["id"] for r in answer.json()["data"]] == library


def test_bad_rerankers_are_one_line_errors(
    home: Path, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PODSEEK_RERANKER", "nope")
    get_settings.cache_clear()
    failed = runner.invoke(app, ["search", "bread"])
    assert failed.exit_code != 0 and "unknown re-ranker 'nope'" in failed.output
    assert "rr" in failed.output and "Traceback" not in failed.output
    with pytest.raises(PodseekError, match="is a re-ranker, not an encoder"):
        load_encoder("rr", home)
    monkeypatch.setenv("PODSEEK_RERANKER", "")
    get_settings.cache_clear()
    indexed = runner.invoke(app, ["index", "--model", "rr"])
    assert indexed.exit_code != 0 and "is a re-ranker, not an encoder" in indexed.output
    with pytest.raises(PodseekError, match="cannot be a re-ranker's backbone"):
        train_reranker(
            "use-multilingual",
            home / "pairs",
            home,
            "x",
            open_searcher(get_settings()),
            RerankerSettings(),
        )
    with pytest.raises(PodseekError, match="exists"):
        train_reranker(
            "minilm",
            home / "pairs",
            home,
            "rr",
            open_searcher(get_settings()),
            RerankerSettings(),
        )
