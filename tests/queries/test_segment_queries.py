"""Transcript windows as training material (issue 20): the windows of transcribed episodes get
queries of their own, resumably; the filters and the round trip read the window; the split
keeps a window with its episode and puts the train windows in the corpus; training reads
(query, window text) pairs."""

import json
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path

import pytest
from typer.testing import CliRunner

from podseek.beir import load_corpus, load_qrels, load_queries
from podseek.catalog.episode import Episode
from podseek.catalog.ingest import ingest
from podseek.catalog.sources.transcripts import TranscriptFolderSource
from podseek.catalog.store import CatalogStore
from podseek.catalog.windows import parse_window_id, transcript_windows, window_id, window_text
from podseek.cli import app
from podseek.config import Settings
from podseek.errors import PodseekError
from podseek.index.episode_index import EpisodeIndex, WindowRecords, build_index
from podseek.models.device import CPU
from podseek.models.registry import load_encoder
from podseek.queries.filters import FilterSettings, QueryFilter
from podseek.queries.generate import filter_queries, generate_queries
from podseek.queries.generators import TitleGenerator
from podseek.queries.round_trip import window_round_trip_check
from podseek.queries.segments import pick_windows
from podseek.queries.split import SplitShares, assign_episodes, split_pairs
from podseek.queries.store import SYNTHETIC, QueryStore
from podseek.training.train import (
    TrainSettings,
    base_model,
    mined_dataset,
    mining_corpus,
    own_episode_negatives,
    train_model,
    training_pairs,
)

LONG = "transcripts:kitchen-radio:12"  # ten minutes, a topic a minute
SHORT = "transcripts:kitchen-radio:13"  # nine seconds: one window
TOPICS = [
    "welcome to the kitchen radio show where we bake bread together",
    "a sourdough starter needs flour and water fed every day",
    "volcanoes erupt with lava and magma under the island",
    "the violin has four strings and sings in the orchestra",
    "glaciers melt slowly and carve deep valleys in the mountains",
    "honey bees build hexagonal wax combs inside the hive",
    "chess openings like the sicilian defence decide the game",
    "lighthouses guide ships past rocky coastlines at night",
    "marathon runners train for months before the race",
    "thanks for listening and goodbye until next week",
]
SHORT_VTT = """WEBVTT

00:00:01.000 --> 00:00:05.000
<v Ana>Today we talk about sourdough starters and how to feed them.

00:00:05.500 --> 00:00:09.000
<v Ben>And why a cold kitchen slows the rise.
"""
FILTER = QueryFilter.for_prompts(FilterSettings(round_trip_k=0, title_filter=False))


def clock(seconds: float) -> str:
    return f"00:{int(seconds) // 60:02d}:{seconds % 60:06.3f}"


def long_vtt(topics: Sequence[str] = TOPICS, shift: float = 0.0) -> str:
    """A cue every 20 seconds, the same topic for a minute."""
    cues = ["WEBVTT", ""]
    for minute, topic in enumerate(topics):
        for k in range(3):
            start = shift + 60 * minute + 20 * k
            cues += [f"{clock(start)} --> {clock(start + 19)}", f"{topic}.", ""]
    return "\n".join(cues)


def ingest_transcripts(catalog: CatalogStore, folder: Path, long_text: str) -> None:
    folder.mkdir(exist_ok=True)
    (folder / "12-bread-at-home.vtt").write_text(long_text)
    (folder / "13-short-note.vtt").write_text(SHORT_VTT)
    source = TranscriptFolderSource(folder, "Kitchen Radio", language="en")
    ingest(catalog, source, progress=False)


@pytest.fixture
def transcribed(catalog: CatalogStore, tmp_path: Path) -> CatalogStore:
    """The 12 catalog records and two transcribed episodes (their files in tmp/exports)."""
    ingest_transcripts(catalog, tmp_path / "exports", long_vtt())
    return catalog


