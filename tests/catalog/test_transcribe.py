"""Speech recognition (``podseek transcribe``) on the real packaged Whisper base weights, over
speech synthesized with espeak-ng whose words and timing are known: the words come back, each
sentence where it is in the audio; a rerun does nothing; bad audio is a counted skip."""

import functools
import json
import re
import shutil
import subprocess
import threading
import wave
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import SimpleNamespace

import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from podseek.catalog.ingest import ingest
from podseek.catalog.sources.table import TableMapping, TableSource
from podseek.catalog.store import CatalogStore
from podseek.catalog.transcribe import (
    ARRIVED,
    DECODE,
    FETCH,
    FORM,
    GONE,
    MODEL_BIN_BYTES,
    NO_AUDIO,
    NO_SPEECH,
    TOO_LONG,
    Recognised,
    Skipped,
    Transcriber,
    WhisperDevice,
    assemble_whisper_base,
    episodes_to_transcribe,
    to_segments,
    transcribe_catalog,
    whisper_device,
    whisper_model_folder,
)
from podseek.catalog.transcripts import Segment
from podseek.cli import app
from podseek.config import Settings
from podseek.errors import PodseekError
from podseek.serve.app import create_app

runner = CliRunner()

# Three sentences with a pause between them; the words Whisper base must hear, and the one
# word of each sentence that finds its segment.
SENTENCES = (
    "Good morning, this is a podcast about cooking.",
    "Today we talk about fresh bread and tomato soup.",
    "Thank you for listening, see you next week.",
)
KNOWN_WORDS = {"morning", "podcast", "cooking", "tomato", "soup", "listening", "week"}
MARKERS = ("cooking", "tomato", "listening")
GAP_S = 1.5  # silence after each sentence
TOLERANCE_S = 0.6  # a segment's start against its sentence's (espeak pads each clip a little)
MAPPING = {"id": "id", "title": "title", "show": "show", "audio": "audio", "language": "language"}


@dataclass(frozen=True)
class Speech:
    """A WAV file of :data:`SENTENCES` and where each sentence's clip lies in it (seconds)."""

    path: Path
    clips: list[tuple[float, float]]

    @property
    def duration(self) -> float:
        return self.clips[-1][1] + GAP_S


def synthesize(
    texts: tuple[str, ...], path: Path, gap_s: float = GAP_S
) -> list[tuple[float, float]]:
    """espeak-ng (US English voice) says each text into one mono WAV at ``path``, with
    ``gap_s`` of silence after each; returns each text's (start, end) in the file."""
    frames, clips, at, rate = [], [], 0.0, 22050
    for number, text in enumerate(texts):
        clip = path.with_name(f"{path.stem}-{number}.wav")
        subprocess.run(["espeak-ng", "-v", "en-us", "-w", str(clip), text], check=True)
        with wave.open(str(clip)) as audio:
            rate = audio.getframerate()
            frames.append(audio.readframes(audio.getnframes()))
            length = audio.getnframes() / rate
        clip.unlink()
        frames.append(b"\0\0" * int(gap_s * rate))
        clips.append((at, at + length))
        at += length + int(gap_s * rate) / rate
    write_wav(path, b"".join(frames), rate)
    return clips


