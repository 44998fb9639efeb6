"""Throughput of the heavy stages on every device this machine has: `make bench-scale`.

For each device (the CPU, and CUDA when torch sees a GPU) it measures, through podseek's own
code paths:

- **encode**: episodes/s of ``SentenceTransformerEncoder.encode_episodes`` with the
  multilingual-e5-small shape (12 layers, 384 wide, 256 tokens at most), float32 and, on CUDA,
  bf16 autocast, and the cosine between the two;
- **train**: pairs/s of ``train_model`` (MultipleNegativesRankingLoss, no-duplicates batches)
  at the given batch sizes;
- **generate**: episodes/s of the transformers Gemma engine (3 samples, at most 64 new
  tokens each, the KV cache of each prompt shared by its samples).

With ``--random-weights`` the models are the real shapes with random weights (the GPU machine
cannot carry e5's or Gemma's weights): a random Gemma never writes a newline, so every sample
runs the full 64 tokens, a slower case than real queries (which stop at the end of a line).
Without it, the CPU rows use the real packaged weights (e5-small; Gemma with the engine
podseek would pick).

``--quality`` (USE-multilingual's real weights, which do travel): the dev-set runs of the base
model in float32 and bf16, and of models fine-tuned at each ``--batches`` size on free
pseudo-queries (titles), written as TREC runs for ``benchmarks/score_runs.py``.

Usage:
    python benchmarks/scale_throughput.py --data ../shared/data             # this machine
    python benchmarks/scale_throughput.py --payload .device --random-weights --quality \\
        --out $OUT                                                           # the GPU check
"""

import argparse
import copy as copy_module
import gzip
import json
import os
import platform
import random
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "src"))
os.environ.setdefault("HF_HUB_OFFLINE", "1")

E5_SHAPE = {
    "hidden_size": 384,
    "num_hidden_layers": 12,
    "num_attention_heads": 12,
    "intermediate_size": 1536,
    "vocab_size": 250037,
    "max_position_embeddings": 514,
    "type_vocab_size": 1,
}
MAX_TOKENS = 256


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def read_jsonl_gz(path: Path) -> list[dict[str, Any]]:
    with gzip.open(path, "rt", encoding="utf-8") as handle:
        return [json.loads(line) for line in handle]


def synchronize(device: Any) -> None:
    import torch

    if device.is_cuda:
        torch.cuda.synchronize()


# ------------------------------------------------------------------------------ the models


def random_e5_folder(texts: list[str], folder: Path, seed: int = 0) -> Path:
    """A sentence-transformers folder with e5-small's shape and random weights.

    Its tokenizer is a word-level one built from ``texts`` (no e5 tokenizer travels): texts
    are cut at the same 256 tokens, words rather than sentence pieces."""
    import torch
    from sentence_transformers import SentenceTransformer
    from sentence_transformers.sentence_transformer.modules import Normalize, Pooling, Transformer
    from tokenizers import Tokenizer, models, pre_tokenizers, processors
    from transformers import BertConfig, BertModel, PreTrainedTokenizerFast

    counts: dict[str, int] = {}
    for text in texts:
        for word in text.lower().split():
            counts[word] = counts.get(word, 0) + 1
    specials = ["[PAD]", "[UNK]", "[CLS]", "[SEP]"]
    words = sorted(counts, key=lambda w: -counts[w])[: 30000 - len(specials)]
    vocab = {token: i for i, token in enumerate(specials + words)}
    tokenizer = Tokenizer(models.WordLevel(vocab, unk_token="[UNK]"))
    tokenizer.normalizer = None
    tokenizer.pre_tokenizer = pre_tokenizers.Whitespace()
    tokenizer.post_processor = processors.TemplateProcessing(
        single="[CLS] $A [SEP]", special_tokens=[("[CLS]", 2), ("[SEP]", 3)]
    )
    fast = PreTrainedTokenizerFast(
        tokenizer_object=tokenizer,
        pad_token="[PAD]",
        unk_token="[UNK]",
        cls_token="[CLS]",
        sep_token="[SEP]",
        model_max_length=512,
    )
    torch.manual_seed(seed)
    hf = folder / "hf"
    BertModel(BertConfig(**E5_SHAPE)).save_pretrained(hf)
    fast.save_pretrained(hf)
    transformer = Transformer(str(hf), max_seq_length=MAX_TOKENS)
    pooling = Pooling(transformer.get_embedding_dimension(), pooling_mode="mean")
    model = SentenceTransformer(modules=[transformer, pooling, Normalize()], device="cpu")
    model.save(str(folder / "st"))
    return folder / "st"


