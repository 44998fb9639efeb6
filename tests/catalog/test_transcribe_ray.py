"""``podseek transcribe --ray``: the episodes spread over a local Ray cluster's actors
(``ray.init(num_cpus=2)``, started once for the module), each actor with its own Whisper base
read from the folder the command assembled, on speech synthesized with espeak-ng. The
command writes what one process writes, resumes, and a bad address is one line."""

import json
import re
import shutil
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from podseek.catalog import transcribe
from podseek.catalog.store import CatalogStore
from podseek.catalog.transcribe import (
    BASE_FOLDER,
    FETCH,
    FORM,
    Transcriber,
    WhisperDevice,
    transcribe_audio,
)
from podseek.cli import app
from podseek.config import Settings
from tests.catalog.test_transcribe import KNOWN_WORDS, MAPPING, SENTENCES, synthesize, words

ray = pytest.importorskip("ray", reason="Ray is not installed: pip install 'podseek[ray]'")
pytest.importorskip("faster_whisper", reason='the "transcribe" extra is not installed')

runner = CliRunner()

# Three episodes, each its own synthesized talk; "forecast" has no language in the catalog
# (Whisper detects it). A fourth's audio is missing: a counted skip, on Ray as here. Undated,
# they are transcribed in id order: cooking and forecast first (--limit 2), then the others.
TALKS = {
    "cooking": SENTENCES,
    "forecast": ("The weather in Paris is sunny today.", "Tomorrow it will rain over the hills."),
    "match": (
        "Football season starts next month.",
        "Our team has a new coach and three new players.",
    ),
}


@pytest.fixture(scope="module", autouse=True)
def cluster() -> Iterator[None]:
    """One local Ray cluster for the module (starting one costs 10-20 s); the command finds
    it initialised and uses it."""
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    yield
    ray.shutdown()


