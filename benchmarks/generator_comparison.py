"""Two generators' training queries on the same episodes: a workspace's run against another's.

The generator is the lever left on query quality (docs/results.md), and a second generator
costs a generation run, so it is first tried on a sample. This takes the train split of a
finished workspace (``--base``: the full run, Gemma-3-270M) and a second workspace over the
same catalog whose queries another generator wrote for a seeded sample (``--other``:
``podseek queries generate --generator gguf:PATH --limit N``, filtered by the same round
trip against the same base index). For the train episodes both wrote for, it prints what
each generator wrote and kept, and writes pairs folders with the base workspace's eval and test
splits, whose train splits are each generator's kept pairs for those episodes (``base``,
``other``), both (``both``), and as many of the other's as the base kept (``other-equal``),
for ``podseek train`` to train on:

    PODSEEK_HOME=/tmp/other podseek index --model e5-small       # the round trip's index
    PODSEEK_HOME=/tmp/other podseek queries generate --generator gguf:model.gguf \\
        --limit 1600 --segments-per-episode 0
    python benchmarks/generator_comparison.py --base /tmp/listennotes-full --other /tmp/other \\
        --out /tmp/generators
    PODSEEK_HOME=/tmp/generators/base podseek train --base use-multilingual --name use-base \\
        --seed 0 --no-partner                                    # and /tmp/generators/other
"""

import argparse
import random
import re
from pathlib import Path

import numpy as np
from likelihood_selection import train_candidates, write_pairs

from podseek.config import Settings
from podseek.queries.split import text_filtered_queries
from podseek.queries.store import SYNTHETIC, QueryStore, query_id

WORD = re.compile(r"\w{4,}")


def content_words(text: str) -> set[str]:
    return {w.lower() for w in WORD.findall(text)}


def describe(
    name: str,
    raw: dict[str, list[str]],
    passed: dict[str, list[str]],
    kept: dict[str, list[str]],
    titles: dict[str, str],
) -> dict[str, float]:
    """What one generator wrote and kept over the compared episodes."""
    queries = [q for qs in kept.values() for q in qs]
    fresh = [
        q for e, qs in kept.items() for q in qs if not content_words(q) & content_words(titles[e])
    ]
    n_raw = sum(len(qs) for qs in raw.values())
    row = {
        "raw": n_raw,
        "text-filtered": sum(len(qs) for qs in passed.values()),
        "kept": len(queries),
        "kept share": len(queries) / max(n_raw, 1),
        "episodes with a kept query": sum(1 for qs in kept.values() if qs),
        "words a kept query": float(np.mean([len(q.split()) for q in queries])) if queries else 0,
        "kept, no title word": len(fresh) / max(len(queries), 1),
    }
    print(f"\n{name}:")
    for key, value in row.items():
        print(f"  {key}: {value:,.3f}" if isinstance(value, float) else f"  {key}: {value:,}")
    return row


def kept_pairs(store: QueryStore, episodes: set[str]) -> dict[str, list[str]]:
    kept: dict[str, list[str]] = {}
    for pair in store.iter_pairs([SYNTHETIC]):
        if pair["episode_id"] in episodes:
            kept.setdefault(pair["episode_id"], []).append(pair["query"])
    return kept


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--base", type=Path, required=True, help="the split workspace")
    parser.add_argument("--other", type=Path, required=True, help="the other generator's")
    parser.add_argument("--out", type=Path, required=True, help="where the two folders go")
    parser.add_argument("--samples", type=int, default=8, help="episodes to print side by side")
    args = parser.parse_args()

    base = Settings(home=args.base)
    train, episodes = train_candidates(base)
    with QueryStore(args.other / "queries.sqlite") as other_store:
        other_raw = other_store.generated()
        common = set(train) & set(other_raw)
        other_passed = text_filtered_queries(other_store, {e: episodes[e] for e in common})
        other_kept = kept_pairs(other_store, common)
        other_name = (other_store.get_meta("run") or {}).get("generator", "other")
    with QueryStore(base.queries_path) as base_store:
        base_raw = {e: qs for e, qs in base_store.generated().items() if e in common}
        base_kept = kept_pairs(base_store, common)
        base_name = (base_store.get_meta("run") or {}).get("generator", "base")
    base_passed = {e: qs for e, qs in train.items() if e in common}
    print(f"{len(common):,} train episodes of {args.base} that {args.other} also wrote for")
    titles = {e: episodes[e].episode_title for e in common}
    describe(f"base ({base_name})", base_raw, base_passed, base_kept, titles)
    describe(f"other ({other_name})", other_raw, other_passed, other_kept, titles)

    for e in random.Random(0).sample(sorted(common), min(args.samples, len(common))):
        print(f"\n## {titles[e][:100]} [{episodes[e].language}]")
        print(f"  base kept:  {base_kept.get(e, [])}")
        print(f"  other kept: {other_kept.get(e, [])}")
        print(f"  other raw:  {other_raw[e]}")

    both = {e: base_kept.get(e, []) + other_kept.get(e, []) for e in common}
    arms = {
        name: [(query_id(SYNTHETIC, q, e), q, e) for e in sorted(kept) for q in kept[e]]
        for name, kept in (("base", base_kept), ("other", other_kept), ("both", both))
    }
    # as many of the other's pairs as the base kept, so the count is not what differs
    size = min(len(arms["base"]), len(arms["other"]))
    arms["other-equal"] = random.Random(0).sample(arms["other"], size)
    for name, chosen in arms.items():
        write_pairs(base.pairs_dir, chosen, args.out / name)
        print(f"wrote {args.out / name / 'pairs'}: {len(chosen):,} train pairs")


if __name__ == "__main__":
    main()
