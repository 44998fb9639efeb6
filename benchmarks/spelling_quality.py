"""How well "did you mean" spells: the speller on the hand-written queries, clean and with
one typo each, with and without symspellpy's English word list counted as known.

Builds the speller from a catalog (the Listen Notes one `make bench-quality` keeps), then for
every query counts a correction offered for the clean query (a false alarm), and for a copy
with one seeded typo (a letter dropped, added or changed, never the first) in a word of five
or more letters the catalog knows, whether the correction restores the query exactly.

    python benchmarks/spelling_quality.py [--catalog /tmp/podseek-bench/catalog.sqlite]
"""

import argparse
import json
import random
import time
from pathlib import Path

from podseek.catalog.episode import episode_text
from podseek.catalog.store import CatalogStore
from podseek.search.spelling import WORD, Speller

QUERIES = Path(__file__).resolve().parent / "devset" / "listennotes" / "queries.jsonl"


def with_typo(query: str, speller: Speller, rng: random.Random) -> str | None:
    words = query.split()
    known = [n for n, w in enumerate(words) if len(w) >= 5 and WORD.fullmatch(w)]
    known = [n for n in known if speller.known(words[n])]
    if not known:
        return None
    n = rng.choice(known)
    word, at = words[n], rng.randrange(1, len(words[n]))
    letter = rng.choice("aeiounrst")
    words[n] = rng.choice(
        [
            word[:at] + word[at + 1 :],
            word[:at] + letter + word[at:],
            word[:at] + letter + word[at + 1 :],
        ]
    )
    return " ".join(words)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--catalog", type=Path, default=Path("/tmp/podseek-bench/catalog.sqlite"))
    args = parser.parse_args()
    with CatalogStore(args.catalog) as catalog:
        texts = [episode_text(e) for e in catalog.iter_episodes()]
    queries = [json.loads(line)["text"] for line in QUERIES.read_text().splitlines()]
    print(f"# {len(texts):,} episode texts, {len(queries)} hand-written queries\n")
    print("| speller | build s | clean queries corrected | one typo: restored exactly |")
    print("|---|---:|---:|---:|")
    for label, also_known in (
        ("catalog words + English list (default)", None),
        ("catalog words only", ()),
    ):
        started = time.perf_counter()
        speller = Speller.build(texts, also_known=also_known)
        seconds = time.perf_counter() - started
        rng = random.Random(0)
        pairs = [(t, q) for q in queries if (t := with_typo(q, speller, rng)) is not None]
        false = sum(speller.correct(q) is not None for q in queries)
        restored = sum((speller.correct(t) or "").lower() == q.lower() for t, q in pairs)
        print(
            f"| {label} | {seconds:.1f} | {false} of {len(queries)} | {restored} of {len(pairs)} |"
        )


if __name__ == "__main__":
    main()
