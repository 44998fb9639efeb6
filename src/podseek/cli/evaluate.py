"""``podseek evaluate``: base vs fine-tuned x semantic / keyword / hybrid, in a report."""

import json
from pathlib import Path
from typing import Annotated

import typer

from podseek.cli.common import JsonOption, app, print_json, user_errors
from podseek.config import get_settings
from podseek.errors import PodseekError


def _names(value: str | None, flag: str) -> list[str] | None:
    if value is None:
        return None
    names = [n.strip() for n in value.split(",") if n.strip()]
    if not names:
        raise PodseekError(f"{flag}: give at least one name")
    return names


@app.command("evaluate")
@user_errors
def evaluate_command(
    models: Annotated[
        str | None,
        typer.Option(
            help="Comma-separated: base, built-ins, trained names (default: base and "
            "every model trained in the workspace)."
        ),
    ] = None,
    modes: Annotated[
        str, typer.Option(help="Comma-separated search modes: semantic, keyword, hybrid.")
    ] = "semantic,keyword,hybrid",
    qrels: Annotated[
        list[Path] | None,
        typer.Option(
            "--qrels",
            help="A folder of judged queries (BEIR: queries.jsonl + qrels/test|dev.tsv; TREC: "
            "a qrels file + topics), or one BEIR split's file (FOLDER/qrels/dev.tsv); repeat "
            "for more.",
        ),
    ] = None,
    run: Annotated[
        str | None, typer.Option(help="Report folder name (default: the date and time).")
    ] = None,
    sample: Annotated[
        int, typer.Option(min=0, max=5000, help="Pairs in the PCA picture (0: no picture).")
    ] = 200,
    seed: Annotated[int, typer.Option(help="Seed of the in-batch order and the sample.")] = 0,
    as_json: JsonOption = False,
) -> None:
    """Measure the models on the held-out split and on judged queries; write a report."""
    from podseek.evaluation.evaluate import EvaluateSettings, EvaluationRun, evaluate_models
    from podseek.evaluation.report import default_run_name, report_folder, write_report
    from podseek.models.device import settings_device
    from podseek.search.engine import SearchMode
    from podseek.search.fusion import Fusion

    settings = get_settings()
    chosen_modes = []
    for mode in _names(modes, "--modes") or []:
        try:
            chosen_modes.append(SearchMode(mode))
        except ValueError:
            raise PodseekError(
                f"--modes: unknown mode {mode!r}; use semantic, keyword or hybrid"
            ) from None
    name = run or default_run_name()
    report_folder(settings.reports_dir, name)
    report = evaluate_models(
        EvaluationRun(
            home=settings.home,
            catalog_path=settings.catalog_path,
            pairs_dir=settings.pairs_dir,
            index_dir=settings.index_dir,
            default_model=settings.model,
            qrels_folders=list(qrels or []),
            model_names=_names(models, "--models"),
            settings=settings,
            device=settings_device(settings),
        ),
        EvaluateSettings(
            modes=tuple(dict.fromkeys(chosen_modes)),
            sample=sample,
            seed=seed,
            fusion=Fusion(settings.hybrid_fusion),
            hybrid_depth=settings.hybrid_depth,
            text_max_chars=settings.text_max_chars,
        ),
        log=lambda line: typer.echo(line, err=True),
    )
    folder = write_report(report, settings.reports_dir, name)
    if as_json:
        print_json(json.loads((folder / "report.json").read_text()))
        return
    text = (folder / "report.md").read_text(encoding="utf-8")
    results = text[
        text.index("## Results") : text.index("## Pictures") if "## Pictures" in text else None
    ]
    typer.echo(results.rstrip())
    typer.echo(f"\nreport: {folder / 'report.md'}")
