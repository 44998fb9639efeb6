"""Validate the hand-written Listen Notes development set (BEIR form).

Checks, for ``benchmarks/devset/listennotes`` by default:

* ``queries.jsonl`` parses; every query has ``_id``, ``text`` and ``metadata`` with
  ``lang``, ``kind`` (paraphrase, lexical, known-item or topical) and a non-empty ``note``;
  query texts are 3-12 words long (topical 1-4) and unique.
* ``qrels/dev.tsv`` and ``qrels/test.tsv`` have the header ``query-id	corpus-id	score``,
  scores are 1 or 2, there are no duplicate pairs, every query-id is a known query judged in
  one file only, and every corpus-id (``listennotes:<episodes.csv id>``) exists in the
  Listen Notes data.
* Every query has at least one qrel with score 2; ``metadata.target``, when present, is
  one of them, and its episode has a non-empty description.
* The set rules (skipped with ``--partial``, for a part being written): at least 200
  queries, at least 60% paraphrases, at least 20% not in English, at least 10 known-item
  and 10 topical queries, every query in dev or test and each kind split in halves.
* The paraphrase rule: a paraphrase query shares no content word with its target
  episode's text (show title, show description, episode title, episode description).
  Text is HTML-stripped, accent-folded, lowercased and split on anything that is not a
  letter or digit; stop-words and one-character tokens are dropped; a query word
  matches a document word when any simple plural/singular variant of it does
  ("coop"/"coops", "story"/"stories", "box"/"boxes").

Prints counts by kind, language and half, and exits 1 on any failure.

Usage: ``python3 benchmarks/devset/check_devset.py [--set DIR] [--data DIR] [--partial]``
(``--data`` defaults to ``../shared/data/listennotes-dec2017`` relative to the repo root).
"""

from __future__ import annotations

import argparse
import csv
import html
import json
import re
import sys
import unicodedata
from collections import Counter
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]
DEFAULT_SET = REPO_ROOT / "benchmarks" / "devset" / "listennotes"
DEFAULT_DATA = REPO_ROOT.parent / "shared" / "data" / "listennotes-dec2017"
ID_PREFIX = "listennotes:"
QRELS_HEADER = ["query-id", "corpus-id", "score"]
QRELS_HEADER_LINE = "\t".join(QRELS_HEADER)
KINDS = {"paraphrase", "lexical", "known-item", "topical"}
# Words per query, by kind: topical queries are what listeners type to browse ("true crime").
WORD_RANGE = {"topical": (1, 4)}
DEFAULT_WORD_RANGE = (3, 12)
MIN_QUERIES = 200
MIN_PARAPHRASE_SHARE = 0.6
MIN_NON_ENGLISH_SHARE = 0.2
MIN_PER_KIND = {"known-item": 10, "topical": 10}
SPLITS = ("dev", "test")

# Function words of the catalog's languages (en, de, nl, es, fr, it); they never count
# as "distinctive". Kept deliberately short: anything with meaning (even "like" or
# "get") stays a content word.
_STOP_WORDS_TEXT = """
    a about above after again against all also am an and any are aren as at be because
    been before being below between both but by can could did do does doing don down
    during each few for from further had has have having he her here hers herself him
    himself his how i if in into is isn it its itself just me more most much my myself
    no nor not now of off on once only or other our ours ourselves out over own same she
    should so some such than that the their theirs them themselves then there these they
    this those though through to too under until up us very was we were what when where
    which while who whom why will with would you your yours yourself yourselves s t d ll
    m re ve
    der die das den dem des ein eine einer eines einem einen und oder aber im ist sind
    war wie was wer wo mit von zu zum zur auf aus fur bei nach vor uber unter als auch
    wir ihr sie er es ich du man nicht kein keine noch nur sehr
    de het een en maar om te dat die dit je jij jouw ik wij hoe geen nog op uit aan
    bij ook wat waar zijn met van voor niet
    el la los las un una unos unas y o pero es son fue que como con del al por para
    sin sobre se su sus lo le mi tu mas muy
    les des du et ou mais est sont dans pour par sur avec sans ce cette ces qui quoi
    comment ne pas plus au aux son sa ses
    il gli uno ma che chi di da per tra fra non piu
"""
STOP_WORDS = frozenset(_STOP_WORDS_TEXT.split())

