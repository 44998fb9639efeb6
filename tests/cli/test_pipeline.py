"""``podseek pipeline`` on a real feed (61 episodes), run as a user runs it: every stage once,
then a rerun that skips them all, ``--force``, and a Ctrl-C in the middle that the next run
resumes. MiniLM and the title generator keep each run under a minute."""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from podseek.config import Settings
from podseek.pipeline import PipelineOptions, fingerprint, plan, stage_failure

FEED = "rss-feeds/1865.xml"
STAGES = ["ingest", "generate", "split", "train", "index", "evaluate"]


def pipeline_args(shared_data: Path) -> list[str]:
    feed = str(shared_data / FEED)
    return [sys.executable, "-m", "podseek", "pipeline", "rss", feed, "--generator", "title"]


def environment(home: Path) -> dict[str, str]:
    return {**os.environ, "PODSEEK_HOME": str(home), "PODSEEK_MODEL": "minilm"}


def run_pipeline(home: Path, shared_data: Path, *extra: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [*pipeline_args(shared_data), "--quick", *extra],
        env=environment(home),
        capture_output=True,
        text=True,
        timeout=600,
    )


def statuses(output: str) -> dict[str, str]:
    """The closing table's status per stage."""
    found = {}
    for line in output.splitlines():
        cells = [c.strip() for c in line.strip("|").split("|")]
        if len(cells) == 3 and cells[0] in STAGES:
            found[cells[0]] = cells[1]
    return found


@pytest.fixture(scope="module")
def home(tmp_path_factory: pytest.TempPathFactory, shared_data: Path) -> Path:
    home = tmp_path_factory.mktemp("pipeline")
    result = run_pipeline(home, shared_data)
    assert result.returncode == 0, result.stdout + result.stderr
    (home / "first-run.txt").write_text(result.stdout)
    return home


@pytest.mark.slow  # 4.5 min (the whole quick recipe): kept out of the default run's 15 minutes
def test_the_first_run_runs_every_stage_and_ends_with_the_evaluation(home: Path) -> None:
    output = (home / "first-run.txt").read_text()
    assert statuses(output) == dict.fromkeys(STAGES, "ran")
    assert "base-index" not in output  # --quick: no round-trip filter, no base index
    for stage in STAGES:
        record = json.loads((home / "pipeline" / f"{stage}.json").read_text())
        assert record["command"].startswith("podseek ") and record["fingerprint"]
        assert record["versions"]["podseek"] and record["seconds"] >= 0
        assert not (home / "pipeline" / f"{stage}.started").exists()
    assert (
        "--round-trip-k 0" in json.loads((home / "pipeline/generate.json").read_text())["command"]
    )
    assert json.loads((home / "index" / "manifest.json").read_text())["model"]["name"] == (
        "minilm-pipeline"
    )
    assert (home / "models" / "minilm-pipeline" / "podseek-training.json").is_file()
    report = json.loads((home / "reports" / "pipeline" / "report.json").read_text())
    assert "minilm-pipeline / hybrid" in report["retrieval"]["held-out"]["rows"]
    # the closing summary: the evaluation's key rows and where the report is
    assert "| minilm-pipeline / semantic |" in output
    assert "in-batch MRR@5 on the test split" in output
    assert "report: " in output


@pytest.mark.slow  # needs the first run's workspace
def test_a_second_run_skips_every_stage(home: Path, shared_data: Path) -> None:
    before = {s: (home / "pipeline" / f"{s}.json").read_text() for s in STAGES}
    result = run_pipeline(home, shared_data)
    assert result.returncode == 0, result.stderr
    assert statuses(result.stdout) == dict.fromkeys(STAGES, "skipped")
    assert result.stdout.count("up to date, skipped") == len(STAGES)
    assert {s: (home / "pipeline" / f"{s}.json").read_text() for s in STAGES} == before
    assert "| minilm-pipeline / hybrid |" in result.stdout  # the summary still shows it


@pytest.mark.slow  # 1 min: kept out of the default run's 15 minutes
def test_force_redoes_that_stage_and_the_ones_after_it(home: Path, shared_data: Path) -> None:
    result = run_pipeline(home, shared_data, "--force", "index")
    assert result.returncode == 0, result.stderr
    assert statuses(result.stdout) == {
        "ingest": "skipped",
        "generate": "skipped",
        "split": "skipped",
        "train": "skipped",
        "index": "ran",
        "evaluate": "ran",
    }