def e5_encoder(args: argparse.Namespace, device: Any, texts: list[str], home: Path) -> Any:
    from podseek.models.base import SentenceTransformerEncoder
    from podseek.models.registry import load_encoder

    if args.random_weights:
        folder = home / "e5-shape" / "st"
        if not folder.is_dir():
            random_e5_folder(texts, home / "e5-shape")
        encoder = SentenceTransformerEncoder(folder, "e5-shape", "query: ", "passage: ")
        encoder.model.max_seq_length = MAX_TOKENS
        return encoder.model, folder
    encoder = load_encoder("e5-small", home)
    encoder.model.max_seq_length = MAX_TOKENS
    return encoder.model, "e5-small"


# ---------------------------------------------------------------------------------- encode


def bench_encode(args: argparse.Namespace, device: Any, texts: list[str], home: Path) -> dict:
    from podseek.models.base import SentenceTransformerEncoder
    from podseek.models.device import Device

    model, _ = e5_encoder(args, device, texts, home)
    n = args.encode_n_gpu if device.is_cuda else args.encode_n_cpu
    batch = 256 if device.is_cuda else 32
    sample = [texts[i % len(texts)] for i in range(n)]
    result: dict[str, Any] = {"episodes": n, "batch": batch, "max_tokens": MAX_TOKENS}
    vectors = {}
    # float32; autocast over float32 weights; autocast over half weights (the default)
    variants = [("float32", None, False)]
    if device.is_cuda and device.half:
        variants += [(f"{device.half} autocast", device.half, False)]
        variants += [(f"{device.half} autocast + weights", device.half, True)]
    tokenize = getattr(model, "preprocess", None) or model.tokenize
    tick = time.perf_counter()
    for start in range(0, n, batch):
        tokenize(sample[start : start + batch])
    result["tokenize_only"] = {"episodes_per_s": round(n / (time.perf_counter() - tick), 1)}
    log(f"  tokenize only: {result['tokenize_only']['episodes_per_s']:,.1f} episodes/s")
    for label, half, weights in variants:
        copy = copy_module.deepcopy(model)
        encoder = SentenceTransformerEncoder(
            copy,
            "e5-shape",
            "query: ",
            "passage: ",
            device=Device(device.name, half),
            half_weights=weights,
        )
        encoder.encode_episodes(sample[: batch * 2], batch_size=batch)  # warm-up
        synchronize(device)
        tick = time.perf_counter()
        vectors[label] = encoder.encode_episodes(sample, batch_size=batch)
        synchronize(device)
        seconds = time.perf_counter() - tick
        result[label] = {"seconds": round(seconds, 2), "episodes_per_s": round(n / seconds, 1)}
        if label != "float32":
            cosine = np.sum(vectors["float32"] * vectors[label], axis=1)
            result[label]["cosine_to_float32"] = {
                "min": round(float(cosine.min()), 5),
                "mean": round(float(cosine.mean()), 6),
            }
        log(f"  encode {label}: {n / seconds:,.1f} episodes/s {result[label]}")
        if device.is_cuda:
            result[label]["model_only"] = model_only_rate(copy, sample, batch, half, device)
        del encoder, copy
    return result


def model_only_rate(model: Any, texts: list[str], batch: int, half: Any, device: Any) -> float:
    """Episodes/s of the forward passes alone, inputs tokenized beforehand at 256 tokens."""
    import torch

    from podseek.models.device import Device

    tokenize = getattr(model, "preprocess", None) or model.tokenize
    batches = []
    for start in range(0, min(len(texts), 8192), batch):
        features = tokenize(texts[start : start + batch])
        batches.append({k: v.to(device.name) for k, v in features.items() if hasattr(v, "to")})
    with torch.inference_mode(), Device(device.name, half).autocast():
        model(batches[0])
        synchronize(device)
        tick = time.perf_counter()
        for features in batches:
            model(features)
        synchronize(device)
    rate = sum(len(next(iter(f.values()))) for f in batches) / (time.perf_counter() - tick)
    log(f"    model only: {rate:,.1f} episodes/s")
    return round(rate, 1)


# ----------------------------------------------------------------------------------- train


def write_pairs(pairs: list[dict[str, Any]], folder: Path) -> Path:
    """A BEIR train split of ``(title, passage)`` pairs, as `podseek pairs split` writes one."""
    from podseek.beir import write_jsonl, write_qrels

    (folder / "qrels").mkdir(parents=True, exist_ok=True)
    write_jsonl(folder / "corpus.jsonl", ({"_id": p["id"], "text": p["passage"]} for p in pairs))
    write_jsonl(
        folder / "queries.jsonl",
        ({"_id": f"t{i}", "text": p["query"]} for i, p in enumerate(pairs)),
    )
    write_qrels(
        folder / "qrels" / "train.tsv", ((f"t{i}", p["id"], 1) for i, p in enumerate(pairs))
    )
    return folder


