"""``podseek pipeline``: from a catalog to a tuned search service in one command."""

from pathlib import Path
from typing import Annotated

import typer

from podseek.cli.common import app, user_errors
from podseek.config import get_settings
from podseek.errors import PodseekError


@app.command("pipeline")
@user_errors
def pipeline_command(
    source: Annotated[str, typer.Argument(help="listennotes, rss, opml or table.")],
    location: Annotated[str, typer.Argument(help="The dataset folder, feed, OPML or table.")],
    mapping: Annotated[
        str | None, typer.Option(help="table only: a mapping TOML file or a shipped mapping.")
    ] = None,
    limit: Annotated[
        int | None,
        typer.Option(min=1, help="Episodes that get synthetic queries (all are indexed)."),
    ] = None,
    quick: Annotated[
        bool,
        typer.Option(
            "--quick",
            help="Small settings for a first run: queries for a sample of episodes, no "
            "round-trip filter (how long it takes: docs/results.md).",
        ),
    ] = False,
    generator: Annotated[
        str, typer.Option(help="Query generator: gemma-270m, gguf:PATH, seq2seq:PATH or title.")
    ] = "gemma-270m",
    base: Annotated[
        str | None, typer.Option(help="Encoder to fine-tune (default: the model setting).")
    ] = None,
    qrels: Annotated[
        list[Path] | None,
        typer.Option(
            help="Judged queries to evaluate on (a BEIR or TREC folder, or FOLDER/qrels/dev.tsv "
            "for one split); repeatable."
        ),
    ] = None,
    seed: Annotated[int, typer.Option(help="Seed of the sample, the split and training.")] = 0,
    force: Annotated[
        str | None, typer.Option(help="Redo this stage and every one after it.")
    ] = None,
    ray_address: Annotated[
        str | None,
        typer.Option(
            "--ray",
            metavar="ADDRESS",
            help="Index and generate on a Ray cluster (passed to those stages): local, auto, "
            "HOST:PORT or ray://HOST:PORT; needs pip install 'podseek[ray]'.",
        ),
    ] = None,
    serve: Annotated[
        bool, typer.Option("--serve", help="Serve the tuned index when the run ends.")
    ] = False,
    host: Annotated[str, typer.Option(help="--serve: address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(min=1, max=65535, help="--serve: port.")] = 8000,
) -> None:
    """Ingest -> generate queries -> split -> train -> index with the tuned model -> evaluate
    (-> serve). Finished stages are skipped; an interrupted run resumes."""
    from podseek.pipeline import Interrupted, PipelineOptions, plan, quick_summary, run, summary

    settings = get_settings()
    options = PipelineOptions(
        source=source,
        location=location,
        mapping=mapping,
        limit=limit,
        quick=quick,
        generator=generator,
        base=base,
        qrels=tuple(qrels or ()),
        seed=seed,
        ray=ray_address,
    )
    if ray_address is not None:  # a missing Ray or a bad address stops here, not in a stage
        from podseek.scale.ray_jobs import preflight

        preflight(ray_address)
    stages = plan(options, settings)
    names = [stage.name for stage in stages]
    if force is not None and force not in names:
        raise PodseekError(f"--force {force!r}: not a stage of this run; use {', '.join(names)}")
    typer.echo(f"podseek pipeline: {len(stages)} stages in {settings.home}")
    if quick:
        typer.echo(quick_summary())
    try:
        results = run(stages, settings, force, echo=typer.echo)
    except Interrupted as stop:
        typer.echo(
            f"interrupted during the {stop.stage} stage: run the same command again to resume "
            "(finished stages are kept)",
            err=True,
        )
        raise typer.Exit(130) from None
    for line in summary(results, settings):
        typer.echo(line)
    if serve:
        from podseek.cli.serve import serve_command

        serve_command(host=host, port=port, workers=1)
