"""Cleaning of raw source values: HTML to text, languages, dates, durations, ids; and the
content words of a text.

Every reader calls these, so that a catalog built from Listen Notes, a feed or a table holds
the same kind of values. Hybrid search and the query filters compare texts by their content
words (:func:`content_words`); it lives here, below both, so neither imports the other.
"""

import hashlib
import html
import math
import re
from datetime import UTC, date, datetime
from email.utils import parsedate_to_datetime
from functools import lru_cache

import langcodes
import py3langid
from selectolax.lexbor import LexborHTMLParser

from podseek.catalog.episode import BAD_TEXT, MAX_DURATION_S, date_problem

_WHITESPACE = re.compile(r"\s+")
_LETTER = re.compile(r"[^\W\d_]")
# Tags after which a reader sees a break; we put a space there so that words of adjacent
# paragraphs, list items or lines do not run together. Inline tags (a, b, em, span) add none.
_BLOCK_TAGS = (
    "address, article, aside, blockquote, br, dd, div, dl, dt, figcaption, figure, footer, "
    "h1, h2, h3, h4, h5, h6, header, hr, li, main, nav, ol, p, pre, section, table, td, th, "
    "tr, ul"
)
# langid's cost grows with the text; a few hundred characters decide the language as well.
_DETECT_CHARS = 400
_DROPPED_TAGS = ["script", "style", "noscript", "template", "iframe", "svg"]

# Words that say nothing about a topic; BM25's index drops them too (LanceDB's English list).
STOP_WORDS = frozenset(
    (  # noqa: SIM905 (a word list reads best as text)
        "a about after all also an and any are as at be been before but by can could did do does "
        "for from get got had has have he her his how i if in into is it its just like me more "
        "most my no not of off on one or our out over she so some than that the their them then "
        "there these they this those to too up us very was we were what when where which while "
        "who why will with would you your"
    ).split()
)
_WORDS = re.compile(r"\w+", re.UNICODE)


def html_to_text(value: str | None) -> str:
    """Plain text from an HTML fragment: tags dropped, entities unescaped, whitespace folded.

    The words of links are kept (``<a href="...">our site</a>`` gives "our site"). Text that
    has no markup is only unescaped and folded, which keeps the common case fast.

    Example:
        >>> html_to_text("<p>Fish &amp; chips</p><p>on <a href='x'>our site</a></p>")
        'Fish & chips on our site'
    """
    if not value:
        return ""
    value = scrub_text(value)  # the HTML parser takes UTF-8: no lone surrogates
    if "<" in value:
        tree = LexborHTMLParser(value)
        tree.strip_tags(_DROPPED_TAGS)
        root = tree.body or tree.root
        if root is None:
            return ""
        for node in root.css(_BLOCK_TAGS):
            node.insert_after(" ")
        value = root.text(deep=True, separator="")
        # Double-escaped sources ("&amp;amp;", "&lt;b&gt;") are common in feeds; one more pass
        # of unescaping is harmless on clean text.
        value = html.unescape(value)
    elif "&" in value:
        value = html.unescape(value)
    return _WHITESPACE.sub(" ", scrub_text(value)).strip()


def content_words(text: str) -> set[str]:
    """Lower-cased words of at least 3 characters that are not stop words.

    Example:
        >>> sorted(content_words("How do I watch the Geminids?"))
        ['geminids', 'watch']
    """
    return {w for w in _WORDS.findall(text.casefold()) if len(w) >= 3 and w not in STOP_WORDS}


def clean_line(value: object) -> str:
    """A short field (a title, a URL) as one stripped line of text; ``None`` becomes ''."""
    if value is None:
        return ""
    return html_to_text(str(value))


@lru_cache(maxsize=4096)
def normalise_language(value: str | None) -> str:
    """An ISO 639-1 code from a source's language value, or '' when it names none.

    Accepts tags ("en-us", "pt_BR", "EN") and names in English or in the language itself
    ("English", "Deutsch", "Español"). Languages with no two-letter code give ''.
    """
    if not value:
        return ""
    # langcodes' name index takes UTF-8 and short values: no lone surrogates, no essays
    value = scrub_text(value[:100]).strip().replace("_", "-")
    if not value:
        return ""
    language = None
    try:
        if langcodes.tag_is_valid(value.lower()):
            language = langcodes.Language.get(value.lower()).language
    except (ValueError, LookupError):
        language = None
    if not language:
        try:
            language = langcodes.find(value).language
        except LookupError:
            return ""
    return language if language and len(language) == 2 else ""


def detect_language(text: str, min_letters: int = 20) -> str:
    """The language of ``text`` as an ISO 639-1 code, or '' when the text is too short.

    Uses py3langid, whose model ships inside the package (nothing downloads).
    """
    sample = text[:_DETECT_CHARS]
    if len(_LETTER.findall(sample)) < min_letters:
        return ""
    code, _score = py3langid.classify(sample)
    return code if len(code) == 2 else ""


def scrub_text(value: str) -> str:
    """``value`` as text the catalog can hold: lone surrogates (undecodable input, or a JSON
    ``"\\ud800"``) become U+FFFD, and NUL and the other control characters a space."""
    if not BAD_TEXT.search(value):
        return value
    return BAD_TEXT.sub(lambda m: "\ufffd" if m.group() >= "\ud800" else " ", value)