def write_wav(path: Path, frames: bytes, rate: int = 16000) -> Path:
    with wave.open(str(path), "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(rate)
        out.writeframes(frames)
    return path


@pytest.fixture(scope="session")
def speech(tmp_path_factory: pytest.TempPathFactory) -> Speech:
    if shutil.which("espeak-ng") is None:
        pytest.skip(
            "espeak-ng is not installed (as root: `make speech`, or apt-get install "
            "espeak-ng): no test speech to transcribe"
        )
    path = tmp_path_factory.mktemp("speech") / "cooking.wav"
    return Speech(path, synthesize(SENTENCES, path))


@pytest.fixture(scope="session")
def whisper_folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Whisper base assembled from its two wheels, once per session."""
    pytest.importorskip("faster_whisper", reason='the "transcribe" extra is not installed')
    return assemble_whisper_base(tmp_path_factory.mktemp("ws") / "models" / "whisper-base")


@pytest.fixture(scope="session")
def transcriber(whisper_folder: Path) -> Transcriber:
    return Transcriber(whisper_folder, WhisperDevice("cpu"))


def add_episodes(store: CatalogStore, folder: Path, rows: list[dict[str, str]]) -> None:
    """Ingest ``rows`` (id, title, audio, language) as the show "Kitchen Radio"."""
    table = folder / "episodes.jsonl"
    table.write_text("".join(json.dumps({"show": "Kitchen Radio", **row}) + "\n" for row in rows))
    source = TableSource(table, TableMapping.from_pairs(MAPPING), name="speech")
    summary = ingest(store, source)
    assert summary.added == len(rows), summary


def words(segments: list[Segment]) -> set[str]:
    return set(re.findall(r"[a-z']+", " ".join(s.text for s in segments).lower()))


def stored_forms(store: CatalogStore) -> dict[str, str]:
    return dict(store._conn.execute("SELECT episode_id, form FROM transcripts"))


# --- the weights ---------------------------------------------------------------------------


def test_the_packaged_weights_are_assembled_once(whisper_folder: Path, tmp_path: Path) -> None:
    model_bin = whisper_folder / "model.bin"
    assert model_bin.stat().st_size == MODEL_BIN_BYTES
    assert {p.name for p in whisper_folder.iterdir()} == {
        "model.bin",
        "config.json",
        "tokenizer.json",
        "vocabulary.txt",
        "podseek-assembled.json",
    }
    written = model_bin.stat().st_mtime_ns
    assert assemble_whisper_base(whisper_folder) == whisper_folder  # complete: reused
    assert model_bin.stat().st_mtime_ns == written
    assert not [p for p in whisper_folder.parent.iterdir() if p.name.startswith(".")]

    half_done = tmp_path / "models" / "whisper-base"  # not by us: refused, not overwritten
    half_done.mkdir(parents=True)
    (half_done / "model.bin").write_bytes(b"partial")
    with pytest.raises(PodseekError, match="not a complete Whisper base folder"):
        assemble_whisper_base(half_done)
    # --model: "base" or a folder with a CTranslate2 model in it
    assert whisper_model_folder(str(whisper_folder), tmp_path) == whisper_folder
    with pytest.raises(PodseekError, match="unknown Whisper model 'large'"):
        whisper_model_folder("large", tmp_path)
    with pytest.raises(PodseekError, match=r"not a CTranslate2 Whisper model folder \(no"):
        whisper_model_folder(str(tmp_path), tmp_path)


# --- recognition ---------------------------------------------------------------------------


def test_known_words_come_back_where_they_were_said(
    store: CatalogStore, transcriber: Transcriber, speech: Speech, tmp_path: Path
) -> None:
    add_episodes(
        store,
        tmp_path,
        [
            {"id": "en", "title": "Cooking", "audio": str(speech.path), "language": "en"},
            # no language in the catalog (too little text to tell), a file:// URL: Whisper
            # detects the language
            {"id": "unknown", "title": "Soup", "audio": speech.path.as_uri()},
        ],
    )
    assert store.get("speech:unknown").language == ""
    summary = transcribe_catalog(store, transcriber)
    assert (summary.episodes, summary.transcribed, sum(summary.skipped.values())) == (2, 2, 0)
    assert summary.languages == {"en": 2} and summary.detected == 1
    assert summary.audio_seconds == pytest.approx(2 * speech.duration, abs=0.01)
    assert summary.real_time_factor > 0 and summary.seconds >= summary.processing_seconds
    assert stored_forms(store) == {"speech:en": FORM, "speech:unknown": FORM}

    for episode_id in ("speech:en", "speech:unknown"):
        segments = store.transcript(episode_id)
        assert words(segments) >= KNOWN_WORDS, segments
        assert all(0 <= s.start <= s.end <= speech.duration for s in segments)
        # each sentence's segment starts where its clip does, ends before the next begins
        found = [next(s for s in segments if marker in s.text.lower()) for marker in MARKERS]
        assert len(set(found)) == 3, segments
        for segment, (start, _) in zip(found, speech.clips, strict=True):
            assert segment.start == pytest.approx(start, abs=TOLERANCE_S), segments
        for segment, (next_start, _) in zip(found, speech.clips[1:], strict=False):
            assert segment.end <= next_start + 0.3, segments
        assert found[0].end < found[1].start < found[1].end < found[2].start


class Scripted:
    """A stand-in for the model where the test is about the stage around it: it "hears" one
    segment per file, and runs ``meanwhile`` first (what another writer does during it)."""

    name, device = "scripted", WhisperDevice("cpu")

    def __init__(self, meanwhile: Callable[[], None] = lambda: None) -> None:
        self.meanwhile = meanwhile
        self.heard: list[str] = []

    def transcribe(self, path: Path, language: str = "") -> Recognised:
        self.meanwhile()
        self.heard.append(path.name)
        return Recognised([Segment(start=0.0, end=1.0, text=path.name)], 2.0, "en", False)


def test_a_rerun_transcribes_only_what_is_still_missing(
    store: CatalogStore, tmp_path: Path
) -> None:
    rows = [
        {"id": str(n), "title": "x", "audio": str(write_wav(tmp_path / f"{n}.wav", b""))}
        for n in range(3)
    ]
    add_episodes(store, tmp_path, rows)
    first = transcribe_catalog(store, Scripted(), limit=2)  # as if interrupted after two
    assert (first.episodes, first.transcribed, store.transcript_count()) == (2, 2, 2)
    rest = Scripted()
    second = transcribe_catalog(store, rest)
    assert (second.transcribed, store.transcript_count(), len(rest.heard)) == (1, 3, 1)
    third = transcribe_catalog(store, rest)
    assert (third.episodes, third.transcribed, third.audio_seconds) == (0, 0, 0.0)
    assert episodes_to_transcribe(store) == [] and len(rest.heard) == 1
    assert stored_forms(store) == dict.fromkeys(("speech:0", "speech:1", "speech:2"), FORM)


@pytest.fixture
def audio_server(tmp_path: Path) -> Iterator[str]:
    """``http://127.0.0.1:PORT`` serving the files of ``tmp_path/site`` (404 for others)."""
    site = tmp_path / "site"
    site.mkdir()

    class Quiet(SimpleHTTPRequestHandler):
        def log_message(self, *args: object) -> None:  # no request lines in the test output
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(Quiet, directory=str(site)))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def test_audio_over_http_is_downloaded_into_a_temporary_file(
    store: CatalogStore, tmp_path: Path, audio_server: str
) -> None:
    audio = write_wav(tmp_path / "site" / "one.wav", b"\1\0" * 1600)
    add_episodes(
        store,
        tmp_path,
        [
            {"id": "ok", "title": "x", "audio": f"{audio_server}/one.wav"},
            {"id": "missing", "title": "x", "audio": f"{audio_server}/two.wav"},
        ],
    )
    seen: list[tuple[Path, bytes]] = []

    class Keeps(Scripted):
        def transcribe(self, path: Path, language: str = "") -> Recognised:
            seen.append((path, path.read_bytes()))
            return super().transcribe(path, language)

    summary = transcribe_catalog(store, Keeps(), fetch_timeout=5)
    assert summary.transcribed == 1 and summary.skipped == {FETCH: 1}
    assert summary.examples[FETCH] == "speech:missing: HTTP 404"
    ((path, data),) = seen
    assert data == audio.read_bytes() and not path.exists()  # the download is gone


