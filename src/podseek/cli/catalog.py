"""``podseek ingest ...`` and ``podseek catalog ...``: the catalog stage's commands."""

import functools
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Annotated

import typer

from podseek.catalog.episode import Episode, episode_text
from podseek.catalog.ingest import IngestSummary, ingest
from podseek.catalog.sources import Source
from podseek.cli.common import (
    JsonOption,
    ReplaceOption,
    SourceOption,
    catalog_app,
    catalog_store,
    ingest_app,
    print_json,
    user_errors,
)
from podseek.config import get_settings
from podseek.errors import PodseekError

# ingest ------------------------------------------------------------------------------------


def _report(
    summaries: list[IngestSummary],
    failures: list[tuple[str, str]],
    as_json: bool,
    refused: Counter[str],
) -> None:
    """Print what the ingests did; exit 1 when a source failed (after the others were saved).
    ``refused`` counts the feeds of a list that were not read (a local path in a remote OPML,
    a ``file://`` URL), by reason."""
    if as_json:
        print_json(
            {
                "ingests": [s.to_dict() for s in summaries],
                "failed": [{"location": loc, "error": err} for loc, err in failures],
                "refused": dict(refused.most_common()),
            }
        )
    else:
        for s in summaries:
            typer.echo(
                f"{s.source}: read {s.read:,}, added {s.added:,}, updated {s.updated:,}, "
                f"unchanged {s.unchanged:,}, removed {s.removed:,}, "
                f"skipped {sum(s.skipped.values()):,} ({s.per_second:,.0f} rows/s)"
            )
            if s.transcripts:
                typer.echo(f"  transcripts added or changed: {s.transcripts:,}")
            for reason, n in s.skipped.most_common():
                typer.echo(f"  skipped {n:,}: {reason}")
            for reason, n in s.notes.most_common():
                typer.echo(f"  note {n:,}: {reason}")
    if not as_json:
        for reason, n in refused.most_common():
            typer.echo(f"feeds {reason}: {n:,}")
    for location, error in failures:
        typer.echo(
            f"error: {error}" if location in error else f"error: {location}: {error}", err=True
        )
    if failures:
        raise typer.Exit(1)


def _run_ingest(
    sources: list[Callable[[], Source]],
    locations: list[str],
    replace: bool,
    as_json: bool,
    refused: Counter[str] | None = None,
) -> None:
    """Ingest each source in turn; one that fails is reported and the rest still run."""
    settings = get_settings()
    summaries: list[IngestSummary] = []
    failures: list[tuple[str, str]] = []
    with catalog_store(settings) as store:
        for make_source, location in zip(sources, locations, strict=True):
            try:
                source = make_source()
                summaries.append(ingest(store, source, replace, settings.min_detect_chars))
            except Exception as error:  # one bad source is one line; the others still run
                if not isinstance(error, PodseekError):
                    error = PodseekError(f"{location}: {type(error).__name__}: {error}")
                if len(sources) == 1 and not refused:
                    raise error from None
                failures.append((location, str(error)))
    _report(summaries, failures, as_json, refused or Counter())


@ingest_app.command("listennotes")
@user_errors
def ingest_listennotes(
    folder: Annotated[Path, typer.Argument(help="Folder with podcasts.csv and episodes.csv.")],
    source: SourceOption = None,
    replace: ReplaceOption = False,
    as_json: JsonOption = False,
) -> None:
    """Ingest the Kaggle Listen Notes dataset (podcasts.csv + episodes.csv)."""
    from podseek.catalog.sources.listennotes import ListenNotesSource

    _run_ingest(
        [lambda: ListenNotesSource(folder, name=source or "listennotes")],
        [str(folder)],
        replace,
        as_json,
    )


