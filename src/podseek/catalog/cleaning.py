"""Cleaning of raw source values: HTML to text, languages, dates, durations, ids.

Every reader calls these, so that a catalog built from Listen Notes, a feed or a table holds
the same kind of values.
"""

import hashlib
import html
import re
from datetime import UTC, date, datetime
from email.utils import parsedate_to_datetime
from functools import lru_cache

import langcodes
import py3langid
from selectolax.lexbor import LexborHTMLParser

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
    return _WHITESPACE.sub(" ", value).strip()


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
    value = value.strip().replace("_", "-")
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


def parse_datetime(value: object) -> datetime | None:
    """A UTC datetime from ISO 8601 or RFC 822 text, epoch seconds or milliseconds, or a
    ``datetime``/``date``; naive values are taken as UTC. Unparseable values give ``None``.
    """
    if value is None or value == "":
        return None
    if isinstance(value, datetime):
        parsed = value
    elif isinstance(value, date):
        parsed = datetime(value.year, value.month, value.day)
    elif isinstance(value, int | float) and not isinstance(value, bool):
        seconds = value / 1000 if value > 1e11 else value
        try:
            return datetime.fromtimestamp(seconds, tz=UTC)
        except (OverflowError, OSError, ValueError):
            return None
    else:
        text = str(value).strip()
        if text.isdigit():
            return parse_datetime(int(text))
        try:
            parsed = datetime.fromisoformat(text.replace(" UTC", "+00:00"))
        except ValueError:
            try:
                parsed = parsedate_to_datetime(text)
            except (TypeError, ValueError, IndexError):
                return None
    if parsed.tzinfo is None:
        return parsed.replace(tzinfo=UTC)
    return parsed.astimezone(UTC)


def parse_duration(value: object) -> int | None:
    """Seconds from a number or from "HH:MM:SS" / "MM:SS" text; ``None`` when unusable."""
    if value is None or isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        seconds = float(value)
    else:
        text = str(value).strip()
        if not text:
            return None
        try:
            parts = [float(part) for part in text.split(":")]
        except ValueError:
            return None
        if len(parts) > 3 or any(part < 0 for part in parts):
            return None
        seconds = 0.0
        for part in parts:
            seconds = seconds * 60 + part
    if not seconds > 0 or seconds != seconds:  # rejects 0, negatives and NaN
        return None
    return round(seconds)


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
    native = str(guid).strip() if guid is not None else ""
    if not native:
        native = audio_url.strip()
    if not native:
        if not (show or title):
            return ""
        stamp = published_at.isoformat() if published_at else ""
        native = "h" + _digest(f"{show}\x1f{title}\x1f{stamp}")
    if len(native) > 64 or any(ch.isspace() for ch in native):
        native = "h" + _digest(native)
    return native


def _digest(value: str) -> str:
    return hashlib.sha1(value.encode("utf-8")).hexdigest()[:16]
