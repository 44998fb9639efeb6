"""The ingest and catalog commands, driven the way a user runs them."""

import json
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from podseek.cli import app
from podseek.config import Settings

FIXTURES = Path(__file__).resolve().parent.parent / "catalog" / "fixtures"
runner = CliRunner()


def run(*args: str) -> object:
    return runner.invoke(app, list(args), catch_exceptions=False)


def test_ingest_then_stats_and_show(workspace: Settings) -> None:
    result = run("ingest", "listennotes", str(FIXTURES / "listennotes"))
    assert result.exit_code == 0, result.output
    assert "listennotes: read 7, added 4" in result.output
    assert "skipped 1: unknown show" in result.output

    result = run("catalog", "stats", "--json")
    assert result.exit_code == 0, result.output
    stats = json.loads(result.output)
    assert stats["episodes"] == 4
    assert stats["by_language"] == {"en": 3, "de": 1}
    assert stats["by_year"] == {"2017": 3, "unknown": 1}
    assert stats["skipped"]["malformed row (wrong number of fields)"] == 1
    assert workspace.catalog_path.exists()

    result = run("catalog", "show", "listennotes:3", "--json")
    assert result.exit_code == 0, result.output
    shown = json.loads(result.output)
    assert shown["episode_title"] == "Die Römer am Rhein"
    assert shown["text"].startswith("Geschichte Heute. Ein Podcast über Geschichte für alle.")

    result = run("catalog", "show", "listennotes:3")
    assert "show_title: Geschichte Heute" in result.output


def test_ingest_json_summary_and_idempotent_rerun(workspace: Settings) -> None:
    first = json.loads(run("ingest", "rss", str(FIXTURES / "show.xml"), "--json").output)
    again = json.loads(run("ingest", "rss", str(FIXTURES / "show.xml"), "--json").output)
    assert first["ingests"][0]["added"] == 3
    assert again["ingests"][0]["added"] == 0
    assert again["ingests"][0]["unchanged"] == 3
    assert again["failed"] == []


def test_table_with_map_and_set_options(workspace: Settings) -> None:
    result = run(
        "ingest", "table", str(FIXTURES / "shows.tsv"),
        "--map", "id=slug,show_title=name", "--map", "show_description=description",
        "--set", "language=en", "--source", "kitchens",
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "kitchens: read 3, added 2" in result.output
    stats = json.loads(run("catalog", "stats", "--json").output)
    assert stats["show_level_records"] == 2
    assert stats["by_language"] == {"en": 2}


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["ingest", "listennotes", "nowhere"], "error: nowhere: no such folder"),
        (["ingest", "rss", "missing.xml"], "error: missing.xml: no such file"),
        (["ingest", "rss", str(FIXTURES / "notafeed.xml")], "not an RSS or Atom feed"),
        (["ingest", "table", str(FIXTURES / "shows.tsv"), "--map", "title"], "field=column"),
        (["ingest", "table", str(FIXTURES / "shows.tsv"), "--map", "title=nope"], "no column"),
        (["ingest", "table", str(FIXTURES / "shows.tsv"), "--mapping", "nope"], "no mapping"),
        (["ingest", "table", str(FIXTURES / "shows.tsv")], "fills no text field"),
        (["ingest", "opml", str(FIXTURES / "show.xml")], "not an OPML file"),
        (["catalog", "show", "nope:1"], "no record 'nope:1'"),
        (["ingest", "rss", "a.xml", "b.xml", "--source", "x"], "--source names one feed"),
    ],
)
def test_user_mistakes_give_one_line_and_exit_1(
    workspace: Settings, args: list[str], message: str
) -> None:
    result = runner.invoke(app, args)
    assert result.exit_code == 1, result.output
    assert message in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    assert "Traceback" not in result.output
    assert result.exception is None or isinstance(result.exception, SystemExit)


def test_one_bad_feed_does_not_stop_the_others(workspace: Settings) -> None:
    result = runner.invoke(
        app, ["ingest", "rss", str(FIXTURES / "show.xml"), "http://127.0.0.1:9/feed.xml"]
    )
    assert result.exit_code == 1
    assert "rss:show: read 5, added 3" in result.stdout
    assert "error: http://127.0.0.1:9/feed.xml: could not fetch" in result.stderr
    stats = json.loads(run("catalog", "stats", "--json").output)
    assert stats["episodes"] == 3


def test_opml_with_unreachable_feeds_reports_each(workspace: Settings) -> None:
    result = runner.invoke(app, ["ingest", "opml", str(FIXTURES / "subscriptions.opml"), "--json"])
    assert result.exit_code == 1
    report = json.loads(result.stdout)
    assert [f["location"] for f in report["failed"]] == [
        "https://nightsky.example/feed.xml",
        "http://127.0.0.1:9/feed.xml",
    ]


def test_home_option_and_settings_command(tmp_path: Path, workspace: Settings) -> None:
    home = tmp_path / "elsewhere"
    result = run("--home", str(home), "ingest", "rss", str(FIXTURES / "atom.xml"))
    assert result.exit_code == 0, result.output
    assert (home / "catalog.sqlite").exists()
    listed = json.loads(run("settings", "--json").output)
    assert {row["env"] for row in listed["settings"]} >= {"PODSEEK_HOME", "PODSEEK_TEXT_MAX_CHARS"}


def test_console_script_runs_as_a_process(workspace: Settings) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "podseek", "ingest", "rss", "no-such-feed.xml"],
        capture_output=True,
        text=True,
    )
    assert result.returncode == 1
    assert result.stderr == "error: no-such-feed.xml: no such file\n"