@pytest.fixture(scope="module")
def talks(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    if shutil.which("espeak-ng") is None:
        pytest.skip(
            "espeak-ng is not installed (as root: `make speech`, or apt-get install "
            "espeak-ng): no test speech to transcribe"
        )
    folder = tmp_path_factory.mktemp("talks")
    paths = {name: folder / f"{name}.wav" for name in TALKS}
    for name, texts in TALKS.items():
        synthesize(texts, paths[name])
    return paths


@pytest.fixture
def speech_workspace(workspace: Settings, talks: dict[str, Path], tmp_path: Path) -> Settings:
    """A workspace whose catalog holds the talks (and one episode whose audio is missing)."""
    rows = [
        {"id": name, "title": name.title(), "audio": str(path), "language": "en"}
        for name, path in talks.items()
    ]
    rows[1]["language"] = ""
    rows.append({"id": "missing", "title": "Missing", "audio": str(tmp_path / "gone.wav")})
    table = tmp_path / "talks.jsonl"
    table.write_text("".join(json.dumps({"show": "Radio", **row}) + "\n" for row in rows))
    mapping = ",".join(f"{field}={column}" for field, column in MAPPING.items())
    added = runner.invoke(app, ["ingest", "table", str(table), "--map", mapping])
    assert added.exit_code == 0, added.output
    return workspace


def transcripts(settings: Settings) -> dict[str, list]:
    with CatalogStore(settings.catalog_path) as store:
        forms = dict(store._conn.execute("SELECT episode_id, form FROM transcripts"))
        assert set(forms.values()) <= {FORM}
        return {i: store.transcript(i) for i in forms}


def transcribe_two_on_ray(settings: Settings) -> None:
    """``--limit 2``: two episodes, one actor each; the catalog's language, else Whisper
    detects it."""
    first = runner.invoke(app, ["transcribe", "--ray", "local", "--limit", "2", "--json"])
    assert first.exit_code == 0, first.output
    summary = json.loads(first.stdout)
    assert (summary["episodes"], summary["transcribed"], summary["skipped"]) == (2, 2, {})
    assert summary["languages"] == {"en": 2} and summary["detected"] == 1
    assert summary["device"] == "ray: 2 1-CPU actors on 1 node, cpu int8"
    assert summary["audio_seconds"] > 10 and summary["real_time_factor"] > 0
    assert sorted(transcripts(settings)) == ["table:talks:cooking", "table:talks:forecast"]


def test_transcribe_on_ray_writes_what_one_process_writes(
    speech_workspace: Settings, talks: dict[str, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PODSEEK_DEVICE", "cpu")
    transcribe_two_on_ray(speech_workspace)
    stored = transcripts(speech_workspace)
    assert words(stored["table:talks:cooking"]) >= KNOWN_WORDS

    # the packaged weights went into the workspace once, by this process, and nowhere else
    models = speech_workspace.home / "models"
    assert sorted(p.name for p in models.iterdir() if not p.name.startswith(".")) == [BASE_FOLDER]

    # the same segments, texts and times, as one process on the same device. Whisper on the
    # CPU is deterministic, but numpy's BLAS threads round the mel spectrogram differently
    # (a 1-CPU Ray actor runs one: Ray sets its OMP_NUM_THREADS=1), and a hair's difference
    # in the features can drop a full stop; with BLAS on one thread here too, they agree.
    threadpoolctl = pytest.importorskip("threadpoolctl")
    here = Transcriber(models / BASE_FOLDER, WhisperDevice("cpu"))
    with threadpoolctl.threadpool_limits(limits=1, user_api="blas"):
        for name in ("cooking", "forecast"):
            language = "" if name == "forecast" else "en"
            outcome = transcribe_audio(here, str(talks[name]), language)
            assert outcome.recognised is not None, outcome
            assert stored[f"table:talks:{name}"] == outcome.recognised.segments, name


@pytest.mark.slow  # three commands, each starting its actors: 25 s idle, minutes on busy cores
def test_transcribe_on_ray_keeps_what_came_back_and_resumes(
    speech_workspace: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PODSEEK_DEVICE", "cpu")
    transcribe_two_on_ray(speech_workspace)

    # Ctrl-C right after the next transcript is committed: it is kept
    committed = transcribe._store

    def then_interrupted(*args, **kwargs) -> None:
        committed(*args, **kwargs)
        raise KeyboardInterrupt

    monkeypatch.setattr(transcribe, "_store", then_interrupted)
    stopped = runner.invoke(app, ["transcribe", "--ray", "local"])
    assert stopped.exit_code == 130 and stopped.stderr.startswith("interrupted: "), stopped.output
    monkeypatch.setattr(transcribe, "_store", committed)
    stored = transcripts(speech_workspace)
    assert sorted(stored) == [f"table:talks:{name}" for name in sorted(TALKS)]

    # the rerun goes on with what is left: the missing audio, counted with its reason
    again = runner.invoke(app, ["transcribe", "--ray", "local"])
    assert again.exit_code == 0, again.output
    line, skipped = again.stdout.splitlines()
    assert re.fullmatch(
        r"transcribed 0 of 1 episodes \(0 segments\), skipped 1 \(whisper base, ray: 1 1-CPU "
        r"actor on 1 node, cpu int8; [\d.]+ s in all\)",
        line,
    ), again.stdout
    assert skipped.startswith(f"  skipped 1: {FETCH} (e.g. table:talks:missing: ")
    assert transcripts(speech_workspace) == stored


def test_nothing_to_do_starts_no_actor(speech_workspace: Settings) -> None:
    done = runner.invoke(app, ["transcribe", "--ray", "local", "--show", "nope", "--json"])
    assert done.exit_code == 0, done.output
    assert json.loads(done.stdout)["device"] == "ray (nothing to do)"
    assert not (speech_workspace.home / "models").exists()  # no model assembled either


@pytest.mark.parametrize(
    ("address", "message"),
    [
        ("127.0.0.1:1", "error: --ray 127.0.0.1:1: cannot reach a Ray cluster"),
        ("ray://127.0.0.1:1", "error: --ray ray://127.0.0.1:1: cannot reach a Ray cluster"),
        ("nowhere", "error: --ray 'nowhere': not a Ray address"),
    ],
)
def test_a_bad_address_is_one_line(speech_workspace: Settings, address: str, message: str) -> None:
    result = runner.invoke(app, ["transcribe", "--ray", address])
    assert result.exit_code == 1
    assert result.output.startswith(message)
    assert len(result.output.strip().splitlines()) == 1 and "Traceback" not in result.output
    assert not transcripts(speech_workspace)


def test_without_ray_installed_the_error_names_the_extra(
    workspace: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "ray", None)  # import ray fails, as when not installed
    result = runner.invoke(app, ["transcribe", "--ray", "local"])
    assert result.exit_code == 1
    assert result.output.strip() == (
        "error: --ray needs the \"ray\" extra (ray is not installed): pip install 'podseek[ray]'"
    )
