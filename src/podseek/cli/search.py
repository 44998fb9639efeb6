"""``podseek models``, ``podseek index`` and ``podseek search``: the search stage's commands."""

import sys
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from podseek.catalog.cleaning import parse_filter_date
from podseek.cli.common import JsonOption, RayOption, app, catalog_store, print_json, user_errors
from podseek.config import get_settings
from podseek.errors import PodseekError
from podseek.extras import MissingExtra
from podseek.index.backends import BackendOptions
from podseek.index.base import AnnSettings, SearchFilters
from podseek.models.device import settings_device
from podseek.search.engine import ResultType, SameShow, SearchMode, SearchResults, Sort
from podseek.search.shows import ShowResults

if TYPE_CHECKING:
    from podseek.index.episode_index import IndexReport
    from podseek.search.engine import Searcher

models_app = typer.Typer(help="The encoders podseek can index and search with.")
app.add_typer(models_app, name="models")


@models_app.command("list")
@user_errors
def models_list(as_json: JsonOption = False) -> None:
    """Built-in encoders: languages, dimensions, where the weights live."""
    from podseek.models.registry import BUILTINS, weights_location

    settings = get_settings()
    device = settings_device(settings).describe()
    rows = [
        {
            "name": m.name,
            "default": m.name == settings.model,
            "dimension": m.dimension,
            "languages": m.languages,
            "package": f"{m.package} {m.version}",
            "weights": weights_location(m.name, settings.home),
            "description": m.description,
        }
        for m in BUILTINS.values()
    ]
    if as_json:
        print_json({"models": rows, "device": device})
        return
    typer.echo(f"index, train and evaluate run on {device} (PODSEEK_DEVICE={settings.device})")
    for row in rows:
        marker = " (default)" if row["default"] else ""
        typer.echo(f"{row['name']}{marker}: {row['description']}")
        typer.echo(f"    {row['dimension']}-d, {row['languages']}")
        typer.echo(f"    {row['package']}, weights: {row['weights']}")


@app.command("index")
@user_errors
def index_command(
    model: Annotated[
        str | None,
        typer.Option(help="use-multilingual, minilm, e5-small, a trained model or a folder."),
    ] = None,
    batch_size: Annotated[int, typer.Option("--batch", min=1, help="Encoder batch size.")] = 32,
    ray_address: RayOption = None,
    as_json: JsonOption = False,
) -> None:
    """Encode the catalog into the search index; only new or changed episodes are encoded.

    The index goes to PODSEEK_BACKEND (lancedb or milvus); unset, it stays where it is.
    With --ray, a Ray cluster's actors encode (one model each) and this process writes."""
    from podseek.index.episode_index import (
        WindowRecords,
        build_index,
        read_manifest,
        write_lock,
    )
    from podseek.models.device import CPU
    from podseek.models.registry import load_encoder

    settings = get_settings()
    name = model or settings.model
    with catalog_store(settings) as catalog, write_lock(settings.index_dir):
        if catalog.count() == 0:
            raise PodseekError(
                f"the catalog at {settings.catalog_path} is empty; run `podseek ingest` first"
            )
        ray_options = None
        if ray_address is not None:
            from podseek.scale.ray_jobs import RayOptions, preflight

            ray_options = RayOptions.from_settings(ray_address, settings)
            preflight(ray_options.address)  # a bad address stops here, before any work

        def index(
            model_name: str, folder: Path, backend: BackendOptions, segments: bool = False
        ) -> "IndexReport":
            ray = None
            if ray_options is not None:
                from podseek.scale.ray_jobs import RayEncoding

                ray = RayEncoding.for_model(ray_options, model_name, settings.home)
            # with --ray this process only names the model (and exports the query model)
            device = CPU if ray else settings_device(settings)
            encoder = load_encoder(
                model_name, settings.home, settings.query_engine, device, settings.episode_engine
            )
            report = build_index(
                catalog,
                encoder,
                folder,
                settings.text_max_chars,
                AnnSettings.from_settings(settings),
                batch_size=batch_size,
                backend=backend,
                encoding=ray,
                records=WindowRecords(catalog, settings.text_max_chars) if segments else None,
            )
            if hasattr(encoder, "prepare_queries"):
                encoder.prepare_queries()  # the first search must not wait for an export
            return report

        # the ensemble models' and the segment index (the index model's, searched with the
        # same query vector) first: a server reloads when the main one changes
        backend = BackendOptions.from_settings(settings)

        def ensemble(partner: str, folder: Path) -> "IndexReport":
            try:
                return index(partner, folder, backend.for_ensemble(folder))
            except MissingExtra as error:  # a default partner, on an install without its extra
                raise MissingExtra(
                    f"{error} (or leave {partner} out of PODSEEK_ENSEMBLE_MODEL)"
                ) from error

        ensembles = [ensemble(partner, folder) for partner, folder in settings.ensembles_for(name)]
        segments = None
        if settings.segments and (
            catalog.transcript_count() or read_manifest(settings.segments_index_dir)
        ):
            segments = index(
                name, settings.segments_index_dir, backend.for_segments(), segments=True
            )
        report = index(name, settings.index_dir, backend)
    # the first ensemble index keeps the key a one-partner workspace's report has
    named = {"ensemble" if n == 1 else f"ensemble_{n}": e for n, e in enumerate(ensembles, 1)}
    reports = {**named, "segments": segments}
    if as_json:
        print_json({**report.to_dict(), **{k: r.to_dict() for k, r in reports.items() if r}})
        return
    done_in_order = (
        *(("ensemble index", done) for done in ensembles),
        ("segment index", segments),
        ("index", report),
    )
    for which, done in done_in_order:
        if done is None:
            continue
        action = "built" if done.rebuilt else "updated"
        size = f"{done.size_bytes / 1e6:,.1f} MB, " if done.size_bytes else ""
        unit = "segments" if done is segments else "episodes"
        typer.echo(
            f"{which} {action} in {done.backend} with {done.model}: {done.rows:,} {unit} "
            f"({done.encoded:,} encoded at {done.episodes_per_second:,.1f}/s, "
            f"{done.removed:,} removed, {done.unchanged:,} unchanged), "
            f"{done.vector_index} vector search, {size}{done.seconds:,.1f} s on {done.device}"
        )


