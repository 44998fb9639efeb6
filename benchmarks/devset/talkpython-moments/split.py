"""Deal the Talk Python moment queries into two halves of the same make-up: dev and test.

Settings are chosen on ``qrels/dev.tsv``; ``qrels/test.tsv`` is reported once, at the end.
Within each kind (paraphrase, exact, cross-lingual) the queries are ordered by query language
and then by a SHA-1 of their id, and dealt alternately to dev and test. So each kind is split
in half, the German, Spanish and French queries are spread over both halves, and the half of a
query never depends on the texts of the others.

Every query has one judgment: the episode it was written for, as podseek's catalog id
``transcripts:talk-python-to-me:<episode number>``, score 1. (The judged moment, ``start`` and
``end`` in seconds, is in ``queries.jsonl``.)

Usage: ``python3 benchmarks/devset/talkpython-moments/split.py``
"""

from __future__ import annotations

import hashlib
import json
from collections import defaultdict
from pathlib import Path

HERE = Path(__file__).resolve().parent
HEADER = "query-id\tcorpus-id\tscore"
ID_PREFIX = "transcripts:talk-python-to-me:"
SPLITS = ("dev", "test")


def load_queries(path: Path) -> list[dict]:
    """The queries of ``queries.jsonl``, in file order."""
    lines = path.read_text(encoding="utf-8").splitlines()
    return [json.loads(line) for line in lines if line.strip()]


def halves(queries: list[dict]) -> dict[str, str]:
    """``{query id: "dev" | "test"}``, dealt alternately within each kind."""
    by_kind: dict[str, list[dict]] = defaultdict(list)
    for query in queries:
        by_kind[query["metadata"]["kind"]].append(query)
    split: dict[str, str] = {}
    for kind in sorted(by_kind):
        ordered = sorted(
            by_kind[kind],
            key=lambda q: (q["metadata"]["lang"], hashlib.sha1(q["_id"].encode()).hexdigest()),
        )
        for position, query in enumerate(ordered):
            split[query["_id"]] = SPLITS[position % 2]
    return split


def main() -> None:
    queries = load_queries(HERE / "queries.jsonl")
    split = halves(queries)
    (HERE / "qrels").mkdir(exist_ok=True)
    for name in SPLITS:
        rows = [
            f"{q['_id']}\t{ID_PREFIX}{q['metadata']['episode']}\t1"
            for q in queries
            if split[q["_id"]] == name
        ]
        (HERE / "qrels" / f"{name}.tsv").write_text(
            "\n".join([HEADER, *rows]) + "\n", encoding="utf-8"
        )
        print(f"{name}: {len(rows)} queries")


if __name__ == "__main__":
    main()
