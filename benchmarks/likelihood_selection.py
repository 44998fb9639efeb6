"""InPars-style selection of training queries: Gemma's own likelihood against the round trip.

The round trip keeps a generated query only when the *base* encoder or BM25 already finds its
episode, so it favours what the base model knows. InPars instead scores each query by the
generator's log-probability of the query given its episode (the few-shot page and the episode,
as the query was generated) and keeps the best. This scores every text-filtered query of the
train split's episodes with Gemma-3-270M through llama.cpp, in three contexts: the episode,
no episode, and the episode's show alone (its title and description, no episode title or
description). ``select --by`` then ranks them by one of:

- ``cond``: the mean log-probability per token given the episode (InPars-v1);
- ``pmi``: log p(query | episode) - log p(query | no episode): what the episode explains of
  the query, rather than how likely its words are anyway;
- ``episode-pmi``: log p(query | episode) - log p(query | its show): what the episode explains
  beyond its show (a query that only names the show fits all of the show's episodes);

and writes a pairs folder whose train split is the best-scored queries, as many as the round
trip kept, with the workspace's eval and test splits. ``--by all`` keeps every text-filtered
query (no round trip, no score) as the control. ``podseek train`` then trains on it in a
workspace of its own:

    PODSEEK_HOME=ws python benchmarks/likelihood_selection.py score          # resumable
    PODSEEK_HOME=ws python benchmarks/likelihood_selection.py select --by pmi --out /tmp/ip-pmi
    PODSEEK_HOME=/tmp/ip-pmi podseek train --base use-multilingual --name use-pmi --no-partner

Scores go to ``<workspace>/likelihood.sqlite``; a rerun scores only the episodes not done.
"""

import argparse
import json
import os
import shutil
import sqlite3
import time
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np

from podseek.catalog.episode import Episode, episode_text
from podseek.catalog.store import CatalogStore
from podseek.config import Settings
from podseek.extras import require
from podseek.queries.generators import (
    DEFAULT_MAX_CHARS,
    _llama_log_levels_of_its_ggml,
    gemma_gguf,
)
from podseek.queries.prompts import page_for
from podseek.queries.split import SplitShares, assign_episodes, text_filtered_queries
from podseek.queries.store import SYNTHETIC, QueryStore, query_id

CONTEXT = 2048
QUERY_TOKENS = 60
# (cond, without the episode, with its show alone, tokens) -> the key; higher is kept first
KEYS: dict[str, Callable[[float, float, float, int], float] | None] = {
    "cond": lambda cond, empty, show, tokens: cond / tokens,
    "pmi": lambda cond, empty, show, tokens: cond - empty,
    "episode-pmi": lambda cond, empty, show, tokens: cond - show,
    "all": None,
}