@pytest.mark.slow  # 2 min: kept out of the default run's 15 minutes
def test_ctrl_c_stops_a_stage_and_the_next_run_resumes_it(home: Path, shared_data: Path) -> None:
    run = subprocess.Popen(
        [*pipeline_args(shared_data), "--quick", "--force", "train"],
        env={**environment(home), "PYTHONUNBUFFERED": "1"},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,  # Ctrl-C reaches the pipeline and its stage, as in a terminal
        # a shell's background job ignores SIGINT and passes that on: undo it, as a terminal has
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )
    assert run.stdout is not None
    for line in run.stdout:
        if line.startswith("[4/6] train"):
            time.sleep(4)  # the stage has started (loading the model)
            os.killpg(run.pid, signal.SIGINT)
            break
    output = run.communicate(timeout=300)[0]
    assert run.returncode == 130, output
    assert "interrupted during the train stage: run the same command again" in output
    assert "Traceback" not in output
    assert (home / "pipeline" / "train.started").is_file()
    assert not (home / "pipeline" / "train.json").exists()

    result = run_pipeline(home, shared_data)
    assert result.returncode == 0, result.stderr
    assert "resuming the interrupted train stage" in result.stdout
    assert statuses(result.stdout) == {
        "ingest": "skipped",
        "generate": "skipped",
        "split": "skipped",
        "train": "ran",
        "index": "ran",
        "evaluate": "ran",
    }


def test_without_the_listen_notes_data_it_says_where_to_get_it(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "podseek", "pipeline", "listennotes", str(tmp_path / "missing")],
        env=environment(tmp_path / "ws"),
        capture_output=True,
        text=True,
    )
    assert result.returncode == 1
    assert result.stderr.count("\n") == 1 and "Traceback" not in result.stderr
    assert "kaggle.com/datasets/listennotes" in result.stderr
    assert not (tmp_path / "ws" / "pipeline").exists()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["podcasts", "x"], "unknown source 'podcasts'"),
        (["rss", "{feed}", "--force", "nope"], "--force 'nope': not a stage of this run"),
    ],
)
def test_bad_arguments_are_one_line(
    tmp_path: Path, shared_data: Path, args: list[str], message: str
) -> None:
    args = [a.replace("{feed}", str(shared_data / FEED)) for a in args]
    result = subprocess.run(
        [sys.executable, "-m", "podseek", "pipeline", *args],
        env=environment(tmp_path / "ws"),
        capture_output=True,
        text=True,
    )
    assert result.returncode == 1 and message in result.stderr
    assert result.stderr.count("\n") == 1


def test_a_failed_stage_says_how_it_ended() -> None:
    assert stage_failure("train", 1, 75.0) == (
        "stage train failed (exit 1 after 1m15s); fix what it said and run the same command "
        "again: finished stages are kept"
    )
    # a signal leaves nothing on the screen: the line names it and where to read about it
    crashed = stage_failure("generate", -signal.SIGSEGV, 12.0)
    assert crashed.startswith("stage generate crashed (killed by SIGSEGV after 12s)")
    assert "docs/install.md#crashes" in crashed


def test_its_train_stage_tunes_the_partners_that_read_every_language(tmp_path: Path) -> None:
    settings = Settings(_env_file=None, home=tmp_path, ensemble_model="use-multilingual,mpnet")
    stages = {s.name: s for s in plan(PipelineOptions("listennotes", str(tmp_path)), settings)}
    train = stages["train"]
    assert train.summary.endswith("and use-multilingual beside it")  # mpnet: as packaged
    (tmp_path / "models" / "e5-small-pipeline").mkdir(parents=True)
    (tmp_path / "models" / "e5-small-pipeline" / "podseek-training.json").write_text("{}")
    assert not train.done()  # its tuned partner is still missing
    (tmp_path / "models" / "e5-small-pipeline-use-multilingual").mkdir()
    (tmp_path / "models" / "e5-small-pipeline-use-multilingual" / "podseek-training.json").touch()
    assert train.done()  # no mpnet copy is waited for
    # a partner added after a run indexes again (its index is built; the others are kept)
    one = Settings(_env_file=None, home=tmp_path, ensemble_model="use-multilingual")
    again = {s.name: s for s in plan(PipelineOptions("listennotes", str(tmp_path)), one)}
    assert fingerprint(again["index"], "") != fingerprint(stages["index"], "")
    assert fingerprint(again["train"], "") == fingerprint(train, "")