def test_bad_audio_is_a_counted_skip_with_its_reason(
    store: CatalogStore, transcriber: Transcriber, tmp_path: Path
) -> None:
    garbage = tmp_path / "garbage.mp3"
    garbage.write_bytes(b"ID3 this is no audio at all" * 50)
    silence = write_wav(tmp_path / "silence.wav", b"\0\0" * 16000 * 3)
    empty = write_wav(tmp_path / "empty.wav", b"")
    rows = {
        "garbage": str(garbage),
        "silence": str(silence),
        "empty": str(empty),
        "missing": str(tmp_path / "gone.mp3"),
        "ftp": "ftp://example.org/episode.mp3",
        # nothing listens on port 9 here: refused at once, and the host's next episode is
        # not tried again
        "refused-1": "http://127.0.0.1:9/1.mp3",
        "refused-2": "http://127.0.0.1:9/2.mp3",
    }
    add_episodes(
        store,
        tmp_path,
        [{"id": i, "title": i, "audio": url, "language": "en"} for i, url in rows.items()],
    )
    summary = transcribe_catalog(store, transcriber)
    assert (summary.episodes, summary.transcribed) == (7, 0)
    assert summary.skipped == {FETCH: 4, DECODE: 1, NO_SPEECH: 1, NO_AUDIO: 1}
    assert summary.examples[DECODE] == "speech:garbage: Invalid data found when processing input"
    assert summary.examples[NO_SPEECH] == "speech:silence"
    assert store.transcript_count() == 0
    again = transcribe_catalog(store, transcriber)  # bad input is tried again, and again skipped
    assert again.skipped == summary.skipped
    data = again.to_dict()
    assert data["skipped"][FETCH] == 4 and json.dumps(data)