class LikelihoodScorer:
    """log p(query | page, context) under Gemma, for the contexts of :meth:`score`.

    The page and each context are evaluated once; each query is one batch that asks llama.cpp
    for the logits of its own positions only (Gemma's 262k-word head on every position of the
    episode, as ``Llama(logits_all=True)`` computes it, made a first try four times slower).
    llama-cpp-python's high-level API has no such call, so this drives its context and batch
    (``_ctx``, ``_batch``) as ``Llama.eval`` does."""

    def __init__(self, threads: int | None = None) -> None:
        require("llama", "llama_cpp", what="scoring queries with Gemma")
        import llama_cpp

        _llama_log_levels_of_its_ggml()
        self.llm = llama_cpp.Llama(
            model_path=str(gemma_gguf()),
            n_ctx=CONTEXT,
            n_batch=512,
            n_threads=threads or os.cpu_count(),
            swa_full=True,
            verbose=False,
        )
        self.vocabulary = self.llm.n_vocab()
        self.page: str | None = None
        self.page_tokens: list[int] = []

    def _tokens(self, text: str) -> list[int]:
        return self.llm.tokenize(text.encode(), add_bos=False, special=False)

    def _page(self, prefix: str) -> int:
        """Evaluate the few-shot page ``prefix``, unless it is the one evaluated last; its
        length in tokens."""
        if prefix != self.page:
            self.page_tokens = self.llm.tokenize(prefix.encode(), add_bos=True, special=False)
            self.llm.reset()
            self.llm.eval(self.page_tokens)
            self.page = prefix
        return len(self.page_tokens)

    def _log_probability(self, last: int, length: int, query: list[int]) -> float:
        """Sum of log p(query) after the ``length`` evaluated tokens, the last ``last``."""
        batch = [last, *query[:-1]]
        ctx = self.llm._ctx
        ctx.kv_cache_seq_rm(-1, length - 1, -1)
        self.llm._batch.set_batch(batch=batch, n_past=length - 1, logits_all=True)
        ctx.decode(self.llm._batch)
        logits = np.ctypeslib.as_array(ctx.get_logits(), shape=(len(batch), self.vocabulary))
        top = logits.max(axis=1)
        normaliser = top + np.log(np.exp(logits - top[:, None]).sum(axis=1))
        return float((logits[np.arange(len(query)), query] - normaliser).sum())

    def _given(self, language: str, text: str, queries: list[list[int]]) -> list[float]:
        """log p(query | page, ``text`` as the episode) of each tokenized query."""
        page = page_for(language)
        self.llm.n_tokens = self._page(page.prefix())  # the next eval replaces what followed
        room = CONTEXT - QUERY_TOKENS - 4 - self.llm.n_tokens
        episode = self._tokens(page.episode_part(text))[:room]
        self.llm.eval(episode)
        length = self.llm.n_tokens
        return [self._log_probability(episode[-1], length, q) for q in queries]

    def score(
        self, episode: Episode, queries: Sequence[str]
    ) -> list[tuple[float, float, float, int]]:
        """(given the episode, given no episode, given its show alone, tokens) of each query."""
        tokenized = [self._tokens(" " + q.strip() + "\n")[:QUERY_TOKENS] for q in queries]
        show = episode.model_copy(update={"episode_title": "", "episode_description": ""})
        contexts = (episode_text(episode, DEFAULT_MAX_CHARS), "", episode_text(show))
        cond, empty, alone = (self._given(episode.language, t, tokenized) for t in contexts)
        return [(c, e, a, len(q)) for c, e, a, q in zip(cond, empty, alone, tokenized, strict=True)]


def train_candidates(settings: Settings) -> tuple[dict[str, list[str]], dict[str, Episode]]:
    """The train split's episodes -> their text-filtered queries, round trip or not, split as
    ``podseek pairs split`` split them (same seed and shares); and the catalog's episodes."""
    split = json.loads((settings.pairs_dir / "split.json").read_text())
    with CatalogStore(settings.catalog_path) as catalog:
        episodes = {e.id: e for e in catalog.iter_episodes()}
    store = QueryStore(settings.queries_path)
    candidates = text_filtered_queries(store, episodes)
    paired = {p["episode_id"] for p in store.iter_pairs()}
    shares = SplitShares(**split["shares"])
    assignment = assign_episodes(sorted(paired | set(candidates)), shares, split["seed"])
    train = {e: candidates.get(e, []) for e, where in assignment.items() if where == "train"}
    return train, episodes


