"""Show search (issue 18): which way of scoring a show ranks shows best for short queries.

Show judgments come from the dev half's episode judgments (``qrels/dev.tsv`` only): a show
is relevant with the highest grade of its judged episodes. Each combination ranks the
catalog's shows for every dev query, in each search mode, and is scored with ranx (nDCG@10,
recall@10) on the topical queries (1-4 words, "woodworking"), on every dev query of at most
4 words, and on all dev queries; a paired t-test (ranx ``compare``) compares each run with
the default of its mode (ranx's randomisation test counts float noise as a difference when
most queries tie, as they do here). The combinations:

(a) the show's best episodes: the searcher ranks 100 episodes (its own hybrid depth) and
    groups them by show; ``episodes-max`` scores a show by its best one, ``episodes-decay``
    by ``s1 + s2/2 + s3/4`` of its three best, min-max normalised (the default,
    ``ShowSearcher``); ``episodes-decay-raw`` without the normalisation; ``@200``: 200
    episodes deep;
(b) the show's own text: ``text`` is BM25 over title, description and categories with the
    episode index's analyzer (keyword), the centroid of its episodes' vectors (semantic),
    both fused as the searcher fuses (hybrid: adaptive weight); ``text-encoded`` has the
    encoded show text as its semantic side instead;
(c) both: ``decay+text@w`` is ``(1 - w) * episodes-decay + w * text``, each min-max
    normalised; ``max+text@0.5`` and ``decay+encoded@0.5`` likewise.

Prints the tables, the build time of ``ShowCatalog`` (and of each show-text side), the
per-query latency of ``ShowSearcher.search`` in each mode, and writes them to ``--out``.

    python benchmarks/show_search.py [--workspace /tmp/podseek-bench] [--model e5-small]
"""

import argparse
import statistics
import time
from collections import Counter
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
from ranx import Qrels, Run, compare

from podseek.beir import QuerySet, load_beir
from podseek.catalog.store import CatalogStore, ShowRecord
from podseek.evaluation.metrics import score_runs
from podseek.index.base import Hit
from podseek.index.episode_index import EpisodeIndex
from podseek.index.snapshot import analyzer
from podseek.models.registry import load_encoder
from podseek.search.engine import Searcher, SearchMode
from podseek.search.fusion import adaptive_alpha, fuse, min_max, query_coverage
from podseek.search.shows import DECAY, ShowCatalog, ShowSearcher, decayed

DEVSET = Path(__file__).resolve().parent / "devset" / "listennotes"
METRICS = ["ndcg@10", "recall@10"]
WEIGHTS = (0.3, 0.5, 0.7)
DEFAULT = "episodes-decay"
BM25_K1, BM25_B = 1.2, 0.75  # tantivy's (and LanceDB's)

Grouped = dict[int, list[Hit]]  # show position -> its episodes' (id, score), best first
Ranked = list[tuple[int, float]]  # (show position, score), best first


def show_text(record: ShowRecord) -> str:
    """What a show says about itself: ``title. description. categories``."""
    return ". ".join(part for part in (record.title, record.description, *record.categories))


class Bm25:
    """BM25 over the show texts in NumPy, with the episode index's tantivy analyzer."""

    def __init__(self, texts: Sequence[str]) -> None:
        self.analyzer = analyzer()
        vocabulary: dict[str, int] = {}
        terms: list[int] = []
        docs: list[int] = []
        counts: list[int] = []
        lengths = np.zeros(len(texts), dtype=np.float32)
        for doc, text in enumerate(texts):
            tokens = self.analyzer.analyze(text)
            lengths[doc] = len(tokens)
            for token, n in Counter(tokens).items():
                terms.append(vocabulary.setdefault(token, len(vocabulary)))
                docs.append(doc)
                counts.append(n)
        self.vocabulary = vocabulary
        order = np.argsort(np.asarray(terms), kind="stable")
        term_of = np.asarray(terms)[order]
        self.docs = np.asarray(docs)[order]
        tf = np.asarray(counts, dtype=np.float32)[order]
        self.starts = np.searchsorted(term_of, np.arange(len(vocabulary) + 1))
        frequency = np.diff(self.starts).astype(np.float32)
        idf = np.log1p((len(texts) - frequency + 0.5) / (frequency + 0.5))
        norm = BM25_K1 * (1 - BM25_B + BM25_B * lengths / lengths.mean())
        self.weights = idf[term_of] * tf * (BM25_K1 + 1) / (tf + norm[self.docs])
        self.size = len(texts)

    def scores(self, query: str) -> np.ndarray:
        found = np.zeros(self.size, dtype=np.float32)
        for token in dict.fromkeys(self.analyzer.analyze(query)):
            term = self.vocabulary.get(token)
            if term is not None:
                span = slice(self.starts[term], self.starts[term + 1])
                found[self.docs[span]] += self.weights[span]
        return found


