"""``podseek models``, ``podseek index`` and ``podseek search``: the search stage's commands."""

import sys
from collections.abc import Iterator
from datetime import datetime
from typing import Annotated

import typer

from podseek.catalog.cleaning import parse_filter_date
from podseek.cli.common import JsonOption, RayOption, app, catalog_store, print_json, user_errors
from podseek.config import get_settings
from podseek.errors import PodseekError
from podseek.index.backends import BackendOptions
from podseek.index.base import AnnSettings, SearchFilters
from podseek.models.device import settings_device
from podseek.search.engine import SearchMode, SearchResults

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
    from podseek.index.episode_index import build_index, write_lock
    from podseek.models.device import CPU
    from podseek.models.registry import load_encoder

    settings = get_settings()
    name = model or settings.model
    with catalog_store(settings) as catalog, write_lock(settings.index_dir):
        if catalog.count() == 0:
            raise PodseekError(
                f"the catalog at {settings.catalog_path} is empty; run `podseek ingest` first"
            )
        ray = None
        if ray_address is not None:
            from podseek.scale.ray_jobs import RayEncoding, RayOptions, preflight

            options = RayOptions.from_settings(ray_address, settings)
            preflight(options.address)  # a bad address stops here, before any work
            ray = RayEncoding.for_model(options, name, settings.home)
        # with --ray this process only names the model (and exports the query model)
        device = CPU if ray else settings_device(settings)
        encoder = load_encoder(name, settings.home, settings.query_engine, device)
        report = build_index(
            catalog,
            encoder,
            settings.index_dir,
            settings.text_max_chars,
            AnnSettings.from_settings(settings),
            batch_size=batch_size,
            backend=BackendOptions.from_settings(settings),
            encoding=ray,
        )
        if hasattr(encoder, "prepare_queries"):
            encoder.prepare_queries()  # the first search must not wait for an export
    if as_json:
        print_json(report.to_dict())
        return
    action = "built" if report.rebuilt else "updated"
    size = f"{report.size_bytes / 1e6:,.1f} MB, " if report.size_bytes else ""
    typer.echo(
        f"index {action} in {report.backend} with {report.model}: {report.rows:,} episodes "
        f"({report.encoded:,} encoded at {report.episodes_per_second:,.1f}/s, "
        f"{report.removed:,} removed, {report.unchanged:,} unchanged), "
        f"{report.vector_index} vector search, {size}{report.seconds:,.1f} s on {report.device}"
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


def _print_results(results: SearchResults) -> None:
    typer.echo(
        f'{results.count} results for "{results.query}" ({results.mode}, {results.took_ms:.0f} ms)'
    )
    for rank, hit in enumerate(results.data, start=1):
        facts = [
            hit.published_at.date().isoformat() if hit.published_at else None,
            f"{round(hit.duration_s / 60)} min" if hit.duration_s else None,
            hit.language or None,
        ]
        typer.echo(f"{rank:>2}. {hit.episode_title or hit.show_title}  [{hit.score:.4f}]")
        typer.echo(f"    {hit.show_title} ({', '.join(f for f in facts if f)})  {hit.id}")
        typer.echo(f"    {hit.snippet}")


@app.command("search")
@user_errors
def search_command(
    queries: Annotated[
        list[str] | None,
        typer.Argument(help="What to look for; several run in turn; none reads stdin lines."),
    ] = None,
    k: Annotated[int, typer.Option("--k", min=1, max=1000, help="Results per query.")] = 10,
    mode: Annotated[SearchMode, typer.Option(help="hybrid, semantic or keyword.")] = (
        SearchMode.HYBRID
    ),
    model: Annotated[
        str | None, typer.Option(help="Must be the model that built the index (checked).")
    ] = None,
    lang: Annotated[str | None, typer.Option(help="Only episodes in this language (ISO).")] = None,
    show: Annotated[str | None, typer.Option(help="Only this show id.")] = None,
    category: Annotated[str | None, typer.Option(help="Only this category.")] = None,
    after: Annotated[str | None, typer.Option(help="Published on or after (YYYY-MM-DD).")] = None,
    before: Annotated[str | None, typer.Option(help="Published before (YYYY-MM-DD).")] = None,
    min_duration: Annotated[int | None, typer.Option(min=0, help="Seconds, at least.")] = None,
    max_duration: Annotated[int | None, typer.Option(min=0, help="Seconds, at most.")] = None,
    as_json: JsonOption = False,
) -> None:
    """Find episodes by what they are about, in any language the catalog has."""
    from podseek.index.episode_index import EpisodeIndex
    from podseek.models.registry import load_encoder
    from podseek.search.engine import Searcher

    settings = get_settings()
    filters = SearchFilters(
        language=lang,
        show_id=show,
        category=category,
        after=filter_date(after, "--after"),
        before=filter_date(before, "--before"),
        min_duration=min_duration,
        max_duration=max_duration,
    )
    index = EpisodeIndex.open(settings)
    built_with = index.manifest.model.name
    if model is not None and model != built_with:
        raise PodseekError(
            f"the index was built with model {built_with!r}; search it with that model, "
            f"or rebuild it with `podseek index --model {model}`"
        )
    searcher = Searcher(
        index,
        load_encoder(
            built_with,
            settings.home,
            settings.query_engine,
            settings_device(settings, for_search=True),
        ),
        settings.hybrid_depth,
        settings.hybrid_fusion,
    )
    interactive = not queries and sys.stdin.isatty()
    lines = queries or _stdin_queries(interactive)
    answers = []
    for query in lines:
        if not query.strip():
            continue
        results = searcher.search(query.strip(), k, mode, filters)
        if as_json:
            answers.append(results.model_dump(mode="json"))
        else:
            _print_results(results)
    if as_json:
        print_json({"results": answers})


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
