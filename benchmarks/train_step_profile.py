"""Where a training step's time goes at batch 64: the trainer's settings one at a time.

`podseek train` at batch 64 on a GPU ran far below the rate of a bare training loop of the
same model (docs/results.md, "The H200 check"), and a step at batch 64 took about as long as
one at batch 256: a cost per step that does not grow with the batch. This script runs
``train_model`` (podseek's own path: the sentence-transformers trainer, MNRL, no-duplicates
batches) with e5-small's shape and random weights on title pairs, and changes one trainer
argument at a time, so the row that moves the rate names the cost:

- the loader processes (``dataloader_num_workers``: podseek's choice, none, two);
- the batch sampler (no duplicates against plain batches);
- the optimiser (fused AdamW against the unfused one) and gradient clipping;
- torch.compile (the trainer's ``torch_compile``), cuDNN's attention off, the anchors and
  positives in one forward pass;
- the word embeddings frozen (e5-small's 250k-token vocabulary is most of its weights: its
  dense gradient is zeroed and AdamW updates every row at every step);

then a bare loop on the same model and batches (tokenized beforehand, MNRL, fused AdamW, the
same autocast), the floor of this model on this device, and two profiles of podseek's row:
Python's (cProfile, the training process) and torch's (CPU and GPU time per operator).

Each rate is the steady one: pairs/s between the ends of steps after the first ``--skip``.
The payload is the GPU check's (``benchmarks/gpu_payload.py``).

Usage:
    python benchmarks/train_step_profile.py --payload .device --out $OUT          # the GPU
    python benchmarks/train_step_profile.py --payload .device --device cpu \\
        --batch 8 --steps 6 --max-tokens 32 --variants podseek                   # a smoke run
"""

import argparse
import contextlib
import cProfile
import io
import itertools
import json
import pstats
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from scale_throughput import (  # the GPU check's helpers
    StepClock,
    clocked_training,
    log,
    random_e5_folder,
    read_jsonl_gz,
    synchronize,
    write_pairs,
)
from sentence_transformers import SentenceTransformerTrainingArguments
from sentence_transformers.sentence_transformer.training_args import BatchSamplers

# One change per row: trainer arguments (``{}``: podseek's own), or a named setup below.
VARIANTS: dict[str, dict[str, Any]] = {
    "podseek": {},
    "no loader processes": {"dataloader_num_workers": 0},
    "2 loader processes": {"dataloader_num_workers": 2},
    "plain batches (duplicates allowed)": {"batch_sampler": BatchSamplers.BATCH_SAMPLER},
    "unfused AdamW": {"optim": "adamw_torch"},
    "no gradient clipping": {"max_grad_norm": 0.0},
    "torch.compile": {"torch_compile": True},
    "word embeddings frozen": {"setup": "freeze"},
    "cuDNN attention off": {"setup": "no_cudnn_attention"},
    "anchor and positive in one forward": {"setup": "one_forward"},
}


@contextlib.contextmanager
def setup(name: str | None) -> Iterator[list[Any]]:
    """The named change while a row runs; yields the callbacks it adds to the trainer."""
    import torch

    if name is None:
        yield []
    elif name == "freeze":
        yield [frozen_embeddings()]
    elif name == "no_cudnn_attention":
        before = torch.backends.cuda.cudnn_sdp_enabled()
        torch.backends.cuda.enable_cudnn_sdp(False)
        try:
            yield []
        finally:
            torch.backends.cuda.enable_cudnn_sdp(before)
    elif name == "one_forward":
        # the anchors ride in the positives' forward pass (padded to the longer width)
        from sentence_transformers.base.losses.merged_forward import embed_columns
        from sentence_transformers.sentence_transformer.losses import (
            MultipleNegativesRankingLoss as Loss,
        )

        forward = Loss.forward

        def merged(self: Any, sentence_features: Any, labels: Any) -> Any:
            columns = embed_columns(self.model, sentence_features, separate_first=False)
            return self.compute_loss_from_embeddings(columns, labels)

        Loss.forward = merged
        try:
            yield []
        finally:
            Loss.forward = forward
    else:
        raise ValueError(name)