class ShowTexts:
    """The shows ranked by their own text: BM25 (keyword), a vector per show (semantic),
    fused (hybrid)."""

    def __init__(self, searcher: Searcher, texts: list[str], vectors: np.ndarray) -> None:
        self.searcher = searcher
        self.texts = texts
        self.bm25 = Bm25(texts)
        self.vectors = vectors
        self.indexed = np.abs(vectors).sum(axis=1) > 0  # shows with a vector

    def rank(self, query: str, mode: SearchMode, depth: int = 200) -> Ranked:
        keyword = dense = None
        if mode in (SearchMode.KEYWORD, SearchMode.HYBRID):
            scores = self.bm25.scores(query)
            keyword = _top(np.flatnonzero(scores > 0), scores, depth)
        if mode in (SearchMode.SEMANTIC, SearchMode.HYBRID):
            scores = self.vectors @ self.searcher.query_vectors.encode([query])[0]
            dense = _top(np.flatnonzero(self.indexed), scores, depth)
        if dense is None or keyword is None:
            return [(int(s), v) for s, v in (dense or keyword or [])]
        coverage = query_coverage(query, [self.texts[int(s)] for s, _ in keyword[:3]])
        fused = fuse(dense, keyword, self.searcher.fusion, adaptive_alpha(coverage))
        return [(int(s), v) for s, v in fused]


def _top(rows: np.ndarray, scores: np.ndarray, limit: int) -> list[Hit]:
    order = rows[np.argsort(-scores[rows], kind="stable")[:limit]]
    return [(str(int(row)), float(scores[row])) for row in order]


def centroids(searcher: Searcher, shows: ShowCatalog) -> np.ndarray:
    """Each show's mean indexed vector, normalised (zero for a show with none indexed)."""
    ids, vectors = searcher.backend.all_vectors()
    rows = np.fromiter((shows.show_of.get(i, -1) for i in ids), np.int64, len(ids))
    known = rows >= 0
    sums = np.zeros((len(shows), vectors.shape[1]), dtype=np.float32)
    np.add.at(sums, rows[known], vectors[known])
    return sums / np.maximum(np.linalg.norm(sums, axis=1, keepdims=True), 1e-12)


def combine(episodes: Ranked, text: Ranked, weight: float) -> Ranked:
    """``(1 - weight) * episodes + weight * text``, each min-max normalised."""
    fused: dict[str, float] = {}
    for run, share in ((episodes, 1.0 - weight), (text, weight)):
        for key, score in min_max([(str(s), v) for s, v in run]).items():
            fused[key] = fused.get(key, 0.0) + share * score
    return [(int(k), v) for k, v in sorted(fused.items(), key=lambda item: -item[1])]


def best_episode(grouped: Grouped) -> Ranked:
    return sorted(((s, hits[0][1]) for s, hits in grouped.items()), key=lambda x: -x[1])


def decayed_raw(grouped: Grouped) -> Ranked:
    scores = {
        s: sum(w * v for w, (_, v) in zip(DECAY, hits, strict=False)) for s, hits in grouped.items()
    }
    return sorted(scores.items(), key=lambda x: -x[1])