def filter_date(value: str | None, flag: str) -> datetime | None:
    """``--after`` / ``--before`` as a date, or one line naming the flag (a user's typo must
    not become a traceback)."""
    if value is None:
        return None
    try:
        return parse_filter_date(value)
    except ValueError as error:
        raise PodseekError(f"{flag}: {error}") from None


def _print_results(results: SearchResults | ShowResults) -> None:
    shows = isinstance(results, ShowResults)
    typer.echo(
        f'{results.count} {"shows" if shows else "results"} for "{results.query}" '
        f"({results.mode}, {results.took_ms:.0f} ms)"
    )
    if results.did_you_mean:
        typer.echo(f'did you mean "{results.did_you_mean}"?')
    for rank, hit in enumerate(results.data, start=1):
        if shows:
            _print_show(rank, hit)
            continue
        facts = [
            hit.published_at.date().isoformat() if hit.published_at else None,
            f"{round(hit.duration_s / 60)} min" if hit.duration_s else None,
            hit.language or None,
        ]
        typer.echo(f"{rank:>2}. {hit.episode_title or hit.show_title}  [{hit.score:.4f}]")
        typer.echo(f"    {hit.show_title} ({', '.join(f for f in facts if f)})  {hit.id}")
        typer.echo(f"    {hit.snippet}")
        for moment in hit.moments:
            who = f"{moment.speaker}: " if moment.speaker else ""
            typer.echo(f"    {clock(moment.start):>8}  {who}{shorten(moment.text, 160)}")


