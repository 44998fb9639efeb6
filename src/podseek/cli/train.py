"""``podseek train``: fine-tune an encoder on the catalog's query-episode pairs."""

from typing import TYPE_CHECKING, Annotated

import typer

from podseek.cli.common import JsonOption, app, print_json, user_errors
from podseek.config import get_settings

if TYPE_CHECKING:
    from podseek.training.train import TrainReport


@app.command("train")
@user_errors
def train_command(
    base: Annotated[
        str, typer.Option(help="use-multilingual, minilm, e5-small, a trained model or a folder.")
    ] = "e5-small",
    name: Annotated[
        str | None, typer.Option(help="Name of the trained model (default: <base>-tuned).")
    ] = None,
    batch_size: Annotated[
        int,
        typer.Option(
            "--batch",
            min=2,
            max=1024,
            help="Pairs per batch: every other episode of a batch is a negative, so larger "
            "batches give harder training; above 256 the batch is computed in mini-batches. "
            "Under torchrun, each process's batch: the negatives come from all of them.",
        ),
    ] = 64,
    epochs: Annotated[float, typer.Option(min=0.01, help="Passes over the pairs.")] = 1.0,
    warmup: Annotated[float, typer.Option(min=0.0, max=0.9, help="Warm-up share.")] = 0.1,
    lr: Annotated[float, typer.Option(min=1e-8, max=1.0, help="Learning rate.")] = 2e-5,
    hard_negatives: Annotated[
        int, typer.Option(min=0, max=10, help="Mined hard negatives per pair (0: none).")
    ] = 0,
    max_pairs: Annotated[
        int | None, typer.Option(min=2, help="Train on at most this many pairs.")
    ] = None,
    max_seq_length: Annotated[
        int,
        typer.Option(
            min=16,
            max=8192,
            help="Tokens per text while training (memory grows with its square); the saved "
            "model keeps the base's own limit.",
        ),
    ] = 256,
    mini_batch: Annotated[
        int | None,
        typer.Option(
            min=1,
            help="Texts per forward pass (the same loss with less memory: "
            "CachedMultipleNegativesRankingLoss); default: the whole batch at once up to "
            "256, mini-batches of 256 above.",
        ),
    ] = None,
    checkpoint_minutes: Annotated[
        float,
        typer.Option(
            min=0.0,
            help="Write a checkpoint (what a rerun resumes from) at least this often, in "
            "minutes of training; 0: every 200 steps only.",
        ),
    ] = 10.0,
    seed: Annotated[int, typer.Option(help="Seed of the order and the initialisation.")] = 0,
    partner: Annotated[
        bool,
        typer.Option(
            help="Also tune the ensemble models (PODSEEK_ENSEMBLE_MODEL) that read every "
            "language on the same pairs, each as <name>-<ensemble model>: searches with the "
            "tuned model fuse those instead of the untuned ones. English-only ones (minilm, "
            "mpnet) are fused as packaged.",
        ),
    ] = True,
    as_json: JsonOption = False,
) -> None:
    """Fine-tune an encoder on the train split; a rerun after an interruption resumes.

    Progress (step, loss, pairs/s, ETA) goes to stderr about every 5% of the steps. Under
    `torchrun --nproc_per_node N` it trains on N devices (DDP): --batch is each device's, the
    negatives come from all N batches (docs/distributed-training.md)."""
    from podseek.models.device import settings_device
    from podseek.training.train import (
        TrainSettings,
        distributed_rank,
        end_distributed,
        partners_to_tune,
        train_model,
    )

    settings = get_settings()
    device = settings_device(settings)
    chosen = name or f"{base.rstrip('/').split('/')[-1]}-tuned"
    options = TrainSettings(
        batch_size=batch_size,
        epochs=epochs,
        warmup=warmup,
        learning_rate=lr,
        hard_negatives=hard_negatives,
        seed=seed,
        max_pairs=max_pairs,
        max_seq_length=max_seq_length,
        mini_batch=mini_batch,
        save_minutes=checkpoint_minutes or None,
    )
    report = train_model(base, settings.pairs_dir, settings.home, chosen, options, device=device)
    partners = [
        train_model(e, settings.pairs_dir, settings.home, tuned, options, device=device)
        for e, tuned in partners_to_tune(settings, chosen, base).items()
        if partner
    ]
    end_distributed()
    if distributed_rank() not in (None, 0):
        return  # rank 0 says it, once
    if as_json:
        # "partner": the first, as a one-partner workspace's report has it
        tuned_beside = [trained.to_dict() for trained in partners]
        print_json(
            report.to_dict() | {"partner": (tuned_beside or [None])[0], "partners": tuned_beside}
        )
        return
    for trained in (report, *partners):
        typer.echo(_trained_line(trained))
    typer.echo(f"saved to {report.folder}; use it with `podseek index --model {report.name}`")
    for trained in partners:
        typer.echo(f"its searches fuse {trained.name}, saved to {trained.folder}")


