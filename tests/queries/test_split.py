"""The split: by episode, no episode in two splits, BEIR files other tools read."""

from pathlib import Path

import pytest

from podseek.beir import load_beir, load_queries
from podseek.catalog.store import CatalogStore
from podseek.errors import PodseekError
from podseek.queries.generate import generate_queries
from podseek.queries.generators import TitleGenerator
from podseek.queries.logs import import_search_logs
from podseek.queries.split import SplitShares, assign_episodes, split_pairs
from podseek.queries.store import SYNTHETIC, QueryStore

LOG = Path(__file__).resolve().parent / "fixtures" / "search_sessions.jsonl"


def test_no_episode_is_in_two_splits() -> None:
    ids = [f"e{i}" for i in range(1000)]
    split = assign_episodes(ids, SplitShares(0.01, 0.19), seed=3)
    counts = {name: list(split.values()).count(name) for name in ("train", "dev", "test")}
    assert counts == {"train": 800, "dev": 10, "test": 190}
    assert split == assign_episodes(list(reversed(ids)), SplitShares(0.01, 0.19), seed=3)
    assert split != assign_episodes(ids, SplitShares(0.01, 0.19), seed=4)


def test_small_catalogs_still_get_an_eval_and_a_test_episode() -> None:
    split = assign_episodes(["a", "b", "c", "d"], SplitShares(0.01, 0.19), seed=0)
    assert sorted(split.values()) == ["dev", "test", "train", "train"]


@pytest.mark.parametrize(("eval_share", "test_share"), [(0.5, 0.5), (-0.1, 0.2), (0.2, 1.0)])
def test_shares_that_leave_no_training_are_refused(eval_share: float, test_share: float) -> None:
    with pytest.raises(PodseekError, match="leave some episodes for training"):
        SplitShares(eval_share, test_share)


def test_split_writes_beir_folders(
    catalog: CatalogStore, queries: QueryStore, tmp_path: Path
) -> None:
    generate_queries(catalog, queries, TitleGenerator(), progress=False)
    queries.replace_pairs(
        SYNTHETIC, [(q[0], e) for e, q in queries.generated().items()]
    )  # every title as a pair
    import_search_logs(LOG, catalog, queries)
    target = tmp_path / "pairs"
    manifest = split_pairs(catalog, queries, target, SplitShares(0.1, 0.3), seed=1)

    texts, metadata = load_queries(target / "queries.jsonl")
    assert len(texts) == 10 + 7  # 10 titles and 7 log pairs
    episode_split: dict[str, str] = {}
    for name in ("train", "dev", "test"):
        part = load_beir(target, name)
        for qid, judged in part.qrels.items():
            (episode,) = judged
            assert metadata[qid]["split"] == name and metadata[qid]["episode_id"] == episode
            assert episode_split.setdefault(episode, name) == name  # one split per episode
    assert sum(c["queries"] for c in manifest["splits"].values()) == 17
    # log pairs follow their episode's split, next to that episode's synthetic query
    assert any(k == "queries_log-click" for c in manifest["splits"].values() for k in c)
    corpus = (target / "corpus.jsonl").read_text().splitlines()
    assert len(corpus) == catalog.count()

    # splitting again replaces the folder whole; the same seed gives the same files
    before = (target / "qrels" / "test.tsv").read_text()
    split_pairs(catalog, queries, target, SplitShares(0.1, 0.3), seed=1)
    assert (target / "qrels" / "test.tsv").read_text() == before
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith(".")) == []


def test_split_without_pairs_says_what_to_run(
    catalog: CatalogStore, queries: QueryStore, tmp_path: Path
) -> None:
    with pytest.raises(PodseekError, match="podseek queries generate"):
        split_pairs(catalog, queries, tmp_path / "pairs", SplitShares())
    assert not (tmp_path / "pairs").exists()


def test_the_test_split_keeps_the_queries_the_round_trip_dropped(
    catalog: CatalogStore, queries: QueryStore, tmp_path: Path
) -> None:
    """A test built only from what the base model already finds could not show a gain over
    it: test episodes get every query that passed the text filters; train and eval get the
    round trip's pairs."""
    hashes = catalog.content_hashes()
    written = {
        episode_id: [f"zorblax quintessa number {n}", f"vintrop glimmerfax number {n}", "x"]
        for n, episode_id in enumerate(sorted(hashes))
    }
    queries.set_meta("run", {"generator": "gemma-270m", "per_episode": 3, "seed": 0})
    queries.save_batch([(e, hashes[e], written[e]) for e in written])
    # the round trip kept each episode's first query ("x" is too short for the text filters)
    queries.replace_pairs(SYNTHETIC, [(texts[0], e) for e, texts in written.items()])
    target = tmp_path / "pairs"
    manifest = split_pairs(catalog, queries, target, SplitShares(0.1, 0.3), seed=1)

    texts, _ = load_queries(target / "queries.jsonl")
    judged: dict[str, dict[str, list[str]]] = {}
    for name in ("train", "dev", "test"):
        for qid, episodes in load_beir(target, name).qrels.items():
            (episode,) = episodes
            judged.setdefault(name, {}).setdefault(episode, []).append(texts[qid])
    assert set(judged) == {"train", "dev", "test"}
    for name, by_episode in judged.items():
        for episode, got in by_episode.items():
            wanted = written[episode][:2] if name == "test" else written[episode][:1]
            assert sorted(got) == sorted(wanted), (name, episode)
    assert manifest["test_without_round_trip"] == len(judged["test"])
    assert manifest["splits"]["test"]["queries"] == 2 * len(judged["test"])
