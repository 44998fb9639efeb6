"""BEIR-form query sets: the dev set loads, and malformed files are one clear error."""

from pathlib import Path

import pytest

from podseek.beir import (
    load_beir,
    load_judged_folder,
    load_qrels,
    load_queries,
    load_trec_topics,
    write_qrels,
)
from podseek.errors import PodseekError

DEVSET = Path(__file__).resolve().parents[1] / "benchmarks" / "devset" / "listennotes"


def test_the_dev_set_loads_in_ranx_shapes() -> None:
    dev = load_beir(DEVSET)
    assert len(dev.queries) >= 100
    assert all(2 in judged.values() for judged in dev.qrels.values())
    kinds = {q: m["kind"] for q, m in dev.metadata.items()}
    assert set(kinds.values()) == {"paraphrase", "lexical", "known-item", "topical"}
    paraphrase = dev.subset({q for q, k in kinds.items() if k == "paraphrase"}, "p")
    assert len(paraphrase.queries) > len(dev.queries) / 2
    assert set(paraphrase.qrels) == set(paraphrase.queries)


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


TOPICS = """<topics set="testing">
<topic><num>9</num><query>trump call ukrainian president</query><type>topical</type></topic>
<topic><num>10</num><query>boeing 737 crash causes</query></topic>
<topic><num>11</num><title>how to cook turkey</title></topic>
</topics>
"""


def test_a_trec_folder_reads_graded_qrels_and_xml_or_tsv_topics(tmp_path: Path) -> None:
    (tmp_path / "qrels.txt").write_text("9 0 ep:1 2\n9 0 ep:2 1\n10 Q0 ep:3 0\n\n11 0 ep:4 1\n")
    (tmp_path / "topics.xml").write_text(TOPICS)
    judged = load_judged_folder(tmp_path)
    assert judged.queries == {
        "9": "trump call ukrainian president",
        "10": "boeing 737 crash causes",
        "11": "how to cook turkey",
    }
    assert judged.qrels["9"] == {"ep:1": 2, "ep:2": 1} and judged.qrels["10"] == {"ep:3": 0}
    (tmp_path / "topics.xml").unlink()
    (tmp_path / "queries.tsv").write_text("9\tukraine phone call\n12\tunjudged\n")
    assert load_judged_folder(tmp_path).queries == {"9": "ukraine phone call"}


def test_a_beir_folder_is_read_from_its_test_split_or_the_split_named(tmp_path: Path) -> None:
    (tmp_path / "queries.jsonl").write_text(
        '{"_id": "a", "text": "first"}\n{"_id": "b", "text": "second"}\n'
    )
    write_qrels(tmp_path / "qrels" / "dev.tsv", [("a", "ep:1", 2)])
    assert load_judged_folder(tmp_path).queries == {"a": "first"}
    write_qrels(tmp_path / "qrels" / "test.tsv", [("b", "ep:2", 1)])
    assert load_judged_folder(tmp_path).queries == {"b": "second"}
    dev = load_judged_folder(tmp_path / "qrels" / "dev.tsv")
    assert dev.queries == {"a": "first"} and dev.qrels == {"a": {"ep:1": 2}}
    (tmp_path / "queries.jsonl").unlink()
    with pytest.raises(PodseekError, match=r"no queries\.jsonl"):
        load_judged_folder(tmp_path / "qrels" / "dev.tsv")


def test_the_hand_written_set_has_two_halves() -> None:
    dev = load_judged_folder(DEVSET / "qrels" / "dev.tsv")
    test = load_judged_folder(DEVSET)
    assert len(dev.queries) >= 100 and len(test.queries) >= 100
    assert not set(dev.queries) & set(test.queries)
    assert {**dev.qrels, **test.qrels}["q01"]["listennotes:950"] == 2


def test_the_trec_podcasts_topics_parse(shared_data: Path) -> None:
    topics = load_trec_topics(
        shared_data / "trec-podcasts-topics" / "podcasts_2020_topics_test.xml"
    )
    assert len(topics) >= 40 and topics["11"] == "how to cook turkey"


def test_malformed_judged_folders_are_one_clear_error(tmp_path: Path) -> None:
    with pytest.raises(PodseekError, match="no such folder"):
        load_judged_folder(tmp_path / "nowhere")
    with pytest.raises(PodseekError, match="one qrels file"):
        load_judged_folder(tmp_path)
    (tmp_path / "topics.xml").write_text(TOPICS)
    (tmp_path / "run.qrels").write_text("9 0 ep:1\n")
    with pytest.raises(PodseekError, match=r"run.qrels:1: not a TREC qrels line"):
        load_judged_folder(tmp_path)
    (tmp_path / "run.qrels").write_text("9 0 ep:1 1\n")
    (tmp_path / "topics.xml").write_text("<topics><topic>")
    with pytest.raises(PodseekError, match="not a TREC topics XML"):
        load_judged_folder(tmp_path)
    (tmp_path / "topics.xml").write_text("<topics><topic><num>1</num></topic></topics>")
    with pytest.raises(PodseekError, match="no <topic>"):
        load_judged_folder(tmp_path)
    beir = tmp_path / "beir"
    (beir / "qrels").mkdir(parents=True)
    (beir / "queries.jsonl").write_text('{"_id": "q1", "text": "x"}\n')
    with pytest.raises(PodseekError, match=r"qrels/test\.tsv or qrels/dev\.tsv"):
        load_judged_folder(beir)