class Recording:
    """The real title generator, keeping every record it was given."""

    def __init__(self) -> None:
        self.inner = TitleGenerator()
        self.name = self.inner.name
        self.seen: list[Episode] = []

    def generate(self, episodes: Sequence[Episode], per_episode: int, seed: int) -> list[list[str]]:
        self.seen.extend(episodes)
        return self.inner.generate(episodes, per_episode, seed)


def window_ids(store: QueryStore) -> set[str]:
    return {i for i in store.generated() if "#t=" in i}


def test_windows_are_spread_over_the_episode_and_seeded() -> None:
    from podseek.catalog.transcripts import parse_transcript

    windows = transcript_windows(parse_transcript(long_vtt(), "vtt"))
    assert [w.start for w in windows] == [60.0 * m for m in range(9)]
    picked = pick_windows(windows, 2, seed=0, episode_id=LONG)
    assert picked == pick_windows(windows, 2, seed=0, episode_id=LONG)
    first, second = picked
    # not the greeting nor the goodbye; one from each half, sharing no speech
    assert 60 <= first.start <= 240 and 300 <= second.start <= 420
    assert second.first > first.last
    many = {tuple(w.start for w in pick_windows(windows, 2, s, LONG)) for s in range(20)}
    assert len(many) > 3  # the seed picks
    assert len(pick_windows(windows, 9, 0, LONG)) == 5  # never two that share speech
    assert pick_windows(windows, 0, 0, LONG) == []


def test_windows_get_queries_and_a_rerun_generates_nothing(
    transcribed: CatalogStore, queries: QueryStore, tmp_path: Path
) -> None:
    generator = Recording()
    report = generate_queries(transcribed, queries, generator, batch_size=4, progress=False)
    assert (report.eligible, report.generated) == (12, 12)  # 10 + 2 transcribed episodes
    assert (report.transcribed, report.windows, report.windows_generated) == (2, 3, 3)
    assert report.window_queries == 3 and report.queries == 12
    stored = window_ids(queries)
    assert {parse_window_id(i)[0] for i in stored} == {LONG, SHORT}
    # the generator read each window as its episode with the window's words
    long_episode = transcribed.get(LONG)
    windows = {window_id(LONG, w): w for w in transcript_windows(transcribed.transcript(LONG))}
    records = {e.id: e for e in generator.seen if "#t=" in e.id}
    assert set(records) == stored
    for record_id, record in records.items():
        if record_id in windows:
            assert record.episode_description == windows[record_id].text
            assert record.episode_title == long_episode.episode_title == "Bread at home"
            assert record.show_title == "Kitchen Radio" and record.show_description == ""
    for record_id in stored:  # the title generator's query for a window: its episode's title
        parent = transcribed.get(parse_window_id(record_id)[0])
        assert queries.generated()[record_id] == [parent.episode_title]
    again = generate_queries(transcribed, queries, TitleGenerator(), batch_size=4, progress=False)
    assert (again.generated, again.windows_generated) == (0, 0)
    assert (again.already_done, again.windows_already_done) == (12, 3)
    assert window_ids(queries) == stored
    # --limit: the windows of the sampled episodes, the same ones a whole run picks
    with QueryStore(tmp_path / "limited.sqlite") as limited:
        for size in range(1, 13):
            generate_queries(transcribed, limited, TitleGenerator(), limit=size, progress=False)
            done = limited.generated()
            parents = {parse_window_id(i)[0] for i in window_ids(limited)}
            assert parents <= set(done) and window_ids(limited) <= stored
        assert window_ids(limited) == stored