@ingest_app.command("rss")
@user_errors
def ingest_rss(
    locations: Annotated[list[str], typer.Argument(help="RSS or Atom files or http(s) URLs.")],
    source: SourceOption = None,
    replace: ReplaceOption = False,
    as_json: JsonOption = False,
) -> None:
    """Ingest RSS 2.0 / Atom feeds; each feed is its own source."""
    from podseek.catalog.sources.feeds import FeedSource

    if source and len(locations) > 1:
        raise PodseekError("--source names one feed; give one feed or leave it out")
    timeout = get_settings().fetch_timeout
    transcripts = get_settings().feed_transcripts
    makers = [functools.partial(FeedSource, loc, timeout, source, transcripts) for loc in locations]
    _run_ingest(makers, locations, replace, as_json)


@ingest_app.command("opml")
@user_errors
def ingest_opml(
    location: Annotated[str, typer.Argument(help="An OPML file or URL listing feeds.")],
    replace: ReplaceOption = False,
    as_json: JsonOption = False,
) -> None:
    """Ingest every feed that an OPML subscription list names."""
    from podseek.catalog.sources.feeds import FeedSource, opml_feed_locations

    timeout = get_settings().fetch_timeout
    feeds = opml_feed_locations(location, timeout)
    transcripts = get_settings().feed_transcripts
    makers = [
        functools.partial(FeedSource, url, timeout, None, transcripts) for url in feeds.locations
    ]
    _run_ingest(makers, feeds.locations, replace, as_json, refused=feeds.refused)


@ingest_app.command("transcripts")
@user_errors
def ingest_transcripts(
    folder: Annotated[
        Path, typer.Argument(help="Folder of transcript files (.srt, .vtt, .json, .html).")
    ],
    show: Annotated[
        str | None,
        typer.Option(
            help="The show the transcripts are episodes of; with --map, the show (title or "
            "id) whose episodes they belong to."
        ),
    ] = None,
    map_: Annotated[
        str | None,
        typer.Option(
            "--map",
            help="Give the transcripts to episodes already in the catalog, matched by: id, "
            "audio (the audio file's name), title, KIND=REGEX (what REGEX finds in both "
            "names), or a .csv/.tsv table with file and episode columns.",
        ),
    ] = None,
    language: Annotated[
        str | None, typer.Option(help="Their language (ISO 639-1); detected when not given.")
    ] = None,
    source: SourceOption = None,
    replace: ReplaceOption = False,
    as_json: JsonOption = False,
) -> None:
    """Ingest a folder of transcripts, one episode each: the number and title come from the
    file name ("459-ai-coding-v2.vtt"), the text and timed segments from the file. With
    --map, the transcripts of episodes already in the catalog (a feed's): each file is
    matched to one episode and stored as its transcript."""
    if map_ is not None:
        _attach_transcripts(folder, map_, show, language, source, replace, as_json)
        return
    if show is None:
        raise PodseekError(
            "give --show NAME (each file becomes an episode of that show), or --map RULE "
            "(each file is the transcript of an episode already in the catalog)"
        )
    from podseek.catalog.sources.transcripts import TranscriptFolderSource

    _run_ingest(
        [lambda: TranscriptFolderSource(folder, show, language, name=source)],
        [str(folder)],
        replace,
        as_json,
    )


def _attach_transcripts(
    folder: Path,
    rule_text: str,
    show: str | None,
    language: str | None,
    source: str | None,
    replace: bool,
    as_json: bool,
) -> None:
    """``ingest transcripts --map``: the options that make episodes do not apply."""
    from podseek.catalog.transcript_match import MatchRule, attach_transcripts

    for flag, given in (("--language", language), ("--source", source), ("--replace", replace)):
        if given:
            raise PodseekError(
                f"{flag} makes no sense with --map: the episodes are already in the catalog, "
                "with their own source and language"
            )
    rule = MatchRule.parse(rule_text)
    with catalog_store(get_settings()) as store:
        summary = attach_transcripts(store, folder, rule, show)
    if as_json:
        print_json(summary.to_dict())
        return
    typer.echo(
        f"{summary.location}: read {summary.read:,}, transcripts added or changed "
        f"{summary.attached:,}, unchanged {summary.unchanged:,}, "
        f"skipped {sum(summary.skipped.values()):,}"
    )
    for reason, n in summary.skipped.most_common():
        typer.echo(f"  skipped {n:,}: {reason}")