_TAG = re.compile(r"<[^>]+>")
_TOKEN = re.compile(r"[^\W_]+")


def fold(text: str) -> str:
    """Strip HTML tags and entities, remove accents, lowercase."""
    text = html.unescape(_TAG.sub(" ", text or ""))
    decomposed = unicodedata.normalize("NFKD", text)
    return "".join(ch for ch in decomposed if not unicodedata.combining(ch)).lower()


def singular(word: str) -> str:
    """Undo a simple English plural: stories->story, boxes->box, coops->coop."""
    if len(word) > 4 and word.endswith("ies"):
        return word[:-3] + "y"
    if len(word) > 4 and word.endswith(("ches", "shes", "sses", "xes", "zes")):
        return word[:-2]
    if len(word) > 3 and word.endswith("s") and not word.endswith(("ss", "us", "is")):
        return word[:-1]
    return word


def variants(word: str) -> set[str]:
    """Simple plural/singular variants of a word, the word itself included."""
    forms = {word, singular(word), word + "s", word + "es"}
    if word.endswith("y"):
        forms.add(word[:-1] + "ies")
    return forms


def content_words(text: str) -> set[str]:
    """Content words of a text: folded tokens that are not stop-words or single letters."""
    return {t for t in _TOKEN.findall(fold(text)) if len(t) > 1 and t not in STOP_WORDS}


def shared_content_words(query: str, document: str) -> list[str]:
    """Query content words that also occur in the document, up to plural/singular form."""
    doc_tokens = set(_TOKEN.findall(fold(document)))
    doc_forms = doc_tokens | {singular(t) for t in doc_tokens}
    return sorted(w for w in content_words(query) if variants(w) & doc_forms)


def load_catalog(data_dir: Path) -> tuple[dict[str, dict[str, str]], dict[str, dict[str, str]]]:
    """Read episodes.csv and podcasts.csv, keyed by id."""
    csv.field_size_limit(sys.maxsize)
    with (data_dir / "episodes.csv").open(newline="", encoding="utf-8") as f:
        episodes = {row["id"]: row for row in csv.DictReader(f)}
    with (data_dir / "podcasts.csv").open(newline="", encoding="utf-8") as f:
        podcasts = {row["id"]: row for row in csv.DictReader(f)}
    return episodes, podcasts


def episode_text(episode: dict[str, str], podcasts: dict[str, dict[str, str]]) -> str:
    """Show title, show description, episode title and episode description, joined."""
    show = podcasts.get(episode["podcast_id"], {})
    parts = [show.get("title", ""), show.get("description", "")]
    parts += [episode["title"], episode["description"]]
    return " . ".join(parts)


def load_queries(path: Path, errors: list[str]) -> dict[str, dict]:
    """Parse queries.jsonl, recording format problems in ``errors``."""
    queries: dict[str, dict] = {}
    seen_texts: set[str] = set()
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
        if text.lower() in seen_texts:
            errors.append(f"{qid}: duplicate text {text!r}")
        seen_texts.add(text.lower())
        if meta.get("kind") not in KINDS:
            errors.append(f"{qid}: metadata.kind must be one of {sorted(KINDS)}")
        if not isinstance(meta.get("lang"), str) or not meta["lang"]:
            errors.append(f"{qid}: metadata.lang missing")
        if not isinstance(meta.get("note"), str) or not meta["note"].strip():
            errors.append(f"{qid}: metadata.note missing")
        low, high = WORD_RANGE.get(meta.get("kind"), DEFAULT_WORD_RANGE)
        n_words = len(text.split())
        if not low <= n_words <= high:
            errors.append(f"{qid}: {n_words} words, want {low}-{high}: {text!r}")
        queries[qid] = query
    return queries