def test_a_changed_transcript_regenerates_its_windows_and_drops_the_old_ones(
    transcribed: CatalogStore, queries: QueryStore, tmp_path: Path
) -> None:
    generate_queries(transcribed, queries, TitleGenerator(), progress=False)
    filter_queries(transcribed, queries, FILTER, progress=False)
    before = window_ids(queries)
    short_windows = {i for i in before if i.startswith(SHORT)}
    # the talk now starts 5 seconds later: every window of the long episode moves
    ingest_transcripts(transcribed, tmp_path / "exports", long_vtt(shift=5.0))
    # filtering before generating again keeps no query of a window that is gone
    filter_queries(transcribed, queries, FILTER, progress=False)
    targets = {p["episode_id"] for p in queries.iter_pairs([SYNTHETIC])}
    assert not (before - short_windows) & targets and short_windows <= targets
    # only the times changed: the episode's record (its words) did not, its windows did
    again = generate_queries(transcribed, queries, TitleGenerator(), progress=False)
    assert (again.generated, again.windows_generated, again.windows_already_done) == (0, 2, 1)
    after = window_ids(queries)
    assert after & before == short_windows  # the old windows are forgotten, not kept
    assert all(parse_window_id(i)[1] % 60 == 5 for i in after - short_windows)
    # new words: the episode (whose description is what is said) and its windows again
    topics = [t.replace("chess", "checkers") for t in TOPICS]
    ingest_transcripts(transcribed, tmp_path / "exports", long_vtt(topics, shift=5.0))
    third = generate_queries(transcribed, queries, TitleGenerator(), progress=False)
    assert (third.generated, third.windows_generated, third.windows_already_done) == (1, 2, 1)
    assert window_ids(queries) == after


def test_zero_segments_gives_none_and_another_number_is_another_run(
    transcribed: CatalogStore, queries: QueryStore
) -> None:
    report = generate_queries(
        transcribed, queries, TitleGenerator(), segments_per_episode=0, progress=False
    )
    assert (report.transcribed, report.windows) == (0, 0) and not window_ids(queries)
    with pytest.raises(PodseekError, match=r"--segments-per-episode 0.*--restart"):
        generate_queries(transcribed, queries, TitleGenerator(), progress=False)
    # a run recorded before windows had queries continues, and adds them
    queries.set_meta("run", {"generator": "title", "per_episode": 3, "seed": 0})
    older = generate_queries(transcribed, queries, TitleGenerator(), progress=False)
    assert (older.already_done, older.windows_generated) == (12, 3)


SHARES = SplitShares(0.2, 0.2)


def mixed_seed(store: QueryStore) -> int:
    """A split seed that puts one transcribed episode in train and the other in eval or
    test."""
    ids = sorted({parse_window_id(i)[0] if "#t=" in i else i for i in store.generated()})

    def mixed(seed: int) -> bool:
        splits = {assign_episodes(ids, SHARES, seed)[e] for e in (LONG, SHORT)}
        return "train" in splits and len(splits) == 2

    return next(s for s in range(100) if mixed(s))