def score(settings: Settings, limit: int | None = None) -> None:
    scores = sqlite3.connect(settings.home / "likelihood.sqlite")
    scores.execute(
        "CREATE TABLE IF NOT EXISTS score (episode_id TEXT, query TEXT, cond REAL, "
        "empty REAL, show REAL, tokens INTEGER, PRIMARY KEY (episode_id, query))"
    )
    done = {row[0] for row in scores.execute("SELECT DISTINCT episode_id FROM score")}
    train, episodes = train_candidates(settings)
    candidates = {e: qs for e, qs in train.items() if qs and e not in done}
    # one language's page at a time: the page is evaluated once per run of its language
    order = sorted(candidates, key=lambda e: (episodes[e].language, e))[:limit]
    print(f"scoring the queries of {len(order):,} train episodes ({len(done):,} done before)")
    scorer = LikelihoodScorer()
    started = time.perf_counter()
    for k, episode_id in enumerate(order, start=1):
        queries = candidates[episode_id]
        rows = scorer.score(episodes[episode_id], queries)
        scores.executemany(
            "INSERT OR REPLACE INTO score VALUES (?, ?, ?, ?, ?, ?)",
            [(episode_id, q, *row) for q, row in zip(queries, rows, strict=True)],
        )
        scores.commit()
        if k % 200 == 0 or k == len(order):
            seconds = time.perf_counter() - started
            print(f"{k:,}/{len(order):,} episodes, {k / seconds:.2f}/s", flush=True)


def select(settings: Settings, by: str, out: Path) -> None:
    """Write ``out/pairs``: the workspace's pairs with the train split chosen by ``by``."""
    source = settings.pairs_dir
    kept = [
        line.split("\t")[0]
        for line in (source / "qrels" / "train.tsv").read_text().splitlines()[1:]
    ]
    scores = sqlite3.connect(settings.home / "likelihood.sqlite")
    rows = list(scores.execute("SELECT episode_id, query, cond, empty, show, tokens FROM score"))
    key = KEYS[by]
    if key is not None:
        rows = sorted(rows, key=lambda row: key(*row[2:]), reverse=True)[: len(kept)]
    chosen = [(query_id(SYNTHETIC, q, e), q, e) for e, q, *_ in rows]
    overlap = len({qid for qid, _, _ in chosen} & set(kept))
    episodes = len({e for _, _, e in chosen})
    words = np.mean([len(q.split()) for _, q, _ in chosen])
    print(
        f"{by}: {len(chosen):,} pairs over {episodes:,} episodes, {overlap:,} of them also kept "
        f"by the round trip; {words:.1f} words a query"
    )
    write_pairs(source, chosen, out)


def write_pairs(source: Path, chosen: Sequence[tuple[str, str, str]], out: Path) -> None:
    """Write ``out/pairs``: the pairs folder ``source`` with ``chosen`` (query id, query,
    episode id) as its train split, and its eval and test splits as they are."""
    target = out / "pairs"
    shutil.rmtree(target, ignore_errors=True)
    (target / "qrels").mkdir(parents=True)
    for name in ("corpus.jsonl", "split.json", "qrels/dev.tsv", "qrels/test.tsv"):
        shutil.copyfile(source / name, target / name)
    with (target / "queries.jsonl").open("w", encoding="utf-8") as handle:
        known = set()
        for line in (source / "queries.jsonl").open(encoding="utf-8"):
            handle.write(line)
            known.add(json.loads(line)["_id"])
        for qid, query, episode_id in chosen:
            if qid not in known:
                known.add(qid)
                row = {
                    "_id": qid,
                    "text": query,
                    "metadata": {"source": SYNTHETIC, "episode_id": episode_id, "split": "train"},
                }
                handle.write(json.dumps(row, ensure_ascii=False) + "\n")
    lines = ["query-id\tcorpus-id\tscore", *(f"{qid}\t{e}\t1" for qid, _, e in chosen)]
    (target / "qrels" / "train.tsv").write_text("\n".join(lines) + "\n")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("step", choices=("score", "select"))
    parser.add_argument("--by", choices=sorted(KEYS), default="pmi")
    parser.add_argument("--out", type=Path, help="select: the new workspace")
    parser.add_argument("--limit", type=int, help="score: at most this many episodes this run")
    args = parser.parse_args()
    settings = Settings()
    if args.step == "score":
        score(settings, args.limit)
    else:
        if args.out is None:
            parser.error("select needs --out")
        select(settings, args.by, args.out)


if __name__ == "__main__":
    main()
