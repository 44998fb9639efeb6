"""Fine-tune an encoder on the catalog's query-episode pairs (``podseek train``).

The recipe is the reference walkthrough's and Spotify's: sentence-transformers' trainer,
``MultipleNegativesRankingLoss`` (in-batch negatives: every other episode of the batch is a
negative for a query), the no-duplicates batch sampler (an episode twice in a batch would be
its own negative), batch 64, 1 epoch, 10% linear warm-up, learning rate 2e-5. Training pairs
are the train split's (``pairs/qrels/train.tsv``: synthetic queries and search-log pairs);
the eval and test episodes are never seen.

Optional hard negatives (``--hard-negatives N``) are mined with the base encoder from the
catalog's episodes outside the eval and test splits by sentence-transformers'
``mine_hard_negatives``: for each query the top episodes that are not its own, skipping the
first few ranks and any episode scoring within 5% of the positive (likely another answer, a
near-duplicate), and added as (query, positive, negative) triplets.

A transcript window's query is trained on (query, window text) (``pairs split`` puts the
windows of train episodes in the corpus). The miner takes windows as candidates like
episodes (it adds every positive to the candidates), but drops a negative that is part of
the positive's own episode: a window query's episode, an episode query's window.

Checkpoints go to ``<workspace>/models/.checkpoints/<name>`` every ``save_steps`` steps and
every ``save_minutes`` of training, whichever comes first (not after the last step: the model
itself is written then); a rerun of the same command resumes from the last one. The finished
model is written to ``<workspace>/models/<name>`` (a standard sentence-transformers folder:
``index --model NAME``, ``search`` and ``serve`` use it) with ``podseek-training.json`` that
says which data, model, settings and seed made it, and how the training loss went
(``loss_history``: the loss logged about every 5% of the steps, a resumed run's earlier ones
included; ``train_loss``: the mean over this run's steps).

While training, ``progress=True`` writes a line to stderr about every 5% of the steps
(step, loss, pairs/s, ETA); stdout is left to the command's own output, such as ``--json``.

Launched by ``torchrun`` (or ``accelerate launch``) with more than one process, training is
DDP, the route sentence-transformers documents: each process holds a replica on its own
device (its ``LOCAL_RANK``'s GPU; the CPU with the gloo backend), ``batch_size`` is the batch
of one process, and the loss gathers every process's embeddings, so each query is ranked
against the episodes of the global batch (``batch_size`` x processes). Rank 0 alone writes
the model folder, the record and the progress lines; the others wait for it and return the
same report (docs/distributed-training.md).
"""

import contextlib
import hashlib
import json
import math
import os
import random
import re
import shutil
import socket
import sys
import tempfile
import time
import warnings
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, TextIO

from podseek.beir import load_corpus, load_qrels, load_queries
from podseek.config import Settings
from podseek.errors import PodseekError
from podseek.extras import require
from podseek.models.device import CPU, Device
from podseek.models.registry import (
    BUILTINS,
    RECORD,
    models_dir,
    query_languages,
    resolve_model,
    trainable_model,
)

# What training imports, from the "train" extra
TRAIN_MODULES = ("torch", "sentence_transformers", "transformers", "datasets", "accelerate")
LOGS_PER_RUN = 20  # log the loss (and print a progress line) every 5% of the steps
# Largest batch trained in one forward pass when --mini-batch is not given. MNRL gets better
# with more in-batch negatives, but activations grow with the batch: e5-small at batch 1024
# in one pass took most of a large GPU's memory (docs/results.md). Above this, GradCache
# computes the same loss in mini-batches of this size.
MAX_PLAIN_BATCH = 256
MAX_BATCH = 1024
# FutureWarnings that accelerate and sentence-transformers' gathering raise under DDP (torch
# 2.13 deprecates the calls they make); nothing a podseek user can act on.
DDP_DEPRECATIONS = (
    r"`broadcast_buffers` is deprecated",
    r"torch\.distributed\.nn\.functional\.all_gather is deprecated",
)


