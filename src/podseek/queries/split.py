"""Split the training pairs by episode into train / eval / test, written in BEIR form.

The split is by episode, as in the reference walkthrough (1% eval, 19% test, the rest train):
every query of an episode goes to that episode's split, synthetic and search-log pairs alike,
and so do the queries of its transcript's windows, so no episode is both trained on and
tested on. The folder is what BEIR, ranx and other IR tools read unchanged:

    pairs/corpus.jsonl        every episode of the catalog: _id, title, text (the encoder's
                              text); then the windows of train episodes that have queries:
                              _id (the window id), title, text (the segment index's text),
                              metadata (kind "window", episode_id, start, end)
    pairs/queries.jsonl       every pair's query: _id, text, metadata (source, episode, split;
                              window_id and start for a window's query)
    pairs/qrels/train.tsv     query-id  corpus-id  score (1); a window's query is judged by
                              its window: training learns (query, window text)
    pairs/qrels/dev.tsv       the eval split (BEIR calls it dev)
    pairs/qrels/test.tsv
    pairs/split.json          seed, shares, counts and what produced them

The test split is fair to the base model: a test episode's synthetic queries are every one
that passed the text filters, whether or not it passed the round trip. The round trip keeps a
query only when the base encoder or BM25 already finds its episode, so a test made of those
alone measures what the base model can do and cannot show a gain over it. (A window's queries
are the filtered ones, as before; the train and eval splits keep the round trip.)

In the eval and test splits a window's query is judged by its episode: ``podseek evaluate``
searches indexes of episodes (the held-out episodes' index, the catalog's), where the episode
is what a listener asking it should find. The windows of held-out episodes stay out of the
corpus, so the corpus and the held-out qrels agree for any tool that searches the corpus.

It is written into a temporary folder and renamed into place, so a reader never sees half a
split.
"""

import itertools
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
from podseek.catalog.episode import Episode, episode_text
from podseek.catalog.store import CatalogStore
from podseek.catalog.windows import parse_window_id, window_text
from podseek.errors import PodseekError
from podseek.queries.filters import FilterReport, FilterSettings, QueryFilter
from podseek.queries.segments import WindowTarget, find_windows, window_parent
from podseek.queries.store import SYNTHETIC, QueryStore, query_id

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
    windows = find_windows(catalog, {p["episode_id"] for p in pairs} - set(episodes), episodes)
    gone: Counter[str] = Counter()  # pairs of episodes no longer in the catalog
    missing: Counter[str] = Counter()  # of windows no longer in their episode's transcript
    for p in pairs:
        written_for = p["episode_id"]
        if written_for not in episodes and written_for not in windows:
            removed = missing if window_parent(written_for) in episodes else gone
            removed[p["source"]] += 1
    pairs = [p for p in pairs if p["episode_id"] in episodes or p["episode_id"] in windows]
    if not pairs:
        raise PodseekError(
            "there are no query-episode pairs to split; run `podseek queries generate` "
            "(or `podseek queries import-logs`) first"
        )
    for p in pairs:  # the episode a pair belongs to, and the window it was written for
        target_id = p["episode_id"]
        p["window_id"] = target_id if target_id in windows else ""
        p["episode_id"] = windows[target_id].episode.id if target_id in windows else target_id
    unchecked = text_filtered_queries(store, episodes)
    assignment = assign_episodes(
        sorted({p["episode_id"] for p in pairs} | set(unchecked)), shares, seed
    )
    known = {p["query_id"] for p in pairs}
    added = [
        {"query_id": qid, "query": query, "episode_id": episode_id, "source": SYNTHETIC}
        for episode_id, queries in unchecked.items()
        if assignment[episode_id] == "test"
        for query in queries
        if (qid := query_id(SYNTHETIC, query, episode_id)) not in known
    ]
    pairs += [{**p, "window_id": ""} for p in added]
    trained_windows = sorted(
        {p["window_id"] for p in pairs if p["window_id"] and assignment[p["episode_id"]] == "train"}
    )

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
        window_docs = (_window_doc(windows[w], text_max_chars) for w in trained_windows)
        write_jsonl(work / "corpus.jsonl", itertools.chain(corpus, window_docs))
        write_jsonl(work / "queries.jsonl", (_query_row(p, assignment, episodes) for p in pairs))
        counts: dict[str, dict[str, int]] = {}
        for name in SPLITS:
            rows = [p for p in pairs if assignment[p["episode_id"]] == name]
            # train judges a window's query by its window; eval and test by its episode
            judged = ((p["query_id"], _judged(p, name), 1) for p in rows)
            write_qrels(work / "qrels" / f"{name}.tsv", judged)
            counts[name] = {
                "episodes": sum(1 for s in assignment.values() if s == name),
                "queries": len(rows),
                **{f"queries_{k}": v for k, v in Counter(p["source"] for p in rows).items()},
                "windows": len({p["window_id"] for p in rows if p["window_id"]}),
                "window_queries": sum(1 for p in rows if p["window_id"]),
            }
        manifest = {
            "seed": seed,
            "shares": {"eval": shares.eval, "test": shares.test},
            "corpus": len(episodes),
            "corpus_windows": len(trained_windows),
            "splits": counts,
            "test_without_round_trip": len(added),
            "dropped_pairs_of_removed_episodes": dict(gone),
            "dropped_pairs_of_removed_windows": dict(missing),
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


def text_filtered_queries(store: QueryStore, episodes: dict[str, Episode]) -> dict[str, list[str]]:
    """Episode id -> its generated queries that pass the text filters, as the generation
    run filtered them but without the round trip (the test split's queries)."""
    generated = store.generated()
    run = store.get_meta("run") or {}
    text_filter = QueryFilter.for_prompts(
        FilterSettings(round_trip_k=0, title_filter=run.get("generator") != "title")
    )
    passed: dict[str, list[str]] = {}
    items = [(episodes[i], queries) for i, queries in generated.items() if i in episodes]
    for query, episode_id in text_filter.apply(items, FilterReport()):
        passed.setdefault(episode_id, []).append(query)
    return passed


def _judged(pair: dict[str, str], split: str) -> str:
    """The corpus id a pair's query is judged by in ``split``."""
    return pair["window_id"] if split == "train" and pair["window_id"] else pair["episode_id"]


def _window_doc(target: WindowTarget, text_max_chars: int) -> dict[str, Any]:
    """A window's corpus row: the text the segment index encodes for it."""
    episode, window = target.episode, target.window
    return {
        "_id": target.id,
        "title": f"{episode.episode_title or episode.show_title} ({_clock(window.start)})",
        "text": window_text(episode, window, text_max_chars),
        "metadata": {
            "language": episode.language,
            "show_id": episode.show_id,
            "kind": "window",
            "episode_id": episode.id,
            "start": window.start,
            "end": window.end,
        },
    }


def _query_row(
    pair: dict[str, str], assignment: dict[str, str], episodes: dict[str, Episode]
) -> dict[str, Any]:
    metadata: dict[str, Any] = {
        "source": pair["source"],
        "episode_id": pair["episode_id"],
        "split": assignment[pair["episode_id"]],
        "lang": episodes[pair["episode_id"]].language,
    }
    if pair["window_id"]:
        metadata["window_id"] = pair["window_id"]
        metadata["start"] = parse_window_id(pair["window_id"])[1]
    return {"_id": pair["query_id"], "text": pair["query"], "metadata": metadata}


def _clock(seconds: float) -> str:
    """``m:ss`` (``h:mm:ss`` from an hour on)."""
    whole = int(seconds)
    hours, rest = divmod(whole, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"