def _pairs(options: list[str], flag: str) -> dict[str, str]:
    """``field=value`` pairs from repeated, comma-separated options."""
    pairs: dict[str, str] = {}
    for option in options:
        for item in option.split(","):
            if not item.strip():
                continue
            key, sep, value = item.partition("=")
            if not sep or not key.strip() or not value.strip():
                raise PodseekError(f"{flag} takes field=column pairs; got {item!r}")
            pairs[key.strip()] = value.strip()
    return pairs


@ingest_app.command("table")
@user_errors
def ingest_table(
    path: Annotated[Path, typer.Argument(help="A CSV, TSV, JSON Lines, JSON or Parquet file.")],
    mapping: Annotated[
        str | None,
        typer.Option(help="A mapping TOML file, or a shipped one by name (see --list-mappings)."),
    ] = None,
    map_: Annotated[
        list[str],
        typer.Option("--map", help="field=column pairs, comma-separated (title=name,date=pub)."),
    ] = [],  # noqa: B006 - Typer reads the default; it is never mutated
    set_: Annotated[
        list[str], typer.Option("--set", help="field=value pairs: a fixed value for every row.")
    ] = [],  # noqa: B006
    fmt: Annotated[
        str | None, typer.Option("--format", help="csv, tsv, jsonl, json or parquet.")
    ] = None,
    source: SourceOption = None,
    replace: ReplaceOption = False,
    as_json: JsonOption = False,
) -> None:
    """Ingest any table of episodes or shows, with a column mapping."""
    from podseek.catalog.sources.table import TableMapping, TableSource

    table_mapping = TableMapping.load(mapping) if mapping else TableMapping()
    table_mapping.update(_pairs(map_, "--map"), _pairs(set_, "--set"))
    _run_ingest(
        [lambda: TableSource(path, table_mapping, fmt, source)], [str(path)], replace, as_json
    )


@ingest_app.command("mappings")
@user_errors
def ingest_mappings(as_json: JsonOption = False) -> None:
    """List the table mappings shipped with podseek."""
    from podseek.catalog.sources.table import shipped_mappings

    names = shipped_mappings()
    if as_json:
        print_json({"mappings": names})
    else:
        typer.echo("\n".join(names))


# catalog -----------------------------------------------------------------------------------


@catalog_app.command("stats")
@user_errors
def catalog_stats(as_json: JsonOption = False) -> None:
    """Counts by kind, source, language, year and show; skipped rows by reason."""
    with catalog_store() as store:
        stats = store.stats()
    if as_json:
        print_json(stats)
        return
    typer.echo(f"catalog: {stats['catalog']}")
    typer.echo(
        f"records: {stats['records']:,} ({stats['episodes']:,} episodes, "
        f"{stats['show_level_records']:,} show-level), shows: {stats['shows']:,}, "
        f"transcripts: {stats['transcripts']:,}"
    )
    for title, key in (
        ("by source", "by_source"),
        ("by language", "by_language"),
        ("by year", "by_year"),
        ("top shows", "top_shows"),
        ("skipped at last ingest, by reason", "skipped"),
    ):
        if stats[key]:
            typer.echo(f"{title}:")
            for name, n in stats[key].items():
                typer.echo(f"  {n:>8,}  {name}")


@catalog_app.command("show")
@user_errors
def catalog_show(
    episode_id: Annotated[str, typer.Argument(help="An episode id, as search results give it.")],
    as_json: JsonOption = False,
) -> None:
    """One record, with the text that represents it to the encoder."""
    settings = get_settings()
    with catalog_store(settings) as store:
        episode = store.get(episode_id)
    if episode is None:
        raise PodseekError(f"no record {episode_id!r} in the catalog at {settings.catalog_path}")
    text = episode_text(episode, settings.text_max_chars)
    if as_json:
        print_json({**episode.model_dump(mode="json"), "text": text})
        return
    for name in Episode.model_fields:
        value = getattr(episode, name)
        if isinstance(value, tuple):
            value = ", ".join(value)
        typer.echo(f"{name}: {value if value not in (None, '') else '-'}")
    typer.echo(f"text: {text}")
