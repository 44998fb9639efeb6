"""The hand-written set stays valid: its checker passes on the committed files, and its split
is the one ``split_devset.py`` deals (an edited query cannot move between halves unseen)."""

import importlib.util
import json
import shutil
from pathlib import Path
from types import ModuleType

import pytest

from tests.conftest import REPO

DEVSET_DIR = REPO / "benchmarks" / "devset"
SET = DEVSET_DIR / "listennotes"


def script(name: str) -> ModuleType:
    spec = importlib.util.spec_from_file_location(name, DEVSET_DIR / f"{name}.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def committed_queries() -> list[dict]:
    lines = (SET / "queries.jsonl").read_text(encoding="utf-8").splitlines()
    return [json.loads(line) for line in lines if line.strip()]


def test_the_committed_set_passes_its_checker(
    shared_data: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    check = script("check_devset")
    assert check.main(["--data", str(shared_data / "listennotes-dec2017")]) == 0
    output = capsys.readouterr().out
    assert output.rstrip().endswith("OK")


@pytest.mark.parametrize(
    ("broken", "message"),
    [("paraphrase shares a word", "paraphrase shares"), ("query in both halves", "judged in both")],
)
def test_the_checker_fails_a_set_that_breaks_a_rule(
    shared_data: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], broken: str, message: str
) -> None:
    check = script("check_devset")
    data = shared_data / "listennotes-dec2017"
    copy = tmp_path / "set"
    shutil.copytree(SET, copy)
    lines = (copy / "queries.jsonl").read_text(encoding="utf-8").splitlines()
    first = json.loads(lines[0])
    target = first["metadata"]["target"]
    assert first["metadata"]["kind"] == "paraphrase"
    if broken == "paraphrase shares a word":
        episodes, _ = check.load_catalog(data)
        title = episodes[target.removeprefix("listennotes:")]["title"]
        first["text"] = " ".join(["episode", "about", *title.split()][:12])
        lines[0] = json.dumps(first)
        (copy / "queries.jsonl").write_text("\n".join(lines) + "\n", encoding="utf-8")
    else:
        in_dev = f"\n{first['_id']}\t" in (copy / "qrels" / "dev.tsv").read_text(encoding="utf-8")
        with (copy / "qrels" / ("test.tsv" if in_dev else "dev.tsv")).open("a") as qrels:
            qrels.write(f"{first['_id']}\t{target}\t2\n")
    assert check.main(["--set", str(copy), "--data", str(data)]) == 1
    failures = [line for line in capsys.readouterr().out.splitlines() if line.startswith("FAIL")]
    assert any(message in failure for failure in failures)


def test_the_split_is_the_one_the_script_deals() -> None:
    split = script("split_devset")
    queries = committed_queries()
    committed = {}
    for name in ("dev", "test"):
        rows = (SET / "qrels" / f"{name}.tsv").read_text(encoding="utf-8").splitlines()[1:]
        committed.update({row.split("\t")[0]: name for row in rows if row.strip()})
    assert split.halves(queries) == committed


@pytest.mark.parametrize("kind", ["paraphrase", "lexical", "known-item", "topical"])
def test_each_kind_is_split_in_halves(kind: str) -> None:
    split = script("split_devset")
    queries = committed_queries()
    halves = split.halves(queries)
    of_kind = [q["_id"] for q in queries if q["metadata"]["kind"] == kind]
    in_dev = sum(halves[q] == "dev" for q in of_kind)
    assert of_kind and abs(in_dev - (len(of_kind) - in_dev)) <= 1