@dataclass(frozen=True)
class TrainSettings:
    """The reference's defaults."""

    batch_size: int = 64
    epochs: float = 1.0
    warmup: float = 0.1
    learning_rate: float = 2e-5
    hard_negatives: int = 0
    seed: int = 0
    save_steps: int = 200
    # A checkpoint also once this many minutes have passed since the last one (None: by steps
    # alone): on a CPU a step of e5-small takes most of a minute, so 200 steps would be hours
    # of training that a Ctrl-C throws away. One process only (DDP saves by steps).
    save_minutes: float | None = 10.0
    max_pairs: int | None = None  # cap on training pairs (a quick run)
    # Tokens per text while training. Memory grows with batch x length^2 in attention: e5-small
    # at batch 64 x 512 tokens ran out of this machine's memory (docs/results.md); 256 tokens
    # is a quarter of the attention and the reference model's own limit was 128. The saved
    # model keeps the base's limit, so the index encodes episodes exactly as before. None:
    # the base's limit.
    max_seq_length: int | None = 256
    # Texts per forward pass: below batch_size, the loss is CachedMultipleNegativesRankingLoss
    # (GradCache: the same loss and gradients as MNRL over the whole batch, in memory for
    # mini_batch texts, for about a third more compute). None: plain MNRL, one pass per batch
    # up to MAX_PLAIN_BATCH pairs, GradCache with mini-batches of that size above it.
    mini_batch: int | None = None


@dataclass
class TrainReport:
    name: str
    base: str
    folder: str
    pairs: int
    steps: int
    seconds: float
    resumed_from: str | None
    settings: dict[str, Any] = field(default_factory=dict)
    device: str = "cpu"  # what trained: "cuda:0 (NVIDIA H200, bf16)", "2 x cpu (...), gloo"
    train_loss: float | None = None  # mean loss over this run's steps
    loss_history: list[dict[str, float]] = field(default_factory=list)  # {"step", "loss"}
    world_size: int = 1  # processes that trained together (DDP)
    global_batch: int = 0  # pairs per optimiser step, all processes together

    @property
    def pairs_per_second(self) -> float:
        return self.pairs * self.settings.get("epochs", 1) / self.seconds if self.seconds else 0.0

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "pairs_per_second": round(self.pairs_per_second, 2)}


def training_pairs(pairs_dir: Path, max_pairs: int | None, seed: int) -> list[tuple[str, str]]:
    """``(query text, episode text)`` of the train split, in a seeded order."""
    pairs_dir = Path(pairs_dir)
    require_split(pairs_dir)
    queries, _ = load_queries(pairs_dir / "queries.jsonl")
    qrels = load_qrels(pairs_dir / "qrels" / "train.tsv")
    corpus = load_corpus(pairs_dir / "corpus.jsonl")
    items = seeded_items(pairs_dir, qrels, queries, corpus, max_pairs, random.Random(seed))
    return [(queries[qid], corpus[doc]) for qid, doc in items]


def seeded_items(
    pairs_dir: Path,
    qrels: dict[str, dict[str, int]],
    queries: dict[str, str],
    corpus: dict[str, str],
    max_pairs: int | None,
    rng: random.Random,
) -> list[tuple[str, str]]:
    """``(query id, corpus id)`` of each positive pair in ``qrels`` whose texts exist, in an
    order shuffled by ``rng``, at most ``max_pairs``; one error for fewer than two."""
    items = [
        (qid, doc)
        for qid, judged in sorted(qrels.items())
        for doc, grade in judged.items()
        if grade > 0 and qid in queries and doc in corpus
    ]
    rng.shuffle(items)
    if max_pairs is not None:
        items = items[:max_pairs]
    if len(items) < 2:
        raise PodseekError(f"{pairs_dir}: fewer than 2 training pairs; generate more queries")
    return items


def require_split(pairs_dir: Path) -> None:
    """One error, saying what to run, when ``pairs_dir`` holds no train split."""
    if not (Path(pairs_dir) / "qrels" / "train.tsv").is_file():
        raise PodseekError(
            f"no training split at {pairs_dir}; run `podseek queries generate` and "
            "`podseek pairs split` first"
        )


def new_model_folder(home: Path, name: str) -> Path:
    """Where a model named ``name`` will be written in the workspace; an error for a name
    that is not a plain one, is a built-in's, or is taken."""
    if not name or "/" in name or name.startswith(".") or name in BUILTINS:
        raise PodseekError(f"--name {name!r}: use a plain name that is not a built-in model")
    target = models_dir(home) / name
    if target.exists():
        raise PodseekError(f"{target} exists; choose another --name or remove it")
    return target