def clock(seconds: float) -> str:
    """``mm:ss``, or ``h:mm:ss`` from an hour on: where a moment starts."""
    minutes, secs = divmod(int(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes:02d}:{secs:02d}"


def shorten(text: str, limit: int) -> str:
    """``text`` cut at a word before ``limit`` characters, with an ellipsis."""
    return text if len(text) <= limit else text[:limit].rsplit(" ", 1)[0] + " …"


def _print_show(rank: int, show: Any) -> None:
    facts = [f"{show.episode_count:,} episodes", show.language or None, ", ".join(show.categories)]
    typer.echo(f"{rank:>2}. {show.show_title}  [{show.score:.4f}]")
    typer.echo(f"    {'; '.join(f for f in facts if f)}  {show.id}")
    if show.description:
        typer.echo(f"    {show.description}")
    for episode in show.episodes:
        typer.echo(f"    - {episode.episode_title}  {episode.id}")


def _searcher(model: str | None = None) -> "Searcher":
    """A searcher over the workspace's indexes (``model``, when given, must be the one that
    built the index); a companion index left out is a note on stderr."""
    from podseek.search.workspace import open_searcher

    return open_searcher(get_settings(), model, lambda line: typer.echo(f"note: {line}", err=True))


def _filters(
    lang: str | None,
    show: str | None,
    category: str | None,
    after: str | None,
    before: str | None,
    min_duration: int | None,
    max_duration: int | None,
) -> SearchFilters:
    if min_duration is not None and max_duration is not None and min_duration > max_duration:
        raise PodseekError("--min-duration must not be more than --max-duration")
    return SearchFilters(
        language=lang.lower() if lang else None,
        show_id=show,
        category=category,
        after=filter_date(after, "--after"),
        before=filter_date(before, "--before"),
        min_duration=min_duration,
        max_duration=max_duration,
    )


LangOption = Annotated[str | None, typer.Option(help="Only episodes in this language (ISO).")]
ShowOption = Annotated[str | None, typer.Option(help="Only this show id.")]
CategoryOption = Annotated[str | None, typer.Option(help="Only this category.")]
AfterOption = Annotated[str | None, typer.Option(help="Published on or after (YYYY-MM-DD).")]
BeforeOption = Annotated[str | None, typer.Option(help="Published before (YYYY-MM-DD).")]
MinDurationOption = Annotated[int | None, typer.Option(min=0, help="Seconds, at least.")]
MaxDurationOption = Annotated[int | None, typer.Option(min=0, help="Seconds, at most.")]
KOption = Annotated[int, typer.Option("--k", min=1, max=1000, help="Results per query.")]
SortOption = Annotated[
    Sort, typer.Option(help="relevance, or date (the top results, newest first).")
]


@app.command("search")
@user_errors
def search_command(
    queries: Annotated[
        list[str] | None,
        typer.Argument(help="What to look for; several run in turn; none reads stdin lines."),
    ] = None,
    k: KOption = 10,
    mode: Annotated[SearchMode, typer.Option(help="hybrid, semantic or keyword.")] = (
        SearchMode.HYBRID
    ),
    result_type: Annotated[
        ResultType, typer.Option("--type", help="episode, or show (shows ranked as shows).")
    ] = ResultType.EPISODE,
    sort: SortOption = Sort.RELEVANCE,
    segments: Annotated[
        bool,
        typer.Option(
            help="Search the transcripts' windows too, and print each result's moments "
            "(where there is a segment index)."
        ),
    ] = True,
    model: Annotated[
        str | None, typer.Option(help="Must be the model that built the index (checked).")
    ] = None,
    lang: LangOption = None,
    show: ShowOption = None,
    category: CategoryOption = None,
    after: AfterOption = None,
    before: BeforeOption = None,
    min_duration: MinDurationOption = None,
    max_duration: MaxDurationOption = None,
    as_json: JsonOption = False,
) -> None:
    """Find episodes (or shows) by what they are about, in any language the catalog has.
    A query with words the catalog does not know gets a "did you mean" line."""
    from podseek.search.aids import CatalogAids, SearchRequest, answer

    if result_type is ResultType.SHOW and sort is Sort.DATE:
        raise PodseekError("--sort date orders episodes; shows are ranked by relevance")
    filters = _filters(lang, show, category, after, before, min_duration, max_duration)
    searcher = _searcher(model)
    settings = get_settings()
    aids = CatalogAids(settings.catalog_path)
    interactive = not queries and sys.stdin.isatty()
    lines = queries or _stdin_queries(interactive)
    answers = []
    for query in lines:
        if not query.strip():
            continue
        request = SearchRequest(query.strip(), k, mode, filters, sort, result_type, segments)
        results = answer(searcher, aids, request)
        if as_json:
            answers.append(results.model_dump(mode="json"))
        else:
            _print_results(results)
    if as_json:
        print_json({"results": answers})


@app.command("similar")
@user_errors
def similar_command(
    episode_id: Annotated[str, typer.Argument(help="An episode id, as search prints it.")],
    k: KOption = 10,
    same_show: Annotated[
        SameShow,
        typer.Option(help="any; exclude (other shows only); only (its own show's episodes)."),
    ] = SameShow.ANY,
    sort: SortOption = Sort.RELEVANCE,
    lang: LangOption = None,
    category: CategoryOption = None,
    after: AfterOption = None,
    before: BeforeOption = None,
    min_duration: MinDurationOption = None,
    max_duration: MaxDurationOption = None,
    as_json: JsonOption = False,
) -> None:
    """More like this: the episodes nearest to one, by its vector in the index."""
    filters = _filters(lang, None, category, after, before, min_duration, max_duration)
    results = _searcher().similar(episode_id, k, filters, same_show, sort)
    if as_json:
        print_json(results.model_dump(mode="json"))
    else:
        _print_results(results)


@app.command("suggest")
@user_errors
def suggest_command(
    prefix: Annotated[str, typer.Argument(help="The start of a title or a search.")],
    limit: Annotated[int, typer.Option(min=1, max=100, help="Suggestions wanted.")] = 8,
    as_json: JsonOption = False,
) -> None:
    """What the search box suggests as you type: show titles, episode titles and popular
    past searches (from PODSEEK_SEARCH_LOG) that start with PREFIX or have a word that does."""
    from podseek.search.aids import CatalogAids

    if not prefix.strip():
        raise PodseekError("give the start of a title or a search to complete")
    settings = get_settings()
    if not settings.catalog_path.is_file():
        raise PodseekError(f"no catalog at {settings.catalog_path}; run `podseek ingest` first")
    found = CatalogAids(settings.catalog_path, settings.search_log).suggester.suggest(prefix, limit)
    if as_json:
        print_json({"query": prefix, "suggestions": [s.model_dump() for s in found]})
        return
    for suggestion in found:
        typer.echo(
            f"{suggestion.text}  ({suggestion.kind}{', ' + suggestion.id if suggestion.id else ''})"
        )


def _stdin_queries(interactive: bool) -> Iterator[str]:
    """Queries typed at a prompt (interactive) or piped in, one per line."""
    while True:
        if interactive:
            try:
                line = input("search> ")
            except EOFError:
                return
        else:
            line = sys.stdin.readline()
            if not line:
                return
        yield line
