"""Query sets in BEIR form (``queries.jsonl`` and ``qrels/<split>.tsv``) or TREC form
(a qrels file ``query-id iteration doc-id grade`` and the topics).

BEIR's loader (``beir/datasets/data_loader.py``) is the reference: one JSON object per line
with ``_id`` and ``text``, and a tab-separated qrels file with a header row
(``query-id  corpus-id  score``). TREC's qrels are whitespace-separated without a header;
its topics are XML (``<topic><num>9</num><query>...</query></topic>``, as in the TREC
podcasts track) or, for hand-written sets, a ``queries.tsv`` of ``id<TAB>text``. Qrels come
back in ranx's shape, ``{qid: {doc_id: int}}``, grades kept (nDCG uses them; recall and MRR
count a grade of 1 or more as relevant).

It is the format the stages hand each other (``pairs split`` writes it, ``train`` and
``evaluate`` read it), so it sits below all of them and imports none
(tests/test_layers.py).
"""

import csv
import json
import xml.etree.ElementTree as ElementTree
from collections.abc import Iterable, Iterator
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


def _jsonl_rows(path: Path, kind: str, file: str) -> Iterator[tuple[str, str, dict[str, Any]]]:
    """``(_id, text, row)`` of each non-blank line of a BEIR JSON Lines file; a missing file
    or a line that is not a BEIR ``kind`` is one error naming the file (and the line)."""
    if not path.is_file():
        raise PodseekError(f"{path}: no such file (a BEIR folder has {file})")
    with path.open(encoding="utf-8") as handle:
        for number, line in enumerate(handle, start=1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
                yield str(row["_id"]), str(row["text"]), row
            except (json.JSONDecodeError, KeyError, TypeError) as error:
                raise PodseekError(f"{path}:{number}: not a BEIR {kind} ({error})") from error


def load_queries(path: Path) -> tuple[dict[str, str], dict[str, dict[str, Any]]]:
    queries, metadata = {}, {}
    for qid, text, row in _jsonl_rows(path, "query", "queries.jsonl"):
        queries[qid] = text
        metadata[qid] = row.get("metadata") or {}
    return queries, metadata


def load_corpus(path: Path) -> dict[str, str]:
    """``{_id: text}`` of a BEIR ``corpus.jsonl`` (podseek's: the encoder text of every
    catalog episode)."""
    return {doc_id: text for doc_id, text, _ in _jsonl_rows(path, "document", "corpus.jsonl")}


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


def load_trec_qrels(path: Path) -> dict[str, dict[str, int]]:
    """A TREC qrels file: ``query-id iteration doc-id grade`` per line, no header."""
    if not path.is_file():
        raise PodseekError(f"{path}: no such file")
    qrels: dict[str, dict[str, int]] = {}
    with path.open(encoding="utf-8") as handle:
        for number, line in enumerate(handle, start=1):
            fields = line.split()
            if not fields:
                continue
            try:
                query_id, _, doc_id, grade = fields
                qrels.setdefault(query_id, {})[doc_id] = int(grade)
            except ValueError as error:
                raise PodseekError(
                    f"{path}:{number}: not a TREC qrels line 'query-id iteration doc-id grade'"
                ) from error
    return qrels


def load_trec_topics(path: Path) -> dict[str, str]:
    """Queries of a TREC topics file (``<topic><num>..</num><query>..</query>``; ``<title>``
    stands in for ``<query>`` in older tracks) or of a ``queries.tsv`` (``id<TAB>text``)."""
    if path.suffix == ".tsv":
        queries = {}
        with path.open(encoding="utf-8", newline="") as handle:
            for number, row in enumerate(csv.reader(handle, delimiter="\t"), start=1):
                if not row:
                    continue
                if len(row) < 2 or not row[1].strip():
                    raise PodseekError(f"{path}:{number}: expected 'query-id<TAB>query text'")
                queries[row[0].strip()] = row[1].strip()
        return queries
    try:
        root = ElementTree.parse(path).getroot()
    except (ElementTree.ParseError, OSError) as error:
        raise PodseekError(f"{path}: not a TREC topics XML file ({error})") from error
    queries = {}
    for topic in root.iter("topic"):
        number = (topic.findtext("num") or "").strip()
        text = (topic.findtext("query") or topic.findtext("title") or "").strip()
        if number and text:
            queries[number] = text
    if not queries:
        raise PodseekError(f"{path}: no <topic> with a <num> and a <query> or <title>")
    return queries


def load_trec(folder: Path) -> QuerySet:
    """A TREC-form folder: one qrels file (``*.qrels`` or ``qrels*.txt``) and its topics
    (``*.xml`` or ``queries.tsv``)."""
    qrels_files = sorted({*folder.glob("*.qrels"), *folder.glob("qrels*.txt")})
    topics_files = sorted({*folder.glob("*.xml"), *folder.glob("queries.tsv")})
    if len(qrels_files) != 1 or len(topics_files) != 1:
        raise PodseekError(
            f"{folder}: a TREC folder needs one qrels file (*.qrels or qrels*.txt) and one "
            f"topics file (*.xml or queries.tsv); found {len(qrels_files)} and "
            f"{len(topics_files)}"
        )
    queries = load_trec_topics(topics_files[0])
    qrels = load_trec_qrels(qrels_files[0])
    judged = {q: t for q, t in queries.items() if q in qrels}
    return QuerySet(judged, {q: qrels[q] for q in judged}, {q: {} for q in judged}, folder.name)


def load_judged_folder(folder: Path) -> QuerySet:
    """The judged queries of a folder in BEIR form (``queries.jsonl`` and the qrels of its
    test, else dev split) or TREC form: what ``podseek evaluate --qrels`` reads. One split of a
    BEIR folder is named by its qrels file (``FOLDER/qrels/dev.tsv``): a set kept in halves is
    tuned on one and reported on the other."""
    folder = Path(folder)
    if folder.is_file() and folder.suffix == ".tsv" and folder.parent.name == "qrels":
        beir_folder = folder.parent.parent
        if not (beir_folder / "queries.jsonl").is_file():
            raise PodseekError(f"--qrels {folder}: no queries.jsonl in {beir_folder}")
        return load_beir(beir_folder, folder.stem)
    if not folder.is_dir():
        raise PodseekError(f"--qrels {folder}: no such folder")
    if (folder / "queries.jsonl").is_file():
        for split in ("test", "dev"):
            if (folder / "qrels" / f"{split}.tsv").is_file():
                return load_beir(folder, split)
        raise PodseekError(f"{folder}: a BEIR folder needs qrels/test.tsv or qrels/dev.tsv")
    return load_trec(folder)


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