def load_qrels(path: Path, errors: list[str]) -> list[tuple[str, str, int]]:
    """Parse qrels/dev.tsv, recording format problems in ``errors``."""
    rows: list[tuple[str, str, int]] = []
    lines = path.read_text(encoding="utf-8").splitlines()
    if not lines or lines[0].split("\t") != QRELS_HEADER:
        errors.append(f"{path.name}: first line must be {QRELS_HEADER_LINE!r}")
        return rows
    seen: set[tuple[str, str]] = set()
    for lineno, line in enumerate(lines[1:], 2):
        if not line.strip():
            continue
        fields = line.split("\t")
        if len(fields) != 3 or fields[2] not in {"1", "2"}:
            errors.append(f"{path.name}:{lineno}: want query-id, corpus-id, score 1|2: {line!r}")
            continue
        qid, cid, score = fields[0], fields[1], int(fields[2])
        if (qid, cid) in seen:
            errors.append(f"{path.name}:{lineno}: duplicate pair {qid} {cid}")
        seen.add((qid, cid))
        rows.append((qid, cid, score))
    return rows


def set_rule_problems(queries: dict[str, dict], split_of: dict[str, str]) -> list[str]:
    """The rules for the whole set: its size, its mix of kinds and languages, and two
    splits of the same make-up (decisions are made on dev; test is reported once, at the end,
    so tuning shows as a gap between the two)."""
    problems = []
    kinds = Counter(q["metadata"].get("kind") for q in queries.values())
    non_english = sum(q["metadata"].get("lang") != "en" for q in queries.values())
    if len(queries) < MIN_QUERIES:
        problems.append(f"only {len(queries)} queries, want at least {MIN_QUERIES}")
    if kinds["paraphrase"] < MIN_PARAPHRASE_SHARE * len(queries):
        problems.append(f"only {kinds['paraphrase']} of {len(queries)} queries are paraphrases")
    if non_english < MIN_NON_ENGLISH_SHARE * len(queries):
        problems.append(f"only {non_english} of {len(queries)} queries are not in English")
    for kind, least in MIN_PER_KIND.items():
        if kinds[kind] < least:
            problems.append(f"only {kinds[kind]} {kind} queries, want at least {least}")
    unjudged = sorted(set(queries) - set(split_of))
    if unjudged:
        problems.append(f"queries in no split: {', '.join(unjudged)}")
    for kind in kinds:
        counts = Counter(
            split_of.get(q) for q, v in queries.items() if v["metadata"]["kind"] == kind
        )
        if abs(counts["dev"] - counts["test"]) > 1:
            problems.append(
                f"{kind}: {counts['dev']} in dev, {counts['test']} in test; want halves"
            )
    return problems