def _trained_line(report: "TrainReport") -> str:
    """What a training run did, in one line."""
    resumed = f", resumed from {report.resumed_from}" if report.resumed_from else ""
    loss = f", mean loss {report.train_loss:.3f}" if report.train_loss is not None else ""
    batch = f", global batch {report.global_batch:,}" if report.world_size > 1 else ""
    return (
        f"trained {report.name} from {report.base}: {report.pairs:,} pairs, {report.steps:,} "
        f"steps in {report.seconds:,.0f} s ({report.pairs_per_second:,.1f} pairs/s on "
        f"{report.device}{batch}{resumed}){loss}"
    )


@app.command("train-reranker")
@user_errors
def train_reranker_command(
    base: Annotated[
        str,
        typer.Option(
            help="Backbone: minilm (English), e5-small (multilingual), a trained model or a folder."
        ),
    ] = "minilm",
    name: Annotated[str, typer.Option(help="Name of the trained re-ranker.")] = "reranker",
    negatives: Annotated[
        int, typer.Option(min=1, max=20, help="Negatives per pair, from the search's top.")
    ] = 3,
    depth: Annotated[
        int,
        typer.Option(
            min=2, max=200, help="Ranks of the workspace's search the negatives come from."
        ),
    ] = 30,
    batch_size: Annotated[int, typer.Option("--batch", min=2, max=1024)] = 32,
    epochs: Annotated[float, typer.Option(min=0.01, help="Passes over the rows.")] = 1.0,
    lr: Annotated[float, typer.Option(min=1e-8, max=1.0, help="Learning rate.")] = 1e-4,
    max_length: Annotated[
        int, typer.Option(min=16, max=8192, help="Tokens of query and episode together.")
    ] = 128,
    max_pairs: Annotated[
        int | None, typer.Option(min=2, help="Train on at most this many pairs.")
    ] = None,
    checkpoint_minutes: Annotated[
        float, typer.Option(min=0.0, help="Checkpoint at least this often (0: by steps).")
    ] = 10.0,
    seed: Annotated[int, typer.Option(help="Seed of the negatives, order and head.")] = 0,
    as_json: JsonOption = False,
) -> None:
    """Train a cross-encoder re-ranker on the train split; a rerun resumes.

    Each pair is a positive, with negatives drawn from what the workspace's index ranks high
    for its query. Set PODSEEK_RERANKER=<name> to re-rank searches with it (off by default:
    on a CPU it costs more per search than it gives; docs/search.md)."""
    from podseek.models.device import settings_device
    from podseek.search.workspace import open_searcher
    from podseek.training.reranker import RerankerSettings, train_reranker

    settings = get_settings().model_copy(update={"reranker": None})
    options = RerankerSettings(
        negatives=negatives,
        depth=depth,
        batch_size=batch_size,
        epochs=epochs,
        learning_rate=lr,
        max_length=max_length,
        max_pairs=max_pairs,
        seed=seed,
        save_minutes=checkpoint_minutes or None,
    )
    searcher = open_searcher(settings)
    report = train_reranker(
        base,
        settings.pairs_dir,
        settings.home,
        name,
        searcher,
        options,
        device=settings_device(settings),
    )
    if as_json:
        print_json(report.to_dict())
        return
    typer.echo(_trained_line(report))
    typer.echo(f"saved to {report.folder}; search with it: PODSEEK_RERANKER={report.name}")
