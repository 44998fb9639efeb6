"""Evaluation sets in BEIR form: ``corpus.jsonl``, ``queries.jsonl`` and ``qrels/<split>.tsv``.

BEIR's loader (``beir/datasets/data_loader.py``) is the reference: one JSON object per line
with ``_id`` and ``text``, and a tab-separated qrels file with a header row
(``query-id  corpus-id  score``). Qrels come back in ranx's shape, ``{qid: {doc_id: int}}``.
"""

import csv
import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from podseek.errors import PodseekError


@dataclass
class QuerySet:
    """Queries, their metadata and their relevance judgments."""

    queries: dict[str, str]
    qrels: dict[str, dict[str, int]]
    metadata: dict[str, dict[str, Any]] = field(default_factory=dict)
    name: str = "queries"

    def subset(self, keep: set[str], name: str) -> "QuerySet":
        return QuerySet(
            {q: t for q, t in self.queries.items() if q in keep},
            {q: r for q, r in self.qrels.items() if q in keep},
            {q: m for q, m in self.metadata.items() if q in keep},
            name,
        )


def load_queries(path: Path) -> tuple[dict[str, str], dict[str, dict[str, Any]]]:
    if not path.is_file():
        raise PodseekError(f"{path}: no such file (a BEIR folder has queries.jsonl)")
    queries, metadata = {}, {}
    with path.open(encoding="utf-8") as handle:
        for number, line in enumerate(handle, start=1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
                queries[str(row["_id"])] = str(row["text"])
            except (json.JSONDecodeError, KeyError, TypeError) as error:
                raise PodseekError(f"{path}:{number}: not a BEIR query ({error})") from error
            metadata[str(row["_id"])] = row.get("metadata") or {}
    return queries, metadata


def load_qrels(path: Path) -> dict[str, dict[str, int]]:
    if not path.is_file():
        raise PodseekError(f"{path}: no such file")
    qrels: dict[str, dict[str, int]] = {}
    with path.open(encoding="utf-8", newline="") as handle:
        reader = csv.reader(handle, delimiter="\t")
        header = next(reader, None)
        if header is None or [h.strip() for h in header[:3]] != ["query-id", "corpus-id", "score"]:
            raise PodseekError(f"{path}: expected a header row 'query-id corpus-id score'")
        for number, row in enumerate(reader, start=2):
            if not row:
                continue
            try:
                qrels.setdefault(row[0], {})[row[1]] = int(row[2])
            except (IndexError, ValueError) as error:
                raise PodseekError(f"{path}:{number}: not a qrels row ({error})") from error
    return qrels


def load_beir(folder: Path, split: str = "dev") -> QuerySet:
    """A BEIR folder's queries with judgments in ``qrels/<split>.tsv``."""
    folder = Path(folder)
    queries, metadata = load_queries(folder / "queries.jsonl")
    qrels = load_qrels(folder / "qrels" / f"{split}.tsv")
    judged = {q: t for q, t in queries.items() if q in qrels}
    return QuerySet(judged, qrels, {q: metadata[q] for q in judged}, folder.name)


def write_jsonl(path: Path, rows: Iterable[dict[str, Any]]) -> int:
    """One JSON object per line (BEIR's corpus.jsonl and queries.jsonl); returns the count."""
    count = 0
    with path.open("w", encoding="utf-8") as handle:
        for row in rows:
            handle.write(json.dumps(row, ensure_ascii=False) + "\n")
            count += 1
    return count


def write_qrels(path: Path, qrels: Iterable[tuple[str, str, int]]) -> int:
    """``query-id corpus-id score`` rows under BEIR's header; returns the row count."""
    path.parent.mkdir(parents=True, exist_ok=True)
    count = 0
    with path.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle, delimiter="\t", lineterminator="\n")
        writer.writerow(["query-id", "corpus-id", "score"])
        for row in qrels:
            writer.writerow(row)
            count += 1
    return count