def test_the_split_keeps_windows_with_their_episode(
    transcribed: CatalogStore, queries: QueryStore, tmp_path: Path
) -> None:
    generate_queries(transcribed, queries, TitleGenerator(), progress=False)
    report = filter_queries(transcribed, queries, FILTER, progress=False)
    assert report.to_dict()["windows"] == {"generated": 3, "kept": 3}
    target = tmp_path / "pairs"
    manifest = split_pairs(transcribed, queries, target, SHARES, seed=mixed_seed(queries))

    _, metadata = load_queries(target / "queries.jsonl")
    corpus = load_corpus(target / "corpus.jsonl")
    rows = [json.loads(line) for line in (target / "corpus.jsonl").read_text().splitlines()]
    window_rows = {r["_id"]: r for r in rows if r["metadata"].get("kind") == "window"}
    episode_split = {}
    judged_windows = set()
    for name in ("train", "dev", "test"):
        for qid, judged in load_qrels(target / "qrels" / f"{name}.tsv").items():
            (doc,) = judged
            meta = metadata[qid]
            assert meta["split"] == name
            assert episode_split.setdefault(meta["episode_id"], name) == name
            if "window_id" in meta:
                assert parse_window_id(meta["window_id"])[0] == meta["episode_id"]
                # train learns the window; eval and test judge the episode evaluate searches
                assert doc == (meta["window_id"] if name == "train" else meta["episode_id"])
                judged_windows.add((meta["window_id"], name))
            else:
                assert doc == meta["episode_id"]
    assert {w for w, _ in judged_windows} == window_ids(queries)
    trained = {w for w, name in judged_windows if name == "train"}
    assert trained and set(window_rows) == trained  # held-out windows stay out of the corpus
    catalog_windows = {
        window_id(e.id, w): (e, w)
        for e, _, segments in transcribed.iter_transcripts()
        for w in transcript_windows(segments)
    }
    for record_id, row in window_rows.items():
        episode, window = catalog_windows[record_id]
        assert corpus[record_id] == window_text(episode, window, 2000)
        assert row["metadata"]["episode_id"] == episode.id
        assert row["metadata"]["start"] == window.start
    assert manifest["corpus"] == transcribed.count()
    assert manifest["corpus_windows"] == len(trained)
    assert sum(c["window_queries"] for c in manifest["splits"].values()) == 3
    assert manifest["run"]["segments_per_episode"] == 2

    # training reads (query, window text); negatives are mined from train episodes and windows
    pairs = training_pairs(target, None, 0)
    assert {corpus[w] for w in trained} <= {text for _, text in pairs}
    held_out = {e for e, name in episode_split.items() if name != "train"}
    assert set(mining_corpus(target)) == {
        text
        for doc, text in corpus.items()
        if doc not in held_out and doc.split("#t=")[0] not in held_out
    }
    own = own_episode_negatives(target)
    assert own is not None
    trained_window = sorted(trained)[0]
    parent = parse_window_id(trained_window)[0]
    row = {"anchor": "q", "positive": corpus[trained_window], "negative": corpus[parent]}
    assert own(row)
    assert not own({**row, "negative": corpus["listennotes:1"]})


def test_training_learns_window_pairs_without_their_episode_as_a_negative(
    transcribed: CatalogStore, queries: QueryStore, tmp_path: Path
) -> None:
    from datasets import Dataset

    generate_queries(transcribed, queries, TitleGenerator(), progress=False)
    filter_queries(transcribed, queries, FILTER, progress=False)
    target = tmp_path / "pairs"
    split_pairs(transcribed, queries, target, SHARES, seed=mixed_seed(queries))
    pairs = training_pairs(target, None, 0)
    settings = TrainSettings(batch_size=4, epochs=1, warmup=0.0, learning_rate=1e-4)
    model, _ = base_model("minilm", tmp_path)
    dataset = Dataset.from_dict(
        {"anchor": [q for q, _ in pairs], "positive": [e for _, e in pairs]}
    )
    mined = mined_dataset(
        dataset, model, target, replace(settings, hard_negatives=3), {}, CPU, progress=False
    )
    own = own_episode_negatives(target)
    assert own is not None and len(mined) > 0
    assert not any(own(row) for row in mined)
    report = train_model(
        "minilm",
        target,
        tmp_path,
        "windows",
        replace(settings, hard_negatives=1, mini_batch=2),
        progress=False,
    )
    assert report.steps > 0 and report.pairs > 0


@pytest.fixture
def segment_index(transcribed: CatalogStore, tmp_path: Path):
    encoder = load_encoder("minilm", tmp_path)
    folder = tmp_path / "index-segments"
    build_index(
        transcribed,
        encoder,
        folder,
        2000,
        progress=False,
        records=WindowRecords(transcribed, 2000),
    )
    index = EpisodeIndex(folder)
    yield encoder, index
    index.close()


