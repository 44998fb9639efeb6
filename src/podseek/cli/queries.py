"""``podseek queries`` and ``podseek pairs``: the synthetic-query stage's commands."""

import random
from pathlib import Path
from typing import Annotated, Any

import typer

from podseek.cli.common import JsonOption, RayOption, app, catalog_store, print_json, user_errors
from podseek.config import Settings, get_settings
from podseek.errors import PodseekError

queries_app = typer.Typer(
    help="Write the queries a listener would type for each episode.", no_args_is_help=True
)
pairs_app = typer.Typer(
    help="Query-episode pairs for training and evaluation.", no_args_is_help=True
)
app.add_typer(queries_app, name="queries")
app.add_typer(pairs_app, name="pairs")


def _query_store(settings: Settings) -> Any:
    from podseek.queries.store import QueryStore

    return QueryStore(settings.queries_path)


def _round_trip(settings: Settings, k: int, with_encoder: bool) -> tuple[Any, Any, str]:
    """The round-trip checks over the workspace's index (episodes) and its segment index
    (windows), or a clear error before any work; the windows' check is ``None``, with the
    reason, when there is no segment index to search."""
    from podseek.errors import Unavailable
    from podseek.index.episode_index import EpisodeIndex, open_segment_index
    from podseek.models.device import settings_device
    from podseek.models.registry import load_encoder
    from podseek.queries.round_trip import round_trip_check, window_round_trip_check

    if not (settings.index_dir / "manifest.json").is_file():
        raise PodseekError(
            f"the round-trip filter searches the index, and there is none at "
            f"{settings.index_dir}: run `podseek index` first, or pass --round-trip-k 0"
        )
    index = EpisodeIndex.open(settings)
    encoder = None
    if with_encoder:
        encoder = load_encoder(
            index.manifest.model.name,
            settings.home,
            settings.query_engine,
            settings_device(settings),
        )
    windows, why = None, ""
    try:
        segments = open_segment_index(settings, index.manifest)
    except Unavailable as error:
        segments, why = None, str(error)
    if segments is not None:
        windows = window_round_trip_check(segments, encoder, k)
    elif not why:
        why = f"no segment index at {settings.segments_index_dir} (`podseek index` builds it)"
    return round_trip_check(index, encoder, k), windows, why


