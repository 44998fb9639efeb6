"""Split the hand-written set into two halves of the same make-up: dev and test.

Decisions (encoders, modes, weights, training data) are made on ``qrels/dev.tsv``; the
numbers on ``qrels/test.tsv`` are reported once, at the end, so that tuning to the dev half
shows as a gap between the two. Within each query kind, queries are ordered by language group
(English, cross-lingual, same-language non-English) and then by a hash of their id, and dealt
alternately to dev and test: every kind, and roughly every language group, is split in half,
and the split of a query never depends on the others' texts.

Reads every judgment in ``qrels/*.tsv`` and rewrites ``qrels/dev.tsv`` and ``qrels/test.tsv``.

Usage: ``python3 benchmarks/devset/split_devset.py [--set DIR]``
"""

from __future__ import annotations

import argparse
import csv
import hashlib
import json
from collections import defaultdict
from pathlib import Path

DEFAULT_SET = Path(__file__).resolve().parent / "listennotes"
HEADER = ["query-id", "corpus-id", "score"]


def language_group(metadata: dict) -> str:
    """English, cross-lingual, or a non-English query for an episode in its own language."""
    if metadata.get("note", "").startswith("Cross-lingual"):
        return "1-cross"
    return "0-en" if metadata.get("lang") == "en" else "2-same"


def halves(queries: list[dict]) -> dict[str, str]:
    """``{query id: "dev" | "test"}``, dealt alternately within each kind."""
    by_kind: dict[str, list[dict]] = defaultdict(list)
    for query in queries:
        by_kind[query["metadata"]["kind"]].append(query)
    split: dict[str, str] = {}
    for kind in sorted(by_kind):
        ordered = sorted(
            by_kind[kind],
            key=lambda q: (
                language_group(q["metadata"]),
                hashlib.sha1(q["_id"].encode()).hexdigest(),
            ),
        )
        for position, query in enumerate(ordered):
            split[query["_id"]] = ("dev", "test")[position % 2]
    return split


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--set", type=Path, default=DEFAULT_SET, help="the set's folder")
    args = parser.parse_args(argv)
    lines = (args.set / "queries.jsonl").read_text(encoding="utf-8").splitlines()
    queries = [json.loads(line) for line in lines if line.strip()]
    rows: list[list[str]] = []
    for path in sorted((args.set / "qrels").glob("*.tsv")):
        with path.open(encoding="utf-8", newline="") as handle:
            rows += [row for row in csv.reader(handle, delimiter="\t") if row][1:]
    split = halves(queries)
    for name in ("dev", "test"):
        with (args.set / "qrels" / f"{name}.tsv").open("w", encoding="utf-8", newline="") as out:
            writer = csv.writer(out, delimiter="\t", lineterminator="\n")
            writer.writerow(HEADER)
            writer.writerows(row for row in rows if split.get(row[0]) == name)
        print(f"{name}: {sum(1 for s in split.values() if s == name)} queries")


if __name__ == "__main__":
    main()