def show_qrels(dev: QuerySet, shows: ShowCatalog) -> dict[str, dict[str, int]]:
    """Each query's shows, graded by the best grade of their judged episodes."""
    qrels: dict[str, dict[str, int]] = {}
    for query, judged in dev.qrels.items():
        for episode, grade in judged.items():
            show = shows.show_of.get(episode)
            if show is not None and grade > 0:
                graded = qrels.setdefault(query, {})
                show_id = shows.records[show].show_id
                graded[show_id] = max(grade, graded.get(show_id, 0))
    return qrels


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workspace", type=Path, default=Path("/tmp/podseek-bench"))
    parser.add_argument("--model", default="e5-small")
    parser.add_argument("--out", type=Path, default=Path("benchmarks/results/show_search.txt"))
    args = parser.parse_args()
    lines: list[str] = []

    def say(line: str = "") -> None:
        print(line, flush=True)
        lines.append(line)

    dev = load_beir(DEVSET, "dev")
    with CatalogStore(args.workspace / "catalog.sqlite") as catalog:
        build_s = []  # the first build reads the file from disk; then from the page cache
        for _ in range(3):
            started = time.perf_counter()
            shows = ShowCatalog.from_catalog(catalog)
            build_s.append(time.perf_counter() - started)
        sources = ", ".join(f"{n} {source}" for source, n in catalog.stats()["by_source"].items())
    encoder = load_encoder(args.model, args.workspace)
    index = EpisodeIndex(args.workspace / f"index-{args.model}")
    searcher = Searcher(index, encoder)
    default = ShowSearcher(searcher, shows)
    deep = ShowSearcher(searcher, shows, 200)

    texts = [show_text(record) for record in shows.records]
    started = time.perf_counter()
    text = ShowTexts(searcher, texts, centroids(searcher, shows))
    text_s = time.perf_counter() - started
    cached = args.workspace / f"show-texts-{args.model}.npy"  # encoding them takes minutes
    took = cached.with_suffix(".seconds")  # how long that was
    vectors = np.load(cached) if cached.is_file() and took.is_file() else None
    if vectors is None or len(vectors) != len(shows):
        started = time.perf_counter()
        vectors = encoder.encode_episodes(texts)
        took.write_text(f"{time.perf_counter() - started:.1f}")
        np.save(cached, vectors)
    encoded = ShowTexts(searcher, texts, vectors)
    say(f"# Show search: {args.model}; catalog {sources}; {index.backend.count()} indexed")
    say(
        f"\nShowCatalog.from_catalog: {build_s[0]:.2f} s for {len(shows)} shows, then "
        f"{min(build_s[1:]):.2f} s. Not in the default: the show-text side (BM25 + "
        f"centroids) {text_s:.2f} s; encoding the show texts (text-encoded) "
        f"{float(took.read_text()):.1f} s"
    )

    qrels = show_qrels(dev, shows)
    ids = [q for q in dev.queries if q in qrels]
    parts = {
        "topical": [q for q in ids if dev.metadata[q].get("kind") == "topical"],
        "short": [q for q in ids if len(dev.queries[q].split()) <= 4],
        "all": ids,
    }
    relevant = [len(qrels[q]) for q in parts["topical"]]
    say(
        f"\nDev half: {len(ids)} queries; {len(parts['topical'])} topical, with "
        f"{min(relevant)}-{max(relevant)} relevant shows each (median "
        f"{statistics.median(relevant):g}); {len(parts['short'])} short (at most 4 words, "
        "any kind)."
    )

    runs: dict[str, dict[str, dict[str, float]]] = {}
    for mode in SearchMode:
        combos: dict[str, Callable[[str, Grouped, Grouped], Ranked]] = {
            "episodes-max": lambda q, g, g200: best_episode(g),
            "episodes-max@200": lambda q, g, g200: best_episode(g200),
            DEFAULT: lambda q, g, g200: decayed(g),
            "episodes-decay@200": lambda q, g, g200: decayed(g200),
            "episodes-decay-raw": lambda q, g, g200: decayed_raw(g),
            "text": lambda q, g, g200, m=mode: text.rank(q, m),
        }
        if mode is not SearchMode.KEYWORD:
            combos["text-encoded"] = lambda q, g, g200, m=mode: encoded.rank(q, m)
        for w in WEIGHTS:
            combos[f"decay+text@{w}"] = lambda q, g, g200, m=mode, w=w: combine(
                decayed(g), text.rank(q, m), w
            )
        combos["max+text@0.5"] = lambda q, g, g200, m=mode: combine(
            best_episode(g), text.rank(q, m), 0.5
        )
        if mode is not SearchMode.KEYWORD:
            combos["decay+encoded@0.5"] = lambda q, g, g200, m=mode: combine(
                decayed(g), encoded.rank(q, m), 0.5
            )
        for query in ids:
            grouped = default.episodes_by_show(dev.queries[query], mode)
            grouped200 = deep.episodes_by_show(dev.queries[query], mode)
            for name, combo in combos.items():
                ranked = combo(dev.queries[query], grouped, grouped200)[:100]
                run = runs.setdefault(f"{mode.value}/{name}", {})
                run[query] = {shows.records[s].show_id: v for s, v in ranked}

    for part, queries in parts.items():
        say(f"\n## {part}: {len(queries)} queries\n")
        say(
            "p: paired t-test of nDCG@10 against the same mode's "
            f"{DEFAULT}; W/T/L: queries where the run's nDCG@10 is higher / the same / lower\n"
        )
        say("| run | nDCG@10 | recall@10 | p | W/T/L |")
        say("|---|---:|---:|---:|---:|")
        subset = {q: qrels[q] for q in queries}
        for name, run in runs.items():
            scores = score_runs(subset, {q: run[q] for q in queries}, METRICS)
            base = f"{name.split('/')[0]}/{DEFAULT}"
            test = " |" if name == base else _paired(subset, run, runs[base], queries)
            say(f"| {name} | {scores['ndcg@10']:.3f} | {scores['recall@10']:.3f} | {test} |")

    say("\n## Best nDCG@10\n")
    for part, queries in parts.items():
        subset = {q: qrels[q] for q in queries}
        ndcg = {
            name: score_runs(subset, {q: run[q] for q in queries}, ["ndcg@10"])["ndcg@10"]
            for name, run in runs.items()
        }
        top = sorted(ndcg, key=lambda name: -ndcg[name])[:3]
        say(f"- {part}: " + ", ".join(f"{name} {ndcg[name]:.3f}" for name in top))

    say("\n## Latency (k=10), ms per query, all dev queries\n")
    say(
        "shows: ShowSearcher.search; episodes: Searcher.search, for reference. Each with a "
        "fresh query-vector cache, so every query is encoded.\n"
    )
    say("| mode | search | p50 | p90 |")
    say("|---|---|---:|---:|")
    for mode in SearchMode:
        for what in ("shows", "episodes"):
            fresh = Searcher(index, encoder)
            timed = ShowSearcher(fresh, shows).search if what == "shows" else fresh.search
            timed("warm up", mode=mode)
            took = []
            for query in ids:
                started = time.perf_counter()
                timed(dev.queries[query], mode=mode)
                took.append(1000 * (time.perf_counter() - started))
            p50, p90 = np.percentile(took, [50, 90])
            say(f"| {mode.value} | {what} | {p50:.1f} | {p90:.1f} |")
    index.close()
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text("\n".join(lines) + "\n")


def _paired(
    qrels: dict[str, dict[str, int]],
    run: dict[str, dict[str, float]],
    base: dict[str, dict[str, float]],
    queries: list[str],
) -> str:
    """``p | W/T/L`` of ``run`` against ``base`` on nDCG@10."""
    runs = [
        Run({q: r[q] or {"\x00none": 0.0} for q in queries}, name=name)
        for name, r in (("run", run), ("base", base))
    ]
    report = compare(Qrels(qrels), runs, ["ndcg@10"], stat_test="student")
    found = report.to_dict()["run"]
    wtl = found["win_tie_loss"]["base"]["ndcg@10"]
    p = found["comparisons"]["base"]["ndcg@10"]
    p_text = "same" if np.isnan(p) else f"{p:.3f}"  # nan: every query ties
    return f"{p_text} | {wtl['W']}/{wtl['T']}/{wtl['L']}"


if __name__ == "__main__":
    main()