def test_whisper_segments_are_checked_against_the_audio() -> None:
    def seg(start: float, end: float, text: str) -> SimpleNamespace:
        return SimpleNamespace(start=start, end=end, text=text)

    segments = to_segments(
        [seg(0.0, 2.0, " Hello  there. "), seg(2.0, 2.5, " "), seg(3, 10.6, "Bye")], 10.0
    )
    assert segments == [
        Segment(start=0.0, end=2.0, text="Hello there."),
        Segment(start=3.0, end=10.0, text="Bye"),  # a little past the end: cut back
    ]
    with pytest.raises(Skipped) as longer:
        to_segments([seg(0.0, 2.0, "Hello"), seg(2.0, 14.0, "and more")], 10.0)
    assert longer.value.reason == TOO_LONG and "ends at 14.0 s" in longer.value.detail
    with pytest.raises(Skipped, match=NO_SPEECH):
        to_segments([seg(0.0, 2.0, "  ")], 10.0)


def test_a_transcript_that_arrives_meanwhile_is_kept(store: CatalogStore, tmp_path: Path) -> None:
    audio = write_wav(tmp_path / "1.wav", b"")
    add_episodes(store, tmp_path, [{"id": n, "title": "x", "audio": str(audio)} for n in "12"])
    published = [Segment(start=0.0, end=1.0, text="published")]

    def ingest_and_delete() -> None:  # a feed's ingest commits a published transcript
        with store.write("feed") as batch:
            batch.set_transcript("speech:1", "vtt", published)
        store.delete(["speech:2"])

    summary = transcribe_catalog(store, Scripted(ingest_and_delete))
    assert summary.skipped == {ARRIVED: 1, GONE: 1} and summary.transcribed == 0
    assert store.transcript("speech:1") == published and store.transcript_count() == 1


# --- the device and the extra --------------------------------------------------------------


