"""BEIR-form query sets: the dev set loads, and malformed files are one clear error."""

from pathlib import Path

import pytest

from podseek.errors import PodseekError
from podseek.evaluation.beir import load_beir, load_qrels, load_queries

DEVSET = Path(__file__).resolve().parents[2] / "benchmarks" / "devset" / "listennotes"


def test_the_dev_set_loads_in_ranx_shapes() -> None:
    dev = load_beir(DEVSET)
    assert len(dev.queries) == 78
    assert all(2 in judged.values() for judged in dev.qrels.values())
    assert dev.metadata["q01"]["kind"] == "paraphrase"
    paraphrase = dev.subset({q for q, m in dev.metadata.items() if m["kind"] == "paraphrase"}, "p")
    assert len(paraphrase.queries) == 50 and set(paraphrase.qrels) == set(paraphrase.queries)


def test_malformed_files_are_one_clear_error(tmp_path: Path) -> None:
    with pytest.raises(PodseekError, match="no such file"):
        load_beir(tmp_path)
    queries = tmp_path / "queries.jsonl"
    queries.write_text('{"_id": "q1", "text": "fine"}\n{"text": "no id"}\n')
    with pytest.raises(PodseekError, match=r"queries.jsonl:2: not a BEIR query"):
        load_queries(queries)
    qrels = tmp_path / "dev.tsv"
    qrels.write_text("q1\td1\t1\n")
    with pytest.raises(PodseekError, match="header row"):
        load_qrels(qrels)
    qrels.write_text("query-id\tcorpus-id\tscore\nq1\td1\tvery\n")
    with pytest.raises(PodseekError, match=r"dev.tsv:2: not a qrels row"):
        load_qrels(qrels)
