"""ranx-computed scores against cases worked out by hand, and in-batch re-ranking."""

import numpy as np
import pytest

from podseek.evaluation.metrics import in_batch_runs, recall_curve, score_runs

QRELS = {"a": {"d1": 1}, "b": {"d2": 2, "d3": 1}}
RUN = {"a": {"d0": 0.9, "d1": 0.5}, "b": {"d3": 0.9, "d9": 0.1}}


def test_scores_match_a_hand_computed_case() -> None:
    scores = score_runs(QRELS, RUN, ["mrr@5", "recall@1", "recall@10", "ndcg@10"])
    # a: d1 at rank 2 (RR 1/2); b: d3 at rank 1 (RR 1), d2 never found
    assert scores["mrr@5"] == pytest.approx(0.75)
    # recall@1: a finds 0 of 1, b finds 1 of 2
    assert scores["recall@1"] == pytest.approx(0.25)
    assert scores["recall@10"] == pytest.approx(0.75)
    # nDCG@10 (linear gains): a = (1/log2 3) / 1; b = 1 / (2 + 1/log2 3)
    a = 1 / np.log2(3)
    b = 1 / (2 + 1 / np.log2(3))
    assert scores["ndcg@10"] == pytest.approx((a + b) / 2, abs=1e-4)


def test_a_query_without_results_scores_zero_and_unjudged_runs_are_ignored() -> None:
    scores = score_runs(QRELS, {"a": {}, "b": RUN["b"], "zz": {"d1": 1.0}}, ["mrr@10"])
    assert scores["mrr@10"] == pytest.approx(0.5)  # a: 0, b: 1
    assert score_runs(QRELS, {"zz": {"d1": 1.0}}, ["mrr@10"]) == {"mrr@10": 0.0}


def test_the_recall_curve_rises_with_k() -> None:
    curve = recall_curve(QRELS, RUN, [1, 2, 10])
    assert curve == {1: pytest.approx(0.25), 2: pytest.approx(0.75), 10: pytest.approx(0.75)}


def test_in_batch_runs_rank_only_the_batch_and_merge_a_repeated_episode() -> None:
    # four pairs, batches of three: q1 and q2 ask for the same episode e1
    queries = np.array([[1.0, 0.0], [0.9, 0.1], [0.0, 1.0], [1.0, 0.0]])
    episodes = np.array([[1.0, 0.0], [1.0, 0.0], [0.0, 1.0], [0.0, 1.0]])
    runs = in_batch_runs(["q1", "q2", "q3", "q4"], ["e1", "e1", "e3", "e4"], queries, episodes, 3)
    assert set(runs["q1"]) == {"e1", "e3"}  # e1 once; e4 is in the next batch
    assert set(runs["q4"]) == {"e4"}  # a batch of one: its own episode only
    qrels = {"q1": {"e1": 1}, "q2": {"e1": 1}, "q3": {"e3": 1}, "q4": {"e4": 1}}
    assert score_runs(qrels, runs, ["mrr@5", "recall@1"]) == {"mrr@5": 1.0, "recall@1": 1.0}
    wrong = in_batch_runs(["q1", "q3"], ["e1", "e3"], queries[[0, 2]], episodes[[2, 0]], 64)
    assert score_runs({"q1": {"e1": 1}, "q3": {"e3": 1}}, wrong, ["mrr@5"]) == {"mrr@5": 0.5}