def corpus_episodes(pairs_dir: Path) -> dict[str, str]:
    """``{corpus id: the episode it is part of}``: an episode's own id; a transcript
    window's episode (its ``metadata.episode_id``, as ``pairs split`` writes it)."""
    owners: dict[str, str] = {}
    path = Path(pairs_dir) / "corpus.jsonl"
    load_corpus(path)  # the checks, with one error naming the file and line
    with path.open(encoding="utf-8") as handle:
        for line in handle:
            if line.strip():
                row = json.loads(line)
                metadata = row.get("metadata") or {}
                owners[str(row["_id"])] = str(metadata.get("episode_id") or row["_id"])
    return owners


def held_out_docs(pairs_dir: Path) -> set[str]:
    """The documents judged in the eval and test splits: never seen in training."""
    held_out: set[str] = set()
    for split in ("dev", "test"):
        path = Path(pairs_dir) / "qrels" / f"{split}.tsv"
        if path.is_file():
            held_out.update(doc for judged in load_qrels(path).values() for doc in judged)
    return held_out


def mining_corpus(pairs_dir: Path) -> list[str]:
    """Where hard negatives come from: every catalog episode except the eval and test
    splits' (a held-out episode must not be seen in training, not even as a negative), and
    the corpus's transcript windows (those of train episodes) but a held-out episode's."""
    held_out = held_out_docs(pairs_dir)
    owners = corpus_episodes(pairs_dir)
    return sorted(
        text
        for doc, text in load_corpus(Path(pairs_dir) / "corpus.jsonl").items()
        if doc not in held_out and owners.get(doc, doc) not in held_out
    )


def own_episode_negatives(pairs_dir: Path) -> Callable[[dict[str, str]], bool] | None:
    """A test of a mined ``(anchor, positive, negative)`` row: true when the negative is
    part of its positive's episode (a window query's episode, an episode query's window, a
    window's neighbour that shares its speech): what a listener asking wants found too, not
    a negative. ``None`` when the corpus has no windows (then no two documents share an
    episode)."""
    owners = corpus_episodes(pairs_dir)
    if all(doc == episode for doc, episode in owners.items()):
        return None
    by_text: dict[str, set[str]] = {}
    for doc, text in load_corpus(Path(pairs_dir) / "corpus.jsonl").items():
        by_text.setdefault(text, set()).add(owners.get(doc, doc))

    def own(row: dict[str, str]) -> bool:
        return bool(by_text.get(row["positive"], set()) & by_text.get(row["negative"], set()))

    return own


def base_model(base: str, home: Path) -> tuple[Any, str]:
    """The trainable ``SentenceTransformer`` a base name stands for (a built-in, a model
    trained into the workspace or a folder: :func:`~podseek.models.registry.resolve_model`),
    and where it came from."""
    return trainable_model(resolve_model(base, home), home)


def effective_mini_batch(settings: TrainSettings) -> int | None:
    """Texts per forward pass, or ``None`` for one pass per batch (plain MNRL)."""
    mini = settings.mini_batch
    if mini is None and settings.batch_size > MAX_PLAIN_BATCH:
        mini = MAX_PLAIN_BATCH
    return mini if mini is not None and mini < settings.batch_size else None


