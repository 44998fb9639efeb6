"""Split the training pairs by episode into train / eval / test, written in BEIR form.

The split is by episode, as in the reference walkthrough (1% eval, 19% test, the rest train):
every query of an episode goes to that episode's split, synthetic and search-log pairs alike,
so no episode is both trained on and tested on. The folder is what BEIR, ranx and other IR
tools read unchanged:

    pairs/corpus.jsonl        every episode of the catalog: _id, title, text (the encoder's text)
    pairs/queries.jsonl       every pair's query: _id, text, metadata (source, episode, split)
    pairs/qrels/train.tsv     query-id  corpus-id  score (1)
    pairs/qrels/dev.tsv       the eval split (BEIR calls it dev)
    pairs/qrels/test.tsv
    pairs/split.json          seed, shares, counts and what produced them

It is written into a temporary folder and renamed into place, so a reader never sees half a
split.
"""

import json
import os
import random
import shutil
import tempfile
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from podseek.beir import write_jsonl, write_qrels
from podseek.catalog.episode import episode_text
from podseek.catalog.store import CatalogStore
from podseek.errors import PodseekError
from podseek.queries.store import QueryStore

SPLITS = ("train", "dev", "test")  # BEIR's names; "dev" is the eval split


@dataclass(frozen=True)
class SplitShares:
    """Shares of episodes in the eval and test splits; train gets the rest."""

    eval: float = 0.01
    test: float = 0.19

    def __post_init__(self) -> None:
        if not (0 <= self.eval < 1 and 0 <= self.test < 1 and self.eval + self.test < 1):
            raise PodseekError(
                f"--eval {self.eval} and --test {self.test} must be shares in [0, 1) that "
                "leave some episodes for training"
            )


def assign_episodes(episode_ids: list[str], shares: SplitShares, seed: int) -> dict[str, str]:
    """Episode id -> "train" / "dev" / "test", seeded; each split that should have episodes
    gets at least one when there are enough episodes."""
    ordered = sorted(episode_ids)
    random.Random(seed).shuffle(ordered)
    n = len(ordered)
    n_eval = round(n * shares.eval)
    n_test = round(n * shares.test)
    if shares.eval > 0 and n >= 3:
        n_eval = max(1, n_eval)
    if shares.test > 0 and n >= 3:
        n_test = max(1, n_test)
    split = {}
    for position, episode_id in enumerate(ordered):
        if position < n_eval:
            split[episode_id] = "dev"
        elif position < n_eval + n_test:
            split[episode_id] = "test"
        else:
            split[episode_id] = "train"
    return split


def split_pairs(
    catalog: CatalogStore,
    store: QueryStore,
    target: Path,
    shares: SplitShares,
    seed: int = 0,
    text_max_chars: int = 2000,
) -> dict[str, Any]:
    """Write the BEIR folder ``target`` from the workspace's pairs; returns ``split.json``."""
    pairs = list(store.iter_pairs())
    episodes = {e.id: e for e in catalog.iter_episodes()}
    missing = Counter(p["source"] for p in pairs if p["episode_id"] not in episodes)
    pairs = [p for p in pairs if p["episode_id"] in episodes]
    if not pairs:
        raise PodseekError(
            "there are no query-episode pairs to split; run `podseek queries generate` "
            "(or `podseek queries import-logs`) first"
        )
    assignment = assign_episodes(sorted({p["episode_id"] for p in pairs}), shares, seed)

    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix=f".{target.name}.", dir=target.parent))
    try:
        corpus = (
            {
                "_id": e.id,
                "title": e.episode_title or e.show_title,
                "text": episode_text(e, text_max_chars),
                "metadata": {"language": e.language, "show_id": e.show_id},
            }
            for e in episodes.values()
        )
        write_jsonl(work / "corpus.jsonl", corpus)
        write_jsonl(
            work / "queries.jsonl",
            (
                {
                    "_id": p["query_id"],
                    "text": p["query"],
                    "metadata": {
                        "source": p["source"],
                        "episode_id": p["episode_id"],
                        "split": assignment[p["episode_id"]],
                        "lang": episodes[p["episode_id"]].language,
                    },
                }
                for p in pairs
            ),
        )
        counts: dict[str, dict[str, int]] = {}
        for name in SPLITS:
            rows = [p for p in pairs if assignment[p["episode_id"]] == name]
            write_qrels(
                work / "qrels" / f"{name}.tsv", ((p["query_id"], p["episode_id"], 1) for p in rows)
            )
            counts[name] = {
                "episodes": sum(1 for s in assignment.values() if s == name),
                "queries": len(rows),
                **{f"queries_{k}": v for k, v in Counter(p["source"] for p in rows).items()},
            }
        manifest = {
            "seed": seed,
            "shares": {"eval": shares.eval, "test": shares.test},
            "corpus": len(episodes),
            "splits": counts,
            "dropped_pairs_of_removed_episodes": dict(missing),
            "run": store.get_meta("run"),
            "filter_report": store.get_meta("filter_report"),
        }
        (work / "split.json").write_text(json.dumps(manifest, indent=2) + "\n")
        old = target.with_name(f".{target.name}.old")
        if target.exists():
            shutil.rmtree(old, ignore_errors=True)
            os.replace(target, old)
        os.replace(work, target)
        shutil.rmtree(old, ignore_errors=True)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return manifest