def main(argv: list[str] | None = None) -> int:
    """Run every check, print a summary, return the exit status."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--set", type=Path, default=DEFAULT_SET, help="dev set folder")
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA, help="Listen Notes CSV folder")
    parser.add_argument(
        "--partial",
        action="store_true",
        help="check the queries and qrels only, not the set rules (for a part being written)",
    )
    args = parser.parse_args(argv)

    errors: list[str] = []
    qrels_paths = [args.set / "qrels" / f"{split}.tsv" for split in SPLITS]
    qrels_paths = [path for path in qrels_paths if path.is_file()]
    if not (args.set / "queries.jsonl").is_file() or not qrels_paths:
        print(
            f"error: {args.set} needs queries.jsonl and qrels/dev.tsv or test.tsv", file=sys.stderr
        )
        return 1
    for needed in (args.data / "episodes.csv", args.data / "podcasts.csv"):
        if not needed.is_file():
            print(f"error: {needed} not found (pass --data)", file=sys.stderr)
            return 1

    queries = load_queries(args.set / "queries.jsonl", errors)
    split_of: dict[str, str] = {}
    qrels: list[tuple[str, str, int]] = []
    for path in qrels_paths:
        for qid, cid, score in load_qrels(path, errors):
            if split_of.setdefault(qid, path.stem) != path.stem:
                errors.append(f"{qid}: judged in both {split_of[qid]}.tsv and {path.name}")
            qrels.append((qid, cid, score))
    episodes, podcasts = load_catalog(args.data)

    by_query: dict[str, dict[str, int]] = {qid: {} for qid in queries}
    for qid, cid, score in qrels:
        if qid not in queries:
            errors.append(f"qrels: unknown query-id {qid}")
            continue
        if not cid.startswith(ID_PREFIX) or cid[len(ID_PREFIX) :] not in episodes:
            errors.append(f"qrels: {qid} {cid} is not a Listen Notes episode id")
            continue
        by_query[qid][cid[len(ID_PREFIX) :]] = score

    for qid, query in queries.items():
        meta = query["metadata"]
        perfect = [eid for eid, score in by_query[qid].items() if score == 2]
        if not perfect:
            errors.append(f"{qid}: no qrel with score 2")
            continue
        if meta.get("kind") == "topical":
            continue  # many episodes answer it; none is "the" target
        target = meta.get("target")
        if target is not None:
            target_id = str(target).removeprefix(ID_PREFIX)
            if by_query[qid].get(target_id) != 2:
                errors.append(f"{qid}: metadata.target {target} is not a score-2 qrel")
                continue
            targets = [target_id]
        else:
            targets = perfect
        for eid in targets:
            if not fold(episodes[eid]["description"]).strip():
                errors.append(f"{qid}: target listennotes:{eid} has an empty description")
            if meta.get("kind") == "paraphrase":
                shared = shared_content_words(query["text"], episode_text(episodes[eid], podcasts))
                if shared:
                    errors.append(
                        f"{qid}: paraphrase shares {shared} with listennotes:{eid}: "
                        f"{query['text']!r}"
                    )

    kinds = Counter(q["metadata"].get("kind") for q in queries.values())
    langs = Counter(q["metadata"].get("lang") for q in queries.values())
    non_english = sum(n for lang, n in langs.items() if lang != "en")
    cross = sum(
        q["metadata"].get("note", "").lower().startswith("cross-lingual") for q in queries.values()
    )
    if not args.partial:
        errors += set_rule_problems(queries, split_of)

    target_ids = {
        str(q["metadata"].get("target", "")).removeprefix(ID_PREFIX) for q in queries.values()
    }
    shows = {episodes[t]["podcast_id"] for t in target_ids if t in episodes}
    scores = Counter(score for _, _, score in qrels)
    print(f"queries: {len(queries)}")
    print("by kind: " + ", ".join(f"{k}={n}" for k, n in sorted(kinds.items())))
    print("by lang: " + ", ".join(f"{k}={n}" for k, n in sorted(langs.items())))
    print(f"non-English queries: {non_english}; cross-lingual (note starts so): {cross}")
    print(f"qrels: {len(qrels)} lines (score 2: {scores[2]}, score 1: {scores[1]})")
    print(f"distinct target episodes: {len(target_ids)}, distinct target shows: {len(shows)}")
    print(f"paraphrase check: {kinds['paraphrase']} queries against their target episode")
    for split in SPLITS:
        in_split = [q for q in queries.values() if split_of.get(q["_id"]) == split]
        split_kinds = Counter(q["metadata"].get("kind") for q in in_split)
        split_foreign = sum(q["metadata"].get("lang") != "en" for q in in_split)
        print(
            f"{split}: {len(in_split)} queries ("
            + ", ".join(f"{k}={n}" for k, n in sorted(split_kinds.items()))
            + f"; non-English={split_foreign})"
        )
    if errors:
        for error in errors:
            print(f"FAIL {error}")
        print(f"{len(errors)} problem(s)")
        return 1
    print("OK")
    return 0


if __name__ == "__main__":
    sys.exit(main())
