"""``podseek transcribe``: speech recognition for the episodes that have no transcript."""

from typing import Annotated

import typer

from podseek.catalog.transcribe import TranscribeSummary
from podseek.cli.common import JsonOption, RayOption, app, catalog_store, print_json, user_errors
from podseek.config import get_settings


def _report(summary: TranscribeSummary) -> None:
    skipped = sum(summary.skipped.values())
    speed = ""
    if summary.audio_seconds:  # (no audio decoded: no speed to give)
        speed = (
            f"; {summary.audio_seconds:,.1f} s of audio in {summary.processing_seconds:,.1f} s: "
            f"{summary.real_time_factor:,.1f}x real time"
        )
    typer.echo(
        f"transcribed {summary.transcribed:,} of {summary.episodes:,} episodes "
        f"({summary.segments:,} segments), skipped {skipped:,}{speed} (whisper "
        f"{summary.model}, {summary.device}; {summary.seconds:,.1f} s in all)"
    )
    if summary.languages:
        languages = ", ".join(f"{code} {n:,}" for code, n in summary.languages.most_common())
        typer.echo(f"  languages: {languages} ({summary.detected:,} detected)")
    for reason, n in summary.skipped.most_common():
        typer.echo(f"  skipped {n:,}: {reason} (e.g. {summary.examples[reason]})")


@app.command("transcribe")
@user_errors
def transcribe_command(
    limit: Annotated[
        int | None,
        typer.Option("--limit", min=1, help="Transcribe at most N episodes (newest first)."),
    ] = None,
    model: Annotated[
        str,
        typer.Option(
            "--model",
            help="'base' (Whisper base, packaged; assembled into <workspace>/models/"
            "whisper-base on first use) or a folder holding a CTranslate2 Whisper model.",
        ),
    ] = "base",
    show: Annotated[
        str | None, typer.Option("--show", help="Only the episodes of this show id.")
    ] = None,
    ray_address: RayOption = None,
    as_json: JsonOption = False,
) -> None:
    """Transcribe the audio of the episodes that have no transcript (faster-whisper).

    Each transcript is stored as soon as its episode is done: interrupt it at any time and
    run it again to go on. The episode's language comes from the catalog, else Whisper
    detects it; the device setting (PODSEEK_DEVICE) picks a GPU when it says so. Audio that
    cannot be fetched or decoded, or holds no speech, is a counted skip with its reason.
    With --ray, a Ray cluster's actors transcribe (one model each) and this process writes."""
    from podseek.catalog.transcribe import (
        Transcriber,
        episodes_to_transcribe,
        require_transcribe,
        transcribe_catalog,
        whisper_device,
        whisper_model_folder,
    )

    require_transcribe()
    settings = get_settings()
    ray_options = None
    if ray_address is None:
        device = whisper_device(settings.device, settings.half_precision)
        where = device.describe()
    else:  # the actors resolve the device setting, each on its node
        from podseek.scale.ray_jobs import RayOptions, RayRun, RayTranscriber, preflight

        ray_options = RayOptions.from_settings(ray_address, settings)
        preflight(ray_options.address)  # a bad address stops here, before any work
        where = RayRun().describe()
    with catalog_store(settings) as store:
        if episodes_to_transcribe(store, 1, show):
            # assembled here, before any actor starts: the actors read it, never fetch it
            folder = whisper_model_folder(model, settings.home / "models")
            if ray_options is None:
                transcriber = Transcriber(folder, device, name=model)
            else:
                transcriber = RayTranscriber(folder, ray_options, settings.home, name=model)
            summary = transcribe_catalog(store, transcriber, limit, show, settings.fetch_timeout)
        else:  # nothing to do: no model to assemble or load
            summary = TranscribeSummary(model, where)
    if as_json:
        print_json(summary.to_dict())
    else:
        _report(summary)