def precision_arguments(device: Device) -> dict[str, Any]:
    """The trainer's device and precision flags: the CPU in float32; CUDA with bf16 (fp16 on
    GPUs without it) mixed precision and TF32 matrix products, unless half precision is off."""
    if device.kind == "cpu":
        return {"use_cpu": True}
    # On a GPU, tokenizing in the training process would leave it waiting (the USE port's
    # tokenizer is pure Python): loader processes tokenize the next batches meanwhile. Under
    # torchrun the node's cores are shared by its training processes.
    local_processes = int(os.environ.get("LOCAL_WORLD_SIZE", "1"))
    workers = {"dataloader_num_workers": min(8, (os.cpu_count() or 2) // 2 // local_processes)}
    if not device.is_cuda or device.half is None:
        return {"use_cpu": False, **workers}
    return {
        "use_cpu": False,
        "bf16": device.half == "bfloat16",
        "fp16": device.half == "float16",
        "tf32": True,
        **workers,
    }


def pin_device(args: Any, device: Device) -> None:
    """Train on exactly ``device``. Left alone, transformers takes cuda:0 and wraps the model
    in DataParallel over every GPU it sees, which splits MNRL's batch and its negatives. Under
    torchrun (DDP) each process already has its own GPU and the batch is gathered instead."""
    import torch

    if not device.is_cuda or distributed_rank() is not None:
        return
    torch.cuda.set_device(torch.device(device.name))
    args.__dict__["_setup_devices"] = torch.device(device.name)  # a cached property
    args._n_gpu = 1


def distributed_rank() -> int | None:
    """This process's rank when launched by torchrun / accelerate, else ``None``."""
    rank = os.environ.get("RANK", os.environ.get("LOCAL_RANK"))
    return int(rank) if rank is not None and os.environ.get("WORLD_SIZE", "1") != "1" else None


def world_size() -> int:
    """Processes training together: ``WORLD_SIZE`` under torchrun / accelerate, else 1."""
    return int(os.environ["WORLD_SIZE"]) if distributed_rank() is not None else 1


def rank_device(device: Device) -> Device:
    """The device this process trains on. Under DDP each process has its own GPU, the one
    its ``LOCAL_RANK`` numbers (as accelerate assigns them), whatever ``cuda:N`` said; the
    CPU and MPS stay as they are."""
    if distributed_rank() is None or not device.is_cuda:
        return device
    import torch

    local, count = int(os.environ.get("LOCAL_RANK", "0")), torch.cuda.device_count()
    if local >= count:
        raise PodseekError(
            f"process {local} of this node has no GPU of its own: the node has {count}; "
            f"start at most {count} a node (torchrun --nproc_per_node {count})"
        )
    return Device(f"cuda:{local}", device.half)


def distributed_arguments(device: Device) -> dict[str, Any]:
    """The trainer's DDP flags: NCCL between GPUs, gloo between CPU processes (the route
    this machine tests), and no incomplete last round of batches: gathering needs the same
    batch size on every process, and a process with no batch would leave the others waiting."""
    if distributed_rank() is None:
        return {}
    return {"ddp_backend": "nccl" if device.is_cuda else "gloo", "dataloader_drop_last": True}


def check_global_batch(pairs: int, settings: TrainSettings, world: int) -> None:
    """Under DDP a step needs a full batch on every process: with fewer pairs than that,
    the trainer would run no step at all."""
    if world > 1 and pairs < settings.batch_size * world:
        raise PodseekError(
            f"{pairs} training pairs are fewer than one global batch ({world} processes x "
            f"--batch {settings.batch_size}); lower --batch or use fewer processes"
        )


def in_batch_loss(model: Any, settings: TrainSettings, gather: bool) -> tuple[Any, str]:
    """MNRL, or its GradCache form when the batch is computed in mini-batches, and how the
    record names it. ``gather``: rank each process's queries against the embeddings of
    every process's batch (the global batch), as the single-process loss over the
    concatenated batch would; the gradients flow back to the process that made them."""
    from sentence_transformers.sentence_transformer.losses import (
        CachedMultipleNegativesRankingLoss,
        MultipleNegativesRankingLoss,
    )

    mini_batch = effective_mini_batch(settings)
    gathered = f", negatives gathered across {world_size()} processes" if gather else ""
    if mini_batch is not None:
        loss = CachedMultipleNegativesRankingLoss(
            model, mini_batch_size=mini_batch, gather_across_devices=gather
        )
        name = f"CachedMultipleNegativesRankingLoss (scale 20, cosine, mini-batch {mini_batch}"
    else:
        loss = MultipleNegativesRankingLoss(model, gather_across_devices=gather)
        name = "MultipleNegativesRankingLoss (scale 20, cosine"
    return loss, f"{name}{gathered})"


def _process_group() -> Any | None:
    """torch.distributed when its process group is up (under DDP, once the trainer's
    arguments have set up the devices), else ``None``."""
    import torch.distributed as dist

    return dist if dist.is_available() and dist.is_initialized() else None


def from_rank_zero(value: Any) -> Any:
    """Rank 0's ``value`` on every process (a picklable object); ``value`` itself alone."""
    dist = _process_group()
    if dist is None:
        return value
    box = [value]
    dist.broadcast_object_list(box, src=0)
    return box[0]


def rank_zero_rows(columns: dict[str, list[str]]) -> dict[str, list[str]]:
    """Rank 0's ``columns`` on every process. Only a digest travels when they agree (the
    usual case: sending a million triplets of episode texts to every process is not free)."""
    digest = hashlib.sha256(json.dumps(columns, sort_keys=True).encode()).hexdigest()
    if len(set(from_every_rank(digest))) == 1:
        return columns
    return from_rank_zero(columns)


def from_every_rank(value: Any) -> list[Any]:
    """Every process's ``value``, in rank order; ``[value]`` alone."""
    dist = _process_group()
    if dist is None:
        return [value]
    values: list[Any] = [None] * dist.get_world_size()
    dist.all_gather_object(values, value)
    return values


def wait_for_every_rank() -> None:
    """A barrier under DDP; nothing alone."""
    dist = _process_group()
    if dist is not None:
        dist.barrier()


def end_distributed() -> None:
    """Close the process group, if there is one, before the process exits (NCCL warns
    otherwise). For the command's end: the trainer cannot run again in this process."""
    dist = _process_group()
    if dist is not None:
        dist.destroy_process_group()


def describe_ranks(ranks: list[dict[str, Any]], backend: str) -> str:
    """One device line for a DDP run: ``8 x cuda (NVIDIA H200, bf16), nccl`` (and the number
    of nodes when more than one), or each rank's device when they differ."""
    kinds = [re.sub(r"^(cuda|mps):\d+", r"\1", rank["device"]) for rank in ranks]
    nodes = len({rank["host"] for rank in ranks})
    on = f", {nodes} nodes" if nodes > 1 else ""
    if len(set(kinds)) == 1:
        return f"{len(ranks)} x {kinds[0]}, {backend}{on}"
    return f"{'; '.join(rank['device'] for rank in ranks)}, {backend}{on}"


def partners_to_tune(settings: Settings, model: str, base: str) -> dict[str, str]:
    """The ensemble models ``podseek train`` tunes beside ``model`` (trained from ``base``),
    each with its tuned copy's name: those that read every language. An English-only partner
    ranks English queries only, where a tuned MiniLM ranked no better than the packaged one
    (docs/results.md), and tuning one costs what tuning the model does (hours for mpnet on a
    CPU): it is fused as packaged."""
    return {
        ensemble_model: tuned
        for ensemble_model, tuned in settings.tuned_partners(model, base).items()
        if query_languages(ensemble_model, settings.home) is None
    }


def train_model(
    base: str,
    pairs_dir: Path,
    home: Path,
    name: str,
    settings: TrainSettings,
    progress: bool = True,
    callbacks: list[Any] | None = None,
    device: Device = CPU,
) -> TrainReport:
    """Fine-tune ``base`` on the train split in ``pairs_dir`` into ``<home>/models/<name>``,
    on ``device`` (under DDP, this process's share of it: see ``rank_device``).

    ``callbacks`` are transformers ``TrainerCallback`` objects (progress, tests)."""
    require("train", *TRAIN_MODULES, what="podseek train")
    import torch
    from datasets import Dataset
    from sentence_transformers import (
        SentenceTransformerTrainer,
        SentenceTransformerTrainingArguments,
    )
    from sentence_transformers.sentence_transformer.training_args import BatchSamplers

    rank, world = distributed_rank(), world_size()
    main = rank in (None, 0)  # writes the folder, the record and the progress lines
    device = rank_device(device)
    if not main:
        from transformers.utils import logging as transformers_logging

        transformers_logging.disable_progress_bar()  # the weight-loading bars, once is enough
    # Under DDP every process checks before the process group starts, and rank 0 cannot
    # finish training (and write the folder) before every process has joined it.
    target = new_model_folder(home, name)
    pairs = training_pairs(pairs_dir, settings.max_pairs, settings.seed)
    if settings.hard_negatives == 0:  # else once mined: the miner may drop some
        check_global_batch(len(pairs), settings, world)
    torch.manual_seed(settings.seed)
    model, origin = base_model(base, home)
    own_length = cap_sequence_length(model, settings.max_seq_length)
    prompts = dict(getattr(model, "prompts", {}) or {})
    checkpoints = models_dir(home) / ".checkpoints" / name
    resume = _last_checkpoint(checkpoints)
    column_prompts = {}
    if prompts.get("query"):
        column_prompts["anchor"] = prompts["query"]
    passage = prompts.get("passage", prompts.get("document"))
    if passage:
        column_prompts["positive"] = passage
        if settings.hard_negatives > 0:
            column_prompts["negative"] = passage
    args = SentenceTransformerTrainingArguments(
        output_dir=str(checkpoints),
        num_train_epochs=settings.epochs,
        per_device_train_batch_size=settings.batch_size,
        learning_rate=settings.learning_rate,
        warmup_steps=settings.warmup,  # below 1: a share of the steps (warmup_ratio is deprecated)
        batch_sampler=BatchSamplers.NO_DUPLICATES,
        prompts=column_prompts or None,
        seed=settings.seed,
        save_strategy="steps",
        save_steps=settings.save_steps,
        save_total_limit=2,
        logging_steps=1,  # set below, once the number of pairs is known
        report_to="none",
        disable_tqdm=not progress or not main,
        **precision_arguments(device),
        **distributed_arguments(device),
    )
    pin_device(args, device)
    _ = args.device  # sets up the devices; under DDP, starts the process group
    dataset = Dataset.from_dict(
        {"anchor": [q for q, _ in pairs], "positive": [e for _, e in pairs]}
    )
    if settings.hard_negatives > 0:
        dataset = mined_dataset(dataset, model, pairs_dir, settings, prompts, device, progress)
        check_global_batch(len(dataset), settings, world)
    global_batch = settings.batch_size * world
    args.logging_steps = logging_interval(len(dataset), settings, world)
    loss, loss_name = in_batch_loss(model, settings, gather=rank is not None)
    timed = settings.save_minutes is not None and world == 1
    trainer = SentenceTransformerTrainer(
        model=model,
        args=args,
        train_dataset=dataset,
        loss=loss,
        callbacks=[
            *(callbacks or []),
            *([timed_checkpoints(settings.save_minutes)] if timed else []),
            no_final_checkpoint(),
        ],
    )
    quiet_trainer_logs(trainer, progress and main)
    started = time.perf_counter()
    with warnings.catch_warnings():
        for deprecated in DDP_DEPRECATIONS:  # libraries' business, printed once per process
            warnings.filterwarnings("ignore", message=deprecated, category=FutureWarning)
        output = trainer.train(resume_from_checkpoint=str(resume) if resume else None)
    seconds = time.perf_counter() - started

    ranks = [
        {"rank": number, **where}
        for number, where in enumerate(
            from_every_rank({"host": socket.gethostname(), "device": device.describe()})
        )
    ]
    report = TrainReport(
        name=name,
        base=base,
        folder=str(target),
        pairs=len(dataset),
        steps=int(output.global_step),
        seconds=round(seconds, 1),
        resumed_from=str(resume) if resume else None,
        settings=asdict(settings),
        device=describe_ranks(ranks, args.ddp_backend) if rank is not None else device.describe(),
        train_loss=round(float(output.training_loss), 4),
        loss_history=loss_history(trainer.state.log_history),
        world_size=world,
        global_batch=global_batch,
    )
    wait_for_every_rank()  # every process is done with the checkpoints before they go
    if main:
        record = {
            **report.to_dict(),
            "base_from": origin,
            "pairs_dir": str(Path(pairs_dir).resolve()),
            "split": _split_manifest(pairs_dir),
            "loss": loss_name,
            "batch_sampler": "no duplicates",
            "prompts": column_prompts,
            "distributed": (
                {
                    "launcher": "torchrun" if "TORCHELASTIC_RUN_ID" in os.environ else "other",
                    "backend": args.ddp_backend,
                    "world_size": world,
                    "per_device_batch": settings.batch_size,
                    "global_batch": global_batch,
                    "negatives_gathered": True,
                    "ranks": ranks,
                }
                if rank is not None
                else None
            ),
        }
        write_model(model, own_length, target, record)
        shutil.rmtree(checkpoints, ignore_errors=True)
    wait_for_every_rank()  # the folder is there when any process returns
    return report


def mined_dataset(
    dataset: Any,
    model: Any,
    pairs_dir: Path,
    settings: TrainSettings,
    prompts: dict[str, str],
    device: Device,
    progress: bool,
) -> Any:
    """``dataset`` with ``settings.hard_negatives`` mined negatives per pair (a pair with
    no candidate outside the margin is dropped by the miner).

    Under DDP every process mines on its own device (as long as rank 0 alone would take, and
    no process waits on a collective meanwhile), and rank 0's triplets are then used by all:
    the batch sampler needs the same rows on every process, and a near tie on a GPU need not
    fall the same way twice."""
    from datasets import Dataset
    from sentence_transformers.util import mine_hard_negatives

    main = distributed_rank() in (None, 0)
    if device.is_cuda:
        model.to(device.name)  # encoding the corpus on the GPU, not the CPU it loaded on
    corpus = mining_corpus(pairs_dir)
    mined_from = len(dataset)
    # its statistics table goes to stderr: stdout is the command's own (``--json``)
    with contextlib.redirect_stdout(sys.stderr):
        dataset = mine_hard_negatives(
            dataset,
            model,
            corpus=corpus,
            range_min=2,
            range_max=50,
            relative_margin=0.05,
            num_negatives=settings.hard_negatives,
            sampling_strategy="top",
            query_prompt=prompts.get("query"),
            corpus_prompt=prompts.get("passage", prompts.get("document")),
            batch_size=64,
            verbose=progress and main,
        )
    if distributed_rank() is not None:
        dataset = Dataset.from_dict(rank_zero_rows(dataset.to_dict()))
    own = own_episode_negatives(pairs_dir)
    if own is not None:
        dataset = dataset.filter(lambda row: not own(row))
    if progress and main:
        print(
            f"hard negatives found for {len(dataset):,} of {mined_from:,} pairs; "
            "the others are left out of this run",
            file=sys.stderr,
            flush=True,
        )
    return dataset


def write_model(
    model: Any, own_length: int | None, target: Path, record: dict, record_name: str = RECORD
) -> None:
    """Save ``model`` with its ``record`` (the file ``record_name``) to ``target`` at once:
    written to a hidden folder beside it, then renamed, so a crash leaves no half-written
    model."""
    target.parent.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix=f".{target.name}.", dir=target.parent))
    try:
        if own_length is not None:  # the index encodes episodes as the base model did
            model.max_seq_length = own_length
        model.save(str(work / "model"))
        (work / "model" / record_name).write_text(json.dumps(record, indent=2) + "\n")
        os.rename(work / "model", target)
    finally:
        shutil.rmtree(work, ignore_errors=True)


