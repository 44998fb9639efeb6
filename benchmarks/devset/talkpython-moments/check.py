"""Validate the Talk Python moment queries against the transcripts they were written from.

Checks, for the set in this folder:

* ``queries.jsonl`` parses; every query has ``_id``, ``text`` and ``metadata`` with ``kind``
  (paraphrase, exact or cross-lingual), ``lang`` (en, de, es, fr; cross-lingual queries and
  only they are not English), ``episode``, ``file``, ``start``, ``end``, ``quote`` and
  ``note``; ids and texts are unique; texts are 4-15 words.
* The transcript ``file`` exists in the transcript folder, is the episode's own file (its name
  starts with the episode number and is not a ``-no-names`` copy) and is not one of the
  episodes that have duplicate files (524, 525, 551).
* ``start < end``, the window is 10-60 s long and lies within the transcript's duration.
* The ``quote``, lowercased and with punctuation dropped, occurs in the text of the cues that
  overlap the window (with a few seconds of slack on each side).
* ``qrels/dev.tsv`` and ``qrels/test.tsv`` have the header ``query-id	corpus-id	score``;
  every query is in exactly one of them, with one line: its episode as podseek's catalog id
  ``transcripts:talk-python-to-me:<episode>``, score 1.
* The set rules (skipped with ``--partial``): each kind is split in halves (within one), every
  non-English language is in both halves, at least 35 distinct episodes and at least 30
  moments that start after minute 10.

Prints counts by kind, language and half, and exits 1 on any problem.

Usage (stdlib only)::

    python3 benchmarks/devset/talkpython-moments/check.py [--transcripts DIR] [--partial]

``--transcripts`` defaults to ``$PODSEEK_DATA_DIR/podcast-transcripts/talkpython`` when
``PODSEEK_DATA_DIR`` is set, else to ``../shared/data/podcast-transcripts/talkpython`` relative
to the repository root.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
from collections import Counter
from collections.abc import Iterable
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO_ROOT = HERE.parents[2]
ID_PREFIX = "transcripts:talk-python-to-me:"
QRELS_HEADER = ["query-id", "corpus-id", "score"]
SPLITS = ("dev", "test")
KINDS = ("paraphrase", "exact", "cross-lingual")
LANGS = ("en", "de", "es", "fr")
FIELDS = ("kind", "lang", "episode", "file", "start", "end", "quote", "note")
EXCLUDED_EPISODES = {"524", "525", "551"}  # episodes with two transcript files
WORDS = (4, 15)
WINDOW_SECONDS = (10.0, 60.0)
SLACK_SECONDS = 5.0
MIN_EPISODES = 35
MIN_AFTER_MINUTE_10 = 30

_TIMING = re.compile(
    r"^\s*((?:\d+:)?\d{1,2}:\d{2}[.,]\d{1,3})\s*-->\s*((?:\d+:)?\d{1,2}:\d{2}[.,]\d{1,3})"
)
_TAG = re.compile(r"<[^>]*>")
_NON_WORD = re.compile(r"[^\w]+")


def seconds(stamp: str) -> float:
    """``hh:mm:ss.mmm`` or ``mm:ss.mmm`` as seconds."""
    total = 0.0
    for part in stamp.replace(",", ".").split(":"):
        total = total * 60 + float(part)
    return total


def read_cues(path: Path) -> list[tuple[float, float, str]]:
    """The cues of a WebVTT file as ``(start, end, text)``, voice and other tags removed."""
    cues: list[tuple[float, float, str]] = []
    current: list | None = None
    for line in path.read_text(encoding="utf-8").splitlines():
        timing = _TIMING.match(line)
        if timing:
            current = [seconds(timing.group(1)), seconds(timing.group(2)), []]
            cues.append(current)
        elif not line.strip():
            current = None
        elif current is not None:
            current[2].append(_TAG.sub("", line).strip())
    return [(start, end, " ".join(text)) for start, end, text in cues]


def normalize(text: str) -> str:
    """Lowercase, punctuation dropped, single spaces: for comparing a quote with cue text."""
    return " ".join(_NON_WORD.sub(" ", text.lower()).split())


def default_transcripts() -> Path:
    data_dir = os.environ.get("PODSEEK_DATA_DIR")
    if data_dir:
        return Path(data_dir) / "podcast-transcripts" / "talkpython"
    return REPO_ROOT.parent / "shared" / "data" / "podcast-transcripts" / "talkpython"


def load_queries(path: Path, errors: list[str]) -> dict[str, dict]:
    """Parse ``queries.jsonl``, recording format problems in ``errors``."""
    queries: dict[str, dict] = {}
    texts: set[str] = set()
    for lineno, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip():
            continue
        try:
            query = json.loads(line)
        except json.JSONDecodeError as exc:
            errors.append(f"{path.name}:{lineno}: not JSON ({exc})")
            continue
        qid, text, meta = query.get("_id"), query.get("text"), query.get("metadata")
        if not isinstance(qid, str) or not isinstance(text, str) or not isinstance(meta, dict):
            errors.append(f"{path.name}:{lineno}: needs string _id, string text, metadata object")
            continue
        if qid in queries:
            errors.append(f"{path.name}:{lineno}: duplicate _id {qid}")
        if text.lower() in texts:
            errors.append(f"{qid}: duplicate text {text!r}")
        texts.add(text.lower())
        missing = [field for field in FIELDS if meta.get(field) in (None, "")]
        if missing:
            errors.append(f"{qid}: metadata lacks {', '.join(missing)}")
            continue
        if meta["kind"] not in KINDS:
            errors.append(f"{qid}: kind {meta['kind']!r} is not one of {', '.join(KINDS)}")
        if meta["lang"] not in LANGS:
            errors.append(f"{qid}: lang {meta['lang']!r} is not one of {', '.join(LANGS)}")
        if (meta["kind"] == "cross-lingual") != (meta["lang"] != "en"):
            errors.append(f"{qid}: cross-lingual queries, and only they, are not in English")
        if not isinstance(meta["start"], int | float) or not isinstance(meta["end"], int | float):
            errors.append(f"{qid}: start and end must be numbers of seconds")
            continue
        n_words = len(text.split())
        if not WORDS[0] <= n_words <= WORDS[1]:
            errors.append(f"{qid}: {n_words} words, want {WORDS[0]}-{WORDS[1]}: {text!r}")
        queries[qid] = query
    return queries


def check_moment(qid: str, meta: dict, transcripts: Path, errors: list[str]) -> None:
    """The file, the window and the quote of one query."""
    episode, name = str(meta["episode"]), str(meta["file"])
    if episode in EXCLUDED_EPISODES:
        errors.append(f"{qid}: episode {episode} has duplicate transcript files; not used")
    if not re.fullmatch(rf"{re.escape(episode)}(-.*)?\.vtt", name) or "no-names" in name:
        errors.append(f"{qid}: file {name!r} is not episode {episode}'s own transcript")
    path = transcripts / name
    if not path.is_file():
        errors.append(f"{qid}: {path} not found")
        return
    start, end = float(meta["start"]), float(meta["end"])
    if not start < end:
        errors.append(f"{qid}: start {start} is not before end {end}")
        return
    if not WINDOW_SECONDS[0] <= end - start <= WINDOW_SECONDS[1]:
        errors.append(f"{qid}: window is {end - start:.1f} s, want {WINDOW_SECONDS[0]:g}-60 s")
    cues = read_cues(path)
    if not cues:
        errors.append(f"{qid}: {name} has no cues")
        return
    duration = max(cue_end for _, cue_end, _ in cues)
    if start < 0 or end > duration:
        errors.append(f"{qid}: window {start:g}-{end:g} s is outside {name} (0-{duration:.1f} s)")
    window = " ".join(
        text
        for cue_start, cue_end, text in cues
        if cue_end >= start - SLACK_SECONDS and cue_start <= end + SLACK_SECONDS
    )
    quote, said = normalize(str(meta["quote"])), normalize(window)
    if not quote:
        errors.append(f"{qid}: empty quote")
    elif quote not in said:
        absent = sorted(set(quote.split()) - set(said.split()))
        detail = f"words not said there: {', '.join(absent)}" if absent else "not in that order"
        errors.append(f"{qid}: quote not found in {name} {start:g}-{end:g} s ({detail})")


def load_qrels(path: Path, errors: list[str]) -> list[tuple[str, str, str]]:
    """Rows of one qrels file, recording format problems in ``errors``."""
    lines = path.read_text(encoding="utf-8").splitlines()
    if not lines or lines[0].split("\t") != QRELS_HEADER:
        errors.append(f"{path.name}: first line must be {chr(9).join(QRELS_HEADER)!r}")
        return []
    rows = []
    for lineno, line in enumerate(lines[1:], 2):
        if not line.strip():
            continue
        fields = line.split("\t")
        if len(fields) != 3:
            errors.append(f"{path.name}:{lineno}: want query-id, corpus-id, score: {line!r}")
            continue
        rows.append((fields[0], fields[1], fields[2]))
    return rows


def set_rule_problems(queries: dict[str, dict], split_of: dict[str, str]) -> list[str]:
    """Two halves of the same make-up, and the spread over episodes and over time."""
    problems = []
    for kind in KINDS:
        counts = Counter(
            split_of.get(q) for q, v in queries.items() if v["metadata"]["kind"] == kind
        )
        if abs(counts["dev"] - counts["test"]) > 1:
            problems.append(f"{kind}: {counts['dev']} in dev, {counts['test']} in test")
    for lang in LANGS[1:]:
        halves = {split_of.get(q) for q, v in queries.items() if v["metadata"]["lang"] == lang}
        in_lang = sum(v["metadata"]["lang"] == lang for v in queries.values())
        if in_lang >= 2 and not {"dev", "test"} <= halves:
            problems.append(f"the {lang} queries are not in both halves")
    episodes = {str(v["metadata"]["episode"]) for v in queries.values()}
    if len(episodes) < MIN_EPISODES:
        problems.append(f"only {len(episodes)} distinct episodes, want at least {MIN_EPISODES}")
    late = sum(float(v["metadata"]["start"]) >= 600 for v in queries.values())
    if late < MIN_AFTER_MINUTE_10:
        problems.append(f"only {late} moments start after minute 10, want {MIN_AFTER_MINUTE_10}")
    return problems


def tally(values: Iterable[str]) -> str:
    """``a=2, b=1``: how often each value occurs, sorted by value."""
    return ", ".join(f"{k}={n}" for k, n in sorted(Counter(values).items()))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--transcripts", type=Path, default=None, help="Talk Python VTT folder")
    parser.add_argument("--partial", action="store_true", help="skip the set rules")
    args = parser.parse_args(argv)
    transcripts = args.transcripts or default_transcripts()
    if not transcripts.is_dir():
        print(f"error: {transcripts} is not a folder (pass --transcripts)", file=sys.stderr)
        return 1

    errors: list[str] = []
    queries = load_queries(HERE / "queries.jsonl", errors)
    for qid, query in queries.items():
        check_moment(qid, query["metadata"], transcripts, errors)

    split_of: dict[str, str] = {}
    for split in SPLITS:
        path = HERE / "qrels" / f"{split}.tsv"
        if not path.is_file():
            errors.append(f"{path} not found")
            continue
        for qid, corpus_id, score in load_qrels(path, errors):
            if qid not in queries:
                errors.append(f"{path.name}: unknown query-id {qid}")
                continue
            if qid in split_of:
                errors.append(f"{qid}: judged more than once ({split_of[qid]}, {split})")
                continue
            split_of[qid] = split
            expected = f"{ID_PREFIX}{queries[qid]['metadata']['episode']}"
            if corpus_id != expected or score != "1":
                errors.append(f"{qid}: want {expected} with score 1, got {corpus_id} {score}")
    errors += [f"{qid}: in no qrels half" for qid in sorted(set(queries) - set(split_of))]
    if not args.partial:
        errors += set_rule_problems(queries, split_of)

    metas = [q["metadata"] for q in queries.values()]
    late = sum(float(m["start"]) >= 600 for m in metas)
    print(f"queries: {len(queries)} (transcripts: {transcripts})")
    print("by kind: " + tally(m["kind"] for m in metas))
    print("by lang: " + tally(m["lang"] for m in metas))
    print(f"distinct episodes: {len({str(m['episode']) for m in metas})}")
    print(f"moments starting after minute 10: {late} of {len(metas)}")
    for split in SPLITS:
        in_split = [q["metadata"] for q in queries.values() if split_of.get(q["_id"]) == split]
        kinds = tally(m["kind"] for m in in_split)
        langs = tally(m["lang"] for m in in_split if m["lang"] != "en")
        print(f"{split}: {len(in_split)} queries ({kinds}; {langs})")
    if errors:
        for error in errors:
            print(f"FAIL {error}")
        print(f"{len(errors)} problem(s)")
        return 1
    print("OK")
    return 0


if __name__ == "__main__":
    sys.exit(main())
