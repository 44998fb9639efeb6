"""Transcripts: the four forms shows publish through Podcasting 2.0's ``<podcast:transcript>``
tag (SRT, WebVTT, the JSON transcript form and HTML), read into one model: timed segments
with their speaker, in order.

Well-kept parsers do the reading (srt, webvtt-py; selectolax for HTML); this module adds what
published files need beyond them: WebVTT times written as bare seconds (which webvtt-py drops
without a word), JSON segments split from one cue (the same start, end and speaker; joined
back), and speakers written as a ``Name:`` prefix in SRT or as ``<cite>`` in HTML. A file that
cannot be a transcript (empty, unparseable, times going backwards) is one
:class:`TranscriptError` line, for the caller to count as a skip.
"""

import json
import re
from collections.abc import Callable
from pathlib import Path

from pydantic import BaseModel, ConfigDict

from podseek.errors import PodseekError

SRT, VTT, JSON, HTML = "srt", "vtt", "json", "html"
FORMATS = (SRT, VTT, JSON, HTML)

# The MIME types the Podcasting 2.0 namespace names for each form, and their file suffixes.
_MIME_TYPES = {
    "application/srt": SRT,
    "application/x-subrip": SRT,
    "text/srt": SRT,
    "text/vtt": VTT,
    "application/json": JSON,
    "text/html": HTML,
}
_SUFFIXES = {".srt": SRT, ".vtt": VTT, ".json": JSON, ".html": HTML, ".htm": HTML}
# The largest backwards step in times that is mended rather than refused, in seconds.
SLIP_S = 2.0

# How far a transcript may run past the audio's stated duration before it is taken for
# another episode's: feeds round durations, and some state the length before ads went in.
DURATION_SLACK_S = 10.0
DURATION_SLACK_SHARE = 0.05
TOO_LONG = "transcript longer than the audio"

# A WebVTT timing line; hosts also write "0.860 --> 7.380" and "56.440 --> 1:01.080", which
# webvtt-py misreads or drops without a word, so every time is rewritten as hh:mm:ss.ttt.
_TIMING = re.compile(r"^(\s*)(\S+)(\s+-->\s+)(\S+)(.*)$", re.MULTILINE)
# A speaker written before an SRT cue's words, "Alban: It is ...", as Podcasting 2.0 advises:
# one to four capitalised words.
_SPEAKER_PREFIX = re.compile(r"^((?:[A-Z][\w.'-]*)(?: [A-Z][\w.'-]*){0,3}):\s+(.*)$", re.DOTALL)
# An HTML transcript's <time>: "0:30", "1:02:03" or "75.5".
_CLOCK = re.compile(r"^\s*(?:(\d+):)?(?:(\d+):)?(\d+(?:\.\d+)?)\s*$")


class Segment(BaseModel):
    """What was said from ``start`` to ``end`` (seconds from the episode's start), and by whom
    when the transcript says (``""`` otherwise)."""

    model_config = ConfigDict(frozen=True)

    start: float
    end: float
    text: str
    speaker: str = ""


class TranscriptError(PodseekError):
    """A file that cannot be read as a transcript; the message is the reason, in one line."""


def transcript_format(name: str) -> str | None:
    """The form of a transcript from its MIME type (a feed's ``type``) or its file name;
    ``None`` when it is none of the four."""
    lowered = name.split(";")[0].strip().lower()
    return _MIME_TYPES.get(lowered) or _SUFFIXES.get(Path(lowered).suffix)


def runs_past_the_audio(segments: list[Segment], duration_s: float | None) -> bool:
    """Whether the transcript ends well after the audio's stated duration (by more than
    :data:`DURATION_SLACK_S` and :data:`DURATION_SLACK_SHARE` of it): the transcript of
    another episode, most likely. Never when the duration is unknown."""
    if not segments or not duration_s:
        return False
    return segments[-1].end > duration_s * (1 + DURATION_SLACK_SHARE) + DURATION_SLACK_S


def read_transcript(path: Path) -> list[Segment]:
    """The segments of a transcript file, its form taken from its suffix."""
    form = transcript_format(path.name)
    if form is None:
        raise TranscriptError(f"{path.name}: not a transcript file (.srt, .vtt, .json, .html)")
    try:
        data = path.read_bytes()
    except OSError as error:
        raise TranscriptError(f"{path.name}: cannot read it: {error.strerror}") from error
    return parse_transcript(data, form)


def parse_transcript(data: bytes | str, form: str) -> list[Segment]:
    """The segments of a transcript in ``form`` (one of :data:`FORMATS`), in time order."""
    if isinstance(data, bytes):
        try:
            data = data.decode("utf-8-sig")
        except UnicodeDecodeError as error:
            raise TranscriptError(f"not UTF-8 text (byte {error.start})") from error
    if not data.strip():
        raise TranscriptError("empty transcript")
    try:
        segments = _PARSERS[form](data)
    except TranscriptError:
        raise
    except KeyError as error:
        raise TranscriptError(f"unknown transcript form {form!r}") from error
    except Exception as error:  # each library raises its own kinds for a malformed file
        raise TranscriptError(f"not a valid {form.upper()} transcript: {error}") from error
    segments = [s for s in segments if s.text]
    if not segments:
        raise TranscriptError(f"no timed text in this {form.upper()} transcript")
    return _in_order(segments)