class ProgressMeter:
    """Turns a logged step into ``step 40/93  loss 1.234  61.2 pairs/s  ETA 2m10s``.

    The rate counts only this run's steps and time: a resumed run starts its clock at the
    checkpoint's step, or the steps done before the interruption would inflate pairs/s and
    shrink the ETA. ``clock`` is there so tests can control time.
    """

    def __init__(self, batch_size: int, clock: Callable[[], float] = time.perf_counter) -> None:
        self.batch_size = batch_size
        self.clock = clock
        self.first_step = 0
        self.started = clock()

    def start(self, step: int) -> None:
        """Training (re)starts at ``step``."""
        self.first_step = step
        self.started = self.clock()

    def line(self, step: int, total: int, loss: float) -> str:
        """The progress line at ``step`` of ``total``; the ETA assumes the rate so far."""
        done = max(step - self.first_step, 0)
        elapsed = max(self.clock() - self.started, 1e-9)
        rate = done * self.batch_size / elapsed
        eta = (total - step) * elapsed / done if done else None
        return (
            f"step {step}/{total}  loss {loss:.3f}  {rate:,.1f} pairs/s  "
            f"ETA {format_duration(eta) if eta is not None else '?'}"
        )


def format_duration(seconds: float) -> str:
    """``45s``, ``2m10s``, ``1h05m``: short enough for a progress line."""
    whole = max(round(seconds), 0)
    if whole < 60:
        return f"{whole}s"
    if whole < 3600:
        return f"{whole // 60}m{whole % 60:02d}s"
    return f"{whole // 3600}h{whole % 3600 // 60:02d}m"