CHANGES: dict[str, Any] = {}  # what ChangedArguments puts over podseek's arguments


class ChangedArguments(SentenceTransformerTrainingArguments):
    """podseek's trainer arguments with ``CHANGES`` over them (a module-level class: the
    trainer pickles its arguments)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **{**kwargs, **CHANGES})


def override_trainer_arguments(changes: dict[str, Any] | None) -> None:
    """Make ``train_model``'s ``SentenceTransformerTrainingArguments`` take ``changes``
    over the arguments podseek gives (it imports the class when it runs)."""
    import sentence_transformers

    CHANGES.clear()
    CHANGES.update(changes or {})
    sentence_transformers.SentenceTransformerTrainingArguments = (
        ChangedArguments if changes else SentenceTransformerTrainingArguments
    )


def frozen_embeddings() -> Any:
    """A callback that stops the word embeddings' gradient when training begins."""
    from transformers import TrainerCallback

    class Freeze(TrainerCallback):
        def on_train_begin(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
            for name, parameter in kwargs["model"].named_parameters():
                if name.endswith("word_embeddings.weight"):
                    parameter.requires_grad_(False)

    return Freeze()


def run_podseek(
    folder: Path,
    pairs_dir: Path,
    home: Path,
    name: str,
    args: argparse.Namespace,
    device: Any,
    extra_callbacks: list[Any] | None = None,
) -> dict[str, Any]:
    from podseek.training.train import TrainSettings

    settings = TrainSettings(
        batch_size=args.batch,
        max_pairs=args.batch * args.steps,
        max_seq_length=args.max_tokens,
        save_steps=10**9,
    )
    clock = StepClock(device, skip=args.skip)
    tick = time.perf_counter()
    report = clocked_training(
        folder, pairs_dir, home, name, settings, device, clock, extra_callbacks
    )
    steps = clock.times[args.skip :]
    per_step = [round((b - a) * 1000, 1) for a, b in itertools.pairwise(steps)]
    return {
        "steps": report.steps,
        "steady_pairs_per_s": clock.steady_rate(args.batch),
        "step_ms_median": sorted(per_step)[len(per_step) // 2] if per_step else None,
        "train_seconds": report.seconds,
        "wall_seconds": round(time.perf_counter() - tick, 1),
        "device": report.device,
    }


def bare_loop(folder: Path, pairs: list[dict], args: argparse.Namespace, device: Any) -> dict:
    """MNRL steps on batches tokenized beforehand: the model's floor on this device."""
    import torch
    from sentence_transformers import SentenceTransformer

    model = SentenceTransformer(str(folder), device=device.name)
    model.max_seq_length = args.max_tokens
    optimizer = torch.optim.AdamW(model.parameters(), lr=2e-5, fused=device.is_cuda)
    tokenize = getattr(model, "preprocess", None) or model.tokenize
    batches = []
    for step in range(args.steps):
        rows = pairs[step * args.batch : (step + 1) * args.batch]
        batches.append(
            [
                {k: v.to(device.name) for k, v in tokenize(texts).items() if hasattr(v, "to")}
                for texts in (
                    ["query: " + r["query"] for r in rows],
                    ["passage: " + r["passage"] for r in rows],
                )
            ]
        )
    autocast = (
        torch.autocast("cuda", dtype=torch.bfloat16)
        if device.is_cuda and device.half == "bfloat16"
        else torch.autocast("cpu", enabled=False)
    )
    labels = torch.arange(args.batch, device=device.name)
    times = []
    for queries, passages in batches:
        with autocast:
            q = model(queries)["sentence_embedding"]
            p = model(passages)["sentence_embedding"]
            scores = (
                20
                * torch.nn.functional.normalize(q.float())
                @ torch.nn.functional.normalize(p.float()).T
            )
            loss = torch.nn.functional.cross_entropy(scores, labels)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        synchronize(device)
        times.append(time.perf_counter())
    steady = times[args.skip :]
    rate = (len(steady) - 1) * args.batch / (steady[-1] - steady[0]) if len(steady) > 1 else None
    return {"steady_pairs_per_s": round(rate, 1) if rate else None}


def python_profile(call: Any, rows: int = 30) -> str:
    """cProfile's top functions by own time, then by cumulative time, of ``call()``."""
    profile = cProfile.Profile()
    profile.runcall(call)
    text = io.StringIO()
    stats = pstats.Stats(profile, stream=text)
    stats.sort_stats("tottime").print_stats(rows)
    stats.sort_stats("cumulative").print_stats(rows)
    return text.getvalue()


def torch_profile(device: Any, call: Any, rows: int = 25) -> str:
    """torch.profiler's operators by CPU and by GPU time over the steps of ``call()``."""
    from torch.profiler import ProfilerActivity, profile

    activities = [ProfilerActivity.CPU] + ([ProfilerActivity.CUDA] if device.is_cuda else [])
    with profile(activities=activities) as prof:
        call()
    averages = prof.key_averages()
    parts = [averages.table(sort_by="self_cpu_time_total", row_limit=rows)]
    if device.is_cuda:
        for key in ("self_device_time_total", "self_cuda_time_total"):
            try:
                parts.append(averages.table(sort_by=key, row_limit=rows))
                break
            except Exception:  # the key's name moved between torch versions
                continue
    return "\n\n".join(parts)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--payload", type=Path, default=Path(".device"))
    parser.add_argument("--out", type=Path, default=Path("train-profile"))
    parser.add_argument("--device", default="cuda")
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--steps", type=int, default=80)
    parser.add_argument("--skip", type=int, default=10)
    parser.add_argument("--max-tokens", type=int, default=256)
    parser.add_argument("--variants", default=",".join(VARIANTS))
    parser.add_argument("--no-profiles", action="store_true")
    parser.add_argument("--no-bare-loop", action="store_true")
    args = parser.parse_args()
    from podseek.models.device import resolve_device

    device = resolve_device(args.device)
    corpus = read_jsonl_gz(args.payload / "data" / "ln_corpus.jsonl.gz")
    pairs = read_jsonl_gz(args.payload / "data" / "title_pairs.jsonl.gz")
    args.out.mkdir(parents=True, exist_ok=True)
    results: dict[str, Any] = {"device": device.describe(), "batch": args.batch, "rows": {}}

    def save() -> None:
        (args.out / "train_profile.json").write_text(json.dumps(results, indent=2))

    with tempfile.TemporaryDirectory() as tmp:
        home = Path(tmp)
        folder = random_e5_folder([row["text"] for row in corpus], home / "e5-shape")
        pairs_dir = write_pairs(pairs, home / "pairs")
        for number, label in enumerate(args.variants.split(",")):
            changes = dict(VARIANTS[label])
            named = changes.pop("setup", None)
            override_trainer_arguments(changes)
            try:
                with setup(named) as callbacks:
                    row = run_podseek(
                        folder, pairs_dir, home, f"v{number}", args, device, callbacks
                    )
            except Exception as error:
                row = {"error": f"{type(error).__name__}: {str(error)[:300]}"}
            override_trainer_arguments(None)
            results["rows"][label] = row
            log(f"{label}: {row}")
            save()
        if not args.no_bare_loop:
            results["rows"]["bare loop (pre-tokenized)"] = bare_loop(folder, pairs, args, device)
            log(f"bare loop: {results['rows']['bare loop (pre-tokenized)']}")
            save()
        if not args.no_profiles:
            runs = iter(range(100))
            call = lambda: run_podseek(  # noqa: E731
                folder, pairs_dir, home, f"p{next(runs)}", args, device
            )
            (args.out / "cprofile.txt").write_text(python_profile(call))
            log("cProfile written")
            (args.out / "torch_profile.txt").write_text(torch_profile(device, call))
            log("torch profile written")
    save()
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