def test_the_round_trip_of_a_window_query_searches_the_windows(
    transcribed: CatalogStore, queries: QueryStore, segment_index
) -> None:
    encoder, index = segment_index
    check = window_round_trip_check(index, encoder, k=2)
    at = {parse_window_id(w)[1]: w for w in WindowRecords(transcribed, 2000).content_hashes()}
    volcano, chess = at[120.0], at[360.0]  # minute 2 is volcanoes, minute 6 chess
    queries_ = ["volcano lava magma island", "sicilian defence chess openings"]
    assert check(queries_, [volcano, chess]) == [True, True]
    assert check(queries_, [chess, volcano]) == [False, False]
    assert check(["volcano lava magma island"], [at[60.0]]) == [True]  # its neighbour has it

    # in the filter: window queries go to the segment index, episode queries to theirs
    queries.save_batch([(volcano, "x", ["chess openings sicilian defence"])])
    queries.save_batch([(chess, "x", ["chess openings sicilian defence"])])
    settings = FilterSettings(round_trip_k=2, title_filter=False)
    report = filter_queries(
        transcribed,
        queries,
        QueryFilter.for_prompts(settings),
        lambda qs, ids: [True] * len(ids),
        progress=False,
        window_round_trip=check,
    )
    assert report.removed["round trip"] == 1 and report.window_kept == 1
    kept = {p["episode_id"] for p in queries.iter_pairs([SYNTHETIC])}
    assert chess in kept and volcano not in kept
    unchecked = filter_queries(
        transcribed,
        queries,
        QueryFilter.for_prompts(settings),
        lambda qs, ids: [True] * len(ids),
        progress=False,
    )
    assert unchecked.round_trip_unchecked == 2 and unchecked.window_kept == 2


runner = CliRunner()


def podseek(*args: str):
    result = runner.invoke(app, list(args), catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return result


def test_the_commands(workspace: Settings, tmp_path: Path) -> None:
    folder = tmp_path / "exports"
    folder.mkdir()
    (folder / "12-bread-at-home.vtt").write_text(long_vtt())
    (folder / "13-short-note.vtt").write_text(SHORT_VTT)
    podseek("ingest", "transcripts", str(folder), "--show", "Kitchen Radio", "--language", "en")
    podseek("index", "--model", "minilm")  # and the segment index the windows' round trip reads
    args = ("queries", "generate", "--generator", "title", "--round-trip-k", "20")
    summary = json.loads(podseek(*args, "--json").stdout)
    generation, filters = summary["generation"], summary["filters"]
    assert (generation["generated"], generation["windows_generated"]) == (2, 3)
    assert filters["windows"]["generated"] == 3 and "round_trip_unchecked" not in filters
    text = podseek(*args).output
    assert "0 episodes generated for" in text and "0 generated for, 3 already done" in text
    shown = podseek("queries", "show", "--n", "5").output
    assert "Bread at home at " in shown
    split = podseek("pairs", "split", "--eval", "0", "--test", "0.4").output
    assert "windows" in split

    none = podseek(*args, "--segments-per-episode", "0", "--restart", "--json").stdout
    assert json.loads(none)["generation"]["windows"] == 0
    assert "windows" not in json.loads(none)["filters"]


def test_windows_on_ray_get_the_queries_one_process_writes(
    transcribed: CatalogStore, queries: QueryStore, tmp_path: Path
) -> None:
    """The window records travel to Ray's actors in the same batches, with the same seeds."""
    ray = pytest.importorskip("ray", reason="Ray is not installed: pip install 'podseek[ray]'")
    from podseek.scale.ray_jobs import RayGenerator, RayOptions

    here = generate_queries(transcribed, queries, TitleGenerator(), batch_size=5, progress=False)
    started = not ray.is_initialized()
    if started:
        ray.init(num_cpus=1, include_dashboard=False, log_to_driver=False)
    try:
        with QueryStore(tmp_path / "ray.sqlite") as on:
            generator = RayGenerator("title", tmp_path, RayOptions(address="local", device="cpu"))
            there = generate_queries(transcribed, on, generator, batch_size=5, progress=False)
            assert on.generated() == queries.generated()
    finally:
        if started:
            ray.shutdown()
    assert (there.windows_generated, there.window_queries) == (here.windows_generated, 3)
    assert there.device.startswith("ray: ")