def progress_callback(meter: ProgressMeter, stream: TextIO | None = None) -> Any:
    """A transformers ``TrainerCallback`` that writes ``meter``'s line on each logged loss.

    Lines go to stderr (``stream`` if given) through ``tqdm.write``, which keeps the
    trainer's progress bar intact. The class is built here, not at import, because importing
    transformers' trainer pulls in torch (seconds), which readers of ``RECORD`` do not need.
    """
    from tqdm.auto import tqdm
    from transformers import TrainerCallback

    class ProgressLines(TrainerCallback):
        def on_train_begin(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
            meter.start(state.global_step)

        def on_log(
            self, args: Any, state: Any, control: Any, logs: dict | None = None, **kwargs: Any
        ) -> None:
            if state.is_world_process_zero and logs and "loss" in logs:
                line = meter.line(state.global_step, state.max_steps, float(logs["loss"]))
                tqdm.write(line, file=stream or sys.stderr)

    return ProgressLines()


def timed_checkpoints(minutes: float) -> Any:
    """A transformers ``TrainerCallback`` that asks for a checkpoint once ``minutes`` have
    passed since training began or since the last checkpoint, between the ``save_steps`` ones.
    Steps are what the trainer counts, but what a Ctrl-C loses is time: the same 200 steps are
    minutes on a GPU and hours on a laptop's CPU. Under DDP every process must agree on when
    to save, which separate clocks cannot promise, so it is for one process only."""
    from transformers import TrainerCallback

    class TimedCheckpoints(TrainerCallback):
        def __init__(self) -> None:
            self.last = time.monotonic()

        def on_train_begin(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
            self.last = time.monotonic()

        def on_step_end(self, args: Any, state: Any, control: Any, **kwargs: Any) -> Any:
            if time.monotonic() - self.last >= minutes * 60:
                control.should_save = True
            return control

        def on_save(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
            self.last = time.monotonic()

    return TimedCheckpoints()


def no_final_checkpoint() -> Any:
    """A transformers ``TrainerCallback`` that cancels the checkpoint the trainer writes
    after the last step: model, optimiser state and scheduler, which ``train_model`` would
    delete at once, after saving the model itself. With AdamW's two moments for every weight
    (e5-small's 250k-token vocabulary included) that write is the largest of the run. The
    periodic checkpoints (``save_steps``) stay: they are what a rerun resumes from."""
    from transformers import TrainerCallback

    class NoFinalCheckpoint(TrainerCallback):
        def on_step_end(self, args: Any, state: Any, control: Any, **kwargs: Any) -> Any:
            if state.global_step >= state.max_steps:
                control.should_save = False
            return control

    return NoFinalCheckpoint()


def quiet_trainer_logs(trainer: Any, progress: bool) -> None:
    """Stop the trainer printing its log dicts to stdout, and add the progress lines.

    transformers prints every log (``{'loss': ..., 'grad_norm': ...}``) to stdout, through
    its progress bar or, without one, with ``print``: noise in a library call, and it would
    corrupt ``podseek train --json``. The bar itself (on stderr) stays when ``progress``.
    """
    from transformers.trainer_callback import PrinterCallback, ProgressCallback

    class BarOnly(ProgressCallback):
        def on_log(self, *args: Any, **kwargs: Any) -> None:
            """The progress lines say it, on stderr."""

    trainer.remove_callback(PrinterCallback)
    if trainer.pop_callback(ProgressCallback) is not None:
        trainer.add_callback(BarOnly())
    if progress:  # pairs a step: every process's batch
        args = trainer.args
        batch = args.train_batch_size * args.gradient_accumulation_steps * args.world_size
        trainer.add_callback(progress_callback(ProgressMeter(batch)))


def logging_interval(pairs: int, settings: TrainSettings, world: int = 1) -> int:
    """Optimiser steps between loss logs: about 5% of the run, at least 1.

    An integer computed here rather than the trainer's ratio form (``logging_steps=0.05``):
    the trainer stores the ratio's resolved value in each checkpoint and warns on every
    resume that it differs from the 0.05 it is given. Like the trainer, it counts the last,
    smaller batch of an epoch as a step; under DDP (``world`` processes) an epoch is the
    rounds in which every process has a full batch.
    """
    if world > 1:
        per_epoch = pairs // settings.batch_size // world
    else:
        per_epoch = math.ceil(pairs / settings.batch_size)
    steps = math.ceil(settings.epochs * per_epoch)
    return max(1, steps // LOGS_PER_RUN)


def loss_history(log_history: list[dict[str, Any]]) -> list[dict[str, float]]:
    """The (step, loss) pairs the trainer logged, checkpointed ones of a resumed run included."""
    return [
        {"step": int(entry["step"]), "loss": round(float(entry["loss"]), 4)}
        for entry in log_history
        if "loss" in entry and "step" in entry
    ]


def cap_sequence_length(model: Any, length: int | None) -> int | None:
    """Set the model's token limit to at most ``length``; returns the limit it had. Models
    without one (the USE port reads whole texts) are left alone."""
    own = getattr(model, "max_seq_length", None)
    if not isinstance(own, int) or length is None:
        return own
    model.max_seq_length = min(own, length)
    return own


def _last_checkpoint(folder: Path) -> Path | None:
    """The newest ``checkpoint-N`` folder the trainer left, if any."""
    if not folder.is_dir():
        return None
    found = [p for p in folder.glob("checkpoint-*") if p.name.split("-")[-1].isdigit()]
    return max(found, key=lambda p: int(p.name.split("-")[-1]), default=None)


def _split_manifest(pairs_dir: Path) -> Any:
    path = Path(pairs_dir) / "split.json"
    return json.loads(path.read_text()) if path.is_file() else None
