"""Encoders fused (PODSEEK_ENSEMBLE_MODEL): the library's ranking is ranx's min-max sum of each
encoder's own ranking (a third summed, half and half, with the pair's), and the index command,
search, the server and its writes keep and use every index. Real indexes, real weights
(MiniLM, USE-multilingual and e5-small)."""

import json
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from ranx import Run, fuse
from typer.testing import CliRunner

from podseek.cli import app
from podseek.config import Settings, get_settings
from podseek.index.episode_index import EpisodeIndex, open_ensemble_indexes, read_manifest
from podseek.models.onnx_queries import QueryEngine
from podseek.models.registry import load_encoder, query_languages
from podseek.search.engine import Searcher, SearchMode
from podseek.serve.app import create_app

FIXTURES = Path(__file__).resolve().parent.parent / "catalog" / "fixtures"
QUERIES = ["watching meteors in winter", "bread", "römische geschichte", "soup for sunday"]
runner = CliRunner()


def run(*args: str):
    get_settings.cache_clear()  # the environment of the moment
    return runner.invoke(app, list(args), catch_exceptions=False)


@pytest.fixture(scope="module")
def home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A workspace indexed by MiniLM, with USE-multilingual and e5-small as its ensemble
    models."""
    home = tmp_path_factory.mktemp("ensemble")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("PODSEEK_HOME", str(home))
        patch.setenv("PODSEEK_ENSEMBLE_MODEL", "use-multilingual,e5-small")
        get_settings.cache_clear()
        run("ingest", "listennotes", str(FIXTURES / "listennotes"))
        run("ingest", "rss", str(FIXTURES / "show.xml"))
        indexed = run("index", "--model", "minilm", "--json")
        assert indexed.exit_code == 0, indexed.output
        report = json.loads(indexed.stdout)
        assert report["model"] == "minilm" and report["ensemble"]["model"] == "use-multilingual"
        assert report["ensemble_2"]["model"] == "e5-small"
        assert report["rows"] == report["ensemble"]["rows"] == report["ensemble_2"]["rows"] == 7
    get_settings.cache_clear()
    return home


def settings_for(
    home: Path, ensemble_model: str = "use-multilingual", **values: object
) -> Settings:
    return Settings(
        _env_file=None, home=home, model="minilm", ensemble_model=ensemble_model, **values
    )


def ensemble_index(settings: Settings, main: EpisodeIndex, n: int = 0) -> EpisodeIndex:
    """The ``n``-th ensemble index, as a search opens it (nothing left out)."""
    return open_ensemble_indexes(settings, main.manifest, pytest.fail)[n]


@pytest.mark.parametrize("mode", [SearchMode.HYBRID, SearchMode.SEMANTIC])
def test_the_ranking_is_the_min_max_sum_of_both_encoders(home: Path, mode: SearchMode) -> None:
    settings = settings_for(home)
    first = Searcher(EpisodeIndex.open(settings), load_encoder("minilm", home))
    second = Searcher(ensemble_index(settings, first.index), load_encoder("use-multilingual", home))
    both = Searcher(first.index, first.query_vectors.encoder, partners=[second])
    alone = [
        Run({q: dict(h) for q, h in zip(QUERIES, s.rank(QUERIES, 100, mode), strict=True)})
        for s in (first, second)
    ]
    expected = fuse(alone, norm="min-max", method="sum")
    for query, hits in zip(QUERIES, both.rank(QUERIES, 5, mode), strict=True):
        wanted = sorted(expected[query].items(), key=lambda item: -item[1])[:5]
        assert [i for i, _ in hits] == [i for i, _ in wanted]
        assert [s for _, s in hits] == pytest.approx([s / 2 for _, s in wanted])
    # keyword search is one list: the partner adds nothing
    assert both.rank(QUERIES, 5, SearchMode.KEYWORD) == first.rank(QUERIES, 5, SearchMode.KEYWORD)


def test_a_partner_that_knows_only_english_joins_english_queries_only(home: Path) -> None:
    settings = settings_for(home)
    minilm = EpisodeIndex.open(settings)
    use = ensemble_index(settings, minilm)
    english = Searcher(
        minilm, load_encoder("minilm", home), languages=query_languages("minilm", home)
    )
    assert english.languages == {"en"} and query_languages("use-multilingual", home) is None
    alone = Searcher(use, load_encoder("use-multilingual", home))
    gated = Searcher(use, alone.query_vectors.encoder, partners=[english])
    queries = ["watching meteors in winter", "römische geschichte der kaiserzeit", "bread"]
    assert english.knows(queries) == [True, False, True]  # too short to tell: it joins
    ranked = gated.rank(queries, 5)
    # the German query is neither encoded nor searched by the partner that cannot read it
    assert english.query_vectors.misses == 2 and english.query_vectors.hits == 0
    expected = fuse(
        [Run({q: dict(h) for q, h in zip(queries, s.rank(queries, 100), strict=True)})
         for s in (alone, english)],
        norm="min-max",
        method="sum",
    )  # fmt: skip
    assert ranked[1] == alone.rank(queries[1:2], 5)[0]  # German: USE-multilingual alone
    for query, hits in zip(queries[::2], ranked[::2], strict=True):  # English: the sum
        wanted = sorted(expected[query].items(), key=lambda item: -item[1])[:5]
        assert [i for i, _ in hits] == [i for i, _ in wanted]


def test_a_third_encoder_is_summed_half_and_half_with_the_pairs_ranking(home: Path) -> None:
    settings = settings_for(home, "use-multilingual,e5-small")
    first = Searcher(EpisodeIndex.open(settings), load_encoder("minilm", home))
    use, e5 = (
        Searcher(ensemble_index(settings, first.index, n), load_encoder(model, home))
        for n, model in enumerate(("use-multilingual", "e5-small"))
    )
    three = Searcher(first.index, first.query_vectors.encoder, partners=[use, e5])
    alone = [
        Run({q: dict(h) for q, h in zip(QUERIES, s.rank(QUERIES, 100), strict=True)})
        for s in (first, use, e5)
    ]
    pair = fuse(alone[:2], norm="min-max", method="sum")
    expected = fuse([pair, alone[2]], norm="min-max", method="sum")
    for query, hits in zip(QUERIES, three.rank(QUERIES, 5), strict=True):
        wanted = sorted(expected[query].items(), key=lambda item: -item[1])[:5]
        assert [i for i, _ in hits] == [i for i, _ in wanted]
        assert [s for _, s in hits] == pytest.approx([s / 2 for _, s in wanted])
    # one partner less is another ranking: the third one counts
    assert three.rank(QUERIES, 7) != Searcher(
        first.index, first.query_vectors.encoder, partners=[use]
    ).rank(QUERIES, 7)


def test_the_setting_reads_a_list_and_refuses_a_model_named_twice(tmp_path: Path) -> None:
    listed = settings_for(tmp_path, " use-multilingual , mpnet,")
    assert listed.ensemble_model == "use-multilingual,mpnet"
    assert listed.ensemble_models == ["use-multilingual", "mpnet"]
    assert listed.ensembles_for("e5-small") == [
        ("use-multilingual", tmp_path / "index-ensemble"),
        ("mpnet", tmp_path / "index-ensemble-2"),
    ]
    # the index's own model is not its partner; the others keep their folders
    assert listed.ensembles_for("mpnet") == [("use-multilingual", tmp_path / "index-ensemble")]
    assert settings_for(tmp_path, " , ").ensemble_models == []
    with pytest.raises(ValueError, match="names mpnet more than once"):
        settings_for(tmp_path, "mpnet,use-multilingual,mpnet")
    get_settings.cache_clear()
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("PODSEEK_HOME", str(tmp_path))
        patch.setenv("PODSEEK_ENSEMBLE_MODEL", "mpnet,mpnet")
        result = runner.invoke(app, ["search", "stars"])
    get_settings.cache_clear()
    assert result.exit_code != 0 and "names mpnet more than once" in result.output
    assert "Traceback" not in result.output and result.output.strip().count("\n") == 0


def test_search_and_the_server_use_all_and_writes_reach_all(
    home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    both = "use-multilingual,e5-small"
    monkeypatch.setenv("PODSEEK_HOME", str(home))
    monkeypatch.setenv("PODSEEK_ENSEMBLE_MODEL", both)
    get_settings.cache_clear()
    printed = json.loads(run("search", "meteor shower", "--json").stdout)["results"][0]["data"]
    assert printed[0]["id"] == "rss:show:ns-001"

    key = {"Authorization": "Bearer k"}
    with TestClient(create_app(settings_for(home, both, api_key="k"))) as client:
        served = client.get("/api/search", params={"q": "meteor shower"}).json()["data"]
        assert [r["id"] for r in served] == [r["id"] for r in printed]
        whales = {"id": "api:whales", "show_title": "Sea", "episode_title": "Whale songs"}
        assert client.post("/api/episodes", json=whales, headers=key).status_code == 200
        found = client.get("/api/search", params={"q": "humpback whales singing", "k": 1})
        assert found.json()["data"][0]["id"] == "api:whales"
    settings = settings_for(home, both)
    main = EpisodeIndex.open(settings)
    assert main.manifest == read_manifest(settings.index_dir)
    for n in (0, 1):  # the write reached both ensemble indexes too
        ensemble = ensemble_index(settings, main, n)
        assert ensemble.backend.count() == 8
        ensemble.close()
    main.close()


def test_the_default_builds_both_and_search_says_when_it_has_one(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def search() -> tuple[list[str], str]:
        get_settings.cache_clear()
        result = runner.invoke(app, ["search", "stars", "--json"])
        assert result.exit_code == 0, result.output
        return [r["id"] for r in json.loads(result.stdout)["results"][0]["data"]], result.stderr

    monkeypatch.setenv("PODSEEK_HOME", str(tmp_path / "ws"))
    monkeypatch.setenv("PODSEEK_ENSEMBLE_MODEL", "")  # one encoder, as an older index was built
    get_settings.cache_clear()
    run("ingest", "rss", str(FIXTURES / "show.xml"))
    assert run("index", "--model", "minilm").exit_code == 0
    assert not (tmp_path / "ws" / "index-ensemble").exists()
    alone, note = search()
    assert alone and note == ""

    monkeypatch.delenv("PODSEEK_ENSEMBLE_MODEL")  # the default: use-multilingual and mpnet
    found, note = search()
    # a line each: what is missing, what to run
    assert found == alone and note.count("\n") == 2
    first, second = note.splitlines()
    assert first.startswith("note: searching without use-multilingual: no use-multilingual index")
    assert second.startswith("note: searching without mpnet: no mpnet index")
    served = Settings(_env_file=None, home=tmp_path / "ws")  # the server, too, goes on alone
    assert served.ensemble_models == ["use-multilingual", "mpnet"]
    with TestClient(create_app(served)) as client:
        response = client.get("/api/search", params={"q": "stars", "k": 10})
        assert [r["id"] for r in response.json()["data"]] == alone
    indexed = json.loads(run("index", "--model", "minilm", "--json").stdout)
    assert indexed["ensemble"]["model"] == "use-multilingual" and indexed["ensemble"]["rows"] == 3
    assert indexed["ensemble_2"]["model"] == "mpnet" and indexed["ensemble_2"]["rows"] == 3
    assert search()[1] == ""

    # the catalog grows and only the main index follows: the stale second one is left out
    monkeypatch.setenv("PODSEEK_ENSEMBLE_MODEL", "")
    run("ingest", "listennotes", str(FIXTURES / "listennotes"))
    assert run("index", "--model", "minilm").exit_code == 0
    monkeypatch.delenv("PODSEEK_ENSEMBLE_MODEL")
    _, note = search()
    assert note.count("holds 3 episodes and the index 7; run `podseek index`") == 2
    # an index of an ensemble model gets no second copy of itself, only the other partner
    same = json.loads(run("index", "--model", "use-multilingual", "--json").stdout)
    assert same["model"] == "use-multilingual" and "ensemble_2" not in same
    assert same["ensemble"]["model"] == "mpnet" and same["ensemble"]["rows"] == 7
    assert search()[1] == ""
    get_settings.cache_clear()


def test_onnx_sessions_that_take_turns_in_one_search_do_not_spin(home: Path) -> None:
    """ONNX Runtime's threads spin after a run: with two sessions in one search, the first
    one's spinning threads would hold the cores the second one needs."""
    settings = settings_for(home)
    minilm = EpisodeIndex.open(settings)
    use = ensemble_index(settings, minilm)

    def onnx() -> Searcher:
        return Searcher(minilm, load_encoder("minilm", home, QueryEngine.ONNX_INT8))

    alone = onnx()
    expected = alone.rank(QUERIES, 5)
    with_use = Searcher(
        minilm,
        alone.query_vectors.encoder,
        partners=[Searcher(use, load_encoder("use-multilingual", home))],
    )
    assert alone.query_vectors.encoder.query_engine.spinning  # one session: it spins
    first, second = onnx(), onnx()
    first.partners = [second]  # as the server sets them
    engines = [s.query_vectors.encoder.query_engine for s in (first, second)]
    assert not any(engine.spinning for engine in engines)
    # the sessions open again without spinning, and rank as before
    again = Searcher(minilm, first.query_vectors.encoder).rank(QUERIES, 5)
    assert again == [[(i, pytest.approx(s, abs=1e-5)) for i, s in hits] for hits in expected]
    assert [[i for i, _ in hits] for hits in first.rank(QUERIES, 5)] == [
        [i for i, _ in hits] for hits in expected
    ]  # the same model twice: the same order
    assert with_use.rank(QUERIES, 5)