def parse_datetime(value: object) -> datetime | None:
    """A UTC datetime from ISO 8601 or RFC 822 text, epoch seconds or milliseconds, or a
    ``datetime``/``date``; naive values are taken as UTC. Unparseable values, and values
    whose UTC time Python cannot represent, give ``None``; this never raises.
    """
    try:
        parsed = _parse_datetime(value)
        if parsed is None:
            return None
        if parsed.tzinfo is None:
            return parsed.replace(tzinfo=UTC)
        return parsed.astimezone(UTC)
    except (OverflowError, ValueError, TypeError, IndexError, OSError):
        return None


def _parse_datetime(value: object) -> datetime | None:
    if value is None or value == "":
        return None
    if isinstance(value, datetime):
        return value
    if isinstance(value, date):
        return datetime(value.year, value.month, value.day)
    if isinstance(value, int | float) and not isinstance(value, bool):
        seconds = value / 1000 if value > 1e11 else value
        return datetime.fromtimestamp(seconds, tz=UTC)
    if not isinstance(value, str):
        return None
    text = value.strip()
    if text.isascii() and text.isdigit():  # "²".isdigit() is True, and int() refuses it
        return _parse_datetime(int(text))
    try:
        return datetime.fromisoformat(text.replace(" UTC", "+00:00"))
    except ValueError:
        return parsedate_to_datetime(text)


DATE_UNPARSEABLE = "unparseable date (kept without a date)"
DATE_OUT_OF_RANGE = "date out of range (kept without a date)"


def clean_date(value: object) -> tuple[datetime | None, str | None]:
    """A publication date the catalog accepts (UTC, 1900 to a year from now), or ``None``
    and the note that says why the value was dropped (``None`` too when none was given)."""
    if value is None or value == "":
        return None, None
    try:
        parsed = _parse_datetime(value)
    except (OverflowError, ValueError, TypeError, IndexError, OSError):
        parsed = None
    if parsed is None:
        return None, DATE_UNPARSEABLE
    if date_problem(parsed):  # also a time whose UTC Python cannot hold (year 1 at +01:00)
        return None, DATE_OUT_OF_RANGE
    return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC), None


def parse_filter_date(value: str) -> datetime:
    """A search filter's date bound: an ISO 8601 date or date and time (naive means UTC),
    from 1900 to a year from now, in UTC. Anything else is a ``ValueError`` whose message
    is one sentence (the API answers it with a 422, the command line with one line)."""
    text = value.strip()
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        raise ValueError(
            f"{text[:40]!r} is not a date (use YYYY-MM-DD or an ISO 8601 time)"
        ) from None
    problem = date_problem(parsed)
    if problem:
        raise ValueError(f"{text[:40]!r} {problem}")
    return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)


def parse_duration(value: object) -> int | None:
    """Seconds from a number or from "HH:MM:SS" / "MM:SS" text; ``None`` when unusable
    (zero, negative, not a number, infinite). The result is not range-checked: see
    :func:`clean_duration`."""
    if value is None or isinstance(value, bool):
        return None
    try:
        if isinstance(value, int | float):
            seconds = float(value)
        else:
            text = str(value).strip()
            if not text or not text.isascii():
                return None
            parts = [float(part) for part in text.split(":")]
            if len(parts) > 3 or any(part < 0 for part in parts):
                return None
            seconds = 0.0
            for part in parts:
                seconds = seconds * 60 + part
        if not (seconds > 0 and math.isfinite(seconds)):  # rejects 0, negatives, NaN, inf
            return None
        return round(seconds) or None  # under half a second is no duration either
    except (ValueError, OverflowError, TypeError):
        return None


def clean_duration(value: object) -> tuple[int | None, str | None]:
    """A duration the catalog accepts (whole seconds, up to 7 days), or ``None`` and the
    note that says why the value was dropped (``None`` too when none was given or it is 0)."""
    if value is None or value == "" or value == 0 or value == "0":
        return None, None
    seconds = parse_duration(value)
    if seconds is None:
        return None, "unusable duration (kept without a duration)"
    if seconds > MAX_DURATION_S:
        return None, "duration over 7 days (kept without a duration)"
    return seconds, None


def native_episode_id(
    guid: object = None,
    audio_url: str = "",
    show: str = "",
    title: str = "",
    published_at: datetime | None = None,
) -> str:
    """The id an episode has inside its source: its guid, else its audio URL, else a hash of
    show, title and date. Long or spaced values are hashed so ids stay short and safe.
    """
    native = scrub_text(str(guid)).strip() if guid is not None else ""
    if not native:
        native = audio_url.strip()
    if not native:
        if not (show or title):
            return ""
        stamp = published_at.isoformat() if published_at else ""
        native = "h" + _digest(f"{show}\x1f{title}\x1f{stamp}")
    if len(native) > 64 or not native.isprintable() or any(ch.isspace() for ch in native):
        native = "h" + _digest(native)
    return native


def _digest(value: str) -> str:
    return hashlib.sha1(value.encode("utf-8", "surrogatepass")).hexdigest()[:16]
