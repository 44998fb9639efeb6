"""Generation is resumable, seeded and incremental, and filtering rewrites the pairs whole."""

from collections.abc import Sequence

import pytest

from podseek.catalog.episode import Episode
from podseek.catalog.ingest import ingest
from podseek.catalog.sources.table import TableMapping, TableSource
from podseek.catalog.store import CatalogStore
from podseek.errors import PodseekError
from podseek.queries.filters import FilterSettings, QueryFilter
from podseek.queries.generate import episode_order, filter_queries, generate_queries
from podseek.queries.generators import TitleGenerator, load_generator
from podseek.queries.store import SYNTHETIC, QueryStore
from tests.search_catalog import FIXTURES


class Interrupted:
    """The real title generator, with a Ctrl-C arriving during its ``stop_at``-th batch."""

    def __init__(self, stop_at: int) -> None:
        self.inner = TitleGenerator()
        self.name = self.inner.name
        self.calls = 0
        self.stop_at = stop_at

    def generate(self, episodes: Sequence[Episode], per_episode: int, seed: int) -> list[list[str]]:
        self.calls += 1
        if self.calls == self.stop_at:
            raise KeyboardInterrupt
        return self.inner.generate(episodes, per_episode, seed)


def test_an_interrupted_run_keeps_finished_batches_and_resumes(
    catalog: CatalogStore, queries: QueryStore
) -> None:
    first = generate_queries(catalog, queries, Interrupted(stop_at=3), batch_size=2, progress=False)
    assert first.interrupted and first.generated == 4  # two whole batches, not the third
    assert queries.generated_count() == (4, 4)
    second = generate_queries(catalog, queries, TitleGenerator(), batch_size=2, progress=False)
    assert not second.interrupted
    assert second.already_done == 4 and second.generated == first.eligible - 4
    assert second.skipped == {"show-level record": 2}
    # the same queries as one uninterrupted run
    assert len(queries.generated()) == 10
    third = generate_queries(catalog, queries, TitleGenerator(), batch_size=2, progress=False)
    assert third.generated == 0 and third.already_done == 10


def test_limit_takes_the_same_seeded_sample_every_time(
    catalog: CatalogStore, queries: QueryStore
) -> None:
    report = generate_queries(catalog, queries, TitleGenerator(), limit=4, seed=7, progress=False)
    assert report.eligible == 4
    ids = sorted(e.id for e in catalog.iter_episodes() if not e.is_show_level)
    assert sorted(queries.generated()) == sorted(episode_order(ids, 7)[:4])
    assert episode_order(ids, 7) != episode_order(ids, 8)
    more = generate_queries(catalog, queries, TitleGenerator(), limit=6, seed=7, progress=False)
    assert more.already_done == 4 and more.generated == 2


def test_other_settings_are_refused_unless_restarted(
    catalog: CatalogStore, queries: QueryStore
) -> None:
    generate_queries(catalog, queries, TitleGenerator(), per_episode=3, progress=False)
    with pytest.raises(PodseekError, match=r"another run.*--restart"):
        generate_queries(catalog, queries, TitleGenerator(), per_episode=2, progress=False)
    report = generate_queries(
        catalog, queries, TitleGenerator(), per_episode=2, restart=True, progress=False
    )
    assert report.already_done == 0 and report.generated == 10


def test_changed_and_removed_episodes_are_followed(
    catalog: CatalogStore, queries: QueryStore, tmp_path
) -> None:
    generate_queries(catalog, queries, TitleGenerator(), progress=False)
    query_filter = QueryFilter.for_prompts(FilterSettings(round_trip_k=0, title_filter=False))
    filter_queries(catalog, queries, query_filter, progress=False)
    assert ("Coral reefs", "sea:a2") in {
        (p["query"], p["episode_id"]) for p in queries.iter_pairs()
    }
    # the table source now has one episode retitled and one gone
    table = tmp_path / "sea.jsonl"
    table.write_text(
        (FIXTURES / "episodes.jsonl").read_text().replace("Ocean currents explained", "Tides")
    )
    lines = [line for line in table.read_text().splitlines() if '"a2"' not in line]
    table.write_text("\n".join(lines) + "\n")
    mapping = TableMapping.load(str(FIXTURES / "mapping.toml"))
    ingest(catalog, TableSource(table, mapping), replace=True, progress=False)
    again = generate_queries(catalog, queries, TitleGenerator(), progress=False)
    assert again.generated == 1  # only the changed episode
    assert queries.generated()["sea:a1"] == ["Tides"]
    report = filter_queries(catalog, queries, query_filter, progress=False)
    pairs = {(p["query"], p["episode_id"]) for p in queries.iter_pairs([SYNTHETIC])}
    assert not any(episode == "sea:a2" for _, episode in pairs)  # removed episode: no pairs
    assert ("Tides", "sea:a1") not in pairs  # regenerated, then one word: too short
    assert report.generated == 9 and report.removed["too short"] == 1


def test_filtering_twice_gives_the_same_pairs(catalog: CatalogStore, queries: QueryStore) -> None:
    generate_queries(catalog, queries, load_generator("title"), progress=False)
    query_filter = QueryFilter.for_prompts(FilterSettings(round_trip_k=0, title_filter=False))
    filter_queries(catalog, queries, query_filter, progress=False)
    first = list(queries.iter_pairs())
    report = filter_queries(catalog, queries, query_filter, progress=False)
    assert list(queries.iter_pairs()) == first
    assert report.kept == len(first) and queries.get_meta("filter_report")["kept"] == len(first)
