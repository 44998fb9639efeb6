"""Scores of ranked lists, all computed by ranx (never hand-rolled).

Two ways of asking "does the query find its episode", as in the reference and at Spotify:

- **full-corpus retrieval**: the query searches the whole held-out index; recall@10/30,
  MRR@10/30 and nDCG@10 of the ranked list against the judgments;
- **in-batch re-ranking**: the query only has to rank its own episode above the other
  episodes of its batch of 64 (the training loss's view); MRR@5 (the walkthrough's metric,
  0.68 before and 0.888 after fine-tuning) and recall@1 (Spotify's).

ranx is imported where a score is computed: it comes with the ``evaluate`` extra, and it
compiles its metrics with numba when first imported.
"""

from collections.abc import Sequence

import numpy as np

RETRIEVAL_METRICS = ("recall@10", "recall@30", "mrr@10", "mrr@30", "ndcg@10")
IN_BATCH_METRICS = ("mrr@5", "recall@1")
CURVE_KS = (1, 2, 3, 5, 10, 20, 30, 50, 100)

Ranking = dict[str, float]  # doc id -> score, one query's ranked list


def score_runs(
    qrels: dict[str, dict[str, int]],
    run: dict[str, Ranking],
    metrics: Sequence[str] = RETRIEVAL_METRICS,
) -> dict[str, float]:
    """Mean of each metric over the judged queries; a query with an empty list scores 0."""
    from ranx import Qrels, Run, evaluate

    judged = {q: r for q, r in qrels.items() if q in run}
    if not judged:
        return {metric: 0.0 for metric in metrics}
    # ranx refuses a query without results; a document that cannot be relevant stands in
    ranked = {q: run[q] or {"\x00none": 0.0} for q in judged}
    scores = evaluate(Qrels(judged), Run(ranked), list(metrics), make_comparable=True)
    if isinstance(scores, float):  # one metric comes back as a bare number
        scores = {metrics[0]: scores}
    return {metric: round(float(scores[metric]), 4) for metric in metrics}


def recall_curve(
    qrels: dict[str, dict[str, int]], run: dict[str, Ranking], ks: Sequence[int] = CURVE_KS
) -> dict[int, float]:
    """recall@k for each cut-off ``k``: the report's recall@k curve."""
    scores = score_runs(qrels, run, [f"recall@{k}" for k in ks])
    return {k: scores[f"recall@{k}"] for k in ks}


def in_batch_runs(
    query_ids: Sequence[str],
    episode_ids: Sequence[str],
    query_vectors: np.ndarray,
    episode_vectors: np.ndarray,
    batch_size: int = 64,
) -> dict[str, Ranking]:
    """Each query's ranking of the episodes of its batch (pairs ``i`` of the inputs, cut into
    consecutive batches of ``batch_size``), by cosine of normalised vectors.

    An episode that appears twice in a batch (it has several queries) is one candidate,
    judged relevant to all of its queries, so a duplicate never counts against a query."""
    runs: dict[str, Ranking] = {}
    for start in range(0, len(query_ids), batch_size):
        stop = min(start + batch_size, len(query_ids))
        scores = query_vectors[start:stop] @ episode_vectors[start:stop].T
        for row, query_id in enumerate(query_ids[start:stop]):
            ranking: Ranking = {}
            for column, episode_id in enumerate(episode_ids[start:stop]):
                ranking[episode_id] = float(scores[row, column])
            runs[query_id] = ranking
    return runs