@queries_app.command("generate")
@user_errors
def generate_command(
    generator: Annotated[
        str,
        typer.Option(
            help="gemma-270m, gguf:PATH (another local GGUF model), seq2seq:PATH (a local "
            "doc2query folder) or title."
        ),
    ] = "gemma-270m",
    per_episode: Annotated[int, typer.Option(min=1, max=20, help="Queries per episode.")] = 3,
    segments_per_episode: Annotated[
        int | None,
        typer.Option(
            min=0,
            max=20,
            help="Transcript windows per transcribed episode that get queries too (as many "
            "as an episode); 0: none. Default: the segments_per_episode setting (2).",
        ),
    ] = None,
    limit: Annotated[
        int | None, typer.Option(min=1, help="Only this many episodes (a seeded sample).")
    ] = None,
    batch_size: Annotated[
        int,
        typer.Option(
            "--batch", min=1, max=512, help="Episodes and windows per batch (a checkpoint)."
        ),
    ] = 16,
    seed: Annotated[int, typer.Option(help="Seed of the sample and the sampling.")] = 0,
    engine: Annotated[
        str | None, typer.Option(help="gemma-270m and gguf: llama-cpp or transformers.")
    ] = None,
    round_trip_k: Annotated[
        int,
        typer.Option(
            min=0, help="Keep a query only if its episode ranks in the top K; 0 turns it off."
        ),
    ] = 20,
    round_trip_bm25_only: Annotated[
        bool, typer.Option("--bm25-only", help="Round-trip with BM25 alone, not the encoder.")
    ] = False,
    restart: Annotated[
        bool, typer.Option(help="Replace queries from a run with other settings.")
    ] = False,
    ray_address: RayOption = None,
    as_json: JsonOption = False,
) -> None:
    """Generate queries for the catalog (resumable: a rerun continues), then filter them.

    Transcribed episodes also get queries for a few of their windows (what is said there).
    With --ray, a Ray cluster's actors generate (one model each) and this process writes."""
    from podseek.models.device import settings_device
    from podseek.queries.filters import FilterSettings, QueryFilter
    from podseek.queries.generate import filter_queries, generate_queries
    from podseek.queries.generators import load_generator
    from podseek.queries.store import SYNTHETIC

    settings = get_settings()
    if segments_per_episode is None:
        segments_per_episode = settings.segments_per_episode
    options: dict[str, Any] = {}
    device = settings_device(settings)
    if generator == "gemma-270m" or generator.startswith("gguf:"):
        # --batch is the checkpoint; the engine keeps its own forward batch (small on the CPU:
        # in a batch the longest sample holds up the others; docs/results.md)
        options = {"models_dir": settings.home / "models", "device": device}
        if engine:
            options["engine"] = engine
    elif engine:
        raise PodseekError("--engine applies to the gemma-270m and gguf: generators only")
    if generator.startswith("seq2seq:"):
        options["device"] = device
    with catalog_store(settings) as catalog, _query_store(settings) as store:
        if catalog.count() == 0:
            raise PodseekError(
                f"the catalog at {settings.catalog_path} is empty; run `podseek ingest` first"
            )
        check = window_check = None
        unchecked = ""
        if round_trip_k:
            check, window_check, unchecked = _round_trip(
                settings, round_trip_k, not round_trip_bm25_only
            )
        if ray_address is None:
            chosen = load_generator(generator, **options)
        else:  # the actors load the model, on their own devices
            from podseek.scale.ray_jobs import RayGenerator, RayOptions, preflight

            ray_options = RayOptions.from_settings(ray_address, settings)
            preflight(ray_options.address)  # a bad address stops here, before any work
            options.pop("device", None)
            options.pop("models_dir", None)
            chosen = RayGenerator(generator, settings.home, ray_options, **options)
        run = generate_queries(
            catalog,
            store,
            chosen,
            per_episode,
            seed,
            limit,
            batch_size,
            restart,
            segments_per_episode=segments_per_episode,
        )
        if run.interrupted:  # stop now: filtering can wait for the finished run
            done = run.already_done + run.generated
            windows_done = run.windows_already_done + run.windows_generated
            typer.echo(
                f"interrupted after {done:,} of {run.eligible:,} episodes"
                + (f" and {windows_done:,} of {run.windows:,} windows" if run.windows else "")
                + "; finished batches are saved: run the same command again to continue",
                err=True,
            )
            raise typer.Exit(130)
        filter_settings = FilterSettings(
            round_trip_k=round_trip_k, title_filter=chosen.name != "title"
        )
        report = filter_queries(
            catalog,
            store,
            QueryFilter.for_prompts(filter_settings),
            check,
            window_round_trip=window_check,
        )
        pairs = store.pair_counts().get(SYNTHETIC, 0)
    summary = {"generation": run.to_dict(), "filters": report.to_dict(), "pairs": pairs}
    if as_json:
        print_json(summary)
    else:
        done = run.already_done + run.generated
        rate = run.texts_per_second if run.windows_generated else run.episodes_per_second
        typer.echo(
            f"{run.generator}: {run.generated:,} episodes generated for in {run.seconds:,.0f} s "
            f"({rate:,.2f}/s on {run.device}), {run.already_done:,} already "
            "done; "
            f"{done:,} of {run.eligible:,} episodes have queries"
        )
        if run.windows:
            windows_done = run.windows_already_done + run.windows_generated
            typer.echo(
                f"windows: {run.windows_generated:,} generated for, "
                f"{run.windows_already_done:,} already done; {windows_done:,} of "
                f"{run.windows:,} windows ({run.segments_per_episode} a transcribed episode, "
                f"{run.transcribed:,} episodes) have queries"
            )
        if run.skipped:
            typer.echo("skipped: " + ", ".join(f"{n:,} {why}" for why, n in run.skipped.items()))
        _echo_filters(report.to_dict())
        if report.round_trip_unchecked:
            typer.echo(
                f"  {report.round_trip_unchecked:,} window queries kept without the round "
                f"trip: {unchecked}"
            )
        typer.echo(f"{pairs:,} synthetic pairs kept in {settings.queries_path}")


def _echo_filters(report: dict[str, Any]) -> None:
    windows = report.get("windows")
    of_windows = (
        f" ({windows['generated']:,} and {windows['kept']:,} of them windows')" if windows else ""
    )
    typer.echo(
        f"filters: {report['generated']:,} queries generated, {report['kept']:,} kept{of_windows}"
    )
    for reason, removed in report["removed"].items():
        typer.echo(f"  {reason:<12} removed {removed['queries']:>7,} ({removed['share']:.1%})")