def _in_order(segments: list[Segment]) -> list[Segment]:
    """The segments with a time slip of up to :data:`SLIP_S` mended (a cue ending just before
    it starts, or starting just before the one ahead of it, as hand-edited files have); a
    larger one is an error: the file's times cannot be trusted to seek the audio."""
    mended, previous = [], 0.0
    for number, segment in enumerate(segments, start=1):
        start, end = segment.start, segment.end
        if start < 0:
            raise TranscriptError(f"segment {number} starts before the episode ({start:.3f} s)")
        if start < previous:
            if previous - start > SLIP_S:
                raise TranscriptError(
                    f"times out of order: segment {number} starts at {start:.3f} s, before "
                    f"the one ahead of it ({previous:.3f} s)"
                )
            start = previous
        if end < start:
            if start - end > SLIP_S:
                raise TranscriptError(
                    f"segment {number} ends before it starts ({start:.3f} -> {end:.3f} s)"
                )
            end = start
        mended.append(segment.model_copy(update={"start": start, "end": end}))
        previous = start
    return mended


def _clean(text: str) -> str:
    return " ".join(text.split())


def _speaker_and_text(text: str) -> tuple[str, str]:
    match = _SPEAKER_PREFIX.match(text.strip())
    return (match.group(1), _clean(match.group(2))) if match else ("", _clean(text))


def _srt(text: str) -> list[Segment]:
    import srt

    segments = []
    for cue in srt.parse(text):
        speaker, words = _speaker_and_text(cue.content)
        start, end = cue.start.total_seconds(), cue.end.total_seconds()
        segments.append(Segment(start=start, end=end, text=words, speaker=speaker))
    return segments


def _clock(time: str) -> str:
    total = _seconds(time)
    hours, rest = divmod(total, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{int(hours):02d}:{int(minutes):02d}:{secs:06.3f}"


def _vtt(text: str) -> list[Segment]:
    import webvtt

    text = _TIMING.sub(
        lambda m: f"{m.group(1)}{_clock(m.group(2))}{m.group(3)}{_clock(m.group(4))}{m.group(5)}",
        text,
    )
    if not text.lstrip().startswith("WEBVTT"):
        raise TranscriptError("not a WebVTT transcript: no WEBVTT header")
    segments = []
    for caption in webvtt.from_string(text).captions:
        speaker, words = caption.voice or "", _clean(caption.text)  # speakers: <v Name>
        segments.append(
            Segment(
                start=_seconds(caption.start),
                end=_seconds(caption.end),
                text=words,
                speaker=speaker,
            )
        )
    return segments


def _seconds(clock: str) -> float:
    match = _CLOCK.match(clock.replace(",", "."))
    if match is None:
        raise TranscriptError(f"not a time: {clock[:40]!r}")
    first, second, secs = match.groups()
    hours, minutes = (first, second) if second is not None else (None, first)
    return int(hours or 0) * 3600 + int(minutes or 0) * 60 + float(secs)


def _json(text: str) -> list[Segment]:
    document = json.loads(text)
    rows = document.get("segments") if isinstance(document, dict) else None
    if not isinstance(rows, list):
        raise TranscriptError("not a Podcasting 2.0 JSON transcript: no list of segments")
    segments: list[Segment] = []
    for row in rows:
        if not isinstance(row, dict) or "startTime" not in row:
            raise TranscriptError("not a Podcasting 2.0 JSON transcript: a segment without time")
        start = float(row["startTime"])
        end = float(row.get("endTime", start))
        speaker, words = str(row.get("speaker") or ""), _clean(str(row.get("body") or ""))
        last = segments[-1] if segments else None
        if last and (last.start, last.end, last.speaker) == (start, end, speaker):
            # one cue split into lines: each line repeats the cue's times
            segments[-1] = last.model_copy(update={"text": f"{last.text} {words}".strip()})
            continue
        segments.append(Segment(start=start, end=end, text=words, speaker=speaker))
    return segments


def _html(text: str) -> list[Segment]:
    from selectolax.lexbor import LexborHTMLParser

    speaker, start = "", None
    timed: list[tuple[float, str, str]] = []
    body = LexborHTMLParser(text).body
    for node in body.traverse() if body is not None else []:
        if node.tag == "cite":
            speaker = _clean(node.text()).rstrip(":").strip()
        elif node.tag == "time":
            start = _seconds(node.text())
        elif node.tag == "p" and start is not None:
            timed.append((start, speaker, _clean(node.text())))
    if not timed:
        raise TranscriptError("not an HTML transcript: no <time> followed by a <p>")
    ends = [t[0] for t in timed[1:]] + [timed[-1][0]]
    return [
        Segment(start=start, end=max(end, start), text=words, speaker=speaker)
        for (start, speaker, words), end in zip(timed, ends, strict=True)
    ]


_PARSERS: dict[str, Callable[[str], list[Segment]]] = {
    SRT: _srt,
    VTT: _vtt,
    JSON: _json,
    HTML: _html,
}