def test_the_device_setting_as_ctranslate2_sees_the_machine() -> None:
    ctranslate2 = pytest.importorskip("ctranslate2")
    assert whisper_device("cpu") == WhisperDevice("cpu", 0, "int8")
    with pytest.raises(PodseekError, match="device mps: CTranslate2 runs Whisper on the CPU"):
        whisper_device("mps")
    gpus = ctranslate2.get_cuda_device_count()
    with pytest.raises(PodseekError, match=f"device cuda:{gpus}: CTranslate2 .* finds"):
        whisper_device(f"cuda:{gpus}")
    if gpus:
        assert whisper_device("auto") == WhisperDevice("cuda", 0, "float16")
        assert whisper_device("cuda:0", half_precision=False).compute_type == "float32"
    else:
        assert whisper_device("auto") == WhisperDevice("cpu", 0, "int8")


def test_on_a_gpu_when_ctranslate2_sees_one(whisper_folder: Path, speech: Speech) -> None:
    import ctranslate2

    if not ctranslate2.get_cuda_device_count():
        pytest.skip("CTranslate2 sees no CUDA GPU here")
    on_gpu = Transcriber(whisper_folder, whisper_device("cuda"))
    recognised = on_gpu.transcribe(speech.path, "en")
    assert words(recognised.segments) >= KNOWN_WORDS, recognised


# --- the command ---------------------------------------------------------------------------


@pytest.fixture
def kitchen_table(tmp_path: Path, speech: Speech) -> Path:
    table = tmp_path / "kitchen.jsonl"
    rows = [
        {"id": "1", "title": "Soup", "audio": str(speech.path), "language": "en"},
        {"id": "2", "title": "Broken", "audio": str(tmp_path / "missing.mp3"), "language": "en"},
    ]
    table.write_text("".join(json.dumps({"show": "Kitchen Radio", **r}) + "\n" for r in rows))
    return table


def test_the_command_transcribes_then_has_nothing_left(
    workspace: Settings, kitchen_table: Path, whisper_folder: Path
) -> None:
    mapping = ",".join(f"{field}={column}" for field, column in MAPPING.items())
    added = runner.invoke(app, ["ingest", "table", str(kitchen_table), "--map", mapping])
    assert added.exit_code == 0, added.output

    result = runner.invoke(app, ["transcribe"])
    assert result.exit_code == 0, result.output
    line = result.stdout.splitlines()[0]
    assert re.fullmatch(
        r"transcribed 1 of 2 episodes \(\d+ segments\), skipped 1; [\d.]+ s of audio in "
        r"[\d.]+ s: [\d.]+x real time \(whisper base, cpu int8; [\d.]+ s in all\)",
        line,
    ), line
    assert f"skipped 1: {FETCH} (e.g. table:kitchen:2: " in result.stdout
    # the packaged weights went into the workspace, once
    model_bin = workspace.home / "models" / "whisper-base" / "model.bin"
    assert model_bin.stat().st_size == MODEL_BIN_BYTES

    again = runner.invoke(app, ["transcribe", "--json"])
    assert again.exit_code == 0, again.output
    summary = json.loads(again.stdout)
    assert (summary["episodes"], summary["transcribed"], summary["skipped"]) == (1, 0, {FETCH: 1})
    stats = runner.invoke(app, ["catalog", "stats"])
    assert "transcripts: 1" in stats.stdout
    shown = runner.invoke(app, ["catalog", "show", "table:kitchen:1"])
    assert shown.exit_code == 0, shown.output
    with TestClient(create_app(workspace)) as client:  # served like a published transcript
        served = client.get("/api/episodes/table:kitchen:1/transcript")
        assert served.status_code == 200, served.text
        assert "tomato soup" in " ".join(s["text"] for s in served.json()["segments"]).lower()

    # a folder for --model, and --show / --limit that leave nothing to do (no model loaded)
    other = runner.invoke(app, ["transcribe", "--model", str(whisper_folder), "--show", "nope"])
    assert other.exit_code == 0 and other.stdout.startswith("transcribed 0 of 0 episodes")
    bad = runner.invoke(app, ["transcribe", "--model", "huge"])
    assert bad.exit_code == 1 and "unknown Whisper model 'huge'" in bad.stderr