class StepClock:
    """When each optimiser step ended, to give the steady rate: the first steps pay for CUDA's
    start, kernel selection and the loader processes, which a long run does not notice."""

    def __init__(self, device: Any, skip: int = 3) -> None:
        self.device, self.skip, self.times = device, skip, []

    def callback(self) -> Any:
        from transformers import TrainerCallback

        clock = self

        class Steps(TrainerCallback):
            def on_step_end(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
                synchronize(clock.device)
                clock.times.append(time.perf_counter())

        return Steps()

    def steady_rate(self, batch: int) -> float | None:
        """Pairs/s over the steps after the first ``skip`` (the last, partial one left out)."""
        times = self.times[self.skip : -1]
        if len(times) < 2:
            return None
        return round((len(times) - 1) * batch / (times[-1] - times[0]), 1)


def clocked_training(
    folder: Path,
    pairs_dir: Path,
    home: Path,
    name: str,
    settings: Any,
    device: Any,
    clock: StepClock,
    callbacks: list[Any] | None = None,
) -> Any:
    """``train_model``'s report for a benchmark run: no progress lines, each step clocked."""
    from podseek.training.train import train_model

    return train_model(
        str(folder),
        pairs_dir,
        home,
        name,
        settings,
        progress=False,
        callbacks=[clock.callback(), *(callbacks or [])],
        device=device,
    )


def bench_train(
    args: argparse.Namespace, device: Any, pairs: list[dict], texts: list[str], home: Path
) -> dict:
    from podseek.training.train import TrainSettings

    _, folder = e5_encoder(args, device, texts, home)
    pairs_dir = write_pairs(pairs, home / "pairs")
    batches = [int(b) for b in args.batches.split(",")] if device.is_cuda else [64]
    steps = args.train_steps_gpu if device.is_cuda else args.train_steps_cpu
    result = {}
    for batch in batches:
        for mini in [None, batch] if batch > 256 else [None]:
            label = f"batch {batch}" + (" (one pass)" if mini == batch else "")
            name = f"bench-{batch}-{mini}-{device.kind}"
            settings = TrainSettings(
                batch_size=batch,
                max_pairs=min(batch * steps, len(pairs)),
                max_seq_length=MAX_TOKENS,
                save_steps=10**9,
                mini_batch=mini,
            )
            tick = time.perf_counter()
            clock = StepClock(device)
            try:
                report = clocked_training(folder, pairs_dir, home, name, settings, device, clock)
            except Exception as error:  # an out-of-memory is a result, not a crash
                result[label] = {"error": f"{type(error).__name__}: {str(error)[:200]}"}
                log(f"  train {label}: {result[label]['error']}")
                continue
            memory = None
            if device.is_cuda:
                import torch

                memory = round(torch.cuda.max_memory_allocated() / 2**30, 1)
                torch.cuda.reset_peak_memory_stats()
            result[label] = {
                "pairs": report.pairs,
                "steps": report.steps,
                "seconds": report.seconds,
                "wall_seconds": round(time.perf_counter() - tick, 1),
                "pairs_per_s": round(report.pairs_per_second, 1),
                "steady_pairs_per_s": clock.steady_rate(batch),
                "peak_gpu_gib": memory,
                "device": report.device,
            }
            log(f"  train {label}: {result[label]}")
    return result


# -------------------------------------------------------------------------------- generate


def bench_generate(args: argparse.Namespace, device: Any, corpus: list[dict], home: Path) -> dict:
    import torch

    from podseek.queries.generators import GemmaGenerator, _TransformersGemma

    if not args.random_weights:
        from podseek.catalog.episode import Episode

        generator = GemmaGenerator(models_dir=home / "models", device=device)
        episodes = [
            Episode(id=row["_id"], source="x", episode_title=row["text"])
            for row in corpus[: args.gen_n_cpu]
        ]
        generator.generate(episodes[:1], 3, 0)  # warm-up (the llama.cpp page)
        tick = time.perf_counter()
        generator.generate(episodes, 3, 0)
        seconds = time.perf_counter() - tick
        rate = len(episodes) / seconds
        log(f"  generate ({generator.engine}): {rate:.2f} episodes/s")
        return {"engine": generator.engine, "episodes": len(episodes), "episodes_per_s": rate}

    from transformers import Gemma3ForCausalLM, Gemma3TextConfig

    shape = json.loads((Path(args.payload) / "data" / "gemma_shape.json").read_text())
    config = {k: v for k, v in shape["config"].items() if not k.startswith("_")}
    torch.manual_seed(0)
    dtype = getattr(torch, device.half) if device.is_cuda and device.half else torch.float32
    model = Gemma3ForCausalLM(Gemma3TextConfig(**config)).to(dtype)
    runner = _TransformersGemma(model, None, [int(config.get("eos_token_id") or 1)], 0, 1.0, device)
    prompts = args.gen_prompts_gpu if device.is_cuda else args.gen_n_cpu
    batch = 128 if device.is_cuda else 8
    lengths = shape["prompt_tokens"]
    rng = random.Random(0)
    result: dict[str, Any] = {"prompt_tokens_median": shape["median"], "batch": batch}

    def run(count: int) -> float:
        tick = time.perf_counter()
        for start in range(0, count, batch):
            size = min(batch, count - start)
            chosen = sorted(rng.choice(lengths) for _ in range(size))
            width = max(chosen)
            ids = torch.randint(10, 250000, (size, width))
            mask = torch.zeros(size, width, dtype=torch.long)
            for row, length in enumerate(chosen):
                mask[row, width - length :] = 1  # left padding, as the engine pads
            with torch.inference_mode():
                runner.sample(ids, mask, 3)
        synchronize(device)
        return time.perf_counter() - tick

    run(min(batch, prompts))  # warm-up
    seconds = run(prompts)
    result.update({"episodes": prompts, "seconds": round(seconds, 2)})
    result["episodes_per_s"] = round(prompts / seconds, 2)
    log(f"  generate (random Gemma shape, 64 new tokens): {prompts / seconds:,.2f} episodes/s")
    return result


# --------------------------------------------------------------------------------- quality


def write_run(path: Path, ids: list[str], queries: dict[str, str], q: Any, e: Any) -> None:
    scores = q @ e.T
    with path.open("w") as handle:
        for row, qid in enumerate(queries):
            top = np.argsort(-scores[row])[:100]
            for rank, col in enumerate(top, 1):
                handle.write(f"{qid} Q0 {ids[col]} {rank} {scores[row, col]:.6f} run\n")


def bench_quality(
    args: argparse.Namespace, device: Any, corpus: list[dict], pairs: list[dict], home: Path
) -> dict:
    """USE-multilingual (real weights): float32 vs half vectors on the dev set, and the
    batch-size run."""
    from podseek.beir import load_queries
    from podseek.models.device import Device
    from podseek.models.registry import load_encoder, load_folder_encoder
    from podseek.training.train import TrainSettings, train_model

    runs = Path(args.out) / "runs"
    runs.mkdir(parents=True, exist_ok=True)
    queries, _ = load_queries(ROOT / "benchmarks/devset/listennotes/queries.jsonl")
    ids, texts = [r["_id"] for r in corpus], [r["text"] for r in corpus]
    result: dict[str, Any] = {}

    def encode_and_write(encoder: Any, label: str) -> Any:
        tick = time.perf_counter()
        episodes = encoder.encode_episodes(texts, batch_size=256)
        vectors = encoder.encode_queries(list(queries.values()), batch_size=256)
        write_run(runs / f"{label}.trec", ids, queries, vectors, episodes)
        result.setdefault("encode_seconds", {})[label] = round(time.perf_counter() - tick, 1)
        (Path(args.out) / "quality.json").write_text(json.dumps(result, indent=2))
        log(f"  quality run {label}: {time.perf_counter() - tick:.1f} s")
        return episodes

    base32 = encode_and_write(
        load_encoder("use-multilingual", home, device=Device(device.name)), "use-float32"
    )
    for weights in (False, True) if device.half else ():
        from podseek.models.base import SentenceTransformerEncoder
        from podseek.models.registry import models_dir
        from podseek.models.use_multilingual import build_use_multilingual

        model = build_use_multilingual(models_dir(home))
        label = "use-half-weights" if weights else "use-half-autocast"
        encoder = SentenceTransformerEncoder(model, label, device=device, half_weights=weights)
        half = encode_and_write(encoder, label)
        cosine = np.sum(base32 * half, axis=1)
        result[f"cosine {label} to float32"] = {
            "min": round(float(cosine.min()), 5),
            "mean": round(float(cosine.mean()), 6),
        }
        log(f"  USE cosine {label} vs float32: min {cosine.min():.5f} mean {cosine.mean():.6f}")
    pairs_dir = write_pairs(pairs, home / "title-pairs")
    for batch in [int(b) for b in args.batches.split(",")]:
        name = f"use-title-b{batch}"
        settings = TrainSettings(batch_size=batch, save_steps=10**9, mini_batch=args.quality_mini)
        try:
            report = train_model(
                "use-multilingual", pairs_dir, home, name, settings, progress=False, device=device
            )
        except Exception as error:
            result[name] = f"{type(error).__name__}: {str(error)[:300]}"
            log(f"  {name} failed: {result[name]}")
            continue
        result[name] = {
            "pairs": report.pairs,
            "steps": report.steps,
            "seconds": report.seconds,
            "pairs_per_s": round(report.pairs_per_second, 1),
            "final_loss": report.loss_history[-1]["loss"] if report.loss_history else None,
        }
        log(f"  trained {name}: {report.steps} steps in {report.seconds:.0f} s")
        encode_and_write(load_folder_encoder(home / "models" / name, device=device), name)
    return result


# ------------------------------------------------------------------------------------ main


def find_devices(wanted: str) -> list[Any]:
    from podseek.models.device import resolve_device

    names = ["cpu"]
    import torch

    if torch.cuda.is_available():
        names.append("cuda")
    if wanted != "all":
        names = [n for n in names if n in wanted.split(",")]
    return [resolve_device(name) for name in names]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", type=Path, help="shared/data (builds the payload first)")
    parser.add_argument("--payload", type=Path, default=ROOT / ".device")
    parser.add_argument("--out", type=Path, default=Path("bench-scale"))
    parser.add_argument("--devices", default="all", help="all, or a list: cpu,cuda")
    parser.add_argument("--random-weights", action="store_true")
    parser.add_argument("--quality", action="store_true")
    parser.add_argument("--stages", default="encode,train,generate")
    parser.add_argument("--batches", default="64,256,1024")
    parser.add_argument("--quality-mini", type=int, default=None)
    parser.add_argument("--encode-n-cpu", type=int, default=256)
    parser.add_argument("--encode-n-gpu", type=int, default=20000)
    parser.add_argument("--train-steps-cpu", type=int, default=3)
    parser.add_argument("--train-steps-gpu", type=int, default=30)
    parser.add_argument("--gen-n-cpu", type=int, default=8)
    parser.add_argument("--gen-prompts-gpu", type=int, default=256)
    args = parser.parse_args()
    if args.data is not None and not (args.payload / "data" / "ln_corpus.jsonl.gz").is_file():
        import subprocess

        script = ROOT / "benchmarks" / "gpu_payload.py"
        cmd = [sys.executable, str(script), "--data", str(args.data), "--out", str(args.payload)]
        subprocess.run([*cmd, "--skip-wheels"], check=True)
    corpus = read_jsonl_gz(args.payload / "data" / "ln_corpus.jsonl.gz")
    pairs = read_jsonl_gz(args.payload / "data" / "title_pairs.jsonl.gz")
    texts = [row["text"] for row in corpus]
    args.out.mkdir(parents=True, exist_ok=True)
    import torch

    results: dict[str, Any] = {
        "machine": {
            "platform": platform.platform(),
            "cpus": os.cpu_count(),
            "torch": torch.__version__,
            "random_weights": args.random_weights,
        },
        "devices": {},
    }
    stages = args.stages.split(",")
    for device in find_devices(args.devices):
        log(f"{device.describe()}")
        row: dict[str, Any] = {}
        with tempfile.TemporaryDirectory() as tmp:
            home = Path(tmp)
            for stage in stages:
                try:
                    if stage == "encode":
                        row["encode"] = bench_encode(args, device, texts, home)
                    elif stage == "train":
                        row["train"] = bench_train(args, device, pairs, texts, home)
                    elif stage == "generate":
                        row["generate"] = bench_generate(args, device, corpus, home)
                except Exception as error:  # report and go on to the next stage
                    row[stage] = {"error": f"{type(error).__name__}: {str(error)[:300]}"}
                    log(f"  {stage} failed: {row[stage]['error']}")
                (args.out / "scale.json").write_text(json.dumps(results | {"partial": row}))
            if args.quality and device.kind != "cpu":
                try:
                    row["quality"] = bench_quality(args, device, corpus, pairs, home)
                except Exception as error:
                    row["quality"] = {"error": f"{type(error).__name__}: {str(error)[:300]}"}
                    log(f"  quality failed: {row['quality']['error']}")
        results["devices"][device.describe()] = row
        (args.out / "scale.json").write_text(json.dumps(results, indent=2))
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
