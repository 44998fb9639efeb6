"""Train a cross-encoder re-ranker on the catalog's query-episode pairs
(``podseek train-reranker``).

The recipe is sentence-transformers' for rerankers: a packaged encoder's transformer as the
backbone with a new one-output head, ``BinaryCrossEntropyLoss`` over (query, episode, label)
rows, each train-split pair a positive and ``negatives`` episodes as negatives. The negatives
come from the workspace's own search: a query's top ``depth`` episodes in a hybrid search of
the index, less its positives, the eval and test episodes (never seen in training) and any
part of the positive's own episode, sampled with the seed. Those are the candidates the
re-ranker will be asked to order at search time, so it learns to tell apart what the first
stage confuses. The positive weighs as much as its negatives together (``pos_weight``).

Checkpoints and resuming work as in ``podseek train`` (:mod:`podseek.training.train`); the
finished re-ranker is written to ``<workspace>/models/<name>`` with
:data:`~podseek.config.RERANKER_RECORD`, which says what made it. The ``reranker`` setting
names it to search with it."""

import random
import shutil
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from podseek.beir import load_corpus, load_qrels, load_queries
from podseek.config import RERANKER_RECORD
from podseek.errors import PodseekError
from podseek.extras import require
from podseek.models.device import CPU, Device
from podseek.models.registry import BUILTINS, models_dir, resolve_model
from podseek.search.engine import Searcher, SearchMode
from podseek.training.train import (
    TRAIN_MODULES,
    TrainReport,
    TrainSettings,
    _last_checkpoint,
    _split_manifest,
    corpus_episodes,
    held_out_docs,
    logging_interval,
    loss_history,
    new_model_folder,
    no_final_checkpoint,
    pin_device,
    precision_arguments,
    quiet_trainer_logs,
    require_split,
    seeded_items,
    timed_checkpoints,
    write_model,
)

# Train queries ranked per first-stage batch while negatives are picked
FIRST_STAGE_BATCH = 256


@dataclass(frozen=True)
class RerankerSettings:
    """How a re-ranker is trained; the defaults are what docs/results.md measured."""

    negatives: int = 3  # first-stage negatives per positive
    depth: int = 30  # the first-stage ranks they are drawn from (the rerank_depth setting's)
    batch_size: int = 32
    epochs: float = 1.0
    warmup: float = 0.1
    # a new head on a bi-encoder's transformer: at 3e-5 the loss had not moved after 100
    # steps (docs/results.md); 128 tokens train twice as fast as 256
    learning_rate: float = 1e-4
    max_length: int = 128  # tokens of query and episode together
    max_pairs: int | None = None
    seed: int = 0
    save_steps: int = 200
    save_minutes: float | None = 10.0


@dataclass(frozen=True)
class LabelledRows:
    """The rows a re-ranker trains on, and how many positives they came from."""

    queries: list[str]
    documents: list[str]
    labels: list[float]
    positives: int


def labelled_rows(
    pairs_dir: Path, searcher: Searcher, settings: RerankerSettings, progress: bool = False
) -> LabelledRows:
    """Each train-split pair as a positive row, with up to ``settings.negatives`` negatives
    from the first ``settings.depth`` episodes ``searcher`` ranks for its query (see the
    module's docstring for what is never a negative)."""
    require_split(pairs_dir)
    queries, _ = load_queries(Path(pairs_dir) / "queries.jsonl")
    judged = load_qrels(Path(pairs_dir) / "qrels" / "train.tsv")
    corpus = load_corpus(Path(pairs_dir) / "corpus.jsonl")
    owners = corpus_episodes(pairs_dir)
    held_out = held_out_docs(pairs_dir)
    rng = random.Random(settings.seed)  # the pairs' order, then the negatives' draws
    items = seeded_items(pairs_dir, judged, queries, corpus, settings.max_pairs, rng)
    rows = LabelledRows([], [], [], positives=len(items))
    for start in range(0, len(items), FIRST_STAGE_BATCH):
        batch = items[start : start + FIRST_STAGE_BATCH]
        ranked = searcher.rank(
            [queries[qid] for qid, _ in batch],
            k=settings.depth,
            mode=SearchMode.HYBRID,
            segments=False,
        )
        found = searcher.backend.fetch(sorted({d for hits in ranked for d, _ in hits}))
        texts = {doc: row["text"] for doc, row in found.items()}
        for (qid, doc), hits in zip(batch, ranked, strict=True):
            own = {owners.get(d, d) for d in judged[qid]} | {owners.get(doc, doc)}
            candidates = [
                d
                for d, _ in hits
                if d in texts and d not in held_out and owners.get(d, d) not in own
            ]
            rows.queries.append(queries[qid])
            rows.documents.append(corpus[doc])
            rows.labels.append(1.0)
            for negative in rng.sample(candidates, min(settings.negatives, len(candidates))):
                rows.queries.append(queries[qid])
                rows.documents.append(texts[negative])
                rows.labels.append(0.0)
        if progress:
            done = min(start + FIRST_STAGE_BATCH, len(items))
            print(f"negatives: {done:,}/{len(items):,} queries searched", file=sys.stderr)
    return rows