@queries_app.command("show")
@user_errors
def show_command(
    n: Annotated[int, typer.Option("--n", min=1, help="How many episodes to show.")] = 20,
    seed: Annotated[int, typer.Option(help="Which sample of episodes.")] = 0,
    lang: Annotated[str | None, typer.Option(help="Only episodes in this language.")] = None,
    as_json: JsonOption = False,
) -> None:
    """A sample of episodes (and transcript windows) with their generated queries, and which
    ones the filters kept."""
    from podseek.queries.segments import find_windows
    from podseek.queries.store import SYNTHETIC

    settings = get_settings()
    with catalog_store(settings) as catalog, _query_store(settings) as store:
        generated = store.generated()
        if not generated:
            raise PodseekError("no queries yet; run `podseek queries generate` first")
        kept = {(p["episode_id"], p["query"]) for p in store.iter_pairs([SYNTHETIC])}
        episodes = catalog.get_many(sorted(generated))
        windows = find_windows(catalog, [i for i in generated if i not in episodes])
        records = {**episodes, **{i: w.episode for i, w in windows.items()}}
        ids = [i for i in sorted(records) if not lang or records[i].language == lang]
        sample = random.Random(seed).sample(ids, min(n, len(ids)))
        rows = [
            {
                "id": i,
                "show_title": records[i].show_title,
                "episode_title": records[i].episode_title,
                "language": records[i].language,
                **({"start": windows[i].window.start} if i in windows else {}),
                "queries": [{"query": q, "kept": (i, q.strip()) in kept} for q in generated[i]],
            }
            for i in sample
        ]
        summary = {"run": store.get_meta("run"), "filters": store.get_meta("filter_report")}
    if as_json:
        print_json({**summary, "episodes": rows})
        return
    for row in rows:
        at = f" at {_clock(row['start'])}" if "start" in row else ""
        typer.echo(f"{row['episode_title'] or row['show_title']}{at}  [{row['language'] or '?'}]")
        typer.echo(f"    {row['show_title']}  {row['id']}")
        for query in row["queries"]:
            typer.echo(f"    {'+' if query['kept'] else '-'} {query['query']}")
    typer.echo("(+ kept, - removed by a filter)")


def _clock(seconds: float) -> str:
    minutes, secs = divmod(int(seconds), 60)
    return f"{minutes}:{secs:02d}"


@queries_app.command("import-logs")
@user_errors
def import_logs_command(
    path: Annotated[Path, typer.Argument(help="A JSON Lines search log (docs/queries.md).")],
    window: Annotated[
        float,
        typer.Option(help="Minutes within which a failed search counts as reformulated."),
    ] = 5.0,
    as_json: JsonOption = False,
) -> None:
    """Add (query, episode) pairs from search sessions: clicks and reformulated searches."""
    from podseek.queries.logs import import_search_logs

    settings = get_settings()
    with catalog_store(settings) as catalog, _query_store(settings) as store:
        report = import_search_logs(path, catalog, store, window)
    data = report.to_dict()
    if as_json:
        print_json(data)
        return
    typer.echo(
        f"{data['searches']:,} searches in {data['sessions']:,} sessions: "
        f"{data['click_pairs']:,} click pairs, {data['reformulation_pairs']:,} reformulation "
        f"pairs ({data['added']:,} new); {data['failed_without_success']:,} failed searches "
        "had no success after them"
    )
    if data["skipped"]:
        typer.echo("skipped: " + ", ".join(f"{n:,} {why}" for why, n in data["skipped"].items()))


@pairs_app.command("split")
@user_errors
def split_command(
    eval_share: Annotated[
        float, typer.Option("--eval", min=0.0, max=0.99, help="Share of episodes for eval.")
    ] = 0.01,
    test_share: Annotated[
        float, typer.Option("--test", min=0.0, max=0.99, help="Share of episodes for test.")
    ] = 0.19,
    seed: Annotated[int, typer.Option(help="Seed of the split.")] = 0,
    as_json: JsonOption = False,
) -> None:
    """Split the pairs by episode into train / eval / test, in BEIR form."""
    from podseek.queries.split import SplitShares, split_pairs

    settings = get_settings()
    shares = SplitShares(eval_share, test_share)
    with catalog_store(settings) as catalog, _query_store(settings) as store:
        manifest = split_pairs(
            catalog, store, settings.pairs_dir, shares, seed, settings.text_max_chars
        )
    if as_json:
        print_json(manifest)
        return
    for name, counts in manifest["splits"].items():
        label = "eval" if name == "dev" else name
        windows = (
            f" ({counts['window_queries']:,} of {counts['windows']:,} windows)"
            if counts.get("windows")
            else ""
        )
        typer.echo(
            f"{label:<5} {counts['episodes']:>7,} episodes {counts['queries']:>8,} queries  "
            f"qrels/{name}.tsv{windows}"
        )
    if manifest.get("test_without_round_trip"):
        typer.echo(
            f"test: {manifest['test_without_round_trip']:,} of its queries failed the round "
            "trip and are kept, so the test can show a gain over the base model"
        )
    in_corpus = f"{manifest['corpus']:,} episodes"
    if manifest.get("corpus_windows"):
        in_corpus += f" and {manifest['corpus_windows']:,} windows of train episodes"
    typer.echo(f"written to {settings.pairs_dir} (corpus: {in_corpus})")