def backbone_folder(base: str, home: Path) -> Path:
    """The transformer folder a re-ranker starts from: a built-in encoder's (e5-small,
    minilm), a model trained into the workspace, or a folder (a cross-encoder's included)."""
    folder = Path(base).expanduser()
    if "/" in base and folder.is_dir() and (folder / "config.json").is_file():
        return folder
    model = resolve_model(base, home)
    if model.use_port:
        raise PodseekError(
            f"{base} cannot be a re-ranker's backbone (the USE port is no transformers "
            f"model): use {', '.join(n for n, m in BUILTINS.items() if m.folder)} or a folder"
        )
    return model.st_folder(home)


def train_reranker(
    base: str,
    pairs_dir: Path,
    home: Path,
    name: str,
    searcher: Searcher,
    settings: RerankerSettings,
    progress: bool = True,
    callbacks: list[Any] | None = None,
    device: Device = CPU,
) -> TrainReport:
    """Train a re-ranker from ``base`` on the train split in ``pairs_dir``, with negatives
    from ``searcher`` (the workspace's search), into ``<home>/models/<name>``."""
    require("train", *TRAIN_MODULES, what="podseek train-reranker")
    import torch
    from datasets import Dataset
    from sentence_transformers.cross_encoder import (
        CrossEncoder,
        CrossEncoderTrainer,
        CrossEncoderTrainingArguments,
    )
    from sentence_transformers.cross_encoder.losses import BinaryCrossEntropyLoss

    target = new_model_folder(home, name)
    folder = backbone_folder(base, home)
    rows = labelled_rows(pairs_dir, searcher, settings, progress)
    torch.manual_seed(settings.seed)
    model = CrossEncoder(
        str(folder), num_labels=1, max_length=settings.max_length, local_files_only=True
    )
    checkpoints = models_dir(home) / ".checkpoints" / name
    resume = _last_checkpoint(checkpoints)
    args = CrossEncoderTrainingArguments(
        output_dir=str(checkpoints),
        num_train_epochs=settings.epochs,
        per_device_train_batch_size=settings.batch_size,
        learning_rate=settings.learning_rate,
        warmup_steps=settings.warmup,
        seed=settings.seed,
        save_strategy="steps",
        save_steps=settings.save_steps,
        save_total_limit=2,
        logging_steps=logging_interval(
            len(rows.labels), TrainSettings(batch_size=settings.batch_size, epochs=settings.epochs)
        ),
        report_to="none",
        disable_tqdm=not progress,
        **precision_arguments(device),
    )
    pin_device(args, device)
    dataset = Dataset.from_dict(
        {"query": rows.queries, "document": rows.documents, "label": rows.labels}
    ).shuffle(seed=settings.seed)
    loss = BinaryCrossEntropyLoss(model, pos_weight=torch.tensor(float(max(1, settings.negatives))))
    timed = [timed_checkpoints(settings.save_minutes)] if settings.save_minutes else []
    trainer = CrossEncoderTrainer(
        model=model,
        args=args,
        train_dataset=dataset,
        loss=loss,
        callbacks=[*(callbacks or []), *timed, no_final_checkpoint()],
    )
    quiet_trainer_logs(trainer, progress)
    started = time.perf_counter()
    output = trainer.train(resume_from_checkpoint=str(resume) if resume else None)
    report = TrainReport(
        name=name,
        base=base,
        folder=str(target),
        pairs=len(dataset),
        steps=int(output.global_step),
        seconds=round(time.perf_counter() - started, 1),
        resumed_from=str(resume) if resume else None,
        settings=asdict(settings),
        device=device.describe(),
        train_loss=round(float(output.training_loss), 4),
        loss_history=loss_history(trainer.state.log_history),
        global_batch=settings.batch_size,
    )
    record = {
        **report.to_dict(),
        "kind": "reranker",
        "base_from": str(folder),
        "positives": rows.positives,
        "pairs_dir": str(Path(pairs_dir).resolve()),
        "split": _split_manifest(pairs_dir),
        "loss": "BinaryCrossEntropyLoss",
        "negatives_from": f"hybrid search of {searcher.index.manifest.model.name}'s index",
    }
    write_model(model, None, target, record, RERANKER_RECORD)
    shutil.rmtree(checkpoints, ignore_errors=True)
    return report
